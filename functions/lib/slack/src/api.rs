//! The Slack Web API as the DriftGuard Slack app uses it: `chat.postMessage`,
//! `chat.update`, `usergroups.users.list`, and interaction `response_url`s.
//!
//! Slack answers most errors with HTTP 200 and `{"ok": false, "error": code}`;
//! rate limits with HTTP 429, a `Retry-After` header and `ratelimited`. The bot
//! token is a credential: it is read from a secret and never written to a log
//! line or an error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use driftguard_core::error::{Error, Result};
use driftguard_core::model::ThreadRef;
use driftguard_core::ports::{ChatApi, SecretSource};
use driftguard_core::secrets::{SecretShape, secret_field};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The Slack Web API with the app's bot token.
pub struct SlackApi {
    secrets: Arc<dyn SecretSource>,
    token_secret: String,
    base: Url,
    http: reqwest::Client,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("token_secret", &self.token_secret)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl SlackApi {
    /// `api_url` is `https://slack.com/api` (or GovSlack's); `token_secret`
    /// names the secret holding the bot token (`xoxb-…`, or JSON `{"bot_token": …}`).
    pub fn new(
        secrets: Arc<dyn SecretSource>,
        token_secret: impl Into<String>,
        api_url: &str,
    ) -> Result<Self> {
        let base = Url::parse(&format!("{}/", api_url.trim_end_matches('/'))).map_err(|e| {
            Error::ConfigError(format!(
                "the Slack API address '{api_url}' is not a URL ({e})"
            ))
        })?;
        Ok(SlackApi {
            secrets,
            token_secret: token_secret.into(),
            base,
            http: http_client(REQUEST_TIMEOUT)?,
        })
    }

    /// The same client with another request timeout (the callback receiver
    /// must answer Slack within 3 seconds).
    pub fn with_timeout(self, timeout: Duration) -> Result<Self> {
        Ok(SlackApi {
            http: http_client(timeout)?,
            ..self
        })
    }

    async fn token(&self, fresh: bool) -> Result<String> {
        let value = if fresh {
            self.secrets.refresh(&self.token_secret).await?
        } else {
            self.secrets.secret(&self.token_secret).await?
        };
        parse_bot_token(&self.token_secret, &value)
    }

    /// Calls a method; re-reads the token secret once when Slack rejects the
    /// token (it may have been rotated).
    async fn call(&self, method: &str, request: Request<'_>) -> Result<Value> {
        let token = self.token(false).await?;
        match self.send(method, &request, &token).await {
            Err(SlackFailure::Auth(code)) => {
                let fresh = self.token(true).await?;
                if fresh == token {
                    return Err(self.auth_error(method, &code));
                }
                tracing::info!(
                    method,
                    "the Slack bot token secret changed; calling again with the new token"
                );
                match self.send(method, &request, &fresh).await {
                    Err(SlackFailure::Auth(code)) => Err(self.auth_error(method, &code)),
                    other => other.map_err(|f| f.into_error(method)),
                }
            }
            other => other.map_err(|f| f.into_error(method)),
        }
    }

    fn auth_error(&self, method: &str, code: &str) -> Error {
        Error::SlackRejected(format!(
            "Slack {method} refused the bot token ({code}), also after re-reading secret '{}'. Put the app's current Bot User OAuth Token (xoxb-…) in that secret (reinstall the app if it was revoked)",
            self.token_secret
        ))
    }

    async fn send(
        &self,
        method: &str,
        request: &Request<'_>,
        token: &str,
    ) -> std::result::Result<Value, SlackFailure> {
        let url = self
            .base
            .join(method)
            .map_err(|e| SlackFailure::Other(format!("bad method URL: {e}")))?;
        let builder = match request {
            Request::Json(body) => self
                .http
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(body.to_string()),
            Request::Query(query) => {
                let mut url = url;
                url.query_pairs_mut().extend_pairs(query.iter());
                self.http.get(url)
            }
        };
        let response = builder
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport_failure)?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(method, ?retry_after, "Slack rate limit reached");
            return Err(SlackFailure::RateLimited(retry_after));
        }
        if status.is_server_error() {
            return Err(SlackFailure::Unavailable(format!(
                "HTTP {}",
                status.as_u16()
            )));
        }
        let answer: Value = serde_json::from_str(&body).map_err(|_| {
            SlackFailure::Other(format!(
                "HTTP {} with a body that is not Slack's JSON",
                status.as_u16()
            ))
        })?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(answer);
        }
        let code = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_string();
        tracing::warn!(method, error = %code, "Slack refused the call");
        Err(SlackFailure::from_code(code, retry_after))
    }
}

