//! The figures of the page, computed from records and episodes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{DashboardData, WorkspaceHistory};
use crate::episodes::{Episode, drift_free_ratio, epoch, median};
use crate::findings::actor_name;
use crate::history::HistoryRecord;
use crate::model::{CheckRef, CheckStatus};

/// One workspace over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceStats {
    pub check: CheckRef,
    /// 0 to 1, over the window from the workspace's first check in it; `None`
    /// when nothing was checked in the window (an unchecked workspace is not
    /// known to be drift-free).
    pub drift_free_ratio: Option<f64>,
    pub open: usize,
    pub resolved: usize,
    pub median_time_to_resolve: Option<i64>,
    /// Seconds the oldest open episode has been open.
    pub oldest_open: Option<i64>,
    pub checks: usize,
    pub checks_with_drift: usize,
    pub checks_failed: usize,
    pub last_check: Option<HistoryRecord>,
}

fn time(rfc3339: &str) -> Option<DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a check found drift (whatever happened to it then).
pub fn found_drift(status: CheckStatus) -> bool {
    matches!(
        status,
        CheckStatus::DriftDetected
            | CheckStatus::Remediated
            | CheckStatus::RemediationSkipped
            | CheckStatus::RemediationFailed
    )
}

pub fn workspace_stats(ws: &WorkspaceHistory, data: &DashboardData) -> WorkspaceStats {
    let since = data.since();
    let start = ws
        .first_check_at
        .as_deref()
        .and_then(time)
        .map(|t| t.max(since))
        .unwrap_or(data.now);
    let mut episodes: Vec<Episode> = ws.resolved.clone();
    episodes.extend(ws.open.iter().cloned());
    let durations: Vec<i64> = ws
        .resolved
        .iter()
        .map(|e| e.duration_seconds(data.now))
        .collect();
    WorkspaceStats {
        check: ws.check.clone(),
        drift_free_ratio: (!ws.records.is_empty() || !episodes.is_empty())
            .then(|| drift_free_ratio(&episodes, start, data.now)),
        open: ws.open.len(),
        resolved: ws.resolved.len(),
        median_time_to_resolve: median(&durations),
        oldest_open: ws.open.iter().map(|e| e.duration_seconds(data.now)).max(),
        checks: ws.records.len(),
        checks_with_drift: ws.records.iter().filter(|r| found_drift(r.status)).count(),
        checks_failed: ws
            .records
            .iter()
            .filter(|r| r.status == CheckStatus::CheckFailed)
            .count(),
        last_check: ws.records.first().cloned(),
    }
}

/// Who caused drift in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorStats {
    pub name: String,
    /// The identity ARN when known (shown on hover).
    pub arn: Option<String>,
    pub episodes: usize,
    pub still_open: usize,
    pub workspaces: usize,
    /// When their latest drift was detected.
    pub last_detected: String,
}

/// The actors behind the window's episodes, most episodes first (at most `limit`).
pub fn top_actors(data: &DashboardData, limit: usize) -> Vec<ActorStats> {
    let since = data.since().timestamp();
    let mut by_actor: BTreeMap<String, (ActorStats, std::collections::BTreeSet<CheckRef>)> =
        BTreeMap::new();
    for ws in &data.workspaces {
        for episode in ws.open.iter().chain(&ws.resolved) {
            let Some(cause) = &episode.cause else {
                continue;
            };
            if epoch(episode.detected_at()).is_some_and(|t| t < since) && !episode.is_open() {
                continue;
            }
            let key = cause
                .actor
                .arn
                .clone()
                .unwrap_or_else(|| actor_name(&cause.actor));
            let entry = by_actor.entry(key).or_insert_with(|| {
                (
                    ActorStats {
                        name: actor_name(&cause.actor),
                        arn: cause.actor.arn.clone(),
                        episodes: 0,
                        still_open: 0,
                        workspaces: 0,
                        last_detected: String::new(),
                    },
                    Default::default(),
                )
            });
            entry.0.episodes += 1;
            if episode.is_open() {
                entry.0.still_open += 1;
            }
            if episode.detected_at() > entry.0.last_detected.as_str() {
                entry.0.last_detected = episode.detected_at().to_string();
            }
            entry.1.insert(ws.check.clone());
        }
    }
    let mut actors: Vec<ActorStats> = by_actor
        .into_values()
        .map(|(mut stats, workspaces)| {
            stats.workspaces = workspaces.len();
            stats
        })
        .collect();
    actors.sort_by(|a, b| {
        b.episodes
            .cmp(&a.episodes)
            .then_with(|| b.last_detected.cmp(&a.last_detected))
    });
    actors.truncate(limit);
    actors
}

/// One day of the trend (in the page's time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayPoint {
    pub date: NaiveDate,
    pub no_drift: usize,
    /// Drift found and left (detected, skipped, failed remediation).
    pub drift: usize,
    pub remediated: usize,
    pub failed: usize,
    /// Episodes open at the end of the day (now, for today).
    pub open_at_end: usize,
}

impl DayPoint {
    pub fn checks(&self) -> usize {
        self.no_drift + self.drift + self.remediated + self.failed
    }
}

/// The window day by day, oldest first, in a time zone `offset_minutes` east of UTC.
pub fn daily_trend(data: &DashboardData, offset_minutes: i32) -> Vec<DayPoint> {
    let offset = Duration::minutes(i64::from(offset_minutes));
    let local = |t: DateTime<Utc>| (t + offset).date_naive();
    let today = local(data.now);
    let first = today - Duration::days(i64::from(data.days) - 1);
    let mut days: Vec<DayPoint> = first
        .iter_days()
        .take_while(|d| *d <= today)
        .map(|date| DayPoint {
            date,
            no_drift: 0,
            drift: 0,
            remediated: 0,
            failed: 0,
            open_at_end: 0,
        })
        .collect();
    let index = |date: NaiveDate| {
        let i = (date - first).num_days();
        (0..days.len() as i64).contains(&i).then_some(i as usize)
    };
    let mut counts = vec![(0, 0, 0, 0); days.len()];
    for ws in &data.workspaces {
        for record in &ws.records {
            let Some(i) = time(&record.started_at).map(local).and_then(index) else {
                continue;
            };
            let c = &mut counts[i];
            match record.status {
                CheckStatus::NoDrift => c.0 += 1,
                CheckStatus::Remediated => c.2 += 1,
                CheckStatus::CheckFailed => c.3 += 1,
                _ => c.1 += 1,
            }
        }
    }
    let episodes: Vec<&Episode> = data
        .workspaces
        .iter()
        .flat_map(|ws| ws.open.iter().chain(&ws.resolved))
        .collect();
    for (day, (no_drift, drift, remediated, failed)) in days.iter_mut().zip(counts) {
        day.no_drift = no_drift;
        day.drift = drift;
        day.remediated = remediated;
        day.failed = failed;
        // End of the local day, as a UTC instant (now for today).
        let end = (day.date + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc() - offset)
            .unwrap_or(data.now)
            .min(data.now);
        let end = end.timestamp();
        day.open_at_end = episodes
            .iter()
            .filter(|e| {
                epoch(e.detected_at()).is_some_and(|d| d <= end)
                    && e.resolved_at().and_then(epoch).is_none_or(|r| r > end)
            })
            .count();
    }
    days
}
