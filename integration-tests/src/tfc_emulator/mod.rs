//! An in-process emulator of the HCP Terraform API (the parts DriftGuard
//! uses), faithful to the JSON:API documents of the real API:
//!
//! - `GET  /api/v2/organizations/:org/workspaces/:name` and `GET /api/v2/workspaces/:id`
//! - `GET  /api/v2/workspaces/:id/runs` (newest first, `page[number]`, `page[size]`)
//! - `POST /api/v2/runs` (`message`, `plan-only`, `auto-apply`, `target-addrs`) → 201
//! - `GET  /api/v2/runs/:id` (status, status-timestamps, has-changes, actions, relationships)
//! - `POST /api/v2/runs/:id/actions/{apply,discard,cancel,force-cancel}` → 202, or 409
//! - `GET  /api/v2/plans/:id` and `GET /api/v2/plans/:id/json-output`
//!   (also `/api/v2/runs/:id/plan/json-output`): 204 while the plan is not
//!   finished, then 307 to a one-minute archivist URL on *another origin* (a
//!   second port, as `archivist.terraform.io` is another host) that serves the
//!   JSON without the API token.
//!
//! Errors are JSON:API error documents; every `/api/v2` request needs
//! `Authorization: Bearer <token>` (401 otherwise). Runs move through the real
//! statuses over wall time, computed from timestamps when read. Scenarios
//! (per workspace) control drift, durations, plan errors, 422 "Configuration
//! version is missing", 429 with `X-RateLimit-*` headers and 503. Every
//! response carries `X-RateLimit-*` headers; with [`TfcEmulator::enforce_rate_limit`]
//! the documented 30 requests per second is enforced (429 beyond it in any
//! sliding second, refused requests counted too).

mod documents;
mod plan_json;
mod server;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Time a new run spends `pending`, then `plan_queued`, before `planning`.
const QUEUE_STEP: Duration = Duration::from_millis(100);
/// Lifetime of an archivist download link (the API documents say one minute).
const ARCHIVIST_LINK_TTL: Duration = Duration::from_secs(60);
/// The API's documented general rate limit (requests per second).
const RATE_LIMIT_PER_SECOND: usize = 30;
const TERRAFORM_VERSION: &str = "1.11.4";

/// What a workspace's runs do.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What a drift-check (speculative) plan shows.
    pub drift: Drift,
    /// How long planning takes (emulated wall time); default 1.0.
    pub plan_seconds: f64,
    /// How long an apply takes; default 1.0.
    pub apply_seconds: f64,
    /// The plan ends "errored".
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
        }
    }
}

/// What a speculative plan shows: the real plans of
/// `functions/core/tests/fixtures/plans/` (made by Terraform against moto).
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

/// A run as the emulator holds it (status computed when read).
#[derive(Clone, Debug)]
pub struct EmulatedRun {
    pub id: String,
    pub workspace_id: String,
    pub message: String,
    pub plan_only: bool,
    pub target_addrs: Vec<String>,
    pub status: String,
    /// Accepted actions, in order: "apply", "discard", "cancel".
    pub actions: Vec<String>,
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
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct State {
    valid_token: String,
    workspaces: Vec<Workspace>,
    runs: Vec<Run>,
    requests: Vec<RecordedRequest>,
    archive: HashMap<String, ArchiveObject>,
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
}

impl Workspace {
    fn label(&self) -> String {
        format!("{}/{}", self.organization, self.name)
    }
}

pub(crate) struct ArchiveObject {
    plan_id: String,
    expires: Instant,
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
    target_addrs: Option<Vec<String>>,
    created: Instant,
    plan_duration: Duration,
    apply_duration: Duration,
    plan_errors: bool,
    has_changes: bool,
    plan_json: Value,
    json_not_ready_left: u32,
    confirmed_at: Option<Instant>,
    discarded_at: Option<Instant>,
    canceled_at: Option<Instant>,
    actions: Vec<String>,
}

/// Statuses in which a run can be canceled.
const CANCELABLE: &[&str] = &[
    "pending",
    "plan_queued",
    "planning",
    "confirmed",
    "apply_queued",
    "applying",
];

impl Run {
    fn plan_started(&self) -> Instant {
        self.created + 2 * QUEUE_STEP
    }

