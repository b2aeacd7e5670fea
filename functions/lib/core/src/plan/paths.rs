//! Changed attribute paths between two values of one resource, at leaf level.
//!
//! Path style:
//! - object keys (attributes, map keys) are joined with `.`: `tags.Owner`;
//! - a one-element list (a block with `max_items = 1`, like
//!   `versioning_configuration`) is opened at `[0]`:
//!   `versioning_configuration[0].status`;
//! - any other list or set is compared by value, order ignored, and a change is
//!   reported at the list's own path (`ingress`): set elements have no stable
//!   index, and comparing them by position would name unrelated elements;
//! - a value marked sensitive (`before_sensitive`/`after_sensitive`) is compared
//!   but reported by its own path only, never by keys or indexes inside it;
//! - a value unknown until apply (`after_unknown`) is not a known change;
//! - `null`, `""`, `[]` and `{}` are equal (providers and the legacy plugin SDK
//!   use them interchangeably for "not set").
//!
//! Each path carries a hash of the value on either side, so two diffs of the same
//! resource (prior → refreshed, refreshed → planned) can be compared without
//! keeping any value; these fast hashes stay in memory. A drift path also
//! carries [`stable_hash`] of its live value (SHA-256 over a byte encoding this
//! module defines, the same on every build and machine), which may go into a
//! stored fingerprint. No value ever leaves this module.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One changed path and the hashes of the normalised values on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedPath {
    pub path: String,
    pub before: u64,
    pub after: u64,
    /// [`stable_hash`] of the value after the change, when asked for
    /// ([`Side::Live`]) and not marked sensitive: a stored hash of a short
    /// secret could be guessed.
    pub live: Option<u64>,
}

/// Whether the `after` side of a diff is the live resource, whose values'
/// stable hashes are wanted (`resource_drift`: prior state → refreshed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Live,
    Planned,
}

/// The `after_unknown` and sensitivity mirrors of one change.
#[derive(Clone, Copy)]
pub(crate) struct Marks<'a> {
    pub unknown: &'a Value,
    pub before_sensitive: &'a Value,
    pub after_sensitive: &'a Value,
}

const NULL: &Value = &Value::Null;

impl<'a> Marks<'a> {
    #[cfg(test)]
    pub fn none() -> Marks<'static> {
        Marks {
            unknown: NULL,
            before_sensitive: NULL,
            after_sensitive: NULL,
        }
    }

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

    fn is_unknown(&self) -> bool {
        self.unknown == &Value::Bool(true)
    }

    fn is_sensitive(&self) -> bool {
        self.before_sensitive == &Value::Bool(true) || self.after_sensitive == &Value::Bool(true)
    }

    /// Something at or below this path is sensitive (a list of blocks one of
    /// whose attributes is a secret).
    fn holds_sensitive(&self) -> bool {
        any_mark(self.before_sensitive) || any_mark(self.after_sensitive)
    }
}

/// A `true` mark covers everything below it; otherwise descend into the mirror.
fn child_mark<'a>(mark: &'a Value, get: impl Fn(&'a Value) -> Option<&'a Value>) -> &'a Value {
    if mark == &Value::Bool(true) {
        mark
    } else {
        get(mark).unwrap_or(NULL)
    }
}

/// Whether any part of a mark tree is `true` (something inside is unknown).
pub(crate) fn any_mark(mark: &Value) -> bool {
    match mark {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(any_mark),
        Value::Object(map) => map.values().any(any_mark),
        _ => false,
    }
}

