//! Admission of real-shaped EventBridge events (tests/fixtures/events): the
//! decision, the extracted change, routing to workspaces, coalescing, and a
//! property test that no input makes admission panic.

use std::collections::BTreeMap;
use std::path::PathBuf;

use driftguard_core::admission::{
    Evaluation, IgnoreCategory, MAX_RESOURCES_PER_CHANGE, evaluate, evaluate_with_tags, replay,
};
use driftguard_core::coalesce::coalesce;
use driftguard_core::config::{AdmissionConfig, IgnoreRules, WorkspaceRoute};
use driftguard_core::model::{Actor, Change, CheckRef, Decision, ResourceTags, Tags};
use driftguard_testkit::InMemoryBatchStore;
use driftguard_testkit::InMemoryTags;
use proptest::prelude::*;
use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";

const FIXTURES: &[&str] = &[
    "console-authorize-security-group-ingress",
    "cli-put-bucket-versioning",
    "console-put-user-policy",
    "root-delete-user",
    "cli-run-instances-tagged",
    "terraform-authorize-security-group-ingress",
    "failed-authorize-security-group-ingress",
    "read-only-describe-instances",
    "not-cloudtrail",
    "malformed-missing-detail",
];

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/events/{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn route(workspace: &str) -> WorkspaceRoute {
    WorkspaceRoute {
        slack: Default::default(),
        organization: "acme".into(),
        workspace: workspace.into(),
        accounts: vec![],
        regions: vec![],
        services: vec![],
        tags: BTreeMap::new(),
        ignore: IgnoreRules::default(),
    }
}

/// The seed setup: one workspace, no filters.
fn one_workspace() -> Vec<WorkspaceRoute> {
    vec![route("prod")]
}

/// HCP Terraform dynamic credentials are ignored by principal as well as by user agent.
fn config() -> AdmissionConfig {
    AdmissionConfig {
        ignore_principal_arns: vec!["arn:aws:sts::*:assumed-role/tfc-*/*".into()],
        own_principal_arns: vec!["arn:aws:iam::*:role/driftguard-*".into()],
        ..AdmissionConfig::default()
    }
}

fn admitted(event: &Value, routes: &[WorkspaceRoute]) -> (Change, Vec<CheckRef>, String) {
    match evaluate(event, &config(), routes) {
        Evaluation::Admit {
            change,
            checks,
            reason,
        } => (change, checks, reason),
        Evaluation::Ignore { reason, .. } => panic!("expected Admit, ignored: {reason}"),
    }
}

fn ignored(event: &Value, routes: &[WorkspaceRoute]) -> String {
    match evaluate(event, &config(), routes) {
        Evaluation::Ignore { reason, .. } => reason,
        Evaluation::Admit { reason, .. } => panic!("expected Ignore, admitted: {reason}"),
    }
}

fn check(workspace: &str) -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: workspace.into(),
    }
}

fn workspaces(checks: &[CheckRef]) -> Vec<&str> {
    checks.iter().map(|c| c.workspace.as_str()).collect()
}

#[test]
fn console_security_group_change_is_admitted() {
    let (change, checks, reason) = admitted(
        &fixture("console-authorize-security-group-ingress"),
        &one_workspace(),
    );
    assert_eq!(
        change,
        Change {
            event_id: "e5b2c1d0-7f3a-4c8e-9b6d-1a2b3c4d5e6f".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: "2025-05-06T09:12:44Z".into(),
            aws_region: "eu-west-1".into(),
            account_id: ACCOUNT.into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/alice")),
                principal_id: Some("AIDAYEXAMPLEALICE0001".into()),
            },
            source_ip: Some("198.51.100.23".into()),
            user_agent: Some("AWS Internal".into()),
            // The ingress rule's group is named in the request and again in the response.
            resources: vec!["sg-0a1b2c3d4e5f60718".into()],
        }
    );
    assert_eq!(checks, vec![check("prod")]);
    assert_eq!(
        reason,
        "IAMUser alice changed ec2 AuthorizeSecurityGroupIngress on sg-0a1b2c3d4e5f60718 in eu-west-1 in the console (account 111122223333); checking acme/prod."
    );
}

