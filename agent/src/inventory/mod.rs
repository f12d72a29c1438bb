//! What is on this node: the images in containerd and the pod containers that use them.
//!
//! Everything comes from containerd alone, no Kubernetes API: kubelet's CRI labels on
//! each container record name its pod ([`Workload`]), and the container's image name
//! leads to the image's platform manifest digest ([`ImageRecord`]). [`list`] takes one
//! snapshot; [`spawn_watch`] keeps it current from containerd's events, sending a full
//! [`Inventory`] after every (re)connect and [`InventoryChange`] deltas in between.

mod events;
mod state;
mod watch;

use std::collections::HashMap;

pub use watch::{spawn_watch, watch, WatchConfig};

use crate::containerd::Containerd;
use crate::image::Platform;
use crate::Result;

/// Container label CRI sets to `container` on a pod's containers and to `sandbox` on
/// its pause container.
pub const KIND_LABEL: &str = "io.cri-containerd.kind";
/// Kubernetes namespace of the pod, set by kubelet.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Pod name, set by kubelet.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Pod UID, set by kubelet.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Container name within the pod, set by kubelet.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// The images and pod containers of one containerd namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// One record per platform manifest digest, sorted by it.
    pub images: Vec<ImageRecord>,
    /// One record per pod container (sandboxes excluded), sorted by container id.
    pub workloads: Vec<Workload>,
}

/// An image whose content is on this node, resolved for the node's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// Digest of the platform manifest: what runs, and the fleet-wide dedup key.
    pub manifest_digest: String,
    /// Digest of the index the manifest was picked from, for a multi-platform image.
    pub index_digest: Option<String>,
    /// Digest of the image config (the CRI image id).
    pub config_digest: String,
    /// Every containerd image name that resolves to this manifest, sorted: `repo:tag`,
    /// `repo@sha256:…` and the CRI's `sha256:<config>` record.
    pub names: Vec<String>,
    /// Platform of the manifest: `linux/amd64`, `linux/arm64/v8`.
    pub platform: String,
    /// Layer diffIDs, bottom first.
    pub diff_ids: Vec<String>,
}

/// One container of a pod, from kubelet's labels on its containerd record.
///
/// Identified by `container_id`. A restarted container gets a new id while kubelet keeps
/// the exited one for its logs, so two workloads can share `pod_uid` and `container`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Kubernetes namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Container name within the pod.
    pub container: String,
    /// containerd container id.
    pub container_id: String,
    /// The containerd image name the container was created from.
    pub image: String,
    /// Manifest digest of that image (an [`ImageRecord::manifest_digest`]), or `None`
    /// when no image by that name is on the node any more or its content is missing.
    pub image_digest: Option<String>,
}

impl Inventory {
    /// Applies changes as a consumer of [`InventoryUpdate::Delta`] does, keeping the
    /// records sorted (images by manifest digest, workloads by container id).
    pub fn apply(&mut self, changes: &[InventoryChange]) {
        for change in changes {
            match change {
                InventoryChange::ImageAdded(image) => {
                    self.images
                        .retain(|i| i.manifest_digest != image.manifest_digest);
                    self.images.push(image.clone());
                }
                InventoryChange::ImageRemoved { manifest_digest } => self
                    .images
                    .retain(|i| &i.manifest_digest != manifest_digest),
                InventoryChange::WorkloadAdded(workload) => {
                    self.workloads
                        .retain(|w| w.container_id != workload.container_id);
                    self.workloads.push(workload.clone());
                }
                InventoryChange::WorkloadRemoved(workload) => self
                    .workloads
                    .retain(|w| w.container_id != workload.container_id),
            }
        }
        self.images
            .sort_by(|a, b| a.manifest_digest.cmp(&b.manifest_digest));
        self.workloads
            .sort_by(|a, b| a.container_id.cmp(&b.container_id));
    }
}

/// One difference between two inventories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryChange {
    /// An image appeared, or its record changed (a name came or went): the new record.
    ImageAdded(ImageRecord),
    /// No name of the image with this manifest digest is left on the node.
    ImageRemoved { manifest_digest: String },
    /// A pod container appeared, or its record changed (its image moved to another
    /// digest, its labels changed): the new record.
    WorkloadAdded(Workload),
    /// A pod container's record is gone: the record as it was last seen.
    WorkloadRemoved(Workload),
}

/// What the watch sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryUpdate {
    /// The whole inventory: sent after every (re)connect to containerd and after any
    /// gap in its events. It replaces everything known before.
    Full(Inventory),
    /// Changes since the previous update, in an order a consumer can apply one by one:
    /// images added, then workloads removed and added, then images removed.
    Delta(Vec<InventoryChange>),
}

