//! One check per plan duration on the local stack, with the production poll
//! schedule (`poll_min_wait_seconds` 5, `poll_max_wait_seconds` 60, real
//! waits): state transitions, Lambda invocations, HCP Terraform requests and
//! billed Lambda time, read from the execution history, the gateway's log of
//! invocations and the emulator's log of requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::cost;
use crate::events;
use crate::executions::ExecutionReport;
use crate::tfc_emulator::Scenario;
use crate::{LocalStack, WorkspaceSpec};

pub const ORG: &str = "bench";

pub fn workspace(plan_seconds: u64) -> String {
    format!("plan-{plan_seconds}s")
}

fn account(index: usize) -> String {
    format!("3000000000{index:02}")
}

/// The workspaces the checks use (one per plan duration, routed by account).
pub fn workspace_specs(plan_durations: &[u64]) -> Vec<WorkspaceSpec> {
    plan_durations
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            WorkspaceSpec::new(ORG, &workspace(d))
                .accounts(&[&account(i)])
                .scenario(Scenario {
                    plan_seconds: d as f64,
                    ..Scenario::default()
                })
        })
        .collect()
}

/// What one check cost.
#[derive(Debug, Clone, Default)]
pub struct CheckFigures {
    pub plan_seconds: u64,
    pub status: String,
    pub execution_seconds: f64,
    /// States entered (what Step Functions bills as state transitions).
    pub transitions: usize,
    pub history_events: usize,
    /// Visits of "Check plan status".
    pub polls: usize,
    /// Mean seconds a "Check plan status" visit took on the stack.
    pub poll_step_seconds: f64,
    /// Lambda invocations by function (gateway log).
    pub invocations: BTreeMap<String, usize>,
    /// Task attempts in the execution history (cross-check of `invocations`).
    pub task_attempts: usize,
    /// HCP Terraform API requests (emulator log), and plan JSON downloads from the archivist origin.
    pub tfc_api_requests: usize,
    pub tfc_download_requests: usize,
    /// Invocation durations on the stack (gateway → cargo lambda → debug binary), ms, by function.
    pub stack_ms: BTreeMap<String, Vec<f64>>,
}

impl CheckFigures {
    pub fn invocations_total(&self) -> usize {
        self.invocations.values().sum()
    }

    /// GB-s billed for the stack-measured durations (rounded up to 1 ms, 128 MB).
    pub fn gb_s_stack(&self) -> f64 {
        let all: Vec<f64> = self.stack_ms.values().flatten().copied().collect();
        cost::gb_seconds(&all)
    }

    /// GB-s with each invocation costing the release build's median handler time.
    pub fn gb_s_release(&self, p50_ms: &BTreeMap<String, f64>) -> Option<f64> {
        let mut all = Vec::new();
        for (function, n) in &self.invocations {
            let ms = *p50_ms.get(function)?;
            all.extend(std::iter::repeat_n(ms, *n));
        }
        Some(cost::gb_seconds(&all))
    }
}

/// The workspace an invocation's payload is about (or its execution).
pub fn payload_workspace(payload: &Value) -> Option<&str> {
    payload.pointer("/check/workspace").and_then(Value::as_str)
}

/// Runs one check whose plan takes `plan_seconds` and measures it.
pub async fn run_check(
    stack: Arc<LocalStack>,
    index: usize,
    plan_seconds: u64,
) -> Result<CheckFigures> {
    let group = format!("sg-0c{index:015x}");
    run_check_in(
        &stack,
        &workspace(plan_seconds),
        &account(index),
        &group,
        plan_seconds,
    )
    .await
}

/// Runs one check of workspace `ws` (routed by `account`), a console change
/// to security group `group`, whose plan takes about `plan_seconds`.
pub async fn run_check_in(
    stack: &LocalStack,
    ws: &str,
    account: &str,
    group: &str,
    plan_seconds: u64,
) -> Result<CheckFigures> {
    let mut event = events::fresh(
        events::fixture("console-authorize-security-group-ingress")?,
        Some(account),
    );
    event["detail"]["requestParameters"]["groupId"] = json!(group);
    let started = Instant::now();
    let arn = stack.deliver_expecting_execution(&event).await?;
    let timeout = Duration::from_secs(plan_seconds + stack.options.settle_seconds + 600);
    let report = stack.wait(&arn, timeout).await?;
    let wall = started.elapsed();
    let mut figures = figures_of(stack, &report, ws, started);
    if figures.execution_seconds == 0.0 {
        figures.execution_seconds = wall.as_secs_f64();
    }
    figures.plan_seconds = plan_seconds;
    Ok(figures)
}

