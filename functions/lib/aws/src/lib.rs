//! The AWS adapters of the core's ports: every AWS SDK call DriftGuard makes.
//! DynamoDB (history, batches, Slack threads and decision requests, the
//! request pacer), Step Functions (executions, task callbacks), Security Hub
//! (findings), the Resource Groups Tagging API (current tags), Secrets
//! Manager, CloudWatch metrics (embedded metric format). Endpoints come from
//! the SDK's usual configuration, so `AWS_ENDPOINT_URL` points everything at
//! the local stack.

pub mod conversations;
pub mod dynamodb;
pub mod emf;
pub mod item;
pub mod pacer;
pub mod remediations;
pub mod secrets;
pub mod securityhub;
pub mod sfn;
pub mod tagging;

pub use conversations::DynamoConversations;
pub use dynamodb::{DynamoBatchStore, DynamoHistory};
pub use emf::EmfMetrics;
pub use pacer::DynamoPacer;
pub use remediations::DynamoRemediations;
pub use secrets::SecretsManagerSource;
pub use securityhub::SecurityHubFindings;
pub use sfn::{StepFunctionsCallbacks, StepFunctionsReader};
pub use tagging::TaggingApiLookup;

/// Loads the shared AWS SDK configuration (region, credentials, endpoint) once.
/// Calls are bounded so a slow AWS answer fails the step retryably
/// (`AwsUnavailable`) well inside the function's timeout, instead of the
/// runtime cutting the invocation off.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    use std::time::Duration;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(20))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
