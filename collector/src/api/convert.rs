//! Conversions between `nodebom.v1` messages and the collector's types, with the
//! validation of everything that arrives, and the gRPC status of each error.

use nodebom_proto::v1 as pb;
use tonic::{Code, Status};

use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::Error;
use crate::error::Result;
use crate::exposure::finding::Severity;
use crate::exposure::{Exposure, ExposureFilter};
use crate::inventory::{
    bounded_text, name, Agent, AgentMessage, Image, InventoryDelta, NodeKey, NodeSoftware,
    Workload, WorkloadKey, MAX_LAYERS_PER_IMAGE, MAX_NAMES_PER_IMAGE, MAX_NAME_LEN, MAX_TEXT_LEN,
};
use crate::sbom::purl::PurlKey;
use crate::sbom::upload::UploadHeader;
use crate::sbom::Component;
use crate::store::outbox::{split_project_key, Failure};
use crate::store::{
    CheckStatus, ComponentMatches, ComponentQuery, ComponentSearch, Event, EventKind, ImageFilter,
    ImagePage, ImageSummary, NodePresence, NodeSummary, SbomCheck, SbomRecord, WorkloadPlacement,
};

/// Default and largest page of `ListImages`, `FindComponents` and
/// `ListDtrackFailures`.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page.
pub const MAX_PAGE: usize = 1000;
/// Longest reason an agent may give for a failed build.
const MAX_REASON_LEN: usize = 4096;

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        let code = match &err {
            Error::InvalidArgument { .. } | Error::InvalidSbom(_) => Code::InvalidArgument,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::NotFound(_) => Code::NotFound,
            Error::OutOfRange(_) => Code::OutOfRange,
            Error::Superseded { .. } => Code::Aborted,
            Error::ShuttingDown | Error::StoreUnavailable { .. } => Code::Unavailable,
            // A lost connection or a transaction the database aborted: trying again helps.
            Error::Postgres { source, .. } if crate::store::postgres::is_transient(source) => {
                tracing::warn!(error = %chain(&err), "database unavailable");
                Code::Unavailable
            }
            Error::Rpc(status) => return status.clone(),
            Error::Database { .. }
            | Error::Postgres { .. }
            | Error::Corrupt(_)
            | Error::Internal(_)
            | Error::Io { .. }
            | Error::Config(_)
            | Error::Transport(_)
            | Error::Task(_) => {
                tracing::error!(error = %chain(&err), "internal error");
                Code::Internal
            }
        };
        Status::new(code, err.to_string())
    }
}

/// `err` with its sources, for logs.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn digest(field: &str, value: &str) -> Result<Digest> {
    crate::digest::parse(field, value)
}

fn optional_digest(field: &str, value: &str) -> Result<Option<Digest>> {
    if value.is_empty() {
        Ok(None)
    } else {
        digest(field, value).map(Some)
    }
}

/// Puts the path of a nested field into a validation error. Paths are built only when a
/// field is wrong: an inventory has thousands of fields.
fn at<T>(result: Result<T>, path: impl FnOnce() -> String) -> Result<T> {
    result.map_err(|err| match err {
        Error::InvalidArgument { reason, .. } => Error::InvalidArgument {
            field: path(),
            reason,
        },
        other => other,
    })
}

fn optional_text(value: String) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        Some(value)
    }
}

/// The node and agent of a `Hello`.
pub fn hello(hello: &pb::Hello) -> Result<(NodeKey, Agent)> {
    let node = NodeKey {
        cluster: name("hello.cluster", &hello.cluster)?,
        node: name("hello.node", &hello.node)?,
    };
    let agent = Agent {
        version: bounded_text("hello.agent_version", &hello.agent_version, MAX_NAME_LEN)?,
        node_pool: bounded_text("hello.node_pool", hello.node_pool.trim(), MAX_NAME_LEN)?,
    };
    Ok((node, agent))
}

