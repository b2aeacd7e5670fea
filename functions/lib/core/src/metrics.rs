//! CloudWatch metrics of DriftGuard, built as embedded metric format (EMF)
//! documents: pure functions of what a check recorded. Where they go is the
//! [`crate::ports::MetricsSink`] port's business (a log line in Lambda:
//! [`crate::aws::EmfMetrics`]).
//!
//! Namespace `DriftGuard`, per check:
//! - `Checks` (by `Workspace`, by `Workspace` and `Status`, and in total) and
//!   `DriftedResources`: checks by outcome;
//! - by `Workspace`: `OpenEpisodes` after the check, `EpisodesOpened`,
//!   `EpisodesResolved`, `TimeToDetect` (seconds from the CloudTrail event to
//!   the check that found the drift, one value per opened episode),
//!   `TimeToResolve` (episode length, one value per resolved episode) and
//!   `DriftFreeRatio` (percent of the last [`RATIO_WINDOW_DAYS`] days without
//!   an open episode: the compliance score).

use serde_json::{Map, Value, json};

use crate::episodes::EpisodeWrite;
use crate::history::HistoryRecord;

/// CloudWatch namespace of DriftGuard's metrics.
pub const NAMESPACE: &str = "DriftGuard";
/// The drift-free ratio looks back this far (or to the workspace's first check).
pub const RATIO_WINDOW_DAYS: i64 = 30;
/// Most values of one metric in one EMF document.
const MAX_VALUES: usize = 100;

pub use crate::model::CheckMetrics;

impl CheckMetrics {
    /// The metrics of a stored check and the episode writes stored with it.
    pub fn of(record: &HistoryRecord, writes: &[EpisodeWrite]) -> Self {
        let now = chrono::DateTime::parse_from_rfc3339(&record.recorded_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now());
        let mut time_to_detect = Vec::new();
        let mut time_to_resolve = Vec::new();
        for write in writes {
            match write {
                EpisodeWrite::Open(e) => time_to_detect.extend(e.time_to_detect_seconds()),
                EpisodeWrite::Close(e) => time_to_resolve.push(e.duration_seconds(now)),
                EpisodeWrite::OpenResolved(e) => {
                    time_to_detect.extend(e.time_to_detect_seconds());
                    time_to_resolve.push(e.duration_seconds(now));
                }
                EpisodeWrite::Refresh(_) => {}
            }
        }
        CheckMetrics {
            workspace: format!("{}/{}", record.organization, record.workspace),
            status: record.status,
            execution_id: record.execution_id.clone(),
            drifted_resources: record.drift.as_ref().map_or(0, |d| d.resource_count),
            episodes: record.episodes,
            time_to_detect,
            time_to_resolve,
            drift_free_ratio: None,
        }
    }

    /// One EMF document (a JSON log line).
    pub fn line(&self, now_millis: i64) -> String {
        let mut root = Map::new();
        let mut directives = vec![json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["Workspace"], ["Workspace", "Status"], []],
            "Metrics": [
                {"Name": "Checks", "Unit": "Count"},
                {"Name": "DriftedResources", "Unit": "Count"}
            ]
        })];
        root.insert("Workspace".into(), json!(self.workspace));
        root.insert("Status".into(), json!(self.status.as_str()));
        root.insert("Checks".into(), json!(1));
        root.insert("DriftedResources".into(), json!(self.drifted_resources));

        // Only metrics with a value are declared: EMF needs each declared member present.
        let mut by_workspace = Vec::new();
        let mut metric = |name: &str, unit: &str, value: Value| {
            by_workspace.push(json!({"Name": name, "Unit": unit}));
            root.insert(name.to_string(), value);
        };
        if let Some(summary) = &self.episodes {
            metric("OpenEpisodes", "Count", json!(summary.open));
            metric("EpisodesOpened", "Count", json!(summary.opened));
            metric("EpisodesResolved", "Count", json!(summary.resolved));
        }
        if !self.time_to_detect.is_empty() {
            metric("TimeToDetect", "Seconds", values(&self.time_to_detect));
        }
        if !self.time_to_resolve.is_empty() {
            metric("TimeToResolve", "Seconds", values(&self.time_to_resolve));
        }
        if let Some(ratio) = self.drift_free_ratio {
            let percent = (ratio.clamp(0.0, 1.0) * 10_000.0).round() / 100.0;
            metric("DriftFreeRatio", "Percent", json!(percent));
        }
        if !by_workspace.is_empty() {
            directives.push(json!({
                "Namespace": NAMESPACE,
                "Dimensions": [["Workspace"]],
                "Metrics": by_workspace
            }));
        }
        root.insert(
            "_aws".into(),
            json!({"Timestamp": now_millis, "CloudWatchMetrics": directives}),
        );
        root.insert("execution_id".into(), json!(self.execution_id));
        Value::Object(root).to_string()
    }
}

/// One value, or an array of values (EMF takes up to 100).
fn values(seconds: &[i64]) -> Value {
    match seconds {
        [one] => json!(one),
        many => json!(many.iter().take(MAX_VALUES).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckStatus, EpisodeSummary};

    fn metrics() -> CheckMetrics {
        CheckMetrics {
            workspace: "acme/prod".into(),
            status: CheckStatus::NoDrift,
            execution_id: "exec-1".into(),
            drifted_resources: 0,
            episodes: None,
            time_to_detect: vec![],
            time_to_resolve: vec![],
            drift_free_ratio: None,
        }
    }

    #[test]
    fn a_check_without_episodes_counts_by_outcome() {
        let v: Value = serde_json::from_str(&metrics().line(1)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "DriftGuard");
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert_eq!(v["Status"], "NoDrift");
        assert_eq!(v["Checks"], 1);
    }

    #[test]
    fn episode_metrics_declare_only_what_has_a_value() {
        let m = CheckMetrics {
            episodes: Some(EpisodeSummary {
                opened: 0,
                resolved: 2,
                open: 1,
                deferred: 0,
            }),
            time_to_resolve: vec![600, 1200],
            drift_free_ratio: Some(0.98765),
            ..metrics()
        };
        let v: Value = serde_json::from_str(&m.line(1)).unwrap();
        let second = &v["_aws"]["CloudWatchMetrics"][1];
        assert_eq!(second["Dimensions"], json!([["Workspace"]]));
        let names: Vec<&str> = second["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "OpenEpisodes",
                "EpisodesOpened",
                "EpisodesResolved",
                "TimeToResolve",
                "DriftFreeRatio"
            ]
        );
        for name in names {
            assert!(!v[name].is_null(), "{name} declared without a value");
        }
        assert_eq!(v["TimeToResolve"], json!([600, 1200]));
        assert_eq!(v["DriftFreeRatio"], json!(98.77));
        assert!(v.get("TimeToDetect").is_none());
    }
}
