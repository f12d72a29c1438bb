//! Conversions between the agent's inventory and the `nodebom.v1` messages.

use nodebom_proto::v1;

use crate::host::HostReport;
use crate::inventory::{ImageRecord, Inventory, InventoryChange, Workload};

impl From<&ImageRecord> for v1::Image {
    fn from(image: &ImageRecord) -> Self {
        v1::Image {
            manifest_digest: image.manifest_digest.clone(),
            index_digest: image.index_digest.clone().unwrap_or_default(),
            config_digest: image.config_digest.clone(),
            names: image.names.clone(),
            platform: image.platform.clone(),
            diff_ids: image.diff_ids.clone(),
            kind: v1::ArtifactKind::Image as i32,
            node: None,
        }
    }
}

/// The node's own software as an inventory record.
fn host_image(host: &HostReport) -> v1::Image {
    v1::Image {
        manifest_digest: host.digest.clone(),
        platform: format!("linux/{}", host.facts.arch),
        kind: v1::ArtifactKind::Node as i32,
        node: Some(v1::NodeSoftware {
            os: host.facts.os.clone(),
            os_name: host.facts.os_name.clone(),
            kernel: host.facts.kernel.clone(),
            arch: host.facts.arch.clone(),
        }),
        ..v1::Image::default()
    }
}

/// The delta from one reading of the host to the next; `None` when its software is the
/// same.
pub(super) fn host_delta(
    before: Option<&HostReport>,
    after: Option<&HostReport>,
) -> Option<v1::InventoryDelta> {
    if before.map(|host| &host.digest) == after.map(|host| &host.digest) {
        return None;
    }
    Some(v1::InventoryDelta {
        images_added: after.map(host_image).into_iter().collect(),
        images_removed: before.map(|host| host.digest.clone()).into_iter().collect(),
        ..v1::InventoryDelta::default()
    })
}

/// A workload whose image is not resolved (its content is not on the node) is left out:
/// the collector keys workloads by image digest.
pub(super) fn workload(workload: &Workload) -> Option<v1::Workload> {
    Some(v1::Workload {
        namespace: workload.namespace.clone(),
        pod: workload.pod.clone(),
        pod_uid: workload.pod_uid.clone(),
        container: workload.container.clone(),
        manifest_digest: workload.image_digest.clone()?,
        image: workload.image.clone(),
        container_id: workload.container_id.clone(),
    })
}

fn workload_key(workload: &Workload) -> v1::WorkloadKey {
    v1::WorkloadKey {
        pod_uid: workload.pod_uid.clone(),
        container: workload.container.clone(),
    }
}

/// The full inventory, with the node's own software when the host is read, as parts of
/// at most `per_part` records each; the last part has `last` set (an empty inventory is
/// one empty last part).
pub(super) fn inventory_parts(
    inventory: &Inventory,
    host: Option<&HostReport>,
    per_part: usize,
) -> Vec<v1::InventoryPart> {
    let per_part = per_part.max(1);
    let images: Vec<v1::Image> = inventory
        .images
        .iter()
        .map(v1::Image::from)
        .chain(host.map(host_image))
        .collect();
    // kubelet keeps a restarted container's exited record beside the new one: both have
    // the same (pod uid, container) key, which is what the collector tracks.
    let mut by_key = std::collections::BTreeMap::new();
    for record in inventory.workloads.iter().filter_map(workload) {
        by_key.insert((record.pod_uid.clone(), record.container.clone()), record);
    }
    let workloads: Vec<v1::Workload> = by_key.into_values().collect();
    let mut parts: Vec<v1::InventoryPart> = images
        .chunks(per_part)
        .map(|chunk| v1::InventoryPart {
            images: chunk.to_vec(),
            ..Default::default()
        })
        .chain(workloads.chunks(per_part).map(|chunk| v1::InventoryPart {
            workloads: chunk.to_vec(),
            ..Default::default()
        }))
        .collect();
    match parts.last_mut() {
        Some(last) => last.last = true,
        None => parts.push(v1::InventoryPart {
            last: true,
            ..Default::default()
        }),
    }
    parts
}

