//! In-memory [`Notifier`] and [`ChatApi`] for tests: they record what was
//! posted (the notifier renders it as Slack's webhook would), and can be
//! told to fail.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::Value;

use driftguard_core::error::{Error, Result};
use driftguard_core::model::{CheckOutcome, ThreadRef};
use driftguard_core::ports::{ChatApi, Notifier};

/// Records every payload it is asked to post. `fail_next` makes the next posts
/// fail with a given error (e.g. `SlackRateLimited`) without recording them.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    posted: Vec<Value>,
    planned_failures: VecDeque<Error>,
    attempts: usize,
}

impl RecordingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `times` posts fail with `error` (queued after failures already planned).
    pub fn fail_next(&self, times: usize, error: Error) {
        let mut state = self.lock();
        state
            .planned_failures
            .extend(std::iter::repeat_n(error, times));
    }

    /// Payloads posted successfully, oldest first.
    pub fn payloads(&self) -> Vec<Value> {
        self.lock().posted.clone()
    }

    /// The payload posted last, if any.
    pub fn last(&self) -> Option<Value> {
        self.lock().posted.last().cloned()
    }

    /// Posts attempted, including failed ones.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves valid data behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RecordingNotifier {
    /// Records one payload as the webhook would post it.
    pub async fn post(&self, payload: &Value) -> Result<()> {
        let mut state = self.lock();
        state.attempts += 1;
        if let Some(error) = state.planned_failures.pop_front() {
            return Err(error);
        }
        state.posted.push(payload.clone());
        Ok(())
    }
}

/// Renders what it is told as Slack's webhook does (Block Kit), so tests read
/// the message a person would see.
#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, outcome: &CheckOutcome, execution_url: &str) -> Result<()> {
        self.post(&driftguard_slack::build_message(outcome, execution_url))
            .await
    }
}

/// One message the app posted, with its updates.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// The payload as posted, then each update.
    pub versions: Vec<Value>,
}

impl ChatMessage {
    pub fn latest(&self) -> &Value {
        self.versions.last().unwrap_or(&Value::Null)
    }
}

#[derive(Debug, Default)]
struct ChatState {
    messages: Vec<ChatMessage>,
    groups: BTreeMap<String, Vec<String>>,
    responses: Vec<(String, Value)>,
    planned_failures: VecDeque<Error>,
    calls: usize,
}

/// Records what the Slack app posts, updates and answers.
#[derive(Debug, Default)]
pub struct RecordingChat {
    state: Mutex<ChatState>,
}

impl RecordingChat {
    pub fn new() -> Self {
        Self::default()
    }

    /// A user group and its members.
    pub fn with_group(self, group: &str, members: &[&str]) -> Self {
        self.lock().groups.insert(
            group.into(),
            members.iter().map(|m| m.to_string()).collect(),
        );
        self
    }

    /// The next `times` calls fail with `error`.
    pub fn fail_next(&self, times: usize, error: Error) {
        self.lock()
            .planned_failures
            .extend(std::iter::repeat_n(error, times));
    }

    /// Every message, oldest first.
    pub fn messages(&self) -> Vec<ChatMessage> {
        self.lock().messages.clone()
    }

    /// Top-level messages (thread parents).
    pub fn parents(&self) -> Vec<ChatMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    /// Replies in the thread of `ts`.
    pub fn replies(&self, ts: &str) -> Vec<ChatMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    /// Posts to response URLs: (url, payload).
    pub fn responses(&self) -> Vec<(String, Value)> {
        self.lock().responses.clone()
    }

    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn lock(&self) -> MutexGuard<'_, ChatState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start_call(state: &mut ChatState) -> Result<()> {
        state.calls += 1;
        match state.planned_failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ChatApi for RecordingChat {
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        payload: &Value,
    ) -> Result<ThreadRef> {
        let mut state = self.lock();
        Self::start_call(&mut state)?;
        let ts = format!("1700000000.{:06}", state.messages.len() + 1);
        state.messages.push(ChatMessage {
            channel: channel.into(),
            ts: ts.clone(),
            thread_ts: thread_ts.map(str::to_string),
            versions: vec![payload.clone()],
        });
        Ok(ThreadRef {
            channel: channel.into(),
            ts,
        })
    }

    async fn update_message(&self, channel: &str, ts: &str, payload: &Value) -> Result<()> {
        let mut state = self.lock();
        Self::start_call(&mut state)?;
        let message = state
            .messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
            .ok_or_else(|| Error::SlackRejected("chat.update answered message_not_found".into()))?;
        message.versions.push(payload.clone());
        Ok(())
    }

    async fn user_group_members(&self, user_group: &str) -> Result<Vec<String>> {
        let mut state = self.lock();
        Self::start_call(&mut state)?;
        state.groups.get(user_group).cloned().ok_or_else(|| {
            Error::SlackRejected("usergroups.users.list answered no_such_subteam".into())
        })
    }

    async fn respond(&self, response_url: &str, payload: &Value) -> Result<()> {
        let mut state = self.lock();
        Self::start_call(&mut state)?;
        state.responses.push((response_url.into(), payload.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn records_payloads_and_fails_when_told() {
        let notifier = RecordingNotifier::new();
        notifier.fail_next(2, Error::SlackUnavailable("down".into()));

        for _ in 0..2 {
            let error = notifier.post(&json!({"text": "a"})).await.unwrap_err();
            assert_eq!(error, Error::SlackUnavailable("down".into()));
        }
        notifier.post(&json!({"text": "b"})).await.unwrap();

        assert_eq!(notifier.payloads(), vec![json!({"text": "b"})]);
        assert_eq!(notifier.last(), Some(json!({"text": "b"})));
        assert_eq!(notifier.attempts(), 3);
    }
}
