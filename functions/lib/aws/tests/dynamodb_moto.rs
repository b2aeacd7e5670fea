//! The DynamoDB adapters against a real DynamoDB API (moto server from the
//! project venv, which `make test` installs): conditional writes, idempotent
//! records, drift episodes in the record's transaction, coalescing batches,
//! the HCP Terraform request pacer.

use driftguard_testkit::moto;
use driftguard_testkit::suites::batch_store as batch_store_suite;
use driftguard_testkit::suites::history_store as history_store_suite;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_aws::{DynamoBatchStore, DynamoHistory, DynamoPacer};
use driftguard_core::history::HistoryRecord;
use driftguard_core::model::{Change, CheckOutcome, CheckRef, CheckStatus, Failure};
use driftguard_core::pacing::{Budget, PaceLimits, Reservation};
use driftguard_core::ports::{AcceptedDrift, AlertMarkers, CheckRecords, RequestPacer};
use moto::{client_with_table, start_moto};

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn change(id: usize) -> Change {
    Change {
        event_id: format!("event-{id}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2026-11-22T10:00:00Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        resources: vec![format!("sg-{id}")],
        ..Default::default()
    }
}

#[tokio::test]
async fn history_records_fingerprints_and_markers() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "history").await;
    let store = DynamoHistory::new(client, "history");
    let outcome = CheckOutcome {
        poll: None,
        approval: None,
        status: CheckStatus::DriftDetected,
        check: check(),
        execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1".into(),
        started_at: "2026-11-22T10:00:00.500Z".into(),
        change: Some(change(1)),
        run: None,
        drift: None,
        remediation: None,
        failure: None,
    };
    let record = HistoryRecord::from_outcome(&outcome, "https://console", chrono::Utc::now(), 90);
    assert_eq!(store.last_fingerprint(&check()).await.unwrap(), None);
    assert!(
        store.put_record(&record, Some("abc")).await.unwrap(),
        "first write stores"
    );
    assert_eq!(
        store.last_fingerprint(&check()).await.unwrap().as_deref(),
        Some("abc"),
        "the fingerprint is written with the record"
    );
    assert!(
        !store.put_record(&record, Some("other")).await.unwrap(),
        "second write of the same execution is a no-op"
    );
    assert_eq!(
        store.last_fingerprint(&check()).await.unwrap().as_deref(),
        Some("abc"),
        "a refused record leaves the fingerprint alone (one transaction)"
    );

    // A redriven execution's real outcome replaces the on-failure handler's CheckFailed record, once.
    let failed = HistoryRecord {
        sk: "CHECK#2026-11-22T09:00:00Z#exec-0".into(),
        execution_id: "exec-0".into(),
        status: CheckStatus::CheckFailed,
        ..record.clone()
    };
    assert!(store.put_record(&failed, None).await.unwrap());
    assert!(!store.put_record(&failed, None).await.unwrap());
    // A redrive that fails again replaces the earlier failure, once.
    let failed_again = HistoryRecord {
        failure: Some(Failure {
            error: "TfcUnauthorized".into(),
            cause: "401".into(),
            failed_state: None,
            redrive_count: 1,
        }),
        ..failed.clone()
    };
    assert!(store.put_record(&failed_again, None).await.unwrap());
    assert!(!store.put_record(&failed_again, None).await.unwrap());
    assert!(
        !store.put_record(&failed, None).await.unwrap(),
        "an older failure never replaces a newer one"
    );
    let redriven = HistoryRecord {
        status: CheckStatus::NoDrift,
        failure: None,
        ..failed.clone()
    };
    assert!(store.put_record(&redriven, Some("")).await.unwrap());
    assert!(
        !store.put_record(&failed_again, None).await.unwrap(),
        "a late failure never overwrites the outcome"
    );
    let outcome_now = store
        .get_record(&check(), "2026-11-22T09:00:00Z", "exec-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome_now.status, CheckStatus::NoDrift);

    let found = store
        .get_record(&check(), &outcome.started_at, &outcome.execution_id)
        .await
        .unwrap()
        .expect("record found by its key");
    assert_eq!(found, record);
    assert!(
        store
            .get_record(&check(), "2026-11-22T10:00:01Z", &outcome.execution_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.list_records(&check(), 10).await.unwrap().len(), 2);
    assert_eq!(
        store.last_fingerprint(&check()).await.unwrap().as_deref(),
        Some("")
    );

    assert!(
        !store
            .was_notified(&check(), "exec-1#DriftDetected")
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notified(&check(), "exec-1#DriftDetected", 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notified(&check(), "exec-1#DriftDetected", 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .was_notified(&check(), "exec-1#DriftDetected")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_dynamodb_history_passes_the_shared_suite() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "episodes").await;
    history_store_suite::run_all(&DynamoHistory::new(client, "episodes")).await;
}

#[tokio::test]
async fn the_dynamodb_batch_store_passes_the_shared_suite() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "batches").await;
    batch_store_suite::run_all(&DynamoBatchStore::new(client, "batches")).await;
}

#[tokio::test]
async fn the_pacer_spaces_requests_and_refuses_a_long_queue() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "pace").await;
    let budget = Budget {
        key: "PACE#app.terraform.io#user-V3R563qtJNcExAkN".into(),
        limits: PaceLimits {
            max_wait: Duration::from_secs(1),
            ..PaceLimits::per_second(20, 5)
        },
    };
    let pacer = DynamoPacer::new(client.clone(), "pace");
    let now = 1_800_000_000_000_000i64;
    let mut waits = Vec::new();
    loop {
        match pacer.reserve(&budget, now).await.unwrap() {
            Reservation::Granted { wait } => waits.push(wait.as_millis()),
            Reservation::Full { retry_after } => {
                assert!(retry_after <= Duration::from_millis(50), "{retry_after:?}");
                break;
            }
        }
        assert!(waits.len() <= 100, "the queue never filled up");
    }
    // The burst at once, then one every 50 ms, up to 1 s ahead.
    assert_eq!(&waits[..6], &[0, 0, 0, 0, 0, 50]);
    assert_eq!(waits.len(), 25);
    assert_eq!(*waits.last().unwrap(), 1_000);

    // Later, the budget is full again: a quiet pacer restarts from now.
    let later = now + 10_000_000;
    assert_eq!(
        pacer.reserve(&budget, later).await.unwrap(),
        Reservation::Granted {
            wait: Duration::ZERO
        }
    );
    // Another budget (the runs list's) is another item.
    let runs_list = Budget {
        key: format!("{}#runs-list", budget.key),
        limits: PaceLimits::run_list(),
    };
    assert_eq!(
        pacer.reserve(&runs_list, later).await.unwrap(),
        Reservation::Granted {
            wait: Duration::ZERO
        }
    );
    // One item, in its own partition, with a TTL.
    let item = client
        .get_item()
        .table_name("pace")
        .key("pk", AttributeValue::S(budget.key.clone()))
        .key("sk", AttributeValue::S("PACE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the pacing item");
    assert!(item.contains_key("tat") && item.contains_key("expires_at"));
}

