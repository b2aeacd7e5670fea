//! JSON:API documents of the HCP Terraform API: the request bodies DriftGuard
//! sends and the parts of the responses it reads. Field names follow the API
//! documents (kebab-case attributes, `relationships.<name>.data.id`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use driftguard_core::error::{Error, Result};
use driftguard_core::ports::{RunSpec, TfcRun, TfcWorkspace};

/// Media type of every JSON:API request and response.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

#[derive(Debug, Deserialize)]
struct Document<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
struct Resource<A> {
    id: String,
    attributes: A,
    #[serde(default)]
    relationships: BTreeMap<String, Relationship>,
}

/// `data` is an object for to-one relationships, an array or absent otherwise.
#[derive(Debug, Default, Deserialize)]
struct Relationship {
    #[serde(default)]
    data: Option<Value>,
}

fn related_id<A>(resource: &Resource<A>, name: &str) -> Option<String> {
    let data = resource.relationships.get(name)?.data.as_ref()?;
    data.get("id")?.as_str().map(str::to_string)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WorkspaceAttributes {
    name: String,
    #[serde(default)]
    execution_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RunActions {
    #[serde(default)]
    is_cancelable: bool,
    #[serde(default)]
    is_confirmable: bool,
    #[serde(default)]
    is_discardable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RunAttributes {
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    has_changes: Option<bool>,
    #[serde(default)]
    plan_only: Option<bool>,
    #[serde(default)]
    target_addrs: Option<Vec<String>>,
    #[serde(default)]
    actions: Option<RunActions>,
    #[serde(default)]
    status_timestamps: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    position_in_queue: Option<u32>,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::TfcProtocol(format!(
            "{what} is not the JSON:API document the API documents describe: {e}"
        ))
    })
}

/// `GET /organizations/:org/workspaces/:name` → workspace.
pub fn parse_workspace(body: &[u8], organization: &str) -> Result<TfcWorkspace> {
    let doc: Document<Resource<WorkspaceAttributes>> = decode(body, "the workspace response")?;
    let organization =
        related_id(&doc.data, "organization").unwrap_or_else(|| organization.to_string());
    let current_configuration_version_id = related_id(&doc.data, "current-configuration-version");
    Ok(TfcWorkspace {
        id: doc.data.id,
        name: doc.data.attributes.name,
        organization,
        execution_mode: doc.data.attributes.execution_mode,
        current_configuration_version_id,
    })
}

#[derive(Debug, Deserialize)]
struct Identified {
    id: String,
}

/// `GET /account/details` → the id of the user the token acts as (for team
/// and organization tokens, their synthetic service user).
pub fn parse_account_id(body: &[u8]) -> Result<String> {
    let doc: Document<Identified> = decode(body, "the account details response")?;
    Ok(doc.data.id)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PlanAttributes {
    #[serde(default)]
    log_read_url: Option<String>,
}

/// `GET /plans/:id` → its log's download URL (signed: never log it).
pub fn parse_plan_log_url(body: &[u8]) -> Result<Option<String>> {
    let doc: Document<Resource<PlanAttributes>> = decode(body, "the plan response")?;
    Ok(doc.data.attributes.log_read_url.filter(|u| !u.is_empty()))
}

/// `GET /runs/:id` and `POST /runs` → run.
pub fn parse_run(body: &[u8]) -> Result<TfcRun> {
    let doc: Document<Resource<RunAttributes>> = decode(body, "the run response")?;
    run_from_resource(doc.data)
}

/// `GET /workspaces/:id/runs` → runs, in the API's order (newest first).
pub fn parse_run_list(body: &[u8]) -> Result<Vec<TfcRun>> {
    let doc: Document<Vec<Resource<RunAttributes>>> = decode(body, "the run list response")?;
    doc.data.into_iter().map(run_from_resource).collect()
}

fn run_from_resource(resource: Resource<RunAttributes>) -> Result<TfcRun> {
    let plan_id = related_id(&resource, "plan");
    let workspace_id = related_id(&resource, "workspace");
    let created_by = related_id(&resource, "created-by");
    let configuration_version_id = related_id(&resource, "configuration-version");
    let attributes = resource.attributes;
    let created_at = attributes
        .created_at
        .filter(|t| !t.is_empty())
        .or_else(|| earliest_timestamp(attributes.status_timestamps.as_ref()))
        .ok_or_else(|| {
            Error::TfcProtocol(format!(
                "run {} has neither created-at nor status-timestamps, so its age is unknown",
                resource.id
            ))
        })?;
    let actions = attributes.actions.unwrap_or_default();
    let status_changed_at = attributes
        .status_timestamps
        .as_ref()
        .and_then(|t| t.get(&format!("{}-at", attributes.status.replace('_', "-"))))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(TfcRun {
        id: resource.id,
        status: attributes.status,
        message: attributes.message.unwrap_or_default(),
        created_at,
        has_changes: attributes.has_changes,
        plan_only: attributes.plan_only.unwrap_or(false),
        plan_id,
        workspace_id,
        target_addrs: attributes.target_addrs.unwrap_or_default(),
        is_confirmable: actions.is_confirmable,
        is_discardable: actions.is_discardable,
        is_cancelable: actions.is_cancelable,
        position_in_queue: attributes.position_in_queue,
        status_changed_at,
        created_by,
        configuration_version_id,
    })
}

/// The earliest of the run's status timestamps (`plan-queueable-at` for a new run).
fn earliest_timestamp(timestamps: Option<&BTreeMap<String, Value>>) -> Option<String> {
    timestamps?
        .values()
        .filter_map(Value::as_str)
        .filter_map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|parsed| (parsed, t))
        })
        .min_by_key(|(parsed, _)| *parsed)
        .map(|(_, t)| t.to_string())
}

