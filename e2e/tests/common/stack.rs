//! A whole nodebom on one machine, for the end-to-end tests and the demo: images built
//! from the catalogers' fixtures, a collector on SQLite and the agent's daemon
//! (`nodebom-agent run` minus its flags, [`nodebom_agent::daemon`]), all in this process.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use nodebom_agent::daemon::{self, HostScanConfig, LayerCacheConfig, RunConfig};
use nodebom_agent::image::Platform;
use nodebom_agent::inventory::WatchConfig;
use nodebom_agent::layers::Limits;
use nodebom_agent::observe::Metrics;
use nodebom_agent::sbom::SpecVersion;
use nodebom_agent::ship::ShipConfig;
use nodebom_collector::config::ServeArgs;
use nodebom_collector::server::{self, Collector};
use nodebom_e2e::containerd::Pod;
use nodebom_e2e::dtrack::DtServer;
pub use nodebom_e2e::fixtures::{debian_image, fixture};
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, ImageSpec};
use nodebom_proto::v1::{
    get_sbom_response, query_client::QueryClient, GetSbomRequest, ImageSummary, ListImagesRequest,
    ListNodesRequest, NodeSummary,
};
use tokio_util::sync::CancellationToken;

pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn import(daemon: &ContainerdDaemon, spec: &ImageSpec) -> BuiltImage {
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(spec, out.path()).unwrap();
    daemon.import(&built).unwrap();
    built
}

pub fn pod(namespace: &str, name: &str) -> Pod {
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        uid: format!("uid-{namespace}-{name}"),
    }
}

pub struct TestCollector {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    collector: Option<Collector>,
    pub url: String,
}

impl TestCollector {
    /// A collector on a temporary SQLite file with tokens for clusters `prod-a`
    /// (`token-a`) and `prod-b` (`token-b`).
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The web UI's address, when started with `--ui-listen`.
    pub fn ui_url(&self) -> Option<String> {
        self.collector
            .as_ref()
            .and_then(Collector::ui_addr)
            .map(|addr| format!("http://{addr}/"))
    }

    /// [`Self::start`] with more `serve` flags.
    pub async fn start_with(extra: &[String]) -> Self {
        Self::start_on("127.0.0.1:0", extra).await
    }

