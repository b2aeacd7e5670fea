variable "name_prefix" {
  description = "Prefix of the rule and role names (<name_prefix>-forward-changes, <name_prefix>-forwarder). Use the DriftGuard name prefix (e.g. driftguard-prod) so DriftGuard recognises the role as its own."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,44}$", var.name_prefix))
    error_message = "name_prefix must be 1-45 characters of letters, digits, hyphens and underscores (the role name must stay within 64 characters)."
  }
}

variable "target_event_bus_arn" {
  description = "ARN of DriftGuard's central event bus (the default bus of its home region), e.g. arn:aws:events:eu-west-1:111122223333:event-bus/default. In another account, that bus must allow this account (DriftGuard's member_account_ids)."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+$", var.target_event_bus_arn))
    error_message = "target_event_bus_arn must be an event bus ARN such as arn:aws:events:eu-west-1:111122223333:event-bus/default."
  }
}

variable "services" {
  description = "Service short names (EventBridge source aws.<name>) whose CloudTrail write events are forwarded, e.g. [\"ec2\", \"s3\"]. Use the same list as DriftGuard's monitored_services."
  type        = list(string)
  default     = ["ec2", "s3", "iam"]

  validation {
    condition     = length(var.services) > 0 && alltrue([for s in var.services : can(regex("^[a-z0-9-]+$", s))])
    error_message = "services must list at least one lowercase service short name such as ec2, s3 or iam."
  }
}

variable "dead_letter_queue_arn" {
  description = "Optional SQS queue ARN, in this account and region, for events that could not be forwarded (its policy must let events.amazonaws.com send). Empty: no dead-letter queue."
  type        = string
  default     = ""

  validation {
    condition     = var.dead_letter_queue_arn == "" || can(regex("^arn:[a-z-]+:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.dead_letter_queue_arn))
    error_message = "dead_letter_queue_arn must be empty or an SQS queue ARN."
  }
}

variable "tags" {
  description = "Tags of the rule and the role (in addition to the provider's default_tags)."
  type        = map(string)
  default     = {}
}
