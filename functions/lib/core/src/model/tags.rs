//! What routing knows of a changed resource's tags beyond what the request shows.

use std::collections::BTreeMap;

/// Tag key → value.
pub type Tags = BTreeMap<String, String>;

/// The resources whose current tags admission asks for: ARNs in one account
/// and region (the Resource Groups Tagging API is regional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagQuery {
    pub account_id: String,
    pub region: String,
    pub arns: Vec<String>,
}

/// The current tags of the resources a change touched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResourceTags {
    /// Not looked up, or not knowable (another account, a resource type the
    /// Tagging API does not answer for, such as IAM roles and users): a tag
    /// filter cannot exclude the change.
    #[default]
    Unknown,
    /// The tags of every touched resource (an empty map: it has none).
    Known(Vec<Tags>),
}
