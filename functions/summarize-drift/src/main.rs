//! Summarize drift: the plan's JSON output → the drift report.

use driftguard_core::model::SummarizeRequest;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let tfc = adapters::terraform_cloud(&config, &sdk)?;
    let (config, tfc) = (&config, tfc.as_ref());
    driftguard_lambda::serve(move |req: SummarizeRequest, _| async move {
        steps::summarize(&req, tfc, config).await
    })
    .await
}
