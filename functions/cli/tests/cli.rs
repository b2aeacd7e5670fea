//! The `driftguard` binary on the fixtures, and `driftguard check` against an
//! HCP Terraform API served by wiremock.

use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(rel: &str) -> String {
    // The fixtures are the core's: the CLI is judged on the same documents.
    format!(
        "{}/../lib/core/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn driftguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftguard"))
        .args(args)
        .env_remove("TFE_TOKEN")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run driftguard")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn admit_prints_the_admission_contract() {
    let event = fixture("events/console-authorize-security-group-ingress.json");
    let out = driftguard(&[
        "admit",
        "--event",
        &event,
        "--organization",
        "acme",
        "--workspace",
        "prod",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admission = stdout_json(&out);
    assert_eq!(admission["decision"], "admit");
    assert_eq!(
        admission["checks"],
        json!([{"organization": "acme", "workspace": "prod"}])
    );
    assert_eq!(
        admission["change"]["event_name"],
        "AuthorizeSecurityGroupIngress"
    );
    assert!(admission["reason"].as_str().unwrap().len() > 10);
}

#[test]
fn admit_ignores_terraform_and_failed_calls_with_a_reason() {
    for name in [
        "terraform-authorize-security-group-ingress",
        "failed-authorize-security-group-ingress",
        "malformed-missing-detail",
    ] {
        let event = fixture(&format!("events/{name}.json"));
        let out = driftguard(&[
            "admit",
            "--event",
            &event,
            "--organization",
            "acme",
            "--workspace",
            "prod",
            "--ignore-principal",
            "arn:aws:iam::111122223333:role/tfc-acme-prod",
        ]);
        assert!(out.status.success());
        let admission = stdout_json(&out);
        assert_eq!(admission["decision"], "ignore", "{name}");
        assert!(!admission["reason"].as_str().unwrap().is_empty(), "{name}");
        assert_eq!(admission["checks"], json!([]));
    }
}

fn admit_file(path: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "admit",
        "--event",
        path,
        "--organization",
        "acme",
        "--workspace",
        "prod",
    ];
    args.extend_from_slice(extra);
    driftguard(&args)
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn record_of(fixture_name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("events/{fixture_name}.json"))).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["detail"].clone()
}

#[test]
fn admit_takes_a_bare_cloudtrail_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("record.json");
    std::fs::write(&path, record_of("root-delete-user").to_string()).unwrap();
    let out = admit_file(path.to_str().unwrap(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["record"], 1);
    assert_eq!(lines[0]["decision"], "admit");
    assert_eq!(lines[0]["change"]["event_name"], "DeleteUser");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is a CloudTrail record: 1 admitted, 0 ignored."),
        "{stderr}"
    );
}

