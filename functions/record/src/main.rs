//! Record: the history record of a check, written once per execution with
//! its drift episodes (their findings go to Security Hub when it is on); or a
//! warning on that record when a later step (the e-mail alert) failed. The
//! check's metrics go to CloudWatch as embedded-metric-format log lines.

use driftguard_aws::EmfMetrics;
use driftguard_core::history;
use driftguard_core::model::{RecordRequest, RecordResponse};
use driftguard_core::ports::FindingsPublisher;
use driftguard_core::steps;
use driftguard_lambda::{InitError, adapters};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let findings = adapters::findings(&config, &sdk);
    let (config, store, findings) = (&config, &store, &findings);
    driftguard_lambda::serve(move |request: RecordRequest, _| async move {
        match request {
            RecordRequest::Outcome(outcome) => {
                let findings = findings.as_ref().map(|f| f as &dyn FindingsPublisher);
                steps::record_with(
                    &outcome,
                    store,
                    findings,
                    &EmfMetrics,
                    config,
                    history::now(),
                )
                .await
                .map(|r| RecordResponse::Recorded(Box::new(r)))
            }
            RecordRequest::Warning(warning) => steps::note_warning(&warning, store)
                .await
                .map(RecordResponse::Noted),
        }
    })
    .await
}
