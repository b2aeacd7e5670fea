//! Reads a `terraform show -json` document in one pass without building it in
//! memory: `resource_drift` and `resource_changes` entries are deserialized one
//! at a time and reduced to paths and hashes ([`DriftFacts`], [`ChangeFacts`]);
//! `configuration` is reduced to the attribute names each resource block sets;
//! `planned_values`, `prior_state` and everything else are skipped unread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::PlanError;
use super::paths::{self, ChangedPath, Marks, Side};

/// What changed outside Terraform for one resource (a `resource_drift` entry).
#[derive(Debug, Default)]
pub(crate) struct DriftFacts {
    pub resource_type: String,
    pub config_address: String,
    pub previous_address: Option<String>,
    /// Deleted outside Terraform (the whole object is gone).
    pub deleted: bool,
    /// Prior state → refreshed state, `tags_all` folded.
    pub paths: Vec<ChangedPath>,
    /// Hash of each top-level attribute of the prior object (deleted resources only).
    pub prior_top: BTreeMap<String, u64>,
}

/// What an apply would do to one resource (a `resource_changes` entry).
#[derive(Debug, Default)]
pub(crate) struct ChangeFacts {
    pub resource_type: String,
    pub config_address: String,
    pub previous_address: Option<String>,
    pub actions: Vec<String>,
    /// Refreshed state → planned state (updates and replaces), `tags_all` folded.
    pub paths: Vec<ChangedPath>,
    /// Top-level attributes named by `replace_paths`.
    pub replace_top: BTreeSet<String>,
    /// Hash of each known top-level attribute of the planned object (creates and replaces).
    pub planned_top: BTreeMap<String, u64>,
    /// Some planned value is unknown until apply.
    pub has_unknowns: bool,
}

impl ChangeFacts {
    pub fn has(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }

    pub fn is_replace(&self) -> bool {
        self.has("create") && self.has("delete")
    }
}

/// Everything summarize keeps from one document.
#[derive(Debug, Default)]
pub(crate) struct PlanFacts {
    pub format_version: Option<String>,
    pub terraform_version: Option<String>,
    pub errored: Option<bool>,
    pub complete: Option<bool>,
    /// Keys that only a plan has (`planned_values`, `configuration`, …).
    pub plan_keys: usize,
    /// `values` at the top: `terraform show -json` of state.
    pub has_state_values: bool,
    /// `provider_schemas` at the top: `terraform providers schema -json`.
    pub has_provider_schemas: bool,
    /// `resource_changes` is present (a normal plan; refresh-only plans have none).
    pub has_resource_changes: bool,
    /// `resource_drift` has been read (present or `null`).
    pub has_resource_drift: bool,
    pub resource_change_count: usize,
    pub drift: HashMap<String, DriftFacts>,
    pub changes: HashMap<String, ChangeFacts>,
    /// Addresses the plan deletes or replaces (deposed objects included).
    pub destructive: BTreeSet<String>,
    pub configuration: Option<Configuration>,
}

/// The attribute names each resource block sets, by configuration address
/// (module path without instance keys + `type.name`).
#[derive(Debug, Default)]
pub(crate) struct Configuration {
    pub resources: HashMap<String, BTreeSet<String>>,
    /// A provider block sets `default_tags`.
    pub default_tags: bool,
}

impl Configuration {
    pub fn sets(&self, config_address: &str, attribute: &str) -> Option<bool> {
        self.resources
            .get(config_address)
            .map(|names| names.contains(attribute))
    }
}

/// Reads the whole document from `reader`.
pub(crate) fn read<R: Read>(reader: R) -> Result<PlanFacts, PlanError> {
    let mut facts = PlanFacts::default();
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    DocumentSeed { facts: &mut facts }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(PlanError::from_json)?;
    Ok(facts)
}

struct DocumentSeed<'a> {
    facts: &'a mut PlanFacts,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (the output of `terraform show -json PLANFILE`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let facts = self.facts;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format_version" => facts.format_version = map.next_value()?,
                "terraform_version" => facts.terraform_version = map.next_value()?,
                "errored" => facts.errored = map.next_value()?,
                "complete" => facts.complete = map.next_value()?,
                "resource_changes" => {
                    facts.plan_keys += 1;
                    facts.has_resource_changes =
                        map.next_value_seed(EntriesSeed::new(Section::Changes, facts))?;
                }
                "resource_drift" => {
                    facts.plan_keys += 1;
                    map.next_value_seed(EntriesSeed::new(Section::Drift, facts))?;
                    facts.has_resource_drift = true;
                }
                "configuration" => {
                    facts.plan_keys += 1;
                    facts.configuration = map.next_value_seed(ConfigurationSeed)?;
                }
                "planned_values" | "prior_state" | "output_changes" | "relevant_attributes" => {
                    facts.plan_keys += 1;
                    map.next_value::<IgnoredAny>()?;
                }
                "values" => {
                    facts.has_state_values = true;
                    map.next_value::<IgnoredAny>()?;
                }
                "provider_schemas" => {
                    facts.has_provider_schemas = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Drift,
    Changes,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Drift => "resource_drift",
            Section::Changes => "resource_changes",
        }
    }
}

