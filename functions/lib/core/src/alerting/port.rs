//! The alerting ports: what a chat channel must do for DriftGuard, in the
//! words of a check (outcomes, threads), never of one vendor's format.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::model::{CheckOutcome, CheckRef, CheckStatus, ThreadRef};

/// What the decision controls of an alert say and carry.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRequest<'a> {
    /// The opaque id every button carries.
    pub approval_id: &'a str,
    pub drifted_resources: usize,
    /// When the wait ends (epoch seconds).
    pub deadline_epoch: i64,
    /// The acceptance date offered first (`YYYY-MM-DD`).
    pub default_until: String,
    /// Who may decide, as configured (ids).
    pub approvers: &'a [String],
    /// `allow_destructive_remediation`: a fix (this click) may apply a plan
    /// that destroys or replaces resources.
    pub allow_destructive: bool,
    /// Drifted resources the drift plan would destroy or replace to change
    /// them back (their planned actions include `delete`).
    pub destructive: &'a [String],
}

/// How one chat app writes alerts, replies and the thread parent's status
/// (Slack: Block Kit). The thread bookkeeping ([`super::threads`]) decides
/// what is said and where; the format only says how it looks.
pub trait AlertFormat: Send + Sync {
    /// A check's alert (a thread's parent).
    fn alert(&self, outcome: &CheckOutcome, execution_url: &str) -> Value;
    /// The first alert of a drift that asks for a decision (before its controls).
    fn decision_alert(&self, outcome: &CheckOutcome, execution_url: &str) -> Value;
    /// A drift changed again, told in its open thread.
    fn changed_again(
        &self,
        outcome: &CheckOutcome,
        execution_url: &str,
        asks_decision: bool,
    ) -> Value;
    /// `message` with the decision controls (Fix / Accept / Dismiss).
    fn with_decision(&self, message: &Value, request: &DecisionRequest<'_>) -> Value;
    /// A follow-up of the same execution, as a reply in its thread.
    fn reply(&self, outcome: &CheckOutcome, execution_url: &str) -> Value;
    /// A later clean check resolved the drift: the reply in its thread.
    fn resolved_reply(&self, execution_url: &str, started_at: &str) -> Value;
    /// The parent with where the drift stands now (`line`) for `workspace`.
    fn annotate_parent(
        &self,
        parent: &Value,
        status: CheckStatus,
        workspace: &str,
        line: &str,
    ) -> Value;
    /// The parent's status line for an outcome.
    fn latest_line(&self, outcome: &CheckOutcome, execution_url: &str) -> String;
    /// The parent's status line when the drift changed again.
    fn changed_again_line(&self, execution_url: &str) -> String;
    /// The parent's title once a clean check resolved the drift.
    fn resolved_parent(&self, parent: &Value, workspace: &str) -> Value;
}

/// A channel without threads (an incoming webhook): one message per
/// outcome, rendered by the channel's adapter.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Tell the outcome; `execution_url` is where a person traces the check.
    async fn notify(&self, outcome: &CheckOutcome, execution_url: &str) -> Result<()>;
}

/// A chat app's Web API (Slack's with the bot token): post, reply in a
/// thread, update; the members of a user group; answer an interaction.
#[async_trait]
pub trait ChatApi: Send + Sync {
    /// `chat.postMessage` of a Block Kit payload (`text` + `blocks`), as a
    /// reply when `thread_ts` is given.
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        payload: &Value,
    ) -> Result<ThreadRef>;
    /// `chat.update` of a message the app posted.
    async fn update_message(&self, channel: &str, ts: &str, payload: &Value) -> Result<()>;
    /// `usergroups.users.list`: the user ids in a user group.
    async fn user_group_members(&self, user_group: &str) -> Result<Vec<String>>;
    /// Posts to an interaction's `response_url` (an ephemeral answer to the
    /// person who clicked). Only Slack's own hosts are accepted.
    async fn respond(&self, response_url: &str, payload: &Value) -> Result<()>;
}

/// The thread DriftGuard started for one check's drift alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertThread {
    pub thread: ThreadRef,
    pub execution_id: String,
    /// The drift fingerprint the alert is about.
    pub fingerprint: String,
    /// Its addresses and paths without the values ([`crate::model::DriftReport::paths_fingerprint`]):
    /// a later drift with the same one and another fingerprint changed again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub paths_fingerprint: String,
    /// The parent message as last posted or updated (updates start from it).
    pub parent: Value,
    /// The decision buttons' id, when the alert asked for a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

/// Alert threads by check and execution, and each workspace's unresolved one.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Stores a check's thread; `open`: its drift remains, so it becomes the
    /// workspace's open drift thread (a later clean check resolves it).
    async fn save_thread(
        &self,
        check: &CheckRef,
        thread: &AlertThread,
        open: bool,
        now_epoch: i64,
    ) -> Result<()>;
    /// The thread of this check of this execution, if one was posted.
    async fn thread(&self, check: &CheckRef, execution_id: &str) -> Result<Option<AlertThread>>;
    /// The workspace's drift thread not resolved yet (the newest alert).
    async fn open_thread(&self, check: &CheckRef) -> Result<Option<AlertThread>>;
    /// Keeps the parent message's latest version (after a `chat.update`).
    async fn set_parent(&self, check: &CheckRef, execution_id: &str, parent: &Value) -> Result<()>;
    /// The drift of this execution's thread is resolved: it is no longer the open one.
    async fn close_thread(&self, check: &CheckRef, execution_id: &str) -> Result<()>;
}
