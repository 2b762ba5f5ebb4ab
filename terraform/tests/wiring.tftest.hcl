# Plan-time checks of the pipeline's wiring, against a mocked AWS provider (no credentials, no
# network). Computed attributes are mocked; the assertions are on the arguments this
# configuration sets, which is what can go wrong here. Run by tools/tfcheck (`tofu test`).

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
      name   = "eu-west-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

# The packages come from `make package`; the tests use a placeholder so they do not depend on it.
variables {
  regions        = ["eu-west-1", "us-east-1", "us-west-2"]
  enforcer_zip   = "tests/fixtures/bootstrap.zip"
  reconciler_zip = "tests/fixtures/bootstrap.zip"
}

run "defaults" {
  command = plan

  # Queue: the default 5-minute grace is a 300 s delay; DLQ, redrive and visibility.
  assert {
    condition     = aws_sqs_queue.events.delay_seconds == 300
    error_message = "A 5-minute grace must give a 300 s queue delay."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.events.redrive_policy).maxReceiveCount == 5
    error_message = "The redrive policy must move a message to the DLQ after 5 receives by default."
  }
  assert {
    condition     = aws_sqs_queue.events.visibility_timeout_seconds >= 6 * aws_lambda_function.enforcer.timeout
    error_message = "The queue's visibility timeout must be at least six times the enforcer's timeout."
  }
  assert {
    condition     = aws_sqs_queue.events.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled && aws_sqs_queue.events.kms_master_key_id == null
    error_message = "Both queues must use SSE-SQS (EventBridge cannot deliver to alias/aws/sqs)."
  }
  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds > aws_sqs_queue.events.message_retention_seconds
    error_message = "The DLQ must keep messages longer than the queue."
  }
  assert {
    condition     = aws_sqs_queue.events.message_retention_seconds > aws_sqs_queue.events.delay_seconds + aws_sqs_queue.events.visibility_timeout_seconds
    error_message = "The queue must keep a message longer than its delay plus its visibility timeout."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq.redrive_allow_policy).redrivePermission == "byQueue"
    error_message = "Only the delay queue may redrive into the DLQ."
  }

  # Home rule: the CloudTrail RunInstances pattern, successful calls only, to the queue.
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.runinstances.event_pattern) == {
      source        = ["aws.ec2"]
      "detail-type" = ["AWS API Call via CloudTrail"]
      detail = {
        eventSource = ["ec2.amazonaws.com"]
        eventName   = ["RunInstances"]
        errorCode   = [{ exists = false }]
      }
    }
    error_message = "The home rule's event pattern is not the successful-RunInstances pattern."
  }
  assert {
    condition     = aws_cloudwatch_event_target.queue.rule == aws_cloudwatch_event_rule.runinstances.name && aws_cloudwatch_event_target.queue.arn == aws_sqs_queue.events.arn
    error_message = "The home rule must target the delay queue."
  }

  # Forwarding: one rule and target per non-home region, each in its region, to the home bus.
  assert {
    condition     = toset(keys(aws_cloudwatch_event_rule.forward)) == toset(["us-east-1", "us-west-2"])
    error_message = "Forwarding rules must exist for the non-home regions only."
  }
  assert {
    condition     = alltrue([for r, rule in aws_cloudwatch_event_rule.forward : rule.region == r])
    error_message = "Each forwarding rule must be created in its own region."
  }
  assert {
    condition     = alltrue([for r, t in aws_cloudwatch_event_target.forward : t.region == r && t.arn == "arn:aws:events:eu-west-1:123456789012:event-bus/default"])
    error_message = "Each forwarding target must be in its region and point at the home region's default bus."
  }
  assert {
    condition     = alltrue([for r, rule in aws_cloudwatch_event_rule.forward : rule.event_pattern == aws_cloudwatch_event_rule.runinstances.event_pattern])
    error_message = "The forwarding rules must use the home rule's pattern."
  }
  assert {
    condition = alltrue([for t in aws_cloudwatch_event_target.forward : t.retry_policy[0].maximum_event_age_in_seconds == 86400
    && t.retry_policy[0].maximum_retry_attempts == 185 && length(t.dead_letter_config) == 0])
    error_message = "Each forwarding target must retry for 24 hours, and have no DLQ (a rule's DLQ must be in its own region)."
  }
  assert {
    condition     = length(aws_iam_role.forward) == 1
    error_message = "One forwarding role must serve every forwarding rule."
  }
  assert {
    condition     = data.aws_iam_policy_document.forward.statement[0].actions == toset(["events:PutEvents"]) && data.aws_iam_policy_document.forward.statement[0].resources == toset(["arn:aws:events:eu-west-1:123456789012:event-bus/default"])
    error_message = "The forwarding role may only put events on the home bus."
  }

  # Enforcer and its event source mapping.
  assert {
    condition     = contains(aws_lambda_event_source_mapping.enforcer.function_response_types, "ReportBatchItemFailures")
    error_message = "The event source mapping must report batch item failures."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.enforcer.scaling_config[0].maximum_concurrency == 5
    error_message = "The event source mapping must be bounded by maximum_concurrency."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.enforcer.batch_size == 10
    error_message = "The default batch size is 10."
  }
  assert {
    condition = (aws_lambda_function.enforcer.runtime == "provided.al2023" && aws_lambda_function.enforcer.handler == "bootstrap"
    && aws_lambda_function.enforcer.architectures == tolist(["arm64"]) && aws_lambda_function.enforcer.timeout == 60 && aws_lambda_function.enforcer.memory_size == 256)
    error_message = "The enforcer must be provided.al2023 on arm64 with a bootstrap handler, 60 s and 256 MB by default."
  }
  assert {
    condition     = aws_lambda_function.enforcer.logging_config[0].log_format == "JSON" && aws_lambda_function.enforcer.logging_config[0].log_group == "/aws/lambda/awsaudit-enforcer"
    error_message = "The enforcer must log JSON to its own log group."
  }
  assert {
    condition     = aws_lambda_function.enforcer.logging_config[0].application_log_level == "INFO" && aws_lambda_function.reconciler.logging_config[0].application_log_level == "INFO"
    error_message = "Lambda must pass INFO application logs (and the level-less metric lines) by default."
  }
  assert {
    condition     = aws_cloudwatch_log_group.enforcer.retention_in_days == 30 && aws_cloudwatch_log_group.reconciler.retention_in_days == 30
    error_message = "The log groups must keep 30 days by default."
  }

  # Environment: the exact names internal/config reads.
  assert {
    condition     = aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_REGIONS"] == "eu-west-1,us-east-1,us-west-2"
    error_message = "AWSAUDIT_REGIONS must list every audited region, home first."
  }
  assert {
    condition = (aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_ACTION"] == "report"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_DRY_RUN"] == "false"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_POLICY_SSM_PARAMETER"] == "/tag-audit/awsaudit/policy"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_MAX_DELAY_SECONDS"] == "900"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_METRICS_NAMESPACE"] == "awsaudit"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_AUDIT_INDEX"] == "aws-tag-audit"
    && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_VIOLATOR_INDEX"] == "aws-tag-violator")
    error_message = "The enforcer's environment is wrong."
  }
  assert {
    condition = length(setintersection(keys(aws_lambda_function.enforcer.environment[0].variables),
    ["AWSAUDIT_ES_URL", "AWSAUDIT_ES_SECRET_SSM_PARAMETER", "AWSAUDIT_ES_SECRET_ID"])) == 0
    error_message = "Unset Elasticsearch settings must be left out of the environment, not set empty."
  }
  assert {
    condition = (aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_TIME_RESERVE_SECONDS"] == "180"
      && aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_CONCURRENCY"] == "4"
    && !contains(keys(aws_lambda_function.reconciler.environment[0].variables), "AWSAUDIT_MAX_DELAY_SECONDS"))
    error_message = "The reconciler's environment is wrong."
  }

  # Reconciler and its schedule.
  assert {
    condition     = aws_lambda_function.reconciler.timeout == 900 && aws_lambda_function.reconciler.memory_size == 512
    error_message = "The reconciler must run up to 900 s with 512 MB by default."
  }
  assert {
    condition     = aws_lambda_function.reconciler.reserved_concurrent_executions == 1
    error_message = "The reconciler must be limited to one run at a time (reserved concurrency 1)."
  }
  assert {
    condition     = aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_AUDIT_INDEX"] != aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_VIOLATOR_INDEX"]
    error_message = "The rollups and the violators must go to different indices."
  }
  assert {
    condition     = aws_scheduler_schedule.reconciler.schedule_expression == "cron(0 3 * * ? *)" && aws_scheduler_schedule.reconciler.schedule_expression_timezone == "UTC"
    error_message = "The sweep must run nightly at 03:00 UTC by default."
  }
  assert {
    condition     = aws_scheduler_schedule.reconciler.flexible_time_window[0].mode == "OFF" && aws_scheduler_schedule.reconciler.state == "ENABLED"
    error_message = "The schedule must be enabled, without a flexible window."
  }
  assert {
    condition     = aws_scheduler_schedule.reconciler.target[0].retry_policy[0].maximum_retry_attempts <= 2 && aws_lambda_function_event_invoke_config.reconciler.maximum_retry_attempts == 0
    error_message = "A failed sweep must not be rerun by Lambda, and the scheduler may retry delivery only a few times."
  }

  # Policy rendered from the variables.
  assert {
    condition     = [for t in jsondecode(aws_ssm_parameter.policy.value).tags : t.key] == ["created_by", "department", "project"]
    error_message = "The rendered policy must require the default tags."
  }
  assert {
    condition = (jsondecode(aws_ssm_parameter.policy.value).grace == 5 && jsondecode(aws_ssm_parameter.policy.value).action == "report"
    && jsondecode(aws_ssm_parameter.policy.value).canary.name == "api-canary-{region}" && !can(jsondecode(aws_ssm_parameter.policy.value).limits))
    error_message = "The rendered policy's grace, action, canary or limits are wrong."
  }

  # IAM in report mode: no permission to change an instance.
  assert {
    condition     = !contains(flatten([for s in data.aws_iam_policy_document.enforcer.statement : tolist(s.actions)]), "ec2:TerminateInstances")
    error_message = "In report mode the enforcer must not be allowed to terminate."
  }
  assert {
    condition     = length(setintersection(flatten([for s in data.aws_iam_policy_document.reconciler.statement : tolist(s.actions)]), ["ec2:StopInstances", "ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"])) == 0
    error_message = "In report mode the reconciler must not be allowed to stop, terminate or modify."
  }
  assert {
    condition     = contains(flatten([for s in data.aws_iam_policy_document.enforcer.statement : tolist(s.actions)]), "sqs:ReceiveMessage")
    error_message = "The enforcer's role must let the event source mapping receive messages."
  }

  # Alarms, without a topic: present, notifying nobody.
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 7 && alltrue([for a in aws_cloudwatch_metric_alarm.this : length(a.alarm_actions) == 0])
    error_message = "Seven alarms without actions are expected when alarm_sns_topic_arn is null."
  }
  assert {
    condition = (aws_cloudwatch_metric_alarm.this["enforcer-failed-records"].namespace == "awsaudit"
      && aws_cloudwatch_metric_alarm.this["enforcer-failed-records"].dimensions == tomap({ Function = "enforcer" })
      && aws_cloudwatch_metric_alarm.this["reconciler-unverified-regions"].metric_name == "UnverifiedRegions"
      && aws_cloudwatch_metric_alarm.this["reconciler-unverified-regions"].dimensions == tomap({ Function = "reconciler" })
      && aws_cloudwatch_metric_alarm.this["dlq-depth"].metric_name == "ApproximateNumberOfMessagesVisible"
    && aws_cloudwatch_metric_alarm.this["dlq-depth"].dimensions == tomap({ QueueName = "awsaudit-events-dlq" }))
    error_message = "The alarms watch the wrong metrics or dimensions."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.treat_missing_data == "notBreaching" && a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold"])
    error_message = "Every alarm fires above 0 and treats missing data as not breaching."
  }
}

