//! Security Hub adapter of [`FindingsPublisher`]: `BatchImportFindings` into
//! the account's default product, 100 findings per call.

use async_trait::async_trait;
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields,
    FindingProviderSeverity, Partition, RecordState, Resource, ResourceDetails, Severity,
    SeverityLabel, Workflow, WorkflowStatus,
};

use driftguard_core::error::{Error, Result};
use driftguard_core::findings::{Finding, MAX_FINDINGS_PER_IMPORT, product_fields_map};
use driftguard_core::ports::FindingsPublisher;

/// Imports findings into Security Hub.
#[derive(Clone)]
pub struct SecurityHubFindings {
    client: Client,
}

impl SecurityHubFindings {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// The SDK's shape of a finding.
fn sdk_finding(f: &Finding) -> AwsSecurityFinding {
    let severity = |s: &driftguard_core::findings::Severity| {
        FindingProviderSeverity::builder()
            .label(SeverityLabel::from(s.label.as_str()))
            .original(&s.original)
            .build()
    };
    let mut builder = AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .first_observed_at(&f.first_observed_at)
        .last_observed_at(&f.last_observed_at)
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(f.severity.label.as_str()))
                .original(&f.severity.original)
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .source_url(&f.source_url)
        .set_product_fields(Some(product_fields_map(f)))
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(f.compliance.status.as_str()))
                .build(),
        )
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(f.workflow.status.as_str()))
                .build(),
        )
        .record_state(RecordState::from(f.record_state.as_str()))
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(severity(&f.finding_provider_fields.severity))
                .set_types(Some(f.finding_provider_fields.types.clone()))
                .build(),
        );
    for r in &f.resources {
        builder = builder.resources(
            Resource::builder()
                .r#type(&r.resource_type)
                .id(&r.id)
                .partition(Partition::from(r.partition.as_str()))
                .region(&r.region)
                .details(
                    ResourceDetails::builder()
                        .set_other(Some(r.details_other.clone().into_iter().collect()))
                        .build(),
                )
                .build(),
        );
    }
    builder.build()
}

fn import_error<E>(e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("InvalidAccessException") | Some("AccessDeniedException") => {
            Error::ConfigError(format!(
                "Security Hub refused the findings ({}): enable Security Hub in this region and allow the record function securityhub:BatchImportFindings on the default product, or set security_hub_findings = false",
                DisplayErrorContext(&e)
            ))
        }
        Some("InvalidInputException") => Error::InvalidInput(format!(
            "Security Hub rejected a DriftGuard finding as invalid: {}",
            DisplayErrorContext(&e)
        )),
        _ => Error::AwsUnavailable(format!(
            "Security Hub BatchImportFindings failed: {}; the step is retried",
            DisplayErrorContext(&e)
        )),
    }
}

#[async_trait]
impl FindingsPublisher for SecurityHubFindings {
    async fn publish(&self, findings: &[Finding]) -> Result<()> {
        for batch in findings.chunks(MAX_FINDINGS_PER_IMPORT) {
            let out = self
                .client
                .batch_import_findings()
                .set_findings(Some(batch.iter().map(sdk_finding).collect()))
                .send()
                .await
                .map_err(import_error)?;
            let failed = out.failed_findings();
            if let Some(first) = failed.first() {
                let code = first.error_code().unwrap_or("unknown");
                let message = format!(
                    "Security Hub refused {} of {} findings (first: {} {}: {})",
                    failed.len(),
                    batch.len(),
                    first.id().unwrap_or("?"),
                    code,
                    first.error_message().unwrap_or("")
                );
                return Err(if code == "InvalidAccess" {
                    Error::ConfigError(format!(
                        "{message}; enable Security Hub in this region, or set security_hub_findings = false"
                    ))
                } else {
                    Error::AwsUnavailable(format!("{message}; the step is retried"))
                });
            }
            tracing::info!(
                imported = out.success_count().unwrap_or_default(),
                "imported Security Hub findings"
            );
        }
        Ok(())
    }
}
