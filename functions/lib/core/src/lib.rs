//! DriftGuard core library: every piece of logic that can be tested without
//! Lambda. The outside world is reached through the traits in [`ports`],
//! which speak only [`model`] types; `aws`, `tfc` and `slack` hold the real
//! adapters, and each port has an in-memory implementation for tests, built
//! only with the `testing` feature (never in a Lambda).
//!
//! - [`admission`]: CloudTrail event → change, filter, routing.
//! - [`coalesce`]: one open batch per workspace.
//! - [`tfc`]: HCP Terraform API client and run-status phases.
//! - [`pacing`]: one shared request budget for HCP Terraform (GCRA).
//! - [`poll`]: adaptive poll schedule and plan timeout.
//! - [`plan`]: drift report from `terraform show -json` output.
//! - [`alerting`]: the channel-neutral alerting ports and one thread per drift
//!   (Slack is the `driftguard-slack` adapter).
//! - [`approval`]: decisions from Slack buttons: the waiting step and the
//!   callback receiver.
//! - [`history`]: history records, alert suppression, accepted drift.
//! - [`episodes`]: drift episodes per resource, planned by the record step.
//! - [`metrics`]: CloudWatch embedded-metric documents (published through the
//!   `MetricsSink` port).
//! - [`findings`]: Security Hub findings (ASFF) per episode.
//! - [`dashboard`]: the drift-history page (CloudWatch custom widget and CLI).
//! - [`remediation`]: which remediation runs DriftGuard trusts as its own.
//! - [`steps`]: one function per state-machine step, used by the Lambdas and
//!   the CLI (`functions/cli`).

pub mod admission;
pub mod alerting;
pub mod approval;
pub mod coalesce;
pub mod config;
pub mod dashboard;
pub mod deadline;
pub mod episodes;
pub mod error;
pub mod findings;
pub mod history;
pub mod metrics;
pub mod model;
pub mod pacing;
pub mod pattern;
pub mod plan;
pub mod poll;
pub mod ports;
pub mod remediation;
pub mod secrets;
pub mod steps;
pub mod tfc;

pub use error::{Error, Result};

/// Seconds since the Unix epoch (UTC).
pub fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `text` left-aligned in `width` characters. `format!("{text:<width$}")`
/// panics when the width passes 65,535 (a resource address can be that long).
pub(crate) fn pad_right(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len().max(width));
    out.push_str(text);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(text.chars().count()),
    ));
    out
}
