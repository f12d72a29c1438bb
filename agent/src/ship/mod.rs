//! The agent's side of `nodebom.v1.Ingest`: report the node's inventory to the collector,
//! build the SBOMs it asks for, upload them.
//!
//! One task keeps the `Sync` session (hello, full inventory, deltas, reconnect with
//! backoff and jitter); builders take the digests the collector wants from a bounded
//! queue, a few at a time, and upload each SBOM until the collector acknowledges it.
//! An SBOM built while the collector is away waits (bounded by the number of builders)
//! and is sent when it is back.

mod convert;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodebom_proto::chunks;
use nodebom_proto::digest::Digest;
use nodebom_proto::retry::{self, Backoff, Retries};
use nodebom_proto::v1::{
    self, ingest_client::IngestClient, sync_request, sync_response, upload_sbom_request,
};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::host::{HostFeed, HostReport};
use crate::inventory::{Inventory, InventoryUpdate};
use crate::observe::{Metrics, Readiness};
use crate::sbom::{self, SpecVersion};
use crate::scan::Scanner;
use crate::{Error, Result};

/// Records per `InventoryPart` (~64 KiB): the collector keeps a receive buffer as large
/// as the largest message of each open session, so small parts keep it lean.
const RECORDS_PER_PART: usize = 50;
/// Bytes of SBOM per `SbomChunk` unless the collector allows less.
const CHUNK_BYTES: usize = 1 << 20;
/// Digests waiting for a builder; the collector asks again for what did not fit.
const WANTED_QUEUE: usize = 256;
/// Longest wait for the collector's `Welcome` once the `Sync` stream is open.
const WELCOME_DEADLINE: Duration = Duration::from_secs(30);
/// Longest wait for room on the `Sync` stream: a collector that reads nothing for this
/// long is treated as gone, and the session starts again.
const SEND_DEADLINE: Duration = Duration::from_secs(60);
/// An upload may take this long, plus [`UPLOAD_DEADLINE_PER_MIB`] for each MiB it sends.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(30);
const UPLOAD_DEADLINE_PER_MIB: Duration = Duration::from_secs(2);
/// Without an answer to its HTTP/2 ping for this long, a connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How the agent reaches the collector and who it says it is.
#[derive(Clone)]
pub struct ShipConfig {
    /// `https://host:7443`, or `http://…` with `--insecure`.
    pub collector: String,
    pub cluster: String,
    pub node: String,
    /// Bearer token of the cluster.
    pub token: Option<String>,
    /// PEM of the CA that signed the collector's certificate (system roots otherwise).
    pub ca_pem: Option<Vec<u8>>,
    /// SBOMs built at once.
    pub builders: usize,
    pub spec: SpecVersion,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The node's pool, as its node label names it ('' when unknown).
    pub node_pool: String,
    /// The node's own software, reported beside its images when the host is read.
    pub host: Option<HostFeed>,
}

/// Never shows the token: a configuration printed in a log must not hand it out.
impl std::fmt::Debug for ShipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipConfig")
            .field("collector", &self.collector)
            .field("cluster", &self.cluster)
            .field("node", &self.node)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| pem.len()))
            .field("builders", &self.builders)
            .field("spec", &self.spec)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("node_pool", &self.node_pool)
            .field("host", &self.host.is_some())
            .finish()
    }
}

type Ingest = IngestClient<InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// State shared by the session and the builders.
/// Where SBOMs go in the current session, within the limits its `Welcome` set.
#[derive(Clone)]
struct Uploads {
    client: Ingest,
    /// Bytes per `SbomChunk`.
    chunk_bytes: usize,
    /// The collector's largest SBOM; 0 when it states none.
    max_sbom_bytes: u64,
}

struct Shared {
    config: ShipConfig,
    scanner: Arc<Scanner>,
    metrics: Metrics,
    readiness: Readiness,
    /// The node's inventory as last reported; builders look images up in it.
    inventory: watch::Sender<Arc<Inventory>>,
    /// The collector connection, while there is one.
    client: watch::Sender<Option<Uploads>>,
    /// Digests queued or being built, so that a repeated request does not build twice.
    in_flight: Mutex<HashSet<String>>,
}