/// A request body: JSON for writes, a query string for reads.
enum Request<'a> {
    Json(Value),
    Query(Vec<(&'a str, &'a str)>),
}

/// Why a call failed, before it is named for a person.
enum SlackFailure {
    RateLimited(Option<Duration>),
    Unavailable(String),
    Auth(String),
    Rejected(String),
    Other(String),
}

impl SlackFailure {
    fn from_code(code: String, retry_after: Option<Duration>) -> Self {
        match code.as_str() {
            "ratelimited" | "rate_limited" => SlackFailure::RateLimited(retry_after),
            "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
            | "team_added_to_org" => SlackFailure::Unavailable(code),
            "invalid_auth" | "not_authed" | "token_revoked" | "token_expired"
            | "account_inactive" => SlackFailure::Auth(code),
            _ => SlackFailure::Rejected(code),
        }
    }

    fn into_error(self, method: &str) -> Error {
        match self {
            SlackFailure::RateLimited(retry_after) => Error::SlackRateLimited { retry_after },
            SlackFailure::Unavailable(detail) => {
                Error::SlackUnavailable(format!("Slack {method}: {detail}"))
            }
            SlackFailure::Auth(code) => {
                Error::SlackRejected(format!("Slack {method} refused the bot token ({code})"))
            }
            SlackFailure::Rejected(code) => Error::SlackRejected(format!(
                "Slack {method} answered {code}: {}",
                meaning(&code)
            )),
            SlackFailure::Other(detail) => {
                Error::SlackUnavailable(format!("Slack {method}: {detail}"))
            }
        }
    }
}

/// What a Web API error code means for the person fixing it.
fn meaning(code: &str) -> &'static str {
    match code {
        "channel_not_found" => {
            "the channel does not exist or the app cannot see it; set the workspace route's slack.channel to a channel id (C…) the app is in"
        }
        "not_in_channel" => {
            "the DriftGuard app is not a member of the channel; type /invite @DriftGuard in it"
        }
        "is_archived" => {
            "the channel is archived; unarchive it or route the workspace to another channel"
        }
        "missing_scope" => {
            "the app lacks an OAuth scope (chat:write, or usergroups:read for user-group approvers); add it (docs/slack-app-manifest.yaml) and reinstall the app"
        }
        "message_not_found" | "cant_update_message" => {
            "the alert message is gone or was not posted by this app; the thread reply still says what happened"
        }
        "no_such_subteam" => "a user-group id in slack.approvers does not exist",
        "msg_too_long"
        | "no_text"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "invalid_arguments"
        | "too_many_attachments" => {
            "Slack refused the message content; this is a DriftGuard bug, please report it with the execution id"
        }
        "restricted_action" | "restricted_action_read_only_channel" | "ekm_access_denied" => {
            "a Slack workspace setting forbids the app to post there"
        }
        _ => "see Slack's Web API documentation for this error",
    }
}

