//! A Slack Web API emulator for the DriftGuard Slack app, following Slack's
//! method documents, and the "Slack" that clicks a button.
//!
//! - `POST /api/chat.postMessage`, `POST /api/chat.update` (JSON or form
//!   bodies, the bot token as `Authorization: Bearer`): Slack's answers and
//!   errors — HTTP 200 with `{"ok": false, "error": …}` for `not_authed`,
//!   `invalid_auth`, `channel_not_found`, `not_in_channel`, `is_archived`,
//!   `no_text`, `invalid_blocks` (over 50 blocks, a section over 3,000
//!   characters, a button value over 2,000), `message_not_found`; HTTP 429 with
//!   `Retry-After` and `ratelimited` past chat.postMessage's one message per
//!   second per channel (short bursts allowed); `missing_charset` as a warning.
//! - `GET /api/usergroups.users.list?usergroup=S…` → the members, or `no_such_subteam`.
//! - `POST /actions/<team>/<id>/<secret>`: an interaction's `response_url`
//!   (five uses within 30 minutes, then `expired_url`); what it gets is kept
//!   as the ephemeral answer to the person who clicked.
//! - [`SlackApp::click`]: what Slack does when a person clicks a button in a
//!   message: the signed, form-encoded `block_actions` payload (with the
//!   message's `state.values`) to the app's Request URL — a Lambda function
//!   URL reached through the local stack's gateway.
//! - Faults: a channel can be down (HTTP 503, `service_unavailable`), a
//!   token revoked, the next posts rate limited.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

pub const TEAM_ID: &str = "T0DRIFTGRD";
const BOT_ID: &str = "B0DRIFTGUARD";
pub const APP_ID: &str = "A0DRIFTGUARD";
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_BUTTON_VALUE: usize = 2000;
/// chat.postMessage: about one message per second per channel, short bursts allowed.
const BURST_PER_CHANNEL: f64 = 5.0;
const RESPONSE_URL_USES: u32 = 5;
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Slack shows the person a warning when the app takes longer to answer.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3);

/// One message in a channel, with every version (posted, then updates).
#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub versions: Vec<Value>,
}

impl Message {
    /// The message as it reads now (`text` + `blocks`).
    pub fn latest(&self) -> &Value {
        self.versions.last().unwrap_or(&Value::Null)
    }
}

/// What a `response_url` got: the answer only the clicking person sees.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub user: String,
    pub channel: String,
    pub message_ts: String,
    pub payload: Value,
}

/// One Web API call, as the emulator answered it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: String,
    pub channel: Option<String>,
    pub status: u16,
}

struct Channel {
    name: String,
    bot_member: bool,
    archived: bool,
}

struct ResponseUrl {
    user: String,
    channel: String,
    message_ts: String,
    created: Instant,
    uses: u32,
}

#[derive(Default)]
struct AppState {
    tokens: BTreeSet<String>,
    channels: BTreeMap<String, Channel>,
    users: BTreeMap<String, String>,
    groups: BTreeMap<String, Vec<String>>,
    messages: Vec<Message>,
    ephemerals: Vec<Ephemeral>,
    response_urls: BTreeMap<String, ResponseUrl>,
    next_ts: u64,
    down: BTreeSet<String>,
    rate_limit_next: BTreeMap<String, u32>,
    buckets: BTreeMap<String, (f64, Option<Instant>)>,
    calls: Vec<ApiCall>,
}

fn lock(shared: &Mutex<AppState>) -> MutexGuard<'_, AppState> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A click on a message element, as a person does it.
#[derive(Debug, Clone)]
pub struct Click {
    pub user: String,
    pub action_id: String,
    /// Typed into the message's text input (the acceptance's reason).
    pub reason: Option<String>,
    /// Chosen in the message's date picker (`YYYY-MM-DD`; else its initial date).
    pub until: Option<String>,
    /// Signed with another secret (a forged request).
    pub forged: bool,
    /// Seconds added to the request timestamp (negative: an old, replayed request).
    pub timestamp_offset: i64,
    /// Clicks the message as it was first posted: a Slack client that has not
    /// shown the update yet (the buttons are still there for this person).
    pub stale_view: bool,
}

