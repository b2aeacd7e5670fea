//! Create plan run: close the workspace's batch and start a speculative plan
//! (or find the one this execution already started), with the first poll
//! scheduled from the workspace's recent plan durations.

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
    let history = adapters::history(&config, &sdk)?;
    let (tfc, batches, history, poll) = (tfc.as_ref(), &batches, &history, &config.poll);
    driftguard_lambda::serve(move |req: CreateRunRequest, _| async move {
        steps::create_run_learning(&req, tfc, batches, Some(history), poll, now_epoch()).await
    })
    .await
}
