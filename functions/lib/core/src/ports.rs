//! Ports: what the core needs from the outside world, in the words of
//! [`crate::model`] only (no port depends on a domain module). Each has a real
//! implementation (HTTP, AWS SDK) and an in-memory one for tests (feature
//! `testing`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::alerting::{AlertThread, ChatApi, ConversationStore, Notifier};
use crate::error::Result;
use crate::model::{
    Acceptance, ApprovalDecision, Budget, Change, CheckMetrics, CheckRef, Episode, EpisodeWrite,
    Finding, HistoryRecord, Reservation, ResourceTags, TagQuery, ThreadRef, Warning,
};

/// A run as HCP Terraform describes it, reduced to what DriftGuard uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfcRun {
    pub id: String,
    pub status: String,
    pub message: String,
    pub created_at: String,
    #[serde(default)]
    pub has_changes: Option<bool>,
    pub plan_only: bool,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub target_addrs: Vec<String>,
    #[serde(default)]
    pub is_confirmable: bool,
    #[serde(default)]
    pub is_discardable: bool,
    #[serde(default)]
    pub is_cancelable: bool,
    /// Runs ahead of this one in the workspace's queue, when the API says
    /// (`position-in-queue`, pending runs).
    #[serde(default)]
    pub position_in_queue: Option<u32>,
    /// When the run entered its current status (RFC 3339, from its
    /// `status-timestamps`), when the API says.
    #[serde(default)]
    pub status_changed_at: Option<String>,
    /// The user who queued the run (`relationships.created-by`): for a run
    /// DriftGuard created, the token's user ([`TerraformCloud::token_user`]).
    #[serde(default)]
    pub created_by: Option<String>,
    /// The configuration version the run plans (`relationships.configuration-version`).
    #[serde(default)]
    pub configuration_version_id: Option<String>,
}

/// What run to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Carries the execution tag so a retried step finds the run it created.
    pub message: String,
    /// Speculative (plan-only) run: cannot be applied.
    pub plan_only: bool,
    /// `target-addrs` for a remediation run; empty for a full plan.
    pub target_addrs: Vec<String>,
}

/// A workspace as HCP Terraform describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfcWorkspace {
    pub id: String,
    pub name: String,
    pub organization: String,
    /// `remote`, `agent` (runs wait for an agent of the workspace's pool) or `local`.
    #[serde(default)]
    pub execution_mode: Option<String>,
    /// The configuration version a new run plans
    /// (`relationships.current-configuration-version`), when it has one.
    #[serde(default)]
    pub current_configuration_version_id: Option<String>,
}

/// Bytes arriving in chunks (an HTTP body being downloaded, or bytes in memory).
#[async_trait]
pub trait ByteStream: Send {
    /// The next chunk; `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// A plan's `terraform show -json`, streamed.
pub type PlanJsonStream = Box<dyn ByteStream>;

/// HCP Terraform / Terraform Enterprise API.
#[async_trait]
pub trait TerraformCloud: Send + Sync {
    async fn workspace(&self, check: &CheckRef) -> Result<TfcWorkspace>;
    /// The newest run of the workspace whose message contains `tag`, if any,
    /// plan-only runs included. The runs list has a lower rate limit than the
    /// rest of the API (30 per minute): call it only when an earlier attempt
    /// may have created the run.
    async fn find_run_by_tag(&self, workspace_id: &str, tag: &str) -> Result<Option<TfcRun>> {
        Ok(self
            .find_runs_by_tag(workspace_id, tag)
            .await?
            .into_iter()
            .next())
    }
    /// Every run on the runs list's first page whose message contains `tag`,
    /// newest first (one runs-list request). Anyone who may queue runs in the
    /// workspace can put the tag in a message: check who created a run
    /// before trusting it.
    async fn find_runs_by_tag(&self, workspace_id: &str, tag: &str) -> Result<Vec<TfcRun>>;
    /// The id of the user the API token acts as (`GET /account/details`;
    /// for team tokens their service user), read once per client.
    async fn token_user(&self) -> Result<String>;
    async fn create_run(&self, workspace_id: &str, spec: &RunSpec) -> Result<TfcRun>;
    async fn read_run(&self, run_id: &str) -> Result<TfcRun>;
    /// `terraform show -json` of a plan as it downloads; `None` while HCP
    /// Terraform answers 204 (not ready).
    async fn plan_json_stream(&self, plan_id: &str) -> Result<Option<PlanJsonStream>>;
    /// The whole plan JSON in memory, for tools and tests (summarize streams).
    async fn plan_json(&self, plan_id: &str) -> Result<Option<Value>> {
        let Some(mut stream) = self.plan_json_stream(plan_id).await? else {
            return Ok(None);
        };
        let mut body = Vec::new();
        while let Some(chunk) = stream.next_chunk().await? {
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            crate::Error::TfcProtocol(format!("the JSON of plan {plan_id} is not valid JSON: {e}"))
        })
    }
    /// The last `lines` lines of a plan's log (what an errored plan says), if it has one.
    async fn plan_log_tail(&self, plan_id: &str, lines: usize) -> Result<Option<String>>;
    async fn apply_run(&self, run_id: &str, comment: &str) -> Result<()>;
    async fn discard_run(&self, run_id: &str, comment: &str) -> Result<()>;
    async fn cancel_run(&self, run_id: &str, comment: &str) -> Result<()>;
    /// Browser link to a run.
    fn run_url(&self, check: &CheckRef, run_id: &str) -> String;
}

