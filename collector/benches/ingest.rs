//! Inventory ingest benchmark (not a timed test): thousands of simulated nodes report to
//! real collector processes over gRPC on loopback, and it prints throughput,
//! acknowledgement latency and the collectors' memory for each store setup, then all
//! setups side by side.
//!
//! ```text
//! cargo bench -p nodebom-collector --bench ingest
//! NODEBOM_BENCH_STORES=postgres-3 NODEBOM_BENCH_NODES=500 cargo bench -p nodebom-collector --bench ingest
//! ```
//!
//! Setups (`NODEBOM_BENCH_STORES`, a comma-separated list, default
//! `sqlite,postgres,postgres-3`): `sqlite` is one collector on a temporary SQLite file;
//! `postgres` one collector and `postgres-N` N collectors sharing one database of a
//! private PostgreSQL cluster (`nodebom_e2e::TestPostgres`, a new one per setup) that
//! runs durable (`fsync`, `full_page_writes` and `synchronous_commit` on), as SQLite's
//! `synchronous = FULL` is. With several replicas the nodes are spread over them
//! round-robin, as agents behind a Service would be.
//!
//! Workload knobs (environment): `NODEBOM_BENCH_NODES` (2000),
//! `NODEBOM_BENCH_IMAGES_PER_NODE` (100), `NODEBOM_BENCH_DISTINCT_IMAGES` (1000, the
//! fleet's distinct digests), `NODEBOM_BENCH_WORKLOADS_PER_NODE` (30),
//! `NODEBOM_BENCH_DELTA_ROUNDS` (5), `NODEBOM_BENCH_RECORDS_PER_PART` (50 images or
//! workloads per `InventoryPart`, about 50 KiB: what the protocol recommends),
//! `NODEBOM_BENCH_IDLE_SECONDS` (60, how long the collectors' memory is watched once
//! every session closed), `NODEBOM_BENCH_COLLECTOR` (the collector binary, by default
//! the one built with the benchmark: to compare two builds on the same run of agents),
//! `NODEBOM_BENCH_POSTGRES_URL` (an empty database that the PostgreSQL setup uses
//! instead of a private cluster, e.g. to measure a production-like server; then name
//! one PostgreSQL setup only, and the database server's CPU is not measured).
//!
//! Phases, per setup: every node connects and reports its full inventory at once (a
//! fleet-wide reconnect after a collector restart), then every node sends deltas, then
//! ListImages reads every running image, then every node reconnects with an unchanged
//! inventory (to the next replica, as a reconnect through a Service may land anywhere),
//! then every session closes and the idle collectors' RSS is sampled every 10 s. The
//! simulated agents run in this process and share the machine's cores with the
//! collectors and the database server, so the figures are a lower bound.

mod fleet;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::{
    fleet_image, knob, memory, node_images, start_collector, workload, Collector, CLUSTERS,
};
use nodebom_e2e::{Durability, TestPostgres};
use nodebom_proto::v1 as pb;
use pb::ingest_client::IngestClient;
use pb::query_client::QueryClient;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// Simulated nodes per HTTP/2 connection.
const NODES_PER_CONNECTION: usize = 100;
/// Nodes whose Hello and full inventory are in flight at once.
const IN_FLIGHT: usize = 256;

const MIB: f64 = 1024.0 * 1024.0;

struct Settings {
    nodes: usize,
    images_per_node: usize,
    distinct_images: usize,
    workloads_per_node: usize,
    delta_rounds: usize,
    records_per_part: usize,
    idle_seconds: u64,
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
                    ..Default::default()
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

/// Where the collectors keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// One collector on an SQLite file.
    Sqlite,
    /// This many collectors sharing one PostgreSQL database.
    Postgres { replicas: usize },
}

