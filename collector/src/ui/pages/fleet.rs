//! The fleet, a cluster and a namespace: from where everything runs down to the pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::*;

/// A cluster as a row of the fleet page.
struct ClusterRow {
    href: String,
    name: String,
    nodes: usize,
    running: u64,
    last_contact: String,
    oldest_contact: String,
}

#[derive(Template)]
#[template(path = "ui/fleet.html")]
struct FleetPage {
    chrome: Chrome,
    clusters: Vec<ClusterRow>,
    nodes: u64,
    images: u64,
    sboms: u64,
    coverage: String,
    without_sbom: u64,
    building: u64,
    failed: u64,
    waiting: u64,
    running: u64,
    act_now: usize,
    act_now_kev: usize,
    dtrack_queued: u64,
    dtrack_failures: u64,
}

/// `GET /`: the fleet in numbers.
pub async fn fleet(State(state): State<Arc<UiState>>) -> Page {
    let stats = state.api.store.stats(Timestamp::now()).await?;
    let nodes = state.api.store.nodes(None).await?;
    let mut clusters: Vec<ClusterRow> = Vec::new();
    for chunk in nodes.chunk_by(|a, b| a.cluster == b.cluster) {
        let last = chunk.iter().map(|n| n.last_seen).max();
        let oldest = chunk.iter().map(|n| n.last_seen).min();
        clusters.push(ClusterRow {
            href: cluster_href(&chunk[0].cluster),
            name: chunk[0].cluster.clone(),
            nodes: chunk.len(),
            running: chunk.iter().map(|n| n.running).sum(),
            last_contact: last.map(when).unwrap_or_default(),
            oldest_contact: oldest.map(when).unwrap_or_default(),
        });
    }
    let coverage = if stats.images == 0 {
        "no images yet".to_owned()
    } else {
        format!("{:.1} %", stats.sboms as f64 * 100.0 / stats.images as f64)
    };
    // The notifier's open alerts are the running exposures worth acting on now.
    let alerts: Vec<crate::notify::Alert> = state
        .api
        .store
        .alerts_open()
        .await?
        .iter()
        .filter_map(|open| serde_json::from_str(&open.payload).ok())
        .collect();
    let page = FleetPage {
        chrome: Chrome::default(),
        clusters,
        act_now: alerts.len(),
        act_now_kev: alerts.iter().filter(|a| a.kev_due_date.is_some()).count(),
        nodes: stats.nodes,
        images: stats.images,
        sboms: stats.sboms,
        coverage,
        without_sbom: stats.images.saturating_sub(stats.sboms),
        building: stats.claims_building,
        failed: stats.claims_failed,
        waiting: stats.claims_expired,
        running: stats.workloads_running,
        dtrack_queued: stats.dtrack_queued,
        dtrack_failures: stats.dtrack_failures,
    };
    Ok(html(StatusCode::OK, &page))
}

// ---- a cluster, a namespace ----

struct NodeStatusRow {
    node: String,
    pool: String,
    /// The node's own software: its OS and kernel, and the page of its SBOM.
    software: Option<(String, String)>,
    agent_version: String,
    images: u64,
    running: u64,
    first_seen: String,
    last_contact: String,
}

struct NamespaceRow {
    href: String,
    namespace: String,
    pods: u64,
    containers: u64,
    images: u64,
}

#[derive(Template)]
#[template(path = "ui/cluster.html")]
struct ClusterPage {
    chrome: Chrome,
    cluster: String,
    images_href: String,
    exposures_href: String,
    nodes: Vec<NodeStatusRow>,
    namespaces: Vec<NamespaceRow>,
}

