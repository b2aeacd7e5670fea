//! The contracts between steps: the JSON each Lambda reads and writes in the
//! Step Functions state document (docs/architecture.md, "Crates and ports"). Snake_case, and every list
//! that can grow with user activity is capped and says how many were left out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod episodes;
mod findings;
mod history;
mod pacing;
mod tags;

pub use episodes::*;
pub use findings::*;
pub use history::*;
pub use pacing::*;
pub use tags::*;

/// Most changes carried in one plan's state (a burst of 1,000 events must
/// stay far below the 256 KiB state limit).
pub const MAX_CHANGES_IN_STATE: usize = 25;
/// Most drifted resources carried in one drift report.
pub const MAX_RESOURCES_IN_STATE: usize = 50;
/// Most pending-code resources, informational addresses and possibly-managed
/// resources carried in one drift report.
pub const MAX_SIDE_LIST_IN_STATE: usize = 20;

/// What the admission step decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// This execution owns at least one check.
    Admit,
    /// Not a change DriftGuard checks (see `reason`).
    Ignore,
    /// Every routed workspace already has an open batch; the change joined it.
    Coalesce,
}

/// Who made the change, from CloudTrail `userIdentity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// CloudTrail identity type: `IAMUser`, `AssumedRole`, `Root`, `AWSService`…
    #[serde(rename = "type")]
    pub actor_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
}

/// One AWS write call, as extracted from CloudTrail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    /// RFC 3339, as CloudTrail wrote it.
    pub event_time: String,
    pub aws_region: String,
    pub account_id: String,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Resource ids or ARNs the call touched.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// One workspace to check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckRef {
    pub organization: String,
    pub workspace: String,
}

impl std::fmt::Display for CheckRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.organization, self.workspace)
    }
}

/// A change that joined another execution's open batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinedBatch {
    pub check: CheckRef,
    /// The execution that owns the batch and will plan for it.
    pub owner_execution_id: String,
}

/// Input of the admit-event function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmitRequest {
    /// The EventBridge event as delivered (any JSON: malformed input is ignored with a reason).
    pub event: Value,
    pub execution_id: String,
}

/// Output of the admit-event function (`$.admission`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    pub decision: Decision,
    /// A sentence for people reading the execution.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Checks this execution owns.
    #[serde(default)]
    pub checks: Vec<CheckRef>,
    /// Batches of other executions this change joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<JoinedBatch>,
}

/// The per-check input built by the Map state's `ItemSelector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckContext {
    pub check: CheckRef,
    pub change: Change,
    pub execution_id: String,
    /// Execution start time (RFC 3339): part of the history key, stable across redrives.
    pub started_at: String,
}

/// Input of create-run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRunRequest {
    pub check: CheckRef,
    pub change: Change,
    pub execution_id: String,
}

/// A run DriftGuard created (`$.run` for the drift plan, `$.remediation` for the fix).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub run_url: String,
    pub workspace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// RFC 3339; the plan timeout counts from here.
    pub created_at: String,
    /// Every change coalesced into this plan (capped at [`MAX_CHANGES_IN_STATE`]).
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub changes_omitted: usize,
    /// Addresses targeted (remediation runs only; capped at
    /// [`MAX_RESOURCES_IN_STATE`], the run itself has them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_addrs: Vec<String>,
    /// Targets left out of `target_addrs`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub targets_omitted: usize,
    /// The workspace's execution mode when the run was created (`agent`: the
    /// run waits for one of the workspace's agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    /// When the plan is expected to finish, in seconds from `created_at`,
    /// learned from the workspace's recent plans (none: no history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_finish_seconds: Option<u64>,
    /// How long the state machine waits before the first poll (drift plan
    /// runs): just past the expected finish, or short without history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_wait_seconds: Option<u64>,
    /// Drift plan runs: when a remediation plan of this workspace is
    /// expected to be ready (confirmable), in seconds from its creation,
    /// learned from the remediations among its recent checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_remediation_plan_seconds: Option<u64>,
    /// Drift and remediation runs: when an apply of this workspace is expected
    /// to finish, in seconds from the apply request, learned the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_apply_seconds: Option<u64>,
}

/// Where a run is, reduced from its many HCP Terraform statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Still working (queued, planning, applying, policy checks…). Unknown statuses land here.
    Running,
    /// Plan done and nothing more will happen (speculative or no-change runs).
    Planned,
    /// Plan done and every check after it passed: the run is confirmable
    /// (`actions.is-confirmable`) and waits for an apply or a discard.
    AwaitingApply,
    /// A soft-mandatory policy or a mandatory run task failed: the run waits
    /// for a person with permission to override it (`policy_override`,
    /// `post_plan_awaiting_decision`). DriftGuard never overrides.
    NeedsOverride,
    Applied,
    Errored,
    Canceled,
    Discarded,
}

