//! Current tags in memory (feature `testing`): a test double, never in a Lambda.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use driftguard_core::error::Result;
use driftguard_core::model::{ResourceTags, TagQuery, Tags};
use driftguard_core::ports::TagLookup;

/// Tags by ARN in one account; every query it answered, in order.
#[derive(Debug, Default)]
pub struct InMemoryTags {
    account_id: String,
    tags: Mutex<BTreeMap<String, Tags>>,
    queries: Mutex<Vec<TagQuery>>,
}

impl InMemoryTags {
    pub fn new(account_id: &str) -> Self {
        Self {
            account_id: account_id.into(),
            ..Self::default()
        }
    }

    pub fn set(&self, arn: &str, tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.tags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(arn.into(), tags);
    }

    pub fn queries(&self) -> Vec<TagQuery> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl TagLookup for InMemoryTags {
    async fn current_tags(&self, query: &TagQuery) -> Result<ResourceTags> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(query.clone());
        if query.account_id != self.account_id {
            return Ok(ResourceTags::Unknown);
        }
        let tags = self.tags.lock().unwrap_or_else(|e| e.into_inner());
        Ok(ResourceTags::Known(
            query
                .arns
                .iter()
                .map(|arn| tags.get(arn).cloned().unwrap_or_default())
                .collect(),
        ))
    }
}
