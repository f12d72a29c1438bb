//! The fleet's SBOM dedup policy, apart from how it is stored: which node of a cluster
//! is asked to build which image and in what order, when an upload may proceed, how a
//! cluster's build compares with the fleet copy, and the per-node limits. Both stores
//! read the facts, ask these functions, and write the outcome.

use std::collections::HashSet;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::{InventoryDelta, Limits, NodeKey};
use crate::sbom::ValidatedSbom;

/// How the collector hands out SBOM builds to nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimPolicy {
    /// How long a node may take to upload an SBOM it was asked for before another node
    /// that has the image is asked instead.
    pub lease: Duration,
    /// How many SBOM builds one node is asked for at a time; spreads the first scan of a
    /// fleet over many nodes.
    pub max_per_node: u32,
    /// How long no node is asked for an SBOM after a node reported it cannot build it.
    pub failure_backoff: Duration,
}

impl Default for ClaimPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15 * 60),
            max_per_node: 4,
            failure_backoff: Duration::from_secs(60 * 60),
        }
    }
}

/// How a cluster's own build of an image compares with the fleet copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckStatus {
    /// Same contents: the cluster uses the fleet copy.
    Verified,
    /// Different contents from the same agent version: one of the two clusters lies
    /// (or an agent is broken). The cluster uses its own copy.
    Conflict,
    /// Different contents, but the two copies cannot be compared (different agent
    /// versions, or a fleet copy stored before content hashes). The cluster uses its
    /// own copy.
    Unverified,
}

impl CheckStatus {
    /// The value stored in the database.
    pub fn code(self) -> i64 {
        match self {
            Self::Verified => 1,
            Self::Conflict => 2,
            Self::Unverified => 3,
        }
    }

    /// The status of a stored value.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Verified),
            2 => Some(Self::Conflict),
            3 => Some(Self::Unverified),
            _ => None,
        }
    }

    /// `verified`, `conflict` or `unverified`, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Conflict => "conflict",
            Self::Unverified => "unverified",
        }
    }
}

/// What one cluster found when it built an image whose fleet copy another cluster built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomCheck {
    /// The checking cluster.
    pub cluster: String,
    /// Its node that built the SBOM.
    pub node: String,
    /// That node's agent version.
    pub agent_version: String,
    /// The outcome.
    pub status: CheckStatus,
    /// Content hash of the cluster's build.
    pub content_hash: String,
    /// Why the builds cannot be compared, for [`CheckStatus::Unverified`]; else empty.
    pub note: String,
    /// When.
    pub checked_at: Timestamp,
}

/// A cluster's build claim on a digest, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The node that builds it.
    pub node_id: i64,
    /// Until when (the lease, or the failure's back-off).
    pub expires_at: Timestamp,
    /// The node reported it cannot build it.
    pub failed: bool,
}

impl Claim {
    /// True while the claim keeps other nodes from building the digest.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// An image of the node without an SBOM its cluster built, and its claim if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Manifest digest.
    pub digest: String,
    /// Its cluster's build claim.
    pub claim: Option<Claim>,
}

/// Which builds to give a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimPlan {
    /// Digests to claim for the node, in the order to build them.
    pub take: Vec<String>,
    /// Images were left for later (another node builds them, they failed recently, or
    /// the node has no free slot).
    pub pending: bool,
}

/// Gives the node up to `policy.max_per_node` builds (minus the `active` ones it holds)
/// among `candidates`: images a running container of the node uses first, then by
/// digest; never one another node of the cluster holds a live claim on.
pub fn plan_claims(
    mut candidates: Vec<Candidate>,
    running: &HashSet<String>,
    node_id: i64,
    active: u64,
    policy: ClaimPolicy,
    now: Timestamp,
) -> ClaimPlan {
    let mut slots = u64::from(policy.max_per_node).saturating_sub(active);
    candidates.sort_by(|a, b| {
        (!running.contains(&a.digest), &a.digest).cmp(&(!running.contains(&b.digest), &b.digest))
    });
    let mut plan = ClaimPlan::default();
    for candidate in candidates {
        match candidate.claim {
            Some(claim) if claim.is_live(now) && claim.node_id == node_id && !claim.failed => {
                continue
            }
            Some(claim) if claim.is_live(now) => plan.pending = true,
            _ if slots == 0 => plan.pending = true,
            _ => {
                plan.take.push(candidate.digest);
                slots -= 1;
            }
        }
    }
    plan
}

