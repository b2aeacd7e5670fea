//! End-to-end scenarios of "nothing lost, nothing doubled, nothing stuck" (a
//! module of scenarios.rs): faults injected in the gateway fail chosen AWS
//! calls of one workspace's check, and the check still ends exactly once,
//! with nothing lost.

use driftguard_core::ports::CheckRecords;
use local_stack::faults::{Fault, FaultKind};

use super::*;

/// The workspaces of these scenarios: (name, account, HCP Terraform behaviour).
pub fn workspaces(drift: &Scenario) -> Vec<(&'static str, u32, Scenario)> {
    vec![
        ("s26-atomic", 26, drift.clone()),
        ("s27-close", 27, drift.clone()),
        // One event, two checks: one finishes, the other's plan errors later.
        ("s28-fine", 28, Scenario::default()),
        (
            "s28-broken",
            28,
            Scenario {
                plan_errors: true,
                plan_seconds: 20.0,
                ..drift.clone()
            },
        ),
        (
            "s29-redrive",
            29,
            Scenario {
                configuration_missing: true,
                ..Scenario::default()
            },
        ),
        ("s30-email", 30, drift.clone()),
        ("s31-slow", 31, drift.clone()),
    ]
}

/// The partition key of a workspace's items, as the requests carry it.
fn partition(workspace: &str) -> String {
    format!("WS#{ORG}/{workspace}")
}

/// Every attempt the SDK makes of one call (its standard retry mode tries 3 times).
const ONE_CALL: usize = 3;

/// Scenario 26: the record and the workspace's fingerprint are one write.
/// The write fails (every SDK attempt of the first invocation), the step is
/// retried: one record, the fingerprint written with it, one alert; the same
/// drift found again is recognised as already alerted.
pub async fn s26_record_is_atomic(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s26-atomic");
    let faults = ctx.stack.gateway.faults();
    faults.arm(
        Fault::next(
            "DynamoDB_20120810.TransactWriteItems",
            ONE_CALL,
            FaultKind::server_error(),
        )
        // The record's transaction: it writes the workspace's LATEST item too.
        .when_body_contains(&partition(ws.1))
        .when_body_contains("LATEST"),
    );
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 26)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    ensure!(
        faults.fired("DynamoDB_20120810.TransactWriteItems") >= ONE_CALL,
        "the record's write was never failed; the scenario proves nothing"
    );
    let record_attempts = report
        .visits("Record outcome")
        .first()
        .map_or(0, |v| v.attempts);
    ensure!(
        record_attempts >= 2,
        "Record outcome ran {record_attempts} time(s); the failed write should have been retried\n{}",
        states_table(&report)
    );
    let first_records = records(&ctx, ws).await?;
    let record = one_record(&first_records, CheckStatus::DriftDetected)?;
    let latest = ctx
        .stack
        .history_store()
        .last_fingerprint(&driftguard_core::model::CheckRef {
            organization: ws.0.into(),
            workspace: ws.1.into(),
        })
        .await?;
    ensure!(
        latest.as_deref() == Some(record.fingerprint.as_str()) && !record.fingerprint.is_empty(),
        "the workspace's fingerprint {latest:?} is not the record's {}",
        record.fingerprint
    );
    ensure!(messages(&ctx, ws).len() == 1, "one alert");

    // The same drift again: recorded, and not alerted twice.
    let again = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 26)?,
    )
    .await?;
    expect_status(&again, "SUCCEEDED")?;
    ensure!(records(&ctx, ws).await?.len() == 2, "a record per check");
    ensure!(
        messages(&ctx, ws).len() == 1,
        "identical drift was alerted again: the fingerprint was not kept with the record"
    );
    Ok(())
}

