//! Record: the history record of a check, written once per execution.

use driftguard_core::history;
use driftguard_core::model::CheckOutcome;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let (config, store) = (&config, &store);
    driftguard_lambda::serve(move |outcome: CheckOutcome, _| async move {
        steps::record(&outcome, store, config, history::now()).await
    })
    .await
}
