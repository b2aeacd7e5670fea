//! DynamoDB implementations of the history and batch ports, in one table
//! (`pk` = `WS#org/workspace`):
//!
//! | sk | item |
//! |---|---|
//! | `CHECK#<time>#<execution>` | a history record (TTL `expires_at`) |
//! | `LATEST` | the workspace's last drift fingerprint (written in one transaction with the record, only by a check that started no earlier than the one that wrote it: `started_key`) |
//! | `EPISODE#OPEN#<address>` | the resource's open drift episode (TTL `expires_at`, moved by every check that sees it) |
//! | `EPISODE#RESOLVED#<time>#<address>` | a resolved drift episode, by resolution time (TTL `expires_at`) |
//! | `NOTIFIED#<execution>` | the alert of that execution was sent |
//! | `BATCH#OPEN` | the open coalescing batch |
//! | `BATCH#CLOSED#<execution>` | a closed batch, kept so a retried create step gets the same changes |
//! | `ACCEPTED#<fingerprint>` | an accepted drift: by whom, why, until when (written in one transaction with its `DriftAccepted` record) |
//! | `THREAD#<execution>` | the Slack app thread of that execution's drift alert (channel, ts, latest parent message) |
//! | `THREAD#OPEN` | the workspace's unresolved drift thread (a later clean check replies there) |
//!
//! A check's record, fingerprint, episode changes and accepted drift are one
//! transaction (at most 100 items: see [`driftguard_core::episodes`]). Times in sort keys
//! are UTC to the second, so keys sort by time.
//!
//! Two more kinds of items have their own partitions:
//! - the HCP Terraform request pacer, `pk` = `PACE#<host>…` (see [`super::pacer`]);
//! - decision requests, `pk` = `APPROVAL#<id>`, `sk` = `APPROVAL`: the opaque
//!   id of a drift alert's buttons → the waiting task's token, deadline and
//!   decision (see [`super::conversations`] and [`driftguard_core::approval::partition_key`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde_json::json;

use super::item::{from_attribute, from_item, to_attribute, to_item};
use driftguard_core::episodes::{Episode, EpisodeWrite};
use driftguard_core::error::{Error, Result};
use driftguard_core::history::{
    CHECK_PREFIX, HistoryRecord, KEY_END, OPEN_EPISODE_PREFIX, RESOLVED_EPISODE_PREFIX,
    accepted_by, check_of_partition_key, episodes_changed, execution_name, failure_after_decision,
    open_episode_key, partition_key, resolved_key_of, sort_key, time_key, transaction_items,
};
use driftguard_core::model::{
    Acceptance, Change, CheckRef, CheckStatus, MAX_CHANGES_IN_STATE, Warning,
};
use driftguard_core::ports::{
    AcceptedDrift, AlertMarkers, BatchJoin, BatchStore, CheckRecords, ClosedBatch, EpisodeStore,
    HistoryReader,
};

const OPEN_BATCH: &str = "BATCH#OPEN";
/// Markers and closed batches only matter for retries and redrives.
const SHORT_LIVED_SECONDS: i64 = 14 * 86_400;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// True when the error is DynamoDB refusing a conditional write.
pub(super) fn is_condition_failed<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| {
            c == "ConditionalCheckFailedException" || c == "TransactionCanceledException"
        })
}

pub(super) fn aws_error<E>(table: &str, operation: &str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("ResourceNotFoundException") => {
            return Error::ConfigError(format!(
                "DynamoDB table '{table}' does not exist; check DRIFTGUARD_HISTORY_TABLE and that the Terraform module was applied"
            ));
        }
        // The request itself is wrong (too many transaction items, an item
        // too large, a bad expression): the same request is refused again, so
        // it is not retried as a passing outage.
        Some("ValidationException") => {
            let message = e
                .as_service_error()
                .and_then(|s| s.message())
                .unwrap_or("no message");
            return Error::InvalidInput(format!(
                "DynamoDB refused {operation} on '{table}' as invalid ({message}); retrying sends the same request, so this is a DriftGuard bug to report"
            ));
        }
        _ => {}
    }
    Error::AwsUnavailable(format!(
        "DynamoDB {operation} on '{table}' failed: {}",
        DisplayErrorContext(&e)
    ))
}

/// Sort key of an accepted drift.
fn accepted_key(fingerprint: &str) -> String {
    format!("ACCEPTED#{fingerprint}")
}

