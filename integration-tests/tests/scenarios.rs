//! End-to-end scenarios on the local stack: the real Terraform module applied to
//! moto, the real state machine executed by moto's Step Functions engine, the
//! real Lambda binaries run by `cargo lambda watch`, HCP Terraform and Slack
//! emulated. One stack serves every scenario; each scenario has its own
//! workspace (routed by account) so scenarios run concurrently without
//! coalescing into each other. Scenarios that change something global (the
//! HCP Terraform token, Slack availability, the remediation_mode setting) run in
//! their own phase; approval mode's scenarios are in scenarios/approval.rs.
//!
//! Needs the project venv (`make .venv/.installed`: moto[server], cargo-lambda)
//! and terraform (the hashicorp/aws provider from /opt/tf-plugins, or downloaded).
//! `DRIFTGUARD_E2E_ONLY=01,07` runs a subset; `DRIFTGUARD_KEEP_WORK=1` keeps
//! the logs (moto, cargo lambda, terraform) after the run.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use driftguard_core::history::HistoryRecord;
use driftguard_core::model::CheckStatus;
use driftguard_slack::message_text;
use local_stack::console::{self, Console};
use local_stack::executions::ExecutionReport;
use local_stack::report::{indent, states_table};
use local_stack::tfc_emulator::{Access, Drift, Policy, RunTask, Scenario};
use local_stack::{LocalStack, StackOptions, WorkspaceSpec, events};
use serde_json::{Value, json};
use tokio::sync::RwLock;

#[path = "scenarios/hardening.rs"]
mod hardening;
use hardening::{
    s26_record_is_atomic, s27_batch_close_retried, s28_failure_names_the_unfinished_check,
    s29_redrive_fails_again, s30_email_is_best_effort, s31_slow_answer_past_the_function_timeout,
};
#[path = "scenarios/history.rs"]
mod history_scenarios;
use history_scenarios::{s24_episodes, s25_dashboard};
#[path = "scenarios/approval.rs"]
mod approval;

const ORG: &str = "e2e";
const WAIT: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------
// Expected paths through the state machine (poll loops collapsed to one pass).
// ---------------------------------------------------------------------------

const HEAD: &[&str] = &["Admit event", "Anything to check?"];
const PLAN: &[&str] = &[
    "Check each workspace",
    "Settle",
    "Create plan run",
    "Wait for plan",
    "Check plan status",
    "Plan finished?",
    "Summarize drift",
    "Drift found?",
];
const DRIFT_REPORTED: &[&str] = &[
    "Remediation mode?",
    "Record outcome",
    "Notify outcome",
    "Ask or e-mail?",
    "E-mail alert",
    "Check done",
];
const NO_DRIFT: &[&str] = &[
    "Record outcome",
    "Notify outcome",
    "Ask or e-mail?",
    "Check done",
];
const REMEDIATION_PLAN: &[&str] = &[
    "Remediation mode?",
    "Approved automatically",
    "Create remediation run",
    "Remediation run created?",
    "Wait for remediation plan",
    "Check remediation plan",
    "Remediation plan finished?",
    "Safety check",
    "Safe to apply?",
];
const REMEDIATED: &[&str] = &[
    "Apply remediation",
    "Apply requested?",
    "Wait for apply",
    "Check apply status",
    "Apply finished?",
    "Record outcome",
    "Notify outcome",
    "Ask or e-mail?",
    "E-mail alert",
    "Check done",
];
const SKIPPED: &[&str] = &[
    "Record outcome",
    "Notify outcome",
    "Ask or e-mail?",
    "E-mail alert",
    "Check done",
];

