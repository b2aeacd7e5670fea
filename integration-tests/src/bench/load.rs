//! Rate under load: many concurrent checks polling one HCP Terraform
//! organization (one token), measured at the emulator.
//!
//! Running hundreds of full executions on moto would measure moto, so this
//! drives the step logic the Lambdas run (`driftguard_core::steps`:
//! `create_run`, then `poll_run` on the real poll schedule with its real
//! waits, then `summarize`) concurrently, against a dedicated HCP Terraform
//! emulator through the real client (`HttpTerraformCloud`). The waits between
//! polls are the state machine's: the fixed first wait of 2 s (assigned by "Create plan run"),
//! then `next_wait_seconds` from each poll; a step that fails with a transient
//! error is retried as the state machine's `Retry` for it says (read from the
//! ASL). The emulator enforces the documented limit (429 beyond 30 requests in
//! any second), and a paced run shares one request budget between all checks
//! (`pacing::InMemoryPacer`: the arithmetic of the DynamoDB pacer the Lambdas
//! use, in one process).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use driftguard_core::config::Config;
use driftguard_core::model::*;
use driftguard_core::pacing::{InMemoryPacer, PaceLimits};
use driftguard_core::secrets::StaticSecrets;
use driftguard_core::steps;
use driftguard_testkit::InMemoryBatchStore;
use driftguard_tfc::HttpTerraformCloud;
use serde_json::json;

use super::cost::FIRST_WAIT_SECONDS;
use super::stats::peak_in_window;
use crate::tfc_emulator::{Scenario, TfcEmulator};

const ORG: &str = "load";
const TOKEN: &str = "bench-load.atlasv1.user-token";
const TOKEN_SECRET: &str = "driftguard-bench/terraform-api-token";
/// HCP Terraform's documented API rate limit per user token.
pub const DOCUMENTED_LIMIT: usize = 30;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub label: String,
    pub checks: usize,
    pub workspaces: usize,
    /// Check starts are spread evenly over this many seconds (0 = all at once).
    pub spread_seconds: f64,
    pub min_plan_seconds: f64,
    pub max_plan_seconds: f64,
    /// Share one request budget (the default `tfc_requests_per_second` and burst).
    pub paced: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    pub label: String,
    pub checks: usize,
    pub workspaces: usize,
    pub spread_seconds: f64,
    pub min_plan_seconds: f64,
    pub max_plan_seconds: f64,
    pub paced: bool,
    pub completed: usize,
    /// Step retries after a transient error (429 or a full budget), as the state machine would make them.
    pub step_retries: usize,
    pub step_errors: Vec<String>,
    pub api_requests: usize,
    pub download_requests: usize,
    pub polls: usize,
    /// Most API requests inside any sliding 1-second window.
    pub peak_sliding: usize,
    /// Most API requests in one whole second (the emulator's `rate()` bucketing, API requests only).
    pub peak_bucket: usize,
    /// API requests per second from the first to the last one.
    pub mean_per_second: f64,
    /// Responses other than 2xx/3xx: the enforced limit's 429s, mostly.
    pub rejected: usize,
    pub wall_seconds: f64,
}

fn config(address: &str, workspaces: usize) -> Result<Config> {
    let routes: Vec<_> = (0..workspaces)
        .map(|w| json!({"organization": ORG, "workspace": format!("ws-{w:02}")}))
        .collect();
    let vars = [
        ("DRIFTGUARD_TFC_ADDRESS", address.to_string()),
        ("DRIFTGUARD_TFC_TOKEN_SECRET", TOKEN_SECRET.to_string()),
        ("DRIFTGUARD_WORKSPACES", json!(routes).to_string()),
        ("DRIFTGUARD_POLL_MIN_WAIT_SECONDS", "5".into()),
        ("DRIFTGUARD_POLL_MAX_WAIT_SECONDS", "60".into()),
        ("DRIFTGUARD_PLAN_TIMEOUT_SECONDS", "1800".into()),
    ];
    Ok(Config::from_lookup(|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })?)
}

