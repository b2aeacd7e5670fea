//! Shapes the real fixtures (tests/plan_fixtures.rs) do not produce: moved and
//! deposed objects, sensitivity-only changes, unknowns, malformed and foreign
//! documents, caps, ignore rules. Real plans come first; these are hand-written.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::model::MAX_RESOURCES_IN_STATE;

fn entry(address: &str, actions: &[&str], before: Value, after: Value) -> Value {
    let resource_type = address.split('.').next().unwrap_or_default();
    let name = address.split('.').nth(1).unwrap_or_default();
    json!({
        "address": address, "mode": "managed", "type": resource_type, "name": name,
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    })
}

fn plan(drift: Vec<Value>, changes: Vec<Value>) -> Value {
    json!({"format_version": "1.2", "terraform_version": "1.11.4", "planned_values": {},
           "resource_drift": drift, "resource_changes": changes})
}

fn summarize_json(plan: &Value) -> Result<Summary, PlanError> {
    summarize_slice(&serde_json::to_vec(plan).unwrap(), &Options::default())
}

fn summary(plan: &Value) -> Summary {
    summarize_json(plan).unwrap_or_else(|e| panic!("{e}"))
}

fn rules(addresses: &[&str], attributes: &[&str]) -> IgnoreRules {
    IgnoreRules {
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
        attributes: attributes.iter().map(|s| s.to_string()).collect(),
    }
}

fn with_rules(plan: &Value, rules: &IgnoreRules) -> Summary {
    let options = Options {
        rules: Some(rules),
        ..Options::default()
    };
    summarize_slice(&serde_json::to_vec(plan).unwrap(), &options).unwrap()
}

