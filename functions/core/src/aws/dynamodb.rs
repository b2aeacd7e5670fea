//! DynamoDB implementations of the history and batch ports, in one table
//! (`pk` = `WS#org/workspace`):
//!
//! | sk | item |
//! |---|---|
//! | `CHECK#<time>#<execution>` | a history record (TTL `expires_at`) |
//! | `LATEST` | the workspace's last drift fingerprint |
//! | `NOTIFIED#<execution>` | the alert of that execution was sent |
//! | `BATCH#OPEN` | the open coalescing batch |
//! | `BATCH#CLOSED#<execution>` | a closed batch, kept so a retried create step gets the same changes |
//!
//! The HCP Terraform request pacer keeps one more item, `pk` = `PACE#<host>`
//! (see [`super::pacer`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::json;

use super::item::{from_attribute, from_item, to_attribute, to_item};
use crate::error::{Error, Result};
use crate::history::{HistoryRecord, execution_name, partition_key};
use crate::model::{Change, CheckRef, CheckStatus, MAX_CHANGES_IN_STATE};
use crate::ports::{BatchJoin, BatchStore, ClosedBatch, HistoryStore};

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
fn is_condition_failed<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
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
    if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException") {
        return Error::ConfigError(format!(
            "DynamoDB table '{table}' does not exist; check DRIFTGUARD_HISTORY_TABLE and that the Terraform module was applied"
        ));
    }
    Error::AwsUnavailable(format!(
        "DynamoDB {operation} on '{table}' failed: {}",
        DisplayErrorContext(&e)
    ))
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

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
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

    async fn query_records(
        &self,
        check: &CheckRef,
        limit: Option<usize>,
    ) -> Result<Vec<HistoryRecord>> {
        let mut records = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(partition_key(check)))
                .expression_attribute_values(":prefix", s("CHECK#"))
                .scan_index_forward(false)
                .set_limit(limit.map(|l| l.min(1000) as i32))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| aws_error(&self.table, "Query", e))?;
            for item in out.items() {
                match serde_json::from_value::<HistoryRecord>(from_item(item)) {
                    Ok(record) => records.push(record),
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping a history item that does not parse")
                    }
                }
            }
            if limit.is_some_and(|l| records.len() >= l) {
                break;
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        if let Some(l) = limit {
            records.truncate(l);
        }
        Ok(records)
    }
}