/// Input of poll-run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollRequest {
    pub check: CheckRef,
    pub run: RunInfo,
    /// The previous poll, absent on the first one.
    #[serde(default)]
    pub poll: Option<PollState>,
    /// Set while waiting for a remediation apply: the apply's own bound
    /// counts from its request, and a running apply is never canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyRequested>,
    /// The execution the run belongs to: a run past its timeout is canceled
    /// or discarded only when it carries this execution's tag and was created
    /// by DriftGuard's token user. Without it, nothing is canceled or discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
}

/// Output of poll-run (`$.poll`, `$.remediation_poll`, `$.apply_poll`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollState {
    pub phase: Phase,
    /// The raw HCP Terraform status.
    pub status: String,
    #[serde(default)]
    pub has_changes: Option<bool>,
    /// Seconds the state machine waits before the next poll.
    pub next_wait_seconds: u64,
    pub polls: u32,
    pub elapsed_seconds: u64,
    /// What the run is doing or waiting for, in words (queued behind other
    /// runs, waiting for an agent, policy checks running…), or why it ended
    /// (an errored plan's last log lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the plan took, from the run's creation to its finished
    /// status (HCP Terraform's status timestamps): set by the poll that saw
    /// the plan finish; the workspace's next schedule learns from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<u64>,
    /// How long the remediation's apply took, from the apply request to
    /// `applied` (set by the apply poll that saw it applied; that poll also
    /// carries the remediation plan's `plan_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_seconds: Option<u64>,
}

/// Input of summarize-drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummarizeRequest {
    pub check: CheckRef,
    pub run: RunInfo,
}

/// One drifted resource: changed outside Terraform, and a normal plan would
/// change it back. Attribute names only, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftedResource {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Planned actions (`update`; `["delete","create"]` for a replace; `create`
    /// for a resource deleted outside Terraform). In a refresh-only plan, what
    /// happened outside: `update` or `delete`.
    pub actions: Vec<String>,
    /// Drifted attribute paths, e.g. `ingress`, `tags.CostCenter`; empty when the
    /// whole resource drifted (deleted outside Terraform).
    pub changed_attributes: Vec<String>,
    /// Deleted outside Terraform.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The plan would also apply unapplied code changes to this resource
    /// (listed in `pending_changes`): remediating it would apply them too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub also_pending_code: bool,
    /// The address before a `moved` block renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_address: Option<String>,
    /// Hex SHA-256 over each drifted path (the full list, before it is
    /// collapsed for length) and a hash of its live value: the same paths
    /// changed again give another `values_hash`. Never a value; a sensitive
    /// path counts by its name only. Empty in reports made before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values_hash: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A resource with unapplied code changes: the plan changes it, but nothing
/// changed outside Terraform there. Reported, never drift, never remediated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub actions: Vec<String>,
    /// Paths the code changes; empty for a whole-resource create, delete or
    /// change whose values are unknown until apply.
    pub changed_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_address: Option<String>,
}

/// Resources with unapplied code changes (capped list, full count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChanges {
    pub count: usize,
    pub resources: Vec<PendingChange>,
    #[serde(default)]
    pub omitted: usize,
}

/// A resource and attribute paths (names only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePaths {
    pub address: String,
    pub paths: Vec<String>,
}

/// Changes outside Terraform that are not drift: not reverted by a plan
/// (computed attributes, `ignore_changes`, attributes mirrored from other
/// resources). Counted, never alerted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Informational {
    pub count: usize,
    pub addresses: Vec<String>,
    #[serde(default)]
    pub omitted: usize,
    /// Refresh-only plans without a provider schema: attributes changed outside
    /// that the configuration does not set, so whether Terraform manages them
    /// cannot be told. Not counted as drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possibly_managed: Vec<ResourcePaths>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub possibly_managed_count: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// How the plan was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// `terraform plan`: drift is what the plan would change back.
    #[default]
    Normal,
    /// `terraform plan -refresh-only`: drift is what changed outside in
    /// attributes the configuration manages.
    RefreshOnly,
}

