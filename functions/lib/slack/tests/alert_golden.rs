//! Golden tests of every Slack message, thread reply and parent update
//! DriftGuard sends, for every outcome.
//!
//! These goldens pin TODAY's behaviour: they were generated from the code as
//! it was when this file was written, without changing any production code,
//! so that a later refactor (alerting moving to its own crate) can prove it
//! changed nothing. Each case is one pretty-printed JSON file under
//! `tests/golden/alerts/`, named after the case: the exact payload, its
//! `message_text` plain rendering (one string per line) and, for messages,
//! what `limits_problem` says. A case that renders differently fails; a
//! missing golden fails. To (re)write them on purpose, run
//! `DRIFTGUARD_BLESS=1 cargo test -p driftguard-slack --test alert_golden`
//! and review the diff. A golden no case writes fails too (stale).
//!
//! Every input is fixed (times, ids, Slack timestamps); the one random value,
//! the decision request id `conversation::notify` draws, is replaced by
//! `<approval-id>` in the flows' goldens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use driftguard_core::alerting::{self, ChatApp};
use driftguard_core::approval;
use driftguard_core::config::Config;
use driftguard_core::model::{
    Acceptance, Actor, ApprovalDecision, AwaitDecisionRequest, Change, CheckOutcome, CheckRef,
    CheckStatus, DriftDecision, DriftReport, DriftedResource, Failure, Notification, NotifyAction,
    NotifyRequest, PendingChanges, Phase, PollState, ReadDecisionRequest, RecordResult,
    RemediationMode, RemediationOutcome, RunInfo, SafetyAssessment, SlackUser, ThreadRef,
};
use driftguard_core::ports::ChatApi;
use driftguard_core::secrets::StaticSecrets;
use driftguard_core::steps;
use driftguard_slack::interaction::action_ids;
use driftguard_slack::request_url::{CallbackRequest, GroupCache, Receiver, SigningSecret};
use driftguard_slack::thread::{self, DecisionRequest};
use driftguard_slack::{
    build_changed_again, build_decision_alert, build_message, limits_problem, message_text,
    signature,
};
use driftguard_testkit::InMemoryConversations;
use driftguard_testkit::InMemoryHistory;
use driftguard_testkit::{InMemoryApprovals, RecordingTasks};
use driftguard_testkit::{RecordingChat, RecordingNotifier};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The golden mechanism
// ---------------------------------------------------------------------------

const BLESS: &str = "DRIFTGUARD_BLESS";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/alerts")
}

fn blessing() -> bool {
    std::env::var(BLESS).is_ok_and(|v| v == "1")
}

type Cases = Vec<(String, Value)>;

