//! The Block Kit message for one check outcome.
//!
//! Layout: header (status and workspace), summary, fields (counts and links),
//! who changed what (CloudTrail), drifted resources with attribute names,
//! remediation, failure and redrive hint, link buttons, context line.
//! Every piece of user-controlled text is escaped, and every list is capped so
//! the message stays inside Block Kit's limits whatever the input.

use serde_json::{Value, json};

use super::mrkdwn::{code, code_block, date, escape, is_web_url, link, truncate, truncate_plain};
use driftguard_core::model::{
    ApprovalDecision, Change, CheckOutcome, CheckStatus, DriftDecision, DriftReport,
    DriftedResource, Failure, RemediationOutcome, RunInfo, SlackUser,
};

/// Most blocks Slack accepts in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters in a section's text.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Most characters in a header's plain text.
pub const MAX_HEADER_TEXT: usize = 150;
/// Most characters in one section field.
pub const MAX_FIELD_TEXT: usize = 2000;
/// Most fields in one section.
pub const MAX_FIELDS: usize = 10;

const MAX_BUTTON_TEXT: usize = 75;
const MAX_BUTTON_URL: usize = 3000;
/// Sections are packed below the limit, leaving room for a closing "and N more" line.
const SECTION_PACK_LIMIT: usize = MAX_SECTION_TEXT - 200;
/// Any one listed line (a change, a resource); longer lines are cut.
const MAX_LINE: usize = 700;
const MAX_CHANGES_LISTED: usize = 10;
const MAX_CHANGE_SECTIONS: usize = 3;
const MAX_RESOURCE_SECTIONS: usize = 8;
const MAX_ATTRIBUTES_PER_RESOURCE: usize = 12;
const MAX_TOUCHED_RESOURCES_PER_CHANGE: usize = 3;
const MAX_ADDRESSES_LISTED: usize = 15;
const MAX_CAUSE: usize = 1500;
const MAX_FALLBACK_TEXT: usize = 400;

/// What in a payload breaks Block Kit's limits (or leaves the fallback text
/// empty), if anything. [`build_message`] keeps every payload within them.
pub fn limits_problem(payload: &Value) -> Option<String> {
    let count = |text: &Value| text.as_str().map_or(0, |t| t.chars().count());
    let blocks = payload["blocks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if blocks.len() > MAX_BLOCKS {
        return Some(format!("{} blocks (at most {MAX_BLOCKS})", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("header") if count(&block["text"]["text"]) > MAX_HEADER_TEXT => {
                return Some(format!("header text of block {i} is too long"));
            }
            Some("section") => {
                if count(&block["text"]["text"]) > MAX_SECTION_TEXT {
                    return Some(format!("section text of block {i} is too long"));
                }
                let fields = block["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if fields.len() > MAX_FIELDS
                    || fields.iter().any(|f| count(&f["text"]) > MAX_FIELD_TEXT)
                {
                    return Some(format!("fields of block {i} break the limits"));
                }
            }
            Some("actions") => {
                for button in block["elements"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if count(&button["text"]["text"]) > MAX_BUTTON_TEXT
                        || count(&button["url"]) > MAX_BUTTON_URL
                    {
                        return Some(format!("a button of block {i} breaks the limits"));
                    }
                }
            }
            _ => {}
        }
    }
    if payload["text"].as_str().is_none_or(str::is_empty) {
        return Some("the fallback text is empty".into());
    }
    None
}

/// The Block Kit payload (`text` fallback + `blocks`) for a check outcome.
pub fn build_message(outcome: &CheckOutcome, execution_url: &str) -> Value {
    build(outcome, execution_url, false)
}

/// The first alert of a drift that asks a person to decide (approval mode):
/// its summary says the check waits; [`super::thread::with_decision`] adds the buttons.
pub fn build_decision_alert(outcome: &CheckOutcome, execution_url: &str) -> Value {
    build(outcome, execution_url, true)
}

/// The alert of a drift whose values changed again (the same addresses and
/// paths as the drift's open thread): posted in that thread, its header says
/// who changed it. `asks_decision` as in [`build_decision_alert`].
pub fn build_changed_again(
    outcome: &CheckOutcome,
    execution_url: &str,
    asks_decision: bool,
) -> Value {
    let mut payload = build(outcome, execution_url, asks_decision);
    let who = first_change(outcome)
        .and_then(|change| {
            change
                .actor
                .arn
                .as_deref()
                .or(change.actor.principal_id.as_deref())
        })
        .map(short_principal_name)
        .unwrap_or_else(|| "someone outside Terraform".to_string());
    let title = format!("🔁 Drift changed again by {who}: {}", outcome.check);
    if let Some(header) = payload
        .get_mut("blocks")
        .and_then(Value::as_array_mut)
        .and_then(|blocks| blocks.iter_mut().find(|b| b["type"] == "header"))
    {
        header["text"]["text"] = json!(truncate_plain(&title, MAX_HEADER_TEXT));
    }
    let text = payload["text"].as_str().unwrap_or_default().to_string();
    payload["text"] = json!(truncate(
        &format!("{} (changed again). {text}", escape(&title)),
        MAX_FALLBACK_TEXT
    ));
    payload
}

/// `block_id`s of the summary and the fields, which a later status replaces.
pub const SUMMARY_BLOCK: &str = "driftguard_summary";
pub const FIELDS_BLOCK: &str = "driftguard_fields";

fn build(outcome: &CheckOutcome, execution_url: &str, asks_decision: bool) -> Value {
    let mut summary_block = section(&summary(outcome, asks_decision));
    summary_block["block_id"] = json!(SUMMARY_BLOCK);
    let mut blocks = vec![
        header_block(&format!(
            "{} {}: {}",
            status_icon(outcome.status),
            status_title(outcome.status),
            outcome.check
        )),
        summary_block,
        fields_block(outcome),
    ];

    let changes = changes_sections(outcome);
    let resources = outcome
        .drift
        .as_ref()
        .map(resource_sections)
        .unwrap_or_default();
    let pending = outcome.drift.as_ref().and_then(pending_code_line);
    if !changes.is_empty() || !resources.is_empty() || pending.is_some() {
        blocks.push(divider());
    }
    blocks.extend(changes);
    blocks.extend(resources);
    if let Some(line) = pending {
        blocks.push(section(&line));
    }

    if let Some(text) = decision_text(outcome) {
        blocks.push(divider());
        blocks.push(section(&text));
    }
    if let Some(text) = remediation_text(outcome) {
        blocks.push(divider());
        blocks.push(section(&text));
    }
    if outcome.status == CheckStatus::CheckFailed {
        blocks.push(divider());
        blocks.push(section(&failure_text(outcome)));
    }
    if let Some(actions) = actions_block(outcome, execution_url) {
        blocks.push(actions);
    }
    blocks.push(context_block(outcome, execution_url));

    json!({
        "text": fallback_text(outcome),
        "blocks": within_block_limit(blocks),
    })
}

pub(super) fn status_icon(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::NoDrift => "✅",
        CheckStatus::DriftDetected => "⚠️",
        CheckStatus::Remediated => "🛠️",
        CheckStatus::RemediationSkipped => "✋",
        CheckStatus::RemediationFailed => "❌",
        CheckStatus::DriftAccepted => "📝",
        CheckStatus::DriftDismissed => "🔕",
        CheckStatus::ApprovalExpired => "⌛",
        CheckStatus::CheckFailed => "🚨",
    }
}

pub(super) fn status_title(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::NoDrift => "No drift",
        CheckStatus::DriftDetected => "Drift detected",
        CheckStatus::Remediated => "Drift remediated",
        CheckStatus::RemediationSkipped => "Remediation skipped",
        CheckStatus::RemediationFailed => "Remediation failed",
        CheckStatus::DriftAccepted => "Drift accepted",
        CheckStatus::DriftDismissed => "Drift dismissed",
        CheckStatus::ApprovalExpired => "No decision, approval expired",
        CheckStatus::CheckFailed => "Drift check failed",
    }
}

