//! Decision requests and task callbacks in memory (feature `testing`): test doubles, never in a Lambda.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::prelude::*;
#[allow(unused_imports)]
use driftguard_core::approval::*;
#[allow(unused_imports)]
use driftguard_core::model::*;
#[allow(unused_imports)]
use driftguard_core::ports::*;

/// DriftDecision requests in memory, with DynamoDB's conditional semantics.
#[derive(Default)]
pub struct InMemoryApprovals {
    requests: Mutex<BTreeMap<String, ApprovalRequest>>,
}

impl InMemoryApprovals {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ApprovalRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ApprovalStore for InMemoryApprovals {
    async fn create(&self, request: &ApprovalRequest, _now_epoch: i64) -> Result<()> {
        self.lock()
            .entry(request.id.clone())
            .or_insert_with(|| request.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<ApprovalRequest>> {
        Ok(self.lock().get(id).cloned())
    }

    async fn store_token(&self, id: &str, task_token: &str, deadline: i64) -> Result<TokenStored> {
        let mut requests = self.lock();
        let request = requests.get_mut(id).ok_or_else(|| missing_request(id))?;
        if let Some(decision) = &request.decision {
            request.task_token = Some(task_token.to_string());
            return Ok(TokenStored::AlreadyDecided(decision.clone()));
        }
        if request.status == ApprovalStatus::Expired {
            return Err(missing_request(id));
        }
        request.task_token = Some(task_token.to_string());
        request.deadline = Some(deadline);
        request.status = ApprovalStatus::Waiting;
        Ok(TokenStored::Waiting)
    }

    async fn decide(
        &self,
        id: &str,
        decision: &ApprovalDecision,
        _now_epoch: i64,
    ) -> Result<DecisionRecorded> {
        let mut requests = self.lock();
        let Some(request) = requests.get_mut(id) else {
            return Ok(DecisionRecorded::Unknown);
        };
        if let Some(earlier) = &request.decision {
            return Ok(DecisionRecorded::AlreadyDecided(earlier.clone()));
        }
        if request.status == ApprovalStatus::Expired {
            return Ok(DecisionRecorded::Expired);
        }
        request.decision = Some(decision.clone());
        request.status = ApprovalStatus::Decided;
        Ok(DecisionRecorded::Decided {
            task_token: request.task_token.clone(),
        })
    }

    async fn undo_decision(&self, id: &str, task_token: &str) -> Result<bool> {
        let mut requests = self.lock();
        let Some(request) = requests.get_mut(id) else {
            return Ok(false);
        };
        if request.status != ApprovalStatus::Decided
            || request.task_token.as_deref() != Some(task_token)
        {
            return Ok(false);
        }
        request.decision = None;
        request.status = ApprovalStatus::Waiting;
        Ok(true)
    }

    async fn expire(&self, id: &str, task_token: Option<&str>) -> Result<bool> {
        let mut requests = self.lock();
        let Some(request) = requests.get_mut(id) else {
            return Ok(false);
        };
        let expires = match task_token {
            None => matches!(
                request.status,
                ApprovalStatus::Posted | ApprovalStatus::Waiting
            ),
            Some(token) => {
                request.status != ApprovalStatus::Expired
                    && request.task_token.as_deref() == Some(token)
            }
        };
        if expires {
            request.status = ApprovalStatus::Expired;
            request.decision = None;
        }
        Ok(expires)
    }
}

/// Task callbacks recorded in memory; tokens named in `gone` answer `Gone`.
#[derive(Default)]
pub struct RecordingTasks {
    pub delivered: Mutex<Vec<(String, Value)>>,
    pub gone: Mutex<Vec<String>>,
}

#[async_trait]
impl TaskCallbacks for RecordingTasks {
    async fn send_success(&self, task_token: &str, output: &Value) -> Result<TaskDelivery> {
        if self
            .gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|t| t == task_token)
        {
            return Ok(TaskDelivery::Gone("TaskTimedOut".into()));
        }
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((task_token.to_string(), output.clone()));
        Ok(TaskDelivery::Delivered)
    }
}
