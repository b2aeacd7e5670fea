//! DriftGuard's testkit: an in-memory double of every port, and behaviour
//! suites that run against both the doubles and the real adapters. Only tests
//! and the benchmark depend on it; no Lambda does.
//!
//! - HCP Terraform: [`InMemoryTerraformCloud`] (scriptable runs, plans, limits).
//! - Alerting: [`RecordingNotifier`], [`RecordingChat`], [`InMemoryConversations`].
//! - Approval: [`InMemoryApprovals`], [`RecordingTasks`].
//! - Ledger: [`InMemoryHistory`], [`InMemoryMetrics`], [`InMemoryFindings`],
//!   [`InMemoryRemediationLedger`].
//! - Intake: [`InMemoryBatchStore`], [`InMemoryTags`].
//! - [`suites`]: the store suites; [`moto`]: a moto server for adapter tests.

mod approvals;
mod batches;
mod conversations;
mod findings;
mod history;
mod metrics;
pub mod moto;
mod prelude;
mod recording;
mod remediations;
pub mod suites;
mod tags;
pub mod terraform_cloud;

pub use approvals::{InMemoryApprovals, RecordingTasks};
pub use batches::InMemoryBatchStore;
pub use conversations::InMemoryConversations;
pub use findings::InMemoryFindings;
pub use history::InMemoryHistory;
pub use metrics::InMemoryMetrics;
pub use recording::{ChatMessage, RecordingChat, RecordingNotifier};
pub use remediations::InMemoryRemediationLedger;
pub use tags::InMemoryTags;
pub use terraform_cloud::{InMemoryTerraformCloud, RecordedAction};
