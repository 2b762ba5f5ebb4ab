# The policy both functions load at start (AWSAUDIT_POLICY_SSM_PARAMETER): var.policy as given,
# or rendered from the variables. The functions refuse an invalid policy with a message naming the
# problem (a canary that would violate it, a bad pattern, ...); `awsaudit policy check FILE` runs
# the same validation before an apply.

locals {
  # JSON, which the functions read as well as YAML; keys with nothing to say are left out so the
  # functions' defaults apply.
  rendered_policy = jsonencode({ for k, v in {
    version = 1
    tags = [for t in var.required_tags : {
      key      = trimspace(t)
      iam_user = contains([for u in var.iam_user_tags : lower(trimspace(u))], lower(trimspace(t)))
    }]
    grace    = var.grace_minutes
    action   = var.action
    regions  = local.audited_regions
    managed  = { action = var.managed_action }
    canary   = { for ck, cv in { name = var.canary_name, tags = var.canary_tags } : ck => cv if cv != null }
    accounts = length(var.accounts) == 0 ? null : var.accounts
    limits = var.max_actions == 0 && var.max_actions_percent == 0 ? null : {
      max_actions         = var.max_actions
      max_actions_percent = var.max_actions_percent
    }
  } : k => v if v != null })

  policy_document = var.policy != null ? var.policy : local.rendered_policy

  # The functions refuse a policy under which the canary itself would be a violator; the rendered
  # policy is checked here already, at plan time. The canary carries its Name tag and canary_tags,
  # or the functions' default tags.
  canary_tag_keys = [for k in concat(["Name"], keys(var.canary_tags == null ? {
    created_by = "cody", project = "API canary", department = "sysops"
  } : var.canary_tags)) : lower(trimspace(k))]
  tags_the_canary_lacks = [for t in var.required_tags : trimspace(t) if !contains(local.canary_tag_keys, lower(trimspace(t)))]
}

resource "aws_ssm_parameter" "policy" {
  # SSM refuses names that start with "aws" or "ssm", as /awsaudit/... would.
  name        = "/tag-audit/${local.name}/policy"
  description = "awsaudit policy (YAML or JSON), read by the ${local.name} enforcer and reconciler at start."
  type        = "String"
  # Intelligent-Tiering: Standard up to 4 KB, Advanced for a larger hand-written policy.
  tier  = "Intelligent-Tiering"
  value = local.policy_document
  tags  = var.tags

  lifecycle {
    precondition {
      condition     = alltrue([for u in var.iam_user_tags : contains([for k in var.required_tags : lower(trimspace(k))], lower(trimspace(u)))])
      error_message = "Every entry of iam_user_tags must also be in required_tags."
    }
    precondition {
      condition     = var.policy != null || length(local.tags_the_canary_lacks) == 0
      error_message = "The canaries would violate the policy: they lack ${join(", ", local.tags_the_canary_lacks)}. Set canary_tags to the tags the canaries carry (and tag them so)."
    }
  }
}

# A hand-written policy's numeric grace should match grace_minutes, which sets the queue delay:
# a longer delay only makes the event path late, a shorter one costs a recheck message. A warning.
check "policy_grace_matches_queue_delay" {
  assert {
    condition = var.policy == null || try(
      tonumber(yamldecode(var.policy).grace) == var.grace_minutes,
      true, # no grace key (5 minutes) or a duration such as "90m": not compared
    )
    error_message = "The policy's grace differs from grace_minutes, which sets the SQS delay; set grace_minutes to the policy's grace in minutes."
  }
}
