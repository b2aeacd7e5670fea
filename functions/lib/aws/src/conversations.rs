//! DynamoDB implementations of the Slack app's ports, in the history table:
//!
//! - threads, in the workspace's partition (`THREAD#<execution>`, and
//!   `THREAD#OPEN` pointing at the unresolved one);
//! - decision requests, each in its own partition `APPROVAL#<id>` (sort key
//!   `APPROVAL`), so the callback receiver's role can reach those items only.
//!
//! Every change of a decision request is one conditional write: a click and
//! the waiting step never both miss each other, and only the first click decides.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::Value;

use super::dynamodb::{DynamoHistory, aws_error, is_condition_failed, key, n, s};
use super::item::{from_attribute, from_item, to_attribute};
use driftguard_core::approval::{missing_request, partition_key as approval_key};
use driftguard_core::error::{Error, Result};
use driftguard_core::history::{execution_name, partition_key};
use driftguard_core::model::{ApprovalDecision, CheckRef};
use driftguard_core::ports::{
    AlertThread, ApprovalRequest, ApprovalStatus, ApprovalStore, ConversationStore,
    DecisionRecorded, TokenStored,
};

const APPROVAL_SK: &str = "APPROVAL";
const OPEN_THREAD: &str = "THREAD#OPEN";
/// Threads and decision requests outlive the check: a clean check weeks later
/// still replies in the thread.
const KEEP_SECONDS: i64 = 90 * 86_400;

fn thread_key(execution_id: &str) -> String {
    format!("THREAD#{}", execution_name(execution_id))
}

fn status_name(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Posted => "posted",
        ApprovalStatus::Waiting => "waiting",
        ApprovalStatus::Decided => "decided",
        ApprovalStatus::Expired => "expired",
    }
}

fn json_error(e: serde_json::Error) -> Error {
    Error::InvalidInput(e.to_string())
}

/// Slack threads and decision requests in the history table.
#[derive(Clone)]
pub struct DynamoConversations {
    history: DynamoHistory,
}

impl DynamoConversations {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            history: DynamoHistory::new(client, table),
        }
    }

    fn client(&self) -> &Client {
        self.history.client()
    }

    fn table(&self) -> &str {
        self.history.table()
    }

    fn thread_from_item(item: &HashMap<String, AttributeValue>) -> Option<AlertThread> {
        let value = item.get("thread").map(from_attribute)?;
        serde_json::from_value(value)
            .map_err(|e| tracing::warn!(error = %e, "a thread item does not parse"))
            .ok()
    }

    fn request_from_item(item: &HashMap<String, AttributeValue>) -> Option<ApprovalRequest> {
        let mut value = from_item(item);
        let map = value.as_object_mut()?;
        // The stored status is a plain string for the conditions.
        let status = match map.get("status").and_then(Value::as_str) {
            Some("waiting") => ApprovalStatus::Waiting,
            Some("decided") => ApprovalStatus::Decided,
            Some("expired") => ApprovalStatus::Expired,
            _ => ApprovalStatus::Posted,
        };
        map.insert("status".into(), serde_json::to_value(status).ok()?);
        serde_json::from_value(value)
            .map_err(|e| tracing::warn!(error = %e, "a decision request item does not parse"))
            .ok()
    }

    fn decision_of(item: &HashMap<String, AttributeValue>) -> Option<ApprovalDecision> {
        item.get("decision")
            .map(from_attribute)
            .and_then(|v| serde_json::from_value(v).ok())
    }
}

#[async_trait]
impl ConversationStore for DynamoConversations {
    async fn save_thread(
        &self,
        check: &CheckRef,
        thread: &AlertThread,
        open: bool,
        now_epoch: i64,
    ) -> Result<()> {
        let pk = partition_key(check);
        let value = serde_json::to_value(thread).map_err(json_error)?;
        let mut item = key(&pk, &thread_key(&thread.execution_id));
        item.insert("thread".into(), to_attribute(&value));
        item.insert("expires_at".into(), n(now_epoch + KEEP_SECONDS));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_error(self.table(), "PutItem", e))?;
        if !open {
            return Ok(());
        }
        let mut pointer = key(&pk, OPEN_THREAD);
        pointer.insert(
            "execution_name".into(),
            s(execution_name(&thread.execution_id)),
        );
        pointer.insert("expires_at".into(), n(now_epoch + KEEP_SECONDS));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(pointer))
            .send()
            .await
            .map_err(|e| aws_error(self.table(), "PutItem", e))?;
        Ok(())
    }

    async fn thread(&self, check: &CheckRef, execution_id: &str) -> Result<Option<AlertThread>> {
        Ok(self
            .history
            .get(&partition_key(check), &thread_key(execution_id))
            .await?
            .as_ref()
            .and_then(Self::thread_from_item))
    }

    async fn open_thread(&self, check: &CheckRef) -> Result<Option<AlertThread>> {
        let pk = partition_key(check);
        let Some(open) = self.history.get(&pk, OPEN_THREAD).await? else {
            return Ok(None);
        };
        let Some(name) = open.get("execution_name").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        Ok(self
            .history
            .get(&pk, &format!("THREAD#{name}"))
            .await?
            .as_ref()
            .and_then(Self::thread_from_item))
    }

    async fn set_parent(&self, check: &CheckRef, execution_id: &str, parent: &Value) -> Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&partition_key(check), &thread_key(execution_id))))
            .update_expression("SET #thread.#parent = :parent")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#thread", "thread")
            .expression_attribute_names("#parent", "parent")
            .expression_attribute_values(":parent", to_attribute(parent))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }

    async fn close_thread(&self, check: &CheckRef, execution_id: &str) -> Result<()> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(&partition_key(check), OPEN_THREAD)))
            .condition_expression("execution_name = :name")
            .expression_attribute_values(":name", s(execution_name(execution_id)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another alert is the open one now (or none is): nothing to close.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(aws_error(self.table(), "DeleteItem", e)),
        }
    }
}

