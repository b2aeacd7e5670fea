//! IAM lint of what the module really stores, not of what the plan shows: most
//! role policies embed ARNs known only after apply.
//!
//! [`lint_deployed_policies`] applies the module to the running local stack a
//! second time (name prefix `<project>-lint`) with every optional policy
//! switched on — e-mail alerts (SNS topic and its KMS key), member accounts
//! and an organization (event bus policy), the CloudTrail trail (S3 bucket
//! policy), the drift-test instance (EC2 role) — then reads every policy
//! document of both deployments back from moto and runs
//! `integration-tests/python/iam_lint.py`: parliament on each document, with the
//! findings `integration-tests/iam-lint.yaml` justifies, and the scopes
//! parliament cannot judge (aws:SourceArn beside aws:SourceAccount,
//! dynamodb:LeadingKeys equal to the partition keys the code uses, bus grants
//! naming roles). The second deployment is destroyed again either way.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use driftguard_core::history::partition_key;
use driftguard_core::model::CheckRef;
use driftguard_core::pacing::budget_key;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::events::repo_root;
use crate::stack::{LocalStack, StackOptions};
use crate::terraform::Module;

/// Service principals whose trust needs no aws:SourceArn, and why.
const UNSCOPED_SERVICE_PRINCIPALS: &[(&str, &str)] = &[
    (
        "lambda.amazonaws.com",
        "Lambda assumes a function's execution role without a source ARN to compare",
    ),
    (
        "ec2.amazonaws.com",
        "EC2 assumes an instance profile's role for the instance, with no source ARN",
    ),
];

/// The justification file (parliament findings DriftGuard accepts, with reasons).
pub fn justifications_file() -> PathBuf {
    repo_root().join("integration-tests/iam-lint.yaml")
}

/// What the lint found.
#[derive(Debug, Clone, Deserialize)]
pub struct LintReport {
    /// Labels of the documents read back (e.g. `iam-role/<role>/trust`).
    pub documents: Vec<String>,
    /// parliament findings no justification accepts.
    pub findings: Vec<Value>,
    /// parliament findings a justification accepts (with its `reason`).
    pub justified: Vec<Value>,
    /// Justifications that accepted nothing (stale entries).
    pub unused_justifications: Vec<Value>,
    /// Scopes parliament cannot see that are missing or wrong.
    pub scope_problems: Vec<String>,
}

