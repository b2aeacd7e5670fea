//! The local stack: DriftGuard's main job with no AWS account.
//!
//! ```text
//!   harness ──StartExecution──▶ gateway ──▶ moto (Step Functions engine, DynamoDB, Secrets Manager, …)
//!                                  ▲   │
//!        moto invokes Lambdas ─────┘   └──Invoke──▶ cargo lambda watch ──▶ the real Lambda binaries
//!                                                         │                    │
//!                                        HCP Terraform emulator ◀──────────────┤
//!                                        Slack webhook sink     ◀──────────────┤
//!                                        Slack Web API emulator ◀──────────────┘
//!   the Slack emulator's click ──function URL──▶ gateway ──▶ slack-callback ──SendTaskSuccess──▶ moto
//! ```
//!
//! [`LocalStack::start`] applies the real Terraform module to moto, reads the
//! deployed functions' environment back and runs the real binaries with it,
//! then delivers events as EventBridge would. Everything it started stops when
//! the [`LocalStack`] is dropped (or when starting fails).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_core::history::HistoryRecord;
use serde_json::{Value, json};

use crate::aws::{InvokeOutcome, RawAws, sdk_config};
use crate::events::{self, repo_root};
use crate::executions::{ExecutionReport, Executions};
use crate::gateway::{Gateway, functions};
use crate::process::{ManagedChild, free_port, run_logged, wait_for_port};
use crate::slack_app::SlackApp;
use crate::slack_sink::SlackSink;
use crate::terraform::{Module, Outputs};
use crate::tfc_emulator::{Scenario, TerraformBacking, TfcEmulator};

/// A workspace DriftGuard checks on the local stack: its route (terraform
/// `workspaces` element) and how the HCP Terraform emulator behaves for it.
#[derive(Debug, Clone)]
pub struct WorkspaceSpec {
    pub organization: String,
    pub workspace: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub services: Vec<String>,
    pub scenario: Scenario,
    /// A configuration in `integration-tests/workspaces/` behind the
    /// workspace: its runs really plan and apply against the local stack.
    /// Without one, the workspace's plans are canned.
    pub terraform: Option<String>,
    /// The Slack app channel of the workspace's alerts (the emulator has it,
    /// with the app in it); without one the workspace alerts through the webhook.
    pub slack_channel: Option<String>,
    /// Who may press Fix / Accept / Dismiss (user and user-group ids).
    pub approvers: Vec<String>,
}

impl WorkspaceSpec {
    pub fn new(organization: &str, workspace: &str) -> Self {
        WorkspaceSpec {
            organization: organization.into(),
            workspace: workspace.into(),
            accounts: vec![],
            regions: vec![],
            services: vec![],
            scenario: Scenario::default(),
            terraform: None,
            slack_channel: None,
            approvers: vec![],
        }
    }

    /// Alerts through the Slack app in `channel`; `approvers` may decide.
    pub fn slack(mut self, channel: &str, approvers: &[&str]) -> Self {
        self.slack_channel = Some(channel.to_string());
        self.approvers = approvers.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Backs the workspace by `integration-tests/workspaces/<configuration>`,
    /// applied once at start with `name` = the workspace's name.
    pub fn terraform(mut self, configuration: &str) -> Self {
        self.terraform = Some(configuration.to_string());
        self
    }

    pub fn accounts(mut self, accounts: &[&str]) -> Self {
        self.accounts = accounts.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn services(mut self, services: &[&str]) -> Self {
        self.services = services.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn regions(mut self, regions: &[&str]) -> Self {
        self.regions = regions.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = scenario;
        self
    }

    /// `organization/workspace`
    pub fn label(&self) -> String {
        format!("{}/{}", self.organization, self.workspace)
    }

    fn route(&self) -> Value {
        json!({
            "organization": self.organization,
            "workspace": self.workspace,
            "accounts": self.accounts,
            "regions": self.regions,
            "services": self.services,
            "slack": {
                "channel": self.slack_channel.clone().unwrap_or_default(),
                "approvers": self.approvers,
            },
        })
    }
}

/// How to deploy DriftGuard on the local stack (short test settings by default).
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub project_name: String,
    pub environment: String,
    /// DriftGuard's home region (the fixtures' events are in eu-west-1).
    pub region: String,
    pub workspaces: Vec<WorkspaceSpec>,
    pub settle_seconds: u64,
    pub poll_min_wait_seconds: u64,
    pub poll_max_wait_seconds: u64,
    pub plan_timeout_seconds: u64,
    pub apply_timeout_seconds: u64,
    /// `off`, `approval` or `auto` (terraform `remediation_mode`).
    pub remediation_mode: String,
    /// How long a check waits for a decision in approval mode.
    pub approval_timeout_hours: f64,
    pub allow_destructive_remediation: bool,
    pub notify_on_no_drift: bool,
    pub ignore_principal_arns: Vec<String>,
    /// More Terraform variables (override the ones above).
    pub extra_variables: serde_json::Map<String, Value>,
    /// The HCP Terraform API token (stored in Secrets Manager; the emulator accepts it).
    pub tfc_token: String,
    /// Instances per function in cargo lambda watch.
    pub lambda_concurrency: u32,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Keep the work directory (logs, module copy) after the stack stops.
    pub keep_work_dir: bool,
}

/// The role ARN pattern of HCP Terraform's dynamic credentials in the event
/// fixtures, in every account the scenarios rewrite them to.
pub const HCP_TERRAFORM_ROLE_PATTERN: &str = "arn:aws:iam::*:role/tfc-acme-prod";

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            project_name: "driftguard".into(),
            environment: "local".into(),
            region: "eu-west-1".into(),
            workspaces: vec![],
            settle_seconds: 2,
            poll_min_wait_seconds: 1,
            poll_max_wait_seconds: 3,
            plan_timeout_seconds: 60,
            apply_timeout_seconds: 600,
            remediation_mode: "off".into(),
            approval_timeout_hours: 24.0,
            allow_destructive_remediation: false,
            notify_on_no_drift: false,
            // HCP Terraform's dynamic-credentials role in the fixtures
            // (terraform-authorize-security-group-ingress), as a user configures it.
            ignore_principal_arns: vec![HCP_TERRAFORM_ROLE_PATTERN.into()],
            extra_variables: Default::default(),
            tfc_token: "local-stack.atlasv1.user-token-0001".into(),
            lambda_concurrency: 4,
            progress: true,
            keep_work_dir: std::env::var_os("DRIFTGUARD_KEEP_WORK").is_some(),
        }
    }
}

