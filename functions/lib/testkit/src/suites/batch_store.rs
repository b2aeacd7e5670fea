//! One behaviour for every [`BatchStore`]: the same cases run against the
//! in-memory store (tests/batch_store_memory.rs) and the DynamoDB store on
//! moto (tests/dynamodb_moto.rs), so the double cannot be kinder than the
//! real thing. Each case uses its own workspace, so one store serves them all.

use driftguard_core::model::{Change, CheckRef, MAX_CHANGES_IN_STATE};
use driftguard_core::ports::{BatchJoin, BatchStore, ClosedBatch};

const WINDOW: i64 = 180;
const T0: i64 = 1_800_000_000;

fn workspace(name: &str) -> CheckRef {
    CheckRef {
        organization: "suite".into(),
        workspace: name.into(),
    }
}

fn change(n: usize) -> Change {
    Change {
        event_id: format!("event-{n}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2026-11-22T10:00:00Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        resources: vec![format!("sg-{n}")],
        ..Change::default()
    }
}

fn content(batch: &ClosedBatch) -> (Vec<&str>, usize) {
    (ids(batch), batch.omitted)
}

fn ids(batch: &ClosedBatch) -> Vec<&str> {
    batch.changes.iter().map(|c| c.event_id.as_str()).collect()
}

async fn open(store: &dyn BatchStore, ws: &CheckRef, exec: &str, n: usize, now: i64) -> BatchJoin {
    store
        .open_or_join(ws, exec, &change(n), now, WINDOW)
        .await
        .expect("open_or_join")
}

fn joined(owner: &str) -> BatchJoin {
    BatchJoin::Joined {
        owner_execution_id: owner.into(),
    }
}

/// Runs every case.
pub async fn run_all(store: &dyn BatchStore) {
    a_burst_has_one_owner_and_counts_every_change(store).await;
    close_is_idempotent_and_the_next_change_opens_a_new_batch(store).await;
    a_stale_batch_is_taken_over_and_its_changes_stay_with_its_owner(store).await;
    closing_a_batch_one_does_not_own_changes_nothing(store).await;
    workspaces_batch_independently(store).await;
    a_requested_run_is_remembered_by_the_next_close(store).await;
}

async fn a_requested_run_is_remembered_by_the_next_close(store: &dyn BatchStore) {
    let ws = workspace("requested");
    open(store, &ws, "owner", 0, T0).await;
    let closed = store.close(&ws, "owner", T0 + 60).await.unwrap();
    assert!(closed.closed_now && !closed.run_requested);
    let retried = store.close(&ws, "owner", T0 + 61).await.unwrap();
    assert!(
        !retried.closed_now && !retried.run_requested,
        "closed, but no run asked for yet"
    );
    store
        .mark_run_requested(&ws, "owner", T0 + 62)
        .await
        .unwrap();
    store
        .mark_run_requested(&ws, "owner", T0 + 63)
        .await
        .unwrap();
    let after = store.close(&ws, "owner", T0 + 64).await.unwrap();
    assert!(after.run_requested, "the run may exist now");
    assert_eq!(content(&after), content(&closed), "the changes are kept");

    // An execution that owns no batch (a lost or taken-over one) too.
    let stranger = store.close(&ws, "stranger", T0 + 70).await.unwrap();
    assert!(!stranger.closed_now && !stranger.run_requested);
    store
        .mark_run_requested(&ws, "stranger", T0 + 71)
        .await
        .unwrap();
    let stranger = store.close(&ws, "stranger", T0 + 72).await.unwrap();
    assert!(stranger.run_requested && stranger.changes.is_empty());
}

async fn a_burst_has_one_owner_and_counts_every_change(store: &dyn BatchStore) {
    let ws = workspace("burst");
    assert_eq!(open(store, &ws, "owner", 0, T0).await, BatchJoin::Opened);
    assert_eq!(
        open(store, &ws, "owner", 0, T0 + 1).await,
        BatchJoin::Opened,
        "a retried admit of the owner stays the owner"
    );
    for n in 1..MAX_CHANGES_IN_STATE + 10 {
        assert_eq!(
            open(store, &ws, &format!("exec-{n}"), n, T0 + 2).await,
            joined("owner")
        );
    }
    assert_eq!(
        open(store, &ws, "exec-1", 1, T0 + 3).await,
        joined("owner"),
        "a retried join is still joined"
    );
    let closed = store.close(&ws, "owner", T0 + 60).await.unwrap();
    assert_eq!(closed.changes.len(), MAX_CHANGES_IN_STATE);
    assert_eq!(
        closed.changes.len() + closed.omitted,
        MAX_CHANGES_IN_STATE + 10,
        "every change counted once, kept or omitted"
    );
    assert_eq!(closed.changes[0].event_id, "event-0");
}

async fn close_is_idempotent_and_the_next_change_opens_a_new_batch(store: &dyn BatchStore) {
    let ws = workspace("close");
    open(store, &ws, "first", 0, T0).await;
    open(store, &ws, "joiner", 1, T0 + 5).await;
    let closed = store.close(&ws, "first", T0 + 60).await.unwrap();
    assert_eq!(ids(&closed), ["event-0", "event-1"]);
    assert!(closed.closed_now, "the first close closes the open batch");
    let again = store.close(&ws, "first", T0 + 61).await.unwrap();
    assert!(
        !again.closed_now,
        "a second close says an earlier attempt closed it"
    );
    assert_eq!(content(&again), content(&closed), "close is idempotent");

    assert_eq!(
        open(store, &ws, "second", 2, T0 + 62).await,
        BatchJoin::Opened,
        "a change after the close opens a new batch, inside the old window too"
    );
    assert_eq!(
        open(store, &ws, "late-joiner", 3, T0 + 63).await,
        joined("second")
    );
    assert_eq!(
        ids(&store.close(&ws, "second", T0 + 120).await.unwrap()),
        ["event-2", "event-3"]
    );
    assert_eq!(
        content(&store.close(&ws, "first", T0 + 200).await.unwrap()),
        content(&closed),
        "the first owner's batch is untouched by the next one"
    );
}

async fn a_stale_batch_is_taken_over_and_its_changes_stay_with_its_owner(store: &dyn BatchStore) {
    let ws = workspace("stale");
    open(store, &ws, "slow-owner", 0, T0).await;
    assert_eq!(
        open(store, &ws, "joiner", 1, T0 + 10).await,
        joined("slow-owner")
    );
    // The owner is slow (a storm of rate-limited retries): its batch goes stale.
    assert_eq!(
        open(store, &ws, "newcomer", 2, T0 + WINDOW + 20).await,
        BatchJoin::Opened,
        "a stale batch is not joined"
    );
    assert_eq!(
        open(store, &ws, "joins-new", 3, T0 + WINDOW + 21).await,
        joined("newcomer")
    );
    assert_eq!(
        ids(&store
            .close(&ws, "slow-owner", T0 + WINDOW + 30)
            .await
            .unwrap()),
        ["event-0", "event-1"],
        "the slow owner still plans for the change that joined it"
    );
    assert_eq!(
        ids(&store
            .close(&ws, "newcomer", T0 + WINDOW + 40)
            .await
            .unwrap()),
        ["event-2", "event-3"]
    );
}

async fn closing_a_batch_one_does_not_own_changes_nothing(store: &dyn BatchStore) {
    let ws = workspace("not-mine");
    let empty = store.close(&ws, "nobody", T0).await.unwrap();
    assert!(empty.changes.is_empty() && empty.omitted == 0);

    open(store, &ws, "owner", 0, T0).await;
    let other = store.close(&ws, "bystander", T0 + 1).await.unwrap();
    assert!(other.changes.is_empty());
    assert_eq!(open(store, &ws, "joiner", 1, T0 + 2).await, joined("owner"));
    assert_eq!(
        ids(&store.close(&ws, "owner", T0 + 60).await.unwrap()),
        ["event-0", "event-1"]
    );
}

async fn workspaces_batch_independently(store: &dyn BatchStore) {
    let (prod, network) = (workspace("prod"), workspace("network"));
    assert_eq!(open(store, &prod, "a", 0, T0).await, BatchJoin::Opened);
    assert_eq!(open(store, &network, "b", 1, T0).await, BatchJoin::Opened);
    assert_eq!(open(store, &prod, "b", 1, T0 + 1).await, joined("a"));
    assert_eq!(
        ids(&store.close(&prod, "a", T0 + 60).await.unwrap()),
        ["event-0", "event-1"]
    );
    assert_eq!(
        ids(&store.close(&network, "b", T0 + 60).await.unwrap()),
        ["event-1"]
    );
}
