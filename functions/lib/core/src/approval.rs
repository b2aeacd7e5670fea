//! Remediation a person approves, channel-neutral: the wait and the decision.
//!
//! The drift alert carries Fix / Accept / Dismiss controls whose value is an
//! opaque random id ([`new_approval_id`]). The execution waits in `Wait for approval`
//! (`.waitForTaskToken`): [`await_decision`] keeps the task token under that
//! id. A click reaches the channel's receiver (Slack: the Request URL in
//! `driftguard-slack`), which verifies it, checks the person is an approver,
//! records the decision once and wakes the wait with [`wake_up`];
//! [`read_decision`] then reads what the receiver recorded.

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::model::{AwaitDecisionRequest, NO_RECORDED_DECISION, ReadDecisionRequest};
use crate::ports::{ApprovalStatus, ApprovalStore, TaskCallbacks, TokenStored};

/// Days an acceptance lasts unless the person picks another date.
pub const DEFAULT_ACCEPT_DAYS: i64 = 30;
/// The longest acceptance.
pub const MAX_ACCEPT_DAYS: i64 = 365;
/// The longest reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// Partition key of a decision request (`APPROVAL#<id>`, sort key `APPROVAL`).
pub fn partition_key(id: &str) -> String {
    format!("APPROVAL#{id}")
}

/// A new opaque id for one check's decision buttons: 128 random bits from
/// the operating system (32 hex digits), stored with the request and in the
/// alert's thread, so a retried alert step answers the same id. Nothing
/// public (execution ARN, workspace) derives it.
pub fn new_approval_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::AwsUnavailable(format!(
            "the operating system gave no random bytes for a decision request id ({e}); the step is retried"
        ))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `text` has the shape of an id [`new_approval_id`] makes.
pub fn is_approval_id(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// `Wait for approval`: keeps the task token under the buttons' id. When a
/// person clicked before the token was kept, the decision is delivered now.
pub async fn await_decision(
    req: &AwaitDecisionRequest,
    approvals: &dyn ApprovalStore,
    tasks: &dyn TaskCallbacks,
    now_epoch: i64,
) -> Result<Value> {
    let deadline = now_epoch + req.timeout_seconds as i64;
    match approvals
        .store_token(&req.approval_id, &req.task_token, deadline)
        .await?
    {
        TokenStored::Waiting => {
            tracing::info!(execution_id = %req.execution_id, workspace = %req.check, approval_id = %req.approval_id, deadline, "waiting for a decision in Slack");
            Ok(json!({"waiting": true, "deadline": deadline}))
        }
        TokenStored::AlreadyDecided(decision) => {
            tracing::info!(execution_id = %req.execution_id, workspace = %req.check, decision = decision.decision.as_str(), "decided before the wait began; waking the check");
            tasks.send_success(&req.task_token, &wake_up()).await?;
            Ok(json!({"waiting": false}))
        }
    }
}

/// What `SendTaskSuccess` hands the waiting check: a wake-up only. The
/// decision stays in the decision request, where `Read the decision` reads it
/// (anyone able to call `SendTaskSuccess` with the token could hand over
/// anything; only the receiver writes the request).
pub fn wake_up() -> Value {
    json!({"wake_up": true})
}

/// `Read the decision`: the decision the verified callback receiver recorded
/// in the decision request (status decided, by whom, when), after the wait
/// was woken. A wake-up without one answers `decision: "none"` (the state
/// machine stops in `No recorded decision`): someone called `SendTaskSuccess`
/// outside the receiver, or the decision was withdrawn.
pub async fn read_decision(
    req: &ReadDecisionRequest,
    approvals: &dyn ApprovalStore,
) -> Result<Value> {
    let request = approvals
        .get(&req.approval_id)
        .await?
        .ok_or_else(|| missing_request(&req.approval_id))?;
    if request.execution_id != req.execution_id || request.check != req.check {
        return Err(Error::InvalidInput(format!(
            "decision request {} belongs to {} in {}, not to {} in this execution; nothing was changed",
            req.approval_id, request.check, request.execution_id, req.check
        )));
    }
    match &request.decision {
        Some(decision)
            if request.status == ApprovalStatus::Decided
                && !decision.automatic
                && decision.by.is_some() =>
        {
            tracing::info!(execution_id = %req.execution_id, workspace = %req.check, approval_id = %req.approval_id, decision = decision.decision.as_str(), "read the recorded decision");
            serde_json::to_value(decision).map_err(|e| Error::InvalidInput(e.to_string()))
        }
        _ => {
            tracing::warn!(execution_id = %req.execution_id, workspace = %req.check, approval_id = %req.approval_id, status = ?request.status, "the wait was woken but the decision request holds no decision the receiver recorded; nothing is changed");
            Ok(json!({
                "decision": NO_RECORDED_DECISION,
                "status": request.status,
                "reason": "woken without a decision recorded by the Slack callback receiver (a SendTaskSuccess from outside it, or a decision withdrawn); nothing was changed",
            }))
        }
    }
}

/// The acceptance date offered first: [`DEFAULT_ACCEPT_DAYS`] from now.
pub fn default_until(now: chrono::DateTime<chrono::Utc>) -> String {
    (now.date_naive() + chrono::Duration::days(DEFAULT_ACCEPT_DAYS))
        .format("%Y-%m-%d")
        .to_string()
}

/// The error for a decision request that does not exist.
pub fn missing_request(id: &str) -> Error {
    Error::InvalidInput(format!(
        "no decision request {id}: the alert with the buttons was not posted for this check (see the 'Notify outcome' step)"
    ))
}
