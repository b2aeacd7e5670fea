//! Event admission: parse the EventBridge envelope and CloudTrail `detail`
//! tolerantly, filter out what DriftGuard must not check, extract the change
//! and route it to workspaces. Never panics: bad input is an `Ignore` with a
//! reason and an [`IgnoreCategory`].
//!
//! Filters, in order (the first that applies gives the reason):
//! 1. not an "AWS API Call via CloudTrail" event, or no CloudTrail record;
//! 2. failed calls (`errorCode` present and not empty): nothing changed;
//! 3. read-only calls (`readOnly: true`, or a Get/Describe/List/Head name when
//!    `readOnly` is absent) and data events (`managementEvent: false`, an
//!    `eventCategory` other than `Management`, or, in records older than
//!    eventVersion 1.06 that carry neither, an S3 object-level call by name);
//! 4. services not in `monitored_services`;
//! 5. event names on [`IGNORED_EVENT_NAMES`];
//! 6. changes AWS services make on their own: `userIdentity.type` `AWSService`,
//!    or a service on [`SERVICES_ACTING_ON_THEIR_OWN`] named by `invokedBy` or by
//!    the service-linked role that made the call (Auto Scaling launching
//!    instances, load balancers adding interfaces, AWS Backup…). Those follow
//!    configuration Terraform already manages and would flood the checks. Any
//!    other `invokedBy` is a service acting for a person and is checked: the
//!    console (`signin.amazonaws.com`), CloudFormation, Service Catalog…;
//! 7. changes made by Terraform itself, known by principal only
//!    (`ignore_principal_arns`, matched against the caller's ARN and the ARN of
//!    the role that issued its session), so auto-remediation never triggers
//!    itself. A role session counts only when it came through HCP Terraform's
//!    OIDC provider (`terraform_oidc_provider`, in `webIdFederationData`):
//!    the same role assumed another way is a person. An IAM user's static
//!    keys carry no such mark: whoever holds them is Terraform. A Terraform user agent proves nothing (any caller can set it): a
//!    change with one from any other principal is checked, and the reason says so;
//! 8. changes made by DriftGuard's own roles (`own_principal_arns`);
//! 9. no workspace route matches.

mod cloudtrail;
pub mod replay;
mod route;
pub mod tag_route;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cloudtrail::MAX_RESOURCES_PER_CHANGE;

use crate::config::{AdmissionConfig, WorkspaceRoute};
use crate::model::{Change, CheckRef, ResourceTags, TagQuery};
use crate::pattern::PrincipalPattern;
use cloudtrail::{flag, non_empty, str_field};

/// The EventBridge `detail-type` of CloudTrail-recorded API calls.
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";

/// Write calls that never change configuration Terraform manages, and why.
/// Kept short on purpose: anything not listed is checked.
pub const IGNORED_EVENT_NAMES: &[(&str, &str)] = &[
    ("ConsoleLogin", "a console sign-in changes no resource"),
    ("CheckMfa", "a console sign-in step changes no resource"),
    ("SwitchRole", "a console role switch changes no resource"),
    ("ExitRole", "a console role switch changes no resource"),
    ("RenewRole", "a console role switch changes no resource"),
    ("AssumeRole", "issuing role credentials changes no resource"),
    (
        "AssumeRoleWithSAML",
        "issuing role credentials changes no resource",
    ),
    (
        "AssumeRoleWithWebIdentity",
        "issuing role credentials changes no resource",
    ),
    ("AssumeRoot", "issuing root credentials changes no resource"),
    (
        "GetSessionToken",
        "issuing session credentials changes no resource",
    ),
    (
        "GetFederationToken",
        "issuing federation credentials changes no resource",
    ),
    (
        "DecodeAuthorizationMessage",
        "decoding an error message changes no resource",
    ),
    (
        "RebootInstances",
        "a reboot leaves the instance configuration unchanged",
    ),
    (
        "CreateSnapshot",
        "backup snapshots are new objects, not changes to managed resources",
    ),
    (
        "CreateSnapshots",
        "backup snapshots are new objects, not changes to managed resources",
    ),
    (
        "CopySnapshot",
        "snapshot copies are new objects, not changes to managed resources",
    ),
    (
        "GenerateCredentialReport",
        "preparing a report changes no resource",
    ),
    (
        "GenerateServiceLastAccessedDetails",
        "preparing a report changes no resource",
    ),
    (
        "ChangePassword",
        "a user's own console password is not in Terraform configuration",
    ),
];

