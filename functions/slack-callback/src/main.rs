//! The Slack app's Request URL, behind a Lambda function URL (auth type NONE:
//! Slack cannot sign with SigV4; every request is verified as Slack's instead,
//! before anything of it is parsed). A click on Fix / Accept / Dismiss by an
//! approver of the workspace is recorded once and handed to the waiting check
//! with `SendTaskSuccess`; Slack gets its answer within its 3 seconds.

mod function_url;

use std::time::Duration;

use driftguard_core::history;
use driftguard_lambda::{InitError, adapters};
use driftguard_slack::request_url::{self, GroupCache, Receiver, SigningSecret};
use function_url::{FunctionUrlEvent, FunctionUrlResponse};

/// Slack waits 3 seconds for the answer: each Slack call gets at most this.
const SLACK_CALL_TIMEOUT: Duration = Duration::from_millis(1200);

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let signing = SigningSecret::new(
        adapters::secrets(&sdk),
        config.slack_signing_secret_secret()?,
    );
    let chat = adapters::slack_api(&config, &sdk)?.with_timeout(SLACK_CALL_TIMEOUT)?;
    let approvals = adapters::conversations(&config, &sdk)?;
    let tasks = adapters::task_callbacks(&sdk);
    let groups = GroupCache::default();
    let receiver = Receiver {
        signing_secret: &signing,
        chat: &chat,
        approvals: &approvals,
        tasks: &tasks,
        groups: &groups,
        config: &config,
    };
    let receiver = &receiver;
    driftguard_lambda::serve(move |event: FunctionUrlEvent, _| async move {
        let response = match event.into_request() {
            Ok(request) => request_url::handle_callback(&request, receiver, history::now()).await,
            Err(problem) => {
                tracing::warn!(problem, "an undecodable request body");
                request_url::CallbackResponse {
                    status: 400,
                    body: serde_json::json!({"ok": false, "text": problem}),
                }
            }
        };
        Ok::<_, driftguard_core::Error>(FunctionUrlResponse::from(response))
    })
    .await
}
