# The home region's rule: successful CloudTrail RunInstances calls, this region's own and those
# the forwarding rules bring from the other audited regions, go to the delay queue.
#
# CloudTrail delivers management events to EventBridge only where a trail logs them: each audited
# region needs a trail (an organisation or multi-region trail does it) with management events on.

locals {
  runinstances_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["ec2.amazonaws.com"]
      eventName   = ["RunInstances"]
      # Failed calls (no instance was launched) carry an errorCode.
      errorCode = [{ exists = false }]
    }
  })
}

resource "aws_cloudwatch_event_rule" "runinstances" {
  name          = "${local.name}-runinstances"
  description   = "awsaudit: successful EC2 RunInstances calls (CloudTrail) to the enforcer's delay queue."
  event_pattern = local.runinstances_pattern
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.runinstances.name
  target_id = "delay-queue"
  arn       = aws_sqs_queue.events.arn

  # Events EventBridge could not deliver (after its own retries for up to 24 hours) land in the
  # DLQ, where the DLQ depth alarm sees them, instead of being dropped.
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }

  # The queue policy must exist before EventBridge delivers.
  depends_on = [aws_sqs_queue_policy.events, aws_sqs_queue_policy.dlq]
}
