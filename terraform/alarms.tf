# Alarms, notifying var.alarm_sns_topic_arn when it is set. The functions' own metrics are
# CloudWatch embedded metrics in var.metrics_namespace with one dimension, Function, whose value
# is the literal "enforcer" or "reconciler" (not the deployed function's name), so that dashboards
# and alarms do not depend on name_prefix. Missing data (no run, nothing to report) is not a breach.

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  # name => what the alarm watches. Every alarm fires on a value above 0 in one period.
  alarms = {
    dlq-depth = {
      description = "Messages in the awsaudit dead-letter queue: RunInstances events the enforcer failed ${var.max_receive_count} times, or EventBridge could not deliver. Inspect them, fix the cause, then redrive them to ${aws_sqs_queue.events.name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      dimensions  = { QueueName = aws_sqs_queue.dlq.name }
    }
    enforcer-failed-records = {
      description = "The enforcer returned messages as failed (transient errors); SQS redelivers them, and the DLQ takes those that keep failing. See the enforcer's logs."
      namespace   = var.metrics_namespace
      metric      = "FailedRecords"
      statistic   = "Sum"
      dimensions  = { Function = "enforcer" }
    }
    enforcer-errors = {
      description = "The enforcer Lambda failed a whole invocation (crash, timeout, bad configuration)."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      statistic   = "Sum"
      dimensions  = { FunctionName = aws_lambda_function.enforcer.function_name }
    }
    reconciler-errors = {
      description = "The reconciler's invocation failed (an error returned, a crash or a timeout). See its summary log line."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      statistic   = "Sum"
      dimensions  = { FunctionName = aws_lambda_function.reconciler.function_name }
    }
    reconciler-unverified-regions = {
      description = "The sweep found regions whose canary check failed: nothing in them was acted on. Check each region's canary (stopped, tagged, named ${var.canary_name})."
      namespace   = var.metrics_namespace
      metric      = "UnverifiedRegions"
      statistic   = "Maximum"
      dimensions  = { Function = "reconciler" }
    }
    reconciler-unreached-regions = {
      description = "The sweep ran out of time before some regions; they were not swept. Raise reconciler_concurrency or lower reconciler_time_reserve_seconds."
      namespace   = var.metrics_namespace
      metric      = "UnreachedRegions"
      statistic   = "Maximum"
      dimensions  = { Function = "reconciler" }
    }
    reconciler-document-write-failures = {
      description = "The sweep could not write documents to Elasticsearch; they were spooled to the queue or logged."
      namespace   = var.metrics_namespace
      metric      = "DocumentWriteFailures"
      statistic   = "Sum"
      dimensions  = { Function = "reconciler" }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name        = "${local.name}-${each.key}"
  alarm_description = each.value.description

  namespace   = each.value.namespace
  metric_name = each.value.metric
  dimensions  = each.value.dimensions
  statistic   = each.value.statistic
  period      = var.alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = var.tags
}