/// What the remediate function noted about one execution's remediation
/// run (the history table in production).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationAttempt {
    /// Epoch seconds when an attempt of create first got as far as asking
    /// for the run (noted just before its `POST /runs`).
    pub requested_at: i64,
    /// The run created: stored right after `POST /runs` answered, or when a
    /// retry found (and verified) the run an earlier attempt created.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The run the safety check found safe (written after `assess`); apply
    /// confirms only this run.
    #[serde(default)]
    pub safe_run_id: Option<String>,
}

/// Remediation attempts by check and execution. Mirrors the batch's
/// `run_requested` mark of the create-run step: the runs list is read (and
/// a run found by its tag trusted, after checks) only when an earlier
/// attempt may have created the run; apply and poll act only on runs noted here.
#[async_trait]
pub trait RemediationLedger: Send + Sync {
    /// The attempt of this execution, if create got as far as asking for a run.
    async fn attempt(
        &self,
        check: &CheckRef,
        execution_id: &str,
    ) -> Result<Option<RemediationAttempt>>;
    /// Notes, before `POST /runs`, that this execution's run may exist from
    /// now on. Idempotent (the first time is kept).
    async fn mark_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<()>;
    /// Stores the created run. False (nothing changed) when another run is
    /// already stored for the execution.
    async fn set_run(&self, check: &CheckRef, execution_id: &str, run_id: &str) -> Result<bool>;
    /// Notes that the safety check found exactly this run safe. False
    /// (nothing changed) when it is not the execution's stored run.
    async fn record_safe(&self, check: &CheckRef, execution_id: &str, run_id: &str)
    -> Result<bool>;
}

/// Request budgets for HCP Terraform shared by every container (its rate
/// limit is per user, not per caller). See [`crate::pacing`].
#[async_trait]
pub trait RequestPacer: Send + Sync {
    /// Reserves the slot for one request of `budget` arriving at `now_us`
    /// (microseconds since the epoch).
    async fn reserve(&self, budget: &Budget, now_us: i64) -> Result<Reservation>;
}

/// Secrets by name. Values are never logged.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's value, cached per container.
    async fn secret(&self, name: &str) -> Result<String>;
    /// Re-read the secret (after a 401: the token may have been rotated).
    async fn refresh(&self, name: &str) -> Result<String>;
}

/// Result of trying to open a coalescing batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BatchJoin {
    /// This execution opened the batch and owns the check.
    Opened,
    /// The change joined a batch owned by another execution.
    Joined { owner_execution_id: String },
}

