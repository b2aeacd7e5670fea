//! Approval mode on the local stack (`remediation_mode = "approval"`): drift
//! alerts through the Slack app with Fix / Accept / Dismiss, one thread per
//! drift, and the Slack emulator clicking as Slack does — a signed,
//! form-encoded `block_actions` payload to the receiver's function URL,
//! through the gateway. Included by scenarios.rs (phase 5, scenarios 40-46).

use super::*;
use driftguard_slack::interaction::action_ids;
use local_stack::slack_app::{ACK_DEADLINE, Click, Message};

pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const MALLORY: &str = "U0MALLORY";
/// Bob's team: approvers by user group.
pub const PLATFORM: &str = "S0PLATFORM";
/// How long a check waits for a decision in phase 5 (90 s).
pub const APPROVAL_TIMEOUT_HOURS: f64 = 0.025;

const ASKED: &[&str] = &[
    "Remediation mode?",
    "Record outcome",
    "Notify outcome",
    "Ask or e-mail?",
    "Wait for approval",
];
const FIX_APPROVED: &[&str] = &[
    "Read the decision",
    "Decision?",
    "Notify fix approved",
    "Create remediation run",
    "Remediation run created?",
    "Wait for remediation plan",
    "Check remediation plan",
    "Remediation plan finished?",
    "Safety check",
    "Safe to apply?",
];
/// After a decision (or none): the outcome's alert went out, so it is
/// e-mailed too (e-mail is on in this phase), like any alert that was sent.
const OUTCOME_TAIL: &[&str] = &["Ask or e-mail?", "E-mail alert", "Check done"];
/// A suppressed alert is not e-mailed either.
const SUPPRESSED_TAIL: &[&str] = &["Ask or e-mail?", "Check done"];

/// The approval-mode workspaces: `(name, account, channel, approvers, backed by Terraform)`.
pub fn approval_workspaces() -> Vec<WorkspaceSpec> {
    let drift = Scenario {
        drift: Drift::Fixture,
        ..Scenario::default()
    };
    let ws = |name: &str, acct: u32, channel: &str, approvers: &[&str]| {
        WorkspaceSpec::new(ORG, name)
            .accounts(&[&account(acct)])
            .scenario(drift.clone())
            .slack(channel, approvers)
    };
    vec![
        WorkspaceSpec::new(ORG, "s40-approve")
            .accounts(&[&account(40)])
            .terraform("network")
            .slack("C0S40APPROVE", &[ALICE]),
        ws("s41-accept", 41, "C0S41ACCEPT", &[ALICE]),
        ws("s42-dismiss", 42, "C0S42DISMISS", &[PLATFORM]),
        ws("s43-expire", 43, "C0S43EXPIRE", &[ALICE]),
        ws("s44-forged", 44, "C0S44FORGED", &[ALICE]),
        ws("s45-double", 45, "C0S45DOUBLE", &[ALICE, PLATFORM]),
        ws("s46-slack-api-down", 46, "C0S46DOWN", &[ALICE]),
        ws("s47-forged-wake-up", 47, "C0S47WAKEUP", &[ALICE]),
        WorkspaceSpec::new(ORG, "s49-changed-again")
            .accounts(&[&account(49)])
            .terraform("network")
            .slack("C0S49AGAIN", &[ALICE]),
        WorkspaceSpec::new(ORG, "s48-fix-sees-more")
            .accounts(&[&account(48)])
            .terraform("network")
            .slack("C0S48MORE", &[ALICE]),
    ]
}

/// The people and groups of the emulated Slack workspace.
pub fn add_people(ctx: &Ctx) {
    let slack = &ctx.stack.slack_app;
    slack.add_user(ALICE, "alice");
    slack.add_user(BOB, "bob");
    slack.add_user(MALLORY, "mallory");
    slack.add_user_group(PLATFORM, &[BOB]);
}

