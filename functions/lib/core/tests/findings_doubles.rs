//! Tests of `driftguard_core::findings` with the in-memory doubles (moved from the module, which cannot use the testkit).
use driftguard_core::episodes::{Attribution, Cause, CheckLink, Episode, EpisodeState, Resolution};
use driftguard_core::findings::*;
use driftguard_core::model::Actor;
use driftguard_core::ports::FindingsPublisher;
#[allow(unused_imports)]
use driftguard_testkit::*;

fn target() -> SecurityHubTarget {
    SecurityHubTarget::from_product_arn(
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default",
    )
    .unwrap()
}

fn link(at: &str) -> CheckLink {
    CheckLink {
        at: at.into(),
        execution_id: "arn:aws:states:eu-west-1:123456789012:execution:sm:e1".into(),
        execution_url: "https://console/e1".into(),
        run_url: Some("https://app.terraform.io/run-1".into()),
    }
}

fn episode(resource_type: &str, ids: &[&str]) -> Episode {
    Episode {
        episode_id: "driftguard/acme/prod/aws_security_group.web/e1".into(),
        organization: "acme".into(),
        workspace: "prod".into(),
        address: "aws_security_group.web".into(),
        resource_type: resource_type.into(),
        state: EpisodeState::Open,
        detected: link("2026-11-22T10:05:00Z"),
        last_seen: link("2026-11-22T10:05:00Z"),
        checks: 1,
        cause: Some(Cause {
            event_id: "ev".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: "2026-11-22T10:00:00Z".into(),
            account_id: "210987654321".into(),
            aws_region: "eu-west-1".into(),
            actor: Actor {
                actor_type: "AssumedRole".into(),
                arn: Some("arn:aws:sts::210987654321:assumed-role/Admin/alice".into()),
                principal_id: None,
            },
            matched: Attribution::Resource,
        }),
        aws_resource_ids: ids.iter().map(|s| s.to_string()).collect(),
        resolved: None,
        resolution: None,
        resolved_by: None,
        expires_at: 0,
    }
}

#[test]
fn an_open_security_group_episode_is_a_high_active_failed_finding() {
    let f = finding(&episode("aws_security_group", &["sg-0abc"]), &target());
    assert_eq!(f.severity.label, "HIGH");
    assert_eq!(f.record_state, "ACTIVE");
    assert_eq!(f.compliance.status, "FAILED");
    assert_eq!(f.workflow.status, "NEW");
    assert_eq!(f.aws_account_id, "123456789012");
    assert_eq!(f.resources[0].resource_type, "AwsEc2SecurityGroup");
    assert_eq!(
        f.resources[0].id,
        "arn:aws:ec2:eu-west-1:210987654321:security-group/sg-0abc"
    );
    assert_eq!(f.first_observed_at, "2026-11-22T10:00:00Z");
    assert_eq!(f.created_at, "2026-11-22T10:05:00Z");
    assert!(f.description.contains("Admin/alice"), "{}", f.description);
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["SchemaVersion"], "2018-10-08");
    assert_eq!(json["Resources"][0]["Type"], "AwsEc2SecurityGroup");
}

#[test]
fn a_resolved_episode_archives_its_finding_with_a_later_update() {
    let mut e = episode("aws_instance", &[]);
    e.state = EpisodeState::Resolved;
    e.resolved = Some(link("2026-11-22T12:00:00Z"));
    e.resolution = Some(Resolution::Remediated);
    let f = finding(&e, &target());
    assert_eq!(f.severity.label, "MEDIUM");
    assert_eq!(
        (
            f.record_state.as_str(),
            f.compliance.status.as_str(),
            f.workflow.status.as_str()
        ),
        ("ARCHIVED", "PASSED", "RESOLVED")
    );
    assert_eq!(f.updated_at, "2026-11-22T12:00:00Z");
    assert_eq!(f.resources[0].resource_type, "Other");
    assert_eq!(f.resources[0].id, "acme/prod:aws_security_group.web");
    assert!(f.description.contains("remediated by DriftGuard"));
    assert_eq!(f.product_fields["DriftGuard/Resolution"], "remediated");
}

#[test]
fn resource_arns_for_s3_and_iam_names() {
    let mut e = episode("aws_s3_bucket_policy", &["logs-bucket"]);
    let f = finding(&e, &target());
    assert_eq!(f.resources[0].id, "arn:aws:s3:::logs-bucket");
    assert_eq!(f.severity.label, "HIGH");
    e.resource_type = "aws_iam_role_policy".into();
    e.aws_resource_ids = vec!["app-role".into()];
    let f = finding(&e, &target());
    assert_eq!(f.resources[0].id, "arn:aws:iam::210987654321:role/app-role");
    assert_eq!(f.resources[0].resource_type, "AwsIamRole");
}

#[test]
fn product_arn_must_be_the_default_product() {
    for bad in [
        "arn:aws:securityhub:eu-west-1:123456789012:product/aws/guardduty",
        "arn:aws:securityhub:eu-west-1:1234:product/1234/default",
        "not an arn",
    ] {
        let e = SecurityHubTarget::from_product_arn(bad).unwrap_err();
        assert_eq!(e.error_type(), "ConfigError", "{bad}");
    }
    assert_eq!(target().partition, "aws");
    assert_eq!(partition_of("cn-north-1"), "aws-cn");
}

#[tokio::test]
async fn the_in_memory_publisher_keeps_the_newest_update() {
    let store = InMemoryFindings::new();
    let open = finding(&episode("aws_instance", &[]), &target());
    let mut resolved = open.clone();
    resolved.updated_at = "2026-11-22T12:00:00Z".into();
    resolved.record_state = "ARCHIVED".into();
    store.publish(&[resolved]).await.unwrap();
    store.publish(std::slice::from_ref(&open)).await.unwrap();
    assert_eq!(store.all()[&open.id].record_state, "ARCHIVED");
    store.fail_next(1);
    assert!(store.publish(&[open]).await.is_err());
}

#[test]
fn actor_names_are_short() {
    let a = |arn: &str| Actor {
        actor_type: "IAMUser".into(),
        arn: Some(arn.into()),
        principal_id: None,
    };
    assert_eq!(actor_name(&a("arn:aws:iam::1:user/bob")), "bob");
    assert_eq!(
        actor_name(&a("arn:aws:sts::1:assumed-role/Admin/alice")),
        "Admin/alice"
    );
    let root = Actor {
        actor_type: "Root".into(),
        arn: Some("arn:aws:iam::1:root".into()),
        principal_id: None,
    };
    assert_eq!(actor_name(&root), "the root user");
    assert_eq!(
        actor_name(&a(
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com"
        )),
        "bob@example.com (SSO AdministratorAccess)"
    );
}