/// The facts of a node's own software record; `field` is its path in the request.
fn node_software(field: &str, node: Option<pb::NodeSoftware>) -> Result<NodeSoftware> {
    let node = node.unwrap_or_default();
    let text = |name: &str, value: &str| {
        at(bounded_text("", value, MAX_NAME_LEN), || {
            format!("{field}.node.{name}")
        })
    };
    Ok(NodeSoftware {
        os: text("os", &node.os)?,
        os_name: text("os_name", &node.os_name)?,
        kernel: text("kernel", &node.kernel)?,
        arch: text("arch", &node.arch)?,
    })
}

/// An image of an inventory; `field` is its path in the request.
pub fn image(field: &str, image: pb::Image) -> Result<Image> {
    if image.names.len() > MAX_NAMES_PER_IMAGE {
        return Err(Error::invalid(
            format!("{field}.names"),
            format!("more than {MAX_NAMES_PER_IMAGE} names"),
        ));
    }
    if image.diff_ids.len() > MAX_LAYERS_PER_IMAGE {
        return Err(Error::invalid(
            format!("{field}.diff_ids"),
            format!("more than {MAX_LAYERS_PER_IMAGE} layers"),
        ));
    }
    let mut names = Vec::with_capacity(image.names.len());
    for (i, value) in image.names.into_iter().enumerate() {
        let checked = if value.is_empty() {
            Err(Error::invalid("", "must not be empty"))
        } else {
            bounded_text("", &value, MAX_TEXT_LEN).map(|_| value)
        };
        names.push(at(checked, || format!("{field}.names[{i}]"))?);
    }
    names.sort_unstable();
    names.dedup();
    let mut diff_ids = Vec::with_capacity(image.diff_ids.len());
    for (i, value) in image.diff_ids.iter().enumerate() {
        diff_ids.push(at(digest("", value), || format!("{field}.diff_ids[{i}]"))?);
    }
    let manifest_digest = at(digest("", &image.manifest_digest), || {
        format!("{field}.manifest_digest")
    })?;
    if image.kind == pb::ArtifactKind::Node as i32 {
        // The node's own software: no index, config nor layers; the config digest is
        // taken to be its digest so that it is stored like an image.
        return Ok(Image {
            index_digest: None,
            config_digest: manifest_digest.clone(),
            names,
            platform: at(bounded_text("", &image.platform, MAX_NAME_LEN), || {
                format!("{field}.platform")
            })?,
            diff_ids: Vec::new(),
            node: Some(node_software(field, image.node)?),
            manifest_digest,
        });
    }
    if image.kind != pb::ArtifactKind::Image as i32 {
        return Err(Error::invalid(
            format!("{field}.kind"),
            format!("unknown kind {}", image.kind),
        ));
    }
    Ok(Image {
        manifest_digest,
        index_digest: at(optional_digest("", &image.index_digest), || {
            format!("{field}.index_digest")
        })?,
        config_digest: at(digest("", &image.config_digest), || {
            format!("{field}.config_digest")
        })?,
        names,
        platform: at(bounded_text("", &image.platform, MAX_NAME_LEN), || {
            format!("{field}.platform")
        })?,
        diff_ids,
        node: None,
    })
}

/// A workload; `field` is its path in the request.
pub fn workload(field: &str, workload: pb::Workload) -> Result<Workload> {
    let path = |name: &'static str| move || format!("{field}.{name}");
    Ok(Workload {
        key: WorkloadKey {
            pod_uid: at(name("", &workload.pod_uid), path("pod_uid"))?,
            container: at(name("", &workload.container), path("container"))?,
        },
        namespace: at(name("", &workload.namespace), path("namespace"))?,
        pod: at(name("", &workload.pod), path("pod"))?,
        manifest_digest: at(
            digest("", &workload.manifest_digest),
            path("manifest_digest"),
        )?,
        image: at(
            bounded_text("", &workload.image, MAX_TEXT_LEN),
            path("image"),
        )?,
        container_id: at(
            bounded_text("", &workload.container_id, MAX_NAME_LEN),
            path("container_id"),
        )?,
    })
}

fn workload_key(field: &str, key: pb::WorkloadKey) -> Result<WorkloadKey> {
    Ok(WorkloadKey {
        pod_uid: at(name("", &key.pod_uid), || format!("{field}.pod_uid"))?,
        container: at(name("", &key.container), || format!("{field}.container"))?,
    })
}