/// `<@U…>` (a mention Slack renders as the person's name) for a well-formed
/// user id, else the escaped name.
pub(super) fn person(user: &SlackUser) -> String {
    let is_id = user.id.len() >= 3
        && user.id.starts_with(['U', 'W'])
        && user
            .id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if is_id {
        format!("<@{}>", user.id)
    } else if user.name.is_empty() {
        "someone".into()
    } else {
        escape(&user.name)
    }
}

fn decider(approval: Option<&ApprovalDecision>) -> String {
    approval
        .and_then(|a| a.by.as_ref())
        .map(person)
        .unwrap_or_else(|| "someone".into())
}

/// Who decided what, when (approval mode): `None` without a person's decision.
pub(super) fn decision_text(outcome: &CheckOutcome) -> Option<String> {
    let approval = outcome.approval.as_ref().filter(|a| !a.automatic)?;
    let who = decider(Some(approval));
    let when = approval
        .decided_at
        .as_deref()
        .map(|t| format!(" at {}", date(t)))
        .unwrap_or_default();
    let line = match approval.decision {
        DriftDecision::Fix => format!("*Decision:* {who} approved the fix{when}."),
        DriftDecision::Accept => format!(
            "*Decision:* {who} accepted the drift{when} until {} (end of day, UTC). *Why:* {}",
            escape(approval.until.as_deref().unwrap_or("?")),
            escape(approval.reason.as_deref().unwrap_or("no reason given"))
        ),
        DriftDecision::Dismiss => format!("*Decision:* {who} dismissed the alert{when}."),
    };
    Some(truncate(&line, MAX_SECTION_TEXT))
}

fn summary(outcome: &CheckOutcome, asks_decision: bool) -> String {
    let workspace = code(&outcome.check.to_string());
    let drifted = drifted_count(outcome);
    let resources = plural(drifted, "resource", "resources");
    let text = match outcome.status {
        CheckStatus::NoDrift => format!(
            "*No drift* in {workspace}: the live resources match the Terraform configuration."
        ),
        CheckStatus::DriftDetected if asks_decision => format!(
            "*Drift detected* in {workspace}: {resources} changed outside Terraform. \
             Nothing is changed until an approver decides below."
        ),
        CheckStatus::DriftDetected => format!(
            "*Drift detected* in {workspace}: {resources} changed outside Terraform. \
             No remediation was attempted: review the plan, then apply it or update the configuration."
        ),
        CheckStatus::Remediated => {
            let reverted = outcome
                .remediation
                .as_ref()
                .and_then(|r| r.safety.as_ref())
                .map(|s| s.reverts_count)
                .filter(|count| *count > 0)
                .unwrap_or(drifted);
            format!(
                "*Drift remediated* in {workspace}: DriftGuard applied a targeted run that changed {} \
                 back to the Terraform configuration.",
                plural(reverted, "resource", "resources")
            )
        }
        CheckStatus::RemediationSkipped => format!(
            "*Remediation skipped* in {workspace}: DriftGuard did not apply the remediation plan, \
             so the drift ({resources}) remains. See why below."
        ),
        CheckStatus::RemediationFailed => {
            let ended = remediation_final_status(outcome)
                .map(|status| format!("ended {}", code(&status)))
                .unwrap_or_else(|| "did not finish".into());
            format!(
                "*Remediation failed* in {workspace}: the remediation run {ended}; \
                 the drift ({resources}) may remain."
            )
        }
        CheckStatus::DriftAccepted => format!(
            "*Drift accepted* in {workspace}: {resources} changed outside Terraform, accepted by {} until {} (end of day, UTC). \
             DriftGuard does not alert this drift again until then; any other drift still alerts.",
            decider(outcome.approval.as_ref()),
            escape(
                outcome
                    .approval
                    .as_ref()
                    .and_then(|a| a.until.as_deref())
                    .unwrap_or("?")
            )
        ),
        CheckStatus::DriftDismissed => format!(
            "*Drift dismissed* in {workspace} by {}: nothing was changed. The drift ({resources}) remains; \
             the same drift is not alerted again, new drift is.",
            decider(outcome.approval.as_ref())
        ),
        CheckStatus::ApprovalExpired => format!(
            "*No decision* in {workspace}: nobody chose Fix, Accept or Dismiss before the approval time ran out, \
             so nothing was changed. The drift ({resources}) remains; the same drift is not alerted again."
        ),
        CheckStatus::CheckFailed => {
            let failure = outcome.failure.clone().unwrap_or_default();
            let step = failure
                .failed_state
                .as_deref()
                .map(|state| format!(" at step {}", code(state)))
                .unwrap_or_default();
            let error = if failure.error.is_empty() {
                String::new()
            } else {
                format!(" with {}", code(&failure.error))
            };
            format!("*Drift check failed* for {workspace}: the execution stopped{step}{error}.")
        }
    };
    truncate(&text, MAX_SECTION_TEXT)
}