run "long_grace_caps_the_delay_at_900" {
  command = plan

  variables {
    grace_minutes = 120
  }

  assert {
    condition     = aws_sqs_queue.events.delay_seconds == 900
    error_message = "A 120-minute grace must cap the queue delay at 900 s (the enforcer rechecks the rest)."
  }
  assert {
    condition     = jsondecode(aws_ssm_parameter.policy.value).grace == 120
    error_message = "The rendered policy must carry the whole grace period."
  }
}

run "zero_grace" {
  command = plan

  variables {
    grace_minutes = 0
  }

  assert {
    condition     = aws_sqs_queue.events.delay_seconds == 0
    error_message = "No grace means no queue delay."
  }
}

run "debug_log_level_reaches_lambda" {
  command = plan

  variables {
    log_level = "debug"
  }

  assert {
    condition     = aws_lambda_function.enforcer.logging_config[0].application_log_level == "DEBUG" && aws_lambda_function.reconciler.logging_config[0].application_log_level == "DEBUG"
    error_message = "log_level debug must lower Lambda's application log level to DEBUG, or the debug lines are dropped."
  }
  assert {
    condition     = aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_LOG_LEVEL"] == "debug"
    error_message = "log_level must reach the functions."
  }
}

run "error_log_level_keeps_lambda_at_info" {
  command = plan

  variables {
    log_level = "error"
  }

  assert {
    condition     = aws_lambda_function.enforcer.logging_config[0].application_log_level == "INFO" && aws_lambda_function.reconciler.logging_config[0].application_log_level == "INFO"
    error_message = "Lambda's application log level must stay INFO above debug: the embedded-metric lines have no level and count as INFO."
  }
}

