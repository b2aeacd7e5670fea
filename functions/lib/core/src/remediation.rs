//! Remediation runs DriftGuard trusts as its own.
//!
//! A run's message carries the execution's tag (`[driftguard:remediation:<execution>]`)
//! so a retried step finds the run it created. The tag is no proof: the
//! execution's name is public (the check run's message shows it) and anyone
//! with permission to queue runs in the workspace can write it into a run of
//! their own. So:
//!
//! - create looks a run up by its tag only when an earlier attempt noted,
//!   before its `POST /runs`, that it asked for one ([`RemediationLedger`]), as
//!   the create-run step does with the batch's `run_requested`; and it adopts
//!   a tagged run only when [`adoption_refused`] finds nothing wrong with it
//!   (created by the token's user, a normal run, exactly the computed targets,
//!   the workspace's current configuration version);
//! - the run's id is stored once known; the safety check notes the one run it
//!   found safe; apply confirms only that run ([`not_drift_guards`] too);
//! - poll-run cancels or discards only runs [`not_drift_guards`] accepts.

use std::collections::BTreeSet;

use crate::history::{execution_name, partition_key};
use crate::model::CheckRef;
use crate::ports::{TfcRun, TfcWorkspace};

/// How long an attempt is kept (the history table's TTL): past any
/// execution's approval wait, plan and apply.
pub const ATTEMPT_KEEP_SECONDS: i64 = 30 * 86_400;

/// The attempt's item key in the history table: the workspace's partition,
/// sort key `REMEDIATION#<execution name>`.
pub fn attempt_key(check: &CheckRef, execution_id: &str) -> (String, String) {
    (
        partition_key(check),
        format!("REMEDIATION#{}", execution_name(execution_id)),
    )
}

/// Why a run found by this execution's tag is not the remediation run an
/// earlier attempt created, if it is not: it must have been created by the
/// token's user, be a normal (not plan-only) run, target exactly `targets`,
/// and plan the workspace's current configuration version.
pub fn adoption_refused(
    run: &TfcRun,
    token_user: &str,
    targets: &[String],
    workspace: &TfcWorkspace,
) -> Option<String> {
    if run.created_by.as_deref() != Some(token_user) {
        return Some(format!(
            "it was created by {}, not by DriftGuard's token user",
            run.created_by.as_deref().unwrap_or("an unknown user")
        ));
    }
    if run.plan_only {
        return Some("it is a plan-only run".into());
    }
    let wanted: BTreeSet<&str> = targets.iter().map(String::as_str).collect();
    let has: BTreeSet<&str> = run.target_addrs.iter().map(String::as_str).collect();
    if wanted != has {
        return Some(format!(
            "it targets {} address{} other than the {} drifted one{} computed now",
            has.symmetric_difference(&wanted).count(),
            if has.symmetric_difference(&wanted).count() == 1 {
                ""
            } else {
                "es"
            },
            wanted.len(),
            if wanted.len() == 1 { "" } else { "s" }
        ));
    }
    match (
        run.configuration_version_id.as_deref(),
        workspace.current_configuration_version_id.as_deref(),
    ) {
        (Some(run_cv), Some(current)) if run_cv == current => None,
        (run_cv, current) => Some(format!(
            "it plans configuration version {}, not the workspace's current one ({})",
            run_cv.unwrap_or("(none)"),
            current.unwrap_or("none")
        )),
    }
}

/// Why `run` is not a run DriftGuard created for this execution, if it is
/// not: created by the token's user and carrying the execution's check or
/// remediation tag in its message.
pub fn not_drift_guards(run: &TfcRun, token_user: &str, execution_id: &str) -> Option<String> {
    if run.created_by.as_deref() != Some(token_user) {
        return Some(format!(
            "run {} was created by {}, not by DriftGuard's token user",
            run.id,
            run.created_by.as_deref().unwrap_or("an unknown user")
        ));
    }
    let tagged = ["check", "remediation"].iter().any(|kind| {
        run.message
            .contains(&crate::steps::run_tag(kind, execution_id))
    });
    if !tagged {
        return Some(format!(
            "run {} does not carry the tag of execution {}",
            run.id,
            execution_name(execution_id)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> TfcRun {
        TfcRun {
            id: "run-1".into(),
            status: "planned".into(),
            message: "DriftGuard remediation [driftguard:remediation:exec-1]".into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            has_changes: Some(true),
            plan_only: false,
            plan_id: None,
            workspace_id: Some("ws-1".into()),
            target_addrs: vec!["aws_s3_bucket.a".into(), "aws_s3_bucket.b".into()],
            is_confirmable: true,
            is_discardable: true,
            is_cancelable: false,
            position_in_queue: None,
            status_changed_at: None,
            created_by: Some("user-dg".into()),
            configuration_version_id: Some("cv-2".into()),
        }
    }

    fn workspace() -> TfcWorkspace {
        TfcWorkspace {
            id: "ws-1".into(),
            name: "prod".into(),
            organization: "acme".into(),
            execution_mode: None,
            current_configuration_version_id: Some("cv-2".into()),
        }
    }

    #[test]
    fn only_drift_guards_own_run_with_the_computed_targets_is_adopted() {
        let targets = vec!["aws_s3_bucket.b".to_string(), "aws_s3_bucket.a".to_string()];
        assert_eq!(
            adoption_refused(&run(), "user-dg", &targets, &workspace()),
            None
        );
        let cases: Vec<(TfcRun, &str)> = vec![
            (
                TfcRun {
                    created_by: Some("user-mallory".into()),
                    ..run()
                },
                "user-mallory",
            ),
            (
                TfcRun {
                    created_by: None,
                    ..run()
                },
                "unknown user",
            ),
            (
                TfcRun {
                    plan_only: true,
                    ..run()
                },
                "plan-only",
            ),
            (
                TfcRun {
                    target_addrs: vec!["aws_s3_bucket.a".into()],
                    ..run()
                },
                "targets",
            ),
            (
                TfcRun {
                    configuration_version_id: Some("cv-1".into()),
                    ..run()
                },
                "configuration version cv-1",
            ),
        ];
        for (planted, why) in cases {
            let reason = adoption_refused(&planted, "user-dg", &targets, &workspace())
                .unwrap_or_else(|| panic!("{planted:?} adopted"));
            assert!(reason.contains(why), "{reason}");
        }
    }

    #[test]
    fn drift_guards_runs_are_its_token_users_and_carry_the_execution_tag() {
        let exec = "arn:aws:states:eu-west-1:1:execution:sm:exec-1";
        assert_eq!(not_drift_guards(&run(), "user-dg", exec), None);
        let check_run = TfcRun {
            message: "DriftGuard drift check [driftguard:check:exec-1]".into(),
            ..run()
        };
        assert_eq!(not_drift_guards(&check_run, "user-dg", exec), None);
        assert!(not_drift_guards(&run(), "user-other", exec).is_some());
        assert!(
            not_drift_guards(
                &run(),
                "user-dg",
                "arn:aws:states:eu-west-1:1:execution:sm:exec-2"
            )
            .is_some()
        );
    }
}