/// Fails unless the node may upload the SBOM of an image: it has the image, and no
/// other node of its cluster holds a live claim on it.
pub fn check_upload(
    node: &NodeKey,
    node_id: i64,
    digest: &str,
    has_image: bool,
    claim: Option<Claim>,
    now: Timestamp,
) -> Result<()> {
    if !has_image {
        return Err(Error::FailedPrecondition(format!(
            "image {digest} is not in the inventory of node {node}; report it before uploading its SBOM"
        )));
    }
    if let Some(claim) = claim {
        if claim.node_id != node_id && !claim.failed && claim.is_live(now) {
            return Err(built_elsewhere(node, digest));
        }
    }
    Ok(())
}

/// The refusal of an upload whose image another node of the cluster builds.
pub fn built_elsewhere(node: &NodeKey, digest: &str) -> Error {
    Error::FailedPrecondition(format!(
        "another node of cluster {} is building the SBOM of {digest}; upload only the SBOMs the collector asks for",
        node.cluster
    ))
}

/// Fails when a delta lists more changes than a node may have images or workloads,
/// before any of it is written.
pub fn check_delta(delta: &InventoryDelta, limits: Limits) -> Result<()> {
    let images = delta.images_added.len().max(delta.images_removed.len());
    let workloads = delta
        .workloads_started
        .len()
        .max(delta.workloads_stopped.len());
    check_limits(images, workloads, limits)
}

/// Fails unless the node, which may have dropped the image while uploading, still has
/// it or holds its cluster's claim on it.
pub fn check_put(
    node: &NodeKey,
    node_id: i64,
    digest: &str,
    has_image: bool,
    claim: Option<Claim>,
) -> Result<()> {
    if !has_image && claim.is_none_or(|claim| claim.node_id != node_id) {
        return Err(Error::FailedPrecondition(format!(
            "image {digest} is not in the inventory of node {node}"
        )));
    }
    Ok(())
}

/// Fails when a node's inventory is over the collector's limits.
pub fn check_limits(images: usize, workloads: usize, limits: Limits) -> Result<()> {
    if images > limits.max_images_per_node {
        return Err(Error::ResourceExhausted(format!(
            "the node would have {images} images; the collector's limit is {} (--max-images-per-node)",
            limits.max_images_per_node
        )));
    }
    if workloads > limits.max_workloads_per_node {
        return Err(Error::ResourceExhausted(format!(
            "the node would have {workloads} running workloads; the collector's limit is {} (--max-workloads-per-node)",
            limits.max_workloads_per_node
        )));
    }
    Ok(())
}

/// What [`check_against`] compares of the fleet copy of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetCopy<'a> {
    /// Its content hash ('' for copies stored before content hashes).
    pub content_hash: &'a str,
    /// The agent version that built it ('' when unknown).
    pub agent_version: &'a str,
    /// It lists only part of the image.
    pub incomplete: bool,
}

/// How `sbom`, built by `node`, compares with the fleet copy.
pub fn check_against(
    fleet: FleetCopy<'_>,
    node: &NodeKey,
    sbom: &ValidatedSbom,
    now: Timestamp,
) -> SbomCheck {
    let content_hash = sbom.content_hash.to_string();
    // Other agent versions build other documents, and an incomplete build lacks what the
    // other found: a difference is then no evidence of a lie.
    let unverified = if fleet.content_hash == content_hash {
        None
    } else if fleet.content_hash.is_empty() {
        Some("the stored copy predates content hashes".to_owned())
    } else if fleet.agent_version.is_empty()
        || sbom.agent_version.is_empty()
        || fleet.agent_version != sbom.agent_version
    {
        Some(format!(
            "agent versions differ ({:?} stored, {:?} here)",
            fleet.agent_version, sbom.agent_version
        ))
    } else if fleet.incomplete || sbom.completeness.incomplete {
        Some("incomplete".to_owned())
    } else {
        None
    };
    let status = match (&unverified, fleet.content_hash == content_hash) {
        (_, true) => CheckStatus::Verified,
        (Some(_), false) => CheckStatus::Unverified,
        (None, false) => CheckStatus::Conflict,
    };
    SbomCheck {
        cluster: node.cluster.clone(),
        node: node.node.clone(),
        agent_version: sbom.agent_version.clone(),
        status,
        content_hash,
        note: unverified.unwrap_or_default(),
        checked_at: now,
    }
}

#[cfg(test)]
mod tests;