/// Scenario 27: closing the coalescing batch fails once (every SDK attempt of
/// the first create-run); the retried step closes it: the plan carries every
/// change of the burst, one run, one alert.
pub async fn s27_batch_close_retried(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s27-close");
    let faults = ctx.stack.gateway.faults();
    faults.arm(
        Fault::next(
            "DynamoDB_20120810.TransactWriteItems",
            ONE_CALL,
            FaultKind::server_error(),
        )
        .when_body_contains("BATCH#CLOSED#")
        .when_body_contains(&partition(ws.1)),
    );
    let mut burst = Vec::new();
    for i in 0..3 {
        let mut e = event_for("console-authorize-security-group-ingress", 27)?;
        e["detail"]["requestParameters"]["groupId"] = json!(format!("sg-27{i:015x}"));
        burst.push(e);
    }
    let ids: BTreeSet<String> = burst
        .iter()
        .filter_map(|e| events::event_id(e).map(str::to_string))
        .collect();
    let mut reports = Vec::new();
    for d in ctx.stack.deliver_all(&burst).await? {
        let arn = d.execution_arn.context("the rule did not match")?;
        reports.push(ctx.stack.wait(&arn, WAIT).await?);
    }
    let owner = reports
        .iter()
        .find(|r| r.visited("Check each workspace"))
        .context("no execution planned for the burst")?;
    expect_status(owner, "SUCCEEDED")?;
    let create_attempts = owner
        .visits("Create plan run")
        .first()
        .map_or(0, |v| v.attempts);
    ensure!(
        create_attempts >= 2,
        "Create plan run ran {create_attempts} time(s); the failed close should have been retried"
    );
    ensure!(ctx.stack.tfc.runs(ws.0, ws.1).len() == 1, "one plan run");
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    let recorded: BTreeSet<String> = record.changes.iter().map(|c| c.event_id.clone()).collect();
    ensure!(
        recorded == ids,
        "the plan lost changes of the burst: {} of 3 recorded",
        recorded.intersection(&ids).count()
    );
    ensure!(messages(&ctx, ws).len() == 1, "one alert");
    Ok(())
}

/// Scenario 28: one event, two workspaces; one check finishes (no drift), the
/// other's plan errors later and fails the execution. The on-failure handler
/// records CheckFailed and alerts for the unfinished check only.
pub async fn s28_failure_names_the_unfinished_check(ctx: Arc<Ctx>) -> Result<()> {
    let (fine, broken) = ((ORG, "s28-fine"), (ORG, "s28-broken"));
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 28)?,
    )
    .await?;
    expect_status(&report, "FAILED")?;
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    let handled: Vec<String> = outcome
        .payload
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.get("workspace")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    ensure!(
        handled == [broken.1],
        "on-failure handled {handled:?}; only {} did not finish",
        broken.1
    );
    one_record(&records(&ctx, fine).await?, CheckStatus::NoDrift)?;
    one_record(&records(&ctx, broken).await?, CheckStatus::CheckFailed)?;
    ensure!(
        messages(&ctx, fine).is_empty(),
        "the finished check was alerted as failed"
    );
    ensure_contains(&one_message(&ctx, broken)?, &["Drift check failed"])?;
    Ok(())
}