#[test]
fn admit_replays_a_gzipped_cloudtrail_log_file_record_by_record() {
    use std::io::Write;
    let records = json!({"Records": [
        record_of("console-authorize-security-group-ingress"),
        record_of("failed-authorize-security-group-ingress"),
        record_of("read-only-describe-instances"),
        record_of("terraform-authorize-security-group-ingress"),
    ]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("111122223333_CloudTrail_eu-west-1_20250506T0915Z_abc.json.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(records.to_string().as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();

    let out = admit_file(
        path.to_str().unwrap(),
        &[
            "--ignore-principal",
            "arn:aws:iam::111122223333:role/tfc-acme-prod",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let decisions: Vec<(u64, &str, Option<&str>)> = lines
        .iter()
        .map(|l| {
            (
                l["record"].as_u64().unwrap(),
                l["decision"].as_str().unwrap(),
                l["category"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        vec![
            (1, "admit", None),
            (2, "ignore", Some("failed_call")),
            (3, "ignore", Some("read_only")),
            (4, "ignore", Some("terraform_principal")),
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is a CloudTrail log file with 4 records: 1 admitted, 3 ignored (failed_call 1, read_only 1, terraform_principal 1)."),
        "{stderr}"
    );
}

#[test]
fn admit_says_what_a_digest_or_other_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let digest = dir.path().join("digest.json");
    std::fs::write(
        &digest,
        json!({"awsAccountId": "111122223333", "digestStartTime": "2025-05-06T08:00:00Z",
            "digestEndTime": "2025-05-06T09:00:00Z", "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": []})
        .to_string(),
    )
    .unwrap();
    let out = admit_file(digest.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a CloudTrail digest file"), "{stderr}");
    assert!(out.stdout.is_empty());

    let other = dir.path().join("plan.json");
    std::fs::write(
        &other,
        json!({"format_version": "1.2", "resource_changes": []}).to_string(),
    )
    .unwrap();
    let out = admit_file(other.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("neither an EventBridge event"), "{stderr}");
    assert!(
        stderr.contains("CloudTrail log file as S3 stores it"),
        "{stderr}"
    );
}

#[test]
fn admit_exits_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let record = record_of("console-authorize-security-group-ingress");
    let records: Vec<Value> = (0..2_000).map(|_| record.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    std::fs::write(&path, json!({ "Records": records }).to_string()).unwrap();

    // `driftguard admit … | head -1`
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftguard"))
        .args([
            "admit",
            "--event",
            path.to_str().unwrap(),
            "--organization",
            "a",
            "--workspace",
            "b",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"record\":1"), "{first}");
    // The reader is dropped here: the pipe closes while the CLI still writes.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert!(stderr.contains("2000 admitted"), "{stderr}");
}

#[test]
fn a_file_that_is_not_json_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("event.txt");
    std::fs::write(&bad, "not json").unwrap();
    let out = driftguard(&[
        "admit",
        "--event",
        bad.to_str().unwrap(),
        "--organization",
        "a",
        "--workspace",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Each hint fits its input.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not JSON"), "{stderr}");
    assert!(stderr.contains("CloudTrail log file"), "{stderr}");
    assert!(!stderr.contains("terraform show"), "{stderr}");
    let out = driftguard(&["summarize", "--plan", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not JSON"), "{stderr}");
    assert!(stderr.contains("terraform show -json"), "{stderr}");
}

#[test]
fn summarize_prints_three_groups_and_exits_2_on_drift() {
    let out = driftguard(&["summarize", "--plan", &fixture("plans/both.json")]);
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "DRIFTED",
        "aws_security_group.web",
        "aws_s3_bucket_versioning.artifacts",
        "PENDING CODE",
        "aws_iam_user.reviewer",
        "INFORMATIONAL",
        "aws_iam_user.ops",
        "Drift: 8 resources. 3 resources have unapplied code changes (not drift).",
    ] {
        assert!(table.contains(needle), "{needle} missing from:\n{table}");
    }
}

#[test]
fn unapplied_code_alone_exits_0_with_a_note() {
    let out = driftguard(&["summarize", "--plan", &fixture("plans/code-only.json")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("No drift. 3 resources have unapplied code changes (not drift).")
    );
}

#[test]
fn summarize_json_lists_drift_pending_code_and_informational() {
    let out = driftguard(&[
        "summarize",
        "--plan",
        &fixture("plans/both.json"),
        "--json",
        "--ignore-address",
        "module.team.*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report = stdout_json(&out);
    assert_eq!(report["drifted"], true);
    assert_eq!(report["resource_count"], 7);
    assert_eq!(report["ignored"], 1);
    let group = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "aws_security_group.web")
        .unwrap();
    assert_eq!(group["changed_attributes"], json!(["ingress"]));
    assert_eq!(group["also_pending_code"], true);
    assert_eq!(report["pending_changes"]["count"], 3);
    let reviewer = &report["pending_changes"]["resources"][0];
    assert_eq!(reviewer["address"], "aws_iam_user.reviewer");
    assert_eq!(reviewer["actions"], json!(["create"]));
    assert_eq!(report["informational"]["count"], 3);
    assert!(
        report["informational"]["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!("aws_iam_user.ops"))
    );
    assert_eq!(report["plan_mode"], "normal");

    let out = driftguard(&[
        "summarize",
        "--plan",
        &fixture("plans/no-drift.json"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out)["drifted"], false);
}

#[test]
fn refresh_only_plans_are_judged_with_the_provider_schema() {
    let plan = fixture("plans/out-of-band.refresh-only.json");
    let without = stdout_json(&driftguard(&["summarize", "--plan", &plan, "--json"]));
    assert_eq!(without["plan_mode"], "refresh_only");
    assert_eq!(without["resource_count"], 8);
    assert_eq!(
        without["informational"]["possibly_managed"][0]["address"],
        "aws_iam_user.deployer"
    );
    let out = driftguard(&[
        "summarize",
        "--plan",
        &plan,
        "--json",
        "--provider-schema",
        &fixture("plans/aws-provider-schema.json"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let with = stdout_json(&out);
    assert_eq!(
        with["resource_count"], 9,
        "the tag added to a user without tags in code"
    );
    assert!(with["informational"].get("possibly_managed").is_none());
}

#[test]
fn documents_that_cannot_be_judged_exit_1_and_say_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("tfplan");
    std::fs::write(&binary, b"PK\x03\x04 a zip").unwrap();
    let errored = dir.path().join("errored.json");
    std::fs::write(
        &errored,
        r#"{"format_version":"1.2","planned_values":{},"errored":true}"#,
    )
    .unwrap();
    for (file, expected) in [
        (fixture("plans/state.json"), "Terraform state, not a plan"),
        (
            fixture("plans/aws-provider-schema.json"),
            "--provider-schema",
        ),
        (
            fixture("plans/out-of-band.remediation.json"),
            "without -target",
        ),
        (
            binary.display().to_string(),
            "terraform show -json PLANFILE",
        ),
        (errored.display().to_string(), "\"errored\": true"),
    ] {
        let out = driftguard(&["summarize", "--plan", &file]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        assert!(out.stdout.is_empty(), "no verdict for {file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot judge") && stderr.contains(expected),
            "{file}: {stderr}"
        );
    }
}

#[test]
fn check_without_a_token_says_how_to_get_one() {
    let out = driftguard(&["check", "--organization", "acme", "--workspace", "prod"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TFE_TOKEN"));
}

fn api(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/vnd.api+json")
}

fn run(status: &str) -> Value {
    json!({"data": {"id": "run-1", "type": "runs",
        "attributes": {"status": status, "message": "DriftGuard CLI drift check", "plan-only": true, "has-changes": true,
            "created-at": "2026-11-22T10:00:00.000Z",
            "actions": {"is-cancelable": true, "is-confirmable": false, "is-discardable": false, "is-force-cancelable": false}},
        "relationships": {"plan": {"data": {"id": "plan-1", "type": "plans"}}, "workspace": {"data": {"id": "ws-1", "type": "workspaces"}}}}})
}

#[tokio::test(flavor = "multi_thread")]
async fn check_runs_a_speculative_plan_and_exits_2_on_drift() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/acme/workspaces/prod"))
        .and(header("authorization", "Bearer secret-token"))
        .respond_with(api(
            200,
            json!({"data": {"id": "ws-1", "type": "workspaces", "attributes": {"name": "prod"}}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/runs"))
        .respond_with(api(201, run("pending")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-1"))
        .respond_with(api(200, run("planned_and_finished")))
        .mount(&server)
        .await;
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("plans/out-of-band.json")).unwrap())
            .unwrap();
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(ResponseTemplate::new(200).set_body_json(plan))
        .mount(&server)
        .await;

    let uri = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_driftguard"))
            .args([
                "check",
                "--organization",
                "acme",
                "--workspace",
                "prod",
                "--json",
            ])
            .env("TFE_TOKEN", "secret-token")
            .env("TFE_ADDRESS", uri)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["drifted"], true);
    assert_eq!(report["resource_count"], 8);
    assert_eq!(report["pending_changes"]["count"], 0);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("secret-token"),
        "the token is never printed"
    );
}

async fn check_against(server: &MockServer, timeout: &str) -> Output {
    let uri = server.uri();
    let timeout = timeout.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_driftguard"))
            .args([
                "check",
                "--organization",
                "acme",
                "--workspace",
                "prod",
                "--json",
                "--timeout",
                &timeout,
            ])
            .env("TFE_TOKEN", "secret-token")
            .env("TFE_ADDRESS", uri)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn mount_workspace_and_run(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/acme/workspaces/prod"))
        .respond_with(api(
            200,
            json!({"data": {"id": "ws-1", "type": "workspaces", "attributes": {"name": "prod"}}}),
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/runs"))
        .respond_with(api(201, run("pending")))
        .expect(1)
        .mount(server)
        .await;
}

/// A run rate-limited for a few seconds: the CLI waits out `x-ratelimit-reset`
/// (more than three times) within its --timeout, instead of giving up.
#[tokio::test(flavor = "multi_thread")]
async fn check_waits_out_rate_limits_within_its_timeout() {
    let server = MockServer::start().await;
    mount_workspace_and_run(&server).await;
    let too_many = || {
        api(
            429,
            json!({"errors": [{"status": "429", "title": "Too many requests", "detail": "You have exceeded the API's rate limit."}]}),
        )
        .insert_header("x-ratelimit-limit", "30")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", "0.2")
    };
    // Every read of the run is refused 12 times (the client itself retries twice per call).
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-1"))
        .respond_with(too_many())
        .up_to_n_times(12)
        .mount(&server)
        .await;
    mount_finished_run(&server).await;
    mount_empty_plan_json(&server).await;
    let out = check_against(&server, "120").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("waiting"), "{stderr}");
}

/// An errored plan: the CLI quotes the plan's log, in the CLI's words (no
/// "step is retried", no "redrive", no plan_timeout_seconds).
#[tokio::test(flavor = "multi_thread")]
async fn check_of_an_errored_plan_quotes_the_plan_log() {
    let server = MockServer::start().await;
    mount_workspace_and_run(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-1"))
        .respond_with(api(200, run("errored")))
        .mount(&server)
        .await;
    let log_url = format!("{}/_archivist/v1/object/bG9nLXNpZ25lZA", server.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1"))
        .respond_with(api(
            200,
            json!({"data": {"id": "plan-1", "type": "plans",
            "attributes": {"status": "errored", "log-read-url": log_url}}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_archivist/v1/object/bG9nLXNpZ25lZA"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "Terraform v1.11.4\n│ Error: Unsupported argument\n│   on main.tf line 3, in resource \"aws_s3_bucket\" \"b\":\n╵\nOperation failed: failed running terraform plan (exit 1)\n",
        ))
        .mount(&server)
        .await;
    let out = check_against(&server, "60").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the plan errored"), "{stderr}");
    assert!(stderr.contains("Error: Unsupported argument"), "{stderr}");
    for lambda_word in [
        "step is retried",
        "redrive",
        "plan_timeout_seconds",
        "Unexpected response",
    ] {
        assert!(!stderr.contains(lambda_word), "{stderr}");
    }
    assert!(
        !stderr.contains("bG9nLXNpZ25lZA"),
        "the signed log link is printed: {stderr}"
    );
}

/// The run, finished planning.
async fn mount_finished_run(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v2/runs/run-1"))
        .respond_with(api(200, run("planned_and_finished")))
        .mount(server)
        .await;
}

/// A plan JSON without changes.
async fn mount_empty_plan_json(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"format_version": "1.2", "resource_changes": []})),
        )
        .mount(server)
        .await;
}

/// The plan JSON answers 204 (not ready) `times` times, or always.
async fn mount_plan_json_not_ready(server: &MockServer, times: Option<u64>) {
    let mock = Mock::given(method("GET"))
        .and(path("/api/v2/plans/plan-1/json-output"))
        .respond_with(ResponseTemplate::new(204));
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

/// The plan JSON answers 204 (HCP Terraform is still writing it): the CLI
/// reads it again on the poll schedule, as the state machine's retry does.
#[tokio::test(flavor = "multi_thread")]
async fn check_reads_the_plan_json_again_while_it_is_not_ready() {
    let server = MockServer::start().await;
    mount_workspace_and_run(&server).await;
    mount_finished_run(&server).await;
    mount_plan_json_not_ready(&server, Some(1)).await;
    mount_empty_plan_json(&server).await;
    let out = check_against(&server, "60").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not ready"), "{stderr}");
}

/// A plan JSON that never becomes ready: the check gives up within
/// --timeout and exits 1 saying so, instead of waiting forever.
#[tokio::test(flavor = "multi_thread")]
async fn check_gives_up_on_a_plan_json_that_never_comes_within_its_timeout() {
    let server = MockServer::start().await;
    mount_workspace_and_run(&server).await;
    mount_finished_run(&server).await;
    mount_plan_json_not_ready(&server, None).await;
    let started = std::time::Instant::now();
    let out = check_against(&server, "8").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not provide its JSON"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
