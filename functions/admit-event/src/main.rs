//! Admit event: is this CloudTrail event a change to check, for which
//! workspaces, and does it join a batch already waiting to plan?

use driftguard_core::model::AdmitRequest;
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
    let (config, batches) = (&config, &batches);
    driftguard_lambda::serve(move |req: AdmitRequest, _| async move {
        steps::admit(&req, config, batches, now_epoch()).await
    })
    .await
}
