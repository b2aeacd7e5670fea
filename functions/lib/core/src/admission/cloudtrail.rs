//! Tolerant reading of a CloudTrail record (the `detail` of an "AWS API Call
//! via CloudTrail" event): every accessor returns `None` for missing or
//! wrong-typed fields instead of failing, so callers decide what is required.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Actor;

/// Most resource ids or ARNs kept per change (the state document stays small).
pub const MAX_RESOURCES_PER_CHANGE: usize = 20;

/// Keys whose value names the resource a call touched, most specific first: a
/// response object naming an instance also names its subnet and VPC, and only
/// the instance changed. Newer EC2 APIs write them capitalised
/// (`FlowLogId`); [`id_values`] reads both spellings.
const ID_KEYS: &[&str] = &[
    // EC2
    "instanceId",
    "networkInterfaceId",
    "volumeId",
    "snapshotId",
    "imageId",
    "keyName",
    "allocationId",
    "associationId",
    "natGatewayId",
    "internetGatewayId",
    "egressOnlyInternetGatewayId",
    "routeTableId",
    "networkAclId",
    "launchTemplateId",
    "flowLogId",
    "trafficMirrorTargetId",
    "trafficMirrorFilterId",
    "trafficMirrorSessionId",
    "vpcEndpointId",
    "vpcPeeringConnectionId",
    "transitGatewayAttachmentId",
    "transitGatewayId",
    "customerGatewayId",
    "vpnConnectionId",
    "vpnGatewayId",
    "dhcpOptionsId",
    "prefixListId",
    "groupId",
    "subnetId",
    "vpcId",
    "resourceId",
    // S3
    "bucketName",
    // IAM
    "userName",
    "roleName",
    "instanceProfileName",
    "policyArn",
    "openIDConnectProviderArn",
    "sAMLProviderArn",
    "serverCertificateName",
    // Last: a user's key is named with its user; the root user's keys have no user.
    "accessKeyId",
];

/// Request containers listing several resources (`{"items": [{...}]}`).
const REQUEST_ID_LISTS: &[&str] = &["instancesSet", "resourcesSet"];

/// Keys read in the items of [`REQUEST_ID_LISTS`]: RunInstances items also name
/// the image and key pair the new instance uses, which it does not change.
const REQUEST_LIST_ID_KEYS: &[&str] = &["instanceId", "resourceId"];

/// A string field of a JSON object.
pub fn str_field<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key)?.as_str()
}

/// A non-empty string field of a JSON object.
pub fn non_empty<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    str_field(object, key).filter(|s| !s.trim().is_empty())
}

