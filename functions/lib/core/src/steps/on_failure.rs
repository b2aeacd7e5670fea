//! `on-failure`: a failed execution is recorded and alerted once, and a remediation run it left behind is discarded.

use super::*;
use crate::admission::{self, Evaluation};
use crate::alerting::ChatApp;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::history::{self};
use crate::tfc::status::{self};
use serde_json::Value;

/// The execution ARN in a "Step Functions Execution Status Change" event.
pub fn failed_execution_arn(event: &Value) -> Result<String> {
    event
        .pointer("/detail/executionArn")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::InvalidInput(
                "expected a 'Step Functions Execution Status Change' event with detail.executionArn".into(),
            )
        })
}

/// The message inside a failure cause. For a Lambda task, Step Functions puts
/// the function's error document (`{"errorType", "errorMessage", …}`) in the
/// cause; people need the message, which says what to do.
pub fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|doc| {
            doc.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string())
}

/// The checks a failed execution leaves unfinished, with the change that
/// started it: the checks its admission step owned whose Map iteration did not
/// succeed. When the execution failed before admission decided, the
/// workspaces the event routes to (nothing else is known).
fn unfinished_checks(
    execution: &ExecutionDescription,
    config: &Config,
) -> (Option<Change>, Vec<CheckRef>) {
    let admission = execution
        .admission
        .clone()
        .and_then(|value| serde_json::from_value::<Admission>(value).ok());
    if let Some(admission) = admission {
        let unfinished = admission
            .checks
            .into_iter()
            .enumerate()
            .filter(|(index, _)| !execution.finished_checks.contains(index))
            .map(|(_, check)| check)
            .collect();
        return (admission.change, unfinished);
    }
    match admission::evaluate(&execution.input, &config.admission, &config.workspaces) {
        Evaluation::Admit { change, checks, .. } => (Some(change), checks),
        // Not even routable: every workspace, so the failure is seen.
        Evaluation::Ignore { .. } => (
            None,
            config.workspaces.iter().map(|w| w.check_ref()).collect(),
        ),
    }
}

/// The redrive count a status-change event carries (`detail.redriveCount`).
fn event_redrive_count(event: &Value) -> u32 {
    event
        .pointer("/detail/redriveCount")
        .and_then(Value::as_u64)
        .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32)
}

/// Why a failure event no longer describes the execution (it was redriven
/// since: running again, or failed again at a later redrive, whose own event
/// is handled), if it does not. Events are acted on only while the execution
/// is still failed at the event's redrive count.
fn no_longer_this_failure(event: &Value, execution: &ExecutionDescription) -> Option<&'static str> {
    if !matches!(
        execution.status.as_str(),
        "FAILED" | "TIMED_OUT" | "ABORTED"
    ) {
        return Some("the execution is no longer failed (redriven since)");
    }
    let event_count = event
        .pointer("/detail/redriveCount")
        .and_then(Value::as_u64)?;
    (u64::from(execution.redrive_count) > event_count)
        .then_some("the execution was redriven since this event; a later failure has its own event")
}

/// States after which a failed execution may have left a remediation run
/// behind (created, still planning, or waiting for confirmation). Each is a
/// state of the ASL (`asl_contract` checks it).
pub const REMEDIATION_STATES: &[&str] = &[
    "Create remediation run",
    "Remediation run created?",
    "Wait for remediation plan",
    "Check remediation plan",
    "Remediation plan finished?",
    "Safety check",
    "Safe to apply?",
    "Apply requested?",
    "Apply remediation",
    "Wait for apply",
    "Check apply status",
    "Apply finished?",
];

