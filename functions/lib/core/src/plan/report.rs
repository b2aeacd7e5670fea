//! From an [`Analysis`] to what people and the state document see: ignore
//! rules, the capped [`DriftReport`], its fingerprint, and the CLI table.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::classify::Analysis;
use crate::config::IgnoreRules;
use crate::model::{
    DriftReport, DriftedResource, Informational, MAX_RESOURCES_IN_STATE, MAX_SIDE_LIST_IN_STATE,
    PendingChange, PendingChanges, PlanMode, ResourcePaths,
};
use crate::pattern::Pattern;

/// Above this many paths, a resource's attribute list collapses to top-level names.
pub const MAX_ATTRIBUTE_PATHS: usize = 25;

/// Removes ignored addresses and attribute paths from the drifted and
/// possibly-managed resources; answers how many drifted resources were dropped.
pub(crate) fn apply_ignore_rules(analysis: &mut Analysis, rules: &IgnoreRules) -> usize {
    if rules.addresses.is_empty() && rules.attributes.is_empty() {
        return 0;
    }
    let ignore = IgnoreMatcher::new(rules);
    let before = analysis.drifted.len();
    analysis.drifted.retain_mut(|resource| {
        if ignore.ignores_address(&resource.address) {
            return false;
        }
        let had_paths = !resource.changed_attributes.is_empty();
        resource
            .changed_attributes
            .retain(|path| !ignore.ignores_attribute(&resource.address, path));
        !(had_paths && resource.changed_attributes.is_empty())
    });
    analysis.possibly_managed.retain_mut(|resource| {
        resource
            .paths
            .retain(|path| !ignore.ignores_attribute(&resource.address, path));
        !resource.paths.is_empty() && !ignore.ignores_address(&resource.address)
    });
    before - analysis.drifted.len()
}

/// Sets each drifted resource's `values_hash` from the paths it still has
/// (after ignore rules: a muted path's value never counts).
pub(crate) fn seal_values_hashes(analysis: &mut Analysis) {
    for resource in &mut analysis.drifted {
        let live = analysis
            .drifted_values
            .get(&resource.address)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut kept: Vec<&(String, Option<u64>)> = live
            .iter()
            .filter(|(path, _)| resource.changed_attributes.contains(path))
            .collect();
        kept.sort();
        let mut hasher = Sha256::new();
        put(
            &mut hasher,
            if resource.deleted {
                "deleted"
            } else {
                "changed"
            },
        );
        for (path, hash) in kept {
            put(&mut hasher, path);
            match hash {
                Some(hash) => {
                    hasher.update([1u8]);
                    hasher.update(hash.to_le_bytes());
                }
                None => hasher.update([0u8]),
            }
        }
        resource.values_hash = hex(&hasher.finalize());
    }
}

/// Length-prefixed, so no two inputs collide by concatenation.
fn put(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How long the report's lists may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub resources: usize,
    pub side_lists: usize,
}

impl Caps {
    /// For the state document (far below its 256 KiB limit).
    pub const STATE: Caps = Caps {
        resources: MAX_RESOURCES_IN_STATE,
        side_lists: MAX_SIDE_LIST_IN_STATE,
    };
    /// Everything (command line).
    pub const NONE: Caps = Caps {
        resources: usize::MAX,
        side_lists: usize::MAX,
    };
}

