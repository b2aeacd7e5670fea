//! `terraform providers schema -json`, reduced to what refresh-only plans need:
//! per resource type, which attributes are Optional-not-Computed (managed even
//! when the configuration leaves them unset) and which are Computed.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde::Deserialize;

use super::PlanError;

/// How the provider schema describes one attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct AttributeFlags {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub computed: bool,
}

impl AttributeFlags {
    /// Terraform enforces the configured value (an unset Optional attribute
    /// means "not set", so a value added outside is drift).
    pub fn is_managed(&self) -> bool {
        self.required || self.optional && !self.computed
    }
}

/// Attribute flags by resource type and top-level attribute name.
#[derive(Debug, Default)]
pub struct ProviderSchema {
    resources: HashMap<String, HashMap<String, AttributeFlags>>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    format_version: Option<String>,
    provider_schemas: Option<BTreeMap<String, Provider>>,
}

#[derive(Deserialize)]
struct Provider {
    #[serde(default)]
    resource_schemas: BTreeMap<String, Resource>,
}

#[derive(Deserialize)]
struct Resource {
    block: Block,
}

#[derive(Deserialize)]
struct Block {
    #[serde(default)]
    attributes: BTreeMap<String, AttributeFlags>,
}

impl ProviderSchema {
    /// Reads `terraform providers schema -json` output (data source schemas,
    /// descriptions and types are skipped).
    pub fn read<R: Read>(reader: R) -> Result<Self, PlanError> {
        let document: Document = serde_json::from_reader(reader).map_err(|e| {
            PlanError::NotAProviderSchema(format!(
                "it is not `terraform providers schema -json` output ({e})"
            ))
        })?;
        let Some(providers) = document.provider_schemas else {
            return Err(PlanError::NotAProviderSchema(format!(
                "it has no \"provider_schemas\" (format_version {}); create it with `terraform providers schema -json > schema.json` in the configuration's directory",
                document.format_version.as_deref().unwrap_or("missing")
            )));
        };
        let mut resources: HashMap<String, HashMap<String, AttributeFlags>> = HashMap::new();
        for provider in providers.into_values() {
            for (resource_type, resource) in provider.resource_schemas {
                // Nested blocks are left out: the JSON schema does not say whether
                // a block is Computed (legacy SDK blocks can be), so a block the
                // configuration leaves unset stays "possibly managed".
                resources
                    .entry(resource_type)
                    .or_default()
                    .extend(resource.block.attributes);
            }
        }
        Ok(ProviderSchema { resources })
    }

    /// Flags of `attribute` of `resource_type`, when the schema knows them.
    pub fn attribute(&self, resource_type: &str, attribute: &str) -> Option<AttributeFlags> {
        self.resources.get(resource_type)?.get(attribute).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_and_blocks() {
        let schema = ProviderSchema::read(
            br#"{"format_version":"1.0","provider_schemas":{"registry.terraform.io/hashicorp/aws":{
                "provider":{"block":{}},
                "resource_schemas":{"aws_iam_user":{"version":0,"block":{
                    "attributes":{"tags":{"type":["map","string"],"optional":true},
                                  "tags_all":{"type":["map","string"],"optional":true,"computed":true},
                                  "name":{"type":"string","required":true}},
                    "block_types":{"timeouts":{"nesting_mode":"single","block":{}}}}}},
                "data_source_schemas":{}}}}"#
                .as_slice(),
        )
        .unwrap();
        assert!(
            schema
                .attribute("aws_iam_user", "tags")
                .unwrap()
                .is_managed()
        );
        assert!(
            !schema
                .attribute("aws_iam_user", "tags_all")
                .unwrap()
                .is_managed()
        );
        assert!(
            schema
                .attribute("aws_iam_user", "name")
                .unwrap()
                .is_managed()
        );
        assert!(
            schema.attribute("aws_iam_user", "timeouts").is_none(),
            "blocks are not decided"
        );
        assert!(schema.attribute("aws_iam_user", "nope").is_none());
    }

    #[test]
    fn a_plan_is_not_a_schema() {
        let err =
            ProviderSchema::read(br#"{"format_version":"1.2","planned_values":{}}"#.as_slice())
                .unwrap_err();
        assert!(err.to_string().contains("provider_schemas"), "{err}");
    }
}
