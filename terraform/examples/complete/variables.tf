variable "home_region" {
  description = "Region of the queue, the functions and the schedule."
  type        = string
  default     = "us-east-1"
}

variable "account_id" {
  description = "The account awsaudit may act on (the policy's account allow-list)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "regions" {
  description = "Regions to audit besides the home region."
  type        = list(string)
  default     = ["us-east-2", "us-west-2", "eu-west-1", "eu-central-1"]
}

variable "action" {
  description = "report, stop or terminate. Start with report."
  type        = string
  default     = "report"
}

variable "dry_run" {
  description = "With stop or terminate: record what would happen, change nothing."
  type        = bool
  default     = false
}

variable "es_url" {
  description = "Elasticsearch URL."
  type        = string
  default     = "https://audit.es.example.com:9243"
}

variable "es_secret_ssm_parameter" {
  description = "Name of the existing SSM SecureString holding the Elasticsearch API key."
  type        = string
  default     = "/tag-audit/elasticsearch-api-key"
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm by e-mail)."
  type        = list(string)
  default     = []
}

variable "enforcer_zip" {
  description = "The enforcer's package; null for dist/enforcer.zip at the repository root."
  type        = string
  default     = null
}

variable "reconciler_zip" {
  description = "The reconciler's package; null for dist/reconciler.zip at the repository root."
  type        = string
  default     = null
}
