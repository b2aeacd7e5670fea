//! Metrics in memory (feature `testing`): a test double, never in a Lambda.

use std::sync::Mutex;

use driftguard_core::model::CheckMetrics;
use driftguard_core::ports::MetricsSink;

/// Keeps every published check's metrics, in order.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    published: Mutex<Vec<CheckMetrics>>,
}

impl InMemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything published so far.
    pub fn published(&self) -> Vec<CheckMetrics> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl MetricsSink for InMemoryMetrics {
    fn publish(&self, metrics: &CheckMetrics, _at: chrono::DateTime<chrono::Utc>) {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(metrics.clone());
    }
}
