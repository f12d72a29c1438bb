//! What both stores' read models share: which placements a summary shows, and the
//! bounds and escaping of component searches.

use super::WorkloadPlacement;

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
        self.node_matches(&workload.cluster, &workload.node)
            && self
                .namespace
                .is_none_or(|wanted| wanted == workload.namespace)
            && (workload.running || !self.running_only)
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
