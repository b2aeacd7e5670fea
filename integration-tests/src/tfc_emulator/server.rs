//! HTTP side of the emulator: routing, authentication, permissions, rate
//! limits, scenario faults and request recording. Every request is handled
//! synchronously under the state lock once its body is read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::documents;
use super::executor::Job;
use super::plan_json;
use super::timeline::{CANCELABLE, DISCARDABLE};
use super::{
    Access, ArchiveKind, Exec, Outcome, QUEUE_STEP, RATE_LIMIT_PER_SECOND,
    RUN_LIST_LIMIT_PER_MINUTE, RecordedRequest, Run, Shared, Stages, State,
};

const MEDIA_TYPE: &str = "application/vnd.api+json";
const MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
/// The runs list's default operations: everything but `plan_only` (API documents).
const DEFAULT_OPERATIONS: &[&str] = &[
    "plan_and_apply",
    "save_plan",
    "refresh_only",
    "destroy",
    "empty_apply",
];
/// The user whose run holds the queue in the "queued behind" scenario.
const OTHER_USER: &str = "user-AliceQueuedARun1";

/// What a canned plan that errors says in its log (an HCP Terraform run whose
/// dynamic credentials are misconfigured).
const ERRORED_PLAN_LOG: &str = "Terraform v1.11.4\non linux_amd64\nInitializing plugins and modules...\n\u{1b}[31m╷\u{1b}[0m\n\u{1b}[31m│\u{1b}[0m \u{1b}[1m\u{1b}[31mError: \u{1b}[0m\u{1b}[0m\u{1b}[1mNo valid credential sources found\u{1b}[0m\n│ \n│   with provider[\"registry.terraform.io/hashicorp/aws\"],\n│   on main.tf line 12, in provider \"aws\":\n│   12: provider \"aws\" {\n│ \n│ Error: failed to refresh cached credentials, no EC2 IMDS role found,\n│ operation error ec2imds: GetMetadata, request canceled, context deadline exceeded\n╵\nOperation failed: failed running terraform plan (exit 1)\n";

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

#[derive(Debug)]
enum Route {
    Account,
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
        ["api", "v2", "account", "details"] if get => Route::Account,
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
        Route::Account | Route::Unknown => None,
    }
}

/// The user of the request's bearer token, if it is valid.
fn user_of(state: &State, headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.tokens.get(token.trim()).cloned())
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
    let user = user_of(&state, &parts.headers);
    let response = respond(
        &mut state,
        &Request_ {
            route: &route,
            headers: &parts.headers,
            query: &query,
            body: &body,
            workspace_id: workspace_id.as_deref(),
            user: user.as_deref(),
        },
    );
    let workspace = workspace_id
        .as_deref()
        .and_then(|id| state.workspace_by_id(id))
        .map(|w| w.label());
    // Signed links are secrets: recorded by their route, never their token.
    let recorded_path = match &route {
        Route::Archivist(_) => "/_archivist/v1/object/<signed>".to_string(),
        _ => path,
    };
    state.requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: recorded_path,
        status: response.status().as_u16(),
        at: received,
        workspace,
        user,
    });
    response
}

/// One request, parsed.
struct Request_<'a> {
    route: &'a Route,
    headers: &'a HeaderMap,
    query: &'a str,
    body: &'a Bytes,
    workspace_id: Option<&'a str>,
    user: Option<&'a str>,
}

