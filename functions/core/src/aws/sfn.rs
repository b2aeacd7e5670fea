//! Step Functions adapter: what the on-failure handler reads about a failed execution.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ports::{ExecutionDescription, ExecutionReader, TaskCallbacks, TaskDelivery};

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
        let events = self.history(execution_arn).await?;
        let facts = ExecutionFacts::read(&events);
        Ok(ExecutionDescription {
            execution_arn: execution_arn.to_string(),
            input,
            started_at: to_rfc3339(out.start_date()),
            status: out.status().as_str().to_string(),
            error: out.error().map(str::to_string).or(facts.error),
            cause: out.cause().map(str::to_string).or(facts.cause),
            failed_state: facts.failed_state,
            redrive_count: out
                .redrive_count()
                .map_or(facts.redrive_count, |c| c.max(0) as u32),
            admission: facts.admission,
            finished_checks: facts.finished_checks,
        })
    }
}

/// `SendTaskSuccess` for decisions made in Slack.
pub struct StepFunctionsCallbacks {
    client: Client,
}

impl StepFunctionsCallbacks {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl TaskCallbacks for StepFunctionsCallbacks {
    async fn send_success(&self, task_token: &str, output: &Value) -> Result<TaskDelivery> {
        let result = self
            .client
            .send_task_success()
            .task_token(task_token)
            .output(output.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(TaskDelivery::Delivered),
            Err(e) => {
                let service = e.as_service_error();
                // The token never appears in the error: Step Functions does not echo it.
                if let Some(gone) = service.and_then(|s| {
                    if s.is_task_timed_out() {
                        Some("TaskTimedOut")
                    } else if s.is_task_does_not_exist() {
                        Some("TaskDoesNotExist")
                    } else if s.is_invalid_token() {
                        Some("InvalidToken")
                    } else {
                        None
                    }
                }) {
                    return Ok(TaskDelivery::Gone(gone.to_string()));
                }
                Err(Error::AwsUnavailable(format!(
                    "SendTaskSuccess failed: {}",
                    DisplayErrorContext(&e)
                )))
            }
        }
    }
}

/// Most history events read (an execution polls a long plan in a few hundred).
const MAX_HISTORY_EVENTS: usize = 25_000;

impl StepFunctionsReader {
    /// The execution's history, oldest first.
    async fn history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    Error::AwsUnavailable(format!(
                        "GetExecutionHistory failed: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            events.extend(page.events().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() && events.len() < MAX_HISTORY_EVENTS => {
                    token = Some(next.to_string())
                }
                _ => break,
            }
        }
        Ok(events)
    }
}

/// What the on-failure handler needs from an execution's history.
#[derive(Debug, Default, PartialEq)]
struct ExecutionFacts {
    error: Option<String>,
    cause: Option<String>,
    failed_state: Option<String>,
    redrive_count: u32,
    admission: Option<Value>,
    finished_checks: Vec<usize>,
}

impl ExecutionFacts {
    /// Reads the facts from the history, oldest event first.
    fn read(events: &[HistoryEvent]) -> Self {
        let mut facts = ExecutionFacts::default();
        for event in events {
            if let Some(details) = event.execution_failed_event_details() {
                facts.error = details.error().map(str::to_string).or(facts.error);
                facts.cause = details.cause().map(str::to_string).or(facts.cause);
            }
            if let Some(details) = event.execution_redriven_event_details() {
                facts.redrive_count = facts
                    .redrive_count
                    .max(details.redrive_count().unwrap_or(0).max(0) as u32);
            }
            // The last state entered is where the execution stopped.
            if matches!(
                event.r#type(),
                HistoryEventType::TaskStateEntered
                    | HistoryEventType::FailStateEntered
                    | HistoryEventType::ChoiceStateEntered
                    | HistoryEventType::PassStateEntered
                    | HistoryEventType::WaitStateEntered
                    | HistoryEventType::MapStateEntered
            ) {
                if let Some(details) = event.state_entered_event_details() {
                    facts.failed_state = Some(details.name().to_string());
                }
            }
            // A Lambda function ARN as the Task's Resource reports
            // LambdaFunctionSucceeded; a service integration, TaskSucceeded.
            let output = event
                .lambda_function_succeeded_event_details()
                .and_then(|d| d.output())
                .or_else(|| {
                    event
                        .task_succeeded_event_details()
                        .and_then(|d| d.output())
                });
            if facts.admission.is_none()
                && let Some(output) = output
            {
                facts.admission = admission_output(output);
            }
            if event.r#type() == &HistoryEventType::MapIterationSucceeded
                && let Some(index) = event
                    .map_iteration_succeeded_event_details()
                    .map(|d| d.index())
            {
                let index = index.max(0) as usize;
                if !facts.finished_checks.contains(&index) {
                    facts.finished_checks.push(index);
                }
            }
        }
        facts.finished_checks.sort_unstable();
        facts
    }
}

