//! Inventory ingest benchmark (not a timed test): thousands of simulated nodes report to
//! a real collector process over gRPC on loopback, and it prints throughput and the
//! collector's memory.
//!
//! ```text
//! cargo bench -p nodebom-collector --bench ingest
//! NODEBOM_BENCH_NODES=500 cargo bench -p nodebom-collector --bench ingest
//! ```
//!
//! Knobs (environment): `NODEBOM_BENCH_NODES` (2000), `NODEBOM_BENCH_IMAGES_PER_NODE`
//! (100), `NODEBOM_BENCH_DISTINCT_IMAGES` (1000, the fleet's distinct digests),
//! `NODEBOM_BENCH_WORKLOADS_PER_NODE` (30), `NODEBOM_BENCH_DELTA_ROUNDS` (5),
//! `NODEBOM_BENCH_RECORDS_PER_PART` (50 images or workloads per `InventoryPart`, about
//! 50 KiB: what the protocol recommends), `NODEBOM_BENCH_IDLE_SECONDS` (60, how long the
//! collector's memory is watched once every session closed).
//!
//! Phases: every node connects and reports its full inventory at once (a collector
//! restart), then every node sends deltas, then every node reconnects with an unchanged
//! inventory, then every session closes and the idle collector's RSS is sampled every
//! 10 s. The simulated agents run in this process and share the machine's cores with
//! the collector, so the figures are a lower bound.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodebom_proto::v1 as pb;
use pb::ingest_client::IngestClient;
use pb::query_client::QueryClient;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

const CLUSTERS: usize = 10;
/// Simulated nodes per HTTP/2 connection.
const NODES_PER_CONNECTION: usize = 100;
/// Nodes whose Hello and full inventory are in flight at once.
const IN_FLIGHT: usize = 256;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    nodes: usize,
    images_per_node: usize,
    distinct_images: usize,
    workloads_per_node: usize,
    delta_rounds: usize,
    records_per_part: usize,
    idle_seconds: u64,
}

fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn fleet_image(index: usize) -> pb::Image {
    pb::Image {
        manifest_digest: digest(&format!("manifest {index}")),
        index_digest: digest(&format!("index {index}")),
        config_digest: digest(&format!("config {index}")),
        names: vec![
            format!(
                "registry.example.com/team-{}/app-{index}:1.{}",
                index % 40,
                index % 7
            ),
            format!(
                "registry.example.com/team-{}/app-{index}@{}",
                index % 40,
                digest(&format!("manifest {index}"))
            ),
        ],
        platform: "linux/amd64".into(),
        diff_ids: (0..8)
            .map(|layer| digest(&format!("layer {layer} of {index}")))
            .collect(),
    }
}

