//! End to end: real containerd with pods (containers with kubelet's labels), the agent's
//! daemon loop (`nodebom-agent run` minus its flags), and a real collector over gRPC.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodebom_agent::analysis::cache::MemoryLayerCache;
use nodebom_agent::containerd::Containerd;
use nodebom_agent::image::Platform;
use nodebom_agent::inventory::{self, WatchConfig};
use nodebom_agent::layers::Limits;
use nodebom_agent::observe::{Metrics, Readiness};
use nodebom_agent::sbom::SpecVersion;
use nodebom_agent::scan::Scanner;
use nodebom_agent::ship::{self, ShipConfig};
use nodebom_collector::config::ServeArgs;
use nodebom_collector::server::{self, Collector};
use nodebom_e2e::containerd::Pod;
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, Entry, ImageSpec, Layer};
use nodebom_proto::v1::{
    get_sbom_response, query_client::QueryClient, GetSbomRequest, ImageSummary, ListImagesRequest,
};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(30);

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/src/catalog")
        .join(path)
}

fn debian_image(name: &str, app: Entry) -> ImageSpec {
    ImageSpec {
        name: name.into(),
        layers: vec![
            Layer::gzip(vec![
                Entry::tree(fixture("os/testdata/debian-12"), "/"),
                Entry::tree(fixture("dpkg/testdata/var"), "/var"),
            ]),
            Layer::zstd(vec![app]),
        ],
        multi_platform: false,
    }
}

fn import(daemon: &ContainerdDaemon, spec: &ImageSpec) -> BuiltImage {
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(spec, out.path()).unwrap();
    daemon.import(&built).unwrap();
    built
}

fn pod(namespace: &str, name: &str) -> Pod {
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        uid: format!("uid-{namespace}-{name}"),
    }
}

struct TestCollector {
    _dir: tempfile::TempDir,
    args: Vec<String>,
    collector: Option<Collector>,
    url: String,
}

