//! Part 7: the fixed poll schedule against the learned one, side by side on
//! the same checks. A fast simulation driven by `driftguard_core::poll` (the
//! functions poll-run and create-run call), no stack: each check's plan
//! duration is drawn with a realistic spread around its workspace's typical
//! duration, the workspace has a history of recent plans from the same
//! spread, and both schedules poll the very same plan. Counts per check
//! follow the ASL's no-drift path; prices are in [`super::cost`].

use driftguard_core::config::PollConfig;
use driftguard_core::poll;

use super::cost;

/// States entered on the no-drift path besides the poll loop: Admit event,
/// Anything to check?, Check each workspace, Settle, Create plan run,
/// Summarize drift, Drift found?, Record outcome, Notify outcome, Ask or
/// e-mail?, Check done (statemachine/drift-guard.asl.json).
pub const FIXED_TRANSITIONS: f64 = 11.0;
/// States entered per poll: Wait for plan, Check plan status, Plan finished?
pub const TRANSITIONS_PER_POLL: f64 = 3.0;
/// Invocations besides the polls: admit-event, create-run, summarize-drift, record, notify.
pub const FIXED_INVOCATIONS: f64 = 5.0;
/// GB-s of the fixed invocations and of one poll at the release p50 handler
/// times (part 1 of the last full run, 128 MB, rounded up to 1 ms).
pub const FIXED_GB_S: f64 = 0.0115;
pub const GB_S_PER_POLL: f64 = 0.00025;
/// Seconds from a run's creation until create-run has answered and the first wait starts.
pub const CREATE_LATENCY: f64 = 0.3;
/// Seconds one poll step takes (Task state on the stack, part 2).
pub const POLL_LATENCY: f64 = 0.07;
/// Recent plans the workspace's history holds when the check starts.
pub const HISTORY: usize = 10;
/// Spread of plan durations around the workspace's typical one: log-normal
/// with σ = 0.15, and one plan in 20 slowed 1.5–3× (a slow provider API, a
/// busy agent).
pub const SIGMA: f64 = 0.15;
pub const SLOW_SHARE: f64 = 0.05;

#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleSide {
    pub polls: f64,
    /// Share of checks with at most 3 polls.
    pub at_most_3_polls: f64,
    pub transitions: f64,
    pub invocations: f64,
    pub api_requests: f64,
    pub lag_mean: f64,
    pub lag_p95: f64,
    /// Share of checks seen within max(5 s, 10 % of the plan) of its finish.
    pub lag_within_goal: f64,
    pub usd: f64,
}

#[derive(Debug, Clone)]
pub struct ScheduleFigures {
    pub typical_seconds: u64,
    pub checks: usize,
    pub mean_plan_seconds: f64,
    pub fixed: ScheduleSide,
    pub learned: ScheduleSide,
    /// The single Lambda that waits inside itself (on paper), per check.
    pub single_lambda_usd: f64,
    pub single_lambda_fits: f64,
}

