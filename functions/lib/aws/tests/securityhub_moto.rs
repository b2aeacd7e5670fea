//! The Security Hub adapter against moto's Security Hub: the record step
//! imports the finding of an episode it opens and archives it when a later
//! check resolves the episode (`BatchImportFindings`, read back with
//! `GetFindings`).

use driftguard_testkit::moto;

use driftguard_testkit::InMemoryMetrics;
use std::collections::HashMap;

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use driftguard_aws::SecurityHubFindings;
use driftguard_core::config::Config;
use driftguard_core::model::*;
use driftguard_core::steps;
use driftguard_testkit::InMemoryHistory;

const ACCOUNT: &str = "123456789012";

fn client(endpoint: &str) -> Client {
    Client::from_conf(
        aws_sdk_securityhub::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    )
}

fn config() -> Config {
    let product = format!("arn:aws:securityhub:eu-west-1:{ACCOUNT}:product/{ACCOUNT}/default");
    let vars: HashMap<&str, String> = HashMap::from([
        ("DRIFTGUARD_ORGANIZATION", "acme".to_string()),
        ("DRIFTGUARD_WORKSPACE", "prod".to_string()),
        ("AWS_REGION", "eu-west-1".to_string()),
        ("DRIFTGUARD_SECURITY_HUB_PRODUCT_ARN", product),
    ]);
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

fn at(minute: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
        + chrono::Duration::minutes(minute)
}

fn outcome(execution: &str, minute: i64, drifted: bool, event: &str) -> CheckOutcome {
    let resources = if drifted {
        vec![
            DriftedResource {
                address: "aws_security_group.web".into(),
                resource_type: "aws_security_group".into(),
                actions: vec!["update".into()],
                changed_attributes: vec!["ingress".into()],
                ..Default::default()
            },
            DriftedResource {
                address: "aws_instance.api".into(),
                resource_type: "aws_instance".into(),
                actions: vec!["update".into()],
                changed_attributes: vec!["tags.Owner".into()],
                ..Default::default()
            },
        ]
    } else {
        vec![]
    };
    CheckOutcome {
        poll: None,
        status: if drifted {
            CheckStatus::DriftDetected
        } else {
            CheckStatus::NoDrift
        },
        check: CheckRef {
            organization: "acme".into(),
            workspace: "prod".into(),
        },
        execution_id: format!("arn:aws:states:eu-west-1:{ACCOUNT}:execution:sm:{execution}"),
        started_at: at(minute).to_rfc3339(),
        change: Some(Change {
            event_id: format!("ev-{execution}"),
            event_name: event.into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: at(minute - 1).to_rfc3339(),
            aws_region: "eu-west-1".into(),
            account_id: ACCOUNT.into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/alice")),
                principal_id: None,
            },
            resources: vec!["sg-0a1b2c3d4e5f60718".into()],
            ..Change::default()
        }),
        run: None,
        drift: Some(DriftReport {
            drifted,
            resource_count: resources.len(),
            resources,
            truncated: false,
            omitted: 0,
            ignored: 0,
            fingerprint: if drifted { "fp".into() } else { String::new() },
            ..Default::default()
        }),
        remediation: None,
        failure: None,
        approval: None,
    }
}

/// Every finding (`GetFindings`). The SDK's finding deserializer needs far
/// more stack than a test thread has in a debug build (DriftGuard itself only
/// imports findings), so it runs on a thread of its own.
async fn findings(client: &Client) -> HashMap<String, AwsSecurityFinding> {
    let client = client.clone();
    let read = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async move { client.get_findings().send().await })
                .map_err(|e| format!("{e:?}"))
        })
        .expect("reader thread");
    let out = read.join().expect("reader thread").expect("GetFindings");
    out.findings()
        .iter()
        .map(|f| (f.id().unwrap_or_default().to_string(), f.clone()))
        .collect()
}

#[tokio::test]
async fn episodes_become_findings_and_resolved_ones_are_archived() {
    let Some(moto) = moto::start_moto().await else {
        return;
    };
    let hub = client(&moto.endpoint);
    hub.enable_security_hub()
        .send()
        .await
        .expect("EnableSecurityHub");
    let publisher = SecurityHubFindings::new(hub.clone());
    let (history, config) = (InMemoryHistory::new(), config());

    let drift = outcome("e1", 2, true, "AuthorizeSecurityGroupIngress");
    steps::record_with(
        &drift,
        &history,
        Some(&publisher),
        &InMemoryMetrics::new(),
        &config,
        at(4),
    )
    .await
    .expect("record with findings");
    let found = findings(&hub).await;
    assert_eq!(found.len(), 2, "{:?}", found.keys());
    let sg = &found["driftguard/acme/prod/aws_security_group.web/e1"];
    assert_eq!(sg.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(
        sg.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
        Some("FAILED")
    );
    assert_eq!(
        sg.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("HIGH")
    );
    assert_eq!(
        sg.product_arn(),
        Some(config.security_hub.as_ref().unwrap().product_arn.as_str())
    );
    let resource = &sg.resources()[0];
    assert_eq!(resource.r#type(), Some("AwsEc2SecurityGroup"));
    assert_eq!(
        resource.id(),
        Some("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0a1b2c3d4e5f60718")
    );
    let instance = &found["driftguard/acme/prod/aws_instance.api/e1"];
    assert_eq!(
        instance
            .severity()
            .and_then(|s| s.label())
            .map(|l| l.as_str()),
        Some("MEDIUM")
    );

    // A clean check that reverted the rule: both episodes resolve, both findings archive.
    let clean = outcome("e2", 30, false, "RevokeSecurityGroupIngress");
    steps::record_with(
        &clean,
        &history,
        Some(&publisher),
        &InMemoryMetrics::new(),
        &config,
        at(31),
    )
    .await
    .expect("record the clean check");
    let found = findings(&hub).await;
    assert_eq!(found.len(), 2, "updated in place, by id");
    for f in found.values() {
        assert_eq!(
            f.record_state().map(|s| s.as_str()),
            Some("ARCHIVED"),
            "{f:?}"
        );
        assert_eq!(
            f.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
            Some("PASSED")
        );
        assert!(f.updated_at().unwrap_or_default() >= "2026-11-22T10:31:00Z");
    }
    let sg = &found["driftguard/acme/prod/aws_security_group.web/e1"];
    assert!(
        sg.description()
            .unwrap_or_default()
            .contains("changed back by a person"),
        "{:?}",
        sg.description()
    );
    assert_eq!(
        sg.product_fields()
            .and_then(|p| p.get("DriftGuard/Resolution"))
            .map(String::as_str),
        Some("reverted")
    );
}