fn fields_block(outcome: &CheckOutcome) -> Value {
    let mut fields = vec![
        field("Workspace", &code(&outcome.check.to_string())),
        field("Status", &escape(outcome.status.as_str())),
    ];
    if let Some(drift) = &outcome.drift {
        let listed = drift.resources.len();
        let total = drifted_count(outcome);
        let count = if total > listed {
            format!("{total} ({} not listed here)", total - listed)
        } else {
            total.to_string()
        };
        fields.push(field("Drifted resources", &count));
        if drift.ignored > 0 {
            fields.push(field("Ignored by rules", &drift.ignored.to_string()));
        }
    }
    if let Some(run) = &outcome.run {
        fields.push(field("Plan run", &link(&run.run_url, &run.run_id)));
    }
    if let Some(run) = outcome.remediation.as_ref().and_then(|r| r.run.as_ref()) {
        fields.push(field("Remediation run", &link(&run.run_url, &run.run_id)));
    }
    fields.push(field("Started", &date(&outcome.started_at)));
    fields.truncate(MAX_FIELDS);
    json!({ "type": "section", "block_id": FIELDS_BLOCK, "fields": fields })
}

fn field(label: &str, value: &str) -> Value {
    mrkdwn_text(&truncate(&format!("*{label}*\n{value}"), MAX_FIELD_TEXT))
}

/// Who changed what: every change coalesced into the plan, else the one that started the check.
fn changes_sections(outcome: &CheckOutcome) -> Vec<Value> {
    let (changes, omitted): (Vec<&Change>, usize) = match &outcome.run {
        Some(run) if !run.changes.is_empty() => (run.changes.iter().collect(), run.changes_omitted),
        _ => (outcome.change.iter().collect(), 0),
    };
    if changes.is_empty() {
        return Vec::new();
    }
    let listed = changes.len().min(MAX_CHANGES_LISTED);
    let lines = changes[..listed]
        .iter()
        .map(|change| change_line(change))
        .collect();
    let not_listed = changes.len() - listed + omitted;
    let heading = if changes.len() + omitted == 1 {
        "*Who changed what*"
    } else {
        "*Who changed what* (all changes in this plan)"
    };
    line_sections(heading, lines, not_listed, "changes", MAX_CHANGE_SECTIONS)
}

fn change_line(change: &Change) -> String {
    let actor = &change.actor;
    let who = match actor.arn.as_deref().or(actor.principal_id.as_deref()) {
        Some(id) => format!(
            "*{}* ({}, {})",
            escape(&short_principal_name(id)),
            escape(&actor.actor_type),
            code(id)
        ),
        None => format!("*{}*", escape(&actor.actor_type)),
    };
    let mut line = format!(
        "• {who} called {} on *{}*",
        code(&change.event_name),
        escape(service_name(&change.event_source))
    );
    if !change.resources.is_empty() {
        let shown: Vec<String> = change
            .resources
            .iter()
            .take(MAX_TOUCHED_RESOURCES_PER_CHANGE)
            .map(|r| code(r))
            .collect();
        line.push_str(&format!(" ({}", shown.join(", ")));
        let more = change
            .resources
            .len()
            .saturating_sub(MAX_TOUCHED_RESOURCES_PER_CHANGE);
        if more > 0 {
            line.push_str(&format!(" and {more} more"));
        }
        line.push(')');
    }
    line.push_str(&format!(
        " in {}, account {}, at {}",
        escape(&change.aws_region),
        escape(&change.account_id),
        date(&change.event_time)
    ));
    if let Some(ip) = change.source_ip.as_deref().filter(|ip| !ip.is_empty()) {
        line.push_str(&format!(" from {}", escape(ip)));
    }
    truncate(&line, MAX_LINE)
}

/// A readable name for a principal ARN: the user or role (and session) name.
fn short_principal_name(arn_or_id: &str) -> String {
    let Some(resource) = arn_or_id
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4))
    else {
        return arn_or_id.to_string();
    };
    if let Some(role_and_session) = resource.strip_prefix("assumed-role/") {
        return role_and_session.to_string();
    }
    match resource.split_once('/') {
        // IAM names may sit under a path (`user/division/alice`): the name is the last part.
        Some((_kind, path_and_name)) => path_and_name
            .rsplit('/')
            .next()
            .unwrap_or(path_and_name)
            .to_string(),
        None => resource.to_string(),
    }
}

/// `ec2.amazonaws.com` → `ec2`.
fn service_name(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}

fn resource_sections(drift: &DriftReport) -> Vec<Value> {
    if drift.resources.is_empty() {
        return Vec::new();
    }
    let lines = drift.resources.iter().map(resource_line).collect();
    let total = drift
        .resource_count
        .max(drift.resources.len() + drift.omitted);
    let not_listed = total - drift.resources.len();
    line_sections(
        "*Drifted resources* (changed outside Terraform; attribute names, values are never shown)",
        lines,
        not_listed,
        "drifted resources (see the plan run)",
        MAX_RESOURCE_SECTIONS,
    )
}

/// One line for unapplied code changes, which are not drift.
fn pending_code_line(drift: &DriftReport) -> Option<String> {
    driftguard_core::plan::pending_code_sentence(drift.pending_changes.count)
        .map(|sentence| format!("_{sentence}._"))
}

