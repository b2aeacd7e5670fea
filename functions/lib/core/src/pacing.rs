//! Pacing of HCP Terraform API requests across every Lambda container.
//!
//! HCP Terraform allows 30 API requests per second **per user**, not per token
//! (API documents, "Rate limits"): every token of one user, team or
//! organization service user shares it, whichever deployment, CLI or script
//! sends the requests. Some endpoints are limited further: listing a
//! workspace's runs allows 30 requests per **minute**. Each check polls on its
//! own schedule, so without a shared budget a storm of console changes
//! (hundreds of checks in flight) goes over either limit. Before each API
//! request the client reserves a slot with GCRA (the generic cell rate
//! algorithm) in the [`Budget`] the request belongs to: the shared store keeps
//! one number per budget, the theoretical arrival time (TAT). Budgets are keyed
//! by the token's user ([`budget_key`], from `GET /account/details`), so two
//! DriftGuard functions holding different tokens of one user still share one.
//!
//! With `T = period / requests` and a burst of `B` requests:
//! `tat' = max(tat, now) + T`, and the request may go at
//! `max(now, tat' − B·T)`. Any window of one period then holds at most
//! `B + requests` requests. A caller whose slot is more than `max_wait` away
//! gets [`Reservation::Full`] instead and nothing is reserved: the step fails
//! with `TfcRateLimited` and the state machine retries it with jitter (a poll
//! just waits longer; see `steps::poll_run`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ports::RequestPacer;

pub use crate::model::{Budget, PaceLimits, Reservation};

/// Default requests per second: two thirds of HCP Terraform's 30, leaving room
/// for the burst and for the user's other API clients.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// Default burst: requests that may go back to back after a quiet spell.
pub const DEFAULT_BURST: u32 = 5;
/// `GET /workspaces/:id/runs` is limited to 30 requests per minute per user;
/// DriftGuard keeps to two thirds of it.
pub const RUN_LIST_REQUESTS_PER_MINUTE: u32 = 20;
/// Run-list lookups that may go back to back after a quiet spell.
pub const RUN_LIST_BURST: u32 = 3;
/// Longest a Lambda waits in-process for its slot; longer queues are left to
/// the state machine's retry with jitter.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

impl Default for PaceLimits {
    fn default() -> Self {
        PaceLimits::per_second(DEFAULT_REQUESTS_PER_SECOND, DEFAULT_BURST)
    }
}

impl PaceLimits {
    /// `requests` per second (the general API limit).
    pub fn per_second(requests: u32, burst: u32) -> Self {
        PaceLimits {
            requests,
            period: Duration::from_secs(1),
            burst,
            max_wait: MAX_WAIT,
        }
    }

    /// `requests` per minute (endpoints with a lower limit, such as the runs list).
    pub fn per_minute(requests: u32, burst: u32) -> Self {
        PaceLimits {
            period: Duration::from_secs(60),
            ..PaceLimits::per_second(requests, burst)
        }
    }

    /// The budget of `GET /workspaces/:id/runs` (30 per minute per user in HCP Terraform).
    pub fn run_list() -> Self {
        PaceLimits::per_minute(RUN_LIST_REQUESTS_PER_MINUTE, RUN_LIST_BURST)
    }

    /// `T`: microseconds between two requests at the sustained rate.
    pub fn interval_us(&self) -> i64 {
        (self.period.as_micros() as i64).max(1) / i64::from(self.requests.max(1))
    }

    /// `B·T`: how far ahead of now the TAT may run before requests wait.
    pub fn burst_us(&self) -> i64 {
        i64::from(self.burst.max(1)) * self.interval_us()
    }

    fn max_wait_us(&self) -> i64 {
        self.max_wait.as_micros() as i64
    }

    /// The largest stored TAT that still grants a slot within `max_wait`.
    pub fn latest_grantable_tat(&self, now_us: i64) -> i64 {
        now_us + self.max_wait_us() + self.burst_us() - self.interval_us()
    }

    /// What a request arriving at `now_us` gets when its reservation moved the TAT to `new_tat_us`.
    pub fn wait_for(&self, new_tat_us: i64, now_us: i64) -> Duration {
        micros((new_tat_us - self.burst_us() - now_us).max(0))
    }
}

