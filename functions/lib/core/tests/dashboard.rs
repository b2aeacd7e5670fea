//! Dashboard tests on histories recorded through the steps (in-memory doubles).

use driftguard_testkit::{InMemoryHistory, InMemoryMetrics};
use std::collections::HashMap;

use driftguard_core::config::Config;
use driftguard_core::dashboard::*;
use driftguard_core::model::*;
use driftguard_core::steps;

fn config() -> Config {
    let vars: HashMap<&str, &str> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION", "acme"),
        ("DRIFTGUARD_WORKSPACE", "network"),
        ("AWS_REGION", "eu-west-1"),
    ]);
    Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap()
}

fn ws(name: &str) -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: name.into(),
    }
}

/// Day `day` (0 = Nov 1) at `hour`:00 UTC.
fn at(day: i64, hour: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
        + chrono::Duration::days(day)
        + chrono::Duration::hours(hour)
}

fn resource(address: &str, resource_type: &str) -> DriftedResource {
    DriftedResource {
        address: address.into(),
        resource_type: resource_type.into(),
        actions: vec!["update".into()],
        changed_attributes: vec!["ingress".into()],
        ..Default::default()
    }
}

/// Records one check of `workspace` that ran at `when` (a minute after its change).
async fn recorded(
    store: &InMemoryHistory,
    workspace: &str,
    execution: &str,
    when: chrono::DateTime<chrono::Utc>,
    status: CheckStatus,
    drifted: Vec<DriftedResource>,
    (who, resource_id): (&str, &str),
) {
    let change = Change {
        event_id: format!("ev-{execution}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: (when - chrono::Duration::minutes(1)).to_rfc3339(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "AssumedRole".into(),
            arn: Some(format!(
                "arn:aws:sts::123456789012:assumed-role/Admin/{who}"
            )),
            principal_id: None,
        },
        resources: vec![resource_id.into()],
        ..Change::default()
    };
    let outcome = CheckOutcome {
        poll: None,
        status,
        check: ws(workspace),
        execution_id: format!("arn:aws:states:eu-west-1:123456789012:execution:sm:{execution}"),
        started_at: when.to_rfc3339(),
        change: Some(change.clone()),
        run: Some(RunInfo {
            run_id: format!("run-{execution}"),
            run_url: format!(
                "https://app.terraform.io/app/acme/workspaces/{workspace}/runs/run-{execution}"
            ),
            workspace_id: "ws-1".into(),
            plan_id: None,
            created_at: when.to_rfc3339(),
            changes: vec![change],
            changes_omitted: 0,
            target_addrs: vec![],
            ..Default::default()
        }),
        drift: (status != CheckStatus::CheckFailed).then(|| DriftReport {
            drifted: !drifted.is_empty(),
            resource_count: drifted.len(),
            truncated: false,
            omitted: 0,
            ignored: 0,
            fingerprint: if drifted.is_empty() {
                String::new()
            } else {
                format!("fp-{execution}")
            },
            resources: drifted,
            ..Default::default()
        }),
        remediation: None,
        failure: (status == CheckStatus::CheckFailed).then(|| Failure {
            error: "TfcUnavailable".into(),
            cause: "HCP Terraform answered 503".into(),
            failed_state: Some("Create plan run".into()),
            redrive_count: 0,
        }),
        approval: None,
    };
    steps::record(
        &outcome,
        store,
        &InMemoryMetrics::new(),
        &config(),
        when + chrono::Duration::minutes(1),
    )
    .await
    .unwrap();
}

