//! Behaviour suites of the stores: each runs against the in-memory double
//! and the real adapter (moto), so a new adapter runs the same suite.

pub mod batch_store;
pub mod history_store;