run "terminate_grants_terminate_only" {
  command = plan

  variables {
    action              = "terminate"
    max_receive_count   = 3
    alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:ops"
  }

  assert {
    condition     = aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_ACTION"] == "terminate" && jsondecode(aws_ssm_parameter.policy.value).action == "terminate"
    error_message = "The action must reach the environment and the policy."
  }
  assert {
    condition = (contains(flatten([for s in data.aws_iam_policy_document.enforcer.statement : tolist(s.actions) if s.effect != "Deny"]), "ec2:TerminateInstances")
    && !contains(flatten([for s in data.aws_iam_policy_document.enforcer.statement : tolist(s.actions) if s.effect != "Deny"]), "ec2:StopInstances"))
    error_message = "Terminate mode must grant TerminateInstances and not StopInstances."
  }
  assert {
    condition = one([for s in data.aws_iam_policy_document.reconciler.statement : s.resources if s.sid == "ActOnInstances"]) == toset([
      "arn:aws:ec2:eu-west-1:123456789012:instance/*",
      "arn:aws:ec2:us-east-1:123456789012:instance/*",
      "arn:aws:ec2:us-west-2:123456789012:instance/*",
    ])
    error_message = "Terminate must be limited to this account's instances in the audited regions."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "NeverActOnCanaries"]).effect == "Deny"
    error_message = "Instances named like a canary must be protected by a Deny."
  }
  assert {
    condition     = one(one([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "NeverActOnCanaries"]).condition).values == tolist(["api-canary-*"])
    error_message = "The canary Deny must match api-canary-* by default."
  }
  assert {
    condition = alltrue([for doc in [data.aws_iam_policy_document.enforcer, data.aws_iam_policy_document.reconciler] :
      one([for s in doc.statement : s if s.sid == "OnlyProtectionAttributes"]).effect == "Deny"
      && one([for s in doc.statement : s if s.sid == "OnlyProtectionAttributes"]).actions == toset(["ec2:ModifyInstanceAttribute"])
      && toset([for c in one([for s in doc.statement : s if s.sid == "OnlyProtectionAttributes"]).condition : "${c.test} ${c.variable} ${join(",", sort(c.values))}"]) == toset([
        "StringNotEqualsIgnoreCase ec2:Attribute disableApiStop,disableApiTermination",
        "Null ec2:Attribute false",
    ])])
    error_message = "Both roles must deny ModifyInstanceAttribute of any attribute but the protection flags, and only when ec2:Attribute is present."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.events.redrive_policy).maxReceiveCount == 3
    error_message = "max_receive_count must reach the redrive policy."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:ops"])])
    error_message = "Every alarm must notify the topic when one is given."
  }
}

