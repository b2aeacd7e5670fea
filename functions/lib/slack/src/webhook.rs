//! The Slack incoming-webhook [`Notifier`].
//!
//! The webhook URL is a credential (anyone holding it can post to the channel):
//! it is read from a secret, and never written to a log line or an error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use driftguard_core::error::{Error, Result};
use driftguard_core::model::CheckOutcome;
use driftguard_core::ports::{Notifier, SecretSource};
use driftguard_core::secrets::{SecretShape, secret_field};

/// Slack answers a webhook in well under a second; past this the step is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough of an error body to show Slack's error code and message.
const MAX_BODY_IN_ERROR: usize = 300;

/// Posts Block Kit payloads to a Slack incoming webhook.
pub struct SlackWebhook {
    secrets: Arc<dyn SecretSource>,
    secret_name: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the secret's name: its value is the credential.
        f.debug_struct("SlackWebhook")
            .field("secret_name", &self.secret_name)
            .finish_non_exhaustive()
    }
}

impl SlackWebhook {
    /// `secret_name` holds the webhook URL, or JSON `{"webhook_url": "..."}`.
    pub fn new(secrets: Arc<dyn SecretSource>, secret_name: impl Into<String>) -> Result<Self> {
        Ok(SlackWebhook {
            secrets,
            secret_name: secret_name.into(),
            http: http_client(REQUEST_TIMEOUT)?,
        })
    }

    /// The same notifier with another request timeout (tests, slow networks).
    pub fn with_timeout(self, timeout: Duration) -> Result<Self> {
        Ok(SlackWebhook {
            http: http_client(timeout)?,
            ..self
        })
    }

    async fn webhook_url(&self) -> Result<Url> {
        let value = self.secrets.secret(&self.secret_name).await?;
        parse_webhook_secret(&self.secret_name, &value)
    }

    async fn send(&self, url: &Url, payload: &Value) -> Result<()> {
        let response = self
            .http
            .post(url.clone())
            .json(payload)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(status = status.as_u16(), "Slack accepted the message");
            return Ok(());
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            tracing::warn!(?retry_after, "Slack rate limit reached");
            return Err(Error::SlackRateLimited { retry_after });
        }
        // The body is Slack's error code (`no_service`, `invalid_payload`…); unreadable is fine.
        let body = response.text().await.unwrap_or_default();
        let body = body_excerpt(&body);
        tracing::warn!(status = status.as_u16(), body = %body, "Slack refused the message");
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Err(Error::SlackUnavailable(format!(
                "HTTP {} {body}",
                status.as_u16()
            )));
        }
        Err(Error::SlackRejected(describe_rejection(
            status,
            &body,
            &self.secret_name,
        )))
    }
}

impl SlackWebhook {
    /// Posts one Block Kit payload.
    pub async fn post(&self, payload: &Value) -> Result<()> {
        let url = self.webhook_url().await?;
        match self.send(&url, payload).await {
            Err(Error::SlackRejected(reason)) => {
                // The cached URL may be stale after the webhook was replaced: re-read
                // the secret once, and try again only if it now holds another URL.
                let fresh = self.secrets.refresh(&self.secret_name).await?;
                let fresh = parse_webhook_secret(&self.secret_name, &fresh)?;
                if fresh == url {
                    return Err(Error::SlackRejected(reason));
                }
                tracing::info!("the Slack webhook secret changed; posting with the new webhook");
                self.send(&fresh, payload).await
            }
            other => other,
        }
    }
}

#[async_trait]
impl Notifier for SlackWebhook {
    async fn notify(&self, outcome: &CheckOutcome, execution_url: &str) -> Result<()> {
        self.post(&crate::build_message(outcome, execution_url))
            .await
    }
}

