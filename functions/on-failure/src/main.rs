//! On failure: invoked by EventBridge when a check execution FAILED, TIMED_OUT
//! or was ABORTED. Records CheckFailed, alerts Slack with the redrive hint (in
//! the drift's thread when the check had one), and discards a remediation run
//! the execution left waiting for confirmation.

use driftguard_aws::EmfMetrics;
use driftguard_core::history;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};
use serde_json::Value;
use std::time::Duration;

/// How long one HCP Terraform request may queue for its slot.
const TFC_PATIENCE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let slack = adapters::slack(&config, &sdk)?;
    let app = adapters::slack_app(&config, &sdk)?;
    let executions = adapters::executions(&sdk);
    // Invoked asynchronously (two Lambda retries, then the DLQ): a request
    // budget used up by checks in flight is waited out, well within the
    // function's 60 s timeout, rather than failing the handler.
    let tfc = adapters::patient_terraform_cloud(&config, &sdk, TFC_PATIENCE)?;
    let (config, store, slack, app, executions, tfc) =
        (&config, &store, &slack, &app, &executions, tfc.as_ref());
    driftguard_lambda::serve(move |event: Value, _| async move {
        let ports = app.as_ref().map(|a| a.ports());
        steps::handle_failure_with_app(
            &event,
            executions,
            store,
            slack,
            &EmfMetrics,
            ports.as_ref(),
            Some(tfc),
            config,
            history::now(),
        )
        .await
    })
    .await
}
