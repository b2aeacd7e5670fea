//! One behaviour for every [`HistoryReader`] (records, fingerprints and drift
//! episodes): the same cases run against the in-memory store
//! (tests/history_store_memory.rs) and the DynamoDB store on moto
//! (tests/dynamodb_moto.rs). Each case uses its own workspace.

use driftguard_core::episodes::{self, EPISODE_ITEM_BUDGET, EpisodeWrite, Resolution};
use driftguard_core::history::HistoryRecord;
use driftguard_core::model::{
    Actor, Change, CheckOutcome, CheckRef, CheckStatus, DriftReport, DriftedResource,
};
use driftguard_core::ports::HistoryReader;

fn workspace(name: &str) -> CheckRef {
    CheckRef {
        organization: "suite".into(),
        workspace: name.into(),
    }
}

fn time(minute: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
        + chrono::Duration::minutes(i64::from(minute))
}

fn rfc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The record of a check started at `minute` that found `addresses` drifted
/// (`total` in all), caused by a console change to `sg-<n>`.
fn record(
    ws: &CheckRef,
    execution: &str,
    minute: u32,
    status: CheckStatus,
    addresses: &[&str],
    total: usize,
) -> HistoryRecord {
    let resources: Vec<DriftedResource> = addresses
        .iter()
        .map(|a| DriftedResource {
            address: a.to_string(),
            resource_type: "aws_security_group".into(),
            actions: vec!["update".into()],
            changed_attributes: vec!["ingress".into()],
            ..Default::default()
        })
        .collect();
    let outcome = CheckOutcome {
        poll: None,
        status,
        check: ws.clone(),
        execution_id: format!("arn:aws:states:eu-west-1:123456789012:execution:sm:{execution}"),
        started_at: rfc(time(minute)),
        change: Some(Change {
            event_id: format!("ev-{execution}"),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: rfc(time(minute)),
            aws_region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some("arn:aws:iam::123456789012:user/alice".into()),
                principal_id: None,
            },
            resources: vec!["sg-1".into()],
            ..Change::default()
        }),
        run: None,
        drift: Some(DriftReport {
            drifted: !resources.is_empty(),
            resource_count: total,
            truncated: total > resources.len(),
            omitted: total.saturating_sub(resources.len()),
            ignored: 0,
            fingerprint: if resources.is_empty() {
                String::new()
            } else {
                format!("fp-{}", addresses.join(","))
            },
            resources,
            ..Default::default()
        }),
        remediation: None,
        failure: None,
        approval: None,
    };
    HistoryRecord::from_outcome(&outcome, "https://console/x", time(minute + 1), 90)
}

/// Plans the check against the store's open episodes and writes it.
async fn check(store: &dyn HistoryReader, record: &HistoryRecord) -> (bool, Vec<EpisodeWrite>) {
    let ws = workspace(&record.workspace);
    let open = store.open_episodes(&ws).await.expect("open episodes");
    let plan = episodes::plan(record, &open);
    let mut record = record.clone();
    record.episodes = Some(plan.summary);
    // As the record step does: fixed or absent drift clears the fingerprint.
    let latest = match record.status {
        CheckStatus::NoDrift | CheckStatus::Remediated => String::new(),
        _ => record.fingerprint.clone(),
    };
    let stored = store
        .put_check(&record, Some(&latest), &plan.writes)
        .await
        .expect("put_check");
    (stored, plan.writes)
}

fn addresses(episodes: &[episodes::Episode]) -> Vec<String> {
    let mut a: Vec<String> = episodes.iter().map(|e| e.address.clone()).collect();
    a.sort();
    a
}

pub async fn run_all(store: &dyn HistoryReader) {
    episodes_open_stay_open_and_resolve(store).await;
    a_check_planned_on_stale_episodes_writes_nothing(store).await;
    a_retried_check_changes_no_episode(store).await;
    the_largest_planned_check_fits_one_transaction(store).await;
    an_acceptance_of_the_largest_drift_fits_one_transaction(store).await;
    a_late_outcome_never_replaces_a_newer_checks_fingerprint(store).await;
    a_failure_after_a_decision_replaces_the_drift_record(store).await;
    records_read_by_time(store).await;
}

