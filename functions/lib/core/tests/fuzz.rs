//! Fuzzing on stable Rust: structure-aware generators (real CloudTrail
//! records, real plans and valid step inputs, mutated) and plain random JSON
//! and bytes, driven through everything that reads input from outside:
//! admission, the plan summary, Slack message building and every step's input
//! parsing. No input may panic, and every answer must keep its contract.
//!
//! `make test` runs a short round (`DRIFTGUARD_FUZZ_CASES`, default 2,000 per
//! target); `make fuzz` runs at least 1,000,000 inputs in all and prints the
//! counts per target.

#[path = "support/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use driftguard_core::admission::{self, Evaluation, replay};
use driftguard_core::config::{AdmissionConfig, Config, IgnoreRules, WorkspaceRoute};
use driftguard_core::model::*;
use driftguard_core::plan::{self, Options};
use driftguard_slack as slack;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{Value, json};

/// Inputs per target: `DRIFTGUARD_FUZZ_CASES`, else a short round.
fn cases() -> u32 {
    std::env::var("DRIFTGUARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(2_000)
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every JSON file below `dir`, parsed.
fn json_files(dir: &Path) -> Vec<Value> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json")
                && let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                found.push(value);
            }
        }
    }
    found
}

/// Runs `cases()` inputs of `strategy` through `check`; a panic or a broken
/// contract fails the test with the smallest input proptest finds.
fn fuzz<S: Strategy>(target: &str, strategy: S, check: impl Fn(S::Value)) -> u64
where
    S::Value: std::fmt::Debug,
{
    let count = AtomicU64::new(0);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..RunnerConfig::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |input| {
        count.fetch_add(1, Ordering::Relaxed);
        check(input);
        Ok(())
    });
    let count = count.into_inner();
    eprintln!(
        "fuzz {target}: {count} inputs in {:.1} s, 0 panics",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz {target}: {e}");
    }
    count
}

// ---------------------------------------------------------------------------
// Admission: events

fn admission_config() -> (AdmissionConfig, Vec<WorkspaceRoute>) {
    let config = Config::from_lookup(|key| match key {
        "DRIFTGUARD_WORKSPACES" => Some(
            r#"[{"organization":"acme","workspace":"prod","accounts":["111122223333"],"regions":["eu-west-1"]},
                {"organization":"acme","workspace":"all"}]"#
                .into(),
        ),
        "DRIFTGUARD_IGNORE_PRINCIPAL_ARNS" => {
            Some("arn:aws:iam::*:role/hcp-terraform-*".into())
        }
        _ => None,
    })
    .expect("fuzz configuration");
    (config.admission.clone(), config.workspaces.clone())
}

/// Real records (the published corpus and the event fixtures), each wrapped
/// the way EventBridge delivers it.
fn real_events() -> Vec<Value> {
    let mut events = Vec::new();
    for document in json_files(&fixtures_dir().join("cloudtrail-corpus"))
        .into_iter()
        .chain(json_files(&fixtures_dir().join("events")))
    {
        match replay::events_of(document.clone()) {
            Ok(input) => events.extend(input.events),
            Err(_) => events.push(document),
        }
    }
    assert!(events.len() > 100, "the event corpus is missing");
    events
}

fn check_evaluation(evaluation: &Evaluation) {
    match evaluation {
        Evaluation::Ignore { reason, .. } => assert!(!reason.trim().is_empty()),
        Evaluation::Admit {
            change,
            checks,
            reason,
        } => {
            assert!(!reason.trim().is_empty());
            assert!(!checks.is_empty(), "an admitted change is routed somewhere");
            let unique: std::collections::BTreeSet<_> = change.resources.iter().collect();
            assert_eq!(unique.len(), change.resources.len(), "each resource once");
        }
    }
}