/// The remediation run a failed execution created for `check`, as HCP
/// Terraform has it and as the history keeps it: among the runs carrying the
/// execution's tag (which is public), only one DriftGuard's token created. A
/// run someone else queued with the tag is never discarded or canceled.
async fn find_left_over_remediation(
    tfc: &dyn TerraformCloud,
    check: &CheckRef,
    execution_arn: &str,
) -> Result<Option<(TfcRun, RunInfo)>> {
    let workspace = tfc.workspace(check).await?;
    let tag = run_tag("remediation", execution_arn);
    let tagged = tfc.find_runs_by_tag(&workspace.id, &tag).await?;
    if tagged.is_empty() {
        return Ok(None);
    }
    let token_user = tfc.token_user().await?;
    let mut own = None;
    for run in tagged {
        match crate::remediation::not_drift_guards(&run, &token_user, execution_arn) {
            None if own.is_none() => own = Some(run),
            None => {}
            Some(why) => {
                tracing::warn!(execution_id = %execution_arn, workspace = %check, run_id = %run.id, %why, "a run carrying the execution's tag is not DriftGuard's; left alone")
            }
        }
    }
    Ok(own.map(|run| (run.clone(), run_info(tfc, check, run, &workspace))))
}

/// The decision the callback receiver recorded for the failed check's
/// buttons (when it had any), after expiring them for clicks still to come.
async fn recorded_decision(
    app: &ChatApp<'_>,
    check: &CheckRef,
    execution_arn: &str,
) -> Result<Option<ApprovalDecision>> {
    let Some(id) = app
        .conversations
        .thread(check, execution_arn)
        .await?
        .and_then(|t| t.approval_id)
    else {
        return Ok(None);
    };
    // Clicks on the failed check's buttons answer "expired".
    app.approvals.expire(&id, None).await?;
    Ok(app.approvals.get(&id).await?.and_then(|request| {
        request
            .decision
            .filter(|d| request.status == ApprovalStatus::Decided && d.by.is_some())
    }))
}

/// A remediation run a failed execution left behind is discarded (or, while
/// it still plans, canceled), so it never waits for confirmation holding the
/// workspace's run queue. A running apply is left alone. Returns what was done.
async fn discard_left_over_remediation(
    tfc: &dyn TerraformCloud,
    check: &CheckRef,
    execution_arn: &str,
    run: TfcRun,
) -> Result<Option<String>> {
    let comment = format!(
        "DriftGuard: the check execution {} failed; its remediation run is discarded so it does not hold the workspace's run queue",
        history::execution_name(execution_arn)
    );
    let done = if run.is_discardable {
        tfc.discard_run(&run.id, &comment).await?;
        format!(
            "remediation run {} discarded (it was '{}')",
            run.id, run.status
        )
    } else if run.is_cancelable && !status::APPLY_STAGE.contains(&run.status.as_str()) {
        tfc.cancel_run(&run.id, &comment).await?;
        format!("remediation run {} canceled while '{}'", run.id, run.status)
    } else {
        return Ok(None);
    };
    tracing::warn!(execution_id = %execution_arn, workspace = %check, run_id = %run.id, %done, "left-over remediation run stopped");
    Ok(Some(done))
}