/// A check that fails after a person decided replaces its DriftDetected
/// record (on-failure merges the failure into it); a failure before any
/// decision leaves the DriftDetected record.
async fn a_failure_after_a_decision_replaces_the_drift_record(store: &dyn HistoryReader) {
    let ws = workspace("failed-fix");
    let detected = record(
        &ws,
        "e1",
        0,
        CheckStatus::DriftDetected,
        &["aws_security_group.a"],
        1,
    );
    assert!(store.put_check(&detected, Some("fp"), &[]).await.unwrap());
    let mut failed = record(
        &ws,
        "e1",
        0,
        CheckStatus::CheckFailed,
        &["aws_security_group.a"],
        1,
    );
    failed.failure = Some(driftguard_core::model::Failure {
        error: "TfcUnavailable".into(),
        cause: "503".into(),
        failed_state: Some("Check remediation plan".into()),
        redrive_count: 0,
    });
    assert!(
        !store.put_check(&failed, None, &[]).await.unwrap(),
        "no decision: the DriftDetected record stays"
    );
    failed.approval = Some(driftguard_core::model::ApprovalDecision {
        decision: driftguard_core::model::DriftDecision::Fix,
        automatic: false,
        by: Some(driftguard_core::model::SlackUser {
            id: "U0ALICE".into(),
            name: "alice".into(),
        }),
        decided_at: None,
        reason: None,
        until: None,
    });
    assert!(store.put_check(&failed, None, &[]).await.unwrap());
    let records = store.list_records(&ws, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, CheckStatus::CheckFailed);
    assert_eq!(
        records[0]
            .approval
            .as_ref()
            .and_then(|a| a.by.as_ref())
            .map(|u| u.id.as_str()),
        Some("U0ALICE")
    );
}

/// A decision's outcome recorded hours after its check (while newer checks
/// ran) is stored, but the workspace's fingerprint stays the newest check's.
async fn a_late_outcome_never_replaces_a_newer_checks_fingerprint(store: &dyn HistoryReader) {
    let ws = workspace("late-outcome");
    let older = record(
        &ws,
        "e1",
        0,
        CheckStatus::DriftDetected,
        &["aws_security_group.a"],
        1,
    );
    assert!(store.put_check(&older, Some("fp-old"), &[]).await.unwrap());
    let newer = record(
        &ws,
        "e2",
        120,
        CheckStatus::DriftDetected,
        &["aws_security_group.b"],
        1,
    );
    assert!(store.put_check(&newer, Some("fp-new"), &[]).await.unwrap());
    // e1's Remediated outcome arrives after e2's check.
    let late = record(
        &ws,
        "e1",
        0,
        CheckStatus::Remediated,
        &["aws_security_group.a"],
        1,
    );
    assert!(
        store.put_check(&late, Some(""), &[]).await.unwrap(),
        "the outcome itself is recorded"
    );
    assert_eq!(
        store.last_fingerprint(&ws).await.unwrap().as_deref(),
        Some("fp-new"),
        "the newer check's fingerprint stays"
    );
    let records = store.list_records(&ws, 10).await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.execution_id == late.execution_id && r.status == CheckStatus::Remediated)
    );
    // A check of the same start time or later does replace it.
    let next = record(&ws, "e3", 180, CheckStatus::NoDrift, &[], 0);
    assert!(store.put_check(&next, Some(""), &[]).await.unwrap());
    assert_eq!(
        store.last_fingerprint(&ws).await.unwrap().as_deref(),
        Some("")
    );
}

