//! Security Hub findings, one per drift episode, in the AWS Security Finding
//! Format (ASFF). Opt-in (`security_hub_findings`): the record step imports
//! the findings of the episodes a check opened or resolved with
//! `BatchImportFindings` into the account's default product.
//!
//! - **Open episode**: `RecordState` ACTIVE, `Compliance.Status` FAILED,
//!   `Workflow.Status` NEW.
//! - **Resolved episode**: the same finding id with a later `UpdatedAt`,
//!   `RecordState` ARCHIVED, `Compliance.Status` PASSED and
//!   `Workflow.Status` RESOLVED. Security Hub takes the workflow status from
//!   `BatchImportFindings` only when it creates a finding (an episode found and
//!   remediated in one check); for an existing finding it keeps the workflow
//!   people set, and the archived record state takes the finding out of the
//!   active findings.
//! - Severity by kind: HIGH for what controls access (IAM, security groups,
//!   network ACLs, bucket policies and ACLs), MEDIUM for the rest.
//! - Resource: the Security Hub type and ARN from the Terraform type and the
//!   CloudTrail resource ids of the causing change; `Other` with the workspace
//!   and address when no id is known.

use std::collections::{BTreeMap, HashMap};

use crate::episodes::{Episode, resource_kind};
use crate::error::{Error, Result};

pub use crate::model::{Finding, FindingResource, ProviderFields, Severity, Status};

/// ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// Generator of every DriftGuard finding.
pub const GENERATOR_ID: &str = "driftguard-drift-episode";
/// Finding type (namespace/category/classifier).
pub const FINDING_TYPE: &str =
    "Software and Configuration Checks/AWS Security Best Practices/Terraform Drift";
/// Most findings in one `BatchImportFindings` call.
pub const MAX_FINDINGS_PER_IMPORT: usize = 100;

/// Where findings go: the account's default Security Hub product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHubTarget {
    /// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`
    pub product_arn: String,
    pub partition: String,
    pub region: String,
    pub account_id: String,
}

impl SecurityHubTarget {
    /// Reads a default product ARN; anything else is a configuration error.
    pub fn from_product_arn(arn: &str) -> Result<Self> {
        let bad = || {
            Error::ConfigError(format!(
                "'{arn}' is not a Security Hub default product ARN; expected arn:<partition>:securityhub:<region>:<account>:product/<account>/default (the module sets it when security_hub_findings = true)"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(bad());
        };
        let valid_account = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        if prefix != "arn"
            || service != "securityhub"
            || region.is_empty()
            || !valid_account
            || resource != format!("product/{account}/default")
        {
            return Err(bad());
        }
        Ok(SecurityHubTarget {
            product_arn: arn.to_string(),
            partition: partition.to_string(),
            region: region.to_string(),
            account_id: account.to_string(),
        })
    }
}

/// The partition of a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A short name for who made a change (`alice`, `Admin/alice`, the type when nothing else is known).
pub fn actor_name(actor: &crate::model::Actor) -> String {
    let arn = actor.arn.as_deref().unwrap_or_default();
    if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        // IAM Identity Center: `AWSReservedSSO_<permission set>_<id>/<user>`.
        if let Some((role, user)) = rest.split_once('/') {
            if let Some(set) = role
                .strip_prefix("AWSReservedSSO_")
                .and_then(|r| r.rsplit_once('_').map(|(set, _)| set))
            {
                return format!("{user} (SSO {set})");
            }
        }
        return rest.to_string();
    }
    for marker in [":user/", ":federated-user/", ":role/"] {
        if let Some((_, rest)) = arn.split_once(marker) {
            return rest.to_string();
        }
    }
    if actor.actor_type == "Root" {
        return "the root user".to_string();
    }
    actor
        .principal_id
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| (!arn.is_empty()).then(|| arn.to_string()))
        .unwrap_or_else(|| actor.actor_type.clone())
}

/// The ARN of an AWS resource id of a kind, when it can be built.
fn resource_arn(
    id: &str,
    kind: &crate::episodes::ResourceKind,
    partition: &str,
    region: &str,
    account: &str,
) -> Option<String> {
    if id.starts_with("arn:") {
        return Some(id.to_string());
    }
    match (kind.service, kind.arn_resource) {
        ("s3", _) => Some(format!("arn:{partition}:s3:::{id}")),
        ("iam", Some(path)) if !path.is_empty() => {
            Some(format!("arn:{partition}:iam::{account}:{path}/{id}"))
        }
        ("ec2", Some(path)) => Some(format!(
            "arn:{partition}:ec2:{region}:{account}:{path}/{id}"
        )),
        _ => None,
    }
}

