//! Drift report from a `terraform show -json` plan.
//!
//! # What counts as drift
//! A resource is drifted when its `resource_changes` entry plans an action other
//! than `no-op` or `read`: applying the configuration would change it. The
//! plan's `resource_drift` section (what changed outside Terraform since the last
//! apply) only *explains* such resources; a `resource_drift` entry without a
//! planned change is computed-attribute noise and is never reported.
//! Changes to deposed objects (leftovers of a failed create-before-destroy) are
//! not drift and are left out of the report (but count as destructive).
//!
//! # Changed attributes
//! Paths of the attributes whose planned `before` and `after` values differ;
//! when that comparison finds nothing (only unknown values change), the
//! `resource_drift` entry of the same address is compared instead. Path style:
//! - object keys (attributes, blocks, map keys) are joined with `.`:
//!   `versioning_configuration[0].status`, `tags.Owner`;
//! - list and set elements are `[index]`, as in the plan JSON:
//!   `ingress[0].cidr_blocks`;
//! - when a list or set changes length (an element was added or removed) the list
//!   itself is reported (`ingress`), since comparing elements by position would
//!   name unrelated elements;
//! - a sensitive value (marked in `before_sensitive`/`after_sensitive`) is
//!   reported by its own path only, never by the keys or indexes inside it;
//! - values unknown until apply (`after_unknown`) are not drift: they are
//!   consequences of the apply, not differences found in AWS;
//! - `null`, `[]` and `{}` are treated as equal (providers use them
//!   interchangeably for "not set");
//! - when the whole object appears or disappears (`create`, `delete`) the list is
//!   empty: the action already says the whole resource differs;
//! - paths are sorted; more than [`MAX_ATTRIBUTE_PATHS`] collapse to their
//!   top-level attribute names so a report stays small.
//!
//! No value ever leaves this module: the report holds names only.
//!
//! # Ignore rules
//! [`IgnoreRules::addresses`] are glob patterns over resource addresses.
//! [`IgnoreRules::attributes`] are glob patterns over attribute paths, optionally
//! scoped as `ADDRESS_GLOB:ATTRIBUTE_GLOB`. A pattern also matches every path
//! below what it names (`tags` ignores `tags.Owner`), and a pattern equal to the
//! text matches even if it is not a valid glob (addresses contain `[`). Because
//! attribute paths can contain `:` themselves (`tags.aws:cloudformation:stack-name`),
//! a pattern containing `:` matches when either reading matches: as a whole
//! attribute pattern, or scoped at its first `:`.
//! Ignored attributes are removed from a resource; a resource whose changed
//! attributes are all ignored is dropped, and dropped resources are counted in
//! `ignored`.

use std::collections::{BTreeMap, BTreeSet};

use crate::pattern::Pattern;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::IgnoreRules;
use crate::model::{DriftReport, DriftedResource, MAX_RESOURCES_IN_STATE};

/// Planned actions that leave a resource as it is.
const UNCHANGED_ACTIONS: &[&str] = &["no-op", "read"];

/// Above this many paths, a resource's changed attributes collapse to top-level names.
pub const MAX_ATTRIBUTE_PATHS: usize = 25;

