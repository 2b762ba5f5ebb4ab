# Inputs of the awsaudit deployment. Secrets are never inputs: the Elasticsearch credentials are
# named (an SSM SecureString or a Secrets Manager secret) and read by the functions at run time.
# Checks that involve two variables are lifecycle preconditions (see main.tf), so that
# Terraform 1.5 can still read this file.

# ------------------------------------------------------------------------------------------------
# General
# ------------------------------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every resource name (queues, functions, roles, rules, alarms). Change it to deploy twice in one account."
  type        = string
  default     = "awsaudit"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", var.name_prefix))
    error_message = "name_prefix must be 1 to 32 letters, digits, hyphens or underscores, starting with a letter or digit (IAM role and Lambda names add up to 32 more characters and stop at 64)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags (the provider's default_tags work too)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "regions" {
  description = "Regions to audit. The home region (the provider's region) is always audited and needs no entry; every other region gets an EventBridge rule forwarding RunInstances events to the home region's default bus."
  type        = list(string)
  nullable    = false

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", r))])
    error_message = "Every entry of regions must be a region name such as us-east-1 or ap-southeast-2 (lower case, hyphens, no spaces)."
  }
  validation {
    condition     = length(distinct(var.regions)) == length(var.regions)
    error_message = "regions lists a region twice."
  }
}

# ------------------------------------------------------------------------------------------------
# Policy: either the whole document in `policy`, or rendered from the variables below.
# ------------------------------------------------------------------------------------------------

variable "policy" {
  description = "The whole policy document (YAML or JSON, the format `awsaudit policy check` reads). When set, it is stored as is, and required_tags, iam_user_tags, managed_action, canary_tags, accounts and max_actions* are not used. action, dry_run and regions still apply (the functions read them from the environment); grace_minutes then only sets the queue delay, canary_name only the IAM Deny."
  type        = string
  default     = null

  validation {
    condition     = var.policy == null || try(trimspace(var.policy) != "" && yamldecode(var.policy) != null, false)
    error_message = "policy must be a non-empty YAML or JSON document."
  }
}

variable "required_tags" {
  description = "Tag keys every instance must carry (matched case-insensitively, trimmed, by the functions). Used when policy is null."
  type        = list(string)
  default     = ["created_by", "department", "project"]
  nullable    = false

  validation {
    condition     = length(var.required_tags) > 0
    error_message = "required_tags must name at least one tag key."
  }
  validation {
    condition     = alltrue([for k in var.required_tags : trimspace(k) != ""])
    error_message = "required_tags has a blank entry; a blank key would make every instance a violator."
  }
  validation {
    condition     = length(distinct([for k in var.required_tags : lower(trimspace(k))])) == length(var.required_tags)
    error_message = "required_tags lists a key twice (keys are compared case-insensitively and trimmed)."
  }
  validation {
    condition     = alltrue([for k in var.required_tags : length(trimspace(k)) <= 128])
    error_message = "Every entry of required_tags must be at most 128 characters (EC2's limit on tag keys)."
  }
}

variable "iam_user_tags" {
  description = "Keys among required_tags whose value must name an existing IAM user (the original tool's --confirm for created_by). Used when policy is null."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for k in var.iam_user_tags : trimspace(k) != ""])
    error_message = "iam_user_tags has a blank entry."
  }
}

variable "grace_minutes" {
  description = "Minutes a new instance may run before it must carry the required tags. Also sets the SQS delay: min(grace, 15 minutes); longer grace periods are covered by the enforcer's recheck messages."
  type        = number
  default     = 5
  nullable    = false

  # The functions refuse a grace period longer than 100 years (100 x 365 days, in minutes).
  validation {
    condition     = var.grace_minutes >= 0 && var.grace_minutes <= 52560000
    error_message = "grace_minutes must be from 0 to 52560000 (100 years, the longest the functions accept)."
  }
}

variable "action" {
  description = "What happens to a violator after its grace period: report (change nothing), stop or terminate. Passed to both functions as AWSAUDIT_ACTION, so it overrides the policy's action, and it decides whether the roles may stop or terminate at all."
  type        = string
  default     = "report"
  nullable    = false

  validation {
    condition     = contains(["report", "stop", "terminate"], var.action)
    error_message = "action must be report, stop or terminate."
  }
}

variable "dry_run" {
  description = "With action stop or terminate: record what would be done (outcome dry_run) and change nothing. The roles then get no stop, terminate or modify permission."
  type        = bool
  default     = false
  nullable    = false
}

