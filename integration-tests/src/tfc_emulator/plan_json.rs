//! Plan JSON (`terraform show -json` of the saved plan) served by json-output.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{Drift, TERRAFORM_VERSION};

const DRIFT_FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../functions/core/tests/fixtures/plans/drift.json"
));
const NO_DRIFT_FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../functions/core/tests/fixtures/plans/no-drift.json"
));

/// Actions that are not a change.
const UNCHANGED: &[&str] = &["no-op", "read"];

pub fn drift_fixture() -> &'static Value {
    static PLAN: OnceLock<Value> = OnceLock::new();
    PLAN.get_or_init(|| serde_json::from_str(DRIFT_FIXTURE).expect("drift.json is JSON"))
}

pub fn no_drift_fixture() -> &'static Value {
    static PLAN: OnceLock<Value> = OnceLock::new();
    PLAN.get_or_init(|| serde_json::from_str(NO_DRIFT_FIXTURE).expect("no-drift.json is JSON"))
}

/// The plan of a speculative (drift-check) run.
pub fn speculative(drift: &Drift) -> Value {
    match drift {
        Drift::None => no_drift_fixture().clone(),
        Drift::Fixture => drift_fixture().clone(),
        Drift::Custom(plan) => plan.clone(),
    }
}

fn actions(entry: &Value) -> Vec<&str> {
    entry
        .pointer("/change/actions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether the plan changes anything (`has-changes`).
pub fn has_changes(plan: &Value) -> bool {
    plan.get("resource_changes")
        .and_then(Value::as_array)
        .is_some_and(|changes| {
            changes.iter().any(|entry| {
                let actions = actions(entry);
                !actions.is_empty() && actions.iter().any(|a| !UNCHANGED.contains(a))
            })
        })
}

/// (additions, changes, destructions) as the Plans API counts them.
pub fn counts(plan: &Value) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for entry in plan
        .get("resource_changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let actions = actions(entry);
        if actions.contains(&"create") {
            counts.0 += 1;
        }
        if actions.contains(&"update") {
            counts.1 += 1;
        }
        if actions.contains(&"delete") {
            counts.2 += 1;
        }
    }
    counts
}

/// Parts of a resource address: module address, mode, type, name, index.
struct Address<'a> {
    module: Option<String>,
    mode: &'static str,
    resource_type: &'a str,
    name: &'a str,
    index: Option<Value>,
}

fn parse_address(address: &str) -> Address<'_> {
    let mut rest = address;
    let mut modules = Vec::new();
    while let Some(after) = rest.strip_prefix("module.") {
        // module.NAME or module.NAME[KEY], then a dot.
        let end = after.find('.').unwrap_or(after.len());
        let end = match after[..end].find('[') {
            Some(open) => after[open..]
                .find("].")
                .map_or(end, |close| open + close + 1),
            None => end,
        };
        modules.push(&rest[..("module.".len() + end)]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    let (mode, rest) = match rest.strip_prefix("data.") {
        Some(after) => ("data", after),
        None => ("managed", rest),
    };
    let (resource_type, name_part) = rest.split_once('.').unwrap_or((rest, ""));
    let (name, index) = match name_part.split_once('[') {
        Some((name, key)) => {
            let key = key.trim_end_matches(']');
            let index = key
                .parse::<u64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| json!(key.trim_matches('"')));
            (name, Some(index))
        }
        None => (name_part, None),
    };
    Address {
        module: (!modules.is_empty()).then(|| modules.join(".")),
        mode,
        resource_type,
        name,
        index,
    }
}

/// The prior values of a drifted resource, if the drift plan has them.
fn drifted_values(drift_plan: Option<&Value>, address: &str) -> Option<(Value, Value)> {
    let entry = drift_plan?
        .get("resource_changes")?
        .as_array()?
        .iter()
        .find(|e| e.get("address").and_then(Value::as_str) == Some(address))?;
    let before = entry.pointer("/change/before")?;
    let after = entry.pointer("/change/after")?;
    (before.is_object() && after.is_object()).then(|| (before.clone(), after.clone()))
}

