# Inputs of the DriftGuard root module. Before the first apply:
#   1. build the functions: `cargo lambda build --release --arm64 --output-format zip`
#      (zips land in ../target/lambda/<function>/bootstrap.zip),
#   2. create the Secrets Manager secrets in var.aws_region (values never pass
#      through Terraform): the HCP Terraform user/team API token and the Slack
#      incoming-webhook URL, each stored as a plain string (and, for the Slack
#      app, its bot token and signing secret),
#   3. set at least terraform_org_name + terraform_workspace (or workspaces).
# See terraform.tfvars.example for a complete example.

# ---------------------------------------------------------------------------
# Where and what
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "Home region of DriftGuard: the state machine, functions, history table and the central EventBridge rule live here. CloudTrail events of other regions reach it through modules/event-forwarder; IAM events are forwarded from us-east-1 automatically."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as us-east-1 or eu-west-1."
  }
}

variable "project_name" {
  description = "Short name used as the first part of every resource name (<project_name>-<environment>-...). Lowercase letters, digits and hyphens, 2-20 characters, starting with a letter."
  type        = string
  default     = "driftguard"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 2-20 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment name (e.g. dev, prod), the second part of every resource name. Lowercase letters, digits and hyphens, 1-12 characters."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$", var.environment))
    error_message = "environment must be 1-12 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource (merged with Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with aws:, values at most 256 characters."
  }
}

# ---------------------------------------------------------------------------
# HCP Terraform / Terraform Enterprise
# ---------------------------------------------------------------------------

variable "tfc_address" {
  description = "Address of HCP Terraform or your Terraform Enterprise, without a trailing path. http:// is accepted only on a loopback address (a local API emulator in tests)."
  type        = string
  default     = "https://app.terraform.io"

  validation {
    condition     = can(regex("^(https://[A-Za-z0-9.-]+|http://(localhost|127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|\\[::1\\]))(:[0-9]{1,5})?/?$", var.tfc_address))
    error_message = "tfc_address must be a URL such as https://app.terraform.io or https://tfe.example.com (no path); the API token is sent there, so http:// is accepted only on a loopback address (a local emulator)."
  }
}

variable "terraform_org_name" {
  description = "HCP Terraform organization of the single workspace DriftGuard checks when var.workspaces is empty. Leave empty when var.workspaces is set."
  type        = string
  default     = ""

  validation {
    condition     = var.terraform_org_name == "" || can(regex("^[A-Za-z0-9_-]{1,40}$", var.terraform_org_name))
    error_message = "terraform_org_name may only contain letters, digits, hyphens and underscores (at most 40)."
  }
}

variable "terraform_workspace" {
  description = "Name of the single HCP Terraform workspace DriftGuard checks when var.workspaces is empty. Leave empty when var.workspaces is set."
  type        = string
  default     = ""

  validation {
    condition     = var.terraform_workspace == "" || can(regex("^[A-Za-z0-9_-]{1,90}$", var.terraform_workspace))
    error_message = "terraform_workspace may only contain letters, digits, hyphens and underscores (at most 90)."
  }
}

