# The SQS delay queue between the home rule and the enforcer, and its dead-letter queue.
#
# Encryption is SSE-SQS (keys owned by SQS). EventBridge cannot deliver to a queue encrypted with
# the AWS managed key alias/aws/sqs: its key policy cannot be changed to let events.amazonaws.com
# use it, so deliveries would fail silently. A customer managed key would work but costs a key and
# a key policy for no gain here: the messages hold CloudTrail metadata, not secrets.

resource "aws_sqs_queue" "events" {
  name = "${local.name}-events"

  # Holds each RunInstances event for the grace period, or for 15 minutes (the SQS maximum)
  # when the grace period is longer; the enforcer then re-enqueues a recheck.
  delay_seconds              = local.queue_delay_seconds
  visibility_timeout_seconds = local.queue_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  # Long polling for the CLI worker (awsaudit enforce); the event source mapping polls on its own.
  receive_wait_time_seconds = 20
  sqs_managed_sse_enabled   = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags

  lifecycle {
    # A message is first received after the delay, and received again only after the visibility
    # timeout; a retention not longer than both lets SQS delete messages the enforcer never saw,
    # or saw only once, without the DLQ catching them.
    precondition {
      condition     = var.queue_message_retention_seconds > local.queue_delay_seconds + local.queue_visibility_timeout_seconds
      error_message = "queue_message_retention_seconds (${var.queue_message_retention_seconds}) must exceed the queue delay (${local.queue_delay_seconds} s, from grace_minutes) plus the visibility timeout (${local.queue_visibility_timeout_seconds} s, 6 x enforcer_timeout_seconds + enforcer_batching_window_seconds), or messages expire undelivered."
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name = "${local.name}-events-dlq"

  # The SQS maximum, longer than the source queue's retention (at most 7 days): a moved message
  # keeps its original enqueue time, so a shorter DLQ retention would drop it early.
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

# Only the delay queue may use the DLQ; set apart from the queue to avoid a dependency cycle.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

# The home rule may send to the queue, and to the DLQ (the target's dead-letter queue for events
# it could not deliver). The functions' own sends are allowed by their roles.
data "aws_iam_policy_document" "queue" {
  for_each = {
    events = aws_sqs_queue.events.arn
    dlq    = aws_sqs_queue.dlq.arn
  }

  statement {
    sid       = "HomeRuleSends"
    actions   = ["sqs:SendMessage"]
    resources = [each.value]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.runinstances.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue["events"].json
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.queue["dlq"].json
}
