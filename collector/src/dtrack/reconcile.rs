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
    /// How long a tag stays after its cluster (or namespace) stops using the image.
    pub tag_grace: Duration,
    /// Also tag `namespace:<ns>`.
    pub namespace_tags: bool,
}

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
    let facts = ImageFacts::new(&used.names, digest, cluster);
    let name = bounded(rules.name.render(&facts), digest);
    let mut version = rules.version.render(&facts);
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
    if let Some(used) = used.filter(|used| used.sbom_sha256 != old.sbom_sha256) {
        new.sbom_sha256 = used.sbom_sha256.clone();
        actions.push(Action::Upload {
            sbom_sha256: used.sbom_sha256.clone(),
        });
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
    (new != old).then_some(Plan {
        state: new,
        actions,
        queued_at: now,
    })
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
            tag_grace: Duration::from_secs(60),
            namespace_tags: false,
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
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000 + seconds * 1000)
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
        let state = first[0].state.clone();
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