/// The drift report: lists capped as `caps` says, counts complete.
pub(crate) fn report(analysis: &Analysis, ignored: usize, caps: Caps) -> DriftReport {
    let resource_count = analysis.drifted.len();
    let resources: Vec<DriftedResource> = analysis
        .drifted
        .iter()
        .take(caps.resources)
        .map(|r| DriftedResource {
            changed_attributes: collapse_if_long(&r.changed_attributes),
            ..r.clone()
        })
        .collect();
    let omitted = resource_count - resources.len();
    let pending_changes = PendingChanges {
        count: analysis.pending.len(),
        resources: analysis
            .pending
            .iter()
            .take(caps.side_lists)
            .map(|p| PendingChange {
                changed_attributes: collapse_if_long(&p.changed_attributes),
                ..p.clone()
            })
            .collect(),
        omitted: analysis.pending.len().saturating_sub(caps.side_lists),
    };
    let informational_addresses: BTreeSet<&str> = analysis
        .informational
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let informational = Informational {
        count: informational_addresses.len(),
        addresses: informational_addresses
            .iter()
            .take(caps.side_lists)
            .map(|a| a.to_string())
            .collect(),
        omitted: informational_addresses
            .len()
            .saturating_sub(caps.side_lists),
        possibly_managed: analysis
            .possibly_managed
            .iter()
            .take(caps.side_lists)
            .map(|r| ResourcePaths {
                address: r.address.clone(),
                paths: collapse_if_long(&r.paths),
            })
            .collect(),
        possibly_managed_count: analysis.possibly_managed.len(),
    };
    DriftReport {
        drifted: resource_count > 0,
        resource_count,
        resources,
        truncated: omitted > 0,
        omitted,
        ignored,
        fingerprint: fingerprint(&analysis.drifted),
        paths_fingerprint: paths_fingerprint(&analysis.drifted),
        pending_changes,
        informational,
        plan_mode: analysis.mode,
        notes: analysis.notes.clone(),
    }
}

/// Keeps long lists short: too many nested paths become their top-level names.
fn collapse_if_long(paths: &[String]) -> Vec<String> {
    if paths.len() <= MAX_ATTRIBUTE_PATHS {
        return paths.to_vec();
    }
    let top_level: BTreeSet<String> = paths
        .iter()
        .map(|p| super::paths::top_level(p).to_string())
        .collect();
    top_level.into_iter().collect()
}

/// Hex SHA-256 over the sorted drifted addresses, their drifted paths (a
/// deleted resource counts as its whole object) and each resource's
/// `values_hash` (the live values): the same paths changed again are another
/// drift. Pending code and actions do not count: the same drift with
/// different unapplied code is the same drift. Empty when nothing drifted.
pub fn fingerprint(drifted: &[DriftedResource]) -> String {
    hash_drift(drifted, true)
}

/// [`fingerprint`] without the values: the same addresses and paths, whatever
/// their values now (the fingerprint before values counted).
pub fn paths_fingerprint(drifted: &[DriftedResource]) -> String {
    hash_drift(drifted, false)
}

fn hash_drift(drifted: &[DriftedResource], with_values: bool) -> String {
    if drifted.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&DriftedResource> = drifted.iter().collect();
    sorted.sort_by(|a, b| a.address.cmp(&b.address));
    let mut hasher = Sha256::new();
    for resource in sorted {
        put(&mut hasher, &resource.address);
        put(
            &mut hasher,
            if resource.deleted {
                "deleted"
            } else {
                "changed"
            },
        );
        put(&mut hasher, &resource.changed_attributes.len().to_string());
        resource
            .changed_attributes
            .iter()
            .for_each(|a| put(&mut hasher, a));
        // Reports without values hash exactly as before values counted.
        if with_values && !resource.values_hash.is_empty() {
            put(&mut hasher, &resource.values_hash);
        }
    }
    hex(&hasher.finalize())
}

