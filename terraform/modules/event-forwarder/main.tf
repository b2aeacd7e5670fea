# Forwards successful CloudTrail write events of the given services from this
# account/region's default bus to DriftGuard's central bus.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  rule_name = "${var.name_prefix}-forward-changes"
  # Built from the name: the role's trust policy must not wait for the rule.
  rule_arn = "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:rule/${local.rule_name}"

  # The same pattern as DriftGuard's own rule: successful management write calls
  # by people (and services acting for them); no data events, no calls AWS
  # services make under their own identity, an empty errorCode is a success.
  event_pattern = {
    source        = [for s in var.services : "aws.${s}"]
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

resource "aws_cloudwatch_event_rule" "forward" {
  name           = local.rule_name
  description    = "DriftGuard: forward write API calls on ${join(", ", var.services)} to ${var.target_event_bus_arn}"
  event_bus_name = "default"
  tags           = var.tags

  event_pattern = jsonencode(local.event_pattern)
}

data "aws_iam_policy_document" "assume" {
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
      values   = [data.aws_caller_identity.current.account_id]
    }

    # Only the forwarding rule may use the role.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  name               = "${var.name_prefix}-forwarder"
  description        = "EventBridge rule ${aws_cloudwatch_event_rule.forward.name} putting events on DriftGuard's bus"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "put_events" {
  statement {
    sid       = "PutOnCentralBus"
    actions   = ["events:PutEvents"]
    resources = [var.target_event_bus_arn]
  }
}

resource "aws_iam_role_policy" "forwarder" {
  name   = "${var.name_prefix}-forwarder"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.put_events.json
}

resource "aws_cloudwatch_event_target" "central_bus" {
  rule           = aws_cloudwatch_event_rule.forward.name
  event_bus_name = aws_cloudwatch_event_rule.forward.event_bus_name
  target_id      = "driftguard-central-bus"
  arn            = var.target_event_bus_arn
  role_arn       = aws_iam_role.forwarder.arn

  dynamic "dead_letter_config" {
    for_each = var.dead_letter_queue_arn != "" ? [1] : []
    content {
      arn = var.dead_letter_queue_arn
    }
  }
}