/// The plan of a normal (remediation) run targeting `targets`: an update of
/// each target, or a replacement of the first when `destroys`.
pub fn remediation(targets: &[String], destroys: bool, drift: &Drift, timestamp: &str) -> Value {
    let drift_plan = match drift {
        Drift::None => None,
        Drift::Fixture => Some(drift_fixture()),
        Drift::Custom(plan) => Some(plan),
    };
    let changes: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, address)| {
            let parts = parse_address(address);
            let provider = parts
                .resource_type
                .split('_')
                .next()
                .unwrap_or(parts.resource_type);
            let replace = destroys && i == 0;
            let (before, mut after) = drifted_values(drift_plan, address).unwrap_or_else(|| {
                (
                    json!({ "id": parts.name, "tags": { "ManagedBy": "console" } }),
                    json!({ "id": parts.name, "tags": { "ManagedBy": "terraform" } }),
                )
            });
            let mut after_unknown = json!({});
            if replace {
                if let Some(object) = after.as_object_mut() {
                    object.remove("id");
                    object.remove("arn");
                }
                after_unknown = json!({ "id": true, "arn": true });
            }
            let mut change = json!({
                "actions": if replace { json!(["delete", "create"]) } else { json!(["update"]) },
                "before": before,
                "after": after,
                "after_unknown": after_unknown,
                "before_sensitive": {},
                "after_sensitive": {}
            });
            let mut entry = json!({
                "address": address,
                "mode": parts.mode,
                "type": parts.resource_type,
                "name": parts.name,
                "provider_name": format!("registry.terraform.io/hashicorp/{provider}"),
            });
            if let Some(module) = parts.module {
                entry["module_address"] = json!(module);
            }
            if let Some(index) = parts.index {
                entry["index"] = index;
            }
            if replace {
                change["replace_paths"] = json!([["name"]]);
                entry["action_reason"] = json!("replace_because_cannot_update");
            }
            entry["change"] = change;
            entry
        })
        .collect();
    json!({
        "format_version": "1.2",
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": { "root_module": {} },
        "resource_drift": [],
        "resource_changes": changes,
        "output_changes": {},
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": TERRAFORM_VERSION,
            "values": { "root_module": {} }
        },
        "configuration": { "provider_config": {}, "root_module": {} },
        "relevant_attributes": [],
        "timestamp": timestamp,
        "applyable": !targets.is_empty(),
        // A targeted plan is not complete (Terraform 1.8+).
        "complete": targets.is_empty(),
        "errored": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_have_the_expected_changes() {
        assert!(has_changes(drift_fixture()));
        assert!(!has_changes(no_drift_fixture()));
        assert_eq!(counts(drift_fixture()), (1, 3, 0));
    }

    #[test]
    fn addresses_split_like_terraform() {
        let a = parse_address("module.net[\"a\"].module.sg.aws_security_group.web[0]");
        assert_eq!(a.module.as_deref(), Some("module.net[\"a\"].module.sg"));
        assert_eq!(
            (a.mode, a.resource_type, a.name),
            ("managed", "aws_security_group", "web")
        );
        assert_eq!(a.index, Some(json!(0)));
        let d = parse_address("data.aws_caller_identity.me");
        assert_eq!(
            (d.mode, d.resource_type, d.name),
            ("data", "aws_caller_identity", "me")
        );
        assert!(d.module.is_none() && d.index.is_none());
    }

    #[test]
    fn remediation_plan_updates_or_replaces_targets() {
        let targets = vec![
            "aws_security_group.web".to_string(),
            "aws_s3_bucket.b".to_string(),
        ];
        let plan = remediation(&targets, true, &Drift::Fixture, "2025-01-01T00:00:00Z");
        let changes = plan["resource_changes"].as_array().unwrap();
        assert_eq!(changes[0]["change"]["actions"], json!(["delete", "create"]));
        assert_eq!(
            changes[0]["provider_name"],
            json!("registry.terraform.io/hashicorp/aws")
        );
        assert_eq!(changes[1]["change"]["actions"], json!(["update"]));
        assert!(has_changes(&plan));
        let plan = remediation(&targets, false, &Drift::None, "2025-01-01T00:00:00Z");
        assert_eq!(counts(&plan), (0, 2, 0));
    }
}