/// AWS services that change resources on their own, following configuration
/// Terraform already manages (an Auto Scaling group's capacity, a load
/// balancer's subnets, a backup plan). A call they make (`invokedBy`, or their
/// service-linked role) is not a person's change. Every other service named by
/// `invokedBy` acts for a person (CloudFormation, Service Catalog, Systems
/// Manager automation, the console's `signin.amazonaws.com`) and is checked.
pub const SERVICES_ACTING_ON_THEIR_OWN: &[(&str, &str)] = &[
    (
        "autoscaling.amazonaws.com",
        "EC2 Auto Scaling launches and terminates the instances of its groups",
    ),
    (
        "application-autoscaling.amazonaws.com",
        "Application Auto Scaling adjusts capacity within the configured limits",
    ),
    (
        "elasticloadbalancing.amazonaws.com",
        "load balancers manage their own network interfaces",
    ),
    (
        "ecs.amazonaws.com",
        "ECS manages the network interfaces of its tasks",
    ),
    (
        "eks.amazonaws.com",
        "EKS manages the network interfaces and nodes of its clusters",
    ),
    (
        "lambda.amazonaws.com",
        "Lambda manages the network interfaces of functions in a VPC",
    ),
    (
        "rds.amazonaws.com",
        "RDS manages the network interfaces of its instances",
    ),
    (
        "elasticache.amazonaws.com",
        "ElastiCache manages the network interfaces of its clusters",
    ),
    (
        "elasticfilesystem.amazonaws.com",
        "EFS manages the network interfaces of its mount targets",
    ),
    (
        "fsx.amazonaws.com",
        "FSx manages the network interfaces of its file systems",
    ),
    (
        "redshift.amazonaws.com",
        "Redshift manages the network interfaces of its clusters",
    ),
    (
        "es.amazonaws.com",
        "OpenSearch Service manages the network interfaces of its domains",
    ),
    (
        "backup.amazonaws.com",
        "AWS Backup creates and deletes recovery points on its schedule",
    ),
    (
        "dlm.amazonaws.com",
        "Data Lifecycle Manager creates and deletes snapshots on its schedule",
    ),
    (
        "spot.amazonaws.com",
        "EC2 Spot interrupts and replaces instances",
    ),
    (
        "spotfleet.amazonaws.com",
        "Spot Fleet launches and terminates its instances",
    ),
    (
        "ec2fleet.amazonaws.com",
        "EC2 Fleet launches and terminates its instances",
    ),
    (
        "cloudtrail.amazonaws.com",
        "CloudTrail delivers its log files",
    ),
    (
        "config.amazonaws.com",
        "AWS Config records configuration and delivers snapshots",
    ),
    (
        "delivery.logs.amazonaws.com",
        "CloudWatch Logs delivers logs",
    ),
    (
        "s3.amazonaws.com",
        "S3 replication, lifecycle and inventory act on their own",
    ),
    (
        "sso.amazonaws.com",
        "IAM Identity Center provisions its AWSReservedSSO roles",
    ),
    (
        "access-analyzer.amazonaws.com",
        "IAM Access Analyzer only analyses",
    ),
];

/// S3 object-level calls: data events (resource type `AWS::S3::Object`). Used
/// only for records older than eventVersion 1.06, which carry neither
/// `managementEvent` nor `eventCategory`.
const S3_OBJECT_LEVEL_CALLS: &[&str] = &[
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CopyObject",
    "CreateMultipartUpload",
    "DeleteObject",
    "DeleteObjects",
    "DeleteObjectTagging",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "HeadObject",
    "ListMultipartUploadParts",
    "ListParts",
    "PostObject",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "RenameObject",
    "RestoreObject",
    "SelectObjectContent",
    "UploadPart",
    "UploadPartCopy",
    "WriteGetObjectResponse",
];

/// Name prefixes of read-only calls, used only when the record has no `readOnly` flag.
const READ_ONLY_PREFIXES: &[&str] = &["Get", "Describe", "List", "Head"];

/// User-agent fragments of Terraform and its AWS provider, e.g.
/// `APN/1.0 HashiCorp/1.0 Terraform/1.11.0 (+https://www.terraform.io) terraform-provider-aws/5.100.0 …`.
/// Only named in reasons: the caller sets its user agent, so it never decides.
const TERRAFORM_USER_AGENT_MARKS: &[&str] = &["Terraform/", "terraform-provider-aws"];

/// Why an event was not admitted, for counting and for tests; the reason
/// sentence says the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreCategory {
    /// Not an EventBridge event with a CloudTrail record, or a record missing a required field.
    Malformed,
    /// An EventBridge event of another kind (console sign-in, service event, …).
    NotAnApiCall,
    /// The call failed (`errorCode`).
    FailedCall,
    /// A read-only call.
    ReadOnly,
    /// A data event (object or data access).
    DataEvent,
    /// A service outside `monitored_services`.
    ServiceNotMonitored,
    /// An event name on [`IGNORED_EVENT_NAMES`].
    IgnoredEventName,
    /// An AWS service acting on its own.
    AwsService,
    /// Terraform itself (a principal in `ignore_principal_arns`).
    TerraformPrincipal,
    /// One of DriftGuard's own roles.
    OwnPrincipal,
    /// No workspace route takes the change.
    NoRoute,
}

impl IgnoreCategory {
    pub const ALL: &[IgnoreCategory] = &[
        IgnoreCategory::Malformed,
        IgnoreCategory::NotAnApiCall,
        IgnoreCategory::FailedCall,
        IgnoreCategory::ReadOnly,
        IgnoreCategory::DataEvent,
        IgnoreCategory::ServiceNotMonitored,
        IgnoreCategory::IgnoredEventName,
        IgnoreCategory::AwsService,
        IgnoreCategory::TerraformPrincipal,
        IgnoreCategory::OwnPrincipal,
        IgnoreCategory::NoRoute,
    ];

    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreCategory::Malformed => "malformed",
            IgnoreCategory::NotAnApiCall => "not_an_api_call",
            IgnoreCategory::FailedCall => "failed_call",
            IgnoreCategory::ReadOnly => "read_only",
            IgnoreCategory::DataEvent => "data_event",
            IgnoreCategory::ServiceNotMonitored => "service_not_monitored",
            IgnoreCategory::IgnoredEventName => "ignored_event_name",
            IgnoreCategory::AwsService => "aws_service",
            IgnoreCategory::TerraformPrincipal => "terraform_principal",
            IgnoreCategory::OwnPrincipal => "own_principal",
            IgnoreCategory::NoRoute => "no_route",
        }
    }
}

impl std::fmt::Display for IgnoreCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pure part of admission (coalescing comes after, in [`crate::coalesce`]).
// One value per event, moved straight into the admission result: boxing the
// larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    Ignore {
        category: IgnoreCategory,
        reason: String,
    },
    Admit {
        change: Change,
        checks: Vec<CheckRef>,
        reason: String,
    },
}

/// Decides whether an event is a change to check, and for which workspaces.
impl Evaluation {
    /// The admission result when no batch store is involved (the CLI, and every
    /// ignored event): an admitted change owns all its checks.
    pub fn into_admission(self) -> crate::model::Admission {
        use crate::model::{Admission, Decision};
        match self {
            Evaluation::Ignore { reason, .. } => Admission {
                decision: Decision::Ignore,
                reason,
                change: None,
                checks: vec![],
                joined: vec![],
            },
            Evaluation::Admit {
                change,
                checks,
                reason,
            } => Admission {
                decision: Decision::Admit,
                reason,
                change: Some(change),
                checks,
                joined: vec![],
            },
        }
    }