variable "workspaces" {
  description = <<-EOT
    Workspaces to check and which changes route to each (overrides terraform_org_name/terraform_workspace when not empty).
    Each element: organization, workspace (required); accounts (12-digit ids), regions, services (short names such as ec2),
    tags (key/value pairs the changed resource must carry; empty means "any"): the tags the CloudTrail record shows
    (a create's tag specifications, a CreateTags/TagResource), else the resource's current tags read by admit-event
    with the Resource Groups Tagging API (tag:GetResources, granted when some route has tags; cached 15 s); a call that
    changes a filtered key (CreateTags env=dev) is checked against the old value too, so a retag out of a route still
    reaches it. Tags that cannot be read (IAM users and roles, which GetResources does not support; another account's
    resources; ids of unknown kinds) never exclude a change: the route takes it. ignore.addresses and ignore.attributes:
    glob patterns (like a .driftignore) on resource addresses (aws_autoscaling_group.*) and attribute paths
    (tags.LastSeen, or address:attribute such as aws_instance.web:user_data) left out of drift reports;
    slack.channel (C...) and slack.approvers (U..., W..., S...): where the Slack app posts this workspace's alerts and
    who may decide (default: slack_channel, slack_approvers).
  EOT
  type = list(object({
    organization = string
    workspace    = string
    accounts     = optional(list(string), [])
    regions      = optional(list(string), [])
    services     = optional(list(string), [])
    tags         = optional(map(string), {})
    ignore = optional(object({
      addresses  = optional(list(string), [])
      attributes = optional(list(string), [])
    }), {})
    slack = optional(object({
      channel   = optional(string, "")
      approvers = optional(list(string), [])
    }), {})
  }))
  default = []

  validation {
    condition = alltrue([for w in var.workspaces :
      can(regex("^[A-Za-z0-9_-]{1,40}$", w.organization)) && can(regex("^[A-Za-z0-9_-]{1,90}$", w.workspace))
    ])
    error_message = "Every workspaces element needs an organization (letters, digits, - and _) and a workspace name (letters, digits, - and _)."
  }

  validation {
    condition     = alltrue(flatten([for w in var.workspaces : [for a in w.accounts : can(regex("^[0-9]{12}$", a))]]))
    error_message = "workspaces[*].accounts must hold 12-digit AWS account ids."
  }

  validation {
    condition     = alltrue(flatten([for w in var.workspaces : [for r in w.regions : can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", r))]]))
    error_message = "workspaces[*].regions must hold AWS region codes such as eu-west-1."
  }

  validation {
    condition     = alltrue(flatten([for w in var.workspaces : [for s in w.services : can(regex("^[a-z0-9-]+$", s))]]))
    error_message = "workspaces[*].services must hold service short names in lowercase, such as ec2, s3 or iam."
  }

  validation {
    condition = alltrue([for w in var.workspaces :
      (w.slack.channel == "" || can(regex("^[CG][A-Z0-9]{2,}$", w.slack.channel))) && alltrue([for a in w.slack.approvers : can(regex("^[UWS][A-Z0-9]{2,}$", a))])
    ])
    error_message = "workspaces[*].slack.channel must be a channel id (C...) and slack.approvers Slack user ids (U..., W...) or user-group ids (S...)."
  }

  validation {
    condition     = length(distinct([for w in var.workspaces : "${w.organization}/${w.workspace}"])) == length(var.workspaces)
    error_message = "Each organization/workspace pair may appear only once in workspaces."
  }
}

variable "terraform_api_token_secret" {
  description = "Name (or full ARN) of the Secrets Manager secret, in aws_region, whose string value is an HCP Terraform user or team API token with admin access to the workspaces (organization tokens cannot create runs)."
  type        = string
  default     = "driftguard/terraform-api-token"

  validation {
    condition     = can(regex("^([A-Za-z0-9/_+=.@-]{1,512}|arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", var.terraform_api_token_secret))
    error_message = "terraform_api_token_secret must be a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN."
  }
}

variable "slack_webhook_secret" {
  description = "Name (or full ARN) of the Secrets Manager secret, in aws_region, whose string value is the Slack incoming-webhook URL alerts are posted to."
  type        = string
  default     = "driftguard/slack-webhook-url"

  validation {
    condition     = can(regex("^([A-Za-z0-9/_+=.@-]{1,512}|arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", var.slack_webhook_secret))
    error_message = "slack_webhook_secret must be a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN."
  }
}

variable "slack_bot_token_secret" {
  description = "Name (or full ARN) of the Secrets Manager secret, in aws_region, holding the DriftGuard Slack app's Bot User OAuth Token (xoxb-..., scopes chat:write and usergroups:read; docs/slack-app-manifest.yaml). Empty (default): no Slack app; alerts go through the incoming webhook. With it, workspaces with a channel get one thread per drift, and approval mode its buttons."
  type        = string
  default     = ""

  validation {
    condition     = var.slack_bot_token_secret == "" || can(regex("^([A-Za-z0-9/_+=.@-]{1,512}|arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", var.slack_bot_token_secret))
    error_message = "slack_bot_token_secret must be empty, a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN."
  }
}

variable "slack_signing_secret_secret" {
  description = "Name (or full ARN) of the Secrets Manager secret holding the Slack app's signing secret (Basic Information, App Credentials). The callback receiver verifies every request with it. Required with slack_bot_token_secret."
  type        = string
  default     = ""

  validation {
    condition     = var.slack_signing_secret_secret == "" || can(regex("^([A-Za-z0-9/_+=.@-]{1,512}|arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", var.slack_signing_secret_secret))
    error_message = "slack_signing_secret_secret must be empty, a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN."
  }
}

variable "slack_callback_reserved_concurrency" {
  description = "Reserved concurrency of the Slack app's callback receiver (slack-callback), whose function URL is public: it caps how many run at once, so a flood of unauthenticated requests is throttled at this number (Slack retries a click that gets no answer) instead of taking the account's concurrency from DriftGuard's steps and every other function. A few clicks a minute need 1 or 2. null: no reservation (for accounts whose concurrency quota is still the 10 of a new account, where AWS refuses any reservation)."
  type        = number
  default     = 5
  nullable    = true

  validation {
    condition     = var.slack_callback_reserved_concurrency == null || try(var.slack_callback_reserved_concurrency >= 1 && var.slack_callback_reserved_concurrency <= 100 && floor(var.slack_callback_reserved_concurrency) == var.slack_callback_reserved_concurrency, false)
    error_message = "slack_callback_reserved_concurrency must be null or a whole number from 1 to 100 (0 would throttle every click)."
  }
}

variable "slack_channel" {
  description = "Channel id (C...) the Slack app posts to for workspaces whose route names none (workspaces[*].slack.channel). Invite the app to it (/invite @DriftGuard). Empty: such workspaces keep the incoming webhook."
  type        = string
  default     = ""

  validation {
    condition     = var.slack_channel == "" || can(regex("^[CG][A-Z0-9]{2,}$", var.slack_channel))
    error_message = "slack_channel must be empty or a channel id such as C0123456789 (not a #name)."
  }
}

variable "slack_approvers" {
  description = "Slack user ids (U..., W...) and user-group ids (S...) allowed to press Fix / Accept / Dismiss, for workspaces whose route names none (workspaces[*].slack.approvers). Anyone else gets 403."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.slack_approvers : can(regex("^[UWS][A-Z0-9]{2,}$", a))])
    error_message = "slack_approvers must hold Slack user ids (U..., W...) or user-group ids (S...)."
  }
}

variable "slack_team_id" {
  description = "Id of the Slack workspace (team) the Slack app is installed in (T…, or E… for an Enterprise Grid organization; in Slack: the workspace URL's /client/T…/ part). The callback receiver refuses a click whose team.id (or user.team_id) differs, even when it is signed. Required with slack_bot_token_secret."
  type        = string
  default     = ""

  validation {
    condition     = var.slack_team_id == "" || can(regex("^[TE][A-Z0-9]{2,20}$", var.slack_team_id))
    error_message = "slack_team_id must be empty or a Slack workspace id such as T0123ABCD (or an Enterprise Grid id E…)."
  }
}

variable "slack_app_id" {
  description = "Id of DriftGuard's Slack app (A…, Basic Information → App Credentials → App ID). The callback receiver refuses a click whose api_app_id differs, even when it is signed. Required with slack_bot_token_secret."
  type        = string
  default     = ""

  validation {
    condition     = var.slack_app_id == "" || can(regex("^A[A-Z0-9]{2,20}$", var.slack_app_id))
    error_message = "slack_app_id must be empty or a Slack app id such as A0123ABCD."
  }
}

variable "slack_api_url" {
  description = "Base address of the Slack Web API: https://slack.com/api, or https://slack-gov.com/api for GovSlack."
  type        = string
  default     = "https://slack.com/api"

  validation {
    condition     = can(regex("^(https://[A-Za-z0-9.-]+|http://(localhost|127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|\\[::1\\]))(:[0-9]{1,5})?(/[A-Za-z0-9/_.-]*)?$", var.slack_api_url))
    error_message = "slack_api_url must be a URL such as https://slack.com/api; the bot token is sent there, so http:// is accepted only on a loopback address (a local emulator)."
  }
}

# ---------------------------------------------------------------------------
# Check behaviour
# ---------------------------------------------------------------------------

variable "monitored_services" {
  description = "AWS services (EventBridge source aws.<name>) whose CloudTrail write events start a check."
  type        = list(string)
  default     = ["ec2", "s3", "iam"]

  validation {
    condition     = length(var.monitored_services) > 0 && length(distinct(var.monitored_services)) == length(var.monitored_services)
    error_message = "monitored_services must list at least one service, each once."
  }

  validation {
    condition = alltrue([for s in var.monitored_services : contains([
      "acm", "apigateway", "autoscaling", "cloudformation", "cloudfront", "cloudtrail", "cloudwatch", "dynamodb",
      "ec2", "ecr", "ecs", "eks", "elasticache", "elasticfilesystem", "elasticloadbalancing", "es", "events",
      "iam", "kinesis", "kms", "lambda", "logs", "monitoring", "rds", "redshift", "route53", "s3",
      "secretsmanager", "sns", "sqs", "ssm", "states", "wafv2",
    ], s)])
    error_message = "monitored_services may contain: acm, apigateway, autoscaling, cloudformation, cloudfront, cloudtrail, cloudwatch, dynamodb, ec2, ecr, ecs, eks, elasticache, elasticfilesystem, elasticloadbalancing, es, events, iam, kinesis, kms, lambda, logs, monitoring, rds, redshift, route53, s3, secretsmanager, sns, sqs, ssm, states, wafv2."
  }
}

variable "ignore_principal_arns" {
  description = "ARN glob patterns (`*` and `?` never match `/`) of the principals HCP Terraform acts as in AWS; their changes are Terraform's own, never start a check, and so remediation cannot loop. Use the role ARN of HCP Terraform's dynamic credentials (the workspace variable TFC_AWS_RUN_ROLE_ARN, e.g. arn:aws:iam::111122223333:role/tfc-prod; it also matches every session of that role), or the ARN of the IAM user whose access keys the workspace holds. Each pattern is matched against the caller's ARN and the ARN of the role that issued its session. A Terraform user agent alone never ignores a change. Empty: `terraform plan` warns. DriftGuard's own roles are always ignored."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ignore_principal_arns : can(regex("^arn:[a-z*-]+:(iam|sts)::([0-9]{12}|\\*):[^,\\s]+$", a))])
    error_message = "ignore_principal_arns must hold IAM/STS ARN patterns such as arn:aws:sts::111122223333:assumed-role/tfc-role/* (no commas or spaces)."
  }
}