/// Approval mode in DynamoDB: the decision's record replaces the drift's, an
/// acceptance is written with its record and ends on its date; a decision
/// request is decided once, whoever comes first (the click or the wait).
#[tokio::test]
async fn decisions_acceptances_and_threads() {
    use driftguard_aws::DynamoConversations;
    use driftguard_core::approval::new_approval_id;
    use driftguard_core::model::{
        ApprovalDecision, DriftDecision, DriftReport, SlackUser, ThreadRef,
    };
    use driftguard_core::ports::{
        AlertThread, ApprovalRequest, ApprovalStatus, ApprovalStore, ConversationStore,
        DecisionRecorded, TokenStored,
    };
    use driftguard_testkit::InMemoryApprovals;
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "history").await;
    let store = DynamoHistory::new(client.clone(), "history");
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let drift = DriftReport {
        drifted: true,
        resource_count: 1,
        fingerprint: "fp-1".into(),
        ..DriftReport::default()
    };
    let outcome = |status, approval: Option<ApprovalDecision>| CheckOutcome {
        poll: None,
        status,
        check: check(),
        execution_id: "arn:aws:states:eu-west-1:1:execution:sm:exec-1".into(),
        started_at: "2026-11-22T10:00:00Z".into(),
        change: None,
        run: None,
        drift: Some(drift.clone()),
        remediation: None,
        failure: None,
        approval,
    };
    let detected =
        HistoryRecord::from_outcome(&outcome(CheckStatus::DriftDetected, None), "url", now, 90);
    assert!(store.put_record(&detected, Some("fp-1")).await.unwrap());
    let accept = ApprovalDecision {
        decision: DriftDecision::Accept,
        automatic: false,
        by: Some(SlackUser {
            id: "U0ALICE".into(),
            name: "alice".into(),
        }),
        decided_at: Some("2026-11-22T10:05:00Z".into()),
        reason: Some("vendor hot-fix".into()),
        until: Some("2026-12-01".into()),
    };
    let accepted_outcome = outcome(CheckStatus::DriftAccepted, Some(accept));
    let mut accepted = HistoryRecord::from_outcome(&accepted_outcome, "url", now, 90);
    accepted.acceptance = driftguard_core::history::acceptance_of(&accepted_outcome, now);
    assert!(
        store.put_record(&accepted, Some("")).await.unwrap(),
        "the decision replaces the drift record"
    );
    assert!(
        !store.put_record(&detected, Some("fp-1")).await.unwrap(),
        "…and is never replaced back"
    );
    let records = store.list_records(&check(), 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, CheckStatus::DriftAccepted);
    let active = store
        .active_acceptance(&check(), "fp-1", now.timestamp())
        .await
        .unwrap()
        .expect("accepted");
    assert_eq!(
        (active.by.id.as_str(), active.until.as_str()),
        ("U0ALICE", "2026-12-01")
    );
    let after = driftguard_core::history::end_of_day_epoch("2026-12-01").unwrap();
    assert!(
        store
            .active_acceptance(&check(), "fp-1", after)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .active_acceptance(&check(), "fp-2", now.timestamp())
            .await
            .unwrap()
            .is_none()
    );

    // Decision requests: the same contract as the in-memory store.
    let conversations = DynamoConversations::new(client, "history");
    let memory = InMemoryApprovals::new();
    let id = new_approval_id().unwrap();
    let request = ApprovalRequest {
        id: id.clone(),
        check: check(),
        execution_id: "exec-1".into(),
        thread: ThreadRef {
            channel: "C0DRIFT".into(),
            ts: "1.1".into(),
        },
        status: ApprovalStatus::Posted,
        deadline: None,
        task_token: None,
        decision: None,
    };
    let fix = ApprovalDecision {
        decision: DriftDecision::Fix,
        automatic: false,
        by: Some(SlackUser {
            id: "U0BOB".into(),
            name: "bob".into(),
        }),
        decided_at: None,
        reason: None,
        until: None,
    };
    let stores: [&dyn ApprovalStore; 2] = [&conversations, &memory];
    for approvals in stores {
        approvals.create(&request, 0).await.unwrap();
        approvals.create(&request, 0).await.unwrap();
        assert_eq!(
            approvals.store_token(&id, "token-1", 99).await.unwrap(),
            TokenStored::Waiting
        );
        let got = approvals.get(&id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.deadline, got.task_token.as_deref()),
            (ApprovalStatus::Waiting, Some(99), Some("token-1"))
        );
        match approvals.decide(&id, &fix, 5).await.unwrap() {
            DecisionRecorded::Decided { task_token } => {
                assert_eq!(task_token.as_deref(), Some("token-1"))
            }
            other => panic!("{other:?}"),
        }
        match approvals.decide(&id, &fix, 6).await.unwrap() {
            DecisionRecorded::AlreadyDecided(d) => assert_eq!(d.by.unwrap().id, "U0BOB"),
            other => panic!("second click: {other:?}"),
        }
        // A retried wait while decided: its token is the one in use, so a
        // failed delivery to the older token undoes and expires nothing.
        assert!(matches!(
            approvals.store_token(&id, "token-2", 99).await.unwrap(),
            TokenStored::AlreadyDecided(_)
        ));
        assert!(!approvals.undo_decision(&id, "token-1").await.unwrap());
        assert!(!approvals.expire(&id, Some("token-1")).await.unwrap());
        let got = approvals.get(&id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.task_token.as_deref()),
            (ApprovalStatus::Decided, Some("token-2"))
        );
        assert!(!approvals.expire(&id, None).await.unwrap(), "decided");
        assert!(approvals.undo_decision(&id, "token-2").await.unwrap());
        assert_eq!(
            approvals.get(&id).await.unwrap().unwrap().status,
            ApprovalStatus::Waiting
        );
        assert!(approvals.expire(&id, None).await.unwrap());
        assert!(matches!(
            approvals.decide(&id, &fix, 7).await.unwrap(),
            DecisionRecorded::Expired
        ));
        assert!(matches!(
            approvals.decide("0000", &fix, 7).await.unwrap(),
            DecisionRecorded::Unknown
        ));
    }
    // A click before the wait: the wait finds the decision.
    let early = new_approval_id().unwrap();
    conversations
        .create(
            &ApprovalRequest {
                id: early.clone(),
                ..request.clone()
            },
            0,
        )
        .await
        .unwrap();
    assert!(matches!(
        conversations.decide(&early, &fix, 1).await.unwrap(),
        DecisionRecorded::Decided { task_token: None }
    ));
    assert!(matches!(
        conversations
            .store_token(&early, "token-2", 9)
            .await
            .unwrap(),
        TokenStored::AlreadyDecided(_)
    ));
    // That wait ended before the decision reached it: expired, decision gone.
    assert!(conversations.expire(&early, Some("token-2")).await.unwrap());
    let gone = conversations.get(&early).await.unwrap().unwrap();
    assert_eq!(gone.status, ApprovalStatus::Expired);
    assert!(gone.decision.is_none());
    assert!(matches!(
        conversations.decide(&early, &fix, 2).await.unwrap(),
        DecisionRecorded::Expired
    ));
    let never_posted = new_approval_id().unwrap();
    assert!(!conversations.expire(&never_posted, None).await.unwrap());
    assert!(
        !conversations
            .expire(&never_posted, Some("token-9"))
            .await
            .unwrap()
    );
    assert!(
        conversations.get(&never_posted).await.unwrap().is_none(),
        "expire creates nothing"
    );

    // Threads: the newest alert is the open one until closed.
    let thread = |exec: &str| AlertThread {
        thread: ThreadRef {
            channel: "C0DRIFT".into(),
            ts: format!("{exec}.1"),
        },
        execution_id: format!("arn:aws:states:eu-west-1:1:execution:sm:{exec}"),
        fingerprint: "fp-1".into(),
        paths_fingerprint: "paths-1".into(),
        parent: serde_json::json!({"text": exec, "blocks": []}),
        approval_id: None,
    };
    conversations
        .save_thread(&check(), &thread("e1"), true, 0)
        .await
        .unwrap();
    conversations
        .save_thread(&check(), &thread("e2"), true, 0)
        .await
        .unwrap();
    // A message whose drift does not remain is kept, but is not the open thread.
    conversations
        .save_thread(&check(), &thread("e3"), false, 0)
        .await
        .unwrap();
    assert!(
        conversations
            .thread(&check(), "e3")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        conversations
            .open_thread(&check())
            .await
            .unwrap()
            .unwrap()
            .thread
            .ts,
        "e2.1"
    );
    conversations.close_thread(&check(), "e1").await.unwrap();
    assert!(
        conversations.open_thread(&check()).await.unwrap().is_some(),
        "e1 was not the open one"
    );
    conversations
        .set_parent(
            &check(),
            "arn:aws:states:eu-west-1:1:execution:sm:e2",
            &serde_json::json!({"text": "updated"}),
        )
        .await
        .unwrap();
    assert_eq!(
        conversations
            .thread(&check(), "e2")
            .await
            .unwrap()
            .unwrap()
            .parent["text"],
        "updated"
    );
    conversations.close_thread(&check(), "e2").await.unwrap();
    assert!(conversations.open_thread(&check()).await.unwrap().is_none());
}

