//! The inventory as the watch keeps it: containerd's records, each image target
//! resolved once.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::containerd::api::containers::Container;
use crate::containerd::api::images::Image;
use tracing::{debug, warn};

use super::events::Event;
use super::{
    ImageRecord, Inventory, Workload, CONTAINER_NAME_LABEL, KIND_LABEL, POD_NAMESPACE_LABEL,
    POD_NAME_LABEL, POD_UID_LABEL,
};
use crate::containerd::Containerd;
use crate::image::{self, Platform, ResolvedImage};
use crate::{Error, Result};

/// Server-side filter for pod containers; [`PodContainer::from_record`] checks again.
const POD_CONTAINER_FILTER: &str = "labels.\"io.cri-containerd.kind\"==container";

/// What an image target resolved to on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    manifest_digest: String,
    index_digest: Option<String>,
    config_digest: String,
    platform: String,
    diff_ids: Vec<String>,
}

impl From<ResolvedImage> for Resolved {
    fn from(image: ResolvedImage) -> Self {
        Resolved {
            manifest_digest: image.manifest_digest,
            index_digest: image.index_digest,
            config_digest: image.config_digest,
            platform: image.platform,
            diff_ids: image.diff_ids,
        }
    }
}

/// A pod container as its labels describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PodContainer {
    namespace: String,
    pod: String,
    pod_uid: String,
    container: String,
    image: String,
}

impl PodContainer {
    /// `None` for sandboxes, containers not made by the CRI, and records missing one of
    /// kubelet's labels.
    fn from_record(record: &Container) -> Option<Self> {
        let label = |key: &str| {
            record
                .labels
                .get(key)
                .filter(|value| !value.is_empty())
                .cloned()
        };
        if record.labels.get(KIND_LABEL).map(String::as_str) != Some("container") {
            return None;
        }
        let pod = PodContainer {
            namespace: label(POD_NAMESPACE_LABEL)?,
            pod: label(POD_NAME_LABEL)?,
            pod_uid: label(POD_UID_LABEL)?,
            container: label(CONTAINER_NAME_LABEL)?,
            image: record.image.clone(),
        };
        Some(pod)
    }
}

/// containerd's image and container records, with each image target resolved.
#[derive(Debug)]
pub(super) struct State {
    platform: Platform,
    /// Image name → target digest, for every image record.
    names: BTreeMap<String, String>,
    /// Target digest → what it resolves to here; `None` when it cannot be resolved here
    /// (content not on the node, malformed), retried when a record of it changes.
    targets: HashMap<String, Option<Resolved>>,
    /// Container id → pod container.
    containers: BTreeMap<String, PodContainer>,
}

impl State {
    /// Lists every image and pod container of the namespace.
    pub(super) async fn load(client: &Containerd, platform: &Platform) -> Result<Self> {
        Self::list(client, platform.clone(), HashMap::new()).await
    }

    /// Lists everything again, keeping what was resolved: a target digest names its
    /// content, so it resolves the same way while it is on the node.
    pub(super) async fn reload(&self, client: &Containerd) -> Result<Self> {
        let resolved = self
            .targets
            .iter()
            .filter(|(_, resolved)| resolved.is_some())
            .map(|(digest, resolved)| (digest.clone(), resolved.clone()))
            .collect();
        Self::list(client, self.platform.clone(), resolved).await
    }

    async fn list(
        client: &Containerd,
        platform: Platform,
        targets: HashMap<String, Option<Resolved>>,
    ) -> Result<Self> {
        let mut state = State {
            platform,
            names: BTreeMap::new(),
            targets,
            containers: BTreeMap::new(),
        };
        for record in client.list_images().await? {
            let Some(target) = &record.target else {
                continue;
            };
            if !state.targets.contains_key(&target.digest) {
                let resolved = state.resolve(client, &record).await?;
                state.targets.insert(target.digest.clone(), resolved);
            }
            state.names.insert(record.name, target.digest.clone());
        }
        state.forget_unused_targets();
        for record in client
            .list_containers(vec![POD_CONTAINER_FILTER.to_string()])
            .await?
        {
            if let Some(pod) = PodContainer::from_record(&record) {
                state.containers.insert(record.id, pod);
            }
        }
        Ok(state)
    }

