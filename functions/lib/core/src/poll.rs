//! Poll schedules, with jitter so many concurrent checks spread their requests
//! under HCP Terraform's rate limit. A workspace with plan history gets a
//! learned schedule: the first poll at the expected finish, then short steps
//! that grow with the run's age. Without history: short waits first, longer later.

use crate::config::PollConfig;

/// How long the shortest wait is used: most plans finish within it.
const FIRST_STAGE_SECONDS: u64 = 60;
/// Jitter as a fraction of the wait, applied both ways (±20 %).
const JITTER: f64 = 0.2;

/// Seconds to wait before the next poll, given how long the run has been going.
///
/// The base wait is `min_wait_seconds` during the first minute and doubles each
/// time the elapsed time doubles (1, 2, 4, 8 … minutes), up to
/// `max_wait_seconds`. Jitter of ±20 % is added, and the result is kept within
/// `[min_wait_seconds, max_wait_seconds]`.
pub fn next_wait_seconds(elapsed_seconds: u64, polls: u32, config: &PollConfig) -> u64 {
    let min = config.min_wait_seconds.max(1);
    let max = config.max_wait_seconds.max(min);
    // Every earlier poll waited at least `min`, so the run is at least that old
    // even when its creation time was unknown or the clock is off.
    let elapsed = elapsed_seconds.max(u64::from(polls).saturating_mul(min));
    let base = base_wait(elapsed, min, max);
    let factor = 1.0 - JITTER + 2.0 * JITTER * fastrand::f64();
    let jittered = (base as f64 * factor).round() as u64;
    jittered.clamp(min, max)
}

/// The wait before jitter: `min` for the first stage, then doubling with each
/// doubling of the elapsed time, capped at `max`.
fn base_wait(elapsed_seconds: u64, min: u64, max: u64) -> u64 {
    let stages_past_first = if elapsed_seconds < FIRST_STAGE_SECONDS {
        0
    } else {
        // floor(log2(elapsed / first stage)) + 1
        (elapsed_seconds / FIRST_STAGE_SECONDS).ilog2() + 1
    };
    min.checked_shl(stages_past_first)
        .map_or(max, |wait| wait.min(max))
}

/// The wait after a poll that could not be made because the request budget
/// was used up: the budget's own estimate, never below the poll schedule's
/// wait, plus full jitter over `min` so the deferred checks do not return together.
pub fn deferred_wait_seconds(
    retry_after: Option<std::time::Duration>,
    scheduled: u64,
    config: &PollConfig,
) -> u64 {
    let min = config.min_wait_seconds.max(1);
    let budget = retry_after.map_or(0, |d| d.as_secs_f64().ceil() as u64);
    budget.max(scheduled) + fastrand::u64(0..=min)
}

/// The first wait of a check that has no plan history: short, so a quick plan
/// is seen quickly; [`next_wait_seconds`] takes over from there.
pub const FIRST_WAIT_WITHOUT_HISTORY: u64 = 2;
/// Recent plan durations a workspace's schedule learns from.
pub const HISTORY_LEN: usize = 10;
/// After the expected finish, each wait is this fraction of the run's age:
/// a plan that finishes during the wait is seen within 10 % of its duration.
const STEP_FRACTION: f64 = 0.1;
/// Jitter of the learned steps: downwards only (−20 %), so it never stretches
/// the detection lag beyond the step.
const STEP_JITTER: f64 = 0.2;

/// When a workspace's next plan is expected to finish, in seconds from the
/// run's creation, from its recent plan durations (newest first; at most
/// [`HISTORY_LEN`] are used). `None` without history.
///
/// The estimate is the lower quartile of the recent durations: most plans
/// of the workspace have not finished before it, so the first poll rarely
/// comes too early, and a plan that ends a little sooner than usual is seen
/// with a small lag (the first poll after it).
pub fn expected_finish_seconds(recent: &[u64]) -> Option<u64> {
    let mut durations: Vec<u64> = recent.iter().copied().take(HISTORY_LEN).collect();
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    Some(durations[(durations.len() - 1) / 4])
}

/// The wait before the first poll of a run created `age_seconds` ago: just
/// past the expected finish, or [`FIRST_WAIT_WITHOUT_HISTORY`] without one.
/// Never longer than the plan timeout allows.
pub fn first_wait_seconds(expected: Option<u64>, age_seconds: u64, config: &PollConfig) -> u64 {
    match expected {
        None => FIRST_WAIT_WITHOUT_HISTORY,
        Some(expected) => expected
            .saturating_sub(age_seconds)
            .min(config.plan_timeout_seconds)
            .max(1),
    }
}