/// What remediate notes about an execution's remediation run: asked for
/// (kept from the first time), created (never replaced by another run),
/// assessed safe (only the stored run).
async fn remediation_ledger_suite(ledger: &dyn driftguard_core::ports::RemediationLedger) {
    let exec = "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-9";
    assert_eq!(ledger.attempt(&check(), exec).await.unwrap(), None);
    assert!(
        !ledger.record_safe(&check(), exec, "run-1").await.unwrap(),
        "nothing stored: nothing is safe"
    );
    ledger.mark_requested(&check(), exec, 1_000).await.unwrap();
    ledger.mark_requested(&check(), exec, 2_000).await.unwrap();
    let noted = ledger.attempt(&check(), exec).await.unwrap().unwrap();
    assert_eq!((noted.requested_at, noted.run_id), (1_000, None));
    assert!(
        !ledger.record_safe(&check(), exec, "run-1").await.unwrap(),
        "no run stored yet"
    );
    assert!(ledger.set_run(&check(), exec, "run-1").await.unwrap());
    assert!(
        ledger.set_run(&check(), exec, "run-1").await.unwrap(),
        "idempotent"
    );
    assert!(
        !ledger.set_run(&check(), exec, "run-planted").await.unwrap(),
        "another run never replaces the stored one"
    );
    assert!(
        !ledger
            .record_safe(&check(), exec, "run-planted")
            .await
            .unwrap()
    );
    assert!(ledger.record_safe(&check(), exec, "run-1").await.unwrap());
    let noted = ledger.attempt(&check(), exec).await.unwrap().unwrap();
    assert_eq!(noted.run_id.as_deref(), Some("run-1"));
    assert_eq!(noted.safe_run_id.as_deref(), Some("run-1"));
    let other = CheckRef {
        workspace: "staging".into(),
        ..check()
    };
    assert_eq!(ledger.attempt(&other, exec).await.unwrap(), None);
}

#[tokio::test]
async fn remediation_attempts_in_memory_and_in_dynamodb() {
    remediation_ledger_suite(&driftguard_testkit::InMemoryRemediationLedger::new()).await;
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "history").await;
    remediation_ledger_suite(&driftguard_aws::DynamoRemediations::new(client, "history")).await;
}
