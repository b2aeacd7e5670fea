//! Tests of the HTTP client against wiremock, with response bodies shaped like
//! the samples of the HCP Terraform API documents.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;

const TOKEN: &str = "tok-original";
const SECRET: &str = "driftguard/tfc-token";

/// A secret whose value changes to `rotated` when refreshed (a rotated token).
struct TestSecrets {
    current: Mutex<String>,
    rotated: Option<String>,
    refreshes: AtomicUsize,
}

impl TestSecrets {
    fn new(value: &str, rotated: Option<&str>) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(value.to_string()),
            rotated: rotated.map(str::to_string),
            refreshes: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl SecretSource for TestSecrets {
    async fn secret(&self, _name: &str) -> Result<String> {
        Ok(self.current.lock().unwrap().clone())
    }

    async fn refresh(&self, _name: &str) -> Result<String> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let mut current = self.current.lock().unwrap();
        if let Some(rotated) = &self.rotated {
            *current = rotated.clone();
        }
        Ok(current.clone())
    }
}

fn client_for(server: &MockServer) -> HttpTerraformCloud {
    HttpTerraformCloud::new(&server.uri(), TestSecrets::new(TOKEN, None), SECRET).unwrap()
}

fn check() -> CheckRef {
    CheckRef {
        organization: "my-organization".into(),
        workspace: "workspace-1".into(),
    }
}

fn jsonapi_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), MEDIA_TYPE)
}

/// "Show workspace" sample response.
fn workspace_document() -> Value {
    json!({
      "data": {
        "id": "ws-SihZTyXKfNXUWuUa",
        "type": "workspaces",
        "attributes": {
          "actions": {"is-destroyable": true},
          "allow-destroy-plan": true,
          "auto-apply": false,
          "created-at": "2021-08-16T19:44:45.241Z",
          "environment": "default",
          "execution-mode": "remote",
          "locked": false,
          "name": "workspace-1",
          "operations": true,
          "queue-all-runs": false,
          "resource-count": 0,
          "speculative-enabled": true,
          "terraform-version": "1.11.0",
          "working-directory": ""
        },
        "relationships": {
          "organization": {"data": {"id": "my-organization", "type": "organizations"}},
          "current-configuration-version": {
            "data": {"id": "cv-EpThx8RZdxt8a2mK", "type": "configuration-versions"},
            "links": {"related": "/api/v2/configuration-versions/cv-EpThx8RZdxt8a2mK"}
          },
          "current-state-version": {"data": null},
          "outputs": {"data": []}
        },
        "links": {"self": "/api/v2/organizations/my-organization/workspaces/workspace-1"}
      }
    })
}

/// A run resource as "Get run details" shows it, with the relationships filled in.
fn run_resource(id: &str, status: &str, message: &str, plan_only: bool) -> Value {
    json!({
      "id": id,
      "type": "runs",
      "attributes": {
        "actions": {
          "is-cancelable": true,
          "is-confirmable": false,
          "is-discardable": false,
          "is-force-cancelable": false
        },
        "canceled-at": null,
        "created-at": "2021-05-24T07:38:04.171Z",
        "has-changes": false,
        "auto-apply": false,
        "allow-empty-apply": false,
        "is-destroy": false,
        "message": message,
        "plan-only": plan_only,
        "source": "tfe-api",
        "status-timestamps": {"plan-queueable-at": "2021-05-24T07:38:04+00:00"},
        "status": status,
        "trigger-reason": "manual",
        "target-addrs": null,
        "permissions": {"can-apply": true, "can-cancel": true, "can-comment": true, "can-discard": true},
        "refresh": false,
        "refresh-only": false,
        "replace-addrs": null,
        "variables": []
      },
      "relationships": {
        "apply": {"data": {"id": "apply-47MBvjwzBG8YKc2v", "type": "applies"}, "links": {"related": format!("/api/v2/runs/{id}/apply")}},
        "comments": {"data": [], "links": {"related": format!("/api/v2/runs/{id}/comments")}},
        "configuration-version": {"data": {"id": "cv-EpThx8RZdxt8a2mK", "type": "configuration-versions"}},
        "created-by": {"data": {"id": "user-V3R563qtJNcExAkN", "type": "users"}, "links": {"related": format!("/api/v2/runs/{id}/created-by")}},
        "plan": {"data": {"id": "plan-6fKiqHBVKzJNWsfu", "type": "plans"}, "links": {"related": format!("/api/v2/runs/{id}/plan")}},
        "policy-checks": {"data": []},
        "workspace": {"data": {"id": "ws-SihZTyXKfNXUWuUa", "type": "workspaces"}}
      },
      "links": {"self": format!("/api/v2/runs/{id}")}
    })
}

