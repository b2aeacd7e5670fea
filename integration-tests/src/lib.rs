//! DriftGuard's local stack: everything needed to run the real state machine
//! and the real Lambda binaries with no AWS account.
pub mod slack_app;
pub mod slack_sink;
pub mod tfc_emulator;

// The local stack harness (gateway, orchestration, event delivery, reports).
pub mod aws;
pub mod bench;
pub mod browser;
pub mod console;
pub mod events;
pub mod executions;
pub mod faults;
pub mod gateway;
pub mod history_seed;
pub mod iam_lint;
pub mod process;
pub mod report;
pub mod stack;
pub mod terraform;

pub use stack::{Delivery, LocalStack, StackOptions, WorkspaceSpec};
