//! A minimal Lambda runtime API (the HTTP interface a custom runtime polls,
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>) for
//! measuring one function process: when it first asks for work (`GET
//! /2018-06-01/runtime/invocation/next`), and how long each invocation takes
//! from serving `next` to receiving the response (what Lambda bills).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// What one invocation returned.
#[derive(Debug)]
pub struct Outcome {
    /// The response body, or the error document (`errorType`, `errorMessage`).
    pub result: std::result::Result<Value, Value>,
    /// From serving `next` to receiving the response: the billed duration.
    pub handler: Duration,
}

struct Job {
    request_id: String,
    payload: Value,
    done: oneshot::Sender<Outcome>,
}

struct InFlight {
    served: Instant,
    done: oneshot::Sender<Outcome>,
}

struct Shared {
    function_arn: String,
    first_next: Mutex<Option<Instant>>,
    next_seen: Notify,
    init_error: Mutex<Option<String>>,
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    stop: watch::Sender<bool>,
}

/// A runtime API for one function process; stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    submit: mpsc::Sender<Job>,
    counter: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.shared.stop.send(true);
        self.task.abort();
    }
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (submit, jobs) = mpsc::channel(16);
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"),
            first_next: Mutex::new(None),
            next_seen: Notify::new(),
            init_error: Mutex::new(None),
            jobs: tokio::sync::Mutex::new(jobs),
            in_flight: Mutex::new(HashMap::new()),
            stop,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            addr,
            shared,
            submit,
            counter: AtomicU64::new(0),
            task,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the process.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the process first asked for an invocation (waits up to `timeout`).
    pub async fn first_next(&self, timeout: Duration) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.next_seen.notified();
            if let Some(at) = *self.shared.first_next.lock().unwrap() {
                return Ok(at);
            }
            if let Some(e) = self.shared.init_error.lock().unwrap().clone() {
                bail!("the function reported an init error: {e}");
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!("no GET /runtime/invocation/next within {timeout:?}");
            }
        }
    }

    /// Sends one invocation and waits for its response.
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Result<Outcome> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        let job = Job {
            request_id: format!("bench-{n:08}-0000-4000-8000-000000000000"),
            payload,
            done,
        };
        if self.submit.send(job).await.is_err() {
            bail!("the runtime API stopped");
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => bail!("the invocation was dropped"),
            Err(_) => bail!("no response within {timeout:?}"),
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    {
        let mut first = shared.first_next.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    shared.next_seen.notify_waiters();
    let mut stop = shared.stop.subscribe();
    let job = {
        let mut jobs = shared.jobs.lock().await;
        tokio::select! {
            job = jobs.recv() => job,
            _ = stop.changed() => None,
        }
    };
    let Some(job) = job else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", job.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    let body = job.payload.to_string();
    shared.in_flight.lock().unwrap().insert(
        job.request_id,
        InFlight {
            served: Instant::now(),
            done: job.done,
        },
    );
    (StatusCode::OK, headers, body).into_response()
}

fn finish(shared: &Shared, id: &str, result: std::result::Result<Value, Value>) -> StatusCode {
    let received = Instant::now();
    let Some(flight) = shared.in_flight.lock().unwrap().remove(id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = flight.done.send(Outcome {
        result,
        handler: received.duration_since(flight.served),
    });
    StatusCode::ACCEPTED
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Ok(json_of(&body)))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Err(json_of(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into());
    shared.next_seen.notify_waiters();
    StatusCode::ACCEPTED
}
