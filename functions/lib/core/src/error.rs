//! One error type for every DriftGuard step.
//!
//! Each variant has a stable name (`error_type`) that Lambda reports as
//! `errorType` and that the state machine's `Retry` blocks match, so the names
//! are a public contract: never rename one.

use std::time::Duration;

/// Every failure a DriftGuard step can report. Messages say what to do, in the
/// words of whoever reads them ([`Audience`]): `Display` speaks to a person
/// reading the state machine's execution (steps are retried, executions are
/// redriven); [`Error::cli_message`] to a person running `driftguard check`.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// HCP Terraform answered 429; `retry_after` comes from its rate-limit reset header.
    TfcRateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 5xx, a timeout or a connection failure talking to HCP Terraform.
    TfcUnavailable(String),
    /// 401 even after re-reading the token secret.
    TfcUnauthorized { secret: String },
    /// 404: workspace or run missing, or the token cannot see it.
    TfcNotFound { what: String },
    /// The token can see the workspace but lacks the access an endpoint needs
    /// (plan JSON needs workspace admin access; the API answers 404 or 401).
    TfcPermissionDenied { what: String, needed: String },
    /// 422 "Configuration version is missing".
    TfcConfigurationMissing { workspace: String },
    /// A response DriftGuard cannot interpret.
    TfcProtocol(String),
    /// The plan ran longer than the configured timeout; the run was canceled or discarded.
    PlanTimedOut {
        run_id: String,
        timeout_seconds: u64,
        stopped: String,
    },
    /// A remediation apply ran past its own bound. A running apply is never canceled.
    ApplyTimedOut {
        run_id: String,
        timeout_seconds: u64,
        status: String,
        /// What happened to the run ("left applying", "discarded: the apply never started").
        left: String,
    },
    /// Slack answered 429.
    SlackRateLimited { retry_after: Option<Duration> },
    /// Slack 5xx or unreachable.
    SlackUnavailable(String),
    /// Slack 4xx other than 429: wrong or revoked webhook URL, or a message Slack refuses.
    SlackRejected(String),
    /// The step input is not what the contract says.
    InvalidInput(String),
    /// Configuration (environment, secret content) is missing or wrong.
    ConfigError(String),
    /// An AWS service DriftGuard depends on (DynamoDB, Secrets Manager, Step Functions) failed.
    AwsUnavailable(String),
}