pub(super) fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// History records in DynamoDB.
#[derive(Clone)]
pub struct DynamoHistory {
    client: Client,
    table: String,
}

impl DynamoHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    pub(super) async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error(&self.table, "GetItem", e))?;
        Ok(out.item().cloned())
    }

    /// Items of a workspace whose sort key is in `[from, to]`, in key order
    /// (reversed when `newest_first`), at most `limit`.
    async fn query_range(
        &self,
        pk: &str,
        from: &str,
        to: &str,
        newest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .scan_index_forward(!newest_first)
                .set_limit(limit.map(|l| l.clamp(1, 1000) as i32))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error(&self.table, "Query", e))?;
            items.extend(out.items().iter().cloned());
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        if let Some(l) = limit {
            items.truncate(l);
        }
        Ok(items)
    }

    async fn query_records(
        &self,
        check: &CheckRef,
        since: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<HistoryRecord>> {
        let from = format!("{CHECK_PREFIX}{}", since.map(time_key).unwrap_or_default());
        let to = format!("{CHECK_PREFIX}{KEY_END}");
        let items = self
            .query_range(&partition_key(check), &from, &to, true, limit)
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| parse(item, "history record"))
            .collect())
    }

    async fn query_episodes(&self, check: &CheckRef, from: &str, to: &str) -> Result<Vec<Episode>> {
        let items = self
            .query_range(&partition_key(check), from, to, false, None)
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| parse(item, "drift episode"))
            .collect())
    }
}

/// An item as `T`, or `None` (with a warning) when it does not parse.
fn parse<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
    what: &str,
) -> Option<T> {
    match serde_json::from_value::<T>(from_item(item)) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(error = %e, what, "skipping an item that does not parse");
            None
        }
    }
}

/// The code of each cancelled item of a cancelled transaction (`None` for
/// items that were fine), when the error is a transaction cancellation.
fn cancellation_codes(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_string())
                .collect(),
        ),
        _ => None,
    }
}

fn build<T, E: std::fmt::Display>(what: &str, built: std::result::Result<T, E>) -> Result<T> {
    built.map_err(|e| Error::InvalidInput(format!("building the DynamoDB {what}: {e}")))
}