/// A boolean that CloudTrail writes either as `true` or as `"true"`.
pub fn flag(object: &Value, key: &str) -> Option<bool> {
    match object.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Service short name from an event source: `ec2.amazonaws.com` → `ec2`.
pub fn service_name(event_source: &str) -> String {
    event_source
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Who made the call, from `userIdentity`.
pub fn actor(user_identity: &Value) -> Option<Actor> {
    let actor_type = non_empty(user_identity, "type")?;
    Some(Actor {
        actor_type: actor_type.to_string(),
        // For AssumedRole this is the session ARN (`arn:aws:sts::…:assumed-role/Role/session`).
        arn: non_empty(user_identity, "arn").map(str::to_string),
        principal_id: non_empty(user_identity, "principalId").map(str::to_string),
    })
}

/// The role (or user) that issued a temporary session, if any.
pub fn session_issuer_arn(user_identity: &Value) -> Option<&str> {
    let issuer = user_identity.get("sessionContext")?.get("sessionIssuer")?;
    non_empty(issuer, "arn")
}

/// The OIDC provider a web-identity session came through
/// (`sessionContext.webIdFederationData.federatedProvider`), e.g.
/// `arn:aws:iam::111122223333:oidc-provider/app.terraform.io`.
pub fn web_identity_provider(user_identity: &Value) -> Option<&str> {
    let federation = user_identity
        .get("sessionContext")?
        .get("webIdFederationData")?;
    non_empty(federation, "federatedProvider")
}

/// A short name for people: `alice`, `Admin/alice`, `the root user`.
pub fn display_name(user_identity: &Value) -> String {
    let actor_type = str_field(user_identity, "type").unwrap_or("Unknown");
    let arn = str_field(user_identity, "arn").unwrap_or_default();
    let after = |marker: &str| arn.split_once(marker).map(|(_, rest)| rest.to_string());
    let name = match actor_type {
        "Root" => return "the root user".to_string(),
        "IAMUser" => non_empty(user_identity, "userName")
            .map(str::to_string)
            .or_else(|| after(":user/")),
        "AssumedRole" => after(":assumed-role/"),
        "FederatedUser" => after(":federated-user/"),
        _ => non_empty(user_identity, "userName").map(str::to_string),
    };
    let name = name
        .filter(|n| !n.is_empty())
        .or_else(|| non_empty(user_identity, "principalId").map(str::to_string))
        .unwrap_or_else(|| "(unnamed)".to_string());
    format!("{actor_type} {name}")
}

/// The service a call was made through, if any (`invokedBy`).
pub fn invoked_by(user_identity: &Value) -> Option<&str> {
    non_empty(user_identity, "invokedBy")
}

/// The service whose service-linked role made the call, e.g. `autoscaling.amazonaws.com`
/// for `arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`.
pub fn service_linked_role_service(user_identity: &Value) -> Option<&str> {
    let arn = session_issuer_arn(user_identity).or_else(|| non_empty(user_identity, "arn"))?;
    let (_, rest) = arn.split_once(":role/aws-service-role/")?;
    rest.split('/').next().filter(|s| !s.is_empty())
}

/// `eventCategory` (`Management`, `Data`, `NetworkActivity`, `Insight`), when written.
pub fn event_category(detail: &Value) -> Option<&str> {
    non_empty(detail, "eventCategory")
}

/// Whether the call came from the AWS Management Console: the console's
/// session credentials, the sign-in service acting for the person, or a
/// console user agent.
pub fn via_console(detail: &Value) -> bool {
    if flag(detail, "sessionCredentialFromConsole") == Some(true) {
        return true;
    }
    let user_identity = detail.get("userIdentity").unwrap_or(&Value::Null);
    if invoked_by(user_identity) == Some(SIGN_IN_SERVICE) {
        return true;
    }
    let agent = str_field(detail, "userAgent").unwrap_or_default();
    agent.starts_with("console.")
        || agent == SIGN_IN_SERVICE
        || agent.starts_with("[S3Console/")
        || agent.contains("console.amazonaws.com")
        // Older console front ends.
        || agent == "AWSConsole"
        || agent.starts_with("EC2ConsoleBackend")
}

/// The service that signs people in to the console; as `invokedBy` it marks a
/// person's console call, not a service acting on its own.
pub const SIGN_IN_SERVICE: &str = "signin.amazonaws.com";

/// Resource ids and ARNs the call touched, in order of appearance, each once
/// (an ARN is dropped when the plain id it ends with is already named),
/// capped at [`MAX_RESOURCES_PER_CHANGE`].
///
/// Only top-level request keys and the listed containers are read, not the whole
/// tree: nested ids (such as the group an ingress rule refers to) are not changed.
/// Newer EC2 APIs wrap their parameters (`{"DeleteFlowLogsRequest": {"FlowLogId":
/// {"content": "fl-1", "tag": 1}}}`); the wrapper is read like a plain request.
pub fn resources(detail: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let iam = str_field(detail, "eventSource").is_some_and(|s| s.starts_with("iam."));

    if let Some(request) = detail.get("requestParameters").map(unwrap_action) {
        // Every id the caller named, e.g. both `roleName` and `policyArn` of AttachRolePolicy.
        found.extend(ids_in(request, id_keys(iam)));
        for list in REQUEST_ID_LISTS {
            for item in items(request.get(*list)) {
                found.extend(ids_in(item, REQUEST_LIST_ID_KEYS.iter().copied()));
            }
        }
    }
    if let Some(response) = detail.get("responseElements").map(unwrap_action) {
        // The created or changed resource, one level down at most: `vpc.vpcId`,
        // `role.arn`, `instancesSet.items[].instanceId`, `securityGroupRuleSet.items[].groupId`.
        found.extend(primary_id(response, iam));
        if let Some(fields) = response.as_object() {
            for (field, nested) in fields {
                // An object names itself first: `trafficMirrorTarget.trafficMirrorTargetId`
                // (not `role.roleId`, an internal id: `role.arn` names the role).
                let own_key = format!("{field}Id");
                let own_id = ID_KEYS
                    .contains(&own_key.as_str())
                    .then(|| id_values(nested, &own_key).into_iter().next())
                    .flatten();
                found.extend(own_id.or_else(|| primary_id(nested, iam)));
                found.extend(
                    items(Some(nested))
                        .iter()
                        .filter_map(|item| primary_id(item, iam)),
                );
            }
        }
    }
    for resource in items(detail.get("resources")) {
        if let Some(arn) = non_empty(resource, "ARN").or_else(|| non_empty(resource, "arn")) {
            found.push(arn.to_string());
        }
    }

    let mut unique: Vec<String> = Vec::new();
    for id in &found {
        if !unique.contains(id) && !restates_a_plain_id(id, &found) {
            unique.push(id.clone());
        }
    }
    unique.truncate(MAX_RESOURCES_PER_CHANGE);
    unique
}

/// An ARN whose last part is a plain id also found (`arn:aws:iam::1:user/bob`
/// and `bob`, `arn:aws:s3:::logs` and `logs`): the same resource named twice.
fn restates_a_plain_id(id: &str, found: &[String]) -> bool {
    if !id.starts_with("arn:") {
        return false;
    }
    let last = id.rsplit(['/', ':']).next().unwrap_or_default();
    !last.is_empty()
        && found
            .iter()
            .any(|other| !other.starts_with("arn:") && other == last)
}

/// The parameters of a wrapped call: `{"CreateFlowLogsRequest": {...}}` →
/// `{...}` (likewise `…Response`); anything else as it is.
fn unwrap_action(value: &Value) -> &Value {
    match value.as_object() {
        Some(fields) if fields.len() == 1 => match fields.iter().next() {
            Some((key, inner))
                if inner.is_object() && (key.ends_with("Request") || key.ends_with("Response")) =>
            {
                inner
            }
            _ => value,
        },
        _ => value,
    }
}

/// The ids under `key` in one object, written `flowLogId` or `FlowLogId`, as a
/// string, a `{"content": …}` element, or a list of either.
fn id_values(object: &Value, key: &str) -> Vec<String> {
    let value = object.get(key).or_else(|| {
        let mut chars = key.chars();
        let capitalised: String = chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        object.get(capitalised.as_str())
    });
    let mut ids = Vec::new();
    let mut push = |value: &Value| {
        let text = value
            .as_str()
            .or_else(|| value.get("content").and_then(Value::as_str));
        if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
            ids.push(text.to_string());
        }
    };
    match value {
        Some(Value::Array(list)) => list.iter().for_each(&mut push),
        Some(other) => push(other),
        None => {}
    }
    ids
}

/// The id-like fields of one object, in key order.
fn ids_in<'k>(object: &Value, keys: impl Iterator<Item = &'k str>) -> Vec<String> {
    keys.flat_map(|key| id_values(object, key)).collect()
}

