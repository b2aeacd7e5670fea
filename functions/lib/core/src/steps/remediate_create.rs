//! `Create remediation run`: the targeted run that reverts what the alert showed, only when the deployed remediation mode allows it.

use super::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::history::{self};
use crate::poll;
use crate::tfc::status::{self};

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
pub(super) fn mode_refusal(
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
pub(super) fn refused(reason: String, discarded: bool) -> SafetyAssessment {
    SafetyAssessment {
        safe: false,
        reason,
        discarded,
        ..SafetyAssessment::default()
    }
}

/// ", approved by alice in Slack" for a run's message; "" for automatic remediation.
pub(super) fn approved_by(approval: Option<&ApprovalDecision>) -> String {
    match approval.and_then(|a| a.by.as_ref()) {
        Some(user) if !user.name.is_empty() => {
            format!(", approved by {} ({}) in Slack", user.name, user.id)
        }
        Some(user) => format!(", approved by {} in Slack", user.id),
        None => String::new(),
    }
}

pub(super) fn remediation_run(req: &RemediateRequest) -> Result<&RunInfo> {
    req.remediation.as_ref().ok_or_else(|| {
        Error::InvalidInput(format!(
            "remediate '{:?}' needs the remediation run in 'remediation'",
            req.action
        ))
    })
}

/// Entries that hold commas themselves, for a sentence: `; `-separated, the
/// first few, then how many more.
pub(super) fn entry_list(entries: &[String]) -> String {
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
pub(super) fn name_list(addresses: &[String]) -> String {
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
