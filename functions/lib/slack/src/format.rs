//! [`BlockKit`]: the core's [`AlertFormat`] in Slack's Block Kit, built from
//! [`crate::build_message`] and the thread pieces of [`crate::thread`].

use serde_json::Value;

use driftguard_core::alerting::{AlertFormat, DecisionRequest};
use driftguard_core::model::{CheckOutcome, CheckStatus};

use crate::thread;

/// Slack's alert format: Block Kit within Slack's limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockKit;

impl AlertFormat for BlockKit {
    fn alert(&self, outcome: &CheckOutcome, execution_url: &str) -> Value {
        crate::build_message(outcome, execution_url)
    }

    fn decision_alert(&self, outcome: &CheckOutcome, execution_url: &str) -> Value {
        crate::build_decision_alert(outcome, execution_url)
    }

    fn changed_again(
        &self,
        outcome: &CheckOutcome,
        execution_url: &str,
        asks_decision: bool,
    ) -> Value {
        crate::build_changed_again(outcome, execution_url, asks_decision)
    }

    fn with_decision(&self, message: &Value, request: &DecisionRequest<'_>) -> Value {
        thread::with_decision(message, request)
    }

    fn reply(&self, outcome: &CheckOutcome, execution_url: &str) -> Value {
        thread::reply(outcome, execution_url)
    }

    fn resolved_reply(&self, execution_url: &str, started_at: &str) -> Value {
        thread::resolved_reply(execution_url, started_at)
    }

    fn annotate_parent(
        &self,
        parent: &Value,
        status: CheckStatus,
        workspace: &str,
        line: &str,
    ) -> Value {
        thread::annotate_parent(parent, status, workspace, line)
    }

    fn latest_line(&self, outcome: &CheckOutcome, execution_url: &str) -> String {
        thread::latest_line(outcome, execution_url)
    }

    fn changed_again_line(&self, execution_url: &str) -> String {
        thread::changed_again_line(execution_url)
    }

    fn resolved_parent(&self, parent: &Value, workspace: &str) -> Value {
        let mut resolved = parent.clone();
        if let Some(header) = resolved
            .get_mut("blocks")
            .and_then(Value::as_array_mut)
            .and_then(|b| b.iter_mut().find(|b| b["type"] == "header"))
        {
            header["text"]["text"] = Value::String(format!("✅ Drift resolved: {workspace}"));
        }
        resolved
    }
}
