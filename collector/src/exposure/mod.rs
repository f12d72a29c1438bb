//! Exposure: a finding Dependency-Track (DT) has for an image, joined with where that
//! image runs or lies on disk now, ranked by what to fix first, with the reasons.
//!
//! - [`finding`]: what DT found, as the collector keeps it.
//! - [`rank`]: the priority order and the reasons given for it.
//!
//! An image forwarded as a cluster's own copy (its build differed from the fleet copy)
//! has findings of its own; they apply to that cluster's placements, the fleet copy's
//! to the others.

pub mod finding;
pub mod query;
pub mod rank;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::kev::{KevCatalog, KevEntry};
use crate::store::outbox::split_project_key;
use crate::store::{ImagePlacements, StoredFinding};
use finding::{Finding, Severity};
pub use rank::Rank;

/// Which exposures to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExposureFilter {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    /// An image name (as reported, e.g. `docker.io/library/nginx:1.27`), a repository
    /// without tag, or a manifest digest.
    pub image: Option<String>,
    /// Only vulnerabilities in the KEV catalog.
    pub kev_only: bool,
    /// Only vulnerabilities with at least this EPSS score.
    pub min_epss: Option<f64>,
    /// Only vulnerabilities at least this severe.
    pub min_severity: Option<Severity>,
    /// Only images that run in a workload now.
    pub running_only: bool,
    /// Only the vulnerability known as this id or alias.
    pub vulnerability: Option<String>,
    /// Only vulnerabilities in the KEV catalog or with at least this EPSS score (what
    /// alerts are about).
    pub kev_or_min_epss: Option<f64>,
}

/// Where one image is, within a filter's scope and for one of its projects, with what
/// ranking needs of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placements {
    /// Its names, the nodes holding it and the workloads running it.
    pub image: ImagePlacements,
    /// Clusters it runs in, or else lies on disk in, sorted.
    pub clusters: Vec<String>,
    /// Pods running it.
    pub pods: usize,
}

impl Placements {
    pub fn new(image: ImagePlacements) -> Self {
        let mut clusters: Vec<String> = if image.workloads.is_empty() {
            image.nodes.iter().map(|n| n.cluster.clone()).collect()
        } else {
            image.workloads.iter().map(|w| w.cluster.clone()).collect()
        };
        clusters.sort_unstable();
        clusters.dedup();
        let mut pods: Vec<(&str, &str)> = image
            .workloads
            .iter()
            .map(|w| (w.cluster.as_str(), w.pod_uid.as_str()))
            .collect();
        pods.sort_unstable();
        pods.dedup();
        let pods = pods.len();
        Self {
            image,
            clusters,
            pods,
        }
    }

    /// Whether a workload runs the image.
    pub fn running(&self) -> bool {
        !self.image.workloads.is_empty()
    }
}

/// One vulnerability in one package of one image, and where that image is.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub finding: Arc<Finding>,
    /// When the finding was first read from DT.
    pub first_seen: Timestamp,
    /// The KEV catalog's entry for it.
    pub kev: Option<Arc<KevEntry>>,
    /// Shared by every exposure of the image (and cluster copy).
    pub placements: Arc<Placements>,
    pub rank: Rank,
}

impl Exposure {
    /// Why it ranks where it does, in words, most important first.
    pub fn reasons(&self) -> Vec<String> {
        rank::reasons(&self.finding, self.kev.as_deref(), &self.placements)
    }
}