fn drifted(summary: &Summary) -> Vec<(&str, Vec<&str>)> {
    summary
        .analysis
        .drifted
        .iter()
        .map(|r| {
            (
                r.address.as_str(),
                r.changed_attributes.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// A person widened a policy; the plan changes it back.
fn console_change() -> Value {
    plan(
        vec![entry(
            "aws_iam_policy.p",
            &["update"],
            json!({"policy": "narrow", "tags": {"Owner": "a"}}),
            json!({"policy": "wide", "tags": {"Owner": "a"}}),
        )],
        vec![entry(
            "aws_iam_policy.p",
            &["update"],
            json!({"policy": "wide", "tags": {"Owner": "a"}}),
            json!({"policy": "narrow", "tags": {"Owner": "a"}}),
        )],
    )
}

#[test]
fn drift_is_what_the_plan_changes_back() {
    let s = summary(&console_change());
    assert_eq!(drifted(&s), [("aws_iam_policy.p", vec!["policy"])]);
    assert!(s.analysis.pending.is_empty());
    let report = s.report();
    assert!(report.drifted);
    assert_eq!(report.fingerprint.len(), 64);
}

#[test]
fn a_code_change_alone_is_pending_code_not_drift() {
    let s = summary(&plan(
        vec![],
        vec![
            entry(
                "aws_iam_policy.p",
                &["update"],
                json!({"policy": "a"}),
                json!({"policy": "b"}),
            ),
            entry(
                "aws_iam_user.new",
                &["create"],
                Value::Null,
                json!({"name": "n"}),
            ),
            entry(
                "aws_iam_user.old",
                &["delete"],
                json!({"name": "o"}),
                Value::Null,
            ),
        ],
    ));
    assert!(s.analysis.drifted.is_empty());
    let report = s.report();
    assert!(!report.drifted);
    assert_eq!(report.fingerprint, "");
    assert_eq!(report.pending_changes.count, 3);
    assert_eq!(
        report.pending_changes.resources[0].changed_attributes,
        ["policy"]
    );
    assert_eq!(s.analysis.destructive, ["aws_iam_user.old"]);
}

#[test]
fn drift_and_code_on_the_same_path_is_drifted_and_flagged() {
    let s = summary(&plan(
        vec![entry(
            "aws_iam_policy.p",
            &["update"],
            json!({"policy": "a"}),
            json!({"policy": "console"}),
        )],
        vec![entry(
            "aws_iam_policy.p",
            &["update"],
            json!({"policy": "console"}),
            json!({"policy": "new-code"}),
        )],
    ));
    let resource = &s.analysis.drifted[0];
    assert_eq!(resource.changed_attributes, ["policy"]);
    assert!(resource.also_pending_code);
    assert_eq!(s.analysis.pending[0].changed_attributes, ["policy"]);
}

#[test]
fn changes_outside_that_the_plan_keeps_are_informational() {
    let s = summary(&plan(
        vec![entry(
            "aws_iam_role.r",
            &["update"],
            json!({"arn": "a", "tags": {"x": "1"}}),
            json!({"arn": "b", "tags": {"x": "2"}}),
        )],
        vec![entry("aws_iam_role.r", &["no-op"], json!({}), json!({}))],
    ));
    assert!(s.analysis.drifted.is_empty());
    assert_eq!(s.analysis.informational[0].paths, ["arn", "tags.x"]);
    assert_eq!(s.report().informational.count, 1);
}

#[test]
fn moved_resources_join_on_the_new_address_and_show_the_old_one() {
    let mut drift = entry(
        "aws_s3_bucket.new",
        &["update"],
        json!({"acl": "private"}),
        json!({"acl": "public"}),
    );
    drift["previous_address"] = json!("aws_s3_bucket.old");
    let mut change = entry(
        "aws_s3_bucket.new",
        &["update"],
        json!({"acl": "public"}),
        json!({"acl": "private"}),
    );
    change["previous_address"] = json!("aws_s3_bucket.old");
    let s = summary(&plan(vec![drift], vec![change]));
    assert_eq!(
        s.analysis.drifted[0].previous_address.as_deref(),
        Some("aws_s3_bucket.old")
    );
    assert!(!s.analysis.drifted[0].also_pending_code);
}

#[test]
fn deposed_objects_and_data_sources_are_skipped_but_deposed_deletes_are_destructive() {
    let mut deposed = entry(
        "aws_instance.a",
        &["delete"],
        json!({"ami": "1"}),
        Value::Null,
    );
    deposed["deposed"] = json!("00000001");
    let mut data = entry("data.aws_ami.a", &["read"], Value::Null, json!({"id": "x"}));
    data["mode"] = json!("data");
    let s = summary(&plan(vec![], vec![deposed, data]));
    assert!(s.analysis.drifted.is_empty() && s.analysis.pending.is_empty());
    assert_eq!(s.analysis.destructive, ["aws_instance.a"]);
}

#[test]
fn sensitive_values_are_named_never_copied() {
    let mut drift = entry(
        "aws_lambda_function.api",
        &["update"],
        json!({"environment": [{"variables": {"DB_PASSWORD": "hunter2"}}]}),
        json!({"environment": [{"variables": {"DB_PASSWORD": "s3cret", "NEW": "x"}}]}),
    );
    drift["change"]["before_sensitive"] = json!({"environment": [{"variables": true}]});
    drift["change"]["after_sensitive"] = json!({"environment": [{"variables": true}]});
    let mut change = entry(
        "aws_lambda_function.api",
        &["update"],
        json!({"environment": [{"variables": {"DB_PASSWORD": "s3cret", "NEW": "x"}}]}),
        json!({"environment": [{"variables": {"DB_PASSWORD": "hunter2"}}]}),
    );
    change["change"]["before_sensitive"] = json!({"environment": [{"variables": true}]});
    change["change"]["after_sensitive"] = json!({"environment": [{"variables": true}]});
    let s = summary(&plan(vec![drift], vec![change]));
    assert_eq!(
        drifted(&s),
        [("aws_lambda_function.api", vec!["environment[0].variables"])]
    );
    let text = serde_json::to_string(&s.report()).unwrap() + &render_table(&s.report());
    for secret in ["hunter2", "s3cret", "DB_PASSWORD", "NEW"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn sensitivity_only_and_unknown_only_updates() {
    let mut sensitivity = entry(
        "aws_ssm_parameter.p",
        &["update"],
        json!({"value": "x"}),
        json!({"value": "x"}),
    );
    sensitivity["change"]["after_sensitive"] = json!({"value": true});
    let mut unknown = entry(
        "aws_instance.i",
        &["update"],
        json!({"arn": "a"}),
        json!({"arn": null}),
    );
    unknown["change"]["after_unknown"] = json!({"arn": true});
    let s = summary(&plan(vec![], vec![sensitivity, unknown]));
    let pending: Vec<&str> = s
        .analysis
        .pending
        .iter()
        .map(|p| p.address.as_str())
        .collect();
    assert_eq!(
        pending,
        ["aws_instance.i"],
        "a sensitivity-only change changes nothing"
    );
    assert!(s.analysis.pending[0].changed_attributes.is_empty());
}

#[test]
fn resource_deleted_outside_and_recreated_with_new_code_is_flagged() {
    let deleted = json!({
        "address": "aws_iam_user.u", "mode": "managed", "type": "aws_iam_user", "name": "u",
        "change": {"actions": ["delete"], "before": {"name": "u", "path": "/", "arn": "arn:1"}, "after": null}});
    let recreate = |path: &str| {
        let mut e = entry(
            "aws_iam_user.u",
            &["create"],
            Value::Null,
            json!({"name": "u", "path": path}),
        );
        e["change"]["after_unknown"] = json!({"arn": true});
        e
    };
    let configuration = json!({"root_module": {"resources": [
        {"mode": "managed", "type": "aws_iam_user", "name": "u", "expressions": {"name": {}, "path": {}}}]}});
    let mut same = plan(vec![deleted.clone()], vec![recreate("/")]);
    same["configuration"] = configuration.clone();
    let s = summary(&same);
    assert!(s.analysis.drifted[0].deleted);
    assert!(!s.analysis.drifted[0].also_pending_code);
    let mut changed = plan(vec![deleted.clone()], vec![recreate("/ops/")]);
    changed["configuration"] = configuration.clone();
    let s = summary(&changed);
    assert!(s.analysis.drifted[0].also_pending_code);
    assert_eq!(s.analysis.pending[0].changed_attributes, ["path"]);
    // In Terraform's own key order (resource_drift before resource_changes) too.
    let text = format!(
        r#"{{"format_version":"1.2","planned_values":{{}},"resource_drift":[{}],"resource_changes":[{}],"configuration":{}}}"#,
        deleted,
        recreate("/ops/"),
        configuration
    );
    let s = summarize_slice(text.as_bytes(), &Options::default()).unwrap();
    assert!(s.analysis.drifted[0].also_pending_code);
}

#[test]
fn foreign_documents_are_named_with_what_to_run() {
    let cases = [
        (
            json!({"format_version": "1.0", "terraform_version": "1.11.4", "values": {"root_module": {}}}),
            "Terraform state",
        ),
        (
            json!({"format_version": "1.0", "provider_schemas": {}}),
            "--provider-schema",
        ),
        (json!({"hello": "world"}), "not a Terraform plan"),
        (json!([1, 2]), "not a readable plan"),
        (
            json!({"format_version": "1.2", "planned_values": {}, "errored": true}),
            "\"errored\": true",
        ),
        (
            json!({"format_version": "1.2", "planned_values": {}, "complete": false}),
            "without -target",
        ),
        (
            json!({"format_version": "2.0", "planned_values": {}}),
            "upgrade DriftGuard",
        ),
        (
            json!({"format_version": "1.2", "resource_changes": "nope"}),
            "not a readable plan",
        ),
        (
            json!({"format_version": "1.2", "resource_changes": [{"change": {"actions": ["update"]}}]}),
            "has no \"address\"",
        ),
    ];
    for (document, expected) in cases {
        let err = summarize_json(&document).unwrap_err().to_string();
        assert!(err.contains(expected), "{document}: {err}");
    }
    let err = summarize_slice(
        b"Terraform will perform the following actions:",
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::NotJson(_)), "{err}");
    let err = summarize_slice(b"PK\x03\x04binary", &Options::default()).unwrap_err();
    assert_eq!(err, PlanError::BinaryPlan);
}

#[test]
fn format_0_1_plans_are_judged_only_without_changes() {
    let old = |changes: Vec<Value>| json!({"format_version": "0.1", "terraform_version": "0.12.23", "planned_values": {}, "resource_changes": changes});
    let none = summary(&old(vec![entry(
        "aws_s3_bucket.b",
        &["no-op"],
        json!({}),
        json!({}),
    )]));
    assert!(!none.report().drifted);
    let err = summarize_json(&old(vec![entry(
        "aws_s3_bucket.b",
        &["update"],
        json!({"acl": "a"}),
        json!({"acl": "b"}),
    )]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("0.12.23") && err.contains("0.15.4"), "{err}");
}

#[test]
fn targeted_plans_are_accepted_when_asked() {
    let mut targeted = console_change();
    targeted["complete"] = json!(false);
    assert_eq!(
        summarize_json(&targeted).unwrap_err(),
        PlanError::Incomplete
    );
    let options = Options {
        allow_incomplete: true,
        ..Options::default()
    };
    let s = summarize_slice(&serde_json::to_vec(&targeted).unwrap(), &options).unwrap();
    assert_eq!(s.analysis.drifted.len(), 1);
}

#[test]
fn ignore_rules_drop_addresses_and_paths_and_count_resources() {
    let both = plan(
        vec![
            entry(
                "aws_iam_policy.p",
                &["update"],
                json!({"policy": "a", "tags": {"Seen": "1"}}),
                json!({"policy": "b", "tags": {"Seen": "2"}}),
            ),
            entry(
                "aws_iam_user.u[\"a\"]",
                &["update"],
                json!({"path": "/"}),
                json!({"path": "/x/"}),
            ),
        ],
        vec![
            entry(
                "aws_iam_policy.p",
                &["update"],
                json!({"policy": "b", "tags": {"Seen": "2"}}),
                json!({"policy": "a", "tags": {"Seen": "1"}}),
            ),
            entry(
                "aws_iam_user.u[\"a\"]",
                &["update"],
                json!({"path": "/x/"}),
                json!({"path": "/"}),
            ),
        ],
    );
    let s = with_rules(
        &both,
        &rules(&["aws_iam_user.u[\"a\"]"], &["aws_iam_policy.*:tags.*"]),
    );
    assert_eq!(drifted(&s), [("aws_iam_policy.p", vec!["policy"])]);
    assert_eq!(s.ignored, 1);
    let s = with_rules(&both, &rules(&["aws_iam_user.*"], &["policy", "tags"]));
    assert!(s.analysis.drifted.is_empty());
    assert_eq!(s.report().ignored, 2);
    let s = with_rules(&both, &rules(&["aws_iam_{user"], &[]));
    assert_eq!(
        s.analysis.drifted.len(),
        2,
        "an invalid glob matches only its own text"
    );
}

#[test]
fn report_caps_lists_but_counts_everything_and_fingerprints_all() {
    let n = MAX_RESOURCES_IN_STATE + 7;
    let drift = (0..n)
        .map(|i| {
            entry(
                &format!("aws_iam_user.u{i:03}"),
                &["update"],
                json!({"path": "/"}),
                json!({"path": "/x/"}),
            )
        })
        .collect();
    let changes = (0..n)
        .map(|i| {
            entry(
                &format!("aws_iam_user.u{i:03}"),
                &["update"],
                json!({"path": "/x/"}),
                json!({"path": "/"}),
            )
        })
        .collect();
    let s = summary(&plan(drift, changes));
    let report = s.report();
    assert_eq!(report.resource_count, n);
    assert_eq!(report.resources.len(), MAX_RESOURCES_IN_STATE);
    assert!(report.truncated);
    assert_eq!(report.omitted, 7);
    assert_eq!(s.full_report().resources.len(), n);
    assert_eq!(report.fingerprint, s.full_report().fingerprint);
}

#[test]
fn fingerprint_covers_drifted_paths_only() {
    let first = summary(&console_change()).report().fingerprint;
    let mut with_code = console_change();
    with_code["resource_changes"]
        .as_array_mut()
        .unwrap()
        .push(entry(
            "aws_iam_user.new",
            &["create"],
            Value::Null,
            json!({"name": "n"}),
        ));
    assert_eq!(
        summary(&with_code).report().fingerprint,
        first,
        "pending code does not change it"
    );
    let mut other = console_change();
    other["resource_drift"][0]["change"]["after"]["tags"] = json!({"Owner": "b"});
    other["resource_changes"][0]["change"]["before"]["tags"] = json!({"Owner": "b"});
    assert_ne!(summary(&other).report().fingerprint, first);
}

#[test]
fn many_paths_collapse_to_top_level_names() {
    let before: serde_json::Map<String, Value> =
        (0..30).map(|i| (format!("k{i}"), json!(1))).collect();
    let after: serde_json::Map<String, Value> =
        (0..30).map(|i| (format!("k{i}"), json!(2))).collect();
    let s = summary(&plan(
        vec![entry(
            "aws_instance.a",
            &["update"],
            json!({"tags": before, "ami": "1"}),
            json!({"tags": after, "ami": "2"}),
        )],
        vec![entry(
            "aws_instance.a",
            &["update"],
            json!({"tags": after, "ami": "2"}),
            json!({"tags": before, "ami": "1"}),
        )],
    ));
    assert_eq!(s.analysis.drifted[0].changed_attributes.len(), 31);
    assert_eq!(s.report().resources[0].changed_attributes, ["ami", "tags"]);
}

#[test]
fn table_shows_three_groups_and_the_verdict() {
    let mut both = console_change();
    both["resource_changes"].as_array_mut().unwrap().push(entry(
        "aws_iam_user.new",
        &["create"],
        Value::Null,
        json!({"name": "n"}),
    ));
    both["resource_drift"].as_array_mut().unwrap().push(entry(
        "aws_iam_role.r",
        &["update"],
        json!({"arn": "a"}),
        json!({"arn": "b"}),
    ));
    let table = render_table(&summary(&both).report());
    for needle in [
        "DRIFTED",
        "aws_iam_policy.p",
        "PENDING CODE",
        "aws_iam_user.new",
        "(whole resource)",
        "INFORMATIONAL",
        "aws_iam_role.r",
        "Drift: 1 resource. 1 resource has unapplied code changes (not drift).",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
    let quiet = render_table(&summary(&plan(vec![], vec![])).report());
    assert_eq!(quiet, "No drift.\n");
}

/// Found by `make fuzz`: a column wider than 65,535 characters made
/// `format!("{:<width$}")` panic.
#[test]
fn a_resource_address_longer_than_a_format_width_still_renders() {
    let long = format!("aws_iam_policy.{}", "p".repeat(70_000));
    let mut drifted = plan(vec![], vec![]);
    drifted["resource_drift"]
        .as_array_mut()
        .unwrap()
        .push(entry(
            &long,
            &["update"],
            json!({"name": "a"}),
            json!({"name": "b"}),
        ));
    let table = render_table(&summary(&drifted).report());
    assert!(table.contains(&long), "the address is shown whole");
}

/// Any JSON value, nested a few levels, with plan-like keys mixed in.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("format_version".to_string()),
        Just("resource_changes".to_string()),
        Just("resource_drift".to_string()),
        Just("configuration".to_string()),
        Just("address".to_string()),
        Just("change".to_string()),
        Just("actions".to_string()),
        Just("before".to_string()),
        Just("after".to_string()),
        Just("after_unknown".to_string()),
        Just("before_sensitive".to_string()),
        Just("deposed".to_string()),
        Just("root_module".to_string()),
        Just("resources".to_string()),
        Just("expressions".to_string()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("1.2".to_string()),
            Just("0.1".to_string()),
            Just("update".to_string()),
            Just("create".to_string()),
            Just("delete".to_string()),
            Just("no-op".to_string()),
            ".{0,6}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn summarize_never_panics_on_arbitrary_json(document in arbitrary_json()) {
        let bytes = serde_json::to_vec(&document).unwrap();
        if let Ok(summary) = summarize_slice(&bytes, &Options::default()) {
            let report = summary.report();
            let _ = render_table(&report);
            prop_assert_eq!(report.drifted, !summary.analysis.drifted.is_empty());
        }
    }

    #[test]
    fn summarize_never_panics_on_arbitrary_entries(
        drift in prop::collection::vec(arbitrary_json(), 0..4),
        changes in prop::collection::vec(arbitrary_json(), 0..4),
    ) {
        let document = json!({"format_version": "1.2", "planned_values": {}, "resource_drift": drift, "resource_changes": changes});
        let _ = summarize_slice(&serde_json::to_vec(&document).unwrap(), &Options::default());
    }

    #[test]
    fn summarize_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = summarize_slice(&bytes, &Options::default());
    }
}

/// The fingerprint counts live values, but not those ignore rules mute, and
/// a sensitive value only by its path (its hash must not be stored).
#[test]
fn fingerprints_count_live_values_except_muted_and_sensitive_ones() {
    let drift_to = |cidr: &str, user_data: &str| {
        plan(
            vec![entry(
                "aws_instance.bastion",
                &["update"],
                json!({"user_data": "a", "vpc_security_group_ids": ["sg-1"]}),
                json!({"user_data": user_data, "vpc_security_group_ids": [cidr]}),
            )],
            vec![entry(
                "aws_instance.bastion",
                &["update"],
                json!({"user_data": user_data, "vpc_security_group_ids": [cidr]}),
                json!({"user_data": "a", "vpc_security_group_ids": ["sg-1"]}),
            )],
        )
    };
    let fingerprint = |p: &Value| summary(p).report().fingerprint;
    let paths_fingerprint = |p: &Value| summary(p).report().paths_fingerprint;
    assert_ne!(
        fingerprint(&drift_to("sg-2", "b")),
        fingerprint(&drift_to("sg-3", "b"))
    );
    assert_eq!(
        paths_fingerprint(&drift_to("sg-2", "b")),
        paths_fingerprint(&drift_to("sg-3", "b"))
    );
    let muted = rules(&[], &["aws_instance.bastion:user_data"]);
    assert_eq!(
        with_rules(&drift_to("sg-2", "b"), &muted)
            .report()
            .fingerprint,
        with_rules(&drift_to("sg-2", "c"), &muted)
            .report()
            .fingerprint,
        "a muted attribute's new value is not a new drift"
    );
    let sensitive = |p: Value| {
        let mut p = p;
        for section in ["resource_drift", "resource_changes"] {
            p[section][0]["change"]["before_sensitive"] = json!({"user_data": true});
            p[section][0]["change"]["after_sensitive"] = json!({"user_data": true});
        }
        p
    };
    assert_eq!(
        fingerprint(&sensitive(drift_to("sg-2", "b"))),
        fingerprint(&sensitive(drift_to("sg-2", "c"))),
        "a sensitive value counts by its path only"
    );
}