impl Setup {
    /// `sqlite`, `postgres` or `postgres-N`.
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" => Some(Self::Postgres { replicas: 1 }),
            other => other
                .strip_prefix("postgres-")
                .and_then(|n| n.parse().ok())
                .filter(|replicas| *replicas > 0)
                .map(|replicas| Self::Postgres { replicas }),
        }
    }

    fn name(self) -> String {
        match self {
            Self::Sqlite => "sqlite".into(),
            Self::Postgres { replicas: 1 } => "postgres".into(),
            Self::Postgres { replicas } => format!("postgres-{replicas}"),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Sqlite => "SQLite, 1 collector".into(),
            Self::Postgres { replicas: 1 } => "PostgreSQL, 1 collector".into(),
            Self::Postgres { replicas } => format!("PostgreSQL, {replicas} collectors"),
        }
    }

    fn replicas(self) -> usize {
        match self {
            Self::Sqlite => 1,
            Self::Postgres { replicas } => replicas,
        }
    }
}

/// The database of one setup; removed when dropped.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres {
        /// `None` with `NODEBOM_BENCH_POSTGRES_URL`.
        server: Option<TestPostgres>,
        url: String,
    },
}

impl Database {
    async fn start(setup: Setup) -> Self {
        match setup {
            Setup::Sqlite => Self::Sqlite(tempfile::tempdir().expect("temp dir")),
            Setup::Postgres { .. } => {
                if let Ok(url) = std::env::var("NODEBOM_BENCH_POSTGRES_URL") {
                    return Self::Postgres { server: None, url };
                }
                let server = TestPostgres::start_with(Durability::Full)
                    .await
                    .expect("start PostgreSQL (the Debian package `postgresql`)");
                let url = server.create_database().await.expect("create a database");
                Self::Postgres {
                    server: Some(server),
                    url,
                }
            }
        }
    }

    /// The collector's `--store`.
    fn store(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("nodebom.db").display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// The PostgreSQL server's main process, whose children are its backends.
    fn server_pid(&self) -> Option<u32> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres { server, .. } => {
                let directory = server.as_ref()?.directory();
                std::fs::read_to_string(directory.join("data/postmaster.pid"))
                    .ok()
                    .and_then(|text| text.lines().next()?.trim().parse().ok())
            }
        }
    }

    /// Size on disk, in MiB: the SQLite file and its WAL, or the PostgreSQL database
    /// (without the WAL, which the cluster shares).
    async fn size_mib(&self) -> f64 {
        match self {
            Self::Sqlite(dir) => {
                let size = |name: &str| {
                    std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len()) as f64
                };
                (size("nodebom.db") + size("nodebom.db-wal")) / MIB
            }
            Self::Postgres { url, .. } => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to PostgreSQL");
                tokio::spawn(connection);
                let bytes: i64 = client
                    .query_one("SELECT pg_database_size(current_database())", &[])
                    .await
                    .expect("database size")
                    .get(0);
                bytes as f64 / MIB
            }
        }
    }
}

/// The fields of `/proc/PID/stat` after the parenthesised command name (the first is
/// the state, the second the parent's pid).
fn stat_fields(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_name.split_whitespace().map(str::to_owned).collect()
}

/// Clock ticks in `fields` from index `from`, `count` of them, in seconds (Linux
/// reports ticks of 1/100 s, USER_HZ).
fn ticks(fields: &[String], from: usize, count: usize) -> f64 {
    fields
        .iter()
        .skip(from)
        .take(count)
        .filter_map(|field| field.parse::<f64>().ok())
        .sum::<f64>()
        / 100.0
}

/// CPU seconds (user + system) that `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    // utime and stime are the 12th and 13th fields after the name.
    ticks(&stat_fields(&pid.to_string()), 11, 2)
}

/// CPU seconds of the PostgreSQL server: its main process, the children it reaped
/// (backends of closed connections) and the children still running.
fn server_cpu_seconds(postmaster: u32) -> f64 {
    let own = ticks(&stat_fields(&postmaster.to_string()), 11, 4);
    let parent = postmaster.to_string();
    let children: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .map(|pid| stat_fields(&pid))
        .filter(|fields| fields.get(1) == Some(&parent))
        .map(|fields| ticks(&fields, 11, 2))
        .sum();
    own + children
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The processes a phase is measured on.
struct Processes {
    collectors: Vec<u32>,
    database: Option<u32>,
}

impl Processes {
    fn collector_cpu(&self) -> f64 {
        self.collectors.iter().copied().map(cpu_seconds).sum()
    }

    fn database_cpu(&self) -> f64 {
        self.database.map_or(0.0, server_cpu_seconds)
    }
}

/// When a phase started, in wall time and CPU time.
struct Phase {
    started: Instant,
    collector_cpu: f64,
    database_cpu: f64,
    own_cpu: f64,
}

/// What a phase measured.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    count: usize,
    seconds: f64,
    /// CPU per item, in ms: the collectors', the database server's, the simulated agents'.
    collector_ms: f64,
    database_ms: f64,
    agents_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds.max(f64::EPSILON)
    }
}

