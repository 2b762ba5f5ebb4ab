# Every other audited region: a rule with the same pattern forwarding its RunInstances events to
# the home region's default event bus, where the home rule picks them up. One rule and one target
# per region through the AWS provider 6.x per-resource `region` argument: no provider alias per
# region, and adding a region is one more entry in var.regions.

resource "aws_cloudwatch_event_rule" "forward" {
  for_each = local.forward_regions

  region        = each.key
  name          = "${local.name}-runinstances-forward"
  description   = "awsaudit: successful EC2 RunInstances calls (CloudTrail) in ${each.key}, forwarded to the ${local.home_region} default event bus."
  event_pattern = local.runinstances_pattern
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "forward" {
  for_each = local.forward_regions

  region    = each.key
  rule      = aws_cloudwatch_event_rule.forward[each.key].name
  target_id = "home-event-bus"
  arn       = local.home_bus_arn
  role_arn  = aws_iam_role.forward[0].arn

  # EventBridge's longest retry: an event the home bus does not take (throttling, an outage) is
  # retried for 24 hours. There is no dead_letter_config: a rule's DLQ must be an SQS queue in the
  # rule's own region, so the home DLQ cannot serve these rules. An event still undelivered after
  # 24 hours is dropped (the FailedInvocations metric of the rule, in its region, counts it), and
  # the next sweep catches the instance anyway.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}

# One role for all the forwarding rules: EventBridge needs a role to put events on another
# region's bus. It may do nothing else.
data "aws_iam_policy_document" "forward_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "forward" {
  statement {
    sid       = "PutEventsOnHomeBus"
    actions   = ["events:PutEvents"]
    resources = [local.home_bus_arn]
  }
}

resource "aws_iam_role" "forward" {
  count = length(local.forward_regions) > 0 ? 1 : 0

  name               = "${local.name}-forward-events"
  description        = "awsaudit: EventBridge forwards RunInstances events from the audited regions to the ${local.home_region} bus."
  assume_role_policy = data.aws_iam_policy_document.forward_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "forward" {
  count = length(local.forward_regions) > 0 ? 1 : 0

  name   = "put-events-on-home-bus"
  role   = aws_iam_role.forward[0].id
  policy = data.aws_iam_policy_document.forward.json
}
