//! Remediation: create a run targeted to the drifted addresses, check it is
//! safe (no destroy unless allowed), and apply it.
//!
//! Invoking this function is workspace-admin power: it acts with
//! DriftGuard's HCP Terraform token. It assesses and confirms only the run it
//! created for the execution it is given (noted in the history table), but
//! whoever may invoke it can start a remediation of any execution id.

use driftguard_core::model::{RemediateRequest, RemediationAction};
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};
use serde_json::Value;

fn to_json<T: serde::Serialize>(value: T) -> driftguard_core::Result<Value> {
    serde_json::to_value(value).map_err(|e| driftguard_core::Error::TfcProtocol(e.to_string()))
}

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let tfc = adapters::terraform_cloud(&config, &sdk)?;
    let ledger = adapters::remediations(&config, &sdk)?;
    let (config, tfc, ledger) = (&config, tfc.as_ref(), &ledger);
    driftguard_lambda::serve(move |req: RemediateRequest, _| async move {
        match req.action {
            RemediationAction::Create => to_json(
                steps::remediate_create(&req, tfc, ledger, config, driftguard_core::history::now())
                    .await?,
            ),
            RemediationAction::Assess => {
                to_json(steps::remediate_assess_noted(&req, tfc, ledger, config).await?)
            }
            RemediationAction::Apply => to_json(
                steps::remediate_apply(&req, tfc, ledger, config, driftguard_core::history::now())
                    .await?,
            ),
        }
    })
    .await
}
