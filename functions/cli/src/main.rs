//! `driftguard`: the command-line adapter over the core library. It runs the
//! same steps the Lambdas run (`steps::*`); where the state machine waits and
//! retries, this loop does, on the same poll schedule and within `--timeout`.
//!
//! - `driftguard admit`: what the admit step decides for an event, a CloudTrail
//!   record or a whole CloudTrail log file (one JSON line per record).
//! - `driftguard summarize`: the drift report of a `terraform show -json` plan.
//! - `driftguard check`: a whole drift check against HCP Terraform, from a laptop
//!   or a CI job: create-run, poll-run and summarize-drift, in-process.
//!
//! Exit codes of both follow `terraform plan -detailed-exitcode`: 0 no drift
//! (unapplied code changes are listed, they are not drift), 2 drift, 1 when
//! the plan cannot be judged or the check failed (never a silent "no drift").
//! - `driftguard dashboard`: the drift-history page from a history table (any
//!   DynamoDB endpoint), to a file or served locally.
//! - `driftguard history`: recent checks and drift episodes as a table or JSON.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use driftguard_aws::DynamoHistory;
use driftguard_core::admission::{self, replay};
use driftguard_core::config::{
    self, AdmissionConfig, Config, DEFAULT_TFC_ADDRESS, IgnoreRules, WorkspaceRoute,
};
use driftguard_core::dashboard::{self, DashboardData, RenderOptions};
use driftguard_core::model::{
    Actor, Change, CheckOutcome, CheckRef, CheckStatus, CreateRunRequest, DriftReport, Phase,
    PollRequest, PollState, RunInfo, SummarizeRequest,
};
use driftguard_core::pattern::PrincipalPattern;
use driftguard_core::ports::{BatchJoin, BatchStore, ClosedBatch, HistoryReader, TerraformCloud};
use driftguard_core::secrets::StaticSecrets;
use driftguard_core::{Error, now_epoch, plan, poll, steps};
use driftguard_slack::{self as slack, SlackWebhook};
use driftguard_tfc::HttpTerraformCloud;