/// Changed paths between `before` and `after` (both resource objects), sorted.
pub(crate) fn changed_paths(
    before: &Value,
    after: &Value,
    marks: Marks,
    side: Side,
) -> Vec<ChangedPath> {
    let mut out = Vec::new();
    diff(String::new(), before, after, marks, side, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    out
}

fn diff(
    path: String,
    before: &Value,
    after: &Value,
    marks: Marks,
    side: Side,
    out: &mut Vec<ChangedPath>,
) {
    if marks.is_unknown() || is_unset(before) && is_unset(after) {
        return;
    }
    let push = |out: &mut Vec<ChangedPath>, path: String| {
        let (b, a) = (value_hash(before), value_hash(after));
        if b != a && !path.is_empty() {
            let live = (side == Side::Live && !marks.holds_sensitive()).then(|| stable_hash(after));
            out.push(ChangedPath {
                path,
                before: b,
                after: a,
                live,
            });
        }
    };
    if marks.is_sensitive() {
        return push(out, path);
    }
    match (as_object(before), as_object(after)) {
        (Some(b), Some(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    child,
                    b.get(key).unwrap_or(NULL),
                    a.get(key).unwrap_or(NULL),
                    marks.child(key),
                    side,
                    out,
                );
            }
            return;
        }
        (Some(_), None) | (None, Some(_)) if !(is_list(before) || is_list(after)) => {
            return push(out, path);
        }
        _ => {}
    }
    match (as_list(before), as_list(after)) {
        (Some([b]), Some([a])) if b.is_object() && a.is_object() => {
            diff(format!("{path}[0]"), b, a, marks.element(0), side, out);
        }
        (Some(_), Some(_)) if any_mark(marks.unknown) => {}
        _ => push(out, path),
    }
}

/// An object, or an empty one for an unset value next to an object.
fn as_object(value: &Value) -> Option<&serde_json::Map<String, Value>> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    match value {
        Value::Object(map) => Some(map),
        _ if is_unset(value) => Some(EMPTY.get_or_init(serde_json::Map::new)),
        _ => None,
    }
}

fn is_list(value: &Value) -> bool {
    matches!(value, Value::Array(items) if !items.is_empty())
}

fn as_list(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        _ if is_unset(value) => Some(&[]),
        _ => None,
    }
}

/// `null`, `""`, `[]` and `{}`: "not set" for providers.
pub(crate) fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Hash of a value with the normalisation above: unset values are equal, object
/// keys are unordered, and lists compare as multisets (order ignored). Fast
/// and for comparisons in memory only: Rust does not promise `DefaultHasher`
/// the same from one release to the next.
pub(crate) fn value_hash(value: &Value) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_into(value, &mut hasher);
    hasher.finish()
}

fn hash_into(value: &Value, hasher: &mut impl Hasher) {
    if is_unset(value) {
        return 0u8.hash(hasher);
    }
    match value {
        Value::Bool(b) => (1u8, b).hash(hasher),
        Value::Number(n) => (2u8, n.to_string()).hash(hasher),
        Value::String(s) => (3u8, s).hash(hasher),
        Value::Array(items) => {
            let mut hashes: Vec<u64> = items.iter().map(value_hash).collect();
            hashes.sort_unstable();
            (4u8, hashes).hash(hasher);
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, u64)> = map
                .iter()
                .filter(|(_, v)| !is_unset(v))
                .map(|(k, v)| (k, value_hash(v)))
                .collect();
            entries.sort_unstable();
            (5u8, entries).hash(hasher);
        }
        Value::Null => {}
    }
}

/// [`value_hash`]'s normalisation, hashed to be stored: the first 8 bytes of
/// SHA-256 over a tagged, length-prefixed encoding defined here (the same on
/// every build), and no value can be made to match another's on purpose.
pub(crate) fn stable_hash(value: &Value) -> u64 {
    let mut hasher = Sha256::new();
    stable_hash_into(value, &mut hasher);
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn stable_hash_into(value: &Value, hasher: &mut Sha256) {
    if is_unset(value) {
        return hasher.update([0u8]);
    }
    match value {
        Value::Bool(b) => hasher.update([1u8, u8::from(*b)]),
        Value::Number(n) => {
            hasher.update([2u8]);
            put_bytes(hasher, n.to_string().as_bytes());
        }
        Value::String(s) => {
            hasher.update([3u8]);
            put_bytes(hasher, s.as_bytes());
        }
        Value::Array(items) => {
            let mut hashes: Vec<u64> = items.iter().map(stable_hash).collect();
            hashes.sort_unstable();
            hasher.update([4u8]);
            hasher.update((hashes.len() as u64).to_le_bytes());
            hashes.iter().for_each(|h| hasher.update(h.to_le_bytes()));
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, u64)> = map
                .iter()
                .filter(|(_, v)| !is_unset(v))
                .map(|(k, v)| (k, stable_hash(v)))
                .collect();
            entries.sort_unstable();
            hasher.update([5u8]);
            hasher.update((entries.len() as u64).to_le_bytes());
            for (key, hash) in entries {
                put_bytes(hasher, key.as_bytes());
                hasher.update(hash.to_le_bytes());
            }
        }
        Value::Null => {}
    }
}

