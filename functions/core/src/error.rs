//! One error type for every DriftGuard step.
//!
//! Each variant has a stable name (`error_type`) that Lambda reports as
//! `errorType` and that the state machine's `Retry` blocks match, so the names
//! are a public contract: never rename one.

use std::time::Duration;

/// Every failure a DriftGuard step can report. Messages say what to do.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// HCP Terraform answered 429; `retry_after` comes from its rate-limit reset header.
    #[error(
        "HCP Terraform rate limit reached ({message}); the step is retried after the reset time"
    )]
    TfcRateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 5xx, a timeout or a connection failure talking to HCP Terraform.
    #[error(
        "HCP Terraform is unavailable: {0}; the step is retried, and a failed execution can be redriven once it is back"
    )]
    TfcUnavailable(String),
    /// 401 even after re-reading the token secret.
    #[error(
        "HCP Terraform rejected the API token (401) even after re-reading secret '{secret}'. Put a valid user or team token in that secret, then redrive the execution"
    )]
    TfcUnauthorized { secret: String },
    /// 404: workspace or run missing, or the token cannot see it.
    #[error(
        "HCP Terraform answered 404 for {what}. Check that it exists and that the token's user or team has access to it (organization tokens cannot create runs)"
    )]
    TfcNotFound { what: String },
    /// 422 "Configuration version is missing".
    #[error(
        "Workspace '{workspace}' has no configuration version, so no plan can be made. Run `terraform plan` once in workspace '{workspace}' (or connect its VCS repository) so it has one, then redrive the execution"
    )]
    TfcConfigurationMissing { workspace: String },
    /// A response DriftGuard cannot interpret.
    #[error("Unexpected response from HCP Terraform: {0}")]
    TfcProtocol(String),
    /// The plan ran longer than the configured timeout; the run was canceled or discarded.
    #[error(
        "Run {run_id} did not finish within {timeout_seconds} s and was stopped ({stopped}). Raise plan_timeout_seconds if plans in this workspace are slow"
    )]
    PlanTimedOut {
        run_id: String,
        timeout_seconds: u64,
        stopped: String,
    },
    /// Slack answered 429.
    #[error("Slack rate limit reached; the step is retried")]
    SlackRateLimited { retry_after: Option<Duration> },
    /// Slack 5xx or unreachable.
    #[error(
        "Slack is unavailable: {0}; the step is retried, and a failed execution can be redriven once Slack is back"
    )]
    SlackUnavailable(String),
    /// Slack 4xx other than 429: wrong or revoked webhook URL, or a message Slack refuses.
    #[error(
        "Slack rejected the message: {0}. Check the webhook URL stored in the Slack secret (it may have been revoked), then redrive the execution"
    )]
    SlackRejected(String),
    /// The step input is not what the contract says.
    #[error("Invalid input: {0}")]
    InvalidInput(String),
    /// Configuration (environment, secret content) is missing or wrong.
    #[error("Configuration error: {0}")]
    ConfigError(String),
    /// An AWS service DriftGuard depends on (DynamoDB, Secrets Manager, Step Functions) failed.
    #[error("AWS call failed: {0}")]
    AwsUnavailable(String),
}

impl Error {
    /// The stable name reported as Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::TfcRateLimited { .. } => "TfcRateLimited",
            Error::TfcUnavailable(_) => "TfcUnavailable",
            Error::TfcUnauthorized { .. } => "TfcUnauthorized",
            Error::TfcNotFound { .. } => "TfcNotFound",
            Error::TfcConfigurationMissing { .. } => "TfcConfigurationMissing",
            Error::TfcProtocol(_) => "TfcProtocol",
            Error::PlanTimedOut { .. } => "PlanTimedOut",
            Error::SlackRateLimited { .. } => "SlackRateLimited",
            Error::SlackUnavailable(_) => "SlackUnavailable",
            Error::SlackRejected(_) => "SlackRejected",
            Error::InvalidInput(_) => "InvalidInput",
            Error::ConfigError(_) => "ConfigError",
            Error::AwsUnavailable(_) => "AwsUnavailable",
        }
    }

    /// Whether retrying the same step later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::TfcRateLimited { .. }
                | Error::TfcUnavailable(_)
                | Error::SlackRateLimited { .. }
                | Error::SlackUnavailable(_)
                | Error::AwsUnavailable(_)
        )
    }

    /// Every error name a DriftGuard function can emit (the ASL contract test uses it).
    pub const ALL_TYPES: &'static [&'static str] = &[
        "TfcRateLimited",
        "TfcUnavailable",
        "TfcUnauthorized",
        "TfcNotFound",
        "TfcConfigurationMissing",
        "TfcProtocol",
        "PlanTimedOut",
        "SlackRateLimited",
        "SlackUnavailable",
        "SlackRejected",
        "InvalidInput",
        "ConfigError",
        "AwsUnavailable",
    ];
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_name_is_listed() {
        let samples = [
            Error::TfcRateLimited {
                message: String::new(),
                retry_after: None,
            },
            Error::TfcUnavailable(String::new()),
            Error::TfcUnauthorized { secret: "s".into() },
            Error::TfcNotFound { what: "w".into() },
            Error::TfcConfigurationMissing {
                workspace: "w".into(),
            },
            Error::TfcProtocol(String::new()),
            Error::PlanTimedOut {
                run_id: "r".into(),
                timeout_seconds: 1,
                stopped: "canceled".into(),
            },
            Error::SlackRateLimited { retry_after: None },
            Error::SlackUnavailable(String::new()),
            Error::SlackRejected(String::new()),
            Error::InvalidInput(String::new()),
            Error::ConfigError(String::new()),
            Error::AwsUnavailable(String::new()),
        ];
        assert_eq!(samples.len(), Error::ALL_TYPES.len());
        for e in samples {
            assert!(
                Error::ALL_TYPES.contains(&e.error_type()),
                "{} missing",
                e.error_type()
            );
        }
    }

    #[test]
    fn configuration_missing_message_says_what_to_do() {
        let e = Error::TfcConfigurationMissing {
            workspace: "prod".into(),
        };
        assert!(
            e.to_string()
                .contains("Run `terraform plan` once in workspace 'prod'")
        );
    }
}