fn figures_of(
    stack: &LocalStack,
    report: &ExecutionReport,
    ws: &str,
    since: Instant,
) -> CheckFigures {
    let mut f = CheckFigures {
        status: report.status.clone(),
        execution_seconds: report.duration().map(|d| d.as_secs_f64()).unwrap_or(0.0),
        transitions: report
            .events
            .iter()
            .filter(|e| e.kind.ends_with("StateEntered"))
            .count(),
        history_events: report.events.len(),
        polls: report.visits("Check plan status").len(),
        task_attempts: report.states.iter().map(|s| s.attempts as usize).sum(),
        ..Default::default()
    };
    let steps: Vec<f64> = report
        .visits("Check plan status")
        .iter()
        .filter_map(|v| v.duration())
        .map(|d| d.as_secs_f64())
        .collect();
    if !steps.is_empty() {
        f.poll_step_seconds = steps.iter().sum::<f64>() / steps.len() as f64;
    }
    for inv in stack.gateway.invocations() {
        if inv.started < since {
            continue;
        }
        let mine = payload_workspace(&inv.payload) == Some(ws)
            || inv.payload.get("execution_id").and_then(Value::as_str) == Some(report.arn.as_str());
        if mine {
            *f.invocations.entry(inv.binary.clone()).or_default() += 1;
            f.stack_ms
                .entry(inv.binary.clone())
                .or_default()
                .push(inv.duration.as_secs_f64() * 1000.0);
        }
    }
    for r in stack.tfc.requests_for(ORG, ws) {
        if r.path.starts_with("/api/v2") {
            f.tfc_api_requests += 1;
        } else {
            f.tfc_download_requests += 1;
        }
    }
    f
}

/// Runs a check per plan duration, concurrently.
pub async fn run_all(
    stack: Arc<LocalStack>,
    plan_durations: Vec<u64>,
) -> Vec<(u64, Result<CheckFigures>)> {
    let mut handles = Vec::new();
    for (i, d) in plan_durations.iter().copied().enumerate() {
        let stack = stack.clone();
        handles.push((
            d,
            tokio::spawn(async move {
                run_check(stack, i, d)
                    .await
                    .with_context(|| format!("check with a {d} s plan"))
            }),
        ));
    }
    let mut out = Vec::new();
    for (d, h) in handles {
        let r = match h.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("task failed: {e}")),
        };
        if let Err(e) = &r {
            eprintln!("[bench] check {d} s: {e:#}");
        } else {
            eprintln!("[bench] check {d} s: done");
        }
        out.push((d, r));
    }
    out
}

/// The per-check cost model fitted on a measured check: a fixed part plus a
/// part per poll; the number of polls for a plan duration comes from the
/// real poll schedule (`poll::next_wait_seconds`, mean of many jittered runs).
#[derive(Debug, Clone)]
pub struct Model {
    pub fixed_transitions: f64,
    pub fixed_invocations: f64,
    pub fixed_api_requests: f64,
    pub fixed_gb_s: f64,
    pub gb_s_per_poll: f64,
    /// Seconds one poll step takes on the stack (Task state duration).
    pub poll_latency: f64,
}

impl Model {
    /// Fits the model on one measured check, with `p50_ms` the handler time per function.
    pub fn fit(check: &CheckFigures, p50_ms: &BTreeMap<String, f64>) -> Option<Model> {
        let polls = check.polls as f64;
        let gb = check.gb_s_release(p50_ms)?;
        let per_poll = cost::gb_seconds(&[*p50_ms.get("poll-run")?]);
        Some(Model {
            fixed_transitions: check.transitions as f64 - 3.0 * polls,
            fixed_invocations: check.invocations_total() as f64 - polls,
            fixed_api_requests: check.tfc_api_requests as f64 - polls,
            fixed_gb_s: gb - per_poll * polls,
            gb_s_per_poll: per_poll,
            poll_latency: if check.poll_step_seconds > 0.0 {
                check.poll_step_seconds
            } else {
                0.3
            },
        })
    }

    pub fn polls(&self, plan_seconds: f64) -> f64 {
        cost::expected_polls(plan_seconds, &cost::default_poll(), self.poll_latency, 2000)
    }
}
