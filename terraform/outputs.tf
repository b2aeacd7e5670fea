output "state_machine_arn" {
  description = "ARN of the check state machine."
  value       = aws_sfn_state_machine.check.arn
}

output "state_machine_name" {
  description = "Name of the check state machine."
  value       = aws_sfn_state_machine.check.name
}

output "state_machine_console_url" {
  description = "Step Functions console page of the check state machine (executions, redrive)."
  value       = "https://${local.region}.console.aws.amazon.com/states/home?region=${local.region}#/statemachines/view/${aws_sfn_state_machine.check.arn}"
}

output "history_table_name" {
  description = "Name of the DynamoDB check-history table."
  value       = aws_dynamodb_table.history.name
}

output "history_table_arn" {
  description = "ARN of the DynamoDB check-history table."
  value       = aws_dynamodb_table.history.arn
}

output "function_names" {
  description = "Lambda function names by DriftGuard function (admit-event, create-run, ...)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Lambda function ARNs by DriftGuard function."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "cloudtrail_rule_name" {
  description = "Name of the EventBridge rule that starts checks on CloudTrail write events."
  value       = aws_cloudwatch_event_rule.cloudtrail_changes.name
}

output "failure_rule_name" {
  description = "Name of the EventBridge rule that sends failed checks to the on-failure function."
  value       = aws_cloudwatch_event_rule.check_failures.name
}

output "us_east_1_iam_rule_name" {
  description = "Name of the us-east-1 rule forwarding IAM events home (null when the home region is us-east-1 or iam is not monitored)."
  value       = local.forward_iam_from_us_east_1 ? module.iam_event_forwarder[0].rule_name : null
}

output "event_bus_arn" {
  description = "ARN of the central event bus (target_event_bus_arn for modules/event-forwarder in member accounts and other regions)."
  value       = local.default_bus_arn
}

output "dlq_url" {
  description = "URL of the SQS dead-letter queue for undeliverable events."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the SQS dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "sns_topic_arn" {
  description = "ARN of the e-mail alert topic (null when alert_email is empty)."
  value       = local.email_enabled ? aws_sns_topic.alerts[0].arn : null
}

output "dashboard_url" {
  description = "CloudWatch dashboard of DriftGuard checks."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "cloudtrail_bucket_name" {
  description = "S3 bucket of the optional trail (null when create_cloudtrail is false)."
  value       = var.create_cloudtrail ? aws_s3_bucket.cloudtrail[0].id : null
}

output "test_instance_id" {
  description = "Id of the optional drift-test instance (null when create_test_ec2 is false)."
  value       = var.create_test_ec2 ? aws_instance.test[0].id : null
}

output "slack_request_url" {
  description = "The Slack app's Request URL (Interactivity & Shortcuts): the callback receiver's function URL. Null without the Slack app (slack_bot_token_secret)."
  value       = local.slack_app_enabled ? aws_lambda_function_url.slack_callback[0].function_url : null
}

output "remediation_mode" {
  description = "The remediation mode in force (remediation_mode, or the deprecated auto_remediate)."
  value       = local.remediation_mode
}
