//! One file per state-machine step. The Lambda crates and the CLI are thin
//! adapters over these; every step is safe to run twice with the same input.
//! Each file holds one step's entry points (`pub`) and the logic only it uses;
//! what several steps share is here.

use crate::history::{self};
use crate::model::*;
use crate::ports::*;

mod admit;
mod create_run;
mod notify;
mod on_failure;
mod poll_run;
mod record;
mod remediate_apply;
mod remediate_assess;
mod remediate_create;
mod summarize;

pub use admit::*;
pub use create_run::*;
pub use notify::*;
pub use on_failure::*;
pub use poll_run::*;
pub use record::*;
pub use remediate_apply::*;
pub use remediate_assess::*;
pub use remediate_create::*;
pub use summarize::*;

/// Tag put in a run's message so a retried or redriven step finds the run it created.
pub fn run_tag(kind: &str, execution_id: &str) -> String {
    format!(
        "[driftguard:{kind}:{}]",
        history::execution_name(execution_id)
    )
}

fn epoch_of(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}