fn list<T, U>(
    field: &str,
    items: Vec<T>,
    convert: impl Fn(&str, T) -> Result<U>,
) -> Result<Vec<U>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| convert(&format!("{field}[{i}]"), item))
        .collect()
}

/// What an agent says on `Sync` after its `Hello`.
pub fn agent_message(request: pb::SyncRequest) -> Result<AgentMessage> {
    use pb::sync_request::Message;
    match request.message {
        None => Err(Error::invalid(
            "message",
            "the SyncRequest carries no message",
        )),
        Some(Message::Hello(_)) => Ok(AgentMessage::Hello),
        Some(Message::Inventory(part)) => Ok(AgentMessage::InventoryPart {
            images: list("inventory.images", part.images, image)?,
            workloads: list("inventory.workloads", part.workloads, workload)?,
            last: part.last,
        }),
        Some(Message::Delta(delta)) => Ok(AgentMessage::Delta(InventoryDelta {
            images_added: list("delta.images_added", delta.images_added, image)?,
            images_removed: list(
                "delta.images_removed",
                delta.images_removed,
                |field, value: String| digest(field, &value),
            )?,
            workloads_started: list("delta.workloads_started", delta.workloads_started, workload)?,
            workloads_stopped: list(
                "delta.workloads_stopped",
                delta.workloads_stopped,
                workload_key,
            )?,
        })),
        Some(Message::BuildFailed(failed)) => {
            let reason = failed
                .reason
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>();
            Ok(AgentMessage::BuildFailed {
                digest: digest("build_failed.manifest_digest", &failed.manifest_digest)?,
                reason: bounded_text("build_failed.reason", &reason, MAX_REASON_LEN)?,
            })
        }
    }
}

/// The header of an SBOM upload.
pub fn upload_header(header: pb::SbomHeader) -> Result<UploadHeader> {
    Ok(UploadHeader {
        node: NodeKey {
            cluster: name("header.cluster", &header.cluster)?,
            node: name("header.node", &header.node)?,
        },
        manifest_digest: digest("header.manifest_digest", &header.manifest_digest)?,
        size: header.size,
        sha256: {
            let sha256 = digest("header.sha256", &header.sha256)?;
            if !sha256.as_str().starts_with("sha256:") {
                return Err(Error::invalid("header.sha256", "must be a sha256: digest"));
            }
            sha256
        },
        agent_version: bounded_text("header.agent_version", &header.agent_version, MAX_NAME_LEN)?,
    })
}

fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Filter, start and size of a `ListImages` page.
pub fn list_images(request: pb::ListImagesRequest) -> Result<(ImageFilter, Option<Digest>, usize)> {
    let after = optional_digest("page_token", &request.page_token)?;
    Ok((
        ImageFilter {
            digest: None,
            name: None,
            cluster: optional_text(request.cluster),
            namespace: optional_text(request.namespace),
            node: optional_text(request.node),
            pod: None,
            running_only: request.running_only,
        },
        after,
        page_size(request.page_size),
    ))
}

/// A `FindComponents` request.
pub fn component_search(request: pb::FindComponentsRequest) -> Result<ComponentSearch> {
    let query = match (request.purl.is_empty(), request.name.is_empty()) {
        (false, false) => return Err(Error::invalid("purl", "give a purl or a name, not both")),
        (true, true) => return Err(Error::invalid("purl", "give a purl or a name to look for")),
        (false, true) => {
            if !request.version.is_empty() {
                return Err(Error::invalid(
                    "version",
                    "with a purl, put the version in the purl",
                ));
            }
            let key = PurlKey::parse(&request.purl).ok_or_else(|| {
                Error::invalid(
                    "purl",
                    format!(
                        "{:?} is not a package URL",
                        crate::error::excerpt(&request.purl)
                    ),
                )
            })?;
            ComponentQuery::Purl {
                base: key.base,
                version: key.version,
            }
        }
        (true, false) => ComponentQuery::Name {
            name: bounded_text("name", &request.name, MAX_TEXT_LEN)?,
            version: optional_text(bounded_text("version", &request.version, MAX_TEXT_LEN)?),
            contains: request.name_contains,
        },
    };
    Ok(ComponentSearch {
        query,
        running_only: request.running_only,
        cluster: optional_text(request.cluster),
        limit: page_size(request.limit),
    })
}

