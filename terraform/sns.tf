# Optional e-mail alerts: one SNS topic, published by the state machine (drift
# alerts) and by the CloudWatch alarms in monitoring.tf.
#
# The topic is always KMS-encrypted. The AWS managed key aws/sns cannot be used
# by CloudWatch alarms (its key policy cannot be changed), so without
# var.kms_key_arn the topic gets a small customer managed key of its own.

locals {
  create_sns_key  = local.email_enabled && !local.kms_enabled
  sns_kms_key_arn = local.kms_enabled ? var.kms_key_arn : (local.create_sns_key ? aws_kms_key.sns[0].arn : null)
  # The alarms of monitoring.tf: all named "<name_prefix>-...".
  alarm_arn_pattern = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name_prefix}-*"
}

resource "aws_kms_key" "sns" {
  count = local.create_sns_key ? 1 : 0

  description             = "${local.name_prefix} alert topic"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  # A key policy, not an identity policy: "Resource": "*" means this key.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = local.alarm_arn_pattern }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "sns" {
  count = local.create_sns_key ? 1 : 0

  name          = "alias/${local.name_prefix}-alerts"
  target_key_id = aws_kms_key.sns[0].key_id
}

resource "aws_sns_topic" "alerts" {
  count = local.email_enabled ? 1 : 0

  name              = "${local.name_prefix}-alerts"
  display_name      = "DriftGuard"
  kms_master_key_id = local.sns_kms_key_arn
}

data "aws_iam_policy_document" "alerts_topic" {
  count = local.email_enabled ? 1 : 0

  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_pattern]
    }
  }

  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]

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

resource "aws_sns_topic_policy" "alerts" {
  count = local.email_enabled ? 1 : 0

  arn    = aws_sns_topic.alerts[0].arn
  policy = data.aws_iam_policy_document.alerts_topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  count = local.email_enabled ? 1 : 0

  topic_arn = aws_sns_topic.alerts[0].arn
  protocol  = "email"
  endpoint  = var.alert_email
}
