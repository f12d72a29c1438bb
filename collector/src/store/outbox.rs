//! The Dependency-Track forwarder's records in the store: the DT state nodebom wants
//! per image digest, and the durable queue of DT actions that makes it true.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// One DT action, persisted before it is tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Upload the digest's stored SBOM (creating the project when it does not exist).
    Upload {
        /// SHA-256 of the SBOM queued, to tell a changed SBOM from the same one.
        sbom_sha256: String,
        /// nodebom's tags when it was planned, given to a project this upload creates
        /// (DT 4.12+), so that it never shows without them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// Change the project's nodebom tags (other tags are kept) and its `active` flag.
    Update {
        /// Tags to add.
        add: Vec<String>,
        /// Tags to remove.
        remove: Vec<String>,
        /// Wanted `active` flag.
        active: bool,
    },
    /// Fetch the project's findings into the store, once its last upload is processed.
    Findings,
}

impl Action {
    /// A short name for logs and failure reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Upload { .. } => "upload",
            Action::Update { .. } => "update",
            Action::Findings => "findings",
        }
    }
}

/// What nodebom last asked DT to make true for one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectState {
    /// Project key (see [`Usage::digest`]).
    pub digest: String,
    /// DT project name.
    pub name: String,
    /// DT project version.
    pub version: String,
    /// SHA-256 of the SBOM last queued for upload.
    pub sbom_sha256: String,
    /// The managed tags last queued, each with when it stopped being wanted (`None`
    /// while it is wanted); a tag is removed once the grace period has passed.
    pub tags: BTreeMap<String, Option<Timestamp>>,
    /// `active` last queued.
    pub active: bool,
    /// When a fetch of its findings was last queued.
    pub findings_asked: Option<Timestamp>,
}

/// Separates the image digest from the cluster in the project key of a cluster's own
/// copy of an SBOM.
const COPY_SEPARATOR: char = '#';

/// The project key of the SBOM `cluster` uses for `digest`: the digest for the fleet
/// copy, `digest#cluster` for the cluster's own copy (its build differed).
pub fn project_key(digest: &str, own_copy_of: Option<&str>) -> String {
    match own_copy_of {
        Some(cluster) => format!("{digest}{COPY_SEPARATOR}{cluster}"),
        None => digest.to_owned(),
    }
}

/// The image digest and, for a cluster's own copy, the cluster of a project key.
pub fn split_project_key(key: &str) -> (&str, Option<&str>) {
    match key.split_once(COPY_SEPARATOR) {
        Some((digest, cluster)) => (digest, Some(cluster)),
        None => (key, None),
    }
}

/// An SBOM (the fleet copy of a digest, or a cluster's own copy) and where it is used
/// now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Project key: the image manifest digest, or `digest#cluster` for the copy of a
    /// cluster whose build differs from the fleet copy (see [`project_key`]).
    pub digest: String,
    /// SHA-256 of the SBOM.
    pub sbom_sha256: String,
    /// Image references it is known by, sorted.
    pub names: Vec<String>,
    /// Clusters using it, each with the namespaces of its workloads (none when images
    /// on nodes are forwarded rather than workloads, or for a node's own software).
    pub clusters: BTreeMap<String, BTreeSet<String>>,
    /// For a node's own software: what it is (the project then follows the node
    /// templates).
    pub node: Option<crate::inventory::NodeSoftware>,
    /// For a node's own software: the pools of the nodes that carry it ('' left out).
    pub node_pools: BTreeSet<String>,
}

/// New state of one digest and the actions that bring DT there, written together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The state once the actions are done.
    pub state: ProjectState,
    /// Actions to queue, in order.
    pub actions: Vec<Action>,
    /// When they were planned: they are due from then.
    pub queued_at: Timestamp,
}

/// The oldest queued action of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Queue id.
    pub id: i64,
    /// Project key (see [`Usage::digest`]).
    pub digest: String,
    /// DT project name.
    pub name: String,
    /// DT project version.
    pub version: String,
    /// DT processing token of the project's last upload.
    pub token: Option<String>,
    /// What to do.
    pub action: Action,
    /// Failed tries so far.
    pub attempts: u32,
}

/// An action DT refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// When.
    pub at: Timestamp,
    /// Image digest.
    pub digest: String,
    /// `name@version` of the project.
    pub project: String,
    /// [`Action::kind`].
    pub action: String,
    /// HTTP status, when DT answered.
    pub status: Option<u16>,
    /// What DT said.
    pub message: String,
}
