# DriftGuard root module: providers, shared locals and lookups.
#
# Paths: this module reads ../statemachine/drift-guard.asl.json and, by default,
# ../target/lambda/<function>/bootstrap.zip. In HCP Terraform set the workspace's
# "Terraform Working Directory" to `terraform` and upload the repository root
# (see .terraformignore) so both are part of the configuration version.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.default_tags
  }
}

# IAM (a global service) publishes its CloudTrail events to EventBridge in
# us-east-1 only; the forwarding rule for them lives there.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.default_tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name_prefix = "${var.project_name}-${var.environment}"

  default_tags = merge(var.tags, {
    Project     = var.project_name
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  kms_enabled = var.kms_key_arn != ""
  kms_key_arn = local.kms_enabled ? var.kms_key_arn : null

  # Workspace routes handed to the functions as DRIFTGUARD_WORKSPACES. An empty
  # var.workspaces means "the one workspace of the seed setup". A route's Slack
  # channel and approvers default to slack_channel and slack_approvers.
  configured_routes = length(var.workspaces) > 0 ? var.workspaces : (
    var.terraform_org_name != "" && var.terraform_workspace != "" ? [{
      organization = var.terraform_org_name
      workspace    = var.terraform_workspace
      accounts     = []
      regions      = []
      services     = []
      tags         = {}
      ignore       = { addresses = [], attributes = [] }
      slack        = { channel = "", approvers = [] }
    }] : []
  )
  workspace_routes = [for w in local.configured_routes : merge(w, {
    slack = {
      channel   = w.slack.channel != "" ? w.slack.channel : var.slack_channel
      approvers = length(w.slack.approvers) > 0 ? w.slack.approvers : var.slack_approvers
    }
  })]

  # Some route filters on tags: admit-event reads changed resources' current tags.
  tag_routes = anytrue([for w in local.workspace_routes : length(w.tags) > 0])

  # remediation_mode, or the deprecated auto_remediate when it is left "off".
  remediation_mode         = var.remediation_mode != "off" ? var.remediation_mode : (coalesce(var.auto_remediate, false) ? "auto" : "off")
  approval_timeout_seconds = max(36, floor(var.approval_timeout_hours * 3600))

  # The Slack app (bot token, signing secret, the callback receiver and its function URL).
  slack_app_enabled = var.slack_bot_token_secret != ""

  # Secrets are referenced by name (or ARN). IAM matches a name with the
  # six-character suffix Secrets Manager appends, so a re-created or rotated
  # secret keeps working.
  tfc_token_secret_arn = startswith(var.terraform_api_token_secret, "arn:") ? var.terraform_api_token_secret : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.terraform_api_token_secret}-??????"
  slack_secret_arn     = startswith(var.slack_webhook_secret, "arn:") ? var.slack_webhook_secret : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.slack_webhook_secret}-??????"
  # The Slack app's secrets: "" when the app is not configured (no statement then).
  slack_bot_token_secret_arn = var.slack_bot_token_secret == "" ? "" : (startswith(var.slack_bot_token_secret, "arn:") ? var.slack_bot_token_secret : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.slack_bot_token_secret}-??????")
  slack_signing_secret_arn   = var.slack_signing_secret_secret == "" ? "" : (startswith(var.slack_signing_secret_secret, "arn:") ? var.slack_signing_secret_secret : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.slack_signing_secret_secret}-??????")

  state_machine_name = "${local.name_prefix}-check"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  # Executions of this state machine (for the on-failure function).
  state_machine_executions_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"

  # DriftGuard's own roles, exactly: their API calls are never checked. A name
  # prefix would also hide any other role named like them. admit-event matches
  # these against the role that issued a session (CloudTrail's sessionIssuer),
  # so the role ARNs alone cover their sessions and keep the functions'
  # environment (4 KB in all) small. Names, not resource references: the
  # functions' environment carries this list. The roles have the default path.
  own_role_names = concat(
    [for name in keys(local.lambda_access) : "${local.name_prefix}-${name}" if name != "slack-callback" || local.slack_app_enabled],
    ["${local.name_prefix}-states", "${local.name_prefix}-events-start-check"],
  )
  own_principal_arns = [for name in local.own_role_names : "arn:${local.partition}:iam::${local.account_id}:role/${name}"]

  # Drift-episode findings go to the account's default Security Hub product.
  security_hub_product_arn = "arn:${local.partition}:securityhub:${local.region}:${local.account_id}:product/${local.account_id}/default"

  email_enabled = var.alert_email != ""
  alarm_actions = local.email_enabled ? [aws_sns_topic.alerts[0].arn] : []

  forward_iam_from_us_east_1 = var.aws_region != "us-east-1" && contains(var.monitored_services, "iam")
}
