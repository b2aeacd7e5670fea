//! End-to-end overhead: an event in → its history record written, with every
//! wait at its minimum (`settle_seconds` 0, `poll_min_wait_seconds` =
//! `poll_max_wait_seconds` = 1) and plans that finish at once, one check
//! after the other on a stack of its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::stats::{Summary, summarize};
use crate::events;
use crate::tfc_emulator::Scenario;
use crate::{LocalStack, StackOptions, WorkspaceSpec};

const ORG: &str = "bench";
const WORKSPACE: &str = "overhead";
const ACCOUNT: &str = "400000000001";

/// The stack settings: every wait at its minimum.
pub fn stack_options() -> StackOptions {
    StackOptions {
        environment: "bench-min".into(),
        workspaces: vec![
            WorkspaceSpec::new(ORG, WORKSPACE)
                .accounts(&[ACCOUNT])
                .scenario(Scenario {
                    plan_seconds: 0.0,
                    ..Scenario::default()
                }),
        ],
        settle_seconds: 0,
        poll_min_wait_seconds: 1,
        poll_max_wait_seconds: 1,
        plan_timeout_seconds: 60,
        lambda_concurrency: 2,
        ..StackOptions::default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct OverheadFigures {
    pub checks: usize,
    /// Execution start → "Record outcome" (NoDrift) done (seconds).
    pub start_to_record: Summary,
    /// Event handed to the harness (EventBridge rule match + StartExecution) → record done.
    pub event_to_record: Summary,
    /// Median seconds per state (in path order).
    pub states: Vec<(String, f64)>,
    pub records_found: usize,
    pub problems: Vec<String>,
}

const PATH: &[&str] = &[
    "Admit event",
    "Anything to check?",
    "Settle",
    "Create plan run",
    "Wait for plan",
    "Check plan status",
    "Plan finished?",
    "Summarize drift",
    "Drift found?",
    "Record outcome",
];

pub async fn run(stack: &LocalStack, checks: usize) -> Result<OverheadFigures> {
    let mut f = OverheadFigures {
        checks,
        ..Default::default()
    };
    let mut from_start = Vec::new();
    let mut from_event = Vec::new();
    let mut per_state: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for i in 0..checks {
        let mut event = events::fresh(
            events::fixture("console-authorize-security-group-ingress")?,
            Some(ACCOUNT),
        );
        event["detail"]["requestParameters"]["groupId"] = json!(format!("sg-0e{i:015x}"));
        let handed = chrono::Utc::now();
        let started = Instant::now();
        let arn = stack.deliver_expecting_execution(&event).await?;
        let report = stack.wait(&arn, Duration::from_secs(120)).await?;
        let _ = started;
        let record = report
            .visits("Record outcome")
            .first()
            .and_then(|s| s.exited)
            .with_context(|| {
                format!(
                    "check {i} ended {} without recording: {:?}",
                    report.status,
                    report.state_names()
                )
            });
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                f.problems.push(format!("{e:#}"));
                continue;
            }
        };
        from_start.push((record - report.start).num_microseconds().unwrap_or(0) as f64 / 1e6);
        from_event.push((record - handed).num_microseconds().unwrap_or(0) as f64 / 1e6);
        for name in PATH {
            if let Some(d) = report.visits(name).first().and_then(|s| s.duration()) {
                per_state.entry(name).or_default().push(d.as_secs_f64());
            }
        }
    }
    f.start_to_record = summarize(&from_start);
    f.event_to_record = summarize(&from_event);
    f.states = PATH
        .iter()
        .filter_map(|n| per_state.get(n).map(|v| (n.to_string(), summarize(v).p50)))
        .collect();
    f.records_found = stack.history(ORG, WORKSPACE).await?.len();
    Ok(f)
}