impl StackOptions {
    pub fn tfc_token_secret(&self) -> String {
        format!(
            "{}-{}/terraform-api-token",
            self.project_name, self.environment
        )
    }

    pub fn slack_webhook_secret(&self) -> String {
        format!(
            "{}-{}/slack-webhook-url",
            self.project_name, self.environment
        )
    }

    pub fn slack_bot_token_secret(&self) -> String {
        format!("{}-{}/slack-bot-token", self.project_name, self.environment)
    }

    pub fn slack_signing_secret_secret(&self) -> String {
        format!(
            "{}-{}/slack-signing-secret",
            self.project_name, self.environment
        )
    }

    /// The Terraform variables of this deployment (`slack_api_url`: the Slack
    /// Web API emulator's).
    pub fn variables(
        &self,
        tfc_address: &str,
        slack_api_url: &str,
        lambda_artifacts_dir: &Path,
    ) -> Value {
        let mut vars = json!({
            "aws_region": self.region,
            "project_name": self.project_name,
            "environment": self.environment,
            "tfc_address": tfc_address,
            "workspaces": self.workspaces.iter().map(WorkspaceSpec::route).collect::<Vec<_>>(),
            "terraform_api_token_secret": self.tfc_token_secret(),
            "slack_webhook_secret": self.slack_webhook_secret(),
            "settle_seconds": self.settle_seconds,
            "poll_min_wait_seconds": self.poll_min_wait_seconds,
            "poll_max_wait_seconds": self.poll_max_wait_seconds,
            "plan_timeout_seconds": self.plan_timeout_seconds,
            "apply_timeout_seconds": self.apply_timeout_seconds,
            "remediation_mode": self.remediation_mode,
            "approval_timeout_hours": self.approval_timeout_hours,
            "slack_bot_token_secret": self.slack_bot_token_secret(),
            "slack_signing_secret_secret": self.slack_signing_secret_secret(),
            "slack_team_id": crate::slack_app::TEAM_ID,
            "slack_app_id": crate::slack_app::APP_ID,
            "slack_api_url": slack_api_url,
            "allow_destructive_remediation": self.allow_destructive_remediation,
            "notify_on_no_drift": self.notify_on_no_drift,
            "ignore_principal_arns": self.ignore_principal_arns,
            "lambda_artifacts_dir": lambda_artifacts_dir.display().to_string(),
            "log_retention_days": 1,
        });
        let obj = vars.as_object_mut().expect("object");
        for (k, v) in &self.extra_variables {
            obj.insert(k.clone(), v.clone());
        }
        vars
    }
}

/// How long each part of starting took.
#[derive(Debug, Clone, Default)]
pub struct StartTimings {
    pub parts: Vec<(String, Duration)>,
}

impl std::fmt::Display for StartTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(name, d)| format!("{name} {:.1} s", d.as_secs_f64()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// The result of delivering one event as EventBridge would.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Whether the deployed CloudTrail rule's pattern matched the event.
    pub matched: bool,
    /// The execution started for it (only when matched).
    pub execution_arn: Option<String>,
}

