//! Prices (us-east-1 list prices, as docs/operations.md uses) and the models
//! the benchmark computes from: the poll schedule and the single-Lambda design.

use driftguard_core::config::PollConfig;
use driftguard_core::poll::next_wait_seconds;

/// Step Functions Standard, per state transition.
pub const SFN_PER_TRANSITION: f64 = 0.025 / 1000.0;
/// Lambda arm64, per GB-second.
pub const LAMBDA_ARM_PER_GB_S: f64 = 0.000_013_333_4;
/// Lambda x86_64, per GB-second (the original Python design).
pub const LAMBDA_X86_PER_GB_S: f64 = 0.000_016_666_7;
/// Lambda, per request.
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
/// Memory the cost model prices every invocation at: the functions' measured
/// size (terraform/lambda.tf `memory_mb`; summarize-drift's 256 MB is one
/// short invocation per check and is priced at this size too).
pub const MEMORY_GB: f64 = 128.0 / 1024.0;
/// The Lambda maximum timeout.
pub const LAMBDA_MAX_SECONDS: f64 = 900.0;
/// The fixed first wait after creating a run (`wait_seconds` assigned by "Create plan run").
pub const FIRST_WAIT_SECONDS: u64 = 2;
/// Time from creating a run to planning in the HCP Terraform emulator (pending, plan_queued).
pub const EMULATOR_QUEUE_SECONDS: f64 = 0.2;

/// Billed GB-seconds of invocations lasting `millis` each (rounded up to 1 ms) at 128 MB.
pub fn gb_seconds(millis: &[f64]) -> f64 {
    millis
        .iter()
        .map(|ms| ms.max(1.0).ceil() / 1000.0)
        .sum::<f64>()
        * MEMORY_GB
}

/// Polls of one run whose plan takes `plan_seconds`, following the real
/// schedule (first wait 2 s, then `poll::next_wait_seconds` with its jitter);
/// `poll_latency` is the time one poll step takes. Mean over `trials`.
pub fn expected_polls(
    plan_seconds: f64,
    config: &PollConfig,
    poll_latency: f64,
    trials: u32,
) -> f64 {
    let mut total = 0u64;
    for _ in 0..trials {
        let done_at = plan_seconds + EMULATOR_QUEUE_SECONDS;
        let mut t = FIRST_WAIT_SECONDS as f64;
        let mut polls = 0u32;
        loop {
            t += poll_latency;
            polls += 1;
            if t >= done_at || timed_out(t, config) {
                break;
            }
            t += next_wait_seconds(t as u64, polls, config) as f64;
        }
        total += u64::from(polls);
    }
    total as f64 / f64::from(trials)
}

fn timed_out(t: f64, config: &PollConfig) -> bool {
    t >= config.plan_timeout_seconds as f64
}

/// The production poll settings (terraform defaults).
pub fn default_poll() -> PollConfig {
    PollConfig {
        min_wait_seconds: 5,
        max_wait_seconds: 60,
        plan_timeout_seconds: 1800,
        apply_timeout_seconds: 7200,
    }
}

/// Dollars for one check.
pub fn check_cost(transitions: f64, invocations: f64, gb_s: f64) -> f64 {
    transitions * SFN_PER_TRANSITION + invocations * LAMBDA_PER_REQUEST + gb_s * LAMBDA_ARM_PER_GB_S
}

pub fn usd(v: f64) -> String {
    if v >= 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.6}")
    }
}
