# Least-privilege roles: one per function, one for the state machine, one for
# the EventBridge rule that starts executions. admit-event treats exactly these
# roles' ARNs as DriftGuard's own principals (local.own_principal_arns in
# main.tf), never a name prefix: another role named "<name_prefix>-…" is checked.

locals {
  dynamodb_rw       = ["GetItem", "PutItem", "UpdateItem"]
  dynamodb_rw_query = ["GetItem", "PutItem", "UpdateItem", "Query"]
  # create-run closes the coalescing batch (an atomic conditional DeleteItem)
  # and reads the workspace's recent check records (Query) for their plan
  # durations, which schedule the first poll.
  dynamodb_batch_close = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"]
  # record resolves drift episodes: the open item goes in the record's transaction.
  dynamodb_record = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"]
  dynamodb_read   = ["GetItem", "Query"]
  # The functions that call HCP Terraform share request budgets keyed by the
  # token's user: items "PACE#<host>#<user id>[#runs-list]" of the history
  # table (see functions/lib/core/src/pacing.rs); "PACE#<host>" when the user
  # cannot be read.
  tfc_pacing_host = "PACE#${lower(regex("^https?://([^/:]+)", var.tfc_address)[0])}"
  tfc_pacing_keys = [local.tfc_pacing_host, "${local.tfc_pacing_host}#*"]
  # Every other item lives in a workspace's partition, "WS#<organization>/<workspace>"
  # (functions/lib/core/src/history.rs), and a function only ever touches the
  # partitions of the configured workspaces. A role's inline policies may hold
  # 10,240 characters: with very many workspaces, one pattern per organization.
  history_partition_keys = [for w in local.workspace_routes : "WS#${w.organization}/${w.workspace}"]
  history_leading_keys = length(join("", local.history_partition_keys)) <= 4000 ? local.history_partition_keys : distinct([
    for w in local.workspace_routes : "WS#${w.organization}/*"
  ])

  # Rules on the default bus have ARNs built from their names.
  cloudtrail_rule_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.cloudtrail_rule_name}"

  # Decision requests of the Slack app (approval mode) each have their own
  # partition, "APPROVAL#<id>" (functions/lib/core/src/approval.rs partition_key).
  approval_keys = ["APPROVAL#*"]

  # Per function: DynamoDB actions on its workspaces' partitions, the secrets
  # it reads ("" entries, for a Slack app that is not configured, are dropped),
  # and the flags switching on the statements below.
  lambda_access = {
    "admit-event"     = { dynamodb = local.dynamodb_rw, secrets = [], describe_executions = false, dlq = false, pace_requests = false, decision_requests = false, decisions = false, task_callbacks = false, read_tags = true }
    "create-run"      = { dynamodb = local.dynamodb_batch_close, secrets = [local.tfc_token_secret_arn], describe_executions = false, dlq = false, pace_requests = true, decision_requests = false, decisions = false, task_callbacks = false }
    "poll-run"        = { dynamodb = [], secrets = [local.tfc_token_secret_arn], describe_executions = false, dlq = false, pace_requests = true, decision_requests = false, decisions = false, task_callbacks = false }
    "summarize-drift" = { dynamodb = [], secrets = [local.tfc_token_secret_arn], describe_executions = false, dlq = false, pace_requests = true, decision_requests = false, decisions = false, task_callbacks = false }
    "remediate"       = { dynamodb = local.dynamodb_rw, secrets = [local.tfc_token_secret_arn], describe_executions = false, dlq = false, pace_requests = true, decision_requests = false, decisions = false, task_callbacks = false }
    "record"          = { dynamodb = local.dynamodb_record, secrets = [], describe_executions = false, dlq = false, pace_requests = false, decision_requests = false, decisions = false, task_callbacks = false, security_hub = true }
    # notify posts the decision buttons, keeps the task token, and delivers a
    # decision made before the execution began to wait.
    "notify" = { dynamodb = local.dynamodb_rw_query, secrets = [local.slack_secret_arn, local.slack_bot_token_secret_arn], describe_executions = false, dlq = false, pace_requests = false, decision_requests = true, decisions = false, task_callbacks = true }
    # on-failure discards a remediation run a failed execution left confirmable,
    # replies in the drift's thread and expires its buttons.
    "on-failure"     = { dynamodb = local.dynamodb_rw_query, secrets = [local.slack_secret_arn, local.tfc_token_secret_arn, local.slack_bot_token_secret_arn], describe_executions = true, dlq = true, pace_requests = true, decision_requests = true, decisions = false, task_callbacks = false }
    "history-widget" = { dynamodb = local.dynamodb_read, secrets = [], describe_executions = false, dlq = false, pace_requests = false, decision_requests = false, decisions = false, task_callbacks = false }
    # The Slack app's Request URL: reads and decides decision requests only.
    "slack-callback" = { dynamodb = [], secrets = [local.slack_signing_secret_arn, local.slack_bot_token_secret_arn], describe_executions = false, dlq = false, pace_requests = false, decision_requests = false, decisions = true, task_callbacks = true }
  }
  # Only the functions deployed (slack-callback comes with the Slack app).
  deployed_access = { for name, access in local.lambda_access : name => access if contains(keys(local.functions), name) }
}