variable "terraform_oidc_provider" {
  description = "Host of the OIDC provider HCP Terraform's dynamic credentials come through: app.terraform.io, or your Terraform Enterprise hostname. A session of a role in ignore_principal_arns is Terraform's only when its CloudTrail record says it came through this provider (userIdentity.sessionContext.webIdFederationData.federatedProvider, e.g. arn:aws:iam::111122223333:oidc-provider/app.terraform.io); a person who assumes the same role another way (an admin trust, role chaining) is checked like anyone. \"\" switches the check off: only for workspaces with static keys whose provider assumes the role (assume_role), where every session of the role is then Terraform's. Static keys of an IAM user carry no such mark: whoever holds them counts as Terraform."
  type        = string
  default     = "app.terraform.io"

  validation {
    condition     = var.terraform_oidc_provider == "" || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]+)?(/[^,\\s]*)?$", var.terraform_oidc_provider))
    error_message = "terraform_oidc_provider must be a lower-case hostname such as app.terraform.io or tfe.example.com (the OIDC provider's URL without https://), or \"\" to switch the check off."
  }
}

variable "settle_seconds" {
  description = "Seconds a check waits after the first change before planning, so a burst of changes becomes one plan and one alert (0-3600)."
  type        = number
  default     = 60

  validation {
    condition     = var.settle_seconds >= 0 && var.settle_seconds <= 3600 && floor(var.settle_seconds) == var.settle_seconds
    error_message = "settle_seconds must be a whole number from 0 to 3600."
  }
}

