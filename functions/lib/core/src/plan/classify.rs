//! Drift, pending code and informational changes from the facts of one plan.

use std::collections::{BTreeMap, BTreeSet};

use super::document::{ChangeFacts, Configuration, DriftFacts, PlanFacts};
use super::paths::{ChangedPath, overlaps, top_level};
use super::schema::ProviderSchema;
use crate::model::{DriftedResource, PendingChange, PlanMode, ResourcePaths};

/// Attributes that only mirror other resources (an `aws_iam_role_policy`
/// fills the role's `inline_policy`; the `aws_s3_bucket_*` resources fill the
/// bucket's legacy blocks). Changed outside, they are not the mirror's drift.
const MIRRORED: &[(&str, &str)] = &[
    ("aws_iam_role", "inline_policy"),
    ("aws_iam_role", "managed_policy_arns"),
    ("aws_iam_user", "inline_policy"),
    ("aws_security_group", "ingress"),
    ("aws_security_group", "egress"),
    ("aws_default_security_group", "ingress"),
    ("aws_default_security_group", "egress"),
    ("aws_network_acl", "ingress"),
    ("aws_network_acl", "egress"),
    ("aws_route_table", "route"),
    ("aws_s3_bucket", "acl"),
    ("aws_s3_bucket", "cors_rule"),
    ("aws_s3_bucket", "grant"),
    ("aws_s3_bucket", "lifecycle_rule"),
    ("aws_s3_bucket", "logging"),
    ("aws_s3_bucket", "object_lock_configuration"),
    ("aws_s3_bucket", "policy"),
    ("aws_s3_bucket", "replication_configuration"),
    ("aws_s3_bucket", "request_payer"),
    ("aws_s3_bucket", "server_side_encryption_configuration"),
    ("aws_s3_bucket", "versioning"),
    ("aws_s3_bucket", "website"),
];

/// Every finding of one plan, uncapped and sorted by address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    pub mode: PlanMode,
    pub format_version: String,
    pub terraform_version: Option<String>,
    /// False for targeted plans (and plans with deferred changes).
    pub complete: bool,
    pub drifted: Vec<DriftedResource>,
    pub pending: Vec<PendingChange>,
    /// Changed outside Terraform, not reverted: not drift.
    pub informational: Vec<ResourcePaths>,
    /// Refresh-only plans: changed outside, unset in configuration, unknown to the schema.
    pub possibly_managed: Vec<ResourcePaths>,
    /// Addresses the plan deletes or replaces.
    pub destructive: Vec<String>,
    pub notes: Vec<String>,
    /// Per drifted address, each drifted path and the hash of its live value
    /// (None for a sensitive one): what `values_hash` is made of once ignore
    /// rules have dropped what they mute.
    pub(crate) drifted_values: BTreeMap<String, Vec<(String, Option<u64>)>>,
}

impl Analysis {
    pub fn drifted_addresses(&self) -> impl Iterator<Item = &str> {
        self.drifted.iter().map(|r| r.address.as_str())
    }
}

pub(crate) fn classify(mut facts: PlanFacts, schema: Option<&ProviderSchema>) -> Analysis {
    let mut analysis = Analysis {
        format_version: facts.format_version.clone().unwrap_or_default(),
        terraform_version: facts.terraform_version.clone(),
        complete: facts.complete.unwrap_or(true),
        destructive: std::mem::take(&mut facts.destructive).into_iter().collect(),
        ..Analysis::default()
    };
    let configuration = facts.configuration.take();
    if facts.has_resource_changes {
        analysis.mode = PlanMode::Normal;
        normal(&mut analysis, facts, configuration.as_ref());
    } else {
        analysis.mode = PlanMode::RefreshOnly;
        refresh_only(&mut analysis, facts, configuration.as_ref(), schema);
    }
    analysis
}

/// A normal plan: drifted where `resource_changes` changes back what
/// `resource_drift` shows changed outside.
fn normal(analysis: &mut Analysis, mut facts: PlanFacts, configuration: Option<&Configuration>) {
    let addresses: BTreeSet<String> = facts
        .drift
        .keys()
        .chain(facts.changes.keys())
        .cloned()
        .collect();
    for address in addresses {
        let drift = facts.drift.remove(&address);
        let change = facts.changes.remove(&address);
        match (drift, change) {
            (Some(drift), None) => informational(analysis, &address, &drift),
            (None, Some(change)) => pending(analysis, &address, &change, configuration),
            (Some(drift), Some(change)) => join(analysis, address, drift, change, configuration),
            (None, None) => {}
        }
    }
}

