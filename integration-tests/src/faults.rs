//! Faults the gateway injects into AWS API calls, so the end-to-end scenarios
//! can show what happens when a write fails halfway, a service refuses a call
//! or answers late: "fail the Nth call of an operation", "delay a response".
//!
//! An operation is named as AWS names it on the wire: the `X-Amz-Target` of
//! JSON-protocol services (`DynamoDB_20120810.TransactWriteItems`), or
//! `<signing service>:<Action>` for query-protocol ones (`sns:Publish`).

use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;

/// What happens to a call a fault matches.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The service answers this error instead of doing the call.
    Error { status: u16, code: String },
    /// The call is forwarded after this delay.
    Delay(Duration),
}

impl FaultKind {
    /// An internal error of the service (retried by the SDKs).
    pub fn server_error() -> Self {
        FaultKind::Error {
            status: 500,
            code: "InternalServerError".into(),
        }
    }
}

/// One armed fault: the calls of `operation` (whose body contains every text
/// of `body_contains`) numbered `skip + 1 ..= skip + times` get `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub body_contains: Vec<String>,
    pub skip: usize,
    pub times: usize,
    pub kind: FaultKind,
}

impl Fault {
    /// The next `times` calls of `operation` get `kind`.
    pub fn next(operation: &str, times: usize, kind: FaultKind) -> Self {
        Fault {
            operation: operation.into(),
            body_contains: Vec::new(),
            skip: 0,
            times,
            kind,
        }
    }

    /// Only calls whose body contains `text` (and any other text named) count.
    pub fn when_body_contains(mut self, text: &str) -> Self {
        self.body_contains.push(text.into());
        self
    }
}

#[derive(Debug)]
struct Armed {
    fault: Fault,
    seen: usize,
    fired: usize,
}

/// The armed faults of one gateway.
#[derive(Debug, Default)]
pub struct Faults {
    armed: Mutex<Vec<Armed>>,
}

impl Faults {
    pub fn arm(&self, fault: Fault) {
        self.lock().push(Armed {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// How often the faults of `operation` fired.
    pub fn fired(&self, operation: &str) -> usize {
        self.lock()
            .iter()
            .filter(|a| a.fault.operation == operation)
            .map(|a| a.fired)
            .sum()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// What to do with this call: the first armed fault that matches it and
    /// has calls left.
    pub fn apply(&self, operation: &str, body: &[u8]) -> Option<FaultKind> {
        let mut armed = self.lock();
        for a in armed.iter_mut() {
            if a.fault.operation != operation
                || a.fault
                    .body_contains
                    .iter()
                    .any(|text| !contains(body, text.as_bytes()))
            {
                continue;
            }
            a.seen += 1;
            if a.seen > a.fault.skip && a.fired < a.fault.times {
                a.fired += 1;
                return Some(a.fault.kind.clone());
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The operation a request calls, as [`Fault::operation`] names it.
pub fn operation_of(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return Some(target.to_string());
    }
    let action = std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))?;
    let service = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown");
    Some(format!("{service}:{action}"))
}

/// The error answer of a JSON-protocol or query-protocol service.
pub fn error_response(headers: &HeaderMap, status: u16, code: &str) -> (u16, &'static str, String) {
    let message = "injected by the local stack's gateway (fault scenario)";
    if headers.contains_key("x-amz-target") {
        (
            status,
            "application/x-amz-json-1.0",
            serde_json::json!({"__type": code, "message": message}).to_string(),
        )
    } else {
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        (
            status,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers(target: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", target.parse().unwrap());
        h
    }

    #[test]
    fn names_json_and_query_operations() {
        assert_eq!(
            operation_of(&json_headers("DynamoDB_20120810.PutItem"), b"{}").as_deref(),
            Some("DynamoDB_20120810.PutItem")
        );
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            operation_of(&h, b"Action=Publish&TopicArn=x").as_deref(),
            Some("sns:Publish")
        );
        assert_eq!(operation_of(&HeaderMap::new(), b"{}"), None);
    }

    #[test]
    fn fires_on_the_chosen_calls_only() {
        let faults = Faults::default();
        faults.arm(Fault {
            skip: 1,
            ..Fault::next("Op", 2, FaultKind::server_error()).when_body_contains("LATEST")
        });
        assert_eq!(faults.apply("Op", b"other"), None, "body does not match");
        assert_eq!(faults.apply("Op", b"LATEST"), None, "the first is skipped");
        assert!(faults.apply("Op", b"LATEST").is_some());
        assert!(faults.apply("Other", b"LATEST").is_none());
        assert!(faults.apply("Op", b"LATEST").is_some());
        assert_eq!(faults.apply("Op", b"LATEST"), None, "only twice");
        assert_eq!(faults.fired("Op"), 2);
    }
}
