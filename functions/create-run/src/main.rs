//! Create plan run: close the workspace's batch and start a speculative plan
//! (or find the one this execution already started).

use driftguard_core::model::CreateRunRequest;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters, now_epoch};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let tfc = adapters::terraform_cloud(&config, &sdk)?;
    let batches = adapters::batches(&config, &sdk)?;
    let (tfc, batches) = (tfc.as_ref(), &batches);
    driftguard_lambda::serve(move |req: CreateRunRequest, _| async move {
        steps::create_run(&req, tfc, batches, now_epoch()).await
    })
    .await
}