impl LintReport {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
            && self.unused_justifications.is_empty()
            && self.scope_problems.is_empty()
    }

    /// One line per problem, for a failure message.
    pub fn problems(&self) -> String {
        let mut lines = Vec::new();
        for f in &self.findings {
            lines.push(format!(
                "parliament {} ({}) in {}: {} — detail {} at {}",
                f["issue"].as_str().unwrap_or("?"),
                f["severity"].as_str().unwrap_or("?"),
                f["document"].as_str().unwrap_or("?"),
                f["title"].as_str().unwrap_or(""),
                f["detail"],
                f["location"],
            ));
        }
        for j in &self.unused_justifications {
            lines.push(format!(
                "{} accepts no finding any more (remove it): {j}",
                justifications_file().display()
            ));
        }
        lines.extend(self.scope_problems.iter().cloned());
        if !self.findings.is_empty() {
            lines.push(format!(
                "fix the policy, or justify the finding in {} (issue, document, detail/location, reason)",
                justifications_file().display()
            ));
        }
        lines.join("\n")
    }

    /// A short account of what was checked.
    pub fn summary(&self) -> String {
        let mut justified: std::collections::BTreeMap<&str, usize> = Default::default();
        for j in &self.justified {
            *justified
                .entry(j["issue"].as_str().unwrap_or("?"))
                .or_default() += 1;
        }
        format!(
            "{} stored policy documents linted with parliament: {} unjustified findings, {} justified ({}); {} scope problems",
            self.documents.len(),
            self.findings.len(),
            self.justified.len(),
            justified
                .iter()
                .map(|(issue, n)| format!("{issue} ×{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.scope_problems.len()
        )
    }
}

/// The stack's settings with every policy-bearing option on, under its own name prefix.
pub fn all_policies_options(base: &StackOptions) -> StackOptions {
    let mut options = base.clone();
    options.environment = "lint".into();
    for (name, value) in [
        ("alert_email", json!("drift-alerts@example.com")),
        ("member_account_ids", json!(["111122223333"])),
        ("member_organization_id", json!("o-a1b2c3d4e5")),
        ("create_cloudtrail", json!(true)),
        ("create_test_ec2", json!(true)),
        ("ec2_detailed_monitoring", json!(false)),
        // AWS's managed policy (not ours to lint); moto does not load AWS managed policies.
        ("ec2_enable_session_manager", json!(false)),
    ] {
        options.extra_variables.insert(name.into(), value);
    }
    options
}

fn name_prefix(options: &StackOptions) -> String {
    format!("{}-{}", options.project_name, options.environment)
}

/// Applies the all-policies deployment, lints both deployments' stored
/// policies, destroys the all-policies deployment.
pub async fn lint_deployed_policies(stack: &LocalStack) -> Result<LintReport> {
    let options = all_policies_options(&stack.options);
    let work = stack.work_dir().join("iam-lint");
    let module = Module::prepare(
        &work,
        &stack.endpoint(),
        &stack.options.region,
        stack.python(),
    )
    .await?;
    module.init().await?;
    let variables = options.variables(
        &stack.tfc.url(),
        &stack.slack_app.api_url(),
        &module.lambda_artifacts_dir(),
    );
    let linted = match module.apply(&variables).await {
        Ok(()) => run_lint(stack, &[name_prefix(&stack.options), name_prefix(&options)]).await,
        Err(e) => Err(e.context("terraform apply of the all-policies deployment")),
    };
    let destroyed = module.destroy().await;
    let mut report = linted?;
    destroyed.context("terraform destroy of the all-policies deployment")?;
    // A lint that read nothing would pass: every kind of document must be there.
    let lint = name_prefix(&options);
    for expected in [
        format!("iam-role/{lint}-states/trust"),
        format!("iam-role/{lint}-events-start-check/trust"),
        format!("iam-role/{lint}-iam-forwarder/trust"),
        format!("iam-role/{lint}-record/inline/"),
        format!("iam-role/{lint}-drift-test-ec2/trust"),
        format!("sns-topic/{}/{lint}-alerts", stack.options.region),
        format!("kms-key/{}/alias/{lint}-alerts", stack.options.region),
        format!("event-bus/{}/default", stack.options.region),
        format!("sqs-queue/{}/{lint}-dlq", stack.options.region),
        format!("s3-bucket/{lint}-cloudtrail-"),
        format!("lambda/{}/{lint}-on-failure", stack.options.region),
        format!("lambda/{}/{lint}-slack-callback", stack.options.region),
        format!("iam-role/{lint}-slack-callback/inline/"),
        format!("iam-role/{}-states/trust", name_prefix(&stack.options)),
    ] {
        if !report.documents.iter().any(|d| d.starts_with(&expected)) {
            report.scope_problems.push(format!(
                "no policy document {expected}… was read back (read: {})",
                report.documents.join(", ")
            ));
        }
    }
    Ok(report)
}

/// Runs iam_lint.py over the stored policies of the deployments with these name prefixes.
pub async fn run_lint(stack: &LocalStack, prefixes: &[String]) -> Result<LintReport> {
    let workspace_keys: Vec<String> = stack
        .options
        .workspaces
        .iter()
        .map(|w| {
            partition_key(&CheckRef {
                organization: w.organization.clone(),
                workspace: w.workspace.clone(),
            })
        })
        .collect();
    let mut regions = vec![stack.options.region.clone()];
    if stack.options.region != "us-east-1" {
        regions.push("us-east-1".into());
    }
    let tfc_url = stack.tfc.url();
    let host = url::Url::parse(&tfc_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .with_context(|| format!("the HCP Terraform emulator's address {tfc_url} has no host"))?;
    // The budgets of every user of this host (functions/lib/core/src/pacing.rs budget_key).
    let pacing_keys = [
        budget_key(&host, None, None),
        budget_key(&host, Some("*"), None),
    ];
    let mut request = lint_request(&workspace_keys, &pacing_keys);
    request["endpoint"] = json!(stack.endpoint());
    request["regions"] = json!(regions);
    request["prefixes"] = json!(prefixes);
    run_script(stack.python(), &request).await
}

/// The request fields every lint shares: the justifications and the scopes expected.
pub fn lint_request(workspace_keys: &[String], pacing_keys: &[String]) -> Value {
    json!({
        "justifications": justifications_file(),
        "workspace_keys": workspace_keys,
        "pacing_keys": pacing_keys,
        // Every decision request's partition (functions/lib/core/src/approval.rs).
        "approval_keys": [driftguard_core::approval::partition_key("*")],
        "unscoped_service_principals": UNSCOPED_SERVICE_PRINCIPALS.iter().map(|(p, _)| p).collect::<Vec<_>>(),
    })
}

/// Runs integration-tests/python/iam_lint.py with this request.
pub async fn run_script(python: &Path, request: &Value) -> Result<LintReport> {
    let script = repo_root().join("integration-tests/python/iam_lint.py");
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {} {}", python.display(), script.display()))?;
    let mut stdin = child.stdin.take().context("piped stdin")?;
    stdin.write_all(request.to_string().as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "{} failed ({}); is parliament installed in the venv (integration-tests/requirements.txt)?\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} answered: {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
