//! The steps of a check, run in order over the in-memory ports: the same code
//! the Lambdas run, with HCP Terraform, Slack and DynamoDB replaced by fakes.

use driftguard_testkit::InMemoryMetrics;
use std::collections::HashMap;

use async_trait::async_trait;
use driftguard_core::config::Config;
use driftguard_core::model::*;
use driftguard_core::ports::{ExecutionDescription, ExecutionReader};
use driftguard_core::{Error, steps};
use driftguard_testkit::InMemoryBatchStore;
use driftguard_testkit::InMemoryHistory;
use driftguard_testkit::InMemoryRemediationLedger;
use driftguard_testkit::InMemoryTerraformCloud;
use driftguard_testkit::RecordingNotifier;
use serde_json::{Value, json};

const EXEC: &str = "arn:aws:states:eu-west-1:123456789012:execution:driftguard-check:exec-1";
const STARTED: &str = "2026-11-22T10:00:00.000Z";

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION".into(), "acme".into()),
        ("DRIFTGUARD_WORKSPACE".into(), "prod".into()),
        ("DRIFTGUARD_PLAN_TIMEOUT_SECONDS".into(), "600".into()),
        ("AWS_REGION".into(), "eu-west-1".into()),
        // The remediate function's deployed mode (it refuses without one).
        ("DRIFTGUARD_REMEDIATION_MODE".into(), "auto".into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

fn fixture(path: &str) -> Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(full).unwrap()).unwrap()
}

fn console_event(event_id: &str) -> Value {
    let mut event = fixture("events/console-authorize-security-group-ingress.json");
    event["detail"]["eventID"] = json!(event_id);
    event
}

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn tfc() -> InMemoryTerraformCloud {
    let tfc = InMemoryTerraformCloud::new();
    tfc.add_workspace("acme", "prod");
    tfc
}

fn outcome(status: CheckStatus, run: Option<RunInfo>, drift: Option<DriftReport>) -> CheckOutcome {
    CheckOutcome {
        poll: None,
        approval: None,
        status,
        check: check(),
        execution_id: EXEC.into(),
        started_at: STARTED.into(),
        change: None,
        run,
        drift,
        remediation: None,
        failure: None,
    }
}

/// Admits the console event and creates the plan run.
/// The first console change of the burst: `EXEC` opens the batch at 1,000.
async fn admit_first_change(config: &Config, batches: &InMemoryBatchStore) -> Admission {
    steps::admit(
        &AdmitRequest {
            event: console_event("e-0"),
            execution_id: EXEC.into(),
        },
        config,
        batches,
        1_000,
    )
    .await
    .unwrap()
}

async fn admitted_run(
    tfc: &InMemoryTerraformCloud,
    batches: &InMemoryBatchStore,
    config: &Config,
) -> (Change, RunInfo) {
    let admission = admit_first_change(config, batches).await;
    assert_eq!(admission.decision, Decision::Admit, "{}", admission.reason);
    assert_eq!(admission.checks, vec![check()]);
    let change = admission.change.unwrap();
    let run = steps::create_run(
        &CreateRunRequest {
            check: check(),
            change: change.clone(),
            execution_id: EXEC.into(),
        },
        tfc,
        batches,
        1_010,
    )
    .await
    .unwrap();
    (change, run)
}

#[tokio::test]
async fn a_console_change_with_drift_is_recorded_and_alerted_once() {
    let (tfc, batches, history, slack) = (
        tfc(),
        InMemoryBatchStore::new(),
        InMemoryHistory::new(),
        RecordingNotifier::new(),
    );
    let config = config(&[]);
    tfc.script_next_run(&["pending", "planning", "planning", "planned_and_finished"]);
    let (change, run) = admitted_run(&tfc, &batches, &config).await;
    assert!(
        run.run_url
            .ends_with(&format!("/app/acme/workspaces/prod/runs/{}", run.run_id))
    );
    assert_eq!(run.changes, vec![change.clone()]);

    // Poll until planned; waits never shrink below the minimum.
    let created = chrono::DateTime::parse_from_rfc3339(&run.created_at)
        .unwrap()
        .timestamp();
    let mut poll: Option<PollState> = None;
    for i in 1..=10 {
        let state = steps::poll_run(
            &PollRequest {
                check: check(),
                run: run.clone(),
                poll: poll.clone(),
                apply: None,
                execution_id: Some(EXEC.into()),
            },
            &tfc,
            &config,
            created + 10 * i,
        )
        .await
        .unwrap();
        assert_eq!(state.polls, i as u32);
        assert!(state.next_wait_seconds >= config.poll.min_wait_seconds);
        let done = state.phase == Phase::Planned;
        poll = Some(state);
        if done {
            break;
        }
    }
    assert_eq!(poll.unwrap().phase, Phase::Planned);

    tfc.set_plan_json(run.plan_id.as_deref().unwrap(), fixture("plans/both.json"));
    let drift = steps::summarize(
        &SummarizeRequest {
            check: check(),
            run: run.clone(),
        },
        &tfc,
        &config,
    )
    .await
    .unwrap();
    assert!(drift.drifted);
    assert_eq!(drift.resource_count, 8);
    assert_eq!(
        drift.pending_changes.count, 3,
        "unapplied code is reported, not drift"
    );

    let mut out = outcome(
        CheckStatus::DriftDetected,
        Some(run.clone()),
        Some(drift.clone()),
    );
    out.change = Some(change);
    let record = steps::record(
        &out,
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(record.stored);
    let request = NotifyRequest {
        remediation_mode: None,
        approval_timeout_seconds: None,
        outcome: out.clone(),
        record: Some(record.clone()),
    };
    let sent = steps::notify(&request, &slack, &history, &config, 2_000)
        .await
        .unwrap();
    assert!(sent.sent && sent.suppressed_reason.is_none());

    // Every step again with the same input: no second run, record or message.
    let again = steps::create_run(
        &CreateRunRequest {
            check: check(),
            change: out.change.clone().unwrap(),
            execution_id: EXEC.into(),
        },
        &tfc,
        &batches,
        1_020,
    )
    .await
    .unwrap();
    assert_eq!(again.run_id, run.run_id);
    assert_eq!(again.changes, run.changes);
    assert_eq!(tfc.created_runs().len(), 1);
    let record_again = steps::record(
        &out,
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(!record_again.stored);
    assert_eq!(
        record_again.previous_fingerprint, record.previous_fingerprint,
        "a retry answers as the first attempt"
    );
    steps::notify(&request, &slack, &history, &config, 2_001)
        .await
        .unwrap();
    assert_eq!(slack.payloads().len(), 1);
    assert_eq!(history.all().len(), 1);
    assert_eq!(history.all()[0].status, CheckStatus::DriftDetected);

    // The same drift found by a later check is recorded but not re-alerted.
    let mut later = out.clone();
    later.execution_id = EXEC.replace("exec-1", "exec-2");
    let record2 = steps::record(
        &later,
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let n = steps::notify(
        &NotifyRequest {
            remediation_mode: None,
            approval_timeout_seconds: None,
            outcome: later,
            record: Some(record2),
        },
        &slack,
        &history,
        &config,
        3_000,
    )
    .await
    .unwrap();
    assert!(!n.sent);
    assert!(n.suppressed_reason.unwrap().contains("same drift"));
    assert_eq!(slack.payloads().len(), 1);
}

#[tokio::test]
async fn a_burst_becomes_one_plan_listing_every_change() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let owner = admit_first_change(&config, &batches).await;
    for i in 1..20 {
        let other = format!("{EXEC}-{i}");
        let a = steps::admit(
            &AdmitRequest {
                event: console_event(&format!("e-{i}")),
                execution_id: other,
            },
            &config,
            &batches,
            1_001,
        )
        .await
        .unwrap();
        assert_eq!(a.decision, Decision::Coalesce, "{}", a.reason);
        assert!(a.checks.is_empty());
    }
    let run = steps::create_run(
        &CreateRunRequest {
            check: check(),
            change: owner.change.unwrap(),
            execution_id: EXEC.into(),
        },
        &tfc,
        &batches,
        1_060,
    )
    .await
    .unwrap();
    assert_eq!(run.changes.len() + run.changes_omitted, 20);
    assert_eq!(tfc.created_runs().len(), 1);
    assert!(
        tfc.created_runs()[0].1.plan_only,
        "drift checks are speculative plans"
    );
}

#[tokio::test]
async fn no_drift_is_recorded_without_an_alert() {
    let (tfc, batches, history, slack) = (
        tfc(),
        InMemoryBatchStore::new(),
        InMemoryHistory::new(),
        RecordingNotifier::new(),
    );
    let config = config(&[]);
    let (_, run) = admitted_run(&tfc, &batches, &config).await;
    tfc.set_plan_json(
        run.plan_id.as_deref().unwrap(),
        fixture("plans/no-drift.json"),
    );
    let drift = steps::summarize(
        &SummarizeRequest {
            check: check(),
            run: run.clone(),
        },
        &tfc,
        &config,
    )
    .await
    .unwrap();
    assert!(!drift.drifted);
    let out = outcome(CheckStatus::NoDrift, Some(run), Some(drift));
    let record = steps::record(
        &out,
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let n = steps::notify(
        &NotifyRequest {
            remediation_mode: None,
            approval_timeout_seconds: None,
            outcome: out,
            record: Some(record),
        },
        &slack,
        &history,
        &config,
        1,
    )
    .await
    .unwrap();
    assert!(!n.sent);
    assert!(slack.payloads().is_empty());
    assert_eq!(history.all()[0].status, CheckStatus::NoDrift);
}

#[tokio::test]
async fn a_plan_past_the_timeout_is_canceled_and_fails_the_step() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let (_, run) = admitted_run(&tfc, &batches, &config).await;
    tfc.script_run(&run.run_id, &["planning"]);
    let created = chrono::DateTime::parse_from_rfc3339(&run.created_at)
        .unwrap()
        .timestamp();
    let err = steps::poll_run(
        &PollRequest {
            check: check(),
            run: run.clone(),
            poll: None,
            apply: None,
            execution_id: Some(EXEC.into()),
        },
        &tfc,
        &config,
        created + 601,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "PlanTimedOut");
    assert!(err.to_string().contains("canceled"), "{err}");
    assert_eq!(tfc.actions().len(), 1);
    assert_eq!(tfc.actions()[0].run_id, run.run_id);
}

#[tokio::test]
async fn a_poll_the_request_budget_refuses_waits_longer_instead_of_failing() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let (_, run) = admitted_run(&tfc, &batches, &config).await;
    let created = chrono::DateTime::parse_from_rfc3339(&run.created_at)
        .unwrap()
        .timestamp();
    let earlier = PollState {
        plan_seconds: None,
        phase: Phase::Running,
        status: "planning".into(),
        has_changes: None,
        next_wait_seconds: 5,
        polls: 3,
        elapsed_seconds: 20,
        detail: None,
        apply_seconds: None,
    };
    let rate_limited = Error::TfcRateLimited {
        message: "budget used up".into(),
        retry_after: Some(std::time::Duration::from_secs(9)),
    };
    tfc.fail_next(1, rate_limited.clone());
    let request = PollRequest {
        check: check(),
        run: run.clone(),
        poll: Some(earlier),
        apply: None,
        execution_id: Some(EXEC.into()),
    };
    let deferred = steps::poll_run(&request, &tfc, &config, created + 25)
        .await
        .unwrap();
    assert_eq!(deferred.phase, Phase::Running);
    assert_eq!(deferred.status, "planning");
    assert_eq!(deferred.polls, 3, "a poll that was not made is not counted");
    assert!(deferred.next_wait_seconds >= 9, "{deferred:?}");

    // Past the plan timeout the error stands: the budget cannot hide a stuck plan.
    tfc.fail_next(1, rate_limited);
    let err = steps::poll_run(&request, &tfc, &config, created + 601)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TfcRateLimited");
}

#[tokio::test]
async fn plan_json_not_ready_is_a_retryable_error() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let (_, run) = admitted_run(&tfc, &batches, &config).await;
    tfc.set_plan_json(
        run.plan_id.as_deref().unwrap(),
        fixture("plans/out-of-band.json"),
    );
    tfc.set_plan_not_ready(run.plan_id.as_deref().unwrap(), 1);
    let err = steps::summarize(
        &SummarizeRequest {
            check: check(),
            run: run.clone(),
        },
        &tfc,
        &config,
    )
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        steps::summarize(
            &SummarizeRequest {
                check: check(),
                run
            },
            &tfc,
            &config
        )
        .await
        .unwrap()
        .drifted
    );
}

