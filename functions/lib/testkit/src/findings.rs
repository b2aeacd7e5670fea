//! Findings in memory (feature `testing`): test doubles, never in a Lambda.

use async_trait::async_trait;
use driftguard_core::ports::FindingsPublisher;
use std::sync::Mutex;

#[allow(unused_imports)]
use crate::prelude::*;
#[allow(unused_imports)]
use driftguard_core::findings::*;
#[allow(unused_imports)]
use driftguard_core::model::*;
#[allow(unused_imports)]
use driftguard_core::ports::*;

/// Findings kept in memory with Security Hub's update rule (tests; feature `testing`).
#[derive(Default)]
pub struct InMemoryFindings {
    findings: Mutex<BTreeMap<String, Finding>>,
    /// Imports refused until this many more calls (tests of an outage).
    failing_calls: Mutex<usize>,
}

impl InMemoryFindings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored finding by id.
    pub fn all(&self) -> BTreeMap<String, Finding> {
        self.findings.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The next `calls` imports fail as an unavailable service would.
    pub fn fail_next(&self, calls: usize) {
        if let Ok(mut n) = self.failing_calls.lock() {
            *n = calls;
        }
    }
}

#[async_trait]
impl FindingsPublisher for InMemoryFindings {
    async fn publish(&self, findings: &[Finding]) -> Result<()> {
        if let Ok(mut failing) = self.failing_calls.lock() {
            if *failing > 0 {
                *failing -= 1;
                return Err(Error::AwsUnavailable(
                    "Security Hub BatchImportFindings failed (test outage)".into(),
                ));
            }
        }
        let mut stored = self.findings.lock().unwrap_or_else(|p| p.into_inner());
        for f in findings {
            // Security Hub ignores an update older than the stored finding.
            if stored
                .get(&f.id)
                .is_some_and(|existing| existing.updated_at > f.updated_at)
            {
                continue;
            }
            stored.insert(f.id.clone(), f.clone());
        }
        Ok(())
    }
}
