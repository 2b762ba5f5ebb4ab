# The example plans against a mocked AWS provider, with the root module's placeholder package
# instead of dist/ (make package).

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      region = "us-east-1"
      name   = "us-east-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn    = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:awsaudit-alarms"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  account_id     = "123456789012"
  alarm_emails   = ["sysops@example.com"]
  enforcer_zip   = "../../tests/fixtures/bootstrap.zip"
  reconciler_zip = "../../tests/fixtures/bootstrap.zip"
}

run "plans_in_report_mode" {
  command = plan

  assert {
    condition     = toset(keys(module.awsaudit.forwarding_rule_arns)) == toset(["us-east-2", "us-west-2", "eu-west-1", "eu-central-1"])
    error_message = "Every non-home region must forward."
  }
  assert {
    condition     = module.awsaudit.audited_regions[0] == "us-east-1" && length(module.awsaudit.audited_regions) == 5
    error_message = "The home region comes first among the five audited regions."
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alarms_email) == 1
    error_message = "One e-mail subscription is expected."
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.alarms.arn && !startswith(aws_sns_topic.alarms.kms_master_key_id, "alias/aws/")
    error_message = "The alarm topic must be encrypted with the example's customer managed key: CloudWatch alarms cannot publish with alias/aws/sns."
  }
  assert {
    condition = (toset(one([for s in data.aws_iam_policy_document.alarms_key.statement : s.actions if s.sid == "CloudWatchAlarmsPublish"])) == toset(["kms:Decrypt", "kms:GenerateDataKey*"])
    && one(one([for s in data.aws_iam_policy_document.alarms_key.statement : s.principals if s.sid == "CloudWatchAlarmsPublish"])).identifiers == toset(["cloudwatch.amazonaws.com"]))
    error_message = "The key policy must let CloudWatch decrypt and generate data keys."
  }
  assert {
    condition     = one(one([for s in data.aws_iam_policy_document.alarms_key.statement : s.principals if s.sid == "AccountManagesTheKey"])).identifiers == toset(["arn:aws:iam::123456789012:root"])
    error_message = "The key policy must let the account (its root principal) manage the key."
  }
  assert {
    condition     = aws_kms_key.alarms.enable_key_rotation && aws_kms_alias.alarms.target_key_id == aws_kms_key.alarms.key_id
    error_message = "The alarm key must rotate and have its alias."
  }
}
