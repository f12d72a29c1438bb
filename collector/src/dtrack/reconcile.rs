//! From where images are used to what Dependency-Track (DT) should show: per digest, the
//! project it goes to, its nodebom tags and whether it is active, and the actions that
//! take DT from the last planned state to the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::clock::Timestamp;

use super::template::{short_digest, ImageFacts, Template};
use crate::store::outbox::{split_project_key, Action, Plan, ProjectState, Usage};

/// DT's limit on project names and versions.
const MAX_NAME_CHARS: usize = 255;

/// How desired states are derived.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Project name template.
    pub name: Template,
    /// Project version template.
    pub version: Template,
    /// Project name template of a node's own software.
    pub node_name: Template,
    /// Project version template of a node's own software.
    pub node_version: Template,
    /// How long a tag stays after its cluster (or namespace) stops using the image.
    pub tag_grace: Duration,
    /// Also tag `namespace:<ns>`.
    pub namespace_tags: bool,
    /// How often an active project's findings are fetched again (DT re-analyses every
    /// project on a schedule of its own).
    pub findings_refresh: Duration,
}

/// After an upload, its findings are fetched once DT has processed it, and again this
/// long after: DT analyses a BOM only after processing it.
const FINDINGS_FOLLOW_UP: Duration = Duration::from_secs(60);

/// The plans that change something, for every digest that is used now or was forwarded
/// before.
pub fn plan(usage: &[Usage], known: &[ProjectState], now: Timestamp, rules: &Rules) -> Vec<Plan> {
    let known: BTreeMap<&str, &ProjectState> = known
        .iter()
        .map(|state| (state.digest.as_str(), state))
        .collect();
    let mut taken: BTreeSet<(String, String)> = known
        .values()
        .map(|state| (state.name.clone(), state.version.clone()))
        .collect();
    let mut plans = Vec::new();
    // `usage` is sorted by digest, so new projects claim names in a stable order.
    for used in usage {
        let state = match known.get(used.digest.as_str()) {
            Some(state) => (*state).clone(),
            None => new_project(used, rules, &mut taken),
        };
        plans.extend(next(state, Some(used), now, rules));
    }
    let used: BTreeSet<&str> = usage.iter().map(|used| used.digest.as_str()).collect();
    for state in known
        .values()
        .filter(|state| !used.contains(state.digest.as_str()))
    {
        plans.extend(next((*state).clone(), None, now, rules));
    }
    plans
}

/// A project for a digest seen for the first time. Two digests never share a project
/// (a moved tag, one tag for several platforms): a later digest whose name and version
/// are taken gets its short digest appended to the version. A cluster's own copy of an
/// SBOM (its build differed from the fleet copy) is a project of its own, its version
/// followed by `[cluster]`.
fn new_project(
    used: &Usage,
    rules: &Rules,
    taken: &mut BTreeSet<(String, String)>,
) -> ProjectState {
    let (digest, own_copy_of) = split_project_key(&used.digest);
    let cluster = own_copy_of
        .or_else(|| used.clusters.keys().next().map(String::as_str))
        .unwrap_or("");
    let (facts, name, version) = match &used.node {
        Some(node) => {
            let pool = used.node_pools.iter().next().map_or("", String::as_str);
            let facts = ImageFacts::of_node(node, pool, digest, cluster);
            (facts, &rules.node_name, &rules.node_version)
        }
        None => (
            ImageFacts::new(&used.names, digest, cluster),
            &rules.name,
            &rules.version,
        ),
    };
    let name = bounded(name.render(&facts), digest);
    let mut version = version.render(&facts);
    if let Some(cluster) = own_copy_of {
        version = format!("{version} [{cluster}]");
    }
    let version = bounded(version, digest);
    let mut key = (name, version);
    if taken.contains(&key) {
        key.1 = bounded(format!("{}@{}", key.1, short_digest(digest)), digest);
    }
    if taken.contains(&key) {
        key.1 = used.digest.clone();
    }
    taken.insert(key.clone());
    ProjectState {
        digest: used.digest.clone(),
        name: key.0,
        version: key.1,
        sbom_sha256: String::new(),
        tags: BTreeMap::new(),
        // Unknown until the first update, which sets it either way.
        active: false,
        findings_asked: None,
    }
}

/// At most [`MAX_NAME_CHARS`] characters; the digest when empty.
fn bounded(text: String, digest: &str) -> String {
    let text: String = text.trim().chars().take(MAX_NAME_CHARS).collect();
    if text.is_empty() {
        digest.to_owned()
    } else {
        text
    }
}