variable "managed_action" {
  description = "Instances of Auto Scaling groups, fleets, Karpenter, EMR, Batch and Beanstalk: report (only report them) or enforce (act on them like any other). Used when policy is null."
  type        = string
  default     = "report"
  nullable    = false

  validation {
    condition     = contains(["report", "enforce"], var.managed_action)
    error_message = "managed_action must be report or enforce."
  }
}

variable "canary_name" {
  description = "Name tag of each region's canary instance; {region} is replaced by the region. Also denies, in IAM, any stop, terminate or attribute change on instances named like a canary. When policy is set, keep it equal to the policy's canary name."
  type        = string
  default     = "api-canary-{region}"
  nullable    = false

  validation {
    condition     = trimspace(var.canary_name) != "" && length(var.canary_name) <= 256
    error_message = "canary_name must not be blank and at most 256 characters."
  }
}

variable "canary_tags" {
  description = "Tags (besides Name) each canary carries; null keeps the functions' default (created_by=cody, project=API canary, department=sysops). They must satisfy required_tags. Used when policy is null."
  type        = map(string)
  default     = null

  validation {
    condition     = var.canary_tags == null || alltrue([for k, v in(var.canary_tags == null ? tomap({}) : var.canary_tags) : trimspace(k) != "" && trimspace(v) != "" && lower(trimspace(k)) != "name"])
    error_message = "canary_tags must have non-blank keys and values and no Name key (set canary_name instead)."
  }
}

variable "accounts" {
  description = "Account ids or aliases that may be acted on; empty means any. A run in another account reports and acts on nothing (outcome skipped_account). Used when policy is null."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.accounts : trimspace(a) != ""])
    error_message = "accounts has a blank entry."
  }
}

variable "max_actions" {
  description = "Most instances stopped or terminated in one run (0 = no limit); the rest are reported as skipped_limit, oldest acted on first. Used when policy is null."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.max_actions >= 0 && floor(var.max_actions) == var.max_actions
    error_message = "max_actions must be a whole number, 0 or more."
  }
}

variable "max_actions_percent" {
  description = "Most instances acted on in one sweep, in percent of the instances listed in its verified regions (0 = no limit). Used when policy is null."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.max_actions_percent >= 0 && var.max_actions_percent <= 100
    error_message = "max_actions_percent must be from 0 to 100."
  }
}

# ------------------------------------------------------------------------------------------------
# Elasticsearch
# ------------------------------------------------------------------------------------------------

variable "es_url" {
  description = "Elasticsearch URL (https://host:port), without credentials (see es_secret_ssm_parameter and es_secret_id). Null: the documents are written to the functions' logs only."
  type        = string
  default     = null

  validation {
    condition     = var.es_url == null || can(regex("^https?://[^/\\s]+", coalesce(var.es_url, "-")))
    error_message = "es_url must start with https:// or http:// and name a host."
  }
  # The URL is a plain Lambda environment variable and sits in the Terraform state: user info in
  # it would put the Elasticsearch password in both.
  validation {
    condition     = !can(regex("^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@", coalesce(var.es_url, "-")))
    error_message = "es_url must not carry credentials (user:password@host): the URL is stored in plain text in the functions' environment and the Terraform state. Store the API key or {\"username\",\"password\"} JSON in an SSM SecureString (es_secret_ssm_parameter) or a Secrets Manager secret (es_secret_id), and give es_url as https://host:port."
  }
}

variable "es_secret_ssm_parameter" {
  description = "Name (or ARN) of an existing SSM SecureString parameter in the home region holding the Elasticsearch API key, or {\"username\",\"password\"} JSON. Set at most one of this and es_secret_id."
  type        = string
  default     = null

  validation {
    condition     = var.es_secret_ssm_parameter == null || (length(coalesce(var.es_secret_ssm_parameter, "-")) <= 2048 && can(regex("^(arn:[a-z-]+:ssm:[a-z0-9-]+:[0-9]{12}:parameter)?/?[A-Za-z0-9_./-]+$", coalesce(var.es_secret_ssm_parameter, "-"))))
    error_message = "es_secret_ssm_parameter must be an SSM parameter name (letters, digits, _ . - /) or a parameter ARN. It is a name, never the secret itself."
  }
}

