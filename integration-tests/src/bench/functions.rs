//! Per function: artifact sizes, cold start (process start → first
//! `GET /runtime/invocation/next`), peak memory and handler time over many
//! invocations with realistic payloads against the local stack's moto, HCP
//! Terraform emulator and Slack sink.
//!
//! The arm64 binaries `make package` builds cannot run on this x86_64
//! machine, so the process measurements use the native x86_64 release
//! builds (same `[profile.release]`), started directly under
//! [`RuntimeApi`](super::runtime_api::RuntimeApi).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use driftguard_core::admission::{self, Evaluation};
use driftguard_core::config::Config;
use driftguard_core::model::*;
use serde_json::{Value, json};

use super::runtime_api::RuntimeApi;
use super::stats::{Summary, summarize};
use super::zipinfo;
use crate::LocalStack;
use crate::events;
use crate::gateway::functions;
use crate::stack::futures_join_all;
use crate::tfc_emulator::{Drift, Scenario};

/// Organization of the workspaces this part uses in the emulator.
pub const ORG: &str = "bench";
/// Workspaces the payloads are spread over (each with its own account).
const WORKSPACES: usize = 50;

#[derive(Debug, Clone)]
pub struct Options {
    /// Cold starts measured per function (one more, unmeasured, warms the page cache).
    pub starts: usize,
    /// Invocations per function for memory and handler time.
    pub invocations: usize,
}

/// What was measured for one function.
#[derive(Debug, Clone, Default)]
pub struct FunctionFigures {
    pub name: String,
    pub zip_bytes: Option<u64>,
    pub arm64_binary_bytes: Option<u64>,
    pub native_binary_bytes: Option<u64>,
    /// Milliseconds from spawning the process to its first `next` request.
    pub cold_start_ms: Option<Summary>,
    /// VmRSS (KiB) when the process first asked for work.
    pub rss_after_init_kib: Option<u64>,
    /// VmHWM (KiB) after all invocations.
    pub peak_rss_kib: Option<u64>,
    /// Handler time (ms) per invocation.
    pub handler_ms: Option<Summary>,
    pub invocations: usize,
    pub errors: usize,
    /// errorType → count.
    pub error_types: BTreeMap<String, usize>,
    /// What the payloads were.
    pub workload: String,
    pub problems: Vec<String>,
}

fn account(ws: usize) -> String {
    format!("2000000001{ws:02}")
}

fn workspace(ws: usize) -> String {
    format!("fn-{ws:02}")
}

fn check(ws: usize) -> CheckRef {
    CheckRef {
        organization: ORG.into(),
        workspace: workspace(ws),
    }
}

/// The routes of the benchmark workspaces (`DRIFTGUARD_WORKSPACES`).
fn routes() -> Value {
    Value::Array(
        (0..WORKSPACES)
            .map(|ws| json!({"organization": ORG, "workspace": workspace(ws), "accounts": [account(ws)]}))
            .collect(),
    )
}

fn execution_arn(kind: &str, n: usize) -> String {
    format!(
        "arn:aws:states:eu-west-1:123456789012:execution:driftguard-bench-check:{kind}-{n:05}-{}",
        &events::uuid()[..8]
    )
}

/// Reads a field (KiB) of /proc/<pid>/status.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Everything a function process gets in its environment.
fn process_env(
    stack: &LocalStack,
    function: &str,
    runtime_api: &str,
) -> Result<BTreeMap<String, String>> {
    let deployed = stack.function_name(function)?.to_string();
    let mut env = stack.lambda_env.clone();
    env.insert("DRIFTGUARD_WORKSPACES".into(), routes().to_string());
    env.remove("DRIFTGUARD_ORGANIZATION");
    env.remove("DRIFTGUARD_WORKSPACE");
    let region = stack.options.region.clone();
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", deployed.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{deployed}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]00000000000000000000000000000000".into(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", "bootstrap".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("AWS_ENDPOINT_URL", stack.endpoint()),
        // Back-to-back invocations would be held to the shared HCP Terraform
        // request budget (20 per second): that measures the budget, not the handler.
        ("DRIFTGUARD_TFC_REQUESTS_PER_SECOND", "0".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
    ] {
        env.insert(k.to_string(), v);
    }
    Ok(env)
}

fn spawn(
    binary: &Path,
    env: &BTreeMap<String, String>,
    log: &Path,
) -> Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(binary);
    command.env_clear().envs(env);
    crate::process::output_to_log(&mut command, log)?;
    command
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))
}

