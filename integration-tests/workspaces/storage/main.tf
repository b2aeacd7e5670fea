# A small storage configuration behind the emulated workspaces whose runs
# really plan (integration-tests/src/tfc_emulator/executor.rs): buckets with
# tags and versioning, which a person changes in the demo.

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
  description = "Prefix of every bucket name: one emulated workspace each."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 lowercase letters, digits or hyphens."
  }
}

variable "bucket_count" {
  description = "How many buckets (named <name>-00, <name>-01, …)."
  type        = number
  default     = 6

  validation {
    condition     = var.bucket_count >= 1 && var.bucket_count <= 20
    error_message = "bucket_count must be from 1 to 20."
  }
}

variable "region" {
  description = "AWS region of the buckets (the local stack's home region)."
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

resource "aws_s3_bucket" "data" {
  count  = var.bucket_count
  bucket = format("%s-%02d", var.name, count.index)

  tags = {
    Owner = "data-platform"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  count  = var.bucket_count
  bucket = aws_s3_bucket.data[count.index].id

  versioning_configuration {
    status = "Enabled"
  }
}

output "buckets" {
  description = "The bucket names, in order."
  value       = aws_s3_bucket.data[*].bucket
}
