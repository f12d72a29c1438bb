//! What agents report: nodes, images and workloads, validated and bounded.

use crate::digest::Digest;
use crate::error::{excerpt, Error, Result};

/// Most names one image may carry (tags and digest references).
pub const MAX_NAMES_PER_IMAGE: usize = 256;
/// Most layers one image may have.
pub const MAX_LAYERS_PER_IMAGE: usize = 1024;
/// Longest image reference, platform string or free-text field.
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest Kubernetes object name, uid or container id.
pub const MAX_NAME_LEN: usize = 253;

/// A node of a cluster: the unit whose state a full inventory replaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    /// Cluster name (from the agent's token).
    pub cluster: String,
    /// Kubernetes node name.
    pub node: String,
}

impl NodeKey {
    /// Validates both names.
    pub fn new(cluster: &str, node: &str) -> Result<Self> {
        Ok(Self {
            cluster: name("cluster", cluster)?,
            node: name("node", node)?,
        })
    }
}

impl std::fmt::Display for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.cluster, self.node)
    }
}

/// The agent of a node, as its `Hello` introduces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// Version of the agent.
    pub version: String,
    /// Node pool of the node (a node label's value); empty when unknown.
    pub node_pool: String,
}

/// Facts about a node's own software (an [`Image`] record of the node itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeSoftware {
    /// os-release `ID-VERSION_ID`, e.g. `debian-12`.
    #[serde(default)]
    pub os: String,
    /// os-release `PRETTY_NAME`.
    #[serde(default)]
    pub os_name: String,
    /// Kernel release.
    #[serde(default)]
    pub kernel: String,
    /// Machine architecture (`amd64`).
    #[serde(default)]
    pub arch: String,
}

/// An image on a node, or the node's own software (`node` set): both are kept, deduplicated
/// and forwarded by digest the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Platform manifest digest: the fleet-wide key.
    pub manifest_digest: Digest,
    /// Index the manifest came from, if any.
    pub index_digest: Option<Digest>,
    /// Image config digest.
    pub config_digest: Digest,
    /// References the node knows the image by, sorted and without duplicates.
    pub names: Vec<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Layer diffIDs, bottom first.
    pub diff_ids: Vec<Digest>,
    /// For the node's own software: what it is. Its `config_digest` is then its
    /// manifest digest, it has no index digest nor layers.
    pub node: Option<NodeSoftware>,
}

impl Image {
    /// The stored form of a node record's facts (JSON); `None` for an image.
    pub fn node_json(&self) -> Result<Option<String>> {
        self.node
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| Error::Corrupt(format!("node software facts: {err}")))
    }
}

impl NodeSoftware {
    /// Facts from their stored form; `None` stands for an image.
    pub fn from_json(json: Option<&str>) -> Result<Option<Self>> {
        json.map(serde_json::from_str)
            .transpose()
            .map_err(|err| Error::Corrupt(format!("node software facts: {err}")))
    }
}

/// Identifies a workload on its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKey {
    /// Pod UID.
    pub pod_uid: String,
    /// Container name.
    pub container: String,
}

/// A container of a pod on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Pod UID and container name.
    pub key: WorkloadKey,
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Digest of the image it runs.
    pub manifest_digest: Digest,
    /// Image reference from the pod spec (may be empty).
    pub image: String,
    /// Runtime container id (may be empty).
    pub container_id: String,
}

/// A node's complete state; replaces whatever the collector had for the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullInventory {
    /// Every image on the node.
    pub images: Vec<Image>,
    /// Every running container on the node.
    pub workloads: Vec<Workload>,
}

/// Changes to a node's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryDelta {
    /// New images, or images whose names changed.
    pub images_added: Vec<Image>,
    /// Images gone from the node.
    pub images_removed: Vec<Digest>,
    /// Containers that started or restarted.
    pub workloads_started: Vec<Workload>,
    /// Containers that stopped.
    pub workloads_stopped: Vec<WorkloadKey>,
}

