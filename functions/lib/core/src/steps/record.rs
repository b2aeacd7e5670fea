//! `Record result`: the history record, episodes, metrics and findings of a check.

use super::*;
use crate::config::Config;
use crate::episodes;
use crate::error::{Error, Result};
use crate::findings::{self, Finding, SecurityHubTarget};
use crate::history::{self, HistoryRecord};
use crate::metrics::{self, CheckMetrics};

/// Record: the history record (once per execution) and, in the same write,
/// the workspace fingerprint, drift episodes and (for `DriftAccepted`) the
/// acceptance. In approval mode the outcome after the decision replaces the
/// execution's `DriftDetected` record. Without Security Hub.
pub async fn record(
    outcome: &CheckOutcome,
    store: &dyn HistoryStore,
    metrics: &dyn MetricsSink,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecordResult> {
    record_with(outcome, store, None, metrics, config, now).await
}

/// Record, with the findings of the episodes the check opened or resolved
/// published to Security Hub (when `findings` is given and the module turned
/// it on). The record, fingerprint and episodes are one atomic write; the
/// findings follow it. A retry of the step (the record exists) publishes the
/// findings of this execution's episodes again — imports are idempotent — so
/// a Security Hub outage delays findings and never loses a record.
pub async fn record_with(
    outcome: &CheckOutcome,
    store: &dyn HistoryStore,
    findings: Option<&dyn FindingsPublisher>,
    metrics: &dyn MetricsSink,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecordResult> {
    let findings = findings.zip(config.security_hub.clone());
    let previous = store.last_fingerprint(&outcome.check).await?;
    let mut record = HistoryRecord::from_outcome(
        outcome,
        &config.execution_url(&outcome.execution_id),
        now,
        config.history_retention_days,
    );
    record.previous_fingerprint = previous.clone();
    let existing = store
        .get_record(&outcome.check, &outcome.started_at, &outcome.execution_id)
        .await?;
    if let Some(first) = existing.as_ref().filter(|e| !history::replaces(e, &record)) {
        return answer_retry(outcome, first, store, findings).await;
    }
    if let Some(earlier) = existing {
        if outcome.status == CheckStatus::CheckFailed {
            // The failure is merged into what the check recorded before (its
            // drift and plan run; after a decision, the DriftDetected record):
            // the failure, and who decided and which remediation run it was,
            // join it. A redrive that failed again keeps what the earlier runs
            // failed with.
            let mut merged = earlier.clone();
            merged.status = CheckStatus::CheckFailed;
            merged.recorded_at = record.recorded_at.clone();
            merged.failure = record.failure.take();
            merged.approval = record.approval.take().or(earlier.approval);
            merged.remediation = record.remediation.take().or(earlier.remediation);
            merged.earlier_failures = earlier.earlier_failures;
            if earlier.status == CheckStatus::CheckFailed {
                merged.earlier_failures.extend(earlier.failure);
            }
            record = merged;
        } else if earlier.status == CheckStatus::DriftDetected {
            // The decision's outcome: the fingerprint before this check is the
            // one the drift alert was judged with.
            record.previous_fingerprint = earlier.previous_fingerprint;
        }
    }
    let fingerprint = record.fingerprint.clone();
    let accepted = match outcome.status {
        CheckStatus::DriftDetected | CheckStatus::RemediationSkipped => {
            store
                .active_acceptance(&outcome.check, &fingerprint, now.timestamp())
                .await?
        }
        _ => None,
    };
    if outcome.status == CheckStatus::DriftAccepted {
        record.acceptance = history::acceptance_of(outcome, now);
        if record.acceptance.is_none() {
            return Err(Error::InvalidInput(
                "a DriftAccepted outcome needs the drift's fingerprint and the decision's person and date in 'approval'"
                    .into(),
            ));
        }
    } else {
        record.acceptance = accepted.clone();
    }
    // Fixed or absent drift clears the fingerprint, so the same drift coming
    // back alerts again; so does an acceptance (once it ends, the drift
    // alerts). While an acceptance covers the drift the fingerprint stays clear.
    let latest_fingerprint = match outcome.status {
        _ if accepted.is_some() => None,
        CheckStatus::DriftDetected
        | CheckStatus::RemediationSkipped
        | CheckStatus::RemediationFailed => Some(fingerprint),
        CheckStatus::NoDrift | CheckStatus::Remediated | CheckStatus::DriftAccepted => {
            Some(String::new())
        }
        CheckStatus::DriftDismissed | CheckStatus::ApprovalExpired | CheckStatus::CheckFailed => {
            None
        }
    };
    let open = if outcome.status == CheckStatus::CheckFailed {
        Vec::new()
    } else {
        store.open_episodes(&outcome.check).await?
    };
    let plan = episodes::plan(&record, &open);
    if outcome.status != CheckStatus::CheckFailed {
        record.episodes = Some(plan.summary);
    }
    if plan.summary.deferred > 0 || plan.refreshes_dropped > 0 {
        tracing::warn!(
            execution_id = %outcome.execution_id, workspace = %outcome.check,
            deferred = plan.summary.deferred, refreshes_dropped = plan.refreshes_dropped,
            "more episode changes than one transaction holds; the rest wait for the next check"
        );
    }
    let stored = store
        .put_check(&record, latest_fingerprint.as_deref(), &plan.writes)
        .await?;
    if !stored {
        // Another attempt of this step got there first: answer as it did.
        return match store
            .get_record(&outcome.check, &outcome.started_at, &outcome.execution_id)
            .await?
        {
            Some(first) => answer_retry(outcome, &first, store, findings).await,
            None => Err(Error::AwsUnavailable(format!(
                "the record of {} for {} was refused but cannot be read; the step is retried",
                outcome.execution_id, outcome.check
            ))),
        };
    }
    // Counted once: a retry of this step finds the record and emits nothing.
    let mut check_metrics = CheckMetrics::of(&record, &plan.writes);
    if outcome.status != CheckStatus::CheckFailed {
        check_metrics.drift_free_ratio = drift_free_ratio(store, &outcome.check, now).await;
    }
    metrics.publish(&check_metrics, now);
    tracing::info!(
        execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status,
        episodes_opened = plan.summary.opened, episodes_resolved = plan.summary.resolved,
        episodes_open = plan.summary.open, accepted = accepted.is_some(), "recorded check"
    );
    if let Some((publisher, target)) = findings {
        let changed: Vec<&episodes::Episode> = plan
            .writes
            .iter()
            .filter(|w| w.is_transition())
            .map(|w| w.episode())
            .collect();
        publish_findings(publisher, &target, &changed, &outcome.execution_id).await?;
    }
    Ok(RecordResult {
        status: outcome.status,
        stored: true,
        previous_fingerprint: record.previous_fingerprint.clone(),
        accepted,
    })
}

/// Record a warning: a step after Record failed without failing the check
/// (the e-mail alert). The check keeps its outcome; its record says what was
/// not done, once.
pub async fn note_warning(
    req: &WarningRequest,
    records: &dyn CheckRecords,
) -> Result<WarningNoted> {
    let noted = records
        .add_warning(&req.check, &req.started_at, &req.execution_id, &req.warning)
        .await?;
    tracing::warn!(
        execution_id = %req.execution_id, workspace = %req.check, kind = %req.warning.kind,
        error = %req.warning.error, noted, "a step after the record failed; the check keeps its outcome"
    );
    Ok(WarningNoted { noted })
}

/// The answer of a retried record step: what the first attempt answered,
/// after publishing the findings of this execution's episodes again.
async fn answer_retry(
    outcome: &CheckOutcome,
    first: &HistoryRecord,
    store: &dyn EpisodeStore,
    findings: Option<(&dyn FindingsPublisher, SecurityHubTarget)>,
) -> Result<RecordResult> {
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %first.status, "check already recorded");
    if let Some((publisher, target)) = findings {
        let execution = &first.execution_id;
        let open = store.open_episodes(&outcome.check).await?;
        let resolved = store
            .resolved_episodes(&outcome.check, &first.started_at)
            .await?;
        let mine: Vec<&episodes::Episode> = open
            .iter()
            .filter(|e| e.detected.execution_id == *execution)
            .chain(resolved.iter().filter(|e| {
                e.resolved
                    .as_ref()
                    .is_some_and(|r| r.execution_id == *execution)
            }))
            .collect();
        publish_findings(publisher, &target, &mine, execution).await?;
    }
    Ok(RecordResult {
        status: outcome.status,
        stored: false,
        previous_fingerprint: first.previous_fingerprint.clone(),
        // The acceptance that covered this drift when it was first recorded.
        accepted: first
            .acceptance
            .clone()
            .filter(|_| first.status != CheckStatus::DriftAccepted),
    })
}

async fn publish_findings(
    publisher: &dyn FindingsPublisher,
    target: &SecurityHubTarget,
    changed: &[&episodes::Episode],
    execution_id: &str,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let batch: Vec<Finding> = changed
        .iter()
        .map(|e| findings::finding(e, target))
        .collect();
    publisher.publish(&batch).await?;
    tracing::info!(
        execution_id,
        findings = batch.len(),
        "published Security Hub findings"
    );
    Ok(())
}

/// The workspace's drift-free ratio over the metric window, after this
/// check. Metrics never fail a stored record: a read that fails leaves the
/// ratio out.
async fn drift_free_ratio(
    store: &dyn EpisodeStore,
    check: &CheckRef,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<f64> {
    let window = now - chrono::Duration::days(metrics::RATIO_WINDOW_DAYS);
    let since = window.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let read = async {
        let first = store.first_check_since(check, &since).await?;
        let resolved = store.resolved_episodes(check, &since).await?;
        let open = store.open_episodes(check).await?;
        Ok::<_, Error>((first, resolved, open))
    };
    match read.await {
        Ok((first, resolved, open)) => {
            let start = first
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc).max(window))
                .unwrap_or(now);
            let mut all = resolved;
            all.extend(open);
            Some(episodes::drift_free_ratio(&all, start, now))
        }
        Err(e) => {
            tracing::warn!(workspace = %check, error = %e, "drift-free ratio left out of the metrics");
            None
        }
    }
}