impl Phase {
    fn start(processes: &Processes) -> Self {
        Self {
            started: Instant::now(),
            collector_cpu: processes.collector_cpu(),
            database_cpu: processes.database_cpu(),
            own_cpu: cpu_seconds(std::process::id()),
        }
    }

    /// Prints throughput, CPU per item, ack latency and the collectors' memory.
    fn report(
        self,
        processes: &Processes,
        name: &str,
        count: usize,
        unit: &str,
        mut latencies: Vec<Duration>,
    ) -> Measured {
        let seconds = self.started.elapsed().as_secs_f64();
        let per_item = |cpu: f64| cpu * 1000.0 / count.max(1) as f64;
        latencies.sort();
        let measured = Measured {
            count,
            seconds,
            collector_ms: per_item(processes.collector_cpu() - self.collector_cpu),
            database_ms: per_item(processes.database_cpu() - self.database_cpu),
            agents_ms: per_item(cpu_seconds(std::process::id()) - self.own_cpu),
            p50_ms: millis(percentile(&latencies, 0.5)),
            p99_ms: millis(percentile(&latencies, 0.99)),
        };
        let rss: Vec<String> = processes
            .collectors
            .iter()
            .map(|pid| {
                let (rss, peak) = memory(*pid);
                format!("{rss:.0} (peak {peak:.0})")
            })
            .collect();
        let mut cpu = format!("collector {:.2}", measured.collector_ms);
        if processes.database.is_some() {
            let _ = write!(cpu, ", database {:.2}", measured.database_ms);
        }
        println!(
            "{name:<22} {count:>6} {unit:<6} {seconds:>6.2} s = {:>6.0}/s | CPU ms each: {cpu}, agents {:.2} | \
             ack p50 {:>5.0} ms, p99 {:>5.0} ms | RSS MiB {}",
            measured.rate(),
            measured.agents_ms,
            measured.p50_ms,
            measured.p99_ms,
            rss.join(", "),
        );
        measured
    }
}

/// HTTP/2 connections to every replica, enough for all nodes to reach any replica.
struct Connections {
    /// Per replica.
    channels: Vec<Vec<Channel>>,
}

impl Connections {
    async fn open(collectors: &[Collector], nodes: usize) -> Self {
        let replicas = collectors.len();
        let per_replica = nodes
            .div_ceil(replicas)
            .div_ceil(NODES_PER_CONNECTION)
            .max(1);
        let mut channels = Vec::with_capacity(replicas);
        for collector in collectors {
            let mut own = Vec::with_capacity(per_replica);
            for _ in 0..per_replica {
                own.push(
                    Channel::from_shared(collector.url.clone())
                        .expect("url")
                        .connect()
                        .await
                        .expect("connect"),
                );
            }
            channels.push(own);
        }
        Self { channels }
    }

    /// The connection of node `node` when the fleet is spread round-robin over the
    /// replicas starting at replica `shift`.
    fn of(&self, node: usize, shift: usize) -> Channel {
        let replicas = self.channels.len();
        let replica = &self.channels[(node + shift) % replicas];
        replica[(node / replicas / NODES_PER_CONNECTION).min(replica.len() - 1)].clone()
    }

    fn count(&self) -> usize {
        self.channels.iter().map(Vec::len).sum()
    }
}