    /// Why the event was ignored; `None` when it was admitted.
    pub fn ignore_category(&self) -> Option<IgnoreCategory> {
        match self {
            Evaluation::Ignore { category, .. } => Some(*category),
            Evaluation::Admit { .. } => None,
        }
    }
}

/// Evaluates `event` knowing nothing of the touched resources' tags beyond
/// what the record shows (a tag filter then cannot exclude it).
pub fn evaluate(event: &Value, config: &AdmissionConfig, routes: &[WorkspaceRoute]) -> Evaluation {
    evaluate_with_tags(event, config, routes, &ResourceTags::Unknown)
}

/// The resources whose current tags would decide a tag filter of the routes
/// `evaluation` admitted the event to; `None` when no such route took it, or
/// the tags cannot be looked up (see [`tag_route::tag_query`]). A lookup can
/// only narrow an admission: an ignored event stays ignored.
pub fn tag_query_for(
    event: &Value,
    routes: &[WorkspaceRoute],
    evaluation: &Evaluation,
) -> Option<TagQuery> {
    let Evaluation::Admit { change, checks, .. } = evaluation else {
        return None;
    };
    let filtered = routes
        .iter()
        .any(|route| !route.tags.is_empty() && checks.contains(&route.check_ref()));
    if !filtered {
        return None;
    }
    tag_route::tag_query(event.get("detail")?, &change.account_id, &change.aws_region)
}

/// Evaluates `event` with the touched resources' current tags.
pub fn evaluate_with_tags(
    event: &Value,
    config: &AdmissionConfig,
    routes: &[WorkspaceRoute],
    current_tags: &ResourceTags,
) -> Evaluation {
    match admit(event, config, routes, current_tags) {
        Ok((change, checks, reason)) => Evaluation::Admit {
            change,
            checks,
            reason,
        },
        Err(Ignored { category, reason }) => Evaluation::Ignore { category, reason },
    }
}

/// Why an event is not admitted.
struct Ignored {
    category: IgnoreCategory,
    reason: String,
}

fn ignore<T>(category: IgnoreCategory, reason: impl Into<String>) -> Result<T, Ignored> {
    Err(Ignored {
        category,
        reason: reason.into(),
    })
}

