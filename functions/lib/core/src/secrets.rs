//! Secrets by name: the shapes a secret's value may take, and a static
//! source for the CLI and tests (Secrets Manager is in `driftguard-aws`).
//! Values never reach a log line.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ports::SecretSource;

/// Fixed secrets (CLI: token from `TFE_TOKEN`; tests).
#[derive(Default)]
pub struct StaticSecrets {
    values: Mutex<HashMap<String, String>>,
    /// Values returned by `refresh`, to model a rotation in tests.
    rotated: Mutex<HashMap<String, String>>,
}

impl StaticSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(self, name: &str, value: &str) -> Self {
        if let Ok(mut v) = self.values.lock() {
            v.insert(name.to_string(), value.to_string());
        }
        self
    }

    /// After this, `refresh(name)` returns `value` (a rotated secret).
    pub fn rotate(&self, name: &str, value: &str) {
        if let Ok(mut v) = self.rotated.lock() {
            v.insert(name.to_string(), value.to_string());
        }
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn secret(&self, name: &str) -> Result<String> {
        self.values
            .lock()
            .ok()
            .and_then(|v| v.get(name).cloned())
            .ok_or_else(|| Error::ConfigError(format!("secret '{name}' is not set")))
    }

    async fn refresh(&self, name: &str) -> Result<String> {
        let rotated = self.rotated.lock().ok().and_then(|r| r.get(name).cloned());
        if let Some(value) = rotated {
            if let Ok(mut v) = self.values.lock() {
                v.insert(name.to_string(), value.clone());
            }
            return Ok(value);
        }
        self.secret(name).await
    }
}

/// Why a secret's value does not have the shape a caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    /// The value starts like a JSON object but does not parse.
    InvalidJson,
    /// A JSON object without the wanted string field.
    MissingField,
}

/// The text a secret holds, stored either as plain text or as a JSON object
/// with one string field (`{"token": "..."}`): both shapes are common in
/// Secrets Manager. Trimmed; may be empty (callers say what empty means).
pub fn secret_field(value: &str, field: &str) -> std::result::Result<String, SecretShape> {
    let trimmed = value.trim();
    if !trimmed.starts_with('{') {
        return Ok(trimmed.to_string());
    }
    let doc: serde_json::Value =
        serde_json::from_str(trimmed).map_err(|_| SecretShape::InvalidJson)?;
    doc.get(field)
        .and_then(|f| f.as_str())
        .map(|f| f.trim().to_string())
        .ok_or(SecretShape::MissingField)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_secrets_rotate_on_refresh() {
        let s = StaticSecrets::new().with("tfc", "old");
        assert_eq!(s.secret("tfc").await.unwrap(), "old");
        s.rotate("tfc", "new");
        assert_eq!(s.secret("tfc").await.unwrap(), "old");
        assert_eq!(s.refresh("tfc").await.unwrap(), "new");
        assert_eq!(s.secret("tfc").await.unwrap(), "new");
        assert!(s.secret("missing").await.is_err());
    }

    #[test]
    fn secret_field_accepts_plain_and_json() {
        assert_eq!(secret_field(" abc \n", "token").as_deref(), Ok("abc"));
        assert_eq!(
            secret_field(r#"{"token":"xyz"}"#, "token").as_deref(),
            Ok("xyz")
        );
        assert_eq!(
            secret_field(r#"{"other":"xyz"}"#, "token"),
            Err(SecretShape::MissingField)
        );
        assert_eq!(
            secret_field(r#"{"token":"#, "token"),
            Err(SecretShape::InvalidJson)
        );
        assert_eq!(secret_field("", "token").as_deref(), Ok(""));
    }
}
