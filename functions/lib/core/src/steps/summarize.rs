//! `Summarize drift`: the drift report from the plan JSON, with the ignore rules applied.

use super::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::plan;

/// The plan of a run, streamed into the drift summary.
pub(super) async fn summarize_run(
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
pub(super) fn ignore_rules(config: &Config, check: &CheckRef) -> crate::config::IgnoreRules {
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
pub(super) async fn drifted_addresses(
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