variable "plan_timeout_seconds" {
  description = "A drift or remediation plan (time queued behind other runs included) still running this many seconds after its run was created is canceled or discarded, and the check fails with PlanTimedOut (60-86400)."
  type        = number
  default     = 1800

  validation {
    condition     = var.plan_timeout_seconds >= 60 && var.plan_timeout_seconds <= 86400 && floor(var.plan_timeout_seconds) == var.plan_timeout_seconds
    error_message = "plan_timeout_seconds must be a whole number from 60 to 86400."
  }
}

variable "apply_timeout_seconds" {
  description = "A remediation apply still going this many seconds after DriftGuard requested it fails the check with ApplyTimedOut, which alerts (60-86400). A running apply is never canceled."
  type        = number
  default     = 7200

  validation {
    condition     = var.apply_timeout_seconds >= 60 && var.apply_timeout_seconds <= 86400 && floor(var.apply_timeout_seconds) == var.apply_timeout_seconds
    error_message = "apply_timeout_seconds must be a whole number from 60 to 86400."
  }
}

variable "tfc_requests_per_second" {
  description = "Sustained HCP Terraform API requests per second that all DriftGuard functions share, in one budget keyed by the token's user (0 switches pacing off). HCP Terraform allows 30 per user, whichever token or tool sends them: keep this plus tfc_request_burst at or below 30, and lower it when another deployment, the CLI or other tools use the same user."
  type        = number
  default     = 20

  validation {
    condition     = var.tfc_requests_per_second >= 0 && var.tfc_requests_per_second <= 1000 && floor(var.tfc_requests_per_second) == var.tfc_requests_per_second
    error_message = "tfc_requests_per_second must be a whole number from 0 (no pacing) to 1000."
  }
}

