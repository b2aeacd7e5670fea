//! What every DriftGuard Lambda shares, so each `main.rs` stays a few lines:
//! logs under Lambda's logging controls, configuration read once, typed input with a clear error, and
//! core errors reported with their stable `errorType` for the state machine's
//! `Retry` blocks.

use std::future::Future;

use driftguard_core::Error;
use driftguard_core::config::Config;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use lambda_runtime::Context;

/// A core error on its way out of a Lambda.
#[derive(Debug)]
pub struct StepError(pub Error);

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError(e)
    }
}

impl From<StepError> for Diagnostic {
    fn from(e: StepError) -> Self {
        Diagnostic {
            error_type: e.0.error_type().to_string(),
            error_message: e.0.to_string(),
        }
    }
}

pub mod logging;

/// Logs as the function's Lambda logging controls say: JSON lines with
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG`, else INFO (see [`logging`]).
pub fn init_tracing() {
    logging::init();
}

/// Reads and validates configuration once per container; a bad value stops the
/// container at init with a message naming the variable.
pub fn load_config() -> Result<Config, lambda_runtime::Error> {
    Config::from_env().map_err(|e| {
        tracing::error!(error_type = e.error_type(), error = %e, "invalid configuration");
        e.into()
    })
}

/// AWS SDK configuration (honours `AWS_ENDPOINT_URL` for the local stack).
pub async fn sdk_config() -> aws_config::SdkConfig {
    driftguard_aws::load_sdk_config().await
}

/// Deserializes a step's input, or says which contract it breaks.
pub fn parse_input<T: DeserializeOwned>(payload: Value) -> Result<T, Error> {
    serde_json::from_value(payload).map_err(|e| {
        Error::InvalidInput(format!(
            "the input does not match {} ({e}); check the state's Parameters in the state machine",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("the step's input type")
        ))
    })
}

/// Runs a typed step handler under the Lambda runtime.
pub async fn serve<Req, Resp, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Fn(Req, Context) -> Fut,
    Fut: Future<Output = Result<Resp, Error>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (payload, context) = event.into_parts();
        let request: Req = parse_input(payload)?;
        // Requests take their timeouts from the time this invocation has left.
        let deadline = driftguard_core::deadline::from_epoch_millis(context.deadline);
        driftguard_core::deadline::within(deadline, handler(request, context))
            .await
            .map_err(StepError)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_stable_error_type() {
        let d: Diagnostic = StepError(Error::TfcConfigurationMissing {
            workspace: "prod".into(),
        })
        .into();
        assert_eq!(d.error_type, "TfcConfigurationMissing");
        assert!(d.error_message.contains("prod"));
    }

    #[test]
    fn bad_input_names_the_contract() {
        let e = parse_input::<driftguard_core::model::CreateRunRequest>(
            serde_json::json!({"check": 1}),
        )
        .unwrap_err();
        assert_eq!(e.error_type(), "InvalidInput");
        assert!(e.to_string().contains("CreateRunRequest"), "{e}");
    }
}

/// Adapters built once per container from the configuration.
pub mod adapters {
    use std::sync::Arc;

    use driftguard_aws::SecretsManagerSource;
    use driftguard_aws::{
        DynamoBatchStore, DynamoConversations, DynamoHistory, DynamoPacer, DynamoRemediations,
        SecurityHubFindings, StepFunctionsCallbacks, StepFunctionsReader, TaggingApiLookup,
    };
    use driftguard_core::alerting::ChatApp;
    use driftguard_core::config::Config;
    use driftguard_core::ports::{SecretSource, TerraformCloud};
    use driftguard_slack::{BlockKit, SlackApi, SlackWebhook};
    use driftguard_tfc::HttpTerraformCloud;

    pub fn secrets(sdk: &aws_config::SdkConfig) -> Arc<dyn SecretSource> {
        Arc::new(SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        ))
    }

    pub fn terraform_cloud(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Arc<dyn TerraformCloud>, lambda_runtime::Error> {
        Ok(Arc::new(terraform_cloud_client(config, sdk)?))
    }

    /// A client that queues up to `patience` for a request slot (and waits
    /// out a 429 that resets within it) rather than failing at once: for
    /// functions invoked asynchronously, which have few retries.
    pub fn patient_terraform_cloud(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        patience: std::time::Duration,
    ) -> Result<Arc<dyn TerraformCloud>, lambda_runtime::Error> {
        Ok(Arc::new(
            terraform_cloud_client(config, sdk)?.with_patience(patience),
        ))
    }

    fn terraform_cloud_client(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<HttpTerraformCloud, lambda_runtime::Error> {
        let mut client = HttpTerraformCloud::new(
            &config.tfc_address,
            secrets(sdk),
            config.tfc_token_secret()?,
        )?;
        // One budget for every container: HCP Terraform limits requests per
        // user, so the budget is keyed by the token's user.
        if let Some(limits) = config.tfc_pace {
            client = client.with_pacer(
                Arc::new(DynamoPacer::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    config.history_table()?,
                )),
                limits,
            );
        }
        Ok(client)
    }

    pub fn slack(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<SlackWebhook, lambda_runtime::Error> {
        Ok(SlackWebhook::new(
            secrets(sdk),
            config.slack_webhook_secret()?,
        )?)
    }

    pub fn history(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoHistory, lambda_runtime::Error> {
        Ok(DynamoHistory::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.history_table()?,
        ))
    }

    /// What remediate notes about each execution's remediation run.
    pub fn remediations(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoRemediations, lambda_runtime::Error> {
        Ok(DynamoRemediations::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.history_table()?,
        ))
    }

    pub fn batches(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoBatchStore, lambda_runtime::Error> {
        Ok(DynamoBatchStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.history_table()?,
        ))
    }

    /// The account the function runs in (Terraform sets it), for reading
    /// the current tags of changed resources in it.
    pub const ACCOUNT_ID_VAR: &str = "DRIFTGUARD_ACCOUNT_ID";

    /// The current-tags lookup, when some workspace route filters on tags
    /// (`workspaces[*].tags`) and the account is known.
    pub fn tag_lookup(config: &Config, sdk: &aws_config::SdkConfig) -> Option<TaggingApiLookup> {
        if config.workspaces.iter().all(|w| w.tags.is_empty()) {
            return None;
        }
        match std::env::var(ACCOUNT_ID_VAR) {
            Ok(account) if !account.trim().is_empty() => {
                Some(TaggingApiLookup::new(sdk, account.trim()))
            }
            _ => {
                tracing::warn!(
                    "{ACCOUNT_ID_VAR} is not set: the current tags of changed resources cannot be read, so tag filters of workspace routes take every change they cannot see tags for"
                );
                None
            }
        }
    }

    /// The Security Hub publisher, when findings are on (`security_hub_findings`).
    pub fn findings(config: &Config, sdk: &aws_config::SdkConfig) -> Option<SecurityHubFindings> {
        config
            .security_hub
            .as_ref()
            .map(|_| SecurityHubFindings::new(aws_sdk_securityhub::Client::new(sdk)))
    }

    pub fn executions(sdk: &aws_config::SdkConfig) -> StepFunctionsReader {
        StepFunctionsReader::new(aws_sdk_sfn::Client::new(sdk))
    }

    pub fn task_callbacks(sdk: &aws_config::SdkConfig) -> StepFunctionsCallbacks {
        StepFunctionsCallbacks::new(aws_sdk_sfn::Client::new(sdk))
    }

    /// The Slack Web API with the app's bot token.
    pub fn slack_api(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<SlackApi, lambda_runtime::Error> {
        Ok(SlackApi::new(
            secrets(sdk),
            config.slack_bot_token_secret()?,
            &config.slack_app.api_url,
        )?)
    }

    pub fn conversations(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoConversations, lambda_runtime::Error> {
        Ok(DynamoConversations::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.history_table()?,
        ))
    }

    /// The Slack app's adapters, when the app is configured (a bot token secret).
    pub struct SlackAppAdapters {
        pub api: SlackApi,
        pub conversations: DynamoConversations,
    }

    impl SlackAppAdapters {
        pub fn ports(&self) -> ChatApp<'_> {
            ChatApp {
                chat: &self.api,
                format: &BlockKit,
                conversations: &self.conversations,
                approvals: &self.conversations,
            }
        }
    }

    pub fn slack_app(
        config: &Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Option<SlackAppAdapters>, lambda_runtime::Error> {
        if config.slack_app.bot_token_secret.is_none() {
            return Ok(None);
        }
        Ok(Some(SlackAppAdapters {
            api: slack_api(config, sdk)?,
            conversations: conversations(config, sdk)?,
        }))
    }
}

pub use driftguard_core::now_epoch;

/// The error a Lambda `main` returns when the container cannot start.
pub type InitError = lambda_runtime::Error;