/// The next state of one project and its actions; `None` when nothing changes.
fn next(old: ProjectState, used: Option<&Usage>, now: Timestamp, rules: &Rules) -> Option<Plan> {
    let first = old.sbom_sha256.is_empty();
    let wanted = wanted_tags(used, rules.namespace_tags);
    let mut new = old.clone();
    new.tags = next_tags(&old.tags, &wanted, now, rules.tag_grace);
    new.active = used.is_some_and(|used| !used.clusters.is_empty());
    let mut actions = Vec::new();
    let mut uploaded = false;
    if let Some(used) = used.filter(|used| used.sbom_sha256 != old.sbom_sha256) {
        new.sbom_sha256 = used.sbom_sha256.clone();
        actions.push(Action::Upload {
            sbom_sha256: used.sbom_sha256.clone(),
            tags: new.tags.keys().cloned().collect(),
        });
        uploaded = true;
    }
    let add: Vec<String> = new
        .tags
        .keys()
        .filter(|t| !old.tags.contains_key(*t))
        .cloned()
        .collect();
    let remove: Vec<String> = old
        .tags
        .keys()
        .filter(|t| !new.tags.contains_key(*t))
        .cloned()
        .collect();
    if first || !add.is_empty() || !remove.is_empty() || new.active != old.active {
        actions.push(Action::Update {
            add,
            remove,
            active: new.active,
        });
    }
    if let Some(asked) = findings_asked(&old, new.active, uploaded, now, rules.findings_refresh) {
        new.findings_asked = Some(asked);
        actions.push(Action::Findings);
    }
    (new != old).then_some(Plan {
        state: new,
        actions,
        queued_at: now,
    })
}

/// When to record a findings fetch as asked, if one is to be queued now: after every
/// upload (recorded as asked earlier, so that the next refresh comes
/// [`FINDINGS_FOLLOW_UP`] later), and for an active project whose last fetch is older
/// than `refresh`.
fn findings_asked(
    old: &ProjectState,
    active: bool,
    uploaded: bool,
    now: Timestamp,
    refresh: Duration,
) -> Option<Timestamp> {
    if uploaded {
        let follow_up = refresh.saturating_sub(FINDINGS_FOLLOW_UP);
        return Some(now.saturating_sub(follow_up));
    }
    let stale = old
        .findings_asked
        .is_none_or(|asked| asked.saturating_add(refresh) <= now);
    (active && stale && !old.sbom_sha256.is_empty()).then_some(now)
}

/// Tags the current users call for, lower-cased as DT stores them.
fn wanted_tags(used: Option<&Usage>, namespaces: bool) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for (cluster, spaces) in used.map(|used| &used.clusters).into_iter().flatten() {
        tags.insert(tag("cluster", cluster));
        if namespaces {
            tags.extend(spaces.iter().map(|space| tag("namespace", space)));
        }
    }
    for pool in used.map(|used| &used.node_pools).into_iter().flatten() {
        tags.insert(tag("node-pool", pool));
    }
    tags
}

fn tag(kind: &str, value: &str) -> String {
    format!("{kind}:{}", value.trim()).to_lowercase()
}