/// `POST /runs` payload. `auto-apply` is always false: DriftGuard applies a
/// remediation run itself, only after its safety check.
pub fn create_run_body(workspace_id: &str, spec: &RunSpec) -> Value {
    let mut attributes = json!({
        "message": spec.message,
        "plan-only": spec.plan_only,
        "auto-apply": false,
    });
    if !spec.target_addrs.is_empty() {
        attributes["target-addrs"] = json!(spec.target_addrs);
    }
    json!({
        "data": {
            "type": "runs",
            "attributes": attributes,
            "relationships": {
                "workspace": { "data": { "type": "workspaces", "id": workspace_id } }
            }
        }
    })
}

/// Payload of the run actions (apply, discard, cancel).
pub fn action_body(comment: &str) -> Value {
    json!({ "comment": comment })
}

/// The JSON:API error objects of an error response, as "title: detail" lines.
/// Also accepts the older `{"errors": ["text"]}` form; falls back to the raw text.
pub fn error_summary(body: &[u8]) -> String {
    let parsed: Option<Vec<Value>> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|doc| doc.get("errors").and_then(Value::as_array).cloned());
    match parsed {
        Some(errors) if !errors.is_empty() => errors
            .iter()
            .map(describe_error)
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no error details in the response".to_string()
            } else {
                text.chars().take(300).collect()
            }
        }
    }
}

