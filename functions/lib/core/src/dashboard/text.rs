//! `driftguard history`: recent checks and drift episodes as text tables.

use super::DashboardData;
use crate::episodes::Episode;
use crate::findings::actor_name;
use crate::history::HistoryRecord;

fn short(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| crate::pad_right(c, *w))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn check_row(r: &HistoryRecord) -> Vec<String> {
    let drifted = r
        .drift
        .as_ref()
        .filter(|d| d.drifted)
        .map_or("-".to_string(), |d| d.resource_count.to_string());
    let episodes = r.episodes.map_or("-".to_string(), |s| {
        format!("+{} -{} ({} open)", s.opened, s.resolved, s.open)
    });
    let trigger = r.changes.first().map_or("-".to_string(), |c| {
        format!("{}: {}", actor_name(&c.actor), c.event_name)
    });
    vec![
        short(&r.started_at),
        format!("{}/{}", r.organization, r.workspace),
        r.status.to_string(),
        drifted,
        episodes,
        trigger,
    ]
}

fn episode_row(e: &Episode) -> Vec<String> {
    let how = match (&e.resolution, &e.resolved_by) {
        (Some(r), Some(by)) => format!("{} ({})", r.as_str(), actor_name(by)),
        (Some(r), None) => r.as_str().to_string(),
        _ => "-".to_string(),
    };
    vec![
        if e.is_open() { "open" } else { "resolved" }.to_string(),
        format!("{}/{}", e.organization, e.workspace),
        e.address.clone(),
        short(e.detected_at()),
        e.resolved_at().map_or("-".to_string(), short),
        how,
        e.cause
            .as_ref()
            .map_or("-".to_string(), |c| actor_name(&c.actor)),
    ]
}

/// The newest `limit` checks, then open episodes and the newest `limit`
/// resolved ones (times in UTC).
pub fn history_table(data: &DashboardData, limit: usize) -> String {
    let mut records: Vec<&HistoryRecord> =
        data.workspaces.iter().flat_map(|w| &w.records).collect();
    records.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    let checks: Vec<Vec<String>> = records.iter().take(limit).map(|r| check_row(r)).collect();
    let mut open: Vec<&Episode> = data.workspaces.iter().flat_map(|w| &w.open).collect();
    open.sort_by(|a, b| a.detected_at().cmp(b.detected_at()));
    let mut resolved: Vec<&Episode> = data.workspaces.iter().flat_map(|w| &w.resolved).collect();
    resolved.sort_by(|a, b| b.resolved_at().cmp(&a.resolved_at()));
    let episodes: Vec<Vec<String>> = open
        .iter()
        .chain(resolved.iter().take(limit))
        .map(|e| episode_row(e))
        .collect();

    let mut out = format!(
        "Checks (newest {} of {}, last {} days, times UTC)\n",
        checks.len(),
        records.len(),
        data.days
    );
    if checks.is_empty() {
        out.push_str("No checks.\n");
    } else {
        out.push_str(&table(
            &[
                "STARTED",
                "WORKSPACE",
                "OUTCOME",
                "DRIFTED",
                "EPISODES",
                "TRIGGERED BY",
            ],
            &checks,
        ));
    }
    out.push_str(&format!(
        "\nDrift episodes ({} open, {} resolved in the period)\n",
        open.len(),
        resolved.len()
    ));
    if episodes.is_empty() {
        out.push_str("No drift episodes.\n");
    } else {
        out.push_str(&table(
            &[
                "STATE",
                "WORKSPACE",
                "RESOURCE",
                "DETECTED",
                "RESOLVED",
                "HOW",
                "CAUSED BY",
            ],
            &episodes,
        ));
    }
    out
}