/// The admission step's answer, recognised by its shape (`decision` and
/// `checks`), directly or inside a Lambda integration's `Payload`.
fn admission_output(output: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(output).ok()?;
    let answer = value.get("Payload").cloned().unwrap_or(value);
    (answer.get("decision").is_some_and(Value::is_string)
        && answer.get("checks").is_some_and(Value::is_array))
    .then_some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ExecutionFailedEventDetails, ExecutionRedrivenEventDetails,
        LambdaFunctionSucceededEventDetails, MapIterationEventDetails, StateEnteredEventDetails,
        TaskSucceededEventDetails,
    };

    fn event(id: i64, kind: HistoryEventType) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .r#type(kind)
            .timestamp(DateTime::from_secs(1_800_000_000 + id))
    }

    fn entered(id: i64, kind: HistoryEventType, name: &str) -> HistoryEvent {
        event(id, kind)
            .state_entered_event_details(
                StateEnteredEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn iteration(id: i64, kind: HistoryEventType, index: i32) -> HistoryEvent {
        let details = MapIterationEventDetails::builder().index(index).build();
        let builder = event(id, kind.clone());
        match kind {
            HistoryEventType::MapIterationSucceeded => {
                builder.map_iteration_succeeded_event_details(details)
            }
            _ => builder.map_iteration_failed_event_details(details),
        }
        .build()
        .unwrap()
    }

    #[test]
    fn facts_name_the_admission_the_finished_checks_and_the_failure() {
        let admission = r#"{"decision":"admit","reason":"r","checks":[{"organization":"a","workspace":"x"},{"organization":"a","workspace":"y"}]}"#;
        let events = vec![
            entered(1, HistoryEventType::TaskStateEntered, "Admit event"),
            event(2, HistoryEventType::LambdaFunctionSucceeded)
                .lambda_function_succeeded_event_details(
                    LambdaFunctionSucceededEventDetails::builder()
                        .output(admission)
                        .build(),
                )
                .build()
                .unwrap(),
            // A later task's output is not mistaken for the admission.
            event(3, HistoryEventType::TaskSucceeded)
                .task_succeeded_event_details(
                    TaskSucceededEventDetails::builder()
                        .resource_type("lambda")
                        .resource("record")
                        .output(r#"{"status":"NoDrift","stored":true}"#)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            entered(4, HistoryEventType::MapStateEntered, "Check each workspace"),
            iteration(5, HistoryEventType::MapIterationSucceeded, 1),
            entered(6, HistoryEventType::TaskStateEntered, "Create plan run"),
            iteration(7, HistoryEventType::MapIterationFailed, 0),
            event(8, HistoryEventType::ExecutionFailed)
                .execution_failed_event_details(
                    ExecutionFailedEventDetails::builder()
                        .error("TfcUnauthorized")
                        .cause("401")
                        .build(),
                )
                .build()
                .unwrap(),
            event(9, HistoryEventType::ExecutionRedriven)
                .execution_redriven_event_details(
                    ExecutionRedrivenEventDetails::builder()
                        .redrive_count(1)
                        .build(),
                )
                .build()
                .unwrap(),
            iteration(10, HistoryEventType::MapIterationSucceeded, 1),
        ];
        let facts = ExecutionFacts::read(&events);
        assert_eq!(facts.admission.as_ref().unwrap()["decision"], "admit");
        assert_eq!(facts.finished_checks, vec![1]);
        assert_eq!(facts.failed_state.as_deref(), Some("Create plan run"));
        assert_eq!(facts.error.as_deref(), Some("TfcUnauthorized"));
        assert_eq!(facts.redrive_count, 1);
    }

    #[test]
    fn admission_is_recognised_inside_a_lambda_payload_too() {
        let wrapped =
            r#"{"Payload":{"decision":"ignore","reason":"r","checks":[]},"StatusCode":200}"#;
        assert_eq!(admission_output(wrapped).unwrap()["decision"], "ignore");
        assert!(admission_output("not json").is_none());
        assert!(admission_output(r#"{"decision":"admit"}"#).is_none());
    }
}
