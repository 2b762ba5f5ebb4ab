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
}
