# Alarms (to the SNS topic when alert_email is set) and a CloudWatch dashboard
# over the check metrics the record function emits in embedded metric format
# (namespace DriftGuard: Checks by Workspace/Status, DriftedResources).

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  alarm_name          = "${local.name_prefix}-check-executions-failed"
  alarm_description   = "DriftGuard checks failed. The on-failure function alerts Slack with a redrive link; see the runbook."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.check.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "executions_timed_out" {
  alarm_name          = "${local.name_prefix}-check-executions-timed-out"
  alarm_description   = "DriftGuard checks timed out."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.check.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = local.functions

  alarm_name          = "${local.name_prefix}-${each.key}-errors"
  alarm_description   = "DriftGuard function ${local.name_prefix}-${each.key} returned errors (see its log group)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_messages" {
  alarm_name          = "${local.name_prefix}-dlq-messages"
  alarm_description   = "Events could not be delivered to the DriftGuard state machine or the on-failure function; inspect ${aws_sqs_queue.dlq.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

locals {
  dashboard_lambda_metrics = [
    for i, name in keys(local.functions) : ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.this[name].function_name, { label = name }]
  ]
  dashboard_lambda_durations = [
    for i, name in keys(local.functions) : ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.this[name].function_name, { label = name, stat = "p95" }]
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name_prefix

  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Checks by workspace and outcome"
          region  = local.region
          view    = "timeSeries"
          stacked = true
          period  = 300
          metrics = [[{ expression = "SEARCH('{DriftGuard,Workspace,Status} MetricName=\"Checks\"', 'Sum', 300)", id = "checks" }]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Drifted resources by workspace"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 300
          metrics = [[{ expression = "SEARCH('{DriftGuard,Workspace} MetricName=\"DriftedResources\"', 'Maximum', 300)", id = "drifted" }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Check executions"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          stat    = "Sum"
          period  = 300
          metrics = [
            ["AWS/States", "ExecutionsStarted", "StateMachineArn", aws_sfn_state_machine.check.arn],
            ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", aws_sfn_state_machine.check.arn],
            ["AWS/States", "ExecutionsFailed", "StateMachineArn", aws_sfn_state_machine.check.arn],
            ["AWS/States", "ExecutionsTimedOut", "StateMachineArn", aws_sfn_state_machine.check.arn],
            ["AWS/States", "ExecutionsAborted", "StateMachineArn", aws_sfn_state_machine.check.arn],
            ["DriftGuard", "Checks", { label = "Checks recorded" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Undelivered events (DLQ)"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          stat    = "Maximum"
          period  = 300
          metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Function errors"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          stat    = "Sum"
          period  = 300
          metrics = local.dashboard_lambda_metrics
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Function duration (p95, ms)"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 300
          metrics = local.dashboard_lambda_durations
        }
      },
    ]
  })
}