run "stop_dry_run_grants_nothing_destructive" {
  command = plan

  variables {
    action  = "stop"
    dry_run = true
  }

  assert {
    condition     = aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_DRY_RUN"] == "true" && aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_ACTION"] == "stop"
    error_message = "dry_run and the action must reach the environment."
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "ActOnInstances"]) == 0
    error_message = "A dry run must not grant stop, terminate or modify."
  }
}

run "stop_grants_stop_only" {
  command = plan

  variables {
    action = "stop"
  }

  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.reconciler.statement : s if s.sid == "ActOnInstances"]).actions) == toset(["ec2:ModifyInstanceAttribute", "ec2:StopInstances"])
    error_message = "Stop mode must grant StopInstances and ModifyInstanceAttribute, not TerminateInstances."
  }
}

run "home_region_only" {
  command = plan

  variables {
    regions = ["eu-west-1"]
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.forward) == 0 && length(aws_cloudwatch_event_target.forward) == 0 && length(aws_iam_role.forward) == 0
    error_message = "Auditing only the home region needs no forwarding rule or role."
  }
  assert {
    condition     = aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_REGIONS"] == "eu-west-1"
    error_message = "AWSAUDIT_REGIONS must be the home region alone."
  }
}

run "home_region_is_added" {
  command = plan

  variables {
    regions = ["ap-southeast-2"]
  }

  assert {
    condition     = aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_REGIONS"] == "eu-west-1,ap-southeast-2" && keys(aws_cloudwatch_event_rule.forward) == ["ap-southeast-2"]
    error_message = "The home region is always audited, and only the other regions forward."
  }
}

