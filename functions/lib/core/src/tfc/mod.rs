//! HCP Terraform / Terraform Enterprise: what the core knows of runs without
//! speaking HTTP (the client is the `driftguard-tfc` crate).
//!
//! - [`phase_of`]: run status → [`crate::model::Phase`].
//! - [`RunAction`]: apply, discard, cancel, and when each is already done.

pub mod status;

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

/// The last `lines` non-empty lines of a Terraform log, without terminal
/// colour codes and the log stream's start/end markers (STX/ETX).
pub fn log_tail(log: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(log);
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ … final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\n' || c == '\t' || !c.is_control() {
            clean.push(c);
        }
    }
    // Blank lines, and diagnostics' empty gutter lines ("│ "), say nothing.
    let kept: Vec<&str> = clean
        .lines()
        .map(str::trim_end)
        .filter(|l| {
            !l.trim_matches(|c: char| c.is_whitespace() || c == '│')
                .is_empty()
        })
        .collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
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
