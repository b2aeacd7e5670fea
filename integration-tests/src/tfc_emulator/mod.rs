//! An in-process emulator of the HCP Terraform API (the parts DriftGuard
//! uses), faithful to the JSON:API documents of the real API and to its unkind
//! parts. Sources: the API documents (`run.mdx` "Run States", "List Runs in a
//! Workspace"; `plans.mdx` "Retrieve the JSON execution plan"; `account.mdx`;
//! `index.mdx` "Rate limits", "Authentication"), the run states and stages page
//! (pending → fetching → plan → post-plan tasks → cost estimation → policy
//! check → apply), go-tfe's `run.go` (statuses, operations, `actions.*`) and
//! the tfe provider's `workspace_run_helpers.go` (a run is applied only once
//! `actions.is-confirmable`).
//!
//! Endpoints:
//! - `GET  /api/v2/account/details`: the token's user (`users` document)
//! - `GET  /api/v2/organizations/:org/workspaces/:name`, `GET /api/v2/workspaces/:id`
//! - `GET  /api/v2/workspaces/:id/runs`: newest first, `page[number]`,
//!   `page[size]`; leaves plan-only runs out unless `filter[operation]` names
//!   `plan_only`; `search[basic]` matches the run message or id; limited to 30
//!   requests per minute per user (429 beyond, with `x-ratelimit-*`)
//! - `POST /api/v2/runs` (`message`, `plan-only`, `auto-apply`, `refresh-only`,
//!   `target-addrs`) → 201; 404 when the token's access to the workspace
//!   cannot queue runs
//! - `GET  /api/v2/runs/:id` (status, status-timestamps, has-changes,
//!   `actions.*`, `position-in-queue`, relationships)
//! - `POST /api/v2/runs/:id/actions/{apply,discard,cancel,force-cancel}` → 202,
//!   409 when the run's `actions.*` do not allow it, 404 without the access
//! - `GET  /api/v2/plans/:id` (status, `execution-details`, signed `log-read-url`)
//! - `GET  /api/v2/plans/:id/json-output` (also `/api/v2/runs/:id/plan/json-output`):
//!   204 while the plan is not finished, then 307 to a one-minute signed URL,
//!   by default on *another origin* (a second port, as
//!   `archivist.terraform.io` is another host; Terraform Enterprise keeps it
//!   on its own host: [`Scenario::same_origin_archivist`]); 404 when the
//!   token lacks workspace admin access.
//!
//! Errors are JSON:API error documents; every `/api/v2` request needs
//! `Authorization: Bearer <token>` (401 otherwise). Runs move through the real
//! statuses over wall time, computed from timestamps when read; each stage is
//! a per-workspace switch in [`Scenario`]. A workspace is either canned (its
//! plans are fixtures) or backed by a real Terraform working directory
//! ([`TfcEmulator::add_terraform_workspace`]): its runs execute `terraform plan`
//! and `terraform apply` of the saved plan against the local stack, and the
//! emulator keeps the workspace's state. Every response carries
//! `X-RateLimit-*` headers; with [`TfcEmulator::enforce_rate_limit`] the
//! documented 30 requests per second is enforced (429 beyond it in any sliding
//! second, refused requests counted too).

mod documents;
mod executor;
mod plan_json;
mod server;
#[cfg(test)]
mod tests;
mod timeline;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use executor::TerraformBacking;
use executor::{Backed, Job};

/// Time a new run spends `pending`, then `plan_queued`, before `planning`.
const QUEUE_STEP: Duration = Duration::from_millis(100);
/// Lifetime of an archivist download link (the API documents say one minute).
const ARCHIVIST_LINK_TTL: Duration = Duration::from_secs(60);
/// The API's documented general rate limit (requests per second).
const RATE_LIMIT_PER_SECOND: usize = 30;
/// The runs list's documented limit (requests per minute per user).
const RUN_LIST_LIMIT_PER_MINUTE: usize = 30;
const TERRAFORM_VERSION: &str = "1.11.4";

