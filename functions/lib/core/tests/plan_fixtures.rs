//! The drift verdict against real `terraform show -json` plans, made by
//! `tests/fixtures/drift-lab/generate-plans.sh` (Terraform 1.11 and the aws
//! provider 5.100 against moto). Each scenario has a normal and a refresh-only
//! plan: code changed only (`code-only`), resources changed with the AWS API
//! (`out-of-band`: port 22 opened, versioning suspended, tags added to a bucket
//! and to a user without tags in code, two inline policies widened, a team
//! member's tag edited, a SecureString overwritten, and tags edited on a user
//! with `ignore_changes = [tags]`), both, a user deleted outside (`deleted`),
//! and user data rewritten on an instance that replaces on it (`replace`).
//! `*.remediation.json` are the targeted plans a remediation run makes.
//! `fixtures/public-plans/` holds real plans of other Terraform versions
//! (formats 0.1 to 1.2; sources and licences in its README).

use std::collections::BTreeMap;

use driftguard_core::config::IgnoreRules;
use driftguard_core::model::{DriftReport, PlanMode};
use driftguard_core::plan::{
    Options, PlanError, ProviderSchema, Summary, render_table, summarize, summarize_slice,
};
use serde_json::{Map, Value};

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn open(name: &str) -> std::fs::File {
    std::fs::File::open(path(name)).unwrap_or_else(|e| panic!("open {name}: {e}"))
}

fn schema() -> ProviderSchema {
    ProviderSchema::read(open("aws-provider-schema.json")).expect("schema")
}