    fn plan_finished(&self) -> Instant {
        self.plan_started() + self.plan_duration
    }

    /// When the apply was confirmed (by the apply action, or auto-apply).
    fn confirm_time(&self) -> Option<Instant> {
        if self.plan_only || self.plan_errors || !self.has_changes {
            return None;
        }
        self.confirmed_at.or_else(|| {
            self.auto_apply
                .then(|| self.plan_finished())
                .filter(|at| self.stop_time().is_none_or(|stop| *at <= stop))
        })
    }

    fn stop_time(&self) -> Option<Instant> {
        self.canceled_at.or(self.discarded_at)
    }

    /// Every status the run went through up to `now`, with when it entered
    /// it; the last one is the current status.
    fn timeline(&self, now: Instant) -> Vec<(&'static str, Instant)> {
        let horizon = self.stop_time().map_or(now, |stop| stop.min(now));
        let mut events = vec![("pending", self.created)];
        let mut candidates: Vec<(&'static str, Instant)> = vec![
            ("plan_queued", self.created + QUEUE_STEP),
            ("planning", self.plan_started()),
        ];
        let plan_end = self.plan_finished();
        let plan_status = if self.plan_errors {
            "errored"
        } else if self.plan_only || !self.has_changes {
            "planned_and_finished"
        } else {
            "planned"
        };
        candidates.push((plan_status, plan_end));
        if let Some(confirm) = self.confirm_time() {
            let confirm = confirm.max(plan_end);
            let applying = confirm + 2 * QUEUE_STEP;
            candidates.extend([
                ("confirmed", confirm),
                ("apply_queued", confirm + QUEUE_STEP),
                ("applying", applying),
                ("applied", applying + self.apply_duration),
            ]);
        }
        events.extend(candidates.into_iter().filter(|(_, at)| *at <= horizon));
        if let Some(at) = self.canceled_at.filter(|at| *at <= now) {
            events.push(("canceled", at));
        } else if let Some(at) = self.discarded_at.filter(|at| *at <= now) {
            events.push(("discarded", at));
        }
        events
    }

    fn status(&self, now: Instant) -> &'static str {
        self.timeline(now)
            .last()
            .map_or("pending", |(status, _)| status)
    }

    fn plan_is_finished(&self, now: Instant) -> bool {
        !self.plan_errors
            && now >= self.plan_finished()
            && self
                .stop_time()
                .is_none_or(|stop| stop >= self.plan_finished())
    }
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

    fn run_mut(&mut self, id: &str) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.id == id)
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
}

impl TfcEmulator {
    /// Starts on 127.0.0.1:<free port>. `valid_token` is the API token it accepts.
    pub async fn start(valid_token: &str) -> anyhow::Result<TfcEmulator> {
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let archivist = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", api.local_addr()?);
        let archivist_url = format!("http://{}", archivist.local_addr()?);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                valid_token: valid_token.to_string(),
                workspaces: Vec::new(),
                runs: Vec::new(),
                requests: Vec::new(),
                archive: HashMap::new(),
                archivist_url,
                archivist_token_leaks: 0,
                enforce_rate_limit: false,
                rng: seed,
                epoch: Instant::now(),
                epoch_utc: Utc::now(),
            }),
        });
        for listener in [api, archivist] {
            let router = server::router(shared.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!(%error, "HCP Terraform emulator stopped");
                }
            });
        }
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

    /// Adds a workspace (or replaces the scenario of an existing one) and
    /// returns its id "ws-…".
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
        state.workspaces.push(Workspace {
            id: id.clone(),
            organization: organization.to_string(),
            name: name.to_string(),
            scenario,
            created_at: Utc::now(),
        });
        id
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

    /// From now on only `token` is accepted (the old one gets 401).
    pub fn rotate_token(&self, token: &str) {
        self.shared.lock().valid_token = token.to_string();
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
            .map(|r| EmulatedRun {
                id: r.id.clone(),
                workspace_id: r.workspace_id.clone(),
                message: r.message.clone(),
                plan_only: r.plan_only,
                target_addrs: r.target_addrs.clone().unwrap_or_default(),
                status: r.status(now).to_string(),
                actions: r.actions.clone(),
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

    /// Plan JSON downloads (archivist) that carried an `Authorization`
    /// header: the API token must never be sent there. (Addition to the
    /// agreed API.)
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