/// What a workspace's runs do. Every stage is a switch, off by default.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What a drift-check (speculative) plan shows (canned workspaces).
    pub drift: Drift,
    /// How long planning takes (canned workspaces); default 1.0.
    pub plan_seconds: f64,
    /// How long an apply takes (canned workspaces); default 1.0.
    pub apply_seconds: f64,
    /// The plan ends "errored", with an error in its log.
    pub plan_errors: bool,
    /// The remediation (targeted, normal) run's plan deletes/replaces a resource.
    pub remediation_destroys: bool,
    /// `POST /runs` answers 422 "Configuration version is missing".
    pub configuration_missing: bool,
    /// The next N requests touching this workspace answer 429 with
    /// `X-RateLimit-*` headers (reset 0.5–1 s).
    pub rate_limited_requests: u32,
    /// The next N requests touching this workspace answer 503.
    pub unavailable_requests: u32,
    /// `json-output` answers 204 this many extra times after the plan finished.
    pub json_not_ready_polls: u32,
    /// Cost estimation after the plan (`cost_estimating` → `cost_estimated`).
    pub cost_estimation: bool,
    /// Sentinel/OPA policy checks after cost estimation.
    pub policy: Policy,
    /// Post-plan run tasks (`post_plan_running` → `post_plan_completed`).
    pub post_plan_task: RunTask,
    /// How long each of those stages takes; default 0.3.
    pub stage_seconds: f64,
    /// `agent`: the workspace's runs wait for an agent of its pool (the plan
    /// sits in `plan_queued` for `agent_pickup_seconds`; `execution-mode: agent`).
    pub agent_pickup_seconds: Option<f64>,
    /// A VCS-driven workspace: runs start in `fetching` for this long.
    pub vcs_fetch_seconds: f64,
    /// Terraform Enterprise without spare capacity: a confirmed apply sits in
    /// `apply_queued` this long.
    pub apply_queue_seconds: f64,
    /// Someone else's run holds the workspace's queue for this long when a
    /// normal run is created (it plans and auto-applies before ours can start).
    pub queued_behind_seconds: f64,
    /// The access DriftGuard's token's team has on this workspace.
    pub token_access: Access,
    /// The plan JSON's 307 points at the API's own origin (Terraform Enterprise).
    pub same_origin_archivist: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            drift: Drift::None,
            plan_seconds: 1.0,
            apply_seconds: 1.0,
            plan_errors: false,
            remediation_destroys: false,
            configuration_missing: false,
            rate_limited_requests: 0,
            unavailable_requests: 0,
            json_not_ready_polls: 0,
            cost_estimation: false,
            policy: Policy::None,
            post_plan_task: RunTask::None,
            stage_seconds: 0.3,
            agent_pickup_seconds: None,
            vcs_fetch_seconds: 0.0,
            apply_queue_seconds: 0.0,
            queued_behind_seconds: 0.0,
            token_access: Access::Admin,
            same_origin_archivist: false,
        }
    }
}

/// What a speculative plan shows: the real plans of
/// `functions/lib/core/tests/fixtures/plans/` (made by Terraform against moto).
#[derive(Clone, Debug, Default)]
pub enum Drift {
    /// `no-drift.json`: nothing changed (computed noise only).
    #[default]
    None,
    /// `out-of-band.json`: 8 resources changed in the console.
    Fixture,
    /// `code-only.json`: unapplied code changes (3 resources), no drift.
    CodeOnly,
    /// `both.json`: the console changes and the code changes; the security
    /// group has both.
    Both,
    /// This plan JSON.
    Custom(Value),
}

/// Policy checks of a workspace (policy enforcement levels: advisory,
/// soft-mandatory, hard-mandatory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    #[default]
    None,
    /// Every policy passes: `policy_checked`.
    Pass,
    /// An advisory policy fails: a warning, the run still reaches `policy_checked`.
    AdvisoryFail,
    /// A soft-mandatory policy fails: `policy_override` (a person must
    /// override), or `policy_soft_failed` (final) for a plan-only run.
    SoftMandatoryFail,
    /// A hard-mandatory policy fails: the run errors.
    HardMandatoryFail,
}

/// Post-plan run tasks of a workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunTask {
    #[default]
    None,
    Pass,
    /// A mandatory task fails: the run errors.
    MandatoryFail,
}

/// Workspace permission levels (read < plan < write < admin). Plan can queue
/// runs; write can apply, discard and cancel; plan JSON needs admin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Plan,
    Write,
    #[default]
    Admin,
}