/// Scenario 29: a failed check is redriven and fails again: the second
/// failure is recorded (the first kept) and alerted once more.
pub async fn s29_redrive_fails_again(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s29-redrive");
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 29)?,
    )
    .await?;
    expect_status(&report, "FAILED")?;
    let _slack = ctx.slack.read().await;
    let first = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match")?;
    ensure!(first.is_ok(), "on-failure failed: {:?}", first.payload);
    ensure!(messages(&ctx, ws).len() == 1, "one alert for the failure");

    // The redrive resumes at the failed step, which fails again (the workspace
    // still has no configuration); Step Functions reports the failure with the
    // execution's redrive count (moto implements no RedriveExecution: the
    // harness runs the failed step again and sends the status change).
    let failed = report.failed_state().context("no failed state")?;
    let input = failed.input.clone().context("the failed state's input")?;
    let rerun = ctx.stack.invoke("create-run", &input).await?;
    ensure!(
        rerun.error_type() == Some("TfcConfigurationMissing"),
        "the redriven step: {:?}",
        rerun.payload
    );
    let mut event = ctx.stack.status_change_event(&report);
    event["detail"]["redriveCount"] = json!(1);
    for _ in 0..2 {
        // Delivered twice (EventBridge is at least once): one record update, one alert.
        let again = ctx
            .stack
            .deliver_status_change(&event)
            .await?
            .context("the failure rule did not match")?;
        ensure!(again.is_ok(), "on-failure failed: {:?}", again.payload);
    }
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::CheckFailed)?;
    ensure!(
        record.redrive_count() == 1 && record.earlier_failures.len() == 1,
        "the record keeps both failures: redrive {}, earlier {:?}",
        record.redrive_count(),
        record.earlier_failures
    );
    let all = messages(&ctx, ws);
    ensure!(all.len() == 2, "expected 2 alerts, got {}", all.len());
    ensure_contains(
        &message_text(&all[1]),
        &["Failed again", "TfcConfigurationMissing"],
    )?;
    Ok(())
}

/// Scenario 30: SNS refuses the e-mail alert: the check keeps its outcome
/// (recorded, alerted in Slack), the record notes the e-mail was not sent,
/// and the execution succeeds — no "check failed" on top.
pub async fn s30_email_is_best_effort(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s30-email");
    let faults = ctx.stack.gateway.faults();
    faults.arm(
        Fault::next(
            "sns:Publish",
            20,
            FaultKind::Error {
                status: 403,
                code: "AuthorizationError".into(),
            },
        )
        .when_body_contains(ws.1),
    );
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 30)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    ensure!(faults.fired("sns:Publish") >= 1, "SNS was never refused");
    ensure!(
        report.visited("Note e-mail failure"),
        "the caught e-mail failure was not noted\n{}",
        states_table(&report)
    );
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    ensure!(
        record.warnings.len() == 1 && record.warnings[0].kind == "email",
        "warnings: {:?}",
        record.warnings
    );
    ensure!(
        messages(&ctx, ws).len() == 1,
        "one Slack alert, no failure alert"
    );
    Ok(())
}

/// Scenario 31: DynamoDB answers the record's write later than the record
/// function's whole timeout (30 s), three times over. Each SDK attempt gives
/// up at its own bound, the function answers `AwsUnavailable` inside its time
/// (never cut off: the gateway ends an invocation at the function's
/// configured timeout, as Lambda does), the Task's Retry runs it again, and
/// the check ends with one record and one alert.
pub async fn s31_slow_answer_past_the_function_timeout(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s31-slow");
    let faults = ctx.stack.gateway.faults();
    let slower_than_the_function = std::time::Duration::from_secs(45);
    faults.arm(
        Fault::next(
            "DynamoDB_20120810.TransactWriteItems",
            3,
            FaultKind::Delay(slower_than_the_function),
        )
        .when_body_contains(&partition(ws.1))
        .when_body_contains("LATEST"),
    );
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 31)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    ensure!(
        faults.fired("DynamoDB_20120810.TransactWriteItems") >= 3,
        "the record's write was never slowed; the scenario proves nothing"
    );
    let visit = report
        .visits("Record outcome")
        .first()
        .cloned()
        .context("no Record outcome visit")?;
    ensure!(
        visit.attempts >= 2,
        "Record outcome ran {} time(s); the slow write should have failed one attempt\n{}",
        visit.attempts,
        states_table(&report)
    );
    let errors: Vec<&str> = visit.errors.iter().map(|(e, _)| e.as_str()).collect();
    ensure!(
        errors.first() == Some(&"AwsUnavailable"),
        "the record should answer AwsUnavailable inside its own time, not be cut off: {:?}",
        visit.errors
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::DriftDetected)?;
    ensure!(messages(&ctx, ws).len() == 1, "one alert");
    Ok(())
}
