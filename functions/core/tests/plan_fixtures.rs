//! The drift summary against real `terraform show -json` plans, made by
//! `tests/fixtures/drift-lab/generate-plans.sh` (Terraform 1.11 and the aws
//! provider 5.100 against moto). `drift.json` follows four out-of-band changes:
//! port 22 opened on the security group, bucket versioning suspended, the inline
//! policy widened to `"Action": "*"`, and the second IAM user deleted.

use std::path::PathBuf;

use driftguard_core::config::IgnoreRules;
use driftguard_core::model::DriftReport;
use driftguard_core::plan::{destructive_addresses, render_table, summarize};
use serde_json::{Map, Value};

fn fixture(name: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "plans",
        name,
    ]
    .iter()
    .collect();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn rules(addresses: &[&str], attributes: &[&str]) -> IgnoreRules {
    IgnoreRules {
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
        attributes: attributes.iter().map(|s| s.to_string()).collect(),
    }
}

fn addresses(report: &DriftReport) -> Vec<&str> {
    report
        .resources
        .iter()
        .map(|r| r.address.as_str())
        .collect()
}

/// The same plan with every array and every object's keys in reverse order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().rev().map(reversed).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map.iter().rev() {
                out.insert(key.clone(), reversed(item));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[test]
fn no_drift_plan_reports_nothing_despite_resource_drift_noise() {
    let plan = fixture("no-drift.json");
    let noise = plan["resource_drift"].as_array().map_or(0, Vec::len);
    assert!(
        noise > 0,
        "the fixture is expected to carry computed-attribute noise"
    );

    let report = summarize(&plan, &IgnoreRules::default());
    assert!(!report.drifted);
    assert_eq!(report.resource_count, 0);
    assert!(report.resources.is_empty());
    assert_eq!(report.ignored, 0);
    assert_eq!(report.fingerprint, "");
    assert!(destructive_addresses(&plan).is_empty());
    assert_eq!(render_table(&report), "No drift.\n");
}

#[test]
fn drift_plan_reports_the_four_changed_resources() {
    let report = summarize(&fixture("drift.json"), &IgnoreRules::default());
    assert!(report.drifted);
    assert_eq!(report.resource_count, 4);
    assert!(!report.truncated);
    assert_eq!(
        addresses(&report),
        [
            "aws_iam_user.auditor",
            "aws_iam_user_policy.deployer",
            "aws_s3_bucket_versioning.artifacts",
            "aws_security_group.web",
        ]
    );

    let by_address = |address: &str| {
        report
            .resources
            .iter()
            .find(|r| r.address == address)
            .unwrap_or_else(|| panic!("{address} missing"))
    };
    let auditor = by_address("aws_iam_user.auditor");
    assert_eq!(auditor.resource_type, "aws_iam_user");
    assert_eq!(
        auditor.actions,
        ["create"],
        "the deleted user is created again"
    );
    assert!(auditor.changed_attributes.is_empty());

    let policy = by_address("aws_iam_user_policy.deployer");
    assert_eq!(policy.actions, ["update"]);
    assert_eq!(policy.changed_attributes, ["policy"]);

    let versioning = by_address("aws_s3_bucket_versioning.artifacts");
    assert_eq!(versioning.actions, ["update"]);
    assert_eq!(
        versioning.changed_attributes,
        ["versioning_configuration[0].status"]
    );

    let group = by_address("aws_security_group.web");
    assert_eq!(group.actions, ["update"]);
    assert_eq!(
        group.changed_attributes,
        ["ingress"],
        "a rule was added, so the rule list is named"
    );

    assert_eq!(report.fingerprint.len(), 64);
}

#[test]
fn drift_report_carries_names_only() {
    let report = summarize(&fixture("drift.json"), &IgnoreRules::default());
    let serialized = serde_json::to_string(&report).expect("serialize report");
    for value in [
        "0.0.0.0/0",
        "Suspended",
        "Enabled",
        "s3:GetObject",
        "sg-",
        "123456789012",
    ] {
        assert!(!serialized.contains(value), "value {value} in {serialized}");
    }
}

#[test]
fn recreating_a_deleted_resource_is_not_destructive() {
    assert!(destructive_addresses(&fixture("drift.json")).is_empty());
}

#[test]
fn fingerprint_is_stable_when_keys_and_lists_are_reordered() {
    let plan = fixture("drift.json");
    let first = summarize(&plan, &IgnoreRules::default());
    let shuffled = summarize(&reversed(&plan), &IgnoreRules::default());
    // Text with keys in a different order must parse to the same report too.
    let reparsed: Value =
        serde_json::from_str(&serde_json::to_string(&reversed(&plan)).expect("serialize plan"))
            .expect("parse plan");
    let from_text = summarize(&reparsed, &IgnoreRules::default());

    assert_eq!(first.fingerprint, shuffled.fingerprint);
    assert_eq!(first.fingerprint, from_text.fingerprint);
    assert_eq!(first.resources.len(), shuffled.resources.len());
}

#[test]
fn address_rules_drop_the_recreated_user() {
    let all = summarize(&fixture("drift.json"), &IgnoreRules::default());
    let report = summarize(&fixture("drift.json"), &rules(&["aws_iam_user.*"], &[]));
    assert_eq!(report.resource_count, 3);
    assert_eq!(report.ignored, 1);
    assert!(!addresses(&report).contains(&"aws_iam_user.auditor"));
    assert_ne!(report.fingerprint, all.fingerprint);
}

#[test]
fn attribute_rules_drop_resources_whose_changes_are_all_ignored() {
    let report = summarize(
        &fixture("drift.json"),
        &rules(
            &[],
            &[
                "ingress",
                "aws_s3_bucket_versioning.*:versioning_configuration*",
                "aws_security_group.web:policy",
            ],
        ),
    );
    assert_eq!(
        addresses(&report),
        ["aws_iam_user.auditor", "aws_iam_user_policy.deployer"],
        "the scoped policy rule targets another resource, so the policy stays"
    );
    assert_eq!(report.ignored, 2);
    assert_eq!(report.resource_count, 2);
}

#[test]
fn ignoring_everything_leaves_no_drift() {
    let report = summarize(&fixture("drift.json"), &rules(&["*"], &[]));
    assert!(!report.drifted);
    assert_eq!(report.ignored, 4);
    assert_eq!(report.fingerprint, "");
    assert_eq!(
        render_table(&report),
        "No drift. 4 resources ignored by rules.\n"
    );
}

#[test]
fn table_lists_every_drifted_resource() {
    let report = summarize(&fixture("drift.json"), &IgnoreRules::default());
    let table = render_table(&report);
    for resource in &report.resources {
        assert!(table.contains(&resource.address), "{table}");
    }
    assert!(
        table.contains("versioning_configuration[0].status"),
        "{table}"
    );
    assert!(table.contains("Drift: 4 resources"), "{table}");
}