/// Summarizes drift: resources the plan would change, with the attributes that differ.
pub fn summarize(plan: &Value, rules: &IgnoreRules) -> DriftReport {
    let ignore = IgnoreMatcher::new(rules);
    let drift_by_address = drift_changes(plan);

    let mut drifted: BTreeMap<String, DriftedResource> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut ignored = 0;

    for entry in resource_changes(plan) {
        let Some(address) = entry.get("address").and_then(Value::as_str) else {
            continue;
        };
        // Deposed objects are leftovers of a failed create-before-destroy, not drift.
        if entry.get("deposed").is_some_and(|d| !d.is_null()) {
            continue;
        }
        let change = entry.get("change").unwrap_or(&Value::Null);
        let actions = actions(change);
        // A malformed plan may repeat an address: the first entry wins.
        if !is_planned_change(&actions) || !seen.insert(address) {
            continue;
        }

        if ignore.ignores_address(address) {
            ignored += 1;
            continue;
        }

        let mut attributes = changed_attributes(change);
        // Only unknowns changed (or nothing comparable): say what AWS changed instead.
        if attributes.is_empty() {
            attributes = drift_by_address
                .get(address)
                .map(|drift| changed_attributes(drift))
                .unwrap_or_default();
        }
        let had_attributes = !attributes.is_empty();
        attributes.retain(|path| !ignore.ignores_attribute(address, path));
        if had_attributes && attributes.is_empty() {
            ignored += 1;
            continue;
        }

        let resource_type = entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        drifted.insert(
            address.to_string(),
            DriftedResource {
                address: address.to_string(),
                resource_type,
                actions,
                changed_attributes: collapse_if_long(attributes),
            },
        );
    }

    let mut resources: Vec<DriftedResource> = drifted.into_values().collect();
    let resource_count = resources.len();
    let fingerprint = fingerprint(&resources);
    let omitted = resource_count.saturating_sub(MAX_RESOURCES_IN_STATE);
    resources.truncate(MAX_RESOURCES_IN_STATE);

    DriftReport {
        drifted: resource_count > 0,
        resource_count,
        resources,
        truncated: omitted > 0,
        omitted,
        ignored,
        fingerprint,
    }
}

/// Addresses a plan would delete or replace (remediation safety check), sorted.
pub fn destructive_addresses(plan: &Value) -> Vec<String> {
    let addresses: BTreeSet<String> = resource_changes(plan)
        .filter(|entry| {
            let change = entry.get("change").unwrap_or(&Value::Null);
            actions(change).iter().any(|a| a == "delete")
        })
        .filter_map(|entry| entry.get("address").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    addresses.into_iter().collect()
}

/// A plain-text table of the report for the command line.
pub fn render_table(report: &DriftReport) -> String {
    let mut out = String::new();
    if !report.drifted {
        out.push_str("No drift.");
        if report.ignored > 0 {
            out.push_str(&format!(
                " {} ignored by rules.",
                plural(report.ignored, "resource")
            ));
        }
        out.push('\n');
        return out;
    }

    let rows: Vec<[String; 3]> = report
        .resources
        .iter()
        .map(|r| {
            let attributes = if r.changed_attributes.is_empty() {
                "(whole resource)".to_string()
            } else {
                r.changed_attributes.join(", ")
            };
            [r.address.clone(), action_label(&r.actions), attributes]
        })
        .collect();
    let header = [
        "ADDRESS".to_string(),
        "ACTION".to_string(),
        "CHANGED ATTRIBUTES".to_string(),
    ];
    let address_width = rows
        .iter()
        .chain([&header])
        .map(|r| r[0].chars().count())
        .max()
        .unwrap_or(0);
    let action_width = rows
        .iter()
        .chain([&header])
        .map(|r| r[1].chars().count())
        .max()
        .unwrap_or(0);
    for [address, action, attributes] in std::iter::once(&header).chain(&rows) {
        out.push_str(&format!(
            "{address:<address_width$}  {action:<action_width$}  {attributes}\n"
        ));
    }
    if report.omitted > 0 {
        out.push_str(&format!("… and {} more (not listed)\n", report.omitted));
    }

    out.push_str(&format!(
        "\nDrift: {}",
        plural(report.resource_count, "resource")
    ));
    if report.ignored > 0 {
        out.push_str(&format!(", {} ignored by rules", report.ignored));
    }
    if report.omitted > 0 {
        out.push_str(&format!(", {} omitted from the list", report.omitted));
    }
    out.push_str(&format!(". Fingerprint {}\n", report.fingerprint));
    out
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `replace` for the two replace orders; the plain action names otherwise.
fn action_label(actions: &[String]) -> String {
    match actions {
        [first, second] if first == "delete" && second == "create" => "replace".to_string(),
        [first, second] if first == "create" && second == "delete" => {
            "replace (create first)".to_string()
        }
        _ => actions.join(", "),
    }
}

fn resource_changes(plan: &Value) -> impl Iterator<Item = &Value> {
    plan.get("resource_changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `resource_drift` changes by address (current objects only).
fn drift_changes(plan: &Value) -> BTreeMap<&str, &Value> {
    plan.get("resource_drift")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("deposed").is_none_or(Value::is_null))
        .filter_map(|entry| Some((entry.get("address")?.as_str()?, entry.get("change")?)))
        .collect()
}

fn actions(change: &Value) -> Vec<String> {
    change
        .get("actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn is_planned_change(actions: &[String]) -> bool {
    actions
        .iter()
        .any(|a| !UNCHANGED_ACTIONS.contains(&a.as_str()))
}

/// Sorted paths of the attributes that differ between `before` and `after` of one
/// change; empty when either side is not an object (create, delete, malformed).
fn changed_attributes(change: &Value) -> Vec<String> {
    let before = change.get("before").unwrap_or(&Value::Null);
    let after = change.get("after").unwrap_or(&Value::Null);
    if !(before.is_object() && after.is_object()) {
        return Vec::new();
    }
    let marks = Marks {
        unknown: change.get("after_unknown").unwrap_or(&Value::Null),
        before_sensitive: change.get("before_sensitive").unwrap_or(&Value::Null),
        after_sensitive: change.get("after_sensitive").unwrap_or(&Value::Null),
    };
    let mut paths = Vec::new();
    diff("", before, after, &marks, &mut paths);
    paths.sort();
    paths.dedup();
    paths
}

/// The `after_unknown` and sensitivity mirrors at one position of the value tree.
/// Each is `true` for "this whole value", an object/array mirroring the value, or
/// absent/`false`.
struct Marks<'a> {
    unknown: &'a Value,
    before_sensitive: &'a Value,
    after_sensitive: &'a Value,
}

impl<'a> Marks<'a> {
    fn child(&self, key: &str) -> Marks<'a> {
        Marks {
            unknown: child_mark(self.unknown, |m| m.get(key)),
            before_sensitive: child_mark(self.before_sensitive, |m| m.get(key)),
            after_sensitive: child_mark(self.after_sensitive, |m| m.get(key)),
        }
    }

    fn element(&self, index: usize) -> Marks<'a> {
        Marks {
            unknown: child_mark(self.unknown, |m| m.get(index)),
            before_sensitive: child_mark(self.before_sensitive, |m| m.get(index)),
            after_sensitive: child_mark(self.after_sensitive, |m| m.get(index)),
        }
    }

    fn is_sensitive(&self) -> bool {
        self.before_sensitive == &Value::Bool(true) || self.after_sensitive == &Value::Bool(true)
    }
}

/// A `true` mark covers everything below it; otherwise descend into the mirror.
fn child_mark<'a>(mark: &'a Value, get: impl Fn(&'a Value) -> Option<&'a Value>) -> &'a Value {
    if mark == &Value::Bool(true) {
        mark
    } else {
        get(mark).unwrap_or(&Value::Null)
    }
}