fn path(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

/// State names with repeated 3-state loops (wait → check → choice) collapsed.
fn collapsed(report: &ExecutionReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in report.state_names() {
        out.push(name.to_string());
        let n = out.len();
        if n >= 6 && out[n - 3..] == out[n - 6..n - 3] {
            out.truncate(n - 3);
        }
    }
    out
}

fn expect_path(report: &ExecutionReport, expected: &[String]) -> Result<()> {
    let got = collapsed(report);
    ensure!(
        got == expected,
        "unexpected states.\nexpected: {expected:?}\ngot:      {got:?}\n{}",
        states_table(report)
    );
    Ok(())
}

fn expect_status(report: &ExecutionReport, status: &str) -> Result<()> {
    ensure!(
        report.status == status,
        "execution ended {} (error {:?}, cause {:?}), expected {status}\n{}",
        report.status,
        report.error,
        report.cause,
        states_table(report)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Scenario context
// ---------------------------------------------------------------------------

struct Ctx {
    stack: LocalStack,
    /// Held (write) while Slack is down; held (read) by a scenario that needs Slack.
    slack: RwLock<()>,
}

type Ws = (&'static str, &'static str);

fn account(n: u32) -> String {
    format!("1000000000{n:02}")
}

/// Every workspace of the suite: name, account, HCP Terraform behaviour.
fn workspaces() -> Vec<WorkspaceSpec> {
    let drift = Scenario {
        drift: Drift::Fixture,
        ..Scenario::default()
    };
    let ws = |name: &str, acct: u32, scenario: Scenario| {
        WorkspaceSpec::new(ORG, name)
            .accounts(&[&account(acct)])
            .scenario(scenario)
    };
    // Backed by integration-tests/workspaces/network: runs really plan and apply.
    let real = |name: &str, acct: u32| ws(name, acct, Scenario::default()).terraform("network");
    vec![
        real("s01-drift", 1),
        real("s02-no-drift", 2),
        real("s03-remediate", 3),
        real("s34-changed-again", 34),
        ws(
            "s04-destroys",
            4,
            Scenario {
                remediation_destroys: true,
                ..drift.clone()
            },
        ),
        ws("s05-terraform", 5, drift.clone()),
        ws("s06-failed-call", 6, drift.clone()),
        ws("s07-burst", 7, drift.clone()),
        ws(
            "s08-slow-plan",
            8,
            Scenario {
                plan_seconds: 100_000.0,
                ..Scenario::default()
            },
        ),
        ws(
            "s09-throttled",
            9,
            Scenario {
                rate_limited_requests: 3,
                unavailable_requests: 2,
                ..drift.clone()
            },
        ),
        ws("s09-rotated-token", 91, Scenario::default()),
        ws(
            "s10-no-config",
            10,
            Scenario {
                configuration_missing: true,
                ..Scenario::default()
            },
        ),
        ws("s11-slack-down", 11, drift.clone()),
        ws("s12-malformed", 12, drift.clone()),
        ws("s13-network", 13, drift.clone()),
        ws("s13-security", 13, Scenario::default()),
        ws("s14-twice", 14, drift.clone()),
        ws(
            "s16-governed",
            16,
            Scenario {
                cost_estimation: true,
                policy: Policy::Pass,
                post_plan_task: RunTask::Pass,
                ..drift.clone()
            },
        ),
        ws(
            "s17-soft-policy",
            17,
            Scenario {
                policy: Policy::SoftMandatoryFail,
                ..drift.clone()
            },
        ),
        ws("s18-slow-apply", 18, slow_apply()),
        ws(
            "s19-plan-access",
            19,
            Scenario {
                token_access: Access::Plan,
                ..drift.clone()
            },
        ),
        ws(
            "s20-waiting",
            20,
            Scenario {
                // Long enough for the polls (the first after 2 s, then every 1-3 s) to see them.
                agent_pickup_seconds: Some(5.0),
                vcs_fetch_seconds: 6.0,
                ..drift.clone()
            },
        ),
        ws("s21-left-waiting", 21, left_waiting(Access::Admin)),
        ws(
            "s22-code-only",
            22,
            Scenario {
                drift: Drift::CodeOnly,
                ..Scenario::default()
            },
        ),
        ws(
            "s23-drift-and-code",
            23,
            Scenario {
                drift: Drift::Both,
                ..Scenario::default()
            },
        ),
        ws("s33-planted", 33, drift.clone()),
        ws(
            "s32-learned",
            32,
            Scenario {
                plan_seconds: 6.0,
                apply_seconds: 3.0,
                ..drift.clone()
            },
        ),
        ws(
            history_scenarios::EPISODES_WS,
            history_scenarios::EPISODES_ACCOUNT,
            drift.clone(),
        ),
    ]
    .into_iter()
    .chain(
        hardening::workspaces(&drift)
            .into_iter()
            .map(|(name, acct, scenario)| ws(name, acct, scenario)),
    )
    .chain(approval::approval_workspaces())
    .collect()
}

/// Someone else's run holds the queue 40 s, Terraform Enterprise keeps the
/// apply queued, and the apply takes 70 s: the remediation ends well past
/// `plan_timeout_seconds` (90 s) after its run was created.
fn slow_apply() -> Scenario {
    Scenario {
        drift: Drift::Fixture,
        queued_behind_seconds: 40.0,
        apply_queue_seconds: 3.0,
        apply_seconds: 70.0,
        ..Scenario::default()
    }
}

/// Plans of 4 s, so the harness can change the token's access between the
/// drift summary and the remediation's safety check.
fn left_waiting(access: Access) -> Scenario {
    Scenario {
        drift: Drift::Fixture,
        plan_seconds: 4.0,
        token_access: access,
        ..Scenario::default()
    }
}

fn options() -> StackOptions {
    StackOptions {
        environment: "e2e".into(),
        workspaces: workspaces(),
        // A burst of 20 executions must all pass "Admit event" inside the settle window.
        settle_seconds: 5,
        poll_min_wait_seconds: 1,
        poll_max_wait_seconds: 3,
        // Long enough for the poll waits to grow (they double after the first minute).
        plan_timeout_seconds: 90,
        apply_timeout_seconds: 600,
        lambda_concurrency: 3,
        // Drift episodes become findings in moto's Security Hub (scenario 24);
        // e-mail alerts go through SNS (scenario 30 makes SNS refuse one).
        extra_variables: [
            ("security_hub_findings".to_string(), json!(true)),
            ("alert_email".to_string(), json!("drift-alerts@example.com")),
        ]
        .into_iter()
        .collect(),
        ..StackOptions::default()
    }
}

fn event_for(fixture: &str, acct: u32) -> Result<Value> {
    Ok(events::fresh(
        events::fixture(fixture)?,
        Some(&account(acct)),
    ))
}

async fn check(ctx: &Ctx, event: &Value) -> Result<ExecutionReport> {
    let arn = ctx.stack.deliver_expecting_execution(event).await?;
    ctx.stack.wait(&arn, WAIT).await
}

async fn records(ctx: &Ctx, ws: Ws) -> Result<Vec<HistoryRecord>> {
    ctx.stack.history(ws.0, ws.1).await
}

fn messages(ctx: &Ctx, ws: Ws) -> Vec<Value> {
    ctx.stack.slack_messages_for(ws.0, ws.1)
}

fn admission_reason(report: &ExecutionReport) -> String {
    report
        .admission()
        .and_then(|a| a.get("reason").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

fn one_record(records: &[HistoryRecord], status: CheckStatus) -> Result<&HistoryRecord> {
    ensure!(
        records.len() == 1,
        "expected one history record, got {}: {:?}",
        records.len(),
        records.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    ensure!(
        records[0].status == status,
        "history record is {}, expected {status}",
        records[0].status
    );
    Ok(&records[0])
}

fn one_message(ctx: &Ctx, ws: Ws) -> Result<String> {
    let m = messages(ctx, ws);
    ensure!(
        m.len() == 1,
        "expected one Slack message for {}/{}, got {}",
        ws.0,
        ws.1,
        m.len()
    );
    Ok(message_text(&m[0]))
}

fn ensure_contains(text: &str, needles: &[&str]) -> Result<()> {
    for n in needles {
        ensure!(
            text.contains(n),
            "expected {n:?} in:\n{}",
            indent(text, "  | ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// The security group of a Terraform-backed workspace (from its state).
fn security_group(ctx: &Ctx, ws: Ws) -> Result<String> {
    ctx.stack
        .tfc
        .state_outputs(ws.0, ws.1)
        .and_then(|o| o.pointer("/security_group_id/value").cloned())
        .and_then(|v| v.as_str().map(str::to_string))
        .with_context(|| format!("no security_group_id output in {}/{}'s state", ws.0, ws.1))
}

/// Alice opens SSH to the world on the workspace's real security group in
/// moto, and the CloudTrail event of that call is delivered.
async fn alice_opens_ssh(ctx: &Ctx, ws: Ws, acct: u32) -> Result<(String, Value)> {
    let group = security_group(ctx, ws)?;
    Console::new(&ctx.stack.raw)
        .open_port_to_world(&group, 22, "temporary debug access")
        .await?;
    let event = console::authorize_ingress_event(
        event_for("console-authorize-security-group-ingress", acct)?,
        &group,
    )?;
    Ok((group, event))
}

/// Scenario 1: A console change with drift, remediation off → DriftDetected + one alert.
/// The workspace really plans: the change is made in moto, and the plan shows exactly it.
async fn s01_drift_report(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s01-drift");
    let (group, event) = alice_opens_ssh(&ctx, ws, 1).await?;
    let report = check(&ctx, &event).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    let drift = record.drift.as_ref().context("record without drift")?;
    let addresses: Vec<&str> = drift.resources.iter().map(|r| r.address.as_str()).collect();
    ensure!(
        addresses == ["aws_security_group.web"],
        "the real plan should show exactly the changed group: {drift:?}"
    );
    // The plan's duration (from the run's status-timestamps) and the
    // workspace id are kept for the next check's schedule and run request.
    ensure!(
        record.plan_seconds.is_some() && record.workspace_id.is_some(),
        "the record keeps no plan duration or workspace id: {:?} {:?}",
        record.plan_seconds,
        record.workspace_id
    );
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 1 && runs[0].plan_only, "runs: {runs:?}");
    // The functions paced their HCP Terraform requests through the shared
    // budget, keyed by the token's user; the first attempt of create-run did
    // not read the runs list (30 per minute).
    let tat = ctx.stack.pacing_tat(None).await?;
    ensure!(
        tat.is_some_and(|t| t > 0),
        "no pacing item for the token's user in the history table: the functions did not reserve request slots"
    );
    let lists = ctx
        .stack
        .tfc
        .requests_for(ws.0, ws.1)
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/runs"))
        .count();
    ensure!(
        lists == 0,
        "the runs list was read {lists} times by a first attempt"
    );
    ensure!(
        record.run_id.as_deref() == Some(runs[0].id.as_str()),
        "record run {:?} vs {runs:?}",
        record.run_id
    );
    let text = one_message(&ctx, ws)?;
    let needles = vec![
        "Drift detected",
        "alice",
        "AuthorizeSecurityGroupIngress",
        group.as_str(),
        "aws_security_group.web",
        record
            .run_url
            .as_deref()
            .context("record without run URL")?,
    ];
    ensure_contains(&text, &needles)?;
    ensure_contains(&text, &[&format!("executions/details/{}", report.arn)])?;
    Ok(())
}

/// Scenario 34: The drift on a security group's ingress was alerted; then
/// the same rule set is changed again outside Terraform (another port opened
/// to the world: the same drifted path, `ingress`, another value) → the
/// second check's fingerprint is new (it covers the drifted values), so it
/// is alerted again: two checks, two records with different fingerprints
/// over the same paths, two alerts.
async fn s34_changed_again(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s34-changed-again");
    let (group, event) = alice_opens_ssh(&ctx, ws, 34).await?;
    let first = check(&ctx, &event).await?;
    expect_status(&first, "SUCCEEDED")?;
    expect_path(&first, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    ensure!(
        messages(&ctx, ws).len() == 1,
        "the first drift was not alerted once"
    );

    // The same ingress rule set, changed again: RDP open to the world too.
    Console::new(&ctx.stack.raw)
        .open_port_to_world(&group, 3389, "remote desktop, just for today")
        .await?;
    let mut again = console::authorize_ingress_event(
        event_for("console-authorize-security-group-ingress", 34)?,
        &group,
    )?;
    if let Some(items) = again
        .pointer_mut("/detail/requestParameters/ipPermissions/items")
        .and_then(Value::as_array_mut)
    {
        for item in items {
            item["fromPort"] = json!(3389);
            item["toPort"] = json!(3389);
        }
    }
    let second = check(&ctx, &again).await?;
    expect_status(&second, "SUCCEEDED")?;
    expect_path(&second, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;

    let records = records(&ctx, ws).await?;
    ensure!(
        records.len() == 2
            && records
                .iter()
                .all(|r| r.status == CheckStatus::DriftDetected),
        "records: {:?}",
        records.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let by_execution = |arn: &str| {
        records
            .iter()
            .find(|r| r.execution_id == arn)
            .with_context(|| format!("no record of {arn}"))
    };
    let (a, b) = (by_execution(&first.arn)?, by_execution(&second.arn)?);
    let (da, db) = (
        a.drift.as_ref().context("first record without drift")?,
        b.drift.as_ref().context("second record without drift")?,
    );
    let paths = |d: &driftguard_core::model::DriftReport| -> Vec<(String, Vec<String>)> {
        d.resources
            .iter()
            .map(|r| (r.address.clone(), r.changed_attributes.clone()))
            .collect()
    };
    ensure!(
        paths(da) == paths(db) && da.paths_fingerprint == db.paths_fingerprint,
        "the second change should drift the same paths: {:?} vs {:?}",
        paths(da),
        paths(db)
    );
    ensure!(
        paths(db)
            .iter()
            .any(|(address, attributes)| address == "aws_security_group.web"
                && attributes.iter().any(|p| p.starts_with("ingress"))),
        "the drift is not on the group's ingress: {:?}",
        paths(db)
    );
    ensure!(
        !a.fingerprint.is_empty() && a.fingerprint != b.fingerprint,
        "the same paths with another value kept the fingerprint {}",
        a.fingerprint
    );
    ensure!(
        b.previous_fingerprint.as_deref() == Some(a.fingerprint.as_str()),
        "second record's previous fingerprint {:?}, first's {}",
        b.previous_fingerprint,
        a.fingerprint
    );
    let notified = second
        .output
        .as_ref()
        .and_then(|o| o.pointer("/results/0/notified"))
        .cloned();
    ensure!(
        notified == Some(json!(true)),
        "the changed drift was not alerted: {:?}",
        second.output
    );
    let alerts = messages(&ctx, ws);
    ensure!(alerts.len() == 2, "{} alerts, expected two", alerts.len());
    let texts: Vec<String> = alerts.iter().map(message_text).collect();
    for text in &texts {
        ensure_contains(text, &["Drift detected", "aws_security_group.web"])?;
    }
    ensure!(
        texts[1].contains(&format!("executions/details/{}", second.arn)),
        "the second alert is not the second check's:\n{}",
        texts[1]
    );
    Ok(())
}

/// Scenario 2: No drift → NoDrift record, no Slack message. The workspace really
/// plans: nothing it manages changed, and the real plan says so.
async fn s02_no_drift(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s02-no-drift");
    let report = check(&ctx, &event_for("cli-run-instances-tagged", 2)?).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, NO_DRIFT]))?;
    one_record(&records(&ctx, ws).await?, CheckStatus::NoDrift)?;
    ensure!(
        messages(&ctx, ws).is_empty(),
        "no-drift alerts are off, yet Slack got a message"
    );
    let notified = report
        .output
        .as_ref()
        .and_then(|o| o.pointer("/results/0/notified"))
        .cloned();
    ensure!(
        notified == Some(json!(false)),
        "results: {:?}",
        report.output
    );
    Ok(())
}

/// Scenario 5: A change Terraform made (HCP Terraform's role, configured in
/// ignore_principal_arns) → Ignored by principal, no HCP Terraform call.
async fn s05_terraform_change(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s05-terraform");
    let report = check(
        &ctx,
        &event_for("terraform-authorize-security-group-ingress", 5)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, &["Ignored"]]))?;
    ensure_contains(
        &admission_reason(&report),
        &[
            "matches the Terraform principal pattern",
            local_stack::stack::HCP_TERRAFORM_ROLE_PATTERN,
        ],
    )?;
    let calls = ctx.stack.tfc.requests_for(ws.0, ws.1);
    ensure!(calls.is_empty(), "HCP Terraform was called: {calls:?}");
    ensure!(
        records(&ctx, ws).await?.is_empty(),
        "a history record was written"
    );
    ensure!(messages(&ctx, ws).is_empty(), "Slack got a message");
    Ok(())
}

/// Scenario 6: A failed call and an S3 data event: the deployed rule drops
/// both (no execution); delivered anyway → Ignored with the reason.
async fn s06_failed_call(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s06-failed-call");
    let data_event = event_for("data-put-object", 6)?;
    let delivery = ctx.stack.deliver(&data_event).await?;
    ensure!(
        !delivery.matched && delivery.execution_arn.is_none(),
        "the CloudTrail rule matched an S3 PutObject data event"
    );
    let arn = ctx.stack.start_unfiltered(&data_event).await?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, &["Ignored"]]))?;
    ensure_contains(&admission_reason(&report), &["PutObject is a data event"])?;

    let event = event_for("failed-authorize-security-group-ingress", 6)?;
    let delivery = ctx.stack.deliver(&event).await?;
    ensure!(
        !delivery.matched,
        "the CloudTrail rule matched a failed call"
    );
    // Delivered anyway (another rule, a forwarder, a manual start): the admit step ignores it.
    let arn = ctx.stack.start_unfiltered(&event).await?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, &["Ignored"]]))?;
    ensure_contains(
        &admission_reason(&report),
        &["Client.UnauthorizedOperation"],
    )?;
    ensure!(
        ctx.stack.tfc.requests_for(ws.0, ws.1).is_empty(),
        "HCP Terraform was called"
    );
    ensure!(
        records(&ctx, ws).await?.is_empty(),
        "a history record was written"
    );
    Ok(())
}

/// Scenario 12: Malformed and out-of-scope events → Ignored with a reason, never a crash.
async fn s12_malformed(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s12-malformed");
    let cases: Vec<(Value, &str)> = vec![
        (event_for("malformed-missing-detail", 12)?, "detail"),
        (
            event_for("not-cloudtrail", 12)?,
            "not 'AWS API Call via CloudTrail'",
        ),
        (event_for("read-only-describe-instances", 12)?, "read-only"),
        (json!([1, 2]), "not a JSON object"),
        (json!("just a string"), "not a JSON object"),
        (json!({}), ""),
        (
            json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "account": account(12), "detail": "oops"}),
            "no detail object",
        ),
    ];
    let inputs: Vec<Value> = cases.iter().map(|(e, _)| e.clone()).collect();
    let matches = ctx.stack.rule_matches(&inputs).await?;
    ensure!(
        matches.iter().all(|m| !m),
        "the CloudTrail rule matched a malformed event: {matches:?}"
    );
    let mut problems = Vec::new();
    for (input, expected) in &cases {
        let arn = ctx.stack.start_unfiltered(input).await?;
        let report = ctx.stack.wait(&arn, WAIT).await?;
        let reason = admission_reason(&report);
        let ok = report.status == "SUCCEEDED"
            && collapsed(&report) == path(&[HEAD, &["Ignored"]])
            && !reason.is_empty()
            && reason.to_lowercase().contains(&expected.to_lowercase());
        if !ok {
            problems.push(format!(
                "input {input}: {} with reason {reason:?} (expected {expected:?})\n{}",
                report.status,
                states_table(&report)
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    ensure!(
        ctx.stack.tfc.requests_for(ws.0, ws.1).is_empty(),
        "HCP Terraform was called"
    );
    Ok(())
}

/// Scenario 13: One event routed to two workspaces → two checks in one execution.
async fn s13_two_workspaces(ctx: Arc<Ctx>) -> Result<()> {
    let (net, sec) = ((ORG, "s13-network"), (ORG, "s13-security"));
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 13)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    let creates = report.visits("Create plan run");
    ensure!(
        creates.len() == 2,
        "expected two plan runs in one execution\n{}",
        states_table(&report)
    );
    let iterations: BTreeSet<_> = creates.iter().map(|v| v.iteration).collect();
    ensure!(
        iterations.len() == 2,
        "both plans in one iteration? {iterations:?}"
    );
    ensure!(
        report.recorded_statuses().contains(&"DriftDetected")
            && report.recorded_statuses().contains(&"NoDrift"),
        "{}",
        states_table(&report)
    );
    let results = report
        .output
        .as_ref()
        .and_then(|o| o.get("results"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ensure!(results.len() == 2, "results: {results:?}");
    one_record(&records(&ctx, net).await?, CheckStatus::DriftDetected)?;
    one_record(&records(&ctx, sec).await?, CheckStatus::NoDrift)?;
    ensure!(
        ctx.stack.tfc.runs(net.0, net.1).len() == 1 && ctx.stack.tfc.runs(sec.0, sec.1).len() == 1
    );
    ensure!(messages(&ctx, net).len() == 1 && messages(&ctx, sec).is_empty());
    Ok(())
}

/// Scenario 7: A burst of 20 events for one workspace → one plan run, one alert, 19 Coalesced.
async fn s07_burst(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s07-burst");
    let mut burst = Vec::new();
    for i in 0..20 {
        let mut e = event_for("console-authorize-security-group-ingress", 7)?;
        e["detail"]["requestParameters"]["groupId"] = json!(format!("sg-0b{i:015x}"));
        burst.push(e);
    }
    let ids: BTreeSet<String> = burst
        .iter()
        .filter_map(|e| events::event_id(e).map(str::to_string))
        .collect();
    let deliveries = ctx.stack.deliver_all(&burst).await?;
    let mut reports = Vec::new();
    for d in deliveries {
        let arn = d
            .execution_arn
            .context("the rule did not match a burst event")?;
        reports.push(ctx.stack.wait(&arn, WAIT).await?);
    }
    let owners: Vec<&ExecutionReport> = reports
        .iter()
        .filter(|r| r.visited("Check each workspace"))
        .collect();
    ensure!(
        owners.len() == 1,
        "expected one execution to plan for the burst, got {}:\n{}",
        owners.len(),
        owners
            .iter()
            .map(|r| states_table(r))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let owner = owners[0];
    expect_status(owner, "SUCCEEDED")?;
    expect_path(owner, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    for r in reports.iter().filter(|r| r.arn != owner.arn) {
        expect_status(r, "SUCCEEDED")?;
        expect_path(r, &path(&[HEAD, &["Coalesced"]]))?;
        let joined = r
            .admission()
            .and_then(|a| a.pointer("/joined/0/owner_execution_id").cloned());
        ensure!(
            joined == Some(json!(owner.arn)),
            "coalesced into {joined:?}, owner is {}",
            owner.arn
        );
    }
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 1, "expected one plan run, got {}", runs.len());
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    let recorded: BTreeSet<String> = record.changes.iter().map(|c| c.event_id.clone()).collect();
    ensure!(
        recorded == ids && record.changes_omitted == 0,
        "the record holds {} of the 20 changes ({} omitted)",
        recorded.intersection(&ids).count(),
        record.changes_omitted
    );
    let text = one_message(&ctx, ws)?;
    // The alert lists the first changes and counts the rest ("… N more").
    let listed = (0..20)
        .filter(|i| text.contains(&format!("sg-0b{i:015x}")))
        .count();
    ensure!(
        listed >= 10,
        "only {listed} changes listed in the alert:\n{text}"
    );
    if listed < 20 {
        ensure_contains(&text, &[&format!("{} more", 20 - listed)])?;
    }
    Ok(())
}

/// Scenario 10: 422 "configuration version missing" → the execution fails with
/// TfcConfigurationMissing; the on-failure function records CheckFailed and alerts
/// with the actionable message.
async fn s10_configuration_missing(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s10-no-config");
    let report = check(&ctx, &event_for("console-put-user-policy", 10)?).await?;
    expect_status(&report, "FAILED")?;
    let failed = report.failed_state().context("no failed state")?;
    ensure!(
        failed.name == "Create plan run",
        "failed in {}\n{}",
        failed.name,
        states_table(&report)
    );
    ensure!(
        failed.attempts == 1,
        "TfcConfigurationMissing was retried ({} attempts)",
        failed.attempts
    );
    ensure!(
        report.error.as_deref() == Some("TfcConfigurationMissing"),
        "execution error {:?} (cause {:?})",
        report.error,
        report.cause
    );
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match the FAILED execution")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::CheckFailed)?;
    let failure = record
        .failure
        .as_ref()
        .context("CheckFailed without failure")?;
    ensure!(
        failure.error == "TfcConfigurationMissing",
        "failure: {failure:?}"
    );
    ensure!(
        failure.failed_state.as_deref() == Some("Create plan run"),
        "failure: {failure:?}"
    );
    let action = "Run `terraform plan` once in workspace 'e2e/s10-no-config'";
    ensure_contains(&failure.cause, &[action])?;
    ensure_contains(&one_message(&ctx, ws)?, &[action, "Drift check failed"])?;
    Ok(())
}

/// Scenario 10b: The CheckFailed record and alert of scenario 10 show the function's
/// message, not the Lambda error document Step Functions puts in the
/// execution's `cause` (`{"errorMessage": …, "errorType": …}`).
async fn s10b_failure_message_readable(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s10-no-config");
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::CheckFailed)?;
    let cause = &record
        .failure
        .as_ref()
        .context("CheckFailed without failure")?
        .cause;
    ensure!(
        !cause.trim_start().starts_with('{') && !cause.contains("\"errorType\""),
        "the CheckFailed cause is the raw Lambda error document (Step Functions' execution cause), \
         not the message: {cause}\n(on-failure should take errorMessage from it: functions/lib/core, steps::handle_failure)"
    );
    let text = one_message(&ctx, ws)?;
    ensure!(
        !text.contains("\"errorMessage\""),
        "the failure alert shows the raw Lambda error document:\n{}",
        indent(&text, "  | ")
    );
    Ok(())
}

/// Scenario 9: 429 and 503 bursts from HCP Terraform are retried and the check completes.
async fn s09_throttled(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s09-throttled");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 9)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    let calls = ctx.stack.tfc.requests_for(ws.0, ws.1);
    let count = |status: u16| calls.iter().filter(|r| r.status == status).count();
    ensure!(
        count(429) == 3 && count(503) == 2,
        "429s: {}, 503s: {}",
        count(429),
        count(503)
    );
    let retried: Vec<String> = report
        .states
        .iter()
        .flat_map(|s| {
            s.errors
                .iter()
                .map(move |(e, _)| format!("{}: {e}", s.name))
        })
        .collect();
    ensure!(
        retried
            .iter()
            .all(|e| e.ends_with("TfcUnavailable") || e.ends_with("TfcRateLimited")),
        "unexpected errors: {retried:?}"
    );
    ensure!(
        !retried.is_empty(),
        "the 503s were not retried by the state machine\n{}",
        states_table(&report)
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::DriftDetected)?;
    ensure!(messages(&ctx, ws).len() == 1);
    Ok(())
}

/// Scenario 9b: The token is rotated (emulator and Secrets Manager): functions holding the
/// old token get a 401, re-read the secret and complete.
async fn s09_rotated_token(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s09-rotated-token");
    let token = "local-stack.atlasv1.user-token-0002-rotated";
    ctx.stack.put_secret("tfc", token).await?;
    ctx.stack.tfc.rotate_token(token);
    let report = check(&ctx, &event_for("cli-run-instances-tagged", 91)?).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, NO_DRIFT]))?;
    let calls = ctx.stack.tfc.requests_for(ws.0, ws.1);
    let unauthorized = calls.iter().filter(|r| r.status == 401).count();
    ensure!(
        unauthorized >= 1,
        "no 401 seen: the functions did not hold the old token? {calls:?}"
    );
    ensure!(
        calls.last().is_some_and(|r| r.status < 400),
        "the last call failed: {calls:?}"
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::NoDrift)?;
    Ok(())
}

/// Scenario 8: A plan that never finishes: many polls with growing waits, then
/// PlanTimedOut, the run canceled, CheckFailed recorded and alerted.
async fn s08_plan_timeout(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s08-slow-plan");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 8)?,
    )
    .await?;
    expect_status(&report, "FAILED")?;
    let failed = report.failed_state().context("no failed state")?;
    ensure!(
        failed.name == "Check plan status",
        "failed in {}",
        failed.name
    );
    ensure!(
        report.error.as_deref() == Some("PlanTimedOut"),
        "error {:?}",
        report.error
    );
    let waits: Vec<u64> = report
        .visits("Check plan status")
        .iter()
        .filter_map(|v| {
            v.output
                .as_ref()?
                .pointer("/poll/next_wait_seconds")?
                .as_u64()
        })
        .collect();
    ensure!(waits.len() >= 20, "only {} polls: {waits:?}", waits.len());
    ensure!(
        waits[0] == 1 && waits.iter().max() > Some(&1) && waits.iter().all(|w| *w <= 3),
        "poll waits did not grow from the minimum within the bounds: {waits:?}"
    );
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(
        runs.len() == 1 && runs[0].actions.iter().any(|a| a == "cancel"),
        "the timed-out run was not canceled: {runs:?}"
    );
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::CheckFailed)?;
    ensure!(
        record
            .failure
            .as_ref()
            .is_some_and(|f| f.error == "PlanTimedOut"),
        "{:?}",
        record.failure
    );
    ensure_contains(
        &one_message(&ctx, ws)?,
        &["Drift check failed", "PlanTimedOut"],
    )?;
    Ok(())
}