variable "es_secret_id" {
  description = "Name (or ARN) of an existing Secrets Manager secret in the home region holding the Elasticsearch API key, or {\"username\",\"password\"} JSON. Set at most one of this and es_secret_ssm_parameter."
  type        = string
  default     = null

  validation {
    condition     = var.es_secret_id == null || can(regex("^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512})$", coalesce(var.es_secret_id, "-")))
    error_message = "es_secret_id must be a Secrets Manager secret name (letters, digits, / _ + = . @ -) or a secret ARN. It is a name, never the secret itself."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the Elasticsearch secret, if any; the functions get kms:Decrypt on it through SSM and Secrets Manager only. Not needed for the AWS managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "audit_index" {
  description = "Elasticsearch index of the rollup documents. Must differ from violator_index (checked at plan time)."
  type        = string
  default     = "aws-tag-audit"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,254}$", var.audit_index))
    error_message = "audit_index must be a lower-case Elasticsearch index name (a-z, 0-9, . _ -, not starting with . _ or -)."
  }
}

variable "violator_index" {
  description = "Elasticsearch index of the per-violator documents. Must differ from audit_index (checked at plan time)."
  type        = string
  default     = "aws-tag-violator"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,254}$", var.violator_index))
    error_message = "violator_index must be a lower-case Elasticsearch index name (a-z, 0-9, . _ -, not starting with . _ or -)."
  }
}

# ------------------------------------------------------------------------------------------------
# Functions
# ------------------------------------------------------------------------------------------------

variable "enforcer_zip" {
  description = "Path of the enforcer's deployment package (make package). Null: dist/enforcer.zip at the repository root."
  type        = string
  default     = null
}

variable "reconciler_zip" {
  description = "Path of the reconciler's deployment package (make package). Null: dist/reconciler.zip at the repository root."
  type        = string
  default     = null
}

variable "log_level" {
  description = "Log level of both functions: debug, info, warn or error. debug also lowers the functions' Lambda application log level to DEBUG (INFO otherwise)."
  type        = string
  default     = "info"
  nullable    = false

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "log_retention_days" {
  description = "Days the functions' CloudWatch log groups keep events (0 = never expire)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: 0 (never expire), 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the functions' embedded metrics, and of the alarms on them."
  type        = string
  default     = "awsaudit"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._#:/-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1 to 255 of letters, digits and . _ # : / -, and must not start with AWS/ (reserved)."
  }
}

variable "enforcer_timeout_seconds" {
  description = "Enforcer Lambda timeout. The queue's visibility timeout is derived from it (6 x timeout + batching window)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.enforcer_timeout_seconds >= 1 && var.enforcer_timeout_seconds <= 900 && floor(var.enforcer_timeout_seconds) == var.enforcer_timeout_seconds
    error_message = "enforcer_timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "enforcer_memory_mb" {
  description = "Enforcer Lambda memory (MB)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.enforcer_memory_mb >= 128 && var.enforcer_memory_mb <= 10240 && floor(var.enforcer_memory_mb) == var.enforcer_memory_mb
    error_message = "enforcer_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "enforcer_batch_size" {
  description = "Most SQS messages per enforcer invocation. Above 10 needs enforcer_batching_window_seconds of at least 1."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.enforcer_batch_size >= 1 && var.enforcer_batch_size <= 10000 && floor(var.enforcer_batch_size) == var.enforcer_batch_size
    error_message = "enforcer_batch_size must be a whole number from 1 to 10000."
  }
}

variable "enforcer_batching_window_seconds" {
  description = "Longest time the event source mapping gathers messages before invoking the enforcer."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.enforcer_batching_window_seconds >= 0 && var.enforcer_batching_window_seconds <= 300 && floor(var.enforcer_batching_window_seconds) == var.enforcer_batching_window_seconds
    error_message = "enforcer_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "enforcer_max_concurrency" {
  description = "Most enforcer instances the SQS event source mapping runs at once (scaling_config.maximum_concurrency). Bounds the EC2 API rate the event path can cause."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.enforcer_max_concurrency >= 2 && var.enforcer_max_concurrency <= 1000 && floor(var.enforcer_max_concurrency) == var.enforcer_max_concurrency
    error_message = "enforcer_max_concurrency must be a whole number from 2 (the AWS minimum) to 1000."
  }
}

variable "enforcer_canary_ttl_seconds" {
  description = "How long the enforcer keeps a region's canary check before checking again."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.enforcer_canary_ttl_seconds >= 0 && var.enforcer_canary_ttl_seconds <= 86400
    error_message = "enforcer_canary_ttl_seconds must be from 0 to 86400."
  }
}