/// Every change of a closed batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedBatch {
    pub changes: Vec<Change>,
    /// Changes left out because the batch was at capacity.
    pub omitted: usize,
    /// True when this call closed the open batch, so no earlier attempt of the
    /// create step got as far as creating a run. False when an earlier attempt
    /// closed it (a retry or redrive) or the batch could not be found: then
    /// `run_requested` says whether the run may exist already.
    #[serde(default)]
    pub closed_now: bool,
    /// True when an earlier attempt of the create step may have sent its
    /// `POST /runs`: it marks the batch first ([`BatchStore::mark_run_requested`]).
    /// Only then is the run looked up by its tag, so a retry after a refused
    /// or paced request spares the runs list (30 requests a minute).
    #[serde(default)]
    pub run_requested: bool,
}

/// The current tags of changed resources, for routes that filter on tags
/// (the record of a modifying call shows none).
#[async_trait]
pub trait TagLookup: Send + Sync {
    /// The tags of every resource of `query`; [`ResourceTags::Unknown`] when
    /// they cannot be read here (another account). An outage is an error
    /// (`AwsUnavailable`: the step is retried); so is a missing permission.
    async fn current_tags(&self, query: &TagQuery) -> Result<ResourceTags>;
}

/// Coalescing batches: one open batch per workspace.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Opens a batch owned by `execution_id`, or joins the open one (conditional write).
    /// A batch older than `join_window_seconds` is not joined: its owner may have died.
    async fn open_or_join(
        &self,
        check: &CheckRef,
        execution_id: &str,
        change: &Change,
        now_epoch: i64,
        join_window_seconds: i64,
    ) -> Result<BatchJoin>;
    /// Closes the batch owned by `execution_id` and returns its changes. Idempotent:
    /// a second call returns the same changes (with `closed_now` false).
    async fn close(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<ClosedBatch>;
    /// Notes, before the create step sends its `POST /runs`, that this
    /// execution's run may exist from now on: a later [`BatchStore::close`]
    /// of the same execution answers `run_requested`. Idempotent; works for
    /// an execution that owns no batch too.
    async fn mark_run_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<()>;
}

/// Check records and the workspace's last drift fingerprint (the record
/// step writes them with the check's episode writes in one transaction).
#[async_trait]
pub trait CheckRecords: Send + Sync {
    /// Stores a record unless one exists for the same check and execution,
    /// and — in the same atomic write — sets the workspace's last drift
    /// fingerprint when `latest_fingerprint` is given. Returns false (and
    /// changes nothing) when the record already existed. A `CheckFailed`
    /// record is replaced by the real outcome of a redriven execution, or by
    /// the failure of a later redrive.
    async fn put_record(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
    ) -> Result<bool> {
        self.put_check(record, latest_fingerprint, &[]).await
    }

    /// [`CheckRecords::put_record`] with the check's drift-episode writes in
    /// the same atomic write (at most [`crate::episodes::EPISODE_ITEM_BUDGET`]
    /// items). When an episode changed since it was read (another check of the
    /// workspace), nothing is written and the error is `AwsUnavailable`, so the
    /// step is retried and plans again.
    async fn put_check(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
        episodes: &[EpisodeWrite],
    ) -> Result<bool>;

    /// The record of one check of one execution (its key is computable).
    async fn get_record(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
    ) -> Result<Option<HistoryRecord>>;

    /// Newest records first.
    async fn list_records(&self, check: &CheckRef, limit: usize) -> Result<Vec<HistoryRecord>>;

    /// The workspace's last drift fingerprint ("" = no drift), used to not re-alert.
    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>>;

    /// Adds a warning to a stored record, once per kind; false when the
    /// record already has one of that kind or does not exist.
    async fn add_warning(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
        warning: &Warning,
    ) -> Result<bool>;
}

/// Alert markers: an alert goes out once per execution and outcome.
#[async_trait]
pub trait AlertMarkers: Send + Sync {
    /// Marks that the alert of this execution was sent; false if it was already marked.
    async fn mark_notified(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<bool>;

    async fn was_notified(&self, check: &CheckRef, execution_id: &str) -> Result<bool>;
}

/// Drift episodes, open and resolved (the record step, metrics, Security Hub).
#[async_trait]
pub trait EpisodeStore: Send + Sync {
    /// The workspace's open drift episodes.
    async fn open_episodes(&self, check: &CheckRef) -> Result<Vec<Episode>>;

