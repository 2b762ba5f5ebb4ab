# The reconciler: the nightly sweep of every instance in every audited region, the same decisions
# and actions as the enforcer. It catches what the event path missed.

resource "aws_lambda_function" "reconciler" {
  function_name = local.reconciler_name
  description   = "awsaudit reconciler: the scheduled sweep of every audited region."
  role          = aws_iam_role.reconciler.arn

  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = local.reconciler_zip
  source_code_hash = filebase64sha256(local.reconciler_zip)

  timeout     = var.reconciler_timeout_seconds
  memory_size = var.reconciler_memory_mb

  environment {
    variables = { for k, v in merge(local.common_environment, {
      AWSAUDIT_TIME_RESERVE_SECONDS = tostring(var.reconciler_time_reserve_seconds)
      AWSAUDIT_CONCURRENCY          = tostring(var.reconciler_concurrency)
    }) : k => v if v != null }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.reconciler.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.reconciler]

  lifecycle {
    precondition {
      condition     = var.reconciler_time_reserve_seconds < var.reconciler_timeout_seconds
      error_message = "reconciler_time_reserve_seconds must be less than reconciler_timeout_seconds, or the sweep would start no region."
    }
  }
}

# The scheduler invokes the function asynchronously. Lambda would retry a failed sweep twice by
# default; a sweep fails when a region is unverified, and a rerun would meet the same canary and
# spend the action limits again. The next scheduled run is the retry.
resource "aws_lambda_function_event_invoke_config" "reconciler" {
  function_name                = aws_lambda_function.reconciler.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600
}

resource "aws_scheduler_schedule" "reconciler" {
  name        = "${local.name}-sweep"
  description = "awsaudit: the sweep of every audited region."
  group_name  = "default"
  state       = var.schedule_enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_expression_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.reconciler.arn
    role_arn = aws_iam_role.scheduler.arn
    # An empty JSON object: the reconciler takes no input, and an empty payload is not JSON.
    input = jsonencode({})

    # Delivery retries only (throttling, the function being updated); the sweep's own failure is
    # not retried (see the event invoke config).
    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeReconciler"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.reconciler.arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.name}-schedule"
  description        = "awsaudit: EventBridge Scheduler starts the reconciler."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-reconciler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