#[test]
fn cli_bucket_versioning_change_is_admitted() {
    let (change, checks, reason) =
        admitted(&fixture("cli-put-bucket-versioning"), &one_workspace());
    assert_eq!(change.event_name, "PutBucketVersioning");
    assert_eq!(change.event_source, "s3.amazonaws.com");
    assert_eq!(change.actor.actor_type, "AssumedRole");
    // For an assumed role the actor is the session, which names the person.
    assert_eq!(
        change.actor.arn.as_deref(),
        Some(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com"
        )
    );
    assert!(
        change
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("[aws-cli/2.15.30"))
    );
    // The bucket is named by the request and again by the record's resource ARN: once.
    assert_eq!(change.resources, vec!["acme-prod-assets"]);
    assert_eq!(checks, vec![check("prod")]);
    assert!(
        reason.starts_with(
            "AssumedRole AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com changed s3 PutBucketVersioning on acme-prod-assets in eu-west-1 (account"
        ),
        "{reason}"
    );
}

#[test]
fn console_iam_policy_change_is_admitted_from_us_east_1() {
    let (change, checks, reason) = admitted(&fixture("console-put-user-policy"), &one_workspace());
    assert_eq!(change.event_name, "PutUserPolicy");
    assert_eq!(change.aws_region, "us-east-1");
    assert_eq!(
        change.actor.principal_id.as_deref(),
        Some("AROAYEXAMPLEADMINROLE:carol")
    );
    assert_eq!(change.resources, vec!["ci-deployer"]);
    assert_eq!(checks, vec![check("prod")]);
    assert!(reason.starts_with("AssumedRole Admin/carol changed iam PutUserPolicy on ci-deployer in us-east-1 in the console"), "{reason}");
}

#[test]
fn root_user_deletion_is_admitted() {
    let (change, _, reason) = admitted(&fixture("root-delete-user"), &one_workspace());
    assert_eq!(
        change.actor,
        Actor {
            actor_type: "Root".into(),
            arn: Some(format!("arn:aws:iam::{ACCOUNT}:root")),
            principal_id: Some(ACCOUNT.into()),
        }
    );
    assert_eq!(change.resources, vec!["legacy-batch"]);
    assert!(
        reason.starts_with(
            "The root user changed iam DeleteUser on legacy-batch in us-east-1 in the console"
        ),
        "{reason}"
    );
}

#[test]
fn run_instances_names_the_new_instance_not_its_network() {
    let (change, _, _) = admitted(&fixture("cli-run-instances-tagged"), &one_workspace());
    assert_eq!(change.resources, vec!["i-0123456789abcdef0"]);
}

#[test]
fn terraform_changes_are_known_by_principal_not_by_user_agent() {
    let event = fixture("terraform-authorize-security-group-ingress");
    assert_eq!(
        ignored(&event, &one_workspace()),
        "AuthorizeSecurityGroupIngress was made by arn:aws:sts::111122223333:assumed-role/tfc-acme-prod/terraform-run-7Jq2xKc4bN9wP1sD, which matches the Terraform principal pattern 'arn:aws:sts::*:assumed-role/tfc-*/*'; Terraform's own changes are not drift."
    );

    // The role ARN (what users configure for HCP Terraform's dynamic credentials)
    // matches the session's issuer, whatever the user agent.
    let mut other_agent = event.clone();
    other_agent["detail"]["userAgent"] = json!("aws-sdk-go-v2/1.36.3 os/linux lang/go#1.24.2");
    let role_only = AdmissionConfig {
        ignore_principal_arns: vec!["arn:aws:iam::111122223333:role/tfc-acme-prod".into()],
        ..AdmissionConfig::default()
    };
    assert!(matches!(
        evaluate(&other_agent, &role_only, &one_workspace()),
        Evaluation::Ignore {
            category: IgnoreCategory::TerraformPrincipal,
            ..
        }
    ));

    // Without the principal configured, Terraform's user agent alone hides nothing.
    let Evaluation::Admit { reason, .. } =
        evaluate(&event, &AdmissionConfig::default(), &one_workspace())
    else {
        panic!("a Terraform user agent from an unconfigured principal must be checked");
    };
    assert!(
        reason.ends_with(
            "It was made with Terraform by arn:aws:sts::111122223333:assumed-role/tfc-acme-prod/terraform-run-7Jq2xKc4bN9wP1sD, which is not HCP Terraform's principal (ignore_principal_arns): checking acme/prod."
        ),
        "{reason}"
    );
}

#[test]
fn failed_read_only_and_non_cloudtrail_events_are_ignored() {
    let routes = one_workspace();
    assert_eq!(
        ignored(&fixture("failed-authorize-security-group-ingress"), &routes),
        "AuthorizeSecurityGroupIngress failed with Client.UnauthorizedOperation, so nothing changed."
    );
    assert_eq!(
        ignored(&fixture("read-only-describe-instances"), &routes),
        "DescribeInstances is a read-only call (readOnly: true) and changes nothing."
    );
    assert_eq!(
        ignored(&fixture("not-cloudtrail"), &routes),
        "The event is a 'EC2 Instance State-change Notification' event, not 'AWS API Call via CloudTrail'; only API calls recorded by CloudTrail change resources."
    );
    assert_eq!(
        ignored(&fixture("malformed-missing-detail"), &routes),
        "The event has no detail object, so there is no CloudTrail record to read."
    );
}