/// The finding of an episode, as it stands now.
pub fn finding(episode: &Episode, target: &SecurityHubTarget) -> Finding {
    let kind = resource_kind(&episode.resource_type);
    let cause = episode.cause.as_ref();
    let region = cause
        .map(|c| c.aws_region.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or(&target.region)
        .to_string();
    let partition = partition_of(&region).to_string();
    let account = cause
        .map(|c| c.account_id.as_str())
        .filter(|a| !a.is_empty())
        .unwrap_or(&target.account_id)
        .to_string();
    let workspace = format!("{}/{}", episode.organization, episode.workspace);

    let mut details = BTreeMap::from([
        ("TerraformAddress".to_string(), episode.address.clone()),
        ("TerraformType".to_string(), episode.resource_type.clone()),
        ("Workspace".to_string(), workspace.clone()),
    ]);
    let arn = episode
        .aws_resource_ids
        .iter()
        .find_map(|id| resource_arn(id, &kind, &partition, &region, &account));
    let resource = match arn {
        Some(arn) => FindingResource {
            resource_type: kind.asff_type.to_string(),
            id: arn,
            partition: partition.clone(),
            region: region.clone(),
            details_other: details.clone(),
        },
        None => {
            if !episode.aws_resource_ids.is_empty() {
                details.insert(
                    "AwsResourceIds".to_string(),
                    episode.aws_resource_ids.join(", "),
                );
            }
            FindingResource {
                resource_type: "Other".to_string(),
                id: format!("{workspace}:{}", episode.address),
                partition: partition.clone(),
                region: region.clone(),
                details_other: details,
            }
        }
    };

    let severity = if kind.access_control {
        Severity {
            label: "HIGH".into(),
            original: "70".into(),
        }
    } else {
        Severity {
            label: "MEDIUM".into(),
            original: "40".into(),
        }
    };
    let who = cause.map(|c| {
        format!(
            "{} ({} at {})",
            actor_name(&c.actor),
            c.event_name,
            c.event_time
        )
    });
    let mut description = format!(
        "{} ({}) in Terraform workspace {workspace} no longer matches its configuration: it was changed outside Terraform{}. Detected {}.",
        episode.address,
        episode.resource_type,
        who.as_ref()
            .map(|w| format!(", most likely by {w}"))
            .unwrap_or_default(),
        episode.detected_at(),
    );
    let mut fields = BTreeMap::from([
        ("DriftGuard/Workspace".to_string(), workspace.clone()),
        ("DriftGuard/Address".to_string(), episode.address.clone()),
        (
            "DriftGuard/DetectedBy".to_string(),
            episode.detected.execution_url.clone(),
        ),
    ]);
    if let Some(url) = &episode.detected.run_url {
        fields.insert("DriftGuard/RunUrl".to_string(), url.clone());
    }
    if let Some(c) = cause {
        fields.insert("DriftGuard/Event".to_string(), c.event_name.clone());
        if let Some(arn) = &c.actor.arn {
            fields.insert("DriftGuard/Actor".to_string(), arn.clone());
        }
    }
    let resolved = !episode.is_open();
    if let (Some(at), Some(resolution)) = (episode.resolved_at(), episode.resolution) {
        description.push_str(&format!(" Resolved {at}: {}.", resolution.describe()));
        fields.insert(
            "DriftGuard/Resolution".to_string(),
            resolution.as_str().to_string(),
        );
        if let Some(arn) = episode.resolved_by.as_ref().and_then(|a| a.arn.clone()) {
            fields.insert("DriftGuard/ResolvedBy".to_string(), arn);
        }
    }
    let first_observed = cause
        .map(|c| c.event_time.as_str())
        .filter(|t| crate::episodes::epoch(t).is_some())
        .unwrap_or(episode.detected_at())
        .to_string();
    let updated_at = episode
        .resolved_at()
        .unwrap_or(&episode.last_seen.at)
        .to_string();
    let source_url = episode
        .resolved
        .as_ref()
        .map(|r| r.execution_url.clone())
        .unwrap_or_else(|| episode.detected.execution_url.clone());

    Finding {
        schema_version: SCHEMA_VERSION.into(),
        id: episode.episode_id.clone(),
        product_arn: target.product_arn.clone(),
        generator_id: GENERATOR_ID.into(),
        aws_account_id: target.account_id.clone(),
        types: vec![FINDING_TYPE.into()],
        first_observed_at: first_observed,
        last_observed_at: episode.last_seen.at.clone(),
        created_at: episode.detected_at().to_string(),
        updated_at,
        severity: severity.clone(),
        title: truncate(
            &format!("Terraform drift: {} in {workspace}", episode.address),
            256,
        ),
        description: truncate(&description, 1024),
        source_url,
        product_fields: fields,
        resources: vec![resource],
        compliance: Status {
            status: if resolved { "PASSED" } else { "FAILED" }.into(),
        },
        workflow: Status {
            status: if resolved { "RESOLVED" } else { "NEW" }.into(),
        },
        record_state: if resolved { "ARCHIVED" } else { "ACTIVE" }.into(),
        finding_provider_fields: ProviderFields {
            severity,
            types: vec![FINDING_TYPE.into()],
        },
    }
}

/// `ProductFields` as the SDK wants them.
pub fn product_fields_map(finding: &Finding) -> HashMap<String, String> {
    finding
        .product_fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
