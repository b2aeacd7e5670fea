//! Remediation attempts in memory (feature `testing`): test doubles, never in a Lambda.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use driftguard_core::error::Result;
use driftguard_core::model::CheckRef;
use driftguard_core::ports::{RemediationAttempt, RemediationLedger};
use driftguard_core::remediation::attempt_key;

/// [`RemediationLedger`] in memory, with the DynamoDB adapter's conditions.
#[derive(Debug, Default)]
pub struct InMemoryRemediationLedger {
    attempts: Mutex<HashMap<(String, String), RemediationAttempt>>,
}

impl InMemoryRemediationLedger {
    pub fn new() -> Self {
        Self::default()
    }

    fn attempts(&self) -> MutexGuard<'_, HashMap<(String, String), RemediationAttempt>> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an attempt as it is (tests of what a step finds).
    pub fn put(&self, check: &CheckRef, execution_id: &str, attempt: RemediationAttempt) {
        self.attempts()
            .insert(attempt_key(check, execution_id), attempt);
    }
}

#[async_trait]
impl RemediationLedger for InMemoryRemediationLedger {
    async fn attempt(
        &self,
        check: &CheckRef,
        execution_id: &str,
    ) -> Result<Option<RemediationAttempt>> {
        Ok(self
            .attempts()
            .get(&attempt_key(check, execution_id))
            .cloned())
    }

    async fn mark_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<()> {
        self.attempts()
            .entry(attempt_key(check, execution_id))
            .or_insert(RemediationAttempt {
                requested_at: now_epoch,
                run_id: None,
                safe_run_id: None,
            });
        Ok(())
    }

    async fn set_run(&self, check: &CheckRef, execution_id: &str, run_id: &str) -> Result<bool> {
        let mut attempts = self.attempts();
        let attempt = attempts
            .entry(attempt_key(check, execution_id))
            .or_default();
        match attempt.run_id.as_deref() {
            Some(stored) => Ok(stored == run_id),
            None => {
                attempt.run_id = Some(run_id.to_string());
                Ok(true)
            }
        }
    }

    async fn record_safe(
        &self,
        check: &CheckRef,
        execution_id: &str,
        run_id: &str,
    ) -> Result<bool> {
        let mut attempts = self.attempts();
        match attempts.get_mut(&attempt_key(check, execution_id)) {
            Some(attempt) if attempt.run_id.as_deref() == Some(run_id) => {
                attempt.safe_run_id = Some(run_id.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
