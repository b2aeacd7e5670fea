//! The HCP Terraform request pacer in DynamoDB: one item per budget (keyed
//! `PACE#<host>#<user>[#<endpoint>]`, see [`driftguard_core::pacing::budget_key`]) holds
//! the GCRA theoretical arrival time (`tat`, microseconds since the epoch) for
//! every container, and each reservation is one conditional `UpdateItem`, so
//! concurrent Lambdas never share a slot (DynamoDB applies each write to an
//! item atomically). The arithmetic is [`driftguard_core::pacing::reserve`]'s.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::dynamodb::{aws_error, key, n};
use driftguard_core::error::{Error, Result};
use driftguard_core::pacing::{Budget, PaceLimits, Reservation};
use driftguard_core::ports::RequestPacer;

const SORT_KEY: &str = "PACE";
/// The item is only useful while requests flow; an idle day removes it.
const IDLE_EXPIRY_SECONDS: i64 = 86_400;
/// Rounds of read-free conditional updates before giving up under contention.
const ROUNDS: usize = 4;

/// What a refused conditional update tells about the stored TAT.
enum Refused {
    /// The item holds this TAT (`None`: no item yet).
    Tat(Option<i64>),
    Other(Error),
}

/// The request budgets shared through the history table.
#[derive(Clone)]
pub struct DynamoPacer {
    client: Client,
    table: String,
}

impl DynamoPacer {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn tat_of(item: Option<&HashMap<String, AttributeValue>>) -> Option<i64> {
        item.and_then(|i| i.get("tat"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    fn refused(&self, e: SdkError<UpdateItemError>) -> Refused {
        match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                Refused::Tat(Self::tat_of(failed.item()))
            }
            _ => Refused::Other(aws_error(&self.table, "UpdateItem", e)),
        }
    }

    /// The busy case: the TAT is ahead of now; move it on by one interval if
    /// the slot is close enough.
    async fn advance(
        &self,
        pk: &str,
        limits: &PaceLimits,
        now_us: i64,
    ) -> std::result::Result<i64, Refused> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, SORT_KEY)))
            .update_expression("SET tat = tat + :interval, expires_at = :expires")
            .condition_expression("tat BETWEEN :now AND :latest")
            .expression_attribute_values(":interval", n(limits.interval_us()))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":latest", n(limits.latest_grantable_tat(now_us)))
            .expression_attribute_values(":expires", n(now_us / 1_000_000 + IDLE_EXPIRY_SECONDS))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|e| self.refused(e))
            .and_then(|out| {
                Self::tat_of(out.attributes()).ok_or_else(|| {
                    Refused::Other(Error::AwsUnavailable(
                        "DynamoDB UpdateItem of the request pacer returned no tat".into(),
                    ))
                })
            })
    }

    /// The quiet case: no TAT yet, or one in the past; start again from now.
    async fn restart(
        &self,
        pk: &str,
        limits: &PaceLimits,
        now_us: i64,
    ) -> std::result::Result<i64, Refused> {
        let new_tat = now_us + limits.interval_us();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, SORT_KEY)))
            .update_expression("SET tat = :tat, expires_at = :expires")
            .condition_expression("attribute_not_exists(tat) OR tat < :now")
            .expression_attribute_values(":tat", n(new_tat))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":expires", n(now_us / 1_000_000 + IDLE_EXPIRY_SECONDS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map(|_| new_tat)
            .map_err(|e| self.refused(e))
    }
}

#[async_trait]
impl RequestPacer for DynamoPacer {
    async fn reserve(&self, budget: &Budget, now_us: i64) -> Result<Reservation> {
        let (pk, limits) = (budget.key.as_str(), &budget.limits);
        let mut tat: Option<i64> = Some(now_us); // guess busy first: that is when pacing matters
        for _ in 0..ROUNDS {
            let attempt = match tat {
                Some(t) if t >= now_us => self.advance(pk, limits, now_us).await,
                _ => self.restart(pk, limits, now_us).await,
            };
            match attempt {
                Ok(new_tat) => {
                    return Ok(Reservation::Granted {
                        wait: limits.wait_for(new_tat, now_us),
                    });
                }
                Err(Refused::Other(e)) => return Err(e),
                Err(Refused::Tat(stored)) => {
                    if let Some(t) = stored {
                        let latest = limits.latest_grantable_tat(now_us);
                        if t > latest {
                            return Ok(Reservation::Full {
                                retry_after: std::time::Duration::from_micros((t - latest) as u64),
                            });
                        }
                    }
                    tat = stored;
                }
            }
        }
        // Others kept moving the TAT between our reads: behave as a full queue
        // for one interval rather than send unpaced.
        Ok(Reservation::Full {
            retry_after: std::time::Duration::from_micros(limits.interval_us() as u64),
        })
    }
}
