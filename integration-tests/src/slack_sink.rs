//! A Slack incoming-webhook sink: answers like `hooks.slack.com` does and
//! keeps the messages it accepted.
//!
//! - `POST /services/T…/B…/<secret>` with a JSON body (or a form-encoded
//!   `payload=` field) holding `text` or `blocks` → 200 `ok` (text/html).
//! - Other paths → 404 `no_service`; another method on the webhook → 405.
//! - Unparseable body → 400 `invalid_payload`; neither `text` nor `blocks`
//!   (nor `attachments`) → 400 `no_text`; `blocks` not an array →
//!   400 `invalid_blocks_format`; a block without `type` → 400 `invalid_blocks`;
//!   over 100 attachments → 400 `too_many_attachments`.
//! - [`SlackSink::fail_next`]: the next N posts get 429 (`Retry-After: 1`,
//!   body `rate_limited`) or the given 5xx; [`SlackSink::set_down`]: every
//!   post gets 500.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_ATTACHMENTS: usize = 100;

/// Handle on a running sink; cheap to clone.
#[derive(Clone)]
pub struct SlackSink {
    shared: Arc<Mutex<SinkState>>,
    webhook_url: String,
}

impl std::fmt::Debug for SlackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSink").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct SinkState {
    webhook_path: String,
    messages: Vec<Value>,
    fail_status: u16,
    fail_remaining: u32,
    down: bool,
    attempts: usize,
}