variable "tfc_request_burst" {
  description = "HCP Terraform API requests that may go back to back after a quiet spell (1-1000). Any one second holds at most tfc_requests_per_second + tfc_request_burst requests."
  type        = number
  default     = 5

  validation {
    condition     = var.tfc_request_burst >= 1 && var.tfc_request_burst <= 1000 && floor(var.tfc_request_burst) == var.tfc_request_burst
    error_message = "tfc_request_burst must be a whole number from 1 to 1000."
  }

  validation {
    condition     = var.tfc_requests_per_second == 0 || var.tfc_requests_per_second + var.tfc_request_burst <= 30 || !strcontains(var.tfc_address, "app.terraform.io")
    error_message = "tfc_requests_per_second + tfc_request_burst must not exceed 30 on app.terraform.io (its API limit per user); lower one of them."
  }
}

variable "poll_min_wait_seconds" {
  description = "Shortest wait between two run-status polls (1-3600); polling starts here and backs off with jitter. Must not exceed poll_max_wait_seconds."
  type        = number
  default     = 5

  validation {
    condition     = var.poll_min_wait_seconds >= 1 && var.poll_min_wait_seconds <= 3600 && floor(var.poll_min_wait_seconds) == var.poll_min_wait_seconds
    error_message = "poll_min_wait_seconds must be a whole number from 1 to 3600."
  }
}