fn informational(analysis: &mut Analysis, address: &str, drift: &DriftFacts) {
    analysis.informational.push(ResourcePaths {
        address: address.to_string(),
        paths: drift.paths.iter().map(|p| p.path.clone()).collect(),
    });
}

/// The paths a change makes: for a replace, only what the configuration sets
/// or what forced the replacement (the rest of a new object is the provider's
/// defaults and values computed at apply).
fn effective_paths<'a>(
    change: &'a ChangeFacts,
    configuration: Option<&Configuration>,
) -> Vec<&'a ChangedPath> {
    if !change.is_replace() {
        return change.paths.iter().collect();
    }
    change
        .paths
        .iter()
        .filter(|p| {
            let top = top_level(&p.path);
            let configured = configuration
                .and_then(|c| c.sets(&change.config_address, top))
                .unwrap_or(false);
            configured || change.replace_top.contains(top)
        })
        .collect()
}

fn pending(
    analysis: &mut Analysis,
    address: &str,
    change: &ChangeFacts,
    configuration: Option<&Configuration>,
) {
    let whole_resource = change.has("create") || change.has("delete") || change.has("forget");
    let paths: Vec<String> = if whole_resource && !change.is_replace() {
        Vec::new()
    } else {
        effective_paths(change, configuration)
            .into_iter()
            .map(|p| p.path.clone())
            .collect()
    };
    // An update that changes no value and nothing unknown (sensitivity only) is no change.
    if !whole_resource && paths.is_empty() && !change.has_unknowns {
        return;
    }
    analysis.pending.push(PendingChange {
        address: address.to_string(),
        resource_type: change.resource_type.clone(),
        actions: change.actions.clone(),
        changed_attributes: paths,
        previous_address: change.previous_address.clone(),
    });
}

fn join(
    analysis: &mut Analysis,
    address: String,
    drift: DriftFacts,
    change: ChangeFacts,
    configuration: Option<&Configuration>,
) {
    if drift.deleted {
        if !change.has("create") {
            return informational(analysis, &address, &drift);
        }
        // Recreated from configuration: pending code where the configured
        // values differ from the object that was deleted.
        let pending_paths: Vec<String> = configuration
            .and_then(|c| c.resources.get(&change.config_address))
            .into_iter()
            .flatten()
            .filter(|name| {
                matches!(
                    (drift.prior_top.get(*name), change.planned_top.get(*name)),
                    (Some(prior), Some(planned)) if prior != planned
                )
            })
            .cloned()
            .collect();
        push_drifted(analysis, &address, &change, Vec::new(), true, pending_paths);
        return;
    }

    let effective = effective_paths(&change, configuration);
    let drifted_paths: Vec<&ChangedPath> = drift
        .paths
        .iter()
        .filter(|d| effective.iter().any(|c| overlaps(&d.path, &c.path)))
        .collect();
    let drifted: Vec<String> = drifted_paths.iter().map(|d| d.path.clone()).collect();
    // Code changes: paths the plan changes where nothing changed outside, or
    // where it sets something other than what was there before the change outside.
    let pending_paths: Vec<String> = effective
        .iter()
        .filter(|c| {
            let outside: Vec<&ChangedPath> = drift
                .paths
                .iter()
                .filter(|d| overlaps(&d.path, &c.path))
                .collect();
            outside.is_empty()
                || outside
                    .iter()
                    .any(|d| d.path != c.path || d.before != c.after)
        })
        .map(|c| c.path.clone())
        .collect();
    let not_reverted: Vec<String> = drift
        .paths
        .iter()
        .map(|d| d.path.clone())
        .filter(|path| !drifted.contains(path))
        .collect();

    if drifted.is_empty() {
        pending(analysis, &address, &change, configuration);
    } else {
        analysis
            .drifted_values
            .insert(address.clone(), live_values(&drifted_paths));
        push_drifted(analysis, &address, &change, drifted, false, pending_paths);
    }
    if !not_reverted.is_empty() {
        analysis.informational.push(ResourcePaths {
            address,
            paths: not_reverted,
        });
    }
}

/// Each path with the stable hash of its value after the change outside (the
/// live value), or None where it is sensitive.
fn live_values(paths: &[&ChangedPath]) -> Vec<(String, Option<u64>)> {
    paths.iter().map(|p| (p.path.clone(), p.live)).collect()
}

