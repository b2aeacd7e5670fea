output "rule_name" {
  description = "Name of the forwarding EventBridge rule."
  value       = aws_cloudwatch_event_rule.forward.name
}

output "rule_arn" {
  description = "ARN of the forwarding EventBridge rule."
  value       = aws_cloudwatch_event_rule.forward.arn
}

output "role_arn" {
  description = "ARN of the role EventBridge uses to put events on the central bus."
  value       = aws_iam_role.forwarder.arn
}