fn describe_error(error: &Value) -> String {
    if let Some(text) = error.as_str() {
        return text.to_string();
    }
    let field = |name: &str| {
        error
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (field("title"), field("detail")) {
        (Some(title), Some(detail)) => format!("{title}: {detail}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => error.to_string(),
    }
}

/// Whether a 422 says the workspace has no configuration version to plan.
pub fn is_configuration_missing(body: &[u8]) -> bool {
    error_summary(body)
        .to_ascii_lowercase()
        .contains("configuration version is missing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_follows_the_runs_api() {
        let spec = RunSpec {
            message: "DriftGuard [dg:exec-1]".into(),
            plan_only: false,
            target_addrs: vec!["aws_s3_bucket.logs".into()],
        };
        assert_eq!(
            create_run_body("ws-1", &spec),
            json!({"data": {"type": "runs",
                "attributes": {"message": "DriftGuard [dg:exec-1]", "plan-only": false, "auto-apply": false,
                               "target-addrs": ["aws_s3_bucket.logs"]},
                "relationships": {"workspace": {"data": {"type": "workspaces", "id": "ws-1"}}}}})
        );
    }

    #[test]
    fn plan_only_body_has_no_targets() {
        let spec = RunSpec {
            message: "m".into(),
            plan_only: true,
            target_addrs: vec![],
        };
        let body = create_run_body("ws-1", &spec);
        assert_eq!(body["data"]["attributes"]["plan-only"], json!(true));
        assert!(body["data"]["attributes"].get("target-addrs").is_none());
    }

    #[test]
    fn created_at_falls_back_to_the_earliest_status_timestamp() {
        let body = json!({"data": {"id": "run-1", "type": "runs", "attributes": {
            "status": "planning",
            "status-timestamps": {"planning-at": "2021-05-24T07:38:09+00:00", "plan-queueable-at": "2021-05-24T07:38:04+00:00"}
        }}});
        let run = parse_run(body.to_string().as_bytes()).unwrap();
        assert_eq!(run.created_at, "2021-05-24T07:38:04+00:00");
        assert!(!run.plan_only);
        assert_eq!(run.plan_id, None);
    }

    #[test]
    fn the_current_status_time_comes_from_the_status_timestamps() {
        let body = json!({"data": {"id": "run-1", "type": "runs", "attributes": {
            "status": "planned_and_finished",
            "created-at": "2021-05-24T07:38:04.000Z",
            "status-timestamps": {
                "plan-queueable-at": "2021-05-24T07:38:04+00:00",
                "planning-at": "2021-05-24T07:38:09+00:00",
                "planned-and-finished-at": "2021-05-24T07:40:06+00:00"
            }
        }}});
        let run = parse_run(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            run.status_changed_at.as_deref(),
            Some("2021-05-24T07:40:06+00:00")
        );
        let body = json!({"data": {"id": "run-1", "type": "runs", "attributes": {
            "status": "pending", "created-at": "2021-05-24T07:38:04.000Z"
        }}});
        assert_eq!(
            parse_run(body.to_string().as_bytes())
                .unwrap()
                .status_changed_at,
            None
        );
    }

    #[test]
    fn who_created_a_run_and_its_configuration_version_are_read() {
        let body = json!({"data": {"id": "run-1", "type": "runs",
        "attributes": {"status": "planned", "created-at": "2021-05-24T07:38:04.000Z"},
        "relationships": {
            "created-by": {"data": {"id": "user-V3R563qtJNcExAkN", "type": "users"},
                           "links": {"related": "/api/v2/runs/run-1/created-by"}},
            "configuration-version": {"data": {"id": "cv-ntv3HbhJqvFzamy7", "type": "configuration-versions"}}
        }}});
        let run = parse_run(body.to_string().as_bytes()).unwrap();
        assert_eq!(run.created_by.as_deref(), Some("user-V3R563qtJNcExAkN"));
        assert_eq!(
            run.configuration_version_id.as_deref(),
            Some("cv-ntv3HbhJqvFzamy7")
        );
        let body = json!({"data": {"id": "ws-1", "type": "workspaces",
        "attributes": {"name": "prod"},
        "relationships": {
            "current-configuration-version": {"data": {"id": "cv-ntv3HbhJqvFzamy7", "type": "configuration-versions"},
                "links": {"related": "/api/v2/configuration-versions/cv-ntv3HbhJqvFzamy7"}}
        }}});
        let workspace = parse_workspace(body.to_string().as_bytes(), "acme").unwrap();
        assert_eq!(
            workspace.current_configuration_version_id.as_deref(),
            Some("cv-ntv3HbhJqvFzamy7")
        );
        let body = json!({"data": {"id": "ws-1", "type": "workspaces", "attributes": {"name": "prod"},
            "relationships": {"current-configuration-version": {"data": null}}}});
        let workspace = parse_workspace(body.to_string().as_bytes(), "acme").unwrap();
        assert_eq!(workspace.current_configuration_version_id, None);
    }

    #[test]
    fn run_without_any_time_is_a_protocol_error() {
        let body =
            json!({"data": {"id": "run-1", "type": "runs", "attributes": {"status": "pending"}}});
        let err = parse_run(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.error_type(), "TfcProtocol");
    }

    #[test]
    fn error_summary_reads_both_error_forms() {
        let objects = br#"{"errors":[{"status":"422","title":"invalid attribute","detail":"Configuration version is missing"}]}"#;
        assert_eq!(
            error_summary(objects),
            "invalid attribute: Configuration version is missing"
        );
        assert!(is_configuration_missing(objects));
        assert_eq!(error_summary(br#"{"errors":["not found"]}"#), "not found");
        assert_eq!(
            error_summary(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert!(!is_configuration_missing(
            br#"{"errors":[{"title":"invalid attribute","detail":"Message is too long"}]}"#
        ));
    }
}
