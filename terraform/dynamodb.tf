# Check history: one item per check outcome (pk = "WS#<org>/<workspace>",
# sk = time + execution), the open coalescing batch and the last drift
# fingerprint per workspace. Items expire through TTL on expires_at.

resource "aws_dynamodb_table" "history" {
  name                        = "${local.name_prefix}-history"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.dynamodb_point_in_time_recovery
  }

  # Without kms_key_arn DynamoDB uses the AWS managed key (aws/dynamodb).
  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }
}
