//! The record step and drift episodes over the in-memory ports: episodes
//! open, stay open and resolve with the checks that see them, their
//! Security Hub findings follow, and a Security Hub outage delays findings
//! without losing a record.

use driftguard_testkit::InMemoryMetrics;
use std::collections::HashMap;

use driftguard_core::config::Config;
use driftguard_core::episodes::{EpisodeState, Resolution};
use driftguard_core::model::*;
use driftguard_core::ports::{CheckRecords, EpisodeStore};
use driftguard_core::steps;
use driftguard_testkit::InMemoryFindings;
use driftguard_testkit::InMemoryHistory;

const PRODUCT: &str = "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default";

fn config(security_hub: bool) -> Config {
    let mut vars: HashMap<&str, &str> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION", "acme"),
        ("DRIFTGUARD_WORKSPACE", "prod"),
        ("AWS_REGION", "eu-west-1"),
    ]);
    if security_hub {
        vars.insert("DRIFTGUARD_SECURITY_HUB_PRODUCT_ARN", PRODUCT);
    }
    Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap()
}

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn at(minute: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
        + chrono::Duration::minutes(minute)
}

fn change(event: &str, minute: i64, who: &str) -> Change {
    Change {
        event_id: format!("ev-{minute}"),
        event_name: event.into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: at(minute).to_rfc3339(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "AssumedRole".into(),
            arn: Some(format!(
                "arn:aws:sts::123456789012:assumed-role/Admin/{who}"
            )),
            principal_id: None,
        },
        resources: vec!["sg-0a1b2c3d4e5f60718".into()],
        ..Change::default()
    }
}

fn sg() -> DriftedResource {
    DriftedResource {
        address: "aws_security_group.web".into(),
        resource_type: "aws_security_group".into(),
        actions: vec!["update".into()],
        changed_attributes: vec!["ingress".into()],
        ..Default::default()
    }
}

fn outcome(execution: &str, minute: i64, status: CheckStatus, change: Change) -> CheckOutcome {
    let drifted = matches!(status, CheckStatus::DriftDetected | CheckStatus::Remediated);
    CheckOutcome {
        poll: None,
        status,
        check: check(),
        execution_id: format!("arn:aws:states:eu-west-1:123456789012:execution:sm:{execution}"),
        started_at: at(minute).to_rfc3339(),
        change: Some(change),
        run: None,
        drift: (status != CheckStatus::CheckFailed).then(|| DriftReport {
            drifted,
            resource_count: usize::from(drifted),
            resources: if drifted { vec![sg()] } else { vec![] },
            truncated: false,
            omitted: 0,
            ignored: 0,
            fingerprint: if drifted { "fp".into() } else { String::new() },
            ..Default::default()
        }),
        remediation: None,
        failure: (status == CheckStatus::CheckFailed).then(|| Failure {
            error: "TfcUnavailable".into(),
            cause: "503".into(),
            failed_state: Some("Create plan run".into()),
            redrive_count: 0,
        }),
        approval: None,
    }
}