# ---------------------------------------------------------------------------
# Lambda functions
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.deployed_access

  name               = "${local.name_prefix}-${each.key}"
  description        = "DriftGuard ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.deployed_access

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }

  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions.
  }

  dynamic "statement" {
    for_each = length(each.value.dynamodb) > 0 ? [1] : []
    content {
      sid       = "HistoryTable"
      actions   = [for a in each.value.dynamodb : "dynamodb:${a}"]
      resources = [aws_dynamodb_table.history.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = local.history_leading_keys
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.pace_requests ? [1] : []
    content {
      sid       = "PaceHcpTerraformRequests"
      actions   = ["dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.history.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = local.tfc_pacing_keys
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.decision_requests ? [1] : []
    content {
      sid       = "DecisionRequests"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.history.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = local.approval_keys
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.decisions ? [1] : []
    content {
      sid       = "Decisions"
      actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.history.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = local.approval_keys
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.task_callbacks ? [1] : []
    content {
      # states:SendTaskSuccess has no resource type in the Service
      # Authorization Reference: a policy must say "*" (a state machine ARN
      # here can be denied). The authority is not this grant: a check acts
      # only on the decision the verified receiver recorded in its decision
      # request item (read after the wait), never on the callback's output.
      sid       = "HandOverDecisions"
      actions   = ["states:SendTaskSuccess"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(compact(each.value.secrets)) > 0 ? [1] : []
    content {
      sid       = "ReadSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = compact(each.value.secrets)
    }
  }

  dynamic "statement" {
    for_each = each.value.describe_executions ? [1] : []
    content {
      sid       = "DescribeOwnExecutions"
      actions   = ["states:DescribeExecution", "states:GetExecutionHistory"]
      resources = [local.state_machine_executions_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.dlq ? [1] : []
    content {
      sid       = "DeadLetterQueue"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq.arn]
    }
  }

  # Only with security_hub_findings = true; BatchImportFindings is authorized
  # on the product the findings are imported into.
  dynamic "statement" {
    for_each = try(each.value.security_hub, false) && var.security_hub_findings ? [1] : []
    content {
      sid       = "ImportSecurityHubFindings"
      actions   = ["securityhub:BatchImportFindings"]
      resources = [local.security_hub_product_arn]
    }
  }

  # Only when a workspace route filters on tags: the changed resource's
  # current tags (a modifying call's record shows none). tag:GetResources has
  # no resource-level permissions (Service Authorization Reference): "*".
  dynamic "statement" {
    for_each = try(each.value.read_tags, false) && local.tag_routes ? [1] : []
    content {
      sid       = "ReadCurrentTags"
      actions   = ["tag:GetResources"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.kms_enabled ? [1] : []
    content {
      sid       = "CustomerManagedKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.deployed_access

  name   = "${local.name_prefix}-${each.key}"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# ---------------------------------------------------------------------------
# Step Functions
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "states_assume" {
  statement {
    sid     = "StatesAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # Only this state machine (and its versions and aliases) may use the role.
    # Built from the name: the state machine itself needs the role first.
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.state_machine_arn, "${local.state_machine_arn}:*"]
    }
  }
}

resource "aws_iam_role" "states" {
  name               = "${local.name_prefix}-states"
  description        = "DriftGuard check state machine"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "states" {
  statement {
    sid     = "InvokeCheckFunctions"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([for name in local.state_machine_functions : [
      aws_lambda_function.this[name].arn,
      "${aws_lambda_function.this[name].arn}:*",
    ]])
  }

  dynamic "statement" {
    for_each = local.email_enabled ? [1] : []
    content {
      sid       = "PublishEmailAlerts"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.alerts[0].arn]
    }
  }

  dynamic "statement" {
    for_each = local.email_enabled ? [1] : []
    content {
      sid       = "EncryptEmailAlerts"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [local.sns_kms_key_arn]
    }
  }

  statement {
    # CloudWatch Logs vended-log delivery: these actions do not support
    # resource-level permissions.
    sid = "ExecutionLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid = "XRayTraces"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "${local.name_prefix}-states"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

# ---------------------------------------------------------------------------
# EventBridge -> Step Functions
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "events_assume" {
  statement {
    sid     = "EventsAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # Only the CloudTrail-changes rule may use the role.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_rule_arn]
    }
  }
}

resource "aws_iam_role" "events_start_check" {
  name               = "${local.name_prefix}-events-start-check"
  description        = "EventBridge rule ${local.name_prefix}-cloudtrail-changes starting DriftGuard checks"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "events_start_check" {
  statement {
    sid       = "StartCheck"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.check.arn]
  }
}

resource "aws_iam_role_policy" "events_start_check" {
  name   = "${local.name_prefix}-events-start-check"
  role   = aws_iam_role.events_start_check.id
  policy = data.aws_iam_policy_document.events_start_check.json
}
