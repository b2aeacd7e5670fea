//! `Create plan run`: close the batch and create (or find again) the speculative plan run, with the first wait learned from history.

use super::*;
use crate::config::PollConfig;
use crate::error::{Error, Result};
use crate::history::HistoryRecord;
use crate::poll;

/// Create plan run: close the batch, then create (or find) the speculative
/// plan. Without plan history: the first poll after the fixed short wait.
pub async fn create_run(
    req: &CreateRunRequest,
    tfc: &dyn TerraformCloud,
    batches: &dyn BatchStore,
    now_epoch: i64,
) -> Result<RunInfo> {
    create_run_learning(req, tfc, batches, None, &PollConfig::default(), now_epoch).await
}

/// Create plan run with the workspace's plan history: the run carries when
/// its plan is expected to finish and the wait before the first poll. A
/// history that cannot be read costs the learned schedule, never the check.
pub async fn create_run_learning(
    req: &CreateRunRequest,
    tfc: &dyn TerraformCloud,
    batches: &dyn BatchStore,
    history: Option<&dyn HistoryStore>,
    poll_config: &PollConfig,
    now_epoch: i64,
) -> Result<RunInfo> {
    let recent = match history {
        Some(store) => match store.list_records(&req.check, poll::HISTORY_LEN).await {
            Ok(recent) => recent,
            Err(e) => {
                tracing::warn!(execution_id = %req.execution_id, workspace = %req.check, error = %e, "could not read the workspace's history; looking the workspace up and polling on the fixed schedule");
                vec![]
            }
        },
        None => vec![],
    };
    // The workspace as the last check saw it: no lookup request. A workspace
    // deleted and created again under its name has a new id: the run
    // request answers 404, and the workspace is looked up after all.
    let known = recent.iter().find_map(|r| {
        r.workspace_id.as_ref().map(|id| TfcWorkspace {
            id: id.clone(),
            name: req.check.workspace.clone(),
            organization: req.check.organization.clone(),
            execution_mode: r.execution_mode.clone(),
            current_configuration_version_id: None,
        })
    });
    let run = match known {
        Some(workspace) => {
            match create_run_unscheduled(req, tfc, batches, Some(workspace), now_epoch).await {
                Err(Error::TfcNotFound { what }) => {
                    tracing::info!(execution_id = %req.execution_id, workspace = %req.check, %what, "the workspace id from history is gone; looking the workspace up");
                    create_run_unscheduled(req, tfc, batches, None, now_epoch).await?
                }
                other => other?,
            }
        }
        None => create_run_unscheduled(req, tfc, batches, None, now_epoch).await?,
    };
    let learned = LearnedDurations::of(&recent);
    let expected = poll::expected_finish_seconds(&learned.plans);
    let first_wait =
        poll::first_wait_seconds(expected, age_of(&run.created_at, now_epoch), poll_config);
    tracing::info!(
        execution_id = %req.execution_id, run_id = %run.run_id, plans_known = learned.plans.len(),
        remediation_plans_known = learned.remediation_plans.len(), applies_known = learned.applies.len(),
        expected_finish_seconds = ?expected, first_wait_seconds = first_wait, "poll schedule"
    );
    Ok(RunInfo {
        expected_finish_seconds: expected,
        first_wait_seconds: Some(first_wait),
        expected_remediation_plan_seconds: poll::expected_finish_seconds(
            &learned.remediation_plans,
        ),
        expected_apply_seconds: poll::expected_finish_seconds(&learned.applies),
        ..run
    })
}

/// Seconds since an RFC 3339 time (0 when unreadable or in the future).
pub(super) fn age_of(rfc3339: &str, now_epoch: i64) -> u64 {
    epoch_of(rfc3339).map_or(0, |t| (now_epoch - t).max(0) as u64)
}

/// Durations the workspace's recent checks measured, newest first: drift
/// plans, remediation plans (creation → confirmable) and applies. The three
/// schedules learn from them.
struct LearnedDurations {
    plans: Vec<u64>,
    remediation_plans: Vec<u64>,
    applies: Vec<u64>,
}

