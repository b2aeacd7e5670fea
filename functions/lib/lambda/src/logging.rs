//! Logs under Lambda's logging controls, read the way the runtime's own
//! subscriber reads them (lambda-runtime-api-client `tracing.rs`):
//!
//! - `AWS_LAMBDA_LOG_LEVEL` (Lambda sets it from the function's
//!   `logging_config.application_log_level`) takes precedence over everything;
//! - otherwise `RUST_LOG` (full `EnvFilter` directives, e.g. `info,driftguard_core=debug`);
//! - otherwise INFO.
//!
//! `AWS_LAMBDA_LOG_FORMAT=JSON` gives JSON lines, anything else text.
//!
//! Two differences from the runtime, both deliberate:
//! - When `AWS_LAMBDA_LOG_LEVEL` is set, `RUST_LOG` is ignored. The runtime
//!   documents this precedence, but its `EnvFilter` still applies `RUST_LOG`'s
//!   directives over the Lambda level.
//! - Lambda's `FATAL` means ERROR (tracing has no FATAL; the runtime would fall
//!   back to INFO), and an unknown level is INFO.
//!
//! And one addition: the HTTP, TLS and AWS SDK libraries never log below INFO
//! under a Lambda level, since their debug lines carry request URLs (a Slack
//! webhook URL is a secret; a plan-JSON redirect is a signed URL). `RUST_LOG`
//! can still open them up on purpose.
//!
//! JSON lines keep their RFC 3339 `timestamp`: Lambda's log-level filtering reads
//! `level` and `timestamp`, and treats a line without a valid timestamp as INFO.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Libraries (target prefixes) capped at INFO under a Lambda log level.
const QUIET_LIBRARIES: &[&str] = &["aws", "h2", "hyper", "reqwest", "rustls", "tower"];

/// How the functions write logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// The resolved logging controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `EnvFilter` directives.
    pub directives: String,
}

impl LogSettings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let format = match set("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let directives = match (set("AWS_LAMBDA_LOG_LEVEL"), set("RUST_LOG")) {
            (Some(level), _) => lambda_level_directives(&level),
            (None, Some(rust_log)) => rust_log,
            (None, None) => "info".to_string(),
        };
        LogSettings { format, directives }
    }

    /// The filter for these directives (invalid directives are skipped, as
    /// `RUST_LOG` is everywhere; none at all means INFO).
    pub fn filter(&self) -> EnvFilter {
        EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(&self.directives)
    }
}

/// Directives for one of Lambda's application log levels.
fn lambda_level_directives(level: &str) -> String {
    let level = match level.to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "WARN" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    };
    let libraries = level.min(LevelFilter::INFO);
    let mut directives = vec![level.to_string().to_lowercase()];
    directives.extend(
        QUIET_LIBRARIES
            .iter()
            .map(|target| format!("{target}={}", libraries.to_string().to_lowercase())),
    );
    directives.join(",")
}

/// The subscriber for these settings, writing to `writer`.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(settings.filter())
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer);
    match settings.format {
        LogFormat::Json => Box::new(builder.json().with_current_span(false).finish()),
        // CloudWatch stamps each text line with its ingestion time.
        LogFormat::Text => Box::new(builder.without_time().finish()),
    }
}

/// Installs the subscriber for the process environment (once; later calls do nothing).
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(
        &LogSettings::from_env(),
        std::io::stdout,
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_lookup(|name| vars.get(name).cloned())
    }

    /// Lines a subscriber with these settings writes while `emit` runs.
    fn capture(settings: &LogSettings, emit: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("buffer").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing::subscriber::with_default(subscriber(settings, move || writer.clone()), emit);
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn emit_every_level() {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!(workspace = "acme/prod", "i");
        tracing::warn!("w");
        tracing::error!("e");
        // What reqwest logs when it follows a redirect to a signed URL.
        tracing::debug!(target: "reqwest::redirect", "redirecting to https://bucket/?X-Amz-Signature=secret");
        tracing::debug!(target: "aws_smithy_runtime::client", "sdk detail");
    }

    fn messages(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                v["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn lambda_level_wins_over_rust_log() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
            ("RUST_LOG", "trace"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        assert_eq!(messages(&capture(&s, emit_every_level)), ["w", "e"]);
    }

    #[test]
    fn rust_log_applies_without_a_lambda_level() {
        let s = settings(&[
            ("RUST_LOG", "warn,driftguard_lambda=debug"),
            ("AWS_LAMBDA_LOG_FORMAT", "json"),
        ]);
        assert_eq!(
            messages(&capture(&s, emit_every_level)),
            ["d", "i", "w", "e"]
        );
    }

    #[test]
    fn info_without_any_control() {
        let s = settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert_eq!(s.directives, "info");
        assert_eq!(messages(&capture(&s, emit_every_level)), ["i", "w", "e"]);
        // Empty values count as unset, as Lambda may pass them.
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", " "), ("RUST_LOG", "")]);
        assert_eq!(s.directives, "info");
    }

    #[test]
    fn fatal_means_errors_only_and_unknown_means_info() {
        let fatal = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        assert_eq!(messages(&capture(&fatal, emit_every_level)), ["e"]);
        let unknown = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        assert_eq!(
            messages(&capture(&unknown, emit_every_level)),
            ["i", "w", "e"]
        );
    }

    #[test]
    fn lambda_debug_keeps_http_and_sdk_libraries_at_info() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        let lines = capture(&s, emit_every_level);
        assert_eq!(messages(&lines), ["d", "i", "w", "e"]);
        assert!(
            !lines.iter().any(|l| l.contains("X-Amz-Signature")),
            "{lines:?}"
        );
        let trace = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        assert_eq!(
            messages(&capture(&trace, emit_every_level)),
            ["t", "d", "i", "w", "e"]
        );
    }

    #[test]
    fn json_lines_carry_what_lambda_filters_on() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]);
        let lines = capture(&s, || tracing::info!(workspace = "acme/prod", "checked"));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: Value = serde_json::from_str(&lines[0]).expect("one JSON object per line");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["workspace"], "acme/prod");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(
            looks_rfc3339(timestamp),
            "Lambda needs an RFC 3339 timestamp to use the level: {timestamp}"
        );
        assert!(line.get("target").is_none(), "{line}");
    }

    /// `2026-01-02T03:04:05.678901Z`.
    fn looks_rfc3339(t: &str) -> bool {
        let b = t.as_bytes();
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && (t.ends_with('Z') || t[19..].contains('+') || t[19..].contains('-'))
    }

    #[test]
    fn text_unless_the_format_is_json() {
        for format in [None, Some("Text"), Some("text"), Some("yaml")] {
            let mut vars = vec![("AWS_LAMBDA_LOG_LEVEL", "INFO")];
            if let Some(f) = format {
                vars.push(("AWS_LAMBDA_LOG_FORMAT", f));
            }
            let s = settings(&vars);
            assert_eq!(s.format, LogFormat::Text, "{format:?}");
            let lines = capture(&s, || tracing::info!(workspace = "acme/prod", "checked"));
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].trim(), "INFO checked workspace=\"acme/prod\"");
        }
    }
}