fn change(i: usize) -> Change {
    Change {
        event_id: format!("load-{i:05}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "AssumedRole".into(),
            arn: Some("arn:aws:sts::123456789012:assumed-role/Admin/alice".into()),
            principal_id: None,
        },
        source_ip: None,
        user_agent: None,
        resources: vec![format!("sg-0f{i:015x}")],
    }
}

/// A state's `Retry` rule for `TfcRateLimited`, from the ASL.
#[derive(Debug, Clone, Copy)]
pub struct RetryRule {
    interval_seconds: f64,
    backoff_rate: f64,
    max_attempts: u32,
    max_delay_seconds: f64,
}

impl RetryRule {
    /// The rule of the state named `state` in statemachine/drift-guard.asl.json.
    pub fn from_asl(state: &str) -> Result<RetryRule> {
        let path = crate::events::repo_root().join("statemachine/drift-guard.asl.json");
        let asl: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        fn find<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
            match v {
                serde_json::Value::Object(map) => map
                    .get("States")
                    .and_then(|states| states.get(name))
                    .or_else(|| map.values().find_map(|x| find(x, name))),
                serde_json::Value::Array(items) => items.iter().find_map(|x| find(x, name)),
                _ => None,
            }
        }
        let rule = find(&asl, state)
            .and_then(|s| s["Retry"].as_array())
            .and_then(|rules| {
                rules.iter().find(|r| {
                    r["ErrorEquals"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x == "TfcRateLimited"))
                })
            })
            .with_context(|| {
                format!("no TfcRateLimited retry on '{state}' in {}", path.display())
            })?;
        Ok(RetryRule {
            interval_seconds: rule["IntervalSeconds"].as_f64().unwrap_or(1.0),
            backoff_rate: rule["BackoffRate"].as_f64().unwrap_or(2.0),
            max_attempts: rule["MaxAttempts"].as_u64().unwrap_or(3) as u32,
            max_delay_seconds: rule["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX),
        })
    }

    /// The wait before retry `attempt` (1-based), with full jitter.
    fn delay(&self, attempt: u32) -> Duration {
        let cap = (self.interval_seconds * self.backoff_rate.powi(attempt as i32 - 1))
            .min(self.max_delay_seconds);
        Duration::from_secs_f64(cap * fastrand::f64())
    }
}