/// The tools the local stack needs from the project venv.
struct Tools {
    moto_server: PathBuf,
    cargo_lambda: PathBuf,
    python: PathBuf,
    venv_bin: PathBuf,
}

fn tools() -> Result<Tools> {
    let venv_bin = std::env::var_os("DRIFTGUARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
        .join("bin");
    let tools = Tools {
        moto_server: venv_bin.join("moto_server"),
        cargo_lambda: venv_bin.join("cargo-lambda"),
        python: venv_bin.join("python"),
        venv_bin: venv_bin.clone(),
    };
    let mut missing = Vec::new();
    for (path, what) in [
        (&tools.moto_server, "moto_server (PyPI moto[server])"),
        (&tools.cargo_lambda, "cargo-lambda (PyPI cargo-lambda)"),
        (&tools.python, "python"),
    ] {
        if !path.exists() {
            missing.push(format!("{} — {what}", path.display()));
        }
    }
    let terraform = std::process::Command::new("terraform")
        .arg("version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !terraform.is_ok_and(|s| s.success()) {
        missing.push("terraform — not on the PATH (terraform 1.6 or later)".to_string());
    }
    if !missing.is_empty() {
        bail!(
            "the local stack cannot start, these tools are missing:\n  {}\n\
             The Python tools (moto[server], cargo-lambda) go into the project venv with `make .venv/.installed` \
             (`make e2e` and `make demo` install them first); terraform comes with the machine image, \
             and the hashicorp/aws provider from its mirror (/opt/tf-plugins, or TF_PLUGINS) or, without one, \
             from the Terraform registry.",
            missing.join("\n  ")
        );
    }
    Ok(tools)
}

/// Environment variables cargo sets for a test or a `cargo run` child; they
/// must not reach the nested cargo builds (fingerprints would differ).
fn scrub_cargo_env(cmd: &mut tokio::process::Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || key.starts_with("CARGO_CRATE_")
            || key.starts_with("CARGO_TARGET_TMPDIR")
            || key == "CARGO_MANIFEST_DIR"
            || key == "CARGO_MANIFEST_PATH"
            || key == "CARGO_PRIMARY_PACKAGE"
            || key == "OUT_DIR"
        {
            cmd.env_remove(&key);
        }
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Everything the local stack started.
pub struct LocalStack {
    pub options: StackOptions,
    pub timings: StartTimings,
    pub outputs: Outputs,
    pub executions: Executions,
    pub raw: RawAws,
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub tfc: TfcEmulator,
    pub slack: SlackSink,
    /// The Slack app's Web API (and the Slack that clicks its buttons).
    pub slack_app: SlackApp,
    /// The union of the deployed functions' environment variables.
    pub lambda_env: BTreeMap<String, String>,
    cloudtrail_pattern: String,
    failure_pattern: String,
    module: Module,
    tools: Tools,
    work: PathBuf,
    // Stopped in this order when dropped. cargo lambda watch: the one the
    // gateway routes to is the last; earlier ones (replaced by
    // `apply_settings` when the functions' environment changed) keep running
    // so invocations in flight finish.
    lambda: std::sync::Mutex<Vec<ManagedChild>>,
    /// The environment the current cargo lambda watch runs the functions with.
    current_env: std::sync::Mutex<BTreeMap<String, String>>,
    pub gateway: Gateway,
    moto: ManagedChild,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let lambdas = std::mem::take(&mut *self.lambda.lock().unwrap_or_else(|e| e.into_inner()));
        for mut lambda in lambdas.into_iter().rev() {
            lambda.stop();
        }
        self.moto.stop();
        if self.options.keep_work_dir || std::thread::panicking() {
            eprintln!(
                "[local-stack] logs and module copy kept in {}",
                self.work.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

fn progress(options: &StackOptions, message: &str) {
    if options.progress {
        eprintln!("[local-stack] {message}");
    }
}

impl LocalStack {
    /// Starts everything; on failure everything already started is stopped.
    pub async fn start(options: StackOptions) -> Result<LocalStack> {
        let tools = tools()?;
        let started = Instant::now();
        let mut timings = StartTimings::default();
        let mut lap = Instant::now();
        let mut mark = |timings: &mut StartTimings, name: &str| {
            timings.parts.push((name.to_string(), lap.elapsed()));
            lap = Instant::now();
        };

        // The sequence number keeps two stacks one process starts in the same
        // millisecond (the benchmark starts two at once) apart.
        static STACKS_STARTED: std::sync::atomic::AtomicUsize =
            std::sync::atomic::AtomicUsize::new(0);
        let work = repo_root().join("integration-tests/.work").join(format!(
            "stack-{}-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%H%M%S%3f"),
            STACKS_STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
        let cleanup = WorkDirGuard { path: work.clone() };

        // Gateway first: moto must know its port (MOTO_PORT) to invoke Lambdas through it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let moto_port = free_port()?;
        let moto_url = format!("http://127.0.0.1:{moto_port}");
        let gateway = Gateway::start(listener, &moto_url).await?;
        let endpoint = gateway.url();
        progress(
            &options,
            &format!("gateway on {endpoint}, moto on {moto_url}"),
        );

        // moto_server through a launcher that gives its Step Functions engine
        // the variable reads AWS has (integration-tests/python/moto_server.py).
        let mut moto_cmd = tokio::process::Command::new(&tools.python);
        moto_cmd
            .arg(repo_root().join("integration-tests/python/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_PORT", gateway.port().to_string())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", &options.region)
            .env("PYTHONUNBUFFERED", "1");
        let mut moto = ManagedChild::spawn("moto_server", moto_cmd, &work.join("moto.log"))?;
        wait_for_port(moto_port, Duration::from_secs(60), &mut moto, "moto_server").await?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let resp = http
            .post(format!("{moto_url}/moto-api/config"))
            .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
            .send()
            .await
            .context("configure moto")?;
        if !resp.status().is_success() {
            bail!("moto refused /moto-api/config: HTTP {}", resp.status());
        }
        mark(&mut timings, "moto");

        let tfc = TfcEmulator::start(&options.tfc_token).await?;
        let slack = SlackSink::start().await?;
        let slack_app = SlackApp::start().await?;
        for w in &options.workspaces {
            if let Some(channel) = &w.slack_channel {
                slack_app.add_channel(channel, &format!("drift-{}", w.workspace), true);
            }
        }
        for w in options.workspaces.iter().filter(|w| w.terraform.is_none()) {
            tfc.add_workspace(&w.organization, &w.workspace, w.scenario.clone());
        }

        // One build of the Lambda binaries, the way `cargo lambda watch` runs them
        // (`cargo run --bin <name>`), so its runs only start them. It runs while
        // Terraform applies the module (mostly waiting on moto).
        progress(
            &options,
            "building the Lambda binaries (cargo build) while applying terraform/",
        );
        let mut build = tokio::process::Command::new(cargo());
        build.current_dir(repo_root()).arg("build");
        for f in functions() {
            build.args(["--bin", f]);
        }
        scrub_cargo_env(&mut build);
        let build_log = work.join("build.log");
        let build_started = Instant::now();
        let build = AbortOnDrop::new(tokio::spawn(async move {
            run_logged("cargo build (Lambda binaries)", build, &build_log).await?;
            Ok::<_, anyhow::Error>(build_started.elapsed())
        }));

        let sdk = sdk_config(&endpoint, &options.region).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        create_or_update_secret(&secrets, &options.tfc_token_secret(), &options.tfc_token).await?;
        create_or_update_secret(
            &secrets,
            &options.slack_webhook_secret(),
            &slack.webhook_url(),
        )
        .await?;
        create_or_update_secret(
            &secrets,
            &options.slack_bot_token_secret(),
            slack_app.bot_token(),
        )
        .await?;
        create_or_update_secret(
            &secrets,
            &options.slack_signing_secret_secret(),
            slack_app.signing_secret(),
        )
        .await?;

        let module = Module::prepare(&work, &endpoint, &options.region, &tools.python).await?;
        module.init().await?;
        let variables = options.variables(
            &tfc.url(),
            &slack_app.api_url(),
            &module.lambda_artifacts_dir(),
        );
        // The Terraform-backed workspaces get their first apply meanwhile.
        let (applied, workspaces) = tokio::join!(
            module.apply(&variables),
            add_terraform_workspaces(&tfc, &options, &endpoint, &work)
        );
        applied?;
        workspaces?;
        let outputs = module.outputs().await?;
        mark(
            &mut timings,
            "terraform (with the build and the workspaces' first applies)",
        );
        let build_took = build.join().await?;
        timings
            .parts
            .push(("of which build".to_string(), build_took));

        // Slack's "Request URL" setting of the app: the receiver's function URL.
        let request_url = outputs
            .raw
            .pointer("/slack_request_url/value")
            .and_then(Value::as_str)
            .context("the module did not output slack_request_url (the Slack app is configured)")?;
        slack_app.set_request_url(request_url, &endpoint);
        let raw = RawAws::new(&endpoint, &options.region)?;
        let lambda_env = function_environment(&raw, &outputs, &variables).await?;

        let lambda_port = free_port()?;
        let lambda = start_cargo_lambda(
            &tools,
            &work,
            "lambda",
            lambda_port,
            &lambda_env,
            &endpoint,
            &options,
        )
        .await?;
        gateway.set_lambda_url(&format!("http://127.0.0.1:{lambda_port}"));

        let executions =
            Executions::new(aws_sdk_sfn::Client::new(&sdk), &outputs.state_machine_arn).await?;
        let cloudtrail_pattern = rule_pattern(&raw, &outputs.cloudtrail_rule_name).await?;
        let failure_pattern = rule_pattern(&raw, &outputs.failure_rule_name).await?;

        let mut stack = LocalStack {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            secrets,
            sdk,
            raw,
            executions,
            outputs,
            tfc,
            slack,
            slack_app,
            current_env: std::sync::Mutex::new(lambda_env.clone()),
            lambda_env,
            cloudtrail_pattern,
            failure_pattern,
            module,
            tools,
            work: work.clone(),
            lambda: std::sync::Mutex::new(vec![lambda]),
            gateway,
            moto,
            timings: StartTimings::default(),
            options,
        };
        std::mem::forget(cleanup);
        if let Err(e) = stack.warm_up().await {
            stack.options.keep_work_dir = true;
            return Err(e);
        }
        mark(&mut timings, "lambda warm-up");
        timings.parts.push(("total".to_string(), started.elapsed()));
        progress(&stack.options, &format!("ready ({timings})"));
        stack.timings = timings;
        Ok(stack)
    }

    /// The work directory (logs: moto.log, lambda.log, terraform.log, build.log).
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    pub fn endpoint(&self) -> String {
        self.gateway.url()
    }

    /// The deployed history table, read as DriftGuard reads it (dashboard, CLI).
    pub fn history_store(&self) -> driftguard_aws::DynamoHistory {
        driftguard_aws::DynamoHistory::new(self.dynamodb.clone(), &self.outputs.history_table_name)
    }

    /// The project venv's python (moto, boto3 and parliament live there).
    pub fn python(&self) -> &Path {
        &self.tools.python
    }

    /// The deployed name of a DriftGuard function (`notify` → `driftguard-local-notify`).
    pub fn function_name(&self, function: &str) -> Result<&str> {
        self.outputs
            .function_names
            .get(function)
            .map(String::as_str)
            .with_context(|| format!("no deployed function {function}"))
    }

    /// Invokes every function once with an input no step accepts: each must
    /// answer `InvalidInput` (it started, read its configuration and parsed the
    /// input). A configuration error or a function that does not start fails here.
    async fn warm_up(&self) -> Result<()> {
        progress(
            &self.options,
            "starting the Lambda functions (cargo lambda watch)",
        );
        let mut calls = Vec::new();
        for f in functions() {
            let name = self.function_name(f)?.to_string();
            let raw = self.raw.clone();
            calls.push(async move {
                let outcome = tokio::time::timeout(
                    Duration::from_secs(120),
                    raw.invoke(&name, &json!({"local_stack_warm_up": true})),
                )
                .await;
                (f, outcome)
            });
        }
        let results = futures_join_all(calls).await;
        let mut problems = Vec::new();
        for (f, outcome) in results {
            match outcome {
                Err(_) => problems.push(format!("{f}: no answer within 120 s")),
                Ok(Err(e)) => problems.push(format!("{f}: {e:#}")),
                Ok(Ok(o)) if o.error_type() == Some("InvalidInput") => {}
                Ok(Ok(o)) => problems.push(format!("{f}: answered {} {}", o.status, o.payload)),
            }
        }
        if !problems.is_empty() {
            let (tail, log) = self
                .lambda
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last()
                .map(|l| (l.log_tail(40), l.log_path().display().to_string()))
                .unwrap_or_default();
            bail!(
                "the Lambda functions did not start cleanly under cargo lambda watch:\n  {}\nlast lines of {log}:\n{tail}",
                problems.join("\n  "),
            );
        }
        Ok(())
    }

    /// Applies the module again with changed settings (e.g. `remediation_mode`,
    /// which changes the state machine definition and the functions'
    /// environment: remediate reads the deployed `DRIFTGUARD_REMEDIATION_MODE`).
    /// Executions already running keep the definition they started with. When
    /// the functions' environment changed, a new cargo lambda watch runs them
    /// with it (as Lambda starts new instances after an update), the gateway
    /// routes to it, and the old one keeps running so invocations in flight
    /// finish.
    pub async fn apply_settings(&self, change: impl FnOnce(&mut StackOptions)) -> Result<()> {
        let mut options = self.options.clone();
        change(&mut options);
        progress(&options, "re-applying terraform/ with changed settings");
        let variables = options.variables(
            &self.tfc.url(),
            &self.slack_app.api_url(),
            &self.module.lambda_artifacts_dir(),
        );
        self.module.apply(&variables).await?;
        let outputs = self.module.outputs().await?;
        if outputs.state_machine_arn != self.outputs.state_machine_arn {
            bail!(
                "the state machine was replaced ({} → {})",
                self.outputs.state_machine_arn,
                outputs.state_machine_arn
            );
        }
        let env = function_environment(&self.raw, &outputs, &variables).await?;
        let current = self
            .current_env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if env != current {
            let changed: Vec<&String> = env
                .keys()
                .chain(current.keys())
                .filter(|k| env.get(*k) != current.get(*k))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            progress(
                &options,
                &format!(
                    "the functions' environment changed ({changed:?}): a new cargo lambda watch runs them"
                ),
            );
            let generation = self.lambda.lock().unwrap_or_else(|e| e.into_inner()).len() + 1;
            let port = free_port()?;
            let child = start_cargo_lambda(
                &self.tools,
                &self.work,
                &format!("lambda-{generation}"),
                port,
                &env,
                &self.gateway.url(),
                &self.options,
            )
            .await?;
            self.lambda
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(child);
            self.gateway
                .set_lambda_url(&format!("http://127.0.0.1:{port}"));
            *self.current_env.lock().unwrap_or_else(|e| e.into_inner()) = env;
            self.warm_up().await?;
        }
        progress(&options, "re-applied");
        Ok(())
    }

    /// The deployed CloudTrail rule's event pattern.
    pub fn cloudtrail_pattern(&self) -> &str {
        &self.cloudtrail_pattern
    }

    /// Which events the deployed CloudTrail rule matches (moto's pattern engine).
    pub async fn rule_matches(&self, events: &[Value]) -> Result<Vec<bool>> {
        events::pattern_matches(&self.tools.python, &self.cloudtrail_pattern, events).await
    }

    /// Delivers events as EventBridge would: the rule's pattern decides, and each
    /// matching event starts one execution (input = the event, a unique name).
    pub async fn deliver_all(&self, events: &[Value]) -> Result<Vec<Delivery>> {
        let matches = self.rule_matches(events).await?;
        let mut starts = Vec::new();
        for (event, matched) in events.iter().zip(&matches) {
            let event = event.clone();
            let matched = *matched;
            starts.push(async move {
                if !matched {
                    return Ok(Delivery {
                        matched,
                        execution_arn: None,
                    });
                }
                let arn = self.start_unfiltered(&event).await?;
                Ok::<_, anyhow::Error>(Delivery {
                    matched,
                    execution_arn: Some(arn),
                })
            });
        }
        futures_join_all(starts).await.into_iter().collect()
    }

    /// Delivers one event (see [`deliver_all`](Self::deliver_all)).
    pub async fn deliver(&self, event: &Value) -> Result<Delivery> {
        Ok(self
            .deliver_all(std::slice::from_ref(event))
            .await?
            .remove(0))
    }

    /// Delivers one event that the rule must match, and returns its execution ARN.
    pub async fn deliver_expecting_execution(&self, event: &Value) -> Result<String> {
        let d = self.deliver(event).await?;
        d.execution_arn.with_context(|| {
            format!(
                "the deployed CloudTrail rule does not match the event (pattern {}): {}",
                self.cloudtrail_pattern, event
            )
        })
    }

    /// Starts an execution with this input, bypassing the rule (what another
    /// rule, a forwarder or a manual StartExecution would do).
    pub async fn start_unfiltered(&self, input: &Value) -> Result<String> {
        let name = input
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 80)
            .map(|id| id.to_string())
            .unwrap_or_else(events::uuid);
        self.executions
            .start(&self.outputs.state_machine_arn, &name, input)
            .await
    }

    /// Waits for an execution to end and reads it.
    pub async fn wait(&self, execution_arn: &str, timeout: Duration) -> Result<ExecutionReport> {
        self.executions.wait(execution_arn, timeout).await
    }

    /// What EventBridge would do for an execution that ended FAILED, TIMED_OUT or
    /// ABORTED (moto does not emit the status-change event): build the
    /// "Step Functions Execution Status Change" event, match it against the
    /// deployed failure rule, and invoke the on-failure function with it.
    /// `None` when the rule does not match (e.g. a SUCCEEDED execution).
    pub async fn deliver_failure_event(
        &self,
        report: &ExecutionReport,
    ) -> Result<Option<InvokeOutcome>> {
        self.deliver_status_change(&self.status_change_event(report))
            .await
    }

    /// Delivers a "Step Functions Execution Status Change" event as
    /// EventBridge would: to the on-failure function when the deployed
    /// failure rule matches it (`None` otherwise).
    pub async fn deliver_status_change(&self, event: &Value) -> Result<Option<InvokeOutcome>> {
        let event = event.clone();
        let matched = events::pattern_matches(
            &self.tools.python,
            &self.failure_pattern,
            std::slice::from_ref(&event),
        )
        .await?[0];
        if !matched {
            return Ok(None);
        }
        let function = self.function_name("on-failure")?.to_string();
        Ok(Some(self.raw.invoke(&function, &event).await?))
    }

    /// The EventBridge "Step Functions Execution Status Change" event of an execution.
    pub fn status_change_event(&self, report: &ExecutionReport) -> Value {
        let account = report.arn.split(':').nth(4).unwrap_or("123456789012");
        let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
        json!({
            "version": "0",
            "id": events::uuid(),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": account,
            "time": report.stop.unwrap_or_else(chrono::Utc::now).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": self.options.region,
            "resources": [report.arn],
            "detail": {
                "executionArn": report.arn,
                "stateMachineArn": report.state_machine_arn,
                "name": report.name,
                "status": report.status,
                "startDate": millis(report.start),
                "stopDate": report.stop.map(millis),
                "input": report.input.to_string(),
                "output": report.output.as_ref().map(|o| o.to_string()),
                "inputDetails": {"included": true},
                "outputDetails": report.output.as_ref().map(|_| json!({"included": true})),
                "error": report.error,
                "cause": report.cause,
                "redriveCount": 0,
                "redriveStatus": "REDRIVABLE",
            }
        })
    }

    /// Invokes a deployed DriftGuard function through the gateway.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<InvokeOutcome> {
        let name = self.function_name(function)?.to_string();
        self.raw.invoke(&name, payload).await
    }

    /// The shared HCP Terraform request budget's theoretical arrival time
    /// (microseconds since the epoch), once a function has paced a request.
    /// The budget is the token's user's (`endpoint`: `Some("runs-list")` for
    /// the runs list's own budget).
    pub async fn pacing_tat(&self, endpoint: Option<&str>) -> Result<Option<i64>> {
        let host = url::Url::parse(&self.tfc.url())?
            .host_str()
            .unwrap_or_default()
            .to_string();
        let pk = driftguard_core::pacing::budget_key(
            &host,
            Some(crate::tfc_emulator::DRIFTGUARD_USER),
            endpoint,
        );
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.outputs.history_table_name)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S("PACE".into()))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "GetItem {pk}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(out
            .item()
            .and_then(|i| i.get("tat"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// The history records of a workspace (DynamoDB Query on its partition), oldest first.
    pub async fn history(&self, organization: &str, workspace: &str) -> Result<Vec<HistoryRecord>> {
        let pk = format!("WS#{organization}/{workspace}");
        let mut records = Vec::new();
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .dynamodb
                .query()
                .table_name(&self.outputs.history_table_name)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":prefix", AttributeValue::S("CHECK#".into()))
                .set_exclusive_start_key(start.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Query {pk}: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )
                })?;
            for item in out.items() {
                let value = driftguard_aws::item::from_item(item);
                let record: HistoryRecord = serde_json::from_value(value.clone())
                    .with_context(|| format!("history record {value}"))?;
                records.push(record);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(records)
    }

    /// Slack messages about one workspace (their header names it).
    pub fn slack_messages_for(&self, organization: &str, workspace: &str) -> Vec<Value> {
        let label = format!("{organization}/{workspace}");
        self.slack
            .messages()
            .into_iter()
            .filter(|m| message_workspace(m).as_deref() == Some(label.as_str()))
            .collect()
    }

    /// Stores a new value in one of the two secrets (`tfc` or `slack`).
    pub async fn put_secret(&self, which: &str, value: &str) -> Result<()> {
        let name = match which {
            "tfc" => self.options.tfc_token_secret(),
            "slack" => self.options.slack_webhook_secret(),
            other => bail!("unknown secret {other} (tfc or slack)"),
        };
        create_or_update_secret(&self.secrets, &name, value).await
    }

    /// `terraform destroy` of the deployed module.
    pub async fn destroy(&self) -> Result<()> {
        self.module.destroy().await
    }
}

/// The workspace a DriftGuard Slack message is about (`org/ws` at the end of its header).
pub fn message_workspace(message: &Value) -> Option<String> {
    let header = message
        .get("blocks")?
        .as_array()?
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("header"))?;
    let text = header.pointer("/text/text")?.as_str()?;
    text.rsplit(": ").next().map(|s| s.trim().to_string())
}

/// Prepares and applies the configuration behind each Terraform-backed
/// workspace (concurrently), against the local stack.
async fn add_terraform_workspaces(
    tfc: &TfcEmulator,
    options: &StackOptions,
    endpoint: &str,
    work: &Path,
) -> Result<()> {
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", options.region.as_str()),
        ("AWS_DEFAULT_REGION", options.region.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut adds = Vec::new();
    for w in &options.workspaces {
        let Some(configuration) = &w.terraform else {
            continue;
        };
        let backing = TerraformBacking {
            config_dir: events::repo_root()
                .join("integration-tests/workspaces")
                .join(configuration),
            variables: vec![
                ("name".into(), w.workspace.clone()),
                ("region".into(), options.region.clone()),
            ],
            env: env.clone(),
            work_dir: work.join("workspaces"),
        };
        adds.push(async move {
            tfc.add_terraform_workspace(&w.organization, &w.workspace, w.scenario.clone(), backing)
                .await
                .with_context(|| format!("the Terraform-backed workspace {}", w.label()))
        });
    }
    if !adds.is_empty() {
        progress(
            options,
            &format!(
                "applying the configuration of {} Terraform-backed workspace(s)",
                adds.len()
            ),
        );
    }
    futures_join_all(adds)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// A background task aborted (with the processes it runs) when dropped.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<Result<T>>>);

impl<T> AbortOnDrop<T> {
    fn new(handle: tokio::task::JoinHandle<Result<T>>) -> Self {
        AbortOnDrop(Some(handle))
    }

    async fn join(mut self) -> Result<T> {
        let handle = self.0.take().expect("joined once");
        handle.await.context("background task")?
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

struct WorkDirGuard {
    path: PathBuf,
}

impl Drop for WorkDirGuard {
    fn drop(&mut self) {
        // Starting failed: keep the logs the error message points to.
        eprintln!(
            "[local-stack] start failed; logs kept in {}",
            self.path.display()
        );
    }
}

async fn create_or_update_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_exists_exception());
        if !exists {
            bail!(
                "CreateSecret {name}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            );
        }
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "PutSecretValue {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(())
}

/// What the functions run with: their deployed environment plus what Lambda
/// itself adds from their `logging_config` (moto keeps no LoggingConfig, so it
/// comes from the variables applied, with the module's defaults).
async fn function_environment(
    raw: &RawAws,
    outputs: &Outputs,
    variables: &Value,
) -> Result<BTreeMap<String, String>> {
    let mut env = deployed_environment(raw, outputs).await?;
    env.extend(lambda_logging_environment(variables));
    Ok(env)
}

/// `AWS_LAMBDA_LOG_FORMAT` and (JSON only) `AWS_LAMBDA_LOG_LEVEL`, as Lambda
/// sets them from `lambda_log_format` and `lambda_application_log_level`.
pub fn lambda_logging_environment(variables: &Value) -> BTreeMap<String, String> {
    let variable = |name: &str, default: &str| {
        variables
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let format = variable("lambda_log_format", "JSON");
    let mut env = BTreeMap::from([("AWS_LAMBDA_LOG_FORMAT".to_string(), format.clone())]);
    if format == "JSON" {
        env.insert(
            "AWS_LAMBDA_LOG_LEVEL".to_string(),
            variable("lambda_application_log_level", "INFO"),
        );
    }
    env
}

/// The union of the deployed functions' environment variables (GetFunctionConfiguration).
async fn deployed_environment(raw: &RawAws, outputs: &Outputs) -> Result<BTreeMap<String, String>> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (function, name) in &outputs.function_names {
        let config = raw.function_configuration(name).await?;
        let vars = config
            .pointer("/Environment/Variables")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in vars {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            if let Some(existing) = env.get(&k)
                && *existing != v
            {
                bail!(
                    "functions disagree on {k} ({function} has '{v}', another has '{existing}'): cargo lambda watch runs every function with one environment"
                );
            }
            env.insert(k, v);
        }
    }
    if env.is_empty() {
        bail!("the deployed functions have no environment variables (GetFunctionConfiguration)");
    }
    Ok(env)
}

async fn rule_pattern(raw: &RawAws, rule: &str) -> Result<String> {
    let described = raw.describe_rule(rule).await?;
    described
        .get("EventPattern")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("rule {rule} has no EventPattern: {described}"))
}

async fn start_cargo_lambda(
    tools: &Tools,
    work: &Path,
    name: &str,
    port: u16,
    env: &BTreeMap<String, String>,
    endpoint: &str,
    options: &StackOptions,
) -> Result<ManagedChild> {
    let mut all = env.clone();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", options.region.as_str()),
        ("AWS_DEFAULT_REGION", options.region.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        all.insert(k.to_string(), v.to_string());
    }
    let env_file = work.join(format!("{name}.env"));
    let mut text = String::new();
    for (k, v) in &all {
        if v.contains('\'') || v.contains('\n') {
            bail!("{k} cannot be written to an env file: {v}");
        }
        text.push_str(&format!("{k}='{v}'\n"));
    }
    std::fs::write(&env_file, text)?;

    let path = format!(
        "{}:{}",
        tools.venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new(&tools.cargo_lambda);
    cmd.current_dir(repo_root())
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .args(["--concurrency", &options.lambda_concurrency.to_string()])
        .arg("--env-file")
        .arg(&env_file)
        .env("PATH", path)
        .env("CARGO", cargo())
        .env("CARGO_TERM_COLOR", "never")
        .envs(&all);
    scrub_cargo_env(&mut cmd);
    let mut child =
        ManagedChild::spawn("cargo lambda watch", cmd, &work.join(format!("{name}.log")))?;
    wait_for_port(
        port,
        Duration::from_secs(60),
        &mut child,
        "cargo lambda watch",
    )
    .await?;
    Ok(child)
}

/// Runs futures concurrently, results in order (no futures crate needed).
pub async fn futures_join_all<F, T>(futures: Vec<F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("ready")).collect()
}