/// One delta message for a batch of changes; `after` is the inventory they lead to.
pub(super) fn delta(changes: &[InventoryChange], after: &Inventory) -> v1::InventoryDelta {
    let mut delta = v1::InventoryDelta::default();
    for change in changes {
        match change {
            InventoryChange::ImageAdded(image) => delta.images_added.push(image.into()),
            InventoryChange::ImageRemoved { manifest_digest } => {
                delta.images_removed.push(manifest_digest.clone())
            }
            InventoryChange::WorkloadAdded(added) => match workload(added) {
                Some(started) => delta.workloads_started.push(started),
                // Its image went away: for the collector it no longer runs anything known.
                None => delta.workloads_stopped.push(workload_key(added)),
            },
            InventoryChange::WorkloadRemoved(removed) => {
                delta.workloads_stopped.push(workload_key(removed))
            }
        }
    }
    // A removed record whose key another container still holds (the exited record of a
    // restarted container) has not stopped anything.
    delta.workloads_stopped.retain(|key| {
        !after.workloads.iter().any(|w| {
            w.pod_uid == key.pod_uid && w.container == key.container && w.image_digest.is_some()
        })
    });
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(digest: &str) -> ImageRecord {
        ImageRecord {
            manifest_digest: digest.into(),
            index_digest: None,
            config_digest: "sha256:c".into(),
            names: vec!["docker.io/library/x:1".into()],
            platform: "linux/amd64".into(),
            diff_ids: vec!["sha256:d".into()],
        }
    }

    fn pod(uid: &str, digest: Option<&str>) -> Workload {
        Workload {
            namespace: "default".into(),
            pod: "web".into(),
            pod_uid: uid.into(),
            container: "app".into(),
            container_id: format!("id-{uid}"),
            image: "docker.io/library/x:1".into(),
            image_digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn inventory_is_split_into_parts_and_only_the_last_is_marked() {
        let inventory = Inventory {
            images: (0..5).map(|i| image(&format!("sha256:{i}"))).collect(),
            workloads: vec![pod("u1", Some("sha256:0")), pod("u2", None)],
        };
        let parts = inventory_parts(&inventory, None, 2);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts.iter().map(|p| p.images.len()).sum::<usize>(), 5);
        assert_eq!(
            parts.iter().map(|p| p.workloads.len()).sum::<usize>(),
            1,
            "unresolved workload left out"
        );
        assert_eq!(parts.iter().filter(|p| p.last).count(), 1);
        assert!(parts.last().unwrap().last);
    }

    #[test]
    fn empty_inventory_is_one_empty_last_part() {
        let parts = inventory_parts(&Inventory::default(), None, 100);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].last && parts[0].images.is_empty());
    }

    #[test]
    fn delta_maps_each_change() {
        let delta = delta(
            &[
                InventoryChange::ImageAdded(image("sha256:a")),
                InventoryChange::WorkloadRemoved(pod("u1", Some("sha256:a"))),
                InventoryChange::WorkloadAdded(pod("u2", Some("sha256:a"))),
                InventoryChange::WorkloadAdded(pod("u3", None)),
                InventoryChange::ImageRemoved {
                    manifest_digest: "sha256:b".into(),
                },
            ],
            &Inventory::default(),
        );
        assert_eq!(delta.images_added.len(), 1);
        assert_eq!(delta.images_removed, vec!["sha256:b".to_string()]);
        assert_eq!(delta.workloads_started.len(), 1);
        let stopped: Vec<&str> = delta
            .workloads_stopped
            .iter()
            .map(|k| k.pod_uid.as_str())
            .collect();
        assert_eq!(stopped, vec!["u1", "u3"]);
    }

    #[test]
    fn exited_record_of_a_restarted_container_does_not_stop_its_workload() {
        let mut restarted = pod("u1", Some("sha256:a"));
        restarted.container_id = "id-new".into();
        let after = Inventory {
            images: vec![image("sha256:a")],
            workloads: vec![restarted.clone()],
        };
        let delta = delta(
            &[InventoryChange::WorkloadRemoved(pod(
                "u1",
                Some("sha256:a"),
            ))],
            &after,
        );
        assert!(delta.workloads_stopped.is_empty());

        let both = Inventory {
            images: vec![],
            workloads: vec![pod("u1", Some("sha256:a")), restarted],
        };
        let parts = inventory_parts(&both, None, 10);
        assert_eq!(parts.iter().map(|p| p.workloads.len()).sum::<usize>(), 1);
    }
}
