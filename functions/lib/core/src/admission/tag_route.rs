//! What a tag filter of a workspace route can know about a change.
//!
//! Most modifying calls (`AuthorizeSecurityGroupIngress`, `PutBucketPolicy`,
//! `PutRolePolicy`, `ModifyInstanceAttribute`, …) show no tags, so a route
//! that filters on tags needs the resource's current tags, looked up by ARN
//! (Resource Groups Tagging API `GetResources`), and a call that changes tags
//! (`CreateTags env=dev` on a prod resource) may move a resource out of a
//! route: it is checked against the old tags as well as the new ones. Whatever
//! cannot be known never excludes a change (a plan too many costs less than a
//! change never checked).

use std::collections::BTreeSet;

use serde_json::Value;

use super::cloudtrail;
use crate::model::{TagQuery, Tags};

/// The tag keys a call changes: their values before the call are not in
/// the record, so a filter on them may have matched the resource before.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TagChange {
    /// The call does not change tags.
    #[default]
    None,
    /// These keys are set or removed.
    Keys(BTreeSet<String>),
    /// The whole tag set is replaced or removed (`PutBucketTagging`,
    /// `DeleteTags` without keys).
    All,
}

impl TagChange {
    pub fn covers(&self, key: &str) -> bool {
        match self {
            TagChange::None => false,
            TagChange::Keys(keys) => keys.contains(key),
            TagChange::All => true,
        }
    }

    pub fn is_retag(&self) -> bool {
        !matches!(self, TagChange::None)
    }
}

/// Which tag keys `event_name` changes, from its request.
pub fn tag_change(detail: &Value, event_name: &str) -> TagChange {
    let request = detail.get("requestParameters").unwrap_or(&Value::Null);
    let named_keys = || -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = cloudtrail::tags(detail).into_keys().collect();
        for key in ["tagKeys", "TagKeys", "tagKeySet"] {
            let list = match request.get(key) {
                Some(Value::Object(o)) => o.get("items").or_else(|| o.get("member")),
                other => other,
            };
            for item in list.and_then(Value::as_array).into_iter().flatten() {
                let name = item.as_str().or_else(|| cloudtrail::non_empty(item, "key"));
                keys.extend(name.filter(|n| !n.is_empty()).map(str::to_string));
            }
        }
        keys
    };
    match event_name {
        "PutBucketTagging" | "DeleteBucketTagging" => TagChange::All,
        "CreateTags" => TagChange::Keys(named_keys()),
        "DeleteTags" => match named_keys() {
            keys if keys.is_empty() => TagChange::All,
            keys => TagChange::Keys(keys),
        },
        name if name.starts_with("Untag") => match named_keys() {
            keys if keys.is_empty() => TagChange::All,
            keys => TagChange::Keys(keys),
        },
        name if name.starts_with("Tag") => TagChange::Keys(named_keys()),
        _ => TagChange::None,
    }
}

/// EC2 id prefixes and the resource type their ARNs name, longest first.
const EC2_ID_KINDS: &[(&str, &str)] = &[
    ("tgw-attach-", "transit-gateway-attachment"),
    ("tgw-rtb-", "transit-gateway-route-table"),
    ("eipalloc-", "elastic-ip"),
    ("tgw-", "transit-gateway"),
    ("eigw-", "egress-only-internet-gateway"),
    ("subnet-", "subnet"),
    ("snap-", "snapshot"),
    ("vpce-", "vpc-endpoint"),
    ("dopt-", "dhcp-options"),
    ("sgr-", "security-group-rule"),
    ("vol-", "volume"),
    ("vpc-", "vpc"),
    ("eni-", "network-interface"),
    ("rtb-", "route-table"),
    ("acl-", "network-acl"),
    ("igw-", "internet-gateway"),
    ("nat-", "natgateway"),
    ("pcx-", "vpc-peering-connection"),
    ("cgw-", "customer-gateway"),
    ("vgw-", "vpn-gateway"),
    ("vpn-", "vpn-connection"),
    ("key-", "key-pair"),
    ("fl-", "vpc-flow-log"),
    ("lt-", "launch-template"),
    ("pl-", "prefix-list"),
    ("sg-", "security-group"),
    ("i-", "instance"),
];

/// The partition of a region (`aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARNs whose current tags would tell a tag filter about this change, or
/// `None` when some touched resource has no ARN the Tagging API answers for
/// (IAM users and roles: `GetResources` does not support them; an id of a
/// kind this table does not know).
pub fn tag_query(detail: &Value, account_id: &str, region: &str) -> Option<TagQuery> {
    let source = cloudtrail::str_field(detail, "eventSource").unwrap_or("");
    let service = cloudtrail::service_name(source);
    if service == "iam" {
        return None;
    }
    let partition = partition(region);
    let mut arns: Vec<String> = Vec::new();
    if service == "s3" {
        let bucket = detail
            .get("requestParameters")
            .and_then(|r| cloudtrail::non_empty(r, "bucketName"))?;
        arns.push(format!("arn:{partition}:s3:::{bucket}"));
    } else {
        for id in cloudtrail::resources(detail) {
            if id.starts_with("arn:") {
                arns.push(id);
            } else if service == "ec2" {
                let (prefix, kind) = EC2_ID_KINDS
                    .iter()
                    .find(|(prefix, _)| id.starts_with(prefix))?;
                if id.len() == prefix.len() {
                    return None;
                }
                arns.push(format!(
                    "arn:{partition}:ec2:{region}:{account_id}:{kind}/{id}"
                ));
            } else {
                return None;
            }
        }
    }
    arns.sort();
    arns.dedup();
    // Every ARN must be in the record's account and region: another account's
    // tags cannot be read here, and the Tagging API answers one region.
    let local = |arn: &String| {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        parts.len() == 6
            && (parts[3].is_empty() || parts[3] == region)
            && (parts[4].is_empty() || parts[4] == account_id)
    };
    (!arns.is_empty() && arns.iter().all(local)).then(|| TagQuery {
        account_id: account_id.to_string(),
        region: region.to_string(),
        arns,
    })
}