impl Click {
    pub fn new(user: &str, action_id: &str) -> Self {
        Click {
            user: user.into(),
            action_id: action_id.into(),
            reason: None,
            until: None,
            forged: false,
            timestamp_offset: 0,
            stale_view: false,
        }
    }
}

/// What the app's Request URL answered.
#[derive(Debug, Clone)]
pub struct ClickAnswer {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

impl ClickAnswer {
    /// The `text` of a JSON answer.
    pub fn text(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("text").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| self.body.clone())
    }
}

/// Handle on a running emulator; cheap to clone.
#[derive(Clone)]
pub struct SlackApp {
    shared: Arc<Mutex<AppState>>,
    base_url: String,
    bot_token: String,
    signing_secret: String,
    request_url: Arc<Mutex<Option<String>>>,
    /// Where function URLs are served (the gateway), when not the URL's own host.
    via: Arc<Mutex<Option<String>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for SlackApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApp")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

impl SlackApp {
    /// Starts on 127.0.0.1:<free port> with one workspace (team), a bot token
    /// and a signing secret.
    pub async fn start() -> Result<SlackApp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let bot_token = format!("xoxb-1111111111-2222222222-{}", random_hex(12));
        let signing_secret = random_hex(16);
        let shared = Arc::new(Mutex::new(AppState {
            tokens: BTreeSet::from([bot_token.clone()]),
            next_ts: 1,
            ..AppState::default()
        }));
        let router = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "Slack Web API emulator stopped");
            }
        });
        Ok(SlackApp {
            shared,
            base_url: format!("http://{address}"),
            bot_token,
            signing_secret,
            request_url: Arc::new(Mutex::new(None)),
            via: Arc::new(Mutex::new(None)),
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }

    /// The Web API base (`slack_api_url`), e.g. `http://127.0.0.1:41235/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url)
    }

    /// The app's Bot User OAuth Token.
    pub fn bot_token(&self) -> &str {
        &self.bot_token
    }

    /// The app's signing secret.
    pub fn signing_secret(&self) -> &str {
        &self.signing_secret
    }

    /// The app's Request URL (Interactivity), and where to send requests to
    /// it (the gateway serving function URLs).
    pub fn set_request_url(&self, request_url: &str, via: &str) {
        *self
            .request_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request_url.to_string());
        *self.via.lock().unwrap_or_else(PoisonError::into_inner) = Some(via.to_string());
    }

    /// A channel; the app is a member unless `bot_member` is false.
    pub fn add_channel(&self, id: &str, name: &str, bot_member: bool) {
        lock(&self.shared).channels.insert(
            id.into(),
            Channel {
                name: name.into(),
                bot_member,
                archived: false,
            },
        );
    }

    pub fn add_user(&self, id: &str, name: &str) {
        lock(&self.shared).users.insert(id.into(), name.into());
    }

    pub fn add_user_group(&self, id: &str, members: &[&str]) {
        lock(&self.shared)
            .groups
            .insert(id.into(), members.iter().map(|m| m.to_string()).collect());
    }

    /// While down, every call about this channel gets HTTP 503.
    pub fn set_channel_down(&self, channel: &str, down: bool) {
        let mut state = lock(&self.shared);
        if down {
            state.down.insert(channel.into());
        } else {
            state.down.remove(channel);
        }
    }

    /// The next `times` chat.postMessage calls to this channel get 429.
    pub fn rate_limit_next(&self, channel: &str, times: u32) {
        lock(&self.shared)
            .rate_limit_next
            .insert(channel.into(), times);
    }

    /// Messages of a channel, oldest first (parents and replies).
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        lock(&self.shared)
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// Top-level messages of a channel (thread parents).
    pub fn parents(&self, channel: &str) -> Vec<Message> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    /// The replies in a thread, oldest first.
    pub fn replies(&self, channel: &str, ts: &str) -> Vec<Message> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    /// What the response URLs got for a person.
    pub fn ephemerals_for(&self, user: &str) -> Vec<Ephemeral> {
        lock(&self.shared)
            .ephemerals
            .iter()
            .filter(|e| e.user == user)
            .cloned()
            .collect()
    }

    /// Web API calls so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.shared).calls.clone()
    }

    /// What Slack sends when `click.user` clicks `click.action_id` in the
    /// message `ts` of `channel`: the signed `block_actions` payload to the
    /// Request URL. Fails when the message has no such element (the button
    /// was removed, so nobody can click it).
    pub async fn click(&self, channel: &str, ts: &str, click: &Click) -> Result<ClickAnswer> {
        let request_url = self
            .request_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .context("the app has no Request URL (set_request_url)")?;
        let via = self
            .via
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (payload, body) = {
            let mut state = lock(&self.shared);
            let message = state
                .messages
                .iter()
                .find(|m| m.channel == channel && m.ts == ts)
                .cloned()
                .with_context(|| format!("no message {ts} in {channel}"))?;
            let user_name = state.users.get(&click.user).cloned().unwrap_or_default();
            let channel_name = state
                .channels
                .get(channel)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let response_id = format!("{}", 8_000_000_000u64 + fastrand::u64(..1_000_000_000));
            let response_url = format!(
                "{}/actions/{TEAM_ID}/{response_id}/{}",
                self.base_url,
                random_hex(12)
            );
            state.response_urls.insert(
                response_url.clone(),
                ResponseUrl {
                    user: click.user.clone(),
                    channel: channel.into(),
                    message_ts: ts.into(),
                    created: Instant::now(),
                    uses: 0,
                },
            );
            let payload = block_actions(&message, click, &user_name, &channel_name, &response_url)?;
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish();
            (payload, body)
        };
        let _ = payload;
        let timestamp = (chrono::Utc::now().timestamp() + click.timestamp_offset).to_string();
        let secret = if click.forged {
            random_hex(16)
        } else {
            self.signing_secret.clone()
        };
        let signature =
            driftguard_slack::signature::sign(secret.as_bytes(), &timestamp, body.as_bytes());
        let url = url::Url::parse(&request_url)?;
        let host = url
            .host_str()
            .context("the Request URL has no host")?
            .to_string();
        let target = match &via {
            Some(via) => format!("{}{}", via.trim_end_matches('/'), url.path()),
            None => request_url.clone(),
        };
        let started = Instant::now();
        let response = self
            .http
            .post(target)
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::USER_AGENT,
                "Slackbot 1.0 (+https://api.slack.com/robots)",
            )
            .header("X-Slack-Request-Timestamp", timestamp)
            .header("X-Slack-Signature", signature)
            .timeout(Duration::from_secs(30))
            .body(body)
            .send()
            .await
            .context("post the interaction to the Request URL")?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(ClickAnswer {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// The `block_actions` payload of a click on a message element.
fn block_actions(
    message: &Message,
    click: &Click,
    user_name: &str,
    channel_name: &str,
    response_url: &str,
) -> Result<Value> {
    let latest = if click.stale_view {
        message.versions.first().unwrap_or(&Value::Null)
    } else {
        message.latest()
    };
    let blocks = latest["blocks"].as_array().cloned().unwrap_or_default();
    let mut action = None;
    let mut values = serde_json::Map::new();
    for block in &blocks {
        let block_id = block["block_id"].as_str().unwrap_or("").to_string();
        let mut state = serde_json::Map::new();
        let elements: Vec<Value> = match block["type"].as_str() {
            Some("actions") => block["elements"].as_array().cloned().unwrap_or_default(),
            Some("input") => vec![block["element"].clone()],
            _ => vec![],
        };
        for element in elements {
            let id = element["action_id"].as_str().unwrap_or("").to_string();
            match element["type"].as_str() {
                Some("plain_text_input") => {
                    state.insert(
                        id,
                        json!({"type": "plain_text_input", "value": click.reason}),
                    );
                }
                Some("datepicker") => {
                    let date = click
                        .until
                        .clone()
                        .or_else(|| element["initial_date"].as_str().map(str::to_string));
                    state.insert(
                        id.clone(),
                        json!({"type": "datepicker", "selected_date": date}),
                    );
                }
                Some("button") if id == click.action_id => {
                    let mut a = json!({
                        "action_id": id,
                        "block_id": block_id,
                        "text": element["text"],
                        "type": "button",
                        "action_ts": format!("{:.6}", chrono::Utc::now().timestamp_micros() as f64 / 1e6),
                    });
                    if let Some(value) = element.get("value") {
                        a["value"] = value.clone();
                    }
                    if let Some(style) = element.get("style") {
                        a["style"] = style.clone();
                    }
                    action = Some(a);
                }
                _ => {}
            }
        }
        if !state.is_empty() && !block_id.is_empty() {
            values.insert(block_id, Value::Object(state));
        }
    }
    let action = action.with_context(|| {
        format!(
            "message {} has no button '{}' (it was removed, so nobody can click it)",
            message.ts, click.action_id
        )
    })?;
    Ok(json!({
        "type": "block_actions",
        "user": {"id": click.user, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "LegacyVerificationTokenNotUsed",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
        "trigger_id": format!("{}.{}.{}", fastrand::u64(..), fastrand::u64(..), random_hex(16)),
        "team": {"id": TEAM_ID, "domain": "driftguard-e2e"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": message.channel, "name": channel_name},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "text": latest["text"],
            "ts": message.ts,
            "bot_id": BOT_ID,
            "blocks": latest["blocks"],
        },
        "state": {"values": values},
        "response_url": response_url,
        "actions": [action],
    }))
}

// ---------------------------------------------------------------------------
// The Web API
// ---------------------------------------------------------------------------

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn error(code: &str) -> Response {
    json_response(StatusCode::OK, json!({"ok": false, "error": code}))
}

/// A request's arguments: a JSON body, a form body (JSON-typed arguments as
/// strings), or the query string.
fn arguments(
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<(Value, bool), &'static str> {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut args = serde_json::Map::new();
    if let Some(query) = parts.uri.query() {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            args.insert(k.into_owned(), json!(v));
        }
    }
    let mut missing_charset = false;
    if !body.is_empty() {
        if content_type.starts_with("application/json") {
            missing_charset = !content_type.contains("charset=");
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => args.extend(map),
                _ => return Err("invalid_json"),
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in url::form_urlencoded::parse(body) {
                let value = match k.as_ref() {
                    "blocks" | "attachments" => serde_json::from_str(&v).unwrap_or(json!(v)),
                    _ => json!(v),
                };
                args.insert(k.into_owned(), value);
            }
        } else if content_type.is_empty() {
            return Err("missing_post_type");
        } else {
            return Err("invalid_post_type");
        }
    }
    Ok((Value::Object(args), missing_charset))
}

async fn handle(State(shared): State<Arc<Mutex<AppState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    if path.starts_with("/actions/") {
        return response_url(&shared, &parts, &body, &path);
    }
    let Some(method) = path.strip_prefix("/api/") else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let (args, missing_charset) = match arguments(&parts, &body) {
        Ok(args) => args,
        Err(code) => return error(code),
    };
    let channel = args
        .get("channel")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut state = lock(&shared);
    let response = web_api(&mut state, method, &parts, &args, missing_charset);
    let status = response.status().as_u16();
    state.calls.push(ApiCall {
        method: method.to_string(),
        channel,
        status,
    });
    response
}

fn web_api(
    state: &mut AppState,
    method: &str,
    parts: &axum::http::request::Parts,
    args: &Value,
    missing_charset: bool,
) -> Response {
    let channel_arg = args
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !channel_arg.is_empty() && state.down.contains(&channel_arg) {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ok": false, "error": "service_unavailable"}),
        );
    }
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| {
            args.get("token")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let Some(token) = token else {
        return error("not_authed");
    };
    if !state.tokens.contains(&token) {
        return error("invalid_auth");
    }
    match (parts.method.clone(), method) {
        (Method::POST, "chat.postMessage") => post_message(state, args, missing_charset),
        (Method::POST, "chat.update") => update_message(state, args),
        (_, "usergroups.users.list") => {
            let Some(group) = args.get("usergroup").and_then(Value::as_str) else {
                return error("invalid_arguments");
            };
            match state.groups.get(group) {
                Some(users) => json_response(StatusCode::OK, json!({"ok": true, "users": users})),
                None => error("no_such_subteam"),
            }
        }
        (_, "chat.postMessage" | "chat.update") => error("invalid_post_type"),
        _ => error("unknown_method"),
    }
}

/// The channel checks of a chat method; the error code when one fails.
fn channel_error(state: &AppState, channel: &str) -> Option<&'static str> {
    match state.channels.get(channel) {
        None => Some("channel_not_found"),
        Some(c) if c.archived => Some("is_archived"),
        Some(c) if !c.bot_member => Some("not_in_channel"),
        Some(_) => None,
    }
}

/// Slack's checks of a message's content; the error code when one fails.
fn content_error(args: &Value) -> Option<&'static str> {
    let text = args.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = match args.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(blocks)) => Some(blocks),
        Some(_) => return Some("invalid_blocks_format"),
    };
    if text.trim().is_empty() && blocks.is_none_or(Vec::is_empty) {
        return Some("no_text");
    }
    let blocks = blocks?;
    if blocks.len() > MAX_BLOCKS {
        return Some("invalid_blocks");
    }
    for block in blocks {
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return Some("invalid_blocks");
        };
        let text_len = block
            .pointer("/text/text")
            .and_then(Value::as_str)
            .map_or(0, |t| t.chars().count());
        if kind == "section" && text_len > MAX_SECTION_TEXT {
            return Some("invalid_blocks");
        }
        if kind == "actions" {
            let elements = block.get("elements").and_then(Value::as_array);
            if elements.is_none_or(|e| e.is_empty() || e.len() > 25) {
                return Some("invalid_blocks");
            }
            for element in elements.into_iter().flatten() {
                if element
                    .get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.len() > MAX_BUTTON_VALUE)
                {
                    return Some("invalid_blocks");
                }
            }
        }
    }
    None
}