run "elasticsearch_by_ssm_parameter" {
  command = plan

  variables {
    es_url                  = "https://es.example.com:9243"
    es_secret_ssm_parameter = "/tag-audit/es-api-key"
    kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = (aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_ES_URL"] == "https://es.example.com:9243"
      && aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_ES_SECRET_SSM_PARAMETER"] == "/tag-audit/es-api-key"
    && !contains(keys(aws_lambda_function.enforcer.environment[0].variables), "AWSAUDIT_ES_SECRET_ID"))
    error_message = "The ES URL and the SSM parameter's name must reach the environment, and no secret id."
  }
  assert {
    condition     = contains(one([for s in data.aws_iam_policy_document.reconciler.statement : s if s.sid == "ReadSettings"]).resources, "arn:aws:ssm:eu-west-1:123456789012:parameter/tag-audit/es-api-key")
    error_message = "The reconciler must be allowed to read the ES secret parameter."
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "ReadElasticsearchSecret"]) == 0
    error_message = "No Secrets Manager permission without es_secret_id."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "DecryptElasticsearchSecret"]).actions == toset(["kms:Decrypt"])
    error_message = "kms_key_arn must grant kms:Decrypt."
  }
}

run "elasticsearch_by_secret_id" {
  command = plan

  variables {
    es_url       = "https://es.example.com"
    es_secret_id = "awsaudit/elasticsearch"
  }

  assert {
    condition     = aws_lambda_function.reconciler.environment[0].variables["AWSAUDIT_ES_SECRET_ID"] == "awsaudit/elasticsearch"
    error_message = "The secret's name must reach the environment."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "ReadElasticsearchSecret"]).resources == toset(["arn:aws:secretsmanager:eu-west-1:123456789012:secret:awsaudit/elasticsearch-??????"])
    error_message = "The enforcer must be allowed to read exactly that secret."
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.enforcer.statement : s if s.sid == "DecryptElasticsearchSecret"]) == 0
    error_message = "No kms:Decrypt without kms_key_arn."
  }
}

