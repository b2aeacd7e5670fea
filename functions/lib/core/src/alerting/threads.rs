//! Alerts through a chat app (Slack today): one thread per drift.
//!
//! The first alert of a drift is a new message in the workspace's channel
//! (with Fix / Accept / Dismiss in approval mode); every follow-up — who
//! approved, the remediation's result, accepted until when, resolved by a
//! later clean check, the check failed — is a reply in its thread, and the
//! parent is updated (`chat.update`) to say where the drift stands.

use serde_json::Value;

use super::port::{AlertFormat, AlertThread, ChatApi, ConversationStore, DecisionRequest};
use crate::approval;
use crate::config::Config;
use crate::error::Result;
use crate::history;
use crate::model::{
    CheckOutcome, CheckRef, CheckStatus, DriftDecision, Notification, NotifyRequest,
    RemediationMode, ThreadRef,
};
use crate::ports::{AlertMarkers, ApprovalRequest, ApprovalStatus, ApprovalStore};

/// The approval time the alert announces when the state machine does not say
/// (`approval_timeout_hours` = 24).
const DEFAULT_APPROVAL_TIMEOUT_SECONDS: u64 = 24 * 3600;

/// The chat app's ports, for notify and on-failure.
#[derive(Clone, Copy)]
pub struct ChatApp<'a> {
    pub chat: &'a dyn ChatApi,
    pub format: &'a dyn AlertFormat,
    pub conversations: &'a dyn ConversationStore,
    pub approvals: &'a dyn ApprovalStore,
}