    /// Resolves one image record; `None` when that cannot be done on this node.
    async fn resolve(&self, client: &Containerd, record: &Image) -> Result<Option<Resolved>> {
        match image::resolve_record(client, record, &self.platform).await {
            Ok(resolved) => Ok(Some(resolved.into())),
            Err(error @ (Error::ContentMissing { .. } | Error::ImageNotFound { .. })) => {
                debug!(image = %record.name, %error, "image content not on this node; skipped");
                Ok(None)
            }
            // The client reports a lost connection and a refused request alike: only the
            // former should end the session (and make the caller list again).
            Err(error @ Error::Containerd { .. }) if client.version().await.is_err() => Err(error),
            Err(error) => {
                warn!(image = %record.name, %error, "image cannot be resolved; skipped");
                Ok(None)
            }
        }
    }

    /// Applies one event by reading the record it names.
    pub(super) async fn apply(&mut self, client: &Containerd, event: Event) -> Result<()> {
        match event {
            Event::ImageChanged(name) => match client.get_image(&name).await? {
                Some(record) => self.put_image(client, record).await?,
                None => self.remove_image(&name),
            },
            Event::ImageDeleted(name) => self.remove_image(&name),
            Event::ContainerChanged(id) => {
                match client
                    .get_container(&id)
                    .await?
                    .as_ref()
                    .and_then(PodContainer::from_record)
                {
                    Some(pod) => {
                        self.containers.insert(id, pod);
                    }
                    None => {
                        self.containers.remove(&id);
                    }
                }
            }
            Event::ContainerDeleted(id) => {
                self.containers.remove(&id);
            }
        }
        Ok(())
    }

    async fn put_image(&mut self, client: &Containerd, record: Image) -> Result<()> {
        let Some(target) = &record.target else {
            self.remove_image(&record.name);
            return Ok(());
        };
        let digest = target.digest.clone();
        if !matches!(self.targets.get(&digest), Some(Some(_))) {
            let resolved = self.resolve(client, &record).await?;
            self.targets.insert(digest.clone(), resolved);
        }
        self.names.insert(record.name, digest);
        self.forget_unused_targets();
        Ok(())
    }

    fn remove_image(&mut self, name: &str) {
        if self.names.remove(name).is_some() {
            self.forget_unused_targets();
        }
    }

    fn forget_unused_targets(&mut self) {
        let used: HashSet<&String> = self.names.values().collect();
        self.targets.retain(|digest, _| used.contains(digest));
    }