#[async_trait]
impl ApprovalStore for DynamoConversations {
    async fn create(&self, request: &ApprovalRequest, now_epoch: i64) -> Result<()> {
        let mut item = key(&approval_key(&request.id), APPROVAL_SK);
        item.insert("id".into(), s(&request.id));
        item.insert(
            "check".into(),
            to_attribute(&serde_json::to_value(&request.check).map_err(json_error)?),
        );
        item.insert("execution_id".into(), s(&request.execution_id));
        item.insert(
            "thread".into(),
            to_attribute(&serde_json::to_value(&request.thread).map_err(json_error)?),
        );
        item.insert("status".into(), s(status_name(request.status)));
        item.insert("expires_at".into(), n(now_epoch + KEEP_SECONDS));
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A retried alert step: the request (and any decision) stays.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(aws_error(self.table(), "PutItem", e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<ApprovalRequest>> {
        Ok(self
            .history
            .get(&approval_key(id), APPROVAL_SK)
            .await?
            .as_ref()
            .and_then(Self::request_from_item))
    }

    async fn store_token(&self, id: &str, task_token: &str, deadline: i64) -> Result<TokenStored> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&approval_key(id), APPROVAL_SK)))
            .update_expression("SET task_token = :token, deadline = :deadline, #status = :waiting")
            .condition_expression("attribute_exists(pk) AND #status IN (:posted, :waiting)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(task_token))
            .expression_attribute_values(":deadline", n(deadline))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":posted", s("posted"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(TokenStored::Waiting),
            Err(e) if is_condition_failed(&e) => {
                // Decided before this attempt of the wait: its token is the one
                // the decision goes to now (a click's failed delivery to an
                // older token must not undo or expire it).
                let decided = self
                    .client()
                    .update_item()
                    .table_name(self.table())
                    .set_key(Some(key(&approval_key(id), APPROVAL_SK)))
                    .update_expression("SET task_token = :token")
                    .condition_expression("#status = :decided AND attribute_exists(decision)")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":token", s(task_token))
                    .expression_attribute_values(":decided", s("decided"))
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await;
                match decided {
                    Ok(out) => match out.attributes().and_then(Self::decision_of) {
                        Some(decision) => Ok(TokenStored::AlreadyDecided(decision)),
                        None => Err(missing_request(id)),
                    },
                    Err(e) if is_condition_failed(&e) => Err(missing_request(id)),
                    Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
                }
            }
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }

    async fn decide(
        &self,
        id: &str,
        decision: &ApprovalDecision,
        now_epoch: i64,
    ) -> Result<DecisionRecorded> {
        let value = serde_json::to_value(decision).map_err(json_error)?;
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&approval_key(id), APPROVAL_SK)))
            .update_expression("SET decision = :decision, #status = :decided, decided_at = :now")
            .condition_expression("attribute_exists(pk) AND #status IN (:posted, :waiting)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":decision", to_attribute(&value))
            .expression_attribute_values(":decided", s("decided"))
            .expression_attribute_values(":now", n(now_epoch))
            .expression_attribute_values(":posted", s("posted"))
            .expression_attribute_values(":waiting", s("waiting"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(DecisionRecorded::Decided {
                task_token: out
                    .attributes()
                    .and_then(|a| a.get("task_token"))
                    .and_then(|v| v.as_s().ok())
                    .cloned(),
            }),
            Err(e) if is_condition_failed(&e) => {
                let current = self.history.get(&approval_key(id), APPROVAL_SK).await?;
                Ok(match current {
                    None => DecisionRecorded::Unknown,
                    Some(item) => match Self::decision_of(&item) {
                        Some(earlier) => DecisionRecorded::AlreadyDecided(earlier),
                        None => DecisionRecorded::Expired,
                    },
                })
            }
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }

    async fn undo_decision(&self, id: &str, task_token: &str) -> Result<bool> {
        // The delivery failed with this token: the request waits again, with it.
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&approval_key(id), APPROVAL_SK)))
            .update_expression("SET #status = :waiting REMOVE decision, decided_at")
            .condition_expression("#status = :decided AND task_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":decided", s("decided"))
            .expression_attribute_values(":token", s(task_token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }

    async fn expire(&self, id: &str, task_token: Option<&str>) -> Result<bool> {
        let update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&approval_key(id), APPROVAL_SK)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expired", s("expired"));
        let update = match task_token {
            None => update
                .update_expression("SET #status = :expired")
                .condition_expression("attribute_exists(pk) AND #status IN (:posted, :waiting)")
                .expression_attribute_values(":posted", s("posted"))
                .expression_attribute_values(":waiting", s("waiting")),
            // The wait of this token ended: an undelivered decision goes too.
            Some(token) => update
                .update_expression("SET #status = :expired REMOVE decision, decided_at")
                .condition_expression(
                    "attribute_exists(pk) AND #status <> :expired AND task_token = :token",
                )
                .expression_attribute_values(":token", s(token)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }
}