/// The drift report (`$.drift`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub drifted: bool,
    /// Drifted resources in total (including any left out of `resources`).
    pub resource_count: usize,
    /// Drifted resources only.
    pub resources: Vec<DriftedResource>,
    /// True when `resources` was capped; `omitted` says by how many.
    pub truncated: bool,
    #[serde(default)]
    pub omitted: usize,
    /// Drifted resources left out by ignore rules.
    #[serde(default)]
    pub ignored: usize,
    /// Stable hash of the drifted addresses, paths and live values (each
    /// resource's `values_hash`); empty when no drift. Alert suppression and
    /// acceptances are bound to it.
    pub fingerprint: String,
    /// The same hash without the values: equal for the same addresses and
    /// paths whatever their values (the key of "the same drift, changed again").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub paths_fingerprint: String,
    #[serde(default)]
    pub pending_changes: PendingChanges,
    #[serde(default)]
    pub informational: Informational,
    #[serde(default)]
    pub plan_mode: PlanMode,
    /// What the verdict cannot see (e.g. `ignore_changes` in refresh-only plans).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the remediate function is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationAction {
    /// Create a normal run targeted to the drifted addresses.
    Create,
    /// Safety check of the remediation plan; discards the run if unsafe.
    Assess,
    /// Confirm (apply) the remediation run.
    Apply,
}

/// Input of remediate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediateRequest {
    pub action: RemediationAction,
    pub check: CheckRef,
    pub execution_id: String,
    #[serde(default)]
    pub drift: Option<DriftReport>,
    /// The drift-check run (for `create`: when the report's list was capped,
    /// every drifted address is read again from its plan).
    #[serde(default)]
    pub run: Option<RunInfo>,
    /// The remediation run (for `assess` and `apply`).
    #[serde(default)]
    pub remediation: Option<RunInfo>,
    /// Who approved the fix (named in the run's message and apply comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
}

/// Output of the `create` action (`$.remediation`): the remediation run, or
/// why none was created (`skipped`: the deployed `remediation_mode` forbids
/// it; the state machine then records `RemediationSkipped` with its reason).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemediationCreated {
    #[serde(flatten)]
    pub run: RunInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SafetyAssessment>,
}

impl std::ops::Deref for RemediationCreated {
    type Target = RunInfo;
    fn deref(&self) -> &RunInfo {
        &self.run
    }
}

/// Output of the `assess` action (`$.safety`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SafetyAssessment {
    pub safe: bool,
    pub reason: String,
    /// Addresses the plan would destroy or replace.
    #[serde(default)]
    pub destructive_addresses: Vec<String>,
    /// Whether the unsafe run was discarded.
    #[serde(default)]
    pub discarded: bool,
    /// Drifted addresses the remediation plan changes back (capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverts: Vec<String>,
    #[serde(default)]
    pub reverts_count: usize,
    /// Targets the remediation plan leaves alone: no longer drifted when it was planned (capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_longer_drifted: Vec<String>,
}

/// Output of the `apply` action (`$.apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRequested {
    pub run_id: String,
    /// True when the apply was requested now or by an earlier attempt.
    pub requested: bool,
    /// RFC 3339: when the apply was asked for; the apply's bound counts from here.
    #[serde(default)]
    pub requested_at: Option<String>,
    /// Why no apply was requested (the run was no longer confirmable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the remediation plan took to become confirmable (seconds
    /// from the run's creation), read when the apply was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<u64>,
    /// When the apply is expected to finish, in seconds from `requested_at`
    /// (none: no applies in the workspace's recent history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_finish_seconds: Option<u64>,
    /// How long the state machine waits before the first apply poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_wait_seconds: Option<u64>,
    /// Set when the apply was refused (the deployed `remediation_mode`
    /// forbids it, or the run is not one DriftGuard created and assessed
    /// safe): the state machine records `RemediationSkipped` with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SafetyAssessment>,
}

/// History status values (docs/architecture.md, "History table").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckStatus {
    NoDrift,
    DriftDetected,
    Remediated,
    RemediationSkipped,
    RemediationFailed,
    /// A person accepted the drift until a date (approval mode): it is not
    /// alerted again until then.
    DriftAccepted,
    /// A person dismissed the drift alert (approval mode): nothing was changed.
    DriftDismissed,
    /// Nobody decided within `approval_timeout_hours`: nothing was changed.
    ApprovalExpired,
    CheckFailed,
}

