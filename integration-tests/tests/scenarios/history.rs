//! End-to-end scenarios of the drift history (a module of scenarios.rs):
//! drift episodes opened and resolved by real checks with their Security Hub
//! findings in moto's Security Hub, and the dashboard rendered from the local
//! stack's history — the page `driftguard dashboard` writes and the deployed
//! widget function's answer — in a real browser (Debian's headless Chromium).

use driftguard_core::dashboard;
use driftguard_core::episodes::{Attribution, Episode, Resolution};
use driftguard_core::model::CheckRef;
use driftguard_core::ports::{EpisodeStore, HistoryReader};
use local_stack::browser::{self, Chromium, PageView};

use super::*;

/// The workspace of scenario 24 and the account its events come from.
pub const EPISODES_WS: &str = "s24-episodes";
pub const EPISODES_ACCOUNT: u32 = 24;

fn check_ref(workspace: &str) -> CheckRef {
    CheckRef {
        organization: ORG.into(),
        workspace: workspace.into(),
    }
}

fn finding<'a>(findings: &'a [Value], episode: &Episode) -> Result<&'a Value> {
    findings
        .iter()
        .find(|f| f["Id"] == json!(episode.episode_id))
        .with_context(|| {
            format!(
                "no Security Hub finding {} among {}",
                episode.episode_id,
                findings.len()
            )
        })
}

/// Scenario 24: drift opens one episode per drifted resource, attributed to
/// the console change, each a Security Hub finding; the person changes the
/// rule back and the clean check resolves them all, archiving the findings.
pub async fn s24_episodes(ctx: Arc<Ctx>) -> Result<()> {
    let ws = check_ref(EPISODES_WS);
    let store = ctx.stack.history_store();
    let report = check(
        &ctx,
        &event_for("console-authorize-security-group-ingress", EPISODES_ACCOUNT)?,
    )
    .await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, DRIFT_REPORTED]))?;
    let records = records(&ctx, (ORG, EPISODES_WS)).await?;
    let record = one_record(&records, CheckStatus::DriftDetected)?;
    let drifted = record.drift.as_ref().map_or(0, |d| d.resources.len());
    ensure!(
        record.episodes.map(|s| (s.opened, s.open)) == Some((drifted, drifted)),
        "the record's episode summary: {:?} for {drifted} drifted resources",
        record.episodes
    );
    let open = store.open_episodes(&ws).await?;
    ensure!(open.len() == drifted, "open episodes: {open:?}");
    let sg = open
        .iter()
        .find(|e| e.address == "aws_security_group.web")
        .context("no episode for aws_security_group.web")?;
    let cause = sg.cause.as_ref().context("episode without a cause")?;
    ensure!(
        cause.matched == Attribution::Resource
            && cause
                .actor
                .arn
                .as_deref()
                .is_some_and(|a| a.ends_with(":user/alice"))
            && sg.aws_resource_ids == ["sg-0a1b2c3d4e5f60718"],
        "the security group's episode is not attributed to alice's change: {sg:?}"
    );
    ensure!(sg.detected.execution_id == report.arn, "{sg:?}");
    ensure!(
        sg.time_to_detect_seconds().is_some_and(|s| s < 600),
        "time to detect: {:?}",
        sg.time_to_detect_seconds()
    );
    let findings = ctx.stack.raw.security_hub_findings().await?;
    for episode in &open {
        let f = finding(&findings, episode)?;
        ensure!(
            f["RecordState"] == "ACTIVE" && f["Compliance"]["Status"] == "FAILED",
            "finding of an open episode: {f}"
        );
    }
    let f = finding(&findings, sg)?;
    ensure!(
        f["Severity"]["Label"] == "HIGH"
            && f["Resources"][0]["Type"] == "AwsEc2SecurityGroup"
            && f["Resources"][0]["Id"]
                .as_str()
                .is_some_and(|id| id.ends_with(":security-group/sg-0a1b2c3d4e5f60718")),
        "the security group's finding: {f}"
    );

    // Alice removes the rule again: the same security group, and the plan is clean.
    ctx.stack
        .tfc
        .set_scenario(ORG, EPISODES_WS, Scenario::default());
    let mut revert = event_for("console-authorize-security-group-ingress", EPISODES_ACCOUNT)?;
    revert["detail"]["eventName"] = json!("RevokeSecurityGroupIngress");
    let report = check(&ctx, &revert).await?;
    expect_status(&report, "SUCCEEDED")?;
    expect_path(&report, &path(&[HEAD, PLAN, NO_DRIFT]))?;
    ensure!(
        store.open_episodes(&ws).await?.is_empty(),
        "episodes still open after a clean check"
    );
    let resolved = store.resolved_episodes(&ws, &record.started_at).await?;
    ensure!(resolved.len() == drifted, "resolved: {resolved:?}");
    for e in &resolved {
        let expected = if e.address == sg.address {
            Resolution::Reverted
        } else {
            Resolution::CodeChanged
        };
        ensure!(
            e.resolution == Some(expected)
                && e.resolved
                    .as_ref()
                    .is_some_and(|r| r.execution_id == report.arn),
            "{} resolved as {:?}, expected {expected:?}",
            e.address,
            e.resolution
        );
    }
    let findings = ctx.stack.raw.security_hub_findings().await?;
    for episode in &resolved {
        let f = finding(&findings, episode)?;
        ensure!(
            f["RecordState"] == "ARCHIVED" && f["Compliance"]["Status"] == "PASSED",
            "finding of a resolved episode: {f}"
        );
    }
    Ok(())
}

