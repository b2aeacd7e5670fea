//! One check as the history stores it (keys and conversions are in
//! `crate::history`).

use serde::{Deserialize, Serialize};

use super::*;

/// One check, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// `WS#<organization>/<workspace>`
    pub pk: String,
    /// `CHECK#<started_at, to the second>#<execution name>`: newest-first listing by time.
    pub sk: String,
    pub organization: String,
    pub workspace: String,
    pub status: CheckStatus,
    pub execution_id: String,
    pub execution_url: String,
    pub started_at: String,
    pub recorded_at: String,
    /// Epoch seconds; DynamoDB TTL deletes the record after it.
    pub expires_at: i64,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_url: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub changes_omitted: usize,
    /// Drifted resources with their paths; unapplied code and informational
    /// changes as counts only (see `pending_code`).
    #[serde(default)]
    pub drift: Option<DriftReport>,
    /// One line for unapplied code changes, e.g. "2 resources have unapplied
    /// code changes (not drift)"; absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_code: Option<String>,
    #[serde(default)]
    pub remediation: Option<RemediationOutcome>,
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Drift fingerprint ("" when no drift).
    #[serde(default)]
    pub fingerprint: String,
    /// The workspace's fingerprint before this check (alert suppression survives retries).
    #[serde(default)]
    pub previous_fingerprint: Option<String>,
    /// Failures of earlier runs of a redriven execution, oldest first (the
    /// latest is `failure`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_failures: Vec<Failure>,
    /// What went wrong after the check was recorded (an e-mail not sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// What the check did to the workspace's drift episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<EpisodeSummary>,
    /// Who decided what about the drift (approval mode), or that the
    /// remediation was automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    /// `DriftAccepted`: the acceptance made (by whom, why, until when).
    /// `DriftDetected`: the acceptance still covering this drift (not alerted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Acceptance>,
    /// How long the drift plan took (seconds from the run's creation to its
    /// finish): the workspace's poll schedule learns from recent ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<u64>,
    /// The workspace's HCP Terraform id and execution mode when it was
    /// checked: the next check creates its run without looking them up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
}