/// A check of `check_plan`, a remediation run, and the safety check of its
/// plan `remediation_plan` (real fixtures). `shape` may cut the report down
/// as the state document would.
async fn remediation_flow(
    config: &Config,
    check_plan: &str,
    remediation_plan: &str,
    shape: impl FnOnce(&mut DriftReport),
) -> (
    InMemoryTerraformCloud,
    RunInfo,
    SafetyAssessment,
    Vec<String>,
) {
    let (tfc, remediation, safety, targets, _) =
        remediation_flow_noted(config, check_plan, remediation_plan, shape).await;
    (tfc, remediation, safety, targets)
}

/// [`remediation_flow`], with what remediate noted about the run.
async fn remediation_flow_noted(
    config: &Config,
    check_plan: &str,
    remediation_plan: &str,
    shape: impl FnOnce(&mut DriftReport),
) -> (
    InMemoryTerraformCloud,
    RunInfo,
    SafetyAssessment,
    Vec<String>,
    InMemoryRemediationLedger,
) {
    let ledger = InMemoryRemediationLedger::new();
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let (_, run) = admitted_run(&tfc, &batches, config).await;
    tfc.set_plan_json(
        run.plan_id.as_deref().unwrap(),
        fixture(&format!("plans/{check_plan}")),
    );
    let mut drift = steps::summarize(
        &SummarizeRequest {
            check: check(),
            run: run.clone(),
        },
        &tfc,
        config,
    )
    .await
    .unwrap();
    shape(&mut drift);
    // As if the workspace's last checks had remediated: ready after 75 s.
    let mut run = run;
    run.expected_remediation_plan_seconds = Some(75);
    let request = RemediateRequest {
        approval: None,
        action: RemediationAction::Create,
        check: check(),
        execution_id: EXEC.into(),
        drift: Some(drift.clone()),
        run: Some(run),
        remediation: None,
    };
    let created = steps::remediate_create(
        &request,
        &tfc,
        &ledger,
        config,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert_eq!(created.skipped, None);
    let remediation = created.run;
    assert_eq!(
        steps::remediate_create(
            &request,
            &tfc,
            &ledger,
            config,
            driftguard_core::history::now()
        )
        .await
        .unwrap()
        .run_id,
        remediation.run_id,
        "found again, not created twice"
    );
    assert_eq!(
        tfc.run_list_reads(),
        0,
        "the stored run id, not the runs list"
    );
    assert!(
        (74..=75).contains(&remediation.first_wait_seconds.unwrap()),
        "the first poll of the remediation plan at its expected readiness: {remediation:?}"
    );
    let (_, spec) = tfc.created_runs().last().cloned().unwrap();
    assert!(
        !spec.plan_only,
        "remediation needs a run that can be applied"
    );

    tfc.update_run(&remediation.run_id, |r| {
        r.status = "planned".into();
        r.has_changes = Some(true);
        r.is_confirmable = true;
        r.is_discardable = true;
    });
    tfc.set_plan_json(
        remediation.plan_id.as_deref().unwrap(),
        fixture(&format!("plans/{remediation_plan}")),
    );
    let assess = RemediateRequest {
        approval: None,
        action: RemediationAction::Assess,
        remediation: Some(remediation.clone()),
        ..request
    };
    let safety = steps::remediate_assess_noted(&assess, &tfc, &ledger, config)
        .await
        .unwrap();
    (tfc, remediation, safety, spec.target_addrs, ledger)
}

const CONSOLE_DRIFT: [&str; 8] = [
    "aws_iam_role_policy.app",
    "aws_iam_user.deployer",
    "aws_iam_user_policy.deployer",
    "aws_s3_bucket.artifacts",
    "aws_s3_bucket_versioning.artifacts",
    "aws_security_group.web",
    "aws_ssm_parameter.database_password",
    "module.team.aws_iam_user.member[\"bob\"]",
];

#[tokio::test]
async fn safe_remediation_targets_every_drifted_address_and_is_applied() {
    let config = config(&[]);
    // The state document lists only two of the eight drifted resources.
    let (tfc, remediation, safety, targets, ledger) = remediation_flow_noted(
        &config,
        "out-of-band.json",
        "out-of-band.remediation.json",
        |drift| {
            drift.resources.truncate(2);
            drift.omitted = drift.resource_count - 2;
            drift.truncated = true;
        },
    )
    .await;
    assert_eq!(
        targets, CONSOLE_DRIFT,
        "every drifted address, read again from the plan"
    );
    assert!(safety.safe, "{}", safety.reason);
    assert_eq!(safety.reverts, CONSOLE_DRIFT);
    assert!(safety.no_longer_drifted.is_empty());
    let apply = RemediateRequest {
        approval: None,
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(remediation.clone()),
    };
    assert!(
        steps::remediate_apply(
            &apply,
            &tfc,
            &ledger,
            &config,
            driftguard_core::history::now()
        )
        .await
        .unwrap()
        .requested
    );
    // Applying again (a retry) does not confirm twice.
    steps::remediate_apply(
        &apply,
        &tfc,
        &ledger,
        &config,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    let applies = tfc
        .actions()
        .into_iter()
        .filter(|a| a.run_id == remediation.run_id)
        .count();
    assert_eq!(applies, 1);
}

/// A retried or redriven create step finds its run; a first attempt does not
/// spend the runs list's 30-per-minute budget looking for one.
#[tokio::test]
async fn only_a_retried_create_reads_the_runs_list() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let (change, run) = admitted_run(&tfc, &batches, &config).await;
    assert_eq!(
        tfc.run_list_reads(),
        0,
        "the first attempt closed the batch itself"
    );
    let again = steps::create_run(
        &CreateRunRequest {
            check: check(),
            change,
            execution_id: EXEC.into(),
        },
        &tfc,
        &batches,
        1_020,
    )
    .await
    .unwrap();
    assert_eq!(again.run_id, run.run_id, "the retry found the run");
    assert_eq!(tfc.run_list_reads(), 1);
    assert_eq!(tfc.created_runs().len(), 1);
}

/// A create step that failed before it asked for the run (its lookup was
/// paced or refused) is retried without reading the runs list: under a burst
/// of checks the retries would spend that 30-per-minute budget and fail.
#[tokio::test]
async fn a_create_retried_before_it_asked_for_the_run_skips_the_runs_list() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let admission = admit_first_change(&config, &batches).await;
    let req = CreateRunRequest {
        check: check(),
        change: admission.change.unwrap(),
        execution_id: EXEC.into(),
    };
    tfc.fail_next(
        1,
        Error::TfcRateLimited {
            message: "paced".into(),
            retry_after: None,
        },
    );
    let first = steps::create_run(&req, &tfc, &batches, 1_010).await;
    assert!(
        matches!(first, Err(Error::TfcRateLimited { .. })),
        "{first:?}"
    );
    assert!(tfc.created_runs().is_empty());

    let run = steps::create_run(&req, &tfc, &batches, 1_020)
        .await
        .unwrap();
    assert_eq!(tfc.run_list_reads(), 0, "no run was asked for before");
    assert_eq!(tfc.created_runs().len(), 1);

    // From now on the run may exist: a further retry looks for it.
    let again = steps::create_run(&req, &tfc, &batches, 1_030)
        .await
        .unwrap();
    assert_eq!(again.run_id, run.run_id);
    assert_eq!(tfc.run_list_reads(), 1);
    assert_eq!(tfc.created_runs().len(), 1);
}

/// What remediate notes for a run its create stored and its safety check
/// found safe (apply confirms only such a run).
fn assessed_safe(run: &RunInfo) -> InMemoryRemediationLedger {
    let ledger = InMemoryRemediationLedger::new();
    ledger.put(
        &check(),
        EXEC,
        driftguard_core::ports::RemediationAttempt {
            requested_at: 1_000,
            run_id: Some(run.run_id.clone()),
            safe_run_id: Some(run.run_id.clone()),
        },
    );
    ledger
}

async fn remediation_run(tfc: &InMemoryTerraformCloud, statuses: &[&str]) -> RunInfo {
    let workspace = driftguard_core::ports::TerraformCloud::workspace(tfc, &check())
        .await
        .unwrap();
    tfc.script_next_run(statuses);
    let run = driftguard_core::ports::TerraformCloud::create_run(
        tfc,
        &workspace.id,
        &driftguard_core::ports::RunSpec {
            message: format!(
                "DriftGuard remediation {}",
                steps::run_tag("remediation", EXEC)
            ),
            plan_only: false,
            target_addrs: vec!["aws_security_group.web".into()],
        },
    )
    .await
    .unwrap();
    RunInfo {
        expected_finish_seconds: None,
        first_wait_seconds: None,
        expected_remediation_plan_seconds: None,
        expected_apply_seconds: None,
        run_url: String::new(),
        run_id: run.id,
        workspace_id: workspace.id,
        plan_id: run.plan_id,
        created_at: run.created_at,
        changes: vec![],
        changes_omitted: 0,
        target_addrs: run.target_addrs,
        targets_omitted: 0,
        execution_mode: Some("remote".into()),
    }
}

async fn poll(
    tfc: &InMemoryTerraformCloud,
    run: &RunInfo,
    apply: Option<ApplyRequested>,
    at: i64,
) -> driftguard_core::Result<PollState> {
    steps::poll_run(
        &PollRequest {
            check: check(),
            run: run.clone(),
            poll: None,
            apply,
            execution_id: Some(EXEC.into()),
        },
        tfc,
        &config(&[]),
        at,
    )
    .await
}

fn epoch(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// With cost estimation and policy checks, `planned` is a passing status: the
/// remediation run is ready only once HCP Terraform says it is confirmable.
#[tokio::test]
async fn a_remediation_run_awaits_apply_only_once_confirmable() {
    let tfc = tfc();
    let run = remediation_run(
        &tfc,
        &[
            "planning",
            "planned",
            "cost_estimating",
            "cost_estimated",
            "policy_checking",
            "policy_checked",
        ],
    )
    .await;
    let at = epoch(&run.created_at) + 5;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let state = poll(&tfc, &run, None, at).await.unwrap();
        seen.push((
            state.status.clone(),
            state.phase,
            state.detail.clone().unwrap(),
        ));
    }
    let phases: Vec<Phase> = seen.iter().map(|(_, p, _)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Running,
            Phase::Running,
            Phase::Running,
            Phase::Running,
            Phase::Running,
            Phase::AwaitingApply
        ],
        "{seen:?}"
    );
    assert!(
        seen[1]
            .2
            .contains("cost estimation, policy checks or run tasks follow"),
        "{seen:?}"
    );
    assert!(seen[2].2.contains("cost estimation is running"), "{seen:?}");

    // Applying before then would have been refused; now it is requested.
    let request = RemediateRequest {
        approval: None,
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(run.clone()),
    };
    let applied = steps::remediate_apply(
        &request,
        &tfc,
        &assessed_safe(request.remediation.as_ref().unwrap()),
        &config(&[]),
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert!(
        applied.requested && applied.requested_at.is_some(),
        "{applied:?}"
    );
}

