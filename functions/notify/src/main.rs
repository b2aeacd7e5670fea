//! Notify: the Slack alert of a check outcome, at most once per execution —
//! through the incoming webhook, or through the Slack app (one thread per
//! drift, decision buttons in approval mode). Invoked with a task token by
//! `Wait for approval`, it keeps the token for the buttons; with
//! `action: "read_decision"` (`Read the decision`) it answers the decision the
//! callback receiver recorded.

use driftguard_core::approval;
use driftguard_core::model::{AwaitDecisionRequest, NotifyRequest, ReadDecisionRequest};
use driftguard_core::{Error, steps};
use driftguard_lambda::{InitError, adapters, now_epoch, parse_input};
use serde_json::Value;

fn to_json<T: serde::Serialize>(value: T) -> driftguard_core::Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::InvalidInput(e.to_string()))
}

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let history = adapters::history(&config, &sdk)?;
    let slack = adapters::slack(&config, &sdk)?;
    let app = adapters::slack_app(&config, &sdk)?;
    let tasks = adapters::task_callbacks(&sdk);
    let (config, history, slack, app, tasks) = (&config, &history, &slack, &app, &tasks);
    driftguard_lambda::serve(move |payload: Value, _| async move {
        if payload.get("task_token").is_some() {
            let req: AwaitDecisionRequest = parse_input(payload)?;
            let app = app.as_ref().ok_or_else(|| {
                Error::ConfigError(
                    "Wait for approval needs the Slack app: set slack_bot_token_secret".into(),
                )
            })?;
            return to_json(
                approval::await_decision(&req, &app.conversations, tasks, now_epoch()).await?,
            );
        }
        if payload.get("action").is_some() {
            // Read the decision: what the verified receiver recorded, after the wake-up.
            let req: ReadDecisionRequest = parse_input(payload)?;
            let app = app.as_ref().ok_or_else(|| {
                Error::ConfigError(
                    "Read the decision needs the Slack app: set slack_bot_token_secret".into(),
                )
            })?;
            return approval::read_decision(&req, &app.conversations).await;
        }
        let req: NotifyRequest = parse_input(payload)?;
        let ports = app.as_ref().map(|a| a.ports());
        to_json(
            steps::notify_with_app(&req, slack, ports.as_ref(), history, config, now_epoch())
                .await?,
        )
    })
    .await
}