/// A list of entries, each processed as soon as it is read. Answers whether the
/// list was present (`null` counts as absent).
struct EntriesSeed<'a> {
    section: Section,
    facts: &'a mut PlanFacts,
}

impl<'a> EntriesSeed<'a> {
    fn new(section: Section, facts: &'a mut PlanFacts) -> Self {
        Self { section, facts }
    }
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {} entries", self.section.key())
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut index = 0usize;
        while let Some(entry) = seq.next_element::<RawEntry>()? {
            // Terraform 1.0.0 wrote resource_drift entries without `address`.
            let address = entry
                .address
                .clone()
                .or_else(|| entry.rebuilt_address())
                .ok_or_else(|| {
                    de::Error::custom(format!(
                        "{}[{index}] has no \"address\" (nor \"type\" and \"name\" to rebuild it from)",
                        self.section.key()
                    ))
                })?;
            match self.section {
                Section::Drift => record_drift(self.facts, address, entry),
                Section::Changes => {
                    self.facts.resource_change_count += 1;
                    record_change(self.facts, address, entry)
                }
            }
            index += 1;
        }
        Ok(true)
    }
}

/// One `resource_drift` / `resource_changes` entry; unknown keys are skipped.
#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    previous_address: Option<String>,
    #[serde(default)]
    module_address: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type", default)]
    resource_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// `0` (count) or `"key"` (for_each); absent for single instances.
    #[serde(default)]
    index: Option<Value>,
    /// Set for changes to deposed objects (leftovers of create-before-destroy).
    #[serde(default)]
    deposed: Option<Value>,
    #[serde(default)]
    change: Option<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    before: Value,
    #[serde(default)]
    after: Value,
    #[serde(default)]
    after_unknown: Value,
    #[serde(default)]
    before_sensitive: Value,
    #[serde(default)]
    after_sensitive: Value,
    #[serde(default)]
    replace_paths: Value,
}

impl RawEntry {
    /// The address Terraform would have written: `module.m.type.name[0]`,
    /// `data.type.name["key"]`. None without a type and a name.
    fn rebuilt_address(&self) -> Option<String> {
        let (resource_type, name) = (self.resource_type.as_deref()?, self.name.as_deref()?);
        let mut address = String::new();
        if let Some(module) = self.module_address.as_deref().filter(|m| !m.is_empty()) {
            address.push_str(module);
            address.push('.');
        }
        if self.mode.as_deref() == Some("data") {
            address.push_str("data.");
        }
        address.push_str(resource_type);
        address.push('.');
        address.push_str(name);
        match &self.index {
            Some(Value::Number(number)) => address.push_str(&format!("[{number}]")),
            // serde_json's string form is quoted and escaped as HCL writes keys.
            Some(key @ Value::String(_)) => address.push_str(&format!("[{key}]")),
            _ => {}
        }
        Some(address)
    }

    fn is_managed_current(&self) -> bool {
        self.mode.as_deref() != Some("data") && self.deposed.as_ref().is_none_or(Value::is_null)
    }

    /// Module path without instance keys + `type.name`: the address of the
    /// resource block in `configuration`.
    fn config_address(&self, address: &str) -> String {
        match (&self.resource_type, &self.name) {
            (Some(t), Some(n)) => {
                let module = self
                    .module_address
                    .as_deref()
                    .map(strip_instance_keys)
                    .unwrap_or_default();
                if module.is_empty() {
                    format!("{t}.{n}")
                } else {
                    format!("{module}.{t}.{n}")
                }
            }
            // Without type and name, the address without instance keys is the best guess.
            _ => strip_instance_keys(address),
        }
    }

