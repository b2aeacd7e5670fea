//! Replay: what DriftGuard would have done with CloudTrail records it never saw
//! as events. Reads an EventBridge event, a bare CloudTrail record, a list of
//! either, or a CloudTrail log file as S3 stores it (`{"Records": […]}`,
//! gzip-compressed or not), and wraps bare records in the envelope
//! EventBridge gives them.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use serde_json::{Value, json};

use super::cloudtrail::{non_empty, service_name, str_field};
use super::{Evaluation, IgnoreCategory};
use crate::model::Admission;

/// What a CloudTrail record is delivered as on EventBridge, by its `eventType`.
/// Only API calls start a check; the others are read and ignored like EventBridge
/// would deliver them.
const DETAIL_TYPES: &[(&str, &str)] = &[
    ("AwsApiCall", super::CLOUDTRAIL_API_CALL),
    ("AwsConsoleSignIn", "AWS Console Sign In via CloudTrail"),
    ("AwsConsoleAction", "AWS Console Action via CloudTrail"),
    ("AwsServiceEvent", "AWS Service Event via CloudTrail"),
    ("AwsCloudTrailInsight", "AWS Insight via CloudTrail"),
];

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Most bytes read from a decompressed file: CloudTrail log files are a few MiB.
const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Events to admit, one per record, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayInput {
    /// What the file was, for people ("a CloudTrail log file with 12 records").
    pub kind: String,
    pub events: Vec<Value>,
}

/// The text of a file that may be gzip-compressed (`.json.gz` as CloudTrail
/// writes to S3), or why it cannot be read.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| {
                format!("it looks gzip-compressed but does not decompress to text ({e})")
            })?;
        Ok(text)
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            "it is neither text nor gzip-compressed (a CloudTrail log file is JSON, optionally .json.gz)"
                .to_string()
        })
    }
}

/// The events a JSON document holds, or a sentence saying what the document is
/// and what DriftGuard expects instead.
pub fn events_of(document: Value) -> Result<ReplayInput, String> {
    if let Some(records) = document.get("Records") {
        let Some(records) = records.as_array() else {
            return Err(format!(
                "it has a Records field that is {}, not a list; a CloudTrail log file holds {{\"Records\": [record, …]}}",
                kind_of(records)
            ));
        };
        return Ok(ReplayInput {
            kind: format!(
                "a CloudTrail log file with {}",
                count(records.len(), "record")
            ),
            events: records.iter().map(event_from).collect(),
        });
    }
    if is_digest(&document) {
        return Err(
            "it is a CloudTrail digest file (hashes of log files, for integrity validation), not a log file; \
             pass a log file from the same trail (the CloudTrail/ prefix, not CloudTrail-Digest/)"
                .into(),
        );
    }
    if is_event(&document) {
        return Ok(ReplayInput {
            kind: "an EventBridge event".into(),
            events: vec![document],
        });
    }
    if is_record(&document) {
        return Ok(ReplayInput {
            kind: "a CloudTrail record".into(),
            events: vec![envelope(&document)],
        });
    }
    if let Value::Array(items) = document {
        if items.is_empty() {
            return Err(
                "it is an empty list; DriftGuard expects events or CloudTrail records".into(),
            );
        }
        if !items.iter().any(|item| is_event(item) || is_record(item)) {
            return Err(
                "it is a list of neither EventBridge events (detail-type) nor CloudTrail records (eventName, eventSource)"
                    .into(),
            );
        }
        return Ok(ReplayInput {
            kind: format!("a list of {}", count(items.len(), "event or record")),
            events: items.iter().map(event_from).collect(),
        });
    }
    Err(format!(
        "it is {} that is neither an EventBridge event (no detail-type), a CloudTrail record (no eventName and eventSource) \
         nor a CloudTrail log file (no Records list)",
        kind_of(&document)
    ))
}

/// One line of a replay: the admission contract of one record, numbered from 1,
/// with the ignore category of an ignored one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayDecision {
    pub record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<IgnoreCategory>,
    #[serde(flatten)]
    pub admission: Admission,
}

