//! `Check plan status` / `Check apply status`: one read of a run's phase and the next wait (the state machine waits, never the Lambda).

use super::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::poll;
use crate::tfc::status::{describe, phase_of};

/// Longest `detail` kept in a poll state.
const MAX_DETAIL_CHARS: usize = 600;

/// Plan log lines quoted for an errored plan.
const ERROR_LOG_LINES: usize = 12;

/// What an errored run says: its plan log's last lines, when there are any.
async fn errored_detail(tfc: &dyn TerraformCloud, run: &TfcRun) -> Option<String> {
    let plan_id = run.plan_id.as_deref()?;
    match tfc.plan_log_tail(plan_id, ERROR_LOG_LINES).await {
        Ok(tail) => tail,
        Err(e) => {
            tracing::warn!(run_id = %run.id, error = %e, "could not read the errored plan's log");
            None
        }
    }
}

/// At most `max` characters, keeping the end (where an error says what failed).
fn keep_end(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - (max - 1)).collect();
    format!("…{tail}")
}

/// Check plan status (and the remediation's plan and apply): one poll, the
/// next wait, and the timeout guards.
///
/// A plan is bounded by `plan_timeout_seconds` from the run's creation (time
/// queued behind other runs included): past it a run still working is
/// canceled, or discarded when only that is allowed. An apply (the request
/// carries `apply`) is bounded by `apply_timeout_seconds` from its request and
/// is never canceled: past the bound the step fails with `ApplyTimedOut`, which
/// alerts; only a run still waiting for confirmation (the apply never started)
/// is discarded, so it does not hold the workspace's run queue.
pub async fn poll_run(
    req: &PollRequest,
    tfc: &dyn TerraformCloud,
    config: &Config,
    now_epoch: i64,
) -> Result<PollState> {
    let (since, timeout_seconds) = match &req.apply {
        Some(apply) => (
            apply.requested_at.as_deref(),
            config.poll.apply_timeout_seconds,
        ),
        None => (
            Some(req.run.created_at.as_str()),
            config.poll.plan_timeout_seconds,
        ),
    };
    let elapsed_seconds = match since.and_then(epoch_of) {
        Some(start) => (now_epoch - start).max(0) as u64,
        // No usable start time: count the waits instead.
        None => req
            .poll
            .as_ref()
            .map(|p| p.elapsed_seconds + p.next_wait_seconds)
            .unwrap_or(0),
    };
    let timed_out = elapsed_seconds >= timeout_seconds;
    let run = match tfc.read_run(&req.run.run_id).await {
        Ok(run) => run,
        // Many checks in flight: wait longer rather than use up the step's retries.
        // Past the timeout the error stands, so a stuck budget cannot hide a stuck run.
        Err(Error::TfcRateLimited { retry_after, .. }) if !timed_out => {
            return Ok(deferred_poll(req, retry_after, elapsed_seconds, config));
        }
        Err(e) => return Err(e),
    };
    let phase = phase_of(&run);
    let polls = req.poll.as_ref().map(|p| p.polls).unwrap_or(0) + 1;
    let mut detail = describe(&run, req.run.execution_mode.as_deref());
    if phase == Phase::Errored && req.apply.is_none() {
        if let Some(log) = errored_detail(tfc, &run).await {
            detail = format!("{detail}: {log}");
        }
    }
    tracing::info!(
        run_id = %run.id, workspace = %req.check, status = %run.status, phase = ?phase, polls, elapsed_seconds,
        apply = req.apply.is_some(), detail = %detail, "polled run"
    );
    let still_going = matches!(
        phase,
        Phase::Running | Phase::AwaitingApply | Phase::NeedsOverride
    );
    if still_going && timed_out {
        if req.apply.is_some() {
            return Err(apply_timed_out(tfc, &run, req, timeout_seconds).await?);
        }
        if phase == Phase::Running {
            return Err(plan_timed_out(tfc, &run, req, timeout_seconds).await?);
        }
        // A finished plan waiting for a decision is the next step's business.
    }
    let (plan_seconds, apply_seconds) = match &req.apply {
        // The apply poll that sees it applied keeps both remediation
        // durations, so the record has them in its final poll.
        Some(apply) if phase == Phase::Applied => (
            apply.plan_seconds,
            run.status_changed_at
                .as_deref()
                .and_then(epoch_of)
                .zip(apply.requested_at.as_deref().and_then(epoch_of))
                .and_then(|(applied, requested)| u64::try_from(applied - requested).ok()),
        ),
        None if matches!(
            phase,
            Phase::Planned | Phase::AwaitingApply | Phase::NeedsOverride
        ) =>
        {
            (plan_seconds_of(&run), None)
        }
        _ => (None, None),
    };
    let expected = expected_finish(req);
    Ok(PollState {
        plan_seconds,
        apply_seconds,
        ..poll_state(run, phase, detail, elapsed_seconds, polls, expected, config)
    })
}

/// When the polled plan or apply is expected to finish (learned from the
/// workspace's history; none: the fixed schedule).
fn expected_finish(req: &PollRequest) -> Option<u64> {
    match &req.apply {
        Some(apply) => apply.expected_finish_seconds,
        None => req.run.expected_finish_seconds,
    }
}