/// The images of node `node`: `images_per_node` distinct fleet images, chosen with a
/// stride coprime to the fleet size so that nodes overlap like real clusters do.
fn node_images(settings: &Settings, fleet: &[pb::Image], node: usize) -> Vec<pb::Image> {
    let start = node * 37 % settings.distinct_images;
    let mut stride = 7;
    while gcd(stride, settings.distinct_images) != 1 {
        stride += 2;
    }
    (0..settings.images_per_node)
        .map(|k| fleet[(start + k * stride) % settings.distinct_images].clone())
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn workload(node: usize, index: usize, image: &pb::Image) -> pb::Workload {
    pb::Workload {
        namespace: format!("ns-{}", index % 12),
        pod: format!("pod-{node}-{index}"),
        pod_uid: format!("uid-{node}-{index}"),
        container: "main".into(),
        manifest_digest: image.manifest_digest.clone(),
        image: image.names[0].clone(),
        container_id: hex::encode(Sha256::digest(format!("{node}/{index}").as_bytes())),
    }
}

struct Node {
    cluster: String,
    name: String,
    images: Vec<pb::Image>,
    workloads: Vec<pb::Workload>,
}

struct Session {
    outbound: mpsc::Sender<pb::SyncRequest>,
    inbound: Streaming<pb::SyncResponse>,
    sequence: u64,
}

impl Session {
    async fn open(channel: Channel, node: &Node) -> Session {
        let (outbound, requests) = mpsc::channel(8);
        outbound
            .send(pb::SyncRequest {
                sequence: 1,
                message: Some(pb::sync_request::Message::Hello(pb::Hello {
                    cluster: node.cluster.clone(),
                    node: node.name.clone(),
                    agent_version: "bench".into(),
                })),
            })
            .await
            .expect("queue hello");
        let mut request = tonic::Request::new(ReceiverStream::new(requests));
        let token = format!("Bearer token-{}", node.cluster);
        request
            .metadata_mut()
            .insert("authorization", token.parse().expect("ascii token"));
        let mut inbound = IngestClient::new(channel)
            .sync(request)
            .await
            .expect("open Sync")
            .into_inner();
        match inbound
            .message()
            .await
            .expect("welcome")
            .and_then(|r| r.message)
        {
            Some(pb::sync_response::Message::Welcome(_)) => {}
            other => panic!("expected Welcome, got {other:?}"),
        }
        Session {
            outbound,
            inbound,
            sequence: 1,
        }
    }

    /// Sends `message` and waits for its acknowledgement, skipping SbomRequests.
    async fn call(&mut self, message: pb::sync_request::Message) -> pb::InventoryAck {
        self.sequence += 1;
        self.outbound
            .send(pb::SyncRequest {
                sequence: self.sequence,
                message: Some(message),
            })
            .await
            .expect("send");
        loop {
            match self
                .inbound
                .message()
                .await
                .expect("response")
                .and_then(|r| r.message)
            {
                Some(pb::sync_response::Message::InventoryAck(ack))
                    if ack.sequence == self.sequence =>
                {
                    return ack
                }
                Some(pb::sync_response::Message::SbomRequest(_)) => continue,
                other => panic!("expected an ack of {}, got {other:?}", self.sequence),
            }
        }
    }

    /// Reports the node's full inventory in parts of at most `per_part` records.
    async fn full(&mut self, node: &Node, per_part: usize) -> pb::InventoryAck {
        let per_part = per_part.max(1);
        let mut parts: Vec<pb::InventoryPart> = node
            .images
            .chunks(per_part)
            .map(|images| pb::InventoryPart {
                images: images.to_vec(),
                ..Default::default()
            })
            .collect();
        parts.extend(
            node.workloads
                .chunks(per_part)
                .map(|workloads| pb::InventoryPart {
                    workloads: workloads.to_vec(),
                    ..Default::default()
                }),
        );
        if parts.is_empty() {
            parts.push(pb::InventoryPart::default());
        }
        if let Some(last) = parts.last_mut() {
            last.last = true;
        }
        let mut ack = pb::InventoryAck::default();
        for part in parts {
            ack = self.call(pb::sync_request::Message::Inventory(part)).await;
        }
        ack
    }
}

struct Collector {
    child: Child,
    url: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_collector(dir: &Path) -> Collector {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nodebom-collector"));
    command
        .args([
            "--log-format",
            "json",
            "--log",
            "warn,nodebom_collector::server=info",
        ])
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--reoffer-interval",
            "10m",
        ])
        .arg("--store")
        .arg(format!("sqlite://{}", dir.join("nodebom.db").display()));
    for cluster in 0..CLUSTERS {
        command
            .arg("--cluster-token")
            .arg(format!("cluster-{cluster}=token-cluster-{cluster}"));
    }
    let child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the collector");
    // Owned at once, so that a failed start still kills and reaps it.
    let mut collector = Collector {
        child,
        url: String::new(),
    };
    let stderr = collector.child.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    loop {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .expect("collector start line");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["fields"]["message"] == "nodebom collector listening" {
            collector.url = format!("http://{}", entry["fields"]["addr"].as_str().expect("addr"));
            std::thread::spawn(move || {
                while let Ok(line) = received.recv() {
                    eprintln!("collector: {line}");
                }
            });
            return collector;
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) that `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    // Linux reports clock ticks of 1/100 s (USER_HZ).
    fields.iter().sum::<f64>() / 100.0
}

fn size_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// When a phase started, in wall time and collector CPU time.
struct Phase {
    started: Instant,
    cpu: f64,
}

impl Phase {
    fn start(pid: u32) -> Self {
        Self {
            started: Instant::now(),
            cpu: cpu_seconds(pid),
        }
    }

    /// Prints throughput, the collector's CPU per item, ack latency and memory.
    fn report(self, name: &str, count: usize, unit: &str, mut latencies: Vec<Duration>, pid: u32) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid) - self.cpu;
        latencies.sort();
        let (rss, peak) = memory(pid);
        println!(
            "{name:<22} {count:>6} {unit:<6} {elapsed:>6.2} s = {:>6.0}/s | collector CPU {cpu:>5.1} s = {:>5.2} ms each | \
             ack p50 {:>5.0} ms, p99 {:>5.0} ms | RSS {rss:.0} MiB (peak {peak:.0})",
            count as f64 / elapsed,
            cpu * 1000.0 / count.max(1) as f64,
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        );
    }
}

/// Opens a session for every node and reports its full inventory, `IN_FLIGHT` at a time.
async fn connect_all(
    channels: &[Channel],
    nodes: &Arc<Vec<Node>>,
    per_part: usize,
) -> (Vec<Session>, Vec<Duration>, usize) {
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(nodes.len());
    for index in 0..nodes.len() {
        let channel = channels[index / NODES_PER_CONNECTION].clone();
        let (nodes, gate) = (Arc::clone(nodes), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            let _slot = gate.acquire().await.expect("gate");
            let node = &nodes[index];
            let started = Instant::now();
            let mut session = Session::open(channel, node).await;
            let ack = session.full(node, per_part).await;
            (session, started.elapsed(), ack.sbom_wanted.len())
        }));
    }
    let mut sessions = Vec::with_capacity(tasks.len());
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut wanted = 0;
    for task in tasks {
        let (session, latency, asked) = task.await.expect("node task");
        sessions.push(session);
        latencies.push(latency);
        wanted += asked;
    }
    (sessions, latencies, wanted)
}

async fn run(settings: Settings) {
    let dir = tempfile::tempdir().expect("temp dir");
    let collector = start_collector(dir.path());
    let pid = collector.child.id();
    let fleet: Vec<pb::Image> = (0..settings.distinct_images).map(fleet_image).collect();
    let nodes: Arc<Vec<Node>> = Arc::new(
        (0..settings.nodes)
            .map(|n| {
                let images = node_images(&settings, &fleet, n);
                let workloads = images
                    .iter()
                    .take(settings.workloads_per_node)
                    .enumerate()
                    .map(|(i, image)| workload(n, i, image))
                    .collect();
                Node {
                    cluster: format!("cluster-{}", n % CLUSTERS),
                    name: format!("node-{n:05}"),
                    images,
                    workloads,
                }
            })
            .collect(),
    );
    let mut channels = Vec::new();
    for _ in 0..settings.nodes.div_ceil(NODES_PER_CONNECTION) {
        channels.push(
            Channel::from_shared(collector.url.clone())
                .expect("url")
                .connect()
                .await
                .expect("connect"),
        );
    }
    println!(
        "{} nodes x {} images ({} distinct in the fleet), {} workloads per node, {} clusters, {} HTTP/2 connections, \
         {} records per inventory part",
        settings.nodes,
        settings.images_per_node,
        settings.distinct_images,
        settings.workloads_per_node,
        CLUSTERS,
        channels.len(),
        settings.records_per_part
    );
    let (rss, _) = memory(pid);
    println!("collector RSS when idle: {rss:.0} MiB");

    let phase = Phase::start(pid);
    let (mut sessions, latencies, wanted) =
        connect_all(&channels, &nodes, settings.records_per_part).await;
    let records = settings.nodes * settings.images_per_node;
    let records_per_second = records as f64 / phase.started.elapsed().as_secs_f64();
    phase.report(
        "full inventory storm",
        settings.nodes,
        "nodes",
        latencies,
        pid,
    );
    println!(
        "{:<22} {records:>6} image records = {records_per_second:.0}/s; SBOM builds asked: {wanted} for {} distinct digests",
        "",
        settings.distinct_images
    );

    let phase = Phase::start(pid);
    let mut latencies = Vec::new();
    for round in 0..settings.delta_rounds {
        let mut tasks = Vec::with_capacity(sessions.len());
        for (index, mut session) in sessions.into_iter().enumerate() {
            let nodes = Arc::clone(&nodes);
            let fleet_image = fleet_image((index + round * 11) % settings.distinct_images);
            tasks.push(tokio::spawn(async move {
                let node = &nodes[index];
                let stopping: Vec<pb::WorkloadKey> = node
                    .workloads
                    .get(round % node.workloads.len().max(1))
                    .map(|stopping| pb::WorkloadKey {
                        pod_uid: stopping.pod_uid.clone(),
                        container: stopping.container.clone(),
                    })
                    .into_iter()
                    .collect();
                let delta = pb::InventoryDelta {
                    images_added: vec![fleet_image.clone()],
                    images_removed: vec![],
                    workloads_started: vec![workload(index, 1000 + round, &fleet_image)],
                    workloads_stopped: stopping,
                };
                let sent = Instant::now();
                session.call(pb::sync_request::Message::Delta(delta)).await;
                (session, sent.elapsed())
            }));
        }
        sessions = Vec::with_capacity(tasks.len());
        for task in tasks {
            let (session, latency) = task.await.expect("delta task");
            sessions.push(session);
            latencies.push(latency);
        }
    }
    phase.report(
        "deltas",
        settings.nodes * settings.delta_rounds,
        "deltas",
        latencies,
        pid,
    );

    let phase = Phase::start(pid);
    let mut query =
        QueryClient::new(channels[0].clone()).max_decoding_message_size(256 * 1024 * 1024);
    let mut listed = 0;
    let mut placements = 0;
    let mut page_token = String::new();
    loop {
        let page = query
            .list_images(pb::ListImagesRequest {
                running_only: true,
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list images")
            .into_inner();
        listed += page.images.len();
        placements += page
            .images
            .iter()
            .map(|i| i.nodes.len() + i.workloads.len())
            .sum::<usize>();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    println!("ListImages --running, every page: {placements} node and workload placements");
    phase.report("ListImages", listed, "images", Vec::new(), pid);

    drop(sessions);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let phase = Phase::start(pid);
    let (sessions, latencies, _) = connect_all(&channels, &nodes, settings.records_per_part).await;
    phase.report(
        "reconnect, unchanged",
        settings.nodes,
        "nodes",
        latencies,
        pid,
    );
    drop(sessions);

    // Every session is closed: what the collector gives back while idle.
    let (rss, peak) = memory(pid);
    println!("all sessions closed: RSS {rss:.0} MiB (peak {peak:.0})");
    for second in (10..=settings.idle_seconds).step_by(10) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (rss, _) = memory(pid);
        println!("idle {second:>3} s: RSS {rss:.0} MiB");
    }

    let db = dir.path().join("nodebom.db");
    println!(
        "database: {:.1} MiB (+ WAL {:.1} MiB)",
        size_mib(&db),
        size_mib(&dir.path().join("nodebom.db-wal"))
    );
    drop(collector);
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes its settings from the environment.
    let settings = Settings {
        nodes: knob("NODEBOM_BENCH_NODES", 2000),
        images_per_node: knob("NODEBOM_BENCH_IMAGES_PER_NODE", 100),
        distinct_images: knob("NODEBOM_BENCH_DISTINCT_IMAGES", 1000).max(1),
        workloads_per_node: knob("NODEBOM_BENCH_WORKLOADS_PER_NODE", 30),
        delta_rounds: knob("NODEBOM_BENCH_DELTA_ROUNDS", 5),
        records_per_part: knob("NODEBOM_BENCH_RECORDS_PER_PART", 50),
        idle_seconds: knob("NODEBOM_BENCH_IDLE_SECONDS", 60) as u64,
    };
    assert!(
        settings.images_per_node <= settings.distinct_images,
        "a node cannot have more distinct images than the fleet"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}
