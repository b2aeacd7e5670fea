//! CloudWatch metrics through the embedded metric format: in Lambda, a JSON
//! line on standard output becomes metrics when CloudWatch Logs ingests it
//! (no API call, no extra permission).

use std::io::Write;

use driftguard_core::model::CheckMetrics;
use driftguard_core::ports::MetricsSink;

/// Writes one EMF document per recorded check to standard output.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmfMetrics;

impl MetricsSink for EmfMetrics {
    fn publish(&self, metrics: &CheckMetrics, at: chrono::DateTime<chrono::Utc>) {
        let line = metrics.line(at.timestamp_millis());
        let mut out = std::io::stdout().lock();
        // One write per document, so log lines of other tasks cannot split it.
        if let Err(e) = out
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| out.flush())
        {
            tracing::warn!(error = %e, workspace = %metrics.workspace, "metrics line not written");
        }
    }
}