/// Lists the images and pod containers of `client`'s namespace, resolving each image
/// for `platform`. Images whose content is not on this node are left out.
pub async fn list(client: &Containerd, platform: &Platform) -> Result<Inventory> {
    Ok(state::State::load(client, platform).await?.inventory())
}

/// The changes that turn `before` into `after`, ordered as [`InventoryUpdate::Delta`]
/// describes.
pub fn diff(before: &Inventory, after: &Inventory) -> Vec<InventoryChange> {
    let images_before: HashMap<&str, &ImageRecord> = before
        .images
        .iter()
        .map(|image| (image.manifest_digest.as_str(), image))
        .collect();
    let images_after: HashMap<&str, &ImageRecord> = after
        .images
        .iter()
        .map(|image| (image.manifest_digest.as_str(), image))
        .collect();
    let workloads_before: HashMap<&str, &Workload> = before
        .workloads
        .iter()
        .map(|workload| (workload.container_id.as_str(), workload))
        .collect();
    let workloads_after: HashMap<&str, &Workload> = after
        .workloads
        .iter()
        .map(|workload| (workload.container_id.as_str(), workload))
        .collect();

    let mut changes = Vec::new();
    for image in &after.images {
        if images_before.get(image.manifest_digest.as_str()) != Some(&image) {
            changes.push(InventoryChange::ImageAdded(image.clone()));
        }
    }
    for workload in &before.workloads {
        if !workloads_after.contains_key(workload.container_id.as_str()) {
            changes.push(InventoryChange::WorkloadRemoved(workload.clone()));
        }
    }
    for workload in &after.workloads {
        if workloads_before.get(workload.container_id.as_str()) != Some(&workload) {
            changes.push(InventoryChange::WorkloadAdded(workload.clone()));
        }
    }
    for image in &before.images {
        if !images_after.contains_key(image.manifest_digest.as_str()) {
            changes.push(InventoryChange::ImageRemoved {
                manifest_digest: image.manifest_digest.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(digest: &str, names: &[&str]) -> ImageRecord {
        ImageRecord {
            manifest_digest: digest.into(),
            index_digest: None,
            config_digest: format!("{digest}-config"),
            names: names.iter().map(|n| n.to_string()).collect(),
            platform: "linux/amd64".into(),
            diff_ids: vec![format!("{digest}-layer")],
        }
    }

    fn workload(id: &str, image_digest: &str) -> Workload {
        Workload {
            namespace: "default".into(),
            pod: "web-0".into(),
            pod_uid: "0b9e5a5c-3f57-4a38-9d84-5d0c8f6f7f01".into(),
            container: "web".into(),
            container_id: id.into(),
            image: "docker.io/library/nginx:1.27".into(),
            image_digest: Some(image_digest.into()),
        }
    }

    #[test]
    fn equal_inventories_have_no_changes() {
        let inventory = Inventory {
            images: vec![image("sha256:a", &["a:1"])],
            workloads: vec![workload("c1", "sha256:a")],
        };
        assert!(diff(&inventory, &inventory).is_empty());
    }

    #[test]
    fn new_name_of_known_image_is_reported_as_the_full_record() {
        let before = Inventory {
            images: vec![image("sha256:a", &["a:1"])],
            workloads: vec![],
        };
        let renamed = image("sha256:a", &["a:1", "a:latest"]);
        let after = Inventory {
            images: vec![renamed.clone()],
            workloads: vec![],
        };
        assert_eq!(
            diff(&before, &after),
            vec![InventoryChange::ImageAdded(renamed)]
        );
    }

    #[test]
    fn additions_come_before_removals_that_depend_on_them() {
        let before = Inventory {
            images: vec![image("sha256:old", &["app:1"])],
            workloads: vec![workload("c1", "sha256:old")],
        };
        let after = Inventory {
            images: vec![image("sha256:new", &["app:2"])],
            workloads: vec![workload("c2", "sha256:new")],
        };
        assert_eq!(
            diff(&before, &after),
            vec![
                InventoryChange::ImageAdded(image("sha256:new", &["app:2"])),
                InventoryChange::WorkloadRemoved(workload("c1", "sha256:old")),
                InventoryChange::WorkloadAdded(workload("c2", "sha256:new")),
                InventoryChange::ImageRemoved {
                    manifest_digest: "sha256:old".into()
                },
            ]
        );
    }

    #[test]
    fn workload_whose_image_moved_is_added_again() {
        let before = Inventory {
            images: vec![],
            workloads: vec![workload("c1", "sha256:a")],
        };
        let after = Inventory {
            images: vec![],
            workloads: vec![workload("c1", "sha256:b")],
        };
        assert_eq!(
            diff(&before, &after),
            vec![InventoryChange::WorkloadAdded(workload("c1", "sha256:b"))]
        );
    }
}