/// Runs `step` as the state machine would: transient errors are retried by `rule`.
async fn with_retries<T, F, Fut>(rule: RetryRule, retries: &AtomicUsize, mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = driftguard_core::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < rule.max_attempts => {
                attempt += 1;
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(rule.delay(attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The retry rules of the three states a check passes through here.
#[derive(Debug, Clone, Copy)]
struct Rules {
    create: RetryRule,
    poll: RetryRule,
    summarize: RetryRule,
}

/// One check: create the run, poll it on the real schedule, summarize it.
async fn one_check(
    i: usize,
    check: CheckRef,
    tfc: Arc<HttpTerraformCloud>,
    config: Arc<Config>,
    batches: Arc<InMemoryBatchStore>,
    rules: Rules,
    retries: Arc<AtomicUsize>,
) -> Result<usize> {
    let execution_id =
        format!("arn:aws:states:eu-west-1:123456789012:execution:driftguard-load:check-{i:05}");
    let req = CreateRunRequest {
        check: check.clone(),
        change: change(i),
        execution_id,
    };
    let run = with_retries(rules.create, &retries, || {
        steps::create_run(
            &req,
            tfc.as_ref(),
            batches.as_ref(),
            driftguard_core::now_epoch(),
        )
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(FIRST_WAIT_SECONDS)).await;
    let mut poll: Option<PollState> = None;
    let mut polls = 0;
    loop {
        let request = PollRequest {
            check: check.clone(),
            run: run.clone(),
            poll: poll.clone(),
            apply: None,
            execution_id: Some(req.execution_id.clone()),
        };
        let state = with_retries(rules.poll, &retries, || {
            steps::poll_run(
                &request,
                tfc.as_ref(),
                &config,
                driftguard_core::now_epoch(),
            )
        })
        .await?;
        polls += 1;
        if state.phase != Phase::Running {
            break;
        }
        tokio::time::sleep(Duration::from_secs(state.next_wait_seconds)).await;
        poll = Some(state);
    }
    let request = SummarizeRequest { check, run };
    with_retries(rules.summarize, &retries, || {
        steps::summarize(&request, tfc.as_ref(), &config)
    })
    .await?;
    Ok(polls)
}

pub async fn run(options: LoadOptions) -> Result<LoadFigures> {
    let emulator = TfcEmulator::start(TOKEN).await?;
    emulator.enforce_rate_limit();
    let rules = Rules {
        create: RetryRule::from_asl("Create plan run")?,
        poll: RetryRule::from_asl("Check plan status")?,
        summarize: RetryRule::from_asl("Summarize drift")?,
    };
    let retries = Arc::new(AtomicUsize::new(0));
    let n_ws = options.workspaces.max(1);
    for w in 0..n_ws {
        let fraction = if n_ws > 1 {
            w as f64 / (n_ws - 1) as f64
        } else {
            0.0
        };
        emulator.add_workspace(
            ORG,
            &format!("ws-{w:02}"),
            Scenario {
                plan_seconds: options.min_plan_seconds
                    + fraction * (options.max_plan_seconds - options.min_plan_seconds),
                ..Scenario::default()
            },
        );
    }
    let config = Arc::new(config(&emulator.url(), n_ws)?);
    let secrets = Arc::new(StaticSecrets::new().with(TOKEN_SECRET, TOKEN));
    let mut client = HttpTerraformCloud::new(&emulator.url(), secrets, TOKEN_SECRET)?;
    if options.paced {
        client = client.with_pacer(Arc::new(InMemoryPacer::new()), PaceLimits::default());
    }
    let tfc = Arc::new(client);
    let batches = Arc::new(InMemoryBatchStore::new());
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..options.checks {
        let offset = if options.checks > 1 {
            options.spread_seconds * i as f64 / options.checks as f64
        } else {
            0.0
        };
        let check = CheckRef {
            organization: ORG.into(),
            workspace: format!("ws-{:02}", i % n_ws),
        };
        let (tfc, config, batches, retries) = (
            tfc.clone(),
            config.clone(),
            batches.clone(),
            retries.clone(),
        );
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(offset)).await;
            one_check(i, check, tfc, config, batches, rules, retries).await
        }));
    }
    let mut f = LoadFigures {
        label: options.label.clone(),
        checks: options.checks,
        workspaces: n_ws,
        spread_seconds: options.spread_seconds,
        min_plan_seconds: options.min_plan_seconds,
        max_plan_seconds: options.max_plan_seconds,
        paced: options.paced,
        ..Default::default()
    };
    for h in handles {
        match h.await {
            Ok(Ok(polls)) => {
                f.completed += 1;
                f.polls += polls;
            }
            Ok(Err(e)) => f.step_errors.push(format!("{e:#}")),
            Err(e) => f.step_errors.push(format!("task: {e}")),
        }
    }
    f.wall_seconds = started.elapsed().as_secs_f64();
    f.step_retries = retries.load(Ordering::Relaxed);
    let requests = emulator.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v2"))
        .collect();
    f.api_requests = api.len();
    f.download_requests = requests.len() - api.len();
    f.rejected = requests.iter().filter(|r| r.status >= 400).count();
    if let Some(first) = api.iter().map(|r| r.at).min() {
        let mut t: Vec<f64> = api
            .iter()
            .map(|r| r.at.duration_since(first).as_secs_f64())
            .collect();
        t.sort_by(|a, b| a.total_cmp(b));
        f.peak_sliding = peak_in_window(&t, 1.0);
        let mut buckets = std::collections::HashMap::<u64, usize>::new();
        for s in &t {
            *buckets.entry(*s as u64).or_default() += 1;
        }
        f.peak_bucket = buckets.values().copied().max().unwrap_or(0);
        let span = t.last().copied().unwrap_or(0.0).max(1.0);
        f.mean_per_second = t.len() as f64 / span;
    }
    Ok(f)
}
