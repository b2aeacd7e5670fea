//! The history-store behaviour suite against the in-memory store.

use driftguard_testkit::suites::history_store as history_store_suite;

use driftguard_testkit::InMemoryHistory;

#[tokio::test]
async fn the_in_memory_history_behaves_like_dynamodb() {
    history_store_suite::run_all(&InMemoryHistory::new()).await;
}
