//! History records: one per check and execution, kept `history_retention_days`
//! (DynamoDB TTL on `expires_at`), plus the last drift fingerprint per workspace
//! for alert suppression, and one CloudWatch embedded-metric line per outcome.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::Result;
use crate::model::{
    Acceptance, ApprovalDecision, Change, CheckOutcome, CheckRef, CheckStatus, DriftReport,
    Failure, RemediationOutcome,
};
use crate::ports::HistoryStore;

/// CloudWatch namespace of DriftGuard's embedded metrics.
pub const METRIC_NAMESPACE: &str = "DriftGuard";

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
    /// Who decided what about the drift (approval mode), or that the
    /// remediation was automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    /// `DriftAccepted`: the acceptance made (by whom, why, until when).
    /// `DriftDetected`: the acceptance still covering this drift (not alerted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Acceptance>,
}

/// Partition key of a workspace.
pub fn partition_key(check: &CheckRef) -> String {
    format!("WS#{}/{}", check.organization, check.workspace)
}

/// Execution name: the last part of an execution ARN.
pub fn execution_name(execution_id: &str) -> &str {
    execution_id.rsplit(':').next().unwrap_or(execution_id)
}

/// Sort key of a check. The start time is cut to whole seconds in UTC so the
/// state machine's `$$.Execution.StartTime` and `DescribeExecution`'s start
/// date (on-failure) give the same key.
pub fn sort_key(started_at: &str, execution_id: &str) -> String {
    let time = chrono::DateTime::parse_from_rfc3339(started_at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| started_at.to_string());
    format!("CHECK#{time}#{}", execution_name(execution_id))
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
            approval: outcome.approval.clone(),
            acceptance: None,
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

/// One CloudWatch embedded-metric-format log line for an outcome: a count per
/// status and the number of drifted resources, by workspace.
pub fn metric_line(outcome: &CheckOutcome, now_millis: i64) -> String {
    let drifted = outcome
        .drift
        .as_ref()
        .map(|d| d.resource_count)
        .unwrap_or(0);
    json!({
        "_aws": {
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Workspace"], ["Workspace", "Status"], []],
                "Metrics": [
                    {"Name": "Checks", "Unit": "Count"},
                    {"Name": "DriftedResources", "Unit": "Count"}
                ]
            }]
        },
        "Workspace": outcome.check.to_string(),
        "Status": outcome.status.as_str(),
        "Checks": 1,
        "DriftedResources": drifted,
        "execution_id": outcome.execution_id,
    })
    .to_string()
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

/// In-memory history (tests, CLI dry runs).
#[derive(Default)]
pub struct InMemoryHistory {
    records: Mutex<BTreeMap<(String, String), HistoryRecord>>,
    fingerprints: Mutex<BTreeMap<String, String>>,
    notified: Mutex<BTreeMap<(String, String), i64>>,
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

#[async_trait]
impl HistoryStore for InMemoryHistory {
    async fn put_record(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
    ) -> Result<bool> {
        // Both maps under their locks at once: the record and the fingerprint change together.
        let mut records = lock(&self.records);
        let mut fingerprints = lock(&self.fingerprints);
        let key = (record.pk.clone(), record.sk.clone());
        if let Some(existing) = records.get(&key) {
            if !replaces(existing, record) {
                return Ok(false);
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

    #[test]
    fn metric_line_is_embedded_metric_format() {
        let line = metric_line(&outcome(CheckStatus::NoDrift), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "DriftGuard");
        assert_eq!(v["Status"], "NoDrift");
        assert_eq!(v["Checks"], 1);
    }
}