fn resource_line(resource: &DriftedResource) -> String {
    let mut line = format!(
        "• {} — {}",
        code(&resource.address),
        escape(&action_label(&resource.actions))
    );
    if resource.deleted {
        line.push_str(" (deleted outside Terraform)");
    }
    if let Some(previous) = &resource.previous_address {
        line.push_str(&format!(" (moved from {})", code(previous)));
    }
    if resource.also_pending_code {
        line.push_str(" (+ unapplied code change)");
    }
    // Attribute names up to a count and length budget, so "and N more" is never cut off.
    let budget = MAX_LINE - 40;
    let mut shown = 0;
    for name in resource
        .changed_attributes
        .iter()
        .take(MAX_ATTRIBUTES_PER_RESOURCE)
    {
        let name = code(name);
        if line.chars().count() + name.chars().count() + 2 > budget {
            break;
        }
        line.push_str(if shown == 0 { ": " } else { ", " });
        line.push_str(&name);
        shown += 1;
    }
    let more = resource.changed_attributes.len() - shown;
    if more > 0 {
        let noun = if shown == 0 {
            "changed attributes"
        } else {
            "more"
        };
        line.push_str(&format!(" and {more} {noun}"));
    }
    truncate(&line, MAX_LINE)
}

fn action_label(actions: &[String]) -> String {
    let has = |name: &str| actions.iter().any(|a| a == name);
    if has("delete") && has("create") {
        "replace".to_string()
    } else if actions.is_empty() {
        "changed".to_string()
    } else {
        actions.join(" + ")
    }
}

/// Packs lines into as few sections as possible (each under the text limit, at most
/// `max_sections`), ending with "and N more" when lines were left out.
fn line_sections(
    heading: &str,
    lines: Vec<String>,
    already_hidden: usize,
    noun: &str,
    max_sections: usize,
) -> Vec<Value> {
    let total_lines = lines.len();
    let mut texts: Vec<String> = vec![heading.to_string()];
    let mut shown = 0;
    for line in lines {
        let Some(current) = texts.last_mut() else {
            break;
        };
        let fits = current.chars().count() + 1 + line.chars().count() <= SECTION_PACK_LIMIT;
        if fits {
            current.push('\n');
            current.push_str(&line);
        } else if texts.len() < max_sections {
            texts.push(line);
        } else {
            break;
        }
        shown += 1;
    }
    let hidden = already_hidden + (total_lines - shown);
    if hidden > 0 {
        if let Some(last) = texts.last_mut() {
            last.push_str(&format!("\n_…and {hidden} more {noun}_"));
        }
    }
    texts.iter().map(|text| section(text)).collect()
}

fn remediation_text(outcome: &CheckOutcome) -> Option<String> {
    let is_remediation_status = matches!(
        outcome.status,
        CheckStatus::Remediated | CheckStatus::RemediationSkipped | CheckStatus::RemediationFailed
    );
    if !is_remediation_status {
        return None;
    }
    let empty = RemediationOutcome::default();
    let remediation = outcome.remediation.as_ref().unwrap_or(&empty);
    let run_link = remediation
        .run
        .as_ref()
        .map(|run| link(&run.run_url, &run.run_id));
    let mut lines = vec!["*Remediation*".to_string()];
    match outcome.status {
        CheckStatus::Remediated => {
            lines.push(format!(
                "Applied remediation run {}; it ended {}.",
                run_link.unwrap_or_else(|| "(run not recorded)".into()),
                code(&remediation_final_status(outcome).unwrap_or_else(|| "applied".into()))
            ));
            if let Some(run) = &remediation.run {
                if !run.target_addrs.is_empty() {
                    lines.push(format!(
                        "Targeted: {}",
                        address_list_with_more(&run.target_addrs, run.targets_omitted)
                    ));
                }
            }
            if let Some(safety) = &remediation.safety {
                if !safety.no_longer_drifted.is_empty() {
                    lines.push(format!(
                        "No longer drifted when the remediation was planned (left unchanged): {}",
                        address_list(&safety.no_longer_drifted)
                    ));
                }
            }
        }
        CheckStatus::RemediationSkipped => {
            match &remediation.safety {
                Some(safety) => {
                    lines.push(format!("*Why:* {}", escape(&safety.reason)));
                    if !safety.destructive_addresses.is_empty() {
                        lines.push(format!(
                            "*Would destroy or replace:* {}",
                            address_list(&safety.destructive_addresses)
                        ));
                    }
                    if safety.discarded {
                        lines
                            .push("The remediation run was discarded; nothing was applied.".into());
                    }
                }
                None => lines.push("*Why:* no safety assessment was recorded.".into()),
            }
            if let Some(run_link) = run_link {
                lines.push(format!("Remediation run: {run_link}"));
            }
            lines.push(
                "Review the plan and apply it by hand, or update the configuration to accept the change."
                    .into(),
            );
        }
        _ => {
            let status = remediation
                .final_poll
                .as_ref()
                .map(|poll| code(&poll.status))
                .unwrap_or_else(|| "an unknown status".into());
            lines.push(format!(
                "The remediation run {} ended with {status}. Open the run to see the error; \
                 the drifted resources were not (or not all) brought back.",
                run_link.unwrap_or_else(|| "(run not recorded)".into()),
            ));
        }
    }
    Some(truncate(&lines.join("\n"), MAX_SECTION_TEXT))
}

fn remediation_final_status(outcome: &CheckOutcome) -> Option<String> {
    outcome
        .remediation
        .as_ref()
        .and_then(|r| r.final_poll.as_ref())
        .map(|poll| poll.status.clone())
}

fn address_list(addresses: &[String]) -> String {
    address_list_with_more(addresses, 0)
}

