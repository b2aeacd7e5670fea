//! History records: one per check and execution, kept `history_retention_days`
//! (DynamoDB TTL on `expires_at`), plus the last drift fingerprint per workspace
//! for alert suppression and the drift episodes ([`crate::episodes`]), all in
//! one table (layout in [`crate::aws::dynamodb`]).

use crate::episodes::{Episode, EpisodeWrite};
use crate::error::{Error, Result};
use crate::model::{Acceptance, CheckOutcome, CheckRef, CheckStatus, DriftReport};

pub use crate::model::HistoryRecord;

/// The current time, for records.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Partition key of a workspace.
pub fn partition_key(check: &CheckRef) -> String {
    format!("WS#{}/{}", check.organization, check.workspace)
}

/// Execution name: the last part of an execution ARN.
pub fn execution_name(execution_id: &str) -> &str {
    execution_id.rsplit(':').next().unwrap_or(execution_id)
}

/// A time as sort keys hold it: UTC, whole seconds (`2026-11-22T10:00:00Z`),
/// so keys sort by time. Text that is no time is kept as it is.
pub fn time_key(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Prefix of the check records' sort keys.
pub const CHECK_PREFIX: &str = "CHECK#";
/// Prefix of open episodes' sort keys (`EPISODE#OPEN#<address>`).
pub const OPEN_EPISODE_PREFIX: &str = "EPISODE#OPEN#";
/// Prefix of resolved episodes' sort keys (`EPISODE#RESOLVED#<time>#<address>`).
pub const RESOLVED_EPISODE_PREFIX: &str = "EPISODE#RESOLVED#";
/// Sorts after every time in a key (`~` follows the digits).
pub const KEY_END: &str = "~";

/// A resource address as a key part; a hash when it is too long for a sort key.
fn address_key(address: &str) -> String {
    if address.len() <= 512 {
        return address.to_string();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

/// Sort key of a resource's open episode (at most one per resource).
pub fn open_episode_key(address: &str) -> String {
    format!("{OPEN_EPISODE_PREFIX}{}", address_key(address))
}

/// Sort key of a resolved episode: by resolution time.
pub fn resolved_episode_key(resolved_at: &str, address: &str) -> String {
    format!(
        "{RESOLVED_EPISODE_PREFIX}{}#{}",
        time_key(resolved_at),
        address_key(address)
    )
}

/// Sort key of a check. The start time is cut to whole seconds in UTC so the
/// state machine's `$$.Execution.StartTime` and `DescribeExecution`'s start
/// date (on-failure) give the same key.
pub fn sort_key(started_at: &str, execution_id: &str) -> String {
    format!(
        "{CHECK_PREFIX}{}#{}",
        time_key(started_at),
        execution_name(execution_id)
    )
}

impl HistoryRecord {
    /// Builds the record of an outcome.
    pub fn from_outcome(
        outcome: &CheckOutcome,
        execution_url: &str,
        now: chrono::DateTime<chrono::Utc>,
        retention_days: u32,
    ) -> Self {
        let (changes, changes_omitted) = match &outcome.run {
            Some(run) => (run.changes.clone(), run.changes_omitted),
            None => (outcome.change.iter().cloned().collect(), 0),
        };
        HistoryRecord {
            pk: partition_key(&outcome.check),
            sk: sort_key(&outcome.started_at, &outcome.execution_id),
            organization: outcome.check.organization.clone(),
            workspace: outcome.check.workspace.clone(),
            status: outcome.status,
            execution_id: outcome.execution_id.clone(),
            execution_url: execution_url.to_string(),
            started_at: outcome.started_at.clone(),
            recorded_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires_at: now.timestamp() + i64::from(retention_days) * 86_400,
            run_id: outcome.run.as_ref().map(|r| r.run_id.clone()),
            run_url: outcome.run.as_ref().map(|r| r.run_url.clone()),
            changes,
            changes_omitted,
            drift: outcome.drift.as_ref().map(drift_for_history),
            pending_code: outcome
                .drift
                .as_ref()
                .and_then(|d| crate::plan::pending_code_sentence(d.pending_changes.count)),
            remediation: outcome.remediation.clone(),
            failure: outcome.failure.clone(),
            fingerprint: outcome
                .drift
                .as_ref()
                .map(|d| d.fingerprint.clone())
                .unwrap_or_default(),
            previous_fingerprint: None,
            earlier_failures: Vec::new(),
            warnings: Vec::new(),
            episodes: None,
            approval: outcome.approval.clone(),
            acceptance: None,
            plan_seconds: outcome.poll.as_ref().and_then(|p| p.plan_seconds),
            workspace_id: outcome
                .run
                .as_ref()
                .map(|r| r.workspace_id.clone())
                .filter(|id| !id.is_empty()),
            execution_mode: outcome.run.as_ref().and_then(|r| r.execution_mode.clone()),
        }
    }

    /// How often the execution had been redriven when this record was made.
    pub fn redrive_count(&self) -> u32 {
        self.failure.as_ref().map_or(0, |f| f.redrive_count)
    }
}

/// The drift report as history keeps it: drifted resources in full; unapplied
/// code and informational changes reduced to their counts.
fn drift_for_history(drift: &DriftReport) -> DriftReport {
    let mut kept = drift.clone();
    kept.pending_changes.omitted += kept.pending_changes.resources.len();
    kept.pending_changes.resources.clear();
    kept.informational.omitted += kept.informational.addresses.len();
    kept.informational.addresses.clear();
    kept.informational.possibly_managed.clear();
    kept
}

/// Whether `new` may replace `existing` for the same execution. A CheckFailed
/// record is replaced by the real outcome of the redriven execution, or by the
/// failure of a later redrive (each failure is recorded). In approval mode the
/// `DriftDetected` record written before the alert is replaced by the outcome
/// that follows the decision (or its absence), or by the failure of the
/// check after a person decided (merged: see [`failure_after_decision`]).
pub fn replaces(existing: &HistoryRecord, new: &HistoryRecord) -> bool {
    match existing.status {
        CheckStatus::CheckFailed => {
            new.status != CheckStatus::CheckFailed || new.redrive_count() > existing.redrive_count()
        }
        CheckStatus::DriftDetected => new.status.follows_decision() || failure_after_decision(new),
        _ => false,
    }
}

/// A `CheckFailed` record of a check that failed after a person decided (a
/// fix that errored): it replaces the check's `DriftDetected` record, keeping
/// its drift and run, with who decided and the remediation run. A failure
/// before any decision (Slack down at the alert) leaves the `DriftDetected`
/// record as it is: a redrive of the alert does not record again.
pub fn failure_after_decision(record: &HistoryRecord) -> bool {
    record.status == CheckStatus::CheckFailed
        && record.approval.as_ref().is_some_and(|a| !a.automatic)
}

/// The end (exclusive, epoch seconds) of an acceptance's last day,
/// `YYYY-MM-DD` in UTC; `None` for anything else.
pub fn end_of_day_epoch(date: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let next = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
    Some(next.and_utc().timestamp())
}

/// The acceptance a `DriftAccepted` outcome makes, from its decision.
pub fn acceptance_of(
    outcome: &CheckOutcome,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Acceptance> {
    let approval = outcome.approval.as_ref()?;
    let until = approval.until.clone()?;
    let fingerprint = outcome.drift.as_ref()?.fingerprint.clone();
    if fingerprint.is_empty() {
        return None;
    }
    Some(Acceptance {
        fingerprint,
        by: approval.by.clone()?,
        reason: approval.reason.clone().unwrap_or_default(),
        until_epoch: end_of_day_epoch(&until)?,
        until,
        accepted_at: approval
            .decided_at
            .clone()
            .unwrap_or_else(|| now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        execution_id: outcome.execution_id.clone(),
    })
}

/// The error a check's write answers when an episode changed since it was read.
pub fn episodes_changed(check: &str) -> Error {
    Error::AwsUnavailable(format!(
        "the drift episodes of {check} changed while this check was being recorded (another check of the workspace); nothing was written and the step is retried"
    ))
}

/// Items of a check's transaction: the record, the fingerprint, the episode
/// writes and the acceptance a `DriftAccepted` record makes. Past
/// [`crate::episodes::MAX_TRANSACTION_ITEMS`] it is refused.
pub fn transaction_items(
    record: &HistoryRecord,
    latest_fingerprint: Option<&str>,
    writes: &[EpisodeWrite],
) -> Result<usize> {
    let items = 1
        + usize::from(latest_fingerprint.is_some())
        + usize::from(accepted_by(record).is_some())
        + writes.iter().map(EpisodeWrite::items).sum::<usize>();
    if items > crate::episodes::MAX_TRANSACTION_ITEMS {
        return Err(Error::InvalidInput(format!(
            "a check's write has {items} items, more than the {} of one DynamoDB transaction; plan episodes with episodes::plan",
            crate::episodes::MAX_TRANSACTION_ITEMS
        )));
    }
    Ok(items)
}

/// Sort key of the resolved item of an episode.
pub fn resolved_key_of(episode: &Episode) -> String {
    resolved_episode_key(
        episode.resolved_at().unwrap_or(&episode.last_seen.at),
        &episode.address,
    )
}

/// The workspace of a partition key (`WS#org/workspace`).
pub fn check_of_partition_key(pk: &str) -> Option<CheckRef> {
    let (organization, workspace) = pk.strip_prefix("WS#")?.split_once('/')?;
    Some(CheckRef {
        organization: organization.to_string(),
        workspace: workspace.to_string(),
    })
}

/// The acceptance a record makes (a `DriftAccepted` record), stored with it.
pub fn accepted_by(record: &HistoryRecord) -> Option<&Acceptance> {
    record
        .acceptance
        .as_ref()
        .filter(|_| record.status == CheckStatus::DriftAccepted)
}