impl TestCollector {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
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
        let collector = Self::launch(&args).await;
        let url = format!("http://{}", collector.local_addr());
        TestCollector {
            _dir: dir,
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
    async fn restart(&mut self) {
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

    async fn images(&self) -> Vec<ImageSummary> {
        let mut client = QueryClient::connect(self.url.clone()).await.unwrap();
        client
            .list_images(ListImagesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .images
    }

    async fn sbom(&self, digest: &str) -> Option<serde_json::Value> {
        let mut client = QueryClient::connect(self.url.clone()).await.unwrap();
        let mut stream = client
            .get_sbom(GetSbomRequest {
                manifest_digest: digest.into(),
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
    async fn wait_for(
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

/// The agent's daemon loop against `daemon`, reporting as `cluster`/`node`.
struct TestAgent {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    metrics: Metrics,
}

impl TestAgent {
    async fn start(
        daemon: &ContainerdDaemon,
        collector: &TestCollector,
        cluster: &str,
        node: &str,
        token: &str,
    ) -> Self {
        let socket = daemon.socket().to_str().unwrap().to_string();
        let cancel = CancellationToken::new();
        let client = Containerd::connect(&socket, "k8s.io").await.unwrap();
        let metrics = Metrics::new();
        let scanner = Arc::new(
            Scanner::new(
                client,
                Arc::new(MemoryLayerCache::new(64)),
                Limits::default(),
                Platform::host(),
            )
            .with_metrics(metrics.clone()),
        );
        let mut watch = WatchConfig::new(&socket, "k8s.io", Platform::host());
        watch.min_backoff = Duration::from_millis(100);
        let (updates, _watch_task) = inventory::spawn_watch(watch, 16, cancel.clone());
        let config = ShipConfig {
            collector: collector.url.clone(),
            cluster: cluster.into(),
            node: node.into(),
            token: Some(token.into()),
            ca_pem: None,
            builders: 1,
            spec: SpecVersion::V1_5,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let task = tokio::spawn({
            let cancel = cancel.clone();
            let metrics = metrics.clone();
            async move {
                ship::run(config, scanner, updates, metrics, Readiness::new(), cancel)
                    .await
                    .unwrap();
            }
        });
        TestAgent {
            cancel,
            task,
            metrics,
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap();
    }
}

fn clusters_running(image: &ImageSummary) -> Vec<String> {
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

fn find<'a>(images: &'a [ImageSummary], digest: &str) -> Option<&'a ImageSummary> {
    images.iter().find(|image| image.manifest_digest == digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_sharing_an_image_get_one_sbom_built_once() {
    let daemon_a = ContainerdDaemon::start().unwrap();
    let daemon_b = ContainerdDaemon::start().unwrap();
    let spec = debian_image(
        "docker.io/nodebom/shared:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let shared_a = import(&daemon_a, &spec);
    let shared_b = import(&daemon_b, &spec);
    assert_eq!(shared_a.manifest_digest, shared_b.manifest_digest);
    daemon_a
        .create_pod_container("web-a", &spec.name, &pod("shop", "web-a"), "app")
        .unwrap();
    daemon_b
        .create_pod_container("web-b", &spec.name, &pod("shop", "web-b"), "app")
        .unwrap();
    // Blobs gone on one node (discard_unpacked_layers): its builds come from snapshots.
    daemon_b.delete_blobs(&shared_b.layer_digests).unwrap();

    let collector = TestCollector::start().await;
    let agent_a = TestAgent::start(&daemon_a, &collector, "prod-a", "node-a", "token-a").await;
    let agent_b = TestAgent::start(&daemon_b, &collector, "prod-b", "node-b", "token-b").await;

    let digest = shared_a.manifest_digest.clone();
    let images = collector
        .wait_for(
            "the shared image with its SBOM, run in both clusters",
            |images| {
                find(images, &digest).is_some_and(|i| {
                    i.sbom.is_some() && clusters_running(i) == ["prod-a", "prod-b"]
                })
            },
        )
        .await;
    let image = find(&images, &digest).unwrap();
    assert_eq!(image.nodes.len(), 2);
    let bom = collector.sbom(&digest).await.expect("stored SBOM");
    assert_eq!(bom["metadata"]["component"]["version"], digest.as_str());
    assert!(bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:deb/debian/"))));

    // Give a late duplicate build a chance to show up, then count builds fleet-wide.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let built = |metrics: &Metrics| {
        metrics
            .encode()
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("nodebom_agent_sboms_built_total ")
                    .map(|v| v.trim().parse::<f64>().unwrap())
            })
            .unwrap_or(0.0)
    };
    assert_eq!(
        built(&agent_a.metrics) + built(&agent_b.metrics),
        1.0,
        "one build for the whole fleet"
    );
    agent_a.stop().await;
    agent_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_images_appearing_later_are_reported_within_seconds() {
    let daemon = ContainerdDaemon::start().unwrap();
    let first = debian_image(
        "docker.io/nodebom/first:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let first = import(&daemon, &first);
    let collector = TestCollector::start().await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "node-1", "token-a").await;
    let digest = first.manifest_digest.clone();
    collector
        .wait_for("the first image with its SBOM", |images| {
            find(images, &digest).is_some_and(|i| i.sbom.is_some())
        })
        .await;

    daemon
        .create_pod_container("c1", &first.name, &pod("default", "api"), "api")
        .unwrap();
    collector
        .wait_for("the new pod", |images| {
            find(images, &digest).is_some_and(|i| clusters_running(i) == ["prod-a"])
        })
        .await;
    daemon.ctr(&["containers", "rm", "c1"]).unwrap();
    collector
        .wait_for("the pod to stop", |images| {
            find(images, &digest).is_some_and(|i| clusters_running(i).is_empty())
        })
        .await;

    let later = debian_image(
        "docker.io/nodebom/later:2",
        Entry::tree(fixture("npm/testdata/usr"), "/usr"),
    );
    let later = import(&daemon, &later);
    let later_digest = later.manifest_digest.clone();
    collector
        .wait_for("the image pulled later, with its SBOM", |images| {
            find(images, &later_digest).is_some_and(|i| i.sbom.is_some())
        })
        .await;
    let bom = collector.sbom(&later_digest).await.unwrap();
    assert!(bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:npm/"))));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_restart_during_sync_loses_and_duplicates_nothing() {
    let daemon = ContainerdDaemon::start().unwrap();
    let mut built = Vec::new();
    for (index, tree) in [
        "python/testdata/usr",
        "npm/testdata/usr",
        "os/testdata/debian-12/usr",
    ]
    .iter()
    .enumerate()
    {
        let spec = debian_image(
            &format!("docker.io/nodebom/app{index}:1"),
            Entry::tree(fixture(tree), "/usr"),
        );
        built.push(import(&daemon, &spec));
    }
    daemon
        .create_pod_container("p0", &built[0].name, &pod("default", "p0"), "app")
        .unwrap();
    let mut collector = TestCollector::start().await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "node-1", "token-a").await;
    // Restart as soon as the first SBOM is stored: the others are built or in flight.
    let first = built[0].manifest_digest.clone();
    collector
        .wait_for("a first SBOM", |images| {
            images.iter().any(|i| i.sbom.is_some()) || find(images, &first).is_some()
        })
        .await;
    collector.restart().await;

    daemon
        .create_pod_container("p1", &built[1].name, &pod("default", "p1"), "app")
        .unwrap();
    let digests: Vec<String> = built.iter().map(|b| b.manifest_digest.clone()).collect();
    let images = collector
        .wait_for("every SBOM and both pods after the restart", |images| {
            digests
                .iter()
                .all(|d| find(images, d).is_some_and(|i| i.sbom.is_some()))
                && clusters_running(find(images, &digests[1]).unwrap()) == ["prod-a"]
        })
        .await;
    assert_eq!(images.len(), built.len(), "no image twice: {images:#?}");
    assert_eq!(
        clusters_running(find(&images, &digests[0]).unwrap()),
        ["prod-a"]
    );
    for digest in &digests {
        let bom = collector.sbom(digest).await.unwrap();
        assert_eq!(bom["metadata"]["component"]["version"], digest.as_str());
    }
    agent.stop().await;
}
