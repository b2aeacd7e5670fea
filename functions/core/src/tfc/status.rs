//! Run statuses → phases.
//!
//! The statuses are those of the HCP Terraform runs API ("Run States") and of
//! go-tfe's `RunStatus` list, which also carries the newer run-task and
//! saved-plan statuses.

use crate::model::Phase;

/// Statuses after which the plan is done and a normal run waits for a person
/// (or DriftGuard) to apply or discard it. A speculative run passes through
/// some of them on its way to `planned_and_finished`.
const PLAN_DONE_AWAITING_DECISION: &[&str] = &[
    "planned",
    "cost_estimated",
    "policy_checked",
    "policy_override",
    "post_plan_completed",
    "post_plan_awaiting_decision",
];

/// Statuses in which HCP Terraform is still working on the run.
const WORKING: &[&str] = &[
    "pending",
    "fetching",
    "fetching_completed",
    "pre_plan_running",
    "pre_plan_completed",
    "queuing",
    "plan_queued",
    "planning",
    "cost_estimating",
    "policy_checking",
    "confirmed",
    "post_plan_running",
    "apply_queued",
    "queuing_apply",
    "pre_apply_running",
    "pre_apply_completed",
    "applying",
    "post_apply_running",
    "post_apply_completed",
];

/// Maps an HCP Terraform run status to a phase. Unknown statuses are running
/// (with a warning), so a status added by HashiCorp delays a check instead of
/// failing it; the plan timeout still bounds the wait.
pub fn phase_of(status: &str, plan_only: bool) -> Phase {
    match status {
        "planned_and_finished" | "planned_and_saved" => Phase::Planned,
        // The docs call this final for plan-only runs: the plan exists and a
        // soft policy failure does not matter to drift detection.
        "policy_soft_failed" if plan_only => Phase::Planned,
        "policy_soft_failed" => Phase::AwaitingApply,
        s if PLAN_DONE_AWAITING_DECISION.contains(&s) => {
            if plan_only {
                Phase::Running
            } else {
                Phase::AwaitingApply
            }
        }
        "applied" => Phase::Applied,
        "errored" => Phase::Errored,
        "canceled" | "force_canceled" => Phase::Canceled,
        "discarded" => Phase::Discarded,
        s if WORKING.contains(&s) => Phase::Running,
        unknown => {
            tracing::warn!(
                status = unknown,
                "unknown HCP Terraform run status; treating the run as still running"
            );
            Phase::Running
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status, with its phase for a normal run and for a plan-only run.
    const EXPECTED: &[(&str, Phase, Phase)] = &[
        ("pending", Phase::Running, Phase::Running),
        ("fetching", Phase::Running, Phase::Running),
        ("fetching_completed", Phase::Running, Phase::Running),
        ("pre_plan_running", Phase::Running, Phase::Running),
        ("pre_plan_completed", Phase::Running, Phase::Running),
        ("queuing", Phase::Running, Phase::Running),
        ("plan_queued", Phase::Running, Phase::Running),
        ("planning", Phase::Running, Phase::Running),
        ("planned", Phase::AwaitingApply, Phase::Running),
        ("cost_estimating", Phase::Running, Phase::Running),
        ("cost_estimated", Phase::AwaitingApply, Phase::Running),
        ("policy_checking", Phase::Running, Phase::Running),
        ("policy_override", Phase::AwaitingApply, Phase::Running),
        ("policy_soft_failed", Phase::AwaitingApply, Phase::Planned),
        ("policy_checked", Phase::AwaitingApply, Phase::Running),
        ("confirmed", Phase::Running, Phase::Running),
        ("post_plan_running", Phase::Running, Phase::Running),
        ("post_plan_completed", Phase::AwaitingApply, Phase::Running),
        (
            "post_plan_awaiting_decision",
            Phase::AwaitingApply,
            Phase::Running,
        ),
        ("planned_and_finished", Phase::Planned, Phase::Planned),
        ("planned_and_saved", Phase::Planned, Phase::Planned),
        ("apply_queued", Phase::Running, Phase::Running),
        ("queuing_apply", Phase::Running, Phase::Running),
        ("pre_apply_running", Phase::Running, Phase::Running),
        ("pre_apply_completed", Phase::Running, Phase::Running),
        ("applying", Phase::Running, Phase::Running),
        ("post_apply_running", Phase::Running, Phase::Running),
        ("post_apply_completed", Phase::Running, Phase::Running),
        ("applied", Phase::Applied, Phase::Applied),
        ("discarded", Phase::Discarded, Phase::Discarded),
        ("errored", Phase::Errored, Phase::Errored),
        ("canceled", Phase::Canceled, Phase::Canceled),
        ("force_canceled", Phase::Canceled, Phase::Canceled),
    ];

    #[test]
    fn every_documented_status_has_the_expected_phase() {
        for &(status, normal, plan_only) in EXPECTED {
            assert_eq!(phase_of(status, false), normal, "{status} (normal run)");
            assert_eq!(
                phase_of(status, true),
                plan_only,
                "{status} (plan-only run)"
            );
        }
    }

    #[test]
    fn every_known_status_is_listed_in_the_test_table() {
        let known = PLAN_DONE_AWAITING_DECISION.iter().chain(WORKING);
        for status in known {
            assert!(
                EXPECTED.iter().any(|(s, _, _)| s == status),
                "{status} is not tested"
            );
        }
    }

    #[test]
    fn unknown_status_is_running() {
        assert_eq!(phase_of("teleporting", false), Phase::Running);
        assert_eq!(phase_of("", true), Phase::Running);
    }
}
