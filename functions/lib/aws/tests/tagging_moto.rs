//! The Resource Groups Tagging API adapter against moto: the current tags of
//! a security group looked up by the ARN admission builds from its id
//! (`GetResources` with `ResourceARNList`); an untagged group has none; a
//! resource of another account is unknown, never "untagged".

use driftguard_testkit::moto;

use aws_sdk_resourcegroupstagging::config::{Credentials, SharedCredentialsProvider};
use driftguard_aws::TaggingApiLookup;
use driftguard_core::model::{ResourceTags, TagQuery, Tags};
use driftguard_core::ports::TagLookup;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

/// One EC2 Query API call to moto (moto routes by the credential scope).
async fn ec2(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2016-11-15");
    form.extend_pairs(params);
    reqwest::Client::new()
        .post(endpoint)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn security_group(endpoint: &str, name: &str) -> String {
    let answer = ec2(
        endpoint,
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", name),
            ("GroupDescription", name),
        ],
    )
    .await;
    let start = answer.find("<groupId>").unwrap() + "<groupId>".len();
    let end = answer[start..].find("</groupId>").unwrap() + start;
    answer[start..end].to_string()
}

fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .build()
}

fn arn(group: &str) -> String {
    format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}")
}

#[tokio::test]
async fn current_tags_come_from_get_resources_by_arn() {
    let Some(moto) = moto::start_moto().await else {
        return;
    };
    let prod = security_group(&moto.endpoint, "web").await;
    let plain = security_group(&moto.endpoint, "plain").await;
    ec2(
        &moto.endpoint,
        &[
            ("Action", "CreateTags"),
            ("ResourceId.1", &prod),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
        ],
    )
    .await;

    let lookup = TaggingApiLookup::new(&sdk(&moto.endpoint), ACCOUNT);
    let query = TagQuery {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        arns: vec![arn(&prod), arn(&plain)],
    };
    let tags = lookup.current_tags(&query).await.unwrap();
    let env_prod: Tags = [("env".to_string(), "prod".to_string())].into();
    assert_eq!(tags, ResourceTags::Known(vec![env_prod, Tags::new()]));

    let foreign = TagQuery {
        account_id: "999999999999".into(),
        ..query
    };
    assert_eq!(
        lookup.current_tags(&foreign).await.unwrap(),
        ResourceTags::Unknown
    );
}
