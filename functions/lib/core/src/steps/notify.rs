//! `Notify outcome`: one message per outcome, never twice for one execution (webhook or the chat app's thread).

use super::*;
use crate::alerting::{self, ChatApp};
use crate::config::Config;
use crate::error::Result;
use crate::history::{self};

/// Why an outcome is not alerted, if it is not.
pub fn suppression_reason(req: &NotifyRequest, config: &Config) -> Option<String> {
    let outcome = &req.outcome;
    // What follows a person's decision is always told.
    if outcome.approval.as_ref().is_some_and(|a| !a.automatic) {
        return None;
    }
    if let Some(accepted) = req.record.as_ref().and_then(|r| r.accepted.as_ref()) {
        return Some(format!(
            "the same drift was accepted by {} until {} (end of day, UTC): {}",
            if accepted.by.name.is_empty() {
                &accepted.by.id
            } else {
                &accepted.by.name
            },
            accepted.until,
            accepted.reason
        ));
    }
    match outcome.status {
        CheckStatus::NoDrift if !config.notify_on_no_drift => {
            Some("no-drift alerts are off (notify_on_no_drift = false)".into())
        }
        CheckStatus::DriftDetected | CheckStatus::RemediationSkipped => {
            let fingerprint = outcome
                .drift
                .as_ref()
                .map(|d| d.fingerprint.as_str())
                .unwrap_or("");
            let previous = req
                .record
                .as_ref()
                .and_then(|r| r.previous_fingerprint.as_deref());
            (!fingerprint.is_empty() && previous == Some(fingerprint)).then(|| {
                "same drift as the previous check of this workspace; already alerted".into()
            })
        }
        _ => None,
    }
}

/// Notify through the incoming webhook (see [`notify_with_app`]).
pub async fn notify(
    req: &NotifyRequest,
    notifier: &dyn Notifier,
    markers: &dyn AlertMarkers,
    config: &Config,
    now_epoch: i64,
) -> Result<Notification> {
    notify_with_app(req, notifier, None, markers, config, now_epoch).await
}

/// Notify: one Slack message per check outcome, never twice for one
/// execution. Workspaces whose route names a Slack app channel (and a
/// configured app) get one thread per drift, with decision buttons in
/// approval mode; the others the incoming webhook.
pub async fn notify_with_app(
    req: &NotifyRequest,
    notifier: &dyn Notifier,
    app: Option<&ChatApp<'_>>,
    markers: &dyn AlertMarkers,
    config: &Config,
    now_epoch: i64,
) -> Result<Notification> {
    let outcome = &req.outcome;
    if let (Some(app), Some(channel)) = (app, config.slack_channel(&outcome.check)) {
        let now = chrono::DateTime::from_timestamp(now_epoch, 0).unwrap_or_else(chrono::Utc::now);
        let suppressed = suppression_reason(req, config);
        return alerting::notify(req, channel, suppressed, app, markers, config, now).await;
    }
    if let Some(reason) = suppression_reason(req, config) {
        tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, %reason, "alert suppressed");
        return Ok(Notification {
            sent: false,
            suppressed_reason: Some(reason),
            ..Notification::default()
        });
    }
    let marker = alert_marker(outcome);
    if markers.was_notified(&outcome.check, &marker).await? {
        return Ok(Notification {
            sent: true,
            suppressed_reason: Some("already sent by an earlier attempt of this step".into()),
            ..Notification::default()
        });
    }
    notifier
        .notify(outcome, &config.execution_url(&outcome.execution_id))
        .await?;
    markers
        .mark_notified(&outcome.check, &marker, now_epoch)
        .await?;
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status, "alert sent");
    Ok(Notification {
        sent: true,
        suppressed_reason: None,
        ..Notification::default()
    })
}

/// The key that makes an alert go out once: per execution and outcome, and
/// per redrive for failures (a redriven execution that fails again alerts again).
fn alert_marker(outcome: &CheckOutcome) -> String {
    let mut marker = format!(
        "{}#{}",
        history::execution_name(&outcome.execution_id),
        outcome.status
    );
    if let Some(failure) = outcome.failure.as_ref().filter(|f| f.redrive_count > 0) {
        marker.push_str(&format!("#redrive-{}", failure.redrive_count));
    }
    marker
}