/// On failure through the incoming webhook (see [`handle_failure_with_app`]).
#[allow(clippy::too_many_arguments)]
pub async fn handle_failure(
    event: &Value,
    executions: &dyn ExecutionReader,
    store: &dyn HistoryStore,
    notifier: &dyn Notifier,
    metrics: &dyn MetricsSink,
    tfc: Option<&dyn TerraformCloud>,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FailureHandled> {
    handle_failure_with_app(
        event, executions, store, notifier, metrics, None, tfc, config, now,
    )
    .await
}

/// On failure: record CheckFailed for each check the execution owned and did
/// not finish, and alert, with the redrive hint (each failure of a redriven
/// execution is recorded and alerted once; in the drift's Slack thread when
/// the check had one, and its decision buttons expire); then discard a
/// remediation run the execution left waiting (when `tfc` is given).
#[allow(clippy::too_many_arguments)]
pub async fn handle_failure_with_app(
    event: &Value,
    executions: &dyn ExecutionReader,
    store: &dyn HistoryStore,
    notifier: &dyn Notifier,
    metrics: &dyn MetricsSink,
    app: Option<&ChatApp<'_>>,
    tfc: Option<&dyn TerraformCloud>,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FailureHandled> {
    let execution_arn = failed_execution_arn(event)?;
    let execution = executions.describe(&execution_arn).await?;
    if let Some(why) = no_longer_this_failure(event, &execution) {
        tracing::info!(execution_id = %execution_arn, status = %execution.status, redrive_count = execution.redrive_count, why, "nothing to do for this failure event");
        return Ok(FailureHandled {
            execution_id: execution_arn,
            checks: vec![],
            recorded: 0,
            notified: 0,
            remediation_runs_stopped: vec![],
        });
    }
    let (change, checks) = unfinished_checks(&execution, config);
    let failure = Failure {
        error: execution
            .error
            .clone()
            .unwrap_or_else(|| execution.status.clone()),
        cause: execution
            .cause
            .as_deref()
            .map(readable_cause)
            .unwrap_or_else(|| format!("the execution ended {}", execution.status)),
        failed_state: execution.failed_state.clone(),
        redrive_count: execution.redrive_count.max(event_redrive_count(event)),
    };
    tracing::warn!(
        execution_id = %execution_arn, error = %failure.error, failed_state = ?failure.failed_state,
        redrive_count = failure.redrive_count, unfinished_checks = checks.len(), "check failed"
    );
    let mut handled = FailureHandled {
        execution_id: execution_arn.clone(),
        checks: checks.clone(),
        recorded: 0,
        notified: 0,
        remediation_runs_stopped: vec![],
    };
    let mut first_error = None;
    let may_have_left_a_run = execution
        .failed_state
        .as_deref()
        .is_none_or(|state| REMEDIATION_STATES.contains(&state));
    for check in checks {
        let cleanup_check = check.clone();
        // How far the check got: the decision the receiver recorded and the
        // remediation run it created go into its record with the failure, so
        // a failed fix keeps who approved it and which run it was.
        let approval = match app {
            Some(app) => match recorded_decision(app, &check, &execution_arn).await {
                Ok(decision) => decision,
                Err(e) => {
                    first_error = first_error.or(Some(e));
                    None
                }
            },
            None => None,
        };
        let left_over = match tfc.filter(|_| may_have_left_a_run) {
            Some(tfc) => match find_left_over_remediation(tfc, &check, &execution_arn).await {
                Ok(found) => found,
                Err(e) => {
                    first_error = first_error.or(Some(e));
                    None
                }
            },
            None => None,
        };
        let outcome = CheckOutcome {
            poll: None,
            status: CheckStatus::CheckFailed,
            check,
            execution_id: execution_arn.clone(),
            started_at: execution.started_at.clone(),
            change: change.clone(),
            run: None,
            drift: None,
            remediation: left_over.as_ref().map(|(_, run)| RemediationOutcome {
                run: Some(run.clone()),
                ..RemediationOutcome::default()
            }),
            failure: Some(failure.clone()),
            approval,
        };
        let recorded = record(&outcome, store, metrics, config, now).await?;
        if recorded.stored {
            handled.recorded += 1;
        }
        let request = NotifyRequest {
            outcome,
            record: Some(recorded),
            remediation_mode: None,
            approval_timeout_seconds: None,
        };
        // Keep alerting the other workspaces when Slack fails for one; report the error after.
        match notify_with_app(&request, notifier, app, store, config, now.timestamp()).await {
            Ok(n) if n.sent => handled.notified += 1,
            Ok(_) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
        if let (Some(tfc), Some((run, _))) = (tfc, left_over) {
            match discard_left_over_remediation(tfc, &cleanup_check, &execution_arn, run).await {
                Ok(Some(done)) => handled.remediation_runs_stopped.push(done),
                Ok(None) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(handled),
    }
}