/// Scenario 11: Slack down past all retries → the execution fails at the notify step with
/// the history record already stored; after Slack recovers, re-running the
/// notify step (what a redrive does) sends exactly one message.
async fn s11_slack_down(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s11-slack-down");
    let _down = ctx.slack.write().await;
    ctx.stack.slack.set_down(true);
    let result = async {
        let attempts_before = ctx.stack.slack.attempts();
        let report = check(
            &ctx,
            &event_for("console-authorize-security-group-ingress", 11)?,
        )
        .await?;
        expect_status(&report, "FAILED")?;
        let failed = report.failed_state().context("no failed state")?.clone();
        ensure!(
            failed.name == "Notify outcome",
            "failed in {}\n{}",
            failed.name,
            states_table(&report)
        );
        ensure!(
            report.error.as_deref() == Some("SlackUnavailable"),
            "error {:?}",
            report.error
        );
        ensure!(
            failed.attempts >= 2,
            "notify was not retried\n{}",
            states_table(&report)
        );
        ensure!(
            ctx.stack.slack.attempts() - attempts_before >= failed.attempts as usize,
            "Slack saw fewer posts than notify attempts"
        );
        one_record(&records(&ctx, ws).await?, CheckStatus::DriftDetected)?;
        // EventBridge delivers the failure event now; while Slack is down the
        // on-failure function fails too (Lambda retries it, then the DLQ keeps it).
        let on_failure = ctx
            .stack
            .deliver_failure_event(&report)
            .await?
            .context("failure rule")?;
        ensure!(
            on_failure.error_type() == Some("SlackUnavailable"),
            "on-failure while Slack is down answered {:?}",
            on_failure.payload
        );
        Ok::<_, anyhow::Error>((report, failed))
    }
    .await;
    ctx.stack.slack.set_down(false);
    drop(_down);
    let (_report, failed) = result?;
    ensure!(
        messages(&ctx, ws).is_empty(),
        "a message got through while Slack was down"
    );
    let input = failed
        .input
        .clone()
        .context("no input recorded for the notify step")?;
    let first = ctx.stack.invoke("notify", &input).await?;
    ensure!(first.is_ok(), "notify after recovery: {:?}", first.payload);
    ensure!(
        first.payload.get("sent") == Some(&json!(true)),
        "{:?}",
        first.payload
    );
    ensure!(
        messages(&ctx, ws).len() == 1,
        "expected exactly one message after recovery"
    );
    let again = ctx.stack.invoke("notify", &input).await?;
    ensure!(again.is_ok(), "{:?}", again.payload);
    ensure!(
        messages(&ctx, ws).len() == 1,
        "re-running notify sent a second message"
    );
    Ok(())
}

