//! Check run status: one poll of a run; the state machine does the waiting.
//!
//! Past the timeout it cancels or discards only DriftGuard's own runs
//! (created by the token's user, carrying the polled execution's tag).
//! Invoking it is workspace-admin power all the same: it reads any run with
//! DriftGuard's token and stops DriftGuard's runs.

use driftguard_core::model::PollRequest;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters, now_epoch};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let tfc = adapters::terraform_cloud(&config, &sdk)?;
    let (config, tfc) = (&config, tfc.as_ref());
    driftguard_lambda::serve(move |req: PollRequest, _| async move {
        steps::poll_run(&req, tfc, config, now_epoch()).await
    })
    .await
}
