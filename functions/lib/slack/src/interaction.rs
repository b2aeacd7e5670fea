//! Slack interaction payloads: what Slack posts to the app's Request URL when
//! someone clicks a button — `application/x-www-form-urlencoded` with one
//! field, `payload`, a JSON `block_actions` document. Only called after the
//! request's signature was verified.

use serde::Deserialize;
use serde_json::Value;

use driftguard_core::model::SlackUser;

/// `action_id`s of DriftGuard's decision elements.
pub mod action_ids {
    pub const FIX: &str = "driftguard_fix";
    pub const ACCEPT: &str = "driftguard_accept";
    pub const DISMISS: &str = "driftguard_dismiss";
    /// The acceptance's last day (a datepicker beside the buttons).
    pub const ACCEPT_UNTIL: &str = "driftguard_accept_until";
    /// The acceptance's reason (a text input above the buttons).
    pub const ACCEPT_REASON: &str = "driftguard_accept_reason";
}

/// `block_id`s of the decision blocks (removed when the alert is updated).
pub mod block_ids {
    pub const INTRO: &str = "driftguard_decision_intro";
    pub const REASON: &str = "driftguard_decision_reason";
    pub const ACTIONS: &str = "driftguard_decision";
    pub const STATUS: &str = "driftguard_status";
}

/// An interaction payload, reduced to what DriftGuard reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Interaction {
    BlockActions(BlockActions),
    /// Another payload type (`view_submission`, `shortcut`, …): acknowledged, ignored.
    Other(String),
}

/// A `block_actions` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockActions {
    pub user: SlackUser,
    /// `team.id` (or, for an org-wide app whose `team` is null, `user.team_id`).
    pub team_id: Option<String>,
    /// `api_app_id`: the app the interaction is for.
    pub api_app_id: Option<String>,
    pub response_url: Option<String>,
    pub actions: Vec<Action>,
    /// `state.values`: block id → action id → element state.
    pub state: Value,
}

/// One element that was used.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    team: Option<RawTeam>,
    #[serde(default)]
    api_app_id: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    state: Option<RawState>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct RawTeam {
    id: String,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    values: Value,
}

/// Parses a verified request body. The error says what is wrong (for the log).
pub fn parse(body: &[u8]) -> Result<Interaction, String> {
    let payload = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("the body has no 'payload' form field")?;
    let raw: RawPayload = serde_json::from_str(&payload)
        .map_err(|e| format!("the payload is not an interaction payload: {e}"))?;
    if raw.kind != "block_actions" {
        return Ok(Interaction::Other(raw.kind));
    }
    let user = raw.user.ok_or("a block_actions payload without a user")?;
    Ok(Interaction::BlockActions(BlockActions {
        team_id: raw.team.map(|t| t.id).or(user.team_id),
        api_app_id: raw.api_app_id,
        user: SlackUser {
            name: user.username.or(user.name).unwrap_or_default(),
            id: user.id,
        },
        response_url: raw.response_url,
        actions: raw.actions,
        state: raw.state.map(|s| s.values).unwrap_or(Value::Null),
    }))
}

impl BlockActions {
    /// The state of an element anywhere in the message (`state.values`).
    pub fn element_state(&self, action_id: &str) -> Option<&Value> {
        self.state
            .as_object()?
            .values()
            .find_map(|block| block.get(action_id))
    }

    /// The text typed into a text input (empty input → `None`).
    pub fn text_input(&self, action_id: &str) -> Option<String> {
        self.element_state(action_id)?
            .get("value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The date chosen in a datepicker (`YYYY-MM-DD`).
    pub fn selected_date(&self, action_id: &str) -> Option<String> {
        self.element_state(action_id)?
            .get("selected_date")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(payload: &Value) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn reads_a_block_actions_payload() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T1"},
            "api_app_id": "A1",
            "team": {"id": "T1", "domain": "acme"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1", "is_ephemeral": false},
            "response_url": "https://hooks.slack.com/actions/T1/1/abc",
            "state": {"values": {
                "driftguard_decision_reason": {"driftguard_accept_reason": {"type": "plain_text_input", "value": "  vendor change  "}},
                "driftguard_decision": {"driftguard_accept_until": {"type": "datepicker", "selected_date": "2030-01-31"}}
            }},
            "actions": [{"action_id": "driftguard_accept", "block_id": "driftguard_decision", "type": "button", "value": "abc123", "action_ts": "1.3"}]
        });
        let Interaction::BlockActions(b) = parse(&form(&payload)).unwrap() else {
            panic!("not block_actions")
        };
        assert_eq!(b.user.id, "U0ALICE");
        assert_eq!(b.user.name, "alice");
        assert_eq!(b.actions[0].action_id, action_ids::ACCEPT);
        assert_eq!(b.actions[0].value.as_deref(), Some("abc123"));
        assert_eq!(
            b.text_input(action_ids::ACCEPT_REASON).as_deref(),
            Some("vendor change")
        );
        assert_eq!(
            b.selected_date(action_ids::ACCEPT_UNTIL).as_deref(),
            Some("2030-01-31")
        );
    }

    #[test]
    fn other_payloads_and_garbage() {
        assert_eq!(
            parse(&form(&json!({"type": "view_submission"}))).unwrap(),
            Interaction::Other("view_submission".into())
        );
        assert!(parse(b"payload=%7Bnot").is_err());
        assert!(parse(b"text=hello").is_err());
        assert!(parse(&form(&json!({"type": "block_actions"}))).is_err());
    }
}
