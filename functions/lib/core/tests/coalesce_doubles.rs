//! Tests of `driftguard_core::coalesce` with the in-memory doubles (moved from the module, which cannot use the testkit).
use driftguard_core::coalesce::*;
use driftguard_core::model::MAX_CHANGES_IN_STATE;
use driftguard_core::model::{Admission, Change, CheckRef, Decision, JoinedBatch};
use driftguard_core::ports::BatchStore;
use driftguard_core::ports::ClosedBatch;
#[allow(unused_imports)]
use driftguard_testkit::*;

const WINDOW: i64 = 180;

fn check(workspace: &str) -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: workspace.into(),
    }
}

fn change(n: usize) -> Change {
    Change {
        event_id: format!("event-{n}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2025-05-06T09:12:44Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "111122223333".into(),
        resources: vec![format!("sg-{n}")],
        ..Change::default()
    }
}

async fn admit(store: &InMemoryBatchStore, n: usize, checks: Vec<CheckRef>, now: i64) -> Admission {
    let execution = format!("exec-{n}");
    coalesce(
        store,
        &execution,
        change(n),
        checks,
        "Alice changed a group.".into(),
        now,
        WINDOW,
    )
    .await
    .expect("in-memory store does not fail")
}

#[tokio::test]
async fn a_burst_becomes_one_owner_and_joiners() {
    let store = InMemoryBatchStore::new();
    let prod = check("prod");
    let mut admissions = Vec::new();
    for n in 0..20 {
        admissions.push(admit(&store, n, vec![prod.clone()], 1_000 + n as i64).await);
    }

    assert_eq!(admissions[0].decision, Decision::Admit);
    assert_eq!(admissions[0].checks, vec![prod.clone()]);
    assert!(admissions[0].joined.is_empty());
    for joiner in &admissions[1..] {
        assert_eq!(joiner.decision, Decision::Coalesce);
        assert!(joiner.checks.is_empty());
        assert_eq!(
            joiner.joined,
            vec![JoinedBatch {
                check: prod.clone(),
                owner_execution_id: "exec-0".into()
            }]
        );
        assert_eq!(
            joiner.reason,
            "Alice changed a group. Joined the open batch of execution exec-0 for acme/prod; that execution plans for this change too."
        );
    }

    let closed = store.close(&prod, "exec-0", 1_100).await.unwrap();
    assert_eq!(closed.changes.len(), 20);
    assert_eq!(closed.omitted, 0);
    assert_eq!(closed.changes[19].event_id, "event-19");
}

#[tokio::test]
async fn a_batch_beyond_capacity_counts_what_it_leaves_out() {
    let store = InMemoryBatchStore::new();
    let prod = check("prod");
    for n in 0..MAX_CHANGES_IN_STATE + 5 {
        admit(&store, n, vec![prod.clone()], 1_000).await;
    }
    let closed = store.close(&prod, "exec-0", 1_100).await.unwrap();
    assert_eq!(closed.changes.len(), MAX_CHANGES_IN_STATE);
    assert_eq!(closed.omitted, 5);
}

#[tokio::test]
async fn close_is_idempotent_and_the_next_change_opens_a_new_batch() {
    let store = InMemoryBatchStore::new();
    let prod = check("prod");
    admit(&store, 0, vec![prod.clone()], 1_000).await;
    admit(&store, 1, vec![prod.clone()], 1_010).await;

    let first = store.close(&prod, "exec-0", 1_100).await.unwrap();
    let second = store.close(&prod, "exec-0", 1_200).await.unwrap();
    assert!(first.closed_now && !second.closed_now);
    assert_eq!(first.changes, second.changes);
    assert_eq!(first.changes.len(), 2);
    let first = ClosedBatch {
        closed_now: false,
        ..first
    };

    let after = admit(&store, 2, vec![prod.clone()], 1_101).await;
    assert_eq!(after.decision, Decision::Admit);
    let next = store.close(&prod, "exec-2", 1_300).await.unwrap();
    assert_eq!(
        next.changes
            .iter()
            .map(|c| c.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["event-2"]
    );
    // The first owner's batch is untouched by the new one.
    assert_eq!(store.close(&prod, "exec-0", 1_400).await.unwrap(), first);
}

#[tokio::test]
async fn a_stale_batch_is_not_joined() {
    let store = InMemoryBatchStore::new();
    let prod = check("prod");
    admit(&store, 0, vec![prod.clone()], 1_000).await;
    let late = admit(&store, 1, vec![prod.clone()], 1_000 + WINDOW + 1).await;
    assert_eq!(late.decision, Decision::Admit);
    assert_eq!(late.checks, vec![prod.clone()]);

    // Each owner still gets exactly its own batch.
    assert_eq!(
        store.close(&prod, "exec-0", 2_000).await.unwrap().changes[0].event_id,
        "event-0"
    );
    assert_eq!(
        store.close(&prod, "exec-1", 2_000).await.unwrap().changes[0].event_id,
        "event-1"
    );
}

#[tokio::test]
async fn workspaces_batch_independently() {
    let store = InMemoryBatchStore::new();
    let (prod, network) = (check("prod"), check("network"));
    admit(&store, 0, vec![prod.clone()], 1_000).await;
    let both = admit(&store, 1, vec![prod.clone(), network.clone()], 1_001).await;
    assert_eq!(both.decision, Decision::Admit);
    assert_eq!(both.checks, vec![network.clone()]);
    assert_eq!(
        both.joined,
        vec![JoinedBatch {
            check: prod.clone(),
            owner_execution_id: "exec-0".into()
        }]
    );
    assert!(
        both.reason.contains("opened the batch for acme/network"),
        "{}",
        both.reason
    );

    assert_eq!(
        store
            .close(&prod, "exec-0", 1_100)
            .await
            .unwrap()
            .changes
            .len(),
        2
    );
    assert_eq!(
        store
            .close(&network, "exec-1", 1_100)
            .await
            .unwrap()
            .changes
            .len(),
        1
    );
}

#[tokio::test]
async fn a_retried_admission_stays_owner_without_duplicating_its_change() {
    let store = InMemoryBatchStore::new();
    let prod = check("prod");
    admit(&store, 0, vec![prod.clone()], 1_000).await;
    let retry = admit(&store, 0, vec![prod.clone()], 1_005).await;
    assert_eq!(retry.decision, Decision::Admit);
    assert_eq!(
        store
            .close(&prod, "exec-0", 1_100)
            .await
            .unwrap()
            .changes
            .len(),
        1
    );
}

#[tokio::test]
async fn closing_without_a_batch_gives_an_empty_one() {
    let store = InMemoryBatchStore::new();
    let closed = store.close(&check("prod"), "exec-9", 1_000).await.unwrap();
    assert!(closed.changes.is_empty());
    assert_eq!(closed.omitted, 0);
}

#[tokio::test]
async fn no_checks_is_ignore() {
    let store = InMemoryBatchStore::new();
    let admission = admit(&store, 0, vec![], 1_000).await;
    assert_eq!(admission.decision, Decision::Ignore);
}
