//! HTTP side of the emulator: routing, authentication, scenario faults and
//! request recording. Every request is handled synchronously under the state
//! lock once its body is read.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::documents;
use super::plan_json;
use super::{
    ARCHIVIST_LINK_TTL, ArchiveObject, CANCELABLE, RATE_LIMIT_PER_SECOND, RecordedRequest, Run,
    Shared, State,
};

const MEDIA_TYPE: &str = "application/vnd.api+json";
const MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

#[derive(Debug)]
enum Route {
    WorkspaceByName(String, String),
    WorkspaceById(String),
    WorkspaceRuns(String),
    CreateRun,
    ShowRun(String),
    RunAction(String, String),
    RunPlanJson(String),
    ShowPlan(String),
    PlanJson(String),
    Archivist(String),
    Unknown,
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    match s.as_slice() {
        ["api", "v2", "organizations", org, "workspaces", name] if get => {
            Route::WorkspaceByName(org.to_string(), name.to_string())
        }
        ["api", "v2", "workspaces", id] if get => Route::WorkspaceById(id.to_string()),
        ["api", "v2", "workspaces", id, "runs"] if get => Route::WorkspaceRuns(id.to_string()),
        ["api", "v2", "runs"] if post => Route::CreateRun,
        ["api", "v2", "runs", id] if get => Route::ShowRun(id.to_string()),
        ["api", "v2", "runs", id, "actions", action] if post => {
            Route::RunAction(id.to_string(), action.to_string())
        }
        ["api", "v2", "runs", id, "plan", "json-output"] if get => {
            Route::RunPlanJson(id.to_string())
        }
        ["api", "v2", "plans", id] if get => Route::ShowPlan(id.to_string()),
        ["api", "v2", "plans", id, "json-output"] if get => Route::PlanJson(id.to_string()),
        ["_archivist", "v1", "object", token] if get => Route::Archivist(token.to_string()),
        _ => Route::Unknown,
    }
}

/// The workspace a request touches, if known.
fn workspace_of(state: &State, route: &Route, body: &Bytes) -> Option<String> {
    match route {
        Route::WorkspaceByName(org, name) => {
            state.workspace_by_name(org, name).map(|w| w.id.clone())
        }
        Route::WorkspaceById(id) | Route::WorkspaceRuns(id) => {
            state.workspace_by_id(id).map(|w| w.id.clone())
        }
        Route::CreateRun => {
            let doc: Value = serde_json::from_slice(body).ok()?;
            let id = doc
                .pointer("/data/relationships/workspace/data/id")?
                .as_str()?;
            state.workspace_by_id(id).map(|w| w.id.clone())
        }
        Route::ShowRun(id) | Route::RunAction(id, _) | Route::RunPlanJson(id) => {
            state.run(id).map(|r| r.workspace_id.clone())
        }
        Route::ShowPlan(id) | Route::PlanJson(id) => {
            state.run_by_plan(id).map(|r| r.workspace_id.clone())
        }
        Route::Archivist(token) => {
            let object = state.archive.get(token)?;
            state
                .run_by_plan(&object.plan_id)
                .map(|r| r.workspace_id.clone())
        }
        Route::Unknown => None,
    }
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let route = route(&parts.method, &path);
    let query = parts.uri.query().unwrap_or("").to_string();

    let mut state = shared.lock();
    let workspace_id = workspace_of(&state, &route, &body);
    let response = respond(
        &mut state,
        &route,
        &parts.headers,
        &query,
        &body,
        workspace_id.as_deref(),
    );
    let workspace = workspace_id
        .as_deref()
        .and_then(|id| state.workspace_by_id(id))
        .map(|w| w.label());
    state.requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path,
        status: response.status().as_u16(),
        at: received,
        workspace,
    });
    response
}