#[derive(Parser)]
#[command(
    name = "driftguard",
    version,
    about = "Terraform drift guard for AWS and HCP Terraform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide whether CloudTrail events are changes to check: one JSON line per
    /// record, then a summary (admitted, ignored by reason) on standard error.
    Admit {
        /// An EventBridge event, a bare CloudTrail record, a list of either, or a
        /// CloudTrail log file as S3 stores it ({"Records": […]}, .json or .json.gz);
        /// "-" for standard input.
        #[arg(long)]
        event: PathBuf,
        #[arg(long)]
        organization: String,
        #[arg(long)]
        workspace: String,
        /// Services in scope (comma-separated).
        #[arg(long, default_value = "ec2,s3,iam", value_delimiter = ',')]
        services: Vec<String>,
        /// Principal ARN patterns whose changes are Terraform's own (repeatable): the
        /// role of HCP Terraform's dynamic credentials, or the IAM user whose keys
        /// the workspace holds. Matched against the caller and its session's role.
        #[arg(long = "ignore-principal")]
        ignore_principals: Vec<String>,
        /// Host of HCP Terraform's OIDC provider: a session of an ignored role is
        /// Terraform's only when its record shows it came through it ("" or
        /// "off": every session of the role is).
        #[arg(long, default_value = driftguard_core::config::DEFAULT_TERRAFORM_OIDC_PROVIDER)]
        terraform_oidc_provider: String,
    },
    /// Summarize the drift in a `terraform show -json` plan (normal or
    /// refresh-only). Exit 0 no drift, 2 drift, 1 cannot judge.
    Summarize {
        /// The plan JSON file ("-" for standard input).
        #[arg(long)]
        plan: PathBuf,
        /// Print the drift report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// `terraform providers schema -json` output: decides, in refresh-only
        /// plans, attributes the configuration does not set.
        #[arg(long)]
        provider_schema: Option<PathBuf>,
        #[command(flatten)]
        ignore: IgnoreArgs,
    },
    /// Run a drift check in an HCP Terraform workspace (token: TFE_TOKEN or the
    /// Terraform CLI credentials file). Exit 0 no drift, 2 drift, 1 error.
    Check {
        #[arg(long, env = "TFE_ORGANIZATION")]
        organization: String,
        #[arg(long, env = "TFE_WORKSPACE")]
        workspace: String,
        /// HCP Terraform or Terraform Enterprise address.
        #[arg(long, env = "TFE_ADDRESS", default_value = DEFAULT_TFC_ADDRESS)]
        address: String,
        /// Give up (and cancel the run) after this many seconds. Rate limits
        /// are waited out within it.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Post the result to this Slack incoming webhook (or set SLACK_WEBHOOK_URL).
        #[arg(long, env = "SLACK_WEBHOOK_URL", hide_env_values = true)]
        slack_webhook: Option<String>,
        /// Print the drift report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ignore: IgnoreArgs,
    },
    /// Render the drift-history page (open drift, drift-free ratio, time to
    /// resolve, trend, top actors, recent checks) from a DriftGuard history table.
    /// Writes the HTML to standard output unless --out or --serve is given.
    Dashboard {
        #[command(flatten)]
        source: HistorySource,
        /// Write the page to this file.
        #[arg(long, conflicts_with = "serve")]
        out: Option<PathBuf>,
        /// Serve the page on http://127.0.0.1:PORT (rendered afresh for each request).
        #[arg(long)]
        serve: Option<u16>,
    },
    /// Recent checks and drift episodes from a DriftGuard history table.
    History {
        #[command(flatten)]
        source: HistorySource,
        /// Most checks (and resolved episodes) to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON ({"checks": [...], "episodes": {"open": [...], "resolved": [...]}}).
        #[arg(long)]
        json: bool,
    },
}

/// Where the history is: a DynamoDB table, at AWS or any endpoint (the local stack's).
#[derive(Args)]
struct HistorySource {
    /// The history table (the module's history_table_name output).
    #[arg(long, env = "DRIFTGUARD_HISTORY_TABLE")]
    table: String,
    /// ORGANIZATION/WORKSPACE to show (repeatable); default: every workspace with history.
    #[arg(long = "workspace")]
    workspaces: Vec<String>,
    /// Days to look back (1-90).
    #[arg(long, default_value_t = dashboard::DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(1..=90))]
    days: u32,
    /// DynamoDB endpoint (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: the AWS configuration's).
    #[arg(long)]
    region: Option<String>,
}

#[derive(Args)]
struct IgnoreArgs {
    /// Resource address glob to ignore (repeatable), e.g. 'aws_autoscaling_group.*'.
    #[arg(long = "ignore-address")]
    addresses: Vec<String>,
    /// Attribute path glob to ignore (repeatable), optionally 'ADDRESS:ATTRIBUTE'.
    #[arg(long = "ignore-attribute")]
    attributes: Vec<String>,
}

impl IgnoreArgs {
    fn rules(&self) -> IgnoreRules {
        IgnoreRules {
            addresses: self.addresses.clone(),
            attributes: self.attributes.clone(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Admit {
            event,
            organization,
            workspace,
            services,
            ignore_principals,
            terraform_oidc_provider,
        } => admit(
            &event,
            organization,
            workspace,
            services,
            ignore_principals,
            terraform_oidc_provider,
        ),
        Command::Summarize {
            plan,
            json,
            provider_schema,
            ignore,
        } => summarize(&plan, json, provider_schema.as_deref(), &ignore.rules()),
        Command::Check {
            organization,
            workspace,
            address,
            timeout,
            slack_webhook,
            json,
            ignore,
        } => {
            let check = CheckRef {
                organization,
                workspace,
            };
            check_workspace(
                &check,
                &address,
                timeout,
                slack_webhook,
                json,
                &ignore.rules(),
            )
            .await
        }
        Command::Dashboard { source, out, serve } => {
            show_dashboard(&source, out.as_deref(), serve).await
        }
        Command::History {
            source,
            limit,
            json,
        } => show_history(&source, limit, json).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            note(&format!("driftguard: {message}"));
            ExitCode::from(1)
        }
    }
}

fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the {what} from standard input: {e}"))?;
        Ok(bytes)
    } else {
        std::fs::read(path)
            .map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
    }
}

