//! One thread per drift (Slack app): the alert is the thread's parent, with
//! the decision buttons in approval mode; every follow-up is a reply, and the
//! parent is updated to say where the drift stands.

use serde_json::{Value, json};

use super::interaction::{action_ids, block_ids};
use super::message::{
    FIELDS_BLOCK, SUMMARY_BLOCK, decision_text, person, status_icon, status_title,
};
use super::mrkdwn::{code, date, escape, link, truncate, truncate_plain};
use driftguard_core::model::{ApprovalDecision, CheckOutcome, CheckStatus, DriftDecision};

const MAX_SECTION_TEXT: usize = super::MAX_SECTION_TEXT;
const MAX_REASON_CHARS: u32 = 500;

pub use driftguard_core::alerting::DecisionRequest;

/// The alert with Fix / Accept / Dismiss, inserted before the link buttons and
/// the context line at its end.
pub fn with_decision(payload: &Value, request: &DecisionRequest<'_>) -> Value {
    let mut out = payload.clone();
    let blocks = out
        .get_mut("blocks")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let tail_from = blocks
        .iter()
        .rposition(|b| b["type"] != "actions" && b["type"] != "context")
        .map_or(0, |i| i + 1);
    let mut head = blocks;
    let tail = head.split_off(tail_from);
    // Keep within Slack's 50 blocks: the decision needs 4.
    head.truncate(super::MAX_BLOCKS - tail.len() - 4);
    head.push(json!({"type": "divider"}));
    head.extend(decision_blocks(request));
    head.extend(tail);
    out["blocks"] = Value::Array(head);
    out
}