variable "poll_max_wait_seconds" {
  description = "Longest wait between two run-status polls (1-3600). Must be at least poll_min_wait_seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.poll_max_wait_seconds >= 1 && var.poll_max_wait_seconds <= 3600 && floor(var.poll_max_wait_seconds) == var.poll_max_wait_seconds
    error_message = "poll_max_wait_seconds must be a whole number from 1 to 3600."
  }
}

variable "remediation_mode" {
  description = <<-EOT
    What DriftGuard does when a check finds drift:
    "off" (default) reports it;
    "approval" reports it with Fix / Accept / Dismiss buttons in the drift's Slack thread and waits for an approver
    (needs the Slack app: slack_bot_token_secret, slack_signing_secret_secret, and a channel for the workspace:
    slack_channel or workspaces[*].slack.channel; a workspace without one is reported only), at most approval_timeout_hours;
    "auto" remediates without asking.
    Either way a remediation is a run targeted to the drifted resources, applied only when HCP Terraform says it is
    confirmable and its plan changes back nothing but the drift (no destroy unless allow_destructive_remediation).
    The remediate function reads this setting again when it creates and when it applies a remediation run, so applying
    "off" also stops checks already in flight (waiting for a decision or a plan, or redriven): they end RemediationSkipped,
    and a run waiting for confirmation is discarded. Applying "approval" stops in-flight automatic remediations the same way.
  EOT
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "approval", "auto"], var.remediation_mode)
    error_message = "remediation_mode must be \"off\", \"approval\" or \"auto\"."
  }
}

variable "auto_remediate" {
  description = "Deprecated, use remediation_mode: true means remediation_mode = \"auto\", false means \"off\". Still honoured when remediation_mode is left \"off\" (terraform plan warns while it is set); leave it null."
  type        = bool
  default     = null
}

variable "approval_timeout_hours" {
  description = "How long a check waits for Fix / Accept / Dismiss in approval mode before it ends ApprovalExpired (nothing is changed; the alert says so). Hours, fractions allowed: 0.01 (36 s, for tests) to 168 (7 days)."
  type        = number
  default     = 24

  validation {
    condition     = var.approval_timeout_hours >= 0.01 && var.approval_timeout_hours <= 168
    error_message = "approval_timeout_hours must be from 0.01 to 168."
  }
}

variable "allow_destructive_remediation" {
  description = "When true, a remediation may apply a plan that destroys or replaces resources, in both remediation modes that remediate: \"auto\" and \"approval\" (a Fix drift click; the Fix dialog then says the fix may destroy or replace, and names what the drift plan would). When false (default) such plans are discarded and reported as RemediationSkipped, and the Fix dialog promises no destroy."
  type        = bool
  default     = false
}

variable "notify_on_no_drift" {
  description = "Also send a Slack message when a check finds no drift (off by default: only new drift, remediation outcomes and failures are alerted)."
  type        = bool
  default     = false
}

variable "security_hub_findings" {
  description = "Import every drift episode into AWS Security Hub as a finding (AWS Security Finding Format, the account's default product; HIGH for IAM, security groups, network ACLs and bucket access, MEDIUM otherwise), archived when the episode resolves. Security Hub must be enabled in aws_region."
  type        = bool
  default     = false
}

variable "alert_email" {
  description = "E-mail address subscribed to an SNS topic for drift alerts and CloudWatch alarms (the recipient must confirm the subscription). Empty: no topic, no e-mail."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$", var.alert_email))
    error_message = "alert_email must be empty or a valid e-mail address."
  }
}

# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------

variable "history_retention_days" {
  description = "Days a check record stays in the DynamoDB history table before TTL deletes it (1-3650)."
  type        = number
  default     = 90

  validation {
    condition     = var.history_retention_days >= 1 && var.history_retention_days <= 3650 && floor(var.history_retention_days) == var.history_retention_days
    error_message = "history_retention_days must be a whole number from 1 to 3650."
  }
}

variable "dynamodb_point_in_time_recovery" {
  description = "Enable point-in-time recovery (continuous backups) on the history table."
  type        = bool
  default     = true
}