variable "enforcer_not_found_allowance_seconds" {
  description = "How long after its event an instance that EC2 does not show yet is waited for (eventual consistency)."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.enforcer_not_found_allowance_seconds >= 0 && var.enforcer_not_found_allowance_seconds <= 86400
    error_message = "enforcer_not_found_allowance_seconds must be from 0 to 86400."
  }
}

variable "enforcer_retry_delay_seconds" {
  description = "Delay of the recheck message the enforcer sends while waiting for an instance EC2 does not show yet."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.enforcer_retry_delay_seconds >= 1 && var.enforcer_retry_delay_seconds <= 900
    error_message = "enforcer_retry_delay_seconds must be from 1 to 900 (the SQS maximum delay; the enforcer refuses less than 1)."
  }
}

variable "reconciler_timeout_seconds" {
  description = "Reconciler Lambda timeout. The sweep starts no new region when less than reconciler_time_reserve_seconds is left."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.reconciler_timeout_seconds >= 60 && var.reconciler_timeout_seconds <= 900 && floor(var.reconciler_timeout_seconds) == var.reconciler_timeout_seconds
    error_message = "reconciler_timeout_seconds must be a whole number from 60 to 900."
  }
}

variable "reconciler_memory_mb" {
  description = "Reconciler Lambda memory (MB)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.reconciler_memory_mb >= 128 && var.reconciler_memory_mb <= 10240 && floor(var.reconciler_memory_mb) == var.reconciler_memory_mb
    error_message = "reconciler_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "reconciler_time_reserve_seconds" {
  description = "Time the reconciler keeps for acting and writing: it starts no region later than this before its timeout, stops listing and acting halfway through it, and stops writing 10 s before its timeout to spool what Elasticsearch did not take. At least 30."
  type        = number
  default     = 180
  nullable    = false

  # The functions refuse less than 30 s (internal/config MinTimeReserve): with less, the write
  # would end before the sweep stops.
  validation {
    condition     = var.reconciler_time_reserve_seconds >= 30 && var.reconciler_time_reserve_seconds <= 900
    error_message = "reconciler_time_reserve_seconds must be from 30 to 900."
  }
}

variable "reconciler_concurrency" {
  description = "Regions the reconciler sweeps at once."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.reconciler_concurrency >= 1 && var.reconciler_concurrency <= 64 && floor(var.reconciler_concurrency) == var.reconciler_concurrency
    error_message = "reconciler_concurrency must be a whole number from 1 to 64."
  }
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the sweep: cron(...), rate(...) or at(...)."
  type        = string
  default     = "cron(0 3 * * ? *)"
  nullable    = false

  validation {
    condition     = can(regex("^(cron|rate|at)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be cron(...), rate(...) or at(...), for example cron(0 3 * * ? *)."
  }
}

variable "schedule_expression_timezone" {
  description = "IANA time zone the schedule expression is read in, such as UTC or Europe/Berlin."
  type        = string
  default     = "UTC"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_+/-]{1,50}$", var.schedule_expression_timezone))
    error_message = "schedule_expression_timezone must be an IANA time zone name such as UTC or America/New_York."
  }
}

variable "schedule_enabled" {
  description = "Whether the nightly sweep runs (false leaves the schedule in place, DISABLED)."
  type        = bool
  default     = true
  nullable    = false
}

# ------------------------------------------------------------------------------------------------
# Queue
# ------------------------------------------------------------------------------------------------

variable "max_receive_count" {
  description = "Deliveries of one message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long the delay queue keeps a message: more than the queue delay plus its visibility timeout (checked at plan time; a shorter retention lets messages expire undelivered), and at most 7 days, so that the dead-letter queue (14 days) always outlives a message it receives: SQS keeps a message's original enqueue time when it moves it."
  type        = number
  default     = 345600
  nullable    = false

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 604800
    error_message = "queue_message_retention_seconds must be from 60 to 604800 (7 days)."
  }
}

# ------------------------------------------------------------------------------------------------
# Alarms
# ------------------------------------------------------------------------------------------------

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (on ALARM and OK). Null: the alarms exist but notify nobody."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", coalesce(var.alarm_sns_topic_arn, "-")))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_period_seconds" {
  description = "Period over which each alarm's metric is evaluated."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds <= 86400 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60 from 60 to 86400."
  }
}