const EVENT_HINT: &str = "pass an EventBridge event, a CloudTrail record, or a CloudTrail log file as S3 stores it (.json or .json.gz)";

/// Whether standard output's reader went away (`driftguard admit … | head`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to standard output. A closed pipe is not an error: the rest of the
/// output is dropped quietly and the command finishes its work.
fn write_stdout(text: &str) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(format!("cannot write to standard output: {e}")),
    }
}

/// A line on standard error; a closed standard error is not worth a panic.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    write_stdout(&format!("{text}\n"))
}

fn admit(
    event: &Path,
    organization: String,
    workspace: String,
    services: Vec<String>,
    ignore_principals: Vec<String>,
    terraform_oidc_provider: String,
) -> Result<ExitCode, String> {
    let name = event.display();
    let bytes = read_bytes(event, "event")?;
    let text = replay::decode(&bytes).map_err(|why| format!("{name} cannot be read: {why}"))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name} is not JSON ({e}); {EVENT_HINT}"))?;
    let input = replay::events_of(document)
        .map_err(|why| format!("{name} cannot be judged: {why}; {EVENT_HINT}"))?;
    let config = AdmissionConfig {
        monitored_services: services
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        ignore_principal_arns: ignore_principals
            .into_iter()
            .map(PrincipalPattern::from)
            .collect(),
        own_principal_arns: vec![],
        terraform_oidc_provider: match terraform_oidc_provider.trim().to_ascii_lowercase() {
            off if off == "off" => String::new(),
            host => host,
        },
    };
    let route = WorkspaceRoute::new(organization, workspace);
    let mut summary = replay::ReplaySummary::default();
    for (index, event) in input.events.iter().enumerate() {
        // No coalescing from the CLI: there is no batch store, so an admitted change owns its checks.
        let evaluation = admission::evaluate(event, &config, std::slice::from_ref(&route));
        let decision = replay::ReplayDecision::new(index + 1, evaluation);
        summary.add(&decision);
        let line = serde_json::to_string(&decision).map_err(|e| e.to_string())?;
        write_stdout(&format!("{line}\n"))?;
    }
    note(&format!(
        "driftguard: {name} is {}: {}",
        input.kind,
        summary.render()
    ));
    if config.ignore_principal_arns.is_empty() && summary.admitted > 0 {
        note(
            "driftguard: no --ignore-principal given, so changes Terraform itself made are admitted too; pass HCP Terraform's role or user ARN",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A file, or standard input for "-".
fn open_input(path: &Path, what: &str) -> Result<Box<dyn Read>, String> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    std::fs::File::open(path)
        .map(|file| Box::new(file) as Box<dyn Read>)
        .map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

fn summarize(
    plan_path: &Path,
    json: bool,
    schema_path: Option<&Path>,
    rules: &IgnoreRules,
) -> Result<ExitCode, String> {
    let schema = schema_path
        .map(|path| {
            plan::ProviderSchema::read(std::io::BufReader::new(open_input(
                path,
                "provider schema",
            )?))
            .map_err(|e| format!("{}: {e}", display_name(path)))
        })
        .transpose()?;
    let options = plan::Options {
        rules: Some(rules),
        schema: schema.as_ref(),
        allow_incomplete: false,
    };
    let summary = plan::summarize(open_input(plan_path, "plan")?, &options)
        .map_err(|e| format!("cannot judge {}: {e}", display_name(plan_path)))?;
    let report = summary.full_report();
    print_report(&report, json)?;
    Ok(exit_code(&report))
}

fn print_report(report: &DriftReport, json: bool) -> Result<(), String> {
    if json {
        print_json(&CliReport::from(report))
    } else {
        write_stdout(&plan::render_table(report))
    }
}

fn exit_code(report: &DriftReport) -> ExitCode {
    if report.drifted {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The JSON the command line prints: the verdict, drifted resources with
/// their paths, unapplied code changes, and informational changes.
#[derive(serde::Serialize)]
struct CliReport<'a> {
    drifted: bool,
    /// Drifted resources only.
    resources: &'a [driftguard_core::model::DriftedResource],
    resource_count: usize,
    pending_changes: &'a driftguard_core::model::PendingChanges,
    informational: &'a driftguard_core::model::Informational,
    ignored: usize,
    fingerprint: &'a str,
    plan_mode: driftguard_core::model::PlanMode,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

impl<'a> From<&'a DriftReport> for CliReport<'a> {
    fn from(report: &'a DriftReport) -> Self {
        CliReport {
            drifted: report.drifted,
            resources: &report.resources,
            resource_count: report.resource_count,
            pending_changes: &report.pending_changes,
            informational: &report.informational,
            ignored: report.ignored,
            fingerprint: &report.fingerprint,
            plan_mode: report.plan_mode,
            notes: &report.notes,
        }
    }
}

/// The API token: `TFE_TOKEN`, else the Terraform CLI credentials file for the host.
fn find_token(address: &str) -> Result<String, String> {
    if let Ok(token) = std::env::var("TFE_TOKEN") {
        if !token.trim().is_empty() {
            return Ok(token.trim().to_string());
        }
    }
    let host = url::Url::parse(address)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| format!("'{address}' is not a valid address"))?;
    let home = std::env::var("HOME").unwrap_or_default();
    let path = PathBuf::from(home).join(".terraform.d/credentials.tfrc.json");
    let file: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    file.pointer(&format!("/credentials/{host}/token"))
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("no API token: set TFE_TOKEN, or run `terraform login {host}`"))
}

async fn check_workspace(
    check: &CheckRef,
    address: &str,
    timeout: u64,
    slack_webhook: Option<String>,
    json: bool,
    rules: &IgnoreRules,
) -> Result<ExitCode, String> {
    const TOKEN: &str = "tfe-token";
    let token = find_token(address)?;
    let secrets = Arc::new(StaticSecrets::new().with(TOKEN, &token));
    let tfc = HttpTerraformCloud::new(address, secrets, TOKEN).map_err(|e| e.cli_message())?;
    let config = check_config(check, address, timeout, rules)?;
    let (run, summary) = run_check(&tfc, check, &config).await?;
    let report = summary.full_report();
    if !json {
        write_stdout(&format!("Workspace {check}, run {}\n", run.run_url))?;
    }
    print_report(&report, json)?;
    if let Some(url) = slack_webhook {
        const SLACK: &str = "slack-webhook";
        let secrets = Arc::new(StaticSecrets::new().with(SLACK, &url));
        let notifier = SlackWebhook::new(secrets, SLACK).map_err(|e| e.cli_message())?;
        let outcome = CheckOutcome {
            poll: None,
            status: if report.drifted {
                CheckStatus::DriftDetected
            } else {
                CheckStatus::NoDrift
            },
            check: check.clone(),
            execution_id: format!("cli:{}", run.run_id),
            started_at: run.created_at.clone(),
            change: None,
            run: Some(run.clone()),
            drift: Some(summary.report()),
            remediation: None,
            failure: None,
            approval: None,
        };
        // The same message the notify step posts; the link is the run (a CLI
        // check has no execution to link to).
        notifier
            .post(&slack::build_message(&outcome, &run.run_url))
            .await
            .map_err(|e| {
                format!(
                    "the check finished but the Slack post failed: {}",
                    e.cli_message()
                )
            })?;
    }
    Ok(exit_code(&report))
}

/// The configuration the steps read: this workspace with the command line's
/// ignore rules, and `--timeout` as the plan timeout.
fn check_config(
    check: &CheckRef,
    address: &str,
    timeout: u64,
    rules: &IgnoreRules,
) -> Result<Config, String> {
    let mut config =
        Config::from_lookup(|name| (name == config::env::TFC_ADDRESS).then(|| address.to_string()))
            .map_err(|e| e.cli_message())?;
    let mut route = WorkspaceRoute::new(check.organization.clone(), check.workspace.clone());
    route.ignore = rules.clone();
    config.workspaces = vec![route];
    config.poll.plan_timeout_seconds = timeout;
    Ok(config)
}

/// The CLI's batch store: no coalescing, so the batch is the one check the
/// command asked for. Closing it says `closed_now` once, and
/// `run_requested` once the run was asked for, as the DynamoDB store does, so
/// a retried create step looks for the run it may have made.
#[derive(Default)]
struct SingleCheckBatch {
    closed: std::sync::atomic::AtomicBool,
    run_requested: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl BatchStore for SingleCheckBatch {
    async fn open_or_join(
        &self,
        _check: &CheckRef,
        _execution_id: &str,
        _change: &Change,
        _now_epoch: i64,
        _join_window_seconds: i64,
    ) -> driftguard_core::Result<BatchJoin> {
        Ok(BatchJoin::Opened)
    }

    async fn close(
        &self,
        _check: &CheckRef,
        _execution_id: &str,
        _now_epoch: i64,
    ) -> driftguard_core::Result<ClosedBatch> {
        let already = self.closed.swap(true, std::sync::atomic::Ordering::SeqCst);
        Ok(ClosedBatch {
            changes: vec![],
            omitted: 0,
            closed_now: !already,
            run_requested: self.run_requested.load(std::sync::atomic::Ordering::SeqCst),
        })
    }

    async fn mark_run_requested(
        &self,
        _check: &CheckRef,
        _execution_id: &str,
        _now_epoch: i64,
    ) -> driftguard_core::Result<()> {
        self.run_requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// What started the check: the command line, in the shape of a change (it
/// names the run: "DriftGuard drift check: cli driftguard check by …").
fn command_line_change(execution_id: &str) -> Change {
    Change {
        event_id: execution_id.to_string(),
        event_name: "driftguard check".into(),
        event_source: "cli".into(),
        event_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        actor: Actor {
            actor_type: "the command line".into(),
            arn: None,
            principal_id: None,
        },
        ..Change::default()
    }
}

/// Runs a step again when it fails for a passing reason, as the state
/// machine's `Retry` does, as long as `deadline` allows: HCP Terraform's rate
/// limit is waited out (`x-ratelimit-reset`, at least a second); an answer
/// not ready yet (the plan JSON's 204) or a passing outage waits on the poll
/// schedule.
async fn retrying<T, F, Fut>(
    deadline: Instant,
    config: &Config,
    what: &str,
    mut step: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        let error = match step().await {
            Err(e @ (Error::TfcRateLimited { .. } | Error::TfcUnavailable(_))) => e,
            other => return other,
        };
        attempts += 1;
        let wait = match &error {
            Error::TfcRateLimited { retry_after, .. } => retry_after
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_secs(1)),
            _ => Duration::from_secs(poll::next_wait_seconds(
                started.elapsed().as_secs(),
                attempts,
                &config.poll,
            )),
        };
        if Instant::now() + wait >= deadline {
            return Err(error);
        }
        let why = match &error {
            Error::TfcRateLimited { message, .. } => {
                format!("HCP Terraform rate limit reached while {what} ({message})")
            }
            other => format!(
                "HCP Terraform not ready while {what} ({})",
                other.cli_message()
            ),
        };
        note(&format!("{why}; waiting {:.1} s", wait.as_secs_f64()));
        tokio::time::sleep(wait).await;
    }
}

/// One drift check, step by step as the state machine runs it: create the
/// speculative plan, poll it on the poll schedule until it finishes, and
/// summarize its plan JSON.
async fn run_check(
    tfc: &dyn TerraformCloud,
    check: &CheckRef,
    config: &Config,
) -> Result<(RunInfo, plan::Summary), String> {
    let deadline = Instant::now() + Duration::from_secs(config.poll.plan_timeout_seconds);
    let cli = |e: Error| e.cli_message();
    let execution_id = format!(
        "cli-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    );
    let batch = SingleCheckBatch::default();
    let create = CreateRunRequest {
        check: check.clone(),
        change: command_line_change(&execution_id),
        execution_id,
    };
    let run = retrying(deadline, config, "creating the run", || {
        steps::create_run(&create, tfc, &batch, now_epoch())
    })
    .await
    .map_err(cli)?;
    // The change is the command line, not an AWS write call worth listing.
    let run = RunInfo {
        changes: vec![],
        changes_omitted: 0,
        ..run
    };
    let run_url = run.run_url.clone();
    note(&format!("Started speculative plan {run_url}"));

    let mut poll: Option<PollState> = None;
    let mut last_said = String::new();
    let finished = loop {
        let request = PollRequest {
            check: check.clone(),
            run: run.clone(),
            poll: poll.clone(),
            apply: None,
            execution_id: Some(create.execution_id.clone()),
        };
        let state = retrying(deadline, config, "polling the run", || {
            steps::poll_run(&request, tfc, config, now_epoch())
        })
        .await
        .map_err(cli)?;
        let polled = poll.as_ref().is_none_or(|p| state.polls > p.polls);
        let said = if polled {
            state.detail.clone().unwrap_or_else(|| state.status.clone())
        } else {
            "HCP Terraform rate limit reached while polling the run; waiting for it to reset"
                .to_string()
        };
        if said != last_said {
            note(&format!("  {said}"));
            last_said = said;
        }
        match state.phase {
            Phase::Running => {
                tokio::time::sleep(Duration::from_secs(state.next_wait_seconds)).await;
                poll = Some(state);
            }
            Phase::Planned | Phase::AwaitingApply | Phase::Applied => break state,
            Phase::Errored => {
                let why = state.detail.unwrap_or_else(|| {
                    "HCP Terraform gave no plan log; open the run for details".into()
                });
                return Err(format!(
                    "the plan errored in HCP Terraform ({run_url}):\n{}",
                    indent(&why)
                ));
            }
            Phase::Canceled | Phase::Discarded | Phase::NeedsOverride => {
                return Err(format!(
                    "the run was {} before its plan finished ({}); see {run_url}",
                    state.status,
                    state.detail.as_deref().unwrap_or("no detail")
                ));
            }
        }
    };
    let summarize = SummarizeRequest {
        check: check.clone(),
        run: run.clone(),
    };
    let summary = retrying(deadline, config, "reading the plan JSON", || {
        steps::summarize_plan(&summarize, tfc, config)
    })
    .await
    .map_err(|e| match e {
        Error::TfcUnavailable(_) => format!(
            "the plan finished ({}) but HCP Terraform did not provide its JSON within --timeout: {}; see {run_url}",
            finished.status,
            e.cli_message()
        ),
        e => e.cli_message(),
    })?;
    Ok((run, summary))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// History: dashboard and history
// ---------------------------------------------------------------------------

impl HistorySource {
    async fn store(&self) -> DynamoHistory {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        DynamoHistory::new(aws_sdk_dynamodb::Client::new(&sdk), &self.table)
    }

    /// The workspaces asked for, or every workspace with history.
    async fn checks(&self, store: &dyn HistoryReader) -> Result<Vec<CheckRef>, String> {
        if self.workspaces.is_empty() {
            return store.workspaces().await.map_err(|e| e.to_string());
        }
        self.workspaces
            .iter()
            .map(|w| match w.split_once('/') {
                Some((organization, workspace))
                    if !organization.is_empty() && !workspace.is_empty() =>
                {
                    Ok(CheckRef {
                        organization: organization.to_string(),
                        workspace: workspace.to_string(),
                    })
                }
                _ => Err(format!(
                    "--workspace '{w}' is not ORGANIZATION/WORKSPACE (e.g. acme/network-prod)"
                )),
            })
            .collect()
    }

    async fn load(&self) -> Result<DashboardData, String> {
        let store = self.store().await;
        let checks = self.checks(&store).await?;
        dashboard::load(&store, &checks, chrono::Utc::now(), self.days)
            .await
            .map_err(|e| e.to_string())
    }
}

fn page(data: &DashboardData) -> String {
    dashboard::render(
        data,
        &RenderOptions {
            standalone: true,
            ..RenderOptions::default()
        },
    )
}

async fn show_dashboard(
    source: &HistorySource,
    out: Option<&Path>,
    serve: Option<u16>,
) -> Result<ExitCode, String> {
    if let Some(port) = serve {
        return serve_dashboard(source, port).await;
    }
    let data = source.load().await?;
    let html = page(&data);
    match out {
        None => print!("{html}"),
        Some(path) => {
            std::fs::write(path, &html)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let open: usize = data.workspaces.iter().map(|w| w.open.len()).sum();
            eprintln!(
                "Wrote {} ({} workspace{}, {open} open drift episode{})",
                path.display(),
                data.workspaces.len(),
                if data.workspaces.len() == 1 { "" } else { "s" },
                if open == 1 { "" } else { "s" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves the page on 127.0.0.1 only: it is a local view of the history.
async fn serve_dashboard(source: &HistorySource, port: u16) -> Result<ExitCode, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    eprintln!("Serving the DriftGuard dashboard on http://127.0.0.1:{port}/ (Ctrl-C stops)");
    loop {
        let (mut socket, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        let mut request = vec![0u8; 8192];
        let read = socket.read(&mut request).await.unwrap_or(0);
        let head = String::from_utf8_lossy(&request[..read]);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let (status, kind, body) = match target {
            "/" | "/index.html" => match source.load().await {
                Ok(data) => ("200 OK", "text/html; charset=utf-8", page(&data)),
                Err(e) => (
                    "502 Bad Gateway",
                    "text/plain; charset=utf-8",
                    format!("cannot read the history: {e}\n"),
                ),
            },
            _ => (
                "404 Not Found",
                "text/plain; charset=utf-8",
                "not found\n".to_string(),
            ),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        // A client that went away is not the server's problem.
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}

async fn show_history(
    source: &HistorySource,
    limit: usize,
    json: bool,
) -> Result<ExitCode, String> {
    let data = source.load().await?;
    if json {
        let mut checks: Vec<_> = data.workspaces.iter().flat_map(|w| &w.records).collect();
        checks.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        checks.truncate(limit);
        let open: Vec<_> = data.workspaces.iter().flat_map(|w| &w.open).collect();
        let mut resolved: Vec<_> = data.workspaces.iter().flat_map(|w| &w.resolved).collect();
        resolved.sort_by(|a, b| b.resolved_at().cmp(&a.resolved_at()));
        resolved.truncate(limit);
        print_json(&serde_json::json!({
            "checks": checks,
            "episodes": {"open": open, "resolved": resolved},
        }))?;
    } else {
        print!("{}", dashboard::history_table(&data, limit));
    }
    Ok(ExitCode::SUCCESS)
}
