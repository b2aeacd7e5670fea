//! The Slack adapter of the core's alerting and approval ports: Block Kit
//! messages for each check outcome ([`BlockKit`], the core's `AlertFormat`),
//! the incoming-webhook notifier, the Web API of the Slack app, and its
//! Request URL (request signatures, interactions, approvers).
//!
//! - [`build_message`] turns a [`CheckOutcome`](driftguard_core::model::CheckOutcome) into a
//!   payload (`text` fallback + `blocks`) that respects Block Kit limits.
//! - [`message_text`] renders a payload as plain text for terminals (demo, CLI).
//! - [`SlackWebhook`] posts payloads to an incoming webhook whose URL is a secret.
//! - [`SlackApi`] is the Web API with the app's bot token (`chat.postMessage`,
//!   `chat.update`, `usergroups.users.list`, `response_url`).
//! - [`request_url`] answers button clicks: [`signature`] verifies that a
//!   request comes from Slack; [`interaction`]
//!   reads a button click; [`thread`] builds the decision buttons, replies and
//!   parent updates.

mod api;
mod format;
pub mod interaction;
mod message;
mod mrkdwn;
mod render;
pub mod request_url;
pub mod signature;
pub mod thread;
mod webhook;

pub use api::{SlackApi, parse_bot_token};
pub use format::BlockKit;
pub use message::{
    MAX_BLOCKS, MAX_FIELD_TEXT, MAX_FIELDS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, build_changed_again,
    build_decision_alert, build_message, limits_problem,
};
pub use mrkdwn::escape;
pub use render::message_text;
pub use webhook::{SlackWebhook, parse_webhook_secret};