/// Standard normal (Box–Muller) from the thread's seeded generator.
fn normal() -> f64 {
    let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// One plan of a workspace whose plans typically take `typical` seconds.
pub fn plan_duration(typical: f64) -> f64 {
    let mut d = typical * (SIGMA * normal()).exp();
    if fastrand::f64() < SLOW_SHARE {
        d *= 1.5 + 1.5 * fastrand::f64();
    }
    d.max(1.0)
}

/// One check under a schedule: (polls, detection lag in seconds).
/// `expected`: the learned expected finish, or `None` for the fixed schedule.
fn simulate(done_at: f64, expected: Option<u64>, config: &PollConfig) -> (u32, f64) {
    let mut t = CREATE_LATENCY
        + match expected {
            Some(_) => poll::first_wait_seconds(expected, 0, config) as f64,
            None => cost::FIRST_WAIT_SECONDS as f64,
        };
    let mut polls = 0u32;
    loop {
        t += POLL_LATENCY;
        polls += 1;
        if t >= done_at || t >= config.plan_timeout_seconds as f64 {
            return (polls, (t - done_at).max(0.0));
        }
        t += poll::scheduled_wait_seconds(t as u64, polls, expected, config) as f64;
    }
}

fn side(runs: &[(u32, f64, f64)], learned: bool) -> ScheduleSide {
    let n = runs.len() as f64;
    let polls = runs.iter().map(|r| f64::from(r.0)).sum::<f64>() / n;
    let mut lags: Vec<f64> = runs.iter().map(|r| r.1).collect();
    lags.sort_by(f64::total_cmp);
    let within = runs
        .iter()
        .filter(|(_, lag, plan)| *lag <= (0.1 * plan).max(5.0))
        .count() as f64
        / n;
    let transitions = FIXED_TRANSITIONS + TRANSITIONS_PER_POLL * polls;
    let invocations = FIXED_INVOCATIONS + polls;
    // POST /runs and the plan JSON, plus the workspace lookup the learned
    // schedule skips (its id comes from the last check's record), plus polls.
    let api_requests = if learned { 2.0 } else { 3.0 } + polls;
    ScheduleSide {
        polls,
        at_most_3_polls: runs.iter().filter(|r| r.0 <= 3).count() as f64 / n,
        transitions,
        invocations,
        api_requests,
        lag_mean: lags.iter().sum::<f64>() / n,
        lag_p95: lags[((lags.len() as f64 * 0.95) as usize).min(lags.len() - 1)],
        lag_within_goal: within,
        usd: cost::check_cost(transitions, invocations, FIXED_GB_S + GB_S_PER_POLL * polls),
    }
}

/// `checks` checks of a workspace whose plans typically take `typical`
/// seconds, each under both schedules. Seeded: the same run gives the same figures.
pub fn run(typical: u64, checks: usize, seed: u64) -> ScheduleFigures {
    fastrand::seed(seed);
    let config = cost::default_poll();
    let typical_f = typical as f64;
    let mut history: Vec<u64> = (0..HISTORY)
        .map(|_| plan_duration(typical_f).round() as u64)
        .collect();
    let (mut fixed, mut learned) = (Vec::new(), Vec::new());
    let mut plans = 0.0;
    let mut single = 0.0;
    let mut fits = 0usize;
    for _ in 0..checks {
        let plan = plan_duration(typical_f);
        plans += plan;
        let done_at = plan + cost::EMULATOR_QUEUE_SECONDS;
        let (p, lag) = simulate(done_at, None, &config);
        fixed.push((p, lag, plan));
        let expected = poll::expected_finish_seconds(&history);
        let (p, lag) = simulate(done_at, expected, &config);
        learned.push((p, lag, plan));
        // Newest first, as the history Query returns them.
        history.insert(0, plan.round() as u64);
        history.truncate(HISTORY);
        let wall = plan + 0.09;
        if wall <= cost::LAMBDA_MAX_SECONDS {
            fits += 1;
        }
        single += wall * cost::MEMORY_GB * cost::LAMBDA_ARM_PER_GB_S + cost::LAMBDA_PER_REQUEST;
    }
    let n = checks as f64;
    ScheduleFigures {
        typical_seconds: typical,
        checks,
        mean_plan_seconds: plans / n,
        fixed: side(&fixed, false),
        learned: side(&learned, true),
        single_lambda_usd: single / n,
        single_lambda_fits: fits as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learned_schedule_polls_less_and_sees_plans_within_the_goal() {
        for typical in [30, 120, 600] {
            let f = run(typical, 400, 7);
            assert!(f.learned.polls < f.fixed.polls, "{f:?}");
            assert!(f.learned.api_requests < f.fixed.api_requests, "{f:?}");
            assert!(f.learned.usd < f.fixed.usd, "{f:?}");
            assert!(f.learned.lag_within_goal > 0.8, "{f:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_figures() {
        let (a, b) = (run(120, 100, 3), run(120, 100, 3));
        assert_eq!(a.learned.polls, b.learned.polls);
        assert_eq!(a.fixed.lag_mean, b.fixed.lag_mean);
    }

    #[test]
    fn plan_durations_spread_around_the_typical_one() {
        fastrand::seed(1);
        let plans: Vec<f64> = (0..2000).map(|_| plan_duration(120.0)).collect();
        let mean = plans.iter().sum::<f64>() / 2000.0;
        assert!((115.0..135.0).contains(&mean), "{mean}");
        assert!(plans.iter().any(|p| *p > 180.0));
        assert!(plans.iter().all(|p| *p >= 1.0));
    }
}
