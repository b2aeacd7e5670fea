//! The HCP Terraform request pacer in DynamoDB: one item holds the GCRA
//! theoretical arrival time (`tat`, microseconds since the epoch) for every
//! container, and each reservation is one conditional `UpdateItem`, so
//! concurrent Lambdas never share a slot (DynamoDB applies each write to an
//! item atomically). The arithmetic is [`crate::pacing::reserve`]'s.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::dynamodb::{aws_error, key, n};
use crate::error::{Error, Result};
use crate::pacing::{PaceLimits, Reservation};
use crate::ports::RequestPacer;

const SORT_KEY: &str = "PACE";
/// The item is only useful while requests flow; an idle day removes it.
const IDLE_EXPIRY_SECONDS: i64 = 86_400;
/// Rounds of read-free conditional updates before giving up under contention.
const ROUNDS: usize = 4;

/// The partition key of the pacing item for an HCP Terraform address.
pub fn pacing_key(tfc_address: &str) -> String {
    let host = url::Url::parse(tfc_address)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| tfc_address.to_string());
    format!("PACE#{host}")
}

/// What a refused conditional update tells about the stored TAT.
enum Refused {
    /// The item holds this TAT (`None`: no item yet).
    Tat(Option<i64>),
    Other(Error),
}

/// The request budget shared through the history table.
#[derive(Clone)]
pub struct DynamoPacer {
    client: Client,
    table: String,
    pk: String,
    limits: PaceLimits,
}

impl DynamoPacer {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        tfc_address: &str,
        limits: PaceLimits,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            pk: pacing_key(tfc_address),
            limits,
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
    async fn advance(&self, now_us: i64) -> std::result::Result<i64, Refused> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, SORT_KEY)))
            .update_expression("SET tat = tat + :interval, expires_at = :expires")
            .condition_expression("tat BETWEEN :now AND :latest")
            .expression_attribute_values(":interval", n(self.limits.interval_us()))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":latest", n(self.limits.latest_grantable_tat(now_us)))
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
    async fn restart(&self, now_us: i64) -> std::result::Result<i64, Refused> {
        let new_tat = now_us + self.limits.interval_us();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, SORT_KEY)))
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
    async fn reserve(&self, now_us: i64) -> Result<Reservation> {
        let mut tat: Option<i64> = Some(now_us); // guess busy first: that is when pacing matters
        for _ in 0..ROUNDS {
            let attempt = match tat {
                Some(t) if t >= now_us => self.advance(now_us).await,
                _ => self.restart(now_us).await,
            };
            match attempt {
                Ok(new_tat) => {
                    return Ok(Reservation::Granted {
                        wait: self.limits.wait_for(new_tat, now_us),
                    });
                }
                Err(Refused::Other(e)) => return Err(e),
                Err(Refused::Tat(stored)) => {
                    if let Some(t) = stored {
                        let latest = self.limits.latest_grantable_tat(now_us);
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
            retry_after: std::time::Duration::from_micros(self.limits.interval_us() as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_the_host() {
        assert_eq!(
            pacing_key("https://app.terraform.io"),
            "PACE#app.terraform.io"
        );
        assert_eq!(
            pacing_key("https://tfe.example.com:8443/"),
            "PACE#tfe.example.com"
        );
    }
}
