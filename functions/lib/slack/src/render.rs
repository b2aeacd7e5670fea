//! Plain-text rendering of a Block Kit payload, for terminals (demo and CLI).

use serde_json::Value;

use super::mrkdwn::unescape;

/// Renders a payload's blocks as readable plain text: links become
/// `label (url)`, Slack date tokens their fallback text, entities are unescaped.
/// A payload without blocks renders as its `text`.
pub fn message_text(payload: &Value) -> String {
    let Some(blocks) = payload.get("blocks").and_then(Value::as_array) else {
        return payload
            .get("text")
            .and_then(Value::as_str)
            .map(plain)
            .unwrap_or_default();
    };
    let mut lines: Vec<String> = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("header") => {
                let title = text_of(block.get("text"));
                lines.push(title.clone());
                lines.push("=".repeat(title.chars().count().max(3)));
            }
            Some("section") => {
                if let Some(text) = block.get("text") {
                    lines.push(text_of(Some(text)));
                }
                let fields = block.get("fields").and_then(Value::as_array);
                for field in fields.into_iter().flatten() {
                    // Fields are "*Label*\nvalue": one line each reads better in a terminal.
                    lines.push(text_of(Some(field)).replacen('\n', ": ", 1));
                }
            }
            Some("context") => {
                let elements = block.get("elements").and_then(Value::as_array);
                let parts: Vec<String> = elements
                    .into_iter()
                    .flatten()
                    .map(|e| text_of(Some(e)))
                    .collect();
                lines.push(parts.join(" | "));
            }
            Some("input") => {
                lines.push(format!("{}: [__________]", text_of(block.get("label"))));
            }
            Some("actions") => {
                let elements = block.get("elements").and_then(Value::as_array);
                for element in elements.into_iter().flatten() {
                    if element.get("type").and_then(Value::as_str) == Some("datepicker") {
                        let placeholder = text_of(element.get("placeholder"));
                        let date = element
                            .get("initial_date")
                            .and_then(Value::as_str)
                            .unwrap_or("YYYY-MM-DD");
                        lines.push(format!("[{placeholder}: {date} ▾]"));
                        continue;
                    }
                    let label = text_of(element.get("text"));
                    match element.get("url").and_then(Value::as_str) {
                        Some(url) => lines.push(format!("[{label}] {url}")),
                        None => lines.push(format!("[{label}]")),
                    }
                }
            }
            Some("divider") => lines.push("-".repeat(40)),
            _ => {}
        }
    }
    lines.join("\n")
}

/// The text of a text object (`plain_text` as is, `mrkdwn` made plain).
fn text_of(text_object: Option<&Value>) -> String {
    let Some(object) = text_object else {
        return String::new();
    };
    let text = object
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match object.get("type").and_then(Value::as_str) {
        Some("mrkdwn") => plain(text),
        _ => text.to_string(),
    }
}

/// mrkdwn → plain text: `<url|label>` → `label (url)`, `<!date^…|fallback>` →
/// `fallback`, `<url>` → `url`, then entities unescaped. Emphasis marks stay.
fn plain(mrkdwn: &str) -> String {
    let mut out = String::with_capacity(mrkdwn.len());
    let mut rest = mrkdwn;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let token = &after[..close];
        let rendered = match token.split_once('|') {
            Some((target, label)) if target.starts_with('!') => label.to_string(),
            Some((target, label)) => format!("{label} ({target})"),
            None => token.to_string(),
        };
        out.push_str(&rendered);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    unescape(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_blocks_as_lines() {
        let payload = json!({
            "text": "fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Drift <x>"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "by *a&amp;b* at <!date^1^{date}|2024-05-01T10:00:00Z>"},
                 "fields": [{"type": "mrkdwn", "text": "*Plan run*\n<https://tfc.test/r|run-1>"}]},
                {"type": "divider"},
                {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x.test"}]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "a"}, {"type": "mrkdwn", "text": "b &lt;c&gt;"}]}
            ]
        });
        let text = message_text(&payload);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Drift <x>");
        assert_eq!(lines[1], "=========");
        assert_eq!(lines[2], "by *a&b* at 2024-05-01T10:00:00Z");
        assert_eq!(lines[3], "*Plan run*: run-1 (https://tfc.test/r)");
        assert_eq!(lines[5], "[Open] https://x.test");
        assert_eq!(lines[6], "a | b <c>");
    }

    #[test]
    fn payload_without_blocks_renders_its_text() {
        assert_eq!(message_text(&json!({"text": "a &amp; b"})), "a & b");
        assert_eq!(message_text(&json!({})), "");
    }
}