fn respond(state: &mut State, req: &Request_<'_>) -> Response {
    if let Route::Archivist(token) = req.route {
        if req.headers.contains_key(header::AUTHORIZATION) {
            state.archivist_token_leaks += 1;
            tracing::warn!("the API token was sent to a signed archivist download URL");
        }
        return archivist(state, token);
    }

    // Every /api/v2 request needs a valid token: 401 otherwise.
    let Some(user) = req.user else {
        return api_response(
            state,
            StatusCode::UNAUTHORIZED,
            Some(documents::error(401, "unauthorized", None)),
        );
    };

    if state.enforce_rate_limit {
        let (in_window, reset) = rate_window(state, Instant::now());
        if in_window >= RATE_LIMIT_PER_SECOND {
            return rate_limited(reset, RATE_LIMIT_PER_SECOND);
        }
    }

    // The runs list: 30 requests per minute per user, always.
    if let Route::WorkspaceRuns(_) = req.route {
        let (in_window, reset) = run_list_window(state, user, Instant::now());
        if in_window >= RUN_LIST_LIMIT_PER_MINUTE {
            return rate_limited(reset, RUN_LIST_LIMIT_PER_MINUTE);
        }
    }

    // Scenario faults of the workspace the request touches, consumed as they fire.
    if let Some(id) = req.workspace_id {
        let reset = 0.5 + (state.next_random() % 501) as f64 / 1000.0;
        if let Some(workspace) = state.workspace_mut(id) {
            if workspace.scenario.rate_limited_requests > 0 {
                workspace.scenario.rate_limited_requests -= 1;
                return rate_limited(reset, RATE_LIMIT_PER_SECOND);
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
    let access = req
        .workspace_id
        .and_then(|id| state.workspace_by_id(id))
        .map_or(Access::Admin, |w| w.scenario.token_access);

    let (status, document) = match req.route {
        Route::Account => (StatusCode::OK, Some(documents::account(user))),
        Route::WorkspaceByName(..) | Route::WorkspaceById(_) => {
            match req.workspace_id.and_then(|id| state.workspace_by_id(id)) {
                Some(workspace) => (StatusCode::OK, Some(documents::workspace(state, workspace))),
                None => not_found(),
            }
        }
        Route::WorkspaceRuns(_) => match req.workspace_id {
            Some(id) => {
                let query = ListQuery::parse(req.query);
                (
                    StatusCode::OK,
                    Some(documents::run_list(
                        state,
                        id,
                        query.page_number,
                        query.page_size,
                        &query.operations,
                        query.search.as_deref(),
                    )),
                )
            }
            None => not_found(),
        },
        // Queuing a run needs at least plan access; without it the API says 404.
        Route::CreateRun if access < Access::Plan => not_found(),
        Route::CreateRun => create_run(state, req.body, req.workspace_id, user),
        Route::ShowRun(id) => match state.run(id) {
            Some(run) => (StatusCode::OK, Some(documents::run(state, run))),
            None => not_found(),
        },
        // Apply, discard and cancel need write access.
        Route::RunAction(..) if access < Access::Write => not_found(),
        Route::RunAction(id, action) => run_action(state, id, action),
        Route::ShowPlan(id) => match state.run_by_plan(id) {
            Some(run) => {
                let (plan_id, same_origin) = (run.plan_id.clone(), same_origin(state, run));
                let link = state.sign(&plan_id, ArchiveKind::PlanLog, same_origin);
                let run = state.run_by_plan(&plan_id).expect("found above");
                (StatusCode::OK, Some(documents::plan(state, run, &link)))
            }
            None => not_found(),
        },
        // Plan JSON needs workspace admin access (plans.mdx); the API answers 404 without.
        Route::PlanJson(_) | Route::RunPlanJson(_) if access < Access::Admin => not_found(),
        Route::PlanJson(plan_id) => return json_output(state, plan_id.clone()),
        Route::RunPlanJson(run_id) => match state.run(run_id) {
            Some(run) => return json_output(state, run.plan_id.clone()),
            None => not_found(),
        },
        Route::Archivist(_) | Route::Unknown => not_found(),
    };
    api_response(state, status, document)
}

fn same_origin(state: &State, run: &Run) -> bool {
    state
        .workspace_by_id(&run.workspace_id)
        .is_some_and(|w| w.scenario.same_origin_archivist)
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

/// The query of `GET /workspaces/:id/runs`.
struct ListQuery {
    page_number: usize,
    page_size: usize,
    operations: Vec<String>,
    search: Option<String>,
}

impl ListQuery {
    /// `page[number]`, `page[size]` (default 20, at most 100), `filter[operation]`
    /// (comma-separated; default: every operation but `plan_only`), `search[basic]`.
    fn parse(query: &str) -> ListQuery {
        let mut q = ListQuery {
            page_number: 1,
            page_size: DEFAULT_PAGE_SIZE,
            operations: DEFAULT_OPERATIONS.iter().map(|s| s.to_string()).collect(),
            search: None,
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "page[number]" => q.page_number = value.parse().unwrap_or(1).max(1),
                "page[size]" => {
                    q.page_size = value
                        .parse()
                        .unwrap_or(DEFAULT_PAGE_SIZE)
                        .clamp(1, MAX_PAGE_SIZE)
                }
                "filter[operation]" => {
                    q.operations = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "search[basic]" if !value.trim().is_empty() => {
                    q.search = Some(value.trim().to_string())
                }
                _ => {}
            }
        }
        q
    }
}

fn create_run(
    state: &mut State,
    body: &Bytes,
    workspace_id: Option<&str>,
    user: &str,
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
    let mut flags = [false; 3];
    for (i, name) in ["plan-only", "auto-apply", "refresh-only"]
        .iter()
        .enumerate()
    {
        match flag(name) {
            Ok(v) => flags[i] = v,
            Err(detail) => return unprocessable(&detail, &format!("/data/attributes/{name}")),
        }
    }
    let [plan_only, auto_apply, refresh_only] = flags;
    let message = match attributes.get("message") {
        None | Some(Value::Null) => "Queued manually via the Terraform Enterprise API".to_string(),
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
    let backed = workspace.backed.is_some();
    // The run plans the configuration version it names, one of the
    // workspace's; by default the workspace's current one.
    let configuration_version = match doc
        .pointer("/data/relationships/configuration-version/data/id")
        .and_then(Value::as_str)
    {
        Some(id) if workspace.configuration_versions.iter().any(|cv| cv == id) => id.to_string(),
        Some(_) => return not_found(),
        None => workspace.current_configuration_version().to_string(),
    };
    if scenario.configuration_missing {
        return unprocessable(
            "Configuration version is missing",
            "/data/relationships/configuration-version",
        );
    }

    let created = Instant::now();
    let seconds = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default();
    // Someone else's run holds the queue: it was queued just before ours.
    if !plan_only && scenario.queued_behind_seconds > 0.0 {
        let half = seconds(scenario.queued_behind_seconds / 2.0);
        let plan = canned_plan(
            &serde_json::json!({"resource_changes": [{"change": {"actions": ["update"]}}]}),
            half,
            false,
        );
        let id = state.new_id("run");
        let plan_id = state.new_id("plan");
        let apply_id = state.new_id("apply");
        state.runs.push(Run {
            id,
            plan_id,
            apply_id,
            workspace_id: workspace_id.to_string(),
            message: "Add the new subnet (queued by alice)".into(),
            plan_only: false,
            auto_apply: true,
            refresh_only: false,
            target_addrs: None,
            created: created - QUEUE_STEP,
            created_by: OTHER_USER.into(),
            configuration_version: configuration_version.clone(),
            stages: Stages::of(&super::Scenario::default()),
            plan,
            apply: Exec::Canned {
                duration: half,
                outcome: Outcome {
                    ok: true,
                    ..Outcome::default()
                },
            },
            json_not_ready_left: 0,
            confirmed_at: None,
            discarded_at: None,
            canceled_at: None,
            actions: Vec::new(),
        });
    }

    let (plan, apply) = if backed {
        (
            Exec::Terraform(Arc::new(Job::default())),
            Exec::Terraform(Arc::new(Job::default())),
        )
    } else {
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
        (
            canned_plan(
                &plan_json,
                seconds(scenario.plan_seconds),
                scenario.plan_errors,
            ),
            Exec::Canned {
                duration: seconds(scenario.apply_seconds),
                outcome: Outcome {
                    ok: true,
                    log: "Apply complete!\n".into(),
                    ..Outcome::default()
                },
            },
        )
    };
    let id = state.new_id("run");
    let plan_id = state.new_id("plan");
    let apply_id = state.new_id("apply");
    state.runs.push(Run {
        id: id.clone(),
        plan_id,
        apply_id,
        workspace_id: workspace_id.to_string(),
        message,
        plan_only,
        auto_apply,
        refresh_only,
        target_addrs,
        created,
        // Whoever's token queued it.
        created_by: user.to_string(),
        configuration_version,
        stages: Stages::of(&scenario),
        plan,
        apply,
        json_not_ready_left: scenario.json_not_ready_polls,
        confirmed_at: None,
        discarded_at: None,
        canceled_at: None,
        actions: Vec::new(),
    });
    let run = state.run(&id).expect("just added");
    (StatusCode::CREATED, Some(documents::run(state, run)))
}

fn canned_plan(plan_json: &Value, duration: Duration, errors: bool) -> Exec {
    Exec::Canned {
        duration,
        outcome: if errors {
            Outcome {
                ok: false,
                log: ERRORED_PLAN_LOG.into(),
                json: None,
                has_changes: false,
            }
        } else {
            Outcome {
                ok: true,
                log: "Plan finished.\n".into(),
                has_changes: plan_json::has_changes(plan_json),
                json: Some(plan_json.clone()),
            }
        },
    }
}

/// `POST /runs/:id/actions/:action`: 202 Accepted with no body, 409 when the
/// run's `actions.*` flags do not allow it.
fn run_action(state: &mut State, id: &str, action: &str) -> (StatusCode, Option<Value>) {
    let now = Instant::now();
    let Some(run) = state.run(id) else {
        return not_found();
    };
    let timeline = state.timeline(run, now);
    let status = timeline.status();
    let allowed = match action {
        "apply" => timeline.confirmable,
        "discard" => !run.plan_only && DISCARDABLE.contains(&status),
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
    let Some(run) = state.runs.iter_mut().find(|r| r.id == id) else {
        return not_found();
    };
    match action {
        "apply" => run.confirmed_at = Some(now),
        "discard" => run.discarded_at = Some(now),
        _ => run.canceled_at = Some(now),
    }
    run.actions.push(action.to_string());
    (StatusCode::ACCEPTED, None)
}

/// `GET /plans/:id/json-output`: 204 until the plan JSON exists, then a 307
/// to a short-lived signed archivist URL.
fn json_output(state: &mut State, plan_id: String) -> Response {
    let now = Instant::now();
    let Some(run) = state.run_by_plan(&plan_id) else {
        let (status, doc) = not_found();
        return api_response(state, status, doc);
    };
    let timeline = state.timeline(run, now);
    let has_json = timeline
        .plan
        .as_ref()
        .is_some_and(|(_, outcome)| outcome.json.is_some());
    if !has_json {
        return api_response(state, StatusCode::NO_CONTENT, None);
    }
    let same_origin = same_origin(state, run);
    if let Some(run) = state.runs.iter_mut().find(|r| r.plan_id == plan_id)
        && run.json_not_ready_left > 0
    {
        run.json_not_ready_left -= 1;
        return api_response(state, StatusCode::NO_CONTENT, None);
    }
    let location = state.sign(&plan_id, ArchiveKind::PlanJson, same_origin);
    let mut response = api_response(state, StatusCode::TEMPORARY_REDIRECT, None);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The archivist object: the plan JSON or log, no token needed (the link is signed).
fn archivist(state: &State, token: &str) -> Response {
    let now = Instant::now();
    let found = state
        .archive
        .get(token)
        .filter(|object| object.expires > now)
        .and_then(|object| {
            let run = state.run_by_plan(&object.plan_id)?;
            let plan = state.timeline(run, now).plan.map(|(_, o)| o);
            Some(match object.kind {
                ArchiveKind::PlanJson => (
                    "application/json",
                    plan.and_then(|o| o.json).map(|j| j.to_string()),
                ),
                ArchiveKind::PlanLog => (
                    "text/plain; charset=utf-8",
                    Some(plan.map(|o| o.log).unwrap_or_default()),
                ),
            })
        });
    match found {
        Some((content_type, Some(body))) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap_or_default(),
        _ => Response::builder()
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

/// `user`'s runs-list requests in the sliding minute before `now` (refused
/// ones included), and the seconds until the oldest leaves the window.
fn run_list_window(state: &State, user: &str, now: Instant) -> (usize, f64) {
    let window: Vec<Instant> = state
        .requests
        .iter()
        .rev()
        .take_while(|r| now.duration_since(r.at).as_secs_f64() < 60.0)
        .filter(|r| {
            r.method == "GET"
                && r.user.as_deref() == Some(user)
                && r.path.starts_with("/api/v2/workspaces/")
                && r.path.ends_with("/runs")
        })
        .map(|r| r.at)
        .collect();
    let reset = window.last().map_or(0.0, |oldest| {
        60.0 - now.duration_since(*oldest).as_secs_f64()
    });
    (window.len(), reset)
}

/// 429 as the API answers it: a JSON:API error and the rate-limit headers.
fn rate_limited(reset_seconds: f64, limit: usize) -> Response {
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &documents::error(
            429,
            "Too many requests",
            Some("You have exceeded the API's rate limit."),
        ),
    );
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    if let Ok(value) = HeaderValue::from_str(&format!("{reset_seconds:.3}")) {
        h.insert("x-ratelimit-reset", value);
    }
    response
}