/// A failed soft-mandatory policy: the safety check discards the run with the
/// reason; DriftGuard never overrides.
#[tokio::test]
async fn a_policy_override_is_never_overridden_and_skips_remediation() {
    let tfc = tfc();
    let run = remediation_run(
        &tfc,
        &["planning", "planned", "policy_checking", "policy_override"],
    )
    .await;
    let at = epoch(&run.created_at) + 5;
    let mut last = None;
    for _ in 0..4 {
        last = Some(poll(&tfc, &run, None, at).await.unwrap());
    }
    let last = last.unwrap();
    assert_eq!(last.phase, Phase::NeedsOverride);
    let request = RemediateRequest {
        approval: None,
        action: RemediationAction::Assess,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(run.clone()),
    };
    let safety = steps::remediate_assess(&request, &tfc, &config(&[]))
        .await
        .unwrap();
    assert!(!safety.safe && safety.discarded, "{safety:?}");
    assert!(
        safety.reason.contains("policy_override") && safety.reason.contains("never overrides"),
        "{}",
        safety.reason
    );
    let actions: Vec<_> = tfc.actions().into_iter().map(|a| a.action).collect();
    assert_eq!(actions, [driftguard_core::tfc::RunAction::Discard]);
}

/// A run that is no longer confirmable is not applied; the reason says why.
#[tokio::test]
async fn an_apply_of_a_run_no_longer_confirmable_is_not_requested() {
    let tfc = tfc();
    let run = remediation_run(&tfc, &["discarded"]).await;
    let request = RemediateRequest {
        approval: None,
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(run),
    };
    let applied = steps::remediate_apply(
        &request,
        &tfc,
        &assessed_safe(request.remediation.as_ref().unwrap()),
        &config(&[]),
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert!(!applied.requested);
    assert!(applied.reason.unwrap().contains("discarded"));
    assert!(tfc.actions().is_empty());
}

/// The plan timeout counts from the run's creation; it does not govern the
/// apply, which has its own bound from the apply request and is never canceled.
#[tokio::test]
async fn a_slow_apply_is_never_canceled_and_fails_past_its_own_bound() {
    let tfc = tfc();
    let run = remediation_run(&tfc, &["applying"]).await;
    let created = epoch(&run.created_at);
    let requested_at = chrono::DateTime::from_timestamp(created + 500, 0)
        .unwrap()
        .to_rfc3339();
    let apply = ApplyRequested {
        run_id: run.run_id.clone(),
        requested: true,
        requested_at: Some(requested_at),
        reason: None,
        plan_seconds: None,
        expected_finish_seconds: None,
        first_wait_seconds: None,
        skipped: None,
    };
    // Past the plan timeout (600 s from creation), well within the apply's bound.
    let state = poll(&tfc, &run, Some(apply.clone()), created + 900)
        .await
        .unwrap();
    assert_eq!(
        (state.phase, state.status.as_str()),
        (Phase::Running, "applying")
    );
    assert_eq!(state.elapsed_seconds, 400, "counted from the apply request");
    // Past the apply's bound (7200 s): the step fails, the apply goes on.
    let err = poll(&tfc, &run, Some(apply), created + 500 + 7_200)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ApplyTimedOut");
    assert!(err.to_string().contains("never cancels"), "{err}");
    assert!(
        tfc.actions().is_empty(),
        "a running apply was acted on: {:?}",
        tfc.actions()
    );
}

/// An errored plan says why: its log's last lines are in the poll state.
#[tokio::test]
async fn an_errored_plan_quotes_its_log() {
    let (tfc, batches) = (tfc(), InMemoryBatchStore::new());
    let config = config(&[]);
    let (_, run) = admitted_run(&tfc, &batches, &config).await;
    tfc.script_run(&run.run_id, &["errored"]);
    tfc.set_plan_log(
        run.plan_id.as_deref().unwrap(),
        "Terraform v1.11.4\n│ Error: No valid credential sources found\n╵\nOperation failed: failed running terraform plan (exit 1)\n",
    );
    let state = poll(&tfc, &run, None, epoch(&run.created_at) + 5)
        .await
        .unwrap();
    assert_eq!(state.phase, Phase::Errored);
    let detail = state.detail.unwrap();
    assert!(
        detail.contains("No valid credential sources found"),
        "{detail}"
    );
}

/// The on-failure handler discards a remediation run the failed execution
/// left waiting for confirmation, so it does not block the workspace's queue.
#[tokio::test]
async fn a_failed_execution_does_not_leave_a_confirmable_remediation_run() {
    let (history, slack, tfc) = (InMemoryHistory::new(), RecordingNotifier::new(), tfc());
    let config = config(&[]);
    let workspace = driftguard_core::ports::TerraformCloud::workspace(&tfc, &check())
        .await
        .unwrap();
    tfc.script_next_run(&["planned"]);
    let run = driftguard_core::ports::TerraformCloud::create_run(
        &tfc,
        &workspace.id,
        &driftguard_core::ports::RunSpec {
            message: format!(
                "DriftGuard remediation {}",
                steps::run_tag("remediation", EXEC)
            ),
            plan_only: false,
            target_addrs: vec!["aws_security_group.web".into()],
        },
    )
    .await
    .unwrap();
    driftguard_core::ports::TerraformCloud::read_run(&tfc, &run.id)
        .await
        .unwrap();
    let mut execution = failed_execution();
    execution.0.status = "TIMED_OUT".into();
    execution.0.error = None;
    execution.0.failed_state = None;
    let handled = steps::handle_failure(
        &status_change_event(),
        &execution,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        Some(&tfc),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(handled.remediation_runs_stopped.len(), 1, "{handled:?}");
    assert_eq!(tfc.run(&run.id).unwrap().status, "discarded");
    assert!(
        handled.remediation_runs_stopped[0].contains(&run.id),
        "{handled:?}"
    );

    // A failure before remediation does not look for one.
    let reads = tfc.run_list_reads();
    steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &InMemoryHistory::new(),
        &slack,
        &InMemoryMetrics::new(),
        Some(&tfc),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(tfc.run_list_reads(), reads);
}

#[tokio::test]
async fn remediation_that_would_apply_pending_code_is_skipped_naming_the_resource() {
    let config = config(&[]);
    let (tfc, remediation, safety, targets) =
        remediation_flow(&config, "both.json", "both.remediation.json", |_| {}).await;
    assert_eq!(
        targets, CONSOLE_DRIFT,
        "only drifted addresses, never pending code"
    );
    assert!(!safety.safe);
    assert!(safety.discarded);
    assert!(
        safety.reason.contains("unapplied code changes")
            && safety.reason.contains("aws_security_group.web"),
        "{}",
        safety.reason
    );
    assert!(tfc.actions().iter().any(|a| a.run_id == remediation.run_id));
}

#[tokio::test]
async fn targets_no_longer_drifted_are_not_claimed_as_remediated() {
    let config = config(&[]);
    // The check saw the console drift; by the time the remediation was planned
    // only the instance's user data differed (a stand-in for drift fixed by hand).
    let (_, _, safety, _) = remediation_flow(
        &config,
        "out-of-band.json",
        "replace.remediation.json",
        |_| {},
    )
    .await;
    assert!(!safety.safe, "the instance was not a target");
    assert!(
        safety.reason.contains("aws_instance.worker"),
        "{}",
        safety.reason
    );

    let allowed = self::config(&[("DRIFTGUARD_ALLOW_DESTRUCTIVE_REMEDIATION", "true")]);
    let (_, _, safety, _) = remediation_flow(
        &allowed,
        "replace.json",
        "replace.remediation.json",
        |drift| {
            // As if a second resource had drifted at check time and was fixed since.
            drift.resources.push(DriftedResource {
                address: "aws_iam_user.auditor".into(),
                ..drift.resources[0].clone()
            });
            drift.resource_count = 2;
        },
    )
    .await;
    assert!(safety.safe, "{}", safety.reason);
    assert_eq!(safety.reverts, ["aws_instance.worker"]);
    assert_eq!(safety.no_longer_drifted, ["aws_iam_user.auditor"]);
}

#[tokio::test]
async fn destructive_remediation_is_discarded_with_a_reason() {
    let config = config(&[]);
    let (tfc, remediation, safety, _) =
        remediation_flow(&config, "replace.json", "replace.remediation.json", |_| {}).await;
    assert!(!safety.safe);
    assert!(safety.discarded);
    assert_eq!(safety.destructive_addresses, vec!["aws_instance.worker"]);
    assert!(
        safety.reason.contains("allow_destructive_remediation"),
        "{}",
        safety.reason
    );
    assert!(tfc.actions().iter().any(|a| a.run_id == remediation.run_id));

    let allowed = self::config(&[("DRIFTGUARD_ALLOW_DESTRUCTIVE_REMEDIATION", "true")]);
    let (_, _, safety, _) =
        remediation_flow(&allowed, "replace.json", "replace.remediation.json", |_| {}).await;
    assert!(safety.safe, "{}", safety.reason);
}

struct FailedExecution(ExecutionDescription);

#[async_trait]
impl ExecutionReader for FailedExecution {
    async fn describe(&self, _arn: &str) -> driftguard_core::Result<ExecutionDescription> {
        Ok(self.0.clone())
    }
}

fn failed_execution() -> FailedExecution {
    FailedExecution(ExecutionDescription {
        execution_arn: EXEC.into(),
        input: console_event("e-0"),
        started_at: STARTED.into(),
        status: "FAILED".into(),
        error: Some("TfcConfigurationMissing".into()),
        cause: Some(
            "Workspace 'acme/prod' has no configuration version. Run `terraform plan` once".into(),
        ),
        failed_state: Some("Create plan run".into()),
        redrive_count: 0,
        admission: None,
        finished_checks: vec![],
    })
}

fn status_change_event() -> Value {
    json!({"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
           "detail": {"executionArn": EXEC, "status": "FAILED"}})
}

#[tokio::test]
async fn a_failed_execution_is_recorded_and_alerted_with_the_cause() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    let handled = steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((handled.recorded, handled.notified), (1, 1));
    let record = &history.all()[0];
    assert_eq!(record.status, CheckStatus::CheckFailed);
    let failure = record.failure.as_ref().unwrap();
    assert_eq!(failure.error, "TfcConfigurationMissing");
    assert_eq!(failure.failed_state.as_deref(), Some("Create plan run"));
    let text = driftguard_slack::message_text(&slack.payloads()[0]);
    assert!(text.contains("terraform plan"), "{text}");

    // Delivered twice by EventBridge: no second record or message.
    steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(history.all().len(), 1);
    assert_eq!(slack.payloads().len(), 1);
}

#[tokio::test]
async fn slack_down_never_loses_the_record() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    slack.fail_next(1, Error::SlackUnavailable("503".into()));
    let err = steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "SlackUnavailable");
    assert_eq!(
        history.all().len(),
        1,
        "the record was written before the alert"
    );
    // The retry after Slack recovers sends exactly one message.
    steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(slack.payloads().len(), 1);
}

#[test]
fn a_status_change_event_without_an_execution_is_invalid_input() {
    let err = steps::failed_execution_arn(&json!({"detail": {}})).unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
}

#[tokio::test]
async fn a_redriven_execution_replaces_its_check_failed_record() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    steps::handle_failure(
        &status_change_event(),
        &failed_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(history.all()[0].status, CheckStatus::CheckFailed);
    // After the cause is fixed, the redriven execution records its real outcome.
    let out = outcome(CheckStatus::NoDrift, None, None);
    let record = steps::record(
        &out,
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(record.stored);
    assert_eq!(history.all().len(), 1);
    assert_eq!(history.all()[0].status, CheckStatus::NoDrift);
}

fn two_workspace_config() -> Config {
    config(&[(
        "DRIFTGUARD_WORKSPACES",
        r#"[{"organization":"acme","workspace":"prod"},{"organization":"acme","workspace":"network"},{"organization":"acme","workspace":"dev"}]"#,
    )])
}

fn workspace(name: &str) -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: name.into(),
    }
}

