//! HCP Terraform / Terraform Enterprise API client (JSON:API over reqwest).
//!
//! - [`HttpTerraformCloud`]: the real client.
//! - [`InMemoryTerraformCloud`]: a scriptable fake for tests of other modules.
//! - [`phase_of`]: run status → [`crate::model::Phase`].

pub mod client;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
mod jsonapi;
pub mod status;

pub use client::{ClientOptions, HttpTerraformCloud};
#[cfg(any(test, feature = "testing"))]
pub use fake::{InMemoryTerraformCloud, RecordedAction};
pub use status::{describe, phase_of};

use crate::model::Phase;
use crate::ports::TfcRun;

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

    /// Whether `run` is already where this action would take it, so a 409
    /// (action not allowed any more) means the action is done, e.g. when a
    /// retried step asks again.
    pub fn is_settled_by(&self, run: &TfcRun) -> bool {
        let phase = phase_of(run);
        let status = run.status.as_str();
        match self {
            RunAction::Apply => phase == Phase::Applied || status::APPLY_STAGE.contains(&status),
            // The goal of a discard is that the run never applies.
            RunAction::Discard => {
                matches!(phase, Phase::Discarded | Phase::Canceled | Phase::Errored)
                    || status == "planned_and_finished"
            }
            // The goal of a cancel is that the run stops.
            RunAction::Cancel => status::is_final(status),
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

    fn run(status: &str, plan_only: bool) -> TfcRun {
        TfcRun {
            id: "run-1".into(),
            status: status.into(),
            message: String::new(),
            created_at: "2025-01-01T00:00:00Z".into(),
            has_changes: None,
            plan_only,
            plan_id: None,
            workspace_id: None,
            target_addrs: vec![],
            is_confirmable: false,
            is_discardable: false,
            is_cancelable: false,
            position_in_queue: None,
            status_changed_at: None,
            created_by: None,
            configuration_version_id: None,
        }
    }

    #[test]
    fn apply_is_settled_once_confirmed_or_applied() {
        for status in ["confirmed", "apply_queued", "applying", "applied"] {
            assert!(
                RunAction::Apply.is_settled_by(&run(status, false)),
                "{status}"
            );
        }
        for status in ["planned", "cost_estimating", "discarded", "errored"] {
            assert!(
                !RunAction::Apply.is_settled_by(&run(status, false)),
                "{status}"
            );
        }
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
            assert!(
                RunAction::Discard.is_settled_by(&run(status, false)),
                "{status}"
            );
        }
        for status in ["planned", "applied", "applying", "policy_checked"] {
            assert!(
                !RunAction::Discard.is_settled_by(&run(status, false)),
                "{status}"
            );
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
            "policy_soft_failed",
        ] {
            assert!(
                RunAction::Cancel.is_settled_by(&run(status, true)),
                "{status}"
            );
        }
        assert!(!RunAction::Cancel.is_settled_by(&run("planning", true)));
        assert!(!RunAction::Cancel.is_settled_by(&run("planned", false)));
    }
}
