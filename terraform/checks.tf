# Plan-time warnings about configuration that deploys but misbehaves. A `check`
# block never stops a plan or apply: it prints a warning every time.

check "terraform_principal_configured" {
  assert {
    condition     = length(var.ignore_principal_arns) > 0
    error_message = <<-EOT
      ignore_principal_arns is empty, so DriftGuard cannot tell HCP Terraform's own
      changes from a person's: every apply starts a drift check, and with
      auto_remediate a remediation can trigger the next check. Set it to the
      principal HCP Terraform uses in AWS: the role ARN of its dynamic credentials
      (the workspace's TFC_AWS_RUN_ROLE_ARN variable, e.g.
      arn:aws:iam::111122223333:role/tfc-prod), or the ARN of the IAM user whose
      access keys the workspace holds (aws iam get-user --user-name <name>). A
      Terraform user agent is never enough: any caller can set it.
    EOT
  }
}