/// Wanted tags stay (or come back), unwanted ones start their grace period and leave
/// when it is over.
fn next_tags(
    old: &BTreeMap<String, Option<Timestamp>>,
    wanted: &BTreeSet<String>,
    now: Timestamp,
    grace: Duration,
) -> BTreeMap<String, Option<Timestamp>> {
    let mut tags: BTreeMap<String, Option<Timestamp>> =
        wanted.iter().map(|tag| (tag.clone(), None)).collect();
    for (tag, since) in old.iter().filter(|(tag, _)| !wanted.contains(*tag)) {
        let since = since.unwrap_or(now);
        if since.saturating_add(grace) > now {
            tags.insert(tag.clone(), Some(since));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn rules() -> Rules {
        Rules {
            name: "${repository}".parse().unwrap(),
            version: "${tag}".parse().unwrap(),
            node_name: "node/${os}".parse().unwrap(),
            node_version: "${kernel}-${digest_short}".parse().unwrap(),
            tag_grace: Duration::from_secs(60),
            namespace_tags: false,
            findings_refresh: Duration::from_secs(86_400),
        }
    }

    fn used(digest: &str, name: &str, clusters: &[&str]) -> Usage {
        Usage {
            digest: digest.into(),
            sbom_sha256: format!("sbom of {digest}"),
            names: vec![name.into()],
            clusters: clusters
                .iter()
                .map(|c| (c.to_string(), BTreeSet::new()))
                .collect(),
            ..Usage::default()
        }
    }

    #[test]
    fn node_software_follows_the_node_templates_and_is_tagged_by_pool() {
        let mut node = used(A, "", &["prod-a", "prod-b"]);
        node.names.clear();
        node.node = Some(crate::inventory::NodeSoftware {
            os: "debian-12".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "amd64".into(),
        });
        node.node_pools = ["pool-b".to_string(), "pool-a".to_string()].into();
        let plans = plan(&[node.clone()], &[], at(0), &rules());
        let state = &plans[0].state;
        assert_eq!(state.name, "node/debian-12");
        assert_eq!(state.version, "6.1.0-18-amd64-sha256:aaaaaaaaaaaa");
        let tags: Vec<&str> = state.tags.keys().map(String::as_str).collect();
        assert_eq!(
            tags,
            [
                "cluster:prod-a",
                "cluster:prod-b",
                "node-pool:pool-a",
                "node-pool:pool-b"
            ]
        );
        // A pool whose nodes left starts its grace period like a cluster's tag.
        node.node_pools.remove("pool-b");
        let later = plan(&[node], std::slice::from_ref(state), at(10), &rules());
        assert_eq!(later[0].state.tags["node-pool:pool-b"], Some(at(10)));
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000 + seconds * 1000)
    }

    #[test]
    fn findings_are_fetched_after_an_upload_shortly_after_and_then_on_the_refresh() {
        let hour = Rules {
            findings_refresh: Duration::from_secs(3600),
            ..rules()
        };
        let used = [used(A, "nginx:1.27", &["prod-a"])];
        let first = plan(&used, &[], at(0), &hour);
        assert_eq!(first[0].actions.last(), Some(&Action::Findings));
        assert!(matches!(first[0].actions[0], Action::Upload { .. }));
        let state = first[0].state.clone();
        assert!(plan(&used, std::slice::from_ref(&state), at(59), &hour).is_empty());
        let follow_up = plan(&used, &[state], at(60), &hour);
        assert_eq!(follow_up[0].actions, [Action::Findings]);
        let state = follow_up[0].state.clone();
        assert!(plan(&used, std::slice::from_ref(&state), at(3659), &hour).is_empty());
        assert_eq!(
            plan(&used, std::slice::from_ref(&state), at(3660), &hour)[0].actions,
            [Action::Findings]
        );
        // An image nobody uses any more is not looked at again.
        let unused = plan(&[], &[state], at(7200), &hour);
        assert!(!unused[0].actions.contains(&Action::Findings));
    }

    #[test]
    fn two_digests_with_one_tag_get_two_projects() {
        let plans = plan(
            &[
                used(A, "nginx:1.27", &["prod-a"]),
                used(B, "nginx:1.27", &["prod-b"]),
            ],
            &[],
            at(0),
            &rules(),
        );
        let keys: Vec<_> = plans
            .iter()
            .map(|p| (p.state.name.as_str(), p.state.version.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("docker.io/library/nginx", "1.27"),
                ("docker.io/library/nginx", "1.27@sha256:bbbbbbbbbbbb")
            ]
        );
    }

    #[test]
    fn a_cluster_tag_outlives_its_last_use_by_the_grace_period() {
        let first = plan(
            &[used(A, "nginx:1.27", &["prod-a", "prod-b"])],
            &[],
            at(0),
            &rules(),
        );
        let mut state = first[0].state.clone();
        // Findings fetches are not this test's concern.
        state.findings_asked = Some(at(1000));
        let stopped = plan(
            &[used(A, "nginx:1.27", &["prod-a"])],
            &[state],
            at(10),
            &rules(),
        );
        let state = stopped[0].state.clone();
        assert!(stopped[0].actions.is_empty(), "{:?}", stopped[0].actions);
        assert_eq!(state.tags.get("cluster:prod-b"), Some(&Some(at(10))));
        assert!(plan(
            &[used(A, "nginx:1.27", &["prod-a"])],
            std::slice::from_ref(&state),
            at(69),
            &rules()
        )
        .is_empty());
        let expired = plan(
            &[used(A, "nginx:1.27", &["prod-a"])],
            &[state],
            at(70),
            &rules(),
        );
        assert_eq!(
            expired[0].actions,
            [Action::Update {
                add: vec![],
                remove: vec!["cluster:prod-b".into()],
                active: true
            }]
        );
    }

    #[test]
    fn unused_image_is_deactivated_and_reactivated_when_it_returns() {
        let first = plan(&[used(A, "nginx:1.27", &["prod-a"])], &[], at(0), &rules());
        let gone = plan(&[], &[first[0].state.clone()], at(1), &rules());
        assert_eq!(
            gone[0].actions,
            [Action::Update {
                add: vec![],
                remove: vec![],
                active: false
            }]
        );
        let back = plan(
            &[used(A, "nginx:1.27", &["prod-a"])],
            &[gone[0].state.clone()],
            at(2),
            &rules(),
        );
        assert_eq!(
            back[0].actions,
            [Action::Update {
                add: vec![],
                remove: vec![],
                active: true
            }]
        );
    }
}