impl ReplayDecision {
    pub fn new(record: usize, evaluation: Evaluation) -> Self {
        ReplayDecision {
            record,
            category: evaluation.ignore_category(),
            admission: evaluation.into_admission(),
        }
    }
}

/// Counts of a replay: admitted, and ignored by category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub admitted: usize,
    pub ignored: BTreeMap<IgnoreCategory, usize>,
}

impl ReplaySummary {
    pub fn add(&mut self, decision: &ReplayDecision) {
        match decision.category {
            Some(category) => *self.ignored.entry(category).or_default() += 1,
            None => self.admitted += 1,
        }
    }

    /// `3 admitted, 9 ignored (failed_call 4, read_only 5).`
    pub fn render(&self) -> String {
        let ignored: usize = self.ignored.values().sum();
        let by_category = if self.ignored.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = self
                .ignored
                .iter()
                .map(|(category, n)| format!("{category} {n}"))
                .collect();
            format!(" ({})", parts.join(", "))
        };
        format!(
            "{} admitted, {ignored} ignored{by_category}.",
            self.admitted
        )
    }
}

/// A list element or log-file record as an event: events as they are, anything
/// else wrapped (admission then says what is wrong with it).
fn event_from(item: &Value) -> Value {
    if is_event(item) {
        item.clone()
    } else {
        envelope(item)
    }
}

/// The EventBridge event CloudTrail would deliver for a record: `detail-type` by
/// `eventType`, `source` `aws.<service>`, account, region and time from the
/// record, no resources, the record as `detail`. The id is the record's
/// `eventID` (EventBridge makes up its own), so replays are repeatable.
pub fn envelope(record: &Value) -> Value {
    // Records before eventVersion 1.02 have no eventType: they were all API calls.
    // (AWS's own examples spell one `AwsConsoleSignin`, hence the case-blind match.)
    let event_type = str_field(record, "eventType").unwrap_or("AwsApiCall");
    let detail_type = DETAIL_TYPES
        .iter()
        .find(|(kind, _)| kind.eq_ignore_ascii_case(event_type))
        .map_or(super::CLOUDTRAIL_API_CALL, |(_, detail_type)| *detail_type);
    let source = non_empty(record, "eventSource")
        .map(|s| format!("aws.{}", service_name(s)))
        .unwrap_or_default();
    let text = |key: &str| non_empty(record, key).unwrap_or_default();
    // Old records lack recipientAccountId: the caller's account received them.
    let account = non_empty(record, "recipientAccountId")
        .or_else(|| {
            record
                .get("userIdentity")
                .and_then(|identity| non_empty(identity, "accountId"))
        })
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": non_empty(record, "eventID").map_or_else(|| made_up_id(record), str::to_string),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": text("eventTime"),
        "region": text("awsRegion"),
        "resources": [],
        "detail": record,
    })
}

