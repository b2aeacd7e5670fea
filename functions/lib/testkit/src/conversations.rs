//! Slack threads in memory (feature `testing`): test doubles, never in a Lambda.

use async_trait::async_trait;
use driftguard_core::history::partition_key;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[allow(unused_imports)]
use crate::prelude::*;
#[allow(unused_imports)]
use driftguard_core::alerting::threads::*;
#[allow(unused_imports)]
use driftguard_core::model::*;
#[allow(unused_imports)]
use driftguard_core::ports::*;

/// Threads in memory (tests; feature `testing`).
#[derive(Default)]
pub struct InMemoryConversations {
    threads: Mutex<BTreeMap<(String, String), AlertThread>>,
    open: Mutex<BTreeMap<String, String>>,
}

impl InMemoryConversations {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl ConversationStore for InMemoryConversations {
    async fn save_thread(
        &self,
        check: &CheckRef,
        thread: &AlertThread,
        open: bool,
        _now: i64,
    ) -> Result<()> {
        let pk = partition_key(check);
        let name = driftguard_core::history::execution_name(&thread.execution_id).to_string();
        lock(&self.threads).insert((pk.clone(), name.clone()), thread.clone());
        if open {
            lock(&self.open).insert(pk, name);
        }
        Ok(())
    }

    async fn thread(&self, check: &CheckRef, execution_id: &str) -> Result<Option<AlertThread>> {
        let key = (
            partition_key(check),
            driftguard_core::history::execution_name(execution_id).to_string(),
        );
        Ok(lock(&self.threads).get(&key).cloned())
    }

    async fn open_thread(&self, check: &CheckRef) -> Result<Option<AlertThread>> {
        let pk = partition_key(check);
        let Some(name) = lock(&self.open).get(&pk).cloned() else {
            return Ok(None);
        };
        Ok(lock(&self.threads).get(&(pk, name)).cloned())
    }

    async fn set_parent(&self, check: &CheckRef, execution_id: &str, parent: &Value) -> Result<()> {
        let key = (
            partition_key(check),
            driftguard_core::history::execution_name(execution_id).to_string(),
        );
        if let Some(t) = lock(&self.threads).get_mut(&key) {
            t.parent = parent.clone();
        }
        Ok(())
    }

    async fn close_thread(&self, check: &CheckRef, execution_id: &str) -> Result<()> {
        let pk = partition_key(check);
        let mut open = lock(&self.open);
        if open.get(&pk).map(String::as_str)
            == Some(driftguard_core::history::execution_name(execution_id))
        {
            open.remove(&pk);
        }
        Ok(())
    }
}