/// Two (and three) routes with filters: `network` takes EC2 in eu-west-1,
/// `prod` takes anything tagged env=prod in the account, `identity` takes IAM.
fn filtered_routes() -> Vec<WorkspaceRoute> {
    let mut network = route("network");
    network.services = vec!["ec2".into()];
    network.regions = vec!["eu-west-1".into()];
    let mut prod = route("prod");
    prod.accounts = vec![ACCOUNT.into()];
    prod.tags = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let mut identity = route("identity");
    identity.services = vec!["iam".into()];
    identity.regions = vec!["eu-west-1".into()];
    vec![network, prod, identity]
}

#[test]
fn a_tagged_change_routes_to_two_workspaces_in_config_order() {
    let (_, checks, reason) = admitted(&fixture("cli-run-instances-tagged"), &filtered_routes());
    assert_eq!(workspaces(&checks), vec!["network", "prod"]);
    assert!(
        reason.ends_with("checking acme/network, acme/prod."),
        "{reason}"
    );
}

/// Evaluation with the touched resources' current tags, as looked up.
fn with_current_tags(event: &Value, routes: &[WorkspaceRoute], tags: &[Tags]) -> Evaluation {
    evaluate_with_tags(
        event,
        &config(),
        routes,
        &ResourceTags::Known(tags.to_vec()),
    )
}