/// What the dashboard must show for the history it was rendered from.
fn expect_history_shown(view: &PageView, history: &dashboard::DashboardData) -> Result<()> {
    view.ensure_clean()?;
    let open = view.section("open-drift");
    let workspaces = view.section("workspaces");
    for ws in &history.workspaces {
        ensure!(
            workspaces.contains(&ws.check.to_string()),
            "workspace {} missing from the rendered table:\n{workspaces}",
            ws.check
        );
    }
    // The oldest open episodes are listed, and the page says how many more there are.
    let (listed, more) = dashboard::listed_open_drift(history);
    for e in listed {
        ensure!(
            open.contains(&e.address),
            "open episode {} of {}/{} missing from the rendered page:\n{open}",
            e.address,
            e.organization,
            e.workspace
        );
    }
    if more > 0 {
        ensure!(
            open.contains(&format!("{more} more open drift episodes")),
            "the page does not say that {more} more episodes are open:\n{open}"
        );
    }
    let has_open = history.workspaces.iter().any(|w| !w.open.is_empty());
    ensure!(
        has_open != open.contains("No open drift"),
        "open drift section does not match the history:\n{open}"
    );
    let recent = view.section("recent-checks");
    let statuses: BTreeSet<String> = history
        .workspaces
        .iter()
        .flat_map(|w| w.records.iter().map(|r| r.status.to_string()))
        .collect();
    // The newest 20 checks are listed; at least the newest check's outcome is.
    let newest = history
        .workspaces
        .iter()
        .flat_map(|w| &w.records)
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
        .context("no checks in the local stack's history")?;
    ensure!(
        recent.contains(&newest.status.to_string()),
        "newest check ({}) not shown:\n{recent}",
        newest.status
    );
    ensure!(
        !statuses.is_empty() && view.svgs == 1 && view.bars > 0,
        "no trend drawn"
    );
    Ok(())
}

/// Scenario 25: the dashboard from the local stack's history: the page
/// (as `driftguard dashboard` renders it) and the deployed widget function's
/// answer to a CloudWatch call, in headless Chromium, with screenshots.
pub async fn s25_dashboard(ctx: Arc<Ctx>) -> Result<()> {
    let store = ctx.stack.history_store();
    let checks = store.workspaces().await?;
    ensure!(!checks.is_empty(), "no workspace has history");
    let history = dashboard::load(&store, &checks, chrono::Utc::now(), 30).await?;
    let page = browser::write_page(&history, "e2e-dashboard")?;

    // The widget function, invoked through the gateway as CloudWatch invokes it.
    let widget = ctx
        .stack
        .raw
        .invoke(
            ctx.stack.function_name("history-widget")?,
            &json!({
                "widgetContext": {
                    "dashboardName": "driftguard-e2e", "widgetId": "widget-1", "accountId": "123456789012",
                    "locale": "en", "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
                    "period": 300, "isAutoPeriod": true, "theme": "light", "title": "Drift history",
                    "timeRange": {"mode": "relative", "start": 0, "end": 1, "relativeStart": 1},
                    "forms": {"all": {}}, "params": {"days": 30}, "width": 1200, "height": 900
                },
                "days": 30
            }),
        )
        .await?;
    ensure!(widget.is_ok(), "the widget function failed: {widget:?}");
    let fragment = widget
        .payload
        .as_str()
        .context("the widget function answers an HTML string")?;
    let widget_page = browser::write_widget_page(fragment, false, "e2e-widget")?;
    // The widget shows the configured workspaces: those with history are among them.
    let configured: Vec<CheckRef> = ctx
        .stack
        .options
        .workspaces
        .iter()
        .map(|w| check_ref(&w.workspace))
        .collect();
    let widget_history = dashboard::load(&store, &configured, chrono::Utc::now(), 30).await?;

    let Some(chromium) = Chromium::find()? else {
        // No browser here: the HTML still has to say it.
        let (listed, _) = dashboard::listed_open_drift(&history);
        for e in listed {
            let html = std::fs::read_to_string(&page)?;
            // The page escapes text (`aws_iam_user.member["bob"]` has quotes).
            let escaped = e
                .address
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            ensure!(
                html.contains(&escaped),
                "{} missing from {}",
                e.address,
                page.display()
            );
        }
        return Ok(());
    };
    let shot = browser::output_dir().join("e2e-dashboard.png");
    let view = chromium.view(&page, &shot).await?;
    expect_history_shown(&view, &history)?;
    if selected("01") {
        ensure!(
            view.section("open-drift").contains("e2e/s01-drift")
                && view.section("open-drift").contains("alice"),
            "scenario 01's drift is not shown as open:\n{}",
            view.section("open-drift")
        );
    }
    if selected("24") {
        // "Recently resolved" lists the newest ten: later remediations of the
        // suite may have pushed scenario 24's out; its workspace row stays.
        let workspaces = view.section("workspaces");
        let row: Vec<&str> = workspaces
            .lines()
            .find(|l| l.starts_with(&format!("{ORG}/{EPISODES_WS}")))
            .map(|l| l.split('\t').map(str::trim).collect())
            .unwrap_or_default();
        let shown_resolved = view.section("resolved").contains("changed back by alice");
        ensure!(
            shown_resolved || (row.len() >= 4 && row[2] == "0" && row[3] != "0"),
            "scenario 24's reverted drift is shown neither as resolved nor in its workspace's row {row:?}:\n{}\n{}",
            view.section("resolved"),
            workspaces
        );
    }
    let widget_shot = browser::output_dir().join("e2e-widget.png");
    let widget_view = chromium.view(&widget_page, &widget_shot).await?;
    expect_history_shown(&widget_view, &widget_history)?;
    eprintln!(
        "[e2e] dashboard from the local stack's history: {} and {}",
        shot.display(),
        widget_shot.display()
    );
    Ok(())
}