    /// The inventory as of now.
    pub(super) fn inventory(&self) -> Inventory {
        let mut images: BTreeMap<&str, ImageRecord> = BTreeMap::new();
        // Names iterate sorted, so each record's names come out sorted.
        for (name, target) in &self.names {
            let Some(Some(resolved)) = self.targets.get(target) else {
                continue;
            };
            let record = images
                .entry(resolved.manifest_digest.as_str())
                .or_insert_with(|| ImageRecord {
                    manifest_digest: resolved.manifest_digest.clone(),
                    index_digest: None,
                    config_digest: resolved.config_digest.clone(),
                    names: Vec::new(),
                    platform: resolved.platform.clone(),
                    diff_ids: resolved.diff_ids.clone(),
                });
            record.names.push(name.clone());
            // A manifest can be named directly and through an index: keep the index.
            if record.index_digest.is_none() {
                record.index_digest.clone_from(&resolved.index_digest);
            }
        }
        let workloads = self
            .containers
            .iter()
            .map(|(id, pod)| Workload {
                namespace: pod.namespace.clone(),
                pod: pod.pod.clone(),
                pod_uid: pod.pod_uid.clone(),
                container: pod.container.clone(),
                container_id: id.clone(),
                image: pod.image.clone(),
                image_digest: self
                    .names
                    .get(&pod.image)
                    .and_then(|target| self.targets.get(target))
                    .and_then(Option::as_ref)
                    .map(|resolved| resolved.manifest_digest.clone()),
            })
            .collect();
        Inventory {
            images: images.into_values().collect(),
            workloads,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn record(labels: &[(&str, &str)]) -> Container {
        Container {
            id: "c1".into(),
            image: "docker.io/library/nginx:1.27".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        }
    }

    const POD_LABELS: [(&str, &str); 4] = [
        (POD_NAMESPACE_LABEL, "shop"),
        (POD_NAME_LABEL, "web-0"),
        (POD_UID_LABEL, "0b9e5a5c-3f57-4a38-9d84-5d0c8f6f7f01"),
        (CONTAINER_NAME_LABEL, "web"),
    ];

    #[test]
    fn pod_container_is_read_from_kubelet_labels() {
        let mut labels = POD_LABELS.to_vec();
        labels.push((KIND_LABEL, "container"));
        let pod = PodContainer::from_record(&record(&labels)).unwrap();
        assert_eq!(pod.namespace, "shop");
        assert_eq!(pod.pod, "web-0");
        assert_eq!(pod.pod_uid, "0b9e5a5c-3f57-4a38-9d84-5d0c8f6f7f01");
        assert_eq!(pod.container, "web");
        assert_eq!(pod.image, "docker.io/library/nginx:1.27");
    }

    #[test]
    fn sandbox_is_not_a_workload() {
        let mut labels = POD_LABELS.to_vec();
        labels.push((KIND_LABEL, "sandbox"));
        assert_eq!(PodContainer::from_record(&record(&labels)), None);
    }

    #[test]
    fn container_without_cri_labels_is_not_a_workload() {
        assert_eq!(PodContainer::from_record(&record(&POD_LABELS)), None);
        let no_uid: Vec<_> = POD_LABELS
            .iter()
            .copied()
            .filter(|(k, _)| *k != POD_UID_LABEL)
            .chain([(KIND_LABEL, "container")])
            .collect();
        assert_eq!(PodContainer::from_record(&record(&no_uid)), None);
    }

    fn resolved(manifest: &str, index: Option<&str>) -> Option<Resolved> {
        Some(Resolved {
            manifest_digest: manifest.into(),
            index_digest: index.map(str::to_string),
            config_digest: format!("{manifest}-config"),
            platform: "linux/amd64".into(),
            diff_ids: vec![],
        })
    }

    #[test]
    fn names_of_one_manifest_make_one_record_and_workloads_find_it() {
        let mut state = State {
            platform: Platform::host(),
            names: BTreeMap::new(),
            targets: HashMap::new(),
            containers: BTreeMap::new(),
        };
        // A tag and its digest name point at the index; the config-digest record of a
        // CRI pull too; another name points at the platform manifest directly.
        for (name, target) in [
            ("docker.io/library/nginx:1.27", "sha256:index"),
            ("docker.io/library/nginx@sha256:index", "sha256:index"),
            ("docker.io/library/nginx@sha256:manifest", "sha256:manifest"),
            ("docker.io/library/gone:1", "sha256:absent"),
        ] {
            state.names.insert(name.into(), target.into());
        }
        state.targets.insert(
            "sha256:index".into(),
            resolved("sha256:manifest", Some("sha256:index")),
        );
        state
            .targets
            .insert("sha256:manifest".into(), resolved("sha256:manifest", None));
        state.targets.insert("sha256:absent".into(), None);
        let mut labels = POD_LABELS.to_vec();
        labels.push((KIND_LABEL, "container"));
        let pod = PodContainer::from_record(&record(&labels)).unwrap();
        state.containers.insert("c1".into(), pod.clone());
        let gone = PodContainer {
            image: "docker.io/library/gone:1".into(),
            ..pod
        };
        state.containers.insert("c2".into(), gone);

        let inventory = state.inventory();
        assert_eq!(inventory.images.len(), 1);
        let image = &inventory.images[0];
        assert_eq!(image.manifest_digest, "sha256:manifest");
        assert_eq!(image.index_digest.as_deref(), Some("sha256:index"));
        assert_eq!(
            image.names,
            [
                "docker.io/library/nginx:1.27",
                "docker.io/library/nginx@sha256:index",
                "docker.io/library/nginx@sha256:manifest",
            ]
        );
        assert_eq!(
            inventory.workloads[0].image_digest.as_deref(),
            Some("sha256:manifest")
        );
        assert_eq!(inventory.workloads[1].image_digest, None);
    }
}
