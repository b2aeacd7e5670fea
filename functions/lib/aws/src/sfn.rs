//! Step Functions adapter: what the on-failure handler reads about a failed execution.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::Value;

use driftguard_core::error::{Error, Result};
use driftguard_core::ports::{ExecutionDescription, ExecutionReader, TaskCallbacks, TaskDelivery};

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
        let mut facts = ExecutionFacts {
            admission: self.admission(execution_arn).await?,
            ..ExecutionFacts::default()
        };
        self.scan_history(execution_arn, &mut facts).await?;
        facts.finish();
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
/// Events read with their data while looking for the admission's answer (the
/// first task's output, within the first few events): pages of this size…
const ADMISSION_PAGE_EVENTS: i32 = 25;
/// …and at most this many pages.
const ADMISSION_PAGES: usize = 4;

fn history_error<E>(e: aws_sdk_sfn::error::SdkError<E>) -> Error
where
    E: std::error::Error + 'static,
{
    Error::AwsUnavailable(format!(
        "GetExecutionHistory failed: {}",
        DisplayErrorContext(&e)
    ))
}

impl StepFunctionsReader {
    /// The admission step's answer: the only output on-failure needs, so only
    /// the first events are read with their data (inputs and outputs of up to
    /// 256 KiB each), until it is found.
    async fn admission(&self, execution_arn: &str) -> Result<Option<Value>> {
        let mut token: Option<String> = None;
        for _ in 0..ADMISSION_PAGES {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .include_execution_data(true)
                .max_results(ADMISSION_PAGE_EVENTS)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(history_error)?;
            for event in page.events() {
                if let Some(found) = succeeded_output(event).and_then(admission_output) {
                    return Ok(Some(found));
                }
                // The admission answers before the Map starts.
                if event.r#type() == &HistoryEventType::MapStateEntered {
                    return Ok(None);
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(None)
    }

    /// The rest of the facts, from the whole history read without its data
    /// (`includeExecutionData=false`: names, failures, Map iterations), one
    /// page at a time: no page is kept after it is read.
    async fn scan_history(&self, execution_arn: &str, facts: &mut ExecutionFacts) -> Result<()> {
        let mut token: Option<String> = None;
        let mut read = 0;
        loop {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .include_execution_data(false)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(history_error)?;
            for event in page.events() {
                facts.absorb(event);
            }
            read += page.events().len();
            match page.next_token() {
                Some(next) if !next.is_empty() && read < MAX_HISTORY_EVENTS => {
                    token = Some(next.to_string())
                }
                _ => break,
            }
        }
        Ok(())
    }
}

/// A succeeded task's output (only when the history is read with its data):
/// a Lambda function ARN as the Task's Resource reports
/// LambdaFunctionSucceeded; a service integration, TaskSucceeded.
fn succeeded_output(event: &HistoryEvent) -> Option<&str> {
    event
        .lambda_function_succeeded_event_details()
        .and_then(|d| d.output())
        .or_else(|| {
            event
                .task_succeeded_event_details()
                .and_then(|d| d.output())
        })
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
    #[cfg(test)]
    fn read(events: &[HistoryEvent]) -> Self {
        let mut facts = ExecutionFacts::default();
        for event in events {
            facts.absorb(event);
        }
        facts.finish();
        facts
    }

    /// Takes in the next event (oldest first).
    fn absorb(&mut self, event: &HistoryEvent) {
        let facts = self;
        if let Some(details) = event.execution_failed_event_details() {
            if let Some(error) = details.error() {
                facts.error = Some(error.to_string());
            }
            if let Some(cause) = details.cause() {
                facts.cause = Some(cause.to_string());
            }
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
        if facts.admission.is_none()
            && let Some(output) = succeeded_output(event)
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

    /// After the last event.
    fn finish(&mut self) {
        self.finished_checks.sort_unstable();
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

    /// Step Functions on wiremock: DescribeExecution, and GetExecutionHistory
    /// answering only requests that say whether they want the events' data.
    async fn step_functions(
        history_pages: Vec<Value>,
    ) -> (wiremock::MockServer, StepFunctionsReader) {
        use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
        use wiremock::matchers::{body_partial_json, header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let json = |body: Value| {
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.0")
                .set_body_string(body.to_string())
        };
        Mock::given(method("POST"))
            .and(header("x-amz-target", "AWSStepFunctions.DescribeExecution"))
            .respond_with(json(serde_json::json!({
                "executionArn": "arn:aws:states:eu-west-1:1:execution:sm:exec-1",
                "stateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:sm",
                "status": "FAILED",
                "startDate": 1800000000.0,
                "input": "{}",
                "redriveCount": 0,
                "error": "TfcUnauthorized",
                "cause": "401"
            })))
            .mount(&server)
            .await;
        // With data: the admission's answer is among the first events.
        let admission =
            r#"{"decision":"admit","reason":"r","checks":[{"organization":"a","workspace":"x"}]}"#;
        Mock::given(method("POST"))
            .and(header(
                "x-amz-target",
                "AWSStepFunctions.GetExecutionHistory",
            ))
            .and(body_partial_json(
                serde_json::json!({"includeExecutionData": true}),
            ))
            .respond_with(json(serde_json::json!({"events": [
                {"id": 1, "type": "ExecutionStarted", "timestamp": 1800000000.0},
                {"id": 2, "type": "TaskStateEntered", "timestamp": 1800000001.0,
                 "stateEnteredEventDetails": {"name": "Admit event"}},
                {"id": 3, "type": "LambdaFunctionSucceeded", "timestamp": 1800000002.0,
                 "lambdaFunctionSucceededEventDetails": {"output": admission}}
            ], "nextToken": "more-with-data"})))
            .mount(&server)
            .await;
        // Without data: every page, the one asked for by its token first.
        for (i, page) in history_pages.iter().enumerate() {
            let mut body = serde_json::json!({"includeExecutionData": false});
            if i > 0 {
                body["nextToken"] = serde_json::json!(format!("page-{i}"));
            }
            let mut answer = serde_json::json!({"events": page});
            if i + 1 < history_pages.len() {
                answer["nextToken"] = serde_json::json!(format!("page-{}", i + 1));
            }
            Mock::given(method("POST"))
                .and(header(
                    "x-amz-target",
                    "AWSStepFunctions.GetExecutionHistory",
                ))
                .and(body_partial_json(body))
                .respond_with(json(answer))
                .with_priority(if i == 0 { 5 } else { 1 })
                .mount(&server)
                .await;
        }
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(server.uri())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        (server, StepFunctionsReader::new(Client::from_conf(config)))
    }

    #[tokio::test]
    async fn the_history_is_read_without_its_data_page_by_page() {
        let pages = vec![
            serde_json::json!([
                {"id": 1, "type": "ExecutionStarted", "timestamp": 1800000000.0},
                {"id": 4, "type": "MapStateEntered", "timestamp": 1800000003.0,
                 "stateEnteredEventDetails": {"name": "Check each workspace"}}
            ]),
            serde_json::json!([
                {"id": 5, "type": "TaskStateEntered", "timestamp": 1800000004.0,
                 "stateEnteredEventDetails": {"name": "Create plan run"}},
                {"id": 6, "type": "ExecutionFailed", "timestamp": 1800000005.0,
                 "executionFailedEventDetails": {"error": "TfcUnauthorized", "cause": "401"}}
            ]),
        ];
        let (server, reader) = step_functions(pages).await;
        let described = reader
            .describe("arn:aws:states:eu-west-1:1:execution:sm:exec-1")
            .await
            .unwrap();
        assert_eq!(described.admission.as_ref().unwrap()["decision"], "admit");
        assert_eq!(described.failed_state.as_deref(), Some("Create plan run"));
        assert_eq!(described.error.as_deref(), Some("TfcUnauthorized"));
        // The full history is read without its data; only the first page of
        // events, where the admission is, with it.
        let requests = server.received_requests().await.unwrap();
        let history: Vec<Value> = requests
            .iter()
            .filter(|r| {
                r.headers
                    .get("x-amz-target")
                    .is_some_and(|v| v == "AWSStepFunctions.GetExecutionHistory")
            })
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let with_data: Vec<&Value> = history
            .iter()
            .filter(|b| b["includeExecutionData"] != false)
            .collect();
        assert_eq!(with_data.len(), 1, "{history:?}");
        assert!(
            with_data[0]["maxResults"]
                .as_i64()
                .is_some_and(|m| m <= 100),
            "{history:?}"
        );
        assert_eq!(history.len(), 3, "{history:?}");
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