/// Notify through the app, in `channel`. `suppressed` is the alert policy's
/// verdict (same drift as before, accepted drift, no-drift alerts off).
pub async fn notify(
    req: &NotifyRequest,
    channel: &str,
    suppressed: Option<String>,
    app: &ChatApp<'_>,
    markers: &dyn AlertMarkers,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Notification> {
    let outcome = &req.outcome;
    let url = config.execution_url(&outcome.execution_id);
    if outcome.status == CheckStatus::NoDrift {
        let resolved = resolve_open_thread(outcome, app, markers, &url, now).await?;
        return match suppressed {
            Some(reason) if resolved => Ok(Notification {
                sent: true,
                suppressed_reason: Some(format!("resolved the open drift thread; {reason}")),
                ..Notification::default()
            }),
            Some(reason) => Ok(suppressed_notification(reason)),
            None => post_alert(req, channel, app, markers, config, now).await,
        };
    }
    let own = app
        .conversations
        .thread(&outcome.check, &outcome.execution_id)
        .await?;
    match own {
        // A follow-up of this execution's alert: a reply, and the parent updated.
        Some(own) if follow_up(outcome) => {
            follow_up_in_thread(req, &own, app, markers, &url, now).await
        }
        // A retried first alert: answer as the first attempt did (and keep
        // its decision request, in case that attempt failed before storing it).
        Some(own) => {
            if let Some(id) = &own.approval_id {
                create_request(app, id, outcome, &own.thread, now).await?;
            }
            Ok(Notification {
                sent: true,
                suppressed_reason: Some("already sent by an earlier attempt of this step".into()),
                approval_requested: own.approval_id.is_some(),
                approval_id: own.approval_id.clone(),
                thread: Some(own.thread.clone()),
            })
        }
        None => match suppressed {
            Some(reason) => Ok(suppressed_notification(reason)),
            None => match changed_again_thread(outcome, app).await? {
                Some(open) => post_changed_again(req, &open, app, markers, config, now).await,
                None => post_alert(req, channel, app, markers, config, now).await,
            },
        },
    }
}

/// The workspace's open drift thread when this drift is that one changed
/// again: the same addresses and paths, other values.
async fn changed_again_thread(
    outcome: &CheckOutcome,
    app: &ChatApp<'_>,
) -> Result<Option<AlertThread>> {
    let Some(drift) = outcome.drift.as_ref().filter(|d| d.drifted) else {
        return Ok(None);
    };
    if drift.paths_fingerprint.is_empty() {
        return Ok(None);
    }
    Ok(app
        .conversations
        .open_thread(&outcome.check)
        .await?
        .filter(|open| {
            open.execution_id != outcome.execution_id
                && open.paths_fingerprint == drift.paths_fingerprint
                && open.fingerprint != drift.fingerprint
        }))
}

/// Whether this first alert carries the decision buttons.
fn asks_decision(req: &NotifyRequest) -> bool {
    req.remediation_mode == Some(RemediationMode::Approval)
        && req.outcome.status == CheckStatus::DriftDetected
        && req.outcome.approval.is_none()
}

/// Adds the decision buttons to `payload` (approval mode) and says which
/// approval they stand for: a random id, so no one can compute it (kept in
/// the thread, so a retried step answers with it).
fn with_decision_buttons(
    req: &NotifyRequest,
    format: &dyn AlertFormat,
    payload: Value,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Value, Option<String>)> {
    let outcome = &req.outcome;
    if !asks_decision(req) {
        return Ok((payload, None));
    }
    let id = approval::new_approval_id()?;
    let approvers = config
        .route(&outcome.check)
        .map(|r| r.slack.approvers.clone())
        .unwrap_or_default();
    let destructive = destructive_drift(outcome);
    let payload = format.with_decision(
        &payload,
        &DecisionRequest {
            approval_id: &id,
            drifted_resources: outcome.drift.as_ref().map_or(0, |d| d.resource_count),
            deadline_epoch: now.timestamp()
                + req
                    .approval_timeout_seconds
                    .unwrap_or(DEFAULT_APPROVAL_TIMEOUT_SECONDS) as i64,
            default_until: approval::default_until(now),
            approvers: &approvers,
            allow_destructive: config.allow_destructive_remediation,
            destructive: &destructive,
        },
    );
    Ok((payload, Some(id)))
}

/// A drift changed again (same addresses and paths, other values): the alert,
/// with who changed it and, in approval mode, new buttons, is a reply in the
/// drift's open thread, which this execution's follow-ups continue.
async fn post_changed_again(
    req: &NotifyRequest,
    open: &AlertThread,
    app: &ChatApp<'_>,
    markers: &dyn AlertMarkers,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Notification> {
    let outcome = &req.outcome;
    let url = config.execution_url(&outcome.execution_id);
    let payload = app.format.changed_again(outcome, &url, asks_decision(req));
    let (payload, approval_id) = with_decision_buttons(req, app.format, payload, config, now)?;
    let posted = app
        .chat
        .post_message(&open.thread.channel, Some(&open.thread.ts), &payload)
        .await?;
    let parent = app.format.annotate_parent(
        &open.parent,
        outcome.status,
        &outcome.check.to_string(),
        &app.format.changed_again_line(&url),
    );
    let alert = keep_thread(
        app,
        outcome,
        open.thread.clone(),
        open.parent.clone(),
        approval_id.as_deref(),
        &posted,
        now,
    )
    .await?;
    update_parent(app, &outcome.check, &alert, &parent).await;
    markers
        .mark_notified(&outcome.check, &marker(outcome, "alert"), now.timestamp())
        .await?;
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status, ts = %open.thread.ts, asks_decision = approval_id.is_some(), "drift changed again: told in its open thread");
    Ok(Notification {
        sent: true,
        suppressed_reason: None,
        approval_requested: approval_id.is_some(),
        approval_id,
        thread: Some(open.thread.clone()),
    })
}

/// Saves `thread` as this execution's alert thread (open while drift
/// remains), with the fingerprints that say which drift it is about, and the
/// decision request of the buttons in `posted`, when it has them.
async fn keep_thread(
    app: &ChatApp<'_>,
    outcome: &CheckOutcome,
    thread: ThreadRef,
    parent: Value,
    approval_id: Option<&str>,
    posted: &ThreadRef,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AlertThread> {
    let drift = outcome.drift.as_ref();
    let alert = AlertThread {
        thread,
        execution_id: outcome.execution_id.clone(),
        fingerprint: drift.map(|d| d.fingerprint.clone()).unwrap_or_default(),
        paths_fingerprint: drift
            .map(|d| d.paths_fingerprint.clone())
            .unwrap_or_default(),
        parent,
        approval_id: approval_id.map(str::to_string),
    };
    app.conversations
        .save_thread(
            &outcome.check,
            &alert,
            remains_open(outcome.status),
            now.timestamp(),
        )
        .await?;
    if let Some(id) = approval_id {
        create_request(app, id, outcome, posted, now).await?;
    }
    Ok(alert)
}

/// Drift that remains is the workspace's open thread until a clean check.
fn remains_open(status: CheckStatus) -> bool {
    matches!(
        status,
        CheckStatus::DriftDetected
            | CheckStatus::RemediationSkipped
            | CheckStatus::RemediationFailed
    )
}

fn suppressed_notification(reason: String) -> Notification {
    Notification {
        sent: false,
        suppressed_reason: Some(reason),
        ..Notification::default()
    }
}

/// Whether an outcome continues a drift alert of the same execution (rather
/// than being the first alert).
fn follow_up(outcome: &CheckOutcome) -> bool {
    match outcome.status {
        CheckStatus::DriftDetected => outcome
            .approval
            .as_ref()
            .is_some_and(|a| a.decision == DriftDecision::Fix && !a.automatic),
        _ => true,
    }
}

/// The alert marker that makes a message go out once per execution and step.
fn marker(outcome: &CheckOutcome, what: &str) -> String {
    let mut marker = format!(
        "{}#{}#{what}",
        history::execution_name(&outcome.execution_id),
        outcome.status
    );
    if let Some(failure) = outcome.failure.as_ref().filter(|f| f.redrive_count > 0) {
        marker.push_str(&format!("#redrive-{}", failure.redrive_count));
    }
    marker
}

/// Drifted resources whose planned actions destroy them (a replace is
/// `["delete","create"]`): what a fix would destroy or replace.
fn destructive_drift(outcome: &CheckOutcome) -> Vec<String> {
    outcome
        .drift
        .iter()
        .flat_map(|d| &d.resources)
        .filter(|r| r.actions.iter().any(|a| a == "delete"))
        .map(|r| r.address.clone())
        .collect()
}

/// The first alert of a drift: a new message, the workspace's open thread,
/// and in approval mode the decision buttons.
async fn post_alert(
    req: &NotifyRequest,
    channel: &str,
    app: &ChatApp<'_>,
    markers: &dyn AlertMarkers,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Notification> {
    let outcome = &req.outcome;
    let url = config.execution_url(&outcome.execution_id);
    let payload = if asks_decision(req) {
        app.format.decision_alert(outcome, &url)
    } else {
        app.format.alert(outcome, &url)
    };
    let (payload, approval_id) = with_decision_buttons(req, app.format, payload, config, now)?;
    let posted = app.chat.post_message(channel, None, &payload).await?;
    keep_thread(
        app,
        outcome,
        posted.clone(),
        payload,
        approval_id.as_deref(),
        &posted,
        now,
    )
    .await?;
    markers
        .mark_notified(&outcome.check, &marker(outcome, "alert"), now.timestamp())
        .await?;
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status, channel, ts = %posted.ts, asks_decision = approval_id.is_some(), "alert posted with the Slack app");
    Ok(Notification {
        sent: true,
        suppressed_reason: None,
        approval_requested: approval_id.is_some(),
        approval_id,
        thread: Some(posted),
    })
}

/// Stores the decision request of an alert's buttons (kept when it exists).
async fn create_request(
    app: &ChatApp<'_>,
    id: &str,
    outcome: &CheckOutcome,
    thread: &ThreadRef,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    app.approvals
        .create(
            &ApprovalRequest {
                id: id.to_string(),
                check: outcome.check.clone(),
                execution_id: outcome.execution_id.clone(),
                thread: thread.clone(),
                status: ApprovalStatus::Posted,
                deadline: None,
                task_token: None,
                decision: None,
            },
            now.timestamp(),
        )
        .await
}

/// A reply in this execution's thread, and the parent updated.
async fn follow_up_in_thread(
    req: &NotifyRequest,
    own: &AlertThread,
    app: &ChatApp<'_>,
    markers: &dyn AlertMarkers,
    url: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Notification> {
    let outcome = &req.outcome;
    let marker = marker(outcome, "reply");
    if markers.was_notified(&outcome.check, &marker).await? {
        return Ok(Notification {
            sent: true,
            suppressed_reason: Some("already sent by an earlier attempt of this step".into()),
            thread: Some(own.thread.clone()),
            ..Notification::default()
        });
    }
    let reply = app.format.reply(outcome, url);
    app.chat
        .post_message(&own.thread.channel, Some(&own.thread.ts), &reply)
        .await?;
    markers
        .mark_notified(&outcome.check, &marker, now.timestamp())
        .await?;
    let parent = app.format.annotate_parent(
        &own.parent,
        outcome.status,
        &outcome.check.to_string(),
        &app.format.latest_line(outcome, url),
    );
    update_parent(app, &outcome.check, own, &parent).await;
    if outcome.status == CheckStatus::Remediated {
        app.conversations
            .close_thread(&outcome.check, &own.execution_id)
            .await?;
    }
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status, ts = %own.thread.ts, "follow-up posted in the drift's thread");
    Ok(Notification {
        sent: true,
        suppressed_reason: None,
        thread: Some(own.thread.clone()),
        ..Notification::default()
    })
}

/// The parent's update is best effort: the reply already says what happened,
/// and a failed update must not fail (and redo) the step.
async fn update_parent(app: &ChatApp<'_>, check: &CheckRef, own: &AlertThread, parent: &Value) {
    match app
        .chat
        .update_message(&own.thread.channel, &own.thread.ts, parent)
        .await
    {
        Ok(()) => {
            if let Err(e) = app
                .conversations
                .set_parent(check, &own.execution_id, parent)
                .await
            {
                tracing::warn!(error = %e, "could not keep the updated parent message");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, ts = %own.thread.ts, "could not update the alert message")
        }
    }
}

/// A clean check after a drift alert: a reply in the open thread, the parent
/// says resolved, and the thread is no longer the open one.
async fn resolve_open_thread(
    outcome: &CheckOutcome,
    app: &ChatApp<'_>,
    markers: &dyn AlertMarkers,
    url: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let Some(open) = app.conversations.open_thread(&outcome.check).await? else {
        return Ok(false);
    };
    if open.execution_id == outcome.execution_id {
        return Ok(false);
    }
    let marker = marker(
        outcome,
        &format!("resolves-{}", history::execution_name(&open.execution_id)),
    );
    if !markers.was_notified(&outcome.check, &marker).await? {
        let reply = app.format.resolved_reply(url, &outcome.started_at);
        app.chat
            .post_message(&open.thread.channel, Some(&open.thread.ts), &reply)
            .await?;
        markers
            .mark_notified(&outcome.check, &marker, now.timestamp())
            .await?;
        let parent = app.format.annotate_parent(
            &open.parent,
            CheckStatus::NoDrift,
            &outcome.check.to_string(),
            &app.format.latest_line(outcome, url),
        );
        let header_resolved = app
            .format
            .resolved_parent(&parent, &outcome.check.to_string());
        update_parent(app, &outcome.check, &open, &header_resolved).await;
    }
    app.conversations
        .close_thread(&outcome.check, &open.execution_id)
        .await?;
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, resolved = %open.execution_id, "a clean check resolved the open drift thread");
    Ok(true)
}