fn decision_blocks(request: &DecisionRequest<'_>) -> Vec<Value> {
    let approvers = if request.approvers.is_empty() {
        "nobody is configured yet (set slack.approvers of this workspace route)".to_string()
    } else {
        request
            .approvers
            .iter()
            .map(|id| {
                if id.starts_with('S') {
                    format!("<!subteam^{id}>")
                } else {
                    format!("<@{id}>")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let resources = if request.drifted_resources == 1 {
        "the drifted resource".to_string()
    } else {
        format!("the {} drifted resources", request.drifted_resources)
    };
    let destroy = destroy_terms(request);
    let intro = format!(
        "*What should DriftGuard do?* (decide by {}; until then the check waits)\n\
         • *Fix drift*: a run targeted to {resources}, applied only if its plan changes back nothing but this drift{}.\n\
         • *Accept drift*: keep it until the date beside the button; write why above. It is not alerted again until then.\n\
         • *Dismiss*: change nothing.\n\
         Who may decide: {approvers}.",
        date(&epoch_rfc3339(request.deadline_epoch)),
        destroy.intro,
    );
    let id = request.approval_id;
    vec![
        json!({
            "type": "section",
            "block_id": block_ids::INTRO,
            "text": {"type": "mrkdwn", "text": truncate(&intro, MAX_SECTION_TEXT)},
        }),
        json!({
            "type": "input",
            "block_id": block_ids::REASON,
            "optional": true,
            "label": {"type": "plain_text", "text": "Why accept this drift? (needed for Accept drift)"},
            "element": {
                "type": "plain_text_input",
                "action_id": action_ids::ACCEPT_REASON,
                "max_length": MAX_REASON_CHARS,
                "placeholder": {"type": "plain_text", "text": "e.g. vendor hot-fix, reverted in the next release"},
            },
        }),
        json!({
            "type": "actions",
            "block_id": block_ids::ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": action_ids::FIX,
                    "text": {"type": "plain_text", "text": "Fix drift", "emoji": true},
                    "style": "primary",
                    "value": id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Fix the drift?"},
                        "text": {"type": "mrkdwn", "text": truncate(&format!(
                            "DriftGuard creates a run targeted to {resources} and applies it only if its plan changes back nothing but this drift ({}).",
                            destroy.confirm
                        ), 300)},
                        "confirm": {"type": "plain_text", "text": "Fix drift"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "datepicker",
                    "action_id": action_ids::ACCEPT_UNTIL,
                    "initial_date": request.default_until,
                    "placeholder": {"type": "plain_text", "text": "Accept until"},
                },
                {
                    "type": "button",
                    "action_id": action_ids::ACCEPT,
                    "text": {"type": "plain_text", "text": "Accept drift", "emoji": true},
                    "value": id,
                },
                {
                    "type": "button",
                    "action_id": action_ids::DISMISS,
                    "text": {"type": "plain_text", "text": "Dismiss", "emoji": true},
                    "value": id,
                },
            ],
        }),
    ]
}

/// What the decision says about destroy and replace: the dialog promises
/// "no destroy" only when `allow_destructive_remediation` is off, and names
/// what the drift plan would destroy or replace.
struct DestroyTerms {
    /// Appended to the Fix drift line of the intro.
    intro: String,
    /// Inside the confirm dialog's parentheses.
    confirm: String,
}

fn destroy_terms(request: &DecisionRequest<'_>) -> DestroyTerms {
    const NAMED: usize = 3;
    let named = if request.destructive.is_empty() {
        String::new()
    } else {
        let mut names: Vec<String> = request
            .destructive
            .iter()
            .take(NAMED)
            .map(|a| code(&truncate_plain(a, 60)))
            .collect();
        if request.destructive.len() > NAMED {
            names.push(format!("{} more", request.destructive.len() - NAMED));
        }
        names.join(", ")
    };
    match (request.allow_destructive, named.is_empty()) {
        (false, true) => DestroyTerms {
            intro: " (no destroy or replace, no unapplied code)".into(),
            confirm: "no destroy, no unapplied code".into(),
        },
        (false, false) => DestroyTerms {
            intro: format!(
                " (no destroy or replace, no unapplied code); this drift's plan replaces or destroys {named}, so a fix is skipped unless its plan no longer does"
            ),
            confirm: format!(
                "no destroy, no unapplied code; the drift plan destroys or replaces {named}, so the fix is skipped unless its plan no longer does"
            ),
        },
        (true, true) => DestroyTerms {
            intro: " (no unapplied code); it may destroy or replace resources: allow_destructive_remediation = true".into(),
            confirm: "no unapplied code; destroy and replace are allowed: allow_destructive_remediation = true".into(),
        },
        (true, false) => DestroyTerms {
            intro: format!(
                " (no unapplied code); it may destroy or replace resources (allow_destructive_remediation = true): this drift's plan destroys or replaces {named}"
            ),
            confirm: format!(
                "no unapplied code; allow_destructive_remediation = true, and it destroys or replaces {named}"
            ),
        },
    }
}

fn epoch_rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The parent message after a follow-up: its header says the latest status,
/// the decision blocks and the first summary are gone (no more clicks, no
/// stale sentence), the Status field says the latest status, and a status
/// line under the header says what happened last.
pub fn annotate_parent(
    parent: &Value,
    status: CheckStatus,
    workspace: &str,
    latest: &str,
) -> Value {
    let mut out = parent.clone();
    let decision_blocks = [
        block_ids::INTRO,
        block_ids::REASON,
        block_ids::ACTIONS,
        block_ids::STATUS,
        SUMMARY_BLOCK,
    ];
    let mut blocks: Vec<Value> = out
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| {
            !b.get("block_id")
                .and_then(Value::as_str)
                .is_some_and(|id| decision_blocks.contains(&id))
        })
        .collect();
    // A divider left dangling before the link buttons by the removal.
    if let Some(i) = blocks.iter().rposition(|b| b["type"] == "divider") {
        if blocks
            .get(i + 1)
            .is_none_or(|b| b["type"] == "actions" || b["type"] == "context")
        {
            blocks.remove(i);
        }
    }
    for block in blocks.iter_mut().filter(|b| b["block_id"] == FIELDS_BLOCK) {
        for field in block["fields"].as_array_mut().into_iter().flatten() {
            if field["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("*Status*\n"))
            {
                field["text"] = json!(format!("*Status*\n{}", escape(status.as_str())));
            }
        }
    }
    let title = format!(
        "{} {}: {workspace}",
        status_icon(status),
        status_title(status)
    );
    let status_block = json!({
        "type": "section",
        "block_id": block_ids::STATUS,
        "text": {"type": "mrkdwn", "text": truncate(latest, MAX_SECTION_TEXT)},
    });
    match blocks.iter().position(|b| b["type"] == "header") {
        Some(i) => {
            blocks[i] = json!({"type": "header", "text": {"type": "plain_text", "text": truncate_plain(&title, 150), "emoji": true}});
            blocks.insert(i + 1, status_block);
        }
        None => blocks.insert(0, status_block),
    }
    out["blocks"] = Value::Array(blocks);
    out["text"] = json!(escape(&format!("{} in {workspace}", status_title(status))));
    out
}

/// The status line of the parent after `outcome` (who decided, what happened).
pub fn latest_line(outcome: &CheckOutcome, execution_url: &str) -> String {
    let execution = link(execution_url, "execution");
    let run = outcome
        .remediation
        .as_ref()
        .and_then(|r| r.run.as_ref())
        .map(|r| link(&r.run_url, &r.run_id));
    let by = outcome
        .approval
        .as_ref()
        .and_then(|a| a.by.as_ref())
        .map(person);
    let latest = match outcome.status {
        CheckStatus::DriftDetected => match (&outcome.approval, by) {
            (
                Some(ApprovalDecision {
                    decision: DriftDecision::Fix,
                    ..
                }),
                Some(by),
            ) => {
                format!(
                    "*Latest:* {by} approved the fix; DriftGuard is creating a targeted run ({execution})."
                )
            }
            _ => format!("*Latest:* drift detected ({execution})."),
        },
        CheckStatus::Remediated => format!(
            "*Latest:* remediated by run {}{} ({execution}).",
            run.unwrap_or_else(|| "(not recorded)".into()),
            by.map(|b| format!(", approved by {b}")).unwrap_or_default()
        ),
        CheckStatus::RemediationSkipped => format!(
            "*Latest:* remediation skipped, the drift remains: {} ({execution}).",
            escape(
                outcome
                    .remediation
                    .as_ref()
                    .and_then(|r| r.safety.as_ref())
                    .map(|s| s.reason.as_str())
                    .unwrap_or("no safety assessment")
            )
        ),
        CheckStatus::RemediationFailed => format!(
            "*Latest:* remediation failed{}, the drift may remain ({execution}).",
            run.map(|r| format!(" (run {r})")).unwrap_or_default()
        ),
        CheckStatus::DriftAccepted => {
            let approval = outcome.approval.as_ref();
            format!(
                "*Latest:* accepted by {} until {} (end of day, UTC): {}",
                by.unwrap_or_else(|| "someone".into()),
                escape(approval.and_then(|a| a.until.as_deref()).unwrap_or("?")),
                escape(
                    approval
                        .and_then(|a| a.reason.as_deref())
                        .unwrap_or("no reason given")
                )
            )
        }
        CheckStatus::DriftDismissed => format!(
            "*Latest:* dismissed by {}; nothing was changed.",
            by.unwrap_or_else(|| "someone".into())
        ),
        CheckStatus::ApprovalExpired => {
            "*Latest:* nobody decided in time; nothing was changed. The buttons have expired."
                .to_string()
        }
        CheckStatus::CheckFailed => format!(
            "*Latest:* the check failed{} ({execution}); see the thread for the cause and how to redrive.",
            outcome
                .failure
                .as_ref()
                .map(|f| format!(" with {}", code(&f.error)))
                .unwrap_or_default()
        ),
        CheckStatus::NoDrift => {
            format!("*Latest:* resolved: a check found no drift ({execution}).")
        }
    };
    truncate(&latest, MAX_SECTION_TEXT)
}

/// A thread reply for an outcome: one line for a decision, the full message
/// (remediation details, failure and redrive hint) for the rest.
pub fn reply(outcome: &CheckOutcome, execution_url: &str) -> Value {
    let short = match outcome.status {
        CheckStatus::DriftDetected => decision_text(outcome).map(|d| {
            format!("{d} DriftGuard is creating a run targeted to the drifted resources; the result follows here.")
        }),
        CheckStatus::DriftAccepted | CheckStatus::DriftDismissed => decision_text(outcome),
        CheckStatus::ApprovalExpired => Some(
            "⌛ *No decision in time*: nobody chose Fix, Accept or Dismiss before the approval time ran out. \
             Nothing was changed; the buttons have expired."
                .to_string(),
        ),
        _ => None,
    };
    match short {
        Some(text) => json!({
            "text": truncate(&text, 400),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_SECTION_TEXT)}}],
        }),
        None => super::build_message(outcome, execution_url),
    }
}