fn respond(
    state: &mut State,
    route: &Route,
    headers: &HeaderMap,
    query: &str,
    body: &Bytes,
    workspace_id: Option<&str>,
) -> Response {
    if let Route::Archivist(token) = route {
        if headers.contains_key(header::AUTHORIZATION) {
            state.archivist_token_leaks += 1;
            tracing::warn!("the API token was sent to the archivist download URL");
        }
        return archivist(state, token);
    }

    // Every /api/v2 request needs the token.
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token.trim() == state.valid_token);
    if !authorized {
        return api_response(
            state,
            StatusCode::UNAUTHORIZED,
            Some(documents::error(401, "unauthorized", None)),
        );
    }

    if state.enforce_rate_limit {
        let (in_window, reset) = rate_window(state, Instant::now());
        if in_window >= RATE_LIMIT_PER_SECOND {
            return rate_limited(reset);
        }
    }

    // Scenario faults of the workspace the request touches, consumed as they fire.
    if let Some(id) = workspace_id {
        let reset = 0.5 + (state.next_random() % 501) as f64 / 1000.0;
        if let Some(workspace) = state.workspace_mut(id) {
            if workspace.scenario.rate_limited_requests > 0 {
                workspace.scenario.rate_limited_requests -= 1;
                return rate_limited(reset);
            }
            if workspace.scenario.unavailable_requests > 0 {
                workspace.scenario.unavailable_requests -= 1;
                return json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &documents::error(
                        503,
                        "service unavailable",
                        Some("The service is temporarily unavailable. Please try again later."),
                    ),
                );
            }
        }
    }

    let (status, document) = match route {
        Route::WorkspaceByName(..) | Route::WorkspaceById(_) => {
            match workspace_id.and_then(|id| state.workspace_by_id(id)) {
                Some(workspace) => (StatusCode::OK, Some(documents::workspace(state, workspace))),
                None => not_found(),
            }
        }
        Route::WorkspaceRuns(_) => match workspace_id {
            Some(id) => {
                let (number, size) = pagination(query);
                (
                    StatusCode::OK,
                    Some(documents::run_list(state, id, number, size)),
                )
            }
            None => not_found(),
        },
        Route::CreateRun => create_run(state, body, workspace_id),
        Route::ShowRun(id) => match state.run(id) {
            Some(run) => (StatusCode::OK, Some(documents::run(state, run))),
            None => not_found(),
        },
        Route::RunAction(id, action) => run_action(state, id, action),
        Route::ShowPlan(id) => match state.run_by_plan(id) {
            Some(run) => (StatusCode::OK, Some(documents::plan(state, run))),
            None => not_found(),
        },
        Route::PlanJson(plan_id) => return json_output(state, plan_id.clone()),
        Route::RunPlanJson(run_id) => match state.run(run_id) {
            Some(run) => return json_output(state, run.plan_id.clone()),
            None => not_found(),
        },
        Route::Archivist(_) | Route::Unknown => not_found(),
    };
    api_response(state, status, document)
}

fn not_found() -> (StatusCode, Option<Value>) {
    (
        StatusCode::NOT_FOUND,
        Some(documents::error(404, "not found", None)),
    )
}

fn unprocessable(detail: &str, pointer: &str) -> (StatusCode, Option<Value>) {
    let mut doc = documents::error(422, "invalid attribute", Some(detail));
    doc["errors"][0]["source"] = serde_json::json!({ "pointer": pointer });
    (StatusCode::UNPROCESSABLE_ENTITY, Some(doc))
}

/// `page[number]` and `page[size]` (default 20, at most 100).
fn pagination(query: &str) -> (usize, usize) {
    let mut number = 1;
    let mut size = DEFAULT_PAGE_SIZE;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "page[number]" => number = value.parse().unwrap_or(1).max(1),
            "page[size]" => {
                size = value
                    .parse()
                    .unwrap_or(DEFAULT_PAGE_SIZE)
                    .clamp(1, MAX_PAGE_SIZE)
            }
            _ => {}
        }
    }
    (number, size)
}