/// A run as the emulator holds it (status computed when read).
#[derive(Clone, Debug)]
pub struct EmulatedRun {
    pub id: String,
    pub workspace_id: String,
    pub message: String,
    pub plan_only: bool,
    pub target_addrs: Vec<String>,
    pub status: String,
    /// Every status reached, in order.
    pub statuses: Vec<String>,
    /// Accepted actions, in order: "apply", "discard", "cancel".
    pub actions: Vec<String>,
    /// Who queued it: the user of the token that queued it ([`DRIFTGUARD_USER`]
    /// for DriftGuard's token).
    pub created_by: String,
    /// When its plan ended (finished, errored or canceled), once it has.
    pub plan_ended: Option<Instant>,
}

/// One request the emulator received (faulted ones included).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// "org/name" when the request touches a known workspace.
    pub workspace: Option<String>,
    /// The user the request's token belongs to, when it had a valid one.
    pub user: Option<String>,
}

/// Requests per second over the recorded requests, bucketed by whole seconds
/// since the first request.
#[derive(Clone, Debug, Default)]
pub struct RequestRate {
    pub total: usize,
    pub peak_per_second: usize,
    pub mean_per_second: f64,
}

/// Handle on a running emulator; cheap to clone.
#[derive(Clone)]
pub struct TfcEmulator {
    shared: Arc<Shared>,
    url: String,
}

impl std::fmt::Debug for TfcEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfcEmulator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// At most this many Terraform processes at once (the machine's cores).
    terraform_slots: tokio::sync::Semaphore,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The user DriftGuard's token belongs to (the ids look like the API's).
pub const DRIFTGUARD_USER: &str = "user-DriftGuardToken1";

pub(crate) struct State {
    /// Valid token → the user it belongs to.
    tokens: HashMap<String, String>,
    workspaces: Vec<Workspace>,
    runs: Vec<Run>,
    requests: Vec<RecordedRequest>,
    archive: HashMap<String, ArchiveObject>,
    /// Base URL of the API listener.
    api_url: String,
    /// Base URL of the archivist listener (another origin than the API).
    archivist_url: String,
    /// Archivist downloads that carried an `Authorization` header.
    archivist_token_leaks: usize,
    /// When set, API requests beyond 30 in any sliding second answer 429, as the real API does.
    enforce_rate_limit: bool,
    rng: u64,
    epoch: Instant,
    epoch_utc: DateTime<Utc>,
}

pub(crate) struct Workspace {
    id: String,
    organization: String,
    name: String,
    scenario: Scenario,
    created_at: DateTime<Utc>,
    /// A real Terraform working directory behind the workspace.
    backed: Option<Arc<Backed>>,
    /// Its configuration versions, oldest first; the last is the current
    /// one (`current-configuration-version`), which a new run plans.
    configuration_versions: Vec<String>,
}

impl Workspace {
    /// The configuration version new runs plan.
    fn current_configuration_version(&self) -> &str {
        self.configuration_versions
            .last()
            .map_or("", String::as_str)
    }
}

