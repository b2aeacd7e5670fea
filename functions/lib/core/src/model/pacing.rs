//! The shared HCP Terraform request budget, as the `RequestPacer` port speaks
//! of it (the algorithm is in `crate::pacing`).

use std::time::Duration;

/// The limits of one request budget: `requests` per `period`, `burst` back to
/// back, and the longest in-process wait for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceLimits {
    pub requests: u32,
    pub period: Duration,
    pub burst: u32,
    pub max_wait: Duration,
}

/// Which budget a request draws from: a key naming the user (and, for
/// endpoints with their own limit, the endpoint) and that budget's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub key: String,
    pub limits: PaceLimits,
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Send after waiting this long (zero: at once).
    Granted { wait: Duration },
    /// The queue is longer than `max_wait`; nothing was reserved.
    Full { retry_after: Duration },
}