/// Scenario 14: Every step of a finished check run again with the same input creates no
/// second run, record or message.
async fn s14_steps_twice(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s14-twice");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 14)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    let runs_before = ctx.stack.tfc.runs(ws.0, ws.1).len();
    let records_before = records(&ctx, ws).await?.len();
    let messages_before = messages(&ctx, ws).len();
    let posts = |ctx: &Ctx| {
        ctx.stack
            .tfc
            .requests_for(ws.0, ws.1)
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/runs"))
            .count()
    };
    let posts_before = posts(&ctx);
    let lists = |ctx: &Ctx| {
        ctx.stack
            .tfc
            .requests_for(ws.0, ws.1)
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/runs"))
            .count()
    };
    ensure!(
        lists(&ctx) == 0,
        "the first attempt of create-run read the runs list (30 per minute)"
    );
    let functions: BTreeMap<&str, &str> = [
        ("Admit event", "admit-event"),
        ("Create plan run", "create-run"),
        ("Check plan status", "poll-run"),
        ("Summarize drift", "summarize-drift"),
        ("Record outcome", "record"),
        ("Notify outcome", "notify"),
    ]
    .into_iter()
    .collect();
    let mut seen = BTreeSet::new();
    // The e-mail is published by Step Functions itself (SNS), not a function.
    for visit in report
        .states
        .iter()
        .filter(|s| s.state_type == "Task" && s.name != "E-mail alert")
    {
        let function = functions
            .get(visit.name.as_str())
            .with_context(|| format!("unexpected Task {}", visit.name))?;
        if !seen.insert(visit.name.clone()) {
            continue;
        }
        let input = visit
            .input
            .clone()
            .with_context(|| format!("no input for {}", visit.name))?;
        let again = ctx.stack.invoke(function, &input).await?;
        ensure!(
            again.is_ok(),
            "{} run twice failed: {:?}",
            visit.name,
            again.payload
        );
        let first = visit.output.as_ref();
        match visit.name.as_str() {
            "Create plan run" => {
                let first_run = first.and_then(|o| o.pointer("/run/run_id")).cloned();
                ensure!(
                    again.payload.get("run_id").cloned() == first_run,
                    "create-run twice: {:?} then {:?}",
                    first_run,
                    again.payload.get("run_id")
                );
            }
            "Record outcome" => ensure!(
                again.payload.get("stored") == Some(&json!(false)),
                "record twice stored again: {:?}",
                again.payload
            ),
            "Notify outcome" => ensure!(
                again.payload.get("sent") == Some(&json!(true))
                    && again.payload.get("suppressed_reason").is_some(),
                "notify twice: {:?}",
                again.payload
            ),
            _ => {}
        }
    }
    ensure!(seen.len() == functions.len(), "steps run twice: {seen:?}");
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).len() == runs_before,
        "a second run was created"
    );
    ensure!(posts(&ctx) == posts_before, "POST /runs was called again");
    ensure!(
        lists(&ctx) == 1,
        "the retried create-run should find its plan-only run in one filtered runs-list read, read {}",
        lists(&ctx)
    );
    ensure!(
        records(&ctx, ws).await?.len() == records_before,
        "a second record was written"
    );
    ensure!(
        messages(&ctx, ws).len() == messages_before,
        "a second message was sent"
    );
    Ok(())
}