impl Workspace {
    fn label(&self) -> String {
        format!("{}/{}", self.organization, self.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArchiveKind {
    PlanJson,
    PlanLog,
}

pub(crate) struct ArchiveObject {
    plan_id: String,
    kind: ArchiveKind,
    expires: Instant,
}

/// What an execution (plan or apply) produced.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub ok: bool,
    pub log: String,
    /// `terraform show -json` of the saved plan (plans only).
    pub json: Option<Value>,
    pub has_changes: bool,
}

/// A plan or an apply: canned (known outcome after a duration) or a real
/// Terraform process, whose end is known when it ends.
pub(crate) enum Exec {
    Canned {
        duration: Duration,
        outcome: Outcome,
    },
    Terraform(Arc<Job>),
}

impl Exec {
    /// When it ended and how, given when it started; `None` while it runs.
    fn finished(&self, started: Instant) -> Option<(Instant, Outcome)> {
        match self {
            Exec::Canned { duration, outcome } => Some((started + *duration, outcome.clone())),
            Exec::Terraform(job) => job.finished(),
        }
    }
}

/// The stages a run goes through after its plan, copied from the workspace's
/// scenario when the run is created.
#[derive(Clone, Debug)]
pub(crate) struct Stages {
    fetch: Duration,
    agent_pickup: Option<Duration>,
    post_plan_task: RunTask,
    cost_estimation: bool,
    policy: Policy,
    stage: Duration,
    apply_queue: Duration,
}

impl Stages {
    fn of(scenario: &Scenario) -> Self {
        let seconds = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default();
        Stages {
            fetch: seconds(scenario.vcs_fetch_seconds),
            agent_pickup: scenario.agent_pickup_seconds.map(seconds),
            post_plan_task: scenario.post_plan_task,
            cost_estimation: scenario.cost_estimation,
            policy: scenario.policy,
            stage: seconds(scenario.stage_seconds),
            apply_queue: seconds(scenario.apply_queue_seconds),
        }
    }
}

/// A run; its status is derived from these instants when read.
pub(crate) struct Run {
    id: String,
    plan_id: String,
    apply_id: String,
    workspace_id: String,
    message: String,
    plan_only: bool,
    auto_apply: bool,
    refresh_only: bool,
    target_addrs: Option<Vec<String>>,
    created: Instant,
    created_by: String,
    /// The configuration version it plans.
    configuration_version: String,
    stages: Stages,
    plan: Exec,
    apply: Exec,
    json_not_ready_left: u32,
    confirmed_at: Option<Instant>,
    discarded_at: Option<Instant>,
    canceled_at: Option<Instant>,
    actions: Vec<String>,
}

impl State {
    fn workspace_by_name(&self, organization: &str, name: &str) -> Option<&Workspace> {
        self.workspaces
            .iter()
            .find(|w| w.organization == organization && w.name == name)
    }

    fn workspace_by_id(&self, id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }

    fn workspace_mut(&mut self, id: &str) -> Option<&mut Workspace> {
        self.workspaces.iter_mut().find(|w| w.id == id)
    }

    fn run(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.id == id)
    }

    fn run_by_plan(&self, plan_id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.plan_id == plan_id)
    }

    fn utc(&self, at: Instant) -> DateTime<Utc> {
        let offset = at.saturating_duration_since(self.epoch);
        self.epoch_utc + chrono::Duration::from_std(offset).unwrap_or_default()
    }

    fn rfc3339(&self, at: Instant) -> String {
        self.utc(at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// An id like the API's: prefix + 16 base62 characters.
    fn new_id(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut id = format!("{prefix}-");
        for _ in 0..16 {
            let n = (self.next_random() % ALPHABET.len() as u64) as usize;
            id.push(ALPHABET[n] as char);
        }
        id
    }

    /// An opaque token for an archivist object.
    fn new_opaque(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.next_random()))
            .collect()
    }

    /// A signed, short-lived link to a plan's JSON or log.
    fn sign(&mut self, plan_id: &str, kind: ArchiveKind, same_origin: bool) -> String {
        let now = Instant::now();
        let token = self.new_opaque();
        self.archive.retain(|_, object| object.expires > now);
        self.archive.insert(
            token.clone(),
            ArchiveObject {
                plan_id: plan_id.to_string(),
                kind,
                expires: now + ARCHIVIST_LINK_TTL,
            },
        );
        let base = if same_origin {
            &self.api_url
        } else {
            &self.archivist_url
        };
        format!("{base}/_archivist/v1/object/{token}")
    }
}