#[async_trait]
impl HistoryStore for DynamoHistory {
    async fn put_record(&self, record: &HistoryRecord) -> Result<bool> {
        let mut value =
            serde_json::to_value(record).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            // Plain attributes for console filtering and the on-failure lookup.
            map.insert(
                "execution_name".into(),
                json!(execution_name(&record.execution_id)),
            );
            map.insert(
                "drifted_resources".into(),
                json!(record.drift.as_ref().map(|d| d.resource_count).unwrap_or(0)),
            );
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&value)?));
        put = if record.status == CheckStatus::CheckFailed {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            // The real outcome of a redriven execution replaces its CheckFailed record.
            put.condition_expression("attribute_not_exists(pk) OR #status = :failed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":failed", s(CheckStatus::CheckFailed.as_str()))
        };
        let result = put.send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(&self.table, "PutItem", e)),
        }
    }

    async fn get_record(
        &self,
        check: &CheckRef,
        execution_id: &str,
    ) -> Result<Option<HistoryRecord>> {
        let name = execution_name(execution_id);
        Ok(self
            .query_records(check, None)
            .await?
            .into_iter()
            .find(|r| execution_name(&r.execution_id) == name))
    }

    async fn list_records(&self, check: &CheckRef, limit: usize) -> Result<Vec<HistoryRecord>> {
        self.query_records(check, Some(limit)).await
    }

    async fn last_fingerprint(&self, check: &CheckRef) -> Result<Option<String>> {
        Ok(self
            .get(&partition_key(check), "LATEST")
            .await?
            .and_then(|item| item.get("fingerprint").and_then(|v| v.as_s().ok().cloned())))
    }

    async fn set_last_fingerprint(
        &self,
        check: &CheckRef,
        fingerprint: &str,
        execution_id: &str,
    ) -> Result<()> {
        let mut item = key(&partition_key(check), "LATEST");
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("execution_id".into(), s(execution_id));
        item.insert("updated_at".into(), s(chrono::Utc::now().to_rfc3339()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_error(&self.table, "PutItem", e))?;
        Ok(())
    }

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

/// Coalescing batches in DynamoDB (conditional writes, no locks).
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
        let omitted = item
            .get("omitted")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        ClosedBatch {
            changes,
            omitted,
            closed_now: false,
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
        // event id is remembered so a retried admit does not count twice.
        let keep = base
            .clone()
            .update_expression("SET changes = list_append(changes, :c) ADD change_count :one, event_ids :eid")
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
            .update_expression("ADD omitted :one, event_ids :eid")
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
        // A few rounds: the batch can be closed or replaced between our reads and writes.
        for _ in 0..4 {
            let mut item = key(&pk, OPEN_BATCH);
            item.insert("owner_execution_id".into(), s(execution_id));
            item.insert("opened_at".into(), n(now_epoch));
            item.insert(
                "changes".into(),
                AttributeValue::L(vec![Self::change_attribute(change)?]),
            );
            item.insert("change_count".into(), n(1));
            item.insert("omitted".into(), n(0));
            item.insert(
                "event_ids".into(),
                AttributeValue::Ss(vec![change.event_id.clone()]),
            );
            item.insert("expires_at".into(), n(now_epoch + SHORT_LIVED_SECONDS));
            let opened = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR opened_at < :fresh")
                .expression_attribute_values(":fresh", n(fresh_since))
                .send()
                .await;
            match opened {
                Ok(_) => return Ok(BatchJoin::Opened),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(aws_error(self.table(), "PutItem", e)),
            }
            let Some(current) = self.history.get(&pk, OPEN_BATCH).await? else {
                continue;
            };
            let owner = current
                .get("owner_execution_id")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if owner == execution_id {
                return Ok(BatchJoin::Opened); // a retried admit step
            }
            if self.join(&pk, &owner, change, fresh_since).await? {
                return Ok(BatchJoin::Joined {
                    owner_execution_id: owner,
                });
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
        let closed_sk = format!("BATCH#CLOSED#{}", execution_name(execution_id));
        if let Some(item) = self.history.get(&pk, &closed_sk).await? {
            return Ok(Self::closed_from_item(&item));
        }
        // Deleting with ALL_OLD is atomic: a change arriving after it opens a new batch.
        let deleted = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(&pk, OPEN_BATCH)))
            .condition_expression("owner_execution_id = :owner")
            .expression_attribute_values(":owner", s(execution_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let batch = match deleted {
            Ok(out) => ClosedBatch {
                closed_now: true,
                ..out
                    .attributes()
                    .map(Self::closed_from_item)
                    .unwrap_or(ClosedBatch {
                        changes: vec![],
                        omitted: 0,
                        closed_now: true,
                    })
            },
            // Not ours (taken over after a long outage) or already gone (an
            // earlier attempt deleted it and failed before recording it):
            // nothing joined, and a run may exist already.
            Err(e) if is_condition_failed(&e) => ClosedBatch {
                changes: vec![],
                omitted: 0,
                closed_now: false,
            },
            Err(e) => return Err(aws_error(self.table(), "DeleteItem", e)),
        };
        let mut item = key(&pk, &closed_sk);
        let changes =
            serde_json::to_value(&batch.changes).map_err(|e| Error::InvalidInput(e.to_string()))?;
        item.insert("changes".into(), to_attribute(&changes));
        item.insert("omitted".into(), n(batch.omitted as i64));
        item.insert("closed_at".into(), n(now_epoch));
        item.insert("expires_at".into(), n(now_epoch + SHORT_LIVED_SECONDS));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_error(self.table(), "PutItem", e))?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
