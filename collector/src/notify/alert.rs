//! What an alert says about an exposure, kept with the open alert so that its
//! resolution says the same.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::exposure::Exposure;
use crate::store::ExposureChange;

/// Workloads named in one alert; the rest are counted.
const MAX_WORKLOADS: usize = 20;

/// What identifies an exposure's alert: the vulnerability and the package (hashed) and
/// the image, one alert for all the places the image runs.
pub fn key(exposure: &Exposure) -> String {
    format!(
        "{} {}",
        exposure.finding.key(),
        exposure.placements.image.manifest_digest
    )
}

/// One exposure, as alerts tell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The vulnerability, the package and the image: one alert for all the places the
    /// image runs.
    pub key: String,
    pub vulnerability: String,
    pub aliases: Vec<String>,
    pub severity: String,
    pub epss: Option<f64>,
    /// The KEV catalog's due date, when the vulnerability is in it.
    pub kev_due_date: Option<String>,
    pub ransomware: bool,
    pub package: String,
    pub purl: String,
    pub fixed_versions: String,
    pub manifest_digest: String,
    pub image: String,
    pub clusters: Vec<String>,
    /// `cluster/namespace/pod`, at most [`MAX_WORKLOADS`].
    pub workloads: Vec<String>,
    pub workload_count: usize,
}

impl Alert {
    pub fn of(exposure: &Exposure) -> Alert {
        let finding = &exposure.finding;
        let placements = &exposure.placements;
        let mut workloads: Vec<String> = placements
            .image
            .workloads
            .iter()
            .map(|w| format!("{}/{}/{}", w.cluster, w.namespace, w.pod))
            .collect();
        workloads.dedup();
        let workload_count = workloads.len();
        workloads.truncate(MAX_WORKLOADS);
        Alert {
            key: key(exposure),
            vulnerability: finding.vulnerability.id.clone(),
            aliases: finding.vulnerability.aliases.clone(),
            severity: finding.vulnerability.severity.name().to_owned(),
            epss: finding.vulnerability.epss,
            kev_due_date: exposure.kev.as_ref().map(|kev| kev.due_date.clone()),
            ransomware: exposure.kev.as_ref().is_some_and(|kev| kev.ransomware),
            package: format!("{} {}", finding.package.name, finding.package.version),
            purl: finding.package.purl.clone(),
            fixed_versions: finding.fixed_versions.clone(),
            manifest_digest: placements.image.manifest_digest.clone(),
            image: placements
                .image
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| placements.image.manifest_digest.clone()),
            clusters: placements.clusters.clone(),
            workloads,
            workload_count,
        }
    }

    /// What its `Watch` events say.
    pub fn change(&self) -> ExposureChange {
        ExposureChange {
            vulnerability: self.vulnerability.clone(),
            package: if self.purl.is_empty() {
                self.package.replace(' ', "@")
            } else {
                self.purl.clone()
            },
            image: self.image.clone(),
        }
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|err| Error::Corrupt(format!("encoding an alert: {err}")))
    }

    pub fn from_json(json: &str) -> Result<Alert> {
        serde_json::from_str(json).map_err(|err| Error::Corrupt(format!("a stored alert: {err}")))
    }
}