#[async_trait]
impl ChatApi for SlackApi {
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        payload: &Value,
    ) -> Result<ThreadRef> {
        let mut body = message_body(channel, payload);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", Request::Json(body)).await?;
        thread_of(&answer, channel, "chat.postMessage")
    }

    async fn update_message(&self, channel: &str, ts: &str, payload: &Value) -> Result<()> {
        let mut body = message_body(channel, payload);
        body["ts"] = json!(ts);
        self.call("chat.update", Request::Json(body)).await?;
        Ok(())
    }

    async fn user_group_members(&self, user_group: &str) -> Result<Vec<String>> {
        let answer = self
            .call(
                "usergroups.users.list",
                Request::Query(vec![("usergroup", user_group)]),
            )
            .await?;
        Ok(answer
            .get("users")
            .and_then(Value::as_array)
            .map(|users| {
                users
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn respond(&self, response_url: &str, payload: &Value) -> Result<()> {
        let url = Url::parse(response_url).map_err(|_| {
            Error::InvalidInput("the interaction's response_url is not a URL".into())
        })?;
        if !is_slack_host(&url, &self.base) {
            return Err(Error::InvalidInput(format!(
                "the interaction's response_url points to {}, not to Slack; not posting there",
                url.host_str().unwrap_or("no host")
            )));
        }
        let response = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| transport_failure(e).into_error("response_url"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(Error::SlackRejected(format!(
            "Slack's response_url answered HTTP {} {}",
            status.as_u16(),
            body.chars().take(200).collect::<String>()
        )))
    }
}

/// `response_url`s are Slack's (`hooks.slack.com`, or the configured API's
/// host for GovSlack and the local stack): a payload could name any URL.
fn is_slack_host(url: &Url, api: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let slack = matches!(url.scheme(), "https")
        && (host == "hooks.slack.com" || host == "hooks.slack-gov.com");
    slack
        || (url.scheme() == api.scheme()
            && url.host_str() == api.host_str()
            && url.port() == api.port())
}

fn message_body(channel: &str, payload: &Value) -> Value {
    let mut body = json!({
        "channel": channel,
        "text": payload.get("text").cloned().unwrap_or(json!("")),
        "unfurl_links": false,
        "unfurl_media": false,
    });
    if let Some(blocks) = payload.get("blocks") {
        body["blocks"] = blocks.clone();
    }
    body
}

fn thread_of(answer: &Value, channel: &str, method: &str) -> Result<ThreadRef> {
    let ts = answer.get("ts").and_then(Value::as_str).ok_or_else(|| {
        Error::SlackUnavailable(format!("Slack {method} answered ok without a ts"))
    })?;
    Ok(ThreadRef {
        channel: answer
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or(channel)
            .to_string(),
        ts: ts.to_string(),
    })
}

/// Reads the bot token from a secret value: the token itself or
/// `{"bot_token": "xoxb-…"}`. Errors name the secret, never its value.
pub fn parse_bot_token(secret_name: &str, value: &str) -> Result<String> {
    let expected = format!(
        "secret '{secret_name}' must hold the Slack app's Bot User OAuth Token (xoxb-…), as plain text or as JSON {{\"bot_token\": \"xoxb-…\"}}"
    );
    let token = secret_field(value, "bot_token").map_err(|shape| {
        Error::ConfigError(match shape {
            SecretShape::InvalidJson => format!("{expected}; it holds JSON that does not parse"),
            SecretShape::MissingField => {
                format!("{expected}; its JSON has no string \"bot_token\"")
            }
        })
    })?;
    if !token.starts_with("xox") || token.chars().any(char::is_whitespace) {
        return Err(Error::ConfigError(format!(
            "{expected}; its value is not a Slack token"
        )));
    }
    Ok(token)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::ConfigError(format!(
                "cannot build the HTTP client for Slack: {}",
                e.without_url()
            ))
        })
}

/// Transport failures are transient. reqwest puts the URL in its errors: strip it.
fn transport_failure(error: reqwest::Error) -> SlackFailure {
    let error = error.without_url();
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    SlackFailure::Unavailable(format!("{what} ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftguard_core::secrets::StaticSecrets;
    use wiremock::matchers::{body_partial_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECRET: &str = "driftguard/slack-bot-token";

    fn api(server: &MockServer, secrets: StaticSecrets) -> SlackApi {
        SlackApi::new(Arc::new(secrets), SECRET, &format!("{}/api", server.uri())).unwrap()
    }

    fn payload() -> Value {
        json!({"text": "Drift in acme/prod", "blocks": [{"type": "divider"}]})
    }

    #[tokio::test]
    async fn posts_replies_and_updates_with_the_bot_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-1"))
            .and(body_partial_json(
                json!({"channel": "C1", "thread_ts": "1.000100", "text": "Drift in acme/prod"}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C1", "ts": "2.000200", "message": {"text": "x"}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.update"))
            .and(body_partial_json(
                json!({"channel": "C1", "ts": "1.000100"}),
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    json!({"ok": true, "channel": "C1", "ts": "1.000100", "text": "x"}),
                ),
            )
            .expect(1)
            .mount(&server)
            .await;
        let api = api(&server, StaticSecrets::new().with(SECRET, "xoxb-1"));
        let posted = api
            .post_message("C1", Some("1.000100"), &payload())
            .await
            .unwrap();
        assert_eq!(
            posted,
            ThreadRef {
                channel: "C1".into(),
                ts: "2.000200".into()
            }
        );
        api.update_message("C1", "1.000100", &payload())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn errors_are_named_and_rate_limits_carry_retry_after() {
        let server = MockServer::start().await;
        for (channel, answer) in [
            (
                "C-missing",
                json!({"ok": false, "error": "channel_not_found"}),
            ),
            ("C-outside", json!({"ok": false, "error": "not_in_channel"})),
        ] {
            Mock::given(method("POST"))
                .and(path("/api/chat.postMessage"))
                .and(body_partial_json(json!({"channel": channel})))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(body_partial_json(json!({"channel": "C-busy"})))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "7")
                    .set_body_json(json!({"ok": false, "error": "ratelimited"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(body_partial_json(json!({"channel": "C-down"})))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let api = api(&server, StaticSecrets::new().with(SECRET, "xoxb-1"));
        let e = api
            .post_message("C-missing", None, &payload())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::SlackRejected(m) if m.contains("channel_not_found") && m.contains("slack.channel")),
            "{e:?}"
        );
        let e = api
            .post_message("C-outside", None, &payload())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::SlackRejected(m) if m.contains("/invite")),
            "{e:?}"
        );
        let e = api
            .post_message("C-busy", None, &payload())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            Error::SlackRateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let e = api
            .post_message("C-down", None, &payload())
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }

    #[tokio::test]
    async fn a_rejected_token_is_reread_once_and_never_shown() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-old"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": false, "error": "invalid_auth"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(header("authorization", "Bearer xoxb-new"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "channel": "C1", "ts": "3.1"})),
            )
            .mount(&server)
            .await;
        let secrets = StaticSecrets::new().with(SECRET, "xoxb-old");
        secrets.rotate(SECRET, "xoxb-new");
        let rotated = api(&server, secrets);
        assert_eq!(
            rotated
                .post_message("C1", None, &payload())
                .await
                .unwrap()
                .ts,
            "3.1"
        );
        let stale = api(&server, StaticSecrets::new().with(SECRET, "xoxb-old"));
        let e = stale
            .post_message("C1", None, &payload())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::SlackRejected(m) if m.contains("invalid_auth") && m.contains(SECRET)),
            "{e:?}"
        );
        assert!(!e.to_string().contains("xoxb-old"));
    }

    #[tokio::test]
    async fn user_groups_and_response_urls() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/usergroups.users.list"))
            .and(query_param("usergroup", "S1"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "users": ["U1", "U2"]})),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/actions/T1/1/abc"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let api = api(
            &server,
            StaticSecrets::new().with(SECRET, "{\"bot_token\": \"xoxb-1\"}"),
        );
        assert_eq!(api.user_group_members("S1").await.unwrap(), ["U1", "U2"]);
        api.respond(
            &format!("{}/actions/T1/1/abc", server.uri()),
            &json!({"text": "hi"}),
        )
        .await
        .unwrap();
        let e = api
            .respond(
                "https://evil.example/actions/T1/1/abc",
                &json!({"text": "hi"}),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not to Slack"), "{e}");
    }

    #[test]
    fn bad_token_secrets_name_the_secret_not_the_value() {
        for bad in ["", "hunter2", "{\"token\": \"xoxb-1\"}", "{oops"] {
            let e = parse_bot_token(SECRET, bad).unwrap_err();
            assert!(e.to_string().contains(SECRET), "{e}");
            assert!(!bad.is_empty() && !e.to_string().contains("hunter2") || bad.is_empty());
        }
        assert_eq!(parse_bot_token(SECRET, " xoxb-1 \n").unwrap(), "xoxb-1");
    }
}
