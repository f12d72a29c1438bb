//! The node daemon (`nodebom-agent run`) as a library: the containerd watch, the scanner,
//! the shipper and the metrics endpoint wired together, for the binary and for tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nodebom_proto::retry::Backoff;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::analysis::{LayerCache, MemoryLayerCache};
use crate::containerd::Containerd;
use crate::disk_cache::DiskLayerCache;
use crate::host::{self, HostFeed, HostReport};
use crate::inventory::{self, WatchConfig};
use crate::layers::Limits;
use crate::observe::{Metrics, ObserveServer, Readiness};
use crate::sbom::{self, SpecVersion};
use crate::scan::Scanner;
use crate::ship::{self, ShipConfig};
use crate::{Error, Result};

/// Inventory updates waiting for the shipper.
const UPDATE_QUEUE: usize = 16;

/// Where per-layer analyses are kept across images (and, on disk, across restarts).
#[derive(Debug, Clone)]
pub enum LayerCacheConfig {
    /// In memory only, about `max_bytes`: a restart reads every layer again.
    Memory { max_bytes: u64 },
    /// On disk, bounded to `max_bytes`, with about `memory_bytes` of the hottest layers
    /// decoded in front.
    Disk {
        dir: PathBuf,
        max_bytes: u64,
        memory_bytes: u64,
    },
}

/// Everything `nodebom-agent run` accepts.
#[derive(Clone)]
pub struct RunConfig {
    /// containerd's socket and namespace, the platform images resolve to, and how
    /// reconnects are spaced (also for the first connection).
    pub watch: WatchConfig,
    /// The collector, this node's identity and how SBOMs are sent.
    pub ship: ShipConfig,
    pub layer_cache: LayerCacheConfig,
    /// Bounds on what one layer may hold.
    pub limits: Limits,
    /// Layer blobs of one image decompressed at once.
    pub layer_concurrency: usize,
    /// Address of /metrics, /healthz and /readyz; `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the daemon records its metrics (a handle: keep a clone to read them).
    pub metrics: Metrics,
    /// Reading the node's own software; `None`: not read.
    pub host: Option<HostScanConfig>,
}

/// How the node's own software is read.
#[derive(Debug, Clone)]
pub struct HostScanConfig {
    /// Where the host's root file system is (its read-only mount in the pod).
    pub root: PathBuf,
    /// How often it is read again (packages are upgraded in place).
    pub interval: Duration,
}

/// Runs the daemon until `shutdown` fires or the shipper stops for good.
pub async fn run(config: RunConfig, shutdown: CancellationToken) -> Result<()> {
    let readiness = Readiness::new();
    let observe = match config.metrics_listen {
        Some(addr) => Some(
            ObserveServer::bind(addr, config.metrics.clone(), readiness.clone())
                .await?
                .spawn(shutdown.clone()),
        ),
        None => None,
    };
    let cache = open_layer_cache(&config.layer_cache)?;
    let watch = &config.watch;
    let reconnect = Backoff::new(watch.min_backoff, watch.max_backoff);
    let client = connect(&watch.socket, &watch.namespace, reconnect, &shutdown).await?;
    let scanner = Arc::new(
        Scanner::new(client, cache, config.limits.clone(), watch.platform.clone())
            .with_layer_concurrency(config.layer_concurrency)
            .with_metrics(config.metrics.clone()),
    );
    let (updates, watch_task) =
        inventory::spawn_watch(config.watch.clone(), UPDATE_QUEUE, shutdown.clone());
    let mut ship = config.ship;
    let host_task = config.host.map(|host| {
        let (feed, task) = spawn_host_scans(
            host,
            config.limits.clone(),
            ship.spec,
            config.metrics.clone(),
            shutdown.clone(),
        );
        ship.host = Some(feed);
        task
    });
    info!(
        cluster = %ship.cluster,
        node = %ship.node,
        node_pool = %ship.node_pool,
        collector = %ship.collector,
        host = ship.host.is_some(),
        "agent starting"
    );
    let shipped = ship::run(
        ship,
        scanner,
        updates,
        config.metrics,
        readiness,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = watch_task.await;
    if let Some(task) = host_task {
        let _ = task.await;
    }
    if let Some(observe) = observe {
        let _ = observe.await;
    }
    shipped
}

/// Reads the host now and every `interval`, publishing its report when its software
/// changed. A failed reading is logged and tried again at the next interval; the last
/// good report stays.
fn spawn_host_scans(
    config: HostScanConfig,
    limits: Limits,
    spec: SpecVersion,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> (HostFeed, tokio::task::JoinHandle<()>) {
    let (publish, feed) = watch::channel::<Option<Arc<HostReport>>>(None);
    let task = tokio::spawn(async move {
        let catalogers = Arc::new(crate::catalog::all());
        loop {
            let started = std::time::Instant::now();
            let (root, limits, catalogers) =
                (config.root.clone(), limits.clone(), catalogers.clone());
            let read = tokio::task::spawn_blocking(move || -> Result<HostReport> {
                let node = host::scan(&root, &catalogers, limits)?;
                let subject = sbom::Subject::Node {
                    node: &node.facts,
                    digest: &node.digest,
                };
                let sbom = sbom::build_for(subject, &node.contents, spec)?;
                Ok(HostReport {
                    digest: node.digest,
                    facts: node.facts,
                    sbom,
                })
            })
            .await;
            metrics.host_read(matches!(read, Ok(Ok(_))));
            match read {
                Ok(Ok(report)) => {
                    info!(
                        root = %config.root.display(),
                        digest = %report.digest,
                        os = %report.facts.os,
                        kernel = %report.facts.kernel,
                        bytes = report.sbom.len(),
                        seconds = started.elapsed().as_secs_f64(),
                        "node software read"
                    );
                    publish.send_if_modified(|current| {
                        let changed = current
                            .as_ref()
                            .is_none_or(|c: &Arc<HostReport>| c.digest != report.digest);
                        if changed {
                            *current = Some(Arc::new(report));
                        }
                        changed
                    });
                }
                Ok(Err(error)) => {
                    warn!(root = %config.root.display(), %error, "cannot read the node's software")
                }
                Err(error) => warn!(%error, "the node software reader stopped"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(config.interval) => {}
            }
        }
    });
    (feed, task)
}

fn open_layer_cache(config: &LayerCacheConfig) -> Result<Arc<dyn LayerCache>> {
    Ok(match config {
        LayerCacheConfig::Memory { max_bytes } => Arc::new(MemoryLayerCache::new(*max_bytes)),
        LayerCacheConfig::Disk {
            dir,
            max_bytes,
            memory_bytes,
        } => Arc::new(DiskLayerCache::open(dir, *max_bytes, *memory_bytes)?),
    })
}

/// containerd may start after the agent (or restart): waits for it, logging, until it
/// answers or `shutdown` fires.
async fn connect(
    socket: &str,
    namespace: &str,
    backoff: Backoff,
    shutdown: &CancellationToken,
) -> Result<Containerd> {
    let mut retries = backoff.retries();
    loop {
        let error = match Containerd::connect(socket, namespace).await {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        let delay = retries.next_delay();
        warn!(%error, retry_in_ms = delay.as_millis() as u64, "containerd not reachable yet");
        tokio::select! {
            () = shutdown.cancelled() => {
                return Err(Error::Containerd {
                    socket: socket.to_string(),
                    message: "stopped before containerd was reachable".into(),
                })
            }
            () = tokio::time::sleep(delay) => {}
        }
    }
}
