//! Run statuses → phases, and what a run is waiting for in words.
//!
//! The statuses are those of the HCP Terraform runs API ("Run States") and of
//! go-tfe's `RunStatus` list, which also carries the newer run-task and
//! saved-plan statuses.
//!
//! After the plan, a normal run passes through whatever the workspace has
//! enabled: post-plan run tasks, cost estimation, policy checks (in that order
//! in HCP Terraform). `planned`, `post_plan_completed` and `cost_estimated` are
//! therefore *passing* statuses when more stages follow, and the run is only
//! ready to apply when the API says so: `actions.is-confirmable`. That is how
//! the tfe provider's run helpers decide too (`isConfirmable` in
//! `workspace_run_helpers.go`), and how DriftGuard decides: taking `planned` as
//! "awaiting apply" would request an apply the API refuses with 409 while cost
//! estimation runs.

use crate::model::Phase;
use crate::ports::TfcRun;

/// Statuses after which the plan may be done and a normal run may wait for a
/// person (or DriftGuard) to apply or discard it, if `is-confirmable` says so.
/// A speculative run passes through some of them on its way to
/// `planned_and_finished`.
const PLAN_DONE_AWAITING_DECISION: &[&str] = &[
    "planned",
    "cost_estimated",
    "policy_checked",
    "post_plan_completed",
];

/// Statuses in which the run waits for a person to override a failed
/// soft-mandatory policy or a failed mandatory run task.
const AWAITING_OVERRIDE: &[&str] = &["policy_override", "post_plan_awaiting_decision"];

/// Statuses in which HCP Terraform is still working on the run (or waiting
/// for its turn or for capacity).
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
    "post_plan_running",
];

/// Statuses after an apply was confirmed.
pub const APPLY_STAGE: &[&str] = &[
    "confirmed",
    "apply_queued",
    "queuing_apply",
    "pre_apply_running",
    "pre_apply_completed",
    "applying",
    "post_apply_running",
    "post_apply_completed",
];

/// Statuses after which nothing more happens to a run.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "applied"
            | "errored"
            | "canceled"
            | "force_canceled"
            | "discarded"
            | "planned_and_finished"
            | "policy_soft_failed"
    )
}

/// The phase of a run as the API shows it.
pub fn phase_of(run: &TfcRun) -> Phase {
    phase(&run.status, run.plan_only, run.is_confirmable)
}

/// Maps an HCP Terraform run status to a phase. A normal run awaits an apply
/// only when the API says it is confirmable. Unknown statuses are running
/// (with a warning), so a status added by HashiCorp delays a check instead of
/// failing it; the timeouts still bound the wait.
pub fn phase(status: &str, plan_only: bool, is_confirmable: bool) -> Phase {
    match status {
        "planned_and_finished" | "planned_and_saved" if plan_only => Phase::Planned,
        "planned_and_finished" => Phase::Planned,
        // The docs call this final for plan-only runs: the plan exists and a
        // soft policy failure does not matter to drift detection.
        "policy_soft_failed" if plan_only => Phase::Planned,
        s if AWAITING_OVERRIDE.contains(&s) && !plan_only => Phase::NeedsOverride,
        _ if is_confirmable && !plan_only => Phase::AwaitingApply,
        "applied" => Phase::Applied,
        "errored" => Phase::Errored,
        "canceled" | "force_canceled" => Phase::Canceled,
        "discarded" => Phase::Discarded,
        // Passing statuses, or a confirmable status the API does not (yet)
        // call confirmable: keep waiting.
        "planned_and_saved" | "policy_soft_failed" => Phase::Running,
        s if PLAN_DONE_AWAITING_DECISION.contains(&s)
            || AWAITING_OVERRIDE.contains(&s)
            || WORKING.contains(&s)
            || APPLY_STAGE.contains(&s) =>
        {
            Phase::Running
        }
        unknown => {
            tracing::warn!(
                status = unknown,
                "unknown HCP Terraform run status; treating the run as still running"
            );
            Phase::Running
        }
    }
}