    /// [`Self::start_with`] on the address `listen`.
    pub async fn start_on(listen: &str, extra: &[String]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), listen, extra).await
    }

    /// [`Self::start_with`], forwarding to Dependency-Track `dt` (its API key in a file
    /// of the collector's directory).
    pub async fn start_forwarding_to(dt: &DtServer, extra: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("dtrack-api-key");
        std::fs::write(&key_file, dt.api_key()).unwrap();
        let mut args = vec![
            "--dtrack-url".to_string(),
            dt.url(),
            "--dtrack-api-key-file".into(),
            key_file.display().to_string(),
        ];
        args.extend(extra.iter().cloned());
        Self::start_in(dir, "127.0.0.1:0", &args).await
    }

    async fn start_in(dir: tempfile::TempDir, listen: &str, extra: &[String]) -> Self {
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            listen,
            "--store",
            &format!("sqlite://{}", dir.path().join("nodebom.db").display()),
            "--cluster-token",
            "prod-a=token-a",
            "--cluster-token",
            "prod-b=token-b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        let collector = Self::launch(&args).await;
        let url = format!("http://{}", collector.local_addr());
        TestCollector {
            dir,
            args,
            collector: Some(collector),
            url,
        }
    }

    async fn launch(args: &[String]) -> Collector {
        let config = ServeArgs::try_parse_from(args).unwrap().resolve().unwrap();
        server::start(config).await.unwrap()
    }

    /// Stops, then starts again on the same database and the same port.
    pub async fn restart(&mut self) {
        if let Some(collector) = self.collector.take() {
            collector.shutdown().await.unwrap();
        }
        let port = self.url.rsplit(':').next().unwrap().to_string();
        let mut args = self.args.clone();
        args[2] = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let config = ServeArgs::try_parse_from(&args).unwrap().resolve().unwrap();
            match server::start(config).await {
                Ok(collector) => {
                    self.collector = Some(collector);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("collector restart: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("collector did not restart: {e}"),
            }
        }
    }

    pub async fn images(&self) -> Vec<ImageSummary> {
        let mut client = QueryClient::connect(self.url.clone()).await.unwrap();
        client
            .list_images(ListImagesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .images
    }

    /// Every node, by cluster and name.
    pub async fn nodes(&self) -> Vec<NodeSummary> {
        let mut client = QueryClient::connect(self.url.clone()).await.unwrap();
        client
            .list_nodes(ListNodesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .nodes
    }

    /// The stored (fleet) SBOM of `digest`.
    pub async fn sbom(&self, digest: &str) -> Option<serde_json::Value> {
        self.sbom_of(digest, "").await
    }

    /// The SBOM of `digest` that `cluster` uses.
    pub async fn sbom_of(&self, digest: &str, cluster: &str) -> Option<serde_json::Value> {
        let mut client = QueryClient::connect(self.url.clone()).await.unwrap();
        let mut stream = client
            .get_sbom(GetSbomRequest {
                manifest_digest: digest.into(),
                cluster: cluster.into(),
            })
            .await
            .ok()?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await.ok()? {
            if let Some(get_sbom_response::Part::Chunk(chunk)) = message.part {
                bytes.extend_from_slice(&chunk.data);
            }
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Waits until `check` holds for the listed images.
    pub async fn wait_for(
        &self,
        what: &str,
        check: impl Fn(&[ImageSummary]) -> bool,
    ) -> Vec<ImageSummary> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let images = self.images().await;
            if check(&images) {
                return images;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {images:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The agent's daemon (`nodebom-agent run` minus its flags) against `daemon`, reporting
/// as `cluster`/`node`.
pub struct TestAgent {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<nodebom_agent::Result<()>>,
    pub metrics: Metrics,
}

impl TestAgent {
    pub async fn start(
        daemon: &ContainerdDaemon,
        collector: &TestCollector,
        cluster: &str,
        node: &str,
        token: &str,
    ) -> Self {
        Self::start_to(daemon, &collector.url, cluster, node, token).await
    }

    /// [`Self::start`] with the collector at `url` (through a proxy, say).
    pub async fn start_to(
        daemon: &ContainerdDaemon,
        url: &str,
        cluster: &str,
        node: &str,
        token: &str,
    ) -> Self {
        Self::start_with(daemon, url, cluster, node, token, None, "").await
    }

    /// [`Self::start_to`] reading the node's own software from `host` (its root and how
    /// often), in node pool `pool`.
    pub async fn start_with(
        daemon: &ContainerdDaemon,
        url: &str,
        cluster: &str,
        node: &str,
        token: &str,
        host: Option<HostScanConfig>,
        pool: &str,
    ) -> Self {
        let socket = daemon.socket().to_str().unwrap().to_string();
        let cancel = CancellationToken::new();
        let metrics = Metrics::new();
        let mut watch = WatchConfig::new(&socket, "k8s.io", Platform::host());
        watch.min_backoff = Duration::from_millis(100);
        let config = RunConfig {
            watch,
            ship: ShipConfig {
                collector: url.to_owned(),
                cluster: cluster.into(),
                node: node.into(),
                token: Some(token.into()),
                ca_pem: None,
                builders: 1,
                spec: SpecVersion::V1_5,
                min_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(500),
                node_pool: pool.into(),
                host: None,
            },
            layer_cache: LayerCacheConfig::Memory {
                max_bytes: 64 << 20,
            },
            limits: Limits::default(),
            layer_concurrency: 1,
            metrics_listen: None,
            metrics: metrics.clone(),
            host,
        };
        let task = tokio::spawn(daemon::run(config, cancel.clone()));
        TestAgent {
            cancel,
            task,
            metrics,
        }
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// The value of one of the agent's counters or gauges, 0 before its first sample.
pub fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .encode()
        .unwrap()
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

pub fn clusters_running(image: &ImageSummary) -> Vec<String> {
    let mut clusters: Vec<String> = image
        .workloads
        .iter()
        .filter(|w| w.running)
        .map(|w| w.cluster.clone())
        .collect();
    clusters.sort();
    clusters.dedup();
    clusters
}

pub fn find<'a>(images: &'a [ImageSummary], digest: &str) -> Option<&'a ImageSummary> {
    images.iter().find(|image| image.manifest_digest == digest)
}
