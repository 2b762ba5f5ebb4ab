# A complete awsaudit deployment: home region us-east-1, four more audited regions, Elasticsearch
# credentials in an existing SSM SecureString, alarms to a new SNS topic with an e-mail
# subscription. Report mode first; see README.md for switching to terminate.

provider "aws" {
  region = var.home_region

  default_tags {
    tags = {
      application = "awsaudit"
      managed_by  = "terraform"
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "awsaudit-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarms_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

module "awsaudit" {
  source = "../.."

  regions = var.regions

  # The tag scheme. created_by must name an IAM user, as the original tool's --confirm did.
  required_tags = ["created_by", "department", "project"]
  iam_user_tags = ["created_by"]
  grace_minutes = 45
  action        = var.action
  dry_run       = var.dry_run
  # Never act on more than 50 instances, or 10% of the fleet, in one run.
  max_actions         = 50
  max_actions_percent = 10
  accounts            = [var.account_id]

  es_url                  = var.es_url
  es_secret_ssm_parameter = var.es_secret_ssm_parameter

  schedule_expression          = "cron(0 3 * * ? *)"
  schedule_expression_timezone = "UTC"

  enforcer_max_concurrency = 5
  log_retention_days       = 90
  alarm_sns_topic_arn      = aws_sns_topic.alarms.arn

  # Null: dist/*.zip at the repository root, built by `make package`.
  enforcer_zip   = var.enforcer_zip
  reconciler_zip = var.reconciler_zip

  tags = {
    cost_center = "platform"
  }
}
