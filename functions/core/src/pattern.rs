//! Glob patterns from configuration (principal ARNs, ignore rules), compiled
//! once: exact text, or a glob when it compiles.

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

/// One pattern. Compares, prints and serializes as its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Pattern {
    text: String,
    glob: Option<GlobMatcher>,
}

impl Pattern {
    /// Compiles `text`; a pattern that is not a valid glob matches its exact text only.
    pub fn new(text: &str) -> Self {
        let glob = match Glob::new(text) {
            Ok(glob) => Some(glob.compile_matcher()),
            Err(error) => {
                tracing::warn!(pattern = text, %error, "pattern is not a valid glob; matching it literally");
                None
            }
        };
        Pattern {
            text: text.to_string(),
            glob,
        }
    }

    /// Compiles `text`, or says why it is not a valid glob.
    pub fn parse(text: &str) -> Result<Self, globset::Error> {
        let glob = Glob::new(text)?.compile_matcher();
        Ok(Pattern {
            text: text.to_string(),
            glob: Some(glob),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.text == candidate || self.glob.as_ref().is_some_and(|g| g.is_match(candidate))
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<&str> for Pattern {
    fn from(text: &str) -> Self {
        Pattern::new(text)
    }
}

impl From<String> for Pattern {
    fn from(text: String) -> Self {
        Pattern::new(&text)
    }
}

impl From<Pattern> for String {
    fn from(pattern: Pattern) -> Self {
        pattern.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_and_invalid_globs_match_their_text() {
        assert!(Pattern::new("arn:aws:iam::*:role/tfc-*").matches("arn:aws:iam::1:role/tfc-prod"));
        let literal = Pattern::new("user/[alice");
        assert!(literal.matches("user/[alice") && !literal.matches("user/alice"));
        assert!(Pattern::parse("user/[alice").is_err());
    }
}