/// The store key of a budget: `PACE#<host>#<user id>`, with `#<endpoint>` for
/// an endpoint with its own limit. Without a known user (the account could not
/// be read), the host alone: every DriftGuard function of this deployment
/// still shares it.
pub fn budget_key(host: &str, user_id: Option<&str>, endpoint: Option<&str>) -> String {
    let mut key = format!("PACE#{}", host.to_ascii_lowercase());
    if let Some(user) = user_id {
        key.push('#');
        key.push_str(user);
    }
    if let Some(endpoint) = endpoint {
        key.push('#');
        key.push_str(endpoint);
    }
    key
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

/// One GCRA step over the stored TAT: the TAT to store (none when full) and the answer.
pub fn reserve(
    tat_us: Option<i64>,
    now_us: i64,
    limits: &PaceLimits,
) -> (Option<i64>, Reservation) {
    let base = tat_us.map_or(now_us, |tat| tat.max(now_us));
    let latest = limits.latest_grantable_tat(now_us);
    if base > latest {
        return (
            None,
            Reservation::Full {
                retry_after: micros(base - latest),
            },
        );
    }
    let new_tat = base + limits.interval_us();
    (
        Some(new_tat),
        Reservation::Granted {
            wait: limits.wait_for(new_tat, now_us),
        },
    )
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Waits for a slot for one request described by `label`; `TfcRateLimited` when
/// the queue is too long. A pacer that cannot be reached does not stop the
/// request: HCP Terraform's own 429 handling still protects it.
pub async fn pace(pacer: &dyn RequestPacer, budget: &Budget, label: &str) -> Result<()> {
    match pacer.reserve(budget, now_us()).await {
        Ok(Reservation::Granted { wait }) if !crate::deadline::can_wait(wait) => {
            tracing::warn!(request = %label, wait_ms = wait.as_millis() as u64, "no time left in this invocation to wait for a request slot");
            Err(Error::TfcRateLimited {
                message: format!(
                    "the next slot of DriftGuard's request budget is {} ms away, more than this invocation has left",
                    wait.as_millis()
                ),
                retry_after: Some(wait),
            })
        }
        Ok(Reservation::Granted { wait }) => {
            if !wait.is_zero() {
                tracing::debug!(request = %label, wait_ms = wait.as_millis() as u64, "waiting for a request slot");
                tokio::time::sleep(wait).await;
            }
            Ok(())
        }
        Ok(Reservation::Full { retry_after }) => {
            tracing::warn!(request = %label, retry_after_ms = retry_after.as_millis() as u64, "request budget for HCP Terraform used up by other checks");
            Err(Error::TfcRateLimited {
                message: format!(
                    "DriftGuard's own request budget ({} per {} s) is used up by other checks in flight for about {} s more",
                    budget.limits.requests,
                    budget.limits.period.as_secs(),
                    retry_after.as_secs().max(1)
                ),
                retry_after: Some(retry_after),
            })
        }
        Err(e) => {
            tracing::warn!(request = %label, error = %e, "request pacer unavailable; sending unpaced");
            Ok(())
        }
    }
}

/// The pacer of one process (tests, the CLI, the benchmark's shared budget).
#[derive(Debug, Default)]
pub struct InMemoryPacer {
    tat_us: Mutex<HashMap<String, i64>>,
}

impl InMemoryPacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The budgets used so far, by key.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .tat_us
            .lock()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

#[async_trait]
impl RequestPacer for InMemoryPacer {
    async fn reserve(&self, budget: &Budget, now_us: i64) -> Result<Reservation> {
        let mut tats = self
            .tat_us
            .lock()
            .map_err(|_| Error::AwsUnavailable("request pacer lock poisoned".into()))?;
        let (next, answer) = reserve(tats.get(&budget.key).copied(), now_us, &budget.limits);
        if let Some(next) = next {
            tats.insert(budget.key.clone(), next);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rps: u32, burst: u32) -> PaceLimits {
        PaceLimits::per_second(rps, burst)
    }

    fn budget(key: &str, limits: PaceLimits) -> Budget {
        Budget {
            key: key.into(),
            limits,
        }
    }

    /// Everyone asks at once: send times, as microseconds from the start.
    fn schedule(requests: usize, l: &PaceLimits) -> Vec<i64> {
        let mut tat = None;
        let mut sent = Vec::new();
        for _ in 0..requests {
            let (next, answer) = reserve(tat, 0, l);
            if let Reservation::Granted { wait } = answer {
                tat = next;
                sent.push(wait.as_micros() as i64);
            }
        }
        sent
    }

    #[test]
    fn a_quiet_pacer_grants_the_burst_at_once() {
        let sent = schedule(5, &limits(20, 5));
        assert_eq!(sent, vec![0; 5]);
    }

    #[test]
    fn past_the_burst_requests_are_spaced_at_the_rate() {
        let sent = schedule(8, &limits(20, 5));
        assert_eq!(&sent[5..], &[50_000, 100_000, 150_000]);
    }

    #[test]
    fn the_queue_stops_at_max_wait() {
        let l = limits(20, 5);
        // 5 at once + 3 s at 20/s = 65 slots; the 66th is refused.
        let sent = schedule(100, &l);
        assert_eq!(sent.len(), 65);
        assert!(*sent.last().unwrap() <= 3_000_000);
        let tat = Some(l.latest_grantable_tat(0) + 200_000);
        let (next, answer) = reserve(tat, 0, &l);
        assert_eq!(next, None);
        assert_eq!(
            answer,
            Reservation::Full {
                retry_after: Duration::from_millis(200)
            }
        );
    }

    #[test]
    fn an_idle_pacer_forgets_the_past() {
        let l = limits(20, 5);
        let (_, answer) = reserve(Some(1_000_000), 10_000_000, &l);
        assert_eq!(
            answer,
            Reservation::Granted {
                wait: Duration::ZERO
            }
        );
    }

    /// The promise the pacer makes: however requests arrive, no window of one
    /// second holds more than burst + rate of them.
    #[test]
    fn no_second_holds_more_than_burst_plus_rate() {
        let l = limits(20, 5);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut tat = None;
        let mut sent = Vec::new();
        let mut now = 0i64;
        for _ in 0..5_000 {
            now += rng.i64(0..40_000); // arrivals far faster than 20/s at times
            let (next, answer) = reserve(tat, now, &l);
            if let Reservation::Granted { wait } = answer {
                tat = next;
                sent.push(now + wait.as_micros() as i64);
            }
        }
        sent.sort();
        let most = sent
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                sent[i..]
                    .iter()
                    .take_while(|&&t| t < start + 1_000_000)
                    .count()
            })
            .max()
            .unwrap();
        assert!(most <= 25, "{most} requests in one second");
    }

    #[test]
    fn a_per_minute_budget_spaces_requests_by_seconds() {
        let l = PaceLimits::run_list();
        assert_eq!(l.interval_us(), 3_000_000);
        let sent = schedule(5, &l);
        // The burst of 3 at once, then every 3 s up to the 3 s wait limit.
        assert_eq!(sent, vec![0, 0, 0, 3_000_000]);
    }

    #[test]
    fn budget_keys_name_host_user_and_endpoint() {
        assert_eq!(
            budget_key("App.Terraform.io", Some("user-V3R563qtJNcExAkN"), None),
            "PACE#app.terraform.io#user-V3R563qtJNcExAkN"
        );
        assert_eq!(
            budget_key("tfe.example.com", Some("user-1"), Some("runs-list")),
            "PACE#tfe.example.com#user-1#runs-list"
        );
        assert_eq!(
            budget_key("tfe.example.com", None, None),
            "PACE#tfe.example.com"
        );
    }

    #[tokio::test]
    async fn in_memory_pacer_keeps_one_budget_per_key() {
        let pacer = InMemoryPacer::new();
        let b = budget("PACE#h#user-1", limits(10, 2));
        let first = pacer.reserve(&b, 0).await.unwrap();
        let second = pacer.reserve(&b, 0).await.unwrap();
        let third = pacer.reserve(&b, 0).await.unwrap();
        let other = pacer
            .reserve(&budget("PACE#h#user-2", limits(10, 2)), 0)
            .await
            .unwrap();
        assert_eq!(
            other,
            Reservation::Granted {
                wait: Duration::ZERO
            }
        );
        assert_eq!(
            first,
            Reservation::Granted {
                wait: Duration::ZERO
            }
        );
        assert_eq!(
            second,
            Reservation::Granted {
                wait: Duration::ZERO
            }
        );
        assert_eq!(
            third,
            Reservation::Granted {
                wait: Duration::from_millis(100)
            }
        );
    }

    #[tokio::test]
    async fn a_full_budget_is_a_retryable_rate_limit() {
        let pacer = InMemoryPacer::new();
        let b = budget(
            "PACE#h",
            PaceLimits {
                max_wait: Duration::ZERO,
                ..limits(1, 1)
            },
        );
        pace(&pacer, &b, "GET /api/v2/runs/run-1").await.unwrap();
        let e = pace(&pacer, &b, "GET /api/v2/runs/run-1")
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "TfcRateLimited");
        assert!(e.is_transient());
        assert!(e.to_string().contains("budget"), "{e}");
    }
}
