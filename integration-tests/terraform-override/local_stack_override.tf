# Test-only override for the local stack (integration-tests): Terraform merges
# this file into a copy of the root module (override files, *_override.tf).
# Endpoints come from AWS_ENDPOINT_URL (the local-stack gateway in front of
# moto); these settings are what the real module must not carry.

provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
}

provider "aws" {
  alias                       = "us_east_1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
}