fn admit(
    event: &Value,
    config: &AdmissionConfig,
    routes: &[WorkspaceRoute],
    current_tags: &ResourceTags,
) -> Result<(Change, Vec<CheckRef>, String), Ignored> {
    use IgnoreCategory::{Malformed, NoRoute, NotAnApiCall, ServiceNotMonitored};
    if !event.is_object() {
        return ignore(
            Malformed,
            format!(
                "The event is not a JSON object (got {}), so it is not an EventBridge event.",
                json_kind(event)
            ),
        );
    }
    match str_field(event, "detail-type") {
        None => {
            return ignore(
                Malformed,
                "The event has no detail-type string, so it is not an EventBridge event DriftGuard understands.",
            );
        }
        Some(CLOUDTRAIL_API_CALL) => {}
        Some(other) => {
            return ignore(
                NotAnApiCall,
                format!(
                    "The event is a '{other}' event, not '{CLOUDTRAIL_API_CALL}'; only API calls recorded by CloudTrail change resources."
                ),
            );
        }
    }
    let Some(detail) = event.get("detail").filter(|d| d.is_object()) else {
        return ignore(
            Malformed,
            "The event has no detail object, so there is no CloudTrail record to read.",
        );
    };
    let Some(event_name) = non_empty(detail, "eventName") else {
        return ignore(
            Malformed,
            "The CloudTrail record has no eventName string, so the call cannot be identified.",
        );
    };
    let Some(event_source) = non_empty(detail, "eventSource") else {
        return ignore(
            Malformed,
            format!(
                "The CloudTrail record of {event_name} has no eventSource string, so its service is unknown."
            ),
        );
    };

    reject_unchanged(detail, event_name)?;

    let service = cloudtrail::service_name(event_source);
    if !config
        .monitored_services
        .iter()
        .any(|s| s.trim().eq_ignore_ascii_case(&service))
    {
        return ignore(
            ServiceNotMonitored,
            format!(
                "Service {service} ({event_source}) is not monitored (monitored: {}).",
                list_or_none(&config.monitored_services)
            ),
        );
    }
    if let Some((_, why)) = IGNORED_EVENT_NAMES
        .iter()
        .find(|(name, _)| *name == event_name)
    {
        return ignore(
            IgnoreCategory::IgnoredEventName,
            format!("{event_name} is on the ignore list: {why}."),
        );
    }

    let user_identity = detail.get("userIdentity").unwrap_or(&Value::Null);
    let Some(actor) = cloudtrail::actor(user_identity) else {
        return ignore(
            Malformed,
            format!(
                "The CloudTrail record of {event_name} has no userIdentity type, so DriftGuard cannot tell who made the change."
            ),
        );
    };
    reject_service_actor(user_identity, &actor.actor_type, event_name)?;
    let terraform_role_note = reject_known_principals(user_identity, config, event_name)?;

    let Some(event_id) = non_empty(detail, "eventID").or_else(|| non_empty(event, "id")) else {
        return ignore(
            Malformed,
            format!("The CloudTrail record of {event_name} has no eventID."),
        );
    };
    let Some(event_time) = non_empty(detail, "eventTime").or_else(|| non_empty(event, "time"))
    else {
        return ignore(
            Malformed,
            format!("The CloudTrail record of {event_name} has no eventTime."),
        );
    };
    let Some(aws_region) = non_empty(detail, "awsRegion").or_else(|| non_empty(event, "region"))
    else {
        return ignore(
            Malformed,
            format!("The event of {event_name} names no region (awsRegion or region)."),
        );
    };
    let Some(account_id) =
        non_empty(detail, "recipientAccountId").or_else(|| non_empty(event, "account"))
    else {
        return ignore(
            Malformed,
            format!("The event of {event_name} names no account (recipientAccountId or account)."),
        );
    };

    let change = Change {
        event_id: event_id.to_string(),
        event_name: event_name.to_string(),
        event_source: event_source.to_string(),
        event_time: event_time.to_string(),
        aws_region: aws_region.to_string(),
        account_id: account_id.to_string(),
        actor,
        source_ip: non_empty(detail, "sourceIPAddress").map(str::to_string),
        user_agent: non_empty(detail, "userAgent").map(str::to_string),
        resources: cloudtrail::resources(detail),
    };

    if routes.is_empty() {
        return ignore(
            NoRoute,
            "No workspace is configured, so there is nothing to check.",
        );
    }
    let tags = cloudtrail::tags(detail);
    let tag_change = tag_route::tag_change(detail, event_name);
    let key = route::RouteKey {
        account_id,
        region: aws_region,
        service: &service,
        tags: &tags,
        tag_change: &tag_change,
        current_tags,
    };
    let checks = route::matching_checks(routes, &key);
    if checks.is_empty() {
        let shown = if tags.is_empty() {
            "none".to_string()
        } else {
            tags.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let current = match current_tags {
            ResourceTags::Unknown => String::new(),
            ResourceTags::Known(sets) => {
                let pairs: BTreeSet<String> = sets
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let pairs: Vec<String> = pairs.into_iter().collect();
                format!(
                    "; the resource's current tags: {}",
                    if pairs.is_empty() {
                        "none".to_string()
                    } else {
                        pairs.join(", ")
                    }
                )
            }
        };
        return ignore(
            NoRoute,
            format!(
                "No workspace route matches account {account_id}, region {aws_region}, service {service} (tags shown: {shown}{current})."
            ),
        );
    }

    let reason = admit_reason(
        detail,
        user_identity,
        &service,
        &change,
        &checks,
        terraform_role_note.as_deref(),
    );
    Ok((change, checks, reason))
}

/// Failed, read-only and data-plane calls change no configuration.
fn reject_unchanged(detail: &Value, event_name: &str) -> Result<(), Ignored> {
    // CloudTrail writes no errorCode for a successful call, and some services an empty one.
    let error_code = match detail.get("errorCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) if code.trim().is_empty() => None,
        Some(Value::String(code)) => Some(code.clone()),
        Some(other) => Some(other.to_string()),
    };
    if let Some(code) = error_code {
        return ignore(
            IgnoreCategory::FailedCall,
            format!("{event_name} failed with {code}, so nothing changed."),
        );
    }
    match flag(detail, "readOnly") {
        Some(true) => {
            return ignore(
                IgnoreCategory::ReadOnly,
                format!("{event_name} is a read-only call (readOnly: true) and changes nothing."),
            );
        }
        Some(false) => {}
        None => {
            if READ_ONLY_PREFIXES
                .iter()
                .any(|prefix| event_name.starts_with(prefix))
            {
                return ignore(
                    IgnoreCategory::ReadOnly,
                    format!(
                        "{event_name} is a read-only call by its name (Get/Describe/List/Head) and changes nothing."
                    ),
                );
            }
        }
    }
    let category = cloudtrail::event_category(detail);
    let management = flag(detail, "managementEvent");
    let data_plane = category.is_some_and(|c| !c.eq_ignore_ascii_case("Management"));
    if management == Some(false) || data_plane {
        let shown = category.map_or_else(String::new, |c| format!(" (eventCategory {c})"));
        return ignore(
            IgnoreCategory::DataEvent,
            format!(
                "{event_name} is a data event{shown}: object and data access do not change resource configuration."
            ),
        );
    }
    let is_s3 = non_empty(detail, "eventSource")
        .is_some_and(|source| cloudtrail::service_name(source) == "s3");
    if management.is_none()
        && category.is_none()
        && is_s3
        && S3_OBJECT_LEVEL_CALLS.contains(&event_name)
    {
        return ignore(
            IgnoreCategory::DataEvent,
            format!(
                "{event_name} is an S3 object-level call, a data event (the record is older than eventVersion 1.06 and has no managementEvent flag): object access does not change resource configuration."
            ),
        );
    }
    Ok(())
}

/// The entry of a service on [`SERVICES_ACTING_ON_THEIR_OWN`].
fn acting_on_its_own(service: &str) -> Option<&'static str> {
    SERVICES_ACTING_ON_THEIR_OWN
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(service))
        .map(|(_, why)| *why)
}

fn reject_service_actor(
    user_identity: &Value,
    actor_type: &str,
    event_name: &str,
) -> Result<(), Ignored> {
    let invoked_by = cloudtrail::invoked_by(user_identity);
    if actor_type == "AWSService" {
        let service = invoked_by.unwrap_or("an AWS service");
        return ignore(
            IgnoreCategory::AwsService,
            format!(
                "{event_name} was made by {service} itself (userIdentity type AWSService); changes AWS services make on their own follow configuration Terraform already manages."
            ),
        );
    }
    if let Some(service) = invoked_by
        && let Some(why) = acting_on_its_own(service)
    {
        return ignore(
            IgnoreCategory::AwsService,
            format!(
                "{event_name} was made by {service} (invokedBy) on its own: {why}, following configuration Terraform already manages."
            ),
        );
    }
    if let Some(service) = cloudtrail::service_linked_role_service(user_identity)
        && let Some(why) = acting_on_its_own(service)
    {
        return ignore(
            IgnoreCategory::AwsService,
            format!(
                "{event_name} was made by {service} through its service-linked role: {why}, following configuration Terraform already manages."
            ),
        );
    }
    Ok(())
}