    /// Episodes resolved at or after `since` (RFC 3339), oldest first.
    async fn resolved_episodes(&self, check: &CheckRef, since: &str) -> Result<Vec<Episode>>;

    /// The start time of the workspace's oldest check started at or after
    /// `since` (where its drift-free ratio window begins).
    async fn first_check_since(&self, check: &CheckRef, since: &str) -> Result<Option<String>>;
}

/// Accepted drift: a person's acceptance of a drift fingerprint, until a date.
#[async_trait]
pub trait AcceptedDrift: Send + Sync {
    /// The acceptance of this drift fingerprint still in force at `now_epoch`
    /// (written with a `DriftAccepted` record), if any.
    async fn active_acceptance(
        &self,
        check: &CheckRef,
        fingerprint: &str,
        now_epoch: i64,
    ) -> Result<Option<Acceptance>>;
}

/// The whole check history (DynamoDB in production): every capability, for
/// the steps that need them all (record, on-failure). Each other step takes
/// only the capability it uses.
pub trait HistoryStore: CheckRecords + AlertMarkers + EpisodeStore + AcceptedDrift {}

impl<T> HistoryStore for T where
    T: CheckRecords + AlertMarkers + EpisodeStore + AcceptedDrift + ?Sized
{
}

/// History for people (dashboard, CLI): records by time and the workspaces
/// that have history.
#[async_trait]
pub trait HistoryReader: HistoryStore {
    /// Records of checks started at or after `since`, newest first, at most `limit`.
    async fn records_since(
        &self,
        check: &CheckRef,
        since: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>>;
    /// Workspaces with a recorded outcome (a last fingerprint), sorted.
    async fn workspaces(&self) -> Result<Vec<CheckRef>>;
}

/// Where the metrics of recorded checks go: CloudWatch in production (an
/// embedded-metric-format line on standard output, [`crate::aws::EmfMetrics`]).
/// Publishing never fails a check: a metric lost is better than a record
/// written twice.
pub trait MetricsSink: Send + Sync {
    /// One recorded check's metrics, timestamped `at`.
    fn publish(&self, metrics: &CheckMetrics, at: chrono::DateTime<chrono::Utc>);
}

/// Security findings (AWS Security Hub in production).
#[async_trait]
pub trait FindingsPublisher: Send + Sync {
    /// Creates or updates findings by id; an update older than the stored
    /// finding (`UpdatedAt`) changes nothing, so publishing again is harmless.
    async fn publish(&self, findings: &[Finding]) -> Result<()>;
}

/// Where a decision request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// The alert with the buttons is posted; the execution has not reached
    /// `Wait for approval` yet (no task token).
    Posted,
    /// The execution waits; the task token is stored.
    Waiting,
    Decided,
    /// The wait timed out: clicks answer "this check has expired".
    Expired,
}

/// One decision request: what the buttons' opaque id stands for.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The opaque id in the buttons' `value` (task tokens are up to 2,048
    /// characters; a button value holds 2,000).
    pub id: String,
    pub check: CheckRef,
    pub execution_id: String,
    pub thread: ThreadRef,
    pub status: ApprovalStatus,
    /// Epoch seconds after which the wait has timed out (set with the token).
    #[serde(default)]
    pub deadline: Option<i64>,
    /// The waiting task's token: a credential for the execution, never logged.
    #[serde(default)]
    pub task_token: Option<String>,
    #[serde(default)]
    pub decision: Option<ApprovalDecision>,
}

impl std::fmt::Debug for ApprovalRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalRequest")
            .field("id", &self.id)
            .field("check", &self.check)
            .field("execution_id", &self.execution_id)
            .field("status", &self.status)
            .field("deadline", &self.deadline)
            .field("has_task_token", &self.task_token.is_some())
            .field("decision", &self.decision)
            .finish()
    }
}

