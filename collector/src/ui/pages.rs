//! The pages: each handler reads what it shows through the same store and exposure
//! calls as the Query API, and turns it into a view the template prints as text.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{html, PageError};
use super::UiState;
use crate::clock::Timestamp;
use crate::exposure::finding::Severity;
use crate::exposure::{Exposure, ExposureFilter};
use crate::sbom::cyclonedx::Bom;
use crate::store::{ComponentQuery, ComponentSearch, ImageFilter, ImageSummary};

/// Rows per page.
const PAGE_SIZE: usize = 50;
/// Packages listed on an image's page; the rest are in its SBOM download.
const MAX_PACKAGES_SHOWN: usize = 2_000;
/// Longest search accepted.
const MAX_QUERY_CHARS: usize = 512;
/// The agent's property naming the layer that brought a component.
const LAYER_PROPERTY: &str = "nodebom:layer_diff_id";

type Page = Result<Response, PageError>;

/// What every page shows around its content.
#[derive(Debug, Default)]
pub struct Chrome {
    /// The search box's text.
    pub query: String,
}

impl Chrome {
    fn with_query(query: &str) -> Self {
        Self {
            query: query.to_owned(),
        }
    }
}

/// The request's query string read into `T`; unknown or malformed parameters are a 400
/// page that names them.
fn params<T: DeserializeOwned>(query: Option<String>) -> Result<T, PageError> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|err| PageError::bad_request(format!("bad parameters: {err}")))
}

/// `value` unless empty.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `checkbox=1` (or `true`, `on`).
fn flag(name: &str, value: Option<&str>) -> Result<bool, PageError> {
    match value.map(str::trim) {
        None | Some("") | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") | Some("on") => Ok(true),
        Some(other) => Err(PageError::bad_request(format!(
            "{name}: {other:?} is not 1 or 0"
        ))),
    }
}

fn when(time: Timestamp) -> String {
    humantime::format_rfc3339_seconds(time.to_system_time()).to_string()
}

/// `sha256:0123456789ab`.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// A link-safe path for an image's page (the digest is checked before it gets here).
fn image_href(digest: &str) -> String {
    format!("/images/{digest}")
}

// ---- fleet ----

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

/// A cluster's page.
fn cluster_href(cluster: &str) -> String {
    format!("/clusters/{}", segment(cluster))
}

/// What stays as it is in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded as one path segment.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

// ---- a cluster, a namespace ----

