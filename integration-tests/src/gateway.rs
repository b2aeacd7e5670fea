//! The gateway: one port that looks like "AWS" to Terraform, the SDKs and
//! moto's Step Functions engine.
//!
//! - Lambda `Invoke` (`POST /2015-03-31/functions/{name or ARN}/invocations`) of a
//!   DriftGuard function goes to `cargo lambda watch` (function name
//!   `<project>-<env>-<binary>` → binary), and its answer is made to look like
//!   AWS Lambda's: a handler error becomes HTTP 200 with
//!   `X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}`.
//! - `ValidateStateMachineDefinition` and `ListStateMachineVersions` (HTTP 500 in
//!   moto 5.2.5, which the AWS provider retries forever) are answered here.
//! - `GetExecutionHistory` with `reverseOrder` (ignored by moto 5.2.5, which
//!   always answers oldest first) gets moto's answer reversed.
//! - Lambda `GetPolicy`: moto 5.2.5 keeps an `AddPermission`'s
//!   `FunctionUrlAuthType` as a statement element of its own; AWS stores it as
//!   the condition `lambda:FunctionUrlAuthType`, and the gateway answers so.
//! - DynamoDB data calls are sent to moto one at a time. DynamoDB applies each
//!   write to an item atomically; moto 5.2.5 reads, changes and stores the item
//!   with no lock, so two concurrent `UpdateItem`s on one coalescing batch could
//!   both succeed with one change lost.
//! - Lambda function URLs: a request whose `Host` is a function URL
//!   (`<url-id>.lambda-url.<region>.on.aws`, as moto hands them out) becomes
//!   the function URL event (payload format 2.0; bodies that are not text,
//!   such as Slack's form posts, base64-encoded) for the binary, and the
//!   function's answer becomes the HTTP response, as Lambda does. Only URLs
//!   with auth type NONE answer (an unsigned request to an AWS_IAM URL gets
//!   403), and only while the function's resource policy grants everyone both
//!   `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (AWS's rule for
//!   function URLs since October 2025; read from moto on every request).
//! - Faults armed by a scenario ([`crate::faults`]) fail or delay chosen calls.
//! - Everything else is proxied to moto unchanged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// The DriftGuard Lambda binaries, by crate / binary name: every folder of
/// `functions/` but `lib/` (the libraries) and `cli/` is one Lambda, so the
/// list is read from there (as the Makefile does), never kept by hand.
pub fn functions() -> &'static [&'static str] {
    static FUNCTIONS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        let dir = crate::events::repo_root().join("functions");
        let mut names: Vec<&'static str> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join("Cargo.toml").is_file())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name != "lib" && name != "cli")
            .map(|name| &*Box::leak(name.into_boxed_str()))
            .collect();
        names.sort_unstable();
        names
    })
}

/// How long an invocation may take before the gateway answers like a Lambda
/// timeout, for a function whose configuration moto cannot tell.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(180);

/// One Lambda invocation seen by the gateway.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The name or ARN the caller used.
    pub function: String,
    /// The binary that served it.
    pub binary: String,
    pub payload: Value,
    /// `Ok(result)` or `Err((errorType, errorMessage))`.
    pub result: std::result::Result<Value, (String, String)>,
    pub started: Instant,
    pub duration: Duration,
}

struct Shared {
    moto_url: String,
    lambda_url: RwLock<Option<String>>,
    client: reqwest::Client,
    invocations: Mutex<Vec<Invocation>>,
    /// Serialises DynamoDB calls to moto (see the module comment).
    dynamodb: tokio::sync::Mutex<()>,
    faults: crate::faults::Faults,
    /// Function URL id → (function name, auth type), read from moto.
    function_urls: Mutex<std::collections::HashMap<String, (String, String)>>,
    /// Function name → its configured timeout, read from moto.
    function_timeouts: Mutex<std::collections::HashMap<String, Duration>>,
    /// Binary → (invocations in flight, instances started so far): an
    /// invocation that needs one more instance than ever ran is a cold start.
    instances: Mutex<std::collections::HashMap<&'static str, (usize, usize)>>,
}

/// One invocation in flight of a binary; counted down when dropped.
struct InFlight<'a> {
    shared: &'a Shared,
    binary: &'static str,
}

