//! Reading Step Functions executions the way a person reads the console: the
//! states an execution passed, in order, with timings, inputs, outputs and errors.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One history event, reduced to what the harness reads.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub previous_id: i64,
    pub time: DateTime<Utc>,
    pub kind: String,
    /// State name (entered / exited events).
    pub state: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub map_index: Option<i32>,
}

/// One visit of one state.
#[derive(Debug, Clone)]
pub struct VisitedState {
    pub name: String,
    /// `Task`, `Pass`, `Wait`, `Choice`, `Map`, `Succeed`, `Fail`.
    pub state_type: String,
    /// The Map iteration this visit belongs to (states inside the Map only).
    pub iteration: Option<i32>,
    pub entered: DateTime<Utc>,
    pub exited: Option<DateTime<Utc>>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    /// Lambda invocations made by this visit (Task states; retries add more).
    pub attempts: u32,
    /// Errors of failed attempts, `(error, cause)`, in order.
    pub errors: Vec<(String, String)>,
}

impl VisitedState {
    pub fn duration(&self) -> Option<Duration> {
        self.exited.and_then(|x| (x - self.entered).to_std().ok())
    }
}

/// An execution, finished or not, as the harness sees it.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub input: Value,
    pub output: Option<Value>,
    pub start: DateTime<Utc>,
    pub stop: Option<DateTime<Utc>>,
    pub events: Vec<Event>,
    pub states: Vec<VisitedState>,
}

impl ExecutionReport {
    /// State names in the order they were entered.
    pub fn state_names(&self) -> Vec<&str> {
        self.states.iter().map(|s| s.name.as_str()).collect()
    }

    pub fn visited(&self, name: &str) -> bool {
        self.states.iter().any(|s| s.name == name)
    }

    pub fn visits(&self, name: &str) -> Vec<&VisitedState> {
        self.states.iter().filter(|s| s.name == name).collect()
    }

    /// The outcomes written by "Record outcome", in order (its `status` parameter).
    pub fn recorded_statuses(&self) -> Vec<&str> {
        self.visits("Record outcome")
            .into_iter()
            .filter_map(|v| v.input.as_ref()?.get("status")?.as_str())
            .collect()
    }

    /// The state the execution failed in (the last Task/Fail state entered and never exited).
    pub fn failed_state(&self) -> Option<&VisitedState> {
        if self.status != "FAILED" {
            return None;
        }
        self.states
            .iter()
            .rev()
            .find(|s| s.exited.is_none() && s.state_type != "Map")
            .or_else(|| self.states.iter().rev().find(|s| s.state_type == "Fail"))
    }

    /// `$.admission` of the execution (from the Admit event step's output).
    pub fn admission(&self) -> Option<Value> {
        self.visits("Admit event")
            .first()
            .and_then(|s| s.output.as_ref())
            .and_then(|o| o.get("admission").cloned())
    }

    pub fn duration(&self) -> Option<Duration> {
        self.stop.and_then(|x| (x - self.start).to_std().ok())
    }

    pub fn is_running(&self) -> bool {
        self.status == "RUNNING"
    }
}