variable "dynamodb_deletion_protection" {
  description = "Enable deletion protection on the history table (turn off before `terraform destroy`)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# Functions, logs and encryption
# ---------------------------------------------------------------------------

variable "lambda_artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip for each function (cargo lambda build --release --arm64 --output-format zip). Null means ../target/lambda relative to this module."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_artifacts_dir == null || try(length(trimspace(var.lambda_artifacts_dir)) > 0, false)
    error_message = "lambda_artifacts_dir must be null (default location) or a non-empty path."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of every function in MB (128-10240), overriding each function's measured size (terraform/lambda.tf, from docs/benchmarks.md). null keeps the measured sizes."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_memory_mb == null || try(var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb, false)
    error_message = "lambda_memory_mb must be null or a whole number from 128 to 10240."
  }
}

variable "lambda_log_format" {
  description = "Log format of the functions (Lambda logging_config): JSON (structured lines CloudWatch Logs Insights reads; needed for the log levels below) or Text."
  type        = string
  default     = "JSON"

  validation {
    condition     = contains(["JSON", "Text"], var.lambda_log_format)
    error_message = "lambda_log_format must be JSON or Text."
  }
}

variable "lambda_application_log_level" {
  description = "Lowest level of the functions' own log lines that reaches CloudWatch (JSON format only): TRACE, DEBUG, INFO, WARN, ERROR or FATAL. Lambda passes it to the functions as AWS_LAMBDA_LOG_LEVEL; at DEBUG and TRACE the HTTP and AWS SDK libraries still log at INFO at most (their debug lines carry request URLs)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.lambda_application_log_level)
    error_message = "lambda_application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "lambda_system_log_level" {
  description = "Lowest level of the Lambda platform's own log lines (START, END, REPORT...) that reaches CloudWatch (JSON format only): DEBUG, INFO or WARN."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.lambda_system_log_level)
    error_message = "lambda_system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the CloudWatch log groups of the functions and the state machine (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "state_machine_log_level" {
  description = "Step Functions execution log level: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "state_machine_log_execution_data" {
  description = "Include execution input/output in the state machine's logs. The state never holds secrets, but it holds CloudTrail details (who, source IP) and resource names, so this is off by default."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key (key/..., not an alias) for the history table, log groups, Lambda environment, SNS topic and CloudTrail. Its key policy must allow logs.<region>.amazonaws.com, cloudwatch.amazonaws.com (alarms to SNS) and, with create_cloudtrail, cloudtrail.amazonaws.com. Empty: AWS managed encryption (the SNS topic then gets its own small key)."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_arn == "" || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be empty or a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab."
  }
}

# ---------------------------------------------------------------------------
# Multi-account / multi-region
# ---------------------------------------------------------------------------

variable "member_account_ids" {
  description = "AWS account ids whose event forwarders (modules/event-forwarder) may put events on this region's default event bus. Only their forwarder roles are allowed (member_forwarder_role_name), not the whole account. Empty (and no member_organization_id): no bus policy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.member_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "member_account_ids must hold 12-digit AWS account ids."
  }
}

variable "member_organization_id" {
  description = "AWS Organizations id (o-...) whose accounts' event forwarders may put events on this region's default event bus (condition aws:PrincipalOrgID, forwarder roles only). Empty: none; use member_account_ids instead or as well."
  type        = string
  default     = ""

  validation {
    condition     = var.member_organization_id == "" || can(regex("^o-[a-z0-9]{10,32}$", var.member_organization_id))
    error_message = "member_organization_id must be empty or an organization id such as o-a1b2c3d4e5."
  }
}

variable "member_forwarder_role_name" {
  description = "Name of the forwarder roles in member accounts allowed to put events on the bus; * matches any characters. Empty: \"<project_name>-<environment>-*forwarder\", the roles of modules/event-forwarder instances whose name_prefix starts with DriftGuard's prefix."
  type        = string
  default     = ""

  validation {
    condition     = var.member_forwarder_role_name == "" || can(regex("^[A-Za-z0-9+=,.@_*-]{1,64}$", var.member_forwarder_role_name))
    error_message = "member_forwarder_role_name must be empty or an IAM role name (letters, digits, +=,.@_- and * as a wildcard, at most 64 characters)."
  }
}