async fn stop(mut child: tokio::process::Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Cold starts of one function: `starts` measured after one warm-up start.
async fn cold_starts(
    stack: &LocalStack,
    function: &str,
    binary: &Path,
    starts: usize,
    log: &Path,
) -> Result<(Summary, Option<u64>)> {
    let mut millis = Vec::new();
    let mut rss = None;
    for i in 0..=starts {
        let api = RuntimeApi::start(stack.function_name(function)?).await?;
        let env = process_env(stack, function, &api.address())?;
        let started = Instant::now();
        let child = spawn(binary, &env, log)?;
        let pid = child.id();
        let first = api.first_next(Duration::from_secs(20)).await;
        if let Some(pid) = pid {
            rss = rss.or_else(|| proc_status_kib(pid, "VmRSS:"));
        }
        stop(child).await;
        let first = first.with_context(|| format!("{function} start {i}"))?;
        if i > 0 {
            millis.push(first.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    Ok((summarize(&millis), rss))
}

/// The payloads of one function and what they are.
struct Workload {
    description: String,
    payloads: Vec<Value>,
}

/// Shared state while the functions run one after the other: later payloads
/// use earlier outputs (runs created by create-run are polled and summarized).
struct Chain {
    changes: Vec<Change>,
    runs: Vec<(usize, RunInfo)>,
    drift: DriftReport,
    remediation_runs: Vec<(usize, RunInfo)>,
}

fn fresh_event(ws: usize, i: usize) -> Result<Value> {
    let mut e = events::fresh(
        events::fixture("console-authorize-security-group-ingress")?,
        Some(&account(ws)),
    );
    e["detail"]["requestParameters"]["groupId"] = json!(format!("sg-0be{i:014x}"));
    Ok(e)
}

impl Chain {
    fn new(stack: &LocalStack) -> Result<Self> {
        let env = process_env(stack, "admit-event", "127.0.0.1:9")?;
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        let mut changes = Vec::new();
        for ws in 0..WORKSPACES {
            let event = fresh_event(ws, ws)?;
            match admission::evaluate(&event, &config.admission, &config.workspaces) {
                Evaluation::Admit { change, .. } => changes.push(change),
                Evaluation::Ignore { reason, .. } => {
                    bail!("the benchmark event is not admitted ({reason})")
                }
            }
        }
        let plan_path =
            events::repo_root().join("functions/lib/core/tests/fixtures/plans/out-of-band.json");
        let drift = driftguard_core::plan::summarize(
            std::fs::File::open(&plan_path)?,
            &driftguard_core::plan::Options::default(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", plan_path.display()))?
        .report();
        Ok(Chain {
            changes,
            runs: Vec::new(),
            drift,
            remediation_runs: Vec::new(),
        })
    }

    fn outcome(&self, i: usize, ws: usize, kind: &str) -> CheckOutcome {
        let run = self
            .runs
            .iter()
            .find(|(w, _)| *w == ws)
            .map(|(_, r)| r.clone());
        CheckOutcome {
            poll: None,
            approval: None,
            status: CheckStatus::DriftDetected,
            check: check(ws),
            execution_id: execution_arn(kind, i),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            change: Some(self.changes[ws].clone()),
            run,
            drift: Some(self.drift.clone()),
            remediation: None,
            failure: None,
        }
    }

    async fn workload(&mut self, stack: &LocalStack, function: &str, n: usize) -> Result<Workload> {
        let mut payloads = Vec::with_capacity(n);
        let description = match function {
            "admit-event" => {
                for i in 0..n {
                    let ws = i % WORKSPACES;
                    payloads.push(json!({"event": fresh_event(ws, i)?, "execution_id": execution_arn("admit", i)}));
                }
                format!(
                    "a fresh console AuthorizeSecurityGroupIngress event per call, over {WORKSPACES} workspaces: the first per workspace opens its batch (DynamoDB conditional put), the others join it (conditional update)"
                )
            }
            "create-run" => {
                for i in 0..n {
                    let ws = i % WORKSPACES;
                    let req = CreateRunRequest {
                        check: check(ws),
                        change: self.changes[ws].clone(),
                        execution_id: execution_arn("create", i),
                    };
                    payloads.push(to(&req));
                }
                "a new execution per call: batch close (DynamoDB; the execution owns no batch, so its own change is planned), workspace lookup, run marked as requested (DynamoDB) and POST /runs; no runs list (no earlier attempt asked for a run)".into()
            }
            "poll-run" | "summarize-drift" => {
                if self.runs.is_empty() {
                    bail!("no runs from create-run to {function}");
                }
                for i in 0..n {
                    let (ws, run) = self.runs[i % self.runs.len()].clone();
                    if function == "poll-run" {
                        let poll = (i % 4 != 0).then(|| PollState {
                            plan_seconds: None,
                            phase: Phase::Running,
                            status: "planning".into(),
                            has_changes: None,
                            next_wait_seconds: 5,
                            polls: (i % 7) as u32 + 1,
                            elapsed_seconds: 10 + (i % 7) as u64 * 5,
                            detail: None,
                            apply_seconds: None,
                        });
                        payloads.push(to(&PollRequest {
                            check: check(ws),
                            run,
                            poll,
                            apply: None,
                            execution_id: None,
                        }));
                    } else {
                        payloads.push(to(&SummarizeRequest {
                            check: check(ws),
                            run,
                        }));
                    }
                }
                if function == "poll-run" {
                    "GET /runs/:id of the runs create-run made, with a previous poll state on 3 of 4 calls".into()
                } else {
                    "plan JSON of the runs create-run made (the committed out-of-band.json, 8 drifted resources): 307 from the API, download from the archivist origin, drift report".into()
                }
            }
            "remediate" => {
                let creates = n.div_ceil(3);
                let assesses = (n - creates) / 2;
                let applies = n - creates - assesses;
                for i in 0..creates {
                    let ws = i % WORKSPACES;
                    payloads.push(to(&RemediateRequest {
                        approval: None,
                        action: RemediationAction::Create,
                        check: check(ws),
                        execution_id: execution_arn("remediate", i),
                        drift: Some(self.drift.clone()),
                        run: None,
                        remediation: None,
                    }));
                }
                // Assess and apply need the runs the creates make: filled in by `run`.
                payloads.extend((0..assesses).map(|i| json!({"__assess": i})));
                payloads.extend((0..applies).map(|i| json!({"__apply": i})));
                format!(
                    "{creates} create (targeted run), {assesses} assess (plan JSON safety check), {applies} apply, on the runs the creates made"
                )
            }
            "record" => {
                for i in 0..n {
                    payloads.push(to(&self.outcome(i, i % WORKSPACES, "record")));
                }
                "DriftDetected outcome of a new execution per call (8 drifted resources): conditional put of the record, fingerprint read and update".into()
            }
            "notify" => {
                for i in 0..n {
                    let outcome = self.outcome(i, i % WORKSPACES, "notify");
                    payloads.push(to(&NotifyRequest {
                        remediation_mode: None,
                        approval_timeout_seconds: None,
                        outcome,
                        record: Some(RecordResult {
                            status: CheckStatus::DriftDetected,
                            stored: true,
                            previous_fingerprint: None,
                            accepted: None,
                        }),
                    }));
                }
                "DriftDetected alert of a new execution per call: alert-marker read, Block Kit message posted to the Slack sink, marker written".into()
            }
            "on-failure" => {
                payloads = failed_execution_events(stack, n).await?;
                "status-change event of a distinct FAILED execution per call (a one-state Fail machine in moto): DescribeExecution, GetExecutionHistory, CheckFailed record, Slack alert".into()
            }
            "history-widget" => {
                for _ in 0..n {
                    payloads.push(json!({
                        "widgetContext": {
                            "dashboardName": "driftguard-bench", "widgetId": "widget-1",
                            "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
                            "theme": "light", "params": {"days": 30}, "width": 1200, "height": 800
                        },
                        "days": 30
                    }));
                }
                "CloudWatch custom-widget call: the drift-history page of the configured workspaces over 30 days (records, open and resolved episodes read by key range, HTML rendered)".into()
            }
            "slack-callback" => {
                let secret = stack.slack_app.signing_secret().to_string();
                for i in 0..n {
                    payloads.push(signed_link_click(&secret, i));
                }
                "a signed click on a link button per call (Slack's form-encoded block_actions, base64 in the function URL event): signature verified in constant time, payload parsed, acknowledged".into()
            }
            other => bail!("no workload for {other}"),
        };
        Ok(Workload {
            description,
            payloads,
        })
    }

    /// Fills in the assess / apply placeholders from the created remediation runs.
    fn resolve(&self, payload: Value) -> Option<Value> {
        let (action, i) = if let Some(i) = payload.get("__assess").and_then(Value::as_u64) {
            (RemediationAction::Assess, i as usize)
        } else if let Some(i) = payload.get("__apply").and_then(Value::as_u64) {
            (RemediationAction::Apply, i as usize)
        } else {
            return Some(payload);
        };
        if self.remediation_runs.is_empty() {
            return None;
        }
        let (ws, run) = self.remediation_runs[i % self.remediation_runs.len()].clone();
        let req = RemediateRequest {
            approval: None,
            action,
            check: check(ws),
            execution_id: execution_arn("remediate", i),
            drift: Some(self.drift.clone()),
            run: None,
            remediation: Some(run),
        };
        serde_json::to_value(req).ok()
    }

    /// Keeps what later functions need from an output.
    fn observe(&mut self, function: &str, payload: &Value, output: &Value) {
        let ws_of = |p: &Value| {
            p.pointer("/check/workspace")
                .and_then(Value::as_str)
                .and_then(|w| w.strip_prefix("fn-"))
                .and_then(|n| n.parse::<usize>().ok())
        };
        let Some(ws) = ws_of(payload) else { return };
        let Ok(run) = serde_json::from_value::<RunInfo>(output.clone()) else {
            return;
        };
        match function {
            "create-run" => self.runs.push((ws, run)),
            "remediate" if payload.get("action") == Some(&json!("create")) => {
                self.remediation_runs.push((ws, run))
            }
            _ => {}
        }
    }
}

/// A function URL event of Slack posting a click on the alert's
/// "Open Step Functions execution" link button, signed with `secret`.
fn signed_link_click(secret: &str, i: usize) -> Value {
    use base64::Engine;
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0BENCH", "username": "bench"},
        "team": {"id": "T0DRIFTGRD"},
        "response_url": "https://hooks.slack.com/actions/T0DRIFTGRD/1/bench",
        "actions": [{"action_id": "open_execution", "type": "button", "action_ts": format!("{i}.0")}],
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = driftguard_slack::signature::sign(secret.as_bytes(), &ts, body.as_bytes());
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature,
        },
        "requestContext": {"http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Slackbot 1.0"}},
        "body": base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
        "isBase64Encoded": true,
    })
}

/// A model value as JSON.
fn to<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("model types serialize")
}

/// `n` status-change events of distinct FAILED executions: a one-state `Fail`
/// machine in moto, started `n` times with a benchmark CloudTrail event as input.
async fn failed_execution_events(stack: &LocalStack, n: usize) -> Result<Vec<Value>> {
    let sfn = aws_sdk_sfn::Client::new(&stack.sdk);
    let definition = json!({
        "Comment": "benchmark: fails at once, like a check failing at a step",
        "StartAt": "Create plan run",
        "States": {"Create plan run": {"Type": "Fail", "Error": "TfcUnavailable",
            "Cause": "HCP Terraform answered 503 Service Unavailable (benchmark)"}}
    });
    let name = format!("driftguard-bench-fails-{}", &events::uuid()[..8]);
    let created = sfn
        .create_state_machine()
        .name(&name)
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/driftguard-bench")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "CreateStateMachine: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            )
        })?;
    let machine = created.state_machine_arn().to_string();
    let mut arns = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(25) {
        let starts: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let sfn = sfn.clone();
                let machine = machine.clone();
                async move {
                    let input = fresh_event(i % WORKSPACES, i)?;
                    let out = sfn
                        .start_execution()
                        .state_machine_arn(&machine)
                        .name(format!("failed-{i:05}-{}", &events::uuid()[..8]))
                        .input(input.to_string())
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "StartExecution: {}",
                                aws_sdk_sfn::error::DisplayErrorContext(&e)
                            )
                        })?;
                    Ok::<_, anyhow::Error>(out.execution_arn().to_string())
                }
            })
            .collect();
        for r in futures_join_all(starts).await {
            arns.push(r?);
        }
    }
    // Wait until every one of them has failed.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let running = sfn
            .list_executions()
            .state_machine_arn(&machine)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .max_results(1)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "ListExecutions: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            })?;
        if running.executions().is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = chrono::Utc::now();
    Ok(arns
        .into_iter()
        .map(|arn| {
            json!({
                "version": "0",
                "id": events::uuid(),
                "detail-type": "Step Functions Execution Status Change",
                "source": "aws.states",
                "account": "123456789012",
                "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "region": stack.options.region,
                "resources": [arn],
                "detail": {"executionArn": arn, "stateMachineArn": machine, "status": "FAILED",
                    "error": "TfcUnavailable", "cause": "HCP Terraform answered 503 (benchmark)"}
            })
        })
        .collect())
}

