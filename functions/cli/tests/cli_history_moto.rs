//! `driftguard dashboard` and `driftguard history` against a history table on
//! moto's DynamoDB (the same endpoint option the local stack uses).

use driftguard_testkit::moto;

use driftguard_testkit::InMemoryMetrics;
use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use driftguard_aws::DynamoHistory;
use driftguard_core::config::Config;
use driftguard_core::model::*;
use driftguard_core::steps;

const TABLE: &str = "driftguard-history";

fn driftguard(endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftguard"));
    cmd.args(args)
        .args([
            "--table",
            TABLE,
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"));
    cmd
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "driftguard failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One drifted check of acme/network recorded a minute ago.
async fn seed(endpoint: &str) {
    let client = moto::client_with_table(endpoint, TABLE).await;
    let store = DynamoHistory::new(client, TABLE);
    let vars: HashMap<&str, &str> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION", "acme"),
        ("DRIFTGUARD_WORKSPACE", "network"),
        ("AWS_REGION", "us-east-1"),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let now = chrono::Utc::now();
    let outcome = CheckOutcome {
        poll: None,
        status: CheckStatus::DriftDetected,
        check: CheckRef {
            organization: "acme".into(),
            workspace: "network".into(),
        },
        execution_id: "arn:aws:states:us-east-1:123456789012:execution:sm:e1".into(),
        started_at: (now - chrono::Duration::minutes(2)).to_rfc3339(),
        change: Some(Change {
            event_id: "ev-1".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: (now - chrono::Duration::minutes(3)).to_rfc3339(),
            aws_region: "us-east-1".into(),
            account_id: "123456789012".into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some("arn:aws:iam::123456789012:user/alice".into()),
                principal_id: None,
            },
            resources: vec!["sg-1".into()],
            ..Change::default()
        }),
        run: None,
        drift: Some(DriftReport {
            drifted: true,
            resource_count: 1,
            resources: vec![DriftedResource {
                address: "aws_security_group.web".into(),
                resource_type: "aws_security_group".into(),
                actions: vec!["update".into()],
                changed_attributes: vec!["ingress".into()],
                ..Default::default()
            }],
            truncated: false,
            omitted: 0,
            ignored: 0,
            fingerprint: "fp".into(),
            ..Default::default()
        }),
        remediation: None,
        failure: None,
        approval: None,
    };
    steps::record(
        &outcome,
        &store,
        &InMemoryMetrics::new(),
        &config,
        now - chrono::Duration::minutes(1),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn dashboard_and_history_read_any_dynamodb_endpoint() {
    let Some(moto) = moto::start_moto().await else {
        return;
    };
    seed(&moto.endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("dashboard.html");
    let page_arg = page.display().to_string();

    let out = driftguard(&moto.endpoint, &["dashboard", "--out", &page_arg])
        .output()
        .unwrap();
    ok(out.clone());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 workspace, 1 open drift episode"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("aws_security_group.web") && html.contains("alice"));

    let text = ok(driftguard(&moto.endpoint, &["history"]).output().unwrap());
    assert!(text.contains("acme/network  DriftDetected  1"), "{text}");
    assert!(
        text.contains("open   acme/network  aws_security_group.web"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(driftguard(
        &moto.endpoint,
        &["history", "--json", "--workspace", "acme/network"],
    )
    .output()
    .unwrap()))
    .unwrap();
    assert_eq!(json["checks"][0]["status"], "DriftDetected");
    assert_eq!(
        json["episodes"]["open"][0]["address"],
        "aws_security_group.web"
    );

    let bad = driftguard(&moto.endpoint, &["history", "--workspace", "network"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ORGANIZATION/WORKSPACE"));

    // --serve: the page over HTTP, rendered per request.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = driftguard(&moto.endpoint, &["dashboard", "--serve", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let mut body = None;
    for _ in 0..100 {
        if let Ok(resp) = reqwest::get(&url).await {
            assert_eq!(resp.status(), 200);
            body = Some(resp.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing = reqwest::get(format!("{url}nothing"))
        .await
        .map(|r| r.status().as_u16());
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        body.expect("the server answered")
            .contains("Open drift now")
    );
    assert_eq!(missing.ok(), Some(404));
}