fn next_ts(state: &mut AppState) -> String {
    state.next_ts += 1;
    format!(
        "{}.{:06}",
        chrono::Utc::now().timestamp(),
        state.next_ts % 1_000_000
    )
}

fn rate_limited(state: &mut AppState, channel: &str) -> bool {
    if let Some(n) = state.rate_limit_next.get_mut(channel) {
        if *n > 0 {
            *n -= 1;
            return true;
        }
    }
    let now = Instant::now();
    let (tokens, last) = state
        .buckets
        .entry(channel.to_string())
        .or_insert((BURST_PER_CHANNEL, None));
    if let Some(last) = last {
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64()).min(BURST_PER_CHANNEL);
    }
    *last = Some(now);
    if *tokens < 1.0 {
        return true;
    }
    *tokens -= 1.0;
    false
}

fn message_json(ts: &str, args: &Value) -> Value {
    json!({
        "type": "message",
        "subtype": "bot_message",
        "text": args.get("text").cloned().unwrap_or(json!("")),
        "ts": ts,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "blocks": args.get("blocks").cloned().unwrap_or(json!([])),
    })
}

fn post_message(state: &mut AppState, args: &Value, missing_charset: bool) -> Response {
    let Some(channel) = args
        .get("channel")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return error("channel_not_found");
    };
    if let Some(code) = channel_error(state, &channel) {
        return error(code);
    }
    if rate_limited(state, &channel) {
        return Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, "1")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(
                json!({"ok": false, "error": "ratelimited"}).to_string(),
            ))
            .unwrap_or_default();
    }
    if let Some(code) = content_error(args) {
        return error(code);
    }
    let thread_ts = args
        .get("thread_ts")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ts = next_ts(state);
    state.messages.push(Message {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts,
        versions: vec![json!({
            "text": args.get("text").cloned().unwrap_or(json!("")),
            "blocks": args.get("blocks").cloned().unwrap_or(json!([])),
        })],
    });
    let mut answer =
        json!({"ok": true, "channel": channel, "ts": ts, "message": message_json(&ts, args)});
    if missing_charset {
        answer["warning"] = json!("missing_charset");
        answer["response_metadata"] = json!({"warnings": ["missing_charset"]});
    }
    json_response(StatusCode::OK, answer)
}