/// Reads the webhook URL from a secret value: the URL itself or
/// `{"webhook_url": "..."}`. Errors name the secret, never its value.
pub fn parse_webhook_secret(secret_name: &str, value: &str) -> Result<Url> {
    let expected = format!(
        "secret '{secret_name}' must hold a Slack incoming-webhook URL \
         (https://hooks.slack.com/services/...), either as the plain URL or as JSON {{\"webhook_url\": \"https://...\"}}"
    );
    let candidate = secret_field(value, "webhook_url").map_err(|shape| {
        Error::ConfigError(match shape {
            SecretShape::InvalidJson => format!("{expected}; it holds JSON that does not parse"),
            SecretShape::MissingField => {
                format!("{expected}; its JSON has no string \"webhook_url\"")
            }
        })
    })?;
    match Url::parse(&candidate) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(url),
        _ => Err(Error::ConfigError(format!(
            "{expected}; its value is not an http(s) URL"
        ))),
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        // A webhook never redirects; following one could hand the message to another host.
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
fn transport_error(error: reqwest::Error) -> Error {
    let error = error.without_url();
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    tracing::warn!(error = %error, "Slack webhook request failed");
    Error::SlackUnavailable(format!("{what} ({error})"))
}

fn body_excerpt(body: &str) -> String {
    let body = body.trim();
    if body.chars().count() <= MAX_BODY_IN_ERROR {
        body.to_string()
    } else {
        let mut cut: String = body.chars().take(MAX_BODY_IN_ERROR).collect();
        cut.push('…');
        cut
    }
}

/// Slack's error code plus what it means for the person fixing it.
fn describe_rejection(status: StatusCode, body: &str, secret_name: &str) -> String {
    let code = body.split_whitespace().next().unwrap_or_default();
    let meaning = match code {
        "no_service" => format!(
            "the webhook was revoked or disabled; create a new incoming webhook and store its URL in secret '{secret_name}'"
        ),
        "invalid_token" | "no_team" | "team_disabled" => format!(
            "the webhook URL is not valid for any Slack workspace; store a current webhook URL in secret '{secret_name}'"
        ),
        "channel_not_found" => "the webhook's channel no longer exists; create a webhook for an existing channel".into(),
        "channel_is_archived" => "the webhook's channel is archived; unarchive it or create a webhook for another channel".into(),
        "action_prohibited" => "a Slack workspace admin restricts posting with this webhook".into(),
        "user_not_found" => "the user the message was addressed to does not exist".into(),
        "invalid_payload" | "no_text" | "invalid_blocks" | "invalid_blocks_format" | "too_many_attachments" => {
            "Slack refused the message content; this is a DriftGuard bug, please report it with the execution id".into()
        }
        "" => "Slack gave no reason".into(),
        _ => "see Slack's incoming-webhook documentation for this error".into(),
    };
    if body.is_empty() {
        format!("HTTP {}: {meaning}", status.as_u16())
    } else {
        format!("HTTP {} {body}: {meaning}", status.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use serde_json::json;
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECRET: &str = "driftguard/slack-webhook";
    const HOOK_PATH: &str = "/services/T000/B000/SECRETTOKEN";

    /// Secrets in memory; `refresh` returns the rotated value when one is set.
    #[derive(Default)]
    struct TestSecrets {
        values: Mutex<HashMap<String, String>>,
        rotated: Mutex<HashMap<String, String>>,
    }

    impl TestSecrets {
        fn with(name: &str, value: &str) -> Arc<Self> {
            let secrets = TestSecrets::default();
            secrets
                .values
                .lock()
                .unwrap()
                .insert(name.into(), value.into());
            Arc::new(secrets)
        }
    }

    #[async_trait]
    impl SecretSource for TestSecrets {
        async fn secret(&self, name: &str) -> Result<String> {
            self.values
                .lock()
                .unwrap()
                .get(name)
                .cloned()
                .ok_or_else(|| Error::ConfigError(format!("no secret {name}")))
        }

        async fn refresh(&self, name: &str) -> Result<String> {
            if let Some(rotated) = self.rotated.lock().unwrap().remove(name) {
                self.values.lock().unwrap().insert(name.into(), rotated);
            }
            self.secret(name).await
        }
    }

    fn payload() -> Value {
        json!({"text": "Drift detected in acme/prod", "blocks": [{"type": "divider"}]})
    }

    async fn webhook_answering(template: ResponseTemplate) -> (MockServer, SlackWebhook) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(template)
            .mount(&server)
            .await;
        let url = format!("{}{HOOK_PATH}", server.uri());
        let webhook = SlackWebhook::new(TestSecrets::with(SECRET, &url), SECRET).unwrap();
        (server, webhook)
    }

    #[tokio::test]
    async fn posts_the_payload_as_json() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .and(body_partial_json(payload()))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("{}{HOOK_PATH}", server.uri());
        let webhook =
            SlackWebhook::new(TestSecrets::with(SECRET, &format!("  {url}\n")), SECRET).unwrap();

        webhook.post(&payload()).await.unwrap();
    }

    #[tokio::test]
    async fn reads_the_url_from_a_json_secret() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let secret = json!({"webhook_url": format!("{}{HOOK_PATH}", server.uri())}).to_string();
        let webhook = SlackWebhook::new(TestSecrets::with(SECRET, &secret), SECRET).unwrap();

        webhook.post(&payload()).await.unwrap();
    }

    #[tokio::test]
    async fn rate_limit_reports_retry_after() {
        let (_server, webhook) = webhook_answering(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_string("rate_limited"),
        )
        .await;
        let error = webhook.post(&payload()).await.unwrap_err();
        assert_eq!(
            error,
            Error::SlackRateLimited {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(error.error_type(), "SlackRateLimited");
    }

    #[tokio::test]
    async fn server_error_is_unavailable() {
        let (_server, webhook) =
            webhook_answering(ResponseTemplate::new(500).set_body_string("rollup_error")).await;
        let error = webhook.post(&payload()).await.unwrap_err();
        assert_eq!(
            error,
            Error::SlackUnavailable("HTTP 500 rollup_error".into())
        );
        assert!(error.is_transient());
    }

    #[tokio::test]
    async fn revoked_webhook_is_rejected_with_slacks_reason_and_no_url() {
        let (server, webhook) =
            webhook_answering(ResponseTemplate::new(404).set_body_string("no_service")).await;
        let error = webhook.post(&payload()).await.unwrap_err();
        let Error::SlackRejected(reason) = &error else {
            panic!("expected SlackRejected, got {error:?}")
        };
        assert!(
            reason.starts_with("HTTP 404 no_service: the webhook was revoked"),
            "{reason}"
        );
        assert!(reason.contains(SECRET));
        let shown = error.to_string();
        assert!(
            !shown.contains("SECRETTOKEN") && !shown.contains(&server.uri()),
            "{shown}"
        );
        assert!(!format!("{webhook:?}").contains("SECRETTOKEN"));
    }

    #[tokio::test]
    async fn archived_channel_is_rejected() {
        let (_server, webhook) =
            webhook_answering(ResponseTemplate::new(410).set_body_string("channel_is_archived"))
                .await;
        let error = webhook.post(&payload()).await.unwrap_err();
        assert!(
            matches!(&error, Error::SlackRejected(r) if r.contains("channel is archived")),
            "{error:?}"
        );
        assert!(!error.is_transient());
    }

    #[tokio::test]
    async fn a_rotated_secret_is_reread_after_a_rejection() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/services/T000/B000/NEWTOKEN"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let secrets = TestSecrets::with(SECRET, &format!("{}{HOOK_PATH}", server.uri()));
        secrets.rotated.lock().unwrap().insert(
            SECRET.into(),
            format!("{}/services/T000/B000/NEWTOKEN", server.uri()),
        );
        let webhook = SlackWebhook::new(secrets, SECRET).unwrap();

        webhook.post(&payload()).await.unwrap();
    }

    #[tokio::test]
    async fn timeouts_and_refused_connections_are_unavailable() {
        let (_server, webhook) = webhook_answering(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_secs(3)),
        )
        .await;
        let webhook = webhook.with_timeout(Duration::from_millis(200)).unwrap();
        let error = webhook.post(&payload()).await.unwrap_err();
        assert!(
            matches!(&error, Error::SlackUnavailable(m) if m.starts_with("no answer in time")),
            "{error:?}"
        );
        assert!(!error.to_string().contains("SECRETTOKEN"));

        // Port 1 on localhost: nothing listens there.
        let refused = SlackWebhook::new(
            TestSecrets::with(SECRET, "http://127.0.0.1:1/services/T/B/SECRETTOKEN"),
            SECRET,
        )
        .unwrap();
        let error = refused.post(&payload()).await.unwrap_err();
        assert!(matches!(&error, Error::SlackUnavailable(_)), "{error:?}");
        assert!(!error.to_string().contains("SECRETTOKEN"), "{error}");
    }

    #[test]
    fn bad_secrets_are_config_errors_naming_the_secret_and_shape() {
        for bad in [
            "",
            "hooks.slack.com/services/x",
            "ftp://hooks.slack.com/x",
            "{\"url\": \"https://x\"}",
            "{not json",
        ] {
            let error = parse_webhook_secret(SECRET, bad).unwrap_err();
            let Error::ConfigError(message) = &error else {
                panic!("expected ConfigError for {bad:?}")
            };
            assert!(
                message.contains("secret 'driftguard/slack-webhook'"),
                "{message}"
            );
            assert!(
                message.contains("{\"webhook_url\": \"https://...\"}"),
                "{message}"
            );
        }
        let url = parse_webhook_secret(
            SECRET,
            "{\"webhook_url\": \" https://hooks.slack.com/services/T/B/X \"}",
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://hooks.slack.com/services/T/B/X");
    }

    #[tokio::test]
    async fn a_bad_secret_fails_the_post_without_a_request() {
        let webhook =
            SlackWebhook::new(TestSecrets::with(SECRET, "not-a-url-SECRETTOKEN"), SECRET).unwrap();
        let error = webhook.post(&payload()).await.unwrap_err();
        assert_eq!(error.error_type(), "ConfigError");
        assert!(!error.to_string().contains("SECRETTOKEN"));
    }
}
