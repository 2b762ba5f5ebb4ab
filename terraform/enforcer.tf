# The enforcer: decides each launched instance once its grace period has passed, and acts.
# Built by `make package` for provided.al2023 on arm64 (dist/enforcer.zip, a `bootstrap` binary).

resource "aws_lambda_function" "enforcer" {
  function_name = local.enforcer_name
  description   = "awsaudit enforcer: RunInstances events from the delay queue, decided and acted on."
  role          = aws_iam_role.enforcer.arn

  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = local.enforcer_zip
  source_code_hash = filebase64sha256(local.enforcer_zip)

  timeout     = var.enforcer_timeout_seconds
  memory_size = var.enforcer_memory_mb

  environment {
    variables = { for k, v in merge(local.common_environment, {
      AWSAUDIT_MAX_DELAY_SECONDS           = "900"
      AWSAUDIT_CANARY_TTL_SECONDS          = tostring(var.enforcer_canary_ttl_seconds)
      AWSAUDIT_NOT_FOUND_ALLOWANCE_SECONDS = tostring(var.enforcer_not_found_allowance_seconds)
      AWSAUDIT_RETRY_DELAY_SECONDS         = tostring(var.enforcer_retry_delay_seconds)
    }) : k => v if v != null }
  }

  logging_config {
    log_format            = "JSON"
    application_log_level = local.lambda_application_log_level
    log_group             = aws_cloudwatch_log_group.enforcer.name
  }

  tags = var.tags

  # The role's policy first: the function must not start without its permissions.
  depends_on = [aws_iam_role_policy.enforcer]

  lifecycle {
    precondition {
      condition     = var.es_secret_ssm_parameter == null || var.es_secret_id == null
      error_message = "Set at most one of es_secret_ssm_parameter and es_secret_id."
    }
    precondition {
      condition     = var.es_url != null || (var.es_secret_ssm_parameter == null && var.es_secret_id == null)
      error_message = "es_secret_ssm_parameter or es_secret_id is set but es_url is not: set es_url too."
    }
    # The functions refuse credentials over plain http to another machine at start-up; say so at
    # plan time instead.
    precondition {
      condition     = (var.es_secret_ssm_parameter == null && var.es_secret_id == null) || startswith(lower(coalesce(var.es_url, "https://")), "https://")
      error_message = "es_url is http:// but an Elasticsearch secret is set: the credentials would cross the network in clear text. Use https://."
    }
    # Each index gets its own strict template; one name for both would give the rollups and the
    # violators one mapping, and every document of the other kind would be rejected.
    precondition {
      condition     = var.audit_index != var.violator_index
      error_message = "audit_index and violator_index are both \"${var.audit_index}\": give the rollups and the violators different indices."
    }
  }
}

resource "aws_lambda_event_source_mapping" "enforcer" {
  event_source_arn = aws_sqs_queue.events.arn
  function_name    = aws_lambda_function.enforcer.arn

  batch_size                         = var.enforcer_batch_size
  maximum_batching_window_in_seconds = var.enforcer_batching_window_seconds
  # The enforcer returns the messages that failed for a transient reason; the rest of the batch is
  # deleted. A message that keeps failing reaches the DLQ after max_receive_count deliveries.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.enforcer_max_concurrency
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.enforcer_batch_size <= 10 || var.enforcer_batching_window_seconds >= 1
      error_message = "enforcer_batch_size above 10 needs enforcer_batching_window_seconds of at least 1 (an SQS event source mapping rule)."
    }
  }
}
