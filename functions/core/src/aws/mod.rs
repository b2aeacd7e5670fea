//! AWS adapters: DynamoDB (history, batches, Slack threads and decision
//! requests, the request pacer), Step Functions (executions, task callbacks). Secrets Manager lives in
//! [`crate::secrets`]. Endpoints come from the SDK's usual configuration, so
//! `AWS_ENDPOINT_URL` points everything at the local stack.

pub mod conversations;
pub mod dynamodb;
pub mod item;
pub mod pacer;
pub mod sfn;

pub use conversations::DynamoConversations;
pub use dynamodb::{DynamoBatchStore, DynamoHistory};
pub use pacer::DynamoPacer;
pub use sfn::{StepFunctionsCallbacks, StepFunctionsReader};

/// Loads the shared AWS SDK configuration (region, credentials, endpoint) once.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
