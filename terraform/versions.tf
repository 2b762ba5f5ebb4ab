terraform {
  # Terraform 1.5 or OpenTofu 1.6 and later. Cross-variable checks are lifecycle preconditions
  # rather than variable validations, which need Terraform 1.9.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: the per-resource `region` argument the forwarding rules use.
      version = "~> 6.0"
    }
  }
}