/// Scenario 3: Remediation on, safe drift → Remediated: the targeted run really
/// applies, and the security group in moto no longer has the rule Alice added.
async fn s03_remediated(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s03-remediate");
    let (group, event) = alice_opens_ssh(&ctx, ws, 3).await?;
    let console = Console::new(&ctx.stack.raw);
    let opened = console.ingress_rules(&group).await?;
    ensure!(
        opened
            .iter()
            .any(|r| r.from_port == 22 && r.cidrs.iter().any(|c| c == "0.0.0.0/0")),
        "the person's change did not land in moto: {opened:?}"
    );
    let report = check(&ctx, &event).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, REMEDIATED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 2, "runs: {runs:?}");
    let fix = &runs[1];
    ensure!(
        !fix.plan_only && fix.target_addrs == ["aws_security_group.web"],
        "remediation run: {fix:?}"
    );
    ensure!(
        fix.actions == vec!["apply".to_string()],
        "remediation run actions: {fix:?}"
    );
    ensure!(fix.status == "applied", "remediation run: {fix:?}");
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::Remediated)?;
    let drifted: BTreeSet<String> = record
        .drift
        .iter()
        .flat_map(|d| d.resources.iter().map(|r| r.address.clone()))
        .collect();
    let targets: BTreeSet<String> = fix.target_addrs.iter().cloned().collect();
    ensure!(
        targets == drifted,
        "targets {targets:?} vs drifted {drifted:?}"
    );
    // The remediation really changed the group back.
    let rules = console.ingress_rules(&group).await?;
    ensure!(
        !rules.iter().any(|r| r.from_port == 22),
        "port 22 is still open after the remediation: {rules:?}"
    );
    ensure!(
        rules
            .iter()
            .any(|r| r.from_port == 443 && r.cidrs == ["10.0.0.0/8"]),
        "the configured HTTPS rule is gone: {rules:?}"
    );
    ensure_contains(&one_message(&ctx, ws)?, &["Drift remediated"])?;
    Ok(())
}

/// Scenario 32: A workspace whose history has ten checks (plans of 6–9 s,
/// two remediations: plans ready after 5 s, applies of 5 s; this apply
/// takes 3 s) and its id: the
/// check creates its run without a lookup, and polls the plan, the
/// remediation plan and the apply first at their learned times, not after
/// the fixed 2 s; the new record keeps all three durations.
async fn s32_learned_schedule(ctx: Arc<Ctx>) -> Result<()> {
    use local_stack::history_seed::{PastCheck, seed_history};
    let ws = (ORG, "s32-learned");
    let mut past: Vec<PastCheck> = [6, 7, 6, 9, 6, 8, 6, 7, 6, 6]
        .into_iter()
        .map(PastCheck::plan)
        .collect();
    past[1].remediation = Some((5, 5));
    past[4].remediation = Some((5, 5));
    seed_history(&ctx.stack, ws.0, ws.1, &past).await?;

    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 32)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, REMEDIATED]))?;
    let first_wait = |state: &str| {
        report
            .visits(state)
            .first()
            .and_then(|v| v.duration())
            .map(|d| d.as_secs_f64())
    };
    for (state, learned) in [
        ("Wait for plan", 6.0),
        ("Wait for remediation plan", 5.0),
        ("Wait for apply", 5.0),
    ] {
        let waited = first_wait(state).with_context(|| format!("no {state} visit"))?;
        ensure!(
            waited >= learned - 1.0,
            "{state} waited {waited:.1} s first, not the learned {learned} s\n{}",
            states_table(&report)
        );
    }
    let polls = report.visits("Check plan status").len();
    ensure!(
        polls <= 3,
        "{polls} polls of a plan that took its usual time"
    );
    // create-run took the workspace id from the history: no lookup before
    // the drift run was created. remediate always reads the workspace, once
    // per attempt (a retried attempt, e.g. after a rate-limited runs list,
    // reads it again), so only its lookups may follow.
    let requests = ctx.stack.tfc.requests_for(ws.0, ws.1);
    let lookup_path = format!("/api/v2/organizations/{}/workspaces/{}", ws.0, ws.1);
    let is_lookup = |r: &&local_stack::tfc_emulator::RecordedRequest| {
        r.method == "GET" && r.path == lookup_path
    };
    let first_run = requests
        .iter()
        .position(|r| r.method == "POST" && r.path == "/api/v2/runs")
        .context("no run was created")?;
    let trail = || {
        requests
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = requests[..first_run].iter().filter(is_lookup).count();
    ensure!(
        before == 0,
        "{before} workspace lookups before the drift run; create-run should have used the id from history:\n{}",
        trail()
    );
    ensure!(
        requests[first_run..].iter().any(|r| is_lookup(&r)),
        "remediate made no workspace lookup:\n{}",
        trail()
    );

    let records = records(&ctx, ws).await?;
    let record = records
        .iter()
        .find(|r| r.execution_id == report.arn)
        .context("no record of this check")?;
    ensure!(
        record.status == CheckStatus::Remediated,
        "record: {:?}",
        record.status
    );
    let final_poll = record
        .remediation
        .as_ref()
        .and_then(|r| r.final_poll.as_ref())
        .context("the record has no final remediation poll")?;
    ensure!(
        record.plan_seconds.is_some()
            && final_poll.plan_seconds.is_some()
            && final_poll.apply_seconds.is_some(),
        "the record should keep the plan's, the remediation plan's and the apply's durations: {:?} {:?} {:?}",
        record.plan_seconds,
        final_poll.plan_seconds,
        final_poll.apply_seconds
    );
    Ok(())
}

/// Scenario 22: Merged, unapplied code and nothing changed in AWS → NoDrift
/// with the pending code recorded as one line, no alert.
async fn s22_code_only(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s22-code-only");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 22)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, NO_DRIFT]))?;
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::NoDrift)?;
    let drift = record.drift.as_ref().context("record without drift")?;
    ensure!(
        !drift.drifted && drift.resources.is_empty() && drift.pending_changes.count == 3,
        "drift report: {drift:?}"
    );
    ensure!(
        record.pending_code.as_deref()
            == Some("3 resources have unapplied code changes (not drift)"),
        "pending code line: {:?}",
        record.pending_code
    );
    ensure!(
        messages(&ctx, ws).is_empty(),
        "unapplied code is not drift, yet Slack got a message"
    );
    Ok(())
}

/// Scenario 23: Remediation on, drift and unapplied code on the same resource
/// → targets only the drifted addresses; RemediationSkipped naming the resource.
async fn s23_remediation_would_apply_code(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s23-drift-and-code");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 23)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, SKIPPED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 2, "runs: {runs:?}");
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::RemediationSkipped)?;
    let drift = record.drift.as_ref().context("record without drift")?;
    let drifted: BTreeSet<String> = drift.resources.iter().map(|r| r.address.clone()).collect();
    let targets: BTreeSet<String> = runs[1].target_addrs.iter().cloned().collect();
    ensure!(
        targets == drifted && !targets.contains("aws_iam_user.reviewer"),
        "targets {targets:?} vs drifted {drifted:?}"
    );
    ensure!(
        runs[1].actions == vec!["discard".to_string()],
        "the run that would apply code was not discarded: {:?}",
        runs[1]
    );
    let safety = record
        .remediation
        .as_ref()
        .and_then(|r| r.safety.as_ref())
        .context("no safety assessment in the record")?;
    ensure_contains(
        &safety.reason,
        &["unapplied code changes", "aws_security_group.web"],
    )?;
    ensure_contains(
        &one_message(&ctx, ws)?,
        &[
            "Remediation skipped",
            "aws_security_group.web",
            "3 resources have unapplied code changes (not drift)",
        ],
    )?;
    Ok(())
}

/// Scenario 4: Remediation on, the remediation plan destroys → RemediationSkipped with the reason.
async fn s04_remediation_skipped(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s04-destroys");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 4)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, SKIPPED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 2, "runs: {runs:?}");
    ensure!(
        runs[1].actions == vec!["discard".to_string()],
        "unsafe run not discarded: {:?}",
        runs[1]
    );
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::RemediationSkipped)?;
    let safety = record
        .remediation
        .as_ref()
        .and_then(|r| r.safety.as_ref())
        .context("no safety assessment in the record")?;
    ensure!(
        !safety.safe && safety.discarded && !safety.destructive_addresses.is_empty(),
        "{safety:?}"
    );
    ensure_contains(
        &safety.reason,
        &["destroy or replace", "allow_destructive_remediation"],
    )?;
    ensure_contains(
        &one_message(&ctx, ws)?,
        &["Remediation skipped", "allow_destructive_remediation"],
    )?;
    Ok(())
}

/// Another HCP Terraform user of the organization (her own token): she can
/// queue runs in the workspace, and read the execution's name in the check
/// run's message.
const MALLORY_TFC_TOKEN: &str = "mallory.atlasv1.another-users-token-0033";
const MALLORY_TFC_USER: &str = "user-MalloryPlantsRun1";

