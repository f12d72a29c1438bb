//! The pages: each handler reads what it shows through the same store and exposure
//! calls as the Query API, and turns it into a view the template prints as text.
//! One file per part of the UI; the views and links they share are here.

mod exposures;
mod fleet;
mod images;
mod search;

pub use exposures::exposures;
pub use fleet::{cluster, fleet, namespace};
pub use images::{image, images, sbom};
pub use search::search;

use std::collections::BTreeSet;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::render::{html, Chrome, PageError};
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

/// A package as a row.
struct PackageRow {
    name: String,
    version: String,
    purl: String,
    kind: String,
}

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

/// The one style sheet: light and dark, no outside fonts.
const STYLE: &str = include_str!("../../../templates/ui/style.css");
/// The icon browsers ask for.
const ICON: &str = include_str!("../../../templates/ui/icon.svg");

/// `GET /static/style.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// `GET /static/icon.svg` and `GET /favicon.ico`.
pub async fn icon() -> Response {
    asset(ICON, "image/svg+xml")
}

/// A file compiled into the binary, which browsers may keep for an hour.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError::not_found("there is no such page")
}
