# A small network configuration behind the emulated workspaces whose runs
# really plan (integration-tests/src/tfc_emulator/executor.rs): the HCP
# Terraform emulator applies it to the local stack once, keeps its state, and
# plans and applies it for the workspace's runs. Only hashicorp/aws is used.

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "name" {
  description = "Prefix of every resource name: one emulated workspace each, so workspaces sharing the local stack do not collide."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 lowercase letters, digits or hyphens."
  }
}

variable "owner" {
  description = "Owner tag of the security group (a scenario changes it to add code that is not applied yet)."
  type        = string
  default     = "platform"

  validation {
    condition     = length(var.owner) > 0
    error_message = "owner must not be empty."
  }
}

variable "region" {
  description = "AWS region of the resources (the local stack's home region)."
  type        = string
  default     = "eu-west-1"
}

# The local stack: the endpoint comes from AWS_ENDPOINT_URL and the (dummy)
# credentials from the environment; the skips keep the provider off real AWS.
provider "aws" {
  region                      = var.region
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
}

resource "aws_security_group" "web" {
  name        = "${var.name}-web"
  description = "HTTPS from the internal network only"

  ingress {
    description = "HTTPS from the internal network"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }

  tags = {
    Owner = var.owner
  }
}

output "security_group_id" {
  description = "Id of the security group a person opens port 22 on."
  value       = aws_security_group.web.id
}
