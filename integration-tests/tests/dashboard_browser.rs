//! The drift-history page in a real browser (Debian's headless Chromium):
//! a month of history recorded by the record step over the in-memory store,
//! rendered as the CLI's page and as the CloudWatch widget's fragment (dark
//! theme, another time zone), checked for what a person sees and for console
//! errors; screenshots go to target/dashboard/. The end-to-end suite does
//! the same with the local stack's history.
//!
//! Skipped with a message where Chromium cannot be found; a failure under CI=true.

use driftguard_testkit::InMemoryMetrics;
use std::collections::HashMap;

use anyhow::{Context, Result, ensure};
use driftguard_core::config::Config;
use driftguard_core::dashboard::{self, WidgetEvent};
use driftguard_core::model::*;
use driftguard_core::steps;
use driftguard_testkit::InMemoryHistory;
use local_stack::browser::{self, Chromium};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-30T18:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn ws(name: &str) -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: name.into(),
    }
}

struct Check<'a> {
    workspace: &'a str,
    days_ago: i64,
    status: CheckStatus,
    drifted: &'a [(&'a str, &'a str)],
    who: &'a str,
    touched: &'a str,
}

/// A month of checks: a security group opened by alice and reverted by her,
/// an IAM role policy changed by bob and remediated, a bucket policy still
/// drifted, a failed check, and clean checks in between.
async fn month_of_history() -> Result<InMemoryHistory> {
    let store = InMemoryHistory::new();
    let vars: HashMap<&str, &str> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION", "acme"),
        ("DRIFTGUARD_WORKSPACE", "network-prod"),
        ("AWS_REGION", "eu-west-1"),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()))?;
    let sg = [("aws_security_group.web", "aws_security_group")];
    let role = [("aws_iam_role_policy.app", "aws_iam_role_policy")];
    let bucket = [("aws_s3_bucket_policy.logs", "aws_s3_bucket_policy")];
    let mut checks = Vec::new();
    for day in (3..30).step_by(3) {
        checks.push(Check {
            workspace: "network-prod",
            days_ago: day,
            status: CheckStatus::NoDrift,
            drifted: &[],
            who: "ci",
            touched: "i-0aa",
        });
        checks.push(Check {
            workspace: "iam-prod",
            days_ago: day,
            status: CheckStatus::NoDrift,
            drifted: &[],
            who: "ci",
            touched: "app-role",
        });
    }
    checks.extend([
        Check {
            workspace: "network-prod",
            days_ago: 20,
            status: CheckStatus::DriftDetected,
            drifted: &sg,
            who: "alice",
            touched: "sg-0a1b2c3d4e5f60718",
        },
        Check {
            workspace: "network-prod",
            days_ago: 19,
            status: CheckStatus::NoDrift,
            drifted: &[],
            who: "alice",
            touched: "sg-0a1b2c3d4e5f60718",
        },
        Check {
            workspace: "iam-prod",
            days_ago: 9,
            status: CheckStatus::Remediated,
            drifted: &role,
            who: "bob",
            touched: "app-role",
        },
        Check {
            workspace: "network-prod",
            days_ago: 5,
            status: CheckStatus::CheckFailed,
            drifted: &[],
            who: "carol",
            touched: "i-0aa",
        },
        Check {
            workspace: "network-prod",
            days_ago: 2,
            status: CheckStatus::DriftDetected,
            drifted: &bucket,
            who: "carol",
            touched: "logs-bucket",
        },
    ]);
    checks.sort_by_key(|c| std::cmp::Reverse(c.days_ago));
    for (i, c) in checks.iter().enumerate() {
        let when = now() - chrono::Duration::days(c.days_ago) + chrono::Duration::minutes(i as i64);
        let service = if c.touched.starts_with("sg-") || c.touched.starts_with("i-") {
            "ec2"
        } else if c.touched.ends_with("-bucket") {
            "s3"
        } else {
            "iam"
        };
        let event = match service {
            "ec2" => "AuthorizeSecurityGroupIngress",
            "s3" => "PutBucketPolicy",
            _ => "PutRolePolicy",
        };
        let change = Change {
            event_id: format!("ev-{i}"),
            event_name: event.into(),
            event_source: format!("{service}.amazonaws.com"),
            event_time: (when - chrono::Duration::minutes(2)).to_rfc3339(),
            aws_region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            actor: Actor {
                actor_type: "AssumedRole".into(),
                arn: Some(format!(
                    "arn:aws:sts::123456789012:assumed-role/Admin/{}",
                    c.who
                )),
                principal_id: None,
            },
            resources: vec![c.touched.into()],
            ..Change::default()
        };
        let resources: Vec<DriftedResource> = c
            .drifted
            .iter()
            .map(|(address, kind)| DriftedResource {
                address: address.to_string(),
                resource_type: kind.to_string(),
                actions: vec!["update".into()],
                changed_attributes: vec!["policy".into()],
                ..Default::default()
            })
            .collect();
        let outcome = CheckOutcome {
            poll: None,
            status: c.status,
            check: ws(c.workspace),
            execution_id: format!(
                "arn:aws:states:eu-west-1:123456789012:execution:driftguard-prod-check:exec-{i}"
            ),
            started_at: when.to_rfc3339(),
            change: Some(change.clone()),
            run: Some(RunInfo {
                run_id: format!("run-{i}"),
                run_url: format!(
                    "https://app.terraform.io/app/acme/workspaces/{}/runs/run-{i}",
                    c.workspace
                ),
                workspace_id: "ws-1".into(),
                plan_id: None,
                created_at: when.to_rfc3339(),
                changes: vec![change],
                changes_omitted: 0,
                target_addrs: vec![],
                ..Default::default()
            }),
            drift: (c.status != CheckStatus::CheckFailed).then(|| DriftReport {
                drifted: !resources.is_empty(),
                resource_count: resources.len(),
                truncated: false,
                omitted: 0,
                ignored: 0,
                fingerprint: if resources.is_empty() {
                    String::new()
                } else {
                    format!("fp-{i}")
                },
                resources,
                ..Default::default()
            }),
            remediation: None,
            approval: None,
            failure: (c.status == CheckStatus::CheckFailed).then(|| Failure {
                error: "TfcUnavailable".into(),
                cause: "HCP Terraform answered 503".into(),
                failed_state: Some("Create plan run".into()),
                redrive_count: 0,
            }),
        };
        steps::record(
            &outcome,
            &store,
            &InMemoryMetrics::new(),
            &config,
            when + chrono::Duration::minutes(1),
        )
        .await?;
    }
    Ok(store)
}

