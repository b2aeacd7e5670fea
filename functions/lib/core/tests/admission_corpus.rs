//! Admission on real published CloudTrail records
//! (tests/fixtures/cloudtrail-corpus: Stratus Red Team detonation logs, Panther
//! rule tests, AWS documentation examples; sources and licences in its README).
//!
//! `decisions.json` holds, for every record, the decision an AWS security
//! engineer would make for a drift guard (admit, or ignore with a category) and,
//! for admitted changes, the resources the alert must name. Each record is
//! wrapped in the EventBridge envelope the way EventBridge delivers it
//! (`replay::envelope`) and evaluated with the seed setup's configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use driftguard_core::admission::{Evaluation, evaluate, replay};
use driftguard_core::config::{AdmissionConfig, WorkspaceRoute};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Decision {
    file: String,
    record: usize,
    event_name: String,
    decision: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    why: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloudtrail-corpus")
}

fn decisions() -> Vec<Decision> {
    let text = std::fs::read_to_string(corpus_dir().join("decisions.json")).expect("decisions");
    serde_json::from_str(&text).expect("decisions.json parses")
}

/// The records of a corpus file, as published: a list, or a log file's `Records`.
fn records(file: &str) -> Vec<Value> {
    let path = corpus_dir().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let document: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    match document {
        Value::Array(list) => list,
        Value::Object(mut map) => match map.remove("Records") {
            Some(Value::Array(list)) => list,
            _ => panic!("{file}: neither a list nor a log file"),
        },
        _ => panic!("{file}: neither a list nor a log file"),
    }
}

/// The seed setup: EC2, S3 and IAM monitored, HCP Terraform's role and
/// DriftGuard's own roles configured, one workspace without filters.
fn config() -> AdmissionConfig {
    AdmissionConfig {
        ignore_principal_arns: vec!["arn:aws:iam::*:role/tfc-*".into()],
        own_principal_arns: vec!["arn:aws:iam::*:role/driftguard-*".into()],
        ..AdmissionConfig::default()
    }
}

fn routes() -> Vec<WorkspaceRoute> {
    vec![WorkspaceRoute::new("acme", "prod")]
}

fn evaluate_record(file: &str, index: usize) -> (Value, Evaluation) {
    let record = records(file)
        .into_iter()
        .nth(index)
        .unwrap_or_else(|| panic!("{file} has no record {index}"));
    let event = replay::envelope(&record);
    let evaluation = evaluate(&event, &config(), &routes());
    (record, evaluation)
}