    fn resource_type(&self, address: &str) -> String {
        self.resource_type.clone().unwrap_or_else(|| {
            // `module.m.aws_iam_user.name[0]`: the type is the part before the name.
            let plain = strip_instance_keys(address);
            let parts: Vec<&str> = plain.split('.').collect();
            parts
                .len()
                .checked_sub(2)
                .map(|i| parts[i].to_string())
                .unwrap_or_default()
        })
    }
}

/// `module.net["a"].module.sg[0]` → `module.net.module.sg`.
fn strip_instance_keys(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in address.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '"' if depth > 0 => in_string = true,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn record_drift(facts: &mut PlanFacts, address: String, entry: RawEntry) {
    if !entry.is_managed_current() {
        return;
    }
    let Some(change) = &entry.change else {
        return;
    };
    let has = |a: &str| change.actions.iter().any(|x| x == a);
    if change.actions.is_empty() || change.actions.iter().all(|a| a == "no-op") {
        return;
    }
    let mut drift = DriftFacts {
        resource_type: entry.resource_type(&address),
        config_address: entry.config_address(&address),
        previous_address: entry.previous_address.clone(),
        ..DriftFacts::default()
    };
    if has("delete") && change.after.is_null() {
        drift.deleted = true;
        drift.prior_top = top_level_hashes(&change.before, &Value::Null);
    } else {
        let marks = Marks {
            unknown: &Value::Null,
            before_sensitive: &change.before_sensitive,
            after_sensitive: &change.after_sensitive,
        };
        drift.paths = paths::fold_tags_all(paths::changed_paths(
            &change.before,
            &change.after,
            marks,
            Side::Live,
        ));
        if drift.paths.is_empty() {
            return;
        }
    }
    facts.drift.insert(address, drift);
}

fn record_change(facts: &mut PlanFacts, address: String, entry: RawEntry) {
    let Some(change) = &entry.change else {
        return;
    };
    if entry.mode.as_deref() == Some("data") {
        return;
    }
    if change.actions.iter().any(|a| a == "delete") {
        facts.destructive.insert(address.clone());
    }
    if !entry.is_managed_current() || change.actions.iter().all(|a| a == "no-op" || a == "read") {
        return;
    }
    let mut facts_entry = ChangeFacts {
        resource_type: entry.resource_type(&address),
        config_address: entry.config_address(&address),
        previous_address: entry.previous_address.clone(),
        actions: change.actions.clone(),
        has_unknowns: paths::any_mark(&change.after_unknown),
        ..ChangeFacts::default()
    };
    if change.before.is_object() && change.after.is_object() {
        let marks = Marks {
            unknown: &change.after_unknown,
            before_sensitive: &change.before_sensitive,
            after_sensitive: &change.after_sensitive,
        };
        facts_entry.paths = paths::fold_tags_all(paths::changed_paths(
            &change.before,
            &change.after,
            marks,
            Side::Planned,
        ));
    }
    // Only a create of a resource deleted outside needs these (to tell code
    // changes apart). Terraform writes resource_drift first; until it has
    // been seen, every create keeps them.
    let deleted_outside = facts.drift.get(&address).is_some_and(|d| d.deleted);
    if facts_entry.has("create") && (deleted_outside || !facts.has_resource_drift) {
        facts_entry.planned_top = top_level_hashes(&change.after, &change.after_unknown);
    }
    if let Value::Array(replace_paths) = &change.replace_paths {
        facts_entry.replace_top = replace_paths
            .iter()
            .filter_map(|path| path.get(0).and_then(Value::as_str))
            .map(str::to_string)
            .collect();
    }
    facts.changes.insert(address, facts_entry);
}

/// Hash of each top-level attribute whose value is known (not in `unknown`).
fn top_level_hashes(object: &Value, unknown: &Value) -> BTreeMap<String, u64> {
    let Value::Object(map) = object else {
        return BTreeMap::new();
    };
    map.iter()
        .filter(|(key, _)| !unknown.get(key.as_str()).is_some_and(paths::any_mark))
        .map(|(key, value)| (key.clone(), paths::value_hash(value)))
        .collect()
}

/// `configuration`: keeps attribute names per resource block, skips the rest.
struct ConfigurationSeed;

impl<'de> DeserializeSeed<'de> for ConfigurationSeed {
    type Value = Option<Configuration>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        #[derive(Deserialize)]
        struct ProviderConfig {
            #[serde(default)]
            expressions: Option<BTreeMap<String, IgnoredAny>>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            provider_config: Option<BTreeMap<String, ProviderConfig>>,
            #[serde(default)]
            root_module: Option<Module>,
        }
        let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let mut configuration = Configuration {
            default_tags: raw.provider_config.iter().flatten().any(|(_, p)| {
                p.expressions
                    .as_ref()
                    .is_some_and(|e| e.contains_key("default_tags"))
            }),
            ..Configuration::default()
        };
        if let Some(root) = raw.root_module {
            root.collect("", &mut configuration.resources);
        }
        Ok(Some(configuration))
    }
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    resources: Vec<ConfigResource>,
    #[serde(default)]
    module_calls: BTreeMap<String, ModuleCall>,
}

