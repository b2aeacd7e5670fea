//! Bursts of events for one workspace inside the settle window: how many plan
//! runs and Slack messages come out (target: one each).
//!
//! - `Full`: every event is delivered as EventBridge would (one execution
//!   each, the real state machine in moto).
//! - `AdmitLambda`: the first event is delivered as a full execution (it owns
//!   the batch and plans); once its Admit step has run, every other event goes
//!   through the real admit-event Lambda (Invoke through the gateway, with the
//!   execution id its own execution would have). Those executions would end
//!   `Coalesced` right after that step; they are not run, which keeps a
//!   1,000-event burst within minutes on moto.
//! - `AdmitStep`: as `AdmitLambda`, but the other events go through
//!   `driftguard_core::steps::admit` in-process with the DynamoDB batch store
//!   on moto (the admit Lambda's code without the local Lambda runtime, whose
//!   throughput on this machine cannot fit 1,000 events into the settle window).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use driftguard_aws::DynamoBatchStore;
use driftguard_core::config::Config;
use driftguard_core::model::{AdmitRequest, Decision};
use driftguard_core::steps;

use crate::events;
use crate::stack::futures_join_all;
use crate::tfc_emulator::{Drift, Scenario};
use crate::{LocalStack, WorkspaceSpec};

pub const ORG: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Full,
    AdmitLambda,
    AdmitStep,
}

impl Method {
    pub fn describe(&self) -> &'static str {
        match self {
            Method::Full => "full executions (one per event)",
            Method::AdmitLambda => {
                "first event a full execution; the others through the admit-event Lambda (gateway Invoke)"
            }
            Method::AdmitStep => {
                "first event a full execution; the others through `steps::admit` with `DynamoBatchStore` on moto"
            }
        }
    }
}

pub fn workspace(size: usize) -> String {
    format!("burst-{size}")
}

fn account(index: usize) -> String {
    format!("3100000000{index:02}")
}

pub fn workspace_specs(sizes: &[usize]) -> Vec<WorkspaceSpec> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            WorkspaceSpec::new(ORG, &workspace(n))
                .accounts(&[&account(i)])
                .scenario(Scenario {
                    drift: Drift::Fixture,
                    plan_seconds: 2.0,
                    ..Scenario::default()
                })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct BurstFigures {
    pub size: usize,
    pub method: Option<Method>,
    /// Seconds from the first event handed over to the last one admitted.
    pub admitted_within_seconds: f64,
    pub owners: usize,
    pub coalesced: usize,
    pub other: usize,
    pub runs_created: usize,
    pub slack_messages: usize,
    /// Changes kept in the history record, and counted beyond the cap.
    pub recorded_changes: usize,
    pub recorded_omitted: usize,
    pub wall_seconds: f64,
    pub problems: Vec<String>,
}

fn burst(index: usize, size: usize) -> Result<Vec<Value>> {
    (0..size)
        .map(|i| {
            let mut e = events::fresh(
                events::fixture("console-authorize-security-group-ingress")?,
                Some(&account(index)),
            );
            e["detail"]["requestParameters"]["groupId"] =
                json!(format!("sg-0d{index:02x}{i:013x}"));
            Ok(e)
        })
        .collect()
}