impl CheckStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckStatus::NoDrift => "NoDrift",
            CheckStatus::DriftDetected => "DriftDetected",
            CheckStatus::Remediated => "Remediated",
            CheckStatus::RemediationSkipped => "RemediationSkipped",
            CheckStatus::RemediationFailed => "RemediationFailed",
            CheckStatus::DriftAccepted => "DriftAccepted",
            CheckStatus::DriftDismissed => "DriftDismissed",
            CheckStatus::ApprovalExpired => "ApprovalExpired",
            CheckStatus::CheckFailed => "CheckFailed",
        }
    }

    /// Outcomes that follow a person's decision (or its absence) in approval
    /// mode. Their record replaces the check's `DriftDetected` record, written
    /// before the alert asked for the decision.
    pub fn follows_decision(&self) -> bool {
        matches!(
            self,
            CheckStatus::Remediated
                | CheckStatus::RemediationSkipped
                | CheckStatus::RemediationFailed
                | CheckStatus::DriftAccepted
                | CheckStatus::DriftDismissed
                | CheckStatus::ApprovalExpired
        )
    }
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a remediation, for records and messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemediationOutcome {
    #[serde(default)]
    pub run: Option<RunInfo>,
    #[serde(default)]
    pub safety: Option<SafetyAssessment>,
    /// Final status of the remediation run (`applied`, `errored`, …).
    #[serde(default)]
    pub final_poll: Option<PollState>,
}

/// Why a check failed (from the execution's failure event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub error: String,
    pub cause: String,
    /// The state where the execution failed (a redrive resumes there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
    /// How often the execution had been redriven when it failed (0: the first run).
    #[serde(default)]
    pub redrive_count: u32,
}

/// Input of record and notify: everything known about one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    pub check: CheckRef,
    pub execution_id: String,
    pub started_at: String,
    #[serde(default)]
    pub change: Option<Change>,
    #[serde(default)]
    pub run: Option<RunInfo>,
    #[serde(default)]
    pub drift: Option<DriftReport>,
    #[serde(default)]
    pub remediation: Option<RemediationOutcome>,
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The decision that led here: a person's (approval mode) or automatic
    /// (auto mode). Absent when nobody was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    /// The drift plan's last poll (its duration is kept with the history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollState>,
}

/// Output of record (`$.record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordResult {
    pub status: CheckStatus,
    /// False when this execution's record already existed (a retried or redriven step).
    pub stored: bool,
    /// The workspace's fingerprint before this check; equal fingerprints are not re-alerted.
    #[serde(default)]
    pub previous_fingerprint: Option<String>,
    /// The acceptance still covering this drift (same fingerprint, date not
    /// passed): the drift is not alerted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// Something that went wrong after a check was recorded, kept on its record
/// without changing its outcome (the e-mail alert could not be sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What it is about (`email`): one warning of each kind per record.
    pub kind: String,
    pub error: String,
    #[serde(default)]
    pub cause: String,
}

/// Input of record when a step after it failed without failing the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningRequest {
    pub warning: Warning,
    pub check: CheckRef,
    pub execution_id: String,
    pub started_at: String,
}

/// Output of record for a warning (`$.email_warning`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningNoted {
    /// False when it was already noted (a retried step) or the record is missing.
    pub noted: bool,
}

/// Input of the record function: a check's outcome, or a warning about a
/// check already recorded. Told apart by the `warning` key, so a malformed
/// input gets the error of the shape it was meant to have.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RecordRequest {
    Warning(WarningRequest),
    Outcome(Box<CheckOutcome>),
}

impl<'de> Deserialize<'de> for RecordRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.get("warning").is_some() {
            serde_json::from_value(value)
                .map(RecordRequest::Warning)
                .map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(|o| RecordRequest::Outcome(Box::new(o)))
                .map_err(serde::de::Error::custom)
        }
    }
}

/// Output of the record function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordResponse {
    Recorded(Box<RecordResult>),
    Noted(WarningNoted),
}

/// Input of notify: the outcome plus what record found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyRequest {
    #[serde(flatten)]
    pub outcome: CheckOutcome,
    #[serde(default)]
    pub record: Option<RecordResult>,
    /// Given to the first drift alert: in `approval` mode it carries the
    /// decision buttons (when the workspace's route has a Slack app channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_mode: Option<RemediationMode>,
    /// How long the decision buttons stay usable (the alert says until when).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_seconds: Option<u64>,
}

/// Output of notify (`$.notification`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub sent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_reason: Option<String>,
    /// The alert carries decision buttons and the check waits for a person
    /// (`Wait for approval`). Always present: the state machine branches on it.
    #[serde(default)]
    pub approval_requested: bool,
    /// The opaque id the buttons carry (maps to the waiting task's token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The Slack thread of this drift (Slack app only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadRef>,
}