/// Scenario 33: Before DriftGuard's remediation create runs, another user
/// queues a run in the workspace whose message carries the execution's
/// remediation tag (`[driftguard:remediation:<execution>]`, public: the check
/// run's message shows the execution's name) → DriftGuard never adopts or
/// confirms it: it creates its own run, which waits in the queue behind the
/// planted one; the planted run stays unconfirmed until its owner discards
/// it, then DriftGuard's run is the one applied.
async fn s33_planted_run_not_adopted(ctx: Arc<Ctx>) -> Result<()> {
    use driftguard_core::ports::{RunSpec, TerraformCloud};
    use local_stack::tfc_emulator::DRIFTGUARD_USER;
    let ws = (ORG, "s33-planted");
    ctx.stack.tfc.add_token(MALLORY_TFC_TOKEN, MALLORY_TFC_USER);
    let mallory = driftguard_tfc::HttpTerraformCloud::new(
        &ctx.stack.tfc.url(),
        Arc::new(driftguard_core::secrets::StaticSecrets::new().with("tok", MALLORY_TFC_TOKEN)),
        "tok",
    )?;
    let workspace_id = ctx
        .stack
        .tfc
        .workspace_id(ws.0, ws.1)
        .context("no workspace id")?;
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 33)?)
        .await?;
    let tag = driftguard_core::steps::run_tag("remediation", &arn);
    let planted = mallory
        .create_run(
            &workspace_id,
            &RunSpec {
                message: format!("DriftGuard remediation of 8 drifted resources {tag}"),
                plan_only: false,
                target_addrs: vec![],
            },
        )
        .await?;
    ensure!(
        planted.created_by.as_deref() == Some(MALLORY_TFC_USER),
        "planted run: {planted:?}"
    );
    let report = ctx.stack.executions.report(&arn).await?;
    ensure!(
        !report.visited("Create remediation run"),
        "the run was planted after the remediation was created: the scenario proves nothing\n{}",
        states_table(&report)
    );
    let planted_now = |ctx: &Ctx| {
        ctx.stack
            .tfc
            .runs(ws.0, ws.1)
            .into_iter()
            .find(|r| r.id == planted.id)
    };
    // DriftGuard's own run appears and waits behind the planted one, which
    // rests unconfirmed.
    let deadline = Instant::now() + WAIT;
    let ours = loop {
        let runs = ctx.stack.tfc.runs(ws.0, ws.1);
        let report = ctx.stack.executions.report(&arn).await?;
        let waited_behind = poll_details(&report, "Check remediation plan", "remediation_poll")
            .iter()
            .any(|d| d.contains("queued behind 1 earlier run"));
        if let Some(ours) = runs
            .iter()
            .find(|r| !r.plan_only && r.created_by == DRIFTGUARD_USER)
            && waited_behind
        {
            break ours.clone();
        }
        ensure!(
            report.is_running() && Instant::now() < deadline,
            "DriftGuard's own remediation run never waited behind the planted one (execution {}); runs: {runs:#?}\n{}",
            report.status,
            states_table(&report)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let waiting = planted_now(&ctx).context("the planted run is gone")?;
    ensure!(
        waiting.status == "planned" && waiting.actions.is_empty(),
        "the planted run while DriftGuard's waits: {waiting:?}"
    );
    ensure!(
        ours.message.contains(&tag) && ours.id != planted.id && ours.status == "pending",
        "DriftGuard's run: {ours:?}"
    );
    // Its owner gives up on the planted run; the queue moves on.
    mallory
        .discard_run(&planted.id, "not needed after all")
        .await?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, REMEDIATED]))?;
    let planted_end = planted_now(&ctx).context("the planted run is gone")?;
    ensure!(
        planted_end.status == "discarded"
            && planted_end.actions == ["discard"]
            && !planted_end
                .statuses
                .iter()
                .any(|s| s == "confirmed" || s == "applied"),
        "the planted run was acted on: {planted_end:?}"
    );
    let applied_planted = ctx
        .stack
        .tfc
        .requests_for(ws.0, ws.1)
        .iter()
        .filter(|r| {
            r.method == "POST" && r.path.starts_with(&format!("/api/v2/runs/{}/", planted.id))
        })
        .filter(|r| r.user.as_deref() == Some(DRIFTGUARD_USER))
        .count();
    ensure!(
        applied_planted == 0,
        "DriftGuard's token acted on the planted run {applied_planted} times"
    );
    let ours = ctx
        .stack
        .tfc
        .runs(ws.0, ws.1)
        .into_iter()
        .find(|r| r.id == ours.id)
        .context("DriftGuard's run is gone")?;
    ensure!(
        ours.status == "applied" && ours.actions == ["apply"],
        "DriftGuard's run: {ours:?}"
    );
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::Remediated)?;
    let remediated_run = record
        .remediation
        .as_ref()
        .and_then(|r| r.run.as_ref())
        .map(|r| r.run_id.clone());
    ensure!(
        remediated_run.as_deref() == Some(ours.id.as_str()),
        "the record's remediation run is {remediated_run:?}, DriftGuard's is {}",
        ours.id
    );
    Ok(())
}

/// The poll details a state's visits reported.
fn poll_details(report: &ExecutionReport, state: &str, key: &str) -> Vec<String> {
    report
        .visits(state)
        .iter()
        .filter_map(|v| {
            v.output
                .as_ref()?
                .pointer(&format!("/{key}/detail"))?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Scenario 16: Remediation against a workspace with post-plan run tasks, cost
/// estimation and policy checks → the apply is requested only once HCP
/// Terraform says the run is confirmable (after policy_checked), and applied.
async fn s16_governed_remediation(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s16-governed");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 16)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, REMEDIATED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 2, "runs: {runs:?}");
    let fix = &runs[1];
    let expected = [
        "planned",
        "post_plan_running",
        "post_plan_completed",
        "cost_estimating",
        "cost_estimated",
        "policy_checking",
        "policy_checked",
        "confirmed",
        "applied",
    ];
    let positions: Vec<Option<usize>> = expected
        .iter()
        .map(|s| fix.statuses.iter().position(|x| x == s))
        .collect();
    ensure!(
        positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
        "the remediation run did not pass every stage in order: {:?}",
        fix.statuses
    );
    ensure!(fix.actions == ["apply"], "actions: {:?}", fix.actions);
    let conflicts = ctx
        .stack
        .tfc
        .requests_for(ws.0, ws.1)
        .iter()
        .filter(|r| r.status == 409)
        .count();
    ensure!(
        conflicts == 0,
        "an action was refused with 409: it came too early"
    );
    let details = poll_details(&report, "Check remediation plan", "remediation_poll");
    ensure!(
        details.iter().any(|d| d.contains("run can be applied")),
        "remediation poll details: {details:?}"
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::Remediated)?;
    Ok(())
}

/// Scenario 17: A soft-mandatory policy fails on the remediation run → it
/// waits for an override DriftGuard never gives: discarded, RemediationSkipped
/// with the reason, the workspace's queue free again.
async fn s17_policy_override_skipped(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s17-soft-policy");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 17)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, SKIPPED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(runs.len() == 2, "runs: {runs:?}");
    ensure!(
        runs[0].status == "policy_soft_failed",
        "a plan-only run ends policy_soft_failed: {:?}",
        runs[0]
    );
    ensure!(
        runs[1].statuses.iter().any(|s| s == "policy_override")
            && runs[1].actions == ["discard"]
            && runs[1].status == "discarded",
        "remediation run: {:?}",
        runs[1]
    );
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::RemediationSkipped)?;
    let safety = record
        .remediation
        .as_ref()
        .and_then(|r| r.safety.as_ref())
        .context("no safety assessment in the record")?;
    ensure!(!safety.safe && safety.discarded, "{safety:?}");
    ensure_contains(&safety.reason, &["policy_override", "never overrides"])?;
    Ok(())
}

/// Scenario 18: The remediation run waits 40 s behind someone else's run,
/// Terraform Enterprise keeps its apply queued, and the apply takes 70 s: it
/// ends past plan_timeout_seconds (90 s) after its run was created, is never
/// canceled, and the check ends Remediated. Each wait has its own words.
async fn s18_slow_apply_not_canceled(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s18-slow-apply");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 18)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, REMEDIATION_PLAN, REMEDIATED]))?;
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    let fix = runs
        .iter()
        .find(|r| !r.plan_only && r.created_by != "user-AliceQueuedARun1")
        .context("no remediation run")?;
    ensure!(
        fix.actions == ["apply"] && fix.status == "applied",
        "the slow remediation was acted on: {fix:?}"
    );
    let queued = poll_details(&report, "Check remediation plan", "remediation_poll");
    ensure!(
        queued
            .iter()
            .any(|d| d.contains("queued behind 1 earlier run")),
        "remediation poll details: {queued:?}"
    );
    let applying = poll_details(&report, "Check apply status", "apply_poll");
    ensure!(
        applying.iter().any(|d| d.contains("apply queued"))
            && applying.iter().any(|d| d == "applying"),
        "apply poll details: {applying:?}"
    );
    let created = report
        .visits("Create remediation run")
        .first()
        .and_then(|v| {
            v.output
                .as_ref()?
                .pointer("/remediation/created_at")?
                .as_str()
                .map(str::to_string)
        })
        .context("no remediation created_at")?;
    let created = chrono::DateTime::parse_from_rfc3339(&created)?;
    let ended = report.stop.context("no stop time")?;
    ensure!(
        (ended - created.with_timezone(&chrono::Utc)).num_seconds() > 90,
        "the remediation ended within plan_timeout_seconds; the scenario proves nothing"
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::Remediated)?;
    Ok(())
}

/// Scenario 19: The token's team has plan access but not admin on the
/// workspace → it can queue the plan, not read its JSON: the check fails at
/// Summarize drift with TfcPermissionDenied (not retried), and the alert says
/// the token needs workspace admin access.
async fn s19_plan_json_needs_admin(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s19-plan-access");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 19)?,
    )
    .await?;
    expect_status(&report, "FAILED")?;
    let failed = report.failed_state().context("no failed state")?;
    ensure!(
        failed.name == "Summarize drift" && failed.attempts == 1,
        "failed in {} after {} attempts\n{}",
        failed.name,
        failed.attempts,
        states_table(&report)
    );
    ensure!(
        report.error.as_deref() == Some("TfcPermissionDenied"),
        "error {:?} (cause {:?})",
        report.error,
        report.cause
    );
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    let records = records(&ctx, ws).await?;
    one_record(&records, CheckStatus::CheckFailed)?;
    ensure_contains(
        &one_message(&ctx, ws)?,
        &["the token needs workspace admin access to read plan JSON"],
    )?;
    Ok(())
}

/// Scenario 20: An agent workspace connected to VCS: the plan fetches the
/// configuration, then waits for an agent; each wait is a known status with
/// its own words, and the check completes.
async fn s20_waiting_statuses(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s20-waiting");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 20)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    let details = poll_details(&report, "Check plan status", "poll");
    for needle in ["VCS", "agent"] {
        ensure!(
            details.iter().any(|d| d.contains(needle)),
            "no poll detail mentions {needle}: {details:?}"
        );
    }
    one_record(&records(&ctx, ws).await?, CheckStatus::DriftDetected)?;
    Ok(())
}

/// Scenario 21: The token loses admin access between the drift summary and the
/// safety check: the execution fails at Safety check with the remediation run
/// waiting for confirmation. The on-failure function discards it, so it does
/// not hold the workspace's run queue.
async fn s21_failed_check_discards_waiting_run(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s21-left-waiting");
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 21)?)
        .await?;
    // Once the remediation run exists, the team is downgraded to write access.
    let deadline = Instant::now() + WAIT;
    loop {
        if ctx.stack.tfc.runs(ws.0, ws.1).iter().any(|r| !r.plan_only) {
            ctx.stack
                .tfc
                .set_scenario(ws.0, ws.1, left_waiting(Access::Write));
            break;
        }
        ensure!(Instant::now() < deadline, "no remediation run was created");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "FAILED")?;
    let failed = report.failed_state().context("no failed state")?;
    ensure!(
        failed.name == "Safety check" && report.error.as_deref() == Some("TfcPermissionDenied"),
        "failed in {} with {:?}\n{}",
        failed.name,
        report.error,
        states_table(&report)
    );
    let fix = ctx
        .stack
        .tfc
        .runs(ws.0, ws.1)
        .into_iter()
        .find(|r| !r.plan_only)
        .context("no remediation run")?;
    ensure!(fix.status == "planned", "before on-failure: {fix:?}");
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    let stopped = outcome
        .payload
        .get("remediation_runs_stopped")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    ensure!(stopped == 1, "on-failure answered {:?}", outcome.payload);
    let fix = ctx
        .stack
        .tfc
        .runs(ws.0, ws.1)
        .into_iter()
        .find(|r| !r.plan_only)
        .context("no remediation run")?;
    ensure!(
        fix.status == "discarded" && fix.actions == ["discard"],
        "the left-over remediation run: {fix:?}"
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::CheckFailed)?;
    Ok(())
}