/// An id for a record without `eventID` (records before eventVersion 1.02),
/// the same for the same record, shaped like the UUIDs EventBridge makes up.
fn made_up_id(record: &Value) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(record.to_string().as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn is_event(value: &Value) -> bool {
    value.get("detail-type").is_some()
}

fn is_record(value: &Value) -> bool {
    value.get("eventName").is_some() && value.get("eventSource").is_some()
}

fn is_digest(value: &Value) -> bool {
    value.get("digestStartTime").is_some() || value.get("digestSignatureAlgorithm").is_some()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record() -> Value {
        json!({
            "eventVersion": "1.09", "eventType": "AwsApiCall", "eventID": "e-1",
            "eventTime": "2024-08-01T12:23:55Z", "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress", "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333"
        })
    }

    #[test]
    fn a_bare_record_gets_the_eventbridge_envelope() {
        let input = events_of(record()).unwrap();
        assert_eq!(input.kind, "a CloudTrail record");
        let event = &input.events[0];
        assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(event["source"], "aws.ec2");
        assert_eq!(event["account"], "111122223333");
        assert_eq!(event["region"], "eu-west-1");
        assert_eq!(event["time"], "2024-08-01T12:23:55Z");
        assert_eq!(event["id"], "e-1");
        assert_eq!(event["resources"], json!([]));
        assert_eq!(event["detail"], record());
    }

    #[test]
    fn console_sign_ins_and_service_events_keep_their_detail_type() {
        let mut sign_in = record();
        sign_in["eventType"] = json!("AwsConsoleSignIn");
        sign_in["eventSource"] = json!("signin.amazonaws.com");
        let event = envelope(&sign_in);
        assert_eq!(event["detail-type"], "AWS Console Sign In via CloudTrail");
        assert_eq!(event["source"], "aws.signin");
        let mut service = record();
        service["eventType"] = json!("AwsServiceEvent");
        assert_eq!(
            envelope(&service)["detail-type"],
            "AWS Service Event via CloudTrail"
        );
    }

    #[test]
    fn records_without_event_id_or_recipient_get_them_like_eventbridge_would() {
        let old = json!({"eventVersion": "1.0", "eventName": "StartInstances", "eventSource": "ec2.amazonaws.com",
            "userIdentity": {"type": "IAMUser", "accountId": "123456789012"}});
        let event = envelope(&old);
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
        let id = event["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(envelope(&old)["id"], id, "the same record gets the same id");
        let mut sign_in = old.clone();
        sign_in["eventType"] = json!("AwsConsoleSignin");
        assert_eq!(
            envelope(&sign_in)["detail-type"],
            "AWS Console Sign In via CloudTrail"
        );
    }

    #[test]
    fn log_files_lists_and_events() {
        let log = json!({"Records": [record(), record(), 7]});
        let input = events_of(log).unwrap();
        assert_eq!(input.kind, "a CloudTrail log file with 3 records");
        assert_eq!(input.events.len(), 3);
        assert_eq!(input.events[2]["detail"], json!(7));

        let event = envelope(&record());
        let input = events_of(json!([event.clone(), record()])).unwrap();
        assert_eq!(input.events, vec![event.clone(), envelope(&record())]);
        assert_eq!(events_of(event.clone()).unwrap().events, vec![event]);
    }

    #[test]
    fn digests_and_other_json_say_what_they_are() {
        let digest = json!({"awsAccountId": "1", "digestStartTime": "x", "logFiles": []});
        assert!(events_of(digest).unwrap_err().contains("digest file"));
        assert!(
            events_of(json!({"a": 1}))
                .unwrap_err()
                .contains("an object that is neither")
        );
        assert!(events_of(json!("x")).unwrap_err().contains("a string"));
        assert!(events_of(json!([])).unwrap_err().contains("empty list"));
        assert!(events_of(json!([1, 2])).unwrap_err().contains("neither"));
        assert!(
            events_of(json!({"Records": {}}))
                .unwrap_err()
                .contains("not a list")
        );
    }

    #[test]
    fn decisions_number_records_and_the_summary_counts_categories() {
        let ignored = Evaluation::Ignore {
            category: IgnoreCategory::ReadOnly,
            reason: "read".into(),
        };
        let decision = ReplayDecision::new(2, ignored.clone());
        let line = serde_json::to_value(&decision).unwrap();
        assert_eq!(line["record"], 2);
        assert_eq!(line["category"], "read_only");
        assert_eq!(line["decision"], "ignore");
        assert_eq!(line["reason"], "read");
        let mut summary = ReplaySummary::default();
        summary.add(&decision);
        summary.add(&ReplayDecision::new(3, ignored));
        summary.add(&ReplayDecision::new(
            4,
            Evaluation::Ignore {
                category: IgnoreCategory::FailedCall,
                reason: "failed".into(),
            },
        ));
        assert_eq!(
            summary.render(),
            "0 admitted, 3 ignored (failed_call 1, read_only 2)."
        );
        assert_eq!(ReplaySummary::default().render(), "0 admitted, 0 ignored.");
    }

    #[test]
    fn gzip_is_decoded() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"{\"Records\": []}").unwrap();
        let bytes = encoder.finish().unwrap();
        assert_eq!(decode(&bytes).unwrap(), "{\"Records\": []}");
        assert_eq!(decode(b"{}").unwrap(), "{}");
        assert!(decode(&[0x1f, 0x8b, 0, 1]).unwrap_err().contains("gzip"));
        assert!(
            decode(&[0xff, 0xfe, 0])
                .unwrap_err()
                .contains("neither text")
        );
    }
}