/// Addresses up to a count, then how many more (including `not_listed` ones).
fn address_list_with_more(addresses: &[String], not_listed: usize) -> String {
    let shown: Vec<String> = addresses
        .iter()
        .take(MAX_ADDRESSES_LISTED)
        .map(|a| code(a))
        .collect();
    let more = addresses.len().saturating_sub(MAX_ADDRESSES_LISTED) + not_listed;
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn failure_text(outcome: &CheckOutcome) -> String {
    let Some(failure) = &outcome.failure else {
        return "*Why it failed*\nNo failure details were recorded; open the execution to see them."
            .into();
    };
    let Failure {
        error,
        cause,
        failed_state,
        redrive_count,
    } = failure;
    let mut lines = vec![
        "*Why it failed*".to_string(),
        format!("*Error:* {}", code(error)),
    ];
    if *redrive_count > 0 {
        lines.push(format!(
            "*Failed again* after {}.",
            if *redrive_count == 1 {
                "a redrive".to_string()
            } else {
                format!("{redrive_count} redrives")
            }
        ));
    }
    if let Some(state) = failed_state {
        lines.push(format!("*Failed step:* {}", code(state)));
    }
    if !cause.is_empty() {
        let cause: String = cause.chars().take(MAX_CAUSE).collect();
        lines.push(format!("*Cause:*\n{}", code_block(&cause)));
    }
    let resumes_at = failed_state
        .as_deref()
        .map(|state| format!("it resumes at {}", code(state)))
        .unwrap_or_else(|| "it resumes at the failed step".into());
    let cli = if outcome.execution_id.starts_with("arn:") {
        format!(
            ", or `aws stepfunctions redrive-execution --execution-arn {}`",
            escape(&outcome.execution_id.replace('`', "'"))
        )
    } else {
        String::new()
    };
    lines.push(format!(
        "After fixing the cause, redrive the execution (Step Functions console → *Redrive*{cli}): {resumes_at}."
    ));
    truncate(&lines.join("\n"), MAX_SECTION_TEXT)
}

fn actions_block(outcome: &CheckOutcome, execution_url: &str) -> Option<Value> {
    let mut buttons = Vec::new();
    if let Some(run) = &outcome.run {
        buttons.extend(button(
            "Open plan run in HCP Terraform",
            &run.run_url,
            "open_plan_run",
        ));
    }
    if let Some(run) = outcome.remediation.as_ref().and_then(|r| r.run.as_ref()) {
        buttons.extend(button(
            "Open remediation run",
            &run.run_url,
            "open_remediation_run",
        ));
    }
    buttons.extend(button(
        "Open Step Functions execution",
        execution_url,
        "open_execution",
    ));
    (!buttons.is_empty()).then(|| json!({ "type": "actions", "elements": buttons }))
}

/// A link button, or nothing when the URL is not one Slack would accept.
fn button(label: &str, url: &str, action_id: &str) -> Option<Value> {
    (is_web_url(url) && url.len() <= MAX_BUTTON_URL).then(|| {
        json!({
            "type": "button",
            "text": { "type": "plain_text", "text": truncate_plain(label, MAX_BUTTON_TEXT), "emoji": true },
            "url": url,
            "action_id": action_id,
        })
    })
}

fn context_block(outcome: &CheckOutcome, execution_url: &str) -> Value {
    let execution_name = outcome
        .execution_id
        .rsplit(':')
        .next()
        .unwrap_or(&outcome.execution_id);
    let text = format!(
        "DriftGuard · execution {} · started {}",
        link(execution_url, execution_name),
        date(&outcome.started_at)
    );
    json!({
        "type": "context",
        "elements": [mrkdwn_text(&truncate(&text, MAX_SECTION_TEXT))],
    })
}

/// The notification text (also shown where blocks cannot be).
fn fallback_text(outcome: &CheckOutcome) -> String {
    let mut text = format!("{} in {}", status_title(outcome.status), outcome.check);
    match outcome.status {
        CheckStatus::NoDrift => {}
        CheckStatus::CheckFailed => {
            if let Some(failure) = &outcome.failure {
                text.push_str(&format!(": {}", failure.error));
            }
        }
        _ => {
            let count = drifted_count(outcome);
            text.push_str(&format!(
                ": {}",
                plural(count, "drifted resource", "drifted resources")
            ));
        }
    }
    if let Some(change) = first_change(outcome) {
        let who = change.actor.arn.as_deref().map(short_principal_name);
        text.push_str(&format!(
            " after {}{}",
            change.event_name,
            who.map(|name| format!(" by {name}")).unwrap_or_default()
        ));
    }
    truncate(&escape(&text), MAX_FALLBACK_TEXT)
}

fn first_change(outcome: &CheckOutcome) -> Option<&Change> {
    outcome
        .run
        .as_ref()
        .and_then(|run: &RunInfo| run.changes.first())
        .or(outcome.change.as_ref())
}

fn drifted_count(outcome: &CheckOutcome) -> usize {
    outcome
        .drift
        .as_ref()
        .map(|d| d.resource_count.max(d.resources.len() + d.omitted))
        .unwrap_or(0)
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

fn header_block(text: &str) -> Value {
    json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate_plain(text, MAX_HEADER_TEXT), "emoji": true },
    })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn_text(&truncate(text, MAX_SECTION_TEXT)) })
}