/// IAM lint of the stored policies (local_stack::iam_lint).
async fn s_iam_lint(ctx: Arc<Ctx>) -> Result<()> {
    let report = local_stack::iam_lint::lint_deployed_policies(&ctx.stack).await?;
    eprintln!("[e2e] iam: {}", report.summary());
    ensure!(report.is_clean(), "{}", report.problems());
    Ok(())
}

// ---------------------------------------------------------------------------
// The run: one stack, phases, a summary
// ---------------------------------------------------------------------------

type ScenarioFn = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

macro_rules! scenario {
    ($id:expr, $title:expr, $f:ident) => {
        ($id, $title, (|ctx| Box::pin($f(ctx))) as ScenarioFn)
    };
    ($id:expr, $title:expr, ($f:path)) => {
        ($id, $title, (|ctx| Box::pin($f(ctx))) as ScenarioFn)
    };
}

struct Outcome {
    id: &'static str,
    title: &'static str,
    result: Option<Result<(), String>>,
    took: Duration,
}

fn selected(id: &str) -> bool {
    match std::env::var("DRIFTGUARD_E2E_ONLY") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|s| s.trim() == id),
        _ => true,
    }
}

async fn run_phase(
    ctx: &Arc<Ctx>,
    scenarios: Vec<(&'static str, &'static str, ScenarioFn)>,
) -> Vec<Outcome> {
    let mut handles = Vec::new();
    for (id, title, f) in scenarios {
        if !selected(id) {
            handles.push((id, title, None, Instant::now()));
            continue;
        }
        let ctx = ctx.clone();
        let started = Instant::now();
        let handle = tokio::spawn(async move { f(ctx).await });
        handles.push((id, title, Some(handle), started));
    }
    let mut outcomes = Vec::new();
    for (id, title, handle, started) in handles {
        let result = match handle {
            None => None,
            Some(h) => Some(match h.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(panic) => Err(format!("panicked: {panic}")),
            }),
        };
        let took = started.elapsed();
        eprintln!(
            "[e2e] {id} {title}: {} ({:.0} s)",
            match &result {
                None => "skipped",
                Some(Ok(())) => "ok",
                Some(Err(_)) => "FAILED",
            },
            took.as_secs_f64()
        );
        outcomes.push(Outcome {
            id,
            title,
            result,
            took,
        });
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_scenarios() {
    tokio::select! {
        () = suite() => {}
        () = local_stack::process::interrupted() => {
            local_stack::process::stop_all_started();
            panic!("interrupted; the local stack was stopped");
        }
    }
}

async fn suite() {
    let began = Instant::now();
    let stack = match LocalStack::start(options()).await {
        Ok(stack) => stack,
        Err(e) => panic!("the local stack did not start: {e:#}"),
    };
    let startup = began.elapsed();
    let ctx = Arc::new(Ctx {
        stack,
        slack: RwLock::new(()),
    });
    approval::add_people(&ctx);
    let mut outcomes = Vec::new();

    // Phase 1: independent scenarios, concurrently. The slow plan (8) keeps
    // running into the next phases.
    let slow = if selected("08") {
        let ctx = ctx.clone();
        Some((
            Instant::now(),
            tokio::spawn(async move { s08_plan_timeout(ctx).await }),
        ))
    } else {
        None
    };
    outcomes.extend(
        run_phase(
            &ctx,
            vec![
                scenario!(
                    "01",
                    "console change with drift → DriftDetected + one alert",
                    s01_drift_report
                ),
                scenario!("02", "no drift → NoDrift, no alert", s02_no_drift),
                scenario!(
                    "05",
                    "Terraform-made change → Ignored, no HCP Terraform call",
                    s05_terraform_change
                ),
                scenario!(
                    "06",
                    "failed call → dropped by the rule; Ignored if delivered",
                    s06_failed_call
                ),
                scenario!(
                    "12",
                    "malformed events → Ignored with a reason",
                    s12_malformed
                ),
                scenario!(
                    "13",
                    "one event, two workspaces → two checks in one execution",
                    s13_two_workspaces
                ),
                scenario!(
                    "07",
                    "burst of 20 events → one plan, one alert, 19 Coalesced",
                    s07_burst
                ),
                scenario!(
                    "10",
                    "422 configuration missing → TfcConfigurationMissing, CheckFailed + alert",
                    s10_configuration_missing
                ),
                scenario!("09", "429/503 bursts → retried, completes", s09_throttled),
                scenario!(
                    "19",
                    "token without workspace admin → TfcPermissionDenied at summarize, says admin is needed",
                    s19_plan_json_needs_admin
                ),
                scenario!(
                    "20",
                    "VCS fetch and agent pool waits → own words in the poll state, completes",
                    s20_waiting_statuses
                ),
                scenario!(
                    "14",
                    "every step run twice → no second run/record/message",
                    s14_steps_twice
                ),
                scenario!(
                    "22",
                    "unapplied code only → NoDrift, pending code recorded, no alert",
                    s22_code_only
                ),
                scenario!(
                    "24",
                    "drift episodes open, resolve on a clean check; Security Hub findings follow",
                    s24_episodes
                ),
                scenario!(
                    "26",
                    "record and fingerprint are one write: a failed write retried, nothing stale",
                    s26_record_is_atomic
                ),
                scenario!(
                    "27",
                    "closing the batch fails once, retried: every change of the burst planned",
                    s27_batch_close_retried
                ),
                scenario!(
                    "28",
                    "one check finishes, the other fails → CheckFailed and alert for that one only",
                    s28_failure_names_the_unfinished_check
                ),
                scenario!(
                    "29",
                    "a redrive fails again → recorded and alerted once more",
                    s29_redrive_fails_again
                ),
                scenario!(
                    "30",
                    "SNS refuses the e-mail → noted on the record, the check ends as it was",
                    s30_email_is_best_effort
                ),
                scenario!(
                    "34",
                    "the same ingress rule set changed again (same paths, other value) → new fingerprint, a second alert",
                    s34_changed_again
                ),
                scenario!(
                    "31",
                    "DynamoDB slower than the record function's timeout → AwsUnavailable in time, retried, one record",
                    s31_slow_answer_past_the_function_timeout
                ),
            ],
        )
        .await,
    );

    // Phase 2: token rotation (global to the HCP Terraform emulator), and a
    // check on scenario 10's results.
    outcomes.extend(
        run_phase(
            &ctx,
            vec![
                scenario!(
                    "09b",
                    "token rotated → 401, secret re-read, completes",
                    s09_rotated_token
                ),
                scenario!(
                    "10b",
                    "CheckFailed record and alert show the message, not the Lambda error document",
                    s10b_failure_message_readable
                ),
            ],
        )
        .await,
    );

    // Phase 3: Slack down (global), while the module is re-applied with
    // remediation_mode = "auto" for phase 4.
    let remediation = ["03", "04", "16", "17", "18", "21", "23", "32", "33"]
        .iter()
        .any(|id| selected(id));
    let reapply = async {
        if remediation {
            ctx.stack
                .apply_settings(|o| o.remediation_mode = "auto".into())
                .await
        } else {
            Ok(())
        }
    };
    let (slack_down, reapplied) = tokio::join!(
        run_phase(
            &ctx,
            vec![
                scenario!(
                    "11",
                    "Slack down → fails at notify, record kept; re-run notify sends one",
                    s11_slack_down
                ),
                // Slow (its own apply and destroy), and mostly waiting here anyway.
                scenario!(
                    "iam",
                    "IAM policies as stored pass parliament; scopes in place",
                    s_iam_lint
                ),
            ]
        ),
        reapply
    );
    outcomes.extend(slack_down);
    if let Some((started, handle)) = slow {
        let result = match handle.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(p) => Err(format!("panicked: {p}")),
        };
        eprintln!(
            "[e2e] 08 plan timeout: {}",
            if result.is_ok() { "ok" } else { "FAILED" }
        );
        outcomes.push(Outcome {
            id: "08",
            title: "plan past the timeout → PlanTimedOut, run canceled, CheckFailed + alert",
            result: Some(result),
            took: started.elapsed(),
        });
    }

    // Phase 4: remediation on.
    if reapplied.is_ok() {
        outcomes.extend(
            run_phase(
                &ctx,
                vec![
                    scenario!(
                        "03",
                        "remediation on, safe drift → Remediated",
                        s03_remediated
                    ),
                    scenario!(
                        "04",
                        "remediation plan destroys → RemediationSkipped with reason",
                        s04_remediation_skipped
                    ),
                    scenario!(
                        "16",
                        "cost estimation, run tasks, policies → applied only once confirmable",
                        s16_governed_remediation
                    ),
                    scenario!(
                        "17",
                        "soft-mandatory policy fails → never overridden, RemediationSkipped",
                        s17_policy_override_skipped
                    ),
                    scenario!(
                        "18",
                        "queued, slow apply past plan_timeout_seconds → never canceled, Remediated",
                        s18_slow_apply_not_canceled
                    ),
                    scenario!(
                        "23",
                        "remediation would apply unapplied code → RemediationSkipped naming it",
                        s23_remediation_would_apply_code
                    ),
                    scenario!(
                        "32",
                        "a workspace with history → plan, remediation plan and apply polled at their learned times",
                        s32_learned_schedule
                    ),
                    scenario!(
                        "33",
                        "a run planted by another user with the execution's remediation tag → never adopted or confirmed; DriftGuard's own run applied",
                        s33_planted_run_not_adopted
                    ),
                ],
            )
            .await,
        );
    }
    // Scenario 21 alone: on-failure's run lookups draw from the runs-list
    // budget (20 per minute per user), and every scenario's checks share the
    // emulator's one token, so it must not run beside checks that spend it.
    match &reapplied {
        Ok(()) => outcomes.extend(
            run_phase(
                &ctx,
                vec![scenario!(
                    "21",
                    "check fails with a confirmable remediation run → on-failure discards it",
                    s21_failed_check_discards_waiting_run
                )],
            )
            .await,
        ),
        Err(e) => {
            for (id, title) in [
                ("03", "remediation on, safe drift → Remediated"),
                ("04", "remediation plan destroys → RemediationSkipped"),
                ("16", "governed remediation"),
                ("17", "soft-mandatory policy"),
                ("18", "slow apply"),
                ("21", "left-over remediation run"),
                (
                    "23",
                    "remediation would apply unapplied code → RemediationSkipped",
                ),
                ("32", "learned poll schedule"),
                ("33", "planted remediation run"),
            ] {
                outcomes.push(Outcome {
                    id,
                    title,
                    result: Some(Err(format!(
                        "re-applying with remediation_mode = \"auto\" failed: {e:#}"
                    ))),
                    took: Duration::ZERO,
                });
            }
        }
    }

    // Phase 5: approval mode (decisions from Slack buttons), with a short
    // approval time so the expiry is seen.
    let approval_ids = ["40", "41", "42", "43", "44", "45", "46", "47", "48", "49"];
    if approval_ids.iter().any(|id| selected(id)) {
        let reapplied = ctx
            .stack
            .apply_settings(|o| {
                o.remediation_mode = "approval".into();
                o.approval_timeout_hours = approval::APPROVAL_TIMEOUT_HOURS;
            })
            .await;
        match reapplied {
            Ok(()) => outcomes.extend(
                run_phase(
                    &ctx,
                    vec![
                        scenario!(
                            "40",
                            "approval: Fix drift clicked → Remediated, approver in the record, the run and the thread",
                            (approval::s40_approved_fix)
                        ),
                        scenario!(
                            "41",
                            "approval: Accept drift → DriftAccepted; no alert until the date, then alerts again",
                            (approval::s41_accepted_until_a_date)
                        ),
                        scenario!(
                            "42",
                            "approval: Dismiss by a user-group approver → DriftDismissed; a clean check resolves the thread",
                            (approval::s42_dismissed_then_resolved)
                        ),
                        scenario!(
                            "43",
                            "approval: nobody decides → ApprovalExpired; a late click answers \"this check has expired\"",
                            (approval::s43_expired)
                        ),
                        scenario!(
                            "44",
                            "approval: forged signature, stale timestamp → 401, not an approver → 403; still waiting",
                            (approval::s44_refused_clicks)
                        ),
                        scenario!(
                            "45",
                            "approval: two approvers click Fix at once → one decision, one remediation",
                            (approval::s45_double_click)
                        ),
                        scenario!(
                            "46",
                            "approval: Slack's Web API down → recorded, fails at Notify drift (redrivable); re-run posts once",
                            (approval::s46_slack_api_down)
                        ),
                        scenario!(
                            "47",
                            "approval: SendTaskSuccess {\"decision\":\"fix\"} from outside the receiver → NoRecordedDecision, nothing applied",
                            (approval::s47_forged_wake_up)
                        ),
                        scenario!(
                            "48",
                            "approval: the Fix's plan also reverts a path that drifted after the alert → RemediationSkipped naming it, run discarded",
                            (approval::s48_fix_reverts_only_what_was_seen)
                        ),
                        scenario!(
                            "49",
                            "approval: the alerted ingress changed again (same paths, other value) → \"changed again by alice\" in the drift's thread, new buttons",
                            (approval::s49_changed_again_in_the_thread)
                        ),
                    ],
                )
                .await,
            ),
            Err(e) => {
                for id in approval_ids {
                    outcomes.push(Outcome {
                        id,
                        title: "approval mode",
                        result: Some(Err(format!(
                            "re-applying with remediation_mode = \"approval\" failed: {e:#}"
                        ))),
                        took: Duration::ZERO,
                    });
                }
            }
        }
    }
    // Phase 6: the dashboard from everything the suite recorded (approvals
    // included), in a real browser.
    outcomes.extend(
        run_phase(
            &ctx,
            vec![scenario!(
                "25",
                "dashboard page and widget from the local stack's history in headless Chromium",
                s25_dashboard
            )],
        )
        .await,
    );

    // Phase 6: the module destroys cleanly.
    let started = Instant::now();
    let destroyed = destroys_cleanly(&ctx.stack)
        .await
        .map_err(|e| format!("{e:#}"));
    eprintln!(
        "[e2e] 15 terraform destroy: {}",
        if destroyed.is_ok() { "ok" } else { "FAILED" }
    );
    outcomes.push(Outcome {
        id: "15",
        title: "terraform destroy removes everything the module applied",
        result: Some(destroyed),
        took: started.elapsed(),
    });

    outcomes.sort_by(|a, b| a.id.cmp(b.id));
    let mut summary = format!(
        "\nend-to-end scenarios (stack start {:.0} s: {}; total {:.0} s)\n",
        startup.as_secs_f64(),
        ctx.stack.timings,
        began.elapsed().as_secs_f64()
    );
    let mut failures = Vec::new();
    for o in &outcomes {
        let status = match &o.result {
            None => "skip",
            Some(Ok(())) => "ok",
            Some(Err(_)) => "FAIL",
        };
        summary.push_str(&format!(
            "  {status:<4} {:>3}  {:<80} {:>4.0} s\n",
            o.id,
            o.title,
            o.took.as_secs_f64()
        ));
        if let Some(Err(e)) = &o.result {
            failures.push(format!("--- {} {} ---\n{e}", o.id, o.title));
        }
    }
    eprintln!("{summary}");
    if !failures.is_empty() {
        let ctx = Arc::try_unwrap(ctx).ok();
        if let Some(ctx) = ctx {
            let mut stack = ctx.stack;
            stack.options.keep_work_dir = true;
            drop(stack);
        }
        panic!("{summary}\n{}", failures.join("\n\n"));
    }
}