/// An SBOM's description.
pub fn sbom_info(record: &SbomRecord) -> pb::SbomInfo {
    pb::SbomInfo {
        manifest_digest: record.manifest_digest.clone(),
        size: record.size,
        sha256: record.sha256.clone(),
        spec_version: record.spec_version.clone(),
        component_count: record.component_count,
        stored_at: Some(record.stored_at.to_proto()),
        cluster: record.cluster.clone(),
        node: record.node.clone(),
        agent_version: record.agent_version.clone(),
        content_hash: record.content_hash.clone(),
        incomplete: record.incomplete,
        incomplete_reasons: record.incomplete_reasons.clone(),
        checks: record.checks.iter().map(sbom_check).collect(),
    }
}

fn sbom_check(check: &SbomCheck) -> pb::SbomCheck {
    pb::SbomCheck {
        cluster: check.cluster.clone(),
        node: check.node.clone(),
        agent_version: check.agent_version.clone(),
        status: match check.status {
            CheckStatus::Verified => pb::SbomCheckStatus::Verified,
            CheckStatus::Conflict => pb::SbomCheckStatus::Conflict,
            CheckStatus::Unverified => pb::SbomCheckStatus::Unverified,
        }
        .into(),
        content_hash: check.content_hash.clone(),
        checked_at: Some(check.checked_at.to_proto()),
        note: check.note.clone(),
    }
}

fn timestamp(time: Option<Timestamp>) -> Option<prost_types::Timestamp> {
    time.map(Timestamp::to_proto)
}

fn node_presence(node: NodePresence) -> pb::NodePresence {
    pb::NodePresence {
        cluster: node.cluster,
        node: node.node,
        first_seen: Some(node.first_seen.to_proto()),
        last_seen: Some(node.last_seen.to_proto()),
    }
}

fn workload_message(placement: &WorkloadPlacement) -> pb::Workload {
    pb::Workload {
        namespace: placement.namespace.clone(),
        pod: placement.pod.clone(),
        pod_uid: placement.pod_uid.clone(),
        container: placement.container.clone(),
        manifest_digest: placement.manifest_digest.clone(),
        image: placement.image.clone(),
        container_id: placement.container_id.clone(),
    }
}

fn placement(placement: WorkloadPlacement) -> pb::WorkloadPlacement {
    pb::WorkloadPlacement {
        workload: Some(workload_message(&placement)),
        running: placement.running,
        first_seen: Some(placement.first_seen.to_proto()),
        last_seen: Some(placement.last_seen.to_proto()),
        cluster: placement.cluster,
        node: placement.node,
    }
}

/// How many failures `ListDtrackFailures` asks for.
pub fn dtrack_failures_limit(request: &pb::ListDtrackFailuresRequest) -> usize {
    page_size(request.limit)
}

/// A refused Dependency-Track action.
pub fn dtrack_failure(failure: Failure) -> pb::DtrackFailure {
    let (digest, own_copy_of) = split_project_key(&failure.digest);
    pb::DtrackFailure {
        time: Some(failure.at.to_proto()),
        manifest_digest: digest.to_owned(),
        cluster: own_copy_of.unwrap_or_default().to_owned(),
        project: failure.project,
        action: failure.action,
        http_status: failure.status.map_or(0, u32::from),
        message: failure.message,
    }
}

