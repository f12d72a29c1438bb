//! Shared by the collector's integration tests: a real collector on 127.0.0.1:0 with a
//! temporary SQLite file (or, with `NODEBOM_TEST_STORE=postgres`, a new database of the
//! test process's PostgreSQL cluster), a simulated agent that speaks `Ingest` through
//! the generated client, and fixtures. Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodebom_collector::config::ServeArgs;
use nodebom_collector::server::{self, Collector};
use nodebom_proto::v1 as pb;
use pb::ingest_client::IngestClient;
use pb::query_client::QueryClient;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

/// syft 1.18.1, CycloneDX 1.5, of this Debian 12 machine's dpkg database and 4 Python
/// distributions (744 components).
pub const DEBIAN_SBOM: &[u8] =
    include_bytes!("../../src/sbom/testdata/syft-1.18.1-debian-12.cdx.json");
/// syft 1.18.1, CycloneDX 1.6, of certifi and click.
pub const PYTHON_SBOM: &[u8] =
    include_bytes!("../../src/sbom/testdata/syft-1.18.1-python.cdx-1.6.json");
/// The same as SPDX JSON.
pub const PYTHON_SPDX: &[u8] =
    include_bytes!("../../src/sbom/testdata/syft-1.18.1-python.spdx.json");
/// The same as CycloneDX XML.
pub const PYTHON_XML: &[u8] = include_bytes!("../../src/sbom/testdata/syft-1.18.1-python.cdx.xml");

pub const TOKEN_A: &str = "token-of-prod-a";
pub const TOKEN_B: &str = "token-of-prod-b";

/// How long a test waits for a message it expects.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Something that serves the collector's API.
pub trait Target {
    /// `http://host:port`.
    fn url(&self) -> String;
}

impl Target for String {
    fn url(&self) -> String {
        self.clone()
    }
}

impl<T: Target + ?Sized> Target for &T {
    fn url(&self) -> String {
        (**self).url()
    }
}

pub async fn query_client(target: &impl Target) -> QueryClient<Channel> {
    QueryClient::connect(target.url()).await.unwrap()
}

pub async fn ingest_client(target: &impl Target) -> IngestClient<Channel> {
    IngestClient::connect(target.url()).await.unwrap()
}

/// A collector serving on a free loopback port with its database in a temporary
/// directory, or in PostgreSQL (see [`test_store`]).
pub struct TestCollector {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    collector: Option<Collector>,
    pub addr: SocketAddr,
}

impl TestCollector {
    /// Starts with cluster tokens for `prod-a` and `prod-b` and `extra` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--store".into(),
            test_store(dir.path()).await,
            "--cluster-token".into(),
            format!("prod-a={TOKEN_A}"),
            "--cluster-token".into(),
            format!("prod-b={TOKEN_B}"),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let collector = Self::launch(&args).await;
        Self {
            addr: collector.local_addr(),
            dir,
            args,
            collector: Some(collector),
        }
    }

    /// [`TestCollector::start`] forwarding to the Dependency-Track at `url` with
    /// `api_key` (in a file written to `key_dir`), and `extra` flags.
    pub async fn forwarding_to(url: &str, api_key: &str, key_dir: &Path, extra: &[&str]) -> Self {
        let key = key_dir.join("dtrack-api-key");
        std::fs::write(&key, api_key).unwrap();
        let mut args = vec![
            "--dtrack-url",
            url,
            "--dtrack-api-key-file",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Self::start(&args).await
    }

    async fn launch(args: &[String]) -> Collector {
        let config = ServeArgs::try_parse_from(args).unwrap().resolve().unwrap();
        server::start(config).await.unwrap()
    }

    /// Stops and starts again on the same database (on a new port).
    pub async fn restart(&mut self) {
        if let Some(collector) = self.collector.take() {
            collector.shutdown().await.unwrap();
        }
        let collector = Self::launch(&self.args).await;
        self.addr = collector.local_addr();
        self.collector = Some(collector);
    }

    pub async fn stop(mut self) {
        if let Some(collector) = self.collector.take() {
            collector.shutdown().await.unwrap();
        }
    }

    /// The URL of `path` (`/metrics`, `/healthz`, `/readyz`) on the metrics listener;
    /// the collector must have been started with `--metrics-listen`.
    pub fn metrics_endpoint(&self, path: &str) -> String {
        let addr = self
            .collector
            .as_ref()
            .and_then(Collector::metrics_addr)
            .expect("started without --metrics-listen");
        format!("http://{addr}{path}")
    }

    /// The URL of `path` on the web UI; the collector must have been started with
    /// `--ui-listen`.
    pub fn ui_endpoint(&self, path: &str) -> String {
        let addr = self
            .collector
            .as_ref()
            .and_then(Collector::ui_addr)
            .expect("started without --ui-listen");
        format!("http://{addr}{path}")
    }

    pub async fn query(&self) -> QueryClient<Channel> {
        query_client(self).await
    }

    pub async fn ingest(&self) -> IngestClient<Channel> {
        ingest_client(self).await
    }
}