/// Opens a session for every node and reports its full inventory, `IN_FLIGHT` at a time.
async fn connect_all(
    connections: &Connections,
    shift: usize,
    nodes: &Arc<Vec<Node>>,
    per_part: usize,
) -> (Vec<Session>, Vec<Duration>, usize) {
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(nodes.len());
    for index in 0..nodes.len() {
        let channel = connections.of(index, shift);
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

/// Every node sends `rounds` deltas (one image added, one workload started, one
/// stopped), all nodes at once per round.
async fn send_deltas(
    settings: &Settings,
    nodes: &Arc<Vec<Node>>,
    mut sessions: Vec<Session>,
) -> (Vec<Session>, Vec<Duration>) {
    let mut latencies = Vec::new();
    for round in 0..settings.delta_rounds {
        let mut tasks = Vec::with_capacity(sessions.len());
        for (index, mut session) in sessions.into_iter().enumerate() {
            let nodes = Arc::clone(nodes);
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
    (sessions, latencies)
}

/// Reads every page of `ListImages --running`; the images and placements listed.
async fn list_running(channel: Channel) -> (usize, usize) {
    let mut query = QueryClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
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
            return (listed, placements);
        }
        page_token = page.next_page_token;
    }
}

/// What one setup measured, for the side-by-side table.
struct Summary {
    setup: Setup,
    full: Measured,
    deltas: Measured,
    list: Measured,
    reconnect: Measured,
    /// Peak RSS of each replica, in MiB.
    peaks: Vec<f64>,
    /// RSS of each replica after the idle time, in MiB.
    idle: Vec<f64>,
    database_mib: f64,
}

async fn run_setup(settings: &Settings, nodes: &Arc<Vec<Node>>, setup: Setup) -> Summary {
    println!("\n== {} ==", setup.describe());
    let database = Database::start(setup).await;
    let store = database.store();
    let collectors: Vec<Collector> = (0..setup.replicas())
        .map(|_| start_collector(&store, &[]))
        .collect();
    let processes = Processes {
        collectors: collectors.iter().map(Collector::pid).collect(),
        database: database.server_pid(),
    };
    let connections = Connections::open(&collectors, settings.nodes).await;
    println!(
        "{} HTTP/2 connections; collector RSS when idle: {} MiB",
        connections.count(),
        processes
            .collectors
            .iter()
            .map(|pid| format!("{:.0}", memory(*pid).0))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let phase = Phase::start(&processes);
    let (sessions, latencies, wanted) =
        connect_all(&connections, 0, nodes, settings.records_per_part).await;
    let full = phase.report(
        &processes,
        "full inventory storm",
        settings.nodes,
        "nodes",
        latencies,
    );
    let records = settings.nodes * settings.images_per_node;
    println!(
        "{:<22} {records:>6} image records = {:.0}/s; SBOM builds asked: {wanted} for {} distinct digests",
        "",
        records as f64 / full.seconds,
        settings.distinct_images
    );

    let phase = Phase::start(&processes);
    let (sessions, latencies) = send_deltas(settings, nodes, sessions).await;
    let deltas = phase.report(
        &processes,
        "deltas",
        settings.nodes * settings.delta_rounds,
        "deltas",
        latencies,
    );

    let phase = Phase::start(&processes);
    let (listed, placements) = list_running(connections.of(0, 0)).await;
    println!("ListImages --running, every page: {placements} node and workload placements");
    let list = phase.report(&processes, "ListImages", listed, "images", Vec::new());

    drop(sessions);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let phase = Phase::start(&processes);
    let (sessions, latencies, _) =
        connect_all(&connections, 1, nodes, settings.records_per_part).await;
    let reconnect = phase.report(
        &processes,
        "reconnect, unchanged",
        settings.nodes,
        "nodes",
        latencies,
    );
    drop(sessions);

    // Every session is closed: what the collectors give back while idle.
    let rss = |pids: &[u32]| -> Vec<f64> { pids.iter().map(|pid| memory(*pid).0).collect() };
    let peaks: Vec<f64> = processes
        .collectors
        .iter()
        .map(|pid| memory(*pid).1)
        .collect();
    println!(
        "all sessions closed: RSS MiB {}",
        format_list(&rss(&processes.collectors))
    );
    let mut idle = rss(&processes.collectors);
    for second in (10..=settings.idle_seconds).step_by(10) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        idle = rss(&processes.collectors);
        println!("idle {second:>3} s: RSS MiB {}", format_list(&idle));
    }
    let database_mib = database.size_mib().await;
    println!("database: {database_mib:.1} MiB");
    drop(connections);
    drop(collectors);
    Summary {
        setup,
        full,
        deltas,
        list,
        reconnect,
        peaks,
        idle,
        database_mib,
    }
}

fn format_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|value| format!("{value:.0}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A row of the side-by-side table: its name, and its cell for a setup.
type Row = (&'static str, fn(&Summary) -> String);

/// The setups side by side, as a Markdown table.
fn print_table(settings: &Settings, summaries: &[Summary]) {
    let rows: &[Row] = &[
        ("full reports (all nodes at once)", |s| {
            format!("**{:.0} nodes/s** ({:.1} s)", s.full.rate(), s.full.seconds)
        }),
        ("full report ack p50 / p99", |s| {
            format!("{:.0} / {:.0} ms", s.full.p50_ms, s.full.p99_ms)
        }),
        ("deltas", |s| {
            format!(
                "**{:.0} deltas/s** ({:.1} s)",
                s.deltas.rate(),
                s.deltas.seconds
            )
        }),
        ("delta ack p50 / p99", |s| {
            format!("{:.0} / {:.0} ms", s.deltas.p50_ms, s.deltas.p99_ms)
        }),
        ("reconnect, unchanged inventories", |s| {
            format!("{:.0} nodes/s", s.reconnect.rate())
        }),
        ("ListImages, every running image", |s| {
            format!("{:.1} s", s.list.seconds)
        }),
        ("CPU per full report: collectors / database", |s| {
            format!("{:.1} / {:.1} ms", s.full.collector_ms, s.full.database_ms)
        }),
        ("CPU per delta: collectors / database", |s| {
            format!(
                "{:.2} / {:.2} ms",
                s.deltas.collector_ms, s.deltas.database_ms
            )
        }),
        ("peak RSS per collector", |s| {
            format!("{} MiB", format_list(&s.peaks))
        }),
        ("RSS per collector, idle", |s| {
            format!("{} MiB", format_list(&s.idle))
        }),
        ("database size", |s| format!("{:.0} MiB", s.database_mib)),
    ];
    println!(
        "\n{} nodes x {} images, {} deltas per node, {} workloads per node:\n",
        settings.nodes,
        settings.images_per_node,
        settings.delta_rounds,
        settings.workloads_per_node
    );
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for summary in summaries {
        let _ = write!(header, " {} |", summary.setup.describe());
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for (name, cell) in rows {
        let mut line = format!("| {name} |");
        for summary in summaries {
            let _ = write!(line, " {} |", cell(summary));
        }
        println!("{line}");
    }
}

async fn run(settings: Settings, setups: Vec<Setup>) {
    let fleet: Vec<pb::Image> = (0..settings.distinct_images).map(fleet_image).collect();
    let nodes: Arc<Vec<Node>> = Arc::new(
        (0..settings.nodes)
            .map(|n| {
                let images = node_images(&fleet, settings.images_per_node, n);
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
    println!(
        "{} nodes x {} images ({} distinct in the fleet), {} workloads per node, {} clusters, \
         {} records per inventory part, {} nodes per HTTP/2 connection; setups: {}",
        settings.nodes,
        settings.images_per_node,
        settings.distinct_images,
        settings.workloads_per_node,
        CLUSTERS,
        settings.records_per_part,
        NODES_PER_CONNECTION,
        setups
            .iter()
            .map(|setup| setup.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut summaries = Vec::with_capacity(setups.len());
    for setup in setups {
        summaries.push(run_setup(&settings, &nodes, setup).await);
    }
    print_table(&settings, &summaries);
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
    let stores = std::env::var("NODEBOM_BENCH_STORES")
        .unwrap_or_else(|_| "sqlite,postgres,postgres-3".into());
    let setups: Vec<Setup> = stores
        .split(',')
        .filter(|name| !name.trim().is_empty())
        .map(|name| {
            Setup::parse(name).unwrap_or_else(|| {
                panic!(
                    "NODEBOM_BENCH_STORES: unknown setup {name:?} (sqlite, postgres, postgres-N)"
                )
            })
        })
        .collect();
    assert!(!setups.is_empty(), "NODEBOM_BENCH_STORES names no setup");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings, setups));
}
