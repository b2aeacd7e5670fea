//! [`RemediationLedger`] in the history table: one item per execution's
//! remediation, in the workspace's partition (`REMEDIATION#<execution>`,
//! [`driftguard_core::remediation::attempt_key`]). Each change is one conditional
//! `UpdateItem`: a stored run id is never replaced by another, and the
//! safety check's note names only the stored run.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamodb::{DynamoHistory, aws_error, is_condition_failed, key, n, s};
use driftguard_core::error::Result;
use driftguard_core::model::CheckRef;
use driftguard_core::ports::{RemediationAttempt, RemediationLedger};
use driftguard_core::remediation::{ATTEMPT_KEEP_SECONDS, attempt_key};

/// Remediation attempts in the history table.
#[derive(Clone)]
pub struct DynamoRemediations {
    history: DynamoHistory,
}

impl DynamoRemediations {
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

    /// One conditional update; false when its condition failed.
    async fn update(
        &self,
        check: &CheckRef,
        execution_id: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let (pk, sk) = attempt_key(check, execution_id);
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&pk, &sk)))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(aws_error(self.table(), "UpdateItem", e)),
        }
    }
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .filter(|v| !v.is_empty())
        .cloned()
}

#[async_trait]
impl RemediationLedger for DynamoRemediations {
    async fn attempt(
        &self,
        check: &CheckRef,
        execution_id: &str,
    ) -> Result<Option<RemediationAttempt>> {
        let (pk, sk) = attempt_key(check, execution_id);
        let Some(item) = self.history.get(&pk, &sk).await? else {
            return Ok(None);
        };
        Ok(Some(RemediationAttempt {
            requested_at: super::dynamodb::number(&item, "requested_at"),
            run_id: text(&item, "run_id"),
            safe_run_id: text(&item, "safe_run_id"),
        }))
    }

    async fn mark_requested(
        &self,
        check: &CheckRef,
        execution_id: &str,
        now_epoch: i64,
    ) -> Result<()> {
        self.update(
            check,
            execution_id,
            "SET requested_at = if_not_exists(requested_at, :now), expires_at = if_not_exists(expires_at, :expires)",
            None,
            vec![
                (":now", n(now_epoch)),
                (":expires", n(now_epoch + ATTEMPT_KEEP_SECONDS)),
            ],
        )
        .await?;
        Ok(())
    }

    async fn set_run(&self, check: &CheckRef, execution_id: &str, run_id: &str) -> Result<bool> {
        let now = driftguard_core::now_epoch();
        self.update(
            check,
            execution_id,
            "SET run_id = :run, requested_at = if_not_exists(requested_at, :now), expires_at = if_not_exists(expires_at, :expires)",
            Some("attribute_not_exists(run_id) OR run_id = :run"),
            vec![
                (":run", s(run_id)),
                (":now", n(now)),
                (":expires", n(now + ATTEMPT_KEEP_SECONDS)),
            ],
        )
        .await
    }

    async fn record_safe(
        &self,
        check: &CheckRef,
        execution_id: &str,
        run_id: &str,
    ) -> Result<bool> {
        self.update(
            check,
            execution_id,
            "SET safe_run_id = :run",
            Some("run_id = :run"),
            vec![(":run", s(run_id))],
        )
        .await
    }
}