/// Runs until `cancel` fires or the inventory updates end.
pub async fn run(
    config: ShipConfig,
    scanner: Arc<Scanner>,
    mut updates: mpsc::Receiver<InventoryUpdate>,
    metrics: Metrics,
    readiness: Readiness,
    cancel: CancellationToken,
) -> Result<()> {
    let endpoint = endpoint(&config)?;
    let token = bearer(&config)?;
    // Nothing to report before containerd was listed once.
    let first = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        update = updates.recv() => update,
    };
    let Some(InventoryUpdate::Full(first)) = first else {
        return Ok(());
    };
    metrics.set_images_known(first.images.len());
    readiness.set_inventory_listed();
    // Ends the session and the builders when the inventory updates end, as on shutdown.
    let cancel = cancel.child_token();
    let shared = Arc::new(Shared {
        config,
        scanner,
        metrics,
        readiness,
        inventory: watch::Sender::new(Arc::new(first)),
        client: watch::Sender::new(None),
        in_flight: Mutex::new(HashSet::new()),
    });
    let follower = tokio::spawn(follow_inventory(shared.clone(), updates, cancel.clone()));
    let (wanted_tx, wanted_rx) = mpsc::channel::<String>(WANTED_QUEUE);
    let (failed_tx, mut failed_rx) = mpsc::channel::<(String, String)>(WANTED_QUEUE);
    let builders = tokio::spawn(build_loop(
        shared.clone(),
        wanted_rx,
        failed_tx,
        cancel.clone(),
    ));

    let mut backoff = Backoff::new(shared.config.min_backoff, shared.config.max_backoff).retries();
    let result = loop {
        let outcome = session(
            &shared,
            &endpoint,
            &token,
            &wanted_tx,
            &mut failed_rx,
            &cancel,
            &mut backoff,
        )
        .instrument(info_span!("collector", url = %shared.config.collector))
        .await;
        shared.client.send_replace(None);
        shared.readiness.set_collector_connected(false);
        match outcome {
            Ok(SessionEnd::Shutdown) => break Ok(()),
            Ok(SessionEnd::Lost(reason)) | Err(reason) => {
                shared.metrics.send_failure();
                let delay = backoff.next_delay();
                warn!(%reason, retry_in_ms = delay.as_millis() as u64, "collector session ended");
                tokio::select! {
                    () = cancel.cancelled() => break Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    cancel.cancel();
    let _ = builders.await;
    let _ = follower.await;
    result
}

/// Keeps `shared.inventory` current whether a session runs or not, so that the
/// containerd watch never waits on the collector: changes made while disconnected fold
/// into the inventory that the next session reports whole, and a connected session sends
/// what changed since its last report. Cancels `cancel` when the updates end.
async fn follow_inventory(
    shared: Arc<Shared>,
    mut updates: mpsc::Receiver<InventoryUpdate>,
    cancel: CancellationToken,
) {
    loop {
        let update = tokio::select! {
            () = cancel.cancelled() => return,
            update = updates.recv() => update,
        };
        let next = match update {
            None => {
                cancel.cancel();
                return;
            }
            Some(InventoryUpdate::Full(inventory)) => inventory,
            Some(InventoryUpdate::Delta(changes)) => {
                let mut next = Inventory::clone(&shared.inventory.borrow());
                next.apply(&changes);
                next
            }
        };
        shared.metrics.set_images_known(next.images.len());
        shared.inventory.send_replace(Arc::new(next));
    }
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

#[allow(clippy::too_many_arguments)]
async fn session(
    shared: &Arc<Shared>,
    endpoint: &Endpoint,
    token: &BearerToken,
    wanted: &mpsc::Sender<String>,
    failed: &mut mpsc::Receiver<(String, String)>,
    cancel: &CancellationToken,
    backoff: &mut Retries,
) -> std::result::Result<SessionEnd, String> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect: {}", crate::containerd::error_chain(&e)))?;
    let mut client = IngestClient::with_interceptor(channel, token.clone());
    let (outbound, outbound_rx) = mpsc::channel::<v1::SyncRequest>(64);
    let mut sequence = 0u64;
    let mut send = |message: sync_request::Message| {
        sequence += 1;
        v1::SyncRequest {
            sequence,
            message: Some(message),
        }
    };
    let hello = send(sync_request::Message::Hello(v1::Hello {
        cluster: shared.config.cluster.clone(),
        node: shared.config.node.clone(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        node_pool: shared.config.node_pool.clone(),
    }));
    send_within(&outbound, hello).await?;
    let opening = async {
        let mut inbound = client
            .sync(ReceiverStream::new(outbound_rx))
            .await
            .map_err(|s| status_text("opening Sync", &s))?
            .into_inner();
        match inbound
            .message()
            .await
            .map_err(|s| status_text("Sync", &s))?
        {
            Some(v1::SyncResponse {
                message: Some(sync_response::Message::Welcome(welcome)),
            }) => Ok((inbound, welcome)),
            other => Err(format!("expected Welcome, got {other:?}")),
        }
    };
    let (mut inbound, welcome) = tokio::time::timeout(WELCOME_DEADLINE, opening)
        .await
        .map_err(|_| {
            format!(
                "no Welcome from the collector within {} s",
                WELCOME_DEADLINE.as_secs()
            )
        })??;
    let chunk = usize::try_from(welcome.max_message_bytes)
        .ok()
        .filter(|&max| max > 4096)
        .map_or(CHUNK_BYTES, |max| CHUNK_BYTES.min(max / 2));
    info!(session = welcome.session, collector = %welcome.collector_version, "connected to the collector");

    let caps = Caps::of(&welcome);
    let mut inventory = shared.inventory.subscribe();
    let mut reported = caps.apply(&inventory.borrow_and_update());
    let mut host = shared.config.host.clone();
    let mut host_reported: Option<Arc<HostReport>> = host
        .as_mut()
        .and_then(|host| host.borrow_and_update().clone());
    for part in convert::inventory_parts(&reported, host_reported.as_deref(), RECORDS_PER_PART) {
        send_within(&outbound, send(sync_request::Message::Inventory(part))).await?;
    }
    shared.client.send_replace(Some(Uploads {
        client,
        chunk_bytes: chunk,
        max_sbom_bytes: welcome.max_sbom_bytes,
    }));
    shared.readiness.set_collector_connected(true);
    backoff.reset();

    loop {
        let message = tokio::select! {
            () = cancel.cancelled() => return Ok(SessionEnd::Shutdown),
            response = inbound.message() => match response {
                Ok(Some(response)) => {
                    on_response(shared, wanted, response);
                    continue;
                }
                Ok(None) => return Ok(SessionEnd::Lost("the collector closed the session".into())),
                Err(status) => return Ok(SessionEnd::Lost(status_text("Sync", &status))),
            },
            changed = inventory.changed() => {
                if changed.is_err() {
                    return Ok(SessionEnd::Shutdown);
                }
                // Everything that changed since the last report, however many updates
                // that took.
                let next = caps.apply(&inventory.borrow_and_update());
                let changes = crate::inventory::diff(&reported, &next);
                reported = next;
                if changes.is_empty() {
                    continue;
                }
                if changes.len() > RECORDS_PER_PART {
                    for part in convert::inventory_parts(&reported, host_reported.as_deref(), RECORDS_PER_PART) {
                        send_within(&outbound, send(sync_request::Message::Inventory(part))).await?;
                    }
                    continue;
                }
                sync_request::Message::Delta(convert::delta(&changes, &reported))
            },
            changed = async { host.as_mut()?.changed().await.ok() }, if host.is_some() => {
                let Some(()) = changed else {
                    // The host is not read any more (shutting down): nothing new to say.
                    host = None;
                    continue;
                };
                let next = host.as_mut().and_then(|host| host.borrow_and_update().clone());
                let delta = convert::host_delta(host_reported.as_deref(), next.as_deref());
                host_reported = next;
                match delta {
                    Some(delta) => sync_request::Message::Delta(delta),
                    None => continue,
                }
            },
            failure = failed.recv() => match failure {
                Some((manifest_digest, reason)) => {
                    sync_request::Message::BuildFailed(v1::SbomBuildFailed { manifest_digest, reason })
                }
                None => return Ok(SessionEnd::Shutdown),
            },
        };
        send_within(&outbound, send(message)).await?;
    }
}

/// The most images and workloads the collector takes from one node, as its `Welcome`
/// states (0: no limit). A larger inventory would be refused whole, session after
/// session; within the caps the node is reported as far as it fits.
struct Caps {
    images: usize,
    workloads: usize,
}

impl Caps {
    fn of(welcome: &v1::Welcome) -> Self {
        let cap = |max: u32| match usize::try_from(max) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(max) => max,
        };
        Caps {
            images: cap(welcome.max_images_per_node),
            workloads: cap(welcome.max_workloads_per_node),
        }
    }

    /// `inventory` within the caps: the first workloads (by container id), then the
    /// images they run, then the other images by digest. Logs what was left out.
    fn apply(&self, inventory: &Arc<Inventory>) -> Arc<Inventory> {
        if inventory.images.len() <= self.images && inventory.workloads.len() <= self.workloads {
            return inventory.clone();
        }
        let workloads: Vec<_> = inventory
            .workloads
            .iter()
            .take(self.workloads)
            .cloned()
            .collect();
        let running: HashSet<&str> = workloads
            .iter()
            .filter_map(|w| w.image_digest.as_deref())
            .collect();
        let (mut images, others): (Vec<_>, Vec<_>) = inventory
            .images
            .iter()
            .partition(|image| running.contains(image.manifest_digest.as_str()));
        images.extend(others);
        images.truncate(self.images);
        let mut images: Vec<_> = images.into_iter().cloned().collect();
        images.sort_by(|a, b| a.manifest_digest.cmp(&b.manifest_digest));
        warn!(
            images = inventory.images.len(),
            reported_images = images.len(),
            workloads = inventory.workloads.len(),
            reported_workloads = workloads.len(),
            "the node has more than the collector takes from one node (its --max-images-per-node and --max-workloads-per-node); the rest is not reported"
        );
        Arc::new(Inventory { images, workloads })
    }
}

/// Queues `message` on the `Sync` stream, giving up after [`SEND_DEADLINE`].
async fn send_within(
    outbound: &mpsc::Sender<v1::SyncRequest>,
    message: v1::SyncRequest,
) -> std::result::Result<(), String> {
    match tokio::time::timeout(SEND_DEADLINE, outbound.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("session closed".into()),
        Err(_) => Err(format!(
            "the collector read nothing from the session for {} s",
            SEND_DEADLINE.as_secs()
        )),
    }
}

fn on_response(shared: &Shared, wanted: &mpsc::Sender<String>, response: v1::SyncResponse) {
    let digests = match response.message {
        Some(sync_response::Message::InventoryAck(ack)) => ack.sbom_wanted,
        Some(sync_response::Message::SbomRequest(request)) => request.manifest_digests,
        Some(sync_response::Message::Welcome(_)) | None => return,
    };
    let mut in_flight = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    for digest in digests {
        if in_flight.contains(&digest) {
            continue;
        }
        match wanted.try_send(digest.clone()) {
            Ok(()) => {
                in_flight.insert(digest);
            }
            Err(_) => debug!(%digest, "build queue full; the collector will ask again"),
        }
    }
    shared.metrics.set_queue_depth(in_flight.len());
}

/// Builds and uploads wanted SBOMs, `builders` at a time.
async fn build_loop(
    shared: Arc<Shared>,
    mut wanted: mpsc::Receiver<String>,
    failed: mpsc::Sender<(String, String)>,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(shared.config.builders.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let digest = tokio::select! {
            () = cancel.cancelled() => break,
            digest = wanted.recv() => match digest { Some(d) => d, None => break },
        };
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
        };
        let shared = shared.clone();
        let failed = failed.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let span = info_span!("sbom", digest = %digest);
            build_and_upload(&shared, &digest, &failed, &cancel)
                .instrument(span)
                .await;
            let mut in_flight = shared.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.remove(&digest);
            shared.metrics.set_queue_depth(in_flight.len());
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

async fn build_and_upload(
    shared: &Shared,
    digest: &str,
    failed: &mpsc::Sender<(String, String)>,
    cancel: &CancellationToken,
) {
    let bom = match build(shared, digest).await {
        Ok(bom) => bom,
        Err(e) => {
            warn!(error = %e, "cannot build the SBOM the collector asked for");
            report_failure(failed, digest, e.to_string(), cancel).await;
            return;
        }
    };
    shared.metrics.sbom_built();
    let mut backoff = Backoff::new(shared.config.min_backoff, shared.config.max_backoff).retries();
    let mut connection = shared.client.subscribe();
    loop {
        let current = connection.borrow_and_update().clone();
        let Some(Uploads {
            mut client,
            chunk_bytes,
            max_sbom_bytes,
        }) = current
        else {
            // Built while the collector is away: wait for the next session.
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = connection.changed() => if changed.is_err() { return },
            }
            continue;
        };
        if max_sbom_bytes > 0 && bom.len() as u64 > max_sbom_bytes {
            let reason = format!(
                "the SBOM has {} bytes, more than the collector takes ({max_sbom_bytes})",
                bom.len()
            );
            warn!(%reason, "SBOM not sent");
            report_failure(failed, digest, reason, cancel).await;
            return;
        }
        match upload(&mut client, shared, digest, &bom, chunk_bytes).await {
            Ok(response) => {
                info!(
                    bytes = bom.len(),
                    components = response.component_count,
                    already_stored = response.already_stored,
                    "SBOM stored by the collector"
                );
                return;
            }
            Err(status) if retry::is_final(status.code()) => {
                // Told, the collector stops asking for it; else another node would build
                // it again once the claim expires, and so on across the fleet.
                let reason = status_text("UploadSbom", &status);
                warn!(error = %reason, "collector refused the SBOM");
                shared.metrics.send_failure();
                report_failure(failed, digest, reason, cancel).await;
                return;
            }
            Err(status) => {
                shared.metrics.send_failure();
                let delay = backoff.next_delay();
                warn!(error = %status_text("UploadSbom", &status), retry_in_ms = delay.as_millis() as u64, "upload failed");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Queues `SbomBuildFailed` for the session, which sends it now or once reconnected.
async fn report_failure(
    failed: &mpsc::Sender<(String, String)>,
    digest: &str,
    reason: String,
    cancel: &CancellationToken,
) {
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = failed.send((digest.to_string(), reason)) => {}
    }
}

/// Scans the image with this manifest digest, found through the last inventory; the
/// node's own software comes built.
async fn build(shared: &Shared, digest: &str) -> Result<Vec<u8>> {
    let host = shared
        .config
        .host
        .as_ref()
        .and_then(|host| host.borrow().clone());
    if let Some(host) = host.filter(|host| host.digest == digest) {
        return Ok(host.sbom.clone());
    }
    let inventory = shared.inventory.borrow().clone();
    let record = inventory
        .images
        .iter()
        .find(|image| image.manifest_digest == digest)
        .ok_or_else(|| Error::ImageNotFound {
            image: digest.to_string(),
            namespace: shared.scanner.store().namespace().to_string(),
        })?;
    // By digest, not by a name: a tag may have moved to another image since the inventory.
    // An index digest resolves to this node's platform, as the inventory's did.
    let reference = record.index_digest.as_deref().unwrap_or(digest);
    let started = std::time::Instant::now();
    let outcome = shared.scanner.scan(reference).await?;
    if outcome.image.manifest_digest != digest {
        return Err(Error::Image {
            image: reference.to_string(),
            message: format!(
                "now resolves to {} instead of {digest} (moved while building)",
                outcome.image.manifest_digest
            ),
        });
    }
    shared
        .metrics
        .scan_finished(&outcome.origins, started.elapsed());
    if !outcome.contents.incomplete.is_empty() {
        shared.metrics.sbom_incomplete();
    }
    sbom::build(&outcome.image, &outcome.contents, shared.config.spec)
}

async fn upload(
    client: &mut Ingest,
    shared: &Shared,
    digest: &str,
    bom: &[u8],
    chunk: usize,
) -> std::result::Result<v1::UploadSbomResponse, Status> {
    let header = v1::SbomHeader {
        manifest_digest: digest.to_string(),
        cluster: shared.config.cluster.clone(),
        node: shared.config.node.clone(),
        size: bom.len() as u64,
        sha256: Digest::sha256_of(bom).into(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut messages = vec![v1::UploadSbomRequest {
        part: Some(upload_sbom_request::Part::Header(header)),
    }];
    messages.extend(
        chunks::split(bom, chunk).map(|chunk| v1::UploadSbomRequest {
            part: Some(upload_sbom_request::Part::Chunk(chunk)),
        }),
    );
    let mut request = Request::new(tokio_stream::iter(messages));
    request.set_timeout(upload_deadline(bom.len()));
    let response = client.upload_sbom(request).await?.into_inner();
    Ok(response)
}

/// How long an upload of `bytes` may take, as the gRPC deadline the collector also sees.
fn upload_deadline(bytes: usize) -> Duration {
    let mib = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX);
    UPLOAD_DEADLINE.saturating_add(UPLOAD_DEADLINE_PER_MIB.saturating_mul(mib))
}

fn endpoint(config: &ShipConfig) -> Result<Endpoint> {
    let invalid = |message: String| Error::Collector {
        url: config.collector.clone(),
        message,
    };
    let mut endpoint = Endpoint::from_shared(config.collector.clone())
        .map_err(|e| invalid(format!("invalid collector address: {e}")))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    if config.collector.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(pem) = &config.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| invalid(format!("TLS configuration: {e}")))?;
    }
    Ok(endpoint)
}

fn bearer(config: &ShipConfig) -> Result<BearerToken> {
    let value = match &config.token {
        None => None,
        Some(token) => {
            Some(
                format!("Bearer {}", token.trim())
                    .parse()
                    .map_err(|_| Error::Collector {
                        url: config.collector.clone(),
                        message: "the token is not printable ASCII".into(),
                    })?,
            )
        }
    };
    Ok(BearerToken(value))
}

fn status_text(what: &str, status: &Status) -> String {
    format!("{what}: {:?}: {}", status.code(), status.message())
}

#[cfg(test)]
mod fake_collector;

#[cfg(test)]
mod tests {
    use super::fake_collector::FakeCollector;
    use super::*;
    use crate::analysis::MemoryLayerCache;
    use crate::image::{self, Platform};
    use crate::image_store::memory::{MemoryImageStore, MANIFEST};
    use crate::inventory::{ImageRecord, InventoryChange};
    use crate::layers::testutil::LayerTar;
    use crate::layers::Limits;
    use tonic::Code;

    const STATUS: &str = "Package: tzdata\nStatus: install ok installed\n\
        Architecture: all\nVersion: 2025b-0+deb12u1\n\n";

    /// A scanner over one image in memory, and the inventory that reports it.
    async fn one_image() -> (Scanner, Inventory) {
        let mut store = MemoryImageStore::default();
        let layer = LayerTar::new()
            .file("var/lib/dpkg/status", STATUS.as_bytes(), 0o644)
            .finish();
        let manifest = store.put_image(&[layer], "linux/amd64");
        store.tag("docker.io/library/app:1", MANIFEST, &manifest);
        let platform = Platform::parse("linux/amd64").unwrap();
        let resolved = image::resolve(&store, "app:1", &platform).await.unwrap();
        let record = ImageRecord {
            manifest_digest: resolved.manifest_digest,
            index_digest: None,
            config_digest: resolved.config_digest,
            names: resolved.names,
            platform: resolved.platform,
            diff_ids: resolved.diff_ids,
        };
        let scanner = Scanner::new(
            store,
            Arc::new(MemoryLayerCache::new(8 << 20)),
            Limits::default(),
            platform,
        );
        let inventory = Inventory {
            images: vec![record],
            workloads: Vec::new(),
        };
        (scanner, inventory)
    }

    fn config(collector: String) -> ShipConfig {
        ShipConfig {
            collector,
            cluster: "prod".into(),
            node: "node-1".into(),
            token: Some("token".into()),
            ca_pem: None,
            builders: 1,
            spec: SpecVersion::V1_5,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            node_pool: String::new(),
            host: None,
        }
    }

    /// A shipper running in the test; the inventory channel stays open, as the watch's.
    struct Shipper {
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<Result<()>>,
        _updates: mpsc::Sender<InventoryUpdate>,
    }

    /// Runs the shipper with `inventory`, reporting to `url`, until it is stopped.
    async fn start_shipper(url: String, scanner: Scanner, inventory: Inventory) -> Shipper {
        let (updates, receiver) = mpsc::channel(4);
        updates
            .send(InventoryUpdate::Full(inventory))
            .await
            .unwrap();
        let cancel = CancellationToken::new();
        let shipper = tokio::spawn(run(
            config(url),
            Arc::new(scanner),
            receiver,
            Metrics::new(),
            Readiness::new(),
            cancel.clone(),
        ));
        Shipper {
            cancel,
            task: shipper,
            _updates: updates,
        }
    }

    /// Waits until `done` holds for what the collector got.
    async fn wait_for(collector: &FakeCollector, done: impl Fn(&fake_collector::Received) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done(&collector.received()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                collector.received()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(shipper: Shipper) {
        shipper.cancel.cancel();
        shipper.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_wanted_sbom_goes_up_in_chunks_within_the_collectors_limit() {
        let (scanner, inventory) = one_image().await;
        let digest = inventory.images[0].manifest_digest.clone();
        // Chunks of at most half the message limit (limits of 4 KiB and less are taken
        // for a misconfiguration): this SBOM takes several.
        let (collector, url) = FakeCollector::start(4098, 1 << 30, Vec::new()).await;
        let shipper = start_shipper(url, scanner, inventory).await;
        wait_for(&collector, |r| !r.uploads.is_empty()).await;
        stop(shipper).await;

        let received = collector.received();
        let hello = received.hello.as_ref().unwrap();
        assert_eq!(
            (hello.cluster.as_str(), hello.node.as_str()),
            ("prod", "node-1")
        );
        let (header, document, chunk_sizes) = &received.uploads[0];
        assert_eq!(header.manifest_digest, digest);
        assert!(chunk_sizes.len() > 1, "{chunk_sizes:?}");
        assert!(
            chunk_sizes.iter().all(|size| *size <= 2500),
            "{chunk_sizes:?}"
        );
        let bom: serde_json::Value = serde_json::from_slice(document).unwrap();
        let names: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert!(names.contains(&"tzdata"), "{names:?}");
    }

    #[tokio::test]
    async fn an_unavailable_collector_is_retried_a_final_refusal_is_reported() {
        let (scanner, inventory) = one_image().await;
        let (collector, url) =
            FakeCollector::start(1 << 20, 1 << 30, vec![Code::Unavailable]).await;
        let shipper = start_shipper(url, scanner, inventory).await;
        wait_for(&collector, |r| !r.uploads.is_empty()).await;
        stop(shipper).await;
        assert_eq!(collector.received().upload_attempts, 2);

        let (scanner, inventory) = one_image().await;
        let (collector, url) =
            FakeCollector::start(1 << 20, 1 << 30, vec![Code::FailedPrecondition]).await;
        let digest = inventory.images[0].manifest_digest.clone();
        let shipper = start_shipper(url, scanner, inventory).await;
        // So that the collector stops asking for it (and no other node builds it again).
        wait_for(&collector, |r| !r.build_failures.is_empty()).await;
        // Retries come within milliseconds (1 ms backoff): none may follow a final answer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop(shipper).await;
        let received = collector.received();
        assert_eq!(received.upload_attempts, 1);
        assert!(received.uploads.is_empty());
        assert_eq!(received.build_failures.len(), 1);
        assert_eq!(received.build_failures[0].manifest_digest, digest);
        assert!(
            received.build_failures[0]
                .reason
                .contains("FailedPrecondition"),
            "{:?}",
            received.build_failures
        );
    }

    #[tokio::test]
    async fn the_image_is_built_by_digest_when_its_tag_moved_since_the_inventory() {
        let layer = |text: &str| LayerTar::new().file("app", text.as_bytes(), 0o644).finish();
        let mut store = MemoryImageStore::default();
        let listed = store.put_image(&[layer("listed")], "linux/amd64");
        let newer = store.put_image(&[layer("newer")], "linux/amd64");
        let pinned = format!("docker.io/library/app@{listed}");
        store.tag(&pinned, MANIFEST, &listed);
        let platform = Platform::parse("linux/amd64").unwrap();
        let resolved = image::resolve(&store, &pinned, &platform).await.unwrap();
        // The tag moved to another image after the inventory was taken.
        store.tag("docker.io/library/app:1", MANIFEST, &newer);
        let inventory = Inventory {
            images: vec![ImageRecord {
                manifest_digest: listed.clone(),
                index_digest: None,
                config_digest: resolved.config_digest,
                names: vec!["docker.io/library/app:1".into(), pinned],
                platform: resolved.platform,
                diff_ids: resolved.diff_ids,
            }],
            workloads: Vec::new(),
        };
        let scanner = Scanner::new(
            store,
            Arc::new(MemoryLayerCache::new(8 << 20)),
            Limits::default(),
            platform,
        );
        let (collector, url) = FakeCollector::start(1 << 20, 1 << 30, Vec::new()).await;
        let shipper = start_shipper(url, scanner, inventory).await;
        wait_for(&collector, |r| {
            !r.uploads.is_empty() || !r.build_failures.is_empty()
        })
        .await;
        stop(shipper).await;
        let received = collector.received();
        assert!(
            received.build_failures.is_empty(),
            "{:?}",
            received.build_failures
        );
        assert_eq!(received.uploads[0].0.manifest_digest, listed);
    }

    #[tokio::test]
    async fn an_sbom_over_the_collectors_limit_is_reported_not_sent() {
        let (scanner, inventory) = one_image().await;
        let (collector, url) = FakeCollector::start(1 << 20, 100, Vec::new()).await;
        let shipper = start_shipper(url, scanner, inventory).await;
        wait_for(&collector, |r| !r.build_failures.is_empty()).await;
        stop(shipper).await;
        let received = collector.received();
        assert_eq!(received.upload_attempts, 0);
        assert!(
            received.build_failures[0]
                .reason
                .contains("more than the collector takes (100)"),
            "{:?}",
            received.build_failures
        );
    }

    #[tokio::test]
    async fn changes_while_the_collector_is_away_never_block_the_watch_and_arrive_folded() {
        let (scanner, inventory) = one_image().await;
        // A loopback port that nothing listens on until the collector starts there.
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (updates, receiver) = mpsc::channel(1);
        updates
            .send(InventoryUpdate::Full(inventory.clone()))
            .await
            .unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            config(format!("http://{address}")),
            Arc::new(scanner),
            receiver,
            Metrics::new(),
            Readiness::new(),
            cancel.clone(),
        ));
        let record = |n: usize| ImageRecord {
            manifest_digest: format!("sha256:{n:064x}"),
            ..inventory.images[0].clone()
        };
        // Many more updates than the channel holds, each taken at once.
        for n in 1..=300 {
            let mut changes = vec![InventoryChange::ImageAdded(record(n))];
            if n % 3 == 0 {
                changes.push(InventoryChange::ImageRemoved {
                    manifest_digest: record(n - 1).manifest_digest,
                });
            }
            tokio::time::timeout(
                Duration::from_secs(5),
                updates.send(InventoryUpdate::Delta(changes)),
            )
            .await
            .expect("the inventory watch waited on a collector that is away")
            .unwrap();
        }
        let mut expected: Vec<String> = (1..=300)
            .filter(|n| n % 3 != 2)
            .map(|n| record(n).manifest_digest)
            .chain([inventory.images[0].manifest_digest.clone()])
            .collect();
        expected.sort();
        let (collector, _) = FakeCollector::start_on(address, 1 << 20, 1 << 30, Vec::new()).await;
        wait_for(&collector, |r| {
            let mut reported = r.inventory.clone();
            reported.sort();
            reported == expected
        })
        .await;
        // Changes while connected go as deltas.
        updates
            .send(InventoryUpdate::Delta(vec![
                InventoryChange::ImageRemoved {
                    manifest_digest: record(1).manifest_digest,
                },
            ]))
            .await
            .unwrap();
        wait_for(&collector, |r| {
            !r.inventory.contains(&record(1).manifest_digest)
                && r.inventory.len() + 1 == expected.len()
        })
        .await;
        cancel.cancel();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn an_inventory_over_the_welcome_caps_keeps_its_running_images_first() {
        let image = |n: usize| ImageRecord {
            manifest_digest: format!("sha256:{n:064x}"),
            index_digest: None,
            config_digest: format!("sha256:{:064x}", n + 1000),
            names: vec![format!("app:{n}")],
            platform: "linux/amd64".into(),
            diff_ids: Vec::new(),
        };
        let workload = |id: &str, n: usize| crate::inventory::Workload {
            namespace: "shop".into(),
            pod: format!("pod-{id}"),
            pod_uid: format!("uid-{id}"),
            container: "app".into(),
            container_id: id.into(),
            image: format!("app:{n}"),
            image_digest: Some(image(n).manifest_digest),
        };
        let inventory = Arc::new(Inventory {
            images: (0..10).map(image).collect(),
            workloads: vec![workload("a", 7), workload("b", 9), workload("c", 8)],
        });
        let welcome = |images, workloads| v1::Welcome {
            max_images_per_node: images,
            max_workloads_per_node: workloads,
            ..v1::Welcome::default()
        };
        // Unlimited (0) and large enough caps report everything as it is.
        assert!(Arc::ptr_eq(
            &Caps::of(&welcome(0, 0)).apply(&inventory),
            &inventory
        ));
        assert!(Arc::ptr_eq(
            &Caps::of(&welcome(10, 3)).apply(&inventory),
            &inventory
        ));

        let capped = Caps::of(&welcome(3, 2)).apply(&inventory);
        let ids: Vec<_> = capped
            .workloads
            .iter()
            .map(|w| w.container_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        // The images of the reported workloads, then the lowest other digest, sorted.
        let digests: Vec<_> = capped
            .images
            .iter()
            .map(|i| i.manifest_digest.clone())
            .collect();
        let expected: Vec<_> = [0, 7, 9].map(|n| image(n).manifest_digest).to_vec();
        assert_eq!(digests, expected);
    }

    #[test]
    fn token_becomes_a_bearer_header_and_garbage_is_refused() {
        let mut config = ShipConfig {
            collector: "http://127.0.0.1:1".into(),
            cluster: "c".into(),
            node: "n".into(),
            token: Some("secret\n".into()),
            ca_pem: None,
            builders: 1,
            spec: SpecVersion::V1_5,
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            node_pool: String::new(),
            host: None,
        };
        let BearerToken(Some(value)) = bearer(&config).unwrap() else {
            panic!("no header")
        };
        assert_eq!(value.to_str().unwrap(), "Bearer secret");
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        config.token = Some("bad\u{7}token".into());
        assert!(bearer(&config).is_err());
    }
}
