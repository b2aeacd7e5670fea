//! Ports: what the core needs from the outside world. Each has a real
//! implementation (HTTP, AWS SDK) and an in-memory one for tests.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::model::{Change, CheckRef};

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
    async fn find_run_by_tag(&self, workspace_id: &str, tag: &str) -> Result<Option<TfcRun>>;
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

/// Request budgets for HCP Terraform shared by every container (its rate
/// limit is per user, not per caller). See [`crate::pacing`].
#[async_trait]
pub trait RequestPacer: Send + Sync {
    /// Reserves the slot for one request of `budget` arriving at `now_us`
    /// (microseconds since the epoch).
    async fn reserve(
        &self,
        budget: &crate::pacing::Budget,
        now_us: i64,
    ) -> Result<crate::pacing::Reservation>;
}

/// Secrets by name. Values are never logged.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's value, cached per container.
    async fn secret(&self, name: &str) -> Result<String>;
    /// Re-read the secret (after a 401: the token may have been rotated).
    async fn refresh(&self, name: &str) -> Result<String>;
}

/// A chat webhook (Slack incoming webhook).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Post one Block Kit payload.
    async fn post(&self, payload: &Value) -> Result<()>;
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
    /// closed it (a retry or redrive) or the batch could not be found: then the
    /// run may exist already and must be looked up.
    #[serde(default)]
    pub closed_now: bool,
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
}

/// Check history (DynamoDB in production): check records, the workspace's
/// last drift fingerprint, alert markers and drift episodes.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Stores a record unless one exists for the same check and execution,
    /// and — in the same atomic write — sets the workspace's last drift
    /// fingerprint when `latest_fingerprint` is given. Returns false (and
    /// changes nothing) when the record already existed. A `CheckFailed`
    /// record is replaced by the real outcome of a redriven execution, or by
    /// the failure of a later redrive.
    async fn put_record(
        &self,
        record: &crate::history::HistoryRecord,
        latest_fingerprint: Option<&str>,
    ) -> Result<bool> {
        self.put_check(record, latest_fingerprint, &[]).await
    }
    /// [`HistoryStore::put_record`] with the check's drift-episode writes in
    /// the same atomic write (at most [`crate::episodes::EPISODE_ITEM_BUDGET`]
    /// items). When an episode changed since it was read (another check of the
    /// workspace), nothing is written and the error is `AwsUnavailable`, so the
    /// step is retried and plans again.
    async fn put_check(
        &self,
        record: &crate::history::HistoryRecord,
        latest_fingerprint: Option<&str>,
        episodes: &[crate::episodes::EpisodeWrite],
    ) -> Result<bool>;
    /// The record of one check of one execution (its key is computable).
    async fn get_record(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
    ) -> Result<Option<crate::history::HistoryRecord>>;
    /// Newest records first.
    async fn list_records(
        &self,
        check: &CheckRef,
        limit: usize,
    ) -> Result<Vec<crate::history::HistoryRecord>>;
    /// The workspace's last drift fingerprint ("" = no drift), used to not re-alert.
    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>>;
    /// Adds a warning to a stored record, once per kind; false when the
    /// record already has one of that kind or does not exist.
    async fn add_warning(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
        warning: &crate::model::Warning,
    ) -> Result<bool>;
    /// Marks that the alert of this execution was sent; false if it was already marked.
    async fn mark_notified(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<bool>;
    async fn was_notified(&self, check: &CheckRef, execution_id: &str) -> Result<bool>;
    /// The workspace's open drift episodes.
    async fn open_episodes(&self, check: &CheckRef) -> Result<Vec<crate::episodes::Episode>>;
    /// Episodes resolved at or after `since` (RFC 3339), oldest first.
    async fn resolved_episodes(
        &self,
        check: &CheckRef,
        since: &str,
    ) -> Result<Vec<crate::episodes::Episode>>;
    /// The start time of the workspace's oldest check started at or after
    /// `since` (where its drift-free ratio window begins).
    async fn first_check_since(&self, check: &CheckRef, since: &str) -> Result<Option<String>>;
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
    ) -> Result<Vec<crate::history::HistoryRecord>>;
    /// Workspaces with a recorded outcome (a last fingerprint), sorted.
    async fn workspaces(&self) -> Result<Vec<CheckRef>>;
}

/// Security findings (AWS Security Hub in production).
#[async_trait]
pub trait FindingsPublisher: Send + Sync {
    /// Creates or updates findings by id; an update older than the stored
    /// finding (`UpdatedAt`) changes nothing, so publishing again is harmless.
    async fn publish(&self, findings: &[crate::findings::Finding]) -> Result<()>;
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
