//! Record: the history record of a check, written once per execution with
//! its drift episodes; their findings go to Security Hub when it is on.

use driftguard_core::history;
use driftguard_core::model::CheckOutcome;
use driftguard_core::ports::FindingsPublisher;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let findings = adapters::findings(&config, &sdk);
    let (config, store, findings) = (&config, &store, &findings);
    driftguard_lambda::serve(move |outcome: CheckOutcome, _| async move {
        let findings = findings.as_ref().map(|f| f as &dyn FindingsPublisher);
        steps::record_with(&outcome, store, findings, config, history::now()).await
    })
    .await
}
