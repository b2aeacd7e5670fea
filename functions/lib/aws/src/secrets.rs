//! Secrets Manager, with a per-container cache. Values never reach a log line.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use driftguard_core::error::{Error, Result};
use driftguard_core::ports::SecretSource;

/// Secrets Manager, cached for the life of the Lambda container.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<String, String>>,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(&self, name: &str) -> Result<String> {
        let out = self.client.get_secret_value().secret_id(name).send().await.map_err(|e| {
            let service = e.as_service_error();
            match service {
                Some(err) if err.is_resource_not_found_exception() => Error::ConfigError(format!(
                    "secret '{name}' does not exist in Secrets Manager; create it (see the README, 'Creating the two secrets') or fix the secret name variable"
                )),
                Some(err) if err.is_decryption_failure() => Error::ConfigError(format!(
                    "secret '{name}' cannot be decrypted; give this function kms:Decrypt on the secret's KMS key"
                )),
                _ => Error::AwsUnavailable(format!(
                    "reading secret '{name}' from Secrets Manager failed: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )),
            }
        })?;
        let value = out.secret_string().map(str::to_string).ok_or_else(|| {
            Error::ConfigError(format!(
                "secret '{name}' has no string value; store the value as text, not binary"
            ))
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name.to_string(), value.clone());
        }
        Ok(value)
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn secret(&self, name: &str) -> Result<String> {
        if let Some(value) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(value);
        }
        self.fetch(name).await
    }

    async fn refresh(&self, name: &str) -> Result<String> {
        tracing::info!(secret = name, "re-reading secret");
        self.fetch(name).await
    }
}