/// Waits until the execution waits for a decision and its alert (with the
/// buttons) is in the channel; returns the alert.
async fn asked(ctx: &Ctx, arn: &str, channel: &str) -> Result<Message> {
    let deadline = Instant::now() + WAIT;
    loop {
        let report = ctx.stack.executions.report(arn).await?;
        let waiting = report
            .states
            .last()
            .is_some_and(|s| s.name == "Wait for approval" && s.exited.is_none());
        if waiting {
            let alert = ctx
                .stack
                .slack_app
                .parents(channel)
                .into_iter()
                .rev()
                .find(|m| m.latest().to_string().contains(action_ids::FIX))
                .with_context(|| {
                    format!("the execution waits, but {channel} has no alert with the buttons")
                })?;
            return Ok(alert);
        }
        ensure!(
            report.is_running(),
            "the execution ended {} without asking for a decision\n{}",
            report.status,
            states_table(&report)
        );
        ensure!(
            Instant::now() < deadline,
            "no decision was asked for\n{}",
            states_table(&report)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn thread_texts(ctx: &Ctx, channel: &str, ts: &str) -> Vec<String> {
    ctx.stack
        .slack_app
        .replies(channel, ts)
        .iter()
        .map(|m| message_text(m.latest()))
        .collect()
}

fn parent_now(ctx: &Ctx, channel: &str, ts: &str) -> Result<Value> {
    ctx.stack
        .slack_app
        .parents(channel)
        .into_iter()
        .find(|m| m.ts == ts)
        .map(|m| m.latest().clone())
        .context("the alert is gone")
}

fn click(user: &str, action: &str) -> Click {
    Click::new(user, action)
}

fn answered_in_time(answer: &local_stack::slack_app::ClickAnswer) -> Result<()> {
    ensure!(
        answer.elapsed < ACK_DEADLINE,
        "the receiver answered after {:?}: Slack shows the person a timeout warning past 3 s",
        answer.elapsed
    );
    Ok(())
}

/// Scenario 40: Approval mode, a person's console change on a real workspace →
/// the alert asks; Alice clicks Fix drift → the targeted run really applies,
/// Remediated with Alice in the record, the run's message and the thread;
/// the alert's buttons are gone.
pub async fn s40_approved_fix(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s40-approve");
    let channel = "C0S40APPROVE";
    let (group, event) = alice_opens_ssh(&ctx, ws, 40).await?;
    let arn = ctx.stack.deliver_expecting_execution(&event).await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let text = message_text(alert.latest());
    ensure_contains(
        &text,
        &[
            "Drift detected",
            "aws_security_group.web",
            "[Fix drift]",
            "[Accept drift]",
            "[Dismiss]",
        ],
    )?;
    let answer = ctx
        .stack
        .slack_app
        .click(channel, &alert.ts, &click(ALICE, action_ids::FIX))
        .await?;
    ensure!(answer.status == 200, "the click was answered {answer:?}");
    answered_in_time(&answer)?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[HEAD, PLAN, ASKED, FIX_APPROVED, REMEDIATED]),
    )?;
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::Remediated)?;
    let approver = record
        .approval
        .as_ref()
        .and_then(|a| a.by.as_ref())
        .context("no approver in the record")?;
    ensure!(
        approver.id == ALICE && approver.name == "alice",
        "approver {approver:?}"
    );
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    let fix = runs
        .iter()
        .find(|r| !r.plan_only)
        .context("no remediation run")?;
    ensure!(
        fix.status == "applied" && fix.target_addrs == ["aws_security_group.web"],
        "remediation run: {fix:?}"
    );
    ensure_contains(&fix.message, &["approved by alice (U0ALICE) in Slack"])?;
    let rules = Console::new(&ctx.stack.raw).ingress_rules(&group).await?;
    ensure!(
        !rules.iter().any(|r| r.from_port == 22),
        "port 22 still open: {rules:?}"
    );
    // One thread: who approved, then the result; the parent says remediated.
    let replies = thread_texts(&ctx, channel, &alert.ts);
    ensure!(replies.len() == 2, "thread replies: {replies:#?}");
    ensure_contains(&replies[0], &["@U0ALICE approved the fix"])?;
    ensure_contains(
        &replies[1],
        &["Drift remediated", "Applied remediation run"],
    )?;
    let parent = parent_now(&ctx, channel, &alert.ts)?;
    let parent_text = message_text(&parent);
    ensure!(
        parent_text.starts_with("🛠️ Drift remediated: e2e/s40-approve"),
        "parent:\n{parent_text}"
    );
    ensure_contains(&parent_text, &["approved by @U0ALICE"])?;
    ensure!(
        !parent.to_string().contains(action_ids::FIX),
        "the buttons are still on the alert"
    );
    ensure!(
        ctx.stack.slack_app.parents(channel).len() == 1,
        "more than one alert"
    );
    ensure!(
        messages(&ctx, ws).is_empty(),
        "the webhook got a message too"
    );
    Ok(())
}

