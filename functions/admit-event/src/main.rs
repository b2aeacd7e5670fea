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
    let sdk = driftguard_lambda::sdk_config().await;
    let batches = adapters::batches(&config, &sdk)?;
    let (config, batches) = (&config, &batches);
    driftguard_lambda::serve(move |req: AdmitRequest, _| async move {
        steps::admit(&req, config, batches, now_epoch()).await
    })
    .await
}
