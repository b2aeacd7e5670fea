//! Coalescing batches in memory (feature `testing`): test doubles, never in a Lambda.

use async_trait::async_trait;
use driftguard_core::error::Error;
use driftguard_core::model::MAX_CHANGES_IN_STATE;
use driftguard_core::ports::ClosedBatch;
use std::collections::HashMap;
use std::sync::Mutex;

#[allow(unused_imports)]
use crate::prelude::*;
#[allow(unused_imports)]
use driftguard_core::coalesce::*;
#[allow(unused_imports)]
use driftguard_core::model::*;
#[allow(unused_imports)]
use driftguard_core::ports::*;

/// One batch: the changes an owner execution will plan for.
#[derive(Debug, Clone)]
struct Batch {
    owner_execution_id: String,
    opened_at: i64,
    changes: Vec<Change>,
    omitted: usize,
}

impl Batch {
    fn add(&mut self, change: &Change) {
        // The same event arriving twice (a retried step) is counted once.
        if self.changes.iter().any(|c| c.event_id == change.event_id) {
            return;
        }
        if self.changes.len() < MAX_CHANGES_IN_STATE {
            self.changes.push(change.clone());
        } else {
            self.omitted += 1;
        }
    }

    fn closed(self) -> ClosedBatch {
        ClosedBatch {
            changes: self.changes,
            omitted: self.omitted,
            closed_now: false,
            run_requested: false,
        }
    }
}

#[derive(Debug, Default)]
struct WorkspaceBatches {
    open: Option<Batch>,
    /// Batches no longer open, by owner execution: `close` answers the same again.
    closed: HashMap<String, ClosedBatch>,
}

/// [`BatchStore`] in memory, for tests (feature `testing`).
#[derive(Debug, Default)]
pub struct InMemoryBatchStore {
    workspaces: Mutex<HashMap<CheckRef, WorkspaceBatches>>,
}

impl InMemoryBatchStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<CheckRef, WorkspaceBatches>>> {
        self.workspaces.lock().map_err(|_| {
            Error::AwsUnavailable("the in-memory batch store was poisoned by a panic".into())
        })
    }
}

#[async_trait]
impl BatchStore for InMemoryBatchStore {
    async fn open_or_join(
        &self,
        check: &CheckRef,
        execution_id: &str,
        change: &Change,
        now_epoch: i64,
        join_window_seconds: i64,
    ) -> Result<BatchJoin> {
        let mut workspaces = self.lock()?;
        let workspace = workspaces.entry(check.clone()).or_default();

        if let Some(open) = workspace.open.as_mut() {
            if open.owner_execution_id == execution_id {
                open.add(change);
                return Ok(BatchJoin::Opened);
            }
            if now_epoch - open.opened_at <= join_window_seconds {
                open.add(change);
                return Ok(BatchJoin::Joined {
                    owner_execution_id: open.owner_execution_id.clone(),
                });
            }
        }

        // No open batch, or a stale one whose owner may have died. A stale batch is
        // kept as closed so that a late owner still gets its changes from `close`.
        if let Some(stale) = workspace.open.take() {
            let owner = stale.owner_execution_id.clone();
            workspace
                .closed
                .entry(owner)
                .or_insert_with(|| stale.closed());
        }
        let mut batch = Batch {
            owner_execution_id: execution_id.to_string(),
            opened_at: now_epoch,
            changes: Vec::new(),
            omitted: 0,
        };
        batch.add(change);
        workspace.open = Some(batch);
        Ok(BatchJoin::Opened)
    }

    /// An execution that owns no batch of this workspace gets an empty batch;
    /// the caller then plans for its own change alone.
    async fn close(
        &self,
        check: &CheckRef,
        execution_id: &str,
        _now_epoch: i64,
    ) -> Result<ClosedBatch> {
        let mut workspaces = self.lock()?;
        let workspace = workspaces.entry(check.clone()).or_default();
        if let Some(closed) = workspace.closed.get(execution_id) {
            return Ok(closed.clone());
        }
        let owns_open = workspace
            .open
            .as_ref()
            .is_some_and(|open| open.owner_execution_id == execution_id);
        if owns_open && let Some(open) = workspace.open.take() {
            let closed = open.closed();
            workspace
                .closed
                .insert(execution_id.to_string(), closed.clone());
            return Ok(ClosedBatch {
                closed_now: true,
                ..closed
            });
        }
        Ok(ClosedBatch {
            changes: Vec::new(),
            omitted: 0,
            closed_now: false,
            run_requested: false,
        })
    }

    async fn mark_run_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        _now_epoch: i64,
    ) -> Result<()> {
        let mut workspaces = self.lock()?;
        let workspace = workspaces.entry(check.clone()).or_default();
        workspace
            .closed
            .entry(execution_id.to_string())
            .or_insert_with(|| ClosedBatch {
                changes: Vec::new(),
                omitted: 0,
                closed_now: false,
                run_requested: false,
            })
            .run_requested = true;
        Ok(())
    }
}
