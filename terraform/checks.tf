# Plan-time warnings about configuration that deploys but misbehaves. A `check`
# block never stops a plan or apply: it prints a warning every time.

check "terraform_principal_configured" {
  assert {
    condition     = length(var.ignore_principal_arns) > 0
    error_message = <<-EOT
      ignore_principal_arns is empty, so DriftGuard cannot tell HCP Terraform's own
      changes from a person's: every apply starts a drift check, and with
      remediation a remediation can trigger the next check. Set it to the
      principal HCP Terraform uses in AWS: the role ARN of its dynamic credentials
      (the workspace's TFC_AWS_RUN_ROLE_ARN variable, e.g.
      arn:aws:iam::111122223333:role/tfc-prod), or the ARN of the IAM user whose
      access keys the workspace holds (aws iam get-user --user-name <name>). A
      Terraform user agent is never enough: any caller can set it.
    EOT
  }
}

check "auto_remediate_deprecated" {
  assert {
    condition     = var.auto_remediate == null
    error_message = "auto_remediate is deprecated: use remediation_mode = \"auto\" (or \"off\", or \"approval\" to ask a person in Slack) and remove auto_remediate. It is still honoured while remediation_mode is \"off\"."
  }
}

check "approval_needs_a_channel" {
  assert {
    condition     = local.remediation_mode != "approval" || alltrue([for w in local.workspace_routes : w.slack.channel != ""])
    error_message = "remediation_mode = \"approval\", but some workspaces have no Slack app channel (slack_channel or workspaces[*].slack.channel): their drift is reported through the webhook without buttons, and never remediated."
  }
}

check "approval_needs_approvers" {
  assert {
    condition     = local.remediation_mode != "approval" || alltrue([for w in local.workspace_routes : length(w.slack.approvers) > 0])
    error_message = "remediation_mode = \"approval\", but some workspaces have no approvers (slack_approvers or workspaces[*].slack.approvers): every click on their buttons is refused with 403 until the check expires."
  }
}