/// Admission owned prod and network and joined dev's batch; prod's check finished.
fn partly_finished_execution() -> FailedExecution {
    let mut execution = failed_execution().0;
    execution.admission = Some(json!({
        "decision": "admit",
        "reason": "…",
        "change": serde_json::to_value(outcome(CheckStatus::NoDrift, None, None).change).unwrap(),
        "checks": [workspace("prod"), workspace("network")],
        "joined": [{"check": workspace("dev"), "owner_execution_id": "other"}],
    }));
    execution.finished_checks = vec![0];
    FailedExecution(execution)
}

#[tokio::test]
async fn only_the_unfinished_checks_the_execution_owned_are_failed() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let handled = steps::handle_failure(
        &status_change_event(),
        &partly_finished_execution(),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &two_workspace_config(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(handled.checks, vec![workspace("network")]);
    assert_eq!((handled.recorded, handled.notified), (1, 1));
    let records = history.all();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].workspace, "network");
    let text = driftguard_slack::message_text(&slack.payloads()[0]);
    assert!(text.contains("acme/network"), "{text}");
    assert!(!text.contains("acme/dev"), "{text}");
}

#[tokio::test]
async fn a_redrive_that_fails_again_is_recorded_and_alerted_once_more() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    let first = failed_execution();
    steps::handle_failure(
        &status_change_event(),
        &first,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();

    let mut again = failed_execution().0;
    again.redrive_count = 1;
    again.error = Some("TfcUnauthorized".into());
    let again = FailedExecution(again);
    for _ in 0..2 {
        // EventBridge may deliver the event twice: one record update, one alert.
        steps::handle_failure(
            &status_change_event(),
            &again,
            &history,
            &slack,
            &InMemoryMetrics::new(),
            None,
            &config,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }
    let records = history.all();
    assert_eq!(records.len(), 1, "one record per check and execution");
    let failure = records[0].failure.as_ref().unwrap();
    assert_eq!(
        (failure.error.as_str(), failure.redrive_count),
        ("TfcUnauthorized", 1)
    );
    assert_eq!(records[0].earlier_failures.len(), 1);
    assert_eq!(
        records[0].earlier_failures[0].error,
        "TfcConfigurationMissing"
    );
    assert_eq!(slack.payloads().len(), 2, "one alert per failure");
    let text = driftguard_slack::message_text(&slack.payloads()[1]);
    assert!(text.contains("Failed again"), "{text}");

    // The redrive count can also come from the status-change event alone.
    let mut event = status_change_event();
    event["detail"]["redriveCount"] = json!(2);
    steps::handle_failure(
        &event,
        &first,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(history.all()[0].redrive_count(), 2);
    assert_eq!(slack.payloads().len(), 3);
}

#[test]
fn a_lambda_error_document_cause_reads_as_its_message() {
    let cause = r#"{"errorType":"TfcConfigurationMissing","errorMessage":"Run `terraform plan` once","trace":[]}"#;
    assert_eq!(steps::readable_cause(cause), "Run `terraform plan` once");
    assert_eq!(steps::readable_cause("plain text"), "plain text");
}

// ---------------------------------------------------------------------------
// Approval mode through the Slack app: one thread per drift.
// ---------------------------------------------------------------------------

struct SlackWorld {
    config: Config,
    history: driftguard_testkit::InMemoryHistory,
    webhook: RecordingNotifier,
    chat: driftguard_testkit::RecordingChat,
    conversations: driftguard_testkit::InMemoryConversations,
    approvals: driftguard_testkit::InMemoryApprovals,
    tasks: driftguard_testkit::RecordingTasks,
}

impl SlackWorld {
    fn new() -> Self {
        let routes = r#"[{"organization":"acme","workspace":"prod","slack":{"channel":"C0DRIFT","approvers":["U0ALICE"]}}]"#;
        SlackWorld {
            config: config(&[
                ("DRIFTGUARD_WORKSPACES", routes),
                (
                    "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET",
                    "driftguard/slack-bot-token",
                ),
            ]),
            history: InMemoryHistory::new(),
            webhook: RecordingNotifier::new(),
            chat: driftguard_testkit::RecordingChat::new(),
            conversations: Default::default(),
            approvals: Default::default(),
            tasks: Default::default(),
        }
    }

    fn app(&self) -> driftguard_core::alerting::ChatApp<'_> {
        driftguard_core::alerting::ChatApp {
            chat: &self.chat,
            format: &driftguard_slack::BlockKit,
            conversations: &self.conversations,
            approvals: &self.approvals,
        }
    }

    /// Record then notify, as the state machine does; the first alert of a
    /// drift carries the mode.
    async fn check(&self, out: &CheckOutcome, now: i64) -> (RecordResult, Notification) {
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap();
        let record = steps::record(
            out,
            &self.history,
            &InMemoryMetrics::new(),
            &self.config,
            at,
        )
        .await
        .unwrap();
        let first_alert = out.status == CheckStatus::DriftDetected && out.approval.is_none();
        let request = NotifyRequest {
            outcome: out.clone(),
            record: Some(record.clone()),
            remediation_mode: first_alert.then_some(RemediationMode::Approval),
            approval_timeout_seconds: first_alert.then_some(3600),
        };
        let app = self.app();
        let n = steps::notify_with_app(
            &request,
            &self.webhook,
            Some(&app),
            &self.history,
            &self.config,
            now,
        )
        .await
        .unwrap();
        (record, n)
    }
}

fn drift_with(fingerprint: &str) -> DriftReport {
    DriftReport {
        drifted: true,
        resource_count: 1,
        resources: vec![DriftedResource {
            address: "aws_security_group.web".into(),
            resource_type: "aws_security_group".into(),
            actions: vec!["update".into()],
            changed_attributes: vec!["ingress".into()],
            ..DriftedResource::default()
        }],
        fingerprint: fingerprint.into(),
        ..DriftReport::default()
    }
}

fn in_execution(mut out: CheckOutcome, name: &str) -> CheckOutcome {
    out.execution_id = EXEC.replace("exec-1", name);
    out
}

fn decided(decision: DriftDecision) -> ApprovalDecision {
    ApprovalDecision {
        decision,
        automatic: false,
        by: Some(SlackUser {
            id: "U0ALICE".into(),
            name: "alice".into(),
        }),
        decided_at: Some("2026-11-22T10:05:00Z".into()),
        reason: (decision == DriftDecision::Accept).then(|| "vendor hot-fix".into()),
        until: (decision == DriftDecision::Accept).then(|| "2026-12-01".into()),
    }
}

fn texts(payload: &Value) -> String {
    driftguard_slack::message_text(payload)
}

#[tokio::test]
async fn accepted_drift_is_quiet_until_its_date_then_alerts_in_a_new_thread() {
    let w = SlackWorld::new();
    let now = epoch("2026-11-22T10:00:00Z");
    let drifted = outcome(CheckStatus::DriftDetected, None, Some(drift_with("fp-1")));

    // The alert: a new message with the buttons; the check waits for a decision.
    let first = in_execution(drifted.clone(), "exec-1");
    let (_, n) = w.check(&first, now).await;
    assert!(n.sent && n.approval_requested, "{n:?}");
    let id = n.approval_id.clone().unwrap();
    let parents = w.chat.parents();
    assert_eq!(parents.len(), 1);
    let alert = parents[0].latest().to_string();
    assert!(
        alert.contains("driftguard_fix") && alert.contains(&id),
        "{alert}"
    );
    assert!(w.webhook.payloads().is_empty(), "the app, not the webhook");

    // Alice accepts (what the receiver and the wait hand over as $.approval).
    let token = driftguard_core::model::AwaitDecisionRequest {
        check: check(),
        execution_id: first.execution_id.clone(),
        approval_id: id.clone(),
        task_token: "token-1".into(),
        timeout_seconds: 3600,
    };
    driftguard_core::approval::await_decision(&token, &w.approvals, &w.tasks, now)
        .await
        .unwrap();
    let mut accepted = first.clone();
    accepted.status = CheckStatus::DriftAccepted;
    accepted.approval = Some(decided(DriftDecision::Accept));
    let (record, n) = w.check(&accepted, now + 300).await;
    assert!(record.stored && n.sent, "{record:?} {n:?}");
    let records = w.history.all();
    assert_eq!(
        records.len(),
        1,
        "the decision's record replaced the drift's"
    );
    let acceptance = records[0]
        .acceptance
        .clone()
        .expect("accepted by whom, why, until when");
    assert_eq!(
        (
            acceptance.by.id.as_str(),
            acceptance.reason.as_str(),
            acceptance.until.as_str()
        ),
        ("U0ALICE", "vendor hot-fix", "2026-12-01")
    );
    let replies = w.chat.replies(&parents[0].ts);
    assert_eq!(replies.len(), 1);
    assert!(
        texts(replies[0].latest()).contains("accepted the drift"),
        "{:?}",
        replies[0]
    );
    let parent_now = w.chat.parents()[0].latest().clone();
    assert!(
        texts(&parent_now).starts_with("📝 Drift accepted: acme/prod"),
        "{}",
        texts(&parent_now)
    );
    assert!(
        !parent_now.to_string().contains("driftguard_fix"),
        "no more buttons"
    );

    // The same drift again before the date: recorded, not alerted, nobody asked.
    let (record, n) = w
        .check(&in_execution(drifted.clone(), "exec-2"), now + 3600)
        .await;
    assert!(record.accepted.is_some(), "{record:?}");
    assert!(!n.sent && !n.approval_requested, "{n:?}");
    assert!(
        n.suppressed_reason
            .unwrap()
            .contains("accepted by alice until 2026-12-01")
    );
    assert_eq!(w.chat.parents().len(), 1);

    // After the date: alerted again, with buttons, in a new thread.
    let after = driftguard_core::history::end_of_day_epoch("2026-12-01").unwrap();
    let (record, n) = w
        .check(&in_execution(drifted.clone(), "exec-3"), after + 60)
        .await;
    assert!(record.accepted.is_none());
    assert!(n.sent && n.approval_requested, "{n:?}");
    assert_eq!(w.chat.parents().len(), 2);

    // A clean check later: a reply in that thread, the parent says resolved.
    let clean = in_execution(
        outcome(CheckStatus::NoDrift, None, Some(DriftReport::default())),
        "exec-4",
    );
    let (_, n) = w.check(&clean, after + 120).await;
    assert!(n.sent, "resolving the open thread counts as sent: {n:?}");
    let third = &w.chat.parents()[1];
    let replies = w.chat.replies(&third.ts);
    assert!(
        texts(replies[0].latest()).contains("Resolved"),
        "{replies:?}"
    );
    assert!(texts(third.latest()).starts_with("✅ Drift resolved: acme/prod"));
    // And only once: the next clean check has nothing open.
    let (_, n) = w
        .check(&in_execution(clean.clone(), "exec-5"), after + 180)
        .await;
    assert!(!n.sent, "{n:?}");
}

#[tokio::test]
async fn an_approved_fix_is_told_in_the_drifts_thread_with_who_approved() {
    let w = SlackWorld::new();
    let now = epoch("2026-11-22T10:00:00Z");
    let drifted = outcome(CheckStatus::DriftDetected, None, Some(drift_with("fp-9")));
    let (_, n) = w.check(&drifted, now).await;
    assert!(n.approval_requested);
    // Notify fix approved: a reply naming Alice, before the remediation runs.
    let mut approved = drifted.clone();
    approved.approval = Some(decided(DriftDecision::Fix));
    let record = steps::record(
        &drifted,
        &w.history,
        &InMemoryMetrics::new(),
        &w.config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let app = w.app();
    let announce = NotifyRequest {
        outcome: approved.clone(),
        record: Some(record),
        remediation_mode: None,
        approval_timeout_seconds: None,
    };
    steps::notify_with_app(
        &announce,
        &w.webhook,
        Some(&app),
        &w.history,
        &w.config,
        now + 10,
    )
    .await
    .unwrap();
    // A retried step posts nothing twice.
    steps::notify_with_app(
        &announce,
        &w.webhook,
        Some(&app),
        &w.history,
        &w.config,
        now + 11,
    )
    .await
    .unwrap();
    let parent = &w.chat.parents()[0];
    let replies = w.chat.replies(&parent.ts);
    assert_eq!(replies.len(), 1);
    assert!(
        texts(replies[0].latest()).contains("@U0ALICE approved the fix"),
        "{replies:?}"
    );

    let mut remediated = approved.clone();
    remediated.status = CheckStatus::Remediated;
    let (record, n) = w.check(&remediated, now + 200).await;
    assert!(record.stored && n.sent);
    let records = w.history.all();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, CheckStatus::Remediated);
    assert_eq!(
        records[0]
            .approval
            .as_ref()
            .unwrap()
            .by
            .as_ref()
            .unwrap()
            .id,
        "U0ALICE"
    );
    let parent = &w.chat.parents()[0];
    assert_eq!(w.chat.replies(&parent.ts).len(), 2);
    assert!(texts(parent.latest()).starts_with("🛠️ Drift remediated: acme/prod"));
    assert!(
        texts(parent.latest()).contains("approved by @U0ALICE"),
        "{}",
        texts(parent.latest())
    );
}

#[tokio::test]
async fn workspaces_without_a_channel_keep_the_webhook_and_are_never_asked() {
    let mut w = SlackWorld::new();
    w.config = config(&[(
        "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET",
        "driftguard/slack-bot-token",
    )]);
    let (_, n) = w
        .check(
            &outcome(CheckStatus::DriftDetected, None, Some(drift_with("fp-3"))),
            1,
        )
        .await;
    assert!(n.sent && !n.approval_requested, "{n:?}");
    assert_eq!(w.webhook.payloads().len(), 1);
    assert!(w.chat.messages().is_empty());
}

/// The record step's metrics go out through the metrics port, once per
/// check: a retried record step publishes nothing again.
#[tokio::test]
async fn record_publishes_the_checks_metrics_once_through_the_port() {
    let history = InMemoryHistory::new();
    let metrics = InMemoryMetrics::new();
    let config = config(&[]);
    let out = outcome(CheckStatus::NoDrift, None, None);
    for _ in 0..2 {
        steps::record(&out, &history, &metrics, &config, chrono::Utc::now())
            .await
            .unwrap();
    }
    let published = metrics.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].status, CheckStatus::NoDrift);
    assert_eq!(published[0].workspace, check().to_string());
    assert!(published[0].line(0).contains("\"Checks\":1"));
}

