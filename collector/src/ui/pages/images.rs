//! Images: the list, one image with its packages by layer, and its SBOM to download.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::*;
use crate::inventory::NodeSoftware;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesParams {
    name: Option<String>,
    cluster: Option<String>,
    namespace: Option<String>,
    node: Option<String>,
    pod: Option<String>,
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
        name: given(params.name),
        cluster: given(params.cluster),
        namespace: given(params.namespace),
        node: given(params.node),
        pod: given(params.pod),
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
            ("name", &filter.name),
            ("cluster", &filter.cluster),
            ("namespace", &filter.namespace),
            ("node", &filter.node),
            ("pod", &filter.pod),
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
        ("name containing", &filter.name),
        ("cluster", &filter.cluster),
        ("namespace", &filter.namespace),
        ("node", &filter.node),
        ("pod", &filter.pod),
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

#[derive(Template)]
#[template(path = "ui/image.html")]
struct ImagePage {
    chrome: Chrome,
    /// "Image", or "Node software" for a node's own software.
    kind: &'static str,
    /// A node's own software: what it is.
    software: Option<NodeSoftware>,
    digest: String,
    names: Vec<String>,
    index_digests: Vec<String>,
    config_digest: String,
    platform: String,
    sbom: Option<SbomView>,
    project: Option<ProjectView>,
    workloads: Vec<WorkloadRow>,
    nodes: Vec<NodeRow>,
    exposures: Vec<ExposureRow>,
    layers: Vec<LayerView>,
    packages_left_out: usize,
}

/// The image's Dependency-Track project.
struct ProjectView {
    name: String,
    href: Option<String>,
    note: &'static str,
}

/// How long the image page waits for Dependency-Track to name the project's UUID.
const DTRACK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// The project nodebom forwards the image to, with a link when Dependency-Track knows
/// it (asked with a short deadline: the page does not wait on an outage).
async fn project_of(state: &UiState, digest: &str) -> Result<Option<ProjectView>, PageError> {
    let Some(dtrack) = &state.dtrack else {
        return Ok(None);
    };
    let projects = state.api.store.dtrack_projects().await?;
    let Some(project) = projects.into_iter().find(|p| p.digest == digest) else {
        return Ok(None);
    };
    let name = format!("{}@{}", project.name, project.version);
    let found = tokio::time::timeout(
        DTRACK_PATIENCE,
        dtrack
            .client
            .lookup_project(&project.name, &project.version),
    )
    .await;
    let (href, note) = match found {
        Ok(Ok(Some(found))) => {
            let mut url = dtrack.frontend.clone();
            url.path_segments_mut()
                .map(|mut path| {
                    path.pop_if_empty().extend(["projects", &found.uuid]);
                })
                .ok();
            (Some(url.to_string()), "")
        }
        Ok(Ok(None)) => (None, "not in Dependency-Track yet"),
        Ok(Err(_)) | Err(_) => (None, "Dependency-Track did not answer"),
    };
    Ok(Some(ProjectView { name, href, note }))
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
    let project = project_of(&state, digest.as_str()).await?;
    let (layers, packages_left_out) = match &image.sbom {
        Some(_) => packages_by_layer(&state, &digest).await?,
        None => (Vec::new(), 0),
    };
    let page = ImagePage {
        chrome: Chrome::default(),
        kind: if image.node.is_some() {
            "Node software"
        } else {
            "Image"
        },
        software: image.node.clone(),
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
        project,
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
        let document = crate::sbom::decompress(&stored.document_zstd, stored.record.size)?;
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
        crate::sbom::decompress(&stored.document_zstd, stored.record.size)
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