/// Scenario 41: Accept → DriftAccepted (by whom, why, until when); the same
/// drift again raises no alert and asks nobody; once the date has passed
/// (the harness moves it into the past) it alerts again, in a new thread.
pub async fn s41_accepted_until_a_date(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s41-accept");
    let channel = "C0S41ACCEPT";
    let until = (chrono::Utc::now().date_naive() + chrono::Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let event = || event_for("console-authorize-security-group-ingress", 41);
    let arn = ctx.stack.deliver_expecting_execution(&event()?).await?;
    let alert = asked(&ctx, &arn, channel).await?;
    // Without a reason the person is told what to do, and nothing is decided.
    let no_reason = ctx
        .stack
        .slack_app
        .click(channel, &alert.ts, &click(ALICE, action_ids::ACCEPT))
        .await?;
    ensure!(
        no_reason.status == 200 && no_reason.text().contains("Write why"),
        "{no_reason:?}"
    );
    let mut accept = click(ALICE, action_ids::ACCEPT);
    accept.reason = Some("vendor hot-fix, reverted in release 42".into());
    accept.until = Some(until.clone());
    let answer = ctx
        .stack
        .slack_app
        .click(channel, &alert.ts, &accept)
        .await?;
    ensure!(
        answer.status == 200 && answer.text().contains("accepted until"),
        "{answer:?}"
    );
    answered_in_time(&answer)?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            ASKED,
            &[
                "Read the decision",
                "Decision?",
                "Record outcome",
                "Notify outcome",
            ],
            OUTCOME_TAIL,
        ]),
    )?;
    let first = records(&ctx, ws).await?;
    let accepted = one_record(&first, CheckStatus::DriftAccepted)?;
    let acceptance = accepted
        .acceptance
        .clone()
        .context("no acceptance in the record")?;
    ensure!(
        acceptance.by.id == ALICE
            && acceptance.reason == "vendor hot-fix, reverted in release 42"
            && acceptance.until == until,
        "acceptance {acceptance:?}"
    );
    ensure_contains(
        &thread_texts(&ctx, channel, &alert.ts).join("\n"),
        &["accepted the drift", &until],
    )?;

    // The same drift before the date: recorded, no alert, nobody asked.
    let report = check(&ctx, &event()?).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            &["Remediation mode?", "Record outcome", "Notify outcome"],
            SUPPRESSED_TAIL,
        ]),
    )?;
    let suppressed = report
        .output
        .as_ref()
        .and_then(|o| o.pointer("/results/0/notified"))
        .cloned();
    ensure!(
        suppressed == Some(json!(false)),
        "results: {:?}",
        report.output
    );
    ensure!(
        ctx.stack.slack_app.parents(channel).len() == 1,
        "accepted drift was alerted again"
    );
    let second = records(&ctx, ws).await?;
    let quiet = second
        .iter()
        .find(|r| r.execution_id == report.arn)
        .context("no record of the second check")?;
    ensure!(
        quiet.status == CheckStatus::DriftDetected && quiet.acceptance.is_some(),
        "second check: {:?} {:?}",
        quiet.status,
        quiet.acceptance
    );

    // Time passes: the acceptance's last day is over.
    end_acceptance(&ctx, ws, &acceptance.fingerprint).await?;
    let arn = ctx.stack.deliver_expecting_execution(&event()?).await?;
    let again = asked(&ctx, &arn, channel).await?;
    ensure!(
        again.ts != alert.ts,
        "the drift alerted again in the old thread"
    );
    ctx.stack
        .slack_app
        .click(channel, &again.ts, &click(ALICE, action_ids::DISMISS))
        .await?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    ensure!(ctx.stack.slack_app.parents(channel).len() == 2);
    let statuses: Vec<CheckStatus> = records(&ctx, ws).await?.iter().map(|r| r.status).collect();
    ensure!(
        statuses
            == [
                CheckStatus::DriftAccepted,
                CheckStatus::DriftDetected,
                CheckStatus::DriftDismissed
            ],
        "records: {statuses:?}"
    );
    Ok(())
}

