//! The IAM lint itself (integration-tests/python/iam_lint.py through
//! local_stack::iam_lint) on hand-made documents: it must flag what it is there
//! to flag, so its clean result on the deployed stack means something. The
//! documents are shaped like the module's before the tighter scopes.
//!
//! Needs the project venv with parliament (`make .venv/.installed`).
//! Run: `cargo test -p driftguard-integration-tests --test iam_lint_rules`.

use std::path::PathBuf;

use local_stack::events::repo_root;
use local_stack::iam_lint::{LintReport, lint_request, run_script};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const WS: &str = "WS#acme/prod";
const PACE: &str = "PACE#app.terraform.io";

fn python() -> PathBuf {
    std::env::var_os("DRIFTGUARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
        .join("bin/python")
}

async fn lint(documents: Value) -> LintReport {
    let mut request = lint_request(&[WS.to_string()], PACE);
    request["documents"] = documents;
    request["expect_history_access"] = json!(false);
    run_script(&python(), &request)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn doc(label: &str, kind: &str, statements: Value) -> Value {
    json!({"label": label, "kind": kind, "document": {"Version": "2012-10-17", "Statement": statements}})
}

fn trust(service: &str, condition: Value) -> Value {
    json!([{
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }])
}

#[tokio::test]
async fn service_trust_needs_source_account_and_source_arn() {
    let account_only = json!({"StringEquals": {"aws:SourceAccount": ACCOUNT}});
    let both = json!({
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": format!("arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:dg-check")},
    });
    let report = lint(json!([
        doc(
            "iam-role/dg-states/trust",
            "trust",
            trust("states.amazonaws.com", account_only)
        ),
        doc(
            "iam-role/dg-events/trust",
            "trust",
            trust("events.amazonaws.com", both)
        ),
        doc(
            "iam-role/dg-record/trust",
            "trust",
            trust("lambda.amazonaws.com", json!({}))
        ),
    ]))
    .await;
    assert_eq!(
        report.scope_problems.len(),
        1,
        "only the states trust lacks a scope: {:?}",
        report.scope_problems
    );
    assert!(
        report.scope_problems[0].contains("dg-states")
            && report.scope_problems[0].contains("aws:SourceArn"),
        "{:?}",
        report.scope_problems
    );
    // The trust policies' missing Resource is a justified finding, not a failure.
    assert!(report.findings.is_empty(), "{}", report.problems());
    assert_eq!(report.justified.len(), 3, "{:?}", report.justified);
}

#[tokio::test]
async fn history_access_needs_the_workspace_partition_keys() {
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/dg-history");
    let statement = |condition: Value| {
        json!({
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": table,
            "Condition": condition,
        })
    };
    let leading = |keys: Value| json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}});
    let report = lint(json!([
        doc(
            "iam-role/dg-a/inline/a",
            "identity",
            json!([statement(json!({}))])
        ),
        doc(
            "iam-role/dg-b/inline/b",
            "identity",
            json!([statement(leading(json!(["WS#*"])))])
        ),
        doc(
            "iam-role/dg-c/inline/c",
            "identity",
            json!([statement(leading(json!([WS])))])
        ),
        doc(
            "iam-role/dg-d/inline/d",
            "identity",
            json!([statement(leading(json!([PACE])))])
        ),
    ]))
    .await;
    let problems = report.scope_problems.join("\n");
    assert_eq!(report.scope_problems.len(), 2, "{problems}");
    assert!(
        problems.contains("dg-a") && problems.contains("without dynamodb:LeadingKeys"),
        "{problems}"
    );
    assert!(
        problems.contains("dg-b") && problems.contains("WS#*"),
        "{problems}"
    );
}

#[tokio::test]
async fn bus_grants_name_the_forwarder_roles() {
    let bus = format!("arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default");
    let report = lint(json!([doc(
        "event-bus/eu-west-1/default",
        "resource",
        json!([
            {
                "Sid": "WholeAccount",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "events:PutEvents",
                "Resource": bus,
            },
            {
                "Sid": "ForwarderRole",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "events:PutEvents",
                "Resource": bus,
                "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/dg-*forwarder"}},
            },
        ])
    )]))
    .await;
    assert_eq!(
        report.scope_problems.len(),
        1,
        "{:?}",
        report.scope_problems
    );
    assert!(
        report.scope_problems[0].contains("WholeAccount"),
        "{:?}",
        report.scope_problems
    );
}

#[tokio::test]
async fn unjustified_findings_fail_and_stale_justifications_show() {
    let report = lint(json!([doc(
        "iam-role/dg-x/inline/x",
        "identity",
        json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}])
    )]))
    .await;
    assert!(!report.is_clean());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f["issue"] == "RESOURCE_STAR"),
        "{}",
        report.problems()
    );
    // None of the committed justifications matched these documents.
    assert!(!report.unused_justifications.is_empty());
    assert!(
        report.problems().contains("iam-lint.yaml"),
        "{}",
        report.problems()
    );
}