fn create_run(
    state: &mut State,
    body: &Bytes,
    workspace_id: Option<&str>,
) -> (StatusCode, Option<Value>) {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return (
            StatusCode::BAD_REQUEST,
            Some(documents::error(
                400,
                "JSON body is invalid",
                Some("The request body is not a JSON:API document."),
            )),
        );
    };
    if doc.pointer("/data/type").and_then(Value::as_str) != Some("runs") {
        return (
            StatusCode::CONFLICT,
            Some(documents::error(
                409,
                "conflict",
                Some("data.type must be \"runs\""),
            )),
        );
    }
    let Some(workspace_id) = workspace_id else {
        if doc
            .pointer("/data/relationships/workspace/data/id")
            .is_none()
        {
            return unprocessable("Workspace is required", "/data/relationships/workspace");
        }
        return not_found();
    };
    let attributes = doc
        .pointer("/data/attributes")
        .cloned()
        .unwrap_or(Value::Null);
    let flag = |name: &str| -> Result<bool, String> {
        match attributes.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{name} must be a boolean")),
        }
    };
    let plan_only = match flag("plan-only") {
        Ok(v) => v,
        Err(detail) => return unprocessable(&detail, "/data/attributes/plan-only"),
    };
    let auto_apply = match flag("auto-apply") {
        Ok(v) => v,
        Err(detail) => return unprocessable(&detail, "/data/attributes/auto-apply"),
    };
    let message = match attributes.get("message") {
        None | Some(Value::Null) => "Triggered via API".to_string(),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return unprocessable("Message must be a string", "/data/attributes/message"),
    };
    let target_addrs = match attributes.get("target-addrs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            match items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
            {
                Some(addrs) => Some(addrs),
                None => {
                    return unprocessable(
                        "Target addrs must be an array of strings",
                        "/data/attributes/target-addrs",
                    );
                }
            }
        }
        Some(_) => {
            return unprocessable(
                "Target addrs must be an array of strings",
                "/data/attributes/target-addrs",
            );
        }
    };
    let Some(workspace) = state.workspace_by_id(workspace_id) else {
        return not_found();
    };
    let scenario = workspace.scenario.clone();
    if scenario.configuration_missing {
        return unprocessable(
            "Configuration version is missing",
            "/data/relationships/configuration-version",
        );
    }

    let created = Instant::now();
    let plan_json = if plan_only {
        plan_json::speculative(&scenario.drift)
    } else {
        let targets: Vec<String> = target_addrs.clone().unwrap_or_default();
        plan_json::remediation(
            &targets,
            scenario.remediation_destroys,
            &scenario.drift,
            &state.rfc3339(created),
        )
    };
    let has_changes = plan_json::has_changes(&plan_json);
    let id = state.new_id("run");
    let plan_id = state.new_id("plan");
    let apply_id = state.new_id("apply");
    let seconds = |s: f64| std::time::Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default();
    state.runs.push(Run {
        id: id.clone(),
        plan_id,
        apply_id,
        workspace_id: workspace_id.to_string(),
        message,
        plan_only,
        auto_apply,
        target_addrs,
        created,
        plan_duration: seconds(scenario.plan_seconds),
        apply_duration: seconds(scenario.apply_seconds),
        plan_errors: scenario.plan_errors,
        has_changes,
        plan_json,
        json_not_ready_left: scenario.json_not_ready_polls,
        confirmed_at: None,
        discarded_at: None,
        canceled_at: None,
        actions: Vec::new(),
    });
    let run = state.run(&id).expect("just added");
    (StatusCode::CREATED, Some(documents::run(state, run)))
}

/// `POST /runs/:id/actions/:action`: 202 Accepted with no body, 409 when the
/// run's state does not allow it.
fn run_action(state: &mut State, id: &str, action: &str) -> (StatusCode, Option<Value>) {
    let now = Instant::now();
    let Some(run) = state.run_mut(id) else {
        return not_found();
    };
    let status = run.status(now);
    let allowed = match action {
        "apply" => status == "planned",
        "discard" => status == "planned",
        "cancel" => CANCELABLE.contains(&status),
        "force-cancel" => false,
        _ => return not_found(),
    };
    if !allowed {
        return (
            StatusCode::CONFLICT,
            Some(documents::error(
                409,
                "transition not allowed",
                Some(&format!(
                    "The run cannot be {} while it is {status}.",
                    match action {
                        "apply" => "applied",
                        "discard" => "discarded",
                        _ => "canceled",
                    }
                )),
            )),
        );
    }
    match action {
        "apply" => run.confirmed_at = Some(now),
        "discard" => run.discarded_at = Some(now),
        _ => run.canceled_at = Some(now),
    }
    run.actions.push(action.to_string());
    (StatusCode::ACCEPTED, None)
}