fn mrkdwn_text(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

fn divider() -> Value {
    json!({ "type": "divider" })
}

/// A last guard: the lists are capped well below 50 blocks, but if a future
/// change overflows, drop middle blocks and keep the links and context at the end.
fn within_block_limit(mut blocks: Vec<Value>) -> Vec<Value> {
    if blocks.len() <= MAX_BLOCKS {
        return blocks;
    }
    let tail = blocks.split_off(blocks.len() - 2);
    blocks.truncate(MAX_BLOCKS - tail.len() - 1);
    blocks.push(section(
        "_…more details were left out to fit Slack's message limits._",
    ));
    blocks.extend(tail);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_text;
    use driftguard_core::model::{
        Actor, CheckRef, PendingChange, Phase, PollState, SafetyAssessment,
    };

    const EXECUTION_URL: &str = "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1";

    fn change(event_name: &str, arn: &str) -> Change {
        Change {
            event_id: "ev-1".into(),
            event_name: event_name.into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time: "2024-05-01T10:00:00Z".into(),
            aws_region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            actor: Actor {
                actor_type: "AssumedRole".into(),
                arn: Some(arn.into()),
                principal_id: Some("AROAEXAMPLE:alice".into()),
            },
            source_ip: Some("203.0.113.9".into()),
            user_agent: Some("aws-cli/2.15".into()),
            resources: vec!["sg-0abc".into()],
        }
    }

    fn run(changes: Vec<Change>) -> RunInfo {
        RunInfo {
            run_id: "run-plan1".into(),
            run_url: "https://app.terraform.io/app/acme/workspaces/prod/runs/run-plan1".into(),
            workspace_id: "ws-1".into(),
            plan_id: Some("plan-1".into()),
            created_at: "2024-05-01T10:01:00Z".into(),
            changes,
            execution_mode: None,
            ..RunInfo::default()
        }
    }

    fn resource(address: &str, actions: &[&str], attributes: &[&str]) -> DriftedResource {
        DriftedResource {
            address: address.into(),
            resource_type: address.split('.').next().unwrap_or_default().into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            changed_attributes: attributes.iter().map(|a| a.to_string()).collect(),
            ..DriftedResource::default()
        }
    }

    fn drift(resources: Vec<DriftedResource>) -> DriftReport {
        DriftReport {
            drifted: !resources.is_empty(),
            resource_count: resources.len(),
            resources,
            fingerprint: "fp".into(),
            ..DriftReport::default()
        }
    }

    fn outcome(status: CheckStatus) -> CheckOutcome {
        let alice = "arn:aws:sts::123456789012:assumed-role/Admin/alice";
        CheckOutcome {
            poll: None,
            status,
            check: CheckRef {
                organization: "acme".into(),
                workspace: "prod".into(),
            },
            execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1"
                .into(),
            started_at: "2024-05-01T10:00:05Z".into(),
            change: Some(change("AuthorizeSecurityGroupIngress", alice)),
            run: Some(run(vec![change("AuthorizeSecurityGroupIngress", alice)])),
            drift: Some(drift(vec![resource(
                "aws_security_group.web",
                &["update"],
                &["ingress", "tags.Owner"],
            )])),
            remediation: None,
            failure: None,
            approval: None,
        }
    }

    fn remediation_run() -> RunInfo {
        RunInfo {
            run_id: "run-fix1".into(),
            run_url: "https://app.terraform.io/app/acme/workspaces/prod/runs/run-fix1".into(),
            target_addrs: vec!["aws_security_group.web".into()],
            ..run(vec![])
        }
    }

    fn final_poll(status: &str, phase: Phase) -> PollState {
        PollState {
            plan_seconds: None,
            apply_seconds: None,
            phase,
            status: status.into(),
            has_changes: Some(true),
            next_wait_seconds: 0,
            polls: 4,
            elapsed_seconds: 60,
            detail: None,
        }
    }

    fn blocks(payload: &Value) -> &Vec<Value> {
        payload["blocks"].as_array().expect("payload has blocks")
    }

    /// Every mrkdwn and plain text in the payload, joined.
    fn all_text(payload: &Value) -> String {
        let mut texts = Vec::new();
        collect_text(payload, &mut texts);
        texts.join("\n")
    }

    fn collect_text(value: &Value, texts: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("text" | "url", Value::String(s)) => texts.push(s.clone()),
                        _ => collect_text(v, texts),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_text(v, texts)),
            _ => {}
        }
    }

    fn assert_within_limits(payload: &Value) {
        if let Some(problem) = limits_problem(payload) {
            panic!("{problem}: {payload}");
        }
    }

    #[test]
    fn drift_detected_says_who_changed_what_and_where() {
        let payload = build_message(&outcome(CheckStatus::DriftDetected), EXECUTION_URL);
        assert_within_limits(&payload);
        let header = &blocks(&payload)[0];
        assert_eq!(header["type"], "header");
        assert_eq!(header["text"]["text"], "⚠️ Drift detected: acme/prod");

        let text = all_text(&payload);
        for expected in [
            "*Admin/alice* (AssumedRole, `arn:aws:sts::123456789012:assumed-role/Admin/alice`)",
            "called `AuthorizeSecurityGroupIngress` on *ec2* (`sg-0abc`)",
            "in eu-west-1, account 123456789012, at <!date^1714557600^",
            "from 203.0.113.9",
            "• `aws_security_group.web` — update: `ingress`, `tags.Owner`",
            "<https://app.terraform.io/app/acme/workspaces/prod/runs/run-plan1|run-plan1>",
            "No remediation was attempted",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(
            payload["text"],
            "Drift detected in acme/prod: 1 drifted resource after AuthorizeSecurityGroupIngress by Admin/alice"
        );

        let actions = blocks(&payload)
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        let urls: Vec<&str> = actions["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            vec![
                "https://app.terraform.io/app/acme/workspaces/prod/runs/run-plan1",
                EXECUTION_URL
            ]
        );
    }

    #[test]
    fn lists_every_coalesced_change_up_to_ten_then_counts_the_rest() {
        let mut outcome = outcome(CheckStatus::DriftDetected);
        let changes: Vec<Change> = (0..12)
            .map(|i| {
                change(
                    &format!("Event{i}"),
                    &format!("arn:aws:iam::123456789012:user/team/user{i}"),
                )
            })
            .collect();
        let mut plan_run = run(changes);
        plan_run.changes_omitted = 5;
        outcome.run = Some(plan_run);

        let text = all_text(&build_message(&outcome, EXECUTION_URL));
        assert!(
            text.contains("*user0* (AssumedRole"),
            "user name from a pathed IAM user ARN:\n{text}"
        );
        assert!(text.contains("`Event9`"));
        assert!(!text.contains("`Event10`"));
        assert!(
            text.contains("…and 7 more changes"),
            "2 not listed + 5 omitted:\n{text}"
        );
    }

    #[test]
    fn falls_back_to_the_triggering_change_without_run_changes() {
        let mut outcome = outcome(CheckStatus::NoDrift);
        outcome.run = Some(run(vec![]));
        outcome.change = Some(change("PutBucketPolicy", "arn:aws:iam::123456789012:root"));
        outcome.drift = Some(drift(vec![]));

        let payload = build_message(&outcome, EXECUTION_URL);
        assert_within_limits(&payload);
        let text = all_text(&payload);
        assert!(text.contains("*root* (AssumedRole"), "{text}");
        assert!(text.contains("`PutBucketPolicy`"));
        assert!(text.contains("*No drift* in `acme/prod`"));
        assert!(
            !text.contains("*Drifted resources* ("),
            "no resource list without drift"
        );
    }

    #[test]
    fn remediated_links_the_remediation_run() {
        let mut outcome = outcome(CheckStatus::Remediated);
        outcome.remediation = Some(RemediationOutcome {
            run: Some(remediation_run()),
            safety: Some(SafetyAssessment {
                safe: true,
                reason: "only updates".into(),
                reverts: vec!["aws_security_group.web".into()],
                reverts_count: 1,
                ..SafetyAssessment::default()
            }),
            final_poll: Some(final_poll("applied", Phase::Applied)),
        });
        let payload = build_message(&outcome, EXECUTION_URL);
        assert_within_limits(&payload);
        let text = all_text(&payload);
        assert!(text.contains("🛠️ Drift remediated: acme/prod"));
        assert!(text.contains("Applied remediation run <https://app.terraform.io/app/acme/workspaces/prod/runs/run-fix1|run-fix1>; it ended `applied`."), "{text}");
        assert!(text.contains("Targeted: `aws_security_group.web`"));
        let buttons = blocks(&payload)
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap()["elements"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(buttons, 3);
    }

    #[test]
    fn remediation_skipped_says_why_and_what_would_be_destroyed() {
        let mut outcome = outcome(CheckStatus::RemediationSkipped);
        outcome.drift = Some(drift(vec![resource(
            "aws_instance.app",
            &["delete", "create"],
            &["ami"],
        )]));
        outcome.remediation = Some(RemediationOutcome {
            run: Some(remediation_run()),
            safety: Some(SafetyAssessment {
                safe: false,
                reason: "the plan would replace 1 resource & destructive remediation is off".into(),
                destructive_addresses: vec!["aws_instance.app".into()],
                discarded: true,
                ..SafetyAssessment::default()
            }),
            final_poll: None,
        });
        let text = all_text(&build_message(&outcome, EXECUTION_URL));
        assert!(
            text.contains(
                "*Why:* the plan would replace 1 resource &amp; destructive remediation is off"
            ),
            "{text}"
        );
        assert!(text.contains("*Would destroy or replace:* `aws_instance.app`"));
        assert!(text.contains("The remediation run was discarded"));
        assert!(text.contains("• `aws_instance.app` — replace: `ami`"));
    }

    #[test]
    fn remediation_failed_gives_the_final_status() {
        let mut outcome = outcome(CheckStatus::RemediationFailed);
        outcome.remediation = Some(RemediationOutcome {
            run: Some(remediation_run()),
            safety: None,
            final_poll: Some(final_poll("errored", Phase::Errored)),
        });
        let text = all_text(&build_message(&outcome, EXECUTION_URL));
        assert!(
            text.contains(
                "*Remediation failed* in `acme/prod`: the remediation run ended `errored`"
            ),
            "{text}"
        );
        assert!(text.contains("The remediation run <https://app.terraform.io/app/acme/workspaces/prod/runs/run-fix1|run-fix1> ended with `errored`"));
    }

    #[test]
    fn check_failed_gives_cause_and_how_to_redrive() {
        let mut outcome = outcome(CheckStatus::CheckFailed);
        outcome.drift = None;
        outcome.failure = Some(Failure {
            error: "TfcUnauthorized".into(),
            cause: "HCP Terraform rejected the API token (401) even after re-reading secret 'driftguard/tfc'".into(),
            failed_state: Some("Create plan run".into()),
            redrive_count: 0,
        });
        let payload = build_message(&outcome, EXECUTION_URL);
        assert_within_limits(&payload);
        let text = all_text(&payload);
        assert!(text.contains("🚨 Drift check failed: acme/prod"));
        assert!(text.contains("*Error:* `TfcUnauthorized`"));
        assert!(text.contains("*Failed step:* `Create plan run`"));
        assert!(text.contains("```HCP Terraform rejected the API token (401)"));
        assert!(
            text.contains("After fixing the cause, redrive the execution"),
            "{text}"
        );
        assert!(text.contains("aws stepfunctions redrive-execution --execution-arn arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1"));
        assert!(text.contains("it resumes at `Create plan run`"));
        assert_eq!(
            payload["text"],
            "Drift check failed in acme/prod: TfcUnauthorized after AuthorizeSecurityGroupIngress by Admin/alice"
        );
    }

    #[test]
    fn user_controlled_text_is_escaped() {
        let mut outcome = outcome(CheckStatus::DriftDetected);
        let mut sneaky = change(
            "<!channel> Run`Instances",
            "arn:aws:iam::123456789012:user/<@U123>",
        );
        sneaky.resources = vec!["<https://evil.test|click me>".into()];
        outcome.run = Some(run(vec![sneaky]));
        outcome.drift = Some(drift(vec![resource(
            "aws_s3_bucket.a&b",
            &["update"],
            &["tags<x>"],
        )]));
        outcome.failure = None;

        let payload = build_message(&outcome, EXECUTION_URL);
        let text = all_text(&payload);
        assert!(!text.contains("<!channel>"));
        assert!(!text.contains("<@U123>"));
        assert!(!text.contains("<https://evil.test"));
        assert!(text.contains("`&lt;!channel&gt; Run'Instances`"), "{text}");
        assert!(text.contains("`aws_s3_bucket.a&amp;b`"));
        assert!(text.contains("`tags&lt;x&gt;`"));
        assert!(
            payload["text"]
                .as_str()
                .unwrap()
                .contains("&lt;!channel&gt;")
        );
        // And the terminal rendering shows the original characters.
        assert!(message_text(&payload).contains("<!channel> Run'Instances"));
    }

    #[test]
    fn pending_code_is_one_line_never_a_drifted_resource() {
        let mut drifted = outcome(CheckStatus::DriftDetected);
        let mut report = drift(vec![DriftedResource {
            deleted: true,
            also_pending_code: true,
            previous_address: Some("aws_iam_user.old".into()),
            ..resource("aws_iam_user.auditor", &["create"], &[])
        }]);
        report.pending_changes.count = 3;
        report.pending_changes.resources = vec![PendingChange {
            address: "aws_iam_user.reviewer".into(),
            resource_type: "aws_iam_user".into(),
            actions: vec!["create".into()],
            changed_attributes: vec![],
            previous_address: None,
        }];
        drifted.drift = Some(report.clone());
        let text = all_text(&build_message(&drifted, EXECUTION_URL));
        assert!(
            text.contains("_3 resources have unapplied code changes (not drift)._"),
            "{text}"
        );
        assert!(
            !text.contains("aws_iam_user.reviewer"),
            "pending code is not listed"
        );
        assert!(
            text.contains("• `aws_iam_user.auditor` — create (deleted outside Terraform) (moved from `aws_iam_user.old`) (+ unapplied code change)"),
            "{text}"
        );

        let mut quiet = outcome(CheckStatus::NoDrift);
        report.resources.clear();
        report.drifted = false;
        report.resource_count = 0;
        report.pending_changes.count = 1;
        quiet.drift = Some(report);
        let text = all_text(&build_message(&quiet, EXECUTION_URL));
        assert!(text.contains("_1 resource has unapplied code changes (not drift)._"));
        assert!(text.contains("*No drift*"));
    }

    #[test]
    fn remediated_names_what_was_no_longer_drifted() {
        let mut outcome = outcome(CheckStatus::Remediated);
        outcome.remediation = Some(RemediationOutcome {
            run: Some(RunInfo {
                targets_omitted: 4,
                ..remediation_run()
            }),
            safety: Some(SafetyAssessment {
                safe: true,
                reverts: vec!["aws_security_group.web".into()],
                reverts_count: 1,
                no_longer_drifted: vec!["aws_s3_bucket.logs".into()],
                ..SafetyAssessment::default()
            }),
            final_poll: Some(final_poll("applied", Phase::Applied)),
        });
        let text = all_text(&build_message(&outcome, EXECUTION_URL));
        assert!(
            text.contains("a targeted run that changed 1 resource back"),
            "{text}"
        );
        assert!(
            text.contains("Targeted: `aws_security_group.web` and 4 more"),
            "{text}"
        );
        assert!(
            text.contains("No longer drifted when the remediation was planned (left unchanged): `aws_s3_bucket.logs`"),
            "{text}"
        );
    }

    #[test]
    fn sixty_drifted_resources_stay_within_block_kit_limits() {
        let mut outcome = outcome(CheckStatus::DriftDetected);
        let many: Vec<DriftedResource> = (0..60)
            .map(|i| {
                let attributes: Vec<String> = (0..20)
                    .map(|a| format!("ingress[{a}].cidr_blocks_{}", "x".repeat(30)))
                    .collect();
                let attributes: Vec<&str> = attributes.iter().map(String::as_str).collect();
                resource(
                    &format!(
                        "module.network.aws_security_group.sg_{i}_{}",
                        "n".repeat(40)
                    ),
                    &["update"],
                    &attributes,
                )
            })
            .collect();
        let mut report = drift(many);
        report.resource_count = 75;
        report.omitted = 15;
        report.truncated = true;
        report.ignored = 4;
        outcome.drift = Some(report);
        outcome.check.workspace = "w".repeat(300);

        let payload = build_message(&outcome, EXECUTION_URL);
        assert_within_limits(&payload);
        let text = all_text(&payload);
        assert!(
            text.contains("*Drifted resources*\n75 (15 not listed here)"),
            "{text}"
        );
        assert!(text.contains("*Ignored by rules*\n4"));
        assert!(text.contains("more drifted resources (see the plan run)_"));
        assert!(text.contains("`module.network.aws_security_group.sg_0_"));
        assert!(
            text.lines()
                .filter(|l| l.starts_with("• `module.network"))
                .all(|l| l.ends_with(" more")),
            "attributes left out are counted"
        );

        // Listed + "and N more" accounts for all 75.
        let listed = text.matches("• `module.network").count();
        let more: usize = text
            .split("_…and ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(listed + more, 75, "listed {listed}, more {more}");
    }

    #[test]
    fn block_limit_guard_keeps_links_and_context() {
        let many: Vec<Value> = (0..70).map(|i| section(&format!("block {i}"))).collect();
        let mut with_tail = many;
        with_tail.push(json!({"type": "actions", "elements": []}));
        with_tail.push(json!({"type": "context", "elements": []}));
        let kept = within_block_limit(with_tail);
        assert_eq!(kept.len(), MAX_BLOCKS);
        assert_eq!(kept[MAX_BLOCKS - 2]["type"], "actions");
        assert_eq!(kept[MAX_BLOCKS - 1]["type"], "context");
    }

    #[test]
    fn unusable_links_are_left_out() {
        let mut outcome = outcome(CheckStatus::DriftDetected);
        if let Some(run) = outcome.run.as_mut() {
            run.run_url = String::new();
        }
        let payload = build_message(&outcome, "not a url");
        assert!(blocks(&payload).iter().all(|b| b["type"] != "actions"));
        assert!(all_text(&payload).contains("*Plan run*\nrun-plan1"));
    }

    #[test]
    fn short_names_of_principals() {
        assert_eq!(
            short_principal_name("arn:aws:sts::1:assumed-role/Admin/alice@example.com"),
            "Admin/alice@example.com"
        );
        assert_eq!(
            short_principal_name("arn:aws:iam::1:user/division/bob"),
            "bob"
        );
        assert_eq!(short_principal_name("arn:aws:iam::1:root"), "root");
        assert_eq!(short_principal_name("AIDAEXAMPLE"), "AIDAEXAMPLE");
        assert_eq!(action_label(&["create".into(), "delete".into()]), "replace");
        assert_eq!(action_label(&["update".into()]), "update");
    }

    #[test]
    fn long_attribute_lists_are_counted_not_cut() {
        let names: Vec<String> = (0..20).map(|i| format!("attr{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let line = resource_line(&resource("aws_instance.app", &["update"], &names));
        assert!(
            line.starts_with("• `aws_instance.app` — update: `attr0`, `attr1`"),
            "{line}"
        );
        assert!(line.ends_with("`attr11` and 8 more"), "{line}");
        let line = resource_line(&resource("aws_instance.app", &["delete"], &[]));
        assert_eq!(line, "• `aws_instance.app` — delete");
    }

    #[test]
    fn terminal_rendering_shows_the_essentials() {
        let text = message_text(&build_message(
            &outcome(CheckStatus::DriftDetected),
            EXECUTION_URL,
        ));
        assert!(text.starts_with("⚠️ Drift detected: acme/prod\n"));
        assert!(text.contains("*Plan run*: run-plan1 (https://app.terraform.io/app/acme/workspaces/prod/runs/run-plan1)"));
        assert!(text.contains("at 2024-05-01T10:00:00Z from 203.0.113.9"));
        assert!(text.contains(&format!("[Open Step Functions execution] {EXECUTION_URL}")));
    }
}