fn run_document(status: &str) -> Value {
    json!({ "data": run_resource("run-CZcmD7eagjhyX0vN", status, "DriftGuard drift check [dg:exec-1]", true) })
}

async fn mount_run(server: &MockServer, status: &str) {
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-CZcmD7eagjhyX0vN"))
        .respond_with(jsonapi_response(200, run_document(status)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn shows_a_workspace_with_token_and_media_type() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .and(header("authorization", "Bearer tok-original"))
        .and(header("accept", MEDIA_TYPE))
        .and(header("content-type", MEDIA_TYPE))
        .respond_with(jsonapi_response(200, workspace_document()))
        .expect(1)
        .mount(&server)
        .await;
    let workspace = client_for(&server).workspace(&check()).await.unwrap();
    assert_eq!(
        workspace,
        TfcWorkspace {
            id: "ws-SihZTyXKfNXUWuUa".into(),
            name: "workspace-1".into(),
            organization: "my-organization".into(),
            execution_mode: Some("remote".into()),
            current_configuration_version_id: Some("cv-EpThx8RZdxt8a2mK".into()),
        }
    );
}

#[tokio::test]
async fn missing_workspace_is_not_found_and_names_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(jsonapi_response(
            404,
            json!({"errors": [{"status": "404", "title": "not found"}]}),
        ))
        .mount(&server)
        .await;
    let err = client_for(&server).workspace(&check()).await.unwrap_err();
    assert_eq!(
        err,
        Error::TfcNotFound {
            what: "workspace 'my-organization/workspace-1'".into()
        }
    );
}

#[tokio::test]
async fn finds_the_newest_run_carrying_the_tag_on_the_first_page() {
    let server = MockServer::start().await;
    let list = json!({
      "data": [
        run_resource("run-newest00000000", "planning", "Triggered via UI", false),
        run_resource("run-tagged00000002", "planned_and_finished", "DriftGuard drift check [dg:exec-1]", true),
        run_resource("run-tagged00000001", "errored", "DriftGuard drift check [dg:exec-1]", true)
      ],
      "links": {"self": "https://app.terraform.io/api/v2/workspaces/ws-SihZTyXKfNXUWuUa/runs?page%5Bnumber%5D=1&page%5Bsize%5D=100", "next": null},
      "meta": {"pagination": {"current-page": 1, "prev-page": null, "next-page": null, "total-pages": 1, "total-count": 3}}
    });
    // Plan-only runs are only listed when filter[operation] names them; the
    // search narrows the list to messages carrying the tag.
    Mock::given(method("GET"))
        .and(path("/api/v2/workspaces/ws-SihZTyXKfNXUWuUa/runs"))
        .and(query_param(
            "filter[operation]",
            "plan_only,plan_and_apply,save_plan,refresh_only,destroy,empty_apply",
        ))
        .and(query_param("search[basic]", "[dg:exec-1]"))
        .and(query_param("page[size]", "20"))
        .and(query_param("page[number]", "1"))
        .respond_with(jsonapi_response(200, list))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/workspaces/ws-SihZTyXKfNXUWuUa/runs"))
        .and(query_param("search[basic]", "[dg:exec-2]"))
        .respond_with(jsonapi_response(
            200,
            json!({"data": [], "links": {}, "meta": {}}),
        ))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let run = client
        .find_run_by_tag("ws-SihZTyXKfNXUWuUa", "[dg:exec-1]")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.id, "run-tagged00000002");
    assert_eq!(run.status, "planned_and_finished");
    assert!(
        client
            .find_run_by_tag("ws-SihZTyXKfNXUWuUa", "[dg:exec-2]")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn creates_a_targeted_normal_run_with_the_documented_payload() {
    let server = MockServer::start().await;
    let expected_payload = json!({
      "data": {
        "type": "runs",
        "attributes": {
          "message": "DriftGuard remediation [dg:exec-1]",
          "plan-only": false,
          "auto-apply": false,
          "target-addrs": ["aws_security_group.web"]
        },
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": "ws-SihZTyXKfNXUWuUa"}}}
      }
    });
    let mut created = run_resource(
        "run-CZcmD7eagjhyX0vN",
        "pending",
        "DriftGuard remediation [dg:exec-1]",
        false,
    );
    created["attributes"]["target-addrs"] = json!(["aws_security_group.web"]);
    Mock::given(method("POST"))
        .and(path("/api/v2/runs"))
        .and(header("content-type", MEDIA_TYPE))
        .and(body_json(&expected_payload))
        .respond_with(jsonapi_response(201, json!({ "data": created })))
        .expect(1)
        .mount(&server)
        .await;
    let spec = RunSpec {
        message: "DriftGuard remediation [dg:exec-1]".into(),
        plan_only: false,
        target_addrs: vec!["aws_security_group.web".into()],
    };
    let run = client_for(&server)
        .create_run("ws-SihZTyXKfNXUWuUa", &spec)
        .await
        .unwrap();
    assert_eq!(run.id, "run-CZcmD7eagjhyX0vN");
    assert_eq!(run.status, "pending");
    assert!(!run.plan_only);
    assert_eq!(run.target_addrs, vec!["aws_security_group.web"]);
    assert_eq!(run.workspace_id.as_deref(), Some("ws-SihZTyXKfNXUWuUa"));
}

#[tokio::test]
async fn configuration_missing_names_the_workspace() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/runs"))
        .respond_with(jsonapi_response(
            422,
            json!({"errors": [{
                "status": "422",
                "title": "invalid attribute",
                "detail": "Configuration version is missing",
                "source": {"pointer": "/data/relationships/configuration-version"}
            }]}),
        ))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let workspace = client.workspace(&check()).await.unwrap();
    let spec = RunSpec {
        message: "m".into(),
        plan_only: true,
        target_addrs: vec![],
    };
    let err = client.create_run(&workspace.id, &spec).await.unwrap_err();
    assert_eq!(
        err,
        Error::TfcConfigurationMissing {
            workspace: "my-organization/workspace-1".into()
        }
    );
}

#[tokio::test]
async fn other_unprocessable_requests_are_protocol_errors_with_the_api_detail() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(jsonapi_response(
            422,
            json!({"errors": [{"status": "422", "title": "invalid attribute", "detail": "Target addrs is invalid"}]}),
        ))
        .mount(&server)
        .await;
    let spec = RunSpec {
        message: "m".into(),
        plan_only: false,
        target_addrs: vec!["not an address".into()],
    };
    let err = client_for(&server)
        .create_run("ws-1", &spec)
        .await
        .unwrap_err();
    match err {
        Error::TfcProtocol(message) => assert!(
            message.contains("invalid attribute: Target addrs is invalid"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn reads_a_run_with_its_plan_actions_and_creation_time() {
    let server = MockServer::start().await;
    let mut document = run_document("planned");
    document["data"]["attributes"]["plan-only"] = json!(false);
    document["data"]["attributes"]["has-changes"] = json!(true);
    document["data"]["attributes"]["actions"] = json!({"is-cancelable": false, "is-confirmable": true, "is-discardable": true, "is-force-cancelable": false});
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-CZcmD7eagjhyX0vN"))
        .respond_with(jsonapi_response(200, document))
        .mount(&server)
        .await;
    let run = client_for(&server)
        .read_run("run-CZcmD7eagjhyX0vN")
        .await
        .unwrap();
    assert_eq!(
        run,
        TfcRun {
            id: "run-CZcmD7eagjhyX0vN".into(),
            status: "planned".into(),
            message: "DriftGuard drift check [dg:exec-1]".into(),
            created_at: "2021-05-24T07:38:04.171Z".into(),
            has_changes: Some(true),
            plan_only: false,
            plan_id: Some("plan-6fKiqHBVKzJNWsfu".into()),
            workspace_id: Some("ws-SihZTyXKfNXUWuUa".into()),
            target_addrs: vec![],
            is_confirmable: true,
            is_discardable: true,
            is_cancelable: false,
            position_in_queue: None,
            status_changed_at: None,
            created_by: Some("user-V3R563qtJNcExAkN".into()),
            configuration_version_id: Some("cv-EpThx8RZdxt8a2mK".into()),
        }
    );
}

#[tokio::test]
async fn missing_run_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(jsonapi_response(
            404,
            json!({"errors": [{"status": "404", "title": "not found"}]}),
        ))
        .mount(&server)
        .await;
    let err = client_for(&server).read_run("run-gone").await.unwrap_err();
    assert_eq!(
        err,
        Error::TfcNotFound {
            what: "run run-gone".into()
        }
    );
}

#[tokio::test]
async fn plan_json_not_ready_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-6fKiqHBVKzJNWsfu/json-output"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    assert_eq!(
        client_for(&server)
            .plan_json("plan-6fKiqHBVKzJNWsfu")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn plan_json_follows_the_redirect_without_sending_the_token_to_the_other_host() {
    let api = MockServer::start().await;
    let archivist = MockServer::start().await;
    let download = format!("{}/v1/object/dmF1bHQ6djE6signed", archivist.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-6fKiqHBVKzJNWsfu/json-output"))
        .and(header("authorization", "Bearer tok-original"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", download.as_str()))
        .mount(&api)
        .await;
    let plan = json!({"format_version": "1.2", "terraform_version": "1.11.0", "resource_drift": [], "resource_changes": []});
    Mock::given(method("GET"))
        .and(path("/v1/object/dmF1bHQ6djE6signed"))
        .and(|request: &Request| !request.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&plan))
        .expect(1)
        .mount(&archivist)
        .await;
    let json = client_for(&api)
        .plan_json("plan-6fKiqHBVKzJNWsfu")
        .await
        .unwrap();
    assert_eq!(json, Some(plan));
}

/// Terraform Enterprise keeps the signed link on its own host: it still gets
/// no token, and the signed path appears in no error.
#[tokio::test]
async fn plan_json_same_host_redirect_sends_no_token_and_never_names_the_link() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", "/_archivist/v1/object/c2VjcmV0LXNpZ25lZC1wYXRo"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_archivist/v1/object/c2VjcmV0LXNpZ25lZC1wYXRo"))
        .and(|request: &Request| !request.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"format_version": "1.2"})))
        .expect(1)
        .mount(&server)
        .await;
    let json = client_for(&server).plan_json("plan-1").await.unwrap();
    assert_eq!(json, Some(json!({"format_version": "1.2"})));

    // An expired link: the error says what failed, not where.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-2/json-output"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", "/_archivist/v1/object/c2VjcmV0LWV4cGlyZWQ"),
        )
        .mount(&server)
        .await;
    let err = client_for(&server).plan_json("plan-2").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcUnavailable");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("c2VjcmV0") && !text.contains("_archivist"),
        "{text}"
    );
}

