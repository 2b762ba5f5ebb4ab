# Outputs, each through try() so that a partial apply or an unusual configuration still plans.

output "home_region" {
  description = "The home region: the queue, the functions, the schedule and the home rule are here."
  value       = local.home_region
}

output "audited_regions" {
  description = "Every audited region, the home region first (the functions' AWSAUDIT_REGIONS)."
  value       = local.audited_regions
}

output "queue_url" {
  description = "URL of the SQS delay queue (also what the CLI worker, `awsaudit enforce`, polls)."
  value       = try(aws_sqs_queue.events.url, null)
}

output "queue_arn" {
  description = "ARN of the SQS delay queue."
  value       = try(aws_sqs_queue.events.arn, null)
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = try(aws_sqs_queue.dlq.url, null)
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = try(aws_sqs_queue.dlq.arn, null)
}

output "enforcer_function_name" {
  description = "Name of the enforcer Lambda."
  value       = try(aws_lambda_function.enforcer.function_name, null)
}

output "enforcer_function_arn" {
  description = "ARN of the enforcer Lambda."
  value       = try(aws_lambda_function.enforcer.arn, null)
}

output "enforcer_role_arn" {
  description = "ARN of the enforcer's IAM role."
  value       = try(aws_iam_role.enforcer.arn, null)
}

output "reconciler_function_name" {
  description = "Name of the reconciler Lambda (invoke it by hand for an immediate sweep)."
  value       = try(aws_lambda_function.reconciler.function_name, null)
}

output "reconciler_function_arn" {
  description = "ARN of the reconciler Lambda."
  value       = try(aws_lambda_function.reconciler.arn, null)
}

output "reconciler_role_arn" {
  description = "ARN of the reconciler's IAM role."
  value       = try(aws_iam_role.reconciler.arn, null)
}

output "home_rule_arn" {
  description = "ARN of the home region's EventBridge rule (RunInstances to the delay queue)."
  value       = try(aws_cloudwatch_event_rule.runinstances.arn, null)
}

output "forwarding_rule_arns" {
  description = "ARNs of the forwarding rules, by region (empty when only the home region is audited)."
  value       = try({ for r, rule in aws_cloudwatch_event_rule.forward : r => rule.arn }, {})
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that starts the sweep."
  value       = try(aws_scheduler_schedule.reconciler.arn, null)
}

output "policy_parameter_name" {
  description = "Name of the SSM parameter holding the policy (edit it through Terraform, not by hand)."
  value       = try(aws_ssm_parameter.policy.name, null)
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms."
  value       = try([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name], [])
}
