//! What both stores' read models share: which placements a summary shows, and the
//! bounds and escaping of component searches.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{ImageFilter, ImagePlacements, NodePresence, WorkloadPlacement};
use crate::error::{Error, Result};

/// The names an image is known by: the fleet's record's and every node's. Nodes mostly
/// list the same names, so each distinct JSON list is read once.
#[derive(Debug, Default)]
pub struct ImageNames {
    names: BTreeSet<String>,
    lists: HashSet<String>,
}

impl ImageNames {
    /// Adds the names of a stored JSON list.
    pub fn add_json(&mut self, json: &str) -> Result<()> {
        if self.lists.contains(json) {
            return Ok(());
        }
        let names: Vec<String> = serde_json::from_str(json)
            .map_err(|err| Error::Corrupt(format!("stored list of names: {err}")))?;
        self.names.extend(names);
        self.lists.insert(json.to_owned());
        Ok(())
    }

    /// Every name, sorted.
    pub fn into_sorted(self) -> Vec<String> {
        self.names.into_iter().collect()
    }
}

/// Most distinct components one search may match before it must be narrowed.
pub const MAX_MATCHING_COMPONENTS: usize = 10_000;

/// Which nodes and workloads a summary shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacementFilter<'a> {
    pub cluster: Option<&'a str>,
    pub node: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub running_only: bool,
}

impl PlacementFilter<'_> {
    pub fn node_matches(&self, cluster: &str, node: &str) -> bool {
        self.cluster.is_none_or(|wanted| wanted == cluster)
            && self.node.is_none_or(|wanted| wanted == node)
    }

    pub fn workload_matches(&self, workload: &WorkloadPlacement) -> bool {
        self.workload_at(
            &workload.cluster,
            &workload.node,
            &workload.namespace,
            workload.running,
        )
    }

    /// Whether a workload in `namespace` on `cluster`/`node`, running or not, passes.
    pub fn workload_at(&self, cluster: &str, node: &str, namespace: &str, running: bool) -> bool {
        self.node_matches(cluster, node)
            && self.namespace.is_none_or(|wanted| wanted == namespace)
            && (running || !self.running_only)
    }
}

/// `value` as a literal LIKE pattern (escape character `\`).
pub fn like_literal(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn like_wildcards_in_user_input_are_literal() {
        assert_eq!(like_literal("a_b%c\\d"), "a\\_b\\%c\\\\d");
    }
}

/// Assembles [`ImagePlacements`] from the rows both stores read: nodes holding images,
/// running workloads, and the images' own names.
#[derive(Debug, Default)]
pub struct PlacementRows {
    images: BTreeMap<String, (ImageNames, ImagePlacements)>,
}

impl PlacementRows {
    fn image(&mut self, digest: &str) -> &mut (ImageNames, ImagePlacements) {
        self.images.entry(digest.to_owned()).or_insert_with(|| {
            let placements = ImagePlacements {
                manifest_digest: digest.to_owned(),
                ..ImagePlacements::default()
            };
            (ImageNames::default(), placements)
        })
    }

    /// A node holding `digest`, which knows it by the JSON list `names`.
    pub fn node(&mut self, digest: &str, node: NodePresence, names: &str) -> Result<()> {
        let (known, image) = self.image(digest);
        known.add_json(names)?;
        image.nodes.push(node);
        Ok(())
    }

    /// A workload running its image.
    pub fn workload(&mut self, workload: WorkloadPlacement) {
        let digest = workload.manifest_digest.clone();
        self.image(&digest).1.workloads.push(workload);
    }

    /// The digests seen so far.
    pub fn digests(&self) -> Vec<String> {
        self.images.keys().cloned().collect()
    }

    /// The fleet-wide JSON list of names of `digest`.
    pub fn image_names(&mut self, digest: &str, names: &str) -> Result<()> {
        if let Some((known, _)) = self.images.get_mut(digest) {
            known.add_json(names)?;
        }
        Ok(())
    }

    /// The images in `filter`'s scope: with a namespace or running only, those that a
    /// workload runs; else every one seen. At most `limit`.
    pub fn finish(self, filter: &ImageFilter, limit: usize) -> Vec<ImagePlacements> {
        let by_workload = filter.namespace.is_some() || filter.running_only;
        self.images
            .into_values()
            .filter(|(_, image)| !by_workload || !image.workloads.is_empty())
            .filter(|(_, image)| {
                filter
                    .digest
                    .as_ref()
                    .is_none_or(|digest| *digest == image.manifest_digest)
            })
            .take(limit)
            .map(|(names, mut image)| {
                image.names = names.into_sorted();
                image
            })
            .collect()
    }
}