/// What a run is doing or waiting for, in words for the poll state, the
/// console and the CLI. `execution_mode` is the workspace's (`agent` runs
/// wait for an agent of its pool).
pub fn describe(run: &TfcRun, execution_mode: Option<&str>) -> String {
    let agent = execution_mode == Some("agent");
    let status = run.status.as_str();
    match status {
        "pending" => match run.position_in_queue {
            Some(n) if n > 0 => format!(
                "queued behind {n} earlier run{} in the workspace (a workspace applies one run at a time)",
                if n == 1 { "" } else { "s" }
            ),
            _ if run.plan_only => "pending: waiting for HCP Terraform to start the plan".into(),
            _ => "pending: waiting for the workspace's earlier runs to finish (a workspace applies one run at a time)".into(),
        },
        "fetching" => "fetching the configuration from the workspace's VCS repository".into(),
        "fetching_completed" => "configuration fetched from VCS; the plan starts next".into(),
        "pre_plan_running" => "pre-plan run tasks are running".into(),
        "pre_plan_completed" => "pre-plan run tasks finished; the plan starts next".into(),
        "queuing" | "plan_queued" if agent => {
            "waiting for an agent of the workspace's agent pool to pick up the plan".into()
        }
        "queuing" | "plan_queued" => "plan queued: waiting for capacity to start it".into(),
        "planning" => "planning".into(),
        "planned" if run.plan_only => "plan finished".into(),
        "planned" | "post_plan_completed" | "cost_estimated" | "policy_checked"
            if run.is_confirmable =>
        {
            "plan finished and every check passed: the run can be applied".into()
        }
        "planned" => "plan finished; cost estimation, policy checks or run tasks follow".into(),
        "post_plan_running" => "post-plan run tasks are running".into(),
        "post_plan_completed" => "post-plan run tasks finished; more checks follow".into(),
        "post_plan_awaiting_decision" => "a mandatory run task failed: the run waits for a person to override it".into(),
        "cost_estimating" => "cost estimation is running".into(),
        "cost_estimated" => "cost estimated; policy checks follow".into(),
        "policy_checking" => "policy checks are running".into(),
        "policy_checked" => "policy checks passed".into(),
        "policy_override" => "a soft-mandatory policy failed: the run waits for a person with permission to override it".into(),
        "policy_soft_failed" => "a soft-mandatory policy failed (final for a plan-only run)".into(),
        "planned_and_finished" if run.plan_only => "plan finished".into(),
        "planned_and_finished" => "plan finished with nothing to apply".into(),
        "planned_and_saved" => "plan saved: it can be confirmed for apply".into(),
        "confirmed" => "apply confirmed; it starts next".into(),
        "apply_queued" | "queuing_apply" if agent => {
            "apply queued: waiting for an agent of the workspace's agent pool".into()
        }
        "apply_queued" | "queuing_apply" => {
            "apply queued: waiting for capacity to run it (common on Terraform Enterprise)".into()
        }
        "pre_apply_running" => "pre-apply run tasks are running".into(),
        "pre_apply_completed" => "pre-apply run tasks finished; the apply starts next".into(),
        "applying" => "applying".into(),
        "post_apply_running" | "post_apply_completed" => "post-apply run tasks".into(),
        "applied" => "applied".into(),
        "errored" => "the run errored".into(),
        "canceled" | "force_canceled" => "the run was canceled".into(),
        "discarded" => "the run was discarded".into(),
        other => format!("status '{other}' (not in the API documents DriftGuard knows; still waiting)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status, with its phase for a normal run that is not confirmable,
    /// and for a plan-only run.
    const EXPECTED: &[(&str, Phase, Phase)] = &[
        ("pending", Phase::Running, Phase::Running),
        ("fetching", Phase::Running, Phase::Running),
        ("fetching_completed", Phase::Running, Phase::Running),
        ("pre_plan_running", Phase::Running, Phase::Running),
        ("pre_plan_completed", Phase::Running, Phase::Running),
        ("queuing", Phase::Running, Phase::Running),
        ("plan_queued", Phase::Running, Phase::Running),
        ("planning", Phase::Running, Phase::Running),
        ("planned", Phase::Running, Phase::Running),
        ("cost_estimating", Phase::Running, Phase::Running),
        ("cost_estimated", Phase::Running, Phase::Running),
        ("policy_checking", Phase::Running, Phase::Running),
        ("policy_override", Phase::NeedsOverride, Phase::Running),
        ("policy_soft_failed", Phase::Running, Phase::Planned),
        ("policy_checked", Phase::Running, Phase::Running),
        ("confirmed", Phase::Running, Phase::Running),
        ("post_plan_running", Phase::Running, Phase::Running),
        ("post_plan_completed", Phase::Running, Phase::Running),
        (
            "post_plan_awaiting_decision",
            Phase::NeedsOverride,
            Phase::Running,
        ),
        ("planned_and_finished", Phase::Planned, Phase::Planned),
        ("planned_and_saved", Phase::Running, Phase::Planned),
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
            assert_eq!(phase(status, false, false), normal, "{status} (normal run)");
            assert_eq!(
                phase(status, true, false),
                plan_only,
                "{status} (plan-only run)"
            );
        }
    }

    #[test]
    fn a_normal_run_awaits_apply_only_when_the_api_says_it_is_confirmable() {
        // `planned` on its way to cost estimation is not confirmable yet.
        assert_eq!(phase("planned", false, false), Phase::Running);
        for status in [
            "planned",
            "cost_estimated",
            "policy_checked",
            "post_plan_completed",
            "planned_and_saved",
        ] {
            assert_eq!(phase(status, false, true), Phase::AwaitingApply, "{status}");
        }
        // A plan-only run is never confirmable.
        assert_eq!(phase("planned", true, true), Phase::Running);
    }

    #[test]
    fn every_known_status_is_listed_in_the_test_table() {
        let known = PLAN_DONE_AWAITING_DECISION
            .iter()
            .chain(AWAITING_OVERRIDE)
            .chain(WORKING)
            .chain(APPLY_STAGE);
        for status in known {
            assert!(
                EXPECTED.iter().any(|(s, _, _)| s == status),
                "{status} is not tested"
            );
        }
    }

    #[test]
    fn unknown_status_is_running() {
        assert_eq!(phase("teleporting", false, false), Phase::Running);
        assert_eq!(phase("", true, false), Phase::Running);
    }

    fn run(status: &str) -> TfcRun {
        TfcRun {
            id: "run-1".into(),
            status: status.into(),
            message: String::new(),
            created_at: "2025-01-01T00:00:00Z".into(),
            has_changes: None,
            plan_only: false,
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
    fn waiting_runs_say_what_they_wait_for() {
        let queued = TfcRun {
            position_in_queue: Some(2),
            ..run("pending")
        };
        assert!(describe(&queued, None).contains("behind 2 earlier runs"));
        assert!(describe(&run("plan_queued"), Some("agent")).contains("agent"));
        assert!(describe(&run("apply_queued"), None).contains("Terraform Enterprise"));
        assert!(describe(&run("fetching"), None).contains("VCS"));
        assert!(describe(&run("cost_estimating"), None).contains("cost estimation"));
        assert!(describe(&run("policy_override"), None).contains("override"));
        assert!(describe(&run("teleporting"), None).contains("teleporting"));
        for &(status, _, _) in EXPECTED {
            assert!(
                !describe(&run(status), None).contains("not in the API documents"),
                "{status}"
            );
        }
    }
}