/// The parent's status line once its drift changed again (the newest reply says how).
pub fn changed_again_line(execution_url: &str) -> String {
    format!(
        "*Latest:* changed again outside Terraform; the newest reply in this thread shows it ({}).",
        link(execution_url, "execution")
    )
}

/// The reply to a thread whose drift a later check found gone.
pub fn resolved_reply(execution_url: &str, started_at: &str) -> Value {
    let text = format!(
        "✅ *Resolved*: a check at {} found no drift in this workspace any more ({}).",
        date(started_at),
        link(execution_url, "execution")
    );
    json!({
        "text": "Drift resolved: a later check found no drift",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Value {
        json!({
            "text": "Drift detected in acme/prod",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "⚠️ Drift detected: acme/prod"}},
                {"type": "section", "block_id": "driftguard_summary", "text": {"type": "mrkdwn", "text": "Nothing is changed until an approver decides below."}},
                {"type": "section", "block_id": "driftguard_fields", "fields": [{"type": "mrkdwn", "text": "*Status*\nDriftDetected"}]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "details"}},
                {"type": "actions", "elements": [{"type": "button", "url": "https://x.test", "action_id": "open_execution", "text": {"type": "plain_text", "text": "Open"}}]},
                {"type": "context", "elements": []}
            ]
        })
    }

    fn request() -> DecisionRequest<'static> {
        DecisionRequest {
            approval_id: "abc",
            drifted_resources: 2,
            deadline_epoch: 1_900_000_000,
            default_until: "2030-01-31".into(),
            approvers: &[],
            allow_destructive: false,
            destructive: &[],
        }
    }

    fn fix_dialog(with: &Value) -> String {
        let blocks = with["blocks"].as_array().unwrap();
        let actions = blocks
            .iter()
            .find(|b| b["block_id"] == block_ids::ACTIONS)
            .unwrap();
        let fix = actions["elements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action_id"] == action_ids::FIX)
            .unwrap();
        fix["confirm"]["text"]["text"].as_str().unwrap().to_string()
    }

    #[test]
    fn the_fix_dialog_promises_no_destroy_only_when_destroy_is_off() {
        let off = fix_dialog(&with_decision(&alert(), &request()));
        assert!(off.contains("no destroy"), "{off}");
        assert!(
            !off.contains("allow_destructive_remediation = true"),
            "{off}"
        );

        let replaced = ["aws_instance.app".to_string()];
        let blocked = DecisionRequest {
            destructive: &replaced,
            ..request()
        };
        let off = fix_dialog(&with_decision(&alert(), &blocked));
        assert!(off.contains("no destroy"), "{off}");
        assert!(
            off.contains("`aws_instance.app`"),
            "names what blocks the fix: {off}"
        );
        assert!(off.contains("skipped"), "{off}");

        let allowed = DecisionRequest {
            allow_destructive: true,
            destructive: &replaced,
            ..request()
        };
        let with = with_decision(&alert(), &allowed);
        let on = fix_dialog(&with);
        assert!(!on.contains("no destroy"), "{on}");
        assert!(on.contains("allow_destructive_remediation = true"), "{on}");
        assert!(on.contains("`aws_instance.app`"), "{on}");
        assert!(
            on.chars().count() <= 300,
            "Slack's confirm text limit: {on}"
        );
        let intro = with["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block_id"] == block_ids::INTRO)
            .unwrap()["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(intro.contains("may destroy or replace"), "{intro}");

        let nothing_destructive = DecisionRequest {
            allow_destructive: true,
            ..request()
        };
        let on = fix_dialog(&with_decision(&alert(), &nothing_destructive));
        assert!(!on.contains("no destroy"), "{on}");
        assert!(on.contains("allow_destructive_remediation = true"), "{on}");
    }

    #[test]
    fn decision_blocks_sit_before_the_links_and_carry_the_id_only() {
        let with = with_decision(&alert(), &request());
        let blocks = with["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "header", "section", "section", "section", "divider", "section", "input",
                "actions", "actions", "context"
            ]
        );
        let buttons: Vec<&Value> = blocks[7]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "button")
            .collect();
        assert_eq!(buttons.len(), 3);
        assert!(buttons.iter().all(|b| b["value"] == "abc"));
        assert_eq!(blocks[7]["elements"][1]["initial_date"], "2030-01-31");
    }

    #[test]
    fn an_annotated_parent_has_no_buttons_and_says_the_latest() {
        let with = with_decision(&alert(), &request());
        let updated = annotate_parent(
            &with,
            CheckStatus::DriftDismissed,
            "acme/prod",
            "*Latest:* dismissed",
        );
        let blocks = updated["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "🔕 Drift dismissed: acme/prod");
        assert_eq!(blocks[1]["block_id"], block_ids::STATUS);
        assert!(
            blocks
                .iter()
                .all(|b| b["block_id"] != block_ids::ACTIONS && b["type"] != "input")
        );
        assert!(blocks.iter().all(|b| b["type"] != "divider"), "{blocks:?}");
        assert!(
            !updated.to_string().contains("until an approver decides"),
            "the stale summary is gone"
        );
        assert!(
            updated.to_string().contains("*Status*\\nDriftDismissed"),
            "{updated}"
        );
        // Annotating again replaces the status line.
        let again = annotate_parent(
            &updated,
            CheckStatus::NoDrift,
            "acme/prod",
            "*Latest:* resolved",
        );
        let status: Vec<&Value> = again["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["block_id"] == block_ids::STATUS)
            .collect();
        assert_eq!(status.len(), 1);
        assert_eq!(status[0]["text"]["text"], "*Latest:* resolved");
    }
}
