//! The versions that fix a vulnerability: Dependency-Track's findings do not carry them,
//! its vulnerability records do. Each vulnerability is looked up once a day per
//! replica, however many images have it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DtClient;
use crate::exposure::finding::{clipped, Finding};

/// How long an answer is kept.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// Most vulnerabilities kept; the cache starts over beyond.
const MAX_KEPT: usize = 200_000;
/// Most vulnerabilities looked up for one project's findings; the others wait for the
/// next read.
const MAX_LOOKUPS: usize = 500;

/// A vulnerability: its source and id.
type VulnerabilityKey = (String, String);

/// Known fixed versions, each with when it was read.
#[derive(Debug, Clone, Default)]
pub struct FixedVersions {
    known: Arc<Mutex<HashMap<VulnerabilityKey, (Instant, String)>>>,
}

impl FixedVersions {
    /// Sets the fixed versions of the `findings` that lack them, from DT.
    pub async fn fill(&self, client: &DtClient, findings: &mut [Finding]) {
        let mut lookups = 0;
        for finding in findings.iter_mut() {
            if !finding.fixed_versions.is_empty() {
                continue;
            }
            let vulnerability = &finding.vulnerability;
            let key = (vulnerability.source.clone(), vulnerability.id.clone());
            if let Some(fixed) = self.get(&key) {
                finding.fixed_versions = fixed;
                continue;
            }
            if lookups >= MAX_LOOKUPS || key.0.is_empty() {
                continue;
            }
            lookups += 1;
            match client.patched_versions(&key.0, &key.1).await {
                Ok(fixed) => {
                    let fixed = clipped(fixed.unwrap_or_default().trim());
                    finding.fixed_versions = fixed.clone();
                    self.put(key, fixed);
                }
                // Unknown until the next read; the findings themselves are read.
                Err(err) => tracing::debug!(
                    vulnerability = %key.1,
                    error = %err,
                    "reading a vulnerability's fixed versions failed"
                ),
            }
        }
    }

    fn get(&self, key: &VulnerabilityKey) -> Option<String> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(key)
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, fixed)| fixed.clone())
    }

    fn put(&self, key: VulnerabilityKey, fixed: String) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= MAX_KEPT {
            known.clear();
        }
        known.insert(key, (Instant::now(), fixed));
    }
}