/// Moves an acceptance's end into the past, as if its date had passed.
async fn end_acceptance(ctx: &Ctx, ws: Ws, fingerprint: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    ctx.stack
        .dynamodb
        .update_item()
        .table_name(&ctx.stack.outputs.history_table_name)
        .key("pk", AttributeValue::S(format!("WS#{}/{}", ws.0, ws.1)))
        .key("sk", AttributeValue::S(format!("ACCEPTED#{fingerprint}")))
        .update_expression("SET until_epoch = :past")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "end the acceptance: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// Scenario 42: Bob, an approver through the user group, dismisses → DriftDismissed,
/// nothing changed; later a clean check resolves the drift in its thread.
pub async fn s42_dismissed_then_resolved(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s42-dismiss");
    let channel = "C0S42DISMISS";
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 42)?)
        .await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let answer = ctx
        .stack
        .slack_app
        .click(channel, &alert.ts, &click(BOB, action_ids::DISMISS))
        .await?;
    ensure!(
        answer.status == 200,
        "a user-group approver was refused: {answer:?}"
    );
    answered_in_time(&answer)?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            ASKED,
            &[
                "Read the decision",
                "Decision?",
                "Record outcome",
                "Notify outcome",
            ],
            OUTCOME_TAIL,
        ]),
    )?;
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDismissed)?;
    ensure!(
        record
            .approval
            .as_ref()
            .and_then(|a| a.by.as_ref())
            .is_some_and(|u| u.id == BOB),
        "{:?}",
        record.approval
    );
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "something was remediated"
    );
    ensure_contains(
        &thread_texts(&ctx, channel, &alert.ts).join("\n"),
        &["@U0BOB dismissed the alert"],
    )?;

    // Someone reverts the change by hand: the next check is clean and says so in the thread.
    ctx.stack.tfc.set_scenario(ws.0, ws.1, Scenario::default());
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", 42)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, NO_DRIFT]))?;
    let replies = thread_texts(&ctx, channel, &alert.ts);
    ensure_contains(
        replies.last().map(String::as_str).unwrap_or(""),
        &["Resolved"],
    )?;
    let parent = message_text(&parent_now(&ctx, channel, &alert.ts)?);
    ensure!(
        parent.starts_with("✅ Drift resolved: e2e/s42-dismiss"),
        "parent:\n{parent}"
    );
    ensure!(
        ctx.stack.slack_app.parents(channel).len() == 1,
        "the clean check posted a new message"
    );
    Ok(())
}

/// Scenario 43: Nobody decides within approval_timeout_hours → ApprovalExpired,
/// nothing changed, the thread says so; a late click (on a client still
/// showing the buttons) answers "this check has expired".
pub async fn s43_expired(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s43-expire");
    let channel = "C0S43EXPIRE";
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 43)?)
        .await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            ASKED,
            &["Record outcome", "Notify outcome"],
            OUTCOME_TAIL,
        ]),
    )?;
    let began = report
        .visits("Wait for approval")
        .first()
        .context("no wait")?
        .entered;
    ensure!(
        report.recorded_statuses() == ["DriftDetected", "ApprovalExpired"],
        "recorded {:?}",
        report.recorded_statuses()
    );
    let ended = report
        .visits("Record outcome")
        .get(1)
        .context("not recorded as expired")?
        .entered;
    let waited = (ended - began).to_std().unwrap_or_default();
    ensure!(
        waited >= Duration::from_secs(80),
        "the wait ended after {waited:?}, before approval_timeout_hours (90 s)"
    );
    one_record(&records(&ctx, ws).await?, CheckStatus::ApprovalExpired)?;
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "something was remediated"
    );
    ensure_contains(
        &thread_texts(&ctx, channel, &alert.ts).join("\n"),
        &["No decision in time"],
    )?;
    let parent = parent_now(&ctx, channel, &alert.ts)?;
    ensure!(
        !parent.to_string().contains(action_ids::FIX),
        "the expired buttons are still there"
    );
    let mut late = click(ALICE, action_ids::FIX);
    late.stale_view = true;
    let answer = ctx.stack.slack_app.click(channel, &alert.ts, &late).await?;
    ensure!(answer.status == 200, "{answer:?}");
    ensure_contains(&answer.text(), &["This check has expired"])?;
    let told = ctx.stack.slack_app.ephemerals_for(ALICE);
    ensure!(
        told.iter().any(|e| e.message_ts == alert.ts
            && e.payload.to_string().contains("This check has expired")),
        "Alice was not told the check expired: {told:?}"
    );
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "a late click remediated"
    );
    Ok(())
}