fn to_chrono(t: &aws_sdk_sfn::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

fn reduce(e: &aws_sdk_sfn::types::HistoryEvent) -> Event {
    let mut ev = Event {
        id: e.id(),
        previous_id: e.previous_event_id(),
        time: to_chrono(e.timestamp()),
        kind: e.r#type().as_str().to_string(),
        state: None,
        input: None,
        output: None,
        error: None,
        cause: None,
        map_index: None,
    };
    if let Some(d) = e.state_entered_event_details() {
        ev.state = Some(d.name().to_string());
        ev.input = d.input().map(str::to_string);
    }
    if let Some(d) = e.state_exited_event_details() {
        ev.state = Some(d.name().to_string());
        ev.output = d.output().map(str::to_string);
    }
    if let Some(d) = e.lambda_function_scheduled_event_details() {
        ev.input = d.input().map(str::to_string);
    }
    if let Some(d) = e.task_scheduled_event_details() {
        ev.input = Some(d.parameters().to_string());
    }
    if let Some(d) = e.lambda_function_succeeded_event_details() {
        ev.output = d.output().map(str::to_string);
    }
    if let Some(d) = e.task_succeeded_event_details() {
        ev.output = d.output().map(str::to_string);
    }
    let mut error = |error: Option<&str>, cause: Option<&str>| {
        ev.error = error.map(str::to_string);
        ev.cause = cause.map(str::to_string);
    };
    if let Some(d) = e.lambda_function_failed_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_timed_out_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_schedule_failed_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_start_failed_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.task_failed_event_details() {
        error(Some(d.error().unwrap_or_default()), d.cause());
    }
    if let Some(d) = e.task_timed_out_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.execution_failed_event_details() {
        error(d.error(), d.cause());
    }
    if let Some(d) = e.map_iteration_started_event_details() {
        ev.map_index = Some(d.index());
    }
    ev
}

fn parse(raw: &Option<String>) -> Option<Value> {
    raw.as_deref()
        .map(|s| serde_json::from_str(s).unwrap_or(Value::String(s.to_string())))
}

/// The states visited, from the history events. `inner` names the states inside
/// the Map (their visits get the iteration they belong to).
pub fn visited_states(events: &[Event], inner: &BTreeSet<String>) -> Vec<VisitedState> {
    // Iteration of each event: a MapIterationStarted event starts one, and the
    // events of an iteration chain through previous_event_id.
    let mut iteration_of: HashMap<i64, i32> = HashMap::new();
    for e in events {
        if let Some(index) = e.map_index {
            iteration_of.insert(e.id, index);
        } else if let Some(index) = iteration_of.get(&e.previous_id).copied() {
            let ends = e.kind.starts_with("MapIteration") || e.kind.starts_with("MapState");
            if !ends {
                iteration_of.insert(e.id, index);
            }
        }
    }
    let mut states: Vec<VisitedState> = Vec::new();
    let open = |states: &Vec<VisitedState>, name: Option<&str>, iteration: Option<i32>| {
        states.iter().rposition(|s| {
            s.exited.is_none()
                && name.is_none_or(|n| s.name == n)
                && (iteration.is_none() || s.iteration == iteration || s.iteration.is_none())
        })
    };
    for e in events {
        let iteration = e
            .state
            .as_ref()
            .filter(|n| inner.contains(*n))
            .and_then(|_| iteration_of.get(&e.id).copied());
        if e.kind.ends_with("StateEntered") {
            let name = e.state.clone().unwrap_or_default();
            states.push(VisitedState {
                state_type: e.kind.trim_end_matches("StateEntered").to_string(),
                iteration,
                name,
                entered: e.time,
                exited: None,
                input: parse(&e.input),
                output: None,
                attempts: 0,
                errors: vec![],
            });
        } else if e.kind.ends_with("StateExited") {
            if let Some(i) = open(&states, e.state.as_deref(), iteration) {
                states[i].exited = Some(e.time);
                states[i].output = parse(&e.output);
            }
        } else if e.kind == "LambdaFunctionScheduled" || e.kind == "TaskScheduled" {
            let it = iteration_of.get(&e.id).copied();
            if let Some(i) = states.iter().rposition(|s| {
                s.exited.is_none() && s.state_type == "Task" && (it.is_none() || s.iteration == it)
            }) {
                states[i].attempts += 1;
                if states[i].attempts == 1 && states[i].input.is_some() {
                    // Keep the Task's effective parameters (what the function received).
                    if let Some(p) = parse(&e.input) {
                        states[i].input = Some(p);
                    }
                }
            }
        } else if let Some(error) = &e.error
            && !e.kind.starts_with("Execution")
        {
            let it = iteration_of.get(&e.id).copied();
            if let Some(i) = states.iter().rposition(|s| {
                s.exited.is_none() && s.state_type == "Task" && (it.is_none() || s.iteration == it)
            }) {
                states[i]
                    .errors
                    .push((error.clone(), e.cause.clone().unwrap_or_default()));
            }
        }
    }
    states
}

/// State names inside the definition's Map states.
pub fn inner_state_names(definition: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    fn walk(states: &Value, nested: bool, names: &mut BTreeSet<String>) {
        let Some(map) = states.as_object() else {
            return;
        };
        for (name, state) in map {
            if nested {
                names.insert(name.clone());
            }
            for key in ["ItemProcessor", "Iterator"] {
                if let Some(inner) = state.get(key).and_then(|p| p.get("States")) {
                    walk(inner, true, names);
                }
            }
            if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
                for b in branches {
                    if let Some(inner) = b.get("States") {
                        walk(inner, true, names);
                    }
                }
            }
        }
    }
    if let Some(states) = definition.get("States") {
        walk(states, false, &mut names);
    }
    names
}

