use std::sync::Arc;
use std::time::Duration;

use driftguard_core::error::Error;
use driftguard_core::model::CheckRef;
use driftguard_core::ports::{RunSpec, TerraformCloud, TfcRun};
use driftguard_core::secrets::StaticSecrets;
use driftguard_tfc::HttpTerraformCloud;
use serde_json::{Value, json};

use super::*;

const TOKEN: &str = "emulator-token-1";

fn fast(drift: Drift) -> Scenario {
    Scenario {
        drift,
        plan_seconds: 0.3,
        apply_seconds: 0.3,
        ..Scenario::default()
    }
}

fn client(emulator: &TfcEmulator, secrets: StaticSecrets) -> HttpTerraformCloud {
    HttpTerraformCloud::new(&emulator.url(), Arc::new(secrets), "tok").unwrap()
}

fn real_client(emulator: &TfcEmulator) -> HttpTerraformCloud {
    client(emulator, StaticSecrets::new().with("tok", TOKEN))
}

fn check(org: &str, name: &str) -> CheckRef {
    CheckRef {
        organization: org.into(),
        workspace: name.into(),
    }
}

async fn wait_for(tfc: &HttpTerraformCloud, run_id: &str, status: &str) -> TfcRun {
    for _ in 0..100 {
        let run = tfc.read_run(run_id).await.unwrap();
        if run.status == status {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} never reached {status}");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn speculative_check_with_the_real_client() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "prod",
        Scenario {
            json_not_ready_polls: 1,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let workspace = tfc.workspace(&check("acme", "prod")).await.unwrap();
    assert_eq!(workspace.id, ws);
    assert_eq!(workspace.organization, "acme");

    let spec = RunSpec {
        message: "DriftGuard drift check [dg:exec-1]".into(),
        plan_only: true,
        target_addrs: vec![],
    };
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    assert_eq!(run.status, "pending");
    assert!(run.plan_only && run.is_cancelable && !run.is_confirmable);
    assert_eq!(run.workspace_id.as_deref(), Some(ws.as_str()));
    let plan_id = run.plan_id.clone().unwrap();
    // Not finished yet: 204.
    assert_eq!(tfc.plan_json(&plan_id).await.unwrap(), None);

    let found = tfc
        .find_run_by_tag(&ws, "[dg:exec-1]")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, run.id);

    let done = wait_for(&tfc, &run.id, "planned_and_finished").await;
    assert_eq!(done.has_changes, Some(true));
    assert!(!done.is_confirmable && !done.is_discardable && !done.is_cancelable);
    // One extra 204 after the plan finished, then 307 → archivist → JSON.
    assert_eq!(tfc.plan_json(&plan_id).await.unwrap(), None);
    let plan = tfc.plan_json(&plan_id).await.unwrap().unwrap();
    assert_eq!(&plan, plan_json::drift_fixture());
    assert_eq!(emulator.archivist_token_leaks(), 0);

    let runs = emulator.runs("acme", "prod");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "planned_and_finished");
    assert!(runs[0].actions.is_empty());
    let requests = emulator.requests_for("acme", "prod");
    assert!(requests.iter().any(|r| r.status == 307));
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/_archivist/") && r.status == 200)
    );
    assert_eq!(requests.len(), emulator.requests().len());
    let rate = emulator.rate();
    assert_eq!(rate.total, requests.len());
    assert!(rate.peak_per_second >= 1 && rate.mean_per_second > 0.0);
}

#[tokio::test]
async fn no_drift_and_plan_errors() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace("acme", "clean", fast(Drift::None));
    let tfc = real_client(&emulator);
    let spec = RunSpec {
        message: "check".into(),
        plan_only: true,
        target_addrs: vec![],
    };
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    let done = wait_for(&tfc, &run.id, "planned_and_finished").await;
    assert_eq!(done.has_changes, Some(false));
    let plan = tfc
        .plan_json(done.plan_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&plan, plan_json::no_drift_fixture());

    emulator.set_scenario(
        "acme",
        "clean",
        Scenario {
            plan_errors: true,
            ..fast(Drift::None)
        },
    );
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    let errored = wait_for(&tfc, &run.id, "errored").await;
    assert_eq!(errored.has_changes, Some(false));
    assert_eq!(
        tfc.plan_json(errored.plan_id.as_deref().unwrap())
            .await
            .unwrap(),
        None
    );
}