fn diff(path: &str, before: &Value, after: &Value, marks: &Marks, out: &mut Vec<String>) {
    if marks.unknown == &Value::Bool(true) || is_unset(before) && is_unset(after) {
        return;
    }
    if marks.is_sensitive() {
        if before != after {
            out.push(path.to_string());
        }
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let b = b.get(key).unwrap_or(&Value::Null);
                let a = a.get(key).unwrap_or(&Value::Null);
                diff(&child_path, b, a, &marks.child(key), out);
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (index, (b, a)) in b.iter().zip(a).enumerate() {
                diff(
                    &format!("{path}[{index}]"),
                    b,
                    a,
                    &marks.element(index),
                    out,
                );
            }
        }
        _ if before != after && !path.is_empty() => out.push(path.to_string()),
        _ => {}
    }
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Keeps long lists short: too many nested paths become their top-level names.
fn collapse_if_long(paths: Vec<String>) -> Vec<String> {
    if paths.len() <= MAX_ATTRIBUTE_PATHS {
        return paths;
    }
    let top_level: BTreeSet<String> = paths
        .iter()
        .map(|p| p.split(['.', '[']).next().unwrap_or(p).to_string())
        .collect();
    top_level.into_iter().collect()
}

/// Hex SHA-256 over the sorted (address, actions, changed attributes) of every
/// drifted resource; each string is length-prefixed so no two reports collide by
/// concatenation. Empty when nothing drifted.
fn fingerprint(resources: &[DriftedResource]) -> String {
    if resources.is_empty() {
        return String::new();
    }
    let mut hasher = Sha256::new();
    let mut put = |text: &str| {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    };
    for resource in resources {
        put(&resource.address);
        put(&resource.actions.len().to_string());
        resource.actions.iter().for_each(|a| put(a));
        put(&resource.changed_attributes.len().to_string());
        resource.changed_attributes.iter().for_each(|a| put(a));
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An attribute pattern, with its `ADDRESS:ATTRIBUTE` reading when it has a `:`.
struct AttributePattern {
    any_address: Pattern,
    scoped: Option<(Pattern, Pattern)>,
}

impl AttributePattern {
    fn matches(&self, address: &str, path: &str) -> bool {
        self.any_address.matches(path)
            || self
                .scoped
                .as_ref()
                .is_some_and(|(scope, attribute)| scope.matches(address) && attribute.matches(path))
    }
}

struct IgnoreMatcher {
    addresses: Vec<Pattern>,
    attributes: Vec<AttributePattern>,
}

impl IgnoreMatcher {
    fn new(rules: &IgnoreRules) -> Self {
        let attributes = rules
            .attributes
            .iter()
            .map(|text| AttributePattern {
                any_address: Pattern::new(text),
                scoped: text
                    .split_once(':')
                    .map(|(scope, attribute)| (Pattern::new(scope), Pattern::new(attribute))),
            })
            .collect();
        IgnoreMatcher {
            addresses: rules
                .addresses
                .iter()
                .map(|text| Pattern::new(text))
                .collect(),
            attributes,
        }
    }

    fn ignores_address(&self, address: &str) -> bool {
        self.addresses.iter().any(|p| p.matches(address))
    }

    /// True when a pattern matches the path or any path above it.
    fn ignores_attribute(&self, address: &str, path: &str) -> bool {
        path_and_ancestors(path).any(|p| {
            self.attributes
                .iter()
                .any(|pattern| pattern.matches(address, p))
        })
    }
}

/// `a.b[0].c` → `a`, `a.b`, `a.b[0]`, `a.b[0].c`.
fn path_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|&(index, c)| index > 0 && (c == '.' || c == '['))
        .map(move |(index, _)| &path[..index])
        .chain(std::iter::once(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(addresses: &[&str], attributes: &[&str]) -> IgnoreRules {
        IgnoreRules {
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            attributes: attributes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn change(address: &str, actions: &[&str], before: Value, after: Value) -> Value {
        let resource_type = address.split('.').next().unwrap_or_default();
        json!({
            "address": address,
            "type": resource_type,
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}}
        })
    }

    fn plan(changes: Vec<Value>) -> Value {
        json!({"format_version": "1.2", "resource_changes": changes})
    }

    fn addresses(report: &DriftReport) -> Vec<&str> {
        report
            .resources
            .iter()
            .map(|r| r.address.as_str())
            .collect()
    }

    fn security_group_plan() -> Value {
        plan(vec![
            change(
                "aws_security_group.web",
                &["update"],
                json!({"name": "web", "ingress": [{"from_port": 443}, {"from_port": 22}], "tags": {"Owner": "a"}}),
                json!({"name": "web", "ingress": [{"from_port": 443}], "tags": {"Owner": "b"}}),
            ),
            change(
                "aws_iam_user.audit",
                &["create"],
                Value::Null,
                json!({"name": "audit"}),
            ),
            change(
                "aws_s3_bucket.logs",
                &["no-op"],
                json!({"bucket": "logs"}),
                json!({"bucket": "logs"}),
            ),
            change(
                "data.aws_caller_identity.me",
                &["read"],
                Value::Null,
                json!({}),
            ),
        ])
    }

    #[test]
    fn reports_only_planned_changes_sorted_by_address() {
        let report = summarize(&security_group_plan(), &IgnoreRules::default());
        assert!(report.drifted);
        assert_eq!(report.resource_count, 2);
        assert_eq!(
            addresses(&report),
            ["aws_iam_user.audit", "aws_security_group.web"]
        );
        assert_eq!(report.resources[0].resource_type, "aws_iam_user");
        assert_eq!(report.resources[0].actions, ["create"]);
        assert!(report.resources[0].changed_attributes.is_empty());
        assert_eq!(report.resources[1].actions, ["update"]);
        assert_eq!(
            report.resources[1].changed_attributes,
            ["ingress", "tags.Owner"]
        );
        assert!(!report.truncated);
        assert_eq!(report.fingerprint.len(), 64);
    }

    #[test]
    fn resource_drift_without_planned_change_is_noise() {
        let mut plan = plan(vec![change(
            "aws_s3_bucket.logs",
            &["no-op"],
            json!({"a": 1}),
            json!({"a": 1}),
        )]);
        plan["resource_drift"] = json!([{
            "address": "aws_s3_bucket.logs",
            "type": "aws_s3_bucket",
            "change": {"actions": ["update"], "before": {"versioning": [{"enabled": true}]}, "after": {"versioning": [{"enabled": false}]}}
        }]);
        let report = summarize(&plan, &IgnoreRules::default());
        assert!(!report.drifted);
        assert_eq!(report.resource_count, 0);
        assert!(report.resources.is_empty());
        assert_eq!(report.fingerprint, "");
    }

    #[test]
    fn nested_paths_use_dots_and_indexes() {
        let plan = plan(vec![change(
            "aws_security_group.web",
            &["update"],
            json!({"ingress": [{"cidr_blocks": ["10.0.0.0/8"], "from_port": 443}], "tags": {"Owner": "a", "Team": "x"}}),
            json!({"ingress": [{"cidr_blocks": ["10.0.0.0/16"], "from_port": 443}], "tags": {"Owner": "a"}}),
        )]);
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(
            report.resources[0].changed_attributes,
            ["ingress[0].cidr_blocks[0]", "tags.Team"]
        );
    }

    #[test]
    fn unknown_after_apply_is_not_drift_and_empty_equals_null() {
        let mut plan = plan(vec![change(
            "aws_instance.web",
            &["update"],
            json!({"arn": "arn:1", "instance_type": "t3.micro", "tags": null}),
            json!({"arn": null, "instance_type": "t3.small", "tags": {}}),
        )]);
        plan["resource_changes"][0]["change"]["after_unknown"] = json!({"arn": true});
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(report.resources[0].changed_attributes, ["instance_type"]);
    }

    #[test]
    fn falls_back_to_resource_drift_when_only_unknowns_change() {
        let mut plan = plan(vec![change(
            "aws_instance.web",
            &["update"],
            json!({"arn": "a"}),
            json!({"arn": null}),
        )]);
        plan["resource_changes"][0]["change"]["after_unknown"] = json!({"arn": true});
        plan["resource_drift"] = json!([{
            "address": "aws_instance.web",
            "change": {"actions": ["update"], "before": {"user_data": "x"}, "after": {"user_data": "y"}}
        }]);
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(report.resources[0].changed_attributes, ["user_data"]);
    }

    #[test]
    fn sensitive_values_are_named_not_opened_and_never_copied() {
        let mut plan = plan(vec![change(
            "aws_lambda_function.api",
            &["update"],
            json!({"environment": [{"variables": {"DB_PASSWORD": "hunter2"}}], "memory_size": 128}),
            json!({"environment": [{"variables": {"DB_PASSWORD": "s3cret", "NEW_SECRET": "x"}}], "memory_size": 128}),
        )]);
        plan["resource_changes"][0]["change"]["before_sensitive"] =
            json!({"environment": [{"variables": true}]});
        plan["resource_changes"][0]["change"]["after_sensitive"] =
            json!({"environment": [{"variables": true}]});
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(
            report.resources[0].changed_attributes,
            ["environment[0].variables"]
        );
        let serialized = serde_json::to_string(&report).unwrap();
        for secret in ["hunter2", "s3cret", "DB_PASSWORD", "NEW_SECRET"] {
            assert!(
                !serialized.contains(secret),
                "{secret} leaked: {serialized}"
            );
        }
    }

    #[test]
    fn replace_keeps_plan_actions_and_is_destructive() {
        let plan = plan(vec![
            change(
                "aws_instance.b",
                &["delete", "create"],
                json!({"ami": "1"}),
                json!({"ami": "2"}),
            ),
            change(
                "aws_instance.a",
                &["delete"],
                json!({"ami": "1"}),
                Value::Null,
            ),
            change(
                "aws_instance.c",
                &["create", "delete"],
                json!({"ami": "1"}),
                json!({"ami": "2"}),
            ),
            change(
                "aws_instance.d",
                &["update"],
                json!({"ami": "1"}),
                json!({"ami": "2"}),
            ),
        ]);
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(report.resources[1].actions, ["delete", "create"]);
        assert_eq!(report.resources[1].changed_attributes, ["ami"]);
        assert_eq!(
            destructive_addresses(&plan),
            ["aws_instance.a", "aws_instance.b", "aws_instance.c"]
        );
    }

    #[test]
    fn address_rules_drop_whole_resources_and_count_them() {
        let report = summarize(&security_group_plan(), &rules(&["aws_iam_user.*"], &[]));
        assert_eq!(addresses(&report), ["aws_security_group.web"]);
        assert_eq!(report.ignored, 1);
        assert_eq!(report.resource_count, 1);
    }

    #[test]
    fn address_rules_match_literal_addresses_with_brackets() {
        let plan = plan(vec![change(
            "aws_iam_user.u[\"a\"]",
            &["update"],
            json!({"n": 1}),
            json!({"n": 2}),
        )]);
        let report = summarize(&plan, &rules(&["aws_iam_user.u[\"a\"]"], &[]));
        assert!(!report.drifted);
        assert_eq!(report.ignored, 1);
    }

    #[test]
    fn attribute_rules_remove_attributes_and_drop_fully_ignored_resources() {
        let partly = summarize(&security_group_plan(), &rules(&[], &["tags"]));
        assert_eq!(partly.resources[1].changed_attributes, ["ingress"]);
        assert_eq!(partly.ignored, 0);

        let fully = summarize(&security_group_plan(), &rules(&[], &["tags.*", "ingress"]));
        assert_eq!(
            addresses(&fully),
            ["aws_iam_user.audit"],
            "a create has no attributes to ignore"
        );
        assert_eq!(fully.ignored, 1);
    }

    #[test]
    fn scoped_attribute_rules_apply_to_matching_addresses_only() {
        let plan = plan(vec![
            change(
                "aws_instance.a",
                &["update"],
                json!({"tags": {"Seen": "1"}}),
                json!({"tags": {"Seen": "2"}}),
            ),
            change(
                "aws_instance.b",
                &["update"],
                json!({"tags": {"Seen": "1"}}),
                json!({"tags": {"Seen": "2"}}),
            ),
        ]);
        let report = summarize(&plan, &rules(&[], &["aws_instance.a:tags.Seen"]));
        assert_eq!(addresses(&report), ["aws_instance.b"]);
        assert_eq!(report.ignored, 1);

        let report = summarize(&plan, &rules(&[], &["aws_instance.*:tags.*"]));
        assert!(!report.drifted);
        assert_eq!(report.ignored, 2);
    }

    #[test]
    fn attribute_rules_may_contain_colons_in_map_keys() {
        let plan = plan(vec![change(
            "aws_instance.a",
            &["update"],
            json!({"tags_all": {"aws:cloudformation:stack-name": "x"}, "ami": "1"}),
            json!({"tags_all": {}, "ami": "2"}),
        )]);
        let report = summarize(&plan, &rules(&[], &["tags_all.aws:*"]));
        assert_eq!(report.resources[0].changed_attributes, ["ami"]);
    }

    #[test]
    fn fingerprint_is_stable_and_tracks_content() {
        let first = summarize(&security_group_plan(), &IgnoreRules::default());
        let mut reversed = security_group_plan();
        reversed["resource_changes"]
            .as_array_mut()
            .unwrap()
            .reverse();
        let second = summarize(&reversed, &IgnoreRules::default());
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first, second);

        let ignoring_tags = summarize(&security_group_plan(), &rules(&[], &["tags"]));
        assert_ne!(first.fingerprint, ignoring_tags.fingerprint);
        assert!(first.fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn caps_the_resource_list_but_counts_everything() {
        let changes = (0..MAX_RESOURCES_IN_STATE + 7)
            .map(|i| {
                change(
                    &format!("aws_iam_user.u{i:03}"),
                    &["update"],
                    json!({"n": 1}),
                    json!({"n": 2}),
                )
            })
            .collect();
        let report = summarize(&plan(changes), &IgnoreRules::default());
        assert_eq!(report.resource_count, MAX_RESOURCES_IN_STATE + 7);
        assert_eq!(report.resources.len(), MAX_RESOURCES_IN_STATE);
        assert!(report.truncated);
        assert_eq!(report.omitted, 7);
        assert_eq!(report.resources[0].address, "aws_iam_user.u000");
    }

    #[test]
    fn many_paths_collapse_to_top_level_names() {
        let before: serde_json::Map<String, Value> =
            (0..30).map(|i| (format!("k{i}"), json!(1))).collect();
        let after: serde_json::Map<String, Value> =
            (0..30).map(|i| (format!("k{i}"), json!(2))).collect();
        let plan = plan(vec![change(
            "aws_instance.a",
            &["update"],
            json!({"tags": before, "ami": "1"}),
            json!({"tags": after, "ami": "2"}),
        )]);
        let report = summarize(&plan, &IgnoreRules::default());
        assert_eq!(report.resources[0].changed_attributes, ["ami", "tags"]);
    }

    #[test]
    fn malformed_plans_do_not_panic() {
        for plan in [
            json!(null),
            json!([]),
            json!({"resource_changes": "nope"}),
            json!({"resource_changes": [1, {"address": 5}, {"address": "a.b"}, {"address": "a.c", "change": {"actions": "update"}}]}),
            json!({"resource_changes": [{"address": "a.d", "change": {"actions": ["update"], "before": 1, "after": {"x": 1}}}]}),
            json!({"resource_drift": [null, {"address": "a.d"}]}),
        ] {
            let report = summarize(&plan, &IgnoreRules::default());
            assert!(report.resource_count <= 1);
            let _ = destructive_addresses(&plan);
        }
        let odd = json!({"resource_changes": [{"address": "a.d", "change": {"actions": ["update"], "before": {"x": 1}, "after": {"x": 2}, "after_unknown": 7, "before_sensitive": "?"}}]});
        assert_eq!(
            summarize(&odd, &IgnoreRules::default()).resources[0].changed_attributes,
            ["x"]
        );
    }

    #[test]
    fn deposed_objects_are_not_drift_but_are_destructive() {
        let mut plan = plan(vec![change(
            "aws_instance.a",
            &["delete"],
            json!({"ami": "1"}),
            Value::Null,
        )]);
        plan["resource_changes"][0]["deposed"] = json!("00000001");
        assert!(!summarize(&plan, &IgnoreRules::default()).drifted);
        assert_eq!(destructive_addresses(&plan), ["aws_instance.a"]);
    }

    #[test]
    fn invalid_glob_is_matched_literally() {
        let plan = plan(vec![change(
            "aws_instance.a",
            &["update"],
            json!({"ami": "1"}),
            json!({"ami": "2"}),
        )]);
        let report = summarize(&plan, &rules(&["aws_instance.{a"], &[]));
        assert!(report.drifted, "an invalid glob must not match everything");
    }

    #[test]
    fn table_lists_resources_and_counts() {
        let mut report = summarize(&security_group_plan(), &rules(&["aws_s3_bucket.*"], &[]));
        report.omitted = 3;
        report.resource_count += 3;
        let table = render_table(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("ADDRESS") && lines[0].contains("CHANGED ATTRIBUTES"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("aws_iam_user.audit")
                && lines[1].contains("create")
                && lines[1].contains("(whole resource)")
        );
        assert!(
            lines[2].contains("update") && lines[2].ends_with("ingress, tags.Owner"),
            "{table}"
        );
        assert!(table.contains("… and 3 more (not listed)"), "{table}");
        assert!(table.contains("Drift: 5 resources"), "{table}");
        assert!(table.contains(&report.fingerprint));
    }

    #[test]
    fn table_says_no_drift() {
        let report = summarize(&security_group_plan(), &rules(&["aws_*"], &[]));
        assert_eq!(
            render_table(&report),
            "No drift. 2 resources ignored by rules.\n"
        );
        assert_eq!(
            render_table(&summarize(&json!({}), &IgnoreRules::default())),
            "No drift.\n"
        );
    }

    #[test]
    fn replace_is_labelled_in_the_table() {
        assert_eq!(action_label(&["delete".into(), "create".into()]), "replace");
        assert_eq!(
            action_label(&["create".into(), "delete".into()]),
            "replace (create first)"
        );
        assert_eq!(action_label(&["update".into()]), "update");
    }
}