/// An image summary.
pub fn image_summary(image: ImageSummary) -> pb::ImageSummary {
    let kind = match image.node {
        Some(_) => pb::ArtifactKind::Node,
        None => pb::ArtifactKind::Image,
    };
    pb::ImageSummary {
        kind: kind as i32,
        node: image.node.map(node_software_message),
        manifest_digest: image.manifest_digest,
        index_digests: image.index_digests,
        // A node record stores its digest there (see `inventory::Image::node`).
        config_digest: if kind == pb::ArtifactKind::Node {
            String::new()
        } else {
            image.config_digest
        },
        platform: image.platform,
        names: image.names,
        sbom: image.sbom.as_ref().map(sbom_info),
        first_seen: timestamp(image.first_seen),
        last_seen: timestamp(image.last_seen),
        nodes: image.nodes.into_iter().map(node_presence).collect(),
        workloads: image.workloads.into_iter().map(placement).collect(),
    }
}

/// A `ListNodes` request, checked.
pub struct ListNodes {
    /// Only this cluster's nodes.
    pub cluster: Option<String>,
    node_pool: Option<String>,
    sbom_digest: Option<String>,
    /// `cluster/node` of the last node of the previous page.
    after: Option<(String, String)>,
    page_size: usize,
}

/// Nodes in a `ListNodes` page by default, and at most.
const NODES_PAGE: usize = 500;
const MAX_NODES_PAGE: usize = 5_000;

impl ListNodes {
    /// Checks the filters and the page token.
    pub fn new(request: pb::ListNodesRequest) -> Result<Self> {
        let optional = |field: &str, value: &str| -> Result<Option<String>> {
            match value {
                "" => Ok(None),
                value => name(field, value).map(Some),
            }
        };
        let after = match request.page_token.split_once('/') {
            Some((cluster, node)) => {
                Some((name("page_token", cluster)?, name("page_token", node)?))
            }
            None if request.page_token.is_empty() => None,
            None => {
                return Err(Error::invalid(
                    "page_token",
                    "not a token from a previous ListNodes page",
                ))
            }
        };
        let sbom_digest = match request.sbom_digest.as_str() {
            "" => None,
            value => Some(digest("sbom_digest", value)?.to_string()),
        };
        Ok(Self {
            cluster: optional("cluster", &request.cluster)?,
            node_pool: optional("node_pool", &request.node_pool)?,
            sbom_digest,
            after,
            page_size: match request.page_size {
                0 => NODES_PAGE,
                size => (size as usize).min(MAX_NODES_PAGE),
            },
        })
    }

    /// The page of `nodes` (sorted by cluster and name) this request asks for.
    pub fn page(&self, nodes: Vec<NodeSummary>) -> pb::ListNodesResponse {
        let mut selected = nodes.into_iter().filter(|node| {
            self.node_pool
                .as_ref()
                .is_none_or(|pool| *pool == node.node_pool)
                && self
                    .sbom_digest
                    .as_ref()
                    .is_none_or(|digest| node.software_digest.as_ref() == Some(digest))
                && self.after.as_ref().is_none_or(|(cluster, name)| {
                    (node.cluster.as_str(), node.node.as_str()) > (cluster.as_str(), name.as_str())
                })
        });
        let nodes: Vec<NodeSummary> = selected.by_ref().take(self.page_size).collect();
        let next_page_token = match (selected.next(), nodes.last()) {
            (Some(_), Some(last)) => format!("{}/{}", last.cluster, last.node),
            _ => String::new(),
        };
        pb::ListNodesResponse {
            nodes: nodes.into_iter().map(node_summary).collect(),
            next_page_token,
        }
    }
}

fn node_summary(node: NodeSummary) -> pb::NodeSummary {
    pb::NodeSummary {
        cluster: node.cluster,
        node: node.node,
        node_pool: node.node_pool,
        agent_version: node.agent_version,
        first_seen: timestamp(Some(node.first_seen)),
        last_seen: timestamp(Some(node.last_seen)),
        sbom_digest: node.software_digest.unwrap_or_default(),
        software: node.software.map(node_software_message),
        has_sbom: node.has_software_sbom,
    }
}

/// The facts of a node's own software.
pub fn node_software_message(node: NodeSoftware) -> pb::NodeSoftware {
    pb::NodeSoftware {
        os: node.os,
        os_name: node.os_name,
        kernel: node.kernel,
        arch: node.arch,
    }
}