/// What DriftGuard's safety check reads from a (targeted) remediation plan.
fn targeted_analysis(plan: &Value) -> driftguard_core::plan::Analysis {
    let options = driftguard_core::plan::Options {
        allow_incomplete: true,
        ..Default::default()
    };
    driftguard_core::plan::summarize_slice(&serde_json::to_vec(plan).unwrap(), &options)
        .unwrap()
        .analysis
}

#[tokio::test]
async fn remediation_apply_and_discard_with_the_real_client() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace("acme", "prod", fast(Drift::Fixture));
    let tfc = real_client(&emulator);
    let targets = vec![
        "aws_security_group.web".to_string(),
        "aws_s3_bucket_versioning.artifacts".to_string(),
    ];
    let spec = RunSpec {
        message: "DriftGuard remediation [dg:exec-2]".into(),
        plan_only: false,
        target_addrs: targets.clone(),
    };
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    assert_eq!(run.target_addrs, targets);
    assert!(!run.plan_only);
    let planned = wait_for(&tfc, &run.id, "planned").await;
    assert!(planned.is_confirmable && planned.is_discardable && !planned.is_cancelable);
    assert_eq!(planned.has_changes, Some(true));
    let plan = tfc
        .plan_json(planned.plan_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let changes = plan["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["address"], json!("aws_security_group.web"));
    assert_eq!(changes[1]["change"]["actions"], json!(["update"]));
    let analysis = targeted_analysis(&plan);
    assert!(
        analysis.destructive.is_empty(),
        "an update-only plan is not destructive"
    );
    assert_eq!(
        analysis.drifted.len(),
        2,
        "it changes back the drift of both targets"
    );

    tfc.apply_run(&run.id, "DriftGuard applies").await.unwrap();
    let after = tfc.read_run(&run.id).await.unwrap();
    assert!(
        ["confirmed", "apply_queued", "applying"].contains(&after.status.as_str()),
        "{}",
        after.status
    );
    // Applying again is a 409 that the client reads as already done.
    tfc.apply_run(&run.id, "again").await.unwrap();
    wait_for(&tfc, &run.id, "applied").await;
    // Discarding an applied run is not allowed (409 → protocol error).
    let err = tfc.discard_run(&run.id, "too late").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcProtocol");

    // A second remediation that destroys, discarded.
    emulator.set_scenario(
        "acme",
        "prod",
        Scenario {
            remediation_destroys: true,
            ..fast(Drift::Fixture)
        },
    );
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    let planned = wait_for(&tfc, &run.id, "planned").await;
    let plan = tfc
        .plan_json(planned.plan_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        targeted_analysis(&plan).destructive,
        vec!["aws_s3_bucket_versioning.artifacts".to_string()]
    );
    tfc.discard_run(&run.id, "destructive").await.unwrap();
    let discarded = tfc.read_run(&run.id).await.unwrap();
    assert_eq!(discarded.status, "discarded");
    assert!(!discarded.is_confirmable && !discarded.is_discardable);
    // Discard again: 409, already settled.
    tfc.discard_run(&run.id, "again").await.unwrap();

    let runs = emulator.runs("acme", "prod");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, "applied");
    assert_eq!(runs[0].actions, vec!["apply"]);
    assert_eq!(runs[1].status, "discarded");
    assert_eq!(runs[1].actions, vec!["discard"]);
    // The list is newest first.
    let found = tfc
        .find_run_by_tag(&ws, "[dg:exec-2]")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, run.id);
}

