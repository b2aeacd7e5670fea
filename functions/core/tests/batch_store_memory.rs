//! The batch-store behaviour suite against the in-memory store.

#[path = "support/batch_store_suite.rs"]
mod batch_store_suite;

use driftguard_core::coalesce::InMemoryBatchStore;

#[tokio::test]
async fn the_in_memory_store_behaves_like_dynamodb() {
    batch_store_suite::run_all(&InMemoryBatchStore::new()).await;
}