/// The exposures of `findings` on `images` (each with its placements within the
/// filter's scope already), filtered, most urgent first.
pub fn exposures(
    images: &[ImagePlacements],
    findings: Vec<StoredFinding>,
    kev: Option<&KevCatalog>,
    filter: &ExposureFilter,
) -> Vec<Exposure> {
    let images: BTreeMap<&str, &ImagePlacements> = images
        .iter()
        .map(|image| (image.manifest_digest.as_str(), image))
        .collect();
    // Clusters with their own copy of an image take their findings from it.
    let mut own_copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for stored in &findings {
        if let (digest, Some(cluster)) = split_project_key(&stored.project) {
            let clusters = own_copies.entry(digest.to_owned()).or_default();
            if !clusters.iter().any(|c| c == cluster) {
                clusters.push(cluster.to_owned());
            }
        }
    }
    let mut placements: BTreeMap<Arc<str>, Arc<Placements>> = BTreeMap::new();
    let mut found = Vec::new();
    for stored in findings {
        let (digest, own_copy_of) = split_project_key(&stored.project);
        let Some(image) = images.get(digest) else {
            continue;
        };
        let kev = kev.and_then(|catalog| entry(catalog, &stored.finding));
        if !wanted(&stored.finding, kev.is_some(), filter) {
            continue;
        }
        let placed = match placements.get(&stored.project) {
            Some(placed) => Arc::clone(placed),
            None => {
                let owned = own_copies.get(digest).map(Vec::as_slice).unwrap_or(&[]);
                let placed = Arc::new(place(image, own_copy_of, owned));
                placements.insert(Arc::clone(&stored.project), Arc::clone(&placed));
                placed
            }
        };
        if !placed.running() && (filter.running_only || placed.image.nodes.is_empty()) {
            continue;
        }
        let rank = Rank::of(&stored.finding, kev.as_deref(), &placed);
        found.push(Exposure {
            finding: stored.finding,
            first_seen: stored.first_seen,
            kev,
            placements: placed,
            rank,
        });
    }
    found.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| tie(a).cmp(&tie(b))));
    found
}

/// What orders exposures of equal rank, so that the order is stable: the vulnerability,
/// the image, the package.
fn tie(exposure: &Exposure) -> (&str, &str, &str) {
    (
        &exposure.finding.vulnerability.id,
        &exposure.placements.image.manifest_digest,
        &exposure.finding.package.purl,
    )
}

/// The placements of `image` that take their findings from the project of
/// `own_copy_of` (a cluster's own copy) or, when `None`, from the fleet copy (every
/// cluster but those in `owned`).
fn place(image: &ImagePlacements, own_copy_of: Option<&str>, owned: &[String]) -> Placements {
    let applies = |cluster: &str| match own_copy_of {
        Some(own) => cluster == own,
        None => !owned.iter().any(|c| c == cluster),
    };
    Placements::new(ImagePlacements {
        manifest_digest: image.manifest_digest.clone(),
        names: image.names.clone(),
        workloads: image
            .workloads
            .iter()
            .filter(|w| applies(&w.cluster))
            .cloned()
            .collect(),
        nodes: image
            .nodes
            .iter()
            .filter(|n| applies(&n.cluster))
            .cloned()
            .collect(),
    })
}

fn wanted(finding: &Finding, in_kev: bool, filter: &ExposureFilter) -> bool {
    let vulnerability = &finding.vulnerability;
    if filter
        .vulnerability
        .as_deref()
        .is_some_and(|id| !vulnerability.is_known_as(id))
    {
        return false;
    }
    if filter.kev_only && !in_kev {
        return false;
    }
    if filter
        .kev_or_min_epss
        .is_some_and(|floor| !in_kev && vulnerability.epss.is_none_or(|epss| epss < floor))
    {
        return false;
    }
    if filter
        .min_epss
        .is_some_and(|floor| vulnerability.epss.is_none_or(|epss| epss < floor))
    {
        return false;
    }
    filter
        .min_severity
        .is_none_or(|floor| vulnerability.severity.at_least(floor))
}

/// The catalog's entry for any CVE id of the finding's vulnerability.
fn entry(catalog: &KevCatalog, finding: &Finding) -> Option<Arc<KevEntry>> {
    finding
        .vulnerability
        .cve_ids()
        .find_map(|id| catalog.entries.get(id))
        .cloned()
}

/// Whether an image named `names` with digest `digest` is the one `wanted` names: its
/// digest, one of its names, or one of its names without the tag.
pub fn image_matches(wanted: &str, digest: &str, names: &[String]) -> bool {
    let wanted = wanted.trim();
    digest == wanted
        || names.iter().any(|name| {
            name == wanted
                || name
                    .rsplit_once(':')
                    .is_some_and(|(repository, tag)| !tag.contains('/') && repository == wanted)
        })
}
