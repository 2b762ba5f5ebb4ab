# The functions' log groups, created here so that they have a retention and so that the roles need
# no logs:CreateLogGroup. The functions log JSON (slog), including the CloudWatch embedded-metric
# lines the alarms read.

resource "aws_cloudwatch_log_group" "enforcer" {
  name              = "/aws/lambda/${local.enforcer_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "reconciler" {
  name              = "/aws/lambda/${local.reconciler_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}
