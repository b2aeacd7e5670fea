//! Notify: the Slack alert of a check outcome, at most once per execution.

use driftguard_core::model::NotifyRequest;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters, now_epoch};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let history = adapters::history(&config, &sdk)?;
    let slack = adapters::slack(&config, &sdk)?;
    let (config, history, slack) = (&config, &history, &slack);
    driftguard_lambda::serve(move |req: NotifyRequest, _| async move {
        steps::notify(&req, slack, history, config, now_epoch()).await
    })
    .await
}