/// Scenario 15: `terraform destroy` of the module leaves no DriftGuard resource behind.
async fn destroys_cleanly(stack: &LocalStack) -> Result<()> {
    stack.destroy().await?;
    let machines = stack
        .raw
        .json_call("states", "AWSStepFunctions.ListStateMachines", json!({}))
        .await?;
    ensure!(
        machines["stateMachines"]
            .as_array()
            .is_none_or(|m| m.is_empty()),
        "state machines left after destroy: {machines}"
    );
    for (function, name) in &stack.outputs.function_names {
        ensure!(
            stack.raw.function_configuration(name).await.is_err(),
            "function {function} ({name}) left after destroy"
        );
    }
    let tables = stack
        .dynamodb
        .list_tables()
        .send()
        .await
        .context("ListTables")?;
    ensure!(
        !tables
            .table_names()
            .contains(&stack.outputs.history_table_name),
        "history table left after destroy"
    );
    let rules = stack
        .raw
        .json_call(
            "events",
            "AWSEvents.ListRules",
            json!({"EventBusName": "default"}),
        )
        .await?;
    let names: Vec<&str> = rules["Rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Name"].as_str())
        .collect();
    ensure!(
        !names.contains(&stack.outputs.cloudtrail_rule_name.as_str())
            && !names.contains(&stack.outputs.failure_rule_name.as_str()),
        "EventBridge rules left after destroy: {names:?}"
    );
    Ok(())
}