fn admission_target() -> u64 {
    let (config, routes) = admission_config();
    let events = real_events();
    let strategy = prop_oneof![
        4 => mutate::mutated(events),
        1 => mutate::arbitrary_json(),
    ];
    fuzz("admission (events)", strategy, |event| {
        check_evaluation(&admission::evaluate(&event, &config, &routes));
        if let Ok(input) = replay::events_of(event) {
            for event in input.events.iter().take(5) {
                check_evaluation(&admission::evaluate(event, &config, &routes));
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Plan summary: plans

fn plan_target() -> u64 {
    let plans = json_files(&fixtures_dir().join("plans"));
    assert!(plans.len() > 10, "the plan fixtures are missing");
    let rules = IgnoreRules {
        addresses: vec!["aws_iam_user.*".into()],
        attributes: vec!["tags.LastScanned".into()],
    };
    let documents = prop_oneof![
        6 => mutate::mutated(plans).prop_map(|p| serde_json::to_vec(&p).unwrap_or_default()),
        1 => mutate::arbitrary_json().prop_map(|p| serde_json::to_vec(&p).unwrap_or_default()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    let strategy = (documents, any::<bool>(), any::<bool>());
    fuzz(
        "plan summary (plans)",
        strategy,
        |(bytes, with_rules, incomplete)| {
            let options = Options {
                rules: with_rules.then_some(&rules),
                schema: None,
                allow_incomplete: incomplete,
            };
            if let Ok(summary) = plan::summarize_slice(&bytes, &options) {
                let report = summary.report();
                assert_eq!(report.drifted, report.resource_count > 0);
                assert!(report.resources.len() <= MAX_RESOURCES_IN_STATE);
                assert!(report.resources.len() <= report.resource_count);
                let _ = plan::render_table(&summary.full_report());
                // The report is what travels in the state document.
                assert!(serde_json::to_vec(&report).is_ok_and(|v| v.len() < 200_000));
            }
        },
    )
}

// ---------------------------------------------------------------------------
// Slack messages: outcomes

/// Text with the characters that matter to mrkdwn, links and lengths.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => ".{0,40}",
        3 => "[<>&*_~`|:/\\\\@#!\\[\\]\"' \n\t]{0,30}",
        3 => "[a-z0-9_.\\[\\]\"-]{1,80}",
        1 => Just("x".repeat(5_000)),
        1 => Just("🙂".repeat(400)),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    (
        text(),
        text(),
        text(),
        text(),
        prop::collection::vec(text(), 0..5),
    )
        .prop_map(|(event_name, source, arn, agent, resources)| Change {
            event_id: "e".into(),
            event_name,
            event_source: source,
            event_time: "2026-11-30T00:00:00Z".into(),
            aws_region: "eu-west-1".into(),
            account_id: "111122223333".into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some(arn),
                principal_id: None,
            },
            source_ip: None,
            user_agent: Some(agent),
            resources,
        })
}

fn status() -> impl Strategy<Value = CheckStatus> {
    prop::sample::select(vec![
        CheckStatus::NoDrift,
        CheckStatus::DriftDetected,
        CheckStatus::Remediated,
        CheckStatus::RemediationSkipped,
        CheckStatus::RemediationFailed,
        CheckStatus::CheckFailed,
    ])
}

/// A drift report as valid as the state document carries it, then mutated as JSON.
fn drift_report() -> impl Strategy<Value = Option<DriftReport>> {
    let resource = (text(), text(), prop::collection::vec(text(), 0..12))
        .prop_map(|(address, resource_type, paths)| {
            json!({"address": address, "type": resource_type, "actions": ["update"],
                   "changed_attributes": paths})
        })
        .boxed();
    // Mostly a few resources; sometimes a full, capped list.
    let resources = prop_oneof![
        8 => prop::collection::vec(resource.clone(), 0..6),
        1 => prop::collection::vec(resource, 40..=MAX_RESOURCES_IN_STATE),
    ];
    (resources, 0usize..100_000).prop_map(|(resources, extra)| {
        let count = resources.len() + extra;
        serde_json::from_value(json!({
            "drifted": count > 0, "resource_count": count, "resources": resources,
            "truncated": extra > 0, "omitted": extra, "fingerprint": "f",
        }))
        .ok()
    })
}

fn outcome() -> impl Strategy<Value = CheckOutcome> {
    (
        status(),
        text(),
        prop::option::of(change()),
        drift_report(),
        prop::option::of((text(), text(), prop::option::of(text()))),
        any::<u32>(),
    )
        .prop_map(
            |(status, workspace, change, drift, failure, redrives)| CheckOutcome {
                poll: None,
                status,
                check: CheckRef {
                    organization: "acme".into(),
                    workspace,
                },
                execution_id: "arn:aws:states:eu-west-1:111122223333:execution:dg:e".into(),
                started_at: "2026-11-30T00:00:00Z".into(),
                change,
                run: None,
                drift,
                remediation: None,
                failure: failure.map(|(error, cause, failed_state)| Failure {
                    error,
                    cause,
                    failed_state,
                    redrive_count: redrives % 4,
                }),
                approval: None,
            },
        )
}

fn slack_target() -> u64 {
    fuzz("Slack messages (outcomes)", outcome(), |outcome| {
        let payload = slack::build_message(&outcome, "https://console.aws.amazon.com/states/x");
        if let Some(problem) = slack::limits_problem(&payload) {
            panic!("outside Block Kit's limits: {problem}");
        }
    })
}

// ---------------------------------------------------------------------------
// Step inputs: what each Lambda parses

/// A valid input of every step, as the state machine passes it.
fn step_inputs() -> Vec<Value> {
    let change = json!({"event_id": "e1", "event_name": "AuthorizeSecurityGroupIngress",
        "event_source": "ec2.amazonaws.com", "event_time": "2026-11-30T00:00:00Z",
        "aws_region": "eu-west-1", "account_id": "111122223333",
        "actor": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
        "resources": ["sg-1"]});
    let check = json!({"organization": "acme", "workspace": "prod"});
    let run = json!({"run_id": "run-1", "run_url": "https://app.terraform.io/r", "workspace_id": "ws-1",
        "plan_id": "plan-1", "created_at": "2026-11-30T00:00:00Z", "changes": [change.clone()]});
    let drift = json!({"drifted": true, "resource_count": 1, "truncated": false, "fingerprint": "f",
        "resources": [{"address": "aws_security_group.web", "type": "aws_security_group",
                       "actions": ["update"], "changed_attributes": ["ingress"]}]});
    let execution = "arn:aws:states:eu-west-1:111122223333:execution:dg:e1";
    vec![
        json!({"event": {"detail": {}}, "execution_id": execution}),
        json!({"check": check, "change": change, "execution_id": execution}),
        json!({"check": check, "run": run, "poll": {"phase": "running", "status": "planning",
               "next_wait_seconds": 5, "polls": 1, "elapsed_seconds": 5}}),
        json!({"check": check, "run": run}),
        json!({"action": "create", "check": check, "execution_id": execution, "drift": drift, "run": run}),
        json!({"status": "DriftDetected", "check": check, "execution_id": execution,
               "started_at": "2026-11-30T00:00:00Z", "change": change, "run": run, "drift": drift}),
        json!({"status": "DriftDetected", "check": check, "execution_id": execution,
               "started_at": "2026-11-30T00:00:00Z", "drift": drift,
               "record": {"status": "DriftDetected", "stored": true, "previous_fingerprint": ""}}),
        json!({"detail-type": "Step Functions Execution Status Change",
               "detail": {"executionArn": execution, "status": "FAILED", "redriveCount": 1}}),
    ]
}

fn parse_every_step(input: &Value) {
    // The same parse the Lambdas run (driftguard_lambda::parse_input): a
    // result or an error, never a panic; what parses serializes back.
    fn parse<T: serde::de::DeserializeOwned + serde::Serialize>(input: &Value) {
        if let Ok(parsed) = serde_json::from_value::<T>(input.clone()) {
            assert!(serde_json::to_value(&parsed).is_ok());
        }
    }
    parse::<AdmitRequest>(input);
    parse::<CreateRunRequest>(input);
    parse::<PollRequest>(input);
    parse::<SummarizeRequest>(input);
    parse::<RemediateRequest>(input);
    parse::<CheckOutcome>(input);
    parse::<NotifyRequest>(input);
    let _ = driftguard_core::steps::failed_execution_arn(input);
}

fn step_input_target() -> u64 {
    let strategy = prop_oneof![
        6 => mutate::mutated(step_inputs()),
        1 => mutate::arbitrary_json(),
    ];
    fuzz("step inputs", strategy, |input| parse_every_step(&input))
}

#[test]
fn nothing_from_outside_makes_driftguard_panic() {
    let counts = [
        admission_target(),
        plan_target(),
        slack_target(),
        step_input_target(),
    ];
    eprintln!(
        "fuzz: {} inputs in all, 0 panics",
        counts.iter().sum::<u64>()
    );
}
