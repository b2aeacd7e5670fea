//! The time budget of one invocation.
//!
//! A Lambda invocation ends at its deadline (`Context::deadline`): work still
//! going then is cut off (`Sandbox.Timedout`) with nothing recorded. So each
//! outgoing request takes its timeout from the time left, keeping a reserve to
//! answer, and a step that cannot fit another request fails with a retryable
//! error instead of being cut off. Outside an invocation (the CLI, tests)
//! there is no deadline and the usual timeouts apply.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Time kept back to serialise and return the answer, or the error.
pub const ANSWER_RESERVE: Duration = Duration::from_secs(2);

/// The shortest request worth starting: below this the step fails retryably.
pub const MIN_REQUEST: Duration = Duration::from_secs(2);

/// Runs `work` with `deadline` as its budget (none: no limit).
pub async fn within<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, work).await,
        None => work.await,
    }
}

/// The time left before the answer reserve; `None` outside an invocation.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(ANSWER_RESERVE)
        })
        .ok()
}

/// The timeout for one request that would like `preferred`: cut to the time
/// left. `None` when less than [`MIN_REQUEST`] is left.
pub fn request_timeout(preferred: Duration) -> Option<Duration> {
    match remaining() {
        None => Some(preferred),
        Some(left) if left < MIN_REQUEST => None,
        Some(left) => Some(preferred.min(left)),
    }
}

/// Whether waiting `wait` still leaves time for a request afterwards.
pub fn can_wait(wait: Duration) -> bool {
    remaining().is_none_or(|left| left >= wait + MIN_REQUEST)
}

/// The deadline of an invocation from the runtime's `deadline` (milliseconds
/// since the Unix epoch). A deadline already past or absurdly far (a local
/// emulator's placeholder) is no deadline.
pub fn from_epoch_millis(deadline_ms: u64) -> Option<Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(deadline_ms).checked_sub(now_ms)?;
    // Lambda functions run 15 minutes at most.
    (left <= 15 * 60 * 1000).then(|| Instant::now() + Duration::from_millis(left as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outside_an_invocation_the_preferred_timeout_holds() {
        assert_eq!(remaining(), None);
        assert_eq!(
            request_timeout(Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        assert!(can_wait(Duration::from_secs(600)));
    }

    #[tokio::test]
    async fn requests_fit_the_time_left_and_stop_before_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(12);
        within(Some(deadline), async {
            let left = remaining().unwrap();
            assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(9));
            let timeout = request_timeout(Duration::from_secs(30)).unwrap();
            assert!(timeout <= Duration::from_secs(10), "{timeout:?}");
            assert_eq!(
                request_timeout(Duration::from_secs(5)),
                Some(Duration::from_secs(5))
            );
            assert!(can_wait(Duration::from_secs(5)));
            assert!(!can_wait(Duration::from_secs(9)));
        })
        .await;

        let nearly = Instant::now() + Duration::from_secs(3);
        within(Some(nearly), async {
            assert_eq!(request_timeout(Duration::from_secs(30)), None);
        })
        .await;
    }

    #[test]
    fn runtime_deadlines_past_or_too_far_are_ignored() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(from_epoch_millis(now_ms + 30_000).is_some());
        assert!(from_epoch_millis(now_ms.saturating_sub(1_000)).is_none());
        assert!(from_epoch_millis(now_ms + 16 * 60 * 1000).is_none());
        assert!(from_epoch_millis(0).is_none());
    }
}
