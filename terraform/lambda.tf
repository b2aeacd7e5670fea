# One Lambda function per crate. Each gets its own role (iam.tf), log group and
# only the environment variables it reads (secret NAMES only, never values).

locals {
  lambda_artifacts_dir = coalesce(var.lambda_artifacts_dir, "${path.module}/../target/lambda")

  env_tfc = {
    DRIFTGUARD_TFC_ADDRESS      = trimsuffix(var.tfc_address, "/")
    DRIFTGUARD_TFC_TOKEN_SECRET = var.terraform_api_token_secret
    # The shared request budget lives in the history table.
    DRIFTGUARD_TFC_REQUESTS_PER_SECOND = tostring(var.tfc_requests_per_second)
    DRIFTGUARD_TFC_BURST               = tostring(var.tfc_request_burst)
    DRIFTGUARD_HISTORY_TABLE           = aws_dynamodb_table.history.name
  }
  env_history = {
    DRIFTGUARD_HISTORY_TABLE = aws_dynamodb_table.history.name
  }
  env_workspaces = {
    DRIFTGUARD_WORKSPACES = jsonencode(local.workspace_routes)
  }
  # admit-event and on-failure must route an event identically.
  env_admission = {
    DRIFTGUARD_MONITORED_SERVICES    = join(",", var.monitored_services)
    DRIFTGUARD_IGNORE_PRINCIPAL_ARNS = join(",", var.ignore_principal_arns)
    DRIFTGUARD_OWN_PRINCIPAL_ARNS    = join(",", local.own_principal_arns)
    # "off" rather than "": the check's off switch must survive as a value.
    DRIFTGUARD_TERRAFORM_OIDC_PROVIDER = var.terraform_oidc_provider != "" ? var.terraform_oidc_provider : "off"
  }
  env_slack = {
    DRIFTGUARD_SLACK_WEBHOOK_SECRET = var.slack_webhook_secret
  }
  # The Slack app: set only when it is configured, so the functions use the webhook otherwise.
  env_slack_app = local.slack_app_enabled ? {
    DRIFTGUARD_SLACK_BOT_TOKEN_SECRET = var.slack_bot_token_secret
    DRIFTGUARD_SLACK_API_URL          = trimsuffix(var.slack_api_url, "/")
  } : {}
  env_retention = {
    DRIFTGUARD_HISTORY_RETENTION_DAYS = tostring(var.history_retention_days)
  }
  # memory_mb: at least twice the peak RSS measured by `make bench`
  # (docs/benchmarks.md: part 1 per function, part 6 for summarizing a
  # 100,000-resource plan), and Lambda's 128 MB minimum. summarize-drift gets
  # 256 MB for the CPU share (Lambda's CPU grows with memory): a large plan is
  # a few seconds of parsing. integration-tests/tests/docs_consistency.rs checks
  # these against the measurements.
  base_functions = {
    "admit-event" = {
      description = "DriftGuard: parse a CloudTrail event, filter it, route it to workspaces and coalesce bursts"
      timeout     = 30
      memory_mb   = 128
      environment = merge(local.env_history, local.env_workspaces, local.env_admission, {
        DRIFTGUARD_SETTLE_SECONDS = tostring(var.settle_seconds)
        # The account whose resources' current tags tag-filtered routes read.
        DRIFTGUARD_ACCOUNT_ID = local.account_id
      })
    }
    "create-run" = {
      description = "DriftGuard: close the batch and create a speculative plan-only run in HCP Terraform"
      timeout     = 60
      memory_mb   = 128
      environment = merge(local.env_tfc, local.env_history)
    }
    "poll-run" = {
      description = "DriftGuard: read an HCP Terraform run's phase and choose the next wait"
      timeout     = 30
      memory_mb   = 128
      environment = merge(local.env_tfc, {
        DRIFTGUARD_PLAN_TIMEOUT_SECONDS  = tostring(var.plan_timeout_seconds)
        DRIFTGUARD_APPLY_TIMEOUT_SECONDS = tostring(var.apply_timeout_seconds)
        DRIFTGUARD_POLL_MIN_WAIT_SECONDS = tostring(var.poll_min_wait_seconds)
        DRIFTGUARD_POLL_MAX_WAIT_SECONDS = tostring(var.poll_max_wait_seconds)
      })
    }
    "summarize-drift" = {
      description = "DriftGuard: turn the plan JSON into a drift report, applying ignore rules"
      timeout     = 120
      memory_mb   = 256
      environment = merge(local.env_tfc, local.env_workspaces)
    }
    "remediate" = {
      description = "DriftGuard: create, assess and apply a targeted remediation run"
      timeout     = 90
      memory_mb   = 128
      environment = merge(local.env_tfc, {
        DRIFTGUARD_ALLOW_DESTRUCTIVE_REMEDIATION = tostring(var.allow_destructive_remediation)
        # Read at create and at apply: a terraform apply with remediation_mode
        # = "off" stops remediations of checks already in flight.
        DRIFTGUARD_REMEDIATION_MODE = local.remediation_mode
      })
    }
    "record" = {
      description = "DriftGuard: write the check outcome and drift episodes to the history table, emit metrics and Security Hub findings"
      timeout     = 30
      memory_mb   = 128
      environment = merge(local.env_history, local.env_retention, var.security_hub_findings ? {
        DRIFTGUARD_SECURITY_HUB_PRODUCT_ARN = local.security_hub_product_arn
      } : {})
    }
    "notify" = {
      description = "DriftGuard: post the drift alert to Slack (suppressing repeated or accepted drift); one thread per drift and the decision buttons with the Slack app"
      timeout     = 30
      memory_mb   = 128
      environment = merge(local.env_history, local.env_slack, local.env_workspaces, local.env_slack_app, {
        DRIFTGUARD_NOTIFY_ON_NO_DRIFT = tostring(var.notify_on_no_drift)
        # The Fix dialog says whether a fix may destroy or replace.
        DRIFTGUARD_ALLOW_DESTRUCTIVE_REMEDIATION = tostring(var.allow_destructive_remediation)
      })
    }
    "on-failure" = {
      description = "DriftGuard: record a failed check execution, alert Slack with a redrive link, discard a remediation run it left waiting"
      timeout     = 60
      memory_mb   = 128
      environment = merge(local.env_history, local.env_slack, local.env_workspaces, local.env_admission, local.env_retention, local.env_tfc, local.env_slack_app)
    }
    "history-widget" = {
      description = "DriftGuard: the drift-history page as a CloudWatch custom widget (read-only)"
      timeout     = 30
      memory_mb   = 128
      environment = merge(local.env_history, local.env_workspaces)
    }
  }
  # The Slack app's Request URL (a function URL), only with the app.
  slack_callback_function = local.slack_app_enabled ? {
    "slack-callback" = {
      description = "DriftGuard: the Slack app's Request URL; verifies clicks on Fix / Accept / Dismiss and hands the decision to the waiting check"
      # Slack waits 3 seconds; the function answers in well under that or not at all.
      timeout   = 10
      memory_mb = 128
      # A public URL: an unauthenticated flood must not take the account's
      # concurrency from DriftGuard's steps (and everything else).
      reserved_concurrency = var.slack_callback_reserved_concurrency
      environment = merge(local.env_history, local.env_workspaces, local.env_slack_app, {
        DRIFTGUARD_SLACK_SIGNING_SECRET_SECRET = var.slack_signing_secret_secret
        # Clicks count only from this Slack workspace and app.
        DRIFTGUARD_SLACK_TEAM_ID = var.slack_team_id
        DRIFTGUARD_SLACK_APP_ID  = var.slack_app_id
      })
    }
  } : {}
  functions = merge(local.base_functions, local.slack_callback_function)

  # The functions the state machine invokes (on-failure is started by
  # EventBridge, history-widget by the CloudWatch console, slack-callback by
  # Slack through its function URL).
  state_machine_functions = [for name in keys(local.functions) : name if !contains(["on-failure", "history-widget", "slack-callback"], name)]
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.functions

  name              = "/aws/lambda/${local.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name = "${local.name_prefix}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.lambda[each.key].arn

  filename         = "${local.lambda_artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash = fileexists("${local.lambda_artifacts_dir}/${each.key}/bootstrap.zip") ? filebase64sha256("${local.lambda_artifacts_dir}/${each.key}/bootstrap.zip") : null
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  memory_size      = coalesce(var.lambda_memory_mb, each.value.memory_mb)
  timeout          = each.value.timeout
  # -1: no reservation (the account's unreserved pool).
  reserved_concurrent_executions = coalesce(lookup(each.value, "reserved_concurrency", null), -1)
  kms_key_arn                    = local.kms_key_arn

  environment {
    variables = each.value.environment
  }

  # Lambda's logging controls: Lambda sets AWS_LAMBDA_LOG_FORMAT and (JSON only)
  # AWS_LAMBDA_LOG_LEVEL, which the functions' log subscriber follows
  # (functions/lib/lambda/src/logging.rs); Lambda drops application lines
  # below the level too.
  logging_config {
    log_format            = var.lambda_log_format
    application_log_level = var.lambda_log_format == "JSON" ? var.lambda_application_log_level : null
    system_log_level      = var.lambda_log_format == "JSON" ? var.lambda_system_log_level : null
    log_group             = aws_cloudwatch_log_group.lambda[each.key].name
  }

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    precondition {
      condition     = fileexists("${local.lambda_artifacts_dir}/${each.key}/bootstrap.zip")
      error_message = "${local.lambda_artifacts_dir}/${each.key}/bootstrap.zip is missing: build the functions first (cargo lambda build --release --arm64 --output-format zip) or set lambda_artifacts_dir."
    }
    precondition {
      condition     = length(local.workspace_routes) > 0
      error_message = "No workspace configured: set terraform_org_name and terraform_workspace, or the workspaces list."
    }
    precondition {
      condition     = var.poll_min_wait_seconds <= var.poll_max_wait_seconds
      error_message = "poll_min_wait_seconds must not be larger than poll_max_wait_seconds."
    }
    precondition {
      condition     = !local.slack_app_enabled || (var.slack_team_id != "" && var.slack_app_id != "")
      error_message = "slack_bot_token_secret is set but slack_team_id or slack_app_id is not: the callback receiver accepts clicks only from the configured Slack workspace (T…) and app (A…, Basic Information → App ID)."
    }
    precondition {
      condition     = !local.slack_app_enabled || var.slack_signing_secret_secret != ""
      error_message = "slack_bot_token_secret is set but slack_signing_secret_secret is not: the callback receiver needs the Slack app's signing secret to verify clicks."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}

# on-failure is invoked asynchronously by EventBridge: a failure event it still
# cannot handle after Lambda's retries goes to the DLQ (alarmed in
# monitoring.tf), with the error that stopped it. The other functions are
# invoked synchronously by Step Functions, which retries them (Retry in the ASL).
resource "aws_lambda_function_event_invoke_config" "on_failure" {
  function_name                = aws_lambda_function.this["on-failure"].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.lambda]
}

