//! Glob patterns from configuration (principal ARNs, ignore rules), compiled
//! once: exact text, or a glob when it compiles. In a [`PrincipalPattern`]
//! `*` and `?` never match `/`.

use globset::{Glob, GlobBuilder, GlobMatcher};
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

/// A principal ARN pattern (`ignore_principal_arns`, `own_principal_arns`):
/// `*` and `?` stop at `/`, so `role/driftguard-*` names roles, never a role
/// under the path `/driftguard-x/`, and `assumed-role/tfc/*` names sessions of
/// one role only. Compares, prints and serializes as its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct PrincipalPattern {
    text: String,
    glob: Option<GlobMatcher>,
}

impl PrincipalPattern {
    fn compile(text: &str) -> Result<GlobMatcher, globset::Error> {
        Ok(GlobBuilder::new(text)
            .literal_separator(true)
            .build()?
            .compile_matcher())
    }

    /// Compiles `text`; a pattern that is not a valid glob matches its exact text only.
    pub fn new(text: &str) -> Self {
        let glob = match Self::compile(text) {
            Ok(glob) => Some(glob),
            Err(error) => {
                tracing::warn!(pattern = text, %error, "principal pattern is not a valid glob; matching it literally");
                None
            }
        };
        PrincipalPattern {
            text: text.to_string(),
            glob,
        }
    }

    /// Compiles `text`, or says why it is not a valid glob.
    pub fn parse(text: &str) -> Result<Self, globset::Error> {
        Ok(PrincipalPattern {
            text: text.to_string(),
            glob: Some(Self::compile(text)?),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, arn: &str) -> bool {
        self.text == arn || self.glob.as_ref().is_some_and(|g| g.is_match(arn))
    }
}

impl PartialEq for PrincipalPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<&str> for PrincipalPattern {
    fn from(text: &str) -> Self {
        PrincipalPattern::new(text)
    }
}

impl From<String> for PrincipalPattern {
    fn from(text: String) -> Self {
        PrincipalPattern::new(&text)
    }
}

impl From<PrincipalPattern> for String {
    fn from(pattern: PrincipalPattern) -> Self {
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

    #[test]
    fn principal_pattern_stars_stop_at_slashes() {
        let own = PrincipalPattern::new("arn:aws:iam::*:role/driftguard-dev-*");
        assert!(own.matches("arn:aws:iam::1:role/driftguard-dev-states"));
        assert!(!own.matches("arn:aws:iam::1:role/driftguard-dev-x/backdoor"));
        let sessions = PrincipalPattern::new("arn:aws:sts::1:assumed-role/tfc-prod/*");
        assert!(sessions.matches("arn:aws:sts::1:assumed-role/tfc-prod/run-1"));
        assert!(!sessions.matches("arn:aws:sts::1:assumed-role/tfc-prod-x/run-1"));
        assert!(PrincipalPattern::parse("role/[x").is_err());
    }
}
