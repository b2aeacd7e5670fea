# The check: a STANDARD state machine whose steps are the functions in lambda.tf
# (definition: ../statemachine/drift-guard.asl.json, templated below).

resource "aws_cloudwatch_log_group" "states" {
  # The /aws/vendedlogs/ prefix keeps the log-delivery resource policy small.
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

resource "aws_sfn_state_machine" "check" {
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.states.arn

  definition = templatefile("${path.module}/../statemachine/drift-guard.asl.json", {
    admit_event_arn          = aws_lambda_function.this["admit-event"].arn
    create_run_arn           = aws_lambda_function.this["create-run"].arn
    poll_run_arn             = aws_lambda_function.this["poll-run"].arn
    summarize_drift_arn      = aws_lambda_function.this["summarize-drift"].arn
    remediate_arn            = aws_lambda_function.this["remediate"].arn
    record_arn               = aws_lambda_function.this["record"].arn
    notify_arn               = aws_lambda_function.this["notify"].arn
    settle_seconds           = var.settle_seconds
    remediation_mode         = local.remediation_mode
    approval_timeout_seconds = local.approval_timeout_seconds
    email_enabled            = local.email_enabled ? "true" : "false"
    sns_topic_arn            = local.email_enabled ? aws_sns_topic.alerts[0].arn : ""
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.states.arn}:*"
    level                  = var.state_machine_log_level
    include_execution_data = var.state_machine_log_execution_data
  }

  tracing_configuration {
    enabled = true
  }

  lifecycle {
    precondition {
      # Terraform evaluates both sides of ||: a null auto_remediate must not reach the ?: below.
      condition     = var.auto_remediate == null ? true : (var.remediation_mode == "off" || var.remediation_mode == (var.auto_remediate ? "auto" : "off"))
      error_message = "auto_remediate (deprecated) and remediation_mode disagree: remove auto_remediate and keep remediation_mode."
    }
    precondition {
      condition     = local.remediation_mode != "approval" || local.slack_app_enabled
      error_message = "remediation_mode = \"approval\" needs the Slack app for its buttons: set slack_bot_token_secret and slack_signing_secret_secret (docs/slack-app-manifest.yaml), and a channel (slack_channel or workspaces[*].slack.channel)."
    }
  }

  depends_on = [aws_iam_role_policy.states]
}
