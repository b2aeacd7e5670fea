//! `Admit event`: filter the CloudTrail change, route it to workspaces, coalesce a burst.

use super::*;
use crate::admission::{self, Evaluation};
use crate::coalesce;
use crate::config::Config;
use crate::error::Result;

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