fn summary_with(name: &str, options: &Options) -> Summary {
    summarize(open(name), options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn summary(name: &str) -> Summary {
    summary_with(name, &Options::default())
}

fn targeted(name: &str) -> Summary {
    summary_with(
        name,
        &Options {
            allow_incomplete: true,
            ..Options::default()
        },
    )
}

/// Drifted address → drifted paths.
fn drifted(summary: &Summary) -> BTreeMap<&str, Vec<&str>> {
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

fn pending(summary: &Summary) -> BTreeMap<&str, Vec<&str>> {
    summary
        .analysis
        .pending
        .iter()
        .map(|r| {
            (
                r.address.as_str(),
                r.changed_attributes.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

fn informational(summary: &Summary) -> BTreeMap<&str, Vec<&str>> {
    summary
        .analysis
        .informational
        .iter()
        .map(|r| {
            (
                r.address.as_str(),
                r.paths.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// The console changes of `out-of-band` and `both`, as a normal plan sees them.
fn console_drift() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("aws_iam_role_policy.app", vec!["policy"]),
        ("aws_iam_user.deployer", vec!["tags.Temporary"]),
        ("aws_iam_user_policy.deployer", vec!["policy"]),
        ("aws_s3_bucket.artifacts", vec!["tags.CostCenter"]),
        (
            "aws_s3_bucket_versioning.artifacts",
            vec!["versioning_configuration[0].status"],
        ),
        ("aws_security_group.web", vec!["ingress"]),
        ("aws_ssm_parameter.database_password", vec!["value"]),
        (
            "module.team.aws_iam_user.member[\"bob\"]",
            vec!["tags.Team"],
        ),
    ])
}

#[test]
fn nothing_changed_is_no_drift_and_computed_noise_is_informational() {
    for name in ["no-drift.json", "no-drift.refresh-only.json"] {
        let summary = summary(name);
        let report = summary.report();
        assert!(!report.drifted, "{name}");
        assert_eq!(report.fingerprint, "");
        assert_eq!(report.pending_changes.count, 0);
        assert_eq!(
            informational(&summary),
            BTreeMap::from([
                ("aws_iam_role.app", vec!["inline_policy"]),
                ("aws_s3_bucket.artifacts", vec!["versioning[0].enabled"]),
            ]),
            "{name}: mirrored from aws_iam_role_policy / aws_s3_bucket_versioning"
        );
        assert!(summary.analysis.destructive.is_empty());
    }
    assert_eq!(summary("no-drift.json").analysis.mode, PlanMode::Normal);
    assert_eq!(
        summary("no-drift.refresh-only.json").analysis.mode,
        PlanMode::RefreshOnly
    );
}

#[test]
fn unapplied_code_is_pending_code_never_drift() {
    let summary = summary("code-only.json");
    let report = summary.report();
    assert!(!report.drifted);
    assert_eq!(
        pending(&summary),
        BTreeMap::from([
            ("aws_iam_user.reviewer", vec![]),
            (
                "aws_security_group.web",
                vec![
                    "ingress[0].cidr_blocks",
                    "ingress[0].description",
                    "tags.Owner"
                ]
            ),
            ("module.team.aws_iam_user.member[\"carol\"]", vec![]),
        ])
    );
    let table = render_table(&report);
    assert!(
        table.ends_with("No drift. 3 resources have unapplied code changes (not drift).\n"),
        "{table}"
    );
    // A refresh-only plan does not see code at all.
    let refresh = summary_with("code-only.refresh-only.json", &Options::default()).report();
    assert!(!refresh.drifted);
    assert_eq!(refresh.pending_changes.count, 0);
}

#[test]
fn console_changes_are_drift_and_ignore_changes_is_not() {
    let summary = summary("out-of-band.json");
    assert_eq!(drifted(&summary), console_drift());
    assert!(summary.analysis.pending.is_empty());
    assert!(
        summary
            .analysis
            .drifted
            .iter()
            .all(|r| !r.also_pending_code)
    );
    assert_eq!(
        informational(&summary),
        BTreeMap::from([
            ("aws_iam_role.app", vec!["inline_policy"]),
            ("aws_iam_user.ops", vec!["tags.Team"]),
            ("aws_ssm_parameter.database_password", vec!["version"]),
        ]),
        "ignore_changes, a mirror and a computed version are not drift"
    );
    let report = summary.report();
    assert_eq!(report.resource_count, 8);
    assert_eq!(report.fingerprint.len(), 64);
}

#[test]
fn drift_and_code_together_keep_apart() {
    let summary = summary("both.json");
    assert_eq!(drifted(&summary), console_drift());
    let flagged: Vec<&str> = summary
        .analysis
        .drifted
        .iter()
        .filter(|r| r.also_pending_code)
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(flagged, ["aws_security_group.web"]);
    assert_eq!(
        pending(&summary),
        BTreeMap::from([
            ("aws_iam_user.reviewer", vec![]),
            ("aws_security_group.web", vec!["ingress", "tags.Owner"]),
            ("module.team.aws_iam_user.member[\"carol\"]", vec![]),
        ])
    );
    assert_eq!(
        summary.report().fingerprint,
        self::summary("out-of-band.json").report().fingerprint,
        "the same drift has the same fingerprint whatever code is pending"
    );
}

#[test]
fn refresh_only_plans_show_the_drift_a_normal_plan_would_revert() {
    let summary = summary("out-of-band.refresh-only.json");
    let mut expected = console_drift();
    // Without a schema, a tag on a user with no tags in code cannot be decided...
    expected.remove("aws_iam_user.deployer");
    // ...and ignore_changes is invisible (named as a limit).
    expected.insert("aws_iam_user.ops", vec!["tags.Team"]);
    assert_eq!(drifted(&summary), expected);
    let report = summary.report();
    let possibly: Vec<(&str, &[String])> = report
        .informational
        .possibly_managed
        .iter()
        .map(|r| (r.address.as_str(), r.paths.as_slice()))
        .collect();
    assert_eq!(
        possibly,
        [
            ("aws_iam_user.deployer", &["tags.Temporary".to_string()][..]),
            (
                "aws_ssm_parameter.database_password",
                &["version".to_string()][..]
            ),
        ]
    );
    assert!(report.notes.iter().any(|n| n.contains("ignore_changes")));
    assert!(report.notes.iter().any(|n| n.contains("--provider-schema")));
}

#[test]
fn a_provider_schema_decides_attributes_the_code_leaves_unset() {
    let schema = schema();
    let options = Options {
        schema: Some(&schema),
        ..Options::default()
    };
    let summary = summary_with("out-of-band.refresh-only.json", &options);
    let mut expected = console_drift();
    expected.insert("aws_iam_user.ops", vec!["tags.Team"]);
    assert_eq!(
        drifted(&summary),
        expected,
        "tags is Optional and not Computed: a tag added by hand is drift"
    );
    assert!(summary.analysis.possibly_managed.is_empty());
    assert_eq!(
        informational(&summary),
        BTreeMap::from([
            ("aws_iam_role.app", vec!["inline_policy"]),
            ("aws_ssm_parameter.database_password", vec!["version"]),
        ])
    );
    let quiet = summary_with("no-drift.refresh-only.json", &options).report();
    assert!(
        !quiet.drifted,
        "mirrored attributes stay informational with a schema"
    );
}

#[test]
fn a_resource_deleted_outside_is_drifted_as_a_whole() {
    for (name, action) in [
        ("deleted.json", "create"),
        ("deleted.refresh-only.json", "delete"),
    ] {
        let summary = summary(name);
        let resource = &summary.analysis.drifted[0];
        assert_eq!(summary.analysis.drifted.len(), 1, "{name}");
        assert_eq!(resource.address, "aws_iam_user.auditor");
        assert!(resource.deleted && resource.changed_attributes.is_empty());
        assert_eq!(resource.actions, [action]);
        assert!(!resource.also_pending_code);
        assert!(
            summary.analysis.destructive.is_empty(),
            "recreating destroys nothing"
        );
    }
}

#[test]
fn a_replace_forced_by_drift_is_drifted_with_the_replace() {
    let summary = summary("replace.json");
    assert_eq!(
        drifted(&summary),
        BTreeMap::from([("aws_instance.worker", vec!["user_data"])])
    );
    let worker = &summary.analysis.drifted[0];
    assert_eq!(worker.actions, ["delete", "create"]);
    assert!(
        !worker.also_pending_code,
        "computed values of the new instance are not code"
    );
    assert_eq!(summary.analysis.destructive, ["aws_instance.worker"]);
    assert!(render_table(&summary.report()).contains("replace"));
    let refresh = self::summary("replace.refresh-only.json");
    assert_eq!(
        drifted(&refresh),
        BTreeMap::from([("aws_instance.worker", vec!["user_data"])])
    );
}

#[test]
fn remediation_plans_are_targeted_and_show_pending_code_where_there_is_some() {
    assert_eq!(
        summarize(open("out-of-band.remediation.json"), &Options::default()).unwrap_err(),
        PlanError::Incomplete,
        "a drift check needs a full plan"
    );
    let clean = targeted("out-of-band.remediation.json");
    assert_eq!(drifted(&clean), console_drift());
    assert!(clean.analysis.pending.is_empty());
    assert!(clean.analysis.destructive.is_empty());
    let mixed = targeted("both.remediation.json");
    assert_eq!(
        pending(&mixed),
        BTreeMap::from([("aws_security_group.web", vec!["ingress", "tags.Owner"])])
    );
    let replace = targeted("replace.remediation.json");
    assert_eq!(replace.analysis.destructive, ["aws_instance.worker"]);
}

#[test]
fn no_value_leaves_the_report() {
    for name in [
        "out-of-band.json",
        "both.json",
        "out-of-band.refresh-only.json",
    ] {
        let report = summary(name).report();
        let text = serde_json::to_string(&report).unwrap() + &render_table(&report);
        for value in [
            "0.0.0.0/0",
            "Suspended",
            "console-1234",
            "changed-by-hand-2",
            "initial-password-1",
            "\"security\"",
            "s3:GetObject",
            "sg-",
            "123456789012",
        ] {
            assert!(!text.contains(value), "{name}: value {value} in {text}");
        }
    }
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
fn the_verdict_does_not_depend_on_key_or_list_order() {
    for name in ["both.json", "deleted.json", "replace.json"] {
        let plan: Value = serde_json::from_reader(open(name)).unwrap();
        let first = summary(name);
        let shuffled = summarize_slice(
            &serde_json::to_vec(&reversed(&plan)).unwrap(),
            &Options::default(),
        )
        .unwrap();
        // Reversed `actions` read differently (create-before-destroy); everything else is equal.
        assert_eq!(drifted(&first), drifted(&shuffled), "{name}");
        let (first, shuffled) = (first.report(), shuffled.report());
        assert_eq!(first.fingerprint, shuffled.fingerprint, "{name}");
        assert_eq!(
            first.pending_changes.count, shuffled.pending_changes.count,
            "{name}"
        );
        assert_eq!(first.informational, shuffled.informational, "{name}");
    }
}

fn with_rules(name: &str, addresses: &[&str], attributes: &[&str]) -> DriftReport {
    let rules = IgnoreRules {
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
        attributes: attributes.iter().map(|s| s.to_string()).collect(),
    };
    summary_with(
        name,
        &Options {
            rules: Some(&rules),
            ..Options::default()
        },
    )
    .report()
}

#[test]
fn ignore_rules_apply_to_drift() {
    let all = summary("out-of-band.json").report();
    let report = with_rules(
        "out-of-band.json",
        &["module.team.*"],
        &["policy", "tags.*"],
    );
    let addresses: Vec<&str> = report
        .resources
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "aws_s3_bucket_versioning.artifacts",
            "aws_security_group.web",
            "aws_ssm_parameter.database_password"
        ]
    );
    assert_eq!(report.ignored, 5);
    assert_ne!(report.fingerprint, all.fingerprint);
    let nothing = with_rules("out-of-band.json", &["*"], &[]);
    assert!(!nothing.drifted);
    assert!(render_table(&nothing).contains("No drift, 8 drifted resources ignored by rules."));
}

fn public(name: &str) -> Summary {
    let path = format!(
        "{}/tests/fixtures/public-plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    summarize(
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}")),
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn format_1_0_moved_resource_with_drift_and_code_on_the_same_attribute() {
    let summary = public("terraform-show-json-moved-drift.json");
    assert_eq!(
        drifted(&summary),
        BTreeMap::from([("test_instance.should_refresh_with_move", vec!["ami"])])
    );
    let moved = &summary.analysis.drifted[0];
    assert_eq!(
        moved.previous_address.as_deref(),
        Some("test_instance.should_refresh")
    );
    assert!(moved.also_pending_code, "the code sets a third value");
    assert_eq!(
        pending(&summary),
        BTreeMap::from([
            ("test_instance.no_refresh", vec!["ami"]),
            ("test_instance.should_refresh_with_move", vec!["ami"]),
        ])
    );
}

#[test]
fn format_1_1_creates_and_data_sources_are_not_drift() {
    let summary = public("checkov-tf-1.3.9-iam-data-block.json");
    assert!(summary.analysis.drifted.is_empty());
    assert_eq!(
        pending(&summary),
        BTreeMap::from([
            ("aws_s3_bucket.example", vec![]),
            (
                "aws_s3_bucket_policy.allow_access_from_another_account",
                vec![]
            ),
        ]),
        "the data source read is skipped"
    );
}

#[test]
fn format_1_2_forget_is_pending_code_and_not_destructive() {
    let summary = public("checkov-tf-1.9.8-forget-action.json");
    assert!(summary.analysis.drifted.is_empty());
    assert_eq!(summary.analysis.pending[0].actions, ["forget"]);
    assert!(summary.analysis.destructive.is_empty());
}

/// Terraform 1.0.0 wrote `resource_drift` entries without `address` (and
/// without `index`), still under format 0.1: the address is rebuilt from
/// `module_address`, `mode`, `type` and `name`, and a 0.1 plan that has
/// `resource_drift` is judged like any other.
#[test]
fn format_0_1_from_terraform_1_0_without_drift_addresses_is_judged() {
    let summary = public("terraform-compliance-tf-1.0.0-drift-without-address.json");
    assert_eq!(
        drifted(&summary).into_keys().collect::<Vec<_>>(),
        [
            "aws_lambda_function.lambda",
            "aws_lambda_permission.allow_metric_event_bridge_to_call_monitor_metric_lambda",
            "aws_security_group.lambda_sg",
            "aws_security_group_rule.task_sg_egress_rule",
            "aws_ssm_parameter.lambda_sg_id",
        ],
        "deleted outside Terraform, created again by the plan"
    );
    assert!(
        pending(&summary).contains_key("aws_cloudwatch_event_target.metric_event_target"),
        "{:?}",
        pending(&summary)
    );
}

/// The same security group rule set and role policy changed twice outside
/// Terraform (real plans, one after each change): the same addresses and
/// paths, other live values. The second is a new drift, not the same one.
#[test]
fn a_second_change_to_the_same_paths_is_a_new_fingerprint() {
    let first = summary("changed-again-1.json");
    let second = summary("changed-again-2.json");
    let expected = BTreeMap::from([
        ("aws_iam_role_policy.app", vec!["policy"]),
        ("aws_security_group.web", vec!["ingress"]),
    ]);
    assert_eq!(drifted(&first), expected);
    assert_eq!(drifted(&second), expected);
    let (first, second) = (first.report(), second.report());
    assert_ne!(
        first.fingerprint, second.fingerprint,
        "the live values changed again"
    );
    assert_eq!(
        first.paths_fingerprint, second.paths_fingerprint,
        "the same drift by addresses and paths"
    );
    let values = |report: &DriftReport, address: &str| {
        report
            .resources
            .iter()
            .find(|r| r.address == address)
            .map(|r| r.values_hash.clone())
            .unwrap_or_default()
    };
    for address in ["aws_security_group.web", "aws_iam_role_policy.app"] {
        assert_eq!(values(&first, address).len(), 64);
        assert_ne!(
            values(&first, address),
            values(&second, address),
            "{address}"
        );
    }
    // The same plan read twice gives the same fingerprint.
    assert_eq!(
        first.fingerprint,
        summary("changed-again-1.json").report().fingerprint
    );
}