/// How long a finished plan took: from the run's creation to the status it
/// finished in, as HCP Terraform's status timestamps say (not our polls).
pub fn plan_seconds_of(run: &TfcRun) -> Option<u64> {
    let finished = epoch_of(run.status_changed_at.as_deref()?)?;
    let created = epoch_of(&run.created_at)?;
    u64::try_from(finished - created).ok()
}

fn poll_state(
    run: TfcRun,
    phase: Phase,
    detail: String,
    elapsed_seconds: u64,
    polls: u32,
    expected: Option<u64>,
    config: &Config,
) -> PollState {
    PollState {
        phase,
        status: run.status,
        has_changes: run.has_changes,
        next_wait_seconds: poll::scheduled_wait_seconds(
            elapsed_seconds,
            polls,
            expected,
            &config.poll,
        ),
        polls,
        elapsed_seconds,
        detail: Some(keep_end(&detail, MAX_DETAIL_CHARS)),
        plan_seconds: None,
        apply_seconds: None,
    }
}

/// A plan past its timeout: stop it so it does not hold capacity or the queue.
async fn plan_timed_out(
    tfc: &dyn TerraformCloud,
    run: &TfcRun,
    req: &PollRequest,
    timeout_seconds: u64,
) -> Result<Error> {
    let comment = format!(
        "DriftGuard: the run did not finish within {timeout_seconds} s (plan_timeout_seconds)"
    );
    let foreign = not_ours(tfc, run, req).await?;
    let stopped = if let Some(why) = &foreign {
        format!("left running: DriftGuard cancels or discards only its own runs, and {why}")
    } else if run.is_cancelable {
        tfc.cancel_run(&run.id, &comment).await?;
        "canceled".to_string()
    } else if run.is_discardable {
        tfc.discard_run(&run.id, &comment).await?;
        "discarded".to_string()
    } else {
        "left running: HCP Terraform allows neither cancel nor discard now".to_string()
    };
    tracing::warn!(run_id = %run.id, workspace = %req.check, %stopped, "plan timed out");
    Ok(Error::PlanTimedOut {
        run_id: run.id.clone(),
        timeout_seconds,
        stopped,
    })
}

/// Why a polled run is not DriftGuard's own run of the polled execution, if
/// it is not (see [`crate::remediation::not_drift_guards`]). poll-run can be
/// invoked with any run id; it cancels or discards only its own runs.
async fn not_ours(
    tfc: &dyn TerraformCloud,
    run: &TfcRun,
    req: &PollRequest,
) -> Result<Option<String>> {
    let Some(execution_id) = req.execution_id.as_deref() else {
        return Ok(Some(
            "the poll names no execution, so the run cannot be told to be DriftGuard's".into(),
        ));
    };
    let me = tfc.token_user().await?;
    Ok(crate::remediation::not_drift_guards(run, &me, execution_id))
}

/// An apply past its bound: never canceled. A run still confirmable (the
/// apply never started) is discarded so it does not block the workspace.
async fn apply_timed_out(
    tfc: &dyn TerraformCloud,
    run: &TfcRun,
    req: &PollRequest,
    timeout_seconds: u64,
) -> Result<Error> {
    let foreign = if run.is_confirmable && run.is_discardable {
        not_ours(tfc, run, req).await?
    } else {
        None
    };
    let left = if let Some(why) = foreign {
        format!(
            "left {}: DriftGuard discards only its own runs, and {why}",
            run.status
        )
    } else if run.is_confirmable && run.is_discardable {
        tfc.discard_run(
            &run.id,
            &format!("DriftGuard: the apply did not start within {timeout_seconds} s (apply_timeout_seconds)"),
        )
        .await?;
        "discarded: the apply never started, and a confirmable run holds the workspace's run queue"
            .to_string()
    } else {
        format!("left {}: DriftGuard does not cancel an apply", run.status)
    };
    tracing::warn!(run_id = %run.id, workspace = %req.check, status = %run.status, %left, "apply ran past its bound");
    Ok(Error::ApplyTimedOut {
        run_id: run.id.clone(),
        timeout_seconds,
        status: run.status.clone(),
        left,
    })
}

/// The poll state after a poll the request budget did not allow: still
/// running as last seen, and a longer wait.
fn deferred_poll(
    req: &PollRequest,
    retry_after: Option<std::time::Duration>,
    elapsed_seconds: u64,
    config: &Config,
) -> PollState {
    let polls = req.poll.as_ref().map(|p| p.polls).unwrap_or(0);
    let scheduled =
        poll::scheduled_wait_seconds(elapsed_seconds, polls, expected_finish(req), &config.poll);
    let next_wait_seconds = poll::deferred_wait_seconds(retry_after, scheduled, &config.poll);
    tracing::info!(
        run_id = %req.run.run_id, workspace = %req.check, next_wait_seconds,
        "request budget used up; polling later"
    );
    PollState {
        phase: Phase::Running,
        status: req
            .poll
            .as_ref()
            .map_or_else(|| "pending".to_string(), |p| p.status.clone()),
        has_changes: req.poll.as_ref().and_then(|p| p.has_changes),
        next_wait_seconds,
        polls,
        elapsed_seconds,
        detail: Some(
            "not polled: DriftGuard's request budget for HCP Terraform is used up by other checks; polling later"
                .into(),
        ),
        plan_seconds: None,
        apply_seconds: None,
    }
}
