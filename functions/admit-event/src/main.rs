//! Admit event: is this CloudTrail event a change to check, for which
//! workspaces, and does it join a batch already waiting to plan?

use driftguard_core::model::AdmitRequest;
use driftguard_core::ports::TagLookup;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters, now_epoch};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    config.require_workspaces()?;
    if config.admission.ignore_principal_arns.is_empty() {
        // Terraform is known by principal only: without one, its own applies are checked too.
        tracing::warn!(
            "DRIFTGUARD_IGNORE_PRINCIPAL_ARNS is empty: changes HCP Terraform makes are admitted like a person's; set ignore_principal_arns to its role or user ARN"
        );
    }
    let sdk = driftguard_lambda::sdk_config().await;
    let batches = adapters::batches(&config, &sdk)?;
    // Routes that filter on tags read the changed resource's current tags.
    let tags = adapters::tag_lookup(&config, &sdk);
    let (config, batches, tags) = (&config, &batches, &tags);
    driftguard_lambda::serve(move |req: AdmitRequest, _| async move {
        let tags = tags.as_ref().map(|t| t as &dyn TagLookup);
        steps::admit_with_tags(&req, config, batches, tags, now_epoch()).await
    })
    .await
}