/// Seconds to wait before the next poll of a run whose finish was expected
/// at `expected` seconds.
///
/// Before the expected finish (a deferred or early poll): wait until it.
/// After it: short steps of 10 % of the run's age (so the detection lag stays
/// within 10 % of the plan's duration), at least `min_wait_seconds`, at most
/// `max_wait_seconds`; as the run ages the steps grow with it (backoff).
/// Jitter of up to −20 % spreads concurrent checks.
pub fn learned_wait_seconds(elapsed_seconds: u64, expected: u64, config: &PollConfig) -> u64 {
    let min = config.min_wait_seconds.max(1);
    let max = config.max_wait_seconds.max(min);
    if elapsed_seconds < expected {
        return (expected - elapsed_seconds).clamp(1, max);
    }
    let factor = 1.0 - STEP_JITTER * fastrand::f64();
    let step = (elapsed_seconds as f64 * STEP_FRACTION * factor).floor() as u64;
    step.clamp(min, max)
}

/// The next wait: learned when the run's finish was expected, else the
/// fixed schedule of [`next_wait_seconds`].
pub fn scheduled_wait_seconds(
    elapsed_seconds: u64,
    polls: u32,
    expected: Option<u64>,
    config: &PollConfig,
) -> u64 {
    match expected {
        Some(expected) => learned_wait_seconds(elapsed_seconds, expected, config),
        None => next_wait_seconds(elapsed_seconds, polls, config),
    }
}