/// A page of images.
pub fn image_page(page: ImagePage) -> pb::ListImagesResponse {
    pb::ListImagesResponse {
        images: page.images.into_iter().map(image_summary).collect(),
        next_page_token: page.next_after.unwrap_or_default(),
    }
}

fn component(component: Component) -> pb::Component {
    pb::Component {
        name: component.name,
        version: component.version,
        purl: component.purl,
        r#type: component.kind,
    }
}

/// Images containing the components looked for.
pub fn component_matches(found: ComponentMatches) -> pb::FindComponentsResponse {
    pb::FindComponentsResponse {
        matches: found
            .matches
            .into_iter()
            .map(|found| pb::ComponentMatch {
                image: Some(image_summary(found.image)),
                components: found.components.into_iter().map(component).collect(),
            })
            .collect(),
        truncated: found.truncated,
    }
}

/// An event.
pub fn event(event: Event) -> pb::Event {
    let kind = match event.kind {
        EventKind::SbomStored => pb::EventKind::SbomStored,
        EventKind::WorkloadStarted => pb::EventKind::WorkloadStarted,
        EventKind::WorkloadStopped => pb::EventKind::WorkloadStopped,
        EventKind::SbomConflict => pb::EventKind::SbomConflict,
        EventKind::ExposureAppeared => pb::EventKind::ExposureAppeared,
        EventKind::ExposureResolved => pb::EventKind::ExposureResolved,
    };
    pb::Event {
        sequence: event.sequence,
        time: Some(event.time.to_proto()),
        kind: kind.into(),
        manifest_digest: event.manifest_digest,
        cluster: event.cluster,
        node: event.node,
        workload: event.workload.as_ref().map(workload_message),
        component_count: event.component_count,
        vulnerability: event
            .exposure
            .as_ref()
            .map(|e| e.vulnerability.clone())
            .unwrap_or_default(),
        package: event
            .exposure
            .as_ref()
            .map(|e| e.package.clone())
            .unwrap_or_default(),
        image: event.exposure.map(|e| e.image).unwrap_or_default(),
    }
}

/// The filter, first index and size of a `ListExposures` page.
pub fn list_exposures(request: pb::ListExposuresRequest) -> Result<(ExposureFilter, usize, usize)> {
    let start = match request.page_token.as_str() {
        "" => 0,
        token => token
            .parse::<usize>()
            .map_err(|_| Error::invalid("page_token", "not a token ListExposures gave"))?,
    };
    if !(0.0..=1.0).contains(&request.min_epss) {
        return Err(Error::invalid(
            "min_epss",
            "an EPSS score is between 0 and 1",
        ));
    }
    let min_severity = match pb::Severity::try_from(request.min_severity) {
        Ok(pb::Severity::Unspecified) => None,
        Ok(severity) => Some(severity_from(severity)),
        Err(_) => return Err(Error::invalid("min_severity", "unknown severity")),
    };
    let filter = ExposureFilter {
        cluster: optional_text(request.cluster),
        namespace: optional_text(request.namespace),
        image: optional_text(request.image),
        kev_only: request.kev_only,
        min_epss: (request.min_epss > 0.0).then_some(request.min_epss),
        min_severity,
        running_only: request.running_only,
        ..ExposureFilter::default()
    };
    Ok((filter, start, page_size(request.page_size)))
}

/// The filter of a `FindVulnerability` request.
pub fn find_vulnerability(request: pb::FindVulnerabilityRequest) -> Result<ExposureFilter> {
    let id = request.id.trim();
    if id.is_empty() || id.len() > MAX_NAME_LEN || id.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            "id",
            "give one vulnerability id or alias, e.g. CVE-2024-3094",
        ));
    }
    Ok(ExposureFilter {
        cluster: optional_text(request.cluster),
        vulnerability: Some(id.to_owned()),
        ..ExposureFilter::default()
    })
}

fn severity_from(severity: pb::Severity) -> Severity {
    match severity {
        pb::Severity::Critical => Severity::Critical,
        pb::Severity::High => Severity::High,
        pb::Severity::Medium => Severity::Medium,
        pb::Severity::Low => Severity::Low,
        pb::Severity::Info => Severity::Info,
        pb::Severity::Unspecified => Severity::Unassigned,
    }
}