/// `--store` of a test collector: a SQLite file in `dir`, or a new empty database of the
/// test process's PostgreSQL cluster when `NODEBOM_TEST_STORE=postgres` (./scripts/test
/// runs these tests once with each).
pub async fn test_store(dir: &std::path::Path) -> String {
    match std::env::var("NODEBOM_TEST_STORE").as_deref() {
        Ok("postgres") => nodebom_e2e::TestPostgres::shared()
            .await
            .unwrap()
            .create_database()
            .await
            .unwrap(),
        Ok("sqlite") | Err(std::env::VarError::NotPresent) => {
            format!("sqlite://{}", dir.join("nodebom.db").display())
        }
        other => panic!("NODEBOM_TEST_STORE is sqlite or postgres, not {other:?}"),
    }
}

impl Target for TestCollector {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Status and body of `GET url`.
pub async fn http_get(url: &str) -> (u16, String) {
    // reqwest is built without a default TLS provider; the collector uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The collector's `/metrics` as a client that takes only the Prometheus text format
/// (promtool's) gets it.
pub async fn scrape_prometheus_text(collector: &TestCollector) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .get(collector.metrics_endpoint("/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The collector's `/metrics`.
pub async fn scrape(collector: &TestCollector) -> String {
    let (status, text) = http_get(&collector.metrics_endpoint("/metrics")).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of the sample `series` (name and labels as exported) in a scrape.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// The `nodebom-collector` binary.
pub const BINARY: &str = env!("CARGO_BIN_EXE_nodebom-collector");

/// Runs `nodebom-collector query --server url args…` without blocking the runtime that
/// serves it; its standard output, once it succeeded.
pub async fn cli(url: &str, args: &[&str]) -> String {
    run_cli("query", url, args).await
}

/// Runs `nodebom-collector <command> --server url args…` (`query`, `report`) without
/// blocking the runtime that serves it; its standard output, once it succeeded.
pub async fn run_cli(command: &str, url: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(BINARY)
        .args([command, "--server", url])
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `sha256:<hex>` of `bytes`.
/// A self-signed certificate for `localhost`, with its key, written into `dir`: the
/// certificate's PEM and the two files' paths (for `--tls-cert`, `--tls-key`).
pub fn localhost_tls(dir: &Path) -> (String, String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (
        certified.cert.pem(),
        cert.display().to_string(),
        key.display().to_string(),
    )
}

pub fn sha256(bytes: impl AsRef<[u8]>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes.as_ref())))
}

/// An image whose digests are derived from `seed`.
pub fn image(seed: &str, names: &[&str]) -> pb::Image {
    pb::Image {
        manifest_digest: sha256(format!("manifest of {seed}")),
        index_digest: sha256(format!("index of {seed}")),
        config_digest: sha256(format!("config of {seed}")),
        names: names.iter().map(|name| name.to_string()).collect(),
        platform: "linux/amd64".into(),
        diff_ids: vec![
            sha256(format!("layer 1 of {seed}")),
            sha256(format!("layer 2 of {seed}")),
        ],
        ..Default::default()
    }
}

/// A node's own software as its agent reports it.
pub fn node_software(seed: &str) -> pb::Image {
    pb::Image {
        manifest_digest: sha256(format!("node software {seed}")),
        platform: "linux/amd64".into(),
        kind: pb::ArtifactKind::Node as i32,
        node: Some(pb::NodeSoftware {
            os: "debian-12".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "amd64".into(),
        }),
        ..Default::default()
    }
}

/// A container of pod `pod` in `namespace` running `image`.
pub fn workload(namespace: &str, pod: &str, container: &str, image: &pb::Image) -> pb::Workload {
    pb::Workload {
        namespace: namespace.into(),
        pod: pod.into(),
        pod_uid: format!("uid-{namespace}-{pod}"),
        container: container.into(),
        manifest_digest: image.manifest_digest.clone(),
        image: image.names.first().cloned().unwrap_or_default(),
        container_id: hex::encode(Sha256::digest(format!("{pod}/{container}"))),
    }
}

pub fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// A simulated agent: one `Sync` stream.
pub struct Agent {
    outbound: mpsc::Sender<pb::SyncRequest>,
    inbound: Streaming<pb::SyncResponse>,
    sequence: u64,
    pub welcome: pb::Welcome,
    pub cluster: String,
    pub node: String,
}

impl Agent {
    /// Opens `Sync` and says Hello; the error is the collector's refusal.
    pub async fn connect(
        collector: &TestCollector,
        token: Option<&str>,
        cluster: &str,
        node: &str,
    ) -> Result<Self, Status> {
        Self::connect_to(collector, token, cluster, node).await
    }

    /// [`Agent::connect`] to any server.
    pub async fn connect_to(
        collector: &impl Target,
        token: Option<&str>,
        cluster: &str,
        node: &str,
    ) -> Result<Self, Status> {
        Self::connect_in_pool(collector, token, cluster, node, "").await
    }

    /// [`Agent::connect_to`] for a node of node pool `pool`.
    pub async fn connect_in_pool(
        collector: &impl Target,
        token: Option<&str>,
        cluster: &str,
        node: &str,
        pool: &str,
    ) -> Result<Self, Status> {
        let (outbound, requests) = mpsc::channel(16);
        outbound
            .send(pb::SyncRequest {
                sequence: 1,
                message: Some(pb::sync_request::Message::Hello(pb::Hello {
                    cluster: cluster.into(),
                    node: node.into(),
                    agent_version: "0.1.0-test".into(),
                    node_pool: pool.into(),
                })),
            })
            .await
            .unwrap();
        let mut client = ingest_client(collector).await;
        let mut inbound = client
            .sync(with_token(ReceiverStream::new(requests), token))
            .await?
            .into_inner();
        let welcome = match tokio::time::timeout(PATIENCE, inbound.message())
            .await
            .unwrap()?
        {
            Some(pb::SyncResponse {
                message: Some(pb::sync_response::Message::Welcome(welcome)),
            }) => welcome,
            other => panic!("expected Welcome, got {other:?}"),
        };
        Ok(Self {
            outbound,
            inbound,
            sequence: 1,
            welcome,
            cluster: cluster.into(),
            node: node.into(),
        })
    }

    /// Sends a message; returns its sequence number.
    pub async fn send(&mut self, message: pb::sync_request::Message) -> u64 {
        self.sequence += 1;
        self.outbound
            .send(pb::SyncRequest {
                sequence: self.sequence,
                message: Some(message),
            })
            .await
            .unwrap();
        self.sequence
    }

    /// The next message from the collector.
    pub async fn next(&mut self) -> Result<pb::sync_response::Message, Status> {
        match tokio::time::timeout(PATIENCE, self.inbound.message()).await {
            Ok(Ok(Some(response))) => Ok(response.message.unwrap()),
            Ok(Ok(None)) => Err(Status::cancelled("the collector ended the stream")),
            Ok(Err(status)) => Err(status),
            Err(_) => panic!("no message from the collector within {PATIENCE:?}"),
        }
    }

    /// Waits for the acknowledgement of `sequence`.
    pub async fn ack(&mut self, sequence: u64) -> Result<pb::InventoryAck, Status> {
        match self.next().await? {
            pb::sync_response::Message::InventoryAck(ack) => {
                assert_eq!(ack.sequence, sequence);
                Ok(ack)
            }
            other => panic!("expected the ack of {sequence}, got {other:?}"),
        }
    }

    /// Reports a full inventory in one part and waits for its acknowledgement.
    pub async fn full(
        &mut self,
        images: &[pb::Image],
        workloads: &[pb::Workload],
    ) -> Result<pb::InventoryAck, Status> {
        let sequence = self
            .send(pb::sync_request::Message::Inventory(pb::InventoryPart {
                images: images.to_vec(),
                workloads: workloads.to_vec(),
                last: true,
            }))
            .await;
        self.ack(sequence).await
    }

    /// Reports a delta and waits for its acknowledgement.
    pub async fn delta(&mut self, delta: pb::InventoryDelta) -> Result<pb::InventoryAck, Status> {
        let sequence = self.send(pb::sync_request::Message::Delta(delta)).await;
        self.ack(sequence).await
    }

    /// Waits for an `SbomRequest`.
    pub async fn sbom_request(&mut self) -> Vec<String> {
        match self.next().await.unwrap() {
            pb::sync_response::Message::SbomRequest(request) => request.manifest_digests,
            other => panic!("expected an SbomRequest, got {other:?}"),
        }
    }

    /// Uploads `document`, made to describe `digest` (see [`describing`]), as the SBOM
    /// of `digest` in chunks of `chunk` bytes.
    pub async fn upload(
        &self,
        collector: &impl Target,
        token: Option<&str>,
        digest: &str,
        document: &[u8],
        chunk: usize,
    ) -> Result<pb::UploadSbomResponse, Status> {
        let document = describing(document, digest);
        let messages = upload_messages(&self.cluster, &self.node, digest, &document, chunk);
        upload_raw(collector, token, messages).await
    }
}

/// `document` with the `metadata.component` nodebom's agent writes for the image
/// `digest` (a container named `registry.example/app` with the digest as version).
/// The syft fixtures describe the directory syft scanned (type `file`, no version),
/// which the collector refuses as an image's SBOM.
pub fn describing(document: &[u8], digest: &str) -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_slice(document).unwrap();
    document["metadata"]["component"] = serde_json::json!({
        "type": "container", "bom-ref": format!("image:{digest}"),
        "name": "registry.example/app", "version": digest,
    });
    serde_json::to_vec_pretty(&document).unwrap()
}

/// The canonical form the collector stores of `document` made to describe `digest`:
/// compact, `$schema` and syft's `swid` dropped, every other field as it was.
pub fn stored_form(document: &[u8], digest: &str) -> serde_json::Value {
    let mut document: serde_json::Value =
        serde_json::from_slice(&describing(document, digest)).unwrap();
    document.as_object_mut().unwrap().remove("$schema");
    if let Some(components) = document["components"].as_array_mut() {
        for component in components {
            component.as_object_mut().unwrap().remove("swid");
        }
    }
    document
}

/// Header and chunks of an upload of `document` for `digest`.
pub fn upload_messages(
    cluster: &str,
    node: &str,
    digest: &str,
    document: &[u8],
    chunk: usize,
) -> Vec<pb::UploadSbomRequest> {
    use pb::upload_sbom_request::Part;
    let mut messages = vec![pb::UploadSbomRequest {
        part: Some(Part::Header(pb::SbomHeader {
            manifest_digest: digest.into(),
            cluster: cluster.into(),
            node: node.into(),
            size: document.len() as u64,
            sha256: sha256(document),
            agent_version: "0.1.0-test".into(),
        })),
    }];
    let mut offset = 0;
    for piece in document.chunks(chunk) {
        messages.push(pb::UploadSbomRequest {
            part: Some(Part::Chunk(pb::SbomChunk {
                offset,
                data: piece.to_vec(),
            })),
        });
        offset += piece.len() as u64;
    }
    messages
}

/// Sends `messages` as one `UploadSbom` call.
pub async fn upload_raw(
    collector: &impl Target,
    token: Option<&str>,
    messages: Vec<pb::UploadSbomRequest>,
) -> Result<pb::UploadSbomResponse, Status> {
    let mut client = ingest_client(collector).await;
    let response = client
        .upload_sbom(with_token(tokio_stream::iter(messages), token))
        .await?;
    Ok(response.into_inner())
}

/// The stored document of `digest` (the fleet copy), checked against its info.
pub async fn get_sbom(
    collector: &impl Target,
    digest: &str,
) -> Result<(pb::SbomInfo, Vec<u8>), Status> {
    get_sbom_of(collector, digest, "").await
}

/// The document of `digest` that `cluster` uses, checked against its info.
pub async fn get_sbom_of(
    collector: &impl Target,
    digest: &str,
    cluster: &str,
) -> Result<(pb::SbomInfo, Vec<u8>), Status> {
    use pb::get_sbom_response::Part;
    let mut stream = query_client(collector)
        .await
        .get_sbom(pb::GetSbomRequest {
            manifest_digest: digest.into(),
            cluster: cluster.into(),
        })
        .await?
        .into_inner();
    let Some(pb::GetSbomResponse {
        part: Some(Part::Info(info)),
    }) = stream.message().await?
    else {
        panic!("GetSbom did not start with the info");
    };
    let mut document = Vec::new();
    while let Some(message) = stream.message().await? {
        let Some(Part::Chunk(chunk)) = message.part else {
            panic!("GetSbom sent a second info");
        };
        assert_eq!(chunk.offset, document.len() as u64);
        document.extend(chunk.data);
    }
    assert_eq!(info.size, document.len() as u64);
    assert_eq!(info.sha256, sha256(&document));
    Ok((info, document))
}

/// Every event after `after` that the collector has now (reads until the feed is quiet).
pub async fn events_after(collector: &impl Target, after: u64) -> Vec<pb::Event> {
    let mut stream = query_client(collector)
        .await
        .watch(pb::WatchRequest {
            after_sequence: after,
            from_now: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Ok(batch) = tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
        match batch.unwrap() {
            Some(batch) => events.extend(batch.events),
            None => break,
        }
    }
    events
}

/// All images matching `request` (every page).
pub async fn list_images(
    collector: &impl Target,
    request: pb::ListImagesRequest,
) -> Vec<pb::ImageSummary> {
    let mut client = query_client(collector).await;
    let mut images = Vec::new();
    let mut request = request;
    loop {
        let page = client
            .list_images(request.clone())
            .await
            .unwrap()
            .into_inner();
        images.extend(page.images);
        if page.next_page_token.is_empty() {
            return images;
        }
        request.page_token = page.next_page_token;
    }
}

/// A collector process whose JSON log is read to learn its address, and kept.
pub struct Process {
    child: Child,
    url: String,
    pub start_line: serde_json::Value,
    log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Target for Process {
    fn url(&self) -> String {
        self.url.clone()
    }
}

impl Process {
    pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = Command::new(BINARY)
            .args(["--log-format", "json"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Owned by a Process at once, so that a failed start still kills and reaps it.
        let mut process = Self {
            child,
            url: String::new(),
            start_line: serde_json::Value::Null,
            log: Arc::default(),
        };
        let stderr = process.child.stderr.take().unwrap();
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        loop {
            let line = received
                .recv_timeout(PATIENCE)
                .expect("the collector did not start");
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            process.log.lock().unwrap().push(entry.clone());
            if entry["fields"]["message"] == "nodebom collector listening" {
                let addr = entry["fields"]["addr"].as_str().unwrap().to_owned();
                // Keep reading the log so the collector never blocks on a full pipe.
                let log = Arc::clone(&process.log);
                std::thread::spawn(move || {
                    while let Ok(line) = received.recv() {
                        if let Ok(entry) = serde_json::from_str(&line) {
                            log.lock().unwrap().push(entry);
                        }
                    }
                });
                process.url = format!("http://{addr}");
                process.start_line = entry;
                return process;
            }
        }
    }

    /// The JSON log lines so far.
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.log.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaps it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