/// Runs one burst of `size` events for its own workspace.
pub async fn run(
    stack: &LocalStack,
    index: usize,
    size: usize,
    method: Method,
) -> Result<BurstFigures> {
    let ws = workspace(size);
    let events = burst(index, size)?;
    let started = Instant::now();
    let started_utc = chrono::Utc::now();
    let mut f = BurstFigures {
        size,
        method: Some(method),
        ..Default::default()
    };
    let wait = Duration::from_secs(stack.options.settle_seconds + 600);
    let mut owner_arns = Vec::new();
    match method {
        Method::Full => {
            let deliveries = stack.deliver_all(&events).await?;
            let mut arns = Vec::new();
            for d in deliveries {
                arns.push(
                    d.execution_arn
                        .context("the rule did not match a burst event")?,
                );
            }
            let mut last_admitted = started_utc;
            for arn in &arns {
                let report = stack.wait(arn, wait).await?;
                if let Some(exited) = report.visits("Admit event").first().and_then(|s| s.exited) {
                    last_admitted = last_admitted.max(exited);
                }
                if report.visited("Check each workspace") {
                    owner_arns.push(arn.clone());
                } else if report.visited("Coalesced") {
                    f.coalesced += 1;
                } else {
                    f.other += 1;
                    f.problems.push(format!(
                        "{} ended {} via {:?}",
                        report.name,
                        report.status,
                        report.state_names()
                    ));
                }
            }
            f.admitted_within_seconds = (last_admitted - started_utc)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64();
        }
        Method::AdmitLambda | Method::AdmitStep => {
            let first = stack.deliver_expecting_execution(&events[0]).await?;
            // Its Admit step opens the batch: wait for it before the rest arrive.
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let report = stack.executions.report(&first).await?;
                if report
                    .visits("Admit event")
                    .iter()
                    .any(|s| s.exited.is_some())
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the first execution did not pass its Admit step within 120 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let prefix =
                stack
                    .outputs
                    .state_machine_arn
                    .replacen(":stateMachine:", ":execution:", 1);
            let mut decisions = Vec::new();
            if method == Method::AdmitStep {
                let config = Config::from_lookup(|k| stack.lambda_env.get(k).cloned())?;
                let store = DynamoBatchStore::new(
                    aws_sdk_dynamodb::Client::new(&stack.sdk),
                    stack.outputs.history_table_name.clone(),
                );
                for chunk in events[1..].chunks(25) {
                    let calls: Vec<_> = chunk
                        .iter()
                        .map(|e| {
                            let name = e.get("id").and_then(Value::as_str).unwrap_or_default();
                            let req = AdmitRequest {
                                event: e.clone(),
                                execution_id: format!("{prefix}:{name}"),
                            };
                            let (config, store) = (&config, &store);
                            async move {
                                steps::admit(&req, config, store, driftguard_core::now_epoch())
                                    .await
                            }
                        })
                        .collect();
                    for outcome in futures_join_all(calls).await {
                        match outcome {
                            Ok(a) => decisions.push(
                                match a.decision {
                                    Decision::Admit => "admit",
                                    Decision::Coalesce => "coalesce",
                                    Decision::Ignore => "ignore",
                                }
                                .to_string(),
                            ),
                            Err(e) => {
                                f.problems.push(format!("steps::admit failed: {e}"));
                                decisions.push("error".into());
                            }
                        }
                    }
                }
            }
            for chunk in events[1..]
                .chunks(12)
                .filter(|_| method == Method::AdmitLambda)
            {
                let calls: Vec<_> = chunk
                    .iter()
                    .map(|e| {
                        let name = e.get("id").and_then(Value::as_str).unwrap_or_default();
                        let payload =
                            json!({"event": e, "execution_id": format!("{prefix}:{name}")});
                        async move { stack.invoke("admit-event", &payload).await }
                    })
                    .collect();
                for outcome in futures_join_all(calls).await {
                    let outcome = outcome?;
                    let decision = outcome
                        .payload
                        .get("decision")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_string();
                    if !outcome.is_ok() {
                        f.problems
                            .push(format!("admit-event failed: {}", outcome.payload));
                    }
                    decisions.push(decision);
                }
            }
            f.admitted_within_seconds = started.elapsed().as_secs_f64();
            f.coalesced = decisions.iter().filter(|d| *d == "coalesce").count();
            let extra_owners = decisions.iter().filter(|d| *d == "admit").count();
            f.other = decisions.len() - f.coalesced - extra_owners;
            if extra_owners > 0 {
                f.problems.push(format!(
                    "{extra_owners} later events opened a batch of their own (their executions were not run, so their plans are not counted)"
                ));
            }
            let report = stack.wait(&first, wait).await?;
            if report.visited("Check each workspace") {
                owner_arns.push(first);
            }
            f.owners += extra_owners;
        }
    }
    f.owners += owner_arns.len();
    for arn in &owner_arns {
        let report = stack.wait(arn, wait).await?;
        if report.status != "SUCCEEDED" {
            f.problems
                .push(format!("owner {} ended {}", report.name, report.status));
        }
    }
    f.runs_created = stack.tfc.runs(ORG, &ws).len();
    f.slack_messages = stack.slack_messages_for(ORG, &ws).len();
    for r in stack.history(ORG, &ws).await? {
        f.recorded_changes += r.changes.len();
        f.recorded_omitted += r.changes_omitted;
    }
    f.wall_seconds = started.elapsed().as_secs_f64();
    Ok(f)
}