/// Terraform's and DriftGuard's own principals. A session of a Terraform
/// role that did not come through the configured OIDC provider is not
/// ignored: the answer is then a sentence for the admit reason.
fn reject_known_principals(
    user_identity: &Value,
    config: &AdmissionConfig,
    event_name: &str,
) -> Result<Option<String>, Ignored> {
    let principals = principals(user_identity);
    let mut terraform_role_note = None;
    if let Some((arn, pattern)) = first_match(&principals, &config.ignore_principal_arns) {
        if let Some(provider) = session_outside_oidc_provider(user_identity, config) {
            terraform_role_note = Some(format!(
                "a session of HCP Terraform's role '{pattern}' that did not come through the OIDC provider {provider} (webIdFederationData), so someone assumed the role another way"
            ));
        } else {
            return ignore(
                IgnoreCategory::TerraformPrincipal,
                format!(
                    "{event_name} was made by {arn}, which matches the Terraform principal pattern '{pattern}'; Terraform's own changes are not drift."
                ),
            );
        }
    }
    if let Some((arn, pattern)) = first_match(&principals, &config.own_principal_arns) {
        return ignore(
            IgnoreCategory::OwnPrincipal,
            format!(
                "{event_name} was made by {arn}, which matches DriftGuard's own role pattern '{pattern}'."
            ),
        );
    }
    Ok(terraform_role_note)
}

/// With `terraform_oidc_provider` set, the provider a role session (type
/// `AssumedRole`) should have come through but did not. IAM users (static
/// keys) carry no such mark, so they are never second-guessed.
fn session_outside_oidc_provider<'a>(
    user_identity: &Value,
    config: &'a AdmissionConfig,
) -> Option<&'a str> {
    let provider = config.terraform_oidc_provider.trim();
    if provider.is_empty() || str_field(user_identity, "type") != Some("AssumedRole") {
        return None;
    }
    let came_through = cloudtrail::web_identity_provider(user_identity).is_some_and(|used| {
        // The ARN form `arn:…:oidc-provider/app.terraform.io`, or the bare host.
        let host = used
            .split_once(":oidc-provider/")
            .map_or(used, |(_, host)| host);
        host.eq_ignore_ascii_case(provider)
    });
    (!came_through).then_some(provider)
}