impl TfcEmulator {
    /// Starts on 127.0.0.1:<free port>. `valid_token` is the API token it
    /// accepts (it belongs to [`DRIFTGUARD_USER`]).
    pub async fn start(valid_token: &str) -> anyhow::Result<TfcEmulator> {
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let archivist = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", api.local_addr()?);
        let archivist_url = format!("http://{}", archivist.local_addr()?);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tokens: HashMap::from([(valid_token.to_string(), DRIFTGUARD_USER.to_string())]),
                workspaces: Vec::new(),
                runs: Vec::new(),
                requests: Vec::new(),
                archive: HashMap::new(),
                api_url: url.clone(),
                archivist_url,
                archivist_token_leaks: 0,
                enforce_rate_limit: false,
                rng: seed,
                epoch: Instant::now(),
                epoch_utc: Utc::now(),
            }),
            terraform_slots: tokio::sync::Semaphore::new(cores.max(1)),
        });
        for listener in [api, archivist] {
            let router = server::router(shared.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!(%error, "HCP Terraform emulator stopped");
                }
            });
        }
        executor::spawn_driver(Arc::downgrade(&shared));
        tracing::info!(%url, "HCP Terraform emulator listening");
        Ok(TfcEmulator { shared, url })
    }

    /// From now on, refuse API requests beyond the documented 30 per second
    /// (sliding one-second window) with 429 and `X-RateLimit-*` headers.
    pub fn enforce_rate_limit(&self) {
        self.shared.lock().enforce_rate_limit = true;
    }

    /// The TFE address, e.g. "http://127.0.0.1:41234" (the API is under /api/v2).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Adds a canned workspace (or replaces the scenario of an existing one)
    /// and returns its id "ws-…".
    pub fn add_workspace(&self, organization: &str, name: &str, scenario: Scenario) -> String {
        let mut state = self.shared.lock();
        if let Some(existing) = state
            .workspaces
            .iter_mut()
            .find(|w| w.organization == organization && w.name == name)
        {
            existing.scenario = scenario;
            return existing.id.clone();
        }
        let id = state.new_id("ws");
        let configuration_version = state.new_id("cv");
        state.workspaces.push(Workspace {
            id: id.clone(),
            organization: organization.to_string(),
            name: name.to_string(),
            scenario,
            created_at: Utc::now(),
            backed: None,
            configuration_versions: vec![configuration_version],
        });
        id
    }

    /// Adds a workspace backed by a real Terraform working directory: the
    /// configuration is initialized and applied once (the workspace's first
    /// run, as a person would make it), and the emulator keeps its state.
    /// Its runs then execute `terraform plan` (with `-refresh-only` and
    /// `-target` as the run asks) and `terraform apply` of the saved plan.
    pub async fn add_terraform_workspace(
        &self,
        organization: &str,
        name: &str,
        scenario: Scenario,
        backing: TerraformBacking,
    ) -> anyhow::Result<String> {
        let backed = Backed::prepare(backing, &format!("{organization}-{name}")).await?;
        let id = self.add_workspace(organization, name, scenario);
        if let Some(workspace) = self.shared.lock().workspace_mut(&id) {
            workspace.backed = Some(Arc::new(backed));
        }
        Ok(id)
    }

    /// The outputs of a Terraform-backed workspace's current state
    /// (`{"name": {"value": …}}`, as in the state file).
    pub fn state_outputs(&self, organization: &str, name: &str) -> Option<Value> {
        let state = self.shared.lock();
        let backed = state
            .workspace_by_name(organization, name)?
            .backed
            .clone()?;
        drop(state);
        backed.outputs()
    }

    /// A new configuration version for a Terraform-backed workspace: its next
    /// runs plan with these variable values, i.e. with code not applied yet
    /// (pending code, which a drift check must not report as drift). False
    /// when the workspace is not Terraform-backed.
    pub fn push_configuration(
        &self,
        organization: &str,
        name: &str,
        variables: &[(&str, &str)],
    ) -> bool {
        let mut state = self.shared.lock();
        let Some(backed) = state
            .workspace_by_name(organization, name)
            .and_then(|w| w.backed.clone())
        else {
            return false;
        };
        let configuration_version = state.new_id("cv");
        if let Some(workspace) = state
            .workspaces
            .iter_mut()
            .find(|w| w.organization == organization && w.name == name)
        {
            workspace.configuration_versions.push(configuration_version);
        }
        drop(state);
        let owned: Vec<(String, String)> = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        backed.set_variables(&owned);
        true
    }

    /// The Terraform working directories' logs (plans and applies), if any.
    pub fn terraform_log_dir(&self, organization: &str, name: &str) -> Option<PathBuf> {
        let state = self.shared.lock();
        Some(
            state
                .workspace_by_name(organization, name)?
                .backed
                .as_ref()?
                .root()
                .to_path_buf(),
        )
    }

    /// Replaces a workspace's scenario (new runs and pending faults use it).
    /// Panics when the workspace was never added.
    pub fn set_scenario(&self, organization: &str, name: &str, scenario: Scenario) {
        let mut state = self.shared.lock();
        let workspace = state
            .workspaces
            .iter_mut()
            .find(|w| w.organization == organization && w.name == name)
            .unwrap_or_else(|| panic!("workspace {organization}/{name} was never added"));
        workspace.scenario = scenario;
    }

    /// From now on only `token` is accepted for DriftGuard's user (the old one gets 401).
    pub fn rotate_token(&self, token: &str) {
        let mut state = self.shared.lock();
        state.tokens.retain(|_, user| user != DRIFTGUARD_USER);
        state
            .tokens
            .insert(token.to_string(), DRIFTGUARD_USER.to_string());
    }

    /// Accepts another token, of `user` (another user shares nothing with DriftGuard's budget).
    pub fn add_token(&self, token: &str, user: &str) {
        self.shared
            .lock()
            .tokens
            .insert(token.to_string(), user.to_string());
    }

    /// A new configuration version becomes the workspace's current one (as
    /// an upload or a VCS commit makes it), without changing what its plans
    /// show; returns its id. `None` for an unknown workspace.
    pub fn new_configuration_version(&self, organization: &str, name: &str) -> Option<String> {
        let mut state = self.shared.lock();
        state.workspace_by_name(organization, name)?;
        let configuration_version = state.new_id("cv");
        let workspace = state
            .workspaces
            .iter_mut()
            .find(|w| w.organization == organization && w.name == name)?;
        workspace
            .configuration_versions
            .push(configuration_version.clone());
        Some(configuration_version)
    }

    /// The id of a workspace, as the API names it.
    pub fn workspace_id(&self, organization: &str, name: &str) -> Option<String> {
        self.shared
            .lock()
            .workspace_by_name(organization, name)
            .map(|w| w.id.clone())
    }

    /// The runs of a workspace, oldest first, with their current status.
    pub fn runs(&self, organization: &str, name: &str) -> Vec<EmulatedRun> {
        let state = self.shared.lock();
        let Some(workspace) = state.workspace_by_name(organization, name) else {
            return Vec::new();
        };
        let now = Instant::now();
        state
            .runs
            .iter()
            .filter(|r| r.workspace_id == workspace.id)
            .map(|r| {
                let timeline = state.timeline(r, now);
                EmulatedRun {
                    id: r.id.clone(),
                    workspace_id: r.workspace_id.clone(),
                    message: r.message.clone(),
                    plan_only: r.plan_only,
                    target_addrs: r.target_addrs.clone().unwrap_or_default(),
                    status: timeline.status().to_string(),
                    statuses: timeline.events.iter().map(|(s, _)| s.to_string()).collect(),
                    actions: r.actions.clone(),
                    created_by: r.created_by.clone(),
                    plan_ended: timeline.plan.as_ref().map(|(at, _)| *at),
                }
            })
            .collect()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests touching this workspace (its workspace, runs, plans, plan JSON downloads).
    pub fn requests_for(&self, organization: &str, name: &str) -> Vec<RecordedRequest> {
        let label = format!("{organization}/{name}");
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.workspace.as_deref() == Some(label.as_str()))
            .cloned()
            .collect()
    }

    /// Peak and mean requests per second over the recorded requests.
    pub fn rate(&self) -> RequestRate {
        rate_of(&self.shared.lock().requests)
    }

    /// Plan JSON and log downloads (archivist) that carried an `Authorization`
    /// header: the API token must never be sent there.
    pub fn archivist_token_leaks(&self) -> usize {
        self.shared.lock().archivist_token_leaks
    }
}

fn rate_of(requests: &[RecordedRequest]) -> RequestRate {
    let Some(first) = requests.iter().map(|r| r.at).min() else {
        return RequestRate::default();
    };
    let mut buckets: HashMap<u64, usize> = HashMap::new();
    for request in requests {
        *buckets
            .entry(request.at.duration_since(first).as_secs())
            .or_default() += 1;
    }
    let span = buckets.keys().max().copied().unwrap_or(0) + 1;
    RequestRate {
        total: requests.len(),
        peak_per_second: buckets.values().copied().max().unwrap_or(0),
        mean_per_second: requests.len() as f64 / span as f64,
    }
}
