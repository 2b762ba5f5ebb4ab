# awsaudit: the whole pipeline in one apply.
#
#   every other audited region: EventBridge rule (CloudTrail RunInstances) --> home default bus
#   home region:                EventBridge rule --> SQS delay queue (DLQ) --> enforcer Lambda
#                               EventBridge Scheduler (nightly) --> reconciler Lambda
#
# The home region is the provider's region. One file per concern: queue.tf, events.tf,
# forwarding.tf, enforcer.tf, reconciler.tf, iam.tf, logs.tf, alarms.tf, policy.tf.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  name        = var.name_prefix
  partition   = data.aws_partition.current.partition
  dns_suffix  = data.aws_partition.current.dns_suffix
  account_id  = data.aws_caller_identity.current.account_id
  home_region = data.aws_region.current.region

  # Every audited region, the home region first. The functions get this list as AWSAUDIT_REGIONS.
  audited_regions = distinct(concat([local.home_region], var.regions))
  # The regions whose events are forwarded to the home bus; the home rule sees its own directly.
  forward_regions = toset([for r in var.regions : r if r != local.home_region])
  home_bus_arn    = "arn:${local.partition}:events:${local.home_region}:${local.account_id}:event-bus/default"

  # SQS delays stop at 900 s; the enforcer re-enqueues a recheck for whatever grace is left.
  grace_seconds       = floor(var.grace_minutes * 60)
  queue_delay_seconds = min(local.grace_seconds, 900)
  # AWS: at least six times the function timeout, plus the batching window, so that a batch
  # retried after throttling is not redelivered while it is still being handled.
  queue_visibility_timeout_seconds = 6 * var.enforcer_timeout_seconds + var.enforcer_batching_window_seconds

  # Lambda filters JSON application logs by their "level" (INFO by default), before and apart from
  # the functions' own AWSAUDIT_LOG_LEVEL: debug lines reach CloudWatch only with DEBUG here. Never
  # above INFO: the embedded-metric lines (and the _bulk documents logged without Elasticsearch)
  # have no level, Lambda counts them as INFO, and WARN would drop them, and with them the metrics
  # and alarms. warn and error are applied by the functions themselves.
  lambda_application_log_level = var.log_level == "debug" ? "DEBUG" : "INFO"

  enforcer_name   = "${local.name}-enforcer"
  reconciler_name = "${local.name}-reconciler"
  enforcer_zip    = coalesce(var.enforcer_zip, "${path.module}/../dist/enforcer.zip")
  reconciler_zip  = coalesce(var.reconciler_zip, "${path.module}/../dist/reconciler.zip")

  # The roles may stop, terminate or change protection only when the action asks for it and this
  # is not a dry run: in report mode the functions cannot change an instance, whatever they run.
  destructive = var.action != "report" && !var.dry_run

  # The Elasticsearch secret, by ARN, for IAM. A Secrets Manager ARN ends in a random six-character
  # suffix that a name does not carry.
  es_secret_ssm_arn = var.es_secret_ssm_parameter == null ? null : (
    startswith(var.es_secret_ssm_parameter, "arn:") ? var.es_secret_ssm_parameter :
    "arn:${local.partition}:ssm:${local.home_region}:${local.account_id}:parameter/${trimprefix(var.es_secret_ssm_parameter, "/")}"
  )
  es_secret_arn = var.es_secret_id == null ? null : (
    startswith(var.es_secret_id, "arn:") ? var.es_secret_id :
    "arn:${local.partition}:secretsmanager:${local.home_region}:${local.account_id}:secret:${var.es_secret_id}-??????"
  )

  # Settings both functions read (internal/config). Unset values are left out, not set empty.
  common_environment = {
    AWSAUDIT_POLICY_SSM_PARAMETER    = aws_ssm_parameter.policy.name
    AWSAUDIT_ACTION                  = var.action
    AWSAUDIT_DRY_RUN                 = tostring(var.dry_run)
    AWSAUDIT_REGIONS                 = join(",", local.audited_regions)
    AWSAUDIT_QUEUE_URL               = aws_sqs_queue.events.url
    AWSAUDIT_ES_URL                  = var.es_url
    AWSAUDIT_ES_SECRET_SSM_PARAMETER = var.es_secret_ssm_parameter
    AWSAUDIT_ES_SECRET_ID            = var.es_secret_id
    AWSAUDIT_AUDIT_INDEX             = var.audit_index
    AWSAUDIT_VIOLATOR_INDEX          = var.violator_index
    AWSAUDIT_LOG_LEVEL               = var.log_level
    AWSAUDIT_METRICS_NAMESPACE       = var.metrics_namespace
  }
}