fn severity_message(severity: Severity) -> pb::Severity {
    match severity {
        Severity::Critical => pb::Severity::Critical,
        Severity::High => pb::Severity::High,
        Severity::Medium => pb::Severity::Medium,
        Severity::Low => pb::Severity::Low,
        Severity::Info => pb::Severity::Info,
        Severity::Unassigned => pb::Severity::Unspecified,
    }
}

/// Workloads and nodes listed in one exposure: an image on thousands of nodes has
/// hundreds of findings.
const MAX_PLACEMENTS_PER_EXPOSURE: usize = 50;

/// An exposure at position `rank` (from 1) of its answer.
pub fn exposure(exposure: &Exposure, rank: usize) -> pb::Exposure {
    let vulnerability = &exposure.finding.vulnerability;
    let placements = &exposure.placements;
    pb::Exposure {
        vulnerability: Some(pb::Vulnerability {
            id: vulnerability.id.clone(),
            source: vulnerability.source.clone(),
            aliases: vulnerability.aliases.clone(),
            severity: severity_message(vulnerability.severity).into(),
            cvss: vulnerability.cvss,
            epss: vulnerability.epss,
            epss_percentile: vulnerability.epss_percentile,
        }),
        package: Some(pb::Package {
            name: exposure.finding.package.name.clone(),
            version: exposure.finding.package.version.clone(),
            purl: exposure.finding.package.purl.clone(),
        }),
        fixed_versions: exposure.finding.fixed_versions.clone(),
        manifest_digest: placements.image.manifest_digest.clone(),
        image_names: placements.image.names.clone(),
        running: exposure.rank.running,
        workloads: placements
            .image
            .workloads
            .iter()
            .take(MAX_PLACEMENTS_PER_EXPOSURE)
            .cloned()
            .map(placement)
            .collect(),
        workload_count: u32::try_from(placements.image.workloads.len()).unwrap_or(u32::MAX),
        node_count: u32::try_from(placements.image.nodes.len()).unwrap_or(u32::MAX),
        nodes: placements
            .image
            .nodes
            .iter()
            .take(MAX_PLACEMENTS_PER_EXPOSURE)
            .cloned()
            .map(node_presence)
            .collect(),
        clusters: placements.clusters.clone(),
        pods: u32::try_from(exposure.rank.pods).unwrap_or(u32::MAX),
        first_seen: Some(exposure.first_seen.to_proto()),
        rank: rank as u64,
        reasons: exposure.reasons(),
        kev: exposure.kev.as_ref().map(|kev| pb::KevEntry {
            date_added: kev.date_added.clone(),
            due_date: kev.due_date.clone(),
            ransomware: kev.ransomware,
        }),
    }
}