/// A plain-text view of the report for the command line: drifted resources,
/// unapplied code changes, and informational changes, each in its own group.
pub fn render_table(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.drifted {
        out.push_str("DRIFTED: changed outside Terraform, managed by it\n");
        let rows: Vec<[String; 3]> = report
            .resources
            .iter()
            .map(|r| {
                let mut attributes = if r.deleted {
                    "(deleted outside Terraform)".to_string()
                } else if r.changed_attributes.is_empty() {
                    "(whole resource)".to_string()
                } else {
                    r.changed_attributes.join(", ")
                };
                if let Some(previous) = &r.previous_address {
                    attributes.push_str(&format!(" (moved from {previous})"));
                }
                if r.also_pending_code {
                    attributes.push_str("  [+ unapplied code change]");
                }
                [r.address.clone(), action_label(&r.actions), attributes]
            })
            .collect();
        table(&mut out, ["ADDRESS", "ACTION", "DRIFTED ATTRIBUTES"], &rows);
        if report.omitted > 0 {
            out.push_str(&format!("… and {} more (not listed)\n", report.omitted));
        }
        out.push('\n');
    }

    let pending = &report.pending_changes;
    if pending.count > 0 {
        out.push_str("PENDING CODE: unapplied configuration changes, not drift\n");
        let rows: Vec<[String; 3]> = pending
            .resources
            .iter()
            .map(|p| {
                let attributes = if p.changed_attributes.is_empty() {
                    "(whole resource)".to_string()
                } else {
                    p.changed_attributes.join(", ")
                };
                [p.address.clone(), action_label(&p.actions), attributes]
            })
            .collect();
        table(&mut out, ["ADDRESS", "ACTION", "ATTRIBUTES"], &rows);
        if pending.omitted > 0 {
            out.push_str(&format!("… and {} more (not listed)\n", pending.omitted));
        }
        out.push('\n');
    }

    let info = &report.informational;
    if info.count > 0 || info.possibly_managed_count > 0 {
        out.push_str(&format!(
            "INFORMATIONAL: changed outside Terraform, not drift (computed, ignored or mirrored): {}\n",
            plural(info.count, "resource")
        ));
        for address in &info.addresses {
            out.push_str(&format!("  {address}\n"));
        }
        if info.omitted > 0 {
            out.push_str(&format!("  … and {} more\n", info.omitted));
        }
        if info.possibly_managed_count > 0 {
            out.push_str(&format!(
                "  possibly managed (not set in configuration; pass --provider-schema to decide): {}\n",
                plural(info.possibly_managed_count, "resource")
            ));
            for resource in &info.possibly_managed {
                out.push_str(&format!(
                    "    {}: {}\n",
                    resource.address,
                    resource.paths.join(", ")
                ));
            }
        }
        out.push('\n');
    }

    for note in &report.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out.push_str(&verdict_line(report));
    out
}

/// The closing line: the verdict and counts.
fn verdict_line(report: &DriftReport) -> String {
    let mut line = if report.drifted {
        format!("Drift: {}", plural(report.resource_count, "resource"))
    } else {
        "No drift".to_string()
    };
    if report.ignored > 0 {
        line.push_str(&format!(
            ", {} ignored by rules",
            plural(report.ignored, "drifted resource")
        ));
    }
    if let Some(sentence) = pending_code_sentence(report.pending_changes.count) {
        line.push_str(&format!(". {sentence}"));
    }
    if report.drifted {
        line.push_str(&format!(". Fingerprint {}", report.fingerprint));
    }
    line.push_str(".\n");
    if report.plan_mode == PlanMode::RefreshOnly {
        line.push_str("(refresh-only plan)\n");
    }
    line
}

fn table(out: &mut String, header: [&str; 3], rows: &[[String; 3]]) {
    let header = header.map(str::to_string);
    let width = |column: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (address_width, action_width) = (width(0), width(1));
    for [address, action, attributes] in std::iter::once(&header).chain(rows) {
        out.push_str(&format!(
            "  {}  {}  {attributes}\n",
            crate::pad_right(address, address_width),
            crate::pad_right(action, action_width)
        ));
    }
}

/// The one line that stands for unapplied code changes in alerts and records:
/// "2 resources have unapplied code changes (not drift)".
pub fn pending_code_sentence(count: usize) -> Option<String> {
    match count {
        0 => None,
        1 => Some("1 resource has unapplied code changes (not drift)".into()),
        n => Some(format!(
            "{n} resources have unapplied code changes (not drift)"
        )),
    }
}

pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `replace` for the two replace orders; the plain action names otherwise.
pub fn action_label(actions: &[String]) -> String {
    match actions {
        [first, second] if first == "delete" && second == "create" => "replace".to_string(),
        [first, second] if first == "create" && second == "delete" => {
            "replace (create first)".to_string()
        }
        _ => actions.join(", "),
    }
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
