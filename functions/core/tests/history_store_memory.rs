//! The history-store behaviour suite against the in-memory store.

#[path = "support/history_store_suite.rs"]
mod history_store_suite;

use driftguard_core::history::InMemoryHistory;

#[tokio::test]
async fn the_in_memory_history_behaves_like_dynamodb() {
    history_store_suite::run_all(&InMemoryHistory::new()).await;
}
