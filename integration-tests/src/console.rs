//! What a person does in the AWS console, made for real on the local stack
//! through the AWS API (the change a CloudTrail event then describes), and
//! what the harness reads back to prove a remediation changed it back.

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::aws::RawAws;

const EC2_VERSION: &str = "2016-11-15";

/// The text of every `<tag>…</tag>` in `xml`, in order (the answers here are
/// small and flat enough for this).
fn all_tags<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// One ingress rule of a security group: protocol, ports and IPv4 ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRule {
    pub protocol: String,
    pub from_port: i64,
    pub to_port: i64,
    pub cidrs: Vec<String>,
}

/// The person's and the harness's view of the local stack's AWS.
pub struct Console<'a> {
    raw: &'a RawAws,
}

impl<'a> Console<'a> {
    pub fn new(raw: &'a RawAws) -> Self {
        Console { raw }
    }

    /// `AuthorizeSecurityGroupIngress`: opens `port` to the world.
    pub async fn open_port_to_world(
        &self,
        group_id: &str,
        port: u16,
        description: &str,
    ) -> Result<()> {
        let port = port.to_string();
        self.raw
            .query_call(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                EC2_VERSION,
                &[
                    ("GroupId", group_id),
                    ("IpPermissions.1.IpProtocol", "tcp"),
                    ("IpPermissions.1.FromPort", &port),
                    ("IpPermissions.1.ToPort", &port),
                    ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
                    ("IpPermissions.1.IpRanges.1.Description", description),
                ],
            )
            .await?;
        Ok(())
    }

    /// `CreateTags`: sets tags on an EC2 resource (a security group).
    pub async fn tag_resource(&self, resource_id: &str, tags: &[(&str, &str)]) -> Result<()> {
        let mut params: Vec<(String, String)> = vec![("ResourceId.1".into(), resource_id.into())];
        for (i, (key, value)) in tags.iter().enumerate() {
            params.push((format!("Tag.{}.Key", i + 1), key.to_string()));
            params.push((format!("Tag.{}.Value", i + 1), value.to_string()));
        }
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.raw
            .query_call("ec2", "CreateTags", EC2_VERSION, &params)
            .await?;
        Ok(())
    }

    /// The security group's tags (`DescribeSecurityGroups`).
    pub async fn security_group_tags(&self, group_id: &str) -> Result<Vec<(String, String)>> {
        let xml = self
            .raw
            .query_call(
                "ec2",
                "DescribeSecurityGroups",
                EC2_VERSION,
                &[("GroupId.1", group_id)],
            )
            .await?;
        let Some(tag_set) = all_tags(&xml, "tagSet").into_iter().next() else {
            return Ok(Vec::new());
        };
        Ok(tag_set
            .split("<item>")
            .skip(1)
            .map(|t| {
                (
                    all_tags(t, "key").first().unwrap_or(&"").to_string(),
                    all_tags(t, "value").first().unwrap_or(&"").to_string(),
                )
            })
            .collect())
    }

    /// The security group's ingress rules (`DescribeSecurityGroups`).
    pub async fn ingress_rules(&self, group_id: &str) -> Result<Vec<IngressRule>> {
        let xml = self
            .raw
            .query_call(
                "ec2",
                "DescribeSecurityGroups",
                EC2_VERSION,
                &[("GroupId.1", group_id)],
            )
            .await?;
        let Some(permissions) = all_tags(&xml, "ipPermissions").into_iter().next() else {
            bail!("DescribeSecurityGroups {group_id}: no ipPermissions in the answer: {xml}");
        };
        // Each rule is an <item> with ipProtocol, fromPort, toPort and ipRanges.
        let mut rules = Vec::new();
        for item in permissions.split("<ipProtocol>").skip(1) {
            let item = format!("<ipProtocol>{item}");
            let number = |tag: &str| -> i64 {
                all_tags(&item, tag)
                    .first()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(-1)
            };
            rules.push(IngressRule {
                protocol: all_tags(&item, "ipProtocol")
                    .first()
                    .unwrap_or(&"")
                    .to_string(),
                from_port: number("fromPort"),
                to_port: number("toPort"),
                cidrs: all_tags(&item, "cidrIp")
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            });
        }
        Ok(rules)
    }

    /// `PutBucketVersioning`.
    pub async fn set_bucket_versioning(&self, bucket: &str, status: &str) -> Result<()> {
        let body = format!(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
        );
        self.raw
            .s3_call(Method::PUT, &format!("/{bucket}?versioning"), Some(body))
            .await?;
        Ok(())
    }

    /// `GetBucketVersioning`: the status ("Enabled", "Suspended", "" when never set).
    pub async fn bucket_versioning(&self, bucket: &str) -> Result<String> {
        let xml = self
            .raw
            .s3_call(Method::GET, &format!("/{bucket}?versioning"), None)
            .await?;
        Ok(all_tags(&xml, "Status").first().unwrap_or(&"").to_string())
    }

    /// `PutBucketTagging`: replaces the bucket's tags.
    pub async fn set_bucket_tags(&self, bucket: &str, tags: &[(&str, &str)]) -> Result<()> {
        let tag_set: String = tags
            .iter()
            .map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"))
            .collect();
        let body = format!(
            "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>{tag_set}</TagSet></Tagging>"
        );
        self.raw
            .s3_call(Method::PUT, &format!("/{bucket}?tagging"), Some(body))
            .await?;
        Ok(())
    }

    /// `GetBucketTagging`: (key, value) pairs.
    pub async fn bucket_tags(&self, bucket: &str) -> Result<Vec<(String, String)>> {
        let xml = self
            .raw
            .s3_call(Method::GET, &format!("/{bucket}?tagging"), None)
            .await?;
        Ok(all_tags(&xml, "Tag")
            .iter()
            .map(|t| {
                (
                    all_tags(t, "Key").first().unwrap_or(&"").to_string(),
                    all_tags(t, "Value").first().unwrap_or(&"").to_string(),
                )
            })
            .collect())
    }
}

/// The CloudTrail event of `AuthorizeSecurityGroupIngress` on `group_id` (the
/// committed console fixture, pointed at the real group).
pub fn authorize_ingress_event(mut event: Value, group_id: &str) -> Result<Value> {
    let detail = event
        .get_mut("detail")
        .context("the fixture has no detail")?;
    detail["requestParameters"]["groupId"] = json!(group_id);
    if let Some(rules) = detail
        .pointer_mut("/responseElements/securityGroupRuleSet/items")
        .and_then(Value::as_array_mut)
    {
        for rule in rules {
            rule["groupId"] = json!(group_id);
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_rules_parse_from_the_ec2_answer() {
        let xml = "<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>sg-1</groupId><ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><groups></groups><ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges></item><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp><description>x</description></item></ipRanges></item></ipPermissions><ipPermissionsEgress></ipPermissionsEgress></item></securityGroupInfo></DescribeSecurityGroupsResponse>";
        let permissions = all_tags(xml, "ipPermissions");
        assert_eq!(permissions.len(), 1);
        assert_eq!(all_tags(permissions[0], "fromPort"), ["443", "22"]);
        assert_eq!(all_tags(xml, "cidrIp"), ["10.0.0.0/8", "0.0.0.0/0"]);
    }
}