/// Scenario 44: A forged signature and a stale timestamp → 401, a person who is
/// not an approver → 403; the execution keeps waiting; then an approver decides.
pub async fn s44_refused_clicks(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s44-forged");
    let channel = "C0S44FORGED";
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 44)?)
        .await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let slack = &ctx.stack.slack_app;
    let mut forged = click(ALICE, action_ids::FIX);
    forged.forged = true;
    let answer = slack.click(channel, &alert.ts, &forged).await?;
    ensure!(answer.status == 401, "forged signature answered {answer:?}");
    let mut stale = click(ALICE, action_ids::FIX);
    stale.timestamp_offset = -600;
    let answer = slack.click(channel, &alert.ts, &stale).await?;
    ensure!(answer.status == 401, "stale timestamp answered {answer:?}");
    ensure_contains(&answer.text(), &["timestamp"])?;
    let answer = slack
        .click(channel, &alert.ts, &click(MALLORY, action_ids::FIX))
        .await?;
    ensure!(answer.status == 403, "a non-approver answered {answer:?}");
    answered_in_time(&answer)?;
    ensure!(
        slack
            .ephemerals_for(MALLORY)
            .iter()
            .any(|e| e.payload.to_string().contains("not an approver")),
        "Mallory was not told why"
    );
    // Still waiting, nothing decided, nothing remediated.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = ctx.stack.executions.report(&arn).await?;
    ensure!(
        report.is_running()
            && report
                .states
                .last()
                .is_some_and(|s| s.name == "Wait for approval"),
        "the execution did not keep waiting\n{}",
        states_table(&report)
    );
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "a refused click remediated"
    );
    let answer = slack
        .click(channel, &alert.ts, &click(ALICE, action_ids::DISMISS))
        .await?;
    ensure!(answer.status == 200, "{answer:?}");
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    one_record(&records(&ctx, ws).await?, CheckStatus::DriftDismissed)?;
    Ok(())
}

/// Scenario 45: Two approvers click Fix at once → one decision, one remediation run;
/// the other is told it was already decided.
pub async fn s45_double_click(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s45-double");
    let channel = "C0S45DOUBLE";
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 45)?)
        .await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let slack = &ctx.stack.slack_app;
    let alice = click(ALICE, action_ids::FIX);
    let bob = click(BOB, action_ids::FIX);
    let (a, b) = tokio::join!(
        slack.click(channel, &alert.ts, &alice),
        slack.click(channel, &alert.ts, &bob)
    );
    let (a, b) = (a?, b?);
    ensure!(a.status == 200 && b.status == 200, "answers {a:?} {b:?}");
    let decided = [&a, &b]
        .iter()
        .filter(|x| x.text().contains("Fix approved"))
        .count();
    let noop = [&a, &b]
        .iter()
        .filter(|x| x.text().contains("Already decided"))
        .count();
    ensure!(decided == 1 && noop == 1, "answers {a:?} {b:?}");
    // A third click after the decision is a no-op too.
    let mut again = click(ALICE, action_ids::FIX);
    again.stale_view = true;
    let c = slack.click(channel, &alert.ts, &again).await?;
    ensure!(c.text().contains("Already decided"), "{c:?}");
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[HEAD, PLAN, ASKED, FIX_APPROVED, REMEDIATED]),
    )?;
    let fixes = ctx
        .stack
        .tfc
        .runs(ws.0, ws.1)
        .iter()
        .filter(|r| !r.plan_only)
        .count();
    ensure!(fixes == 1, "{fixes} remediation runs");
    one_record(&records(&ctx, ws).await?, CheckStatus::Remediated)?;
    Ok(())
}

/// Scenario 46: Slack's Web API is down for the workspace's channel → the
/// check is recorded, the execution fails at Notify drift (redrivable there);
/// once Slack is back, re-running that step (what a redrive does) posts the
/// alert with its buttons, once.
pub async fn s46_slack_api_down(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s46-slack-api-down");
    let channel = "C0S46DOWN";
    ctx.stack.slack_app.set_channel_down(channel, true);
    let result = async {
        let report = check(
            &ctx,
            &event_for("console-authorize-security-group-ingress", 46)?,
        )
        .await?;
        expect_status(&report, "FAILED")?;
        let failed = report.failed_state().context("no failed state")?.clone();
        ensure!(
            failed.name == "Notify outcome" && report.error.as_deref() == Some("SlackUnavailable"),
            "failed in {} with {:?}\n{}",
            failed.name,
            report.error,
            states_table(&report)
        );
        ensure!(
            failed.attempts >= 2,
            "notify was not retried\n{}",
            states_table(&report)
        );
        one_record(&records(&ctx, ws).await?, CheckStatus::DriftDetected)?;
        Ok::<_, anyhow::Error>(failed)
    }
    .await;
    ctx.stack.slack_app.set_channel_down(channel, false);
    let failed = result?;
    ensure!(ctx.stack.slack_app.parents(channel).is_empty());
    let input = failed
        .input
        .clone()
        .context("no input recorded for Notify drift")?;
    for _ in 0..2 {
        let answer = ctx.stack.invoke("notify", &input).await?;
        ensure!(
            answer.is_ok(),
            "notify after recovery: {:?}",
            answer.payload
        );
        ensure!(
            answer.payload.get("approval_requested") == Some(&json!(true)),
            "{:?}",
            answer.payload
        );
    }
    let alerts = ctx.stack.slack_app.parents(channel);
    ensure!(
        alerts.len() == 1,
        "{} alerts after re-running the step twice",
        alerts.len()
    );
    ensure!(alerts[0].latest().to_string().contains(action_ids::FIX));
    Ok(())
}

