//! A workspace's past checks, written into the deployed history table as
//! record writes them, so a check starts with history: the poll schedules
//! learn from the durations, and create-run takes the workspace id.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use driftguard_core::history::HistoryRecord;
use driftguard_core::model::{
    CheckOutcome, CheckRef, CheckStatus, Phase, PollState, RemediationOutcome, RunInfo,
};
use driftguard_core::ports::CheckRecords;

use crate::LocalStack;

/// One past check of a workspace.
#[derive(Debug, Clone, Copy, Default)]
pub struct PastCheck {
    /// How long its drift plan took.
    pub plan_seconds: u64,
    /// A remediation it applied: its plan's seconds to confirmable and its apply's seconds.
    pub remediation: Option<(u64, u64)>,
}

impl PastCheck {
    pub fn plan(plan_seconds: u64) -> Self {
        PastCheck {
            plan_seconds,
            remediation: None,
        }
    }
}

/// Writes `past` (newest first, an hour apart) as the workspace's history,
/// with the workspace's emulator id and execution mode `remote`.
pub async fn seed_history(
    stack: &LocalStack,
    organization: &str,
    workspace: &str,
    past: &[PastCheck],
) -> Result<()> {
    let workspace_id = stack
        .tfc
        .workspace_id(organization, workspace)
        .with_context(|| format!("workspace {organization}/{workspace} is not in the emulator"))?;
    let store = stack.history_store();
    let now = Utc::now();
    for (age, check) in past.iter().enumerate() {
        let started = now - chrono::Duration::hours(age as i64 + 1);
        let outcome = past_outcome(organization, workspace, &workspace_id, &started, age, check);
        let record = HistoryRecord::from_outcome(&outcome, "", now, 30);
        store.put_record(&record, None).await?;
    }
    Ok(())
}

fn finished(status: &str, phase: Phase, seconds: u64) -> PollState {
    PollState {
        phase,
        status: status.into(),
        has_changes: Some(phase != Phase::Planned),
        next_wait_seconds: 5,
        polls: 2,
        elapsed_seconds: seconds + 2,
        detail: None,
        plan_seconds: None,
        apply_seconds: None,
    }
}

fn past_outcome(
    organization: &str,
    workspace: &str,
    workspace_id: &str,
    started: &DateTime<Utc>,
    age: usize,
    check: &PastCheck,
) -> CheckOutcome {
    let remediation = check.remediation.map(|(plan, apply)| RemediationOutcome {
        run: None,
        safety: None,
        final_poll: Some(PollState {
            plan_seconds: Some(plan),
            apply_seconds: Some(apply),
            ..finished("applied", Phase::Applied, apply)
        }),
    });
    CheckOutcome {
        poll: Some(PollState {
            plan_seconds: Some(check.plan_seconds),
            ..finished("planned_and_finished", Phase::Planned, check.plan_seconds)
        }),
        approval: None,
        status: if remediation.is_some() {
            CheckStatus::Remediated
        } else {
            CheckStatus::NoDrift
        },
        check: CheckRef {
            organization: organization.into(),
            workspace: workspace.into(),
        },
        execution_id: format!(
            "arn:aws:states:eu-west-1:123456789012:execution:seeded-history:{workspace}-{age}"
        ),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        change: None,
        run: Some(RunInfo {
            run_id: format!("run-seeded{age}"),
            workspace_id: workspace_id.into(),
            created_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            execution_mode: Some("remote".into()),
            ..RunInfo::default()
        }),
        drift: None,
        remediation,
        failure: None,
    }
}
