//! The Lambda function URL event (payload format 2.0) and response, reduced
//! to what the receiver reads: method, headers, raw body.

use std::collections::BTreeMap;

use base64::Engine;
use driftguard_slack::request_url::{CallbackRequest, CallbackResponse};
use serde::{Deserialize, Serialize};

/// A function URL request event (`version` 2.0).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlEvent {
    /// Header names in lower case; repeated headers joined with commas.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    pub request_context: RequestContext,
}

#[derive(Debug, Deserialize)]
pub struct RequestContext {
    pub http: Http,
}

#[derive(Debug, Deserialize)]
pub struct Http {
    pub method: String,
}

/// What the function answers; Lambda turns it into the HTTP response.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

impl FunctionUrlEvent {
    /// The request with its body as Slack sent it (bytes, before any parsing).
    pub fn into_request(self) -> Result<CallbackRequest, String> {
        let raw = self.body.unwrap_or_default();
        let body = if self.is_base64_encoded {
            base64::engine::general_purpose::STANDARD
                .decode(raw.as_bytes())
                .map_err(|e| format!("the body is marked base64 but does not decode: {e}"))?
        } else {
            raw.into_bytes()
        };
        Ok(CallbackRequest {
            method: self.request_context.http.method,
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        })
    }
}

impl From<CallbackResponse> for FunctionUrlResponse {
    fn from(response: CallbackResponse) -> Self {
        FunctionUrlResponse {
            status_code: response.status,
            headers: BTreeMap::from([("content-type".to_string(), "application/json".to_string())]),
            body: response.body.to_string(),
            is_base64_encoded: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_base64_form_post() {
        let event: FunctionUrlEvent = serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": {"content-type": "application/x-www-form-urlencoded", "x-slack-signature": "v0=ab"},
            "requestContext": {"http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.1", "userAgent": "Slackbot 1.0"}, "timeEpoch": 1},
            "body": "cGF5bG9hZD0lN0IlN0Q=",
            "isBase64Encoded": true
        }))
        .unwrap();
        let request = event.into_request().unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.body, b"payload=%7B%7D");
        assert_eq!(request.headers["x-slack-signature"], "v0=ab");
    }

    #[test]
    fn a_warm_up_or_other_event_is_not_a_function_url_event() {
        assert!(
            serde_json::from_value::<FunctionUrlEvent>(json!({"local_stack_warm_up": true}))
                .is_err()
        );
    }
}