/// Who reads an error message, and so which remedies it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A person looking at a state machine execution or its alert.
    StateMachine,
    /// A person running the `driftguard` command.
    Cli,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Audience::StateMachine))
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The message for `audience`: what went wrong and what to do.
    pub fn message(&self, audience: Audience) -> String {
        let cli = audience == Audience::Cli;
        // The remedy once the cause is fixed: redrive, or run the command again.
        let again = if cli {
            "run the check again"
        } else {
            "redrive the execution"
        };
        match self {
            Error::TfcRateLimited { message, .. } if cli => format!(
                "HCP Terraform rate limit reached ({message}) and it did not reset within --timeout; run the check again later"
            ),
            Error::TfcRateLimited { message, .. } => format!(
                "HCP Terraform rate limit reached ({message}); the step is retried after the reset time"
            ),
            Error::TfcUnavailable(detail) if cli => format!(
                "HCP Terraform is unavailable: {detail}; run the check again once it is back"
            ),
            Error::TfcUnavailable(detail) => format!(
                "HCP Terraform is unavailable: {detail}; the step is retried, and a failed execution can be redriven once it is back"
            ),
            Error::TfcUnauthorized { .. } if cli => "HCP Terraform rejected the API token (401). Set TFE_TOKEN to a valid user or team token, or run `terraform login` for this host".to_string(),
            Error::TfcUnauthorized { secret } => format!(
                "HCP Terraform rejected the API token (401) even after re-reading secret '{secret}'. Put a valid user or team token in that secret, then redrive the execution"
            ),
            Error::TfcNotFound { what } => format!(
                "HCP Terraform answered 404 for {what}. Check that it exists and that the token's user or team has access to it (organization tokens cannot create runs)"
            ),
            Error::TfcPermissionDenied { what, needed } => {
                format!("HCP Terraform refused {what}: {needed}, then {again}")
            }
            Error::TfcConfigurationMissing { workspace } => format!(
                "Workspace '{workspace}' has no configuration version, so no plan can be made. Run `terraform plan` once in workspace '{workspace}' (or connect its VCS repository) so it has one, then {again}"
            ),
            Error::TfcProtocol(detail) => format!("Unexpected response from HCP Terraform: {detail}"),
            Error::PlanTimedOut {
                run_id,
                timeout_seconds,
                stopped,
            } => format!(
                "Run {run_id} did not finish within {timeout_seconds} s and was stopped ({stopped}). Raise {} if plans in this workspace are slow",
                if cli { "--timeout" } else { "plan_timeout_seconds" }
            ),
            Error::ApplyTimedOut {
                run_id,
                timeout_seconds,
                status,
                left,
            } => format!(
                "The remediation apply of run {run_id} was still '{status}' {timeout_seconds} s after it was requested ({left}). DriftGuard never cancels a running apply: follow the run in HCP Terraform, and raise apply_timeout_seconds if applies in this workspace are slow"
            ),
            Error::SlackRateLimited { .. } if cli => {
                "Slack rate limit reached; post the result again in a minute".to_string()
            }
            Error::SlackRateLimited { .. } => {
                "Slack rate limit reached; the step is retried".to_string()
            }
            Error::SlackUnavailable(detail) if cli => {
                format!("Slack is unavailable: {detail}; post the result again once Slack is back")
            }
            Error::SlackUnavailable(detail) => format!(
                "Slack is unavailable: {detail}; the step is retried, and a failed execution can be redriven once Slack is back"
            ),
            Error::SlackRejected(detail) if cli => format!(
                "Slack rejected the message: {detail}. Check the webhook URL (--slack-webhook or SLACK_WEBHOOK_URL); it may have been revoked"
            ),
            Error::SlackRejected(detail) => format!(
                "Slack rejected the message: {detail}. Check the webhook URL stored in the Slack secret (it may have been revoked), then redrive the execution"
            ),
            Error::InvalidInput(detail) => format!("Invalid input: {detail}"),
            Error::ConfigError(detail) => format!("Configuration error: {detail}"),
            Error::AwsUnavailable(detail) => format!("AWS call failed: {detail}"),
        }
    }

    /// The message for a person running the `driftguard` command.
    pub fn cli_message(&self) -> String {
        self.message(Audience::Cli)
    }

    /// The stable name reported as Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::TfcRateLimited { .. } => "TfcRateLimited",
            Error::TfcUnavailable(_) => "TfcUnavailable",
            Error::TfcUnauthorized { .. } => "TfcUnauthorized",
            Error::TfcNotFound { .. } => "TfcNotFound",
            Error::TfcPermissionDenied { .. } => "TfcPermissionDenied",
            Error::TfcConfigurationMissing { .. } => "TfcConfigurationMissing",
            Error::TfcProtocol(_) => "TfcProtocol",
            Error::PlanTimedOut { .. } => "PlanTimedOut",
            Error::ApplyTimedOut { .. } => "ApplyTimedOut",
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
        "TfcPermissionDenied",
        "TfcConfigurationMissing",
        "TfcProtocol",
        "PlanTimedOut",
        "ApplyTimedOut",
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
            Error::TfcPermissionDenied {
                what: "w".into(),
                needed: "n".into(),
            },
            Error::TfcConfigurationMissing {
                workspace: "w".into(),
            },
            Error::TfcProtocol(String::new()),
            Error::PlanTimedOut {
                run_id: "r".into(),
                timeout_seconds: 1,
                stopped: "canceled".into(),
            },
            Error::ApplyTimedOut {
                run_id: "r".into(),
                timeout_seconds: 1,
                status: "applying".into(),
                left: "left applying".into(),
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
    fn cli_messages_speak_of_the_command_not_of_steps_and_executions() {
        let samples = [
            Error::TfcRateLimited {
                message: "m".into(),
                retry_after: None,
            },
            Error::TfcUnavailable("503".into()),
            Error::TfcUnauthorized { secret: "s".into() },
            Error::TfcPermissionDenied {
                what: "w".into(),
                needed: "n".into(),
            },
            Error::TfcConfigurationMissing {
                workspace: "prod".into(),
            },
            Error::PlanTimedOut {
                run_id: "r".into(),
                timeout_seconds: 1,
                stopped: "canceled".into(),
            },
            Error::SlackRateLimited { retry_after: None },
            Error::SlackUnavailable("503".into()),
            Error::SlackRejected("invalid_token".into()),
        ];
        for e in samples {
            let cli = e.cli_message();
            for lambda_word in [
                "step",
                "redrive",
                "execution",
                "plan_timeout_seconds",
                "secret",
            ] {
                assert!(!cli.contains(lambda_word), "{cli}");
            }
        }
        let e = Error::PlanTimedOut {
            run_id: "r".into(),
            timeout_seconds: 1,
            stopped: "canceled".into(),
        };
        assert!(e.cli_message().contains("--timeout"));
        assert!(e.to_string().contains("plan_timeout_seconds"));
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