/// Whether the plan has run past its timeout.
pub fn timed_out(elapsed_seconds: u64, config: &PollConfig) -> bool {
    elapsed_seconds >= config.plan_timeout_seconds
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(min: u64, max: u64) -> PollConfig {
        PollConfig {
            min_wait_seconds: min,
            max_wait_seconds: max,
            plan_timeout_seconds: 1800,
            apply_timeout_seconds: 7200,
        }
    }

    #[test]
    fn base_wait_doubles_with_elapsed_time_up_to_max() {
        let waits: Vec<u64> = [0, 59, 60, 119, 120, 239, 240, 480, 3600]
            .iter()
            .map(|&elapsed| base_wait(elapsed, 5, 60))
            .collect();
        assert_eq!(waits, vec![5, 5, 10, 10, 20, 20, 40, 60, 60]);
    }

    #[test]
    fn base_wait_does_not_overflow_on_huge_elapsed_times() {
        assert_eq!(base_wait(u64::MAX, 5, 60), 60);
        assert!(next_wait_seconds(u64::MAX, u32::MAX, &config(5, 60)) <= 60);
    }

    #[test]
    fn first_minute_waits_are_short() {
        for _ in 0..200 {
            let wait = next_wait_seconds(10, 1, &config(5, 60));
            assert!((5..=6).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn late_waits_are_near_the_maximum() {
        for _ in 0..200 {
            let wait = next_wait_seconds(1200, 40, &config(5, 60));
            assert!((48..=60).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn waits_grow_with_elapsed_time_on_average() {
        let average = |elapsed: u64| {
            let total: u64 = (0..400)
                .map(|_| next_wait_seconds(elapsed, 0, &config(5, 120)))
                .sum();
            total as f64 / 400.0
        };
        let averages: Vec<f64> = [0, 90, 200, 400, 900].iter().map(|&e| average(e)).collect();
        for pair in averages.windows(2) {
            assert!(pair[0] < pair[1], "{averages:?}");
        }
    }

    #[test]
    fn a_deferred_poll_waits_for_the_budget_and_spreads_out() {
        let waits: std::collections::HashSet<u64> = (0..200)
            .map(|_| {
                deferred_wait_seconds(
                    Some(std::time::Duration::from_millis(7_200)),
                    5,
                    &config(5, 60),
                )
            })
            .collect();
        assert!(waits.iter().all(|w| (8..=13).contains(w)), "{waits:?}");
        assert!(waits.len() > 3, "{waits:?}");
        assert!(deferred_wait_seconds(None, 20, &config(5, 60)) >= 20);
    }

    #[test]
    fn jitter_spreads_concurrent_checks() {
        let waits: std::collections::HashSet<u64> = (0..200)
            .map(|_| next_wait_seconds(300, 10, &config(5, 120)))
            .collect();
        assert!(waits.len() > 3, "{waits:?}");
    }

    #[test]
    fn polls_count_stands_in_for_an_unknown_elapsed_time() {
        // 30 polls of at least 5 s each: the run is at least 150 s old.
        for _ in 0..100 {
            assert!(next_wait_seconds(0, 30, &config(5, 60)) >= 16);
        }
    }

    #[test]
    fn equal_min_and_max_give_a_fixed_wait() {
        for elapsed in [0, 100, 10_000] {
            assert_eq!(next_wait_seconds(elapsed, 3, &config(30, 30)), 30);
        }
    }

    #[test]
    fn timeout_is_reached_at_the_configured_seconds() {
        let c = config(5, 60);
        assert!(!timed_out(1799, &c));
        assert!(timed_out(1800, &c));
        assert!(timed_out(5000, &c));
    }

    #[test]
    fn expected_finish_is_the_lower_quartile_of_recent_plans() {
        assert_eq!(expected_finish_seconds(&[]), None);
        assert_eq!(expected_finish_seconds(&[120]), Some(120));
        assert_eq!(
            expected_finish_seconds(&[130, 110, 120, 125, 140, 118, 122, 300]),
            Some(118)
        );
        // Only the newest HISTORY_LEN count: an old slow plan is forgotten.
        let mut recent = vec![30; HISTORY_LEN];
        recent.push(5);
        assert_eq!(expected_finish_seconds(&recent), Some(30));
    }

    #[test]
    fn first_wait_lands_at_the_expected_finish() {
        let c = config(5, 60);
        assert_eq!(first_wait_seconds(Some(120), 1, &c), 119);
        assert_eq!(first_wait_seconds(Some(120), 200, &c), 1);
        assert_eq!(first_wait_seconds(Some(100_000), 0, &c), 1800);
    }

    #[test]
    fn no_history_keeps_the_fixed_schedule() {
        let c = config(5, 60);
        assert_eq!(first_wait_seconds(None, 0, &c), FIRST_WAIT_WITHOUT_HISTORY);
        for _ in 0..100 {
            let wait = scheduled_wait_seconds(10, 1, None, &c);
            assert!((5..=6).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn steps_after_the_expected_finish_stay_within_a_tenth_of_the_run() {
        let c = config(5, 60);
        for _ in 0..500 {
            // A 2-minute plan: steps of 9.6..12 s.
            let wait = learned_wait_seconds(120, 110, &c);
            assert!((9..=12).contains(&wait), "{wait}");
            // A short plan: never below the minimum wait.
            assert_eq!(learned_wait_seconds(30, 28, &c), 5);
            // A long plan overrunning: steps grow, up to the maximum.
            let wait = learned_wait_seconds(900, 600, &c);
            assert_eq!(wait, 60, "{wait}");
        }
    }

    #[test]
    fn steps_back_off_as_the_run_overruns() {
        let c = config(5, 600);
        let lowest = |elapsed| {
            (0..300)
                .map(|_| learned_wait_seconds(elapsed, 100, &c))
                .min()
                .unwrap()
        };
        let highest = |elapsed| {
            (0..300)
                .map(|_| learned_wait_seconds(elapsed, 100, &c))
                .max()
                .unwrap()
        };
        assert!(highest(100) <= 10);
        assert!(lowest(200) >= 16 && highest(200) <= 20);
        assert!(lowest(1000) >= 80 && highest(1000) <= 100);
    }

    #[test]
    fn learned_jitter_spreads_and_only_shortens() {
        let c = config(5, 600);
        let waits: std::collections::HashSet<u64> = (0..300)
            .map(|_| learned_wait_seconds(600, 500, &c))
            .collect();
        assert!(waits.len() > 3, "{waits:?}");
        assert!(waits.iter().all(|w| (48..=60).contains(w)), "{waits:?}");
    }

    #[test]
    fn an_early_poll_waits_for_the_expected_finish() {
        let c = config(5, 60);
        assert_eq!(learned_wait_seconds(50, 110, &c), 60);
        assert_eq!(learned_wait_seconds(100, 110, &c), 10);
    }

    proptest! {
        #[test]
        fn learned_wait_is_always_within_bounds(elapsed in 0u64..1_000_000, expected in 0u64..100_000, min in 1u64..120, extra in 0u64..3600) {
            let c = config(min, min + extra);
            let wait = learned_wait_seconds(elapsed, expected, &c);
            prop_assert!(wait >= 1 && wait <= c.max_wait_seconds);
            if elapsed >= expected {
                prop_assert!(wait >= c.min_wait_seconds);
            }
        }

        #[test]
        fn wait_is_always_within_bounds(elapsed in 0u64..1_000_000, polls in 0u32..10_000, min in 1u64..120, extra in 0u64..3600) {
            let c = config(min, min + extra);
            let wait = next_wait_seconds(elapsed, polls, &c);
            prop_assert!(wait >= c.min_wait_seconds && wait <= c.max_wait_seconds);
        }
    }
}