fn tag_set(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn filters_exclude_workspaces() {
    let routes = filtered_routes();
    // No tags shown and the group has none: the tag-filtered route does not take it.
    let Evaluation::Admit { checks, .. } = with_current_tags(
        &fixture("console-authorize-security-group-ingress"),
        &routes,
        &[Tags::new()],
    ) else {
        panic!("not admitted");
    };
    assert_eq!(workspaces(&checks), vec!["network"]);
    // IAM is global: its us-east-1 events still reach a route limited to eu-west-1.
    let (_, checks, _) = admitted(&fixture("console-put-user-policy"), &routes);
    // IAM roles' and users' tags cannot be read with the Tagging API: the
    // tag filter cannot exclude the change.
    assert_eq!(workspaces(&checks), vec!["prod", "identity"]);
    // S3 matches no route: the bucket's current tags are not env=prod.
    let Evaluation::Ignore { reason, .. } = with_current_tags(
        &fixture("cli-put-bucket-versioning"),
        &routes,
        &[tag_set(&[("env", "dev")])],
    ) else {
        panic!("admitted");
    };
    assert_eq!(
        reason,
        "No workspace route matches account 111122223333, region eu-west-1, service s3 (tags shown: none; the resource's current tags: env=dev)."
    );
}

/// Issue 22 item 2: a modifying call shows no tags, so a route filtering on
/// `env=prod` never took `AuthorizeSecurityGroupIngress` on a prod group.
/// The group's current tags (looked up by ARN) decide now.
#[tokio::test]
async fn a_tag_filter_reads_the_changed_resources_current_tags() {
    let event = fixture("console-authorize-security-group-ingress");
    let group = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b2c3d4e5f60718";
    let routes = json!([{"organization": "acme", "workspace": "prod", "tags": {"env": "prod"}}]);
    let mut config = driftguard_core::config::Config::from_lookup(|k| match k {
        "DRIFTGUARD_WORKSPACES" => Some(routes.to_string()),
        "AWS_REGION" => Some("eu-west-1".into()),
        _ => None,
    })
    .unwrap();
    config.admission = self::config();
    let request = |n: u32| driftguard_core::model::AdmitRequest {
        event: event.clone(),
        execution_id: format!("arn:aws:states:eu-west-1:111122223333:execution:dg:tags-{n}"),
    };

    let tags = InMemoryTags::new(ACCOUNT);
    tags.set(group, &[("env", "prod"), ("team", "network")]);
    let batches = InMemoryBatchStore::new();
    let admission = driftguard_core::steps::admit_with_tags(
        &request(1),
        &config,
        &batches,
        Some(&tags),
        1_700_000_000,
    )
    .await
    .unwrap();
    assert_eq!(admission.decision, Decision::Admit, "{}", admission.reason);
    assert_eq!(workspaces(&admission.checks), vec!["prod"]);
    assert_eq!(tags.queries()[0].arns, vec![group.to_string()]);

    // The same change to a dev group is not prod's.
    let dev_tags = InMemoryTags::new(ACCOUNT);
    dev_tags.set(group, &[("env", "dev")]);
    let admission = driftguard_core::steps::admit_with_tags(
        &request(2),
        &config,
        &InMemoryBatchStore::new(),
        Some(&dev_tags),
        1_700_000_000,
    )
    .await
    .unwrap();
    assert_eq!(admission.decision, Decision::Ignore);

    // Another account's group: its tags cannot be read here, so the filter
    // does not drop the change.
    let elsewhere = InMemoryTags::new("999999999999");
    let admission = driftguard_core::steps::admit_with_tags(
        &request(3),
        &config,
        &InMemoryBatchStore::new(),
        Some(&elsewhere),
        1_700_000_000,
    )
    .await
    .unwrap();
    assert_eq!(admission.decision, Decision::Admit, "{}", admission.reason);
}

/// Issue 22 item 2: `CreateTags env=dev` on a prod group moves it out of
/// prod's route; the retag is checked against the old tags too.
#[test]
fn a_retag_is_checked_against_the_old_and_the_new_tags() {
    let mut prod = route("prod");
    prod.tags = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let mut dev = route("dev");
    dev.tags = BTreeMap::from([("env".to_string(), "dev".to_string())]);
    let mut staging = route("staging");
    staging.tags = BTreeMap::from([("team".to_string(), "web".to_string())]);
    let routes = vec![prod, dev, staging];
    let mut event = fixture("console-authorize-security-group-ingress");
    event["detail"]["eventName"] = json!("CreateTags");
    event["detail"]["requestParameters"] = json!({
        "resourcesSet": {"items": [{"resourceId": "sg-0a1b2c3d4e5f60718"}]},
        "tagSet": {"items": [{"key": "env", "value": "dev"}]}
    });
    // After the call the group says env=dev, team=network.
    let Evaluation::Admit { checks, .. } = with_current_tags(
        &event,
        &routes,
        &[tag_set(&[("env", "dev"), ("team", "network")])],
    ) else {
        panic!("not admitted");
    };
    assert_eq!(workspaces(&checks), vec!["prod", "dev"]);
}

#[tokio::test]
async fn admitted_events_coalesce_into_one_batch_and_serialize_to_the_contract() {
    let store = InMemoryBatchStore::new();
    let routes = one_workspace();
    let mut admissions = Vec::new();
    for (n, name) in [
        "console-authorize-security-group-ingress",
        "cli-put-bucket-versioning",
    ]
    .iter()
    .enumerate()
    {
        let (change, checks, reason) = admitted(&fixture(name), &routes);
        let admission = coalesce(
            &store,
            &format!("exec-{n}"),
            change,
            checks,
            reason,
            1_000 + n as i64,
            300,
        )
        .await
        .expect("in-memory store");
        admissions.push(admission);
    }
    assert_eq!(admissions[0].decision, Decision::Admit);
    assert_eq!(admissions[1].decision, Decision::Coalesce);
    assert!(admissions[1].reason.ends_with(
        "Joined the open batch of execution exec-0 for acme/prod; that execution plans for this change too."
    ));

    let document = serde_json::to_value(&admissions[0]).expect("serializes");
    assert_eq!(document["decision"], "admit");
    assert_eq!(
        document["checks"],
        json!([{"organization": "acme", "workspace": "prod"}])
    );
    assert_eq!(document["change"]["actor"]["type"], "IAMUser");
    assert_eq!(
        document["change"]["resources"],
        json!(["sg-0a1b2c3d4e5f60718"])
    );
    let coalesced = serde_json::to_value(&admissions[1]).expect("serializes");
    assert_eq!(coalesced["decision"], "coalesce");
    assert_eq!(coalesced["joined"][0]["owner_execution_id"], "exec-0");
}

// ---- property tests: admission never panics ----

/// Keys admission reads, so random objects often hit the parser's paths.
const KEYS: &[&str] = &[
    "detail-type",
    "detail",
    "id",
    "account",
    "region",
    "time",
    "eventName",
    "eventSource",
    "eventID",
    "eventTime",
    "awsRegion",
    "recipientAccountId",
    "errorCode",
    "readOnly",
    "managementEvent",
    "userIdentity",
    "type",
    "arn",
    "principalId",
    "userName",
    "invokedBy",
    "sessionContext",
    "sessionIssuer",
    "userAgent",
    "sourceIPAddress",
    "requestParameters",
    "responseElements",
    "resources",
    "ARN",
    "items",
    "instancesSet",
    "resourcesSet",
    "instanceId",
    "groupId",
    "bucketName",
    "tagSpecificationSet",
    "tagSet",
    "tags",
    "key",
    "value",
    "Key",
    "Value",
    "Tagging",
    "TagSet",
    "Tag",
    "sessionCredentialFromConsole",
];

/// Values admission compares against.
const STRINGS: &[&str] = &[
    "AWS API Call via CloudTrail",
    "ec2.amazonaws.com",
    "s3.amazonaws.com",
    "iam.amazonaws.com",
    "AuthorizeSecurityGroupIngress",
    "DescribeInstances",
    "AssumeRole",
    "IAMUser",
    "AssumedRole",
    "Root",
    "AWSService",
    "autoscaling.amazonaws.com",
    "Terraform/1.11.4",
    "true",
    "false",
    "",
    "é✓🙂",
    "arn:aws:sts::1:assumed-role/tfc-x/y",
];

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite numbers only", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_string())),
    ];
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_string),
        "\\PC{0,12}"
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON pointers of every node below the root.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(path.clone());
                pointers(child, path, out);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                let path = format!("{at}/{i}");
                out.push(path.clone());
                pointers(child, path, out);
            }
        }
        _ => {}
    }
}

