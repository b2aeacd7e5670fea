//! History records: one per check and execution, kept `history_retention_days`
//! (DynamoDB TTL on `expires_at`), plus the last drift fingerprint per workspace
//! for alert suppression and the drift episodes ([`crate::episodes`]), all in
//! one table (layout in [`crate::aws::dynamodb`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::episodes::{Episode, EpisodeSummary, EpisodeWrite};
use crate::error::{Error, Result};
use crate::model::{
    Acceptance, ApprovalDecision, Change, CheckOutcome, CheckRef, CheckStatus, DriftReport,
    Failure, RemediationOutcome, Warning,
};
use crate::ports::{HistoryReader, HistoryStore};

/// The current time, for records.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// One check, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// `WS#<organization>/<workspace>`
    pub pk: String,
    /// `CHECK#<started_at, to the second>#<execution name>`: newest-first listing by time.
    pub sk: String,
    pub organization: String,
    pub workspace: String,
    pub status: CheckStatus,
    pub execution_id: String,
    pub execution_url: String,
    pub started_at: String,
    pub recorded_at: String,
    /// Epoch seconds; DynamoDB TTL deletes the record after it.
    pub expires_at: i64,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_url: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub changes_omitted: usize,
    /// Drifted resources with their paths; unapplied code and informational
    /// changes as counts only (see `pending_code`).
    #[serde(default)]
    pub drift: Option<DriftReport>,
    /// One line for unapplied code changes, e.g. "2 resources have unapplied
    /// code changes (not drift)"; absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_code: Option<String>,
    #[serde(default)]
    pub remediation: Option<RemediationOutcome>,
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Drift fingerprint ("" when no drift).
    #[serde(default)]
    pub fingerprint: String,
    /// The workspace's fingerprint before this check (alert suppression survives retries).
    #[serde(default)]
    pub previous_fingerprint: Option<String>,
    /// Failures of earlier runs of a redriven execution, oldest first (the
    /// latest is `failure`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_failures: Vec<Failure>,
    /// What went wrong after the check was recorded (an e-mail not sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// What the check did to the workspace's drift episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<EpisodeSummary>,
    /// Who decided what about the drift (approval mode), or that the
    /// remediation was automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    /// `DriftAccepted`: the acceptance made (by whom, why, until when).
    /// `DriftDetected`: the acceptance still covering this drift (not alerted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Acceptance>,
    /// How long the drift plan took (seconds from the run's creation to its
    /// finish): the workspace's poll schedule learns from recent ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<u64>,
    /// The workspace's HCP Terraform id and execution mode when it was
    /// checked: the next check creates its run without looking them up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
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
/// that follows the decision (or its absence).
pub fn replaces(existing: &HistoryRecord, new: &HistoryRecord) -> bool {
    match existing.status {
        CheckStatus::CheckFailed => {
            new.status != CheckStatus::CheckFailed || new.redrive_count() > existing.redrive_count()
        }
        CheckStatus::DriftDetected => new.status.follows_decision(),
        _ => false,
    }
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

/// In-memory history (tests, CLI dry runs). Behaves like the DynamoDB store,
/// item by item: `history_store_suite` runs the same checks against both.
#[derive(Default)]
pub struct InMemoryHistory {
    records: Mutex<BTreeMap<(String, String), HistoryRecord>>,
    fingerprints: Mutex<BTreeMap<String, String>>,
    notified: Mutex<BTreeMap<(String, String), i64>>,
    /// Episode items by (pk, sk), as the DynamoDB table holds them.
    episodes: Mutex<BTreeMap<(String, String), Episode>>,
    acceptances: Mutex<BTreeMap<(String, String), Acceptance>>,
}

impl InMemoryHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored record (tests).
    pub fn all(&self) -> Vec<HistoryRecord> {
        self.records
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error a check's write answers when an episode changed since it was read.
pub fn episodes_changed(check: &str) -> Error {
    Error::AwsUnavailable(format!(
        "the drift episodes of {check} changed while this check was being recorded (another check of the workspace); nothing was written and the step is retried"
    ))
}

/// Items of a check's transaction: the record, the fingerprint and the
/// episode writes. Past [`crate::episodes::MAX_TRANSACTION_ITEMS`] it is refused.
pub fn transaction_items(
    latest_fingerprint: Option<&str>,
    writes: &[EpisodeWrite],
) -> Result<usize> {
    let items = 1
        + usize::from(latest_fingerprint.is_some())
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
pub(crate) fn resolved_key_of(episode: &Episode) -> String {
    resolved_episode_key(
        episode.resolved_at().unwrap_or(&episode.last_seen.at),
        &episode.address,
    )
}

#[async_trait]
impl HistoryStore for InMemoryHistory {
    async fn put_check(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
        writes: &[EpisodeWrite],
    ) -> Result<bool> {
        transaction_items(latest_fingerprint, writes)?;
        // Every map under its lock at once: the check's items change together or not at all.
        let mut records = lock(&self.records);
        let mut fingerprints = lock(&self.fingerprints);
        let mut episodes = lock(&self.episodes);
        let key = (record.pk.clone(), record.sk.clone());
        if let Some(existing) = records.get(&key) {
            if !replaces(existing, record) {
                return Ok(false);
            }
        }
        let pk = &record.pk;
        let current = |sk: String| episodes.get(&(pk.clone(), sk));
        let holds = |episode: &Episode| {
            current(open_episode_key(&episode.address))
                .is_some_and(|e| e.episode_id == episode.episode_id)
        };
        let fits = writes.iter().all(|write| match write {
            EpisodeWrite::Open(e) => current(open_episode_key(&e.address)).is_none(),
            EpisodeWrite::Refresh(e) => holds(e),
            EpisodeWrite::Close(e) => holds(e) && current(resolved_key_of(e)).is_none(),
            EpisodeWrite::OpenResolved(e) => current(resolved_key_of(e)).is_none(),
        });
        if !fits {
            return Err(episodes_changed(&format!(
                "{}/{}",
                record.organization, record.workspace
            )));
        }
        for write in writes {
            match write {
                EpisodeWrite::Open(e) | EpisodeWrite::Refresh(e) => {
                    episodes.insert((pk.clone(), open_episode_key(&e.address)), e.clone());
                }
                EpisodeWrite::Close(e) => {
                    episodes.remove(&(pk.clone(), open_episode_key(&e.address)));
                    episodes.insert((pk.clone(), resolved_key_of(e)), e.clone());
                }
                EpisodeWrite::OpenResolved(e) => {
                    episodes.insert((pk.clone(), resolved_key_of(e)), e.clone());
                }
            }
        }
        records.insert(key, record.clone());
        if let Some(fingerprint) = latest_fingerprint {
            fingerprints.insert(record.pk.clone(), fingerprint.to_string());
        }
        if let Some(acceptance) = accepted_by(record) {
            lock(&self.acceptances).insert(
                (record.pk.clone(), acceptance.fingerprint.clone()),
                acceptance.clone(),
            );
        }
        Ok(true)
    }

    async fn get_record(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
    ) -> Result<Option<HistoryRecord>> {
        let key = (partition_key(check), sort_key(started_at, execution_id));
        Ok(lock(&self.records).get(&key).cloned())
    }

    async fn list_records(&self, check: &CheckRef, limit: usize) -> Result<Vec<HistoryRecord>> {
        let pk = partition_key(check);
        let mut found: Vec<HistoryRecord> = lock(&self.records)
            .values()
            .filter(|r| r.pk == pk)
            .cloned()
            .collect();
        found.sort_by(|a, b| b.sk.cmp(&a.sk));
        found.truncate(limit);
        Ok(found)
    }

    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>> {
        Ok(lock(&self.fingerprints).get(&partition_key(check)).cloned())
    }

    async fn add_warning(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
        warning: &Warning,
    ) -> Result<bool> {
        let key = (partition_key(check), sort_key(started_at, execution_id));
        let mut records = lock(&self.records);
        match records.get_mut(&key) {
            Some(record) if !record.warnings.iter().any(|w| w.kind == warning.kind) => {
                record.warnings.push(warning.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_notified(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<bool> {
        let key = (
            partition_key(check),
            execution_name(execution_id).to_string(),
        );
        let mut notified = lock(&self.notified);
        if notified.contains_key(&key) {
            return Ok(false);
        }
        notified.insert(key, now_epoch);
        Ok(true)
    }

    async fn was_notified(&self, check: &CheckRef, execution_id: &str) -> Result<bool> {
        let key = (
            partition_key(check),
            execution_name(execution_id).to_string(),
        );
        Ok(lock(&self.notified).contains_key(&key))
    }

    async fn open_episodes(&self, check: &CheckRef) -> Result<Vec<Episode>> {
        let pk = partition_key(check);
        Ok(lock(&self.episodes)
            .iter()
            .filter(|((p, sk), _)| *p == pk && sk.starts_with(OPEN_EPISODE_PREFIX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn resolved_episodes(&self, check: &CheckRef, since: &str) -> Result<Vec<Episode>> {
        let pk = partition_key(check);
        let from = format!("{RESOLVED_EPISODE_PREFIX}{}", time_key(since));
        let to = format!("{RESOLVED_EPISODE_PREFIX}{KEY_END}");
        Ok(lock(&self.episodes)
            .iter()
            .filter(|((p, sk), _)| *p == pk && *sk >= from && *sk <= to)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn first_check_since(&self, check: &CheckRef, since: &str) -> Result<Option<String>> {
        let pk = partition_key(check);
        let from = format!("{CHECK_PREFIX}{}", time_key(since));
        Ok(lock(&self.records)
            .iter()
            .filter(|((p, sk), _)| *p == pk && *sk >= from)
            .map(|(_, r)| r)
            .min_by(|a, b| a.sk.cmp(&b.sk))
            .map(|r| r.started_at.clone()))
    }

    async fn active_acceptance(
        &self,
        check: &CheckRef,
        fingerprint: &str,
        now_epoch: i64,
    ) -> Result<Option<Acceptance>> {
        let key = (partition_key(check), fingerprint.to_string());
        Ok(lock(&self.acceptances)
            .get(&key)
            .filter(|a| a.is_active(now_epoch))
            .cloned())
    }
}

#[async_trait]
impl HistoryReader for InMemoryHistory {
    async fn records_since(
        &self,
        check: &CheckRef,
        since: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>> {
        let pk = partition_key(check);
        let from = format!("{CHECK_PREFIX}{}", time_key(since));
        let mut found: Vec<HistoryRecord> = lock(&self.records)
            .values()
            .filter(|r| r.pk == pk && r.sk >= from)
            .cloned()
            .collect();
        found.sort_by(|a, b| b.sk.cmp(&a.sk));
        found.truncate(limit);
        Ok(found)
    }

    async fn workspaces(&self) -> Result<Vec<CheckRef>> {
        Ok(lock(&self.fingerprints)
            .keys()
            .filter_map(|pk| check_of_partition_key(pk))
            .collect())
    }
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

impl InMemoryHistory {
    /// Moves an acceptance's end to `until_epoch` (tests: time passes).
    pub fn set_acceptance_end(&self, check: &CheckRef, fingerprint: &str, until_epoch: i64) {
        if let Some(a) =
            lock(&self.acceptances).get_mut(&(partition_key(check), fingerprint.into()))
        {
            a.until_epoch = until_epoch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> CheckRef {
        CheckRef {
            organization: "acme".into(),
            workspace: "prod".into(),
        }
    }

    fn outcome(status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            poll: None,
            status,
            check: check(),
            execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1"
                .into(),
            started_at: "2026-11-22T10:00:00.123Z".into(),
            change: None,
            run: None,
            drift: None,
            remediation: None,
            failure: None,
            approval: None,
        }
    }

    #[test]
    fn a_decision_replaces_the_drift_record_of_its_execution_and_nothing_else() {
        let now = chrono::Utc::now();
        let record = |status| HistoryRecord::from_outcome(&outcome(status), "url", now, 90);
        let detected = record(CheckStatus::DriftDetected);
        for status in [
            CheckStatus::DriftAccepted,
            CheckStatus::DriftDismissed,
            CheckStatus::ApprovalExpired,
            CheckStatus::Remediated,
        ] {
            assert!(replaces(&detected, &record(status)), "{status}");
            assert!(!replaces(&record(status), &detected), "{status}");
        }
        assert!(!replaces(&detected, &record(CheckStatus::CheckFailed)));
        assert!(!replaces(&detected, &record(CheckStatus::NoDrift)));
    }

    #[test]
    fn acceptance_runs_to_the_end_of_its_last_day() {
        assert_eq!(
            end_of_day_epoch("2026-11-22"),
            Some(
                chrono::DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
                    .unwrap()
                    .timestamp()
            )
        );
        assert_eq!(end_of_day_epoch("22/11/2026"), None);
    }

    #[test]
    fn sort_key_ignores_sub_second_and_offset_differences() {
        let a = sort_key("2026-11-22T10:00:00.123Z", "arn:...:execution:sm:e1");
        let b = sort_key("2026-11-22T11:00:00.999+01:00", "e1");
        assert_eq!(a, b);
        assert_eq!(a, "CHECK#2026-11-22T10:00:00Z#e1");
    }

    #[test]
    fn record_expires_after_retention() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let r = HistoryRecord::from_outcome(&outcome(CheckStatus::NoDrift), "url", now, 90);
        assert_eq!(r.expires_at - now.timestamp(), 90 * 86_400);
        assert_eq!(r.pk, "WS#acme/prod");
    }

    #[test]
    fn record_keeps_drifted_resources_and_one_line_for_pending_code() {
        use crate::model::{DriftReport, DriftedResource, PendingChange};
        let mut out = outcome(CheckStatus::DriftDetected);
        let mut drift = DriftReport {
            drifted: true,
            resource_count: 1,
            resources: vec![DriftedResource {
                address: "aws_security_group.web".into(),
                changed_attributes: vec!["ingress".into()],
                ..DriftedResource::default()
            }],
            fingerprint: "fp".into(),
            ..DriftReport::default()
        };
        drift.pending_changes.count = 2;
        drift.pending_changes.resources = vec![PendingChange {
            address: "aws_iam_user.reviewer".into(),
            resource_type: "aws_iam_user".into(),
            actions: vec!["create".into()],
            changed_attributes: vec![],
            previous_address: None,
        }];
        drift.informational.count = 1;
        drift.informational.addresses = vec!["aws_iam_role.app".into()];
        out.drift = Some(drift);
        let r = HistoryRecord::from_outcome(&out, "url", chrono::Utc::now(), 90);
        let kept = r.drift.as_ref().unwrap();
        assert_eq!(kept.resources[0].changed_attributes, ["ingress"]);
        assert!(kept.pending_changes.resources.is_empty());
        assert_eq!(kept.pending_changes.count, 2);
        assert!(kept.informational.addresses.is_empty());
        assert_eq!(
            r.pending_code.as_deref(),
            Some("2 resources have unapplied code changes (not drift)")
        );
        assert_eq!(r.fingerprint, "fp");
    }

    #[tokio::test]
    async fn records_are_written_once_per_execution() {
        let store = InMemoryHistory::new();
        let r = HistoryRecord::from_outcome(
            &outcome(CheckStatus::DriftDetected),
            "url",
            chrono::Utc::now(),
            90,
        );
        assert!(store.put_record(&r, Some("f1")).await.unwrap());
        assert!(!store.put_record(&r, Some("f2")).await.unwrap());
        assert_eq!(store.all().len(), 1);
        assert_eq!(
            store.last_fingerprint(&check()).await.unwrap().as_deref(),
            Some("f1"),
            "a record that was not stored leaves the fingerprint alone"
        );
        assert!(
            store
                .get_record(&check(), "2026-11-22T10:00:00Z", "exec-1")
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.mark_notified(&check(), "exec-1", 1).await.unwrap());
        assert!(!store.mark_notified(&check(), "exec-1", 2).await.unwrap());
    }
}