/// A condition expression with the names and values it uses.
struct Condition {
    expression: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Condition {
    fn new(expression: &'static str) -> Self {
        Self {
            expression,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }
}

fn put_item(
    table: &str,
    item: HashMap<String, AttributeValue>,
    condition: Option<Condition>,
) -> Result<TransactWriteItem> {
    let mut put = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        put = put
            .condition_expression(c.expression)
            .set_expression_attribute_names((!c.names.is_empty()).then_some(c.names))
            .set_expression_attribute_values((!c.values.is_empty()).then_some(c.values));
    }
    Ok(TransactWriteItem::builder()
        .put(build("put", put.build())?)
        .build())
}

/// The item a record is stored as: the record, plus plain attributes for
/// console filtering and the conditional writes.
fn record_item(record: &HistoryRecord) -> Result<HashMap<String, AttributeValue>> {
    let mut value = serde_json::to_value(record).map_err(|e| Error::InvalidInput(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "execution_name".into(),
            json!(execution_name(&record.execution_id)),
        );
        map.insert(
            "drifted_resources".into(),
            json!(record.drift.as_ref().map(|d| d.resource_count).unwrap_or(0)),
        );
        map.insert("redrive_count".into(), json!(record.redrive_count()));
    }
    to_item(&value)
}

/// The condition under which `record` may be written (see [`driftguard_core::history::replaces`]).
fn record_condition(record: &HistoryRecord) -> Condition {
    let failed = s(CheckStatus::CheckFailed.as_str());
    if failure_after_decision(record) {
        // A failure after a person decided also replaces the DriftDetected
        // record written before the alert (it is merged into it).
        Condition::new(
            "attribute_not_exists(pk) OR #status = :detected OR (#status = :failed AND (attribute_not_exists(redrive_count) OR redrive_count < :redrives))",
        )
        .value(":redrives", n(i64::from(record.redrive_count())))
        .value(":detected", s(CheckStatus::DriftDetected.as_str()))
    } else if record.status == CheckStatus::CheckFailed {
        // A later redrive's failure replaces an earlier failure, never an outcome.
        Condition::new(
            "attribute_not_exists(pk) OR (#status = :failed AND (attribute_not_exists(redrive_count) OR redrive_count < :redrives))",
        )
        .value(":redrives", n(i64::from(record.redrive_count())))
    } else if record.status.follows_decision() {
        // In approval mode the outcome after the decision replaces the
        // DriftDetected record written before the alert.
        Condition::new("attribute_not_exists(pk) OR #status = :failed OR #status = :detected")
            .value(":detected", s(CheckStatus::DriftDetected.as_str()))
    } else {
        // The real outcome of a redriven execution replaces its CheckFailed record.
        Condition::new("attribute_not_exists(pk) OR #status = :failed")
    }
    .name("#status", "status")
    .value(":failed", failed)
}

/// The item an episode is stored as under `sk`.
fn episode_item(pk: &str, sk: &str, episode: &Episode) -> Result<HashMap<String, AttributeValue>> {
    let value = serde_json::to_value(episode).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut item = to_item(&value)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    Ok(item)
}

/// "The open item of this resource is still `episode`."
fn still_open(episode: &Episode) -> Condition {
    Condition::new("episode_id = :episode").value(":episode", s(&episode.episode_id))
}

fn absent() -> Option<Condition> {
    Some(Condition::new("attribute_not_exists(pk)"))
}

/// The transaction items of one episode write.
fn episode_items(table: &str, pk: &str, write: &EpisodeWrite) -> Result<Vec<TransactWriteItem>> {
    Ok(match write {
        EpisodeWrite::Open(e) => vec![put_item(
            table,
            episode_item(pk, &open_episode_key(&e.address), e)?,
            absent(),
        )?],
        EpisodeWrite::Refresh(e) => vec![put_item(
            table,
            episode_item(pk, &open_episode_key(&e.address), e)?,
            Some(still_open(e)),
        )?],
        EpisodeWrite::Close(e) => {
            let condition = still_open(e);
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key(pk, &open_episode_key(&e.address))))
                .condition_expression(condition.expression)
                .set_expression_attribute_values(Some(condition.values))
                .build();
            vec![
                TransactWriteItem::builder()
                    .delete(build("delete", delete)?)
                    .build(),
                put_item(table, episode_item(pk, &resolved_key_of(e), e)?, absent())?,
            ]
        }
        EpisodeWrite::OpenResolved(e) => vec![put_item(
            table,
            episode_item(pk, &resolved_key_of(e), e)?,
            absent(),
        )?],
    })
}

/// The item of an accepted drift: until its last day ends (and TTL some days later).
fn acceptance_item(
    pk: &str,
    acceptance: &Acceptance,
    expires_at: i64,
) -> Result<HashMap<String, AttributeValue>> {
    let value = serde_json::to_value(acceptance).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut item = key(pk, &accepted_key(&acceptance.fingerprint));
    item.insert("acceptance".into(), to_attribute(&value));
    item.insert("until_epoch".into(), n(acceptance.until_epoch));
    item.insert(
        "expires_at".into(),
        n(expires_at.max(acceptance.until_epoch)),
    );
    Ok(item)
}

/// The cancellation code of a transaction's item `i`.
fn code_at(codes: &[String], i: usize) -> Option<&str> {
    codes.get(i).map(String::as_str)
}

/// A check's transaction was refused only because the workspace's
/// fingerprint (`LATEST`) was written by a check that started later.
struct LatestIsNewer;