/// The task token of the execution's open `Wait for approval` task, as anyone
/// allowed `states:GetExecutionHistory` reads it: the `TaskScheduled` event's
/// parameters hold the function's payload, token included.
async fn task_token_from_history(ctx: &Ctx, arn: &str) -> Result<String> {
    let events = ctx.stack.executions.history(arn).await?;
    let scheduled = events
        .iter()
        .rev()
        .filter(|e| e.kind == "TaskScheduled")
        .filter_map(|e| serde_json::from_str::<Value>(e.input.as_deref()?).ok())
        .find_map(|p| {
            p.pointer("/Payload/task_token")?
                .as_str()
                .map(str::to_string)
        });
    scheduled.context("no TaskScheduled event with a task token in the execution history")
}

/// Scenario 47: Someone reads the task token from the execution history and
/// calls `SendTaskSuccess` with `{"decision": "fix", …}` themselves, not
/// through the signed Slack receiver → the forged output is only a wake-up:
/// `Read the decision` finds no decision the receiver recorded, the check
/// ends in the Fail state `No recorded decision` (NoRecordedDecision),
/// nothing is remediated; on-failure says so in the drift's thread.
pub async fn s47_forged_wake_up(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s47-forged-wake-up");
    let channel = "C0S47WAKEUP";
    let arn = ctx
        .stack
        .deliver_expecting_execution(&event_for("console-authorize-security-group-ingress", 47)?)
        .await?;
    let alert = asked(&ctx, &arn, channel).await?;
    let token = task_token_from_history(&ctx, &arn).await?;
    // The waiting function has kept the token (the task was submitted) before
    // the forged call, as a reader of the history would find it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let events = ctx.stack.executions.history(&arn).await?;
        if events.iter().any(|e| e.kind == "TaskSubmitted") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let forged = json!({
        "decision": "fix",
        "by": {"id": ALICE, "name": "alice"},
        "decided_at": chrono::Utc::now().to_rfc3339(),
    });
    ctx.stack
        .executions
        .client
        .send_task_success()
        .task_token(&token)
        .output(forged.to_string())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "SendTaskSuccess: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        })?;
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "FAILED")?;
    ensure!(
        report.error.as_deref() == Some("NoRecordedDecision"),
        "error {:?} (cause {:?})\n{}",
        report.error,
        report.cause,
        states_table(&report)
    );
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            ASKED,
            &["Read the decision", "Decision?", "No recorded decision"],
        ]),
    )?;
    // The forged decision did reach the execution (the wait's output, kept
    // in $.approval_wakeup), and was not what it acted on.
    let visit = |state: &str| {
        report
            .visits(state)
            .first()
            .map(|v| (*v).clone())
            .with_context(|| format!("no {state} visit"))
    };
    let either = |value: &Option<Value>, pointers: &[&str]| {
        pointers
            .iter()
            .find_map(|p| value.as_ref()?.pointer(p).cloned())
    };
    let wait = visit("Wait for approval")?;
    ensure!(
        either(&wait.output, &["/approval_wakeup/decision", "/decision"]) == Some(json!("fix")),
        "the forged output did not reach the execution: {:?}",
        wait.output
    );
    let read = visit("Read the decision")?;
    ensure!(
        either(&read.output, &["/approval/decision", "/decision"]) == Some(json!("none")),
        "Read the decision answered {:?}",
        read.output
    );
    ensure!(
        !report.visited("Create remediation run") && !report.visited("Notify fix approved"),
        "the forged decision was acted on\n{}",
        states_table(&report)
    );
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    ensure!(
        runs.iter().all(|r| r.plan_only),
        "something was remediated: {runs:?}"
    );
    ensure!(
        !thread_texts(&ctx, channel, &alert.ts)
            .iter()
            .any(|t| t.contains("approved the fix")),
        "the thread says the fix was approved"
    );
    // EventBridge hands the failure to on-failure: told in the drift's
    // thread, the buttons expire; the record stays the drift as alerted (a
    // failure before any recorded decision keeps the DriftDetected record).
    let _slack = ctx.slack.read().await;
    let outcome = ctx
        .stack
        .deliver_failure_event(&report)
        .await?
        .context("the failure rule did not match the FAILED execution")?;
    ensure!(outcome.is_ok(), "on-failure failed: {:?}", outcome.payload);
    ensure_contains(
        &thread_texts(&ctx, channel, &alert.ts).join("\n"),
        &["NoRecordedDecision"],
    )?;
    ensure!(
        !parent_now(&ctx, channel, &alert.ts)?
            .to_string()
            .contains(action_ids::FIX),
        "the buttons are still on the alert of the failed check"
    );
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    ensure!(
        record.remediation.is_none()
            && record
                .approval
                .as_ref()
                .is_none_or(|a| a.decision.as_str() != "fix"),
        "the record holds a fix: {:?} {:?}",
        record.approval,
        record.remediation
    );
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "on-failure remediated"
    );
    Ok(())
}

