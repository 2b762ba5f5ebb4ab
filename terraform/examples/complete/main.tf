# A complete awsaudit deployment: home region us-east-1, four more audited regions, Elasticsearch
# credentials in an existing SSM SecureString, alarms to a new SNS topic (encrypted with its own
# KMS key) with an e-mail subscription. Report mode first; see README.md for switching to terminate.

provider "aws" {
  region = var.home_region

  default_tags {
    tags = {
      application = "awsaudit"
      managed_by  = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The alarm topic is encrypted with a customer managed key. CloudWatch alarms cannot publish to a
# topic encrypted with the AWS managed key alias/aws/sns: its key policy does not let
# cloudwatch.amazonaws.com use it and cannot be changed, so every notification would fail, seen
# only in each alarm's history. This key's policy lets CloudWatch encrypt what it publishes.
data "aws_iam_policy_document" "alarms_key" {
  # Without this statement IAM policies could not grant any use of the key, and only the root
  # user could manage it.
  statement {
    sid       = "AccountManagesTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description             = "awsaudit: encrypts the alarm topic; CloudWatch alarms may use it to publish."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key.json
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/awsaudit-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "awsaudit-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
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
