//! `Apply remediation`: confirms DriftGuard's own run, found safe.

use super::*;
use crate::config::{Config, PollConfig};
use crate::error::Result;
use crate::history::{self};
use crate::poll;
use crate::tfc::status::{self, describe, phase_of};

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