#[derive(Deserialize)]
struct ModuleCall {
    #[serde(default)]
    module: Option<Module>,
}

#[derive(Deserialize)]
struct ConfigResource {
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type", default)]
    resource_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expressions: Option<BTreeMap<String, IgnoredAny>>,
}

impl Module {
    fn collect(self, prefix: &str, out: &mut HashMap<String, BTreeSet<String>>) {
        for resource in self.resources {
            if resource.mode.as_deref() == Some("data") {
                continue;
            }
            let (Some(t), Some(n)) = (resource.resource_type, resource.name) else {
                continue;
            };
            let names = resource
                .expressions
                .map(|e| e.into_keys().collect())
                .unwrap_or_default();
            out.insert(format!("{prefix}{t}.{n}"), names);
        }
        for (name, call) in self.module_calls {
            if let Some(module) = call.module {
                module.collect(&format!("{prefix}module.{name}."), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_keys_are_stripped_from_module_paths() {
        assert_eq!(
            strip_instance_keys("module.net[\"a.b]\"].module.sg[0].aws_x.y[\"k\"]"),
            "module.net.module.sg.aws_x.y"
        );
    }

    #[test]
    fn addresses_are_rebuilt_from_module_mode_type_name_and_index() {
        let rebuilt = |entry: Value| {
            serde_json::from_value::<RawEntry>(entry)
                .unwrap()
                .rebuilt_address()
        };
        assert_eq!(
            rebuilt(serde_json::json!({"mode": "managed", "type": "aws_s3_bucket", "name": "b"})),
            Some("aws_s3_bucket.b".into())
        );
        assert_eq!(
            rebuilt(
                serde_json::json!({"module_address": "module.net[\"a\"]", "mode": "managed",
                "type": "aws_subnet", "name": "s", "index": 0})
            ),
            Some("module.net[\"a\"].aws_subnet.s[0]".into())
        );
        assert_eq!(
            rebuilt(
                serde_json::json!({"mode": "data", "type": "aws_iam_policy_document",
                "name": "p", "index": "k\"1"})
            ),
            Some("data.aws_iam_policy_document.p[\"k\\\"1\"]".into())
        );
        assert_eq!(
            rebuilt(serde_json::json!({"mode": "managed", "name": "b"})),
            None
        );
    }

    #[test]
    fn reads_entries_one_by_one_and_skips_the_rest() {
        let text = r#"{"format_version":"1.2","planned_values":{"huge":[1,2,3]},
            "resource_drift":[{"address":"a_b.c","type":"a_b","name":"c","mode":"managed",
              "change":{"actions":["update"],"before":{"x":1},"after":{"x":2}}}],
            "resource_changes":[{"address":"a_b.c","type":"a_b","name":"c","mode":"managed",
              "change":{"actions":["update"],"before":{"x":2},"after":{"x":1},"after_unknown":{}}},
              {"address":"data.a_d.e","mode":"data","change":{"actions":["read"]}}],
            "configuration":{"provider_config":{"aws":{"expressions":{"default_tags":[{}]}}},
              "root_module":{"resources":[{"mode":"managed","type":"a_b","name":"c","expressions":{"x":{"constant_value":1}}}],
              "module_calls":{"m":{"module":{"resources":[{"mode":"managed","type":"a_b","name":"d","expressions":{}}]}}}}}}"#;
        let facts = read(text.as_bytes()).unwrap();
        assert_eq!(facts.format_version.as_deref(), Some("1.2"));
        assert!(facts.has_resource_changes && facts.has_resource_drift);
        assert_eq!(facts.drift["a_b.c"].paths[0].path, "x");
        assert_eq!(facts.changes["a_b.c"].paths[0].path, "x");
        assert_eq!(facts.changes.len(), 1, "data sources are skipped");
        let configuration = facts.configuration.unwrap();
        assert!(configuration.default_tags);
        assert_eq!(configuration.sets("a_b.c", "x"), Some(true));
        assert_eq!(configuration.sets("module.m.a_b.d", "x"), Some(false));
    }
}
