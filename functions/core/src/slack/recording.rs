//! An in-memory [`Notifier`] for tests: records payloads, and can be told to fail.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ports::Notifier;

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

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn post(&self, payload: &Value) -> Result<()> {
        let mut state = self.lock();
        state.attempts += 1;
        if let Some(error) = state.planned_failures.pop_front() {
            return Err(error);
        }
        state.posted.push(payload.clone());
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
