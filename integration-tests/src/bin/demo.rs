//! `make demo`: DriftGuard's main job on the local stack, no AWS account needed.
//!
//! Applies terraform/ to moto, runs the real state machine with the real Lambda
//! binaries. The two emulated HCP Terraform workspaces are backed by real
//! Terraform configurations (integration-tests/workspaces/network and
//! storage), applied to moto at start: a person's changes are made in moto
//! through the AWS API, their CloudTrail events are delivered, and the plans
//! DriftGuard reads are real `terraform plan`s of exactly those changes. For
//! each event the demo prints the states the execution passed with timings,
//! the Slack message and the history record.
//! Then it prints the drift history (checks and episodes) and the dashboard
//! page rendered from it, whose path it prints.
//!
//! The network workspace runs in approval mode through the Slack app: its
//! drift alert carries Fix / Accept / Dismiss, Bob clicks Fix drift (the Slack
//! emulator posts the signed click to the receiver's function URL), and the
//! remediation is reported in the alert's thread.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use driftguard_core::dashboard;
use driftguard_core::ports::HistoryReader;
use driftguard_slack::interaction::action_ids;
use driftguard_slack::message_text;
use local_stack::console::{self, Console};
use local_stack::executions::ExecutionReport;
use local_stack::report::{indent, record_text, states_table};
use local_stack::slack_app::Click;
use local_stack::{LocalStack, StackOptions, WorkspaceSpec, events};
use serde_json::{Value, json};

const ORG: &str = "acme";
/// The network workspace's Slack channel, and Bob, its approver.
const NETWORK_CHANNEL: &str = "C0DRIFTNET";
const BOB: &str = "U0BOB";

fn rule(title: &str) {
    println!("\n{}\n{title}\n{}", "═".repeat(78), "═".repeat(78));
}