#[tokio::test]
async fn the_dashboard_reads_right_in_a_real_browser() -> Result<()> {
    let Some(chromium) = Chromium::find()? else {
        return Ok(());
    };
    let store = month_of_history().await?;
    let checks = [ws("iam-prod"), ws("network-prod")];
    let data = dashboard::load(&store, &checks, now(), 30).await?;

    // The CLI's page.
    let page = browser::write_page(&data, "sample-dashboard")?;
    let shot = browser::output_dir().join("sample-dashboard.png");
    let view = chromium.view(&page, &shot).await?;
    view.ensure_clean()?;
    ensure!(
        view.title == "DriftGuard drift history",
        "title {:?}",
        view.title
    );
    let open = view.section("open-drift");
    ensure!(
        open.contains("aws_s3_bucket_policy.logs")
            && open.contains("Admin/carol")
            && open.contains("PutBucketPolicy"),
        "open drift as rendered:\n{open}"
    );
    ensure!(
        !open.contains("aws_security_group.web"),
        "resolved drift shown as open:\n{open}"
    );
    let workspaces = view.section("workspaces");
    ensure!(
        workspaces.contains("acme/iam-prod") && workspaces.contains("acme/network-prod"),
        "{workspaces}"
    );
    let resolved = view.section("resolved");
    ensure!(
        resolved.contains("changed back by Admin/alice")
            && resolved.contains("remediated by DriftGuard"),
        "recently resolved as rendered:\n{resolved}"
    );
    ensure!(
        view.section("top-actors").contains("Admin/carol"),
        "{}",
        view.section("top-actors")
    );
    ensure!(
        view.section("recent-checks").contains("CheckFailed"),
        "{}",
        view.section("recent-checks")
    );
    ensure!(
        view.section("trend").contains("30-day trend"),
        "{}",
        view.section("trend")
    );
    ensure!(
        view.svgs == 1 && view.bars >= 10,
        "trend chart: {} svg, {} bars",
        view.svgs,
        view.bars
    );
    ensure!(
        view.links
            .iter()
            .any(|l| l
                .starts_with("https://app.terraform.io/app/acme/workspaces/network-prod/runs/"))
            && view
                .links
                .iter()
                .any(|l| l.contains("/states/home?region=eu-west-1#/v2/executions/details/")),
        "links: {:?}",
        view.links
    );
    ensure!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );

    // The widget, as the CloudWatch console embeds it: dark theme, UTC+02:00.
    let event: WidgetEvent = serde_json::from_value(serde_json::json!({
        "widgetContext": {
            "dashboardName": "driftguard-prod", "widgetId": "widget-1", "accountId": "123456789012",
            "locale": "en", "timezone": {"label": "Local", "offsetISO": "+02:00", "offsetInMinutes": -120},
            "period": 300, "isAutoPeriod": true, "theme": "dark", "title": "Drift history",
            "timeRange": {"mode": "relative", "start": 0, "end": 1, "relativeStart": 1},
            "forms": {"all": {}}, "params": {"days": 14}, "width": 1180, "height": 760
        }
    }))?;
    let fragment = dashboard::widget(&event, &store, &checks, now()).await?;
    let fragment = fragment.as_str().context("the widget answers HTML")?;
    let page = browser::write_widget_page(fragment, true, "sample-widget")?;
    let shot = browser::output_dir().join("sample-widget.png");
    let view = chromium.view(&page, &shot).await?;
    view.ensure_clean()?;
    ensure!(
        view.text.contains("Last 14 days") && view.text.contains("UTC+02:00"),
        "{}",
        view.text
    );
    ensure!(
        view.section("open-drift")
            .contains("aws_s3_bucket_policy.logs"),
        "{}",
        view.section("open-drift")
    );
    eprintln!(
        "dashboard screenshots: {} and {}",
        browser::output_dir().join("sample-dashboard.png").display(),
        shot.display()
    );
    Ok(())
}
