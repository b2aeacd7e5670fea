//! What the doubles commonly use (glob-imported, so their own imports win).

pub use driftguard_core::error::{Error, Result};
pub use serde_json::Value;
pub use std::collections::BTreeMap;
pub use std::sync::Mutex;
