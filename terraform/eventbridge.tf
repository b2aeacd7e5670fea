# Event routing on the home region's default bus:
#   CloudTrail write events (monitored services) ──> check state machine
#   this state machine's FAILED / TIMED_OUT / ABORTED executions ──> on-failure
# plus the IAM forwarder in us-east-1, the member-account bus permissions and
# the dead-letter queue for events that could not be delivered.

locals {
  cloudtrail_rule_name = "${local.name_prefix}-cloudtrail-changes"
  failure_rule_name    = "${local.name_prefix}-check-failures"
  default_bus_arn      = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"

  # Successful management write calls made by people (and by services acting for
  # them), never data events: with S3 data events in the trail, every PutObject
  # would otherwise start a Standard execution. An empty errorCode is a success;
  # calls AWS services make under their own identity (userIdentity.type
  # AWSService) are left out here already. The admit step applies the same
  # filters again (events can arrive by other routes) and the finer ones.
  cloudtrail_event_pattern = {
    source        = [for s in var.monitored_services : "aws.${s}"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      readOnly        = [false]
      managementEvent = [true]
      errorCode       = [{ exists = false }, ""]
      userIdentity = {
        type = [{ anything-but = "AWSService" }]
      }
    }
  }
}

# ---------------------------------------------------------------------------
# CloudTrail write events -> check
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "cloudtrail_changes" {
  name           = local.cloudtrail_rule_name
  description    = "DriftGuard: successful write API calls on ${join(", ", var.monitored_services)} start a drift check"
  event_bus_name = "default"

  event_pattern = jsonencode(local.cloudtrail_event_pattern)
}

resource "aws_cloudwatch_event_target" "start_check" {
  rule           = aws_cloudwatch_event_rule.cloudtrail_changes.name
  event_bus_name = aws_cloudwatch_event_rule.cloudtrail_changes.event_bus_name
  target_id      = "start-check"
  arn            = aws_sfn_state_machine.check.arn
  role_arn       = aws_iam_role.events_start_check.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

# ---------------------------------------------------------------------------
# Failed checks -> on-failure function
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "check_failures" {
  name           = local.failure_rule_name
  description    = "DriftGuard: failed, timed-out or aborted checks are recorded and alerted"
  event_bus_name = "default"

  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      stateMachineArn = [aws_sfn_state_machine.check.arn]
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "on_failure" {
  rule           = aws_cloudwatch_event_rule.check_failures.name
  event_bus_name = aws_cloudwatch_event_rule.check_failures.event_bus_name
  target_id      = "on-failure"
  arn            = aws_lambda_function.this["on-failure"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "on_failure_events" {
  statement_id   = "AllowCheckFailuresRule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this["on-failure"].function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.check_failures.arn
  source_account = local.account_id
}

# ---------------------------------------------------------------------------
# Dead-letter queue: events EventBridge could not deliver after its retries,
# and failure events the on-failure function could not handle.
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                      = "${local.name_prefix}-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum
  # SSE-SQS: EventBridge can deliver to it without a KMS key policy grant.
  sqs_managed_sse_enabled = true
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        aws_cloudwatch_event_rule.cloudtrail_changes.arn,
        aws_cloudwatch_event_rule.check_failures.arn,
      ]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

# ---------------------------------------------------------------------------
# IAM events: published in us-east-1 only, forwarded to the home region's bus.
# ---------------------------------------------------------------------------

module "iam_event_forwarder" {
  source = "./modules/event-forwarder"
  count  = local.forward_iam_from_us_east_1 ? 1 : 0

  providers = {
    aws = aws.us_east_1
  }

  name_prefix          = "${local.name_prefix}-iam"
  services             = ["iam"]
  target_event_bus_arn = local.default_bus_arn
}

# ---------------------------------------------------------------------------
# Member accounts' forwarders (modules/event-forwarder) may put events on this
# bus: their roles only, named by pattern, not the whole account. This policy
# is the default bus's whole resource policy in the home region.
# ---------------------------------------------------------------------------

locals {
  member_forwarders_enabled = length(var.member_account_ids) > 0 || var.member_organization_id != ""
  member_forwarder_role     = var.member_forwarder_role_name != "" ? var.member_forwarder_role_name : "${local.name_prefix}-*forwarder"
}

data "aws_iam_policy_document" "member_forwarders" {
  count = local.member_forwarders_enabled ? 1 : 0

  dynamic "statement" {
    for_each = length(var.member_account_ids) > 0 ? [1] : []
    content {
      sid       = "DriftGuardMemberForwarders"
      actions   = ["events:PutEvents"]
      resources = [local.default_bus_arn]

      principals {
        type        = "AWS"
        identifiers = [for a in var.member_account_ids : "arn:${local.partition}:iam::${a}:root"]
      }

      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = [for a in var.member_account_ids : "arn:${local.partition}:iam::${a}:role/${local.member_forwarder_role}"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.member_organization_id != "" ? [1] : []
    content {
      sid       = "DriftGuardOrganizationForwarders"
      actions   = ["events:PutEvents"]
      resources = [local.default_bus_arn]

      principals {
        type        = "AWS"
        identifiers = ["*"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [var.member_organization_id]
      }

      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = ["arn:${local.partition}:iam::*:role/${local.member_forwarder_role}"]
      }
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "member_forwarders" {
  count = local.member_forwarders_enabled ? 1 : 0

  event_bus_name = "default"
  policy         = data.aws_iam_policy_document.member_forwarders[0].json
}