/// `GET /clusters/{cluster}`: its nodes with their last contact, and its namespaces.
pub async fn cluster(State(state): State<Arc<UiState>>, Path(cluster): Path<String>) -> Page {
    let cluster = crate::inventory::name("cluster", &cluster)?;
    let nodes = state.api.store.nodes(Some(cluster.clone())).await?;
    if nodes.is_empty() {
        return Err(PageError::not_found(format!(
            "no node of cluster {cluster:?} is known"
        )));
    }
    let namespaces = state.api.store.namespaces(cluster.clone()).await?;
    let query =
        |key: &str| serde_urlencoded::to_string([(key, cluster.as_str())]).unwrap_or_default();
    let page = ClusterPage {
        chrome: Chrome::default(),
        images_href: format!("/images?{}", query("cluster")),
        exposures_href: format!("/exposures?{}", query("cluster")),
        nodes: nodes
            .iter()
            .map(|n| NodeStatusRow {
                node: n.node.clone(),
                pool: n.node_pool.clone(),
                software: n.software_digest.as_deref().map(|digest| {
                    let facts = n.software.clone().unwrap_or_default();
                    let label = [facts.os, facts.kernel]
                        .into_iter()
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ");
                    (
                        image_href(digest),
                        if label.is_empty() {
                            digest.to_owned()
                        } else {
                            label
                        },
                    )
                }),
                agent_version: n.agent_version.clone(),
                images: n.images,
                running: n.running,
                first_seen: when(n.first_seen),
                last_contact: when(n.last_seen),
            })
            .collect(),
        namespaces: namespaces
            .iter()
            .map(|ns| NamespaceRow {
                href: format!(
                    "{}/namespaces/{}",
                    cluster_href(&cluster),
                    segment(&ns.namespace)
                ),
                namespace: ns.namespace.clone(),
                pods: ns.pods,
                containers: ns.containers,
                images: ns.images,
            })
            .collect(),
        cluster,
    };
    Ok(html(StatusCode::OK, &page))
}

/// A pod of a namespace, with its running containers.
struct PodView {
    pod: String,
    node: String,
    containers: Vec<ContainerRow>,
}

struct ContainerRow {
    container: String,
    image: String,
    image_href: String,
    since: String,
}

#[derive(Template)]
#[template(path = "ui/namespace.html")]
struct NamespacePage {
    chrome: Chrome,
    cluster: String,
    cluster_href: String,
    namespace: String,
    exposures_href: String,
    pods: Vec<PodView>,
    truncated: bool,
}

/// Pages of images read for one namespace's page.
const MAX_NAMESPACE_PAGES: usize = 20;

/// `GET /clusters/{cluster}/namespaces/{namespace}`: its pods, each container with the
/// image it runs.
pub async fn namespace(
    State(state): State<Arc<UiState>>,
    Path((cluster, namespace)): Path<(String, String)>,
) -> Page {
    let cluster = crate::inventory::name("cluster", &cluster)?;
    let namespace = crate::inventory::name("namespace", &namespace)?;
    let filter = ImageFilter {
        digest: None,
        name: None,
        cluster: Some(cluster.clone()),
        namespace: Some(namespace.clone()),
        node: None,
        pod: None,
        running_only: true,
    };
    let mut pods: BTreeMap<(String, String), PodView> = BTreeMap::new();
    let mut after = None;
    let mut truncated = false;
    for read in 0.. {
        if read == MAX_NAMESPACE_PAGES {
            truncated = true;
            break;
        }
        let page = state
            .api
            .store
            .list_images(filter.clone(), after, PAGE_SIZE)
            .await?;
        for image in &page.images {
            for w in image.workloads.iter().filter(|w| w.running) {
                let pod = pods
                    .entry((w.pod.clone(), w.pod_uid.clone()))
                    .or_insert_with(|| PodView {
                        pod: w.pod.clone(),
                        node: w.node.clone(),
                        containers: Vec::new(),
                    });
                pod.containers.push(ContainerRow {
                    container: w.container.clone(),
                    image: if w.image.is_empty() {
                        short(&image.manifest_digest).to_owned()
                    } else {
                        w.image.clone()
                    },
                    image_href: image_href(&image.manifest_digest),
                    since: when(w.first_seen),
                });
            }
        }
        match page.next_after {
            Some(next) => after = Some(crate::digest::parse("after", &next)?),
            None => break,
        }
    }
    if pods.is_empty() {
        return Err(PageError::not_found(format!(
            "nothing runs in namespace {namespace:?} of cluster {cluster:?}"
        )));
    }
    let mut pods: Vec<PodView> = pods.into_values().collect();
    for pod in &mut pods {
        pod.containers.sort_by(|a, b| a.container.cmp(&b.container));
    }
    let exposures_href = format!(
        "/exposures?{}",
        serde_urlencoded::to_string([("cluster", &cluster), ("namespace", &namespace)])
            .unwrap_or_default()
    );
    let page = NamespacePage {
        chrome: Chrome::default(),
        cluster_href: cluster_href(&cluster),
        cluster,
        namespace,
        exposures_href,
        pods,
        truncated,
    };
    Ok(html(StatusCode::OK, &page))
}
