//! Check history in memory (feature `testing`): test doubles, never in a Lambda.

use async_trait::async_trait;
use driftguard_core::ports::HistoryReader;
use driftguard_core::ports::{AcceptedDrift, AlertMarkers, CheckRecords, EpisodeStore};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[allow(unused_imports)]
use crate::prelude::*;
#[allow(unused_imports)]
use driftguard_core::history::*;
use driftguard_core::model::Warning;
#[allow(unused_imports)]
use driftguard_core::model::*;
#[allow(unused_imports)]
use driftguard_core::ports::*;

/// In-memory history (tests; feature `testing`). Behaves like the DynamoDB store,
/// item by item: `history_store_suite` runs the same checks against both.
#[derive(Default)]
pub struct InMemoryHistory {
    records: Mutex<BTreeMap<(String, String), HistoryRecord>>,
    /// `LATEST` by pk: the start time (key form) of the check that wrote it, and the fingerprint.
    fingerprints: Mutex<BTreeMap<String, (String, String)>>,
    notified: Mutex<BTreeMap<(String, String), i64>>,
    /// Episode items by (pk, sk), as the DynamoDB table holds them.
    episodes: Mutex<BTreeMap<(String, String), Episode>>,
    acceptances: Mutex<BTreeMap<(String, String), Acceptance>>,
}