fn update_message(state: &mut AppState, args: &Value) -> Response {
    let (Some(channel), Some(ts)) = (
        args.get("channel")
            .and_then(Value::as_str)
            .map(str::to_string),
        args.get("ts").and_then(Value::as_str).map(str::to_string),
    ) else {
        return error("invalid_arguments");
    };
    if let Some(code) = channel_error(state, &channel) {
        return error(code);
    }
    if let Some(code) = content_error(args) {
        return error(code);
    }
    let Some(message) = state
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
    else {
        return error("message_not_found");
    };
    message.versions.push(json!({
        "text": args.get("text").cloned().unwrap_or(json!("")),
        "blocks": args.get("blocks").cloned().unwrap_or(json!([])),
    }));
    json_response(
        StatusCode::OK,
        json!({"ok": true, "channel": channel, "ts": ts, "text": args.get("text"), "message": message_json(&ts, args)}),
    )
}

fn response_url(
    shared: &Mutex<AppState>,
    parts: &axum::http::request::Parts,
    body: &[u8],
    path: &str,
) -> Response {
    let mut state = lock(shared);
    let key = state
        .response_urls
        .keys()
        .find(|k| k.ends_with(path))
        .cloned();
    let Some(key) = key.filter(|_| parts.method == Method::POST) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "expired_url"}),
        );
    };
    let Some(url) = state.response_urls.get_mut(&key) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "expired_url"}),
        );
    };
    if url.uses >= RESPONSE_URL_USES || url.created.elapsed() > RESPONSE_URL_LIFETIME {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "expired_url"}),
        );
    }
    url.uses += 1;
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": "invalid_payload"}),
        );
    };
    let ephemeral = Ephemeral {
        user: url.user.clone(),
        channel: url.channel.clone(),
        message_ts: url.message_ts.clone(),
        payload,
    };
    state.ephemerals.push(ephemeral);
    json_response(StatusCode::OK, json!({"ok": true}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftguard_core::error::Error;
    use driftguard_core::ports::ChatApi;
    use driftguard_core::secrets::StaticSecrets;
    use driftguard_slack::SlackApi;

    fn api(app: &SlackApp, token: &str) -> SlackApi {
        SlackApi::new(
            Arc::new(StaticSecrets::new().with("bot", token)),
            "bot",
            &app.api_url(),
        )
        .unwrap()
    }

    fn message(text: &str) -> Value {
        json!({"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]})
    }

    #[tokio::test]
    async fn the_real_client_posts_replies_and_updates() {
        let app = SlackApp::start().await.unwrap();
        app.add_channel("C0DRIFT", "drift", true);
        let slack = api(&app, app.bot_token());
        let parent = slack
            .post_message("C0DRIFT", None, &message("alert"))
            .await
            .unwrap();
        let reply = slack
            .post_message("C0DRIFT", Some(&parent.ts), &message("reply"))
            .await
            .unwrap();
        slack
            .update_message("C0DRIFT", &parent.ts, &message("alert, resolved"))
            .await
            .unwrap();
        assert_eq!(app.parents("C0DRIFT").len(), 1);
        assert_eq!(app.replies("C0DRIFT", &parent.ts)[0].ts, reply.ts);
        assert_eq!(
            app.parents("C0DRIFT")[0].latest()["text"],
            "alert, resolved"
        );
        app.add_user_group("S0OPS", &["U0BOB"]);
        assert_eq!(slack.user_group_members("S0OPS").await.unwrap(), ["U0BOB"]);
    }

    #[tokio::test]
    async fn the_unkind_parts() {
        let app = SlackApp::start().await.unwrap();
        app.add_channel("C0DRIFT", "drift", true);
        app.add_channel("C0OUTSIDE", "outside", false);
        let slack = api(&app, app.bot_token());
        let rejected = |e: Error, code: &str| {
            assert!(
                matches!(&e, Error::SlackRejected(m) if m.contains(code)),
                "{code}: {e:?}"
            );
        };
        rejected(
            slack
                .post_message("C0NOPE", None, &message("x"))
                .await
                .unwrap_err(),
            "channel_not_found",
        );
        rejected(
            slack
                .post_message("C0OUTSIDE", None, &message("x"))
                .await
                .unwrap_err(),
            "not_in_channel",
        );
        rejected(
            api(&app, "xoxb-revoked")
                .post_message("C0DRIFT", None, &message("x"))
                .await
                .unwrap_err(),
            "invalid_auth",
        );
        rejected(
            slack
                .update_message("C0DRIFT", "1.000000", &message("x"))
                .await
                .unwrap_err(),
            "message_not_found",
        );
        rejected(
            slack.user_group_members("S0NOPE").await.unwrap_err(),
            "no_such_subteam",
        );
        let too_many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        rejected(
            slack
                .post_message("C0DRIFT", None, &json!({"text": "x", "blocks": too_many}))
                .await
                .unwrap_err(),
            "invalid_blocks",
        );
        app.rate_limit_next("C0DRIFT", 1);
        assert_eq!(
            slack
                .post_message("C0DRIFT", None, &message("x"))
                .await
                .unwrap_err(),
            Error::SlackRateLimited {
                retry_after: Some(Duration::from_secs(1))
            }
        );
        // A burst past one message per second per channel is limited too.
        let mut limited = 0;
        for _ in 0..8 {
            if slack
                .post_message("C0DRIFT", None, &message("x"))
                .await
                .is_err()
            {
                limited += 1;
            }
        }
        assert!(limited >= 2, "a burst of 8 posts was never limited");
        app.set_channel_down("C0DRIFT", true);
        let e = slack
            .post_message("C0DRIFT", None, &message("x"))
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }

    #[test]
    fn a_click_carries_the_buttons_value_and_the_messages_state() {
        let message = Message {
            channel: "C0DRIFT".into(),
            ts: "1.000001".into(),
            thread_ts: None,
            versions: vec![json!({"text": "t", "blocks": [
                {"type": "input", "block_id": "r", "element": {"type": "plain_text_input", "action_id": "reason"}},
                {"type": "actions", "block_id": "d", "elements": [
                    {"type": "datepicker", "action_id": "until", "initial_date": "2030-01-01"},
                    {"type": "button", "action_id": "accept", "value": "id-1", "text": {"type": "plain_text", "text": "Accept"}}
                ]}
            ]})],
        };
        let mut click = Click::new("U0ALICE", "accept");
        click.reason = Some("because".into());
        let payload =
            block_actions(&message, &click, "alice", "drift", "http://x/actions/T/1/a").unwrap();
        assert_eq!(payload["actions"][0]["value"], "id-1");
        assert_eq!(
            payload["state"]["values"]["r"]["reason"]["value"],
            "because"
        );
        assert_eq!(
            payload["state"]["values"]["d"]["until"]["selected_date"],
            "2030-01-01"
        );
        assert!(
            block_actions(
                &message,
                &Click::new("U0ALICE", "fix"),
                "alice",
                "drift",
                "u"
            )
            .is_err()
        );
    }
}
