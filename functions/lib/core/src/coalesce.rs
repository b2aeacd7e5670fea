//! Coalescing: a burst of changes to one workspace becomes one plan.
//!
//! The first execution to see a change for a workspace opens a batch and owns
//! the check; executions arriving while the batch is open add their change to
//! it and end `Coalesced`. The owner closes the batch when it creates the plan
//! run, and the run carries every change of the batch.

use crate::error::Result;
use crate::model::{Admission, Change, CheckRef, Decision, JoinedBatch};
use crate::ports::{BatchJoin, BatchStore};

/// Opens or joins a batch per routed workspace and builds the admission result.
pub async fn coalesce(
    store: &dyn BatchStore,
    execution_id: &str,
    change: Change,
    checks: Vec<CheckRef>,
    reason: String,
    now_epoch: i64,
    join_window_seconds: i64,
) -> Result<Admission> {
    let mut owned = Vec::new();
    let mut joined = Vec::new();
    for check in checks {
        match store
            .open_or_join(
                &check,
                execution_id,
                &change,
                now_epoch,
                join_window_seconds,
            )
            .await?
        {
            BatchJoin::Opened => owned.push(check),
            // A retried admission step finds the batch it opened itself: still ours.
            BatchJoin::Joined { owner_execution_id } if owner_execution_id == execution_id => {
                owned.push(check)
            }
            BatchJoin::Joined { owner_execution_id } => joined.push(JoinedBatch {
                check,
                owner_execution_id,
            }),
        }
    }

    let reason = coalesce_reason(reason, &owned, &joined);
    let decision = match (owned.is_empty(), joined.is_empty()) {
        (false, _) => Decision::Admit,
        (true, false) => Decision::Coalesce,
        // No check at all: nothing to plan.
        (true, true) => Decision::Ignore,
    };
    Ok(Admission {
        decision,
        reason,
        change: Some(change),
        checks: owned,
        joined,
    })
}

fn coalesce_reason(reason: String, owned: &[CheckRef], joined: &[JoinedBatch]) -> String {
    let mut sentences = vec![reason];
    if !owned.is_empty() {
        let list = owned
            .iter()
            .map(CheckRef::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        sentences.push(format!(
            "This execution opened the batch for {list} and plans for it."
        ));
    }
    for batch in joined {
        sentences.push(format!(
            "Joined the open batch of execution {} for {}; that execution plans for this change too.",
            batch.owner_execution_id, batch.check
        ));
    }
    if owned.is_empty() && joined.is_empty() {
        sentences.push("No workspace was routed, so nothing is checked.".to_string());
    }
    sentences.join(" ")
}