impl DynamoHistory {
    /// The check's one transaction: the record, the workspace's fingerprint
    /// (only when no later-started check wrote it: condition on `started_key`),
    /// the episode writes and the acceptance.
    async fn transact_check(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
        episodes: &[EpisodeWrite],
    ) -> std::result::Result<Result<bool>, LatestIsNewer> {
        let built = (|| -> Result<(Vec<TransactWriteItem>, Option<usize>)> {
            let mut items = vec![put_item(
                &self.table,
                record_item(record)?,
                Some(record_condition(record)),
            )?];
            let mut latest_at = None;
            if let Some(fingerprint) = latest_fingerprint {
                let started = time_key(&record.started_at);
                let mut latest = key(&record.pk, "LATEST");
                latest.insert("fingerprint".into(), s(fingerprint));
                latest.insert("execution_id".into(), s(&record.execution_id));
                latest.insert("updated_at".into(), s(&record.recorded_at));
                latest.insert("started_key".into(), s(&started));
                latest_at = Some(items.len());
                items.push(put_item(
                    &self.table,
                    latest,
                    Some(
                        Condition::new(
                            "attribute_not_exists(started_key) OR started_key <= :started",
                        )
                        .value(":started", s(started)),
                    ),
                )?);
            }

            for write in episodes {
                items.extend(episode_items(&self.table, &record.pk, write)?);
            }
            if let Some(acceptance) = accepted_by(record) {
                items.push(put_item(
                    &self.table,
                    acceptance_item(&record.pk, acceptance, record.expires_at)?,
                    None,
                )?);
            }
            Ok((items, latest_at))
        })();
        let (items, latest_at) = match built {
            Ok(built) => built,
            Err(e) => return Ok(Err(e)),
        };
        // One transaction: a failure in between can never leave a record
        // without its fingerprint (which would later suppress a real alert)
        // or its episodes.
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        Ok(match result {
            Ok(_) => Ok(true),
            Err(e) => match cancellation_codes(&e) {
                Some(codes) if code_at(&codes, 0) == Some("ConditionalCheckFailed") => Ok(false),
                // Only the fingerprint's condition failed: a newer check wrote it.
                Some(codes)
                    if latest_at
                        .is_some_and(|i| code_at(&codes, i) == Some("ConditionalCheckFailed"))
                        && codes
                            .iter()
                            .enumerate()
                            .all(|(i, c)| Some(i) == latest_at || c == "None" || c.is_empty()) =>
                {
                    return Err(LatestIsNewer);
                }
                Some(codes)
                    if codes
                        .iter()
                        .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict") =>
                {
                    Err(episodes_changed(&format!(
                        "{}/{}",
                        record.organization, record.workspace
                    )))
                }
                _ => Err(aws_error(&self.table, "TransactWriteItems", e)),
            },
        })
    }
}

#[async_trait]
impl CheckRecords for DynamoHistory {
    async fn put_check(
        &self,
        record: &HistoryRecord,
        latest_fingerprint: Option<&str>,
        episodes: &[EpisodeWrite],
    ) -> Result<bool> {
        transaction_items(record, latest_fingerprint, episodes)?;
        match self.transact_check(record, latest_fingerprint, episodes).await {
            // A newer check wrote the workspace's fingerprint meanwhile (this is
            // a late outcome): the record and episodes go in without it.
            Err(LatestIsNewer) if latest_fingerprint.is_some() => {
                tracing::info!(execution_id = %record.execution_id, workspace = %format!("{}/{}", record.organization, record.workspace), "a newer check holds the workspace's fingerprint; keeping it");
                match self.transact_check(record, None, episodes).await {
                    Err(LatestIsNewer) => Err(Error::AwsUnavailable(
                        "the check's write was refused for its fingerprint though it wrote none; the step is retried".into(),
                    )),
                    Ok(result) => result,
                }
            }
            Err(LatestIsNewer) => Err(Error::AwsUnavailable(
                "the check's write was refused for its fingerprint though it wrote none; the step is retried".into(),
            )),
            Ok(result) => result,
        }
    }

    async fn get_record(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
    ) -> Result<Option<HistoryRecord>> {
        let item = self
            .get(&partition_key(check), &sort_key(started_at, execution_id))
            .await?;
        Ok(item.and_then(|item| match serde_json::from_value::<HistoryRecord>(from_item(&item)) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(error = %e, "a history item does not parse; treating it as absent");
                None
            }
        }))
    }

    async fn list_records(&self, check: &CheckRef, limit: usize) -> Result<Vec<HistoryRecord>> {
        self.query_records(check, None, Some(limit)).await
    }

    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>> {
        Ok(self
            .get(&partition_key(check), "LATEST")
            .await?
            .and_then(|item| item.get("fingerprint").and_then(|v| v.as_s().ok().cloned())))
    }

    async fn add_warning(
        &self,
        check: &CheckRef,
        started_at: &str,
        execution_id: &str,
        warning: &Warning,
    ) -> Result<bool> {
        let value =
            serde_json::to_value(warning).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                &partition_key(check),
                &sort_key(started_at, execution_id),
            )))
            // One warning of each kind: a retried step adds nothing.
            .update_expression(
                "SET warnings = list_append(if_not_exists(warnings, :none), :warning) ADD warning_kinds :kinds",
            )
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(warning_kinds) OR NOT contains(warning_kinds, :kind))",
            )
            .expression_attribute_values(":none", AttributeValue::L(vec![]))
            .expression_attribute_values(":warning", AttributeValue::L(vec![to_attribute(&value)]))
            .expression_attribute_values(":kinds", AttributeValue::Ss(vec![warning.kind.clone()]))
            .expression_attribute_values(":kind", s(&warning.kind))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(&self.table, "UpdateItem", e)),
        }
    }
}

