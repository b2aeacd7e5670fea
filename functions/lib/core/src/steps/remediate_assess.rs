//! `Safety check`: whether the remediation plan changes only what was approved.

use super::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::history::{self};
use crate::plan;
use crate::tfc::status::{describe, phase_of};

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