/// Plan JSON needs workspace admin access: a 404 for it while the plan is
/// readable says so, instead of "not found".
#[tokio::test]
async fn plan_json_refused_for_lack_of_admin_access_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(jsonapi_response(
            404,
            json!({"errors": [{"status": "404", "title": "not found"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1"))
        .respond_with(jsonapi_response(200, json!({"data": {"id": "plan-1", "type": "plans", "attributes": {"status": "finished"}}})))
        .mount(&server)
        .await;
    let err = client_for(&server).plan_json("plan-1").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcPermissionDenied");
    assert!(
        err.to_string()
            .contains("the token needs workspace admin access to read plan JSON"),
        "{err}"
    );
    // The plan itself missing stays "not found".
    let err = client_for(&server).plan_json("plan-9").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcNotFound");
}

/// An errored plan's log, from its signed `log-read-url` (no token), reduced
/// to its last lines without colour codes.
#[tokio::test]
async fn plan_log_tail_reads_the_signed_log_without_the_token() {
    let api = MockServer::start().await;
    let archivist = MockServer::start().await;
    let link = format!("{}/v1/object/bG9nLXNpZ25lZA", archivist.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1"))
        .respond_with(jsonapi_response(
            200,
            json!({"data": {"id": "plan-1", "type": "plans",
            "attributes": {"status": "errored", "log-read-url": link}}}),
        ))
        .mount(&api)
        .await;
    let log = "\u{2}Terraform v1.11.4\n\u{1b}[31m│\u{1b}[0m \u{1b}[1mError: \u{1b}[0mNo valid credential sources found\n│ \n╵\nOperation failed: failed running terraform plan (exit 1)\n\u{3}";
    Mock::given(method("GET"))
        .and(path("/v1/object/bG9nLXNpZ25lZA"))
        .and(|request: &Request| !request.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_string(log))
        .expect(1)
        .mount(&archivist)
        .await;
    let tail = client_for(&api)
        .plan_log_tail("plan-1", 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tail,
        "│ Error: No valid credential sources found\n╵\nOperation failed: failed running terraform plan (exit 1)"
    );
}

/// The shared budget is the token's user's (`GET /account/details`, read
/// once); the runs list draws from its own, per-minute budget.
#[tokio::test]
async fn requests_are_paced_in_the_token_users_budgets() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .respond_with(jsonapi_response(200, json!({"data": {"id": "user-V3R563qtJNcExAkN", "type": "users", "attributes": {"username": "admin"}}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/workspaces/ws-SihZTyXKfNXUWuUa/runs"))
        .respond_with(jsonapi_response(200, json!({"data": []})))
        .mount(&server)
        .await;
    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    let client = client_for(&server).with_pacer(pacer.clone(), PaceLimits::default());
    client.workspace(&check()).await.unwrap();
    client.workspace(&check()).await.unwrap();
    client
        .find_run_by_tag("ws-SihZTyXKfNXUWuUa", "[dg:x]")
        .await
        .unwrap();
    let host = url::Url::parse(&server.uri())
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pacer.keys(),
        vec![
            format!("PACE#{host}"),
            format!("PACE#{host}#user-V3R563qtJNcExAkN"),
            format!("PACE#{host}#user-V3R563qtJNcExAkN#runs-list"),
        ]
    );
}

#[tokio::test]
async fn plan_json_larger_than_the_cap_is_refused() {
    let server = MockServer::start().await;
    let big = json!({"format_version": "1.2", "padding": "x".repeat(4096)});
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&big))
        .mount(&server)
        .await;
    let options = ClientOptions {
        max_plan_json_bytes: 1024,
        ..ClientOptions::default()
    };
    let client = HttpTerraformCloud::with_options(
        &server.uri(),
        TestSecrets::new(TOKEN, None),
        SECRET,
        options,
    )
    .unwrap();
    let err = client.plan_json("plan-1").await.unwrap_err();
    match err {
        Error::TfcProtocol(message) => assert!(
            message.contains("larger than 1024 bytes, the most DriftGuard reads"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn expired_download_link_is_transient() {
    let api = MockServer::start().await;
    let archivist = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "location",
            format!("{}/v1/object/signedsecret123", archivist.uri()).as_str(),
        ))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&archivist)
        .await;
    let err = client_for(&api).plan_json("plan-1").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcUnavailable");
    assert!(
        !err.to_string().contains("signedsecret123"),
        "the signed path must not be in the message: {err}"
    );
}

#[tokio::test]
async fn apply_posts_the_comment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/runs/run-CZcmD7eagjhyX0vN/actions/apply"))
        .and(body_json(json!({"comment": "DriftGuard remediation"})))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    client_for(&server)
        .apply_run("run-CZcmD7eagjhyX0vN", "DriftGuard remediation")
        .await
        .unwrap();
}

fn conflict() -> ResponseTemplate {
    jsonapi_response(
        409,
        json!({"errors": [{"status": "409", "title": "conflict", "detail": "Transition not allowed"}]}),
    )
}

#[tokio::test]
async fn repeated_actions_on_a_run_already_past_that_point_succeed() {
    for (action, status) in [
        ("apply", "applied"),
        ("discard", "discarded"),
        ("cancel", "errored"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/api/v2/runs/run-CZcmD7eagjhyX0vN/actions/{action}"
            )))
            .respond_with(conflict())
            .mount(&server)
            .await;
        mount_run(&server, status).await;
        let client = client_for(&server);
        let result = match action {
            "apply" => client.apply_run("run-CZcmD7eagjhyX0vN", "c").await,
            "discard" => client.discard_run("run-CZcmD7eagjhyX0vN", "c").await,
            _ => client.cancel_run("run-CZcmD7eagjhyX0vN", "c").await,
        };
        assert_eq!(result, Ok(()), "{action} on a run that is {status}");
    }
}

#[tokio::test]
async fn conflicting_action_on_a_run_elsewhere_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/runs/run-CZcmD7eagjhyX0vN/actions/apply"))
        .respond_with(conflict())
        .mount(&server)
        .await;
    mount_run(&server, "discarded").await;
    let err = client_for(&server)
        .apply_run("run-CZcmD7eagjhyX0vN", "c")
        .await
        .unwrap_err();
    match err {
        Error::TfcProtocol(message) => {
            assert!(
                message.contains("cannot apply run run-CZcmD7eagjhyX0vN: it is 'discarded'"),
                "{message}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn rotated_token_is_read_again_after_a_401() {
    let server = MockServer::start().await;
    let unauthorized = json!({"errors": [{"status": "401", "title": "unauthorized"}]});
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-original"))
        .respond_with(jsonapi_response(401, unauthorized))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-rotated"))
        .respond_with(jsonapi_response(200, workspace_document()))
        .expect(1)
        .mount(&server)
        .await;
    let secrets = TestSecrets::new(TOKEN, Some(r#"{"token":"tok-rotated"}"#));
    let client = HttpTerraformCloud::new(&server.uri(), secrets.clone(), SECRET).unwrap();
    assert_eq!(
        client.workspace(&check()).await.unwrap().id,
        "ws-SihZTyXKfNXUWuUa"
    );
    assert_eq!(secrets.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn still_unauthorized_after_refresh_names_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(jsonapi_response(
            401,
            json!({"errors": [{"status": "401", "title": "unauthorized"}]}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let secrets = TestSecrets::new(TOKEN, None);
    let client = HttpTerraformCloud::new(&server.uri(), secrets.clone(), SECRET).unwrap();
    let err = client.read_run("run-1").await.unwrap_err();
    assert_eq!(
        err,
        Error::TfcUnauthorized {
            secret: SECRET.into()
        }
    );
    assert_eq!(secrets.refreshes.load(Ordering::SeqCst), 1);
}

fn rate_limited(reset: &str) -> ResponseTemplate {
    jsonapi_response(
        429,
        json!({"errors": [{"detail": "You have exceeded the API's rate limit.", "status": 429, "title": "Too many requests"}]}),
    )
    .insert_header("x-ratelimit-limit", "30")
    .insert_header("x-ratelimit-remaining", "0")
    .insert_header("x-ratelimit-reset", reset)
}

#[tokio::test]
async fn short_rate_limit_is_waited_out_in_process() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(rate_limited("0.05"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    mount_run(&server, "planning").await;
    let run = client_for(&server)
        .read_run("run-CZcmD7eagjhyX0vN")
        .await
        .unwrap();
    assert_eq!(run.status, "planning");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn rate_limit_retries_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(rate_limited("0.01"))
        .mount(&server)
        .await;
    let err = client_for(&server).read_run("run-1").await.unwrap_err();
    assert!(matches!(err, Error::TfcRateLimited { .. }), "{err:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn long_rate_limit_is_reported_with_the_reset_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(rate_limited("12.5"))
        .mount(&server)
        .await;
    let err = client_for(&server).read_run("run-1").await.unwrap_err();
    assert_eq!(
        err,
        Error::TfcRateLimited {
            message: "Too many requests: You have exceeded the API's rate limit.".into(),
            retry_after: Some(Duration::from_millis(12_500)),
        }
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(jsonapi_response(
            503,
            json!({"errors": [{"status": "503", "title": "Service Unavailable"}]}),
        ))
        .mount(&server)
        .await;
    let err = client_for(&server).read_run("run-1").await.unwrap_err();
    match err {
        Error::TfcUnavailable(message) => assert!(message.contains("503"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn timeouts_are_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            jsonapi_response(200, run_document("planning")).set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let client = HttpTerraformCloud::with_options(
        &server.uri(),
        TestSecrets::new(TOKEN, None),
        SECRET,
        options,
    )
    .unwrap();
    let err = client.read_run("run-CZcmD7eagjhyX0vN").await.unwrap_err();
    match err {
        Error::TfcUnavailable(message) => assert!(message.contains("timed out"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn connection_failures_are_unavailable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = HttpTerraformCloud::new(
        &format!("http://127.0.0.1:{port}"),
        TestSecrets::new(TOKEN, None),
        SECRET,
    )
    .unwrap();
    let err = client.read_run("run-1").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcUnavailable", "{err:?}");
}

#[test]
fn token_secret_may_be_plain_or_json() {
    assert_eq!(
        token_from_secret("  abc.atlasv1.def\n", "s").unwrap(),
        "abc.atlasv1.def"
    );
    assert_eq!(
        token_from_secret(r#"{"token": "abc"}"#, "s").unwrap(),
        "abc"
    );
    assert_eq!(
        token_from_secret(r#"{"hostname": "x"}"#, "s")
            .unwrap_err()
            .error_type(),
        "ConfigError"
    );
    assert_eq!(
        token_from_secret("   ", "s").unwrap_err().error_type(),
        "ConfigError"
    );
    let err = token_from_secret("ab\u{7}c", "s").unwrap_err();
    assert!(
        !err.to_string().contains("ab\u{7}c"),
        "the secret value must not be in the message"
    );
}

#[test]
fn rate_limit_reset_reads_fractional_seconds() {
    let mut headers = HeaderMap::new();
    headers.insert("x-ratelimit-reset", "0.25".parse().unwrap());
    assert_eq!(rate_limit_reset(&headers), Some(Duration::from_millis(250)));
    headers.insert("x-ratelimit-reset", "1e300".parse().unwrap());
    assert_eq!(rate_limit_reset(&headers), None);
    assert_eq!(rate_limit_reset(&HeaderMap::new()), None);
}

#[test]
fn run_url_and_api_urls_use_the_configured_address() {
    let client = HttpTerraformCloud::new(
        "https://tfe.example.com/",
        TestSecrets::new(TOKEN, None),
        SECRET,
    )
    .unwrap();
    assert_eq!(
        client.run_url(&check(), "run-1"),
        "https://tfe.example.com/app/my-organization/workspaces/workspace-1/runs/run-1"
    );
    assert_eq!(
        client
            .api_url(&["organizations", "a b", "workspaces", "x/y"])
            .as_str(),
        "https://tfe.example.com/api/v2/organizations/a%20b/workspaces/x%2Fy"
    );
}

#[test]
fn bad_addresses_are_configuration_errors() {
    for address in ["app.terraform.io", "ftp://app.terraform.io", "mailto:x@y"] {
        let err =
            HttpTerraformCloud::new(address, TestSecrets::new(TOKEN, None), SECRET).unwrap_err();
        assert_eq!(err.error_type(), "ConfigError", "{address}");
    }
}

/// A rotated token met on the account read itself: the secret is re-read,
/// the user read again, and nothing waits on itself.
#[tokio::test]
async fn a_rotated_token_on_the_account_read_is_re_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .and(header("authorization", "Bearer tok-original"))
        .respond_with(jsonapi_response(
            401,
            json!({"errors": [{"status": "401", "title": "unauthorized"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .and(header("authorization", "Bearer tok-rotated"))
        .respond_with(jsonapi_response(
            200,
            json!({"data": {"id": "user-Rotated000000001", "type": "users", "attributes": {}}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .and(header("authorization", "Bearer tok-rotated"))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    let secrets = TestSecrets::new(TOKEN, Some("tok-rotated"));
    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    let client = HttpTerraformCloud::new(&server.uri(), secrets, SECRET)
        .unwrap()
        .with_pacer(pacer.clone(), PaceLimits::default());
    tokio::time::timeout(Duration::from_secs(10), client.workspace(&check()))
        .await
        .expect("the account read waited on itself")
        .unwrap();
    assert!(
        pacer
            .keys()
            .iter()
            .any(|k| k.ends_with("#user-Rotated000000001")),
        "{:?}",
        pacer.keys()
    );
}

/// An account read that fails for now (503) is asked again with the next
/// request; meanwhile the host-wide budget paces.
#[tokio::test]
async fn a_transient_failure_to_read_the_user_is_retried_later() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .respond_with(jsonapi_response(
            503,
            json!({"errors": [{"status": "503", "title": "unavailable"}]}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .respond_with(jsonapi_response(
            200,
            json!({"data": {"id": "user-V3R563qtJNcExAkN", "type": "users", "attributes": {}}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    let client = client_for(&server).with_pacer(pacer.clone(), PaceLimits::default());
    client.workspace(&check()).await.unwrap();
    assert!(
        pacer.keys().iter().all(|k| !k.contains("#user-")),
        "{:?}",
        pacer.keys()
    );
    client.workspace(&check()).await.unwrap();
    assert!(
        pacer
            .keys()
            .iter()
            .any(|k| k.ends_with("#user-V3R563qtJNcExAkN")),
        "{:?}",
        pacer.keys()
    );
}

/// The token's user (who DriftGuard's runs are `created-by`) is read once
/// per client, and not at all when the pacer has read it already.
#[tokio::test]
async fn the_token_user_is_read_once_and_shared_with_the_pacer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .respond_with(jsonapi_response(200, json!({"data": {"id": "user-V3R563qtJNcExAkN", "type": "users", "attributes": {"username": "admin"}}})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    // Without a pacer: one read for any number of asks.
    let client = client_for(&server);
    assert_eq!(client.token_user().await.unwrap(), "user-V3R563qtJNcExAkN");
    assert_eq!(client.token_user().await.unwrap(), "user-V3R563qtJNcExAkN");
    // With one: the pacer's read serves both.
    let paced = client_for(&server).with_pacer(
        Arc::new(driftguard_core::pacing::InMemoryPacer::new()),
        PaceLimits::default(),
    );
    paced.workspace(&check()).await.unwrap();
    assert_eq!(paced.token_user().await.unwrap(), "user-V3R563qtJNcExAkN");
}

/// A caller with few retries of its own (on-failure) queues for its slot in
/// a budget other checks have used up, instead of failing at once with
/// `TfcRateLimited` (issue 22 item 22: scenario 21's on-failure got it).
#[tokio::test]
async fn a_patient_client_waits_for_its_slot_in_a_used_up_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/details"))
        .respond_with(jsonapi_response(200, json!({"data": {"id": "user-V3R563qtJNcExAkN", "type": "users", "attributes": {"username": "admin"}}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/organizations/my-organization/workspaces/workspace-1",
        ))
        .respond_with(jsonapi_response(200, workspace_document()))
        .mount(&server)
        .await;
    let host = url::Url::parse(&server.uri())
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    // Ten requests a second, no burst, queueing at most 100 ms by default.
    let limits = PaceLimits {
        max_wait: Duration::from_millis(100),
        ..PaceLimits::per_second(10, 1)
    };
    // The other checks' reservations (each may queue, so all six are granted).
    let user_budget = driftguard_core::pacing::Budget {
        key: format!("PACE#{host}#user-V3R563qtJNcExAkN"),
        limits: PaceLimits {
            max_wait: Duration::from_secs(10),
            ..limits
        },
    };
    // Other checks took the next 0.6 s of the user's budget.
    let fill = |pacer: Arc<driftguard_core::pacing::InMemoryPacer>| {
        let budget = user_budget.clone();
        async move {
            for _ in 0..6 {
                driftguard_core::ports::RequestPacer::reserve(
                    pacer.as_ref(),
                    &budget,
                    driftguard_core::pacing::now_us(),
                )
                .await
                .unwrap();
            }
        }
    };

    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    fill(pacer.clone()).await;
    let hasty = client_for(&server).with_pacer(pacer.clone(), limits);
    let error = hasty.workspace(&check()).await.unwrap_err();
    assert!(
        matches!(error, driftguard_core::error::Error::TfcRateLimited { .. }),
        "{error:?}"
    );

    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    fill(pacer.clone()).await;
    let patient = client_for(&server)
        .with_pacer(pacer.clone(), limits)
        .with_patience(Duration::from_secs(5));
    let started = std::time::Instant::now();
    patient.workspace(&check()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}