# The Slack app's Request URL. Slack cannot sign requests with SigV4, so the
# URL is public (auth type NONE) and the function verifies each request as
# Slack's (HMAC-SHA256 signature with the signing secret, timestamp at most
# five minutes off) before it reads anything; only approvers' clicks count.
resource "aws_lambda_function_url" "slack_callback" {
  #checkov:skip=CKV_AWS_258:Slack cannot sign with SigV4; every request is verified with Slack's signing secret (HMAC-SHA256, timestamp) before it is read
  count = local.slack_app_enabled ? 1 : 0

  function_name      = aws_lambda_function.this["slack-callback"].function_name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "slack_callback_url" {
  #checkov:skip=CKV_AWS_301:the function URL is Slack's Request URL; requests are verified as Slack's by the function (see aws_lambda_function_url.slack_callback)
  count = local.slack_app_enabled ? 1 : 0

  statement_id           = "SlackRequestUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this["slack-callback"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# Since October 2025 a function URL answers 403 unless the resource policy also
# grants lambda:InvokeFunction ("Control access to Lambda function URLs").
# AWS lets that grant be limited to URL calls (condition
# lambda:InvokedViaFunctionUrl), but the hashicorp/aws provider this module is
# pinned to (5.x; 5.100 tested) has no argument for it, so the grant is
# unconditioned. That is safe here: a direct Invoke reaches the same handler,
# which answers only a function URL event carrying a valid Slack signature over
# its body (HMAC-SHA256 with the signing secret, timestamp within five
# minutes) and never parses anything before that check; the function's
# reserved concurrency (var.slack_callback_reserved_concurrency) bounds what a
# flood of direct invocations can cost, as it does for the URL.
resource "aws_lambda_permission" "slack_callback_invoke" {
  #checkov:skip=CKV_AWS_301:needed by every NONE function URL since October 2025; the function verifies each request as Slack's before it reads it (see above)
  count = local.slack_app_enabled ? 1 : 0

  statement_id  = "SlackRequestUrlInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["slack-callback"].function_name
  principal     = "*"
}
