//! On failure: invoked by EventBridge when a check execution FAILED, TIMED_OUT
//! or was ABORTED. Records CheckFailed and alerts Slack with the redrive hint.

use driftguard_core::history;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let slack = adapters::slack(&config, &sdk)?;
    let executions = adapters::executions(&sdk);
    let (config, store, slack, executions) = (&config, &store, &slack, &executions);
    driftguard_lambda::serve(move |event: Value, _| async move {
        steps::handle_failure(&event, executions, store, slack, config, history::now()).await
    })
    .await
}
