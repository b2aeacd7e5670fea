//! Resource Groups Tagging API adapter of [`TagLookup`]: `GetResources` by ARN
//! in the change's region (the API is regional), cached briefly per container.
//!
//! `GetResources` answers only resources that have (or had) tags: an ARN it
//! does not return has none. It answers for this account only, so a change in
//! another account (an organization trail) has unknown tags, and it does not
//! support IAM users and roles (admission does not ask for those).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use driftguard_core::error::{Error, Result};
use driftguard_core::model::{ResourceTags, TagQuery, Tags};
use driftguard_core::ports::TagLookup;

/// How long a resource's tags are reused. Short: a retag is routed by its
/// own record (old and new keys), and the next change reads the new tags
/// once this has passed.
pub const TAG_CACHE_TTL: Duration = Duration::from_secs(15);
/// `GetResources` takes at most 100 ARNs per call.
const MAX_ARNS_PER_CALL: usize = 100;
/// Entries kept at most (oldest dropped first).
const MAX_CACHED: usize = 1_000;

/// Reads tags with the Tagging API, in the account the function runs in.
pub struct TaggingApiLookup {
    sdk: aws_config::SdkConfig,
    /// The account this function's credentials belong to.
    account_id: String,
    clients: Mutex<HashMap<String, Client>>,
    cache: Mutex<HashMap<String, (Instant, Tags)>>,
}

impl TaggingApiLookup {
    pub fn new(sdk: &aws_config::SdkConfig, account_id: impl Into<String>) -> Self {
        Self {
            sdk: sdk.clone(),
            account_id: account_id.into(),
            clients: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_resourcegroupstagging::config::Builder::from(&self.sdk)
                    .region(aws_config::Region::new(region.to_string()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    fn cached(&self, arn: &str) -> Option<Tags> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(arn)
            .filter(|(at, _)| at.elapsed() < TAG_CACHE_TTL)
            .map(|(_, tags)| tags.clone())
    }

    fn remember(&self, found: &[(String, Tags)]) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < TAG_CACHE_TTL);
        while cache.len() + found.len() > MAX_CACHED {
            let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(arn, _)| arn.clone())
            else {
                break;
            };
            cache.remove(&oldest);
        }
        let now = Instant::now();
        for (arn, tags) in found {
            cache.insert(arn.clone(), (now, tags.clone()));
        }
    }

    async fn fetch(&self, region: &str, arns: &[String]) -> Result<HashMap<String, Tags>> {
        let client = self.client(region);
        let mut found: HashMap<String, Tags> = HashMap::new();
        for chunk in arns.chunks(MAX_ARNS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = client
                    .get_resources()
                    .set_resource_arn_list(Some(chunk.to_vec()))
                    .set_pagination_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| tagging_error(region, e))?;
                for mapping in out.resource_tag_mapping_list() {
                    let Some(arn) = mapping.resource_arn() else {
                        continue;
                    };
                    let tags: Tags = mapping
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                    found.insert(arn.to_string(), tags);
                }
                token = out
                    .pagination_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }
}

fn tagging_error<E>(region: &str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("AccessDeniedException") | Some("AccessDenied") => Error::ConfigError(format!(
            "the Resource Groups Tagging API refused GetResources in {region} ({}): grant the admit-event role tag:GetResources (the Terraform module does), or remove the tag filters from the workspace routes",
            DisplayErrorContext(&e)
        )),
        _ => Error::AwsUnavailable(format!(
            "Resource Groups Tagging API GetResources in {region} failed: {}; the step is retried",
            DisplayErrorContext(&e)
        )),
    }
}

#[async_trait]
impl TagLookup for TaggingApiLookup {
    async fn current_tags(&self, query: &TagQuery) -> Result<ResourceTags> {
        if query.account_id != self.account_id || query.arns.is_empty() {
            return Ok(ResourceTags::Unknown);
        }
        let mut known: Vec<(String, Tags)> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for arn in &query.arns {
            match self.cached(arn) {
                Some(tags) => known.push((arn.clone(), tags)),
                None => missing.push(arn.clone()),
            }
        }
        if !missing.is_empty() {
            let found = self.fetch(&query.region, &missing).await?;
            // Not returned: the resource has no tags.
            let fetched: Vec<(String, Tags)> = missing
                .into_iter()
                .map(|arn| {
                    let tags = found.get(&arn).cloned().unwrap_or_default();
                    (arn, tags)
                })
                .collect();
            self.remember(&fetched);
            known.extend(fetched);
        }
        Ok(ResourceTags::Known(
            known.into_iter().map(|(_, tags)| tags).collect(),
        ))
    }
}