#[async_trait]
impl AlertMarkers for DynamoHistory {
    async fn mark_notified(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<bool> {
        let mut item = key(
            &partition_key(check),
            &format!("NOTIFIED#{}", execution_name(execution_id)),
        );
        item.insert("notified_at".into(), n(now_epoch));
        item.insert("expires_at".into(), n(now_epoch + SHORT_LIVED_SECONDS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(&self.table, "PutItem", e)),
        }
    }

    async fn was_notified(&self, check: &CheckRef, execution_id: &str) -> Result<bool> {
        Ok(self
            .get(
                &partition_key(check),
                &format!("NOTIFIED#{}", execution_name(execution_id)),
            )
            .await?
            .is_some())
    }
}

#[async_trait]
impl EpisodeStore for DynamoHistory {
    async fn open_episodes(&self, check: &CheckRef) -> Result<Vec<Episode>> {
        let from = OPEN_EPISODE_PREFIX.to_string();
        // Addresses sort below '~' unless they start with it; the prefix bounds the range.
        let to = format!("{OPEN_EPISODE_PREFIX}\u{10FFFF}");
        self.query_episodes(check, &from, &to).await
    }

    async fn resolved_episodes(&self, check: &CheckRef, since: &str) -> Result<Vec<Episode>> {
        let from = format!("{RESOLVED_EPISODE_PREFIX}{}", time_key(since));
        let to = format!("{RESOLVED_EPISODE_PREFIX}{KEY_END}");
        self.query_episodes(check, &from, &to).await
    }