/// Compares each case with its golden file (or writes it with `DRIFTGUARD_BLESS=1`);
/// fails listing every case that differs or has no golden.
fn check_goldens(cases: Cases) {
    let dir = golden_dir();
    let mut problems = Vec::new();
    for (name, actual) in cases {
        let path = dir.join(format!("{name}.json"));
        let text = format!("{}\n", serde_json::to_string_pretty(&actual).unwrap());
        if blessing() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == text => {}
            Ok(expected) => problems.push(format!(
                "{name}: the rendering differs from {}\n{}",
                path.display(),
                first_difference(&expected, &text)
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(format!(
                "{name}: no golden file {}; run with {BLESS}=1 \
                 (`{BLESS}=1 cargo test -p driftguard-slack --test alert_golden`) to write it, then review it",
                path.display()
            )),
            Err(e) => problems.push(format!("{name}: cannot read {}: {e}", path.display())),
        }
    }
    assert!(
        problems.is_empty(),
        "{} golden case(s) failed (if the change is intended, rerun with {BLESS}=1 and review the diff):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The first differing line of two goldens, with a little context.
fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = (0..e.len().max(a.len()))
        .find(|&i| e.get(i) != a.get(i))
        .unwrap_or(0);
    let from = at.saturating_sub(2);
    let show = |lines: &[&str]| {
        lines
            .iter()
            .enumerate()
            .skip(from)
            .take(5)
            .map(|(i, l)| format!("  {:>5} {l}", i + 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "first difference at line {}:\n--- golden\n{}\n+++ now\n{}",
        at + 1,
        show(&e),
        show(&a)
    )
}

/// A payload as a golden: the JSON, its plain rendering line by line, and
/// what breaks Block Kit's limits (`null`: nothing).
fn rendered(payload: &Value) -> Value {
    json!({
        "payload": payload,
        "message_text": lines(payload),
        "limits_problem": limits_problem(payload),
    })
}

fn lines(payload: &Value) -> Vec<String> {
    message_text(payload)
        .split('\n')
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Fixed inputs: a realistic drift of `acme/prod`
// ---------------------------------------------------------------------------

const EXEC_1: &str = "arn:aws:states:eu-west-1:123456789012:execution:driftguard-check:exec-1";
const STARTED: &str = "2026-11-22T10:00:05Z";
/// When the first alert goes out.
const NOW: &str = "2026-11-22T10:04:00Z";
const CHANNEL: &str = "C0DRIFT";
/// The decision request id of the function-level cases (the flows draw theirs).
const APPROVAL_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SSO_ALICE: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_4f1c2d3e5a6b7c8d/alice@example.com";
const IAM_BOB: &str = "arn:aws:iam::123456789012:user/ops/bob";

fn exec(name: &str) -> String {
    EXEC_1.replace("exec-1", name)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: BTreeMap<String, String> = BTreeMap::from([
        ("DRIFTGUARD_ORGANIZATION".into(), "acme".into()),
        ("DRIFTGUARD_WORKSPACE".into(), "prod".into()),
        ("DRIFTGUARD_PLAN_TIMEOUT_SECONDS".into(), "600".into()),
        ("AWS_REGION".into(), "eu-west-1".into()),
        ("DRIFTGUARD_REMEDIATION_MODE".into(), "approval".into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

/// The Slack app configured, `acme/prod` routed to `C0DRIFT`, decided by
/// Alice or the `S0OPS` group.
fn app_config() -> Config {
    let routes = r#"[{"organization":"acme","workspace":"prod","slack":{"channel":"C0DRIFT","approvers":["U0ALICE","S0OPS"]}}]"#;
    config(&[
        ("DRIFTGUARD_WORKSPACES", routes),
        (
            "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET",
            "driftguard/slack-bot-token",
        ),
    ])
}

fn execution_url(execution_id: &str) -> String {
    config(&[]).execution_url(execution_id)
}

/// Alice, through AWS IAM Identity Center (an SSO assumed role), in the console.
fn sso_change() -> Change {
    Change {
        event_id: "5f1c7e2a-0d4b-4c2e-9a61-3b8f0c2d9e10".into(),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2026-11-22T09:58:12Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "AssumedRole".into(),
            arn: Some(SSO_ALICE.into()),
            principal_id: Some("AROA3EXAMPLEALICE01:alice@example.com".into()),
        },
        source_ip: Some("203.0.113.9".into()),
        user_agent: Some("AWS Internal".into()),
        resources: vec!["sg-0a1b2c3d4e5f60718".into()],
    }
}

/// Bob, an IAM user under a path, with the CLI.
fn iam_user_change() -> Change {
    Change {
        event_id: "9b2d4f60-1a3c-4e5f-8d7c-6b5a49382716".into(),
        event_name: "ModifyInstanceAttribute".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2026-11-22T09:59:40Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "IAMUser".into(),
            arn: Some(IAM_BOB.into()),
            principal_id: Some("AIDA3EXAMPLEBOB0001".into()),
        },
        source_ip: Some("198.51.100.24".into()),
        user_agent: Some("aws-cli/2.15.30 Python/3.11.8 Linux/6.5".into()),
        resources: vec![
            "i-0123456789abcdef0".into(),
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0".into(),
        ],
    }
}

/// Bob again: a bucket policy deleted.
fn iam_user_s3_change() -> Change {
    Change {
        event_id: "0c4e6a8b-2d1f-4a3b-9c8d-7e6f5a4b3c2d".into(),
        event_name: "DeleteBucketPolicy".into(),
        event_source: "s3.amazonaws.com".into(),
        event_time: "2026-11-22T09:59:58Z".into(),
        resources: vec!["arn:aws:s3:::acme-prod-logs".into()],
        ..iam_user_change()
    }
}

fn plan_run(changes: Vec<Change>) -> RunInfo {
    RunInfo {
        run_id: "run-PLAN1a2b3c4d5e6f".into(),
        run_url: "https://app.terraform.io/app/acme/workspaces/prod/runs/run-PLAN1a2b3c4d5e6f"
            .into(),
        workspace_id: "ws-Prod1a2b3c4d5e6f".into(),
        plan_id: Some("plan-Xy12Ab34Cd56Ef78".into()),
        created_at: "2026-11-22T10:00:20Z".into(),
        changes,
        ..RunInfo::default()
    }
}

fn remediation_run() -> RunInfo {
    RunInfo {
        run_id: "run-FIX1a2b3c4d5e6f7".into(),
        run_url: "https://app.terraform.io/app/acme/workspaces/prod/runs/run-FIX1a2b3c4d5e6f7"
            .into(),
        created_at: "2026-11-22T10:06:00Z".into(),
        target_addrs: vec![
            "aws_security_group.web".into(),
            "aws_instance.app".into(),
            "aws_s3_bucket_policy.logs".into(),
            "aws_iam_access_key.ci".into(),
        ],
        ..plan_run(vec![])
    }
}

fn resource(address: &str, actions: &[&str], attributes: &[&str]) -> DriftedResource {
    DriftedResource {
        address: address.into(),
        resource_type: address.split('.').next().unwrap_or_default().into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        changed_attributes: attributes.iter().map(|a| a.to_string()).collect(),
        values_hash: format!("vh-{address}"),
        ..DriftedResource::default()
    }
}

/// Four drifted resources: an update, a replace, one deleted outside
/// Terraform (created again), and a delete; one more ignored by rules and
/// one with unapplied code.
fn drift() -> DriftReport {
    DriftReport {
        drifted: true,
        resource_count: 4,
        resources: vec![
            resource(
                "aws_security_group.web",
                &["update"],
                &["ingress", "tags.Owner"],
            ),
            DriftedResource {
                also_pending_code: true,
                ..resource(
                    "aws_instance.app",
                    &["delete", "create"],
                    &["instance_type", "user_data"],
                )
            },
            DriftedResource {
                deleted: true,
                ..resource("aws_s3_bucket_policy.logs", &["create"], &[])
            },
            DriftedResource {
                previous_address: Some("aws_iam_access_key.deploy".into()),
                ..resource("aws_iam_access_key.ci", &["delete"], &[])
            },
        ],
        truncated: false,
        omitted: 0,
        ignored: 1,
        fingerprint: "fp-3f9a1c0b7d2e4a6f".into(),
        paths_fingerprint: "pfp-8e7d6c5b4a392817".into(),
        pending_changes: PendingChanges {
            count: 1,
            ..PendingChanges::default()
        },
        ..DriftReport::default()
    }
}

/// What a fix would destroy or replace (planned actions include `delete`).
fn destructive() -> Vec<String> {
    vec!["aws_instance.app".into(), "aws_iam_access_key.ci".into()]
}

fn poll(status: &str, phase: Phase) -> PollState {
    PollState {
        phase,
        status: status.into(),
        has_changes: Some(true),
        next_wait_seconds: 0,
        polls: 5,
        elapsed_seconds: 95,
        detail: None,
        plan_seconds: Some(41),
        apply_seconds: (phase == Phase::Applied).then_some(38),
    }
}

fn alice() -> SlackUser {
    SlackUser {
        id: "U0ALICE".into(),
        name: "alice".into(),
    }
}

fn decided(decision: DriftDecision) -> ApprovalDecision {
    let accept = decision == DriftDecision::Accept;
    ApprovalDecision {
        decision,
        automatic: false,
        by: Some(alice()),
        decided_at: Some("2026-11-22T10:05:30Z".into()),
        reason: accept.then(|| "vendor hot-fix <INC-4211> & rollback planned".into()),
        until: accept.then(|| "2026-12-15".into()),
    }
}

fn automatic_fix() -> ApprovalDecision {
    ApprovalDecision {
        decision: DriftDecision::Fix,
        automatic: true,
        by: None,
        decided_at: None,
        reason: None,
        until: None,
    }
}

/// The drift as the check first finds it.
fn detected() -> CheckOutcome {
    CheckOutcome {
        status: CheckStatus::DriftDetected,
        check: check(),
        execution_id: EXEC_1.into(),
        started_at: STARTED.into(),
        change: Some(sso_change()),
        run: Some(plan_run(vec![
            sso_change(),
            iam_user_change(),
            iam_user_s3_change(),
        ])),
        drift: Some(drift()),
        remediation: None,
        failure: None,
        approval: None,
        poll: Some(poll("planned", Phase::Planned)),
    }
}

/// A realistic outcome of `status`, the drift of [`detected`] where it has one.
fn outcome(status: CheckStatus) -> CheckOutcome {
    let mut out = CheckOutcome {
        status,
        ..detected()
    };
    match status {
        CheckStatus::NoDrift => {
            out.run = Some(plan_run(vec![sso_change()]));
            out.drift = Some(DriftReport {
                pending_changes: PendingChanges {
                    count: 2,
                    ..PendingChanges::default()
                },
                ..DriftReport::default()
            });
        }
        CheckStatus::DriftDetected => {}
        CheckStatus::Remediated => {
            out.approval = Some(decided(DriftDecision::Fix));
            out.remediation = Some(RemediationOutcome {
                run: Some(remediation_run()),
                safety: Some(SafetyAssessment {
                    safe: true,
                    reason: "the plan changes back only the drifted resources".into(),
                    reverts: vec![
                        "aws_security_group.web".into(),
                        "aws_instance.app".into(),
                        "aws_s3_bucket_policy.logs".into(),
                    ],
                    reverts_count: 3,
                    no_longer_drifted: vec!["aws_iam_access_key.ci".into()],
                    ..SafetyAssessment::default()
                }),
                final_poll: Some(poll("applied", Phase::Applied)),
            });
        }
        CheckStatus::RemediationSkipped => {
            out.approval = Some(decided(DriftDecision::Fix));
            out.remediation = Some(RemediationOutcome {
                run: Some(remediation_run()),
                safety: Some(SafetyAssessment {
                    safe: false,
                    reason: "the plan would replace 1 resource & destroy 1, and destructive remediation is off (allow_destructive_remediation = false)".into(),
                    destructive_addresses: destructive(),
                    discarded: true,
                    ..SafetyAssessment::default()
                }),
                final_poll: Some(poll("planned", Phase::AwaitingApply)),
            });
        }
        CheckStatus::RemediationFailed => {
            out.approval = Some(automatic_fix());
            out.remediation = Some(RemediationOutcome {
                run: Some(remediation_run()),
                safety: Some(SafetyAssessment {
                    safe: true,
                    reason: "the plan changes back only the drifted resources".into(),
                    reverts_count: 4,
                    ..SafetyAssessment::default()
                }),
                final_poll: Some(poll("errored", Phase::Errored)),
            });
        }
        CheckStatus::DriftAccepted => out.approval = Some(decided(DriftDecision::Accept)),
        CheckStatus::DriftDismissed => out.approval = Some(decided(DriftDecision::Dismiss)),
        CheckStatus::ApprovalExpired => {}
        CheckStatus::CheckFailed => {
            out.drift = None;
            out.poll = None;
            out.failure = Some(Failure {
                error: "TfcUnavailable".into(),
                cause: "HCP Terraform answered 503 Service Unavailable for GET /api/v2/runs/run-PLAN1a2b3c4d5e6f/plan (3 attempts); `retry` later".into(),
                failed_state: Some("Wait for plan".into()),
                redrive_count: 1,
            });
        }
    }
    out
}

/// The "Notify fix approved" outcome: still DriftDetected, with Alice's fix.
fn fix_approved() -> CheckOutcome {
    CheckOutcome {
        approval: Some(decided(DriftDecision::Fix)),
        ..detected()
    }
}

const STATUSES: [CheckStatus; 9] = [
    CheckStatus::NoDrift,
    CheckStatus::DriftDetected,
    CheckStatus::Remediated,
    CheckStatus::RemediationSkipped,
    CheckStatus::RemediationFailed,
    CheckStatus::DriftAccepted,
    CheckStatus::DriftDismissed,
    CheckStatus::ApprovalExpired,
    CheckStatus::CheckFailed,
];

fn snake(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::NoDrift => "no_drift",
        CheckStatus::DriftDetected => "drift_detected",
        CheckStatus::Remediated => "remediated",
        CheckStatus::RemediationSkipped => "remediation_skipped",
        CheckStatus::RemediationFailed => "remediation_failed",
        CheckStatus::DriftAccepted => "drift_accepted",
        CheckStatus::DriftDismissed => "drift_dismissed",
        CheckStatus::ApprovalExpired => "approval_expired",
        CheckStatus::CheckFailed => "check_failed",
    }
}

fn decision_request<'a>(
    approvers: &'a [String],
    destructive: &'a [String],
    allow_destructive: bool,
) -> DecisionRequest<'a> {
    DecisionRequest {
        approval_id: APPROVAL_ID,
        drifted_resources: 4,
        deadline_epoch: at(NOW).timestamp() + 3600,
        default_until: approval::default_until(at(NOW)),
        approvers,
        allow_destructive,
        destructive,
    }
}

/// The alert as posted in approval mode: the decision alert with its buttons.
fn decision_parent() -> Value {
    let approvers = ["U0ALICE".to_string(), "S0OPS".to_string()];
    let destructive = destructive();
    thread::with_decision(
        &build_decision_alert(&detected(), &execution_url(EXEC_1)),
        &decision_request(&approvers, &destructive, false),
    )
}

// ---------------------------------------------------------------------------
// Cases: the message builders
// ---------------------------------------------------------------------------

fn message_cases() -> Cases {
    let url = execution_url(EXEC_1);
    let mut cases: Cases = STATUSES
        .iter()
        .map(|&status| {
            (
                format!("message_{}", snake(status)),
                rendered(&build_message(&outcome(status), &url)),
            )
        })
        .collect();
    cases.push((
        "decision_alert".into(),
        rendered(&build_decision_alert(&detected(), &url)),
    ));

    // Changed again: another execution, same addresses and paths, other values.
    let exec_2 = exec("exec-2");
    let url_2 = execution_url(&exec_2);
    let again = CheckOutcome {
        execution_id: exec_2.clone(),
        started_at: "2026-11-22T11:30:05Z".into(),
        ..detected()
    };
    cases.push((
        "changed_again_asks_decision".into(),
        rendered(&build_changed_again(&again, &url_2, true)),
    ));
    let by_bob = CheckOutcome {
        change: Some(iam_user_change()),
        run: Some(plan_run(vec![iam_user_change(), sso_change()])),
        ..again.clone()
    };
    cases.push((
        "changed_again_report_only".into(),
        rendered(&build_changed_again(&by_bob, &url_2, false)),
    ));
    let nobody_known = CheckOutcome {
        change: None,
        run: Some(plan_run(vec![])),
        ..again
    };
    cases.push((
        "changed_again_unknown_actor".into(),
        rendered(&build_changed_again(&nobody_known, &url_2, false)),
    ));
    cases
}

fn thread_cases() -> Cases {
    let url = execution_url(EXEC_1);
    let alert = build_decision_alert(&detected(), &url);
    let approvers = ["U0ALICE".to_string(), "S0OPS".to_string()];
    let destructive = destructive();
    let mut cases: Cases = Vec::new();
    for (name, destructive, allow) in [
        ("with_decision_destroy_off", &destructive[..], false),
        (
            "with_decision_destroy_off_nothing_destructive",
            &[][..],
            false,
        ),
        ("with_decision_destroy_on", &destructive[..], true),
        (
            "with_decision_destroy_on_nothing_destructive",
            &[][..],
            true,
        ),
    ] {
        cases.push((
            name.into(),
            rendered(&thread::with_decision(
                &alert,
                &decision_request(&approvers, destructive, allow),
            )),
        ));
    }
    cases.push((
        "with_decision_no_approvers".into(),
        rendered(&thread::with_decision(
            &alert,
            &decision_request(&[], &destructive, false),
        )),
    ));

    for status in STATUSES {
        cases.push((
            format!("reply_{}", snake(status)),
            rendered(&thread::reply(&outcome(status), &url)),
        ));
    }
    cases.push((
        "reply_fix_approved".into(),
        rendered(&thread::reply(&fix_approved(), &url)),
    ));
    cases.push((
        "resolved_reply".into(),
        rendered(&thread::resolved_reply(
            &execution_url(&exec("exec-2")),
            "2026-11-22T12:00:05Z",
        )),
    ));

    let parent = decision_parent();
    let annotated = |status: CheckStatus, latest: String| {
        let updated = thread::annotate_parent(&parent, status, &check().to_string(), &latest);
        json!({"latest_line": latest, "updated_parent": rendered(&updated)})
    };
    for status in STATUSES {
        let out = outcome(status);
        cases.push((
            format!("annotate_parent_{}", snake(status)),
            annotated(status, thread::latest_line(&out, &url)),
        ));
    }
    cases.push((
        "annotate_parent_fix_approved".into(),
        annotated(
            CheckStatus::DriftDetected,
            thread::latest_line(&fix_approved(), &url),
        ),
    ));
    cases.push((
        "annotate_parent_changed_again".into(),
        annotated(
            CheckStatus::DriftDetected,
            thread::changed_again_line(&execution_url(&exec("exec-2"))),
        ),
    ));
    // A parent annotated twice keeps one status line (the newest).
    let once = thread::annotate_parent(
        &parent,
        CheckStatus::DriftDetected,
        &check().to_string(),
        &thread::latest_line(&fix_approved(), &url),
    );
    let remediated = outcome(CheckStatus::Remediated);
    let latest = thread::latest_line(&remediated, &url);
    cases.push((
        "annotate_parent_twice".into(),
        json!({
            "latest_line": latest,
            "updated_parent": rendered(&thread::annotate_parent(
                &once,
                CheckStatus::Remediated,
                &check().to_string(),
                &latest,
            )),
        }),
    ));
    cases
}

// ---------------------------------------------------------------------------
// Cases: through `conversation::notify` (the Slack app) and the webhook
// ---------------------------------------------------------------------------

/// The Slack app's Web API as calls in order, recorded by [`RecordingChat`]
/// behind it (which keeps messages with their versions, not the order).
struct CallLog {
    chat: RecordingChat,
    calls: Mutex<Vec<Value>>,
}

impl CallLog {
    fn new() -> Self {
        CallLog {
            chat: RecordingChat::new().with_group("S0OPS", &["U0BOB"]),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn log(&self, call: Value) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl ChatApi for CallLog {
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        payload: &Value,
    ) -> driftguard_core::Result<ThreadRef> {
        let posted = self.chat.post_message(channel, thread_ts, payload).await?;
        self.log(json!({
            "method": "chat.postMessage",
            "channel": channel,
            "thread_ts": thread_ts,
            "answered_ts": posted.ts,
            "payload": payload,
            "message_text": lines(payload),
        }));
        Ok(posted)
    }

    async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        payload: &Value,
    ) -> driftguard_core::Result<()> {
        self.chat.update_message(channel, ts, payload).await?;
        self.log(json!({
            "method": "chat.update",
            "channel": channel,
            "ts": ts,
            "payload": payload,
            "message_text": lines(payload),
        }));
        Ok(())
    }

    async fn user_group_members(&self, user_group: &str) -> driftguard_core::Result<Vec<String>> {
        let members = self.chat.user_group_members(user_group).await?;
        self.log(json!({
            "method": "usergroups.users.list",
            "usergroup": user_group,
            "answered": members,
        }));
        Ok(members)
    }

    async fn respond(&self, response_url: &str, payload: &Value) -> driftguard_core::Result<()> {
        self.chat.respond(response_url, payload).await?;
        self.log(json!({
            "method": "response_url",
            "url": response_url,
            "payload": payload,
        }));
        Ok(())
    }
}

/// The Slack app's ports in memory, and the steps of one flow.
struct Flow {
    config: Config,
    chat: CallLog,
    conversations: InMemoryConversations,
    approvals: InMemoryApprovals,
    history: InMemoryHistory,
    /// Decision request ids drawn so far (replaced in the golden).
    approval_ids: Vec<String>,
    steps: Vec<Value>,
    /// Every call, for the consistency check against [`RecordingChat`].
    all_calls: Vec<Value>,
}

impl Flow {
    fn new() -> Self {
        Flow {
            config: app_config(),
            chat: CallLog::new(),
            conversations: InMemoryConversations::new(),
            approvals: InMemoryApprovals::new(),
            history: InMemoryHistory::new(),
            approval_ids: Vec::new(),
            steps: Vec::new(),
            all_calls: Vec::new(),
        }
    }

    fn app(&self) -> ChatApp<'_> {
        ChatApp {
            chat: &self.chat,
            format: &driftguard_slack::BlockKit,
            conversations: &self.conversations,
            approvals: &self.approvals,
        }
    }

    /// Notify as the state machine does (the suppression verdict of the
    /// alert policy, from `record`'s answer), recording the calls it makes.
    async fn notify(
        &mut self,
        step: &str,
        outcome: &CheckOutcome,
        mode: Option<RemediationMode>,
        record: Option<RecordResult>,
        now: &str,
    ) -> Notification {
        let req = NotifyRequest {
            outcome: outcome.clone(),
            record,
            remediation_mode: mode,
            approval_timeout_seconds: mode.map(|_| 3600),
        };
        let suppressed = steps::suppression_reason(&req, &self.config);
        let n = alerting::notify(
            &req,
            CHANNEL,
            suppressed.clone(),
            &self.app(),
            &self.history,
            &self.config,
            at(now),
        )
        .await
        .unwrap();
        if let Some(id) = &n.approval_id {
            if !self.approval_ids.contains(id) {
                self.approval_ids.push(id.clone());
            }
        }
        let calls = self.chat.take();
        self.all_calls.extend(calls.iter().cloned());
        self.steps.push(json!({
            "step": step,
            "notify": {
                "status": outcome.status,
                "execution_id": outcome.execution_id,
                "remediation_mode": mode,
                "decision": outcome.approval,
                "now": now,
                "suppressed": suppressed,
            },
            "notification": n,
            "calls": calls,
        }));
        n
    }

    /// A step that is not a notify (a click): what it answered, and the calls.
    fn note(&mut self, step: &str, answer: Value) {
        let calls = self.chat.take();
        self.all_calls.extend(calls.iter().cloned());
        self.steps
            .push(json!({"step": step, "answer": answer, "calls": calls}));
    }

    /// The golden: the steps, the drawn ids replaced by `<approval-id>`
    /// (numbered when a flow draws more than one). Checks first that the
    /// calls logged are what [`RecordingChat`] kept.
    fn golden(&self) -> Value {
        self.assert_log_matches_recording();
        let mut text = serde_json::to_string(&json!({"steps": self.steps})).unwrap();
        for (i, id) in self.approval_ids.iter().enumerate() {
            let placeholder = if i == 0 {
                "<approval-id>".to_string()
            } else {
                format!("<approval-id-{}>", i + 1)
            };
            text = text.replace(id, &placeholder);
        }
        serde_json::from_str(&text).unwrap()
    }

    fn assert_log_matches_recording(&self) {
        let mut from_log: BTreeMap<String, (Option<String>, Vec<Value>)> = BTreeMap::new();
        for call in &self.all_calls {
            match call["method"].as_str() {
                Some("chat.postMessage") => {
                    from_log.insert(
                        call["answered_ts"].as_str().unwrap().to_string(),
                        (
                            call["thread_ts"].as_str().map(str::to_string),
                            vec![call["payload"].clone()],
                        ),
                    );
                }
                Some("chat.update") => from_log
                    .get_mut(call["ts"].as_str().unwrap())
                    .expect("an update of a posted message")
                    .1
                    .push(call["payload"].clone()),
                _ => {}
            }
        }
        let recorded: BTreeMap<String, (Option<String>, Vec<Value>)> = self
            .chat
            .chat
            .messages()
            .into_iter()
            .map(|m| {
                assert_eq!(m.channel, CHANNEL);
                (m.ts, (m.thread_ts, m.versions))
            })
            .collect();
        assert_eq!(
            from_log, recorded,
            "the call log and RecordingChat disagree"
        );
        let responses: Vec<(String, Value)> = self
            .all_calls
            .iter()
            .filter(|c| c["method"] == "response_url")
            .map(|c| (c["url"].as_str().unwrap().to_string(), c["payload"].clone()))
            .collect();
        assert_eq!(responses, self.chat.chat.responses());
    }
}

fn first_record() -> RecordResult {
    RecordResult {
        status: CheckStatus::DriftDetected,
        stored: true,
        previous_fingerprint: None,
        accepted: None,
    }
}

fn in_execution(out: CheckOutcome, name: &str, started_at: &str) -> CheckOutcome {
    CheckOutcome {
        execution_id: exec(name),
        started_at: started_at.into(),
        ..out
    }
}

async fn notify_cases() -> Cases {
    let approval = Some(RemediationMode::Approval);
    let off = Some(RemediationMode::Off);
    let mut cases = Cases::new();

    // First alert, approval mode: a new message with the decision buttons.
    let mut f = Flow::new();
    f.notify(
        "first alert (approval mode)",
        &detected(),
        approval,
        Some(first_record()),
        NOW,
    )
    .await;
    cases.push(("notify_first_alert_approval_mode".into(), f.golden()));

    // First alert, report only (also `remediation_mode = "auto"` before its fix).
    let mut f = Flow::new();
    f.notify(
        "first alert (report only)",
        &detected(),
        off,
        Some(first_record()),
        NOW,
    )
    .await;
    cases.push(("notify_first_alert_report_only".into(), f.golden()));

    // Follow-ups in the drift's thread: the approved fix, then its result;
    // a retried step posts nothing twice.
    let mut f = Flow::new();
    f.notify(
        "first alert (approval mode)",
        &detected(),
        approval,
        Some(first_record()),
        NOW,
    )
    .await;
    f.notify(
        "fix approved",
        &fix_approved(),
        None,
        Some(first_record()),
        "2026-11-22T10:05:31Z",
    )
    .await;
    f.notify(
        "fix approved, step retried",
        &fix_approved(),
        None,
        Some(first_record()),
        "2026-11-22T10:05:40Z",
    )
    .await;
    f.notify(
        "remediated",
        &outcome(CheckStatus::Remediated),
        None,
        None,
        "2026-11-22T10:08:00Z",
    )
    .await;
    cases.push(("notify_follow_ups_in_thread".into(), f.golden()));

    // Every follow-up status after an alert, each in a thread of its own.
    for status in STATUSES
        .into_iter()
        .filter(|s| !matches!(s, CheckStatus::NoDrift | CheckStatus::DriftDetected))
    {
        let mut f = Flow::new();
        let first_mode = if status == CheckStatus::RemediationFailed {
            Some(RemediationMode::Auto)
        } else {
            approval
        };
        f.notify(
            "first alert",
            &detected(),
            first_mode,
            Some(first_record()),
            NOW,
        )
        .await;
        f.notify(
            status.as_str(),
            &outcome(status),
            None,
            None,
            "2026-11-22T10:08:00Z",
        )
        .await;
        cases.push((format!("notify_follow_up_{}", snake(status)), f.golden()));
    }

    // Changed again: the same addresses and paths, other values, while the
    // first thread is open: told in that thread, with new buttons.
    let mut f = Flow::new();
    f.notify(
        "first alert (approval mode)",
        &detected(),
        approval,
        Some(first_record()),
        NOW,
    )
    .await;
    let mut again = in_execution(detected(), "exec-2", "2026-11-22T11:30:05Z");
    again.change = Some(iam_user_change());
    again.run = Some(plan_run(vec![iam_user_change()]));
    if let Some(d) = again.drift.as_mut() {
        d.fingerprint = "fp-77aa0c1d2e3f4a5b".into();
    }
    let record = RecordResult {
        previous_fingerprint: Some(drift().fingerprint),
        ..first_record()
    };
    f.notify(
        "changed again (approval mode)",
        &again,
        approval,
        Some(record),
        "2026-11-22T11:34:00Z",
    )
    .await;
    cases.push(("notify_changed_again".into(), f.golden()));

    // Resolved by a clean check (no-drift alerts off): a reply in the open
    // thread, the parent says resolved; the next clean check says nothing.
    let mut f = Flow::new();
    f.notify(
        "first alert (report only)",
        &detected(),
        off,
        Some(first_record()),
        NOW,
    )
    .await;
    let clean = in_execution(
        outcome(CheckStatus::NoDrift),
        "exec-2",
        "2026-11-22T12:00:05Z",
    );
    let clean_record = RecordResult {
        status: CheckStatus::NoDrift,
        stored: true,
        previous_fingerprint: Some(drift().fingerprint),
        accepted: None,
    };
    f.notify(
        "clean check",
        &clean,
        None,
        Some(clean_record.clone()),
        "2026-11-22T12:04:00Z",
    )
    .await;
    f.notify(
        "next clean check",
        &in_execution(clean, "exec-3", "2026-11-22T13:00:05Z"),
        None,
        Some(clean_record),
        "2026-11-22T13:04:00Z",
    )
    .await;
    cases.push(("notify_resolved_by_clean_check".into(), f.golden()));

    // Suppressed: the same drift again, then the same drift while accepted.
    let mut f = Flow::new();
    f.notify(
        "first alert (report only)",
        &detected(),
        off,
        Some(first_record()),
        NOW,
    )
    .await;
    let same = RecordResult {
        previous_fingerprint: Some(drift().fingerprint),
        ..first_record()
    };
    f.notify(
        "same drift again",
        &in_execution(detected(), "exec-2", "2026-11-22T11:00:05Z"),
        off,
        Some(same.clone()),
        "2026-11-22T11:04:00Z",
    )
    .await;
    let accepted = RecordResult {
        accepted: Some(Acceptance {
            fingerprint: drift().fingerprint,
            by: alice(),
            reason: "vendor hot-fix <INC-4211> & rollback planned".into(),
            until: "2026-12-15".into(),
            until_epoch: at("2026-12-16T00:00:00Z").timestamp(),
            accepted_at: "2026-11-22T10:05:30Z".into(),
            execution_id: EXEC_1.into(),
        }),
        ..same
    };
    f.notify(
        "same drift while accepted",
        &in_execution(detected(), "exec-3", "2026-11-23T09:00:05Z"),
        approval,
        Some(accepted),
        "2026-11-23T09:04:00Z",
    )
    .await;
    cases.push(("notify_suppressed".into(), f.golden()));
    cases
}

/// Workspaces without an app channel: `steps::notify` posts `build_message`
/// through the incoming webhook ([`RecordingNotifier`]).
async fn webhook_cases() -> Cases {
    let config = config(&[]);
    let notifier = RecordingNotifier::new();
    let history = InMemoryHistory::new();
    let mut posted_before = 0;
    let mut steps_out = Vec::new();
    let steps_in = [
        (
            "drift detected",
            detected(),
            Some(first_record()),
            "2026-11-22T10:04:00Z",
        ),
        (
            "drift detected, step retried",
            detected(),
            Some(first_record()),
            "2026-11-22T10:04:10Z",
        ),
        (
            "same drift again",
            in_execution(detected(), "exec-2", "2026-11-22T11:00:05Z"),
            Some(RecordResult {
                previous_fingerprint: Some(drift().fingerprint),
                ..first_record()
            }),
            "2026-11-22T11:04:00Z",
        ),
        (
            "check failed",
            in_execution(
                outcome(CheckStatus::CheckFailed),
                "exec-3",
                "2026-11-22T12:00:05Z",
            ),
            None,
            "2026-11-22T12:09:00Z",
        ),
        (
            "no drift (no-drift alerts off)",
            in_execution(
                outcome(CheckStatus::NoDrift),
                "exec-4",
                "2026-11-22T13:00:05Z",
            ),
            None,
            "2026-11-22T13:04:00Z",
        ),
    ];
    for (step, out, record, now) in steps_in {
        let req = NotifyRequest {
            outcome: out.clone(),
            record,
            remediation_mode: None,
            approval_timeout_seconds: None,
        };
        let n = steps::notify(&req, &notifier, &history, &config, at(now).timestamp())
            .await
            .unwrap();
        let payloads = notifier.payloads();
        let posted: Vec<Value> = payloads[posted_before..].iter().map(rendered).collect();
        posted_before = payloads.len();
        steps_out.push(json!({
            "step": step,
            "notify": {"status": out.status, "execution_id": out.execution_id, "now": now},
            "notification": n,
            "webhook_posts": posted,
        }));
    }
    vec![("notify_webhook".into(), json!({"steps": steps_out}))]
}

// ---------------------------------------------------------------------------
// Cases: the approval receiver's answers to clicks, and the thread after them
// ---------------------------------------------------------------------------

const SIGNING_SECRET_NAME: &str = "driftguard/slack-signing-secret";
const SIGNING_KEY: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const RESPONSE_URL: &str = "https://hooks.slack.com/actions/T0ACME/1234567890/AbCdEfGhIjKl";

/// A button click as Slack posts it to the Request URL, signed.
fn signed_click(user: &str, action: &str, id: &str, state: Value, now: i64) -> CallbackRequest {
    let payload = json!({
        "type": "block_actions",
        "api_app_id": "A0DRIFT",
        "user": {"id": user, "username": user.trim_start_matches("U0").to_lowercase(), "team_id": "T0ACME"},
        "team": {"id": "T0ACME"},
        "response_url": RESPONSE_URL,
        "state": {"values": state},
        "actions": [{"action_id": action, "block_id": "driftguard_decision", "type": "button", "value": id}],
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = now.to_string();
    CallbackRequest {
        method: "POST".into(),
        headers: BTreeMap::from([
            ("x-slack-request-timestamp".into(), ts.clone()),
            (
                "x-slack-signature".into(),
                signature::sign(SIGNING_KEY.as_bytes(), &ts, body.as_bytes()),
            ),
        ]),
        body: body.into_bytes(),
    }
}

fn accept_state(reason: Option<&str>, until: &str) -> Value {
    json!({
        "driftguard_decision_reason": {"driftguard_accept_reason": {"type": "plain_text_input", "value": reason}},
        "driftguard_decision": {"driftguard_accept_until": {"type": "datepicker", "selected_date": until}}
    })
}

struct Clicks {
    signing: SigningSecret,
    tasks: RecordingTasks,
    groups: GroupCache,
}

impl Clicks {
    fn new() -> Self {
        Clicks {
            signing: SigningSecret::new(
                Arc::new(StaticSecrets::new().with(SIGNING_SECRET_NAME, SIGNING_KEY)),
                SIGNING_SECRET_NAME,
            ),
            tasks: RecordingTasks::default(),
            groups: GroupCache::default(),
        }
    }

    /// Handles the click as the callback receiver does; its HTTP answer.
    async fn click(&self, f: &Flow, request: &CallbackRequest, now: &str) -> Value {
        let receiver = Receiver {
            signing_secret: &self.signing,
            chat: &f.chat,
            approvals: &f.approvals,
            tasks: &self.tasks,
            groups: &self.groups,
            config: &f.config,
        };
        let answer =
            driftguard_slack::request_url::handle_callback(request, &receiver, at(now)).await;
        json!({"http_status": answer.status, "body": answer.body})
    }
}

/// The alert with buttons, the check waiting, one click by `user`, the
/// decision read, and the step after it notified in the thread.
async fn click_flow(user: &str, action: &str, state: Value) -> Value {
    let mut f = Flow::new();
    let clicks = Clicks::new();
    let n = f
        .notify(
            "first alert (approval mode)",
            &detected(),
            Some(RemediationMode::Approval),
            Some(first_record()),
            NOW,
        )
        .await;
    let id = n
        .approval_id
        .clone()
        .expect("the alert asks for a decision");
    let wait = AwaitDecisionRequest {
        check: check(),
        execution_id: EXEC_1.into(),
        approval_id: id.clone(),
        task_token: "task-token-1".into(),
        timeout_seconds: 3600,
    };
    let waiting = approval::await_decision(&wait, &f.approvals, &clicks.tasks, at(NOW).timestamp())
        .await
        .unwrap();
    f.note("wait for approval", waiting);

    let click_at = "2026-11-22T10:05:30Z";
    let request = signed_click(user, action, &id, state, at(click_at).timestamp());
    let answer = clicks.click(&f, &request, click_at).await;
    let delivered = clicks.tasks.delivered.lock().unwrap().clone();
    f.note(
        "click",
        json!({"callback_response": answer, "task_success": delivered}),
    );

    let read = approval::read_decision(
        &ReadDecisionRequest {
            action: NotifyAction::ReadDecision,
            check: check(),
            execution_id: EXEC_1.into(),
            approval_id: id.clone(),
        },
        &f.approvals,
    )
    .await
    .unwrap();
    f.note("read the decision", read.clone());
    let decision: ApprovalDecision = serde_json::from_value(read).unwrap();
    let next = match decision.decision {
        DriftDecision::Fix => CheckOutcome {
            approval: Some(decision),
            ..detected()
        },
        DriftDecision::Accept => CheckOutcome {
            status: CheckStatus::DriftAccepted,
            approval: Some(decision),
            ..detected()
        },
        DriftDecision::Dismiss => CheckOutcome {
            status: CheckStatus::DriftDismissed,
            approval: Some(decision),
            ..detected()
        },
    };
    f.notify(
        "after the decision",
        &next,
        None,
        None,
        "2026-11-22T10:05:35Z",
    )
    .await;

    // A second click on the same buttons changes nothing.
    let again_at = "2026-11-22T10:06:00Z";
    let again = signed_click(
        "U0BOB",
        action_ids::DISMISS,
        &id,
        json!({}),
        at(again_at).timestamp(),
    );
    let answer = clicks.click(&f, &again, again_at).await;
    f.note("second click", json!({"callback_response": answer}));
    f.golden()
}

async fn approval_cases() -> Cases {
    let mut cases = vec![
        (
            "approval_click_fix".into(),
            click_flow("U0ALICE", action_ids::FIX, json!({})).await,
        ),
        (
            "approval_click_accept".into(),
            click_flow(
                "U0ALICE",
                action_ids::ACCEPT,
                accept_state(
                    Some("vendor hot-fix <INC-4211> & rollback planned"),
                    "2026-12-15",
                ),
            )
            .await,
        ),
        (
            "approval_click_dismiss_by_group_member".into(),
            click_flow("U0BOB", action_ids::DISMISS, json!({})).await,
        ),
    ];

    // The answers that decide nothing: a stranger, an acceptance without a
    // reason or with a date in the past, and a click after the wait ended.
    let mut f = Flow::new();
    let clicks = Clicks::new();
    let n = f
        .notify(
            "first alert (approval mode)",
            &detected(),
            Some(RemediationMode::Approval),
            Some(first_record()),
            NOW,
        )
        .await;
    let id = n.approval_id.clone().unwrap();
    let wait = AwaitDecisionRequest {
        check: check(),
        execution_id: EXEC_1.into(),
        approval_id: id.clone(),
        task_token: "task-token-1".into(),
        timeout_seconds: 3600,
    };
    approval::await_decision(&wait, &f.approvals, &clicks.tasks, at(NOW).timestamp())
        .await
        .unwrap();
    f.chat.take();
    let click_at = "2026-11-22T10:05:30Z";
    let epoch = at(click_at).timestamp();
    for (step, user, action, state) in [
        ("not an approver", "U0MALLORY", action_ids::FIX, json!({})),
        (
            "accept without a reason",
            "U0ALICE",
            action_ids::ACCEPT,
            accept_state(None, "2026-12-15"),
        ),
        (
            "accept until today",
            "U0ALICE",
            action_ids::ACCEPT,
            accept_state(Some("vendor hot-fix"), "2026-11-22"),
        ),
    ] {
        let answer = clicks
            .click(&f, &signed_click(user, action, &id, state, epoch), click_at)
            .await;
        f.note(step, json!({"callback_response": answer}));
    }
    clicks
        .tasks
        .gone
        .lock()
        .unwrap()
        .push("task-token-1".into());
    let answer = clicks
        .click(
            &f,
            &signed_click("U0ALICE", action_ids::FIX, &id, json!({}), epoch),
            click_at,
        )
        .await;
    f.note(
        "the check stopped waiting",
        json!({"callback_response": answer}),
    );
    cases.push(("approval_click_refusals".into(), f.golden()));
    cases
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn every_check_status_message_and_the_builders_match_their_goldens() {
    check_goldens(message_cases());
}

#[test]
fn the_decision_blocks_replies_and_parent_updates_match_their_goldens() {
    check_goldens(thread_cases());
}

#[tokio::test]
async fn the_slack_app_conversation_matches_its_goldens() {
    check_goldens(notify_cases().await);
}

#[tokio::test]
async fn the_webhook_posts_match_their_goldens() {
    check_goldens(webhook_cases().await);
}

#[tokio::test]
async fn the_approval_receivers_answers_match_their_goldens() {
    check_goldens(approval_cases().await);
}

async fn all_cases() -> Cases {
    let mut cases = message_cases();
    cases.extend(thread_cases());
    cases.extend(notify_cases().await);
    cases.extend(webhook_cases().await);
    cases.extend(approval_cases().await);
    cases
}

/// Every golden belongs to a case (no stale goldens), case names are unique,
/// and the cases render the same twice (nothing depends on the clock or chance).
#[tokio::test]
async fn every_golden_is_used_and_the_cases_are_deterministic() {
    let cases = all_cases().await;
    let mut names = BTreeSet::new();
    for (name, _) in &cases {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "case name {name:?}: lower-case snake case only"
        );
        assert!(names.insert(name.clone()), "two cases are named {name}");
    }
    assert_eq!(
        cases,
        all_cases().await,
        "the cases render differently each time"
    );
    let on_disk: BTreeSet<String> = match std::fs::read_dir(golden_dir()) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && blessing() => BTreeSet::new(),
        Err(e) => panic!(
            "cannot read {}: {e}; run with {BLESS}=1 to write the goldens",
            golden_dir().display()
        ),
    };
    let stale: Vec<&String> = on_disk
        .iter()
        .filter(|file| {
            file.strip_suffix(".json")
                .is_none_or(|name| !names.contains(name))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "golden files no case writes (delete them, or add their case back): {stale:?} in {}",
        golden_dir().display()
    );
}