#[tokio::test]
async fn an_episode_opens_stays_and_is_changed_back_with_its_finding() {
    let (history, hub, config) = (
        InMemoryHistory::new(),
        InMemoryFindings::new(),
        config(true),
    );
    let drift = outcome(
        "e1",
        1,
        CheckStatus::DriftDetected,
        change("AuthorizeSecurityGroupIngress", 0, "alice"),
    );
    let first = steps::record_with(
        &drift,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config,
        at(3),
    )
    .await
    .unwrap();
    assert!(first.stored);
    let open = history.open_episodes(&check()).await.unwrap();
    assert_eq!(open.len(), 1);
    let episode = &open[0];
    assert_eq!(episode.address, "aws_security_group.web");
    assert_eq!(episode.time_to_detect_seconds(), Some(180));
    let finding = &hub.all()[&episode.episode_id];
    assert_eq!(
        (
            finding.record_state.as_str(),
            finding.severity.label.as_str()
        ),
        ("ACTIVE", "HIGH")
    );
    assert!(finding.description.contains("Admin/alice"));

    // The same drift an hour later: the episode stays open, no new finding.
    let again = outcome(
        "e2",
        60,
        CheckStatus::DriftDetected,
        change("CreateTags", 59, "bob"),
    );
    steps::record_with(
        &again,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config,
        at(62),
    )
    .await
    .unwrap();
    let open = history.open_episodes(&check()).await.unwrap();
    assert_eq!((open.len(), open[0].checks), (1, 2));
    assert_eq!(hub.all().len(), 1);

    // Carol reverts the rule in the console: the clean check resolves it.
    let clean = outcome(
        "e3",
        120,
        CheckStatus::NoDrift,
        change("RevokeSecurityGroupIngress", 119, "carol"),
    );
    let recorded = steps::record_with(
        &clean,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config,
        at(122),
    )
    .await
    .unwrap();
    assert!(recorded.stored);
    assert!(history.open_episodes(&check()).await.unwrap().is_empty());
    let resolved = history
        .resolved_episodes(&check(), &at(0).to_rfc3339())
        .await
        .unwrap();
    assert_eq!(resolved[0].state, EpisodeState::Resolved);
    assert_eq!(resolved[0].resolution, Some(Resolution::Reverted));
    assert!(
        resolved[0]
            .resolved_by
            .as_ref()
            .and_then(|a| a.arn.as_deref())
            .is_some_and(|a| a.ends_with("/carol"))
    );
    let finding = &hub.all()[&episode.episode_id];
    assert_eq!(
        (
            finding.record_state.as_str(),
            finding.compliance.status.as_str()
        ),
        ("ARCHIVED", "PASSED")
    );
    let record = history
        .get_record(&check(), &clean.started_at, &clean.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.episodes.map(|s| (s.resolved, s.open)), Some((1, 0)));

    // A failed check changes no episode.
    let failed = outcome(
        "e4",
        180,
        CheckStatus::CheckFailed,
        change("CreateTags", 179, "dan"),
    );
    steps::record(&failed, &history, &InMemoryMetrics::new(), &config, at(181))
        .await
        .unwrap();
    assert!(history.open_episodes(&check()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_security_hub_outage_delays_findings_and_keeps_the_record() {
    let (history, hub, config) = (
        InMemoryHistory::new(),
        InMemoryFindings::new(),
        config(true),
    );
    let drift = outcome(
        "e1",
        1,
        CheckStatus::DriftDetected,
        change("AuthorizeSecurityGroupIngress", 0, "alice"),
    );
    hub.fail_next(1);
    let err = steps::record_with(
        &drift,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config,
        at(3),
    )
    .await
    .expect_err("the import failed");
    assert_eq!(err.error_type(), "AwsUnavailable");
    assert_eq!(history.all().len(), 1, "the record and episode are kept");
    assert!(hub.all().is_empty());
    // Step Functions retries the step: same answer as a first attempt, findings published.
    let retried = steps::record_with(
        &drift,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config,
        at(4),
    )
    .await
    .unwrap();
    assert!(!retried.stored);
    assert_eq!(retried.previous_fingerprint, None);
    assert_eq!(hub.all().len(), 1);
    assert_eq!(history.open_episodes(&check()).await.unwrap()[0].checks, 1);
}

#[tokio::test]
async fn remediated_at_once_is_one_resolved_episode_and_off_means_no_findings() {
    let (history, hub) = (InMemoryHistory::new(), InMemoryFindings::new());
    let fixed = outcome(
        "e1",
        1,
        CheckStatus::Remediated,
        change("AuthorizeSecurityGroupIngress", 0, "alice"),
    );
    // Security Hub findings off (no product ARN): the publisher is not used.
    steps::record_with(
        &fixed,
        &history,
        Some(&hub),
        &InMemoryMetrics::new(),
        &config(false),
        at(10),
    )
    .await
    .unwrap();
    assert!(hub.all().is_empty());
    assert!(history.open_episodes(&check()).await.unwrap().is_empty());
    let resolved = history
        .resolved_episodes(&check(), &at(0).to_rfc3339())
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].resolution, Some(Resolution::Remediated));
    assert_eq!(resolved[0].duration_seconds(at(20)), 0);
}