run "hand_written_policy_is_stored_as_given" {
  command = plan

  variables {
    policy = "version: 1\ntags: [owner, cost_center]\ngrace: 90m\n"
  }

  assert {
    condition     = aws_ssm_parameter.policy.value == "version: 1\ntags: [owner, cost_center]\ngrace: 90m\n"
    error_message = "A hand-written policy must be stored unchanged."
  }
}

run "rendered_policy_options" {
  command = plan

  variables {
    required_tags       = ["created_by", "cost_center"]
    iam_user_tags       = ["created_by"]
    canary_tags         = { created_by = "cody", cost_center = "sysops" }
    accounts            = ["123456789012"]
    max_actions         = 25
    managed_action      = "enforce"
    schedule_expression = "rate(12 hours)"
  }

  assert {
    condition     = jsondecode(aws_ssm_parameter.policy.value).tags == [{ key = "created_by", iam_user = true }, { key = "cost_center", iam_user = false }]
    error_message = "iam_user_tags must mark their keys in the rendered policy."
  }
  assert {
    condition = (jsondecode(aws_ssm_parameter.policy.value).canary.tags == { created_by = "cody", cost_center = "sysops" }
      && jsondecode(aws_ssm_parameter.policy.value).accounts == ["123456789012"]
      && jsondecode(aws_ssm_parameter.policy.value).limits.max_actions == 25
    && jsondecode(aws_ssm_parameter.policy.value).managed.action == "enforce")
    error_message = "The rendered policy's canary, accounts, limits or managed action are wrong."
  }
  assert {
    condition     = aws_scheduler_schedule.reconciler.schedule_expression == "rate(12 hours)"
    error_message = "schedule_expression must reach the schedule."
  }
}

# ------------------------------------------------------------------------------------------------
# Bad values are refused before anything is planned.
# ------------------------------------------------------------------------------------------------

run "rejects_unknown_action" {
  command = plan
  variables {
    action = "destroy"
  }
  expect_failures = [var.action]
}

run "rejects_negative_grace" {
  command = plan
  variables {
    grace_minutes = -1
  }
  expect_failures = [var.grace_minutes]
}

run "rejects_grace_beyond_100_years" {
  command = plan
  variables {
    grace_minutes = 52560001
  }
  expect_failures = [var.grace_minutes]
}

run "rejects_malformed_region" {
  command = plan
  variables {
    regions = ["eu-west-1", "us_east_1"]
  }
  expect_failures = [var.regions]
}

run "rejects_blank_tag" {
  command = plan
  variables {
    required_tags = ["created_by", " ", "project"]
  }
  expect_failures = [var.required_tags]
}

run "rejects_duplicate_tag" {
  command = plan
  variables {
    required_tags = ["created_by", "Created_By"]
  }
  expect_failures = [var.required_tags]
}

run "rejects_empty_tags" {
  command = plan
  variables {
    required_tags = []
  }
  expect_failures = [var.required_tags]
}

run "rejects_both_es_secrets" {
  command = plan
  variables {
    es_url                  = "https://es.example.com"
    es_secret_ssm_parameter = "/tag-audit/es"
    es_secret_id            = "awsaudit/es"
  }
  expect_failures = [aws_lambda_function.enforcer]
}