/// A Slack message: its channel and timestamp (`ts`), which is also the
/// thread's id for replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRef {
    pub channel: String,
    pub ts: String,
}

/// What happens when a check finds drift (`remediation_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationMode {
    /// Report only.
    #[default]
    Off,
    /// Report with Fix / Accept / Dismiss buttons and wait for a person.
    Approval,
    /// Remediate without asking (the safety check still applies).
    Auto,
}

/// What a person (or the automatic mode) decided about a drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftDecision {
    /// Remediate: a run targeted to the drifted resources.
    Fix,
    /// Keep the drift until a date; it is not alerted again until then.
    Accept,
    /// Do nothing.
    Dismiss,
}

impl DriftDecision {
    pub fn as_str(&self) -> &'static str {
        match self {
            DriftDecision::Fix => "fix",
            DriftDecision::Accept => "accept",
            DriftDecision::Dismiss => "dismiss",
        }
    }
}

/// A Slack user, as an interaction payload names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackUser {
    /// `U…` or `W…`.
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// A decision about a drift (`$.approval`): what, by whom, when; for an
/// acceptance also why and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub decision: DriftDecision,
    /// Decided by DriftGuard itself (`remediation_mode = "auto"`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub automatic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<SlackUser>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// Why the drift is accepted (accept only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`) the acceptance covers (accept only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// An accepted drift: that fingerprint is not alerted until `until_epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub fingerprint: String,
    pub by: SlackUser,
    pub reason: String,
    /// The last day covered (UTC, `YYYY-MM-DD`).
    pub until: String,
    /// The end of that day (epoch seconds): alerts resume after it.
    pub until_epoch: i64,
    /// RFC 3339.
    pub accepted_at: String,
    /// The execution where it was accepted.
    pub execution_id: String,
}

impl Acceptance {
    /// Still covers its drift at `now_epoch`.
    pub fn is_active(&self, now_epoch: i64) -> bool {
        now_epoch < self.until_epoch
    }
}

/// Input of the `Wait for approval` step (the notify function, invoked with
/// `.waitForTaskToken`): keep the task token for the decision buttons.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitDecisionRequest {
    pub check: CheckRef,
    pub execution_id: String,
    pub approval_id: String,
    /// `$$.Task.Token`: never logged, never in the state document.
    pub task_token: String,
    /// The step's timeout: past it the check ends `ApprovalExpired`.
    pub timeout_seconds: u64,
}

/// The task token is a credential for the waiting execution: never printed.
impl std::fmt::Debug for AwaitDecisionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitDecisionRequest")
            .field("check", &self.check)
            .field("execution_id", &self.execution_id)
            .field("approval_id", &self.approval_id)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish_non_exhaustive()
    }
}

/// What `Read the decision` asks the notify function for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyAction {
    /// Read the decision the callback receiver recorded.
    ReadDecision,
}

/// Input of the `Read the decision` step (the notify function with
/// `action: "read_decision"`), right after `Wait for approval`: the decision
/// is read from the decision request the verified callback receiver wrote,
/// never taken from the wait's output (a `SendTaskSuccess` is a wake-up only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadDecisionRequest {
    pub action: NotifyAction,
    pub check: CheckRef,
    pub execution_id: String,
    pub approval_id: String,
}

/// The `decision` `Read the decision` answers when the request holds no
/// decision the receiver recorded (`Decision?` → `No recorded decision`).
pub const NO_RECORDED_DECISION: &str = "none";

/// Output of on-failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureHandled {
    pub execution_id: String,
    pub checks: Vec<CheckRef>,
    pub recorded: usize,
    pub notified: usize,
    /// Remediation runs the failed execution left waiting, now discarded or canceled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation_runs_stopped: Vec<String>,
}

/// What a check did to the workspace's episodes (kept in its record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeSummary {
    pub opened: usize,
    pub resolved: usize,
    /// Episodes open after the check.
    pub open: usize,
    /// Transitions left for a later check (transaction size).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferred: usize,
}

/// What one recorded check contributes to the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckMetrics {
    /// `organization/workspace`
    pub workspace: String,
    pub status: CheckStatus,
    pub execution_id: String,
    pub drifted_resources: usize,
    pub episodes: Option<EpisodeSummary>,
    /// Seconds, one per opened episode whose cause is known.
    pub time_to_detect: Vec<i64>,
    /// Seconds, one per resolved episode.
    pub time_to_resolve: Vec<i64>,
    /// 0 to 1, when known.
    pub drift_free_ratio: Option<f64>,
}