impl InMemoryHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored record (tests).
    pub fn all(&self) -> Vec<HistoryRecord> {
        self.records
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl CheckRecords for InMemoryHistory {
    async fn put_check(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
        writes: &[EpisodeWrite],
    ) -> Result<bool> {
        transaction_items(record, latest_fingerprint, writes)?;
        // Every map under its lock at once: the check's items change together or not at all.
        let mut records = lock(&self.records);
        let mut fingerprints = lock(&self.fingerprints);
        let mut episodes = lock(&self.episodes);
        let key = (record.pk.clone(), record.sk.clone());
        if let Some(existing) = records.get(&key) {
            if !replaces(existing, record) {
                return Ok(false);
            }
        }
        let pk = &record.pk;
        let current = |sk: String| episodes.get(&(pk.clone(), sk));
        let holds = |episode: &Episode| {
            current(open_episode_key(&episode.address))
                .is_some_and(|e| e.episode_id == episode.episode_id)
        };
        let fits = writes.iter().all(|write| match write {
            EpisodeWrite::Open(e) => current(open_episode_key(&e.address)).is_none(),
            EpisodeWrite::Refresh(e) => holds(e),
            EpisodeWrite::Close(e) => holds(e) && current(resolved_key_of(e)).is_none(),
            EpisodeWrite::OpenResolved(e) => current(resolved_key_of(e)).is_none(),
        });
        if !fits {
            return Err(episodes_changed(&format!(
                "{}/{}",
                record.organization, record.workspace
            )));
        }
        for write in writes {
            match write {
                EpisodeWrite::Open(e) | EpisodeWrite::Refresh(e) => {
                    episodes.insert((pk.clone(), open_episode_key(&e.address)), e.clone());
                }
                EpisodeWrite::Close(e) => {
                    episodes.remove(&(pk.clone(), open_episode_key(&e.address)));
                    episodes.insert((pk.clone(), resolved_key_of(e)), e.clone());
                }
                EpisodeWrite::OpenResolved(e) => {
                    episodes.insert((pk.clone(), resolved_key_of(e)), e.clone());
                }
            }
        }
        records.insert(key, record.clone());
        // Only a check that started no earlier than the one that wrote it
        // replaces the workspace's fingerprint (a late outcome does not).
        let started = time_key(&record.started_at);
        if let Some(fingerprint) = latest_fingerprint
            && fingerprints
                .get(&record.pk)
                .is_none_or(|(at, _)| *at <= started)
        {
            fingerprints.insert(record.pk.clone(), (started, fingerprint.to_string()));
        }
        if let Some(acceptance) = accepted_by(record) {
            lock(&self.acceptances).insert(
                (record.pk.clone(), acceptance.fingerprint.clone()),
                acceptance.clone(),
            );
        }
        Ok(true)
    }

    async fn get_record(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
    ) -> Result<Option<HistoryRecord>> {
        let key = (partition_key(check), sort_key(started_at, execution_id));
        Ok(lock(&self.records).get(&key).cloned())
    }

    async fn list_records(&self, check: &CheckRef, limit: usize) -> Result<Vec<HistoryRecord>> {
        let pk = partition_key(check);
        let mut found: Vec<HistoryRecord> = lock(&self.records)
            .values()
            .filter(|r| r.pk == pk)
            .cloned()
            .collect();
        found.sort_by(|a, b| b.sk.cmp(&a.sk));
        found.truncate(limit);
        Ok(found)
    }

    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>> {
        Ok(lock(&self.fingerprints)
            .get(&partition_key(check))
            .map(|(_, fingerprint)| fingerprint.clone()))
    }

    async fn add_warning(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
        warning: &Warning,
    ) -> Result<bool> {
        let key = (partition_key(check), sort_key(started_at, execution_id));
        let mut records = lock(&self.records);
        match records.get_mut(&key) {
            Some(record) if !record.warnings.iter().any(|w| w.kind == warning.kind) => {
                record.warnings.push(warning.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl AlertMarkers for InMemoryHistory {
    async fn mark_notified(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<bool> {
        let key = (
            partition_key(check),
            execution_name(execution_id).to_string(),
        );
        let mut notified = lock(&self.notified);
        if notified.contains_key(&key) {
            return Ok(false);
        }
        notified.insert(key, now_epoch);
        Ok(true)
    }

    async fn was_notified(&self, check: &CheckRef, execution_id: &str) -> Result<bool> {
        let key = (
            partition_key(check),
            execution_name(execution_id).to_string(),
        );
        Ok(lock(&self.notified).contains_key(&key))
    }
}

#[async_trait]
impl EpisodeStore for InMemoryHistory {
    async fn open_episodes(&self, check: &CheckRef) -> Result<Vec<Episode>> {
        let pk = partition_key(check);
        Ok(lock(&self.episodes)
            .iter()
            .filter(|((p, sk), _)| *p == pk && sk.starts_with(OPEN_EPISODE_PREFIX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn resolved_episodes(&self, check: &CheckRef, since: &str) -> Result<Vec<Episode>> {
        let pk = partition_key(check);
        let from = format!("{RESOLVED_EPISODE_PREFIX}{}", time_key(since));
        let to = format!("{RESOLVED_EPISODE_PREFIX}{KEY_END}");
        Ok(lock(&self.episodes)
            .iter()
            .filter(|((p, sk), _)| *p == pk && *sk >= from && *sk <= to)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn first_check_since(&self, check: &CheckRef, since: &str) -> Result<Option<String>> {
        let pk = partition_key(check);
        let from = format!("{CHECK_PREFIX}{}", time_key(since));
        Ok(lock(&self.records)
            .iter()
            .filter(|((p, sk), _)| *p == pk && *sk >= from)
            .map(|(_, r)| r)
            .min_by(|a, b| a.sk.cmp(&b.sk))
            .map(|r| r.started_at.clone()))
    }
}

#[async_trait]
impl AcceptedDrift for InMemoryHistory {
    async fn active_acceptance(
        &self,
        check: &CheckRef,
        fingerprint: &str,
        now_epoch: i64,
    ) -> Result<Option<Acceptance>> {
        let key = (partition_key(check), fingerprint.to_string());
        Ok(lock(&self.acceptances)
            .get(&key)
            .filter(|a| a.is_active(now_epoch))
            .cloned())
    }
}

#[async_trait]
impl HistoryReader for InMemoryHistory {
    async fn records_since(
        &self,
        check: &CheckRef,
        since: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>> {
        let pk = partition_key(check);
        let from = format!("{CHECK_PREFIX}{}", time_key(since));
        let mut found: Vec<HistoryRecord> = lock(&self.records)
            .values()
            .filter(|r| r.pk == pk && r.sk >= from)
            .cloned()
            .collect();
        found.sort_by(|a, b| b.sk.cmp(&a.sk));
        found.truncate(limit);
        Ok(found)
    }

    async fn workspaces(&self) -> Result<Vec<CheckRef>> {
        Ok(lock(&self.fingerprints)
            .keys()
            .filter_map(|pk| check_of_partition_key(pk))
            .collect())
    }
}

impl InMemoryHistory {
    /// Moves an acceptance's end to `until_epoch` (tests: time passes).
    pub fn set_acceptance_end(&self, check: &CheckRef, fingerprint: &str, until_epoch: i64) {
        if let Some(a) =
            lock(&self.acceptances).get_mut(&(partition_key(check), fingerprint.into()))
        {
            a.until_epoch = until_epoch;
        }
    }
}
