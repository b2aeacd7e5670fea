//! Step Functions adapter: what the on-failure handler reads about a failed execution.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::types::HistoryEventType;

use crate::error::{Error, Result};
use crate::ports::{ExecutionDescription, ExecutionReader};

pub struct StepFunctionsReader {
    client: Client,
}

impl StepFunctionsReader {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn to_rfc3339(t: &aws_sdk_sfn::primitives::DateTime) -> String {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[async_trait]
impl ExecutionReader for StepFunctionsReader {
    async fn describe(&self, execution_arn: &str) -> Result<ExecutionDescription> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist())
                {
                    Error::InvalidInput(format!("execution {execution_arn} does not exist"))
                } else {
                    Error::AwsUnavailable(format!(
                        "DescribeExecution failed: {}",
                        DisplayErrorContext(&e)
                    ))
                }
            })?;
        let input = out
            .input()
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or(serde_json::Value::Null);

        // Newest events first: the failure, then the state it happened in.
        let history = self
            .client
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(100)
            .send()
            .await
            .map_err(|e| {
                Error::AwsUnavailable(format!(
                    "GetExecutionHistory failed: {}",
                    DisplayErrorContext(&e)
                ))
            })?;
        let mut error = out.error().map(str::to_string);
        let mut cause = out.cause().map(str::to_string);
        let mut failed_state = None;
        for event in history.events() {
            if let Some(details) = event.execution_failed_event_details() {
                error = error.or_else(|| details.error().map(str::to_string));
                cause = cause.or_else(|| details.cause().map(str::to_string));
            }
            if failed_state.is_none()
                && matches!(
                    event.r#type(),
                    HistoryEventType::TaskStateEntered
                        | HistoryEventType::FailStateEntered
                        | HistoryEventType::ChoiceStateEntered
                        | HistoryEventType::PassStateEntered
                        | HistoryEventType::WaitStateEntered
                        | HistoryEventType::MapStateEntered
                )
            {
                failed_state = event
                    .state_entered_event_details()
                    .map(|d| d.name().to_string());
            }
        }

        Ok(ExecutionDescription {
            execution_arn: execution_arn.to_string(),
            input,
            started_at: to_rfc3339(out.start_date()),
            status: out.status().as_str().to_string(),
            error,
            cause,
            failed_state,
        })
    }
}