struct NodeStatusRow {
    node: String,
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
        cluster: Some(cluster.clone()),
        namespace: Some(namespace.clone()),
        node: None,
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

// ---- images ----

/// An image as a row of a list.
struct ImageRow {
    href: String,
    name: String,
    more_names: usize,
    digest: String,
    platform: String,
    sbom: String,
    nodes: usize,
    running: usize,
    clusters: String,
}

impl ImageRow {
    fn of(image: &ImageSummary) -> Self {
        let clusters: BTreeSet<&str> = image.nodes.iter().map(|n| n.cluster.as_str()).collect();
        Self {
            href: image_href(&image.manifest_digest),
            name: image.names.first().cloned().unwrap_or_default(),
            more_names: image.names.len().saturating_sub(1),
            digest: short(&image.manifest_digest).to_owned(),
            platform: image.platform.clone(),
            sbom: image.sbom.as_ref().map_or_else(
                || "none yet".to_owned(),
                |sbom| format!("{} components", sbom.component_count),
            ),
            nodes: image.nodes.len(),
            running: image.workloads.iter().filter(|w| w.running).count(),
            clusters: clusters.into_iter().collect::<Vec<_>>().join(", "),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesParams {
    cluster: Option<String>,
    namespace: Option<String>,
    node: Option<String>,
    running: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/images.html")]
struct ImagesPage {
    chrome: Chrome,
    scope: String,
    rows: Vec<ImageRow>,
    next: Option<String>,
}

/// `GET /images`: images on nodes, filtered, a page at a time.
pub async fn images(State(state): State<Arc<UiState>>, RawQuery(query): RawQuery) -> Page {
    let params: ImagesParams = params(query)?;
    let filter = ImageFilter {
        digest: None,
        cluster: given(params.cluster),
        namespace: given(params.namespace),
        node: given(params.node),
        running_only: flag("running", params.running.as_deref())?,
    };
    let after = given(params.after)
        .map(|after| crate::digest::parse("after", &after))
        .transpose()
        .map_err(PageError::from)?;
    let page = state
        .api
        .store
        .list_images(filter.clone(), after, PAGE_SIZE)
        .await?;
    let next = page.next_after.map(|after| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (key, value) in [
            ("cluster", &filter.cluster),
            ("namespace", &filter.namespace),
            ("node", &filter.node),
        ] {
            if let Some(value) = value {
                pairs.push((key, value.clone()));
            }
        }
        if filter.running_only {
            pairs.push(("running", "1".into()));
        }
        pairs.push(("after", after));
        format!(
            "/images?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let mut scope: Vec<String> = Vec::new();
    for (label, value) in [
        ("cluster", &filter.cluster),
        ("namespace", &filter.namespace),
        ("node", &filter.node),
    ] {
        if let Some(value) = value {
            scope.push(format!("{label} {value}"));
        }
    }
    if filter.running_only {
        scope.push("running".into());
    }
    let page = ImagesPage {
        chrome: Chrome::default(),
        scope: scope.join(", "),
        rows: page.images.iter().map(ImageRow::of).collect(),
        next,
    };
    Ok(html(StatusCode::OK, &page))
}

// ---- one image ----

struct WorkloadRow {
    cluster: String,
    cluster_href: String,
    namespace: String,
    namespace_href: String,
    pod: String,
    container: String,
    node: String,
    state: &'static str,
    since: String,
}

struct NodeRow {
    cluster: String,
    node: String,
    first_seen: String,
    last_seen: String,
}

struct LayerView {
    diff_id: String,
    packages: Vec<PackageRow>,
}

struct PackageRow {
    name: String,
    version: String,
    purl: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "ui/image.html")]
struct ImagePage {
    chrome: Chrome,
    digest: String,
    names: Vec<String>,
    index_digests: Vec<String>,
    config_digest: String,
    platform: String,
    sbom: Option<SbomView>,
    workloads: Vec<WorkloadRow>,
    nodes: Vec<NodeRow>,
    exposures: Vec<ExposureRow>,
    layers: Vec<LayerView>,
    packages_left_out: usize,
}

struct SbomView {
    href: String,
    spec_version: String,
    components: u64,
    stored_at: String,
    built_by: String,
    incomplete: Vec<String>,
}

/// `GET /images/{digest}`: one image, where it runs, its exposures and its packages by
/// layer.
pub async fn image(State(state): State<Arc<UiState>>, Path(digest): Path<String>) -> Page {
    let digest = crate::digest::parse("digest", &digest)?;
    let filter = ImageFilter {
        digest: Some(digest.to_string()),
        ..ImageFilter::default()
    };
    let found = state.api.store.list_images(filter, None, 1).await?;
    let image = found
        .images
        .into_iter()
        .next()
        .ok_or_else(|| PageError::not_found(format!("no node has reported {digest}")))?;
    let kev = state.api.kev.get();
    let exposures = crate::exposure::query::list(
        state.api.store.as_ref(),
        kev.as_deref(),
        &ExposureFilter {
            image: Some(digest.to_string()),
            ..ExposureFilter::default()
        },
    )
    .await?;
    let (layers, packages_left_out) = match &image.sbom {
        Some(_) => packages_by_layer(&state, &digest).await?,
        None => (Vec::new(), 0),
    };
    let page = ImagePage {
        chrome: Chrome::default(),
        digest: digest.to_string(),
        names: image.names.clone(),
        index_digests: image.index_digests.clone(),
        config_digest: image.config_digest.clone(),
        platform: image.platform.clone(),
        sbom: image.sbom.as_ref().map(|sbom| SbomView {
            href: format!("/images/{digest}/sbom.json"),
            spec_version: sbom.spec_version.clone(),
            components: sbom.component_count,
            stored_at: when(sbom.stored_at),
            built_by: format!("{}/{}", sbom.cluster, sbom.node),
            incomplete: sbom.incomplete_reasons.clone(),
        }),
        workloads: image
            .workloads
            .iter()
            .map(|w| WorkloadRow {
                cluster: w.cluster.clone(),
                cluster_href: cluster_href(&w.cluster),
                namespace: w.namespace.clone(),
                namespace_href: format!(
                    "{}/namespaces/{}",
                    cluster_href(&w.cluster),
                    segment(&w.namespace)
                ),
                pod: w.pod.clone(),
                container: w.container.clone(),
                node: w.node.clone(),
                state: if w.running { "running" } else { "stopped" },
                since: when(w.first_seen),
            })
            .collect(),
        nodes: image
            .nodes
            .iter()
            .map(|n| NodeRow {
                cluster: n.cluster.clone(),
                node: n.node.clone(),
                first_seen: when(n.first_seen),
                last_seen: when(n.last_seen),
            })
            .collect(),
        exposures: exposures
            .iter()
            .take(PAGE_SIZE)
            .enumerate()
            .map(|(i, e)| ExposureRow::of(e, i + 1))
            .collect(),
        layers,
        packages_left_out,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The packages of the stored SBOM grouped by the layer that brought them (in the
/// order the layers first appear), at most [`MAX_PACKAGES_SHOWN`]; and how many were
/// left out.
async fn packages_by_layer(
    state: &UiState,
    digest: &crate::digest::Digest,
) -> Result<(Vec<LayerView>, usize), PageError> {
    let Some(stored) = state.api.store.get_sbom(digest, None).await? else {
        return Ok((Vec::new(), 0));
    };
    tokio::task::spawn_blocking(move || {
        let mut document = Vec::new();
        crate::sbom::decompress_chunks(&stored.document_zstd, 1 << 20, |chunk| {
            document.extend_from_slice(&chunk);
            true
        })?;
        let bom: Bom = serde_json::from_slice(&document)
            .map_err(|err| crate::error::Error::Corrupt(format!("stored SBOM: {err}")))?;
        let mut order: Vec<String> = Vec::new();
        let mut layers: BTreeMap<String, Vec<PackageRow>> = BTreeMap::new();
        let mut left_out = 0;
        for (shown, component) in bom.components.iter().enumerate() {
            if shown >= MAX_PACKAGES_SHOWN {
                left_out += 1;
                continue;
            }
            let layer = component
                .properties
                .iter()
                .find(|p| p.name == LAYER_PROPERTY)
                .and_then(|p| p.value.clone())
                .unwrap_or_default();
            if !layers.contains_key(&layer) {
                order.push(layer.clone());
            }
            layers.entry(layer).or_default().push(PackageRow {
                name: component.name.clone(),
                version: component.version.clone().unwrap_or_default(),
                purl: component.purl.clone().unwrap_or_default(),
                kind: component.kind.clone(),
            });
        }
        let views = order
            .into_iter()
            .map(|diff_id| LayerView {
                packages: layers.remove(&diff_id).unwrap_or_default(),
                diff_id,
            })
            .collect();
        Ok::<_, crate::error::Error>((views, left_out))
    })
    .await
    .map_err(|err| {
        PageError::from(crate::error::Error::Corrupt(format!(
            "reading the SBOM: {err}"
        )))
    })?
    .map_err(PageError::from)
}

/// `GET /images/{digest}/sbom.json`: the stored CycloneDX document.
pub async fn sbom(State(state): State<Arc<UiState>>, Path(digest): Path<String>) -> Page {
    let digest = crate::digest::parse("digest", &digest)?;
    let stored = state
        .api
        .store
        .get_sbom(&digest, None)
        .await?
        .ok_or_else(|| PageError::not_found(format!("no SBOM is stored for {digest}")))?;
    let document = tokio::task::spawn_blocking(move || {
        let mut document = Vec::new();
        crate::sbom::decompress_chunks(&stored.document_zstd, 1 << 20, |chunk| {
            document.extend_from_slice(&chunk);
            true
        })
        .map(|()| document)
    })
    .await
    .map_err(|err| {
        PageError::from(crate::error::Error::Corrupt(format!(
            "reading the SBOM: {err}"
        )))
    })??;
    let file = format!(
        "attachment; filename=\"{}.cdx.json\"",
        digest.as_str().replace(':', "-")
    );
    let mut response = (StatusCode::OK, document).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.cyclonedx+json"),
    );
    if let Ok(value) = HeaderValue::from_str(&file) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

// ---- exposures ----

/// An exposure as a row.
struct ExposureRow {
    position: usize,
    vulnerability: String,
    aliases: String,
    severity: &'static str,
    epss: String,
    kev_due: String,
    package: String,
    fixed: String,
    image_href: String,
    image: String,
    clusters: String,
    pods: usize,
    running: bool,
    reasons: String,
}

impl ExposureRow {
    fn of(exposure: &Exposure, position: usize) -> Self {
        let finding = &exposure.finding;
        let image = &exposure.placements.image;
        Self {
            position,
            vulnerability: finding.vulnerability.id.clone(),
            aliases: finding.vulnerability.aliases.join(", "),
            severity: finding.vulnerability.severity.name(),
            epss: finding
                .vulnerability
                .epss
                .map(|epss| format!("{epss:.3}"))
                .unwrap_or_default(),
            kev_due: exposure
                .kev
                .as_ref()
                .map(|kev| kev.due_date.clone())
                .unwrap_or_default(),
            package: format!("{} {}", finding.package.name, finding.package.version),
            fixed: finding.fixed_versions.clone(),
            image_href: image_href(&image.manifest_digest),
            image: image
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| short(&image.manifest_digest).to_owned()),
            clusters: exposure.placements.clusters.join(", "),
            pods: exposure.placements.pods,
            running: exposure.rank.running,
            reasons: exposure.reasons().join("; "),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExposuresParams {
    cluster: Option<String>,
    namespace: Option<String>,
    image: Option<String>,
    vulnerability: Option<String>,
    kev: Option<String>,
    running: Option<String>,
    min_epss: Option<String>,
    min_severity: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/exposures.html")]
struct ExposuresPage {
    chrome: Chrome,
    cluster: String,
    namespace: String,
    image: String,
    vulnerability: String,
    kev: bool,
    running: bool,
    min_epss: String,
    min_severity: String,
    severities: Vec<&'static str>,
    rows: Vec<ExposureRow>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

/// `GET /exposures`: exposures by priority, filtered, a page at a time.
pub async fn exposures(State(state): State<Arc<UiState>>, RawQuery(query): RawQuery) -> Page {
    let raw = query.clone();
    let params: ExposuresParams = params(query)?;
    let min_epss = given(params.min_epss.clone())
        .map(|text| {
            text.parse::<f64>()
                .ok()
                .filter(|epss| (0.0..=1.0).contains(epss))
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                        "min_epss: {text:?} is not a number from 0 to 1"
                    ))
                })
        })
        .transpose()?;
    let min_severity = given(params.min_severity.clone())
        .map(|text| {
            Severity::ALL
                .into_iter()
                .find(|s| s.name().eq_ignore_ascii_case(&text))
                .ok_or_else(|| {
                    PageError::bad_request(format!("min_severity: {text:?} is not a severity"))
                })
        })
        .transpose()?;
    let page: usize = match given(params.page.clone()) {
        None => 1,
        Some(text) => text.parse().ok().filter(|page| *page >= 1).ok_or_else(|| {
            PageError::bad_request(format!("page: {text:?} is not a page number"))
        })?,
    };
    let filter = ExposureFilter {
        cluster: given(params.cluster.clone()),
        namespace: given(params.namespace.clone()),
        image: given(params.image.clone()),
        vulnerability: given(params.vulnerability.clone()),
        kev_only: flag("kev", params.kev.as_deref())?,
        running_only: flag("running", params.running.as_deref())?,
        min_epss,
        min_severity,
        kev_or_min_epss: None,
    };
    let kev = state.api.kev.get();
    let all = state
        .api
        .exposures
        .list(state.api.store.as_ref(), kev.as_deref(), &filter, page == 1)
        .await?;
    let pages = all.len().div_ceil(PAGE_SIZE).max(1);
    if page > pages {
        return Err(PageError::bad_request(format!(
            "page: {page} is past the last page, {pages}"
        )));
    }
    let link = |to: usize| {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
        pairs.retain(|(key, _)| key != "page");
        pairs.push(("page".into(), to.to_string()));
        format!(
            "/exposures?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let start = (page - 1) * PAGE_SIZE;
    let view = ExposuresPage {
        chrome: Chrome::default(),
        cluster: filter.cluster.clone().unwrap_or_default(),
        namespace: filter.namespace.clone().unwrap_or_default(),
        image: filter.image.clone().unwrap_or_default(),
        vulnerability: filter.vulnerability.clone().unwrap_or_default(),
        kev: filter.kev_only,
        running: filter.running_only,
        min_epss: given(params.min_epss).unwrap_or_default(),
        min_severity: min_severity
            .map(Severity::name)
            .unwrap_or_default()
            .to_owned(),
        severities: Severity::ALL.map(Severity::name).to_vec(),
        rows: all
            .iter()
            .enumerate()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(i, e)| ExposureRow::of(e, i + 1))
            .collect(),
        total: all.len(),
        page,
        pages,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(html(StatusCode::OK, &view))
}

// ---- search ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
}

/// What a search box text asks for.
#[derive(Debug, PartialEq)]
enum Search {
    /// An image by manifest digest.
    Digest(String),
    /// A vulnerability by id or alias.
    Vulnerability(String),
    /// Images in a namespace, or on a cluster.
    Namespace(String),
    Cluster(String),
    /// Packages by purl or name, with a version condition.
    Package {
        query: ComponentQuery,
        version: Option<VersionCondition>,
    },
}

/// `< 3.0.13`, `>= 2`, `= 1.2.3`.
#[derive(Debug, PartialEq)]
struct VersionCondition {
    operator: &'static str,
    version: String,
}

impl VersionCondition {
    fn holds(&self, version: &str) -> bool {
        use version_compare::Cmp;
        let Some(order) = version_compare::compare(version, &self.version).ok() else {
            return false;
        };
        match self.operator {
            "<" => order == Cmp::Lt,
            "<=" => matches!(order, Cmp::Lt | Cmp::Eq),
            ">" => order == Cmp::Gt,
            ">=" => matches!(order, Cmp::Gt | Cmp::Eq),
            _ => order == Cmp::Eq,
        }
    }
}

/// Vulnerability id prefixes of the databases DT reads.
const VULNERABILITY_PREFIXES: &[&str] = &[
    "CVE-", "GHSA-", "OSV-", "PYSEC-", "GO-", "RUSTSEC-", "DSA-", "DLA-", "USN-", "ALAS", "RHSA-",
    "SNYK-",
];

fn parse_search(text: &str) -> Result<Search, String> {
    let text = text.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("longer than {MAX_QUERY_CHARS} characters"));
    }
    if let Some(rest) = text.strip_prefix("sha256:") {
        if rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Search::Digest(text.to_lowercase()));
        }
        return Err(format!("{text:?} is not a sha256 digest"));
    }
    let upper = text.to_uppercase();
    if VULNERABILITY_PREFIXES.iter().any(|p| upper.starts_with(p)) && !text.contains(' ') {
        return Ok(Search::Vulnerability(upper));
    }
    for (prefix, make) in [
        ("namespace:", Search::Namespace as fn(String) -> Search),
        ("ns:", Search::Namespace),
        ("cluster:", Search::Cluster),
    ] {
        if let Some(name) = text.strip_prefix(prefix) {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("{prefix} needs a name"));
            }
            return Ok(make(name.to_owned()));
        }
    }
    // An operator needs a name before it; text that starts with one is all name.
    let (subject, version) = match text.find(['<', '>', '=']).filter(|at| *at > 0) {
        Some(at) => {
            let (subject, condition) = text.split_at(at);
            let operator = ["<=", ">=", "<", ">", "="]
                .into_iter()
                .find(|op| condition.starts_with(op))
                .unwrap_or("=");
            let version = condition[operator.len()..].trim();
            if version.is_empty() {
                return Err(format!("{operator} needs a version"));
            }
            (
                subject.trim(),
                Some(VersionCondition {
                    operator,
                    version: version.to_owned(),
                }),
            )
        }
        None => (text, None),
    };
    if subject.is_empty() {
        return Err("give a package name, a purl, an image digest or a vulnerability id".into());
    }
    let query = if subject.starts_with("pkg:") {
        let key = crate::sbom::purl::PurlKey::parse(subject)
            .ok_or_else(|| format!("{subject:?} is not a package URL"))?;
        ComponentQuery::Purl {
            base: key.base,
            version: key.version,
        }
    } else {
        let (name, exact) = match subject.split_once('@') {
            Some((name, version)) => (name, Some(version.to_owned())),
            None => (subject, None),
        };
        ComponentQuery::Name {
            name: name.to_owned(),
            version: exact,
            contains: false,
        }
    };
    Ok(Search::Package { query, version })
}

/// An image whose packages matched, as a search result.
struct MatchRow {
    image: ImageRow,
    packages: Vec<PackageRow>,
    workloads: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/search.html")]
struct SearchPage {
    chrome: Chrome,
    searched: bool,
    matches: Vec<MatchRow>,
    truncated: bool,
}

/// `GET /search?q=`: a package (name or purl, with a version condition), an image
/// digest, a vulnerability id, `namespace:NAME` or `cluster:NAME`.
pub async fn search(State(state): State<Arc<UiState>>, RawQuery(query): RawQuery) -> Page {
    let params: SearchParams = params(query)?;
    let Some(text) = given(params.q) else {
        let page = SearchPage {
            chrome: Chrome::default(),
            searched: false,
            matches: Vec::new(),
            truncated: false,
        };
        return Ok(html(StatusCode::OK, &page));
    };
    let search = parse_search(&text).map_err(|why| PageError::bad_request(format!("q: {why}")))?;
    let encoded =
        |key: &str, value: &str| serde_urlencoded::to_string([(key, value)]).unwrap_or_default();
    let (query, version) = match search {
        Search::Digest(digest) => return Ok(Redirect::to(&image_href(&digest)).into_response()),
        Search::Vulnerability(id) => {
            return Ok(
                Redirect::to(&format!("/exposures?{}", encoded("vulnerability", &id)))
                    .into_response(),
            )
        }
        Search::Namespace(name) => {
            return Ok(
                Redirect::to(&format!("/images?{}", encoded("namespace", &name))).into_response(),
            )
        }
        Search::Cluster(name) => {
            return Ok(
                Redirect::to(&format!("/images?{}", encoded("cluster", &name))).into_response(),
            )
        }
        Search::Package { query, version } => (query, version),
    };
    let found = state
        .api
        .store
        .find_components(ComponentSearch {
            query,
            running_only: false,
            cluster: None,
            limit: PAGE_SIZE,
        })
        .await?;
    let matches = found
        .matches
        .iter()
        .filter_map(|found| {
            let packages: Vec<PackageRow> = found
                .components
                .iter()
                .filter(|c| version.as_ref().is_none_or(|v| v.holds(&c.version)))
                .map(|c| PackageRow {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    purl: c.purl.clone(),
                    kind: c.kind.clone(),
                })
                .collect();
            (!packages.is_empty()).then(|| MatchRow {
                image: ImageRow::of(&found.image),
                packages,
                workloads: found
                    .image
                    .workloads
                    .iter()
                    .filter(|w| w.running)
                    .map(|w| format!("{}/{}/{} ({})", w.cluster, w.namespace, w.pod, w.container))
                    .collect(),
            })
        })
        .collect();
    let page = SearchPage {
        chrome: Chrome::with_query(&text),
        searched: true,
        matches,
        truncated: found.truncated,
    };
    Ok(html(StatusCode::OK, &page))
}

// ---- the rest ----

/// The one style sheet: light and dark, no outside fonts.
const STYLE: &str = include_str!("../../templates/ui/style.css");

/// `GET /static/style.css`.
pub async fn style() -> Response {
    let mut response = (StatusCode::OK, STYLE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The icon browsers ask for.
const ICON: &str = include_str!("../../templates/ui/icon.svg");

/// `GET /static/icon.svg` and `GET /favicon.ico`.
pub async fn icon() -> Response {
    let mut response = (StatusCode::OK, ICON).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError::not_found("there is no such page")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(text: &str) -> (ComponentQuery, Option<VersionCondition>) {
        match parse_search(text).unwrap() {
            Search::Package { query, version } => (query, version),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn search_text_is_read_as_what_it_names() {
        let digest = format!("sha256:{}", "A".repeat(64));
        assert_eq!(
            parse_search(&digest),
            Ok(Search::Digest(digest.to_lowercase()))
        );
        assert_eq!(
            parse_search("cve-2024-3094"),
            Ok(Search::Vulnerability("CVE-2024-3094".into()))
        );
        assert_eq!(
            parse_search("ns: shop"),
            Ok(Search::Namespace("shop".into()))
        );
        assert_eq!(
            parse_search("cluster:prod-a"),
            Ok(Search::Cluster("prod-a".into()))
        );
        let (query, version) = package("openssl < 3.0.13");
        assert_eq!(
            query,
            ComponentQuery::Name {
                name: "openssl".into(),
                version: None,
                contains: false
            }
        );
        let version = version.unwrap();
        assert!(version.holds("3.0.11-1~deb12u2"));
        assert!(!version.holds("3.0.13"));
        assert!(!version.holds("3.1.0"));
        let (query, version) = package("pkg:deb/debian/openssl>=3.0.13");
        assert!(
            matches!(query, ComponentQuery::Purl { ref base, .. } if base == "pkg:deb/debian/openssl")
        );
        assert!(version.unwrap().holds("3.1.4"));
        let (query, _) = package("click@8.1.7");
        assert!(matches!(query, ComponentQuery::Name { version: Some(ref v), .. } if v == "8.1.7"));
        let (query, version) = package("<script>");
        assert!(matches!(query, ComponentQuery::Name { ref name, .. } if name == "<script>"));
        assert!(version.is_none());
        for bad in ["sha256:12", "openssl <", "namespace:", &"x".repeat(600)] {
            assert!(parse_search(bad).is_err(), "{bad}");
        }
    }
}
