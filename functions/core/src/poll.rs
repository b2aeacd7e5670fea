//! Adaptive poll schedule: short waits first, longer later, with jitter so many
//! concurrent checks spread their requests under HCP Terraform's rate limit.

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

    proptest! {
        #[test]
        fn wait_is_always_within_bounds(elapsed in 0u64..1_000_000, polls in 0u32..10_000, min in 1u64..120, extra in 0u64..3600) {
            let c = config(min, min + extra);
            let wait = next_wait_seconds(elapsed, polls, &c);
            prop_assert!(wait >= c.min_wait_seconds && wait <= c.max_wait_seconds);
        }
    }
}