/// create-run with the workspace's history, as the Lambda runs it.
async fn learn(
    req: &CreateRunRequest,
    tfc: &InMemoryTerraformCloud,
    batches: &InMemoryBatchStore,
    history: &InMemoryHistory,
    config: &Config,
    now_epoch: i64,
) -> RunInfo {
    steps::create_run_learning(req, tfc, batches, Some(history), &config.poll, now_epoch)
        .await
        .unwrap()
}

/// A finished plan of `seconds`, as the poll that saw it finish hands it on.
fn finished_poll(seconds: u64) -> PollState {
    PollState {
        phase: Phase::Planned,
        status: "planned_and_finished".into(),
        has_changes: Some(false),
        next_wait_seconds: 5,
        polls: 2,
        elapsed_seconds: seconds + 3,
        detail: None,
        plan_seconds: Some(seconds),
        apply_seconds: None,
    }
}

/// A workspace with one admitted change, an empty history, and the config
/// the learned-schedule tests run with.
async fn learning_workspace() -> (
    InMemoryTerraformCloud,
    InMemoryBatchStore,
    InMemoryHistory,
    Config,
    Change,
) {
    let (tfc, batches, history) = (tfc(), InMemoryBatchStore::new(), InMemoryHistory::new());
    let config = config(&[]);
    let (change, _) = admitted_run(&tfc, &batches, &config).await;
    (tfc, batches, history, config, change)
}

/// Create plan run's request for `change` in another execution.
fn create_in(change: &Change, execution: &str) -> CreateRunRequest {
    CreateRunRequest {
        check: check(),
        change: change.clone(),
        execution_id: EXEC.replace("exec-1", execution),
    }
}

