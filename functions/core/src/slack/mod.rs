//! Slack: Block Kit messages for each check outcome, and the incoming-webhook notifier.
//!
//! - [`build_message`] turns a [`CheckOutcome`](crate::model::CheckOutcome) into a
//!   webhook payload (`text` fallback + `blocks`) that respects Block Kit limits.
//! - [`message_text`] renders a payload as plain text for terminals (demo, CLI).
//! - [`SlackWebhook`] posts payloads to an incoming webhook whose URL is a secret.
//! - [`RecordingNotifier`] records payloads in memory for tests.

mod message;
mod mrkdwn;
mod recording;
mod render;
mod webhook;

pub use message::{
    MAX_BLOCKS, MAX_FIELD_TEXT, MAX_FIELDS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, build_message,
    limits_problem,
};
pub use mrkdwn::escape;
pub use recording::RecordingNotifier;
pub use render::message_text;
pub use webhook::{SlackWebhook, parse_webhook_secret};
