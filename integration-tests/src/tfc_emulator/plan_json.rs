//! Plan JSON (`terraform show -json` of the saved plan) served by json-output:
//! the real plans made by `functions/lib/core/tests/fixtures/drift-lab/generate-plans.sh`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::Drift;

macro_rules! fixture {
    ($name:literal) => {{
        static PLAN: OnceLock<Value> = OnceLock::new();
        PLAN.get_or_init(|| {
            serde_json::from_str(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../functions/lib/core/tests/fixtures/plans/",
                $name
            )))
            .expect(concat!($name, " is JSON"))
        })
    }};
}

/// Actions that are not a change.
const UNCHANGED: &[&str] = &["no-op", "read"];

pub fn drift_fixture() -> &'static Value {
    fixture!("out-of-band.json")
}

pub fn no_drift_fixture() -> &'static Value {
    fixture!("no-drift.json")
}

/// The plan of a speculative (drift-check) run.
pub fn speculative(drift: &Drift) -> Value {
    match drift {
        Drift::None => no_drift_fixture().clone(),
        Drift::Fixture => drift_fixture().clone(),
        Drift::CodeOnly => fixture!("code-only.json").clone(),
        Drift::Both => fixture!("both.json").clone(),
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

/// The plan of a normal (remediation) run targeting `targets`: what Terraform
/// plans with `-target` for the workspace's drift (no targets: the whole
/// plan, as a run without `-target` plans everything). The real targeted plans of
/// the fixtures are served, narrowed to the requested targets; a workspace
/// without a real one (or a custom plan) gets the drift-check plan narrowed
/// the same way. With `destroys`, the first target's change becomes a replace
/// forced by its drifted attribute.
pub fn remediation(targets: &[String], destroys: bool, drift: &Drift, timestamp: &str) -> Value {
    let base = match drift {
        Drift::None | Drift::CodeOnly => no_drift_fixture(),
        Drift::Fixture => fixture!("out-of-band.remediation.json"),
        Drift::Both => fixture!("both.remediation.json"),
        Drift::Custom(plan) => plan,
    };
    // Without -target, Terraform plans the whole configuration.
    let wanted: BTreeSet<&str> = targets.iter().map(String::as_str).collect();
    let narrowed = |key: &str| -> Vec<Value> {
        base.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| {
                wanted.is_empty()
                    || e.get("address")
                        .and_then(Value::as_str)
                        .is_some_and(|a| wanted.contains(a))
            })
            .cloned()
            .collect()
    };
    let drift_entries = narrowed("resource_drift");
    let mut changes = narrowed("resource_changes");
    if destroys {
        if let Some(first) = changes.first_mut() {
            force_replace(first, &drift_entries);
        }
    }
    let mut plan = base.clone();
    plan["resource_drift"] = json!(drift_entries);
    plan["resource_changes"] = json!(changes);
    plan["timestamp"] = json!(timestamp);
    plan["applyable"] = json!(has_changes(&plan));
    // A targeted plan is not complete (Terraform 1.8+).
    plan["complete"] = json!(targets.is_empty());
    plan["errored"] = json!(false);
    plan
}

/// Turns an update into a replace forced by the attribute that drifted, as the
/// provider does for a ForceNew attribute.
fn force_replace(change: &mut Value, drift_entries: &[Value]) {
    let address = change.get("address").cloned();
    let attribute = drift_entries
        .iter()
        .find(|d| d.get("address") == address.as_ref())
        .and_then(|d| {
            let before = d.pointer("/change/before")?.as_object()?;
            let after = d.pointer("/change/after")?.as_object()?;
            before
                .keys()
                .find(|k| before.get(*k) != after.get(*k))
                .cloned()
        })
        .unwrap_or_else(|| "id".into());
    change["change"]["actions"] = json!(["delete", "create"]);
    change["change"]["replace_paths"] = json!([[attribute]]);
    change["action_reason"] = json!("replace_because_cannot_update");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_have_the_expected_changes() {
        assert!(has_changes(drift_fixture()));
        assert!(!has_changes(no_drift_fixture()));
        assert_eq!(counts(drift_fixture()), (0, 8, 0));
        assert_eq!(counts(&speculative(&Drift::CodeOnly)), (2, 1, 0));
    }

    #[test]
    fn remediation_plans_are_the_real_targeted_plans_narrowed_to_the_targets() {
        let targets = vec![
            "aws_security_group.web".to_string(),
            "aws_s3_bucket_versioning.artifacts".to_string(),
        ];
        let plan = remediation(&targets, false, &Drift::Fixture, "2025-01-01T00:00:00Z");
        assert_eq!(counts(&plan), (0, 2, 0));
        assert_eq!(plan["resource_drift"].as_array().unwrap().len(), 2);
        assert_eq!(plan["complete"], false);
        let replace = remediation(&targets, true, &Drift::Fixture, "2025-01-01T00:00:00Z");
        let first = &replace["resource_changes"][0];
        assert_eq!(first["change"]["actions"], json!(["delete", "create"]));
        assert_eq!(counts(&replace), (1, 1, 1));
        let untargeted = remediation(&[], false, &Drift::Fixture, "2025-01-01T00:00:00Z");
        assert_eq!(
            counts(&untargeted),
            (0, 8, 0),
            "a run without targets plans everything"
        );
        assert_eq!(untargeted["complete"], true);
        let nothing = remediation(&targets, false, &Drift::None, "2025-01-01T00:00:00Z");
        assert!(!has_changes(&nothing));
    }
}
