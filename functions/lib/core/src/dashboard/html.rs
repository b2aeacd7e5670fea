//! The page as HTML and CSS. Every text from the history (addresses, ARNs,
//! workspace names) is escaped; only http(s) URLs become links.

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

use super::stats::{self, WorkspaceStats, found_drift};
use super::{DashboardData, svg};
use crate::episodes::{Attribution, Episode, Resolution};
use crate::findings::actor_name;
use crate::history::HistoryRecord;
use crate::model::CheckStatus;

/// How to render the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// A whole HTML document (the CLI) rather than a fragment (the widget).
    pub standalone: bool,
    /// The dashboard's dark theme.
    pub dark: bool,
    /// Minutes east of UTC to show times in.
    pub offset_minutes: i32,
}

/// Rows shown in the lists.
const RECENT_CHECKS: usize = 20;
const RECENTLY_RESOLVED: usize = 10;
const TOP_ACTORS: usize = 10;
const OPEN_DRIFT: usize = 100;

/// The open episodes the page lists (the oldest [`OPEN_DRIFT`], oldest
/// first) and how many more there are.
pub fn listed_open_drift(data: &DashboardData) -> (Vec<&Episode>, usize) {
    let mut open: Vec<&Episode> = data.workspaces.iter().flat_map(|ws| &ws.open).collect();
    open.sort_by(|a, b| a.detected_at().cmp(b.detected_at()));
    let more = open.len().saturating_sub(OPEN_DRIFT);
    open.truncate(OPEN_DRIFT);
    (open, more)
}