/// The page of `exposures` from `start`.
pub fn exposure_page(
    exposures: &[Exposure],
    start: usize,
    size: usize,
) -> pb::ListExposuresResponse {
    let end = start.saturating_add(size).min(exposures.len());
    let page = exposures.get(start..end).unwrap_or_default();
    pb::ListExposuresResponse {
        exposures: page
            .iter()
            .enumerate()
            .map(|(i, e)| exposure(e, start + i + 1))
            .collect(),
        next_page_token: if end < exposures.len() {
            end.to_string()
        } else {
            String::new()
        },
        total: exposures.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f";

    #[test]
    fn agents_retry_what_may_pass_next_time_and_report_the_rest() {
        use nodebom_proto::retry::is_final;
        let final_answers = [
            Error::invalid("images[0].manifest_digest", "bad"),
            Error::InvalidSbom("not CycloneDX".into()),
            Error::Unauthenticated("no token".into()),
            Error::PermissionDenied("other cluster".into()),
            Error::ResourceExhausted("too large".into()),
            Error::FailedPrecondition("not wanted".into()),
        ];
        for error in final_answers {
            let text = error.to_string();
            assert!(is_final(Status::from(error).code()), "{text}");
        }
        let passing = [
            Error::ShuttingDown,
            Error::Superseded {
                node: "c/n".into(),
                session: 1,
            },
            Error::Internal("bug".into()),
        ];
        for error in passing {
            let text = error.to_string();
            assert!(!is_final(Status::from(error).code()), "{text}");
        }
    }

    #[test]
    fn bad_digest_deep_in_an_inventory_names_its_field() {
        let request = pb::SyncRequest {
            sequence: 2,
            message: Some(pb::sync_request::Message::Inventory(pb::InventoryPart {
                images: vec![
                    pb::Image {
                        manifest_digest: DIGEST.into(),
                        config_digest: DIGEST.into(),
                        ..Default::default()
                    },
                    pb::Image {
                        manifest_digest: DIGEST.into(),
                        config_digest: DIGEST.into(),
                        diff_ids: vec![DIGEST.into(), "sha256:nothex".into()],
                        ..Default::default()
                    },
                ],
                workloads: vec![],
                last: true,
            })),
        };
        let status = Status::from(agent_message(request).unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("inventory.images[1].diff_ids[1]: invalid digest \"sha256:nothex\""),
            "{}",
            status.message()
        );
    }

    #[test]
    fn image_names_are_sorted_and_deduplicated() {
        let converted = image(
            "i",
            pb::Image {
                manifest_digest: DIGEST.into(),
                config_digest: DIGEST.into(),
                names: vec![
                    "nginx:1.27".into(),
                    "docker.io/library/nginx:1.27".into(),
                    "nginx:1.27".into(),
                ],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            converted.names,
            ["docker.io/library/nginx:1.27", "nginx:1.27"]
        );
        assert_eq!(converted.index_digest, None);
    }

    #[test]
    fn search_needs_exactly_one_of_purl_and_name() {
        let both = pb::FindComponentsRequest {
            purl: "pkg:npm/left-pad@1.3.0".into(),
            name: "left-pad".into(),
            ..Default::default()
        };
        assert!(component_search(both).is_err());
        assert!(component_search(pb::FindComponentsRequest::default()).is_err());
        let by_purl = component_search(pb::FindComponentsRequest {
            purl: "pkg:npm/left-pad@1.3.0".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            by_purl.query,
            ComponentQuery::Purl {
                base: "pkg:npm/left-pad".into(),
                version: Some("1.3.0".into())
            }
        );
        assert_eq!(by_purl.limit, DEFAULT_PAGE);
    }

    #[test]
    fn internal_errors_become_internal_status() {
        let status = Status::from(Error::Corrupt("event 3 has unknown kind 9".into()));
        assert_eq!(status.code(), Code::Internal);
        let status = Status::from(Error::Superseded {
            node: "prod/worker-1".into(),
            session: 3,
        });
        assert_eq!(status.code(), Code::Aborted);
    }

    #[test]
    fn a_failure_of_a_clusters_own_copy_names_the_image_and_the_cluster() {
        let failure = |key: String, status| Failure {
            at: Timestamp::from_unix_millis(1_700_000_000_250),
            digest: key,
            project: "docker.io/library/nginx@1.27.0".into(),
            action: "upload".into(),
            status,
            message: "Dependency-Track answered 403: forbidden".into(),
        };
        let own = dtrack_failure(failure(format!("{DIGEST}#prod-b"), Some(403)));
        assert_eq!(
            (
                own.manifest_digest.as_str(),
                own.cluster.as_str(),
                own.http_status
            ),
            (DIGEST, "prod-b", 403)
        );
        let time = own.time.unwrap();
        assert_eq!((time.seconds, time.nanos), (1_700_000_000, 250_000_000));
        let fleet = dtrack_failure(failure(DIGEST.to_owned(), None));
        assert_eq!(
            (
                fleet.manifest_digest.as_str(),
                fleet.cluster.as_str(),
                fleet.http_status
            ),
            (DIGEST, "", 0)
        );
        assert_eq!(
            dtrack_failures_limit(&pb::ListDtrackFailuresRequest { limit: 5000 }),
            MAX_PAGE
        );
    }
}
