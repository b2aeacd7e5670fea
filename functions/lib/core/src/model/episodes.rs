//! Drift episodes as stored and written (their planning is in
//! `crate::episodes`).

use serde::{Deserialize, Serialize};

use super::Actor;

/// Where an episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeState {
    Open,
    Resolved,
}

/// How an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// DriftGuard's remediation run applied the code again.
    Remediated,
    /// A person changed it back: a change in the clean check touched the resource.
    Reverted,
    /// Clean again with no monitored change touching it. Terraform's own
    /// changes are not checked, so a Terraform run made code and resource
    /// agree: usually the code was changed to match.
    CodeChanged,
    /// Accepted as it is by a person (the accept decision of approval mode).
    Accepted,
}

/// How surely the change that caused an episode was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The change touched an AWS resource of the drifted resource's kind.
    Resource,
    /// The change was made in the drifted resource's service.
    Service,
    /// Only known to be part of the check that found the drift.
    Check,
}

/// The CloudTrail change an episode is attributed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    /// RFC 3339, as CloudTrail wrote it.
    pub event_time: String,
    pub account_id: String,
    pub aws_region: String,
    pub actor: Actor,
    pub matched: Attribution,
}

/// A check, as an episode links to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckLink {
    /// When the check was recorded (RFC 3339).
    pub at: String,
    pub execution_id: String,
    pub execution_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

/// One drift episode of one resource of one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Stable id (also the Security Hub finding id).
    pub episode_id: String,
    pub organization: String,
    pub workspace: String,
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub state: EpisodeState,
    /// The check that found the drift.
    pub detected: CheckLink,
    /// The latest check that still found it drifted.
    pub last_seen: CheckLink,
    /// Checks that found it drifted.
    pub checks: u32,
    /// The change that most likely caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// AWS resource ids or ARNs of the resource, from CloudTrail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_resource_ids: Vec<String>,
    /// The check that found it resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<CheckLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Who resolved it, when a change in the resolving check did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<Actor>,
    /// Epoch seconds; DynamoDB TTL deletes the episode after it (moves with every check that sees it).
    pub expires_at: i64,
}

/// One episode write of a check's transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum EpisodeWrite {
    /// A new open episode (the open item must not exist).
    Open(Episode),
    /// An open episode seen again (the open item must still be this episode).
    Refresh(Episode),
    /// An open episode resolved: the open item goes (if still this episode) and the resolved one is kept.
    Close(Episode),
    /// Found and resolved in the same check (remediated at once): only the resolved item.
    OpenResolved(Episode),
}