/// Whether a route's tag filter `key = value` can take the change: the
/// request sets it; or the call changes the key (its old value may have
/// matched); or a touched resource carries it now; or its tags are unknown.
pub fn filter_admits(
    key: &str,
    value: &str,
    shown: &Tags,
    change: &TagChange,
    current: &crate::model::ResourceTags,
) -> bool {
    if change.covers(key) {
        return true;
    }
    if let Some(shown) = shown.get(key) {
        return shown == value;
    }
    match current {
        crate::model::ResourceTags::Unknown => true,
        crate::model::ResourceTags::Known(sets) => sets
            .iter()
            .any(|tags| tags.get(key).is_some_and(|v| v == value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceTags;
    use serde_json::json;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn retags_name_the_keys_they_change() {
        let create = json!({"requestParameters": {
            "resourcesSet": {"items": [{"resourceId": "sg-0a1b2c3d4e5f60718"}]},
            "tagSet": {"items": [{"key": "env", "value": "dev"}]}}});
        assert_eq!(
            tag_change(&create, "CreateTags"),
            TagChange::Keys(["env".to_string()].into())
        );
        let delete_all = json!({"requestParameters": {
            "resourcesSet": {"items": [{"resourceId": "sg-0a1b2c3d4e5f60718"}]}}});
        assert_eq!(tag_change(&delete_all, "DeleteTags"), TagChange::All);
        let untag = json!({"requestParameters": {"roleName": "app", "tagKeys": ["team"]}});
        assert_eq!(
            tag_change(&untag, "UntagRole"),
            TagChange::Keys(["team".to_string()].into())
        );
        assert_eq!(
            tag_change(
                &json!({"requestParameters": {"bucketName": "b"}}),
                "PutBucketTagging"
            ),
            TagChange::All
        );
        assert_eq!(
            tag_change(&create, "AuthorizeSecurityGroupIngress"),
            TagChange::None
        );
    }

    #[test]
    fn ec2_ids_and_buckets_become_arns_and_iam_is_unknown() {
        let ingress = json!({
            "eventSource": "ec2.amazonaws.com",
            "requestParameters": {"groupId": "sg-0a1b2c3d4e5f60718"}});
        assert_eq!(
            tag_query(&ingress, "111122223333", "eu-west-1").map(|q| q.arns),
            Some(vec![
                "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b2c3d4e5f60718"
                    .to_string()
            ])
        );
        let policy = json!({
            "eventSource": "s3.amazonaws.com",
            "requestParameters": {"bucketName": "prod-logs", "policy": "{}"}});
        assert_eq!(
            tag_query(&policy, "111122223333", "eu-west-1").map(|q| q.arns),
            Some(vec!["arn:aws:s3:::prod-logs".to_string()])
        );
        let role_policy = json!({
            "eventSource": "iam.amazonaws.com",
            "requestParameters": {"roleName": "app", "policyName": "p"}});
        assert_eq!(tag_query(&role_policy, "111122223333", "us-east-1"), None);
        // Another account's resource cannot be looked up here.
        let foreign = json!({
            "eventSource": "ec2.amazonaws.com",
            "resources": [{"ARN": "arn:aws:ec2:eu-west-1:999999999999:instance/i-0123456789abcdef0"}]});
        assert_eq!(tag_query(&foreign, "111122223333", "eu-west-1"), None);
    }

    #[test]
    fn a_filter_excludes_only_what_it_knows_does_not_match() {
        let none = Tags::new();
        let prod = ResourceTags::Known(vec![tags(&[("env", "prod")])]);
        let dev = ResourceTags::Known(vec![tags(&[("env", "dev")])]);
        let untagged = ResourceTags::Known(vec![Tags::new()]);
        // A modifying call shows no tags: the resource's current tags decide.
        assert!(filter_admits("env", "prod", &none, &TagChange::None, &prod));
        assert!(!filter_admits("env", "prod", &none, &TagChange::None, &dev));
        assert!(!filter_admits(
            "env",
            "prod",
            &none,
            &TagChange::None,
            &untagged
        ));
        // Unknown tags never exclude.
        assert!(filter_admits(
            "env",
            "prod",
            &none,
            &TagChange::None,
            &ResourceTags::Unknown
        ));
        // What the request shows wins over what was looked up.
        let shown_dev = tags(&[("env", "dev")]);
        assert!(!filter_admits(
            "env",
            "prod",
            &shown_dev,
            &TagChange::None,
            &prod
        ));
        // A retag of the key is checked against the old tags too.
        let retag = TagChange::Keys(["env".to_string()].into());
        assert!(filter_admits("env", "prod", &shown_dev, &retag, &dev));
        assert!(filter_admits("env", "dev", &shown_dev, &retag, &dev));
    }
}