/// The top-level attribute a path belongs to: `tags.Owner` → `tags`.
pub(crate) fn top_level(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// Whether two paths name the same value or one lies inside the other.
pub(crate) fn overlaps(a: &str, b: &str) -> bool {
    let inside = |long: &str, short: &str| {
        long.len() > short.len()
            && long.starts_with(short)
            && matches!(long.as_bytes()[short.len()], b'.' | b'[')
    };
    a == b || inside(a, b) || inside(b, a)
}

/// `tags_all` is never reported on its own: each of its keys belongs to `tags`
/// (reported there) or to the provider's `default_tags` (renamed to
/// `default_tags.KEY`). Paths stay sorted.
pub(crate) fn fold_tags_all(paths: Vec<ChangedPath>) -> Vec<ChangedPath> {
    if !paths.iter().any(|p| top_level(&p.path) == "tags_all") {
        return paths;
    }
    let tag_paths: BTreeSet<String> = paths
        .iter()
        .filter(|p| top_level(&p.path) == "tags")
        .map(|p| p.path.clone())
        .collect();
    let mut out: Vec<ChangedPath> = paths
        .into_iter()
        .filter_map(|mut p| {
            let Some(rest) = p.path.strip_prefix("tags_all") else {
                return Some(p);
            };
            if top_level(&p.path) != "tags_all" {
                return Some(p);
            }
            let as_tag = format!("tags{rest}");
            let covered = if rest.is_empty() {
                !tag_paths.is_empty()
            } else {
                tag_paths.iter().any(|t| overlaps(t, &as_tag))
            };
            if covered {
                return None;
            }
            p.path = format!("default_tags{rest}");
            Some(p)
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(before: Value, after: Value) -> Vec<String> {
        changed_paths(&before, &after, Marks::none(), Side::Live)
            .into_iter()
            .map(|p| p.path)
            .collect()
    }

    #[test]
    fn leaf_paths_with_dots_and_single_blocks() {
        assert_eq!(
            paths(
                json!({"tags": {"Owner": "a", "Team": "x"}, "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]}),
                json!({"tags": {"Owner": "a"}, "versioning_configuration": [{"status": "Suspended", "mfa_delete": null}]}),
            ),
            ["tags.Team", "versioning_configuration[0].status"]
        );
    }

    #[test]
    fn sets_compare_by_value_and_report_the_block() {
        let rule = |port: u16, cidr: &str| json!({"from_port": port, "cidr_blocks": [cidr]});
        assert_eq!(
            paths(
                json!({"ingress": [rule(443, "10.0.0.0/8"), rule(80, "10.0.0.0/8")]}),
                json!({"ingress": [rule(80, "10.0.0.0/8"), rule(443, "10.0.0.0/8")]})
            ),
            Vec::<String>::new(),
            "reordered set elements are not a change"
        );
        assert_eq!(
            paths(
                json!({"ingress": [rule(443, "10.0.0.0/8")]}),
                json!({"ingress": [rule(443, "10.0.0.0/8"), rule(22, "0.0.0.0/0")]})
            ),
            ["ingress"]
        );
    }

    #[test]
    fn unset_forms_are_equal_and_null_to_object_is_opened() {
        assert!(
            paths(
                json!({"a": null, "b": "", "c": {}}),
                json!({"a": [], "b": null})
            )
            .is_empty()
        );
        assert_eq!(
            paths(json!({"tags": null}), json!({"tags": {"Temporary": "yes"}})),
            ["tags.Temporary"]
        );
    }

    #[test]
    fn unknown_values_are_not_changes() {
        let marks = json!({"arn": true, "list": [{"id": true}]});
        let changes = changed_paths(
            &json!({"arn": "a", "list": [{"id": "1"}, {"id": "2"}], "name": "x"}),
            &json!({"arn": null, "list": [{"id": null}], "name": "y"}),
            Marks {
                unknown: &marks,
                ..Marks::none()
            },
            Side::Planned,
        );
        let names: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(names, ["name"]);
    }

    #[test]
    fn sensitive_values_are_named_not_opened() {
        let sensitive = json!({"environment": [{"variables": true}]});
        let changes = changed_paths(
            &json!({"environment": [{"variables": {"DB_PASSWORD": "a"}}]}),
            &json!({"environment": [{"variables": {"DB_PASSWORD": "b"}}]}),
            Marks {
                before_sensitive: &sensitive,
                after_sensitive: &sensitive,
                ..Marks::none()
            },
            Side::Live,
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "environment[0].variables");
    }

    #[test]
    fn hashes_ignore_key_and_set_order() {
        assert_eq!(
            value_hash(&json!({"a": [1, 2], "b": {"x": 1, "y": null}})),
            value_hash(&json!({"b": {"x": 1}, "a": [2, 1]}))
        );
        assert_ne!(value_hash(&json!("a")), value_hash(&json!("b")));
    }

    /// Stored fingerprints depend on these numbers: they must never change.
    #[test]
    fn stable_hashes_are_stable_across_builds() {
        assert_eq!(stable_hash(&json!(null)), stable_hash(&json!([])));
        assert_eq!(
            stable_hash(&json!({"from_port": 22, "cidr_blocks": ["0.0.0.0/0"], "description": ""})),
            STABLE_RULE_HASH
        );
        assert_ne!(stable_hash(&json!("a")), stable_hash(&json!("b")));
    }

    #[test]
    fn only_live_sides_carry_stable_hashes_and_never_for_sensitive_values() {
        let sensitive = json!({"password": true});
        let marks = Marks {
            after_sensitive: &sensitive,
            ..Marks::none()
        };
        let (before, after) = (
            json!({"password": "a", "port": 1}),
            json!({"password": "b", "port": 2}),
        );
        let live = changed_paths(&before, &after, marks, Side::Live);
        assert_eq!(live[0].path, "password");
        assert_eq!(live[0].live, None);
        assert_eq!(live[1].live, Some(stable_hash(&json!(2))));
        assert!(
            changed_paths(&before, &after, marks, Side::Planned)
                .iter()
                .all(|p| p.live.is_none())
        );
        // A set of blocks reported as a whole, a secret inside one of them.
        let inside = json!({"rule": [{"token": true}]});
        let marks = Marks {
            after_sensitive: &inside,
            ..Marks::none()
        };
        let set = changed_paths(
            &json!({"rule": [{"token": "a"}, {"token": "x"}]}),
            &json!({"rule": [{"token": "b"}, {"token": "x"}]}),
            marks,
            Side::Live,
        );
        assert_eq!((set[0].path.as_str(), set[0].live), ("rule", None));
    }
    // Also computed outside Rust from the encoding above (Python hashlib).
    const STABLE_RULE_HASH: u64 = 5_140_162_478_856_475_109;

    #[test]
    fn tags_all_folds_into_tags_or_default_tags() {
        let p = |path: &str| ChangedPath {
            path: path.into(),
            before: 1,
            after: 2,
            live: None,
        };
        let folded: Vec<String> = fold_tags_all(vec![
            p("tags.CostCenter"),
            p("tags_all.CostCenter"),
            p("tags_all.ManagedBy"),
        ])
        .into_iter()
        .map(|p| p.path)
        .collect();
        assert_eq!(folded, ["default_tags.ManagedBy", "tags.CostCenter"]);
    }

    #[test]
    fn overlap_is_at_segment_boundaries() {
        assert!(overlaps("ingress", "ingress"));
        assert!(overlaps("ingress[0].cidr_blocks", "ingress"));
        assert!(overlaps("tags", "tags.Owner"));
        assert!(!overlaps("tags", "tags_all"));
        assert_eq!(
            top_level("versioning_configuration[0].status"),
            "versioning_configuration"
        );
    }
}
