//! AWS calls the harness makes against the local stack. DynamoDB, Secrets
//! Manager and Step Functions go through the AWS SDK; the few EventBridge and
//! Lambda calls go as plain HTTP requests in the services' own wire formats
//! (no SDK crate just for them). moto does not check signatures, but it reads
//! the service name from the credential scope, so requests carry one.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// SDK configuration pointing at the gateway, with dummy credentials.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}

/// What a Lambda `Invoke` answered.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    pub status: u16,
    /// `X-Amz-Function-Error` (`Unhandled`) when the function failed.
    pub function_error: Option<String>,
    pub payload: Value,
}

impl InvokeOutcome {
    /// The `errorType` of a failed invocation.
    pub fn error_type(&self) -> Option<&str> {
        self.function_error
            .as_ref()
            .and_then(|_| self.payload.get("errorType"))
            .and_then(Value::as_str)
    }

    pub fn error_message(&self) -> Option<&str> {
        self.function_error
            .as_ref()
            .and_then(|_| self.payload.get("errorMessage"))
            .and_then(Value::as_str)
    }

    pub fn is_ok(&self) -> bool {
        self.status == 200 && self.function_error.is_none()
    }
}

/// Plain-HTTP AWS calls through the gateway.
#[derive(Clone)]
pub struct RawAws {
    client: reqwest::Client,
    endpoint: String,
    region: String,
}

impl RawAws {
    pub fn new(endpoint: &str, region: &str) -> Result<Self> {
        Ok(RawAws {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(300))
                .build()?,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
        })
    }

    fn authorization(&self, service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0000",
            self.region
        )
    }

    /// An AWS JSON-protocol call (`X-Amz-Target`).
    pub async fn json_call(&self, service: &str, target: &str, body: Value) -> Result<Value> {
        let resp = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("authorization", self.authorization(service))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| target.to_string())?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{target} answered HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An AWS query-protocol call (EC2, IAM): form-encoded `Action`, XML answer.
    pub async fn query_call(
        &self,
        service: &str,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> Result<String> {
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action)
                .append_pair("Version", version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let resp = self
            .client
            .post(format!("{}/", self.endpoint))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("authorization", self.authorization(service))
            .body(body)
            .send()
            .await
            .with_context(|| action.to_string())?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{action} answered HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// An S3 REST call, path-style (`/<bucket>?<subresource>`): XML in and out.
    pub async fn s3_call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<String> {
        let what = format!("S3 {method} {path_and_query}");
        let mut request = self
            .client
            .request(method, format!("{}{path_and_query}", self.endpoint))
            .header("authorization", self.authorization("s3"));
        if let Some(body) = body {
            request = request.header("content-type", "application/xml").body(body);
        }
        let resp = request.send().await.with_context(|| what.clone())?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what} answered HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// EventBridge `DescribeRule` on the default bus.
    pub async fn describe_rule(&self, name: &str) -> Result<Value> {
        self.json_call(
            "events",
            "AWSEvents.DescribeRule",
            json!({"Name": name, "EventBusName": "default"}),
        )
        .await
    }

    /// Lambda `GetFunctionConfiguration`.
    pub async fn function_configuration(&self, function: &str) -> Result<Value> {
        let resp = self
            .client
            .get(format!(
                "{}/2015-03-31/functions/{function}/configuration",
                self.endpoint
            ))
            .header("authorization", self.authorization("lambda"))
            .send()
            .await
            .with_context(|| format!("GetFunctionConfiguration {function}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("GetFunctionConfiguration {function} answered HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Security Hub `GetFindings` (every finding, as JSON: the SDK's finding
    /// type needs more stack than a test thread has in a debug build).
    pub async fn security_hub_findings(&self) -> Result<Vec<Value>> {
        let resp = self
            .client
            .post(format!("{}/findings", self.endpoint))
            .header("content-type", "application/json")
            .header("authorization", self.authorization("securityhub"))
            .body("{}")
            .send()
            .await
            .context("GetFindings")?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("GetFindings answered HTTP {status}: {text}");
        }
        let body: Value = serde_json::from_str(&text)?;
        Ok(body["Findings"].as_array().cloned().unwrap_or_default())
    }

    /// Lambda `Invoke` (RequestResponse), through the gateway like any caller.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<InvokeOutcome> {
        let resp = self
            .client
            .post(format!(
                "{}/2015-03-31/functions/{function}/invocations",
                self.endpoint
            ))
            .header("authorization", self.authorization("lambda"))
            .header("x-amz-invocation-type", "RequestResponse")
            .header("content-type", "application/json")
            .body(payload.to_string())
            .send()
            .await
            .with_context(|| format!("Invoke {function}"))?;
        let status = resp.status().as_u16();
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        let payload = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(InvokeOutcome {
            status,
            function_error,
            payload,
        })
    }
}
