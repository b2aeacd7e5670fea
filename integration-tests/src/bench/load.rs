//! Rate under load: many concurrent checks polling one HCP Terraform
//! organization (one token), measured at the emulator.
//!
//! Running hundreds of full executions on moto would measure moto, so this
//! drives the step logic the Lambdas run (`driftguard_core::steps`:
//! `create_run`, then `poll_run` on the real poll schedule with its real
//! waits, then `summarize`) concurrently, against a dedicated HCP Terraform
//! emulator through the real client (`HttpTerraformCloud`). The waits between
//! polls are the state machine's: the fixed first wait of 2 s ("Plan queued"),
//! then `next_wait_seconds` from each poll.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use driftguard_core::coalesce::InMemoryBatchStore;
use driftguard_core::config::Config;
use driftguard_core::model::*;
use driftguard_core::secrets::StaticSecrets;
use driftguard_core::steps;
use driftguard_core::tfc::HttpTerraformCloud;
use serde_json::json;

use super::cost::FIRST_WAIT_SECONDS;
use super::stats::{over_limit, peak_in_window};
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
}

#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    pub label: String,
    pub checks: usize,
    pub workspaces: usize,
    pub spread_seconds: f64,
    pub min_plan_seconds: f64,
    pub max_plan_seconds: f64,
    pub completed: usize,
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
    /// Seconds (whole, from the first request) with more than the documented limit.
    pub seconds_over_limit: usize,
    /// Requests a strict 30-per-sliding-second limiter would have refused.
    pub over_limit_requests: usize,
    /// Responses other than 2xx/3xx (429 included).
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

/// One check: create the run, poll it on the real schedule, summarize it.
async fn one_check(
    i: usize,
    check: CheckRef,
    tfc: Arc<HttpTerraformCloud>,
    config: Arc<Config>,
    batches: Arc<InMemoryBatchStore>,
) -> Result<usize> {
    let execution_id =
        format!("arn:aws:states:eu-west-1:123456789012:execution:driftguard-load:check-{i:05}");
    let req = CreateRunRequest {
        check: check.clone(),
        change: change(i),
        execution_id,
    };
    let run = steps::create_run(
        &req,
        tfc.as_ref(),
        batches.as_ref(),
        driftguard_core::now_epoch(),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(FIRST_WAIT_SECONDS)).await;
    let mut poll: Option<PollState> = None;
    let mut polls = 0;
    loop {
        let state = steps::poll_run(
            &PollRequest {
                check: check.clone(),
                run: run.clone(),
                poll: poll.clone(),
            },
            tfc.as_ref(),
            &config,
            driftguard_core::now_epoch(),
        )
        .await?;
        polls += 1;
        if state.phase != Phase::Running {
            break;
        }
        tokio::time::sleep(Duration::from_secs(state.next_wait_seconds)).await;
        poll = Some(state);
    }
    steps::summarize(&SummarizeRequest { check, run }, tfc.as_ref(), &config).await?;
    Ok(polls)
}

pub async fn run(options: LoadOptions) -> Result<LoadFigures> {
    let emulator = TfcEmulator::start(TOKEN).await?;
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
    let tfc = Arc::new(HttpTerraformCloud::new(
        &emulator.url(),
        secrets,
        TOKEN_SECRET,
    )?);
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
        let (tfc, config, batches) = (tfc.clone(), config.clone(), batches.clone());
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(offset)).await;
            one_check(i, check, tfc, config, batches).await
        }));
    }
    let mut f = LoadFigures {
        label: options.label.clone(),
        checks: options.checks,
        workspaces: n_ws,
        spread_seconds: options.spread_seconds,
        min_plan_seconds: options.min_plan_seconds,
        max_plan_seconds: options.max_plan_seconds,
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
        f.over_limit_requests = over_limit(&t, 1.0, DOCUMENTED_LIMIT);
        let mut buckets = std::collections::HashMap::<u64, usize>::new();
        for s in &t {
            *buckets.entry(*s as u64).or_default() += 1;
        }
        f.peak_bucket = buckets.values().copied().max().unwrap_or(0);
        f.seconds_over_limit = buckets.values().filter(|&&c| c > DOCUMENTED_LIMIT).count();
        let span = t.last().copied().unwrap_or(0.0).max(1.0);
        f.mean_per_second = t.len() as f64 / span;
    }
    Ok(f)
}