/// Two workspaces over ten days: network drifts twice (alice, then bob, who
/// reverts his own change a day later) and stays drifted; security is clean.
async fn history() -> InMemoryHistory {
    let store = InMemoryHistory::new();
    let sg = || resource("aws_security_group.web", "aws_security_group");
    recorded(
        &store,
        "network",
        "n1",
        at(0, 10),
        CheckStatus::NoDrift,
        vec![],
        ("alice", "i-1"),
    )
    .await;
    recorded(
        &store,
        "network",
        "n2",
        at(2, 10),
        CheckStatus::DriftDetected,
        vec![sg()],
        ("bob", "sg-1"),
    )
    .await;
    recorded(
        &store,
        "network",
        "n3",
        at(3, 10),
        CheckStatus::NoDrift,
        vec![],
        ("bob", "sg-1"),
    )
    .await;
    recorded(
        &store,
        "network",
        "n4",
        at(5, 12),
        CheckStatus::DriftDetected,
        vec![resource("aws_iam_role.app", "aws_iam_role")],
        ("alice", "app"),
    )
    .await;
    recorded(
        &store,
        "network",
        "n5",
        at(6, 12),
        CheckStatus::CheckFailed,
        vec![],
        ("alice", "i-1"),
    )
    .await;
    recorded(
        &store,
        "security",
        "s1",
        at(1, 9),
        CheckStatus::NoDrift,
        vec![],
        ("carol", "sg-9"),
    )
    .await;
    recorded(
        &store,
        "security",
        "s2",
        at(8, 9),
        CheckStatus::NoDrift,
        vec![],
        ("carol", "sg-9"),
    )
    .await;
    store
}

