//! Web UI benchmark (not a timed test): the fleet of the ingest benchmark (2,000 nodes,
//! 100 of 1,000 distinct images each, 30 containers each) and an SBOM of 150 packages
//! for every image are written into a SQLite store; a real collector process serves the
//! UI, and the fleet page and a package search are asked for one after another. It
//! prints the answer times (p50, p99, slowest) and the collector's memory.
//!
//! ```text
//! cargo bench -p nodebom-collector --bench ui
//! ```
//!
//! Knobs (environment): `NODEBOM_BENCH_NODES` (2000), `NODEBOM_BENCH_IMAGES_PER_NODE`
//! (100), `NODEBOM_BENCH_DISTINCT_IMAGES` (1000), `NODEBOM_BENCH_WORKLOADS_PER_NODE`
//! (30), `NODEBOM_BENCH_PACKAGES_PER_IMAGE` (150), `NODEBOM_BENCH_REQUESTS` (200),
//! `NODEBOM_BENCH_COLLECTOR` (another collector binary).

mod filled;
mod fleet;

use std::time::{Duration, Instant};

use filled::{fill_inventory, Shape};
use fleet::{knob, memory, start_collector};
use nodebom_collector::clock::Timestamp;
use nodebom_collector::config::StoreUrl;
use nodebom_collector::digest::Digest;
use nodebom_collector::sbom::upload::{Assembler, UploadHeader};
use nodebom_collector::server::open_store;
use sha2::{Digest as _, Sha256};

/// An SBOM of `packages` Debian packages for the image `digest`, the fleet's packages
/// overlapping from image to image.
fn sbom(index: usize, digest: &str, packages: usize) -> Vec<u8> {
    let components: Vec<serde_json::Value> = (0..packages)
        .map(|p| {
            let name = format!("lib{}", (index * 3 + p) % 400);
            let version = format!("1.{}.{}", (index + p) % 9, p % 4);
            serde_json::json!({
                "type": "library", "bom-ref": format!("c{p}"), "name": name, "version": version,
                "purl": format!("pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "container", "bom-ref": "image",
                                   "name": "registry.example.com/app", "version": digest}},
        "components": components,
    }))
    .expect("document")
}

/// The times of `count` GETs of `path`, one after another.
async fn timed(client: &reqwest::Client, url: &str, count: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = client.get(url).send().await.expect("request");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let body = response.bytes().await.expect("body");
        times.push(started.elapsed());
        assert!(!body.is_empty());
    }
    times.sort();
    times
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

async fn run() {
    let shape = Shape {
        nodes: knob("NODEBOM_BENCH_NODES", 2000),
        images_per_node: knob("NODEBOM_BENCH_IMAGES_PER_NODE", 100),
        distinct_images: knob("NODEBOM_BENCH_DISTINCT_IMAGES", 1000),
        workloads_per_node: knob("NODEBOM_BENCH_WORKLOADS_PER_NODE", 30),
    };
    let packages = knob("NODEBOM_BENCH_PACKAGES_PER_IMAGE", 150);
    let requests = knob("NODEBOM_BENCH_REQUESTS", 200).max(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    {
        let store = open_store(&StoreUrl::parse(&url).expect("store URL"))
            .await
            .expect("open the store");
        let images = fill_inventory(store.as_ref(), &shape).await;
        let started = Instant::now();
        for (index, (image, holder)) in images.iter().enumerate() {
            let document = sbom(index, &image.manifest_digest, packages);
            let header = UploadHeader {
                node: holder.clone(),
                manifest_digest: nodebom_collector::digest::parse("digest", &image.manifest_digest)
                    .expect("digest"),
                size: document.len() as u64,
                sha256: Digest::from_sha256(Sha256::new_with_prefix(&document)),
                agent_version: "bench".into(),
            };
            let mut assembler = Assembler::new(header.clone(), 1 << 30).expect("assembler");
            assembler.push(0, &document).expect("document");
            let sbom = assembler.finish().expect("SBOM");
            store
                .put_sbom(&header.node, sbom, Timestamp::now())
                .await
                .expect("store the SBOM");
        }
        eprintln!(
            "stored {} SBOMs of {packages} packages in {:.1} s",
            images.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let ui = format!("127.0.0.1:{port}");
    let collector = start_collector(&url, &["--ui-listen".into(), ui.clone()]);
    let client = reqwest::Client::new();
    let (_, idle) = memory(collector.pid());
    let pages = [
        ("fleet page `/`", "/".to_owned()),
        (
            "package search `lib7 < 1.5`",
            "/search?q=lib7+%3C+1.5".to_owned(),
        ),
        (
            "package search by purl `pkg:deb/debian/lib42`",
            "/search?q=pkg%3Adeb%2Fdebian%2Flib42".to_owned(),
        ),
    ];
    let mut rows = Vec::new();
    for (name, path) in &pages {
        let url = format!("http://{ui}{path}");
        // One answer first, so that SQLite's page cache is as a running collector's.
        timed(&client, &url, 1).await;
        let times = timed(&client, &url, requests).await;
        rows.push((name, times));
    }
    let (_, peak) = memory(collector.pid());
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "Web UI benchmark: {} nodes, {} distinct images ({} per node, {} containers per node), {packages} packages per SBOM, {requests} requests each",
        shape.nodes, shape.distinct_images, shape.images_per_node, shape.workloads_per_node
    );
    println!("| page | p50 | p99 | slowest |");
    println!("|---|---:|---:|---:|");
    for (name, times) in &rows {
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(*times.last().expect("times"))
        );
    }
    println!("collector RSS: {idle:.0} MiB after start, peak {peak:.0} MiB");
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run());
}
