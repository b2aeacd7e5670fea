//! Tests of `driftguard_core::history` with the in-memory doubles (moved from the module, which cannot use the testkit).
use driftguard_core::history::*;
use driftguard_core::model::*;
use driftguard_core::ports::{AlertMarkers, CheckRecords};
#[allow(unused_imports)]
use driftguard_testkit::*;

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn outcome(status: CheckStatus) -> CheckOutcome {
    CheckOutcome {
        poll: None,
        status,
        check: check(),
        execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1".into(),
        started_at: "2026-11-22T10:00:00.123Z".into(),
        change: None,
        run: None,
        drift: None,
        remediation: None,
        failure: None,
        approval: None,
    }
}

#[test]
fn a_decision_replaces_the_drift_record_of_its_execution_and_nothing_else() {
    let now = chrono::Utc::now();
    let record = |status| HistoryRecord::from_outcome(&outcome(status), "url", now, 90);
    let detected = record(CheckStatus::DriftDetected);
    for status in [
        CheckStatus::DriftAccepted,
        CheckStatus::DriftDismissed,
        CheckStatus::ApprovalExpired,
        CheckStatus::Remediated,
    ] {
        assert!(replaces(&detected, &record(status)), "{status}");
        assert!(!replaces(&record(status), &detected), "{status}");
    }
    assert!(!replaces(&detected, &record(CheckStatus::CheckFailed)));
    assert!(!replaces(&detected, &record(CheckStatus::NoDrift)));
}

#[test]
fn acceptance_runs_to_the_end_of_its_last_day() {
    assert_eq!(
        end_of_day_epoch("2026-11-22"),
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
                .unwrap()
                .timestamp()
        )
    );
    assert_eq!(end_of_day_epoch("22/11/2026"), None);
}

#[test]
fn sort_key_ignores_sub_second_and_offset_differences() {
    let a = sort_key("2026-11-22T10:00:00.123Z", "arn:...:execution:sm:e1");
    let b = sort_key("2026-11-22T11:00:00.999+01:00", "e1");
    assert_eq!(a, b);
    assert_eq!(a, "CHECK#2026-11-22T10:00:00Z#e1");
}

#[test]
fn record_expires_after_retention() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let r = HistoryRecord::from_outcome(&outcome(CheckStatus::NoDrift), "url", now, 90);
    assert_eq!(r.expires_at - now.timestamp(), 90 * 86_400);
    assert_eq!(r.pk, "WS#acme/prod");
}

#[test]
fn record_keeps_drifted_resources_and_one_line_for_pending_code() {
    use driftguard_core::model::{DriftReport, DriftedResource, PendingChange};
    let mut out = outcome(CheckStatus::DriftDetected);
    let mut drift = DriftReport {
        drifted: true,
        resource_count: 1,
        resources: vec![DriftedResource {
            address: "aws_security_group.web".into(),
            changed_attributes: vec!["ingress".into()],
            ..DriftedResource::default()
        }],
        fingerprint: "fp".into(),
        ..DriftReport::default()
    };
    drift.pending_changes.count = 2;
    drift.pending_changes.resources = vec![PendingChange {
        address: "aws_iam_user.reviewer".into(),
        resource_type: "aws_iam_user".into(),
        actions: vec!["create".into()],
        changed_attributes: vec![],
        previous_address: None,
    }];
    drift.informational.count = 1;
    drift.informational.addresses = vec!["aws_iam_role.app".into()];
    out.drift = Some(drift);
    let r = HistoryRecord::from_outcome(&out, "url", chrono::Utc::now(), 90);
    let kept = r.drift.as_ref().unwrap();
    assert_eq!(kept.resources[0].changed_attributes, ["ingress"]);
    assert!(kept.pending_changes.resources.is_empty());
    assert_eq!(kept.pending_changes.count, 2);
    assert!(kept.informational.addresses.is_empty());
    assert_eq!(
        r.pending_code.as_deref(),
        Some("2 resources have unapplied code changes (not drift)")
    );
    assert_eq!(r.fingerprint, "fp");
}

#[tokio::test]
async fn records_are_written_once_per_execution() {
    let store = InMemoryHistory::new();
    let r = HistoryRecord::from_outcome(
        &outcome(CheckStatus::DriftDetected),
        "url",
        chrono::Utc::now(),
        90,
    );
    assert!(store.put_record(&r, Some("f1")).await.unwrap());
    assert!(!store.put_record(&r, Some("f2")).await.unwrap());
    assert_eq!(store.all().len(), 1);
    assert_eq!(
        store.last_fingerprint(&check()).await.unwrap().as_deref(),
        Some("f1"),
        "a record that was not stored leaves the fingerprint alone"
    );
    assert!(
        store
            .get_record(&check(), "2026-11-22T10:00:00Z", "exec-1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.mark_notified(&check(), "exec-1", 1).await.unwrap());
    assert!(!store.mark_notified(&check(), "exec-1", 2).await.unwrap());
}
