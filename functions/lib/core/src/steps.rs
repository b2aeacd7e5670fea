//! One function per state-machine step. The Lambda crates and the CLI are thin
//! adapters over these; every step is safe to run twice with the same input.

use serde_json::Value;

use crate::admission::{self, Evaluation};
use crate::alerting::{self, ChatApp};
use crate::coalesce;
use crate::config::{Config, PollConfig};
use crate::episodes;
use crate::error::{Error, Result};
use crate::findings::{self, Finding, SecurityHubTarget};
use crate::history::{self, HistoryRecord};
use crate::metrics::{self, CheckMetrics};
use crate::model::*;
use crate::plan;
use crate::poll;
use crate::ports::*;
use crate::tfc::status::{self, describe, phase_of};

/// Tag put in a run's message so a retried or redriven step finds the run it created.
pub fn run_tag(kind: &str, execution_id: &str) -> String {
    format!(
        "[driftguard:{kind}:{}]",
        history::execution_name(execution_id)
    )
}

fn epoch_of(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// Admit event: filter, route, coalesce.
pub async fn admit(
    req: &AdmitRequest,
    config: &Config,
    batches: &dyn BatchStore,
    now_epoch: i64,
) -> Result<Admission> {
    admit_with_tags(req, config, batches, None, now_epoch).await
}

/// Admit event, reading the changed resources' current tags through `tags`
/// when a route that filters on tags took the event.
pub async fn admit_with_tags(
    req: &AdmitRequest,
    config: &Config,
    batches: &dyn BatchStore,
    tags: Option<&dyn TagLookup>,
    now_epoch: i64,
) -> Result<Admission> {
    let routes = config.require_workspaces()?;
    let mut evaluation = admission::evaluate(&req.event, &config.admission, routes);
    if let Some(lookup) = tags
        && let Some(query) = admission::tag_query_for(&req.event, routes, &evaluation)
    {
        let current = lookup.current_tags(&query).await?;
        tracing::debug!(execution_id = %req.execution_id, resources = query.arns.len(), known = !matches!(current, ResourceTags::Unknown), "current tags looked up for tag-filtered routes");
        evaluation = admission::evaluate_with_tags(&req.event, &config.admission, routes, &current);
    }
    match evaluation {
        ignored @ Evaluation::Ignore { category, .. } => {
            let admission = ignored.into_admission();
            tracing::info!(execution_id = %req.execution_id, decision = "ignore", %category, reason = %admission.reason, "event ignored");
            Ok(admission)
        }
        Evaluation::Admit {
            change,
            checks,
            reason,
        } => {
            let admission = coalesce::coalesce(
                batches,
                &req.execution_id,
                change,
                checks,
                reason,
                now_epoch,
                config.batch_join_window_seconds(),
            )
            .await?;
            tracing::info!(
                execution_id = %req.execution_id,
                decision = ?admission.decision,
                checks = admission.checks.len(),
                joined = admission.joined.len(),
                reason = %admission.reason,
                "event admitted"
            );
            Ok(admission)
        }
    }
}

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
fn age_of(rfc3339: &str, now_epoch: i64) -> u64 {
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
fn run_info(
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

/// The plan of a run, streamed into the drift summary.
async fn summarize_run(
    tfc: &dyn TerraformCloud,
    run: &RunInfo,
    options: plan::StreamOptions,
) -> Result<plan::Summary> {
    let plan_id = match &run.plan_id {
        Some(id) => id.clone(),
        None => tfc.read_run(&run.run_id).await?.plan_id.ok_or_else(|| {
            Error::TfcProtocol(format!("run {} has no plan relationship", run.run_id))
        })?,
    };
    let stream = tfc.plan_json_stream(&plan_id).await?.ok_or_else(|| {
        // 204 after the run finished: HCP Terraform is still writing it; the step is retried.
        Error::TfcUnavailable(format!(
            "the JSON plan of run {} is not ready yet",
            run.run_id
        ))
    })?;
    plan::summarize_stream(stream, options).await?.map_err(|e| {
        Error::TfcProtocol(format!(
            "the JSON plan of run {} cannot be judged: {e}",
            run.run_id
        ))
    })
}

/// The workspace's ignore rules.
fn ignore_rules(config: &Config, check: &CheckRef) -> crate::config::IgnoreRules {
    config
        .route(check)
        .map(|r| r.ignore.clone())
        .unwrap_or_default()
}

/// Summarize drift: the plan's JSON → drift report (capped for the state
/// document), with the workspace's ignore rules.
pub async fn summarize(
    req: &SummarizeRequest,
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<DriftReport> {
    let report = summarize_plan(req, tfc, config).await?.report();
    tracing::info!(
        run_id = %req.run.run_id, workspace = %req.check, drifted = report.drifted,
        resource_count = report.resource_count, pending_code = report.pending_changes.count,
        informational = report.informational.count, ignored = report.ignored, "summarized drift"
    );
    Ok(report)
}

/// The whole drift summary of a check's plan, with the workspace's ignore
/// rules: [`summarize`] caps it for the state document, the CLI prints it all.
/// While HCP Terraform answers 204 for the plan JSON the error is
/// `TfcUnavailable`, which the caller retries on the poll schedule.
pub async fn summarize_plan(
    req: &SummarizeRequest,
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<plan::Summary> {
    let options = plan::StreamOptions {
        rules: ignore_rules(config, &req.check),
        ..Default::default()
    };
    summarize_run(tfc, &req.run, options).await
}

/// Every drifted address of the check: the report's list, or, when the report
/// was capped for the state document, the check plan read again.
async fn drifted_addresses(
    req: &RemediateRequest,
    drift: &DriftReport,
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<Vec<String>> {
    if !drift.truncated && drift.resources.len() == drift.resource_count {
        return Ok(drift.resources.iter().map(|r| r.address.clone()).collect());
    }
    let run = req.run.as_ref().ok_or_else(|| {
        Error::InvalidInput(
            "remediate 'create' needs the check run in 'run' when the drift report is capped"
                .into(),
        )
    })?;
    let options = plan::StreamOptions {
        rules: ignore_rules(config, &req.check),
        ..Default::default()
    };
    let summary = summarize_run(tfc, run, options).await?;
    Ok(summary
        .analysis
        .drifted_addresses()
        .map(str::to_string)
        .collect())
}

/// Create remediation run: a normal run targeted to every drifted address, and only those.
///
/// The run carries the wait before its first poll: learned from the
/// remediations among the workspace's recent checks (create-run put the
/// expectation on the drift run), else the fixed schedule's short wait.
///
/// The deployed `remediation_mode` (this function's environment, not the
/// state document) is read first: when it forbids the remediation, no run is
/// created and the answer says why (`skipped`).
///
/// A run is looked up by the execution's tag only when an earlier attempt
/// noted in `ledger`, just before its `POST /runs`, that it asked for one
/// (the run id is stored as soon as it is known), and a tagged run is adopted
/// only when it is the run DriftGuard would have created
/// ([`crate::remediation::adoption_refused`]): the tag alone is public.
pub async fn remediate_create(
    req: &RemediateRequest,
    tfc: &dyn TerraformCloud,
    ledger: &dyn RemediationLedger,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RemediationCreated> {
    let drift = req.drift.as_ref().ok_or_else(|| {
        Error::InvalidInput("remediate 'create' needs the drift report in 'drift'".into())
    })?;
    if let Some(reason) = mode_refusal(
        config,
        req.approval.as_ref(),
        "no remediation run was created",
    ) {
        tracing::warn!(execution_id = %req.execution_id, workspace = %req.check, %reason, "remediation refused by the deployed remediation mode");
        // A run an earlier attempt created (and stored) must not wait for
        // confirmation holding the queue.
        let stored = ledger
            .attempt(&req.check, &req.execution_id)
            .await?
            .and_then(|a| a.run_id);
        let stopped = match stored {
            Some(run_id) => stop_stored_run(tfc, &run_id, &reason).await?,
            None => false,
        };
        return Ok(RemediationCreated {
            run: RunInfo {
                // Nothing to wait for: the state machine records the skip.
                first_wait_seconds: Some(0),
                ..RunInfo::default()
            },
            skipped: Some(refused(reason, stopped)),
        });
    }
    let workspace = tfc.workspace(&req.check).await?;
    let tag = run_tag("remediation", &req.execution_id);
    let attempt = ledger.attempt(&req.check, &req.execution_id).await?;
    let run = match attempt {
        // Stored by an earlier attempt right after its POST: DriftGuard's own.
        Some(RemediationAttempt {
            run_id: Some(run_id),
            ..
        }) => {
            tracing::info!(execution_id = %req.execution_id, run_id = %run_id, "the remediation run an earlier attempt created");
            tfc.read_run(&run_id).await?
        }
        // An earlier attempt asked for the run; its answer may have been lost.
        Some(_) => {
            let targets = remediation_targets(req, drift, tfc, config).await?;
            match earlier_remediation_run(tfc, &workspace, &tag, &targets, &req.execution_id)
                .await?
            {
                Some(run) => run,
                None => create_remediation_run(req, tfc, &workspace, &tag, targets).await?,
            }
        }
        None => {
            let targets = remediation_targets(req, drift, tfc, config).await?;
            ledger
                .mark_requested(&req.check, &req.execution_id, now.timestamp())
                .await?;
            create_remediation_run(req, tfc, &workspace, &tag, targets).await?
        }
    };
    if !ledger
        .set_run(&req.check, &req.execution_id, &run.id)
        .await?
    {
        // Another attempt stored its run in between: the next attempt reads it.
        return Err(Error::AwsUnavailable(format!(
            "another attempt of this step stored a different remediation run than {} for {}; the step is retried",
            run.id,
            history::execution_name(&req.execution_id)
        )));
    }
    let learned = req.run.as_ref();
    let expected = learned.and_then(|r| r.expected_remediation_plan_seconds);
    let first_wait = poll::first_wait_seconds(
        expected,
        age_of(&run.created_at, now.timestamp()),
        &config.poll,
    );
    tracing::info!(
        execution_id = %req.execution_id, workspace_id = %workspace.id, run_id = %run.id, targets = run.target_addrs.len(),
        expected_finish_seconds = ?expected, first_wait_seconds = first_wait, "remediation run"
    );
    Ok(RemediationCreated {
        run: RunInfo {
            expected_finish_seconds: expected,
            first_wait_seconds: Some(first_wait),
            expected_apply_seconds: learned.and_then(|r| r.expected_apply_seconds),
            ..run_info(tfc, &req.check, run, &workspace)
        },
        skipped: None,
    })
}

/// Discards (or, while it plans, cancels) the remediation run this
/// execution stored; true when it was stopped now.
async fn stop_stored_run(tfc: &dyn TerraformCloud, run_id: &str, reason: &str) -> Result<bool> {
    let run = tfc.read_run(run_id).await?;
    let comment = format!("DriftGuard: {reason}");
    if run.is_discardable {
        tfc.discard_run(&run.id, &comment).await?;
        return Ok(true);
    }
    if run.is_cancelable && !status::APPLY_STAGE.contains(&run.status.as_str()) {
        tfc.cancel_run(&run.id, &comment).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Every drifted address of the check, the remediation's targets (never none).
async fn remediation_targets(
    req: &RemediateRequest,
    drift: &DriftReport,
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<Vec<String>> {
    let targets = drifted_addresses(req, drift, tfc, config).await?;
    if targets.is_empty() {
        return Err(Error::InvalidInput(
            "remediate 'create' needs at least one drifted resource".into(),
        ));
    }
    Ok(targets)
}

/// `POST /runs`: a normal run targeted to `targets`, tagged for the execution.
async fn create_remediation_run(
    req: &RemediateRequest,
    tfc: &dyn TerraformCloud,
    workspace: &TfcWorkspace,
    tag: &str,
    targets: Vec<String>,
) -> Result<TfcRun> {
    let message = format!(
        "DriftGuard remediation of {} drifted resource{}{} {tag}",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        approved_by(req.approval.as_ref())
    );
    tfc.create_run(
        &workspace.id,
        &RunSpec {
            message,
            plan_only: false,
            target_addrs: targets,
        },
    )
    .await
}

/// The run an earlier attempt created and could not store, among the runs
/// carrying the execution's tag: the newest that is the run DriftGuard
/// would have created. A tagged run of DriftGuard's own that no longer fits
/// (the targets or the configuration changed since) is discarded or
/// canceled, so it does not hold the workspace's queue; anyone else's is
/// left alone and logged.
async fn earlier_remediation_run(
    tfc: &dyn TerraformCloud,
    workspace: &TfcWorkspace,
    tag: &str,
    targets: &[String],
    execution_id: &str,
) -> Result<Option<TfcRun>> {
    let tagged = tfc.find_runs_by_tag(&workspace.id, tag).await?;
    if tagged.is_empty() {
        return Ok(None);
    }
    let me = tfc.token_user().await?;
    let mut adopted = None;
    for run in tagged {
        if adopted.is_some() {
            break;
        }
        match crate::remediation::adoption_refused(&run, &me, targets, workspace) {
            None => {
                tracing::info!(execution_id, run_id = %run.id, "found the remediation run an earlier attempt created");
                adopted = Some(run);
            }
            Some(reason) if run.created_by.as_deref() == Some(me.as_str()) => {
                tracing::warn!(execution_id, run_id = %run.id, %reason, "an earlier remediation run of this execution no longer fits; stopping it and creating another");
                let comment = format!("DriftGuard: superseded ({reason})");
                if run.is_discardable {
                    tfc.discard_run(&run.id, &comment).await?;
                } else if run.is_cancelable && !status::APPLY_STAGE.contains(&run.status.as_str()) {
                    tfc.cancel_run(&run.id, &comment).await?;
                }
            }
            Some(reason) => {
                tracing::warn!(execution_id, run_id = %run.id, %reason, "a run carrying this execution's tag is not DriftGuard's; it is not adopted");
            }
        }
    }
    Ok(adopted)
}

/// Why the deployed remediation mode forbids remediating now, if it does.
/// The mode is read from this function's environment at create and at
/// apply, so `terraform apply` with `remediation_mode = "off"` stops
/// remediations already waiting or being redriven. In `approval` mode only a
/// person's Fix drift decision remediates (an execution started in `auto`
/// mode carries an automatic one). `undone`: what is then not done.
fn mode_refusal(
    config: &Config,
    approval: Option<&ApprovalDecision>,
    undone: &str,
) -> Option<String> {
    let by_a_person = approval.is_some_and(|a| !a.automatic && a.decision == DriftDecision::Fix);
    match config.remediation_mode {
        Some(RemediationMode::Auto) => None,
        Some(RemediationMode::Approval) if by_a_person => None,
        Some(RemediationMode::Approval) => Some(format!(
            "remediation_mode is \"approval\" now (the deployed setting): this check's remediation was not approved by a person in Slack, so {undone}"
        )),
        Some(RemediationMode::Off) => Some(format!(
            "remediation_mode is \"off\" (the deployed setting; it may have changed after this check started): {undone}"
        )),
        None => Some(format!(
            "the remediate function has no remediation_mode (DRIFTGUARD_REMEDIATION_MODE is not set), so it remediates nothing: {undone}. Deploy the module again"
        )),
    }
}

/// A remediation refused before its plan was judged.
fn refused(reason: String, discarded: bool) -> SafetyAssessment {
    SafetyAssessment {
        safe: false,
        reason,
        discarded,
        ..SafetyAssessment::default()
    }
}

/// ", approved by alice in Slack" for a run's message; "" for automatic remediation.
fn approved_by(approval: Option<&ApprovalDecision>) -> String {
    match approval.and_then(|a| a.by.as_ref()) {
        Some(user) if !user.name.is_empty() => {
            format!(", approved by {} ({}) in Slack", user.name, user.id)
        }
        Some(user) => format!(", approved by {} in Slack", user.id),
        None => String::new(),
    }
}

fn remediation_run(req: &RemediateRequest) -> Result<&RunInfo> {
    req.remediation.as_ref().ok_or_else(|| {
        Error::InvalidInput(format!(
            "remediate '{:?}' needs the remediation run in 'remediation'",
            req.action
        ))
    })
}

/// Entries that hold commas themselves, for a sentence: `; `-separated, the
/// first few, then how many more.
fn entry_list(entries: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = entries
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if entries.len() > SHOWN {
        text.push_str(&format!("; and {} more", entries.len() - SHOWN));
    }
    text
}

/// A list for a sentence: the first few names, then how many more.
fn name_list(addresses: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = addresses
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if addresses.len() > SHOWN {
        text.push_str(&format!(" and {} more", addresses.len() - SHOWN));
    }
    text
}

/// Safety check: the remediation plan must change back drift of the targets
/// and nothing else (no unapplied code, no other resources, no destroy or
/// replace unless allowed); an unsafe run is discarded.
pub async fn remediate_assess(
    req: &RemediateRequest,
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<SafetyAssessment> {
    let run_info = remediation_run(req)?;
    let run = &tfc.read_run(&run_info.run_id).await?;
    let unsafe_run = |reason: String, destructive: Vec<String>| SafetyAssessment {
        safe: false,
        reason,
        destructive_addresses: destructive,
        discarded: false,
        reverts: vec![],
        reverts_count: 0,
        no_longer_drifted: vec![],
    };
    // Decide on what the API says the run can do (`actions.*`), not on a
    // status that may be passing (`planned` on the way to cost estimation).
    let assessment = match phase_of(run) {
        Phase::AwaitingApply if run.has_changes == Some(false) => unsafe_run(
            "the remediation plan has no changes: the drift was already resolved".into(),
            vec![],
        ),
        Phase::AwaitingApply => {
            // Everything the apply would change, muted paths included: the
            // ignore rules decide what the approver saw, not what is reverted.
            let options = plan::StreamOptions {
                allow_incomplete: true,
                ..Default::default()
            };
            let summary = summarize_run(tfc, run_info, options).await?;
            let judged = summary.with_ignore_rules(&ignore_rules(config, &req.check));
            let targets: Vec<String> = if run.target_addrs.is_empty() {
                run_info.target_addrs.clone()
            } else {
                run.target_addrs.clone()
            };
            match approved_drift(req, &targets, tfc, config).await? {
                Some(approved) => assess_remediation_plan(
                    &summary.analysis,
                    &judged.analysis,
                    &approved,
                    &targets,
                    config,
                ),
                None => unsafe_run(
                    "the safety check was not given the approved drift report ('drift'), so it cannot tell what the approver saw; nothing is applied".into(),
                    vec![],
                ),
            }
        }
        Phase::NeedsOverride => {
            tracing::warn!(run_id = %run.id, workspace = %req.check, status = %run.status, "remediation needs an override; discarding");
            unsafe_run(
                format!(
                    "the remediation run stopped at '{}': {}. DriftGuard never overrides policies or run tasks; review the run in HCP Terraform and override or fix the policy by hand if the fix is intended",
                    run.status,
                    describe(run, run_info.execution_mode.as_deref())
                ),
                vec![],
            )
        }
        Phase::Planned => unsafe_run(
            "the remediation plan has no changes: the drift was already resolved".into(),
            vec![],
        ),
        _ => unsafe_run(
            format!(
                "the remediation run is '{}' and cannot be applied ({})",
                run.status,
                describe(run, run_info.execution_mode.as_deref())
            ),
            vec![],
        ),
    };
    if assessment.safe {
        return Ok(assessment);
    }
    tracing::warn!(run_id = %run_info.run_id, workspace = %req.check, reason = %assessment.reason, "unsafe remediation plan");
    let mut discarded = false;
    if run.is_discardable {
        tfc.discard_run(&run.id, &format!("DriftGuard: {}", assessment.reason))
            .await?;
        discarded = true;
    }
    Ok(SafetyAssessment {
        discarded,
        ..assessment
    })
}

/// The drifted resources the approver saw (or, in auto mode, the check
/// found), by address.
type ApprovedDrift = std::collections::BTreeMap<String, DriftedResource>;

/// The approved drift: the state document's report, or, when it was capped
/// and lacks a target, the check's plan read again with the same rules.
async fn approved_drift(
    req: &RemediateRequest,
    targets: &[String],
    tfc: &dyn TerraformCloud,
    config: &Config,
) -> Result<Option<ApprovedDrift>> {
    let Some(drift) = req.drift.as_ref() else {
        return Ok(None);
    };
    let mut approved: ApprovedDrift = drift
        .resources
        .iter()
        .map(|r| (r.address.clone(), r.clone()))
        .collect();
    let capped = drift.truncated || drift.resources.len() < drift.resource_count;
    if capped
        && targets.iter().any(|t| !approved.contains_key(t))
        && let Some(run) = req.run.as_ref()
    {
        let options = plan::StreamOptions {
            rules: ignore_rules(config, &req.check),
            ..Default::default()
        };
        let summary = summarize_run(tfc, run, options).await?;
        approved = summary
            .analysis
            .drifted
            .into_iter()
            .map(|r| (r.address.clone(), r))
            .collect();
    }
    Ok(Some(approved))
}

/// Whether `path` is one the approver saw: listed, or inside a listed path
/// (long lists are collapsed to their top-level names).
fn within_approved(path: &str, approved: &[String]) -> bool {
    approved.iter().any(|a| {
        path == a
            || path
                .strip_prefix(a.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// What the remediation would revert beyond what was approved, per resource:
/// "address: path, path (why)". Never a value.
fn unapproved_reverts(
    all: &plan::Analysis,
    judged: &plan::Analysis,
    approved: &ApprovedDrift,
) -> Vec<String> {
    const MUTED: &str = "muted by the workspace's ignore rules";
    const SINCE: &str = "drifted since the alert";
    let mut out = Vec::new();
    for resource in &all.drifted {
        let Some(seen) = approved.get(&resource.address) else {
            out.push(format!("{} (not in the approved report)", resource.address));
            continue;
        };
        let judged_resource = judged
            .drifted
            .iter()
            .find(|r| r.address == resource.address);
        if resource.deleted && seen.deleted {
            continue;
        }
        let named_before = out.len();
        let (mut muted, mut since) = (Vec::new(), Vec::new());
        for path in &resource.changed_attributes {
            if within_approved(path, &seen.changed_attributes) {
                continue;
            }
            let shown = judged_resource.is_some_and(|r| r.changed_attributes.contains(path));
            if shown {
                since.push(path.as_str());
            } else {
                muted.push(path.as_str());
            }
        }
        if resource.deleted != seen.deleted && muted.is_empty() && since.is_empty() {
            out.push(format!("{} ({SINCE})", resource.address));
            continue;
        }
        for (paths, why) in [(muted, MUTED), (since, SINCE)] {
            if !paths.is_empty() {
                out.push(format!(
                    "{}: {} ({why})",
                    resource.address,
                    paths.join(", ")
                ));
            }
        }
        // The same paths, other live values than the approver saw.
        let values_now = judged_resource.map(|r| r.values_hash.as_str());
        let changed_again = !seen.values_hash.is_empty() && values_now != Some(&seen.values_hash);
        if changed_again && out.len() == named_before {
            let paths = judged_resource
                .map(|r| r.changed_attributes.join(", "))
                .unwrap_or_default();
            out.push(format!(
                "{}: {paths} (changed again since the alert)",
                resource.address
            ));
        }
    }
    out
}

/// What the remediation plan would do, judged against the targets and the
/// approved report (`all`: everything it reverts; `judged`: the same with the
/// workspace's ignore rules).
fn assess_remediation_plan(
    all: &plan::Analysis,
    judged: &plan::Analysis,
    approved: &ApprovedDrift,
    targets: &[String],
    config: &Config,
) -> SafetyAssessment {
    let destructive = all.destructive.clone();
    let unsafe_run = |reason: String| SafetyAssessment {
        safe: false,
        reason,
        destructive_addresses: destructive.clone(),
        discarded: false,
        reverts: vec![],
        reverts_count: 0,
        no_longer_drifted: vec![],
    };
    let pending: Vec<String> = all.pending.iter().map(|p| p.address.clone()).collect();
    if !pending.is_empty() {
        return unsafe_run(format!(
            "the remediation plan would also apply unapplied code changes (not drift) to {}; apply that code through your usual workflow first, or revert the drift by hand",
            name_list(&pending)
        ));
    }
    let target_set: std::collections::BTreeSet<&str> = targets.iter().map(String::as_str).collect();
    let others: Vec<String> = all
        .drifted_addresses()
        .filter(|a| !target_set.contains(a))
        .map(str::to_string)
        .collect();
    if !others.is_empty() {
        return unsafe_run(format!(
            "the remediation plan would also change {}, which the drift check did not target (ignored by rules, or drifted since); review the run and apply it by hand if intended",
            name_list(&others)
        ));
    }
    let reverts: Vec<String> = all.drifted_addresses().map(str::to_string).collect();
    if reverts.is_empty() {
        return unsafe_run(
            "the remediation plan changes back no drift: it was resolved since the check".into(),
        );
    }
    let unapproved = unapproved_reverts(all, judged, approved);
    if !unapproved.is_empty() {
        return unsafe_run(format!(
            "the remediation plan would also revert what the alert did not show (and no approver saw): {}. A later check alerts with the drift as it is now; revert by hand if intended",
            entry_list(&unapproved)
        ));
    }
    if !destructive.is_empty() && !config.allow_destructive_remediation {
        return unsafe_run(format!(
            "the remediation plan would destroy or replace {} ({}); destructive remediation is off (allow_destructive_remediation = false). Review the run and apply it by hand if intended",
            plan::plural(destructive.len(), "resource"),
            name_list(&destructive)
        ));
    }
    let reverted: std::collections::BTreeSet<&str> = reverts.iter().map(String::as_str).collect();
    let no_longer_drifted: Vec<String> = targets
        .iter()
        .filter(|t| !reverted.contains(t.as_str()))
        .take(MAX_RESOURCES_IN_STATE)
        .cloned()
        .collect();
    SafetyAssessment {
        safe: true,
        reason: if destructive.is_empty() {
            format!(
                "the remediation plan only changes back drift ({})",
                plan::plural(reverts.len(), "resource")
            )
        } else {
            format!(
                "destructive remediation is allowed; the plan replaces or destroys {}",
                name_list(&destructive)
            )
        },
        destructive_addresses: destructive,
        discarded: false,
        reverts_count: reverts.len(),
        reverts: reverts.into_iter().take(MAX_RESOURCES_IN_STATE).collect(),
        no_longer_drifted,
    }
}

/// Apply remediation: confirm the run when the API says it is confirmable
/// (idempotent: a run already confirmed or applying is fine). A run no longer
/// confirmable (a person discarded it, a policy now needs an override) is not
/// applied; the apply poll then sees where it ended.
///
/// The answer carries the apply's poll schedule (learned from the
/// workspace's recent applies, else the fixed one) and how long the
/// remediation plan took to become confirmable, for the history.
///
/// The deployed `remediation_mode` is read again: when it forbids the
/// remediation now, the run is discarded (while it still waits for
/// confirmation) and the answer says why (`skipped`).
///
/// Only DriftGuard's own run is confirmed, and only the run the safety
/// check found safe: the run id in the request must be the one this
/// execution's create stored and assess noted as safe (`ledger`), and the
/// run must be created by the token's user and carry the execution's tag.
/// Anything else is refused (`skipped`), and nothing is done to the run.
/// Invoking this function is workspace-admin power all the same: it acts
/// with DriftGuard's token on whatever execution id it is given.
pub async fn remediate_apply(
    req: &RemediateRequest,
    tfc: &dyn TerraformCloud,
    ledger: &dyn RemediationLedger,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ApplyRequested> {
    let poll_config = &config.poll;
    let run_info = remediation_run(req)?;
    let expected = run_info.expected_apply_seconds;
    let not_assessed = match ledger.attempt(&req.check, &req.execution_id).await? {
        Some(a) if a.run_id.as_deref() != Some(run_info.run_id.as_str()) => Some(format!(
            "run {} is not the remediation run execution {} created",
            run_info.run_id,
            history::execution_name(&req.execution_id)
        )),
        Some(a) if a.safe_run_id.as_deref() != Some(run_info.run_id.as_str()) => Some(format!(
            "no safe assessment of run {} was recorded by the safety check",
            run_info.run_id
        )),
        Some(_) => None,
        None => Some(format!(
            "execution {} created no remediation run",
            history::execution_name(&req.execution_id)
        )),
    };
    if let Some(why) = not_assessed {
        return Ok(apply_refused(run_info, why, expected, now, poll_config));
    }
    let run = tfc.read_run(&run_info.run_id).await?;
    let me = tfc.token_user().await?;
    if let Some(why) = crate::remediation::not_drift_guards(&run, &me, &req.execution_id) {
        return Ok(apply_refused(run_info, why, expected, now, poll_config));
    }
    let requested =
        |requested: bool, reason: Option<String>, plan_seconds: Option<u64>| ApplyRequested {
            run_id: run.id.clone(),
            requested,
            requested_at: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            reason,
            plan_seconds,
            expected_finish_seconds: expected,
            first_wait_seconds: Some(poll::first_wait_seconds(expected, 0, poll_config)),
            skipped: None,
        };
    if let Some(reason) = mode_refusal(
        config,
        req.approval.as_ref(),
        "the remediation run was not applied",
    ) {
        let mut discarded = false;
        if run.is_discardable {
            tfc.discard_run(&run.id, &format!("DriftGuard: {reason}"))
                .await?;
            discarded = true;
        }
        tracing::warn!(run_id = %run.id, workspace = %req.check, %reason, discarded, "remediation apply refused by the deployed remediation mode");
        return Ok(ApplyRequested {
            skipped: Some(refused(reason.clone(), discarded)),
            ..requested(false, Some(reason), None)
        });
    }
    if run.is_confirmable {
        tfc.apply_run(
            &run.id,
            &format!(
                "DriftGuard remediation{} (execution {})",
                approved_by(req.approval.as_ref()),
                history::execution_name(&req.execution_id)
            ),
        )
        .await?;
        // Confirmable until now: its status changed last when the plan (and
        // any checks after it) finished.
        let plan_seconds = plan_seconds_of(&run);
        tracing::info!(run_id = %run.id, workspace = %req.check, plan_seconds = ?plan_seconds, expected_finish_seconds = ?expected, "remediation apply requested");
        return Ok(requested(true, None, plan_seconds));
    }
    if status::APPLY_STAGE.contains(&run.status.as_str()) || phase_of(&run) == Phase::Applied {
        tracing::info!(run_id = %run.id, status = %run.status, "apply already requested");
        return Ok(requested(true, None, None));
    }
    let reason = format!(
        "the run is no longer confirmable: it is '{}' ({})",
        run.status,
        describe(&run, run_info.execution_mode.as_deref())
    );
    tracing::warn!(run_id = %run.id, workspace = %req.check, %reason, "remediation not applied");
    Ok(requested(false, Some(reason), None))
}

/// An apply refused before anything was done to the run (it is not the
/// run DriftGuard created and assessed safe for this execution).
fn apply_refused(
    run_info: &RunInfo,
    why: String,
    expected: Option<u64>,
    now: chrono::DateTime<chrono::Utc>,
    poll_config: &PollConfig,
) -> ApplyRequested {
    let reason = format!(
        "DriftGuard confirms only the run it created and found safe for this check: {why}; nothing was applied"
    );
    tracing::warn!(run_id = %run_info.run_id, %reason, "remediation apply refused");
    ApplyRequested {
        run_id: run_info.run_id.clone(),
        requested: false,
        requested_at: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        reason: Some(reason.clone()),
        plan_seconds: None,
        expected_finish_seconds: expected,
        first_wait_seconds: Some(poll::first_wait_seconds(expected, 0, poll_config)),
        skipped: Some(refused(reason, false)),
    }
}

/// Safety check, as the remediate function runs it: only the run this
/// execution's create stored is assessed (another run is refused untouched),
/// and a safe verdict is noted in `ledger` for exactly that run, which is
/// all apply will confirm. The judgement itself is [`remediate_assess`].
pub async fn remediate_assess_noted(
    req: &RemediateRequest,
    tfc: &dyn TerraformCloud,
    ledger: &dyn RemediationLedger,
    config: &Config,
) -> Result<SafetyAssessment> {
    let run_id = &remediation_run(req)?.run_id;
    let stored = ledger
        .attempt(&req.check, &req.execution_id)
        .await?
        .and_then(|a| a.run_id);
    if stored.as_deref() != Some(run_id.as_str()) {
        let reason = format!(
            "run {run_id} is not the remediation run execution {} created; DriftGuard assesses and applies only its own run",
            history::execution_name(&req.execution_id)
        );
        tracing::warn!(run_id = %run_id, workspace = %req.check, %reason, "safety check refused");
        return Ok(refused(reason, false));
    }
    let assessment = remediate_assess(req, tfc, config).await?;
    // Recorded for apply: a safe verdict of exactly this run.
    if assessment.safe
        && !ledger
            .record_safe(&req.check, &req.execution_id, run_id)
            .await?
    {
        return Err(Error::AwsUnavailable(format!(
            "the safe assessment of run {run_id} could not be recorded; the step is retried"
        )));
    }
    Ok(assessment)
}

/// Record: the history record (once per execution) and, in the same write,
/// the workspace fingerprint, drift episodes and (for `DriftAccepted`) the
/// acceptance. In approval mode the outcome after the decision replaces the
/// execution's `DriftDetected` record. Without Security Hub.
pub async fn record(
    outcome: &CheckOutcome,
    store: &dyn HistoryStore,
    metrics: &dyn MetricsSink,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecordResult> {
    record_with(outcome, store, None, metrics, config, now).await
}

/// Record, with the findings of the episodes the check opened or resolved
/// published to Security Hub (when `findings` is given and the module turned
/// it on). The record, fingerprint and episodes are one atomic write; the
/// findings follow it. A retry of the step (the record exists) publishes the
/// findings of this execution's episodes again — imports are idempotent — so
/// a Security Hub outage delays findings and never loses a record.
pub async fn record_with(
    outcome: &CheckOutcome,
    store: &dyn HistoryStore,
    findings: Option<&dyn FindingsPublisher>,
    metrics: &dyn MetricsSink,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecordResult> {
    let findings = findings.zip(config.security_hub.clone());
    let previous = store.last_fingerprint(&outcome.check).await?;
    let mut record = HistoryRecord::from_outcome(
        outcome,
        &config.execution_url(&outcome.execution_id),
        now,
        config.history_retention_days,
    );
    record.previous_fingerprint = previous.clone();
    let existing = store
        .get_record(&outcome.check, &outcome.started_at, &outcome.execution_id)
        .await?;
    if let Some(first) = existing.as_ref().filter(|e| !history::replaces(e, &record)) {
        return answer_retry(outcome, first, store, findings).await;
    }
    if let Some(earlier) = existing {
        if outcome.status == CheckStatus::CheckFailed {
            // The failure is merged into what the check recorded before (its
            // drift and plan run; after a decision, the DriftDetected record):
            // the failure, and who decided and which remediation run it was,
            // join it. A redrive that failed again keeps what the earlier runs
            // failed with.
            let mut merged = earlier.clone();
            merged.status = CheckStatus::CheckFailed;
            merged.recorded_at = record.recorded_at.clone();
            merged.failure = record.failure.take();
            merged.approval = record.approval.take().or(earlier.approval);
            merged.remediation = record.remediation.take().or(earlier.remediation);
            merged.earlier_failures = earlier.earlier_failures;
            if earlier.status == CheckStatus::CheckFailed {
                merged.earlier_failures.extend(earlier.failure);
            }
            record = merged;
        } else if earlier.status == CheckStatus::DriftDetected {
            // The decision's outcome: the fingerprint before this check is the
            // one the drift alert was judged with.
            record.previous_fingerprint = earlier.previous_fingerprint;
        }
    }
    let fingerprint = record.fingerprint.clone();
    let accepted = match outcome.status {
        CheckStatus::DriftDetected | CheckStatus::RemediationSkipped => {
            store
                .active_acceptance(&outcome.check, &fingerprint, now.timestamp())
                .await?
        }
        _ => None,
    };
    if outcome.status == CheckStatus::DriftAccepted {
        record.acceptance = history::acceptance_of(outcome, now);
        if record.acceptance.is_none() {
            return Err(Error::InvalidInput(
                "a DriftAccepted outcome needs the drift's fingerprint and the decision's person and date in 'approval'"
                    .into(),
            ));
        }
    } else {
        record.acceptance = accepted.clone();
    }
    // Fixed or absent drift clears the fingerprint, so the same drift coming
    // back alerts again; so does an acceptance (once it ends, the drift
    // alerts). While an acceptance covers the drift the fingerprint stays clear.
    let latest_fingerprint = match outcome.status {
        _ if accepted.is_some() => None,
        CheckStatus::DriftDetected
        | CheckStatus::RemediationSkipped
        | CheckStatus::RemediationFailed => Some(fingerprint),
        CheckStatus::NoDrift | CheckStatus::Remediated | CheckStatus::DriftAccepted => {
            Some(String::new())
        }
        CheckStatus::DriftDismissed | CheckStatus::ApprovalExpired | CheckStatus::CheckFailed => {
            None
        }
    };
    let open = if outcome.status == CheckStatus::CheckFailed {
        Vec::new()
    } else {
        store.open_episodes(&outcome.check).await?
    };
    let plan = episodes::plan(&record, &open);
    if outcome.status != CheckStatus::CheckFailed {
        record.episodes = Some(plan.summary);
    }
    if plan.summary.deferred > 0 || plan.refreshes_dropped > 0 {
        tracing::warn!(
            execution_id = %outcome.execution_id, workspace = %outcome.check,
            deferred = plan.summary.deferred, refreshes_dropped = plan.refreshes_dropped,
            "more episode changes than one transaction holds; the rest wait for the next check"
        );
    }
    let stored = store
        .put_check(&record, latest_fingerprint.as_deref(), &plan.writes)
        .await?;
    if !stored {
        // Another attempt of this step got there first: answer as it did.
        return match store
            .get_record(&outcome.check, &outcome.started_at, &outcome.execution_id)
            .await?
        {
            Some(first) => answer_retry(outcome, &first, store, findings).await,
            None => Err(Error::AwsUnavailable(format!(
                "the record of {} for {} was refused but cannot be read; the step is retried",
                outcome.execution_id, outcome.check
            ))),
        };
    }
    // Counted once: a retry of this step finds the record and emits nothing.
    let mut check_metrics = CheckMetrics::of(&record, &plan.writes);
    if outcome.status != CheckStatus::CheckFailed {
        check_metrics.drift_free_ratio = drift_free_ratio(store, &outcome.check, now).await;
    }
    metrics.publish(&check_metrics, now);
    tracing::info!(
        execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status,
        episodes_opened = plan.summary.opened, episodes_resolved = plan.summary.resolved,
        episodes_open = plan.summary.open, accepted = accepted.is_some(), "recorded check"
    );
    if let Some((publisher, target)) = findings {
        let changed: Vec<&episodes::Episode> = plan
            .writes
            .iter()
            .filter(|w| w.is_transition())
            .map(|w| w.episode())
            .collect();
        publish_findings(publisher, &target, &changed, &outcome.execution_id).await?;
    }
    Ok(RecordResult {
        status: outcome.status,
        stored: true,
        previous_fingerprint: record.previous_fingerprint.clone(),
        accepted,
    })
}

/// Record a warning: a step after Record failed without failing the check
/// (the e-mail alert). The check keeps its outcome; its record says what was
/// not done, once.
pub async fn note_warning(
    req: &WarningRequest,
    records: &dyn CheckRecords,
) -> Result<WarningNoted> {
    let noted = records
        .add_warning(&req.check, &req.started_at, &req.execution_id, &req.warning)
        .await?;
    tracing::warn!(
        execution_id = %req.execution_id, workspace = %req.check, kind = %req.warning.kind,
        error = %req.warning.error, noted, "a step after the record failed; the check keeps its outcome"
    );
    Ok(WarningNoted { noted })
}

/// The answer of a retried record step: what the first attempt answered,
/// after publishing the findings of this execution's episodes again.
async fn answer_retry(
    outcome: &CheckOutcome,
    first: &HistoryRecord,
    store: &dyn EpisodeStore,
    findings: Option<(&dyn FindingsPublisher, SecurityHubTarget)>,
) -> Result<RecordResult> {
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %first.status, "check already recorded");
    if let Some((publisher, target)) = findings {
        let execution = &first.execution_id;
        let open = store.open_episodes(&outcome.check).await?;
        let resolved = store
            .resolved_episodes(&outcome.check, &first.started_at)
            .await?;
        let mine: Vec<&episodes::Episode> = open
            .iter()
            .filter(|e| e.detected.execution_id == *execution)
            .chain(resolved.iter().filter(|e| {
                e.resolved
                    .as_ref()
                    .is_some_and(|r| r.execution_id == *execution)
            }))
            .collect();
        publish_findings(publisher, &target, &mine, execution).await?;
    }
    Ok(RecordResult {
        status: outcome.status,
        stored: false,
        previous_fingerprint: first.previous_fingerprint.clone(),
        // The acceptance that covered this drift when it was first recorded.
        accepted: first
            .acceptance
            .clone()
            .filter(|_| first.status != CheckStatus::DriftAccepted),
    })
}

async fn publish_findings(
    publisher: &dyn FindingsPublisher,
    target: &SecurityHubTarget,
    changed: &[&episodes::Episode],
    execution_id: &str,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let batch: Vec<Finding> = changed
        .iter()
        .map(|e| findings::finding(e, target))
        .collect();
    publisher.publish(&batch).await?;
    tracing::info!(
        execution_id,
        findings = batch.len(),
        "published Security Hub findings"
    );
    Ok(())
}

/// The workspace's drift-free ratio over the metric window, after this
/// check. Metrics never fail a stored record: a read that fails leaves the
/// ratio out.
async fn drift_free_ratio(
    store: &dyn EpisodeStore,
    check: &CheckRef,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<f64> {
    let window = now - chrono::Duration::days(metrics::RATIO_WINDOW_DAYS);
    let since = window.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let read = async {
        let first = store.first_check_since(check, &since).await?;
        let resolved = store.resolved_episodes(check, &since).await?;
        let open = store.open_episodes(check).await?;
        Ok::<_, Error>((first, resolved, open))
    };
    match read.await {
        Ok((first, resolved, open)) => {
            let start = first
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc).max(window))
                .unwrap_or(now);
            let mut all = resolved;
            all.extend(open);
            Some(episodes::drift_free_ratio(&all, start, now))
        }
        Err(e) => {
            tracing::warn!(workspace = %check, error = %e, "drift-free ratio left out of the metrics");
            None
        }
    }
}

/// Why an outcome is not alerted, if it is not.
pub fn suppression_reason(req: &NotifyRequest, config: &Config) -> Option<String> {
    let outcome = &req.outcome;
    // What follows a person's decision is always told.
    if outcome.approval.as_ref().is_some_and(|a| !a.automatic) {
        return None;
    }
    if let Some(accepted) = req.record.as_ref().and_then(|r| r.accepted.as_ref()) {
        return Some(format!(
            "the same drift was accepted by {} until {} (end of day, UTC): {}",
            if accepted.by.name.is_empty() {
                &accepted.by.id
            } else {
                &accepted.by.name
            },
            accepted.until,
            accepted.reason
        ));
    }
    match outcome.status {
        CheckStatus::NoDrift if !config.notify_on_no_drift => {
            Some("no-drift alerts are off (notify_on_no_drift = false)".into())
        }
        CheckStatus::DriftDetected | CheckStatus::RemediationSkipped => {
            let fingerprint = outcome
                .drift
                .as_ref()
                .map(|d| d.fingerprint.as_str())
                .unwrap_or("");
            let previous = req
                .record
                .as_ref()
                .and_then(|r| r.previous_fingerprint.as_deref());
            (!fingerprint.is_empty() && previous == Some(fingerprint)).then(|| {
                "same drift as the previous check of this workspace; already alerted".into()
            })
        }
        _ => None,
    }
}

/// Notify through the incoming webhook (see [`notify_with_app`]).
pub async fn notify(
    req: &NotifyRequest,
    notifier: &dyn Notifier,
    markers: &dyn AlertMarkers,
    config: &Config,
    now_epoch: i64,
) -> Result<Notification> {
    notify_with_app(req, notifier, None, markers, config, now_epoch).await
}

/// Notify: one Slack message per check outcome, never twice for one
/// execution. Workspaces whose route names a Slack app channel (and a
/// configured app) get one thread per drift, with decision buttons in
/// approval mode; the others the incoming webhook.
pub async fn notify_with_app(
    req: &NotifyRequest,
    notifier: &dyn Notifier,
    app: Option<&ChatApp<'_>>,
    markers: &dyn AlertMarkers,
    config: &Config,
    now_epoch: i64,
) -> Result<Notification> {
    let outcome = &req.outcome;
    if let (Some(app), Some(channel)) = (app, config.slack_channel(&outcome.check)) {
        let now = chrono::DateTime::from_timestamp(now_epoch, 0).unwrap_or_else(chrono::Utc::now);
        let suppressed = suppression_reason(req, config);
        return alerting::notify(req, channel, suppressed, app, markers, config, now).await;
    }
    if let Some(reason) = suppression_reason(req, config) {
        tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, %reason, "alert suppressed");
        return Ok(Notification {
            sent: false,
            suppressed_reason: Some(reason),
            ..Notification::default()
        });
    }
    let marker = alert_marker(outcome);
    if markers.was_notified(&outcome.check, &marker).await? {
        return Ok(Notification {
            sent: true,
            suppressed_reason: Some("already sent by an earlier attempt of this step".into()),
            ..Notification::default()
        });
    }
    notifier
        .notify(outcome, &config.execution_url(&outcome.execution_id))
        .await?;
    markers
        .mark_notified(&outcome.check, &marker, now_epoch)
        .await?;
    tracing::info!(execution_id = %outcome.execution_id, workspace = %outcome.check, status = %outcome.status, "alert sent");
    Ok(Notification {
        sent: true,
        suppressed_reason: None,
        ..Notification::default()
    })
}

/// The key that makes an alert go out once: per execution and outcome, and
/// per redrive for failures (a redriven execution that fails again alerts again).
fn alert_marker(outcome: &CheckOutcome) -> String {
    let mut marker = format!(
        "{}#{}",
        history::execution_name(&outcome.execution_id),
        outcome.status
    );
    if let Some(failure) = outcome.failure.as_ref().filter(|f| f.redrive_count > 0) {
        marker.push_str(&format!("#redrive-{}", failure.redrive_count));
    }
    marker
}

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
/// behind (created, still planning, or waiting for confirmation).
const REMEDIATION_STATES: &[&str] = &[
    "Create remediation run",
    "Remediation plan queued",
    "Wait for remediation plan",
    "Check remediation plan",
    "Remediation plan finished?",
    "Safety check",
    "Safe to apply?",
    "Apply remediation",
    "Apply queued",
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
