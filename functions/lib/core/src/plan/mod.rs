//! The drift verdict from a `terraform show -json` plan.
//!
//! # What counts as drift
//! Drift is a difference between Terraform's state and the real resource that
//! Terraform did not make. A plan JSON carries both halves: `resource_drift`
//! (prior state → refreshed state: what changed outside Terraform) and
//! `resource_changes` (refreshed state → configuration: what an apply would
//! do). Every changed attribute path, at leaf level, is one of:
//! - **drifted**: changed outside Terraform and managed by it. In a normal plan
//!   (what DriftGuard runs in HCP Terraform) managed means `resource_changes`
//!   changes that path back. A resource deleted outside is drifted as a whole
//!   (the plan creates it again); a replace forced by drift is drifted, with
//!   the replace as its action.
//! - **pending code**: the plan changes the path but nothing changed outside
//!   there: unapplied configuration, imports, data-source driven changes.
//!   Reported, never drift, never remediated. When drift and code change the
//!   same resource, it is drifted and flagged `also_pending_code`.
//! - **informational**: changed outside but not changed back: computed
//!   attributes, `ignore_changes`, attributes mirrored from other resources.
//!
//! Refresh-only plans (`terraform plan -refresh-only`) have no
//! `resource_changes`: there a path is managed when the resource's block in
//! `configuration` sets it, or when a provider schema marks it Optional and
//! not Computed; otherwise it is listed as possibly managed. `tags_all` is
//! folded into `tags` or `default_tags`; see [`paths`] for how paths are
//! named and compared. Data sources and deposed objects are skipped; moved
//! resources keep their `previous_address`. No value ever leaves this module.
//!
//! # What cannot be judged
//! State JSON, provider schemas, other JSON, plans with `"errored": true` or
//! `"complete": false`, unknown `format_version`s, and Terraform 0.12–0.15.3
//! plans (format 0.1 without `resource_drift`) that plan changes are errors
//! ([`PlanError`]) that say what the file is and what to run instead: never a
//! silent "no drift".
//!
//! # Memory
//! The document is read from a [`Read`] in one pass ([`document`]): entries are
//! deserialized one at a time and reduced to paths and hashes; `prior_state`
//! and `planned_values` are skipped unread.

mod classify;
mod document;
mod paths;
mod report;
mod schema;
mod stream;

use std::io::{BufRead, BufReader, Read};

pub use classify::Analysis;
pub use report::{
    MAX_ATTRIBUTE_PATHS, action_label, fingerprint, paths_fingerprint, pending_code_sentence,
    plural, render_table,
};
pub use schema::{AttributeFlags, ProviderSchema};
pub use stream::{StreamOptions, memory_stream, summarize_stream};

use crate::config::IgnoreRules;
use crate::model::DriftReport;

/// Why a document cannot be judged. Each message says what the document is and
/// what to run instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "it is not JSON ({0}); pass the output of `terraform show -json tfplan` (the text `terraform plan` prints cannot be read)"
    )]
    NotJson(String),
    #[error(
        "it is a binary plan file; convert it first: `terraform show -json PLANFILE > plan.json`, then summarize plan.json"
    )]
    BinaryPlan,
    #[error(
        "it is Terraform state, not a plan (`terraform show -json` without a plan file prints state); run `terraform plan -out=tfplan && terraform show -json tfplan > plan.json` and summarize plan.json"
    )]
    State,
    #[error(
        "it is `terraform providers schema -json` output, not a plan; pass it with --provider-schema and the plan (`terraform show -json tfplan`) with --plan"
    )]
    ProviderSchema,
    #[error(
        "it is JSON but not a Terraform plan (no planned_values, resource_changes, resource_drift or configuration); create one with `terraform plan -out=tfplan && terraform show -json tfplan > plan.json`"
    )]
    NotAPlan,
    #[error(
        "it is a plan in format_version {0}, which this DriftGuard does not know (it reads 0.1 to 1.x); upgrade DriftGuard"
    )]
    UnsupportedFormat(String),
    #[error(
        "Terraform reported errors while making this plan (\"errored\": true), so it says nothing reliable about drift; fix the errors `terraform plan` shows, then summarize a new plan"
    )]
    Errored,
    #[error(
        "the plan is incomplete (\"complete\": false: made with -target, or with changes deferred), so resources outside it were not compared; summarize a full `terraform plan` without -target"
    )]
    Incomplete,
    #[error(
        "it was made by Terraform {terraform} (plan format 0.1), which does not record what changed outside Terraform, and it plans changes to {changes}: they may be drift or unapplied code. Make the plan with Terraform 0.15.4 or newer"
    )]
    FormatTooOld { terraform: String, changes: String },
    #[error("it is not a readable plan: {0}; pass unmodified `terraform show -json tfplan` output")]
    Malformed(String),
    #[error("reading it failed: {0}")]
    Read(String),
    #[error("the provider schema cannot be used: {0}")]
    NotAProviderSchema(String),
}