fn push_drifted(
    analysis: &mut Analysis,
    address: &str,
    change: &ChangeFacts,
    paths: Vec<String>,
    deleted: bool,
    pending_paths: Vec<String>,
) {
    let also_pending_code = !pending_paths.is_empty();
    analysis.drifted.push(DriftedResource {
        address: address.to_string(),
        resource_type: change.resource_type.clone(),
        actions: change.actions.clone(),
        changed_attributes: paths,
        deleted,
        also_pending_code,
        previous_address: change.previous_address.clone(),
        values_hash: String::new(),
    });
    if also_pending_code {
        analysis.pending.push(PendingChange {
            address: address.to_string(),
            resource_type: change.resource_type.clone(),
            actions: change.actions.clone(),
            changed_attributes: pending_paths,
            previous_address: change.previous_address.clone(),
        });
    }
}

/// Whether Terraform manages an attribute a refresh-only plan shows changed.
#[derive(Debug, PartialEq)]
enum Managed {
    Yes,
    No,
    Unknown,
}

fn managed(
    drift: &DriftFacts,
    path: &str,
    configuration: Option<&Configuration>,
    schema: Option<&ProviderSchema>,
) -> Managed {
    let top = top_level(path);
    if top == "default_tags" {
        return match configuration {
            Some(c) if c.default_tags => Managed::Yes,
            Some(_) => Managed::No,
            None => Managed::Unknown,
        };
    }
    if configuration.and_then(|c| c.sets(&drift.config_address, top)) == Some(true) {
        return Managed::Yes;
    }
    if MIRRORED.contains(&(drift.resource_type.as_str(), top)) {
        return Managed::No;
    }
    match schema.and_then(|s| s.attribute(&drift.resource_type, top)) {
        Some(flags) if flags.is_managed() => Managed::Yes,
        Some(_) => Managed::No,
        None => Managed::Unknown,
    }
}

/// A refresh-only plan: drifted where what changed outside is managed by the
/// configuration (set in its block, or Optional-not-Computed in the schema).
fn refresh_only(
    analysis: &mut Analysis,
    facts: PlanFacts,
    configuration: Option<&Configuration>,
    schema: Option<&ProviderSchema>,
) {
    let drift: BTreeMap<String, DriftFacts> = facts.drift.into_iter().collect();
    for (address, drift) in drift {
        let in_configuration =
            configuration.is_none_or(|c| c.resources.contains_key(&drift.config_address));
        if drift.deleted {
            if in_configuration {
                analysis.drifted.push(DriftedResource {
                    address,
                    resource_type: drift.resource_type,
                    actions: vec!["delete".into()],
                    changed_attributes: Vec::new(),
                    deleted: true,
                    also_pending_code: false,
                    previous_address: drift.previous_address,
                    values_hash: String::new(),
                });
            } else {
                informational(analysis, &address, &drift);
            }
            continue;
        }
        let (mut yes, mut no, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        let mut yes_paths: Vec<&ChangedPath> = Vec::new();
        for changed in &drift.paths {
            let path = changed.path.clone();
            match managed(&drift, &path, configuration, schema) {
                Managed::Yes => {
                    yes_paths.push(changed);
                    yes.push(path)
                }
                Managed::No => no.push(path),
                Managed::Unknown => unknown.push(path),
            }
        }
        if !no.is_empty() {
            analysis.informational.push(ResourcePaths {
                address: address.clone(),
                paths: no,
            });
        }
        if !unknown.is_empty() {
            analysis.possibly_managed.push(ResourcePaths {
                address: address.clone(),
                paths: unknown,
            });
        }
        if !yes.is_empty() {
            analysis
                .drifted_values
                .insert(address.clone(), live_values(&yes_paths));
            analysis.drifted.push(DriftedResource {
                address,
                resource_type: drift.resource_type,
                actions: vec!["update".into()],
                changed_attributes: yes,
                deleted: false,
                also_pending_code: false,
                previous_address: drift.previous_address,
                values_hash: String::new(),
            });
        }
    }
    analysis.notes.push(
        "refresh-only plan: it shows what changed outside Terraform, not unapplied code changes"
            .into(),
    );
    analysis.notes.push(
        "lifecycle ignore_changes is not in the plan JSON: a change to an ignored attribute that the configuration sets is reported as drift; a normal plan does not have this limit"
            .into(),
    );
    if !analysis.possibly_managed.is_empty() && schema.is_none() {
        analysis.notes.push(
            "attributes the configuration does not set are listed as possibly managed: pass `terraform providers schema -json` output (--provider-schema) to decide them"
                .into(),
        );
    }
}