    async fn first_check_since(&self, check: &CheckRef, since: &str) -> Result<Option<String>> {
        let from = format!("{CHECK_PREFIX}{}", time_key(since));
        let to = format!("{CHECK_PREFIX}{KEY_END}");
        let items = self
            .query_range(&partition_key(check), &from, &to, false, Some(1))
            .await?;
        Ok(items
            .first()
            .and_then(|item| item.get("started_at"))
            .and_then(|v| v.as_s().ok().cloned()))
    }
}

#[async_trait]
impl AcceptedDrift for DynamoHistory {
    async fn active_acceptance(
        &self,
        check: &CheckRef,
        fingerprint: &str,
        now_epoch: i64,
    ) -> Result<Option<Acceptance>> {
        if fingerprint.is_empty() {
            return Ok(None);
        }
        let Some(item) = self
            .get(&partition_key(check), &accepted_key(fingerprint))
            .await?
        else {
            return Ok(None);
        };
        let acceptance = item
            .get("acceptance")
            .map(from_attribute)
            .and_then(|v| serde_json::from_value::<Acceptance>(v).ok());
        // The until_epoch attribute rules (an operator may end an acceptance early by editing it).
        let until_epoch = number(&item, "until_epoch");
        Ok(acceptance
            .map(|a| Acceptance { until_epoch, ..a })
            .filter(|a| a.is_active(now_epoch)))
    }
}

#[async_trait]
impl HistoryReader for DynamoHistory {
    async fn records_since(
        &self,
        check: &CheckRef,
        since: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>> {
        self.query_records(check, Some(since), Some(limit)).await
    }

    async fn workspaces(&self) -> Result<Vec<CheckRef>> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :latest")
                .expression_attribute_values(":latest", s("LATEST"))
                .projection_expression("pk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error(&self.table, "Scan", e))?;
            found.extend(
                out.items()
                    .iter()
                    .filter_map(|item| item.get("pk").and_then(|v| v.as_s().ok()))
                    .filter_map(|pk| check_of_partition_key(pk)),
            );
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }
}

/// How often a batch transition is tried again when another writer changed
/// the batch between our read and our conditional write.
const BATCH_ATTEMPTS: usize = 6;

/// The open batch as read: who owns it, since when, and its version (every
/// join adds one), so a transition can be conditioned on "unchanged since read".
struct OpenBatch {
    owner: String,
    opened_at: i64,
    version: i64,
    batch: ClosedBatch,
}

/// Coalescing batches in DynamoDB. Every transition is one conditional write
/// (a transaction where two items change), so no failure between two writes
/// can lose a change that joined:
/// - open: put `BATCH#OPEN` if absent;
/// - join: update `BATCH#OPEN` if the owner is the one read and it is fresh;
/// - close: delete `BATCH#OPEN` and put `BATCH#CLOSED#<owner>`, together;
/// - take over a stale batch: put `BATCH#CLOSED#<old owner>` (its owner may
///   still close it and plan for its changes) and the new `BATCH#OPEN`, together.
#[derive(Clone)]
pub struct DynamoBatchStore {
    history: DynamoHistory,
}

impl DynamoBatchStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            history: DynamoHistory::new(client, table),
        }
    }

    fn table(&self) -> &str {
        &self.history.table
    }

    fn client(&self) -> &Client {
        &self.history.client
    }

    fn change_attribute(change: &Change) -> Result<AttributeValue> {
        let value = serde_json::to_value(change).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok(to_attribute(&value))
    }

    fn closed_from_item(item: &HashMap<String, AttributeValue>) -> ClosedBatch {
        let changes = item
            .get("changes")
            .map(from_attribute)
            .and_then(|v| serde_json::from_value::<Vec<Change>>(v).ok())
            .unwrap_or_default();
        let omitted = number(item, "omitted").max(0) as usize;
        ClosedBatch {
            changes,
            omitted,
            closed_now: false,
            // A closed batch kept before the mark existed may have its run
            // already: without the attribute, look the run up.
            run_requested: item
                .get("run_requested")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(true),
        }
    }

    async fn read_open(&self, pk: &str) -> Result<Option<OpenBatch>> {
        Ok(self
            .history
            .get(pk, OPEN_BATCH)
            .await?
            .map(|item| OpenBatch {
                owner: item
                    .get("owner_execution_id")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default(),
                opened_at: number(&item, "opened_at"),
                version: number(&item, "version"),
                batch: Self::closed_from_item(&item),
            }))
    }

    fn closed_item(
        pk: &str,
        owner: &str,
        batch: &ClosedBatch,
        now_epoch: i64,
    ) -> Result<HashMap<String, AttributeValue>> {
        let mut item = key(pk, &closed_key(owner));
        let changes =
            serde_json::to_value(&batch.changes).map_err(|e| Error::InvalidInput(e.to_string()))?;
        item.insert("changes".into(), to_attribute(&changes));
        item.insert("omitted".into(), n(batch.omitted as i64));
        item.insert("run_requested".into(), AttributeValue::Bool(false));
        item.insert("closed_at".into(), n(now_epoch));
        item.insert("expires_at".into(), n(now_epoch + SHORT_LIVED_SECONDS));
        Ok(item)
    }

    fn new_open_item(
        pk: &str,
        execution_id: &str,
        change: &Change,
        now_epoch: i64,
    ) -> Result<HashMap<String, AttributeValue>> {
        let mut item = key(pk, OPEN_BATCH);
        item.insert("owner_execution_id".into(), s(execution_id));
        item.insert("opened_at".into(), n(now_epoch));
        item.insert(
            "changes".into(),
            AttributeValue::L(vec![Self::change_attribute(change)?]),
        );
        item.insert("change_count".into(), n(1));
        item.insert("omitted".into(), n(0));
        item.insert("version".into(), n(0));
        item.insert(
            "event_ids".into(),
            AttributeValue::Ss(vec![change.event_id.clone()]),
        );
        item.insert("expires_at".into(), n(now_epoch + SHORT_LIVED_SECONDS));
        Ok(item)
    }

    /// Runs a transaction; `Ok(false)` when a condition failed or another
    /// transaction got in the way (the caller reads again and retries).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool> {
        let result = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if cancellation_codes(&e).is_some() => Ok(false),
            Err(e)
                if e.as_service_error().and_then(|s| s.code()) == Some("TransactionConflict") =>
            {
                Ok(false)
            }
            Err(e) => Err(aws_error(self.table(), "TransactWriteItems", e)),
        }
    }

    /// Adds a change to the open batch of `owner`; false when that batch is gone or stale.
    async fn join(&self, pk: &str, owner: &str, change: &Change, fresh_since: i64) -> Result<bool> {
        let base = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk, OPEN_BATCH)))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":fresh", n(fresh_since))
            .expression_attribute_values(":eid", AttributeValue::Ss(vec![change.event_id.clone()]))
            .expression_attribute_values(":one", n(1));
        // Below the cap the change is kept; above it only counted. Either way the
        // event id is remembered so a retried admit does not count twice, and the
        // version moves so a concurrent close or takeover sees the change.
        let keep = base
            .clone()
            .update_expression("SET changes = list_append(changes, :c) ADD change_count :one, event_ids :eid, version :one")
            .condition_expression(
                "owner_execution_id = :owner AND opened_at >= :fresh AND change_count < :max AND NOT contains(event_ids, :e)",
            )
            .expression_attribute_values(":c", AttributeValue::L(vec![Self::change_attribute(change)?]))
            .expression_attribute_values(":max", n(MAX_CHANGES_IN_STATE as i64))
            .expression_attribute_values(":e", s(&change.event_id))
            .send()
            .await;
        match keep {
            Ok(_) => return Ok(true),
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(aws_error(self.table(), "UpdateItem", e)),
        }
        let count = base
            .update_expression("ADD omitted :one, event_ids :eid, version :one")
            .condition_expression("owner_execution_id = :owner AND opened_at >= :fresh AND NOT contains(event_ids, :e)")
            .expression_attribute_values(":e", s(&change.event_id))
            .send()
            .await;
        match count {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => {
                // Either the event was already added (a retry: still joined) or the batch is gone.
                let current = self.history.get(pk, OPEN_BATCH).await?;
                Ok(current.is_some_and(|item| {
                    item.get("owner_execution_id")
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|o| o == owner)
                        && item
                            .get("event_ids")
                            .and_then(|v| v.as_ss().ok())
                            .is_some_and(|ids| ids.contains(&change.event_id))
                }))
            }
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }

    /// Replaces a stale open batch by a new one, keeping the stale batch as
    /// closed for its owner; false when the batch changed since it was read.
    async fn take_over(
        &self,
        pk: &str,
        stale: &OpenBatch,
        execution_id: &str,
        change: &Change,
        now_epoch: i64,
    ) -> Result<bool> {
        let unchanged = Condition::new("owner_execution_id = :owner AND version = :version")
            .value(":owner", s(&stale.owner))
            .value(":version", n(stale.version));
        let keep_stale = put_item(
            self.table(),
            Self::closed_item(pk, &stale.owner, &stale.batch, now_epoch)?,
            Some(Condition::new("attribute_not_exists(pk)")),
        )?;
        let open = put_item(
            self.table(),
            Self::new_open_item(pk, execution_id, change, now_epoch)?,
            Some(unchanged),
        )?;
        let taken = self.transact(vec![keep_stale, open]).await?;
        if taken {
            tracing::warn!(
                stale_owner = %stale.owner, opened_at = stale.opened_at, new_owner = %execution_id,
                "took over a stale coalescing batch; its changes stay with its owner"
            );
        }
        Ok(taken)
    }
}

