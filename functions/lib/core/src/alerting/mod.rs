//! Alerting: telling people about a check, channel-neutral.
//!
//! - [`port`]: what a channel must do. [`Notifier`] is a channel without
//!   threads (a webhook); [`ChatApi`] + [`AlertFormat`] are a chat app with
//!   threads (Slack today; `driftguard-slack` implements all three);
//!   [`ConversationStore`] keeps the threads.
//! - [`threads`]: one thread per drift: what is posted, replied and updated
//!   when, and which decision request it carries.
//!
//! Adding a channel (e.g. Microsoft Teams) is an adapter crate implementing
//! these ports; nothing here changes (docs/architecture.md).

pub mod port;
pub mod threads;

pub use port::{AlertFormat, AlertThread, ChatApi, ConversationStore, DecisionRequest, Notifier};
pub use threads::{ChatApp, notify};
