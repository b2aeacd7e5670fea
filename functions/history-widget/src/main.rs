//! Dashboard widget: the drift-history page as a CloudWatch custom widget
//! (HTML and CSS) on the module's dashboard. CloudWatch invokes it with the
//! console user's credentials, so only people allowed to invoke it see it.

use driftguard_core::dashboard::{self, WidgetEvent};
use driftguard_core::history;
use driftguard_core::model::CheckRef;
use driftguard_lambda::{InitError, adapters};

#[tokio::main]
async fn main() -> Result<(), InitError> {
    driftguard_lambda::init_tracing();
    let config = driftguard_lambda::load_config()?;
    let checks: Vec<CheckRef> = config
        .require_workspaces()?
        .iter()
        .map(|w| w.check_ref())
        .collect();
    let sdk = driftguard_lambda::sdk_config().await;
    let store = adapters::history(&config, &sdk)?;
    let (checks, store) = (&checks, &store);
    driftguard_lambda::serve(move |event: WidgetEvent, _| async move {
        dashboard::widget(&event, store, checks, history::now()).await
    })
    .await
}