#[test]
fn every_published_record_gets_the_security_engineers_decision() {
    let decisions = decisions();
    let mut failures = Vec::new();
    for d in &decisions {
        let (record, evaluation) = evaluate_record(&d.file, d.record);
        let at = format!("{} #{} {}", d.file, d.record, d.event_name);
        if record.get("eventName").and_then(Value::as_str) != Some(d.event_name.as_str()) {
            failures.push(format!("{at}: the record is not {}", d.event_name));
            continue;
        }
        match (&evaluation, d.decision.as_str()) {
            (Evaluation::Admit { change, reason, .. }, "admit") => {
                let expected = d.resources.clone().unwrap_or_default();
                if change.resources != expected {
                    failures.push(format!(
                        "{at}: resources {:?}, expected {expected:?} ({reason})",
                        change.resources
                    ));
                }
            }
            (Evaluation::Ignore { category, reason }, "ignore") => {
                if Some(category.as_str()) != d.category.as_deref() {
                    failures.push(format!(
                        "{at}: ignored as {category} ({reason}), expected {:?}: {}",
                        d.category, d.why
                    ));
                }
            }
            (Evaluation::Admit { reason, .. }, _) => failures.push(format!(
                "{at}: admitted ({reason}), expected ignore: {}",
                d.why
            )),
            (Evaluation::Ignore { reason, .. }, _) => failures.push(format!(
                "{at}: ignored ({reason}), expected admit: {}",
                d.why
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_is_large_labelled_and_sourced() {
    let decisions = decisions();
    assert!(decisions.len() >= 100, "{} records", decisions.len());
    // Every record of every file is labelled, once.
    let mut labelled: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for d in &decisions {
        assert!(
            labelled.entry(&d.file).or_default().insert(d.record),
            "{} #{} labelled twice",
            d.file,
            d.record
        );
        assert!(!d.why.trim().is_empty());
        match d.decision.as_str() {
            "admit" => assert!(d.resources.is_some() && d.category.is_none(), "{d:?}"),
            "ignore" => assert!(d.category.is_some() && d.resources.is_none(), "{d:?}"),
            other => panic!("{}: decision {other}", d.file),
        }
    }
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    for source in ["stratus-red-team", "panther-analysis", "aws-docs"] {
        for entry in std::fs::read_dir(corpus_dir().join(source)).unwrap() {
            let path = entry.unwrap().path();
            let file = format!("{source}/{}", path.file_name().unwrap().to_string_lossy());
            let count = records(&file).len();
            let expected: BTreeSet<usize> = (0..count).collect();
            assert_eq!(
                labelled.get(file.as_str()),
                Some(&expected),
                "{file}: every record needs a decision"
            );
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(readme.contains(&name), "README.md does not source {file}");
        }
    }
    // Both decisions and the categories a drift guard meets in practice are covered.
    let categories: BTreeSet<&str> = decisions
        .iter()
        .filter_map(|d| d.category.as_deref())
        .collect();
    for category in [
        "failed_call",
        "read_only",
        "data_event",
        "service_not_monitored",
        "aws_service",
        "not_an_api_call",
    ] {
        assert!(categories.contains(category), "no {category} record");
    }
    let admitted = decisions.iter().filter(|d| d.decision == "admit").count();
    assert!(admitted >= 40, "{admitted} admitted records");
}

fn admitted_reason(file: &str, index: usize) -> String {
    match evaluate_record(file, index).1 {
        Evaluation::Admit { reason, .. } => reason,
        Evaluation::Ignore { reason, .. } => panic!("{file} #{index} ignored: {reason}"),
    }
}

#[test]
fn reasons_say_who_and_how() {
    // The root user in the console, creating its own access key.
    let reason = admitted_reason("panther-analysis/aws_root_access_key_created.json", 0);
    assert!(
        reason.starts_with(
            "The root user changed iam CreateAccessKey on 1111 in us-east-1 in the console"
        ),
        "{reason}"
    );
    // The S3 console, with an empty errorCode.
    let reason = admitted_reason("panther-analysis/aws_s3_bucket_deleted.json", 0);
    assert!(
        reason.contains("DeleteBucket on secrets in us-east-2 in the console"),
        "{reason}"
    );
    // An old console front end.
    let reason = admitted_reason("aws-docs/cloudtrail-log-file-examples.json", 4);
    assert!(reason.contains("in the console"), "{reason}");
    // Terraform from a person's session: checked, and said so.
    let reason = admitted_reason(
        "panther-analysis/aws_ec2_manual_security_group_changes.json",
        1,
    );
    assert!(
        reason.contains(
            "It was made with Terraform by arn:aws:sts::112233445566:assumed-role/Operator/ryan@example.com, which is not HCP Terraform's principal"
        ),
        "{reason}"
    );
    // CloudFormation carrying out a person's change.
    let reason = admitted_reason("panther-analysis/aws_iam_anything_changed.json", 0);
    assert!(
        reason.contains("through cloudformation.amazonaws.com"),
        "{reason}"
    );
    // A plain SDK call says neither.
    let reason = admitted_reason("stratus-red-team/aws.exfiltration.ec2-share-ami.json", 0);
    assert!(
        !reason.contains("console") && !reason.contains("through") && !reason.contains("Terraform"),
        "{reason}"
    );
}

#[test]
fn a_person_in_hcp_terraforms_role_is_checked_unless_the_oidc_check_is_off() {
    // The Terraform user agent of record 1 comes from a person's session
    // (ryan@example.com) of the Operator role, made without web identity.
    // With that role configured as HCP Terraform's principal, the session is
    // still a person's: HCP Terraform's sessions come through its OIDC provider.
    let record = records("panther-analysis/aws_ec2_manual_security_group_changes.json").remove(1);
    let config = AdmissionConfig {
        ignore_principal_arns: vec!["arn:aws:iam::112233445566:role/Operator".into()],
        ..AdmissionConfig::default()
    };
    let evaluation = evaluate(&replay::envelope(&record), &config, &routes());
    let Evaluation::Admit { reason, .. } = &evaluation else {
        panic!("{evaluation:?}");
    };
    assert!(
        reason.contains("did not come through the OIDC provider app.terraform.io"),
        "{reason}"
    );
    // Static keys that assume the role carry no web identity: with the check
    // switched off, every session of the role is Terraform's, as before.
    let without_oidc_check = AdmissionConfig {
        terraform_oidc_provider: String::new(),
        ..config
    };
    let evaluation = evaluate(&replay::envelope(&record), &without_oidc_check, &routes());
    assert_eq!(
        evaluation.ignore_category().map(|c| c.as_str()),
        Some("terraform_principal"),
        "{evaluation:?}"
    );
}