#[tokio::test]
async fn cancel_while_planning() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "slow",
        Scenario {
            plan_seconds: 30.0,
            ..Scenario::default()
        },
    );
    let tfc = real_client(&emulator);
    let spec = RunSpec {
        message: "check".into(),
        plan_only: true,
        target_addrs: vec![],
    };
    let run = tfc.create_run(&ws, &spec).await.unwrap();
    wait_for(&tfc, &run.id, "planning").await;
    tfc.cancel_run(&run.id, "timeout").await.unwrap();
    let canceled = tfc.read_run(&run.id).await.unwrap();
    assert_eq!(canceled.status, "canceled");
    assert!(!canceled.is_cancelable);
    assert_eq!(
        tfc.plan_json(canceled.plan_id.as_deref().unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn documents_follow_the_api_with_plain_http() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "my ws",
        Scenario {
            plan_seconds: 0.0,
            ..Scenario::default()
        },
    );
    let http = http();
    let api = format!("{}/api/v2", emulator.url());

    // No token, wrong token: 401 error document.
    let response = http
        .get(format!("{api}/organizations/acme/workspaces/my%20ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"errors": [{"status": "401", "title": "unauthorized"}]})
    );

    let get = |url: String| {
        http.get(url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/vnd.api+json")
            .send()
    };
    let response = get(format!("{api}/organizations/acme/workspaces/my%20ws"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-limit"], "30");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["id"], json!(ws));
    assert_eq!(body["data"]["type"], json!("workspaces"));
    assert_eq!(body["data"]["attributes"]["name"], json!("my ws"));
    assert_eq!(
        body["data"]["relationships"]["organization"]["data"]["id"],
        json!("acme")
    );

    let response = get(format!("{api}/organizations/acme/workspaces/none"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], json!("404"));

    // Create (201) with the documented payload.
    let payload = json!({"data": {"type": "runs",
        "attributes": {"message": "hello", "plan-only": true, "auto-apply": false},
        "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}});
    let response = http
        .post(format!("{api}/runs"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/vnd.api+json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let run_id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(run_id.starts_with("run-") && run_id.len() == 20);
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["status"], json!("pending"));
    assert_eq!(attributes["message"], json!("hello"));
    assert_eq!(attributes["plan-only"], json!(true));
    assert_eq!(attributes["target-addrs"], Value::Null);
    assert_eq!(
        attributes["actions"],
        json!({"is-cancelable": true, "is-confirmable": false, "is-discardable": false, "is-force-cancelable": false})
    );
    let created = attributes["created-at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert!(attributes["status-timestamps"]["plan-queueable-at"].is_string());
    let plan_id = body["data"]["relationships"]["plan"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(plan_id.starts_with("plan-"));
    assert_eq!(
        body["data"]["relationships"]["workspace"]["data"]["id"],
        json!(ws)
    );

    tokio::time::sleep(Duration::from_millis(250)).await;
    let body: Value = get(format!("{api}/runs/{run_id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["status"], json!("planned_and_finished"));
    assert_eq!(attributes["has-changes"], json!(false));
    for key in [
        "plan-queueable-at",
        "plan-queued-at",
        "planning-at",
        "planned-and-finished-at",
    ] {
        let at = attributes["status-timestamps"][key].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(at).unwrap();
    }

    // The list leaves plan-only runs out unless filter[operation] names them.
    let body: Value = get(format!("{api}/workspaces/{ws}/runs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    // List with page[size] and the filter.
    let body: Value = get(format!(
        "{api}/workspaces/{ws}/runs?page%5Bsize%5D=1&filter%5Boperation%5D=plan_only,plan_and_apply"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["meta"]["pagination"]["page-size"], json!(1));
    assert_eq!(body["meta"]["pagination"]["total-count"], json!(1));

    // Plan show.
    let body: Value = get(format!("{api}/plans/{plan_id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["type"], json!("plans"));
    assert_eq!(body["data"]["attributes"]["status"], json!("finished"));

    // json-output: 307 to another origin, which needs no token.
    let response = get(format!("{api}/plans/{plan_id}/json-output"))
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("/_archivist/v1/object/"));
    assert!(!location.starts_with(&emulator.url()));
    let response = http.get(&location).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(&plan, plan_json::no_drift_fixture());
    let response = get(format!("{api}/plans/plan-unknown/json-output"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Actions on a speculative run: 409; unknown run: 404.
    let response = http
        .post(format!("{api}/runs/{run_id}/actions/apply"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], json!("409"));
    let response = http
        .post(format!("{api}/runs/run-nope/actions/discard"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let recorded = emulator.requests();
    assert_eq!(recorded[0].status, 401);
    assert_eq!(recorded[0].workspace.as_deref(), Some("acme/my ws"));
    assert_eq!(recorded[0].method, "GET");
}

#[tokio::test]
async fn rotated_token_is_reread_once() {
    let emulator = TfcEmulator::start("old-token").await.unwrap();
    emulator.add_workspace("acme", "prod", Scenario::default());
    emulator.rotate_token("new-token");

    // The secret was rotated too: one 401, re-read, success.
    let secrets = StaticSecrets::new().with("tok", "old-token");
    secrets.rotate("tok", "new-token");
    let tfc = client(&emulator, secrets);
    tfc.workspace(&check("acme", "prod")).await.unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![401, 200]);

    // The secret still holds the old token: TfcUnauthorized after one re-read.
    let tfc = client(&emulator, StaticSecrets::new().with("tok", "old-token"));
    let err = tfc.workspace(&check("acme", "prod")).await.unwrap_err();
    assert!(matches!(err, Error::TfcUnauthorized { .. }), "{err:?}");
    assert_eq!(emulator.requests().len(), 4);
}

#[tokio::test]
async fn configuration_missing_is_mapped_by_the_real_client() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "empty",
        Scenario {
            configuration_missing: true,
            ..Scenario::default()
        },
    );
    let tfc = real_client(&emulator);
    tfc.workspace(&check("acme", "empty")).await.unwrap();
    let spec = RunSpec {
        message: "check".into(),
        plan_only: true,
        target_addrs: vec![],
    };
    let err = tfc.create_run(&ws, &spec).await.unwrap_err();
    match err {
        Error::TfcConfigurationMissing { workspace } => assert_eq!(workspace, "acme/empty"),
        other => panic!("expected TfcConfigurationMissing, got {other:?}"),
    }
    let last = emulator.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.status), ("POST", 422));
    assert!(emulator.runs("acme", "empty").is_empty());
}

#[tokio::test]
async fn rate_limits_carry_headers_and_are_consumed() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    emulator.add_workspace(
        "acme",
        "busy",
        Scenario {
            rate_limited_requests: 1,
            ..Scenario::default()
        },
    );
    let response = http()
        .get(format!(
            "{}/api/v2/organizations/acme/workspaces/busy",
            emulator.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-ratelimit-limit"], "30");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    let reset: f64 = response.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.5..=1.0).contains(&reset), "{reset}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], json!("429"));

    // The real client waits out a short reset (twice at most).
    emulator.set_scenario(
        "acme",
        "busy",
        Scenario {
            rate_limited_requests: 2,
            ..Scenario::default()
        },
    );
    let tfc = real_client(&emulator);
    tfc.workspace(&check("acme", "busy")).await.unwrap();
    emulator.set_scenario(
        "acme",
        "busy",
        Scenario {
            rate_limited_requests: 3,
            ..Scenario::default()
        },
    );
    let err = tfc.workspace(&check("acme", "busy")).await.unwrap_err();
    match err {
        Error::TfcRateLimited { retry_after, .. } => {
            let wait = retry_after.unwrap();
            assert!(wait >= Duration::from_millis(500) && wait <= Duration::from_secs(1));
        }
        other => panic!("expected TfcRateLimited, got {other:?}"),
    }
    let statuses: Vec<u16> = emulator
        .requests_for("acme", "busy")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 429, 200, 429, 429, 429]);
}

/// The documented limit, enforced: the 31st request inside one second is
/// refused. The real client, paced by the shared budget, never is.
#[tokio::test]
async fn the_enforced_limit_refuses_bursts_but_not_a_paced_client() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    emulator.add_workspace("acme", "busy", Scenario::default());
    emulator.enforce_rate_limit();
    let url = format!(
        "{}/api/v2/organizations/acme/workspaces/busy",
        emulator.url()
    );
    let mut statuses = Vec::new();
    let client = http();
    for _ in 0..40 {
        let response = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(
        statuses.len() == 40 && statuses[..30].iter().all(|&s| s == 200),
        "{statuses:?}"
    );
    assert!(statuses[30..].iter().all(|&s| s == 429), "{statuses:?}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pacer = Arc::new(driftguard_core::pacing::InMemoryPacer::new());
    let tfc = Arc::new(
        real_client(&emulator).with_pacer(pacer, driftguard_core::pacing::PaceLimits::default()),
    );
    let before = emulator.requests().len();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let tfc = tfc.clone();
        calls.spawn(async move { tfc.workspace(&check("acme", "busy")).await });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    let paced = &emulator.requests()[before..];
    // The account details (the budget is the token's user's), then the 60 requests.
    assert_eq!(paced.len(), 61);
    assert_eq!(paced[0].path, "/api/v2/account/details");
    assert!(
        paced.iter().all(|r| r.status == 200),
        "a paced request was refused"
    );
}

#[tokio::test]
async fn unavailable_is_tfc_unavailable() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    emulator.add_workspace(
        "acme",
        "down",
        Scenario {
            unavailable_requests: 1,
            ..Scenario::default()
        },
    );
    emulator.add_workspace("acme", "up", Scenario::default());
    let tfc = real_client(&emulator);
    // Faults are per workspace.
    tfc.workspace(&check("acme", "up")).await.unwrap();
    let err = tfc.workspace(&check("acme", "down")).await.unwrap_err();
    assert!(matches!(err, Error::TfcUnavailable(_)), "{err:?}");
    tfc.workspace(&check("acme", "down")).await.unwrap();
    let statuses: Vec<u16> = emulator
        .requests_for("acme", "down")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![503, 200]);
}

#[test]
fn rate_buckets_by_whole_seconds() {
    let start = Instant::now();
    let at = |ms: u64| RecordedRequest {
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        at: start + Duration::from_millis(ms),
        workspace: None,
        user: None,
    };
    let rate = rate_of(&[at(0), at(100), at(900), at(1500), at(3200)]);
    assert_eq!(rate.total, 5);
    assert_eq!(rate.peak_per_second, 3);
    assert!((rate.mean_per_second - 5.0 / 4.0).abs() < 1e-9);
    assert_eq!(rate_of(&[]).total, 0);
}

fn normal_spec(message: &str) -> RunSpec {
    RunSpec {
        message: message.into(),
        plan_only: false,
        target_addrs: vec!["aws_security_group.web".into()],
    }
}

fn plan_only_spec(message: &str) -> RunSpec {
    RunSpec {
        message: message.into(),
        plan_only: true,
        target_addrs: vec![],
    }
}

/// Cost estimation and policy checks after the plan: `planned` is passing, the
/// run is confirmable only at `policy_checked`, and an apply before then is a
/// 409 the client reports.
#[tokio::test]
async fn cost_estimation_and_policy_checks_gate_confirmation() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "governed",
        Scenario {
            cost_estimation: true,
            policy: Policy::Pass,
            stage_seconds: 0.4,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let run = tfc.create_run(&ws, &normal_spec("fix")).await.unwrap();
    let planned = wait_for(&tfc, &run.id, "planned").await;
    assert!(
        !planned.is_confirmable && planned.is_discardable,
        "{planned:?}"
    );
    let estimating = wait_for(&tfc, &run.id, "cost_estimating").await;
    assert!(!estimating.is_confirmable);
    let err = tfc.apply_run(&run.id, "too early").await.unwrap_err();
    assert_eq!(err.error_type(), "TfcProtocol", "{err}");
    let checked = wait_for(&tfc, &run.id, "policy_checked").await;
    assert!(
        checked.is_confirmable && checked.is_discardable,
        "{checked:?}"
    );
    tfc.apply_run(&run.id, "now").await.unwrap();
    wait_for(&tfc, &run.id, "applied").await;
    let statuses = emulator.runs("acme", "governed")[0].statuses.clone();
    assert_eq!(
        statuses,
        [
            "pending",
            "plan_queued",
            "planning",
            "planned",
            "cost_estimating",
            "cost_estimated",
            "policy_checking",
            "policy_checked",
            "confirmed",
            "apply_queued",
            "applying",
            "applied"
        ]
    );
}

/// Policy failures by enforcement level, and failed run tasks.
#[tokio::test]
async fn failed_policies_and_run_tasks_stop_runs_as_documented() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let tfc = real_client(&emulator);
    let soft = emulator.add_workspace(
        "acme",
        "soft",
        Scenario {
            policy: Policy::SoftMandatoryFail,
            ..fast(Drift::Fixture)
        },
    );
    let run = tfc.create_run(&soft, &normal_spec("fix")).await.unwrap();
    let held = wait_for(&tfc, &run.id, "policy_override").await;
    assert!(!held.is_confirmable && held.is_discardable, "{held:?}");
    assert_eq!(
        driftguard_core::tfc::phase_of(&held),
        driftguard_core::model::Phase::NeedsOverride
    );
    // A plan-only run ends policy_soft_failed, final.
    let check_run = tfc
        .create_run(&soft, &plan_only_spec("check"))
        .await
        .unwrap();
    let done = wait_for(&tfc, &check_run.id, "policy_soft_failed").await;
    assert_eq!(
        driftguard_core::tfc::phase_of(&done),
        driftguard_core::model::Phase::Planned
    );

    for (name, scenario) in [
        (
            "hard",
            Scenario {
                policy: Policy::HardMandatoryFail,
                ..fast(Drift::Fixture)
            },
        ),
        (
            "task",
            Scenario {
                post_plan_task: RunTask::MandatoryFail,
                ..fast(Drift::Fixture)
            },
        ),
    ] {
        let ws = emulator.add_workspace("acme", name, scenario);
        let run = tfc.create_run(&ws, &normal_spec("fix")).await.unwrap();
        let errored = wait_for(&tfc, &run.id, "errored").await;
        assert!(!errored.is_confirmable && !errored.is_discardable, "{name}");
    }
}

/// A normal run queues behind the workspace's earlier normal run (someone
/// else's), says how many runs are ahead, and starts when it is done. Plan-only
/// runs do not queue.
#[tokio::test]
async fn normal_runs_queue_behind_other_runs_and_plan_only_runs_do_not() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "busy",
        Scenario {
            queued_behind_seconds: 1.5,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let ours = tfc.create_run(&ws, &normal_spec("fix")).await.unwrap();
    let waiting = tfc.read_run(&ours.id).await.unwrap();
    assert_eq!(waiting.status, "pending");
    assert_eq!(waiting.position_in_queue, Some(1));
    assert!(
        driftguard_core::tfc::describe(&waiting, None).contains("behind 1 earlier run"),
        "{}",
        driftguard_core::tfc::describe(&waiting, None)
    );
    let check_run = tfc.create_run(&ws, &plan_only_spec("check")).await.unwrap();
    wait_for(&tfc, &check_run.id, "planned_and_finished").await;
    assert_eq!(tfc.read_run(&ours.id).await.unwrap().status, "pending");
    wait_for(&tfc, &ours.id, "planned").await;
    let runs = emulator.runs("acme", "busy");
    assert_eq!(runs[0].created_by, "user-AliceQueuedARun1");
    assert_eq!(runs[0].status, "applied");
}

/// An agent workspace waits for its agent; a VCS workspace fetches first;
/// Terraform Enterprise can hold a confirmed apply in apply_queued.
#[tokio::test]
async fn agents_vcs_fetches_and_apply_queues_are_waiting_statuses() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "private",
        Scenario {
            agent_pickup_seconds: Some(0.6),
            vcs_fetch_seconds: 0.4,
            apply_queue_seconds: 0.8,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let workspace = tfc.workspace(&check("acme", "private")).await.unwrap();
    assert_eq!(workspace.execution_mode.as_deref(), Some("agent"));
    let run = tfc.create_run(&ws, &normal_spec("fix")).await.unwrap();
    let fetching = wait_for(&tfc, &run.id, "fetching").await;
    assert!(driftguard_core::tfc::describe(&fetching, Some("agent")).contains("VCS"));
    let queued = wait_for(&tfc, &run.id, "plan_queued").await;
    assert!(driftguard_core::tfc::describe(&queued, Some("agent")).contains("agent"));
    let planned = wait_for(&tfc, &run.id, "planned").await;
    let plan: Value = http()
        .get(format!(
            "{}/api/v2/plans/{}",
            emulator.url(),
            planned.plan_id.as_deref().unwrap()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        plan["data"]["attributes"]["execution-details"]["mode"],
        json!("agent")
    );
    tfc.apply_run(&run.id, "go").await.unwrap();
    let apply_queued = wait_for(&tfc, &run.id, "apply_queued").await;
    assert_eq!(
        driftguard_core::tfc::phase_of(&apply_queued),
        driftguard_core::model::Phase::Running
    );
    wait_for(&tfc, &run.id, "applied").await;
}

/// The runs list: 30 requests per minute per user, whatever the general limit.
#[tokio::test]
async fn the_runs_list_allows_30_requests_per_minute_per_user() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace("acme", "prod", Scenario::default());
    emulator.add_token("someone-elses-token", "user-SomeoneElse0001");
    let url = format!("{}/api/v2/workspaces/{ws}/runs", emulator.url());
    for _ in 0..30 {
        let response = http().get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let refused = http().get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-limit"], "30");
    let reset: f64 = refused.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > 50.0 && reset <= 60.0, "{reset}");
    // Another user has a budget of their own; the rest of the API is not limited.
    let other = http()
        .get(&url)
        .bearer_auth("someone-elses-token")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    real_client(&emulator)
        .workspace(&check("acme", "prod"))
        .await
        .unwrap();
    let account: Value = http()
        .get(format!("{}/api/v2/account/details", emulator.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["data"]["id"], json!(DRIFTGUARD_USER));
    assert_eq!(account["data"]["type"], json!("users"));
}

/// A token whose team has only plan access: it can queue a plan but not read
/// its JSON (the API answers 404; the client says what is missing); read
/// access cannot queue runs at all.
#[tokio::test]
async fn plan_json_needs_workspace_admin_access() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "planners",
        Scenario {
            token_access: Access::Plan,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let run = tfc.create_run(&ws, &plan_only_spec("check")).await.unwrap();
    let done = wait_for(&tfc, &run.id, "planned_and_finished").await;
    let err = tfc
        .plan_json(done.plan_id.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TfcPermissionDenied", "{err}");
    assert!(err.to_string().contains("workspace admin access"), "{err}");

    emulator.set_scenario(
        "acme",
        "planners",
        Scenario {
            token_access: Access::Read,
            ..fast(Drift::Fixture)
        },
    );
    let err = tfc
        .create_run(&ws, &plan_only_spec("check"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TfcNotFound");
}

/// Terraform Enterprise: the 307 stays on the API's origin. The client still
/// sends no token there, and an errored plan's log is readable from its signed link.
#[tokio::test]
async fn same_origin_downloads_get_no_token_and_errored_plans_have_a_log() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace(
        "acme",
        "tfe",
        Scenario {
            same_origin_archivist: true,
            ..fast(Drift::Fixture)
        },
    );
    let tfc = real_client(&emulator);
    let run = tfc.create_run(&ws, &plan_only_spec("check")).await.unwrap();
    let done = wait_for(&tfc, &run.id, "planned_and_finished").await;
    let plan = tfc
        .plan_json(done.plan_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(plan.as_ref(), Some(plan_json::drift_fixture()));
    assert_eq!(emulator.archivist_token_leaks(), 0);
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| !r.path.contains("_archivist") || r.path.ends_with("<signed>")),
        "signed links are not recorded"
    );

    emulator.set_scenario(
        "acme",
        "tfe",
        Scenario {
            plan_errors: true,
            ..fast(Drift::Fixture)
        },
    );
    let run = tfc.create_run(&ws, &plan_only_spec("check")).await.unwrap();
    let errored = wait_for(&tfc, &run.id, "errored").await;
    let log = tfc
        .plan_log_tail(errored.plan_id.as_deref().unwrap(), 12)
        .await
        .unwrap()
        .unwrap();
    assert!(log.contains("No valid credential sources found"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes are stripped: {log:?}"
    );
    assert_eq!(emulator.archivist_token_leaks(), 0);
}

/// A run says who queued it (`relationships.created-by`: the user of the
/// token that queued it) and which configuration version it plans
/// (`relationships.configuration-version`); the workspace names its current
/// one (`relationships.current-configuration-version`), which a new
/// configuration version replaces.
#[tokio::test]
async fn runs_name_their_creator_and_configuration_version() {
    let emulator = TfcEmulator::start(TOKEN).await.unwrap();
    let ws = emulator.add_workspace("acme", "shared", fast(Drift::Fixture));
    emulator.add_token("mallory-token", "user-MalloryPlansOnly");
    let tfc = real_client(&emulator);
    let mallory = client(&emulator, StaticSecrets::new().with("tok", "mallory-token"));
    assert_eq!(tfc.token_user().await.unwrap(), DRIFTGUARD_USER);
    assert_eq!(mallory.token_user().await.unwrap(), "user-MalloryPlansOnly");

    let workspace = tfc.workspace(&check("acme", "shared")).await.unwrap();
    let current = workspace
        .current_configuration_version_id
        .clone()
        .expect("the workspace's current configuration version");
    let ours = tfc
        .create_run(&ws, &normal_spec("fix [tag]"))
        .await
        .unwrap();
    let planted = mallory
        .create_run(&ws, &normal_spec("fix [tag]"))
        .await
        .unwrap();
    assert_eq!(ours.created_by.as_deref(), Some(DRIFTGUARD_USER));
    assert_eq!(planted.created_by.as_deref(), Some("user-MalloryPlansOnly"));
    assert_eq!(
        ours.configuration_version_id.as_deref(),
        Some(current.as_str())
    );
    let listed = tfc.find_runs_by_tag(&ws, "[tag]").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [planted.id.as_str(), ours.id.as_str()], "newest first");
    assert_eq!(
        listed[0].created_by.as_deref(),
        Some("user-MalloryPlansOnly")
    );

    let newer = emulator
        .new_configuration_version("acme", "shared")
        .unwrap();
    assert_ne!(newer, current);
    let workspace = tfc.workspace(&check("acme", "shared")).await.unwrap();
    assert_eq!(
        workspace.current_configuration_version_id.as_deref(),
        Some(newer.as_str())
    );
    let read = tfc.read_run(&ours.id).await.unwrap();
    assert_eq!(
        read.configuration_version_id.as_deref(),
        Some(current.as_str()),
        "a run keeps the version it was queued with"
    );
}