async fn show(
    stack: &LocalStack,
    report: &ExecutionReport,
    workspace: &str,
    slack_before: usize,
) -> Result<()> {
    println!("\nStates (as the Step Functions console graph shows them):");
    println!("{}", indent(&states_table(report), "  "));
    if let Some(admission) = report.admission() {
        println!(
            "\nAdmission: {} — {}",
            admission
                .get("decision")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            admission
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
    }
    let messages = stack.slack_messages_for(ORG, workspace);
    let new = &messages[slack_before.min(messages.len())..];
    if new.is_empty() && workspace != "network" {
        println!("\nSlack: no message for {ORG}/{workspace}.");
    }
    for m in new {
        println!("\nSlack message:\n{}", indent(&message_text(m), "  │ "));
    }
    let records: Vec<_> = stack
        .history(ORG, workspace)
        .await?
        .into_iter()
        .filter(|r| r.execution_id == report.arn)
        .collect();
    if records.is_empty() {
        println!("\nHistory: no record for this execution.");
    }
    for r in &records {
        println!(
            "\nHistory record (DynamoDB {}):\n{}",
            stack.outputs.history_table_name,
            indent(&record_text(r), "  ")
        );
    }
    Ok(())
}

/// The drifted resource addresses of an execution's history record.
async fn drifted_addresses(
    stack: &LocalStack,
    report: &ExecutionReport,
    workspace: &str,
) -> Result<Vec<String>> {
    let record = stack
        .history(ORG, workspace)
        .await?
        .into_iter()
        .find(|r| r.execution_id == report.arn)
        .context("no history record for the execution")?;
    Ok(record
        .drift
        .map(|d| d.resources.into_iter().map(|r| r.address).collect())
        .unwrap_or_default())
}

/// Waits until the check asks for a decision; the alert with the buttons.
async fn wait_for_the_question(
    stack: &LocalStack,
    arn: &str,
) -> Result<local_stack::slack_app::Message> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let report = stack.executions.report(arn).await?;
        if report
            .states
            .last()
            .is_some_and(|s| s.name == "Wait for approval" && s.exited.is_none())
        {
            return stack
                .slack_app
                .parents(NETWORK_CHANNEL)
                .into_iter()
                .next_back()
                .context("the check waits, but the channel has no alert");
        }
        ensure!(
            report.is_running() && Instant::now() < deadline,
            "the check did not ask for a decision ({}):\n{}",
            report.status,
            states_table(&report)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A person's change to one of the storage workspace's buckets, made in moto,
/// and its CloudTrail event: versioning suspended (even buckets) or the
/// owner tag rewritten (odd buckets).
async fn change_bucket(stack: &LocalStack, bucket: &str, i: usize) -> Result<Value> {
    let console = Console::new(&stack.raw);
    let mut e = events::fixture("cli-put-bucket-versioning")?;
    let detail = e.get_mut("detail").context("the fixture has no detail")?;
    detail["resources"] = json!([{
        "accountId": "111122223333",
        "type": "AWS::S3::Bucket",
        "ARN": format!("arn:aws:s3:::{bucket}")
    }]);
    detail["requestParameters"]["Host"] = json!(format!("{bucket}.s3.eu-west-1.amazonaws.com"));
    detail["tlsDetails"]["clientProvidedHostHeader"] =
        json!(format!("{bucket}.s3.eu-west-1.amazonaws.com"));
    if i % 2 == 0 {
        console.set_bucket_versioning(bucket, "Suspended").await?;
        detail["requestParameters"]["bucketName"] = json!(bucket);
    } else {
        console.set_bucket_tags(bucket, &[("Owner", "bob")]).await?;
        detail["eventName"] = json!("PutBucketTagging");
        detail["requestParameters"] = json!({
            "bucketName": bucket,
            "Host": format!("{bucket}.s3.eu-west-1.amazonaws.com"),
            "tagging": "",
            "Tagging": {"TagSet": {"Tag": {"Key": "Owner", "Value": "bob"}}, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}
        });
    }
    Ok(events::fresh(e, None))
}

async fn run() -> Result<()> {
    let began = Instant::now();
    rule(
        "DriftGuard demo: the local stack (moto + cargo lambda + HCP Terraform and Slack emulators)",
    );
    let options = StackOptions {
        remediation_mode: "approval".into(),
        workspaces: vec![
            WorkspaceSpec::new(ORG, "network")
                .services(&["ec2", "iam"])
                .terraform("network")
                .slack(NETWORK_CHANNEL, &[BOB]),
            WorkspaceSpec::new(ORG, "storage")
                .services(&["s3"])
                .terraform("storage"),
        ],
        settle_seconds: 3,
        // Two instances per function are plenty for a burst of six.
        lambda_concurrency: 2,
        ..StackOptions::default()
    };
    let stack = LocalStack::start(options).await?;
    stack.slack_app.add_user(BOB, "bob");
    println!("\nLocal stack ready: {}", stack.timings);
    println!("  gateway (AWS endpoint)  {}", stack.endpoint());
    println!("  HCP Terraform emulator  {}", stack.tfc.url());
    println!("  Slack webhook sink      {}", stack.slack.webhook_url());
    println!("  Slack Web API emulator  {}", stack.slack_app.api_url());
    println!(
        "  state machine           {}",
        stack.outputs.state_machine_arn
    );
    println!("  CloudTrail rule pattern {}", stack.cloudtrail_pattern());

    // 1. A console change that drifts; Bob approves the fix from Slack.
    rule("1. Alice opens SSH to the world in the console; Bob approves the fix in Slack");
    let group = stack
        .tfc
        .state_outputs(ORG, "network")
        .and_then(|o| o.pointer("/security_group_id/value").cloned())
        .and_then(|v| v.as_str().map(str::to_string))
        .context("the network workspace's state has no security_group_id")?;
    Console::new(&stack.raw)
        .open_port_to_world(&group, 22, "temporary debug access")
        .await?;
    println!("Port 22 opened to 0.0.0.0/0 on {group} (in moto, through the EC2 API).");
    let event = console::authorize_ingress_event(
        events::fresh(
            events::fixture("console-authorize-security-group-ingress")?,
            None,
        ),
        &group,
    )?;
    let before = stack.slack_messages_for(ORG, "network").len();
    let arn = stack.deliver_expecting_execution(&event).await?;
    let alert = wait_for_the_question(&stack, &arn).await?;
    println!(
        "\nThe check waits in 'Wait for approval'. The alert in #drift-network (Slack app):\n{}",
        indent(&message_text(alert.latest()), "  │ ")
    );
    let answer = stack
        .slack_app
        .click(
            NETWORK_CHANNEL,
            &alert.ts,
            &Click::new(BOB, action_ids::FIX),
        )
        .await?;
    println!(
        "\nBob clicks [Fix drift]: Slack posts the signed block_actions payload to the Request URL\n  {}\n  → HTTP {} in {} ms: {}",
        stack
            .outputs
            .raw
            .pointer("/slack_request_url/value")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        answer.status,
        answer.elapsed.as_millis(),
        answer.text()
    );
    ensure!(answer.status == 200, "the click was refused: {answer:?}");
    let report = stack.wait(&arn, Duration::from_secs(300)).await?;
    show(&stack, &report, "network", before).await?;
    for reply in stack.slack_app.replies(NETWORK_CHANNEL, &alert.ts) {
        println!(
            "\nReply in the alert's thread:\n{}",
            indent(&message_text(reply.latest()), "  │ ")
        );
    }
    if let Some(parent) = stack
        .slack_app
        .parents(NETWORK_CHANNEL)
        .into_iter()
        .find(|m| m.ts == alert.ts)
    {
        println!(
            "\nThe alert, updated (chat.update):\n{}",
            indent(&message_text(parent.latest()), "  │ ")
        );
    }
    ensure!(
        report.status == "SUCCEEDED" && report.recorded_statuses().contains(&"Remediated"),
        "the approved fix did not end Remediated: {} {:?} {:?}",
        report.status,
        report.error,
        report.cause
    );
    let drifted = drifted_addresses(&stack, &report, "network").await?;
    ensure!(
        drifted == ["aws_security_group.web"],
        "the plan should show exactly the opened group, not {drifted:?}"
    );
    let rules = Console::new(&stack.raw).ingress_rules(&group).await?;
    ensure!(
        !rules.iter().any(|r| r.from_port == 22),
        "port 22 is still open after the approved fix: {rules:?}"
    );
    println!("\nPort 22 is closed again on {group}: the targeted run Bob approved applied.");

    // 2. A change Terraform made itself.
    rule("2. Terraform (HCP Terraform run) makes the same kind of change");
    let event = events::fresh(
        events::fixture("terraform-authorize-security-group-ingress")?,
        None,
    );
    let before = stack.slack_messages_for(ORG, "network").len();
    let runs_before = stack.tfc.runs(ORG, "network").len();
    let arn = stack.deliver_expecting_execution(&event).await?;
    let report = stack.wait(&arn, Duration::from_secs(120)).await?;
    show(&stack, &report, "network", before).await?;
    ensure!(
        report.visited("Ignored"),
        "Terraform's own change was not ignored"
    );
    ensure!(
        stack.tfc.runs(ORG, "network").len() == runs_before,
        "an HCP Terraform run was created for Terraform's own change"
    );
    println!("\nNo HCP Terraform run was created for it.");

    // 3. A burst of changes for one workspace.
    rule("3. Bob makes 6 S3 changes within seconds (one workspace)");
    let buckets: Vec<String> = stack
        .tfc
        .state_outputs(ORG, "storage")
        .and_then(|o| o.pointer("/buckets/value").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .context("the storage workspace's state has no buckets")?;
    let mut burst = Vec::new();
    for (i, bucket) in buckets.iter().enumerate().take(6) {
        burst.push(change_bucket(&stack, bucket, i).await?);
    }
    println!(
        "Versioning suspended on 3 buckets and the Owner tag rewritten on 3 (in moto, through the S3 API)."
    );
    let before = stack.slack_messages_for(ORG, "storage").len();
    let deliveries = stack.deliver_all(&burst).await?;
    let mut reports = Vec::new();
    for d in &deliveries {
        let arn = d
            .execution_arn
            .clone()
            .context("the rule did not match a burst event")?;
        reports.push(stack.wait(&arn, Duration::from_secs(180)).await?);
    }
    for r in &reports {
        println!(
            "  execution {}: {} → {}",
            r.name,
            r.status,
            r.states.last().map(|s| s.name.as_str()).unwrap_or("?")
        );
    }
    let owners: Vec<&ExecutionReport> = reports
        .iter()
        .filter(|r| r.visited("Check each workspace"))
        .collect();
    ensure!(
        owners.len() == 1,
        "expected one execution to plan for the burst, got {}",
        owners.len()
    );
    show(&stack, owners[0], "storage", before).await?;
    let runs = stack.tfc.runs(ORG, "storage");
    println!(
        "\nHCP Terraform runs for {ORG}/storage: {} (one plan for the whole burst)",
        runs.len()
    );
    ensure!(
        runs.len() == 1,
        "expected one plan run for the burst, got {}",
        runs.len()
    );
    let drifted = drifted_addresses(&stack, owners[0], "storage").await?;
    let expected: Vec<String> = (0..6)
        .map(|i| {
            if i % 2 == 0 {
                format!("aws_s3_bucket_versioning.data[{i}]")
            } else {
                format!("aws_s3_bucket.data[{i}]")
            }
        })
        .collect();
    ensure!(
        expected.iter().all(|a| drifted.contains(a)),
        "the plan should show the 6 changed buckets {expected:?}, not {drifted:?}"
    );

    // 4. The drift history.
    rule("4. The drift history: checks, drift episodes and the dashboard page");
    let store = stack.history_store();
    let checks = store.workspaces().await?;
    let history = dashboard::load(&store, &checks, chrono::Utc::now(), 30).await?;
    print!("\n{}", dashboard::history_table(&history, 10));
    let page = local_stack::browser::write_page(&history, "demo-dashboard")?;
    let widget = stack
        .raw
        .invoke(
            stack.function_name("history-widget")?,
            &json!({"widgetContext": {"theme": "light", "timezone": {"offsetISO": "+00:00"}}}),
        )
        .await?;
    ensure!(
        widget.is_ok()
            && widget
                .payload
                .as_str()
                .is_some_and(|html| html.contains("Open drift now")),
        "the history-widget function did not render the widget: {widget:?}"
    );
    println!(
        "\nThe history-widget function (the CloudWatch custom widget) rendered the same page for the console.\nDashboard page written to {}\n(open it in a browser; `driftguard dashboard --table <history table>` renders it from any DynamoDB endpoint)",
        page.display()
    );

    rule(&format!(
        "Done in {:.0} s (set DRIFTGUARD_KEEP_WORK=1 to keep the logs in {}).",
        began.elapsed().as_secs_f64(),
        stack.work_dir().display()
    ));
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    // Dropping `run` (Ctrl-C / SIGTERM) drops the stack, which stops moto and cargo lambda watch.
    let result = tokio::select! {
        r = run() => r,
        _ = local_stack::process::interrupted() => {
            local_stack::process::stop_all_started();
            eprintln!("\ndemo interrupted; the local stack was stopped");
            std::process::exit(130);
        }
    };
    if let Err(e) = result {
        eprintln!("\ndemo failed: {e:#}");
        std::process::exit(1);
    }
}