/// Reads executions of one state machine.
#[derive(Clone)]
pub struct Executions {
    pub client: aws_sdk_sfn::Client,
    pub inner_states: BTreeSet<String>,
}

impl Executions {
    pub async fn new(client: aws_sdk_sfn::Client, state_machine_arn: &str) -> Result<Self> {
        let sm = client
            .describe_state_machine()
            .state_machine_arn(state_machine_arn)
            .send()
            .await
            .context("DescribeStateMachine")?;
        let definition: Value = serde_json::from_str(sm.definition()).unwrap_or(Value::Null);
        Ok(Executions {
            client,
            inner_states: inner_state_names(&definition),
        })
    }

    /// StartExecution with an explicit name (EventBridge generates one; without
    /// it moto's `$$.Execution.Id` ends in `:None`).
    pub async fn start(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &Value,
    ) -> Result<String> {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "StartExecution {name}: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(out.execution_arn().to_string())
    }

    /// All history events, oldest first.
    pub async fn history(&self, execution_arn: &str) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "GetExecutionHistory: {}",
                        aws_sdk_sfn::error::DisplayErrorContext(&e)
                    )
                })?;
            events.extend(out.events().iter().map(reduce));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    async fn describe(
        &self,
        execution_arn: &str,
    ) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput> {
        self.client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "DescribeExecution: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )
            })
    }

    /// The execution now.
    pub async fn report(&self, execution_arn: &str) -> Result<ExecutionReport> {
        let d = self.describe(execution_arn).await?;
        self.report_from(execution_arn, d).await
    }

    /// The report, from a `DescribeExecution` answer already fetched.
    async fn report_from(
        &self,
        execution_arn: &str,
        d: aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    ) -> Result<ExecutionReport> {
        let events = self.history(execution_arn).await?;
        let states = visited_states(&events, &self.inner_states);
        let status = d.status().as_str().to_string();
        let last_failure = events.iter().rev().find(|e| e.kind == "ExecutionFailed");
        Ok(ExecutionReport {
            arn: d.execution_arn().to_string(),
            name: d.name().unwrap_or_default().to_string(),
            state_machine_arn: d.state_machine_arn().to_string(),
            error: d
                .error()
                .map(str::to_string)
                .or_else(|| last_failure.and_then(|e| e.error.clone())),
            cause: d
                .cause()
                .map(str::to_string)
                .or_else(|| last_failure.and_then(|e| e.cause.clone())),
            input: d
                .input()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null),
            output: d.output().and_then(|s| serde_json::from_str(s).ok()),
            start: to_chrono(d.start_date()),
            stop: d.stop_date().map(to_chrono),
            status,
            events,
            states,
        })
    }

    /// Waits until the execution is no longer RUNNING.
    pub async fn wait(&self, execution_arn: &str, timeout: Duration) -> Result<ExecutionReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let d = self.describe(execution_arn).await?;
            if d.status().as_str() != "RUNNING" {
                return self.report_from(execution_arn, d).await;
            }
            if tokio::time::Instant::now() > deadline {
                let report = self.report(execution_arn).await?;
                bail!(
                    "execution {} still RUNNING after {timeout:?}; states so far: {:?}",
                    report.name,
                    report.state_names()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