async fn episodes_open_stay_open_and_resolve(store: &dyn HistoryReader) {
    let ws = workspace("lifecycle");
    let first = record(
        &ws,
        "e1",
        0,
        CheckStatus::DriftDetected,
        &["aws_security_group.a", "aws_security_group.b"],
        2,
    );
    assert!(check(store, &first).await.0);
    let open = store.open_episodes(&ws).await.unwrap();
    assert_eq!(
        addresses(&open),
        ["aws_security_group.a", "aws_security_group.b"]
    );
    assert!(
        open.iter()
            .all(|e| e.detected.execution_id == first.execution_id)
    );

    // b is clean now; a is seen again.
    let second = record(
        &ws,
        "e2",
        30,
        CheckStatus::DriftDetected,
        &["aws_security_group.a"],
        1,
    );
    let (stored, writes) = check(store, &second).await;
    assert!(stored);
    assert_eq!(writes.len(), 2, "{writes:?}");
    let open = store.open_episodes(&ws).await.unwrap();
    assert_eq!(addresses(&open), ["aws_security_group.a"]);
    assert_eq!(open[0].checks, 2);
    assert_eq!(open[0].last_seen.execution_id, second.execution_id);
    let resolved = store.resolved_episodes(&ws, &rfc(time(0))).await.unwrap();
    assert_eq!(addresses(&resolved), ["aws_security_group.b"]);
    // Touched by the clean check's change (sg-1): changed back.
    assert_eq!(resolved[0].resolution, Some(Resolution::Reverted));
    assert!(
        store
            .resolved_episodes(&ws, &rfc(time(40)))
            .await
            .unwrap()
            .is_empty(),
        "resolved before `since`"
    );

    // Remediated: a closes as remediated; nothing is open.
    let third = record(
        &ws,
        "e3",
        60,
        CheckStatus::Remediated,
        &["aws_security_group.a"],
        1,
    );
    assert!(check(store, &third).await.0);
    assert!(store.open_episodes(&ws).await.unwrap().is_empty());
    let resolved = store.resolved_episodes(&ws, &rfc(time(0))).await.unwrap();
    assert_eq!(resolved.len(), 2);
    assert_eq!(
        resolved[1].resolution,
        Some(Resolution::Remediated),
        "oldest first"
    );
    assert_eq!(
        store.last_fingerprint(&ws).await.unwrap().as_deref(),
        Some(""),
        "the record's fingerprint went with it"
    );
    let got = store
        .get_record(&ws, &third.started_at, &third.execution_id)
        .await
        .unwrap()
        .expect("record");
    assert_eq!(got.episodes.map(|s| (s.resolved, s.open)), Some((1, 0)));
    assert!(store.workspaces().await.unwrap().contains(&ws));
}

async fn a_check_planned_on_stale_episodes_writes_nothing(store: &dyn HistoryReader) {
    let ws = workspace("stale");
    assert!(
        check(
            store,
            &record(
                &ws,
                "e1",
                0,
                CheckStatus::DriftDetected,
                &["aws_security_group.a"],
                1
            )
        )
        .await
        .0
    );
    let open = store.open_episodes(&ws).await.unwrap();
    // Two checks plan against the same open episode; the second one writes last.
    let clean = record(&ws, "e2", 10, CheckStatus::NoDrift, &[], 0);
    let again = record(
        &ws,
        "e3",
        11,
        CheckStatus::DriftDetected,
        &["aws_security_group.a"],
        1,
    );
    let stale = episodes::plan(&again, &open);
    assert!(check(store, &clean).await.0);
    let err = store
        .put_check(&again, Some(&again.fingerprint), &stale.writes)
        .await
        .expect_err("a plan on episodes that changed must be refused");
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
    assert!(
        store
            .get_record(&ws, &again.started_at, &again.execution_id)
            .await
            .unwrap()
            .is_none(),
        "nothing of the refused check was written"
    );
    assert_eq!(
        store.last_fingerprint(&ws).await.unwrap().as_deref(),
        Some("")
    );
    // Planned again, it goes through and opens a new episode.
    assert!(check(store, &again).await.0);
    let open = store.open_episodes(&ws).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].detected.execution_id, again.execution_id);
}

async fn a_retried_check_changes_no_episode(store: &dyn HistoryReader) {
    let ws = workspace("retried");
    let first = record(
        &ws,
        "e1",
        0,
        CheckStatus::DriftDetected,
        &["aws_security_group.a"],
        1,
    );
    let (stored, writes) = check(store, &first).await;
    assert!(stored);
    // The same check written again (a retried step with its first plan): refused as a whole.
    assert!(
        !store
            .put_check(&first, Some("other"), &writes)
            .await
            .unwrap()
    );
    assert_eq!(store.open_episodes(&ws).await.unwrap().len(), 1);
    assert_eq!(
        store.last_fingerprint(&ws).await.unwrap().as_deref(),
        Some(first.fingerprint.as_str())
    );
}