/// The most specific id of a response object: its `arn` when it has one.
fn primary_id(object: &Value, iam: bool) -> Option<String> {
    std::iter::once("arn")
        .chain(id_keys(iam))
        .find_map(|key| id_values(object, key).into_iter().next())
}

/// `groupName` names an IAM group, but is only a display name of an EC2 security group.
fn id_keys(iam: bool) -> impl Iterator<Item = &'static str> {
    ID_KEYS.iter().copied().chain(iam.then_some("groupName"))
}

/// Elements of a CloudTrail list, written either as an array or as `{"items": [...]}`.
fn items(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(list)) => list,
        Some(Value::Object(fields)) => match fields.get("items") {
            Some(Value::Array(list)) => list,
            _ => &[],
        },
        _ => &[],
    }
}

/// Tags the request shows, if any: EC2 `tagSpecificationSet` (create calls) and
/// `tagSet` (CreateTags), IAM `tags`, S3 `Tagging.TagSet.Tag`.
pub fn tags(detail: &Value) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(request) = detail.get("requestParameters") else {
        return tags;
    };
    for spec in items(request.get("tagSpecificationSet")) {
        tag_pairs(spec.get("tags"), &mut tags);
    }
    tag_pairs(request.get("tagSet"), &mut tags);
    match request.get("tags") {
        // Some services write tags as a plain map.
        Some(Value::Object(map)) if !map.contains_key("items") => {
            for (key, value) in map {
                if let Some(value) = value.as_str() {
                    tags.insert(key.clone(), value.to_string());
                }
            }
        }
        other => tag_pairs(other, &mut tags),
    }
    let s3_tags = request
        .get("Tagging")
        .and_then(|t| t.get("TagSet"))
        .and_then(|t| t.get("Tag"));
    match s3_tags {
        // One tag is written as an object, several as an array.
        Some(single @ Value::Object(_)) => tag_pair(single, &mut tags),
        other => tag_pairs(other, &mut tags),
    }
    tags
}