pub(super) fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
}

fn closed_key(owner: &str) -> String {
    format!("BATCH#CLOSED#{}", execution_name(owner))
}

#[async_trait]
impl BatchStore for DynamoBatchStore {
    async fn open_or_join(
        &self,
        check: &CheckRef,
        execution_id: &str,
        change: &Change,
        now_epoch: i64,
        join_window_seconds: i64,
    ) -> Result<BatchJoin> {
        let pk = partition_key(check);
        let fresh_since = now_epoch - join_window_seconds;
        // The batch can be opened, closed or taken over between our read and our write.
        for _ in 0..BATCH_ATTEMPTS {
            let opened = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(Self::new_open_item(
                    &pk,
                    execution_id,
                    change,
                    now_epoch,
                )?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match opened {
                Ok(_) => return Ok(BatchJoin::Opened),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(aws_error(self.table(), "PutItem", e)),
            }
            let Some(current) = self.read_open(&pk).await? else {
                continue;
            };
            if current.owner == execution_id {
                return Ok(BatchJoin::Opened); // a retried admit step
            }
            if current.opened_at >= fresh_since {
                if self.join(&pk, &current.owner, change, fresh_since).await? {
                    return Ok(BatchJoin::Joined {
                        owner_execution_id: current.owner,
                    });
                }
                continue;
            }
            if self
                .take_over(&pk, &current, execution_id, change, now_epoch)
                .await?
            {
                return Ok(BatchJoin::Opened);
            }
        }
        Err(Error::AwsUnavailable(format!(
            "could not open or join the batch of {check} after several attempts (heavy contention); the step is retried"
        )))
    }

    async fn close(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<ClosedBatch> {
        let pk = partition_key(check);
        let closed_sk = closed_key(execution_id);
        for _ in 0..BATCH_ATTEMPTS {
            if let Some(item) = self.history.get(&pk, &closed_sk).await? {
                return Ok(Self::closed_from_item(&item));
            }
            let open = match self.read_open(&pk).await? {
                Some(open) if open.owner == execution_id => open,
                // Not ours (never opened, or taken over and kept as closed, which the
                // read above would have found): nothing joined. No run was asked
                // for either: that mark is a closed item, which the read above
                // would have found too.
                _ => {
                    return Ok(ClosedBatch {
                        changes: vec![],
                        omitted: 0,
                        closed_now: false,
                        run_requested: false,
                    });
                }
            };
            let delete_open = TransactWriteItem::builder()
                .delete(build(
                    "delete",
                    Delete::builder()
                        .table_name(self.table())
                        .set_key(Some(key(&pk, OPEN_BATCH)))
                        .condition_expression("owner_execution_id = :owner AND version = :version")
                        .expression_attribute_values(":owner", s(execution_id))
                        .expression_attribute_values(":version", n(open.version))
                        .build(),
                )?)
                .build();
            let keep_closed = put_item(
                self.table(),
                Self::closed_item(&pk, execution_id, &open.batch, now_epoch)?,
                Some(Condition::new("attribute_not_exists(pk)")),
            )?;
            // A change joining between the read and this write moves the version:
            // the transaction is refused and the next round reads it too.
            if self.transact(vec![delete_open, keep_closed]).await? {
                return Ok(ClosedBatch {
                    closed_now: true,
                    run_requested: false,
                    ..open.batch
                });
            }
        }
        Err(Error::AwsUnavailable(format!(
            "could not close the batch of {check} after several attempts (changes kept joining); the step is retried"
        )))
    }

    async fn mark_run_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<()> {
        // An upsert: an execution that owned no batch has no closed item yet.
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&partition_key(check), &closed_key(execution_id))))
            .update_expression(
                "SET run_requested = :yes, expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":expires", n(now_epoch + SHORT_LIVED_SECONDS))
            .send()
            .await
            .map_err(|e| aws_error(self.table(), "UpdateItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_request_dynamodb_refuses_as_invalid_is_not_retried_as_unavailable() {
        use aws_sdk_dynamodb::error::ErrorMetadata;
        let refused = SdkError::service_error(
            TransactWriteItemsError::generic(
                ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("Member must have length less than or equal to 100")
                    .build(),
            ),
            aws_sdk_dynamodb::config::http::HttpResponse::new(
                400u16.try_into().unwrap(),
                "".into(),
            ),
        );
        let e = aws_error("history", "TransactWriteItems", refused);
        assert!(!e.is_transient(), "{e:?}");
        assert_ne!(e.error_type(), "AwsUnavailable", "{e:?}");
        assert!(e.to_string().contains("less than or equal to 100"), "{e}");
    }

    #[test]
    fn closed_batch_parses_from_item() {
        let change = Change {
            event_id: "e1".into(),
            event_name: "CreateTags".into(),
            ..Default::default()
        };
        let mut item = HashMap::new();
        item.insert(
            "changes".to_string(),
            to_attribute(&serde_json::to_value(vec![change.clone()]).unwrap()),
        );
        item.insert("omitted".to_string(), n(3));
        let batch = DynamoBatchStore::closed_from_item(&item);
        assert_eq!(batch.changes, vec![change]);
        assert_eq!(batch.omitted, 3);
    }

    #[test]
    fn closed_batch_tolerates_missing_attributes() {
        let batch = DynamoBatchStore::closed_from_item(&HashMap::new());
        assert!(batch.changes.is_empty());
        assert_eq!(batch.omitted, 0);
    }

    #[test]
    fn record_json_value_is_an_item() {
        let v: Value = json!({"pk": "WS#a/b", "sk": "CHECK#x", "n": 1});
        assert_eq!(to_item(&v).unwrap().len(), 3);
    }
}
