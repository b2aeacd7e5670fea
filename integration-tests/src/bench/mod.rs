//! `make bench`: measurements of DriftGuard on the local stack, written to
//! docs/benchmarks.md. Not part of `make test`, and nothing here asserts a
//! timing: the numbers are reported, not checked.
//!
//! - [`functions`]: per function — artifact sizes, cold start, peak memory,
//!   handler time (native release builds under a local Lambda runtime API).
//! - [`checks`]: per check — state transitions, invocations, HCP Terraform
//!   requests, billed GB-s for plans of different lengths; [`cost`] has the
//!   prices and the models computed beside them.
//! - [`coalescing`]: bursts of events for one workspace → plans and alerts.
//! - [`load`]: request rate at HCP Terraform under many concurrent checks.
//! - [`overhead`]: event in → history record written, waits at their minimum.
//! - [`plan_summary`]: peak memory and time of `driftguard summarize` on
//!   generated plans of 1k, 10k and 100k resource changes (no stack needed).
//! - [`schedule_checks`]: the fixed poll schedule against the learned one on
//!   the same checks on the stack; [`schedule`] the same on 2,000 simulated
//!   checks (driven by `driftguard_core::poll`, no stack).

pub mod checks;
pub mod coalescing;
pub mod cost;
pub mod functions;
pub mod load;
pub mod machine;
pub mod markdown;
pub mod overhead;
pub mod plan_summary;
pub mod runtime_api;
pub mod schedule;
pub mod schedule_checks;
pub mod stats;
pub mod zipinfo;

/// Everything one `make bench` run produced; a part that failed keeps its error.
#[derive(Debug, Default)]
pub struct Results {
    pub machine: machine::Machine,
    pub command: String,
    pub run_seconds: f64,
    /// Seconds since `make bench` started (builds included), when the Makefile says.
    pub make_seconds: Option<f64>,
    pub load_average_start: String,
    pub load_average_end: String,
    pub stack_start: Vec<String>,
    pub functions: Option<Result<Vec<functions::FunctionFigures>, String>>,
    pub function_options: Option<functions::Options>,
    pub checks: Vec<(u64, Result<checks::CheckFigures, String>)>,
    pub bursts: Vec<(usize, Result<coalescing::BurstFigures, String>)>,
    pub settle_seconds: u64,
    pub load: Vec<Result<load::LoadFigures, String>>,
    pub overhead: Option<Result<overhead::OverheadFigures, String>>,
    pub plan_summary: Option<Result<Vec<plan_summary::PlanSizeFigures>, String>>,
    /// Part 7: fixed against learned poll schedule, per typical plan duration.
    pub schedule: Option<Vec<schedule::ScheduleFigures>>,
    /// Part 7 on the stack: each check under its schedule.
    pub schedule_checks: Vec<(
        schedule_checks::PlannedCheck,
        Result<schedule_checks::MeasuredCheck, String>,
    )>,
    /// Wall time of each part, in the order they ran.
    pub parts: Vec<(String, f64)>,
    pub notes: Vec<String>,
}
