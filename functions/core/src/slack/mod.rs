//! Slack: Block Kit messages for each check outcome, the incoming-webhook
//! notifier, and the Slack app (Web API, request signatures, interactions,
//! one thread per drift).
//!
//! - [`build_message`] turns a [`CheckOutcome`](crate::model::CheckOutcome) into a
//!   payload (`text` fallback + `blocks`) that respects Block Kit limits.
//! - [`message_text`] renders a payload as plain text for terminals (demo, CLI).
//! - [`SlackWebhook`] posts payloads to an incoming webhook whose URL is a secret.
//! - [`SlackApi`] is the Web API with the app's bot token (`chat.postMessage`,
//!   `chat.update`, `usergroups.users.list`, `response_url`).
//! - [`signature`] verifies that a request comes from Slack; [`interaction`]
//!   reads a button click; [`thread`] builds the decision buttons, replies and
//!   parent updates.
//! - [`RecordingNotifier`] and [`RecordingChat`] record messages in memory for tests.

mod api;
pub mod interaction;
mod message;
mod mrkdwn;
#[cfg(any(test, feature = "testing"))]
mod recording;
mod render;
pub mod signature;
pub mod thread;
mod webhook;

pub use api::{SlackApi, parse_bot_token};
pub use message::{
    MAX_BLOCKS, MAX_FIELD_TEXT, MAX_FIELDS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, build_changed_again,
    build_decision_alert, build_message, limits_problem,
};
pub use mrkdwn::escape;
#[cfg(any(test, feature = "testing"))]
pub use recording::{RecordingChat, RecordingNotifier};
pub use render::message_text;
pub use webhook::{SlackWebhook, parse_webhook_secret};
