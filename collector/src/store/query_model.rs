//! What both stores' read models share: which placements a summary shows, and the
//! bounds and escaping of component searches.

use std::collections::{BTreeSet, HashSet};

use super::WorkloadPlacement;
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
