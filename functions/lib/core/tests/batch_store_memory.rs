//! The batch-store behaviour suite against the in-memory store.

use driftguard_testkit::suites::batch_store as batch_store_suite;

use driftguard_testkit::InMemoryBatchStore;

#[tokio::test]
async fn the_in_memory_store_behaves_like_dynamodb() {
    batch_store_suite::run_all(&InMemoryBatchStore::new()).await;
}