impl PlanError {
    pub(crate) fn from_json(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Io => PlanError::Read(error.to_string()),
            Category::Syntax | Category::Eof => PlanError::NotJson(error.to_string()),
            Category::Data => PlanError::Malformed(error.to_string()),
        }
    }
}

/// How to summarize.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    pub rules: Option<&'a IgnoreRules>,
    /// Decides attributes the configuration leaves unset in refresh-only plans.
    pub schema: Option<&'a ProviderSchema>,
    /// Accept a targeted (incomplete) plan: remediation runs are targeted.
    pub allow_incomplete: bool,
}

/// Everything found in one plan, after ignore rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub analysis: Analysis,
    /// Drifted resources dropped by ignore rules.
    pub ignored: usize,
}

impl Summary {
    /// The report for the state document and messages: lists capped.
    pub fn report(&self) -> DriftReport {
        report::report(&self.analysis, self.ignored, report::Caps::STATE)
    }

    /// The report with every resource listed (command line).
    pub fn full_report(&self) -> DriftReport {
        report::report(&self.analysis, self.ignored, report::Caps::NONE)
    }

    /// This summary as `rules` judge it (the summary itself keeps everything):
    /// what a check with those rules reports, `values_hash`es included.
    pub fn with_ignore_rules(&self, rules: &IgnoreRules) -> Summary {
        let mut analysis = self.analysis.clone();
        let ignored = self.ignored + report::apply_ignore_rules(&mut analysis, rules);
        report::seal_values_hashes(&mut analysis);
        Summary { analysis, ignored }
    }
}

/// Reads and judges a `terraform show -json` plan from `reader` in one pass.
pub fn summarize<R: Read>(reader: R, options: &Options) -> Result<Summary, PlanError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    if reader
        .fill_buf()
        .map_err(|e| PlanError::Read(e.to_string()))?
        .starts_with(b"PK\x03\x04")
    {
        return Err(PlanError::BinaryPlan);
    }
    let facts = document::read(reader)?;
    judge(&facts, options)?;
    let mut analysis = classify::classify(facts, options.schema);
    let ignored = options
        .rules
        .map(|rules| report::apply_ignore_rules(&mut analysis, rules))
        .unwrap_or(0);
    report::seal_values_hashes(&mut analysis);
    Ok(Summary { analysis, ignored })
}

/// Convenience for JSON already in memory.
pub fn summarize_slice(json: &[u8], options: &Options) -> Result<Summary, PlanError> {
    summarize(json, options)
}

/// Whether the document is a plan DriftGuard can judge.
fn judge(facts: &document::PlanFacts, options: &Options) -> Result<(), PlanError> {
    if facts.plan_keys == 0 {
        return Err(if facts.has_provider_schemas {
            PlanError::ProviderSchema
        } else if facts.has_state_values {
            PlanError::State
        } else {
            PlanError::NotAPlan
        });
    }
    let version = facts.format_version.as_deref().ok_or(PlanError::NotAPlan)?;
    let (major, minor) = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)))
        .ok_or_else(|| PlanError::UnsupportedFormat(version.to_string()))?;
    if major > 1 {
        return Err(PlanError::UnsupportedFormat(version.to_string()));
    }
    if facts.errored == Some(true) {
        return Err(PlanError::Errored);
    }
    if facts.complete == Some(false) && !options.allow_incomplete {
        return Err(PlanError::Incomplete);
    }
    // Before 0.15.4 plans had no resource_drift: a change may be drift or
    // code, and there is no telling which. Terraform 0.15.4–1.0.0 wrote
    // resource_drift still under format 0.1, so its presence decides.
    if major == 0 && minor < 2 && !facts.has_resource_drift && !facts.changes.is_empty() {
        return Err(PlanError::FormatTooOld {
            terraform: facts
                .terraform_version
                .clone()
                .unwrap_or_else(|| "0.12–0.15.3".into()),
            changes: plural(facts.changes.len(), "resource"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