impl LearnedDurations {
    fn of(recent: &[HistoryRecord]) -> Self {
        let remediation_polls = || {
            recent
                .iter()
                .filter_map(|r| r.remediation.as_ref()?.final_poll.as_ref())
        };
        LearnedDurations {
            plans: recent.iter().filter_map(|r| r.plan_seconds).collect(),
            remediation_plans: remediation_polls().filter_map(|p| p.plan_seconds).collect(),
            applies: remediation_polls()
                .filter_map(|p| p.apply_seconds)
                .collect(),
        }
    }
}

async fn create_run_unscheduled(
    req: &CreateRunRequest,
    tfc: &dyn TerraformCloud,
    batches: &dyn BatchStore,
    known: Option<TfcWorkspace>,
    now_epoch: i64,
) -> Result<RunInfo> {
    // Close first: HCP Terraform calls (and their rate-limit retries) must not
    // keep the batch open past its join window, where a joiner's change could
    // land in a batch nobody plans for.
    let batch = batches
        .close(&req.check, &req.execution_id, now_epoch)
        .await?;
    let workspace = match known {
        Some(workspace) => workspace,
        None => tfc.workspace(&req.check).await?,
    };
    let mut changes = batch.changes;
    if !changes.iter().any(|c| c.event_id == req.change.event_id) {
        changes.insert(0, req.change.clone());
    }
    let mut omitted = batch.omitted;
    if changes.len() > MAX_CHANGES_IN_STATE {
        omitted += changes.len() - MAX_CHANGES_IN_STATE;
        changes.truncate(MAX_CHANGES_IN_STATE);
    }

    let tag = run_tag("check", &req.execution_id);
    // The runs list allows 30 requests per minute: read it only when an
    // earlier attempt of this step (a retry, a redrive) got as far as asking
    // for the run. A retry after a paced or refused lookup does not, so a
    // burst of checks does not spend the runs list on its retries.
    let earlier = if batch.closed_now || !batch.run_requested {
        None
    } else {
        tfc.find_run_by_tag(&workspace.id, &tag).await?
    };
    let run = match earlier {
        Some(run) => {
            tracing::info!(execution_id = %req.execution_id, workspace_id = %workspace.id, run_id = %run.id, "found the run this execution already created");
            run
        }
        None => {
            let total = changes.len() + omitted;
            let first = &req.change;
            let message = format!(
                "DriftGuard drift check: {} {} by {} ({} change{}) {tag}",
                first.event_source.split('.').next().unwrap_or(""),
                first.event_name,
                first
                    .actor
                    .arn
                    .as_deref()
                    .unwrap_or(&first.actor.actor_type),
                total,
                if total == 1 { "" } else { "s" }
            );
            let spec = RunSpec {
                message,
                plan_only: true,
                target_addrs: vec![],
            };
            if !batch.run_requested {
                batches
                    .mark_run_requested(&req.check, &req.execution_id, now_epoch)
                    .await?;
            }
            let run = tfc.create_run(&workspace.id, &spec).await?;
            tracing::info!(execution_id = %req.execution_id, workspace_id = %workspace.id, run_id = %run.id, "created speculative plan run");
            run
        }
    };
    Ok(RunInfo {
        changes,
        changes_omitted: omitted,
        ..run_info(tfc, &req.check, run, &workspace)
    })
}

/// The state-document view of a run.
pub(super) fn run_info(
    tfc: &dyn TerraformCloud,
    check: &CheckRef,
    run: TfcRun,
    workspace: &TfcWorkspace,
) -> RunInfo {
    RunInfo {
        run_url: tfc.run_url(check, &run.id),
        run_id: run.id,
        workspace_id: workspace.id.clone(),
        plan_id: run.plan_id,
        created_at: run.created_at,
        changes: vec![],
        changes_omitted: 0,
        targets_omitted: run
            .target_addrs
            .len()
            .saturating_sub(MAX_RESOURCES_IN_STATE),
        target_addrs: run
            .target_addrs
            .into_iter()
            .take(MAX_RESOURCES_IN_STATE)
            .collect(),
        execution_mode: workspace.execution_mode.clone(),
        expected_finish_seconds: None,
        first_wait_seconds: None,
        expected_remediation_plan_seconds: None,
        expected_apply_seconds: None,
    }
}