/// One process serving `payloads` one after the other, like a warm Lambda container.
async fn invocations(
    stack: &LocalStack,
    function: &str,
    binary: &Path,
    workload: Workload,
    chain: &mut Chain,
    log: &Path,
    figures: &mut FunctionFigures,
) -> Result<()> {
    let api = RuntimeApi::start(stack.function_name(function)?).await?;
    let env = process_env(stack, function, &api.address())?;
    let child = spawn(binary, &env, log)?;
    let pid = child.id().context("no pid")?;
    let result = async {
        api.first_next(Duration::from_secs(20)).await?;
        figures.rss_after_init_kib = proc_status_kib(pid, "VmRSS:");
        let mut millis = Vec::with_capacity(workload.payloads.len());
        // Plans of the runs made just before finish 0.5 s after creation:
        // summarize and assess read finished plans, as in the state machine.
        if function == "summarize-drift" {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        for payload in workload.payloads {
            if payload.get("__assess") == Some(&json!(0)) {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let Some(payload) = chain.resolve(payload) else {
                continue;
            };
            let outcome = api
                .invoke(payload.clone(), Duration::from_secs(60))
                .await
                .with_context(|| format!("{function} invocation {}", millis.len()))?;
            millis.push(outcome.handler.as_secs_f64() * 1000.0);
            match &outcome.result {
                Ok(output) => chain.observe(function, &payload, output),
                Err(e) => {
                    figures.errors += 1;
                    let t = e
                        .get("errorType")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string();
                    if !figures.error_types.contains_key(&t) {
                        figures.problems.push(format!(
                            "{t}: {}",
                            e.get("errorMessage").and_then(Value::as_str).unwrap_or("")
                        ));
                    }
                    *figures.error_types.entry(t).or_default() += 1;
                }
            }
        }
        figures.invocations = millis.len();
        figures.handler_ms = Some(summarize(&millis));
        figures.peak_rss_kib = proc_status_kib(pid, "VmHWM:");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    stop(child).await;
    result
}

/// Sizes from `make package` (arm64 zip and the bootstrap inside) and the native release binary.
fn sizes(repo: &Path, function: &str, figures: &mut FunctionFigures) {
    let zip = repo.join(format!("target/lambda/{function}/bootstrap.zip"));
    match std::fs::metadata(&zip) {
        Ok(m) => {
            figures.zip_bytes = Some(m.len());
            match zipinfo::entries(&zip) {
                Ok(entries) => {
                    figures.arm64_binary_bytes = entries
                        .iter()
                        .find(|e| e.name == "bootstrap")
                        .map(|e| e.uncompressed)
                }
                Err(e) => figures.problems.push(format!("{}: {e:#}", zip.display())),
            }
        }
        Err(_) => figures
            .problems
            .push(format!("{} missing (run `make package`)", zip.display())),
    }
    figures.native_binary_bytes = std::fs::metadata(native_binary(repo, function))
        .ok()
        .map(|m| m.len());
}

pub fn native_binary(repo: &Path, function: &str) -> PathBuf {
    repo.join("target/release").join(function)
}

/// Measures every function; a failure is noted in its figures, not fatal.
pub async fn measure(
    stack: &LocalStack,
    options: &Options,
    work: &Path,
) -> Result<Vec<FunctionFigures>> {
    let repo = events::repo_root();
    for ws in 0..WORKSPACES {
        stack.tfc.add_workspace(
            ORG,
            &workspace(ws),
            Scenario {
                drift: Drift::Fixture,
                plan_seconds: 0.3,
                apply_seconds: 0.3,
                ..Scenario::default()
            },
        );
    }
    let mut chain = Chain::new(stack)?;
    let mut all = Vec::new();
    for &function in functions() {
        let mut figures = FunctionFigures {
            name: function.to_string(),
            ..Default::default()
        };
        sizes(&repo, function, &mut figures);
        let binary = native_binary(&repo, function);
        if !binary.exists() {
            figures.problems.push(format!(
                "{} missing (cargo build --release --bin {function})",
                binary.display()
            ));
            all.push(figures);
            continue;
        }
        let log = work.join(format!("{function}.log"));
        eprintln!("[bench] {function}: {} cold starts", options.starts);
        match cold_starts(stack, function, &binary, options.starts, &log).await {
            Ok((summary, _)) => figures.cold_start_ms = Some(summary),
            Err(e) => figures.problems.push(format!("cold start: {e:#}")),
        }
        // The widget reads every configured workspace's history per call, and
        // moto's Python answers a history of thousands of records slowly: a
        // tenth of the calls keeps the part within minutes. Each remediation
        // create reads the runs list, which HCP Terraform allows 30 times a
        // minute (DriftGuard paces itself to 20): a fiftieth of the calls
        // (a third of them creates) stays within that budget.
        let calls = match function {
            "history-widget" => (options.invocations / 10).max(1),
            "remediate" => (options.invocations / 50).max(3),
            _ => options.invocations,
        };
        eprintln!("[bench] {function}: {calls} invocations");
        match chain.workload(stack, function, calls).await {
            Ok(workload) => {
                figures.workload = workload.description.clone();
                if let Err(e) = invocations(
                    stack,
                    function,
                    &binary,
                    workload,
                    &mut chain,
                    &log,
                    &mut figures,
                )
                .await
                {
                    figures.problems.push(format!("invocations: {e:#}"));
                }
            }
            Err(e) => figures.problems.push(format!("workload: {e:#}")),
        }
        all.push(figures);
    }
    Ok(all)
}

/// A note when the `make package` zips are older than the function sources
/// (their sizes are then those of an earlier build).
pub fn zip_staleness(repo: &Path) -> Option<String> {
    fn newest(dir: &Path, found: &mut Option<(std::time::SystemTime, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if !path.ends_with("tests") {
                    newest(&path, found);
                }
            } else if path.extension().is_some_and(|x| x == "rs" || x == "toml")
                && let Ok(t) = e.metadata().and_then(|m| m.modified())
                && found.as_ref().is_none_or(|(n, _)| t > *n)
            {
                *found = Some((t, path));
            }
        }
    }
    let mut source = None;
    newest(&repo.join("functions"), &mut source);
    let (changed, path) = source?;
    let oldest_zip = functions()
        .iter()
        .filter_map(|f| {
            std::fs::metadata(repo.join(format!("target/lambda/{f}/bootstrap.zip")))
                .and_then(|m| m.modified())
                .ok()
        })
        .min()?;
    (changed > oldest_zip).then(|| {
        let built: chrono::DateTime<chrono::Utc> = oldest_zip.into();
        format!(
            "The arm64 zips (`make package`, built {}) are older than the function sources ({} changed since): their sizes are those of that build. Run `make package` before `make bench` for current sizes.",
            built.format("%Y-%m-%d %H:%M UTC"),
            path.strip_prefix(repo).unwrap_or(&path).display()
        )
    })
}