impl<'a> InFlight<'a> {
    /// Counts the invocation in; true when it starts a new instance (cold).
    fn start(shared: &'a Shared, binary: &'static str) -> (Self, bool) {
        let mut instances = shared.instances.lock().unwrap();
        let (in_flight, started) = instances.entry(binary).or_default();
        *in_flight += 1;
        let cold = *in_flight > *started;
        *started = (*started).max(*in_flight);
        (Self { shared, binary }, cold)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some((in_flight, _)) = self.shared.instances.lock().unwrap().get_mut(self.binary) {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

/// A running gateway; stops when dropped.
pub struct Gateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Starts the gateway on `listener` (already bound, so the port is reserved),
    /// proxying to moto at `moto_url`.
    pub async fn start(listener: tokio::net::TcpListener, moto_url: &str) -> Result<Gateway> {
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .context("build the gateway's HTTP client")?;
        let shared = Arc::new(Shared {
            moto_url: moto_url.trim_end_matches('/').to_string(),
            lambda_url: RwLock::new(None),
            client,
            invocations: Mutex::new(Vec::new()),
            dynamodb: tokio::sync::Mutex::new(()),
            faults: crate::faults::Faults::default(),
            function_urls: Mutex::new(std::collections::HashMap::new()),
            function_timeouts: Mutex::new(std::collections::HashMap::new()),
            instances: Mutex::new(std::collections::HashMap::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("gateway stopped: {e}");
            }
        });
        Ok(Gateway { addr, shared, task })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The endpoint to give Terraform and the SDKs (`AWS_ENDPOINT_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Where `cargo lambda watch` accepts invocations, once it runs.
    pub fn set_lambda_url(&self, url: &str) {
        *self.shared.lambda_url.write().unwrap() = Some(url.trim_end_matches('/').to_string());
    }

    /// Faults to inject into AWS calls (scenarios arm and clear them).
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.shared.faults
    }

    /// Every invocation so far, oldest first.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.shared.invocations.lock().unwrap().clone()
    }
}

/// The binary serving a function name or ARN (`arn:aws:lambda:r:a:function:dg-e2e-poll-run:$LATEST`).
pub fn binary_for(function: &str) -> Option<&'static str> {
    let name = match function.find(":function:") {
        Some(i) => &function[i + ":function:".len()..],
        None => function,
    };
    let name = name.split(':').next().unwrap_or(name);
    let mut candidates: Vec<&'static str> = functions().to_vec();
    candidates.sort_by_key(|f| std::cmp::Reverse(f.len()));
    candidates
        .into_iter()
        .find(|bin| name == *bin || name.ends_with(&format!("-{bin}")))
}

/// The region of an Invoke: the function ARN's, else the request's credential
/// scope (`Credential=<key>/<date>/<region>/lambda/aws4_request`).
fn region_of(function: &str, headers: &axum::http::HeaderMap) -> String {
    if let Some(rest) = function.strip_prefix("arn:")
        && let Some(region) = rest.split(':').nth(2)
        && !region.is_empty()
    {
        return region.to_string();
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_string()
}

/// The function name in an Invoke path, percent-decoded.
fn invoke_target(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let name = rest.strip_suffix("/invocations")?;
    Some(percent_decode(name))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if let Some((url_id, region)) = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(function_url_host)
    {
        return function_url(shared, url_id, region, req).await;
    }
    if req.method() == Method::GET && is_policy_path(req.uri().path()) {
        return lambda_policy(shared, req).await;
    }
    if req.method() == Method::POST
        && let Some(function) = invoke_target(req.uri().path())
        && let Some(binary) = binary_for(&function)
    {
        return invoke(shared, function, binary, req).await;
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match target {
        "AWSStepFunctions.ValidateStateMachineDefinition" => {
            return amz_json(json!({"result": "OK", "diagnostics": []}));
        }
        "AWSStepFunctions.ListStateMachineVersions" => {
            return amz_json(json!({"stateMachineVersions": []}));
        }
        "AWSStepFunctions.GetExecutionHistory" => return execution_history(shared, req).await,
        _ if target.starts_with("DynamoDB_20120810.") => return proxy(shared, req).await,
        _ => {}
    }
    proxy(shared, req).await
}

/// Applies an armed fault to an AWS call, if one matches: `Err` is the
/// answer to give instead of moto's.
async fn inject_fault(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> std::result::Result<(), Response> {
    if shared.faults.is_empty() {
        return Ok(());
    }
    let Some(operation) = crate::faults::operation_of(&parts.headers, body) else {
        return Ok(());
    };
    match shared.faults.apply(&operation, body) {
        Some(crate::faults::FaultKind::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(())
        }
        Some(crate::faults::FaultKind::Error { status, code }) => {
            let (status, content_type, text) =
                crate::faults::error_response(&parts.headers, status, &code);
            Err(Response::builder()
                .status(status)
                .header("content-type", content_type)
                .header("x-amzn-requestid", request_id())
                .body(Body::from(text))
                .unwrap())
        }
        None => Ok(()),
    }
}

fn amz_json(body: Value) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", request_id())
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (t >> 32) as u32,
        (t >> 16) as u16,
        t as u16 & 0xfff,
        n as u16 & 0xfff,
        n
    )
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

/// Sends a request to moto as it came; answers moto's response.
async fn forward(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> std::result::Result<(StatusCode, HeaderMap, Bytes), Response> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{}", shared.moto_url, path_and_query);
    let mut headers = HeaderMap::new();
    for (k, v) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) && k.as_str() != "content-length" {
            headers.append(k.clone(), v.clone());
        }
    }
    let upstream = shared
        .client
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            plain(
                StatusCode::BAD_GATEWAY,
                &format!("gateway: moto at {} is not answering: {e}", shared.moto_url),
            )
        })?;
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (k, v) in upstream.headers().iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            headers.append(k.clone(), v.clone());
        }
    }
    let bytes = upstream.bytes().await.unwrap_or_default();
    Ok((status, headers, bytes))
}

fn respond(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::builder().status(status);
    if let Some(h) = response.headers_mut() {
        *h = headers;
    }
    response.body(Body::from(body)).unwrap()
}

async fn proxy(shared: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("gateway: bad body: {e}")),
    };
    // Faults first: a delayed DynamoDB call must not hold the others back.
    if let Err(answer) = inject_fault(&shared, &parts, &body).await {
        return answer;
    }
    let _one_at_a_time = if is_dynamodb(&parts.headers) {
        Some(shared.dynamodb.lock().await)
    } else {
        None
    };
    match forward(&shared, &parts, body).await {
        Ok((status, headers, bytes)) => respond(status, headers, bytes),
        Err(response) => response,
    }
}

fn is_dynamodb(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("DynamoDB_20120810."))
}

/// `GetExecutionHistory` with `reverseOrder`: moto 5.2.5 ignores the flag (and
/// pages), and always answers oldest first. Newest first is what readers of a
/// failed execution ask for, so the gateway reverses moto's answer.
async fn execution_history(shared: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("gateway: bad body: {e}")),
    };
    let reverse = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("reverseOrder").and_then(Value::as_bool))
        .unwrap_or(false);
    let (status, mut headers, bytes) = match forward(&shared, &parts, body).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    if !reverse || !status.is_success() {
        return respond(status, headers, bytes);
    }
    let Ok(mut history) = serde_json::from_slice::<Value>(&bytes) else {
        return respond(status, headers, bytes);
    };
    if let Some(events) = history.get_mut("events").and_then(Value::as_array_mut) {
        events.sort_by_key(|e| std::cmp::Reverse(e.get("id").and_then(Value::as_i64).unwrap_or(0)));
    }
    let body = Bytes::from(history.to_string());
    headers.remove("content-length");
    respond(status, headers, body)
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.to_string()))
        .unwrap()
}

/// `GET /2015-03-31/functions/{name}/policy`: a function's resource policy.
fn is_policy_path(path: &str) -> bool {
    path.strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/policy"))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// A resource policy document as AWS stores it: `FunctionUrlAuthType` as a condition.
pub fn policy_as_aws_stores_it(policy: &mut Value) {
    for statement in policy
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(object) = statement.as_object_mut() else {
            continue;
        };
        let Some(auth_type) = object.remove("FunctionUrlAuthType") else {
            continue;
        };
        let condition = object.entry("Condition").or_insert_with(|| json!({}));
        if let Some(condition) = condition.as_object_mut() {
            let equals = condition.entry("StringEquals").or_insert_with(|| json!({}));
            if let Some(equals) = equals.as_object_mut() {
                equals.insert("lambda:FunctionUrlAuthType".into(), auth_type);
            }
        }
    }
}

async fn lambda_policy(shared: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (status, mut headers, bytes) = match forward(&shared, &parts, body).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return respond(status, headers, bytes);
    };
    let Some(mut policy) = answer
        .get("Policy")
        .and_then(Value::as_str)
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return respond(status, headers, bytes);
    };
    policy_as_aws_stores_it(&mut policy);
    answer["Policy"] = json!(policy.to_string());
    headers.remove("content-length");
    respond(status, headers, Bytes::from(answer.to_string()))
}

/// Whether a function's resource policy (as AWS stores it) lets an anonymous
/// caller through its URL of auth type NONE. Since October 2025 Lambda requires
/// two grants to `"*"`: `lambda:InvokeFunctionUrl` (condition
/// `lambda:FunctionUrlAuthType` = `NONE`) and `lambda:InvokeFunction`
/// (unconditioned, or limited to URL calls by `lambda:InvokedViaFunctionUrl`).
/// A statement with any other condition (a source ARN, an account) does not
/// apply to an anonymous caller; an explicit Deny to everyone wins.
pub fn policy_allows_public_url(policy: &Value) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let to_everyone = |statement: &Value| match statement.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(p)) => p.get("AWS").is_some_and(|aws| aws == "*"),
        _ => false,
    };
    let names = |statement: &Value, wanted: &str| {
        let matches = |a: &Value| {
            a.as_str()
                .is_some_and(|a| a == wanted || a == "lambda:*" || a == "*")
        };
        match statement.get("Action") {
            Some(Value::Array(list)) => list.iter().any(matches),
            Some(action) => matches(action),
            None => false,
        }
    };
    // Every condition key of the statement, with its value(s).
    let conditions = |statement: &Value| -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for (_, keys) in statement
            .get("Condition")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for (key, value) in keys.as_object().into_iter().flatten() {
                let values = match value {
                    Value::Array(list) => list.iter().map(value_text).collect(),
                    other => vec![value_text(other)],
                };
                out.push((key.to_ascii_lowercase(), values));
            }
        }
        out
    };
    let grants = |wanted: &str, allowed_condition: &dyn Fn(&str, &[String]) -> bool| {
        statements.iter().any(|statement| {
            statement.get("Effect").and_then(Value::as_str) == Some("Allow")
                && to_everyone(statement)
                && names(statement, wanted)
                && conditions(statement)
                    .iter()
                    .all(|(key, values)| allowed_condition(key, values))
        })
    };
    let denied = statements.iter().any(|statement| {
        statement.get("Effect").and_then(Value::as_str) == Some("Deny")
            && to_everyone(statement)
            && (names(statement, "lambda:InvokeFunctionUrl")
                || names(statement, "lambda:InvokeFunction"))
            && statement.get("Condition").is_none()
    });
    let url = grants("lambda:InvokeFunctionUrl", &|key, values| {
        key == "lambda:functionurlauthtype" && values.iter().any(|v| v == "NONE")
    });
    let invoke = grants("lambda:InvokeFunction", &|key, values| {
        key == "lambda:invokedviafunctionurl" && values.iter().any(|v| v == "true")
    });
    url && invoke && !denied
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `<url-id>.lambda-url.<region>.on.aws[:port]` → (url id, region).
fn function_url_host(host: &str) -> Option<(String, String)> {
    let host = host.split(':').next()?;
    let rest = host.strip_suffix(".on.aws")?;
    let (url_id, region) = rest.split_once(".lambda-url.")?;
    (!url_id.is_empty() && !region.is_empty() && !url_id.contains('.'))
        .then(|| (url_id.to_string(), region.to_string()))
}

/// A call to moto's Lambda API in `region` (moto reads the region from the
/// credential scope; it does not check the signature).
async fn lambda_api(shared: &Shared, region: &str, path: &str) -> Option<Value> {
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=test/20250101/{region}/lambda/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response = shared
        .client
        .get(format!("{}{path}", shared.moto_url))
        .header("authorization", scope)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// The timeout the function is configured with (moto's `Timeout`, cached), as
/// Lambda enforces it: the invocation ends there, whatever the handler does.
/// A function moto does not know (the gateway's own tests) gets [`INVOKE_TIMEOUT`].
async fn function_timeout(shared: &Shared, function: &str, region: &str) -> Duration {
    if let Some(found) = shared.function_timeouts.lock().unwrap().get(function) {
        return *found;
    }
    let configured = lambda_api(
        shared,
        region,
        &format!("/2015-03-31/functions/{function}/configuration"),
    )
    .await
    .and_then(|c| c["Timeout"].as_u64())
    .map(Duration::from_secs);
    match configured {
        Some(timeout) => {
            shared
                .function_timeouts
                .lock()
                .unwrap()
                .insert(function.to_string(), timeout);
            timeout
        }
        None => INVOKE_TIMEOUT,
    }
}

/// The function and auth type of a function URL id, from moto (cached).
async fn resolve_function_url(
    shared: &Shared,
    url_id: &str,
    region: &str,
) -> Option<(String, String)> {
    if let Some(found) = shared.function_urls.lock().unwrap().get(url_id).cloned() {
        return Some(found);
    }
    let functions = lambda_api(shared, region, "/2015-03-31/functions/").await?;
    for name in functions["Functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["FunctionName"].as_str())
        .filter(|name| binary_for(name).is_some())
    {
        let Some(config) =
            lambda_api(shared, region, &format!("/2021-10-31/functions/{name}/url")).await
        else {
            continue;
        };
        let Some(id) = config["FunctionUrl"]
            .as_str()
            .and_then(|u| u.strip_prefix("https://"))
            .and_then(|h| h.split('.').next())
        else {
            continue;
        };
        let auth = config["AuthType"].as_str().unwrap_or("AWS_IAM").to_string();
        shared
            .function_urls
            .lock()
            .unwrap()
            .insert(id.to_string(), (name.to_string(), auth));
    }
    shared.function_urls.lock().unwrap().get(url_id).cloned()
}

/// Bodies Lambda hands over as text; anything else is base64-encoded.
fn is_text(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "application/yaml"
        )
        || media.ends_with("+json")
        || media.ends_with("+xml")
}

/// The function URL event (payload format 2.0) of a request.
pub fn function_url_event(
    url_id: &str,
    host: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Value {
    use base64::Engine;
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default();
        let key = name.as_str().to_ascii_lowercase();
        match headers.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(key, json!(value));
            }
        }
    }
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let binary = !body.is_empty() && !is_text(content_type);
    let now = chrono::Utc::now();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": host.split(':').next().unwrap_or(host),
            "domainPrefix": url_id,
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": binary,
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        event["body"] = if binary {
            json!(base64::engine::general_purpose::STANDARD.encode(body))
        } else {
            json!(String::from_utf8_lossy(body))
        };
    }
    event
}

/// The HTTP response a function URL gives for the function's answer: a
/// `{statusCode, headers, body, isBase64Encoded}` object as it says, any
/// other JSON as a 200 JSON body; a function error is 502.
fn function_url_response(result: std::result::Result<Value, (String, String)>) -> Response {
    use base64::Engine;
    let answer = match result {
        Ok(answer) => answer,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .header("content-type", "application/json")
                .header("x-amzn-requestid", request_id())
                .body(Body::from(r#"{"Message":"Internal Server Error"}"#))
                .unwrap();
        }
    };
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(answer.to_string()))
            .unwrap();
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("x-amzn-requestid", request_id());
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            builder = builder.header(name.as_str(), value);
        }
    }
    let body = answer["body"].as_str().unwrap_or("");
    let body = if answer["isBase64Encoded"] == json!(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    builder.body(Body::from(body)).unwrap()
}

async fn function_url(
    shared: Arc<Shared>,
    url_id: String,
    region: String,
    req: Request,
) -> Response {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some((function, auth)) = resolve_function_url(&shared, &url_id, &region).await else {
        return plain(StatusCode::NOT_FOUND, "{\"Message\":null}");
    };
    // An unsigned request to an AWS_IAM URL, or to a NONE URL whose resource
    // policy does not let everyone in (AWS's rule since October 2025: both
    // lambda:InvokeFunctionUrl and lambda:InvokeFunction), is forbidden.
    // The policy is read on every request, as Lambda evaluates it.
    let public = auth == "NONE"
        && lambda_api(
            &shared,
            &region,
            &format!("/2015-03-31/functions/{function}/policy"),
        )
        .await
        .and_then(|answer| {
            answer
                .get("Policy")
                .and_then(Value::as_str)
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
        })
        .is_some_and(|mut policy| {
            policy_as_aws_stores_it(&mut policy);
            policy_allows_public_url(&policy)
        });
    if !public {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"Message":"Forbidden"}"#))
            .unwrap();
    }
    let Some(binary) = binary_for(&function) else {
        return plain(StatusCode::NOT_FOUND, "{\"Message\":null}");
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 6 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"Message\":\"Request Entity Too Large\"}",
            );
        }
    };
    let event = function_url_event(&url_id, &host, &parts, &body);
    let (_, result) = run_function(
        shared,
        function,
        region,
        binary,
        Bytes::from(event.to_string()),
    )
    .await;
    function_url_response(result)
}

/// Lambda's answer for a function error.
fn function_error(error_type: &str, message: &str) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amz-function-error", "Unhandled")
        .header("x-amz-executed-version", "$LATEST")
        .header("x-amzn-requestid", request_id())
        .body(Body::from(
            json!({"errorType": error_type, "errorMessage": message}).to_string(),
        ))
        .unwrap()
}

fn lambda_service_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", error_type)
        .header("x-amzn-requestid", request_id())
        .body(Body::from(
            json!({"Type": "Service", "Message": message, "message": message}).to_string(),
        ))
        .unwrap()
}

/// The `{errorType, errorMessage}` of a runtime error document, if it is one.
fn error_document(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let error_type = obj.get("errorType")?.as_str()?.to_string();
    let message = obj
        .get("errorMessage")
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        })
        .unwrap_or_default();
    // Only the two (or three, with a stack trace) fields of an error document:
    // a step result never has this shape.
    let known = ["errorType", "errorMessage", "stackTrace"];
    obj.keys()
        .all(|k| known.contains(&k.as_str()))
        .then_some((error_type, message))
}

async fn invoke(
    shared: Arc<Shared>,
    function: String,
    binary: &'static str,
    req: Request,
) -> Response {
    let region = region_of(&function, req.headers());
    let invocation_type = req
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let body = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return lambda_service_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("could not read the payload: {e}"),
            );
        }
    };
    match invocation_type.as_str() {
        "DryRun" => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty())
            .unwrap(),
        "Event" => {
            tokio::spawn(call_function(shared, function, region, binary, body));
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .header("x-amzn-requestid", request_id())
                .body(Body::empty())
                .unwrap()
        }
        _ => call_function(shared, function, region, binary, body).await,
    }
}

async fn call_function(
    shared: Arc<Shared>,
    function: String,
    region: String,
    binary: &'static str,
    body: Bytes,
) -> Response {
    run_function(shared, function, region, binary, body).await.0
}

/// Invokes a binary; the Lambda-shaped response and the outcome.
async fn run_function(
    shared: Arc<Shared>,
    function: String,
    region: String,
    binary: &'static str,
    body: Bytes,
) -> (Response, std::result::Result<Value, (String, String)>) {
    let Some(lambda_url) = shared.lambda_url.read().unwrap().clone() else {
        let message = "cargo lambda watch is not running yet";
        return (
            lambda_service_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceException", message),
            Err(("Lambda.ServiceException".into(), message.into())),
        );
    };
    // Lambda does not count a new instance's init against the timeout; under
    // cargo lambda watch a new instance starts with `cargo run`, which can take
    // longer than a short timeout on a busy machine. Cold starts get the long bound.
    let (_in_flight, cold) = InFlight::start(&shared, binary);
    let timeout = if cold {
        INVOKE_TIMEOUT
    } else {
        function_timeout(&shared, &function, &region).await
    };
    let started = Instant::now();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = shared
        .client
        .post(format!(
            "{lambda_url}/2015-03-31/functions/{binary}/invocations"
        ))
        .header("content-type", "application/json")
        .timeout(timeout)
        .body(body)
        .send()
        .await;
    let (response, outcome) = match result {
        Err(e) if e.is_timeout() => {
            let message = format!(
                "Task timed out after {:.2} seconds",
                started.elapsed().as_secs_f64()
            );
            (
                function_error("Sandbox.Timedout", &message),
                Err(("Sandbox.Timedout".to_string(), message)),
            )
        }
        Err(e) => {
            let message = format!("cargo lambda watch is not answering: {e}");
            (
                lambda_service_error(StatusCode::BAD_GATEWAY, "ServiceException", &message),
                Err(("Lambda.ServiceException".to_string(), message)),
            )
        }
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            if status == StatusCode::NOT_FOUND {
                let message = format!(
                    "Function not found: {function} (cargo lambda watch: {})",
                    String::from_utf8_lossy(&bytes)
                );
                (
                    lambda_service_error(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        &message,
                    ),
                    Err(("ResourceNotFoundException".to_string(), message)),
                )
            } else if let Some((error_type, message)) = error_document(&bytes) {
                // cargo lambda watch answers a handler error with HTTP 500 and the
                // runtime's error document (and an init error with 200): AWS answers 200
                // + X-Amz-Function-Error.
                (
                    function_error(&error_type, &message),
                    Err((error_type, message)),
                )
            } else if status.is_success() {
                let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let response = Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .header("x-amz-executed-version", "$LATEST")
                    .header("x-amzn-requestid", request_id())
                    .body(Body::from(bytes))
                    .unwrap();
                (response, Ok(value))
            } else {
                let message = format!(
                    "the function failed without an error document (HTTP {status}): {}",
                    String::from_utf8_lossy(&bytes)
                );
                (
                    function_error("Runtime.ExitError", &message),
                    Err(("Runtime.ExitError".to_string(), message)),
                )
            }
        }
    };
    shared.invocations.lock().unwrap().push(Invocation {
        function,
        binary: binary.to_string(),
        payload,
        result: outcome.clone(),
        started,
        duration: started.elapsed(),
    });
    (response, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_and_arns_map_to_binaries() {
        assert_eq!(
            binary_for("driftguard-dev-admit-event"),
            Some("admit-event")
        );
        assert_eq!(
            binary_for("arn:aws:lambda:us-east-1:123456789012:function:dg-e2e-poll-run"),
            Some("poll-run")
        );
        assert_eq!(
            binary_for("arn:aws:lambda:us-east-1:123456789012:function:dg-e2e-on-failure:$LATEST"),
            Some("on-failure")
        );
        assert_eq!(binary_for("summarize-drift"), Some("summarize-drift"));
        assert_eq!(binary_for("someone-elses-function"), None);
    }

    #[test]
    fn invoke_paths_are_decoded() {
        assert_eq!(
            invoke_target(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Adg-record/invocations"
            )
            .as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:dg-record")
        );
        assert_eq!(invoke_target("/2015-03-31/functions/x/configuration"), None);
    }

    #[test]
    fn only_error_documents_are_errors() {
        assert_eq!(
            error_document(br#"{"errorType":"TfcRateLimited","errorMessage":"slow down"}"#),
            Some(("TfcRateLimited".into(), "slow down".into()))
        );
        assert_eq!(
            error_document(br#"{"decision":"ignore","errorType":"x"}"#),
            None
        );
        assert_eq!(error_document(b"not json"), None);
    }

    /// A stand-in for moto that echoes what it received, and one for
    /// `cargo lambda watch` that answers like it does.
    async fn backends() -> (String, String) {
        use axum::routing::post;
        let moto = Router::new().fallback(|req: Request| async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if target == "AWSStepFunctions.GetExecutionHistory" {
                return axum::Json(json!({"events": [{"id": 1}, {"id": 2}, {"id": 3}]}))
                    .into_response();
            }
            axum::Json(json!({
                "method": parts.method.as_str(),
                "uri": parts.uri.to_string(),
                "x_custom": parts.headers.get("x-custom").and_then(|v| v.to_str().ok()),
                "body": String::from_utf8_lossy(&body),
            }))
            .into_response()
        });
        let lambda = Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            post(
                |axum::extract::Path(name): axum::extract::Path<String>, body: Bytes| async move {
                    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if input.get("fail").is_some() {
                        // What cargo lambda watch answers for a handler error.
                        return (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json!({"errorType": "TfcRateLimited", "errorMessage": "slow down"})
                                .to_string(),
                        );
                    }
                    (
                        StatusCode::OK,
                        json!({"function": name, "input": input}).to_string(),
                    )
                },
            ),
        );
        let mut urls = Vec::new();
        for app in [moto, lambda] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        (urls.remove(0), urls.remove(0))
    }

    use axum::response::IntoResponse;

    #[tokio::test]
    async fn invokes_functions_proxies_the_rest_and_covers_moto_gaps() {
        let (moto, lambda) = backends().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = Gateway::start(listener, &moto).await.unwrap();
        gateway.set_lambda_url(&lambda);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = gateway.url();

        // Invoke by ARN: routed to the binary, answered as Lambda does.
        let arn =
            "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Adriftguard-e2e-poll-run";
        let ok = client
            .post(format!("{url}/2015-03-31/functions/{arn}/invocations"))
            .body(r#"{"run":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert!(ok.headers().get("x-amz-function-error").is_none());
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body, json!({"function": "poll-run", "input": {"run": 1}}));

        // A handler error: HTTP 200 + X-Amz-Function-Error + the error document.
        let failed = client
            .post(format!(
                "{url}/2015-03-31/functions/driftguard-e2e-notify/invocations"
            ))
            .body(r#"{"fail":true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 200);
        assert_eq!(failed.headers()["x-amz-function-error"], "Unhandled");
        let body: Value = failed.json().await.unwrap();
        assert_eq!(
            body,
            json!({"errorType": "TfcRateLimited", "errorMessage": "slow down"})
        );
        let seen = gateway.invocations();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[1].result,
            Err(("TfcRateLimited".into(), "slow down".into()))
        );

        // Anything else reaches moto unchanged.
        let echoed: Value = client
            .put(format!("{url}/some/path?a=1&b=two"))
            .header("x-custom", "kept")
            .body("payload")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            echoed,
            json!({"method": "PUT", "uri": "/some/path?a=1&b=two", "x_custom": "kept", "body": "payload"})
        );

        // The two Step Functions calls moto 5.2.5 answers with HTTP 500.
        for (target, expected) in [
            (
                "AWSStepFunctions.ValidateStateMachineDefinition",
                json!({"result": "OK", "diagnostics": []}),
            ),
            (
                "AWSStepFunctions.ListStateMachineVersions",
                json!({"stateMachineVersions": []}),
            ),
        ] {
            let answer: Value = client
                .post(format!("{url}/"))
                .header("x-amz-target", target)
                .body("{}")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(answer, expected, "{target}");
        }

        // GetExecutionHistory: reversed only when asked.
        let ids = |v: Value| -> Vec<i64> {
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap())
                .collect()
        };
        for (reverse, expected) in [(true, vec![3, 2, 1]), (false, vec![1, 2, 3])] {
            let answer: Value = client
                .post(format!("{url}/"))
                .header("x-amz-target", "AWSStepFunctions.GetExecutionHistory")
                .body(json!({"executionArn": "x", "reverseOrder": reverse}).to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(ids(answer), expected);
        }
    }

    /// A request to a function URL reaches the binary as the function URL
    /// event, and its `{statusCode, headers, body}` answer is the response.
    #[tokio::test]
    async fn function_urls_are_served_as_lambda_does() {
        use axum::routing::{get, post};
        let url_id = "0123456789abcdef0123456789abcdef";
        // The function's resource policy: both grants AWS requires, until the
        // test withdraws lambda:InvokeFunction.
        let both_grants = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let grants = both_grants.clone();
        let moto = Router::new()
            .route(
                "/2015-03-31/functions/{name}/policy",
                get(move || {
                    let both = grants.load(std::sync::atomic::Ordering::SeqCst);
                    async move {
                        let mut statements = vec![json!({
                            "Sid": "SlackRequestUrl", "Effect": "Allow", "Principal": "*",
                            "Action": "lambda:InvokeFunctionUrl",
                            "Resource": "arn:aws:lambda:eu-west-1:1:function:f",
                            "FunctionUrlAuthType": "NONE"})];
                        if both {
                            statements.push(json!({
                                "Sid": "SlackRequestUrlInvoke", "Effect": "Allow", "Principal": "*",
                                "Action": "lambda:InvokeFunction",
                                "Resource": "arn:aws:lambda:eu-west-1:1:function:f"}));
                        }
                        let policy = json!({"Version": "2012-10-17", "Statement": statements});
                        axum::Json(json!({"Policy": policy.to_string(), "RevisionId": "1"}))
                    }
                }),
            )
            .route(
                "/2015-03-31/functions/",
                get(|headers: HeaderMap| async move {
                    // The region comes from the credential scope.
                    let auth = headers["authorization"].to_str().unwrap().to_string();
                    assert!(auth.contains("/eu-west-1/lambda/"), "{auth}");
                    axum::Json(json!({"Functions": [
                        {"FunctionName": "driftguard-e2e-slack-callback"},
                        {"FunctionName": "driftguard-e2e-notify"}
                    ]}))
                }),
            )
            .route(
                "/2021-10-31/functions/{name}/url",
                get(move |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    if name.ends_with("slack-callback") {
                        axum::Json(json!({"FunctionUrl": format!("https://{url_id}.lambda-url.eu-west-1.on.aws"), "AuthType": "NONE"})).into_response()
                    } else {
                        StatusCode::NOT_FOUND.into_response()
                    }
                }),
            );
        let lambda = Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            post(|body: Bytes| async move {
                let event: Value = serde_json::from_slice(&body).unwrap();
                let answer = json!({
                    "statusCode": 401,
                    "headers": {"content-type": "application/json"},
                    "body": json!({"seen": event}).to_string(),
                    "isBase64Encoded": false
                });
                (StatusCode::OK, answer.to_string())
            }),
        );
        let mut urls = Vec::new();
        for app in [moto, lambda] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = Gateway::start(listener, &urls[0]).await.unwrap();
        gateway.set_lambda_url(&urls[1]);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = client
            .post(format!("{}/slack/actions?x=1", gateway.url()))
            .header("host", format!("{url_id}.lambda-url.eu-west-1.on.aws"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Slack-Signature", "v0=ab")
            .body("payload=%7B%7D")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        let event = &body["seen"];
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/slack/actions");
        assert_eq!(event["rawQueryString"], "x=1");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["headers"]["x-slack-signature"], "v0=ab");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "cGF5bG9hZD0lN0IlN0Q=");
        // An unknown URL id is not found.
        let unknown = client
            .post(gateway.url())
            .header(
                "host",
                "ffffffffffffffffffffffffffffffff.lambda-url.eu-west-1.on.aws",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(gateway.invocations()[0].binary, "slack-callback");
        // Without lambda:InvokeFunction the URL answers 403, as AWS does
        // since October 2025, and the function is not invoked.
        both_grants.store(false, std::sync::atomic::Ordering::SeqCst);
        let forbidden = client
            .post(format!("{}/slack/actions", gateway.url()))
            .header("host", format!("{url_id}.lambda-url.eu-west-1.on.aws"))
            .body("payload=%7B%7D")
            .send()
            .await
            .unwrap();
        assert_eq!(forbidden.status(), 403);
        assert_eq!(gateway.invocations().len(), 1);
    }

    #[test]
    fn a_public_function_url_needs_both_grants() {
        let url = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}});
        let invoke =
            json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"});
        let invoke_via_url = json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["lambda:InvokeFunction"],
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}});
        let policy = |statements: Vec<&Value>| json!({"Statement": statements});
        assert!(policy_allows_public_url(&policy(vec![&url, &invoke])));
        assert!(policy_allows_public_url(&policy(vec![
            &url,
            &invoke_via_url
        ])));
        assert!(!policy_allows_public_url(&policy(vec![&url])));
        assert!(!policy_allows_public_url(&policy(vec![&invoke])));
        // A grant limited to another caller does not let an anonymous one in.
        let invoke_from_account = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}});
        assert!(!policy_allows_public_url(&policy(vec![
            &url,
            &invoke_from_account
        ])));
        let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"});
        assert!(!policy_allows_public_url(&policy(vec![
            &url, &invoke, &deny
        ])));
        assert!(!policy_allows_public_url(&json!({})));
    }

    #[test]
    fn function_url_auth_type_is_a_condition_as_aws_stores_it() {
        let mut policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "SlackRequestUrl", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
             "Resource": "arn:aws:lambda:eu-west-1:1:function:f", "FunctionUrlAuthType": "NONE"},
            {"Sid": "Other", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "lambda:InvokeFunction",
             "Resource": "arn:aws:lambda:eu-west-1:1:function:f", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:x"}}}
        ]});
        policy_as_aws_stores_it(&mut policy);
        assert!(policy["Statement"][0].get("FunctionUrlAuthType").is_none());
        assert_eq!(
            policy["Statement"][0]["Condition"],
            json!({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
        );
        assert_eq!(
            policy["Statement"][1]["Condition"],
            json!({"ArnLike": {"AWS:SourceArn": "arn:x"}})
        );
        assert!(is_policy_path(
            "/2015-03-31/functions/driftguard-e2e-slack-callback/policy"
        ));
        assert!(!is_policy_path("/2015-03-31/functions/x/invocations"));
    }

    /// Real DynamoDB applies writes to one item atomically; moto does not, so
    /// the gateway must never have two DynamoDB calls in flight at moto.
    #[tokio::test]
    async fn dynamodb_calls_reach_moto_one_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let moto = Router::new().fallback(|| async {
            let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            axum::Json(json!({}))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let moto_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, moto).await.unwrap() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = Gateway::start(listener, &moto_url).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let call = client
                .post(gateway.url())
                .header("x-amz-target", "DynamoDB_20120810.UpdateItem")
                .body("{}")
                .send();
            calls.spawn(call);
        }
        while let Some(answer) = calls.join_next().await {
            assert_eq!(answer.unwrap().unwrap().status(), 200);
        }
        assert_eq!(MOST.load(Ordering::SeqCst), 1);
    }
}