fn lock(shared: &Mutex<SinkState>) -> MutexGuard<'_, SinkState> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SlackSink {
    /// Starts on 127.0.0.1:<free port>.
    pub async fn start() -> anyhow::Result<SlackSink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let secret = format!("{:024x}", nanos ^ ((address.port() as u128) << 64));
        let webhook_path = format!(
            "/services/T00000000/B00000000/{}",
            &secret[secret.len() - 24..]
        );
        let shared = Arc::new(Mutex::new(SinkState {
            webhook_path: webhook_path.clone(),
            ..SinkState::default()
        }));
        let router = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "Slack sink stopped");
            }
        });
        Ok(SlackSink {
            shared,
            webhook_url: format!("http://{address}{webhook_path}"),
        })
    }

    /// The incoming-webhook URL, e.g. "http://127.0.0.1:41235/services/T000/B000/XXXXXXXX".
    pub fn webhook_url(&self) -> String {
        self.webhook_url.clone()
    }

    /// Accepted payloads, in order.
    pub fn messages(&self) -> Vec<Value> {
        lock(&self.shared).messages.clone()
    }

    /// Answers the next `times` posts with `status`: 429 (with `Retry-After: 1`) or a 5xx.
    pub fn fail_next(&self, status: u16, times: u32) {
        let mut state = lock(&self.shared);
        state.fail_status = status;
        state.fail_remaining = times;
    }

    /// While down every post gets 500.
    pub fn set_down(&self, down: bool) {
        lock(&self.shared).down = down;
    }

    /// Posts received, accepted or not.
    pub fn attempts(&self) -> usize {
        lock(&self.shared).attempts
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

async fn handle(State(shared): State<Arc<Mutex<SinkState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let mut state = lock(&shared);
    if parts.method == Method::POST {
        state.attempts += 1;
    }
    if state.down && parts.method == Method::POST {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    }
    if parts.uri.path() != state.webhook_path {
        return text(StatusCode::NOT_FOUND, "no_service");
    }
    if parts.method != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "invalid_method");
    }
    if state.fail_remaining > 0 {
        state.fail_remaining -= 1;
        let status =
            StatusCode::from_u16(state.fail_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let mut response = text(status, "rate_limited");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
        let body = match status.as_u16() {
            503 => "service_unavailable",
            504 => "request_timeout",
            _ => "internal_error",
        };
        return text(status, body);
    }

    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let payload: Option<Value> = if is_form {
        url::form_urlencoded::parse(&body)
            .find(|(key, _)| key == "payload")
            .and_then(|(_, value)| serde_json::from_str(&value).ok())
    } else {
        serde_json::from_slice(&body).ok()
    };
    let Some(payload) = payload.filter(Value::is_object) else {
        return text(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    match validate(&payload) {
        Ok(()) => {
            state.messages.push(payload);
            text(StatusCode::OK, "ok")
        }
        Err(code) => text(StatusCode::BAD_REQUEST, code),
    }
}

/// Slack's checks of a message payload; the error code on failure.
fn validate(payload: &Value) -> Result<(), &'static str> {
    let has_text = payload
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let blocks = match payload.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(blocks)) => Some(blocks),
        Some(_) => return Err("invalid_blocks_format"),
    };
    if let Some(blocks) = blocks {
        if blocks
            .iter()
            .any(|b| b.get("type").and_then(Value::as_str).is_none())
        {
            return Err("invalid_blocks");
        }
    }
    let attachments = payload
        .get("attachments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if attachments > MAX_ATTACHMENTS {
        return Err("too_many_attachments");
    }
    if !has_text && blocks.is_none_or(Vec::is_empty) && attachments == 0 {
        return Err("no_text");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftguard_core::error::Error;
    use driftguard_core::secrets::StaticSecrets;
    use driftguard_slack::SlackWebhook;
    use serde_json::json;

    fn notifier(url: &str) -> SlackWebhook {
        SlackWebhook::new(Arc::new(StaticSecrets::new().with("slack", url)), "slack").unwrap()
    }

    fn message() -> Value {
        json!({
            "text": "Drift in acme/prod",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Drift* in acme/prod"}}]
        })
    }

    #[tokio::test]
    async fn accepts_messages_from_the_real_notifier() {
        let sink = SlackSink::start().await.unwrap();
        let slack = notifier(&sink.webhook_url());
        slack.post(&message()).await.unwrap();
        assert_eq!(sink.messages(), vec![message()]);
        assert_eq!(sink.attempts(), 1);
    }

    #[tokio::test]
    async fn rate_limit_and_outage_map_to_retryable_errors() {
        let sink = SlackSink::start().await.unwrap();
        let slack = notifier(&sink.webhook_url());
        sink.fail_next(429, 1);
        match slack.post(&message()).await {
            Err(Error::SlackRateLimited { retry_after }) => {
                assert_eq!(retry_after, Some(std::time::Duration::from_secs(1)));
            }
            other => panic!("expected SlackRateLimited, got {other:?}"),
        }
        slack.post(&message()).await.unwrap();

        sink.set_down(true);
        let err = slack.post(&message()).await.unwrap_err();
        assert!(matches!(err, Error::SlackUnavailable(_)), "{err:?}");
        sink.set_down(false);

        sink.fail_next(503, 2);
        assert!(matches!(
            slack.post(&message()).await,
            Err(Error::SlackUnavailable(_))
        ));
        assert!(matches!(
            slack.post(&message()).await,
            Err(Error::SlackUnavailable(_))
        ));
        slack.post(&message()).await.unwrap();
        assert_eq!(sink.messages().len(), 2);
        assert_eq!(sink.attempts(), 6);
    }

    #[tokio::test]
    async fn wrong_path_is_no_service_and_bad_payloads_are_refused() {
        let sink = SlackSink::start().await.unwrap();
        let wrong = format!("{}X", sink.webhook_url());
        let err = notifier(&wrong).post(&message()).await.unwrap_err();
        match err {
            Error::SlackRejected(reason) => assert!(reason.contains("no_service"), "{reason}"),
            other => panic!("expected SlackRejected, got {other:?}"),
        }

        let http = reqwest::Client::new();
        let post = |body: &'static str| {
            http.post(sink.webhook_url())
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        for (body, code) in [
            ("not json", "invalid_payload"),
            ("{}", "no_text"),
            (r#"{"blocks": {}}"#, "invalid_blocks_format"),
            (r#"{"blocks": [{"text": "x"}]}"#, "invalid_blocks"),
        ] {
            let response = post(body).await.unwrap();
            assert_eq!(response.status(), 400, "{body}");
            assert_eq!(response.text().await.unwrap(), code, "{body}");
        }
        let response = http
            .post(sink.webhook_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("payload=%7B%22text%22%3A%22hi%22%7D")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        assert_eq!(sink.messages(), vec![json!({"text": "hi"})]);
        assert_eq!(sink.attempts(), 6);
    }
}
