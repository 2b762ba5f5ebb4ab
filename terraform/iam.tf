# One role per function, least privilege. Each policy document lists first the AWS actions the
# function's code calls, which internal/awsapi/actions.go lists too (EnforcerActions,
# ReconcilerActions): internal/awsapi/terraform_test.go reads this file and fails when the two
# differ. Then the infrastructure's own: the event source mapping's SQS calls, logs, KMS.
#
# Not listed: sts:GetCallerIdentity, which the functions call for the account id. It needs no
# permission and cannot be denied, so granting it would only suggest otherwise.

locals {
  # Stop, terminate and protection changes are limited to instances of this account in the
  # audited regions: EC2 instance actions support resource-level permissions, Describe* does not.
  instance_arns = [for r in local.audited_regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:instance/*"]
  # The canary name with {region} as a wildcard, for the Deny that keeps every canary alive even if
  # the code were wrong.
  canary_name_pattern = replace(var.canary_name, "{region}", "*")
  # The only instance attributes the functions change (ModifyInstanceAttribute), as the EC2 API
  # names them.
  protection_attributes = ["disableApiTermination", "disableApiStop"]
  iam_user_arns         = ["arn:${local.partition}:iam::${local.account_id}:user/*"]
  # SSM parameters the functions read: the policy, and the Elasticsearch secret when it is there.
  readable_parameter_arns = concat(
    [aws_ssm_parameter.policy.arn],
    local.es_secret_ssm_arn == null ? [] : [local.es_secret_ssm_arn],
  )
  # Decrypting through SSM or Secrets Manager only, never directly.
  kms_via_services = [
    "ssm.${local.home_region}.${local.dns_suffix}",
    "secretsmanager.${local.home_region}.${local.dns_suffix}",
  ]
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# ------------------------------------------------------------------------------------------------
# Enforcer
# ------------------------------------------------------------------------------------------------

resource "aws_iam_role" "enforcer" {
  name               = local.enforcer_name
  description        = "awsaudit enforcer Lambda: decides and acts on newly launched instances."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "enforcer" {
  name   = "enforcer"
  role   = aws_iam_role.enforcer.id
  policy = data.aws_iam_policy_document.enforcer.json
}

data "aws_iam_policy_document" "enforcer" {
  # --- What the code calls (awsapi.EnforcerActions) ---

  statement {
    sid = "ReadInstances"
    # EC2 Describe* calls support no resource-level permissions.
    actions   = ["ec2:DescribeInstances", "ec2:DescribeInstanceAttribute"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid = "ActOnInstances"
      # Only the action the deployment takes: stop never needs terminate, nor the reverse.
      # ModifyInstanceAttribute turns termination and stop protection off and, on failure, on again.
      actions = compact([
        "ec2:ModifyInstanceAttribute",
        var.action == "stop" ? "ec2:StopInstances" : "",
        var.action == "terminate" ? "ec2:TerminateInstances" : "",
      ])
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid       = "NeverActOnCanaries"
      effect    = "Deny"
      actions   = ["ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:TerminateInstances"]
      resources = ["*"]

      condition {
        test     = "StringLike"
        variable = "aws:ResourceTag/Name"
        values   = [local.canary_name_pattern]
      }
    }
  }

  # ModifyInstanceAttribute changes any attribute of an instance (user data, type, security
  # groups, ...); the functions change only termination and stop protection. This Deny refuses
  # every other attribute when EC2 names the attribute in the ec2:Attribute condition key, which
  # the Service Authorization Reference lists for ModifyInstanceAttribute. How EC2 fills the key is
  # not documented: the functions name the attribute by its own parameter
  # (DisableApiTermination.Value), not by Attribute=disableApiTermination, and the key may then be
  # absent, or spelled with another case. So the Deny applies only when the key is present (Null
  # false: a negated operator such as StringNotEquals is true for a missing key, and alone would
  # deny the protection changes too), and ignores case: an absent key leaves the call to the Allow
  # above (no extra protection, no harm), and the two protection attributes are never refused. If
  # the key is absent for that form, this Deny does not stop a call of that form either
  # (UserData.Value): it narrows the grant as far as EC2 lets a policy, no further.
  # Confirm in a real account before counting on it: as the role, a ModifyInstanceAttribute of
  # userData (or instanceType) on a test instance must be denied, and a stop or terminate of a
  # protected test instance must still succeed.
  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid       = "OnlyProtectionAttributes"
      effect    = "Deny"
      actions   = ["ec2:ModifyInstanceAttribute"]
      resources = ["*"]

      condition {
        test     = "StringNotEqualsIgnoreCase"
        variable = "ec2:Attribute"
        values   = local.protection_attributes
      }
      condition {
        test     = "Null"
        variable = "ec2:Attribute"
        values   = ["false"]
      }
    }
  }

  statement {
    sid       = "LookUpCreators"
    actions   = ["iam:GetUser"]
    resources = local.iam_user_arns
  }

  statement {
    sid = "ReadAccountAlias"
    # ListAccountAliases supports no resource-level permissions.
    actions   = ["iam:ListAccountAliases"]
    resources = ["*"]
  }

  statement {
    sid = "SendRechecks"
    # Recheck messages (grace periods longer than 15 minutes, instances not visible yet) and
    # document-only messages go back to the delay queue.
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid       = "ReadSettings"
    actions   = ["ssm:GetParameter"]
    resources = local.readable_parameter_arns
  }

  dynamic "statement" {
    for_each = local.es_secret_arn == null ? [] : [local.es_secret_arn]
    content {
      sid       = "ReadElasticsearchSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  # --- The infrastructure's own ---

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "DecryptElasticsearchSecret"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = local.kms_via_services
      }
    }
  }

  statement {
    sid = "EventSourceMapping"
    # What Lambda's SQS poller calls with the function's role.
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.enforcer.arn}:*"]
  }
}

# ------------------------------------------------------------------------------------------------
# Reconciler
# ------------------------------------------------------------------------------------------------

resource "aws_iam_role" "reconciler" {
  name               = local.reconciler_name
  description        = "awsaudit reconciler Lambda: the scheduled sweep of every audited region."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "reconciler" {
  name   = "reconciler"
  role   = aws_iam_role.reconciler.id
  policy = data.aws_iam_policy_document.reconciler.json
}

data "aws_iam_policy_document" "reconciler" {
  # --- What the code calls (awsapi.ReconcilerActions) ---

  statement {
    sid = "ReadInstances"
    # EC2 Describe* calls support no resource-level permissions. DescribeRegions is not called
    # here: this configuration always sets AWSAUDIT_REGIONS, and the sweep discovers regions
    # (telling enabled ones from those not opted in) only when no regions are given, as
    # `awsaudit sweep` may run. It stays granted because awsapi.ReconcilerActions lists it, which
    # the drift test holds this policy to; the sweep code is the CLI's too.
    actions   = ["ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeRegions"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid = "ActOnInstances"
      actions = compact([
        "ec2:ModifyInstanceAttribute",
        var.action == "stop" ? "ec2:StopInstances" : "",
        var.action == "terminate" ? "ec2:TerminateInstances" : "",
      ])
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid       = "NeverActOnCanaries"
      effect    = "Deny"
      actions   = ["ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:TerminateInstances"]
      resources = ["*"]

      condition {
        test     = "StringLike"
        variable = "aws:ResourceTag/Name"
        values   = [local.canary_name_pattern]
      }
    }
  }

  # Protection attributes only, when EC2 names the attribute: see the enforcer's policy.
  dynamic "statement" {
    for_each = local.destructive ? [1] : []
    content {
      sid       = "OnlyProtectionAttributes"
      effect    = "Deny"
      actions   = ["ec2:ModifyInstanceAttribute"]
      resources = ["*"]

      condition {
        test     = "StringNotEqualsIgnoreCase"
        variable = "ec2:Attribute"
        values   = local.protection_attributes
      }
      condition {
        test     = "Null"
        variable = "ec2:Attribute"
        values   = ["false"]
      }
    }
  }

  statement {
    sid       = "LookUpCreators"
    actions   = ["iam:GetUser"]
    resources = local.iam_user_arns
  }

  statement {
    sid       = "ReadAccountAlias"
    actions   = ["iam:ListAccountAliases"]
    resources = ["*"]
  }

  statement {
    sid = "SpoolDocuments"
    # Documents Elasticsearch did not take are spooled to the delay queue for the enforcer to write.
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid       = "ReadSettings"
    actions   = ["ssm:GetParameter"]
    resources = local.readable_parameter_arns
  }

  dynamic "statement" {
    for_each = local.es_secret_arn == null ? [] : [local.es_secret_arn]
    content {
      sid       = "ReadElasticsearchSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  # --- The infrastructure's own ---

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "DecryptElasticsearchSecret"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = local.kms_via_services
      }
    }
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reconciler.arn}:*"]
  }
}
