output "queue_url" {
  description = "URL of the SQS delay queue."
  value       = module.awsaudit.queue_url
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.awsaudit.dlq_url
}

output "enforcer_function_name" {
  description = "Name of the enforcer Lambda."
  value       = module.awsaudit.enforcer_function_name
}

output "reconciler_function_name" {
  description = "Name of the reconciler Lambda."
  value       = module.awsaudit.reconciler_function_name
}

output "forwarding_rule_arns" {
  description = "Forwarding rules by region."
  value       = module.awsaudit.forwarding_rule_arns
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = aws_sns_topic.alarms.arn
}
