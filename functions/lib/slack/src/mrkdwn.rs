//! Small helpers for Slack's mrkdwn: escaping user-controlled text, code spans,
//! links, dates, and truncation that never leaves half an entity or link behind.

use chrono::DateTime;

/// Escapes the three characters Slack reserves in mrkdwn (`&`, `<`, `>`), so
/// text from CloudTrail or HCP Terraform cannot form links or mentions.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Reverses [`escape`].
pub fn unescape(text: &str) -> String {
    // `&amp;` last, so `&amp;lt;` becomes `&lt;` and not `<`.
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// An inline code span of user-controlled text. A backtick or a line break
/// would end the span early, so they are replaced.
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            other => other,
        })
        .collect();
    format!("`{}`", escape(&flat))
}

/// A multi-line code block of user-controlled text.
pub fn code_block(text: &str) -> String {
    format!("```{}```", escape(&text.replace("```", "'''")))
}

/// A link with a label; the label is user-controlled and escaped. Only http(s)
/// URLs become links: anything else is shown as plain text.
pub fn link(url: &str, label: &str) -> String {
    if is_web_url(url) && !url.contains(['<', '>', '|', ' ']) {
        format!("<{url}|{}>", escape(&label.replace('|', "/")))
    } else {
        escape(label)
    }
}

/// A Slack date token shown in the reader's time zone, with the original
/// RFC 3339 text as fallback; unparsable times are shown as given.
pub fn date(rfc3339: &str) -> String {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(time) => format!(
            "<!date^{}^{{date_short_pretty}} {{time_secs}}|{}>",
            time.timestamp(),
            escape(rfc3339)
        ),
        Err(_) => escape(rfc3339),
    }
}

pub fn is_web_url(url: &str) -> bool {
    url::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

/// Cuts mrkdwn to at most `max_chars` characters, ending with `…`. A cut never
/// splits an entity such as `&amp;` or a `<url|label>` token.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&').filter(|&at| !cut[at..].contains(';')) {
        cut.truncate(amp);
    }
    if let Some(open) = cut.rfind('<').filter(|&at| !cut[at..].contains('>')) {
        cut.truncate(open);
    }
    cut.push('…');
    cut
}

/// Plain text (no mrkdwn) cut to `max_chars` characters.
pub fn truncate_plain(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reserved_characters_only() {
        assert_eq!(
            escape("a & b <!channel> 'q' *x*"),
            "a &amp; b &lt;!channel&gt; 'q' *x*"
        );
        assert_eq!(unescape(&escape("<&amp;>")), "<&amp;>");
    }

    #[test]
    fn code_spans_cannot_be_closed_by_input() {
        assert_eq!(code("a`b\nc<d>"), "`a'b c&lt;d&gt;`");
    }

    #[test]
    fn links_only_for_web_urls() {
        assert_eq!(
            link("https://x.test/a", "run <1>"),
            "<https://x.test/a|run &lt;1&gt;>"
        );
        assert_eq!(link("javascript:alert(1)", "run"), "run");
        assert_eq!(link("", "run"), "run");
    }

    #[test]
    fn dates_render_for_the_reader_with_fallback() {
        assert_eq!(
            date("2024-05-01T10:00:00Z"),
            "<!date^1714557600^{date_short_pretty} {time_secs}|2024-05-01T10:00:00Z>"
        );
        assert_eq!(date("yesterday"), "yesterday");
    }

    #[test]
    fn truncation_keeps_entities_and_links_whole() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef&amp;", 9), "abcdef…");
        assert_eq!(truncate("ab <https://x.test|x> cd", 10), "ab …");
        let long = "é".repeat(5000);
        assert_eq!(truncate(&long, 3000).chars().count(), 3000);
    }
}