/// What storing the task token found.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenStored {
    /// The execution now waits for a click.
    Waiting,
    /// A person decided before the token was stored: deliver it now.
    AlreadyDecided(ApprovalDecision),
}

/// What recording a decision found.
#[derive(Clone, PartialEq)]
pub enum DecisionRecorded {
    /// This click decided; deliver the decision with the token (when the
    /// execution already waits).
    Decided {
        task_token: Option<String>,
    },
    /// Someone decided before (a second click): nothing to do.
    AlreadyDecided(ApprovalDecision),
    /// The wait timed out before.
    Expired,
    Unknown,
}

impl std::fmt::Debug for DecisionRecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecisionRecorded::Decided { task_token } => f
                .debug_struct("Decided")
                .field("has_task_token", &task_token.is_some())
                .finish(),
            DecisionRecorded::AlreadyDecided(d) => {
                f.debug_tuple("AlreadyDecided").field(d).finish()
            }
            DecisionRecorded::Expired => f.write_str("Expired"),
            DecisionRecorded::Unknown => f.write_str("Unknown"),
        }
    }
}

/// Decision requests by id (DynamoDB in production). Every change is one
/// conditional write, so a click and the waiting step never both miss each other.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Stores a new request (status `Posted`); an existing one is kept (a retried step).
    async fn create(&self, request: &ApprovalRequest, now_epoch: i64) -> Result<()>;
    async fn get(&self, id: &str) -> Result<Option<ApprovalRequest>>;
    /// `Posted` → `Waiting` with the token and deadline (a retried wait
    /// replaces its token). When it is `Decided` already, the token is still
    /// kept — it is the one the decision is delivered with from now on, so a
    /// click's failed delivery to an older token undoes or expires nothing.
    async fn store_token(&self, id: &str, task_token: &str, deadline: i64) -> Result<TokenStored>;
    /// `Posted`/`Waiting` → `Decided`, once.
    async fn decide(
        &self,
        id: &str,
        decision: &ApprovalDecision,
        now_epoch: i64,
    ) -> Result<DecisionRecorded>;
    /// Undoes a decision whose delivery with `task_token` failed for a
    /// passing reason, so the person can click again — only while that token
    /// is still the one in use (else a newer attempt of the wait delivers it).
    /// Answers whether it was undone.
    async fn undo_decision(&self, id: &str, task_token: &str) -> Result<bool>;
    /// The wait is over without a decision. With `task_token`: the wait that
    /// token belonged to ended before a decision delivered with it arrived —
    /// expired (the undelivered decision removed) only while that token is
    /// still the one in use. Without: only an undecided request expires.
    /// Answers whether it expired.
    async fn expire(&self, id: &str, task_token: Option<&str>) -> Result<bool>;
}

/// What delivering a decision to a waiting execution found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDelivery {
    Delivered,
    /// The task timed out, the execution ended or the token is unknown.
    Gone(String),
}

/// Step Functions task callbacks (`SendTaskSuccess`).
#[async_trait]
pub trait TaskCallbacks: Send + Sync {
    async fn send_success(&self, task_token: &str, output: &Value) -> Result<TaskDelivery>;
}

/// A Step Functions execution, as the on-failure handler needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionDescription {
    pub execution_arn: String,
    /// The execution input (the EventBridge event).
    pub input: Value,
    /// RFC 3339.
    pub started_at: String,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    /// The state the execution failed in (a redrive resumes there).
    #[serde(default)]
    pub failed_state: Option<String>,
    /// How often the execution has been redriven (0 before any redrive).
    #[serde(default)]
    pub redrive_count: u32,
    /// What the admission step answered (`$.admission`), when it got that far.
    #[serde(default)]
    pub admission: Option<Value>,
    /// Indexes (into the admission's `checks`) of the checks that finished:
    /// their Map iteration succeeded, in this run or an earlier one.
    #[serde(default)]
    pub finished_checks: Vec<usize>,
}

/// Reads executions (Step Functions in production).
#[async_trait]
pub trait ExecutionReader: Send + Sync {
    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription>;
}