# ---------------------------------------------------------------------------
# Optional extras
# ---------------------------------------------------------------------------

variable "create_cloudtrail" {
  description = "Create a multi-region CloudTrail trail (and its S3 bucket). EventBridge receives CloudTrail management events without a trail for most services; create one when the account has none and you want an audit record."
  type        = bool
  default     = false
}

variable "cloudtrail_log_expiration_days" {
  description = "Days CloudTrail log files are kept in the trail's S3 bucket (used with create_cloudtrail)."
  type        = number
  default     = 365

  validation {
    condition     = var.cloudtrail_log_expiration_days >= 1 && var.cloudtrail_log_expiration_days <= 3650 && floor(var.cloudtrail_log_expiration_days) == var.cloudtrail_log_expiration_days
    error_message = "cloudtrail_log_expiration_days must be a whole number from 1 to 3650."
  }
}

variable "create_test_ec2" {
  description = "Create a small EC2 instance to try drift detection on (change its tags in the console and watch a check run)."
  type        = bool
  default     = false
}

variable "ec2_instance_type" {
  description = "Instance type of the drift-test instance. The default AMI is Amazon Linux 2023 for the instance type's architecture (arm64 for Graviton types such as t4g)."
  type        = string
  default     = "t4g.nano"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.ec2_instance_type))
    error_message = "ec2_instance_type must be an instance type such as t4g.nano or t3.micro."
  }
}

variable "ec2_ami_id" {
  description = "AMI of the drift-test instance. Empty: the latest Amazon Linux 2023 AMI from the public SSM parameter."
  type        = string
  default     = ""

  validation {
    condition     = var.ec2_ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ec2_ami_id))
    error_message = "ec2_ami_id must be empty or an AMI id such as ami-0123456789abcdef0."
  }
}

variable "ec2_key_name" {
  description = "EC2 key pair name for the drift-test instance. Empty: no key pair (use Session Manager)."
  type        = string
  default     = ""

  validation {
    condition     = length(var.ec2_key_name) <= 255
    error_message = "ec2_key_name must be at most 255 characters."
  }
}

variable "ec2_subnet_id" {
  description = "Subnet of the drift-test instance. Empty: a default subnet of the default VPC."
  type        = string
  default     = ""

  validation {
    condition     = var.ec2_subnet_id == "" || can(regex("^subnet-[0-9a-f]{8,17}$", var.ec2_subnet_id))
    error_message = "ec2_subnet_id must be empty or a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "ec2_root_volume_size_gb" {
  description = "Size in GiB of the drift-test instance's encrypted gp3 root volume (at least the AMI's snapshot size; 8 for Amazon Linux 2023)."
  type        = number
  default     = 8

  validation {
    condition     = var.ec2_root_volume_size_gb >= 2 && var.ec2_root_volume_size_gb <= 1024 && floor(var.ec2_root_volume_size_gb) == var.ec2_root_volume_size_gb
    error_message = "ec2_root_volume_size_gb must be a whole number from 2 to 1024."
  }
}

variable "ec2_detailed_monitoring" {
  description = "Enable EC2 detailed (1-minute) monitoring on the drift-test instance (small extra cost; turn off for emulators without MonitorInstances)."
  type        = bool
  default     = true
}

variable "ec2_enable_session_manager" {
  description = "Attach the AWS managed policy AmazonSSMManagedInstanceCore to the drift-test instance's role so it can be reached with Session Manager (it has no inbound access)."
  type        = bool
  default     = true
}

variable "ec2_additional_tags" {
  description = "Extra tags of the drift-test instance (e.g. tags your workspace routes filter on)."
  type        = map(string)
  default     = {}
}
