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
  # One sweep at a time: a manual invoke during a scheduled run, or a rate() shorter than a sweep,
  # would otherwise run two sweeps at once, each acting on the same violators and each spending
  # the action limits. A second synchronous invoke while a sweep runs is refused (429
  # TooManyRequestsException); an asynchronous one (the schedule) waits in Lambda's queue, up to
  # the event invoke config's maximum_event_age_in_seconds, and then runs. Lambda lets a function
  # reserve only what leaves 100 units of unreserved concurrency in the account: an account whose
  # concurrency quota is still a new account's 10 or 50 fails this apply (UnreservedConcurrentExecution
  # below its minimum) until the quota is raised.
  reserved_concurrent_executions = 1

  environment {
    variables = { for k, v in merge(local.common_environment, {
      AWSAUDIT_TIME_RESERVE_SECONDS = tostring(var.reconciler_time_reserve_seconds)
      AWSAUDIT_CONCURRENCY          = tostring(var.reconciler_concurrency)
    }) : k => v if v != null }
  }

  logging_config {
    log_format            = "JSON"
    application_log_level = local.lambda_application_log_level
    log_group             = aws_cloudwatch_log_group.reconciler.name
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

# The scheduler invokes the function asynchronously. Lambda would retry a failed invocation twice
# by default. The reconciler returns an error only when the sweep could not run at all, or its
# documents could be neither written nor spooled (unverified and unreached regions are not errors:
# they are metrics with their own alarms), and a crash or timeout also counts as failed. A rerun
# right away would meet the same cause and could spend the action limits again; the next
# scheduled run is the retry.
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