async fn data(store: &InMemoryHistory, days: u32) -> DashboardData {
    load(store, &[ws("network"), ws("security")], at(9, 23), days)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_shows_open_drift_with_who_since_and_links() {
    let store = history().await;
    let data = data(&store, 30).await;
    let html = render(
        &data,
        &RenderOptions {
            standalone: true,
            ..RenderOptions::default()
        },
    );
    assert!(html.starts_with("<!doctype html>"));
    let open = section(&html, "open-drift");
    assert!(open.contains("aws_iam_role.app"), "{open}");
    assert!(
        !open.contains("aws_security_group.web"),
        "resolved drift is not open: {open}"
    );
    assert!(open.contains("Admin/alice") && open.contains("AuthorizeSecurityGroupIngress"));
    assert!(open.contains("2026-11-06 12:01"), "{open}");
    assert!(open.contains("(4 d 10 h ago)"), "{open}");
    assert!(open.contains(r#"href="https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:sm:n4""#), "{open}");
    assert!(
        open.contains(r#"href="https://app.terraform.io/app/acme/workspaces/network/runs/run-n4""#)
    );
}

#[tokio::test]
async fn workspaces_show_drift_free_ratio_and_time_to_resolve() {
    let store = history().await;
    let data = data(&store, 30).await;
    let stats: Vec<WorkspaceStats> = data
        .workspaces
        .iter()
        .map(|w| workspace_stats(w, &data))
        .collect();
    // network: window from its first check (Nov 1 10:00) to now (Nov 10 23:00) = 229 h;
    // drifted Nov 3 10:01 → Nov 4 10:01 (24 h) and Nov 6 12:01 → now (106 h 59 min).
    let network = &stats[0];
    let drifted = 24.0 * 60.0 + 106.0 * 60.0 + 59.0;
    assert!(
        (network.drift_free_ratio.unwrap() - (1.0 - drifted / (229.0 * 60.0))).abs() < 1e-9,
        "{network:?}"
    );
    assert_eq!((network.open, network.resolved, network.checks), (1, 1, 5));
    assert_eq!(network.median_time_to_resolve, Some(86_400));
    assert_eq!((network.checks_with_drift, network.checks_failed), (2, 1));
    assert_eq!(stats[1].drift_free_ratio, Some(1.0));
    let html = render(&data, &RenderOptions::default());
    let table = section(&html, "workspaces");
    assert!(
        table.contains("acme/network") && table.contains("42.8 %"),
        "{table}"
    );
    assert!(table.contains("acme/security") && table.contains("100.0 %"));
    assert!(table.contains("1 d"), "median time to resolve: {table}");
    let resolved = section(&html, "resolved");
    assert!(
        resolved.contains("changed back by") && resolved.contains("Admin/bob"),
        "{resolved}"
    );
}

#[tokio::test]
async fn the_trend_counts_checks_and_open_episodes_per_day() {
    let store = history().await;
    let data = data(&store, 10).await;
    let days = daily_trend(&data, 0);
    assert_eq!(days.len(), 10);
    assert_eq!(days[0].date.to_string(), "2026-11-01");
    assert_eq!(days[9].date.to_string(), "2026-11-10");
    let nov = |d: usize| &days[d - 1];
    assert_eq!((nov(1).no_drift, nov(2).no_drift), (1, 1));
    assert_eq!((nov(3).drift, nov(3).open_at_end), (1, 1));
    assert_eq!((nov(4).no_drift, nov(4).open_at_end), (1, 0));
    assert_eq!(
        (nov(6).drift, nov(7).failed, nov(10).open_at_end),
        (1, 1, 1)
    );
    let html = render(&data, &RenderOptions::default());
    let trend = section(&html, "trend");
    assert!(
        trend.contains("<svg") && trend.contains("7 checks in 10 days; 1 drift episodes open now."),
        "{trend}"
    );
    assert!(trend.contains("2026-11-03: 1 drift"));
    assert!(trend.contains("open drift episodes"), "legend");
    assert!(
        !html.contains("<script"),
        "custom widgets run no JavaScript"
    );
}

#[tokio::test]
async fn top_actors_and_recent_checks() {
    let store = history().await;
    let data = data(&store, 30).await;
    let actors = top_actors(&data, 10);
    let names: Vec<(&str, usize, usize)> = actors
        .iter()
        .map(|a| (a.name.as_str(), a.episodes, a.still_open))
        .collect();
    assert_eq!(names, [("Admin/alice", 1, 1), ("Admin/bob", 1, 0)]);
    let html = render(&data, &RenderOptions::default());
    assert!(section(&html, "top-actors").contains("account 123456789012"));
    let recent = section(&html, "recent-checks");
    assert_eq!(recent.matches("<tr>").count(), 1 + 7);
    assert!(recent.contains(r#"<span class="badge failed">CheckFailed</span><br><span class="muted">TfcUnavailable</span>"#), "{recent}");
    assert!(recent.contains("1 opened"), "{recent}");
    assert!(
        recent.find("s2").unwrap_or(0) < recent.find("n1").unwrap_or(usize::MAX),
        "newest first"
    );
}

#[tokio::test]
async fn an_empty_history_says_so() {
    let store = InMemoryHistory::new();
    let data = data(&store, 30).await;
    let html = render(&data, &RenderOptions::default());
    assert!(html.contains("No open drift: every checked resource matches its Terraform code."));
    assert!(html.contains("No checks in this period."));
    assert!(html.contains("Nobody caused drift in this period."));
    assert!(!html.starts_with("<!doctype"), "the widget gets a fragment");
    // Unchecked workspaces are not called drift-free.
    let stats = workspace_stats(&data.workspaces[0], &data);
    assert_eq!(stats.drift_free_ratio, None);
    assert!(section(&html, "workspaces").contains(r#"<td class="num">—</td>"#));
    assert!(html.contains("<b>—</b>drift-free"));
}

#[test]
fn text_from_the_history_is_escaped_and_only_web_links_are_links() {
    let now = at(10, 0);
    let mut record = driftguard_core::history::HistoryRecord {
        execution_mode: None,
        workspace_id: None,
        plan_seconds: None,
        pending_code: None,
        warnings: vec![],
        approval: None,
        acceptance: None,
        pk: "WS#acme/x".into(),
        sk: "CHECK#x".into(),
        organization: "acme".into(),
        workspace: "<b>x</b>".into(),
        status: CheckStatus::NoDrift,
        execution_id: "e".into(),
        execution_url: "javascript:alert(1)".into(),
        started_at: at(9, 0).to_rfc3339(),
        recorded_at: at(9, 0).to_rfc3339(),
        expires_at: 0,
        run_id: None,
        run_url: Some("https://app.terraform.io/r?a=1&b=\"2\"".into()),
        changes: vec![],
        changes_omitted: 0,
        drift: None,
        remediation: None,
        failure: None,
        fingerprint: String::new(),
        previous_fingerprint: None,
        earlier_failures: vec![],
        episodes: None,
    };
    record.changes_omitted = 0;
    let data = DashboardData {
        workspaces: vec![WorkspaceHistory {
            check: ws("<b>x</b>"),
            records: vec![record],
            records_capped: false,
            open: vec![],
            resolved: vec![],
            first_check_at: None,
        }],
        now,
        days: 30,
    };
    let html = render(&data, &RenderOptions::default());
    assert!(!html.contains("<b>x</b>") && html.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(!html.contains("javascript:"));
    assert!(html.contains(r#"href="https://app.terraform.io/r?a=1&amp;b=&quot;2&quot;""#));
}

#[tokio::test]
async fn the_widget_answers_cloudwatch_with_the_fragment_or_its_documentation() {
    let store = history().await;
    let checks = [ws("network")];
    let describe: WidgetEvent =
        serde_json::from_value(serde_json::json!({"describe": true})).unwrap();
    let docs = widget(&describe, &store, &checks, at(10, 0)).await.unwrap();
    assert!(docs["markdown"].as_str().unwrap().contains("days: 30"));

    let not_cloudwatch: WidgetEvent =
        serde_json::from_value(serde_json::json!({"local_stack_warm_up": true})).unwrap();
    let e = widget(&not_cloudwatch, &store, &checks, at(10, 0))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "InvalidInput");

    let event: WidgetEvent = serde_json::from_value(serde_json::json!({
        "widgetContext": {
            "dashboardName": "driftguard-prod", "widgetId": "widget-1", "accountId": "123456789012",
            "locale": "en", "timezone": {"label": "Local", "offsetISO": "+01:00", "offsetInMinutes": -60},
            "period": 300, "isAutoPeriod": true,
            "timeRange": {"mode": "relative", "start": 1, "end": 2, "relativeStart": 1},
            "theme": "dark", "linkCharts": true, "title": "Drift history", "forms": {"all": {}},
            "params": {"days": 7}, "width": 1200, "height": 800
        },
        "days": 7
    })).unwrap();
    let html = widget(&event, &store, &checks, at(10, 0)).await.unwrap();
    let html = html.as_str().unwrap();
    assert!(html.contains(r#"class="dg dark""#));
    assert!(
        html.contains("Last 7 days") && html.contains("UTC+01:00"),
        "{html}"
    );
    assert!(
        html.contains("2026-11-06 13:01"),
        "times in the dashboard's zone"
    );
    assert_eq!(offset_minutes("-05:30"), -330);
    assert_eq!(offset_minutes("bogus"), 0);
}

#[tokio::test]
async fn the_history_table_lists_checks_then_episodes() {
    let store = history().await;
    let data = data(&store, 30).await;
    let text = history_table(&data, 3);
    assert!(
        text.starts_with("Checks (newest 3 of 7, last 30 days, times UTC)\n"),
        "{text}"
    );
    assert!(
        text.contains("2026-11-09 09:00  acme/security  NoDrift"),
        "{text}"
    );
    assert!(
        text.contains("Drift episodes (1 open, 1 resolved in the period)"),
        "{text}"
    );
    assert!(
        text.contains("open      acme/network  aws_iam_role.app"),
        "{text}"
    );
    assert!(text.contains("reverted (Admin/bob)"), "{text}");
}

#[test]
fn a_long_list_of_open_drift_is_cut_and_says_how_many_more() {
    let resources: Vec<DriftedResource> = (0..105)
        .map(|i| resource(&format!("aws_instance.n{i:03}"), "aws_instance"))
        .collect();
    let record = driftguard_core::history::HistoryRecord::from_outcome(
        &CheckOutcome {
            poll: None,
            status: CheckStatus::DriftDetected,
            check: ws("big"),
            execution_id: "e1".into(),
            started_at: at(9, 0).to_rfc3339(),
            change: None,
            run: None,
            drift: Some(DriftReport {
                drifted: true,
                resource_count: 105,
                resources,
                truncated: false,
                omitted: 0,
                ignored: 0,
                fingerprint: "f".into(),
                ..Default::default()
            }),
            remediation: None,
            failure: None,
            approval: None,
        },
        "https://console/e1",
        at(9, 0),
        90,
    );
    let plan = driftguard_core::episodes::plan_within(&record, &[], 1_000);
    let open = plan.writes.iter().map(|w| w.episode().clone()).collect();
    let data = DashboardData {
        workspaces: vec![WorkspaceHistory {
            check: ws("big"),
            records: vec![record],
            records_capped: false,
            open,
            resolved: vec![],
            first_check_at: None,
        }],
        now: at(10, 0),
        days: 30,
    };
    let open = section(&render(&data, &RenderOptions::default()), "open-drift").to_string();
    assert_eq!(open.matches("<tr>").count(), 1 + 100);
    assert!(open.contains("5 more open drift episodes"), "{open}");
}

/// The HTML of `<section id="{id}">`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<section id="{id}">"#))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}