async fn the_largest_planned_check_fits_one_transaction(store: &dyn HistoryReader) {
    let ws = workspace("largest");
    let many: Vec<String> = (0..120)
        .map(|i| format!("aws_security_group.r{i:03}"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let big = record(&ws, "e1", 0, CheckStatus::DriftDetected, &refs, refs.len());
    let plan = episodes::plan(&big, &[]);
    assert_eq!(plan.items(), EPISODE_ITEM_BUDGET);
    assert_eq!(plan.summary.deferred, 120 - EPISODE_ITEM_BUDGET);
    assert!(
        check(store, &big).await.0,
        "record + fingerprint + 98 episodes = 100 items"
    );
    assert_eq!(
        store.open_episodes(&ws).await.unwrap().len(),
        EPISODE_ITEM_BUDGET
    );
    // One item more than a transaction holds is refused before anything is sent.
    let mut over = plan.writes.clone();
    over.push(over[0].clone());
    let again = record(&ws, "e2", 5, CheckStatus::DriftDetected, &refs, refs.len());
    let err = store
        .put_check(&again, Some("x"), &over)
        .await
        .expect_err("101 items");
    assert_eq!(err.error_type(), "InvalidInput", "{err}");
}

/// Accepting drift across more resources than one transaction can close:
/// the acceptance item is counted, so the record, fingerprint, episodes and
/// acceptance still fit one transaction (and the acceptance is kept).
async fn an_acceptance_of_the_largest_drift_fits_one_transaction(store: &dyn HistoryReader) {
    let ws = workspace("largest-accepted");
    let many: Vec<String> = (0..60)
        .map(|i| format!("aws_security_group.r{i:03}"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let detected = record(&ws, "e1", 0, CheckStatus::DriftDetected, &refs, refs.len());
    assert!(check(store, &detected).await.0);
    assert_eq!(store.open_episodes(&ws).await.unwrap().len(), 60);
    let mut accepted = record(&ws, "e1", 0, CheckStatus::DriftAccepted, &refs, refs.len());
    // A fingerprint's length, as the drift report makes them (a hash).
    accepted.fingerprint = "sha256-0123456789abcdef".into();
    accepted.acceptance = Some(driftguard_core::model::Acceptance {
        fingerprint: accepted.fingerprint.clone(),
        by: driftguard_core::model::SlackUser {
            id: "U0ALICE".into(),
            name: "alice".into(),
        },
        reason: "vendor hot-fix".into(),
        until: "2026-12-01".into(),
        until_epoch: driftguard_core::history::end_of_day_epoch("2026-12-01").unwrap(),
        accepted_at: rfc(time(5)),
        execution_id: accepted.execution_id.clone(),
    });
    let open = store.open_episodes(&ws).await.unwrap();
    let plan = episodes::plan(&accepted, &open);
    assert!(plan.summary.deferred > 0, "{:?}", plan.summary);
    let stored = store
        .put_check(&accepted, Some(""), &plan.writes)
        .await
        .expect("record + fingerprint + episodes + acceptance in one transaction");
    assert!(stored);
    assert!(
        store
            .active_acceptance(&ws, &accepted.fingerprint, time(10).timestamp())
            .await
            .unwrap()
            .is_some(),
        "the acceptance is kept"
    );
}

async fn records_read_by_time(store: &dyn HistoryReader) {
    let ws = workspace("by-time");
    for (i, minute) in [0u32, 60, 120].iter().enumerate() {
        let r = record(&ws, &format!("e{i}"), *minute, CheckStatus::NoDrift, &[], 0);
        assert!(check(store, &r).await.0);
    }
    let since = store.records_since(&ws, &rfc(time(30)), 10).await.unwrap();
    let started: Vec<&str> = since.iter().map(|r| r.started_at.as_str()).collect();
    assert_eq!(started, [rfc(time(120)), rfc(time(60))]);
    assert_eq!(
        store
            .records_since(&ws, &rfc(time(0)), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.first_check_since(&ws, &rfc(time(30))).await.unwrap(),
        Some(rfc(time(60)))
    );
    assert_eq!(
        store.first_check_since(&ws, &rfc(time(121))).await.unwrap(),
        None
    );
}
