//! AWS adapters: DynamoDB (history, batches, the request pacer), Security Hub
//! (findings). Secrets Manager lives in
//! [`crate::secrets`]. Endpoints come from the SDK's usual configuration, so
//! `AWS_ENDPOINT_URL` points everything at the local stack.

pub mod dynamodb;
pub mod item;
pub mod pacer;
pub mod securityhub;
pub mod sfn;

pub use dynamodb::{DynamoBatchStore, DynamoHistory};
pub use pacer::DynamoPacer;
pub use securityhub::SecurityHubFindings;
pub use sfn::StepFunctionsReader;

/// Loads the shared AWS SDK configuration (region, credentials, endpoint) once.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