/// Removes the node at `pointer` (`None`) or replaces it.
fn mutate(event: &mut Value, pointer: &str, replacement: Option<Value>) {
    match replacement {
        Some(value) => {
            if let Some(slot) = event.pointer_mut(pointer) {
                *slot = value;
            }
        }
        None => {
            let Some((parent, last)) = pointer.rsplit_once('/') else {
                return;
            };
            let key = last.replace("~1", "/").replace("~0", "~");
            match event.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(list)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < list.len()
                    {
                        list.remove(i);
                    }
                }
                _ => {}
            }
        }
    }
}

fn assert_well_formed(evaluation: &Evaluation) {
    match evaluation {
        Evaluation::Ignore { reason, .. } => {
            assert!(!reason.trim().is_empty(), "an ignore needs a reason")
        }
        Evaluation::Admit {
            change,
            checks,
            reason,
        } => {
            assert!(!reason.trim().is_empty());
            assert!(!checks.is_empty(), "an admitted change is routed somewhere");
            assert!(change.resources.len() <= MAX_RESOURCES_PER_CHANGE);
            let unique: std::collections::BTreeSet<_> = change.resources.iter().collect();
            assert_eq!(unique.len(), change.resources.len(), "each resource once");
            assert!(!change.event_name.is_empty() && !change.account_id.is_empty());
        }
    }
}

/// Cases per property: `PROPTEST_CASES` when set (a longer fuzzing run), else 512.
/// (`ProptestConfig::with_cases` would ignore the variable.)
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_json_never_panics(event in arbitrary_json()) {
        assert_well_formed(&evaluate(&event, &config(), &filtered_routes()));
        assert_well_formed(&evaluate(&event, &config(), &one_workspace()));
    }

    #[test]
    fn arbitrary_detail_never_panics(detail in arbitrary_json()) {
        let event = json!({"detail-type": "AWS API Call via CloudTrail", "account": ACCOUNT, "region": "eu-west-1", "detail": detail});
        assert_well_formed(&evaluate(&event, &config(), &one_workspace()));
    }

    #[test]
    fn arbitrary_documents_replay_without_panicking(document in arbitrary_json()) {
        // Bare records, lists and log files are wrapped the way EventBridge would.
        if let Ok(input) = replay::events_of(document) {
            prop_assert!(!input.events.is_empty());
            for event in &input.events {
                assert_well_formed(&evaluate(event, &config(), &one_workspace()));
            }
        }
    }

    #[test]
    fn mutated_real_events_never_panic(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(arbitrary_json())), 1..5),
    ) {
        let mut event = fixture(FIXTURES[which]);
        for (index, replacement) in mutations {
            let mut paths = Vec::new();
            pointers(&event, String::new(), &mut paths);
            if paths.is_empty() {
                break;
            }
            mutate(&mut event, &paths[index.index(paths.len())], replacement);
        }
        assert_well_formed(&evaluate(&event, &config(), &one_workspace()));
        assert_well_formed(&evaluate(&event, &config(), &filtered_routes()));
    }
}

#[test]
fn every_fixture_is_evaluated_without_panicking() {
    for name in FIXTURES {
        assert_well_formed(&evaluate(&fixture(name), &config(), &one_workspace()));
    }
}
