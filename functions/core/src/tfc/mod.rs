//! HCP Terraform / Terraform Enterprise API client (JSON:API over reqwest).
//!
//! - [`HttpTerraformCloud`]: the real client.
//! - [`InMemoryTerraformCloud`]: a scriptable fake for tests of other modules.
//! - [`phase_of`]: run status → [`crate::model::Phase`].

pub mod client;
pub mod fake;
mod jsonapi;
pub mod status;

pub use client::{ClientOptions, HttpTerraformCloud};
pub use fake::{InMemoryTerraformCloud, RecordedAction};
pub use status::phase_of;

use crate::model::Phase;

/// A run action (`POST /runs/:id/actions/<action>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunAction {
    Apply,
    Discard,
    Cancel,
}

impl RunAction {
    /// The action's name in the API path.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunAction::Apply => "apply",
            RunAction::Discard => "discard",
            RunAction::Cancel => "cancel",
        }
    }

    /// Whether a run in `status` is already where this action would take it,
    /// so a 409 (action not allowed any more) means the action is done, e.g.
    /// when a retried step asks again.
    pub fn is_settled_by(&self, status: &str, plan_only: bool) -> bool {
        let phase = phase_of(status, plan_only);
        match self {
            RunAction::Apply => {
                phase == Phase::Applied
                    || matches!(
                        status,
                        "confirmed"
                            | "apply_queued"
                            | "queuing_apply"
                            | "pre_apply_running"
                            | "pre_apply_completed"
                            | "applying"
                            | "post_apply_running"
                            | "post_apply_completed"
                    )
            }
            // The goal of a discard is that the run never applies.
            RunAction::Discard => {
                matches!(phase, Phase::Discarded | Phase::Canceled | Phase::Errored)
                    || status == "planned_and_finished"
            }
            // The goal of a cancel is that the run stops.
            RunAction::Cancel => !matches!(phase, Phase::Running | Phase::AwaitingApply),
        }
    }
}

impl std::fmt::Display for RunAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_is_settled_once_confirmed_or_applied() {
        assert!(RunAction::Apply.is_settled_by("confirmed", false));
        assert!(RunAction::Apply.is_settled_by("applying", false));
        assert!(RunAction::Apply.is_settled_by("applied", false));
        assert!(!RunAction::Apply.is_settled_by("planned", false));
        assert!(!RunAction::Apply.is_settled_by("discarded", false));
        assert!(!RunAction::Apply.is_settled_by("errored", false));
    }

    #[test]
    fn discard_is_settled_when_the_run_can_no_longer_apply() {
        for status in [
            "discarded",
            "canceled",
            "force_canceled",
            "errored",
            "planned_and_finished",
        ] {
            assert!(RunAction::Discard.is_settled_by(status, false), "{status}");
        }
        for status in ["planned", "applied", "applying", "policy_checked"] {
            assert!(!RunAction::Discard.is_settled_by(status, false), "{status}");
        }
    }

    #[test]
    fn cancel_is_settled_when_the_run_has_stopped() {
        for status in [
            "canceled",
            "discarded",
            "errored",
            "applied",
            "planned_and_finished",
        ] {
            assert!(RunAction::Cancel.is_settled_by(status, true), "{status}");
        }
        assert!(RunAction::Cancel.is_settled_by("policy_soft_failed", true));
        assert!(!RunAction::Cancel.is_settled_by("planning", true));
        assert!(!RunAction::Cancel.is_settled_by("planned", false));
    }
}