/// `GET /plans/:id/json-output`: 204 until the plan JSON exists, then a 307
/// to a short-lived archivist URL.
fn json_output(state: &mut State, plan_id: String) -> Response {
    let now = Instant::now();
    let Some(run) = state.runs.iter_mut().find(|r| r.plan_id == plan_id) else {
        let (status, doc) = not_found();
        return api_response(state, status, doc);
    };
    if !run.plan_is_finished(now) {
        return api_response(state, StatusCode::NO_CONTENT, None);
    }
    if run.json_not_ready_left > 0 {
        run.json_not_ready_left -= 1;
        return api_response(state, StatusCode::NO_CONTENT, None);
    }
    let token = state.new_opaque();
    state.archive.retain(|_, object| object.expires > now);
    state.archive.insert(
        token.clone(),
        ArchiveObject {
            plan_id,
            expires: now + ARCHIVIST_LINK_TTL,
        },
    );
    let location = format!("{}/_archivist/v1/object/{token}", state.archivist_url);
    let mut response = api_response(state, StatusCode::TEMPORARY_REDIRECT, None);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The archivist object: the plan JSON, no token needed (the link is signed).
fn archivist(state: &State, token: &str) -> Response {
    let now = Instant::now();
    let plan = state
        .archive
        .get(token)
        .filter(|object| object.expires > now)
        .and_then(|object| state.run_by_plan(&object.plan_id));
    match plan {
        Some(run) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(run.plan_json.to_string()))
            .unwrap_or_default(),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("object not found or link expired"))
            .unwrap_or_default(),
    }
}

fn json_response(status: StatusCode, document: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, MEDIA_TYPE)
        .body(Body::from(document.to_string()))
        .unwrap_or_default()
}

/// An API response with the rate-limit headers the API sends on every answer.
fn api_response(state: &State, status: StatusCode, document: Option<Value>) -> Response {
    let mut response = match document {
        Some(document) => json_response(status, &document),
        None => Response::builder()
            .status(status)
            .body(Body::empty())
            .unwrap_or_default(),
    };
    let (in_window, reset) = rate_window(state, Instant::now());
    let remaining = RATE_LIMIT_PER_SECOND.saturating_sub(in_window + 1);
    let h = response.headers_mut();
    h.insert(
        "x-ratelimit-limit",
        HeaderValue::from(RATE_LIMIT_PER_SECOND),
    );
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    if let Ok(value) = HeaderValue::from_str(&format!("{reset:.3}")) {
        h.insert("x-ratelimit-reset", value);
    }
    response
}

/// API requests in the sliding second before `now`, and the seconds until the
/// oldest of them leaves the window (the `X-RateLimit-Reset` value).
fn rate_window(state: &State, now: Instant) -> (usize, f64) {
    let window: Vec<Instant> = state
        .requests
        .iter()
        .rev()
        .take_while(|r| now.duration_since(r.at).as_secs_f64() < 1.0)
        .filter(|r| r.path.starts_with("/api/"))
        .map(|r| r.at)
        .collect();
    let reset = window.last().map_or(0.0, |oldest| {
        1.0 - now.duration_since(*oldest).as_secs_f64()
    });
    (window.len(), reset)
}

/// 429 as the API answers it: a JSON:API error and the rate-limit headers.
fn rate_limited(reset_seconds: f64) -> Response {
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &documents::error(
            429,
            "Too many requests",
            Some("You have exceeded the API's rate limit."),
        ),
    );
    let h = response.headers_mut();
    h.insert(
        "x-ratelimit-limit",
        HeaderValue::from(RATE_LIMIT_PER_SECOND),
    );
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    if let Ok(value) = HeaderValue::from_str(&format!("{reset_seconds:.3}")) {
        h.insert("x-ratelimit-reset", value);
    }
    response
}