/// The ARNs a principal pattern may target: the caller (for an assumed role,
/// the session) and the role or user that issued its session.
fn principals(user_identity: &Value) -> Vec<&str> {
    [
        non_empty(user_identity, "arn"),
        cloudtrail::session_issuer_arn(user_identity),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The first principal matching one of the patterns, with that pattern.
fn first_match<'a>(
    principals: &[&'a str],
    patterns: &'a [PrincipalPattern],
) -> Option<(&'a str, &'a str)> {
    patterns.iter().find_map(|pattern| {
        principals
            .iter()
            .find(|arn| pattern.matches(arn))
            .map(|arn| (*arn, pattern.as_str()))
    })
}

fn admit_reason(
    detail: &Value,
    user_identity: &Value,
    service: &str,
    change: &Change,
    checks: &[CheckRef],
    terraform_role_note: Option<&str>,
) -> String {
    let who = cloudtrail::display_name(user_identity);
    let console = if cloudtrail::via_console(detail) {
        " in the console"
    } else {
        ""
    };
    let through = match cloudtrail::invoked_by(user_identity) {
        Some(service) if service != cloudtrail::SIGN_IN_SERVICE && !service.contains(' ') => {
            format!(" through {service}")
        }
        _ => String::new(),
    };
    let on = match change.resources.as_slice() {
        [] => String::new(),
        [one] => format!(" on {one}"),
        [first, rest @ ..] => format!(" on {first} and {} more", rest.len()),
    };
    let workspaces = checks
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let made_with_terraform = non_empty(detail, "userAgent").is_some_and(|agent| {
        TERRAFORM_USER_AGENT_MARKS
            .iter()
            .any(|mark| agent.contains(mark))
    });
    let tail = if let Some(note) = terraform_role_note {
        let principal = change.actor.arn.as_deref().unwrap_or(who.as_str());
        format!(". It was made by {principal}, {note}; checking {workspaces}.")
    } else if made_with_terraform {
        let principal = change.actor.arn.as_deref().unwrap_or(who.as_str());
        format!(
            ". It was made with Terraform by {principal}, which is not HCP Terraform's principal (ignore_principal_arns): checking {workspaces}."
        )
    } else {
        format!("; checking {workspaces}.")
    };
    format!(
        "{} changed {service} {}{on} in {}{console}{through} (account {}){tail}",
        capitalize(&who),
        change.event_name,
        change.aws_region,
        change.account_id
    )
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IgnoreRules;
    use serde_json::json;

    fn routes() -> Vec<WorkspaceRoute> {
        vec![WorkspaceRoute {
            organization: "acme".into(),
            workspace: "prod".into(),
            accounts: vec![],
            regions: vec![],
            services: vec![],
            tags: Default::default(),
            ignore: IgnoreRules::default(),
            slack: Default::default(),
        }]
    }

    /// A console user's security-group change, the baseline every test mutates.
    fn event() -> Value {
        json!({
            "version": "0",
            "id": "6f7c1a2e-0000-4000-8000-000000000001",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": "111122223333",
            "time": "2025-05-06T09:12:44Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.10",
                "userIdentity": {
                    "type": "IAMUser",
                    "principalId": "AIDAEXAMPLEALICE",
                    "arn": "arn:aws:iam::111122223333:user/alice",
                    "accountId": "111122223333",
                    "userName": "alice"
                },
                "eventTime": "2025-05-06T09:12:44Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress",
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "AWS Internal",
                "requestParameters": {"groupId": "sg-0a1b2c3d4e5f60718"},
                "eventID": "b1d7e1f0-0000-4000-8000-0000000000aa",
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": "111122223333",
                "sessionCredentialFromConsole": "true"
            }
        })
    }

    fn with(mut event: Value, pointer: &str, value: Value) -> Value {
        if let Some(slot) = event.pointer_mut(pointer) {
            *slot = value;
        } else if let Some((parent, key)) = pointer.rsplit_once('/')
            && let Some(Value::Object(map)) = event.pointer_mut(parent)
        {
            map.insert(key.to_string(), value);
        }
        event
    }

    fn reason_of(event: &Value, config: &AdmissionConfig) -> String {
        match evaluate(event, config, &routes()) {
            Evaluation::Ignore { reason, .. } => reason,
            Evaluation::Admit { reason, .. } => panic!("expected Ignore, admitted: {reason}"),
        }
    }

    #[test]
    fn admits_a_console_change_with_a_readable_reason() {
        let Evaluation::Admit {
            change,
            checks,
            reason,
        } = evaluate(&event(), &AdmissionConfig::default(), &routes())
        else {
            panic!("expected Admit");
        };
        assert_eq!(change.resources, vec!["sg-0a1b2c3d4e5f60718"]);
        assert_eq!(checks[0].to_string(), "acme/prod");
        assert_eq!(
            reason,
            "IAMUser alice changed ec2 AuthorizeSecurityGroupIngress on sg-0a1b2c3d4e5f60718 in eu-west-1 in the console (account 111122223333); checking acme/prod."
        );
    }

    #[test]
    fn each_filter_names_its_cause() {
        let config = AdmissionConfig::default();
        let cases = [
            (
                with(
                    event(),
                    "/detail/errorCode",
                    json!("Client.UnauthorizedOperation"),
                ),
                "failed with Client.UnauthorizedOperation",
            ),
            (
                with(event(), "/detail/readOnly", json!(true)),
                "read-only call (readOnly: true)",
            ),
            (
                with(
                    with(event(), "/detail/readOnly", Value::Null),
                    "/detail/eventName",
                    json!("DescribeInstances"),
                ),
                "read-only call by its name",
            ),
            (
                with(event(), "/detail/managementEvent", json!(false)),
                "data event",
            ),
            (
                with(
                    event(),
                    "/detail/eventSource",
                    json!("lambda.amazonaws.com"),
                ),
                "Service lambda (lambda.amazonaws.com) is not monitored",
            ),
            (
                with(event(), "/detail/eventName", json!("RebootInstances")),
                "ignore list",
            ),
            (
                with(event(), "/detail/userIdentity/type", json!("AWSService")),
                "userIdentity type AWSService",
            ),
            (
                with(
                    event(),
                    "/detail/userIdentity/invokedBy",
                    json!("autoscaling.amazonaws.com"),
                ),
                "autoscaling.amazonaws.com (invokedBy)",
            ),
            (
                with(event(), "/detail/eventCategory", json!("Data")),
                "data event (eventCategory Data)",
            ),
            (
                with(
                    event(),
                    "/detail-type",
                    json!("EC2 Instance State-change Notification"),
                ),
                "not 'AWS API Call via CloudTrail'",
            ),
            (with(event(), "/detail", json!("oops")), "no detail object"),
            (
                with(event(), "/detail/userIdentity", json!([])),
                "no userIdentity type",
            ),
            (
                with(
                    with(event(), "/detail/recipientAccountId", json!(5)),
                    "/account",
                    Value::Null,
                ),
                "names no account",
            ),
            (json!([1, 2]), "not a JSON object (got an array)"),
        ];
        for (event, expected) in cases {
            let reason = reason_of(&event, &config);
            assert!(
                reason.contains(expected),
                "expected '{expected}' in '{reason}'"
            );
        }
    }

    #[test]
    fn cloudformation_acting_for_a_person_is_still_checked() {
        let event = with(
            event(),
            "/detail/userIdentity/invokedBy",
            json!("cloudformation.amazonaws.com"),
        );
        assert!(matches!(
            evaluate(&event, &AdmissionConfig::default(), &routes()),
            Evaluation::Admit { .. }
        ));
    }

    #[test]
    fn principal_patterns_match_session_or_issuer_arns() {
        let tfc_session = with(
            event(),
            "/detail/userIdentity",
            json!({
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:terraform-run-abc",
                "arn": "arn:aws:sts::111122223333:assumed-role/tfc-acme-prod/terraform-run-abc",
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/tfc-acme-prod"},
                    "webIdFederationData": {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/app.terraform.io"}
                }
            }),
        );
        let config = AdmissionConfig {
            ignore_principal_arns: vec!["arn:aws:sts::*:assumed-role/tfc-*/*".into()],
            ..AdmissionConfig::default()
        };
        assert!(reason_of(&tfc_session, &config).contains("Terraform principal pattern"));

        let config = AdmissionConfig {
            own_principal_arns: vec!["arn:aws:iam::*:role/tfc-acme-*".into()],
            ..AdmissionConfig::default()
        };
        assert!(reason_of(&tfc_session, &config).contains("DriftGuard's own role pattern"));

        // An invalid glob matches only its exact text.
        let config = AdmissionConfig {
            ignore_principal_arns: vec!["arn:aws:iam::111122223333:user/[alice".into()],
            ..AdmissionConfig::default()
        };
        assert!(matches!(
            evaluate(&event(), &config, &routes()),
            Evaluation::Admit { .. }
        ));
    }

    /// Before eventVersion 1.06 a record had neither `managementEvent` nor
    /// `eventCategory`: an S3 object-level call is then known by its name.
    #[test]
    fn old_s3_object_calls_without_category_flags_are_data_events() {
        let old_s3 = |name: &str| {
            let mut event = with(
                with(event(), "/detail/eventSource", json!("s3.amazonaws.com")),
                "/detail/eventName",
                json!(name),
            );
            event["detail"]["eventVersion"] = json!("1.05");
            if let Some(detail) = event["detail"].as_object_mut() {
                detail.remove("managementEvent");
                detail.remove("eventCategory");
            }
            event
        };
        for name in [
            "PutObject",
            "GetObject",
            "DeleteObject",
            "DeleteObjects",
            "CopyObject",
            "UploadPart",
            "CompleteMultipartUpload",
            "PutObjectAcl",
            "RestoreObject",
        ] {
            let Evaluation::Ignore { category, reason } =
                evaluate(&old_s3(name), &AdmissionConfig::default(), &routes())
            else {
                panic!("{name} was admitted");
            };
            assert_eq!(category, IgnoreCategory::DataEvent, "{name}: {reason}");
            assert!(reason.contains("object-level"), "{name}: {reason}");
        }
        // Bucket configuration calls of the same era are still checked.
        assert!(matches!(
            evaluate(
                &old_s3("PutBucketAcl"),
                &AdmissionConfig::default(),
                &routes()
            ),
            Evaluation::Admit { .. }
        ));
        // A record that says it is a management event is believed.
        assert!(matches!(
            evaluate(
                &with(old_s3("PutObject"), "/detail/managementEvent", json!(true)),
                &AdmissionConfig::default(),
                &routes()
            ),
            Evaluation::Admit { .. }
        ));
    }

    /// `*` in a principal pattern stops at `/`: a role whose path or name
    /// merely starts like DriftGuard's is a stranger.
    #[test]
    fn principal_pattern_stars_never_cross_a_slash() {
        let session_of = |role_arn: &str, session_arn: &str| {
            with(
                event(),
                "/detail/userIdentity",
                json!({
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLE:s",
                    "arn": session_arn,
                    "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn}}
                }),
            )
        };
        let config = AdmissionConfig {
            own_principal_arns: vec![
                "arn:aws:iam::111122223333:role/driftguard-dev-*".into(),
                "arn:aws:sts::111122223333:assumed-role/driftguard-dev-*".into(),
            ],
            ..AdmissionConfig::default()
        };
        let under_a_lookalike_path = session_of(
            "arn:aws:iam::111122223333:role/driftguard-dev-x/backdoor",
            "arn:aws:sts::111122223333:assumed-role/backdoor/s",
        );
        assert!(
            matches!(
                evaluate(&under_a_lookalike_path, &config, &routes()),
                Evaluation::Admit { .. }
            ),
            "{}",
            reason_of(&under_a_lookalike_path, &config)
        );
        let own = session_of(
            "arn:aws:iam::111122223333:role/driftguard-dev-states",
            "arn:aws:sts::111122223333:assumed-role/driftguard-dev-states/s",
        );
        assert!(reason_of(&own, &config).contains("DriftGuard's own role pattern"));
    }

    /// A session of HCP Terraform's dynamic-credentials role is Terraform's
    /// only when it came through the HCP Terraform OIDC provider; the same
    /// role assumed through another trust (an admin's AssumeRole) is a person.
    #[test]
    fn terraforms_role_is_terraform_only_through_its_oidc_provider() {
        let session = |web_identity: Value| {
            with(
                event(),
                "/detail/userIdentity",
                json!({
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLE:s",
                    "arn": "arn:aws:sts::111122223333:assumed-role/tfc-prod/s",
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/tfc-prod"},
                        "webIdFederationData": web_identity,
                        "attributes": {"mfaAuthenticated": "false"}
                    }
                }),
            )
        };
        let config = AdmissionConfig {
            ignore_principal_arns: vec!["arn:aws:iam::111122223333:role/tfc-prod".into()],
            ..AdmissionConfig::default()
        };
        let through_hcp_terraform = session(json!({
            "federatedProvider": "arn:aws:iam::111122223333:oidc-provider/app.terraform.io",
            "attributes": {}
        }));
        assert!(reason_of(&through_hcp_terraform, &config).contains("Terraform principal pattern"));
        for not_through_it in [
            session(json!({})),
            session(
                json!({"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            ),
            session(
                json!({"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/app.terraform.io.evil.example"}),
            ),
            session(Value::Null),
        ] {
            let Evaluation::Admit { reason, .. } = evaluate(&not_through_it, &config, &routes())
            else {
                panic!(
                    "a session not made through app.terraform.io must be checked: {}",
                    reason_of(&not_through_it, &config)
                );
            };
            assert!(
                reason.contains("did not come through the OIDC provider app.terraform.io"),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_write_name_without_read_only_flag_is_admitted() {
        let event = with(event(), "/detail/readOnly", Value::Null);
        assert!(matches!(
            evaluate(&event, &AdmissionConfig::default(), &routes()),
            Evaluation::Admit { .. }
        ));
    }

    #[test]
    fn envelope_fields_fill_in_for_missing_record_fields() {
        let event = with(
            with(event(), "/detail/recipientAccountId", Value::Null),
            "/detail/awsRegion",
            json!(1),
        );
        let Evaluation::Admit { change, .. } =
            evaluate(&event, &AdmissionConfig::default(), &routes())
        else {
            panic!("expected Admit");
        };
        assert_eq!(change.account_id, "111122223333");
        assert_eq!(change.aws_region, "eu-west-1");
    }

    #[test]
    fn no_route_names_account_region_and_service() {
        let reason = match evaluate(&event(), &AdmissionConfig::default(), &[]) {
            Evaluation::Ignore { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason.contains("No workspace is configured"), "{reason}");

        let mut routes = routes();
        routes[0].regions = vec!["us-west-2".into()];
        let reason = match evaluate(&event(), &AdmissionConfig::default(), &routes) {
            Evaluation::Ignore { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason,
            "No workspace route matches account 111122223333, region eu-west-1, service ec2 (tags shown: none)."
        );
    }

    fn category_of(event: &Value, config: &AdmissionConfig) -> IgnoreCategory {
        evaluate(event, config, &routes())
            .ignore_category()
            .expect("expected Ignore")
    }

    fn admitted_reason(event: &Value, config: &AdmissionConfig) -> String {
        match evaluate(event, config, &routes()) {
            Evaluation::Admit { reason, .. } => reason,
            Evaluation::Ignore { reason, .. } => panic!("expected Admit, ignored: {reason}"),
        }
    }

    #[test]
    fn an_empty_or_null_error_code_is_a_success() {
        let config = AdmissionConfig::default();
        for code in [json!(""), json!("  "), Value::Null] {
            let event = with(event(), "/detail/errorCode", code);
            admitted_reason(&event, &config);
        }
        let failed = with(event(), "/detail/errorCode", json!("AccessDenied"));
        assert_eq!(category_of(&failed, &config), IgnoreCategory::FailedCall);
    }

    #[test]
    fn each_filter_has_its_category() {
        let config = AdmissionConfig {
            ignore_principal_arns: vec!["arn:aws:iam::111122223333:user/terraform".into()],
            own_principal_arns: vec!["arn:aws:iam::*:role/driftguard-*".into()],
            ..AdmissionConfig::default()
        };
        let cases = [
            (json!(3), IgnoreCategory::Malformed),
            (
                with(event(), "/detail/eventName", json!("")),
                IgnoreCategory::Malformed,
            ),
            (
                with(
                    event(),
                    "/detail-type",
                    json!("AWS Service Event via CloudTrail"),
                ),
                IgnoreCategory::NotAnApiCall,
            ),
            (
                with(event(), "/detail/errorCode", json!("AccessDenied")),
                IgnoreCategory::FailedCall,
            ),
            (
                with(event(), "/detail/readOnly", json!(true)),
                IgnoreCategory::ReadOnly,
            ),
            (
                with(event(), "/detail/managementEvent", json!(false)),
                IgnoreCategory::DataEvent,
            ),
            (
                with(event(), "/detail/eventCategory", json!("NetworkActivity")),
                IgnoreCategory::DataEvent,
            ),
            (
                with(event(), "/detail/eventSource", json!("kms.amazonaws.com")),
                IgnoreCategory::ServiceNotMonitored,
            ),
            (
                with(event(), "/detail/eventName", json!("RebootInstances")),
                IgnoreCategory::IgnoredEventName,
            ),
            (
                with(event(), "/detail/userIdentity/type", json!("AWSService")),
                IgnoreCategory::AwsService,
            ),
            (
                with(
                    event(),
                    "/detail/userIdentity/arn",
                    json!("arn:aws:iam::111122223333:user/terraform"),
                ),
                IgnoreCategory::TerraformPrincipal,
            ),
            (
                with(
                    event(),
                    "/detail/userIdentity/arn",
                    json!("arn:aws:iam::111122223333:role/driftguard-prod-admit"),
                ),
                IgnoreCategory::OwnPrincipal,
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(category_of(&event, &config), expected, "{event}");
        }
        let Evaluation::Ignore { category, .. } = evaluate(&event(), &config, &[]) else {
            panic!("no routes");
        };
        assert_eq!(category, IgnoreCategory::NoRoute);
        for category in IgnoreCategory::ALL {
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                json!(category.as_str())
            );
        }
    }

    #[test]
    fn services_acting_for_a_person_are_checked_and_named() {
        let config = AdmissionConfig::default();
        let through = |service: &str| {
            with(
                with(event(), "/detail/userIdentity/invokedBy", json!(service)),
                "/detail/sessionCredentialFromConsole",
                Value::Null,
            )
        };
        let reason = admitted_reason(&through("cloudformation.amazonaws.com"), &config);
        assert!(
            reason.contains("in eu-west-1 through cloudformation.amazonaws.com (account"),
            "{reason}"
        );
        let reason = admitted_reason(&through("ssm.amazonaws.com"), &config);
        assert!(reason.contains("through ssm.amazonaws.com"), "{reason}");
        // The console signs people in: its calls are the person's, and say so.
        let reason = admitted_reason(&through(cloudtrail::SIGN_IN_SERVICE), &config);
        assert!(
            reason.contains("in eu-west-1 in the console (account"),
            "{reason}"
        );
        assert!(!reason.contains("through"), "{reason}");
        // "AWS Internal" is how CloudTrail writes some console calls.
        admitted_reason(&through("AWS Internal"), &config);
        assert_eq!(
            category_of(&through("autoscaling.amazonaws.com"), &config),
            IgnoreCategory::AwsService
        );
    }

    #[test]
    fn a_service_linked_role_of_a_listed_service_is_that_service() {
        let config = AdmissionConfig::default();
        let role = |service: &str| {
            with(
                event(),
                "/detail/userIdentity",
                json!({
                    "type": "AssumedRole",
                    "arn": format!("arn:aws:sts::111122223333:assumed-role/AWSServiceRoleFor{service}/session"),
                    "sessionContext": {"sessionIssuer": {"type": "Role",
                        "arn": format!("arn:aws:iam::111122223333:role/aws-service-role/{service}/AWSServiceRoleForX")}}
                }),
            )
        };
        let reason = reason_of(&role("autoscaling.amazonaws.com"), &config);
        assert!(
            reason.contains("made by autoscaling.amazonaws.com through its service-linked role"),
            "{reason}"
        );
        admitted_reason(&role("cloudformation.amazonaws.com"), &config);
    }

    #[test]
    fn a_terraform_user_agent_never_hides_a_change() {
        let event = with(
            event(),
            "/detail/userAgent",
            json!(
                "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0"
            ),
        );
        let reason = admitted_reason(&event, &AdmissionConfig::default());
        assert!(
            reason.ends_with(
                "(account 111122223333). It was made with Terraform by arn:aws:iam::111122223333:user/alice, which is not HCP Terraform's principal (ignore_principal_arns): checking acme/prod."
            ),
            "{reason}"
        );
        // The configured principal, matched on the role that issued the session, decides.
        let tfc = with(
            event,
            "/detail/userIdentity",
            json!({
                "type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/tfc-prod/terraform-run-1",
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/tfc-prod"},
                    "webIdFederationData": {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/app.terraform.io"}
                }
            }),
        );
        let config = AdmissionConfig {
            ignore_principal_arns: vec!["arn:aws:iam::111122223333:role/tfc-prod".into()],
            ..AdmissionConfig::default()
        };
        assert_eq!(
            category_of(&tfc, &config),
            IgnoreCategory::TerraformPrincipal
        );
    }
}