/// Escapes text for HTML content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link, or nothing for a URL that is not http(s).
fn link(url: Option<&str>, text: &str) -> Option<String> {
    let url = url?;
    (url.starts_with("https://") || url.starts_with("http://"))
        .then(|| format!(r#"<a href="{}">{}</a>"#, esc(url), esc(text)))
}

fn links(execution_url: &str, run_url: Option<&str>) -> String {
    let parts: Vec<String> = [link(Some(execution_url), "execution"), link(run_url, "run")]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

/// `3 h 5 min`, `2 d 4 h`, `45 s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 => match (s % 3_600) / 60 {
            0 => format!("{} h", s / 3_600),
            m => format!("{} h {m} min", s / 3_600),
        },
        _ => match (s % 86_400) / 3_600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", (ratio * 100.0).clamp(0.0, 100.0))
}

struct Clock {
    now: DateTime<Utc>,
    offset: i32,
}

impl Clock {
    fn zone(&self) -> String {
        match self.offset {
            0 => "UTC".into(),
            m => format!(
                "UTC{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
        }
    }

    /// `2026-11-22 10:05` in the page's time zone.
    fn at(&self, rfc3339: &str) -> String {
        match chrono::DateTime::parse_from_rfc3339(rfc3339) {
            Ok(t) => (t.with_timezone(&Utc) + Duration::minutes(i64::from(self.offset)))
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            Err(_) => rfc3339.to_string(),
        }
    }

    /// `2026-11-22 10:05 (3 h ago)`, with the exact time on hover.
    fn since(&self, rfc3339: &str) -> String {
        let ago = chrono::DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| {
                format!(
                    " ({} ago)",
                    duration((self.now - t.with_timezone(&Utc)).num_seconds())
                )
            })
            .unwrap_or_default();
        format!(
            r#"<time datetime="{}" title="{}">{}</time>{ago}"#,
            esc(rfc3339),
            esc(rfc3339),
            esc(&self.at(rfc3339))
        )
    }
}

fn status_badge(status: CheckStatus) -> String {
    let class = match status {
        CheckStatus::NoDrift => "ok",
        CheckStatus::Remediated => "fixed",
        CheckStatus::CheckFailed => "failed",
        _ => "drift",
    };
    format!(r#"<span class="badge {class}">{status}</span>"#)
}

fn who(episode: &Episode) -> String {
    match &episode.cause {
        None => r#"<span class="muted">unknown</span>"#.into(),
        Some(cause) => {
            let name = actor_name(&cause.actor);
            let likely = match cause.matched {
                Attribution::Resource => "",
                Attribution::Service | Attribution::Check => {
                    r#" <span class="muted" title="No change of this check named the resource; this change was made in the same check">(likely)</span>"#
                }
            };
            format!(
                r#"<span title="{}">{}</span>{likely}<br><span class="muted">{}</span>"#,
                esc(cause
                    .actor
                    .arn
                    .as_deref()
                    .unwrap_or(&cause.actor.actor_type)),
                esc(&name),
                esc(&cause.event_name),
            )
        }
    }
}

fn resource(episode: &Episode) -> String {
    format!(
        r#"<code>{}</code><br><span class="muted">{}</span>"#,
        esc(&episode.address),
        esc(&episode.resource_type)
    )
}

fn how_resolved(episode: &Episode) -> String {
    let how = episode
        .resolution
        .map(|r| r.describe())
        .unwrap_or("resolved");
    match (&episode.resolved_by, episode.resolution) {
        (Some(by), Some(Resolution::Reverted)) => format!(
            r#"changed back by <span title="{}">{}</span>"#,
            esc(by.arn.as_deref().unwrap_or(&by.actor_type)),
            esc(&actor_name(by))
        ),
        _ => esc(how),
    }
}

const STYLE: &str = r#"<style>
.dg{--fg:#16191f;--muted:#5f6b7a;--line:#d5dbdb;--panel:#fafafa;--ok:#2e7d32;--drift:#d45b07;--fixed:#1565c0;--failed:#c62828;--open:#6a1b9a;--link:#0972d3;color:var(--fg);font:14px/1.45 "Amazon Ember","Helvetica Neue",Roboto,Arial,sans-serif}
.dg.dark{--fg:#e9ebed;--muted:#9ba7b6;--line:#414d5c;--panel:#232f3e;--open:#c38de6;--link:#539fe5}
.dg a{color:var(--link)}
.dg h1{font-size:20px;margin:0 0 4px}.dg h2{font-size:16px;margin:22px 0 8px}
.dg .muted{color:var(--muted)}.dg code{font-family:Monaco,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
.dg .tiles{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.dg .tile{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px;background:var(--panel)}
.dg .tile b{display:block;font-size:22px}
.dg table{border-collapse:collapse;width:100%}
.dg th,.dg td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
.dg th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.dg .num{text-align:right;font-variant-numeric:tabular-nums}
.dg .badge{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;white-space:nowrap}
.dg .badge.ok{background:var(--ok)}.dg .badge.drift{background:var(--drift)}.dg .badge.fixed{background:var(--fixed)}.dg .badge.failed{background:var(--failed)}
.dg .empty{padding:10px;border:1px dashed var(--line);border-radius:8px}
.dg svg.trend{max-width:900px;display:block}
.dg svg .axis{stroke:var(--muted)}.dg svg .grid{stroke:var(--line);stroke-dasharray:3 3}
.dg svg text{fill:var(--muted);font-size:11px}.dg svg text.panel{fill:var(--fg);font-size:12px;font-weight:600}
.dg .s-ok{fill:var(--ok);background:var(--ok)}.dg .s-drift{fill:var(--drift);background:var(--drift)}
.dg .s-fixed{fill:var(--fixed);background:var(--fixed)}.dg .s-failed{fill:var(--failed);background:var(--failed)}
.dg polyline.s-open{stroke:var(--open);stroke-width:2}.dg .s-open-dot{fill:var(--open)}.dg .swatch.s-open{background:var(--open)}
.dg .legend{list-style:none;display:flex;flex-wrap:wrap;gap:14px;padding:0;margin:6px 0 0;color:var(--muted);font-size:12px}
.dg .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
</style>"#;

/// The page (or the widget's fragment).
pub fn render(data: &DashboardData, options: &RenderOptions) -> String {
    let clock = Clock {
        now: data.now,
        offset: options.offset_minutes,
    };
    let stats: Vec<WorkspaceStats> = data
        .workspaces
        .iter()
        .map(|ws| stats::workspace_stats(ws, data))
        .collect();
    let mut body = String::new();
    header(&mut body, data, &stats, &clock);
    open_drift(&mut body, data, &clock);
    workspaces(&mut body, data, &stats, &clock);
    trend(&mut body, data, options);
    actors(&mut body, data, &clock);
    resolved(&mut body, data, &clock);
    recent_checks(&mut body, data, &clock);

    let class = if options.dark { "dg dark" } else { "dg" };
    let main = format!(r#"{STYLE}<div class="{class}" id="driftguard-dashboard">{body}</div>"#);
    if !options.standalone {
        return main;
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>DriftGuard drift history</title></head>
<body style="margin:16px">{main}</body></html>
"#
    )
}

fn header(out: &mut String, data: &DashboardData, stats: &[WorkspaceStats], clock: &Clock) {
    let open: usize = stats.iter().map(|s| s.open).sum();
    let checks: usize = stats.iter().map(|s| s.checks).sum();
    let with_drift: usize = stats.iter().map(|s| s.checks_with_drift).sum();
    let durations: Vec<i64> = data
        .workspaces
        .iter()
        .flat_map(|ws| &ws.resolved)
        .map(|e| e.duration_seconds(data.now))
        .collect();
    let median = crate::episodes::median(&durations)
        .map(duration)
        .unwrap_or_else(|| "—".into());
    // The checked workspaces' ratios weighted equally: each workspace is one code base to keep honest.
    let ratios: Vec<f64> = stats.iter().filter_map(|s| s.drift_free_ratio).collect();
    let ratio = if ratios.is_empty() {
        "—".to_string()
    } else {
        percent(ratios.iter().sum::<f64>() / ratios.len() as f64)
    };
    let _ = write!(
        out,
        r#"<h1>DriftGuard drift history</h1><p class="muted">Last {days} days · {n} workspace{s} · as of {now} {zone}</p>"#,
        days = data.days,
        n = data.workspaces.len(),
        s = if data.workspaces.len() == 1 { "" } else { "s" },
        now = esc(&clock.at(&data.now.to_rfc3339())),
        zone = clock.zone(),
    );
    let _ = write!(
        out,
        r#"<div class="tiles" id="summary"><div class="tile"><b>{open}</b>open drift episode{os}</div><div class="tile"><b>{ratio}</b>drift-free (last {days} days)</div><div class="tile"><b>{median}</b>median time to resolve</div><div class="tile"><b>{checks}</b>checks, {with_drift} with drift</div></div>"#,
        os = if open == 1 { "" } else { "s" },
        days = data.days,
    );
}

fn open_drift(out: &mut String, data: &DashboardData, clock: &Clock) {
    let (open, more) = listed_open_drift(data);
    out.push_str(r#"<section id="open-drift"><h2>Open drift now</h2>"#);
    if open.is_empty() {
        out.push_str(r#"<p class="empty">No open drift: every checked resource matches its Terraform code.</p></section>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Workspace</th><th>Resource</th><th>Since</th><th>Who</th><th>Checks</th><th>Links</th></tr></thead><tbody>");
    for e in open {
        let _ = write!(
            out,
            r#"<tr><td>{ws}</td><td>{res}</td><td>{since}</td><td>{who}</td><td class="num">{checks}</td><td>{links}</td></tr>"#,
            ws = esc(&format!("{}/{}", e.organization, e.workspace)),
            res = resource(e),
            since = clock.since(e.detected_at()),
            who = who(e),
            checks = e.checks,
            links = links(&e.detected.execution_url, e.detected.run_url.as_deref()),
        );
    }
    out.push_str("</tbody></table>");
    if more > 0 {
        let _ = write!(
            out,
            r#"<p class="muted">{more} more open drift episodes (the oldest {OPEN_DRIFT} are listed): <code>driftguard history</code> lists them all.</p>"#
        );
    }
    out.push_str("</section>");
}

fn workspaces(out: &mut String, data: &DashboardData, stats: &[WorkspaceStats], clock: &Clock) {
    let _ = write!(
        out,
        r#"<section id="workspaces"><h2>Workspaces</h2><table><thead><tr><th>Workspace</th><th class="num">Drift-free ({days} d)</th><th class="num">Open</th><th class="num">Resolved</th><th class="num">Median time to resolve</th><th class="num">Checks</th><th>Last check</th></tr></thead><tbody>"#,
        days = data.days
    );
    if stats.is_empty() {
        out.push_str(
            r#"<tr><td colspan="7" class="muted">No workspace has history yet.</td></tr>"#,
        );
    }
    for (s, ws) in stats.iter().zip(&data.workspaces) {
        let last = s
            .last_check
            .as_ref()
            .map(|r| format!("{} {}", status_badge(r.status), clock.since(&r.started_at)))
            .unwrap_or_else(|| r#"<span class="muted">none in the window</span>"#.into());
        let capped = if ws.records_capped {
            r#" <span class="muted" title="Only the newest checks of the window were read">(newest)</span>"#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<tr><td>{name}</td><td class="num">{ratio}</td><td class="num">{open}</td><td class="num">{resolved}</td><td class="num">{ttr}</td><td class="num">{checks}{capped}</td><td>{last}</td></tr>"#,
            name = esc(&s.check.to_string()),
            ratio = s.drift_free_ratio.map_or_else(|| "—".to_string(), percent),
            open = s.open,
            resolved = s.resolved,
            ttr = s
                .median_time_to_resolve
                .map(duration)
                .unwrap_or_else(|| "—".into()),
            checks = s.checks,
        );
    }
    out.push_str("</tbody></table></section>");
}

fn trend(out: &mut String, data: &DashboardData, options: &RenderOptions) {
    let days = stats::daily_trend(data, options.offset_minutes);
    let _ = write!(
        out,
        r#"<section id="trend"><h2>{n}-day trend</h2>{chart}{legend}</section>"#,
        n = data.days,
        chart = svg::trend_chart(&days),
        legend = svg::legend(),
    );
}

fn actors(out: &mut String, data: &DashboardData, clock: &Clock) {
    let actors = stats::top_actors(data, TOP_ACTORS);
    out.push_str(r#"<section id="top-actors"><h2>Top actors</h2>"#);
    if actors.is_empty() {
        out.push_str(r#"<p class="empty">Nobody caused drift in this period.</p></section>"#);
        return;
    }
    out.push_str(r#"<table><thead><tr><th>Who</th><th class="num">Drift episodes</th><th class="num">Still open</th><th class="num">Workspaces</th><th>Latest</th></tr></thead><tbody>"#);
    for a in actors {
        let _ = write!(
            out,
            r#"<tr><td title="{arn}">{name}{account}</td><td class="num">{n}</td><td class="num">{open}</td><td class="num">{ws}</td><td>{last}</td></tr>"#,
            arn = esc(a.arn.as_deref().unwrap_or("")),
            name = esc(&a.name),
            account = account_of(a.arn.as_deref())
                .map(|acct| format!(r#"<br><span class="muted">account {}</span>"#, esc(acct)))
                .unwrap_or_default(),
            n = a.episodes,
            open = a.still_open,
            ws = a.workspaces,
            last = clock.since(&a.last_detected),
        );
    }
    out.push_str("</tbody></table></section>");
}

/// The account id in an IAM or STS ARN.
fn account_of(arn: Option<&str>) -> Option<&str> {
    arn?.split(':').nth(4).filter(|a| !a.is_empty())
}

fn resolved(out: &mut String, data: &DashboardData, clock: &Clock) {
    let mut resolved: Vec<&Episode> = data.workspaces.iter().flat_map(|ws| &ws.resolved).collect();
    resolved.sort_by(|a, b| b.resolved_at().cmp(&a.resolved_at()));
    out.push_str(r#"<section id="resolved"><h2>Recently resolved</h2>"#);
    if resolved.is_empty() {
        out.push_str(r#"<p class="empty">No drift was resolved in this period.</p></section>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Workspace</th><th>Resource</th><th>Resolved</th><th>How</th><th>Time to resolve</th><th>Who caused it</th><th>Links</th></tr></thead><tbody>");
    for e in resolved.into_iter().take(RECENTLY_RESOLVED) {
        let resolved_link = e.resolved.as_ref();
        let _ = write!(
            out,
            r#"<tr><td>{ws}</td><td>{res}</td><td>{at}</td><td>{how}</td><td class="num">{ttr}</td><td>{who}</td><td>{links}</td></tr>"#,
            ws = esc(&format!("{}/{}", e.organization, e.workspace)),
            res = resource(e),
            at = clock.since(e.resolved_at().unwrap_or_default()),
            how = how_resolved(e),
            ttr = duration(e.duration_seconds(data.now)),
            who = who(e),
            links = resolved_link
                .map(|r| links(&r.execution_url, r.run_url.as_deref()))
                .unwrap_or_default(),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn trigger(record: &HistoryRecord) -> String {
    match record.changes.first() {
        None => r#"<span class="muted">—</span>"#.into(),
        Some(change) => {
            let more = record.changes.len() + record.changes_omitted - 1;
            let more = if more > 0 {
                format!(r#" <span class="muted">+{more} more</span>"#)
            } else {
                String::new()
            };
            format!(
                r#"<span title="{}">{}</span>: {}{more}"#,
                esc(change
                    .actor
                    .arn
                    .as_deref()
                    .unwrap_or(&change.actor.actor_type)),
                esc(&actor_name(&change.actor)),
                esc(&change.event_name),
            )
        }
    }
}

fn recent_checks(out: &mut String, data: &DashboardData, clock: &Clock) {
    let mut records: Vec<&HistoryRecord> =
        data.workspaces.iter().flat_map(|ws| &ws.records).collect();
    records.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    out.push_str(r#"<section id="recent-checks"><h2>Recent checks</h2>"#);
    if records.is_empty() {
        out.push_str(r#"<p class="empty">No checks in this period.</p></section>"#);
        return;
    }
    out.push_str(r#"<table><thead><tr><th>Started</th><th>Workspace</th><th>Outcome</th><th class="num">Drifted</th><th>Episodes</th><th>Triggered by</th><th>Links</th></tr></thead><tbody>"#);
    for r in records.into_iter().take(RECENT_CHECKS) {
        let drifted = if found_drift(r.status) {
            r.drift
                .as_ref()
                .map_or("—".to_string(), |d| d.resource_count.to_string())
        } else {
            "—".to_string()
        };
        let episodes = r
            .episodes
            .map(|s| {
                let mut parts = Vec::new();
                if s.opened > 0 {
                    parts.push(format!("{} opened", s.opened));
                }
                if s.resolved > 0 {
                    parts.push(format!("{} resolved", s.resolved));
                }
                if s.deferred > 0 {
                    parts.push(format!("{} deferred", s.deferred));
                }
                if parts.is_empty() {
                    "—".to_string()
                } else {
                    parts.join(", ")
                }
            })
            .unwrap_or_else(|| "—".into());
        let failure = r
            .failure
            .as_ref()
            .map(|f| format!(r#"<br><span class="muted">{}</span>"#, esc(&f.error)))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr><td>{at}</td><td>{ws}</td><td>{badge}{failure}</td><td class="num">{drifted}</td><td>{episodes}</td><td>{trigger}</td><td>{links}</td></tr>"#,
            at = clock.since(&r.started_at),
            ws = esc(&format!("{}/{}", r.organization, r.workspace)),
            badge = status_badge(r.status),
            trigger = trigger(r),
            links = links(&r.execution_url, r.run_url.as_deref()),
        );
    }
    out.push_str("</tbody></table></section>");
}
