//! Floods a collector binary with agents and reports its memory: `agents` Sync sessions
//! (spread over `clusters`), each reporting `images` images in parts as the agent sends
//! them, all open at once; then every session closes, and the collector's RSS is sampled
//! while it is idle.
//!
//! `cargo run --release -p nodebom-collector --example flood -- \
//!     --collector target/release/nodebom-collector [--agents 200 --images 5000]`
//! (bench/collector-flood.sh does this).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use nodebom_proto::v1 as pb;
use pb::ingest_client::IngestClient;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Parser)]
struct Args {
    /// The collector binary to start.
    #[arg(long)]
    collector: std::path::PathBuf,
    #[arg(long, default_value_t = 200)]
    agents: usize,
    #[arg(long, default_value_t = 5000)]
    images: usize,
    #[arg(long, default_value_t = 10)]
    clusters: usize,
    /// Distinct images in the fleet, which the nodes' images are drawn from.
    #[arg(long, default_value_t = 20_000)]
    fleet_images: usize,
    /// How long to watch the idle collector after the flood.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
}

/// Records per InventoryPart, as the agent sends them.
const RECORDS_PER_PART: usize = 50;

fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn image(n: usize) -> pb::Image {
    pb::Image {
        manifest_digest: digest(&format!("manifest {n}")),
        index_digest: digest(&format!("index {n}")),
        config_digest: digest(&format!("config {n}")),
        names: vec![
            format!("registry.example/team-{}/service-{n}:1.{}", n % 50, n % 7),
            format!(
                "registry.example/team-{}/service-{n}@{}",
                n % 50,
                digest(&format!("index {n}"))
            ),
        ],
        platform: "linux/amd64".into(),
        diff_ids: (0..6)
            .map(|l| digest(&format!("layer {} {l}", n % 500)))
            .collect(),
    }
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One agent's session: hello, the inventory in parts, the ack of the last part. The
/// session stays open until `close` fires.
async fn agent(
    url: String,
    cluster: usize,
    node: usize,
    images: Vec<pb::Image>,
    acked: mpsc::Sender<()>,
    mut close: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut client = IngestClient::connect(url).await?;
    let (outbound, receiver) = mpsc::channel(16);
    let mut request = tonic::Request::new(ReceiverStream::new(receiver));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer token-{cluster}").parse()?);
    let mut sequence = 0;
    let mut message = |message| {
        sequence += 1;
        pb::SyncRequest {
            sequence,
            message: Some(message),
        }
    };
    outbound
        .send(message(pb::sync_request::Message::Hello(pb::Hello {
            cluster: format!("cluster-{cluster}"),
            node: format!("node-{node}"),
            agent_version: "flood".into(),
        })))
        .await?;
    let mut inbound = client.sync(request).await?.into_inner();
    let parts: Vec<_> = images.chunks(RECORDS_PER_PART).collect();
    let mut last = 0;
    for (index, chunk) in parts.iter().enumerate() {
        let part = message(pb::sync_request::Message::Inventory(pb::InventoryPart {
            images: chunk.to_vec(),
            workloads: Vec::new(),
            last: index + 1 == parts.len(),
        }));
        last = part.sequence;
        outbound.send(part).await?;
    }
    loop {
        match inbound.message().await?.and_then(|r| r.message) {
            Some(pb::sync_response::Message::InventoryAck(ack)) if ack.sequence == last => break,
            Some(_) => continue,
            None => bail!("session closed before the ack"),
        }
    }
    acked.send(()).await?;
    let _ = close.wait_for(|closed| *closed).await;
    drop(outbound);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = Command::new(&args.collector);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--store")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("flood.db").display()
        ))
        .args(["--max-images-per-node", &args.images.max(1).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for cluster in 0..args.clusters {
        command.args([
            "--cluster-token",
            &format!("cluster-{cluster}=token-{cluster}"),
        ]);
    }
    let collector = Collector(command.spawn().context("starting the collector")?);
    let pid = collector.0.id();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while IngestClient::connect(url.clone()).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the collector did not listen within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = rss_kib(pid)?;

    let (close, closed) = tokio::sync::watch::channel(false);
    let (acked, mut acks) = mpsc::channel(args.agents.max(1));
    let flood_started = Instant::now();
    let mut agents = tokio::task::JoinSet::new();
    for node in 0..args.agents {
        let images = (0..args.images)
            .map(|i| image((node * 7919 + i * 104_729) % args.fleet_images))
            .collect();
        agents.spawn(agent(
            url.clone(),
            node % args.clusters,
            node,
            images,
            acked.clone(),
            closed.clone(),
        ));
    }
    drop(acked);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while !*closed.borrow() {
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peak
    });
    // Every session has its inventory acknowledged before any closes.
    for _ in 0..args.agents {
        if acks.recv().await.is_none() {
            break;
        }
    }
    let flood_time = flood_started.elapsed();
    close.send_replace(true);
    while let Some(result) = agents.join_next().await {
        result??;
    }
    let peak = sampler.await?.max(before);
    let at_close = rss_kib(pid)?;
    let mut samples = Vec::new();
    for second in 1..=args.idle_seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if second % 10 == 0 || second == args.idle_seconds {
            samples.push((second, rss_kib(pid)?));
        }
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "collector flood: {} agents x {} images ({} clusters, {} distinct images)",
        args.agents, args.images, args.clusters, args.fleet_images
    );
    println!("  inventories in:       {:.1} s", flood_time.as_secs_f64());
    println!("  RSS before:           {:.1} MiB", mib(before));
    println!("  RSS peak:             {:.1} MiB", mib(peak));
    println!("  RSS at close:         {:.1} MiB", mib(at_close));
    for (second, kib) in samples {
        println!("  RSS idle after {second:>3} s: {:.1} MiB", mib(kib));
    }
    drop(collector);
    Ok(())
}
