//! The drift-history page: open drift now, every workspace's drift-free ratio
//! and time to resolve, a 30-day trend, top actors, recently resolved drift
//! and recent checks. [`render`] is a pure function of the records and
//! episodes [`load`] reads; two thin adapters serve it: the CloudWatch custom
//! widget Lambda ([`widget`]: HTML and CSS, no JavaScript, inside the
//! dashboard) and `driftguard dashboard` (a whole page, to a file or served).

mod html;
mod stats;
mod svg;
mod text;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::episodes::Episode;
use crate::error::Result;
use crate::history::HistoryRecord;
use crate::model::CheckRef;
use crate::ports::HistoryReader;

pub use html::{RenderOptions, listed_open_drift, render};
pub use stats::{ActorStats, DayPoint, WorkspaceStats, daily_trend, top_actors, workspace_stats};
pub use text::history_table;

/// Days the page looks back by default.
pub const DEFAULT_DAYS: u32 = 30;
/// Most days the page looks back.
pub const MAX_DAYS: u32 = 90;
/// Most check records read per workspace (the newest).
pub const MAX_RECORDS_PER_WORKSPACE: usize = 2_000;

/// One workspace's history in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceHistory {
    pub check: CheckRef,
    /// Checks started in the window, newest first (at most [`MAX_RECORDS_PER_WORKSPACE`]).
    pub records: Vec<HistoryRecord>,
    /// True when older checks of the window were left out.
    pub records_capped: bool,
    pub open: Vec<Episode>,
    /// Episodes resolved in the window.
    pub resolved: Vec<Episode>,
    /// Start of the workspace's first check in the window.
    pub first_check_at: Option<String>,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardData {
    pub workspaces: Vec<WorkspaceHistory>,
    pub now: chrono::DateTime<chrono::Utc>,
    pub days: u32,
}

impl DashboardData {
    /// Start of the window.
    pub fn since(&self) -> chrono::DateTime<chrono::Utc> {
        self.now - chrono::Duration::days(i64::from(self.days))
    }
}

/// Reads the history of `checks` for the last `days` days.
pub async fn load(
    store: &dyn HistoryReader,
    checks: &[CheckRef],
    now: chrono::DateTime<chrono::Utc>,
    days: u32,
) -> Result<DashboardData> {
    let days = days.clamp(1, MAX_DAYS);
    let since = (now - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut workspaces = Vec::new();
    for check in checks {
        let mut records = store
            .records_since(check, &since, MAX_RECORDS_PER_WORKSPACE + 1)
            .await?;
        let records_capped = records.len() > MAX_RECORDS_PER_WORKSPACE;
        records.truncate(MAX_RECORDS_PER_WORKSPACE);
        workspaces.push(WorkspaceHistory {
            check: check.clone(),
            records_capped,
            open: store.open_episodes(check).await?,
            resolved: store.resolved_episodes(check, &since).await?,
            first_check_at: store.first_check_since(check, &since).await?,
            records,
        });
    }
    Ok(DashboardData {
        workspaces,
        now,
        days,
    })
}

// ---------------------------------------------------------------------------
// CloudWatch custom widget
// ---------------------------------------------------------------------------

/// The dashboard's time zone, as the widget context gives it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WidgetTimezone {
    #[serde(default)]
    pub label: Option<String>,
    /// `+01:00`
    #[serde(rename = "offsetISO", default)]
    pub offset_iso: Option<String>,
}

/// `widgetContext` of a custom widget call (the fields DriftGuard uses).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WidgetContext {
    #[serde(rename = "dashboardName", default)]
    pub dashboard_name: Option<String>,
    /// `light` or `dark`.
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub timezone: Option<WidgetTimezone>,
    /// The widget's configured parameters.
    #[serde(default)]
    pub params: Option<Value>,
}

/// The event CloudWatch sends a custom widget function.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WidgetEvent {
    /// CloudWatch asks for the widget's documentation.
    #[serde(default)]
    pub describe: bool,
    #[serde(rename = "widgetContext", default)]
    pub widget_context: Option<WidgetContext>,
    /// Widget parameter: days to look back (also read from `widgetContext.params`).
    #[serde(default)]
    pub days: Option<u32>,
}

/// What the widget answers to `describe`.
pub const WIDGET_DOCUMENTATION: &str = "## DriftGuard drift history

Open drift (workspace, resource, since when, who, links to the check's Step Functions execution and HCP Terraform run), every workspace's drift-free ratio and time to resolve, a trend chart, top actors, recently resolved drift and recent checks, from DriftGuard's history table.

Parameters (optional):

```yaml
days: 30   # how far back to look, 1 to 90
```";

/// Minutes east of UTC in `+hh:mm` / `-hh:mm` (0 when absent or malformed).
pub fn offset_minutes(offset_iso: &str) -> i32 {
    let (sign, rest) = match offset_iso.chars().next() {
        Some('+') => (1, &offset_iso[1..]),
        Some('-') => (-1, &offset_iso[1..]),
        _ => return 0,
    };
    let mut parts = rest.split(':');
    let hours: i32 = parts.next().and_then(|h| h.parse().ok()).unwrap_or(0);
    let minutes: i32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if !(0..=14).contains(&hours) || !(0..60).contains(&minutes) {
        return 0;
    }
    sign * (hours * 60 + minutes)
}

/// Answers one custom-widget call: the page as an HTML fragment, or the
/// documentation. An event without `widgetContext` is not from CloudWatch.
pub async fn widget(
    event: &WidgetEvent,
    store: &dyn HistoryReader,
    checks: &[CheckRef],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value> {
    if event.describe {
        return Ok(json!({ "markdown": WIDGET_DOCUMENTATION }));
    }
    let Some(context) = &event.widget_context else {
        return Err(crate::Error::InvalidInput(
            "expected a CloudWatch custom widget event (with widgetContext); this function renders DriftGuard's drift-history widget on the module's CloudWatch dashboard".into(),
        ));
    };
    let days = event
        .days
        .or_else(|| {
            context
                .params
                .as_ref()
                .and_then(|p| p.get("days"))
                .and_then(Value::as_u64)
                .map(|d| d.min(u64::from(MAX_DAYS)) as u32)
        })
        .unwrap_or(DEFAULT_DAYS);
    let data = load(store, checks, now, days).await?;
    let timezone = context.timezone.clone().unwrap_or_default();
    let options = RenderOptions {
        standalone: false,
        dark: context.theme.as_deref() == Some("dark"),
        offset_minutes: timezone.offset_iso.as_deref().map_or(0, offset_minutes),
    };
    Ok(Value::String(render(&data, &options)))
}