/// Scenario 48: Approval mode on a real workspace: the alert shows port 22
/// opened on the group; after the alert (while the check waits) the group's
/// Owner tag is changed too; Alice clicks Fix drift → the targeted run's plan
/// reverts the ingress and the tag, more than the alert showed: the Fix ends
/// RemediationSkipped naming the tag path, the run is discarded, never
/// applied (port 22 and the tag stay as they are).
pub async fn s48_fix_reverts_only_what_was_seen(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s48-fix-sees-more");
    let channel = "C0S48MORE";
    let (group, event) = alice_opens_ssh(&ctx, ws, 48).await?;
    let arn = ctx.stack.deliver_expecting_execution(&event).await?;
    let alert = asked(&ctx, &arn, channel).await?;
    ensure_contains(&message_text(alert.latest()), &["aws_security_group.web"])?;
    // After the alert, someone changes the same group's Owner tag.
    let console = Console::new(&ctx.stack.raw);
    console
        .tag_resource(&group, &[("Owner", "mallory")])
        .await?;
    let answer = ctx
        .stack
        .slack_app
        .click(channel, &alert.ts, &click(ALICE, action_ids::FIX))
        .await?;
    ensure!(answer.status == 200, "the click was answered {answer:?}");
    let report = ctx.stack.wait(&arn, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(
        &report,
        &path(&[
            HEAD,
            PLAN,
            ASKED,
            FIX_APPROVED,
            &["Record outcome", "Notify outcome"],
            OUTCOME_TAIL,
        ]),
    )?;
    let records = records(&ctx, ws).await?;
    let record = one_record(&records, CheckStatus::RemediationSkipped)?;
    let safety = record
        .remediation
        .as_ref()
        .and_then(|r| r.safety.as_ref())
        .context("no safety assessment in the record")?;
    ensure!(!safety.safe && safety.discarded, "{safety:?}");
    // What the alert showed (and Alice approved): the group's ingress only.
    let seen: Vec<&String> = record
        .drift
        .iter()
        .flat_map(|d| d.resources.iter())
        .filter(|r| r.address == "aws_security_group.web")
        .flat_map(|r| r.changed_attributes.iter())
        .collect();
    ensure!(
        !seen.is_empty() && seen.iter().all(|p| p.starts_with("ingress")),
        "the approved drift of the group: {seen:?}"
    );
    ensure_contains(
        &safety.reason,
        &[
            "would also revert what the alert did not show",
            "aws_security_group.web: tags",
            "drifted since the alert",
        ],
    )?;
    ensure!(
        !safety.reason.contains("ingress"),
        "the reason names the approved path too: {}",
        safety.reason
    );
    let runs = ctx.stack.tfc.runs(ws.0, ws.1);
    let fix = runs
        .iter()
        .find(|r| !r.plan_only)
        .context("no remediation run")?;
    ensure!(
        fix.target_addrs == ["aws_security_group.web"]
            && fix.actions == ["discard"]
            && fix.status == "discarded"
            && !fix
                .statuses
                .iter()
                .any(|s| s == "applied" || s == "confirmed"),
        "remediation run: {fix:?}"
    );
    // Nothing was applied: the group is as the person left it.
    let rules = console.ingress_rules(&group).await?;
    ensure!(
        rules.iter().any(|r| r.from_port == 22),
        "port 22 was closed: {rules:?}"
    );
    let tags = console.security_group_tags(&group).await?;
    ensure!(
        tags.iter().any(|(k, v)| k == "Owner" && v == "mallory"),
        "the tag was reverted: {tags:?}"
    );
    ensure_contains(
        &thread_texts(&ctx, channel, &alert.ts).join("\n"),
        &["Remediation skipped", "aws_security_group.web: tags"],
    )?;
    Ok(())
}

/// Scenario 49: Approval mode on a real workspace: port 22 opened on the
/// group is alerted (with the buttons) and waits for a decision; then the
/// same ingress rule set is changed again (RDP opened too: the same drifted
/// path, another value) → the second check's fingerprint is new, and it is
/// alerted as "🔁 Drift changed again by alice" in the drift's existing
/// thread, with its own buttons, not as a new alert; dismissing it there
/// decides the second check.
pub async fn s49_changed_again_in_the_thread(ctx: Arc<Ctx>) -> Result<()> {
    let ws = (ORG, "s49-changed-again");
    let channel = "C0S49AGAIN";
    let (group, event) = alice_opens_ssh(&ctx, ws, 49).await?;
    let first = ctx.stack.deliver_expecting_execution(&event).await?;
    let alert = asked(&ctx, &first, channel).await?;

    Console::new(&ctx.stack.raw)
        .open_port_to_world(&group, 3389, "remote desktop, just for today")
        .await?;
    let mut again = console::authorize_ingress_event(
        event_for("console-authorize-security-group-ingress", 49)?,
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
    let second = ctx.stack.deliver_expecting_execution(&again).await?;
    // The second check waits for its decision; its alert is a reply in the thread.
    let deadline = Instant::now() + WAIT;
    let reply = loop {
        let report = ctx.stack.executions.report(&second).await?;
        let waiting = report
            .states
            .last()
            .is_some_and(|s| s.name == "Wait for approval" && s.exited.is_none());
        if waiting {
            break ctx
                .stack
                .slack_app
                .replies(channel, &alert.ts)
                .into_iter()
                .find(|m| message_text(m.latest()).contains("changed again"))
                .with_context(|| {
                    format!(
                        "the second check waits, but the drift's thread has no \"changed again\" reply: {:#?}",
                        thread_texts(&ctx, channel, &alert.ts)
                    )
                })?;
        }
        ensure!(
            report.is_running() && Instant::now() < deadline,
            "the second check did not ask for a decision ({})\n{}",
            report.status,
            states_table(&report)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let text = message_text(reply.latest());
    ensure_contains(
        &text,
        &["Drift changed again by", "alice", "aws_security_group.web"],
    )?;
    ensure!(
        reply.latest().to_string().contains(action_ids::FIX),
        "the changed-again reply has no buttons:\n{text}"
    );
    ensure!(
        ctx.stack.slack_app.parents(channel).len() == 1,
        "the changed drift started a new thread"
    );
    ensure!(
        messages(&ctx, ws).is_empty(),
        "the webhook got a message too"
    );
    // Alice dismisses the changed drift in the reply: the second check is decided there.
    let answer = ctx
        .stack
        .slack_app
        .click(channel, &reply.ts, &click(ALICE, action_ids::DISMISS))
        .await?;
    ensure!(answer.status == 200, "the click was answered {answer:?}");
    let report = ctx.stack.wait(&second, WAIT).await?;
    expect_status(&report, "SUCCEEDED")?;
    ensure!(
        report.recorded_statuses() == ["DriftDetected", "DriftDismissed"],
        "the second check recorded {:?}\n{}",
        report.recorded_statuses(),
        states_table(&report)
    );
    // The first check, still waiting on the parent's buttons, is dismissed too.
    let mut dismiss_first = click(ALICE, action_ids::DISMISS);
    dismiss_first.stale_view = true;
    ctx.stack
        .slack_app
        .click(channel, &alert.ts, &dismiss_first)
        .await?;
    ctx.stack.wait(&first, WAIT).await?;

    let records = records(&ctx, ws).await?;
    let of = |arn: &str| {
        records
            .iter()
            .find(|r| r.execution_id == arn)
            .and_then(|r| r.drift.clone().map(|d| (r.fingerprint.clone(), d)))
            .with_context(|| format!("no record with drift of {arn}"))
    };
    let ((fa, da), (fb, db)) = (of(&first)?, of(&second)?);
    ensure!(
        !fa.is_empty() && fa != fb,
        "the changed drift kept the fingerprint {fa}"
    );
    ensure!(
        da.paths_fingerprint == db.paths_fingerprint && !da.paths_fingerprint.is_empty(),
        "the second change drifted other paths: {:?} vs {:?}",
        da.resources
            .iter()
            .map(|r| (&r.address, &r.changed_attributes))
            .collect::<Vec<_>>(),
        db.resources
            .iter()
            .map(|r| (&r.address, &r.changed_attributes))
            .collect::<Vec<_>>()
    );
    ensure!(
        ctx.stack.tfc.runs(ws.0, ws.1).iter().all(|r| r.plan_only),
        "something was remediated"
    );
    Ok(())
}