fn tag_pairs(list: Option<&Value>, tags: &mut BTreeMap<String, String>) {
    for pair in items(list) {
        tag_pair(pair, tags);
    }
}

fn tag_pair(pair: &Value, tags: &mut BTreeMap<String, String>) {
    let key = non_empty(pair, "key").or_else(|| non_empty(pair, "Key"));
    let value = str_field(pair, "value").or_else(|| str_field(pair, "Value"));
    if let Some(key) = key {
        tags.insert(key.to_string(), value.unwrap_or_default().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_name_is_the_first_label() {
        assert_eq!(service_name("ec2.amazonaws.com"), "ec2");
        assert_eq!(service_name("S3.amazonaws.com"), "s3");
        assert_eq!(service_name(""), "");
    }

    #[test]
    fn resources_come_from_request_response_and_resources_list() {
        let detail = json!({
            "eventSource": "ec2.amazonaws.com",
            "requestParameters": {
                "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1}]},
                "groupId": "sg-1",
                "ipPermissions": {"items": [{"groups": {"items": [{"groupId": "sg-referenced"}]}}]}
            },
            "responseElements": {
                "instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]},
                "securityGroupRuleSet": {"items": [{"groupId": "sg-1", "referencedGroupInfo": {"groupId": "sg-x"}}]}
            },
            "resources": [{"ARN": "arn:aws:ec2:eu-west-1:1:instance/i-1"}, {"ARN": 7}]
        });
        // The instance ARN restates i-1: named once.
        assert_eq!(resources(&detail), vec!["sg-1", "i-1", "i-2"]);
    }

    #[test]
    fn wrapped_ec2_requests_and_responses_are_read() {
        let delete_flow_logs = json!({"eventSource": "ec2.amazonaws.com",
            "requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-1", "tag": 1}}},
            "responseElements": {"DeleteFlowLogsResponse": {"requestId": "r", "unsuccessful": "", "xmlns": "x"}}});
        assert_eq!(resources(&delete_flow_logs), vec!["fl-1"]);
        let several = json!({"requestParameters": {"DeleteFlowLogsRequest": {"FlowLogId": [
            {"content": "fl-1", "tag": 1}, {"content": "fl-2", "tag": 2}]}}});
        assert_eq!(resources(&several), vec!["fl-1", "fl-2"]);
        let mirror_target = json!({"requestParameters": {"CreateTrafficMirrorTargetRequest": {
                "NetworkInterfaceId": "eni-1", "ClientToken": "t"}},
            "responseElements": {"CreateTrafficMirrorTargetResponse": {
                "trafficMirrorTarget": {"trafficMirrorTargetId": "tmt-1", "networkInterfaceId": "eni-1"}}}});
        assert_eq!(resources(&mirror_target), vec!["eni-1", "tmt-1"]);
    }

    #[test]
    fn images_snapshots_and_key_pairs_are_named_once() {
        let image =
            json!({"requestParameters": {"imageId": "ami-1", "attributeType": "launchPermission"}});
        assert_eq!(resources(&image), vec!["ami-1"]);
        let snapshot = json!({"requestParameters": {"snapshotId": "snap-1"}});
        assert_eq!(resources(&snapshot), vec!["snap-1"]);
        let key_pair = json!({"requestParameters": {"keyName": "laptop"},
            "responseElements": {"keyName": "laptop", "keyFingerprint": "f", "keyPairId": "key-1"}});
        assert_eq!(resources(&key_pair), vec!["laptop"]);
        // RunInstances names the image and key the new instance uses; only the instance changed.
        let run = json!({"requestParameters": {"instancesSet": {"items": [{"imageId": "ami-1", "keyName": "laptop"}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-1", "imageId": "ami-1"}]}}});
        assert_eq!(resources(&run), vec!["i-1"]);
    }

    #[test]
    fn a_created_user_is_named_once() {
        let create_user = json!({"eventSource": "iam.amazonaws.com",
            "requestParameters": {"userName": "bob"},
            "responseElements": {"user": {"arn": "arn:aws:iam::1:user/bob", "userName": "bob"}}});
        assert_eq!(resources(&create_user), vec!["bob"]);
        let create_role = json!({"eventSource": "iam.amazonaws.com",
            "responseElements": {"role": {"roleId": "AROA1", "roleName": "r", "arn": "arn:aws:iam::1:role/r"}}});
        assert_eq!(resources(&create_role), vec!["arn:aws:iam::1:role/r"]);
        let bucket = json!({"requestParameters": {"bucketName": "logs"},
            "resources": [{"ARN": "arn:aws:s3:::logs"}, {"ARN": "arn:aws:s3:::other"}]});
        assert_eq!(resources(&bucket), vec!["logs", "arn:aws:s3:::other"]);
        let policy = json!({"eventSource": "iam.amazonaws.com",
            "requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}});
        assert_eq!(
            resources(&policy),
            vec!["bob", "arn:aws:iam::aws:policy/AdministratorAccess"]
        );
    }

    #[test]
    fn service_linked_roles_name_their_service() {
        let identity = json!({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {
            "arn": "arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}}});
        assert_eq!(
            service_linked_role_service(&identity),
            Some("autoscaling.amazonaws.com")
        );
        let person =
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/alice"});
        assert_eq!(service_linked_role_service(&person), None);
    }

    #[test]
    fn iam_group_names_count_but_security_group_names_do_not() {
        let iam = json!({"eventSource": "iam.amazonaws.com", "requestParameters": {"groupName": "admins", "userName": "bob"}});
        assert_eq!(resources(&iam), vec!["bob", "admins"]);
        let ec2 = json!({"eventSource": "ec2.amazonaws.com", "requestParameters": {"groupName": "web", "vpcId": "vpc-1"}});
        assert_eq!(resources(&ec2), vec!["vpc-1"]);
    }

    #[test]
    fn resources_are_capped() {
        let items: Vec<Value> = (0..50)
            .map(|i| json!({"resourceId": format!("i-{i}")}))
            .collect();
        let detail = json!({"requestParameters": {"resourcesSet": {"items": items}}});
        let found = resources(&detail);
        assert_eq!(found.len(), MAX_RESOURCES_PER_CHANGE);
        assert_eq!(found[0], "i-0");
    }

    #[test]
    fn tags_in_every_request_shape() {
        let ec2 = json!({"requestParameters": {
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "env", "value": "prod"}]}]},
            "tagSet": {"items": [{"key": "team", "value": "net"}]}
        }});
        let tags = tags(&ec2);
        assert_eq!(tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(tags.get("team").map(String::as_str), Some("net"));
        assert!(!tags.contains_key("resourceType"));

        let s3 = json!({"requestParameters": {"Tagging": {"TagSet": {"Tag": {"Key": "env", "Value": "dev"}}}}});
        assert_eq!(super::tags(&s3).get("env").map(String::as_str), Some("dev"));
        let iam = json!({"requestParameters": {"tags": [{"key": "owner", "value": "ops"}]}});
        assert_eq!(
            super::tags(&iam).get("owner").map(String::as_str),
            Some("ops")
        );
    }

    #[test]
    fn display_names() {
        let role = json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/alice"});
        assert_eq!(display_name(&role), "AssumedRole Admin/alice");
        let root = json!({"type": "Root", "arn": "arn:aws:iam::1:root"});
        assert_eq!(display_name(&root), "the root user");
        let user = json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/ops/bob"});
        assert_eq!(display_name(&user), "IAMUser ops/bob");
        assert_eq!(display_name(&json!(3)), "Unknown (unnamed)");
    }

    #[test]
    fn flags_accept_strings_and_booleans() {
        assert_eq!(flag(&json!({"a": "true"}), "a"), Some(true));
        assert_eq!(flag(&json!({"a": false}), "a"), Some(false));
        assert_eq!(flag(&json!({"a": 1}), "a"), None);
    }
}