/// How much one node may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most images one node may have.
    pub max_images_per_node: usize,
    /// Most running workloads one node may have.
    pub max_workloads_per_node: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_images_per_node: 10_000,
            max_workloads_per_node: 10_000,
        }
    }
}

impl FullInventory {
    /// Adds one part of a split inventory, rejecting duplicates and enforcing `limits`
    /// on the running total.
    pub fn extend(
        &mut self,
        images: Vec<Image>,
        workloads: Vec<Workload>,
        limits: Limits,
    ) -> Result<()> {
        if self.images.len() + images.len() > limits.max_images_per_node {
            return Err(Error::ResourceExhausted(format!(
                "inventory has more than {} images; the collector's limit is --max-images-per-node",
                limits.max_images_per_node
            )));
        }
        if self.workloads.len() + workloads.len() > limits.max_workloads_per_node {
            return Err(Error::ResourceExhausted(format!(
                "inventory has more than {} workloads; the collector's limit is --max-workloads-per-node",
                limits.max_workloads_per_node
            )));
        }
        self.images.extend(images);
        self.workloads.extend(workloads);
        Ok(())
    }

    /// Rejects an inventory that lists an image or a workload twice.
    pub fn check_unique(&self) -> Result<()> {
        let mut digests = std::collections::HashSet::with_capacity(self.images.len());
        for (i, image) in self.images.iter().enumerate() {
            if !digests.insert(&image.manifest_digest) {
                return Err(Error::invalid(
                    format!("inventory.images[{i}].manifest_digest"),
                    format!("image {} is listed twice", image.manifest_digest),
                ));
            }
        }
        let mut keys = std::collections::HashSet::with_capacity(self.workloads.len());
        for (i, workload) in self.workloads.iter().enumerate() {
            if !keys.insert(&workload.key) {
                return Err(Error::invalid(
                    format!("inventory.workloads[{i}]"),
                    format!(
                        "container {:?} of pod {} is listed twice",
                        workload.key.container, workload.key.pod_uid
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl InventoryDelta {
    /// Number of changes in the delta.
    pub fn len(&self) -> usize {
        self.images_added.len()
            + self.images_removed.len()
            + self.workloads_started.len()
            + self.workloads_stopped.len()
    }

    /// True when the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A non-empty identifier of at most [`MAX_NAME_LEN`] bytes without control characters.
pub fn name(field: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    bounded_text(field, value, MAX_NAME_LEN)
}

/// Free text of at most `max` bytes without control characters (may be empty).
pub fn bounded_text(field: &str, value: &str, max: usize) -> Result<String> {
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("{:?} is longer than {max} bytes", excerpt(value)),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{:?} contains control characters", excerpt(value)),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(hex_digit: char) -> Image {
        let digest =
            crate::digest::parse("d", &format!("sha256:{}", hex_digit.to_string().repeat(64)))
                .unwrap();
        Image {
            manifest_digest: digest.clone(),
            index_digest: None,
            config_digest: digest,
            names: vec!["docker.io/library/busybox:1.36".into()],
            platform: "linux/amd64".into(),
            diff_ids: vec![],
            node: None,
        }
    }

    #[test]
    fn split_inventory_over_the_image_limit_is_refused() {
        let limits = Limits {
            max_images_per_node: 2,
            max_workloads_per_node: 2,
        };
        let mut inventory = FullInventory::default();
        inventory
            .extend(vec![image('a'), image('b')], vec![], limits)
            .unwrap();
        let err = inventory
            .extend(vec![image('c')], vec![], limits)
            .unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
        assert_eq!(inventory.images.len(), 2);
    }

    #[test]
    fn image_listed_twice_is_rejected() {
        let inventory = FullInventory {
            images: vec![image('a'), image('a')],
            workloads: vec![],
        };
        let err = inventory.check_unique().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("inventory.images[1].manifest_digest"),
            "{err}"
        );
    }

    #[test]
    fn names_must_be_short_printable_and_present() {
        assert!(name("node", "worker-1").is_ok());
        assert!(name("node", "").is_err());
        assert!(name("node", "bad\nname").is_err());
        assert!(name("node", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
