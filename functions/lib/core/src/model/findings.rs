//! Security findings (AWS Security Finding Format) as the
//! `FindingsPublisher` port takes them (built in `crate::findings`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A severity label and its original value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    pub label: String,
    pub original: String,
}

/// `FindingProviderFields`: where providers put severity and types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderFields {
    pub severity: Severity,
    pub types: Vec<String>,
}

/// An ASFF resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingResource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    pub id: String,
    pub partition: String,
    pub region: String,
    /// `Details.Other`: the Terraform side of the resource.
    pub details_other: BTreeMap<String, String>,
}

/// A status object (`Compliance`, `Workflow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    pub status: String,
}

/// One finding, field by field as ASFF names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub source_url: String,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<FindingResource>,
    pub compliance: Status,
    pub workflow: Status,
    pub record_state: String,
    pub finding_provider_fields: ProviderFields,
}