run "rejects_es_secret_over_plain_http" {
  command = plan
  variables {
    es_url       = "http://es.example.com:9200"
    es_secret_id = "awsaudit/es"
  }
  expect_failures = [aws_lambda_function.enforcer]
}

run "rejects_es_secret_without_url" {
  command = plan
  variables {
    es_secret_id = "awsaudit/es"
  }
  expect_failures = [aws_lambda_function.enforcer]
}

run "rejects_plain_es_url" {
  command = plan
  variables {
    es_url = "es.example.com:9200"
  }
  expect_failures = [var.es_url]
}

run "rejects_es_url_with_credentials" {
  command = plan
  variables {
    es_url                  = "https://elastic:changeme@es.example.com:9243"
    es_secret_ssm_parameter = "/tag-audit/es"
  }
  expect_failures = [var.es_url]
}

run "rejects_es_url_with_user" {
  command = plan
  variables {
    es_url = "https://elastic@es.example.com"
  }
  expect_failures = [var.es_url]
}

run "accepts_es_url_with_at_sign_in_path" {
  command = plan
  variables {
    es_url = "https://es.example.com:9243/proxy@eu"
  }
  assert {
    condition     = aws_lambda_function.enforcer.environment[0].variables["AWSAUDIT_ES_URL"] == "https://es.example.com:9243/proxy@eu"
    error_message = "An @ after the host is not user info and must be accepted."
  }
}

run "rejects_same_index_for_both" {
  command = plan
  variables {
    audit_index    = "aws-tag-audit"
    violator_index = "aws-tag-audit"
  }
  expect_failures = [aws_lambda_function.enforcer]
}

run "rejects_retention_within_delay_and_visibility" {
  command = plan
  variables {
    # The default grace (300 s delay) plus 6 x 60 s visibility is 660 s.
    queue_message_retention_seconds = 660
  }
  expect_failures = [aws_sqs_queue.events]
}

run "accepts_retention_beyond_delay_and_visibility" {
  command = plan
  variables {
    queue_message_retention_seconds = 661
  }
  assert {
    condition     = aws_sqs_queue.events.message_retention_seconds == 661
    error_message = "A retention just above delay plus visibility timeout must be accepted."
  }
}

run "rejects_bad_schedule" {
  command = plan
  variables {
    schedule_expression = "daily at 3"
  }
  expect_failures = [var.schedule_expression]
}

run "rejects_unsupported_retention" {
  command = plan
  variables {
    log_retention_days = 42
  }
  expect_failures = [var.log_retention_days]
}

run "rejects_concurrency_below_aws_minimum" {
  command = plan
  variables {
    enforcer_max_concurrency = 1
  }
  expect_failures = [var.enforcer_max_concurrency]
}

run "rejects_large_batch_without_window" {
  command = plan
  variables {
    enforcer_batch_size = 100
  }
  expect_failures = [aws_lambda_event_source_mapping.enforcer]
}

run "rejects_time_reserve_beyond_timeout" {
  command = plan
  variables {
    reconciler_timeout_seconds      = 300
    reconciler_time_reserve_seconds = 300
  }
  expect_failures = [aws_lambda_function.reconciler]
}

run "rejects_time_reserve_below_minimum" {
  command = plan
  variables {
    reconciler_time_reserve_seconds = 29
  }
  expect_failures = [var.reconciler_time_reserve_seconds]
}

run "rejects_iam_user_tag_not_required" {
  command = plan
  variables {
    iam_user_tags = ["owner"]
  }
  expect_failures = [aws_ssm_parameter.policy]
}

run "rejects_tag_the_canary_lacks" {
  command = plan
  variables {
    required_tags = ["created_by", "cost_center"]
  }
  expect_failures = [aws_ssm_parameter.policy]
}

run "rejects_unparseable_policy" {
  command = plan
  variables {
    policy = "tags: [a, b"
  }
  expect_failures = [var.policy]
}
