# Alarms (to the SNS topic when alert_email is set) and a CloudWatch dashboard:
# the drift-history page (a custom widget served by the history-widget
# function, read-only, invoked with the console user's credentials), and the
# metrics the record function emits in embedded metric format (namespace
# DriftGuard: Checks by Workspace/Status, DriftedResources, OpenEpisodes,
# EpisodesOpened/Resolved, TimeToDetect, TimeToResolve, DriftFreeRatio).

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
        type = "custom", x = 0, y = 0, width = 24, height = 16
        properties = {
          title    = "Drift history"
          endpoint = aws_lambda_function.this["history-widget"].arn
          params   = { days = 30 }
          updateOn = { refresh = true, resize = false, timeRange = false }
        }
      },
      {
        type = "metric", x = 0, y = 16, width = 8, height = 6
        properties = {
          title   = "Open drift episodes by workspace"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 300
          metrics = [[{ expression = "SEARCH('{DriftGuard,Workspace} MetricName=\"OpenEpisodes\"', 'Maximum', 300)", id = "open" }]]
        }
      },
      {
        type = "metric", x = 8, y = 16, width = 8, height = 6
        properties = {
          title   = "Drift-free ratio, last 30 days (%)"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 3600
          yAxis   = { left = { min = 0, max = 100 } }
          metrics = [[{ expression = "SEARCH('{DriftGuard,Workspace} MetricName=\"DriftFreeRatio\"', 'Minimum', 3600)", id = "ratio" }]]
        }
      },
      {
        type = "metric", x = 16, y = 16, width = 8, height = 6
        properties = {
          title   = "Time to detect and to resolve (p50, seconds)"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 3600
          metrics = [
            [{ expression = "SEARCH('{DriftGuard,Workspace} MetricName=\"TimeToDetect\"', 'p50', 3600)", id = "detect" }],
            [{ expression = "SEARCH('{DriftGuard,Workspace} MetricName=\"TimeToResolve\"', 'p50', 3600)", id = "resolve" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 22, width = 12, height = 6
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
        type = "metric", x = 12, y = 22, width = 12, height = 6
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
        type = "metric", x = 0, y = 28, width = 12, height = 6
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
        type = "metric", x = 12, y = 28, width = 12, height = 6
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
        type = "metric", x = 0, y = 34, width = 12, height = 6
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
        type = "metric", x = 12, y = 34, width = 12, height = 6
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