/// Records an earlier check of the workspace, as the record step does.
async fn record_past(out: &CheckOutcome, history: &InMemoryHistory, config: &Config) {
    steps::record(
        out,
        history,
        &InMemoryMetrics::new(),
        config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_workspace_with_plan_history_is_first_polled_at_its_expected_finish() {
    let (tfc, batches, history, config, change) = learning_workspace().await;
    let create = |execution: &str| create_in(&change, execution);

    // No history yet: the fixed schedule's short first wait.
    let run = learn(&create("exec-2"), &tfc, &batches, &history, &config, 1_010).await;
    assert_eq!(run.expected_finish_seconds, None);
    assert_eq!(run.first_wait_seconds, Some(2));

    // Recorded checks keep their plan durations.
    for (i, seconds) in [130, 118, 125, 121, 140].into_iter().enumerate() {
        let mut out = in_execution(
            outcome(CheckStatus::NoDrift, None, None),
            &format!("exec-h{i}"),
        );
        out.poll = Some(finished_poll(seconds));
        record_past(&out, &history, &config).await;
    }

    tfc.script_next_run(&["planning", "planned_and_finished"]);
    let run = learn(&create("exec-3"), &tfc, &batches, &history, &config, 1_010).await;
    // The lower quartile of 118, 121, 125, 130, 140.
    assert_eq!(run.expected_finish_seconds, Some(121));
    let created = chrono::DateTime::parse_from_rfc3339(&run.created_at)
        .unwrap()
        .timestamp();
    let learned = learn(
        &create("exec-3"),
        &tfc,
        &batches,
        &history,
        &config,
        created + 1,
    )
    .await;
    assert_eq!(learned.run_id, run.run_id, "a retry finds the same run");
    assert_eq!(learned.first_wait_seconds, Some(120));

    // Still planning at the expected finish: a short step (10 % of the run's
    // age, jittered down by at most 20 %), not the fixed schedule's.
    let state = steps::poll_run(
        &PollRequest {
            check: check(),
            run: learned.clone(),
            poll: None,
            apply: None,
            execution_id: Some(EXEC.into()),
        },
        &tfc,
        &config,
        created + 121,
    )
    .await
    .unwrap();
    assert_eq!(state.phase, Phase::Running);
    assert!((9..=12).contains(&state.next_wait_seconds), "{state:?}");
    assert_eq!(
        state.plan_seconds, None,
        "only a finished plan has a duration"
    );
}

/// A remediated check's final poll, as the apply poll that saw it applied
/// hands it on: the remediation plan's and the apply's durations.
fn applied_poll(plan_seconds: u64, apply_seconds: u64) -> RemediationOutcome {
    RemediationOutcome {
        run: None,
        safety: None,
        final_poll: Some(PollState {
            phase: Phase::Applied,
            status: "applied".into(),
            has_changes: Some(true),
            next_wait_seconds: 5,
            polls: 3,
            elapsed_seconds: apply_seconds + 2,
            detail: None,
            plan_seconds: Some(plan_seconds),
            apply_seconds: Some(apply_seconds),
        }),
    }
}

#[tokio::test]
async fn remediation_plans_and_applies_learn_from_the_workspace_s_recent_remediations() {
    let (tfc, batches, history, config, change) = learning_workspace().await;
    let create = |execution: &str| create_in(&change, execution);
    let run = learn(&create("exec-2"), &tfc, &batches, &history, &config, 1_010).await;
    assert_eq!(
        run.expected_remediation_plan_seconds, None,
        "no remediation yet"
    );
    assert_eq!(run.expected_apply_seconds, None);

    // Two remediated checks among plain ones.
    for (i, remediation) in [Some(applied_poll(70, 45)), None, Some(applied_poll(64, 52))]
        .into_iter()
        .enumerate()
    {
        let status = if remediation.is_some() {
            CheckStatus::Remediated
        } else {
            CheckStatus::NoDrift
        };
        let mut out = in_execution(outcome(status, None, None), &format!("exec-r{i}"));
        out.poll = Some(finished_poll(120));
        out.remediation = remediation;
        record_past(&out, &history, &config).await;
    }
    let run = learn(&create("exec-3"), &tfc, &batches, &history, &config, 1_010).await;
    assert_eq!(run.expected_finish_seconds, Some(120));
    assert_eq!(
        run.expected_remediation_plan_seconds,
        Some(64),
        "lower quartile of 64, 70"
    );
    assert_eq!(
        run.expected_apply_seconds,
        Some(45),
        "lower quartile of 45, 52"
    );

    // The remediation run the fix creates carries the apply's expectation on.
    let mut remediation = remediation_run(&tfc, &["planned"]).await;
    remediation.expected_apply_seconds = run.expected_apply_seconds;
    let created = epoch(&remediation.created_at);
    tfc.update_run(&remediation.run_id, |r| {
        r.status = "planned".into();
        r.is_confirmable = true;
        r.is_discardable = true;
        r.status_changed_at =
            chrono::DateTime::from_timestamp(created + 66, 0).map(|t| t.to_rfc3339());
    });
    let apply = RemediateRequest {
        approval: None,
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(remediation.clone()),
    };
    let requested_at = chrono::DateTime::from_timestamp(created + 80, 0).unwrap();
    let applying = steps::remediate_apply(
        &apply,
        &tfc,
        &assessed_safe(&remediation),
        &config,
        requested_at,
    )
    .await
    .unwrap();
    assert!(applying.requested);
    assert_eq!(applying.plan_seconds, Some(66), "creation to confirmable");
    assert_eq!(applying.expected_finish_seconds, Some(45));
    assert_eq!(
        applying.first_wait_seconds,
        Some(45),
        "the first apply poll at the expected finish"
    );

    // Still applying past the expected finish: a short learned step.
    tfc.script_run(&remediation.run_id, &["applying", "applied"]);
    let state = poll(
        &tfc,
        &remediation,
        Some(applying.clone()),
        created + 80 + 46,
    )
    .await
    .unwrap();
    assert_eq!(state.phase, Phase::Running);
    assert_eq!(
        state.next_wait_seconds, 5,
        "10 % of 46 s is below the 5 s minimum: {state:?}"
    );
    assert_eq!(state.apply_seconds, None);

    // Applied: the final poll keeps both durations for the history.
    tfc.update_run(&remediation.run_id, |r| {
        r.status_changed_at =
            chrono::DateTime::from_timestamp(created + 80 + 49, 0).map(|t| t.to_rfc3339());
    });
    let state = poll(&tfc, &remediation, Some(applying), created + 80 + 51)
        .await
        .unwrap();
    assert_eq!(state.phase, Phase::Applied);
    assert_eq!(state.apply_seconds, Some(49));
    assert_eq!(state.plan_seconds, Some(66));
}

#[test]
fn a_plan_lasts_from_the_run_s_creation_to_its_finished_status() {
    let run = driftguard_core::ports::TfcRun {
        id: "run-1".into(),
        status: "planned_and_finished".into(),
        message: String::new(),
        created_at: "2026-11-22T10:00:00Z".into(),
        has_changes: Some(false),
        plan_only: true,
        plan_id: None,
        workspace_id: None,
        target_addrs: vec![],
        is_confirmable: false,
        is_discardable: false,
        is_cancelable: false,
        position_in_queue: None,
        status_changed_at: Some("2026-11-22T10:02:03+00:00".into()),
        created_by: None,
        configuration_version_id: None,
    };
    assert_eq!(steps::plan_seconds_of(&run), Some(123));
    let unknown = driftguard_core::ports::TfcRun {
        status_changed_at: None,
        ..run
    };
    assert_eq!(steps::plan_seconds_of(&unknown), None);
}

#[tokio::test]
async fn the_workspace_id_comes_from_the_last_check_and_a_stale_one_is_looked_up() {
    let (tfc, batches, history) = (tfc(), InMemoryBatchStore::new(), InMemoryHistory::new());
    let config = config(&[]);
    let (change, first) = admitted_run(&tfc, &batches, &config).await;
    let create = |execution: &str| CreateRunRequest {
        check: check(),
        change: change.clone(),
        execution_id: EXEC.replace("exec-1", execution),
    };
    let remember = |execution: &str, workspace_id: &str| {
        let mut out = in_execution(
            outcome(
                CheckStatus::NoDrift,
                Some(RunInfo {
                    workspace_id: workspace_id.into(),
                    // Not what the workspace says now: shows the history was used.
                    execution_mode: Some("agent".into()),
                    ..first.clone()
                }),
                None,
            ),
            execution,
        );
        out.poll = Some(finished_poll(100));
        out
    };

    // The last check knew the workspace: no lookup, its id and mode are reused.
    steps::record(
        &remember("exec-h1", &first.workspace_id),
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let run = learn(&create("exec-2"), &tfc, &batches, &history, &config, 1_010).await;
    assert_eq!(run.workspace_id, first.workspace_id);
    assert_eq!(run.execution_mode.as_deref(), Some("agent"));
    assert_eq!(tfc.created_runs().len(), 2);

    // The workspace was deleted and created again under its name: the run
    // request answers 404, the workspace is looked up, the run is created.
    steps::record(
        &remember("exec-h2", "ws-gone"),
        &history,
        &InMemoryMetrics::new(),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let run = learn(&create("exec-3"), &tfc, &batches, &history, &config, 1_010).await;
    assert_eq!(run.workspace_id, first.workspace_id);
    assert_eq!(run.execution_mode, first.execution_mode);
    assert_eq!(tfc.created_runs().len(), 3);
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

fn one_drifted_resource() -> DriftReport {
    DriftReport {
        drifted: true,
        resource_count: 1,
        resources: vec![DriftedResource {
            address: "aws_security_group.web".into(),
            resource_type: "aws_security_group".into(),
            actions: vec!["update".into()],
            ..DriftedResource::default()
        }],
        fingerprint: "f1".into(),
        ..DriftReport::default()
    }
}

/// `remediation_mode = "off"` deployed while a check is in flight (waiting
/// for its remediation plan, or redriven): remediate reads the deployed mode
/// at create and at apply and refuses with a reason naming the mode, for the
/// state machine to record as RemediationSkipped; a run waiting for
/// confirmation is discarded, never applied.
#[tokio::test]
async fn remediation_mode_off_deployed_in_flight_stops_create_and_apply() {
    let auto = config(&[]);
    let off = config(&[("DRIFTGUARD_REMEDIATION_MODE", "off")]);
    let (tfc, remediation, safety, _, noted) = remediation_flow_noted(
        &auto,
        "out-of-band.json",
        "out-of-band.remediation.json",
        |_| {},
    )
    .await;
    assert!(safety.safe, "{}", safety.reason);
    let apply = RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(remediation.clone()),
    };
    let applied =
        steps::remediate_apply(&apply, &tfc, &noted, &off, driftguard_core::history::now())
            .await
            .unwrap();
    assert!(!applied.requested, "{applied:?}");
    let skipped = applied
        .skipped
        .expect("a refusal the state machine records");
    assert!(!skipped.safe);
    assert!(
        skipped.reason.contains("remediation_mode is \"off\""),
        "{}",
        skipped.reason
    );
    assert!(
        skipped.discarded,
        "the waiting run no longer holds the queue"
    );
    let actions: Vec<_> = tfc
        .actions()
        .into_iter()
        .filter(|a| a.run_id == remediation.run_id)
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, [driftguard_core::tfc::RunAction::Discard]);

    // A create under the new setting (a redrive, a retry) creates nothing.
    let ledger = InMemoryRemediationLedger::new();
    let runs_before = tfc.created_runs().len();
    let create = RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Create,
        check: check(),
        execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard-check:exec-2"
            .into(),
        drift: Some(one_drifted_resource()),
        run: None,
        remediation: None,
    };
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &off,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    let skipped = created
        .skipped
        .expect("a refusal the state machine records");
    assert!(
        skipped.reason.contains("remediation_mode is \"off\""),
        "{}",
        skipped.reason
    );
    assert_eq!(tfc.created_runs().len(), runs_before, "no run created");

    // A retried create whose earlier attempt already created (and stored) a
    // run: that run is stopped, not left holding the workspace's queue.
    tfc.update_run(&remediation.run_id, |r| {
        r.status = "planned".into();
        r.is_confirmable = true;
        r.is_discardable = true;
    });
    let created = steps::remediate_create(
        &RemediateRequest {
            execution_id: EXEC.into(),
            ..create.clone()
        },
        &tfc,
        &noted,
        &off,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert!(created.skipped.is_some());
    assert_eq!(tfc.created_runs().len(), runs_before, "no run created");
    let stored = tfc.run(&remediation.run_id).unwrap();
    assert_eq!(stored.status, "discarded", "{stored:?}");
    let discards = tfc
        .actions()
        .into_iter()
        .filter(|a| a.run_id == remediation.run_id)
        .count();
    assert_eq!(discards, 2, "discarded again by the refused create");
}

/// Switched from `auto` to `approval` while a check was in flight: its
/// automatic decision no longer remediates; a person's Fix drift does.
#[tokio::test]
async fn approval_mode_deployed_in_flight_needs_a_persons_fix() {
    let (tfc, ledger) = (tfc(), InMemoryRemediationLedger::new());
    let approval = config(&[("DRIFTGUARD_REMEDIATION_MODE", "approval")]);
    let mut create = RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Create,
        check: check(),
        execution_id: EXEC.into(),
        drift: Some(one_drifted_resource()),
        run: None,
        remediation: None,
    };
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &approval,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    let skipped = created.skipped.expect("refused");
    assert!(
        skipped.reason.contains("\"approval\""),
        "{}",
        skipped.reason
    );
    assert!(tfc.created_runs().is_empty());
    // Unset (an old deployment): nothing is remediated either.
    let unset = Config::from_lookup(|k| {
        (k == "DRIFTGUARD_ORGANIZATION" || k == "DRIFTGUARD_WORKSPACE").then(|| {
            if k == "DRIFTGUARD_ORGANIZATION" {
                "acme"
            } else {
                "prod"
            }
            .to_string()
        })
    })
    .unwrap();
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &unset,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert!(
        created
            .skipped
            .expect("refused")
            .reason
            .contains("DRIFTGUARD_REMEDIATION_MODE"),
    );
    assert!(tfc.created_runs().is_empty());

    create.approval = Some(ApprovalDecision {
        automatic: false,
        by: Some(SlackUser {
            id: "U0ALICE".into(),
            name: "alice".into(),
        }),
        ..automatic_fix()
    });
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &approval,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert_eq!(created.skipped, None);
    assert_eq!(tfc.created_runs().len(), 1);
}

/// A workspace user who may only queue plans reads the execution's name in
/// the check run's message and queues a run carrying its remediation tag
/// before DriftGuard does (same targets, current configuration). The first
/// attempt of create never looks for an earlier run: it creates its own.
#[tokio::test]
async fn a_planted_run_with_the_execution_tag_is_never_adopted_by_a_first_attempt() {
    let (tfc, ledger) = (tfc(), InMemoryRemediationLedger::new());
    let config = config(&[]);
    let planted = tfc.queue_run_as(
        "user-mallory",
        "ws-prod",
        &driftguard_core::ports::RunSpec {
            message: format!("looks legit {}", steps::run_tag("remediation", EXEC)),
            plan_only: false,
            target_addrs: vec!["aws_security_group.web".into()],
        },
    );
    let create = RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Create,
        check: check(),
        execution_id: EXEC.into(),
        drift: Some(one_drifted_resource()),
        run: None,
        remediation: None,
    };
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &config,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert_ne!(created.run_id, planted.id, "the planted run was adopted");
    assert_eq!(
        tfc.created_runs().len(),
        1,
        "DriftGuard created its own run"
    );
    assert_eq!(
        tfc.run_list_reads(),
        0,
        "a first attempt reads no runs list"
    );
    let noted = driftguard_core::ports::RemediationLedger::attempt(&ledger, &check(), EXEC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(noted.run_id.as_deref(), Some(created.run_id.as_str()));
}

/// A retry after a `POST /runs` whose answer was lost reads the runs list,
/// and among the runs carrying the tag adopts only the one DriftGuard's
/// token created with the computed targets and the workspace's current
/// configuration; planted runs (another user's, a plan-only one, other
/// targets, an old configuration version) are not adopted.
#[tokio::test]
async fn a_retry_adopts_only_the_run_drift_guard_created() {
    let (tfc, ledger) = (tfc(), InMemoryRemediationLedger::new());
    let config = config(&[]);
    let tag = steps::run_tag("remediation", EXEC);
    let spec = |plan_only: bool, targets: &[&str]| driftguard_core::ports::RunSpec {
        message: format!("DriftGuard remediation of 1 drifted resource {tag}"),
        plan_only,
        target_addrs: targets.iter().map(|t| t.to_string()).collect(),
    };
    // The earlier attempt marked, then created its run; the answer was lost.
    driftguard_core::ports::RemediationLedger::mark_requested(&ledger, &check(), EXEC, 1_000)
        .await
        .unwrap();
    let ours = driftguard_core::ports::TerraformCloud::create_run(
        &tfc,
        "ws-prod",
        &spec(false, &["aws_security_group.web"]),
    )
    .await
    .unwrap();
    // Then others plant newer tagged runs.
    let old_config = tfc.run(&ours.id).unwrap().configuration_version_id;
    for planted in [
        tfc.queue_run_as(
            "user-mallory",
            "ws-prod",
            &spec(false, &["aws_security_group.web"]),
        ),
        tfc.queue_run_as(
            "user-DriftGuard",
            "ws-prod",
            &spec(true, &["aws_security_group.web"]),
        ),
        tfc.queue_run_as(
            "user-DriftGuard",
            "ws-prod",
            &spec(false, &["aws_iam_user.deployer"]),
        ),
    ] {
        assert_ne!(planted.id, ours.id);
    }
    let create = RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Create,
        check: check(),
        execution_id: EXEC.into(),
        drift: Some(one_drifted_resource()),
        run: None,
        remediation: None,
    };
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &config,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert_eq!(created.run_id, ours.id, "the run DriftGuard created");
    assert_eq!(tfc.run_list_reads(), 1);
    assert_eq!(tfc.created_runs().len(), 1, "no second run");
    assert_eq!(old_config.as_deref(), Some("cv-prod"));

    // A new configuration version since: even DriftGuard's own earlier run
    // no longer fits; it is discarded and a new run created.
    let (tfc, ledger) = (self::tfc(), InMemoryRemediationLedger::new());
    driftguard_core::ports::RemediationLedger::mark_requested(&ledger, &check(), EXEC, 1_000)
        .await
        .unwrap();
    tfc.script_next_run(&["planned"]);
    let stale = driftguard_core::ports::TerraformCloud::create_run(
        &tfc,
        "ws-prod",
        &spec(false, &["aws_security_group.web"]),
    )
    .await
    .unwrap();
    driftguard_core::ports::TerraformCloud::read_run(&tfc, &stale.id)
        .await
        .unwrap();
    tfc.push_configuration("ws-prod").unwrap();
    let created = steps::remediate_create(
        &create,
        &tfc,
        &ledger,
        &config,
        driftguard_core::history::now(),
    )
    .await
    .unwrap();
    assert_ne!(created.run_id, stale.id);
    assert_eq!(tfc.created_runs().len(), 2);
    let discarded: Vec<_> = tfc
        .actions()
        .into_iter()
        .filter(|a| a.run_id == stale.id)
        .map(|a| a.action)
        .collect();
    assert_eq!(discarded, [driftguard_core::tfc::RunAction::Discard]);
}

/// A confirmable run queued by another user with the execution's tag.
fn planted_confirmable(tfc: &InMemoryTerraformCloud, user: &str) -> RunInfo {
    let planted = tfc.queue_run_as(
        user,
        "ws-prod",
        &driftguard_core::ports::RunSpec {
            message: format!("fix {}", steps::run_tag("remediation", EXEC)),
            plan_only: false,
            target_addrs: vec!["aws_security_group.web".into()],
        },
    );
    tfc.update_run(&planted.id, |r| {
        r.status = "planned".into();
        r.has_changes = Some(true);
        r.is_confirmable = true;
        r.is_discardable = true;
    });
    RunInfo {
        run_id: planted.id.clone(),
        workspace_id: "ws-prod".into(),
        plan_id: planted.plan_id.clone(),
        created_at: planted.created_at.clone(),
        ..RunInfo::default()
    }
}

/// remediate's apply is handed a run id: it confirms only the run this
/// execution's create stored and the safety check found safe, created by
/// the token's user with the execution's tag, and leaves any other run
/// alone (RemediationSkipped with the reason).
#[tokio::test]
async fn apply_confirms_only_the_run_drift_guard_created_and_found_safe() {
    let config = config(&[]);
    let (tfc, remediation, safety, _, ledger) = remediation_flow_noted(
        &config,
        "out-of-band.json",
        "out-of-band.remediation.json",
        |_| {},
    )
    .await;
    assert!(safety.safe, "{}", safety.reason);
    let apply = |run: &RunInfo| RemediateRequest {
        approval: Some(automatic_fix()),
        action: RemediationAction::Apply,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(run.clone()),
    };
    let now = driftguard_core::history::now();

    // Someone else's confirmable run, tagged for this execution.
    let planted = planted_confirmable(&tfc, "user-mallory");
    let refused = steps::remediate_apply(&apply(&planted), &tfc, &ledger, &config, now)
        .await
        .unwrap();
    assert!(!refused.requested, "{refused:?}");
    let skipped = refused
        .skipped
        .expect("a refusal the state machine records");
    assert!(
        skipped.reason.contains(&planted.run_id),
        "{}",
        skipped.reason
    );
    // A run of DriftGuard's own token, but not the one this execution stored.
    let other = planted_confirmable(
        &tfc,
        driftguard_testkit::terraform_cloud::DEFAULT_TOKEN_USER,
    );
    let refused = steps::remediate_apply(&apply(&other), &tfc, &ledger, &config, now)
        .await
        .unwrap();
    assert!(refused.skipped.is_some() && !refused.requested);
    assert!(
        tfc.actions()
            .iter()
            .all(|a| a.run_id != planted.run_id && a.run_id != other.run_id),
        "nothing done to runs that are not DriftGuard's: {:?}",
        tfc.actions()
    );

    // DriftGuard's own run before (or without) a safe assessment.
    let unassessed = InMemoryRemediationLedger::new();
    unassessed.put(
        &check(),
        EXEC,
        driftguard_core::ports::RemediationAttempt {
            requested_at: 1_000,
            run_id: Some(remediation.run_id.clone()),
            safe_run_id: None,
        },
    );
    let refused = steps::remediate_apply(&apply(&remediation), &tfc, &unassessed, &config, now)
        .await
        .unwrap();
    let reason = refused.skipped.expect("refused").reason;
    assert!(reason.contains("no safe assessment"), "{reason}");
    assert!(tfc.actions().iter().all(|a| a.run_id != remediation.run_id));

    // The run it created and found safe is confirmed.
    let applied = steps::remediate_apply(&apply(&remediation), &tfc, &ledger, &config, now)
        .await
        .unwrap();
    assert!(
        applied.requested && applied.skipped.is_none(),
        "{applied:?}"
    );
    let confirmed: Vec<_> = tfc
        .actions()
        .into_iter()
        .filter(|a| a.action == driftguard_core::tfc::RunAction::Apply)
        .map(|a| a.run_id)
        .collect();
    assert_eq!(confirmed, vec![remediation.run_id.clone()]);
}

/// The safety check is handed a run id too: it judges (and may discard)
/// only the run this execution's create stored, and notes a safe verdict
/// for exactly that run.
#[tokio::test]
async fn the_safety_check_judges_only_the_stored_run() {
    let config = config(&[]);
    let (tfc, remediation, safety, _, ledger) = remediation_flow_noted(
        &config,
        "out-of-band.json",
        "out-of-band.remediation.json",
        |_| {},
    )
    .await;
    assert!(safety.safe);
    let noted = driftguard_core::ports::RemediationLedger::attempt(&ledger, &check(), EXEC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        noted.safe_run_id.as_deref(),
        Some(remediation.run_id.as_str())
    );
    let planted = planted_confirmable(&tfc, "user-mallory");
    tfc.set_plan_json(
        planted.plan_id.as_deref().unwrap(),
        fixture("plans/out-of-band.remediation.json"),
    );
    let assess = RemediateRequest {
        approval: None,
        action: RemediationAction::Assess,
        check: check(),
        execution_id: EXEC.into(),
        drift: None,
        run: None,
        remediation: Some(planted.clone()),
    };
    let verdict = steps::remediate_assess_noted(&assess, &tfc, &ledger, &config)
        .await
        .unwrap();
    assert!(!verdict.safe && !verdict.discarded, "{verdict:?}");
    assert!(tfc.actions().iter().all(|a| a.run_id != planted.run_id));
    let noted = driftguard_core::ports::RemediationLedger::attempt(&ledger, &check(), EXEC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        noted.safe_run_id.as_deref(),
        Some(remediation.run_id.as_str())
    );
}

/// poll-run is handed a run id: past the timeout it cancels or discards
/// only a run DriftGuard's token created with the execution's tag; any
/// other run is left as it is, and the failure says why.
#[tokio::test]
async fn poll_run_stops_only_drift_guards_own_runs_past_their_timeout() {
    let tfc = tfc();
    let config = config(&[]);
    let planted = tfc.queue_run_as(
        "user-mallory",
        "ws-prod",
        &driftguard_core::ports::RunSpec {
            message: format!("slow {}", steps::run_tag("check", EXEC)),
            plan_only: true,
            target_addrs: vec![],
        },
    );
    tfc.script_run(&planted.id, &["planning"]);
    let run = RunInfo {
        run_id: planted.id.clone(),
        workspace_id: "ws-prod".into(),
        created_at: planted.created_at.clone(),
        ..RunInfo::default()
    };
    let created = epoch(&planted.created_at);
    let err = poll(&tfc, &run, None, created + 601).await.unwrap_err();
    assert_eq!(err.error_type(), "PlanTimedOut");
    assert!(err.to_string().contains("left running"), "{err}");
    assert!(err.to_string().contains("user-mallory"), "{err}");

    // Without the execution, no run can be told to be DriftGuard's.
    let ours = remediation_run(&tfc, &["planning"]).await;
    let err = steps::poll_run(
        &PollRequest {
            check: check(),
            run: ours.clone(),
            poll: None,
            apply: None,
            execution_id: None,
        },
        &tfc,
        &config,
        epoch(&ours.created_at) + 601,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("left running"), "{err}");

    // A confirmable run past the apply's bound: discarded only when it is ours.
    let waiting = planted_confirmable(&tfc, "user-mallory");
    let apply = ApplyRequested {
        run_id: waiting.run_id.clone(),
        requested: true,
        requested_at: Some(waiting.created_at.clone()),
        reason: None,
        plan_seconds: None,
        expected_finish_seconds: None,
        first_wait_seconds: None,
        skipped: None,
    };
    let err = poll(
        &tfc,
        &waiting,
        Some(apply),
        epoch(&waiting.created_at) + 7_201,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ApplyTimedOut");
    assert!(err.to_string().contains("only its own runs"), "{err}");
    assert!(tfc.actions().is_empty(), "{:?}", tfc.actions());

    // DriftGuard's own run is still canceled (with the execution given).
    let err = poll(&tfc, &ours, None, epoch(&ours.created_at) + 601)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("canceled"), "{err}");
    assert_eq!(tfc.actions().len(), 1);
    assert_eq!(tfc.actions()[0].run_id, ours.run_id);
}

#[tokio::test]
async fn decision_request_ids_are_random_not_derived_from_public_values() {
    // Two deployments alerting on the same execution and workspace: the ids
    // differ, so nobody can compute one from the execution ARN and names.
    let now = epoch("2026-11-22T10:00:00Z");
    let drifted = outcome(CheckStatus::DriftDetected, None, Some(drift_with("fp-r")));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let w = SlackWorld::new();
        let (_, n) = w.check(&drifted, now).await;
        let id = n.approval_id.clone().unwrap();
        assert_eq!(id.len(), 32, "128 bits in hex: {id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        // The id is stored with the request, and a retried alert step answers the same id.
        let stored = driftguard_core::ports::ApprovalStore::get(&w.approvals, &id)
            .await
            .unwrap()
            .expect("stored with the request");
        assert_eq!(stored.execution_id, drifted.execution_id);
        let (_, again) = w.check(&drifted, now + 5).await;
        assert_eq!(again.approval_id.as_deref(), Some(id.as_str()));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_fix_that_fails_after_approval_keeps_the_approver_and_the_runs_in_history() {
    use driftguard_core::ports::{ApprovalStore, TerraformCloud};
    let w = SlackWorld::new();
    let now = epoch("2026-11-22T10:00:00Z");
    let plan_run: RunInfo = serde_json::from_value(json!({
        "run_id": "run-plan1",
        "run_url": "https://app.terraform.io/app/acme/workspaces/prod/runs/run-plan1",
        "workspace_id": "ws-prod",
        "created_at": STARTED,
    }))
    .unwrap();
    let drifted = outcome(
        CheckStatus::DriftDetected,
        Some(plan_run),
        Some(drift_with("fp-f")),
    );
    let (_, n) = w.check(&drifted, now).await;
    let id = n.approval_id.clone().unwrap();
    // Alice's fix, as the receiver records it; the remediation run is created…
    w.approvals
        .decide(&id, &decided(DriftDecision::Fix), now + 60)
        .await
        .unwrap();
    let tfc = tfc();
    let workspace = tfc.workspace(&check()).await.unwrap();
    tfc.script_next_run(&["planning"]);
    let run = tfc
        .create_run(
            &workspace.id,
            &driftguard_core::ports::RunSpec {
                message: format!(
                    "DriftGuard remediation {}",
                    steps::run_tag("remediation", EXEC)
                ),
                plan_only: false,
                target_addrs: vec!["aws_security_group.web".into()],
            },
        )
        .await
        .unwrap();
    // …and the execution fails while polling it.
    let mut execution = failed_execution();
    execution.0.error = Some("TfcUnavailable".into());
    execution.0.cause = Some("HCP Terraform answered 503".into());
    execution.0.failed_state = Some("Check remediation plan".into());
    let app = w.app();
    steps::handle_failure_with_app(
        &status_change_event(),
        &execution,
        &w.history,
        &w.webhook,
        &InMemoryMetrics::new(),
        Some(&app),
        Some(&tfc),
        &w.config,
        chrono::DateTime::from_timestamp(now + 600, 0).unwrap(),
    )
    .await
    .unwrap();
    let records = w.history.all();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.status, CheckStatus::CheckFailed, "{record:?}");
    assert_eq!(
        record.failure.as_ref().map(|f| f.error.as_str()),
        Some("TfcUnavailable")
    );
    assert_eq!(
        record
            .approval
            .as_ref()
            .and_then(|a| a.by.as_ref())
            .map(|u| u.id.as_str()),
        Some("U0ALICE"),
        "who approved the fix"
    );
    assert_eq!(
        record.run_id.as_deref(),
        Some("run-plan1"),
        "the drift's plan run"
    );
    assert_eq!(
        record
            .remediation
            .as_ref()
            .and_then(|r| r.run.as_ref())
            .map(|r| r.run_id.as_str()),
        Some(run.id.as_str()),
        "the remediation run"
    );
    assert!(
        record.drift.as_ref().is_some_and(|d| d.drifted),
        "the drift it fixed"
    );
}

#[tokio::test]
async fn a_failure_event_of_an_execution_redriven_since_changes_nothing() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    let mut event = status_change_event();
    event["detail"]["redriveCount"] = json!(0);
    // Redriven after the event was sent: running again.
    let mut running = failed_execution().0;
    running.status = "RUNNING".into();
    running.redrive_count = 1;
    running.error = None;
    let handled = steps::handle_failure(
        &event,
        &FailedExecution(running),
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((handled.recorded, handled.notified), (0, 0), "{handled:?}");
    // …and failed again since: the older event is not this failure.
    let mut failed_again = failed_execution().0;
    failed_again.redrive_count = 1;
    failed_again.error = Some("TfcUnauthorized".into());
    let failed_again = FailedExecution(failed_again);
    let handled = steps::handle_failure(
        &event,
        &failed_again,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((handled.recorded, handled.notified), (0, 0), "{handled:?}");
    assert!(history.all().is_empty() && slack.payloads().is_empty());
    // The event of that failure is handled.
    event["detail"]["redriveCount"] = json!(1);
    let handled = steps::handle_failure(
        &event,
        &failed_again,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        None,
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((handled.recorded, handled.notified), (1, 1), "{handled:?}");
    assert_eq!(history.all()[0].redrive_count(), 1);
}

/// The drift report of a real plan in `fixtures/plans/`, as summarize makes it.
fn real_drift(plan: &str) -> DriftReport {
    let path = format!("{}/tests/fixtures/plans/{plan}", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::File::open(&path).unwrap();
    driftguard_core::plan::summarize(file, &driftguard_core::plan::Options::default())
        .unwrap()
        .report()
}

/// A drifted outcome of `plan` in execution `name`, changed by the console user.
async fn real_drift_outcome(plan: &str, name: &str) -> CheckOutcome {
    let admission = admit_first_change(&config(&[]), &InMemoryBatchStore::new()).await;
    let mut out = in_execution(
        outcome(CheckStatus::DriftDetected, None, Some(real_drift(plan))),
        name,
    );
    out.change = admission.change;
    out
}

#[tokio::test]
async fn the_same_ingress_changed_twice_out_of_band_alerts_twice() {
    let (history, slack) = (InMemoryHistory::new(), RecordingNotifier::new());
    let config = config(&[]);
    for (n, (plan, name)) in [
        ("changed-again-1.json", "exec-1"),
        ("changed-again-2.json", "exec-2"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = real_drift_outcome(plan, name).await;
        let record = steps::record(
            &out,
            &history,
            &InMemoryMetrics::new(),
            &config,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let sent = steps::notify(
            &NotifyRequest {
                remediation_mode: None,
                approval_timeout_seconds: None,
                outcome: out,
                record: Some(record),
            },
            &slack,
            &history,
            &config,
            2_000 + n as i64,
        )
        .await
        .unwrap();
        assert!(sent.sent, "check {name}: {sent:?}");
    }
    assert_eq!(slack.payloads().len(), 2);
}

#[tokio::test]
async fn a_drift_changed_again_is_told_in_its_thread_by_who_changed_it() {
    let w = SlackWorld::new();
    let now = epoch("2026-11-22T10:00:00Z");
    let (_, n) = w
        .check(
            &real_drift_outcome("changed-again-1.json", "exec-1").await,
            now,
        )
        .await;
    assert!(n.sent && n.approval_requested, "{n:?}");
    // Nobody decided; the drift was dismissed, then changed again.
    let mut dismissed = real_drift_outcome("changed-again-1.json", "exec-1").await;
    dismissed.status = CheckStatus::DriftDismissed;
    dismissed.approval = Some(decided(DriftDecision::Dismiss));
    w.check(&dismissed, now + 60).await;

    let (_, n) = w
        .check(
            &real_drift_outcome("changed-again-2.json", "exec-2").await,
            now + 600,
        )
        .await;
    assert!(
        n.sent && n.approval_requested,
        "alerted and asked again: {n:?}"
    );
    let parents = w.chat.parents();
    assert_eq!(parents.len(), 1, "no new thread: {parents:?}");
    let replies = w.chat.replies(&parents[0].ts);
    let reply = replies
        .iter()
        .map(|r| r.latest())
        .find(|r| texts(r).contains("changed again"))
        .unwrap_or_else(|| panic!("{replies:?}"));
    assert_eq!(driftguard_slack::limits_problem(reply), None);
    assert!(reply.to_string().contains("driftguard_fix"), "new buttons");
    let changed_again = texts(reply);
    assert!(changed_again.contains("by alice"), "{changed_again}");
    assert_eq!(
        n.thread.as_ref().map(|t| t.ts.as_str()),
        Some(parents[0].ts.as_str())
    );
}

/// Real plans of the drift lab's `after-alert` scenario: the check saw port 22
/// opened to the internal network, the deployer tagged Temporary and Owner and
/// the role policy widened; the remediation plans are of that state (1) and of
/// the state after more changes since the alert (2).
const AFTER_ALERT_TARGETS: [&str; 3] = [
    "aws_iam_role_policy.app",
    "aws_iam_user.deployer",
    "aws_security_group.web",
];

#[tokio::test]
async fn a_fix_of_exactly_the_approved_drift_is_safe() {
    let config = config(&[]);
    let (_, _, safety, targets) = remediation_flow(
        &config,
        "after-alert.json",
        "after-alert-1.remediation.json",
        |_| {},
    )
    .await;
    assert_eq!(targets, AFTER_ALERT_TARGETS);
    assert!(safety.safe, "{}", safety.reason);
    assert_eq!(safety.reverts, AFTER_ALERT_TARGETS);
}

#[tokio::test]
async fn a_fix_never_reverts_an_attribute_the_ignore_rules_mute() {
    let routes = r#"[{"organization":"acme","workspace":"prod","ignore":{"addresses":[],"attributes":["aws_iam_user.deployer:tags.Temporary"]}}]"#;
    let config = config(&[("DRIFTGUARD_WORKSPACES", routes)]);
    let (tfc, remediation, safety, _) = remediation_flow(
        &config,
        "after-alert.json",
        "after-alert-1.remediation.json",
        |drift| {
            let deployer = drift
                .resources
                .iter()
                .find(|r| r.address == "aws_iam_user.deployer")
                .unwrap();
            assert_eq!(deployer.changed_attributes, ["tags.Owner"], "the alert");
        },
    )
    .await;
    assert!(!safety.safe, "{}", safety.reason);
    assert!(safety.discarded);
    assert!(
        safety
            .reason
            .contains("aws_iam_user.deployer: tags.Temporary")
            && safety.reason.contains("ignore rules"),
        "{}",
        safety.reason
    );
    assert!(tfc.actions().iter().any(|a| a.run_id == remediation.run_id));
}

#[tokio::test]
async fn a_fix_never_reverts_what_drifted_after_the_alert() {
    let config = config(&[]);
    let (_, _, safety, _) = remediation_flow(
        &config,
        "after-alert.json",
        "after-alert-2.remediation.json",
        |_| {},
    )
    .await;
    assert!(!safety.safe, "{}", safety.reason);
    assert!(safety.discarded);
    assert!(
        safety.reason.contains("aws_iam_user.deployer: tags.Team"),
        "a path that drifted since: {}",
        safety.reason
    );
    assert!(
        safety.reason.contains("aws_security_group.web: ingress"),
        "the same path with another value: {}",
        safety.reason
    );
    assert!(
        !safety.reason.contains("aws_iam_role_policy.app"),
        "unchanged since the alert: {}",
        safety.reason
    );
}

#[tokio::test]
async fn an_acceptance_does_not_cover_the_same_drift_changed_again() {
    let w = SlackWorld::new();
    let now = epoch("2026-11-22T10:00:00Z");
    let first = real_drift_outcome("changed-again-1.json", "exec-1").await;
    let (_, n) = w.check(&first, now).await;
    assert!(n.approval_requested, "{n:?}");
    let mut accepted = first.clone();
    accepted.status = CheckStatus::DriftAccepted;
    accepted.approval = Some(decided(DriftDecision::Accept));
    w.check(&accepted, now + 300).await;

    // Before the acceptance's date, the accepted values again: quiet.
    let (record, n) = w
        .check(
            &real_drift_outcome("changed-again-1.json", "exec-2").await,
            now + 600,
        )
        .await;
    assert!(record.accepted.is_some() && !n.sent, "{record:?} {n:?}");
    // Other values on the same paths: not what was accepted.
    let (record, n) = w
        .check(
            &real_drift_outcome("changed-again-2.json", "exec-3").await,
            now + 900,
        )
        .await;
    assert!(record.accepted.is_none(), "{record:?}");
    assert!(n.sent && n.approval_requested, "{n:?}");
    assert_eq!(w.chat.parents().len(), 1, "told in the drift's thread");
}

/// The execution's tag is public: a run someone else queued with it (after
/// DriftGuard's own) is never discarded by on-failure with DriftGuard's token;
/// DriftGuard's own left-over run still is.
#[tokio::test]
async fn on_failure_discards_only_the_remediation_run_drift_guard_created() {
    let (history, slack, tfc) = (InMemoryHistory::new(), RecordingNotifier::new(), tfc());
    let config = config(&[]);
    let workspace = driftguard_core::ports::TerraformCloud::workspace(&tfc, &check())
        .await
        .unwrap();
    let spec = driftguard_core::ports::RunSpec {
        message: format!(
            "DriftGuard remediation {}",
            steps::run_tag("remediation", EXEC)
        ),
        plan_only: false,
        target_addrs: vec!["aws_security_group.web".into()],
    };
    tfc.script_next_run(&["planned"]);
    let own = driftguard_core::ports::TerraformCloud::create_run(&tfc, &workspace.id, &spec)
        .await
        .unwrap();
    driftguard_core::ports::TerraformCloud::read_run(&tfc, &own.id)
        .await
        .unwrap();
    let planted = tfc.queue_run_as("user-mallory", &workspace.id, &spec);
    let mut execution = failed_execution();
    execution.0.status = "TIMED_OUT".into();
    execution.0.error = None;
    execution.0.failed_state = None;
    let handled = steps::handle_failure(
        &status_change_event(),
        &execution,
        &history,
        &slack,
        &InMemoryMetrics::new(),
        Some(&tfc),
        &config,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(handled.remediation_runs_stopped.len(), 1, "{handled:?}");
    assert!(
        handled.remediation_runs_stopped[0].contains(&own.id),
        "{handled:?}"
    );
    assert_eq!(tfc.run(&own.id).unwrap().status, "discarded");
    let planted_now = tfc.run(&planted.id).unwrap();
    assert!(
        planted_now.status != "discarded" && planted_now.status != "canceled",
        "the planted run was stopped: {planted_now:?}"
    );
}
