//! Exposure benchmark (not a timed test): a fleet's inventory and Dependency-Track
//! findings are written into a SQLite store, then a real collector process answers
//! `ListExposures` for one cluster and `nodebom-collector report` is run against it; it
//! prints the answer times and the collector's memory.
//!
//! ```text
//! cargo bench -p nodebom-collector --bench exposure
//! NODEBOM_BENCH_FINDINGS_PER_IMAGE=50 cargo bench -p nodebom-collector --bench exposure
//! ```
//!
//! Knobs (environment): `NODEBOM_BENCH_NODES` (2000), `NODEBOM_BENCH_IMAGES_PER_NODE`
//! (100), `NODEBOM_BENCH_DISTINCT_IMAGES` (1000), `NODEBOM_BENCH_WORKLOADS_PER_NODE`
//! (30), `NODEBOM_BENCH_FINDINGS_PER_IMAGE` (300), `NODEBOM_BENCH_RUNS` (5),
//! `NODEBOM_BENCH_COLLECTOR` (another collector binary). One vulnerability in fifty is
//! a CVE of the KEV catalog fixture, which the collector ranks with.

mod filled;
mod fleet;

use std::time::{Duration, Instant};

use filled::{fill_inventory, Shape};
use fleet::{knob, memory, start_collector, CLUSTERS};
use nodebom_collector::clock::Timestamp;
use nodebom_collector::config::StoreUrl;
use nodebom_collector::exposure::finding::{Finding, Package, Severity, Vulnerability};
use nodebom_collector::kev::KevCatalog;
use nodebom_collector::server::open_store;
use nodebom_proto::v1 as pb;
use pb::query_client::QueryClient;

const KEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json"
);

struct Settings {
    nodes: usize,
    images_per_node: usize,
    distinct_images: usize,
    workloads_per_node: usize,
    findings_per_image: usize,
    runs: usize,
}

/// Finding `index` of an image: one in fifty a KEV CVE, severities and EPSS spread.
fn finding(index: usize, kev: &[String]) -> Finding {
    let id = if index.is_multiple_of(50) {
        kev[index / 50 % kev.len()].clone()
    } else {
        format!("CVE-2025-{:05}", index)
    };
    let package = format!("lib{}", index % 60);
    let version = format!("1.{}.{}", index % 9, index % 4);
    Finding {
        vulnerability: Vulnerability {
            aliases: vec![format!("GHSA-bench-{index:04}-xxxx")],
            source: "NVD".into(),
            severity: Severity::ALL[index % 5],
            cvss: Some((index % 100) as f64 / 10.0),
            epss: Some((index * 7919 % 1000) as f64 / 1000.0),
            epss_percentile: Some((index * 104_729 % 1000) as f64 / 1000.0),
            id,
        },
        package: Package {
            purl: format!("pkg:deb/debian/{package}@{version}?arch=amd64&distro=debian-12"),
            name: package,
            version,
        },
        fixed_versions: if index.is_multiple_of(2) {
            format!("1.{}.9", index % 9)
        } else {
            String::new()
        },
    }
}

/// Writes the fleet's inventory and every image's findings into the SQLite file `url`.
async fn fill(settings: &Settings, url: &str) {
    let started = Instant::now();
    let store = open_store(&StoreUrl::parse(url).expect("store URL"))
        .await
        .expect("open the store");
    let shape = Shape {
        nodes: settings.nodes,
        images_per_node: settings.images_per_node,
        distinct_images: settings.distinct_images,
        workloads_per_node: settings.workloads_per_node,
    };
    let fleet: Vec<pb::Image> = fill_inventory(store.as_ref(), &shape)
        .await
        .into_iter()
        .map(|(image, _)| image)
        .collect();
    let now = Timestamp::now();
    let kev: Vec<String> = KevCatalog::parse(&std::fs::read(KEV).expect("KEV fixture"))
        .expect("KEV catalog")
        .entries
        .into_keys()
        .collect();
    for (i, image) in fleet.iter().enumerate() {
        let findings = (0..settings.findings_per_image)
            .map(|f| finding(i * 7 + f, &kev))
            .collect();
        store
            .put_findings(&image.manifest_digest, findings, now)
            .await
            .expect("findings");
    }
    eprintln!(
        "filled {} nodes and {} images x {} findings in {:.1} s",
        settings.nodes,
        settings.distinct_images,
        settings.findings_per_image,
        started.elapsed().as_secs_f64()
    );
}

/// Every page of `ListExposures` for `cluster` (all clusters when empty); the
/// exposures and how long they took.
async fn list_all(
    client: &mut QueryClient<tonic::transport::Channel>,
    cluster: &str,
    page: u32,
) -> (u64, Duration, Duration) {
    let started = Instant::now();
    let mut token = String::new();
    let mut first = None;
    let mut total = 0;
    loop {
        let answer = client
            .list_exposures(pb::ListExposuresRequest {
                cluster: cluster.into(),
                page_size: page,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("ListExposures")
            .into_inner();
        first.get_or_insert(started.elapsed());
        total += answer.exposures.len() as u64;
        if answer.next_page_token.is_empty() {
            return (total, first.unwrap_or_default(), started.elapsed());
        }
        token = answer.next_page_token;
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

async fn run(settings: Settings) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    fill(&settings, &url).await;
    let key = dir.path().join("dtrack-key");
    std::fs::write(&key, "bench").expect("key file");
    // Nothing listens on the discard port: the forwarder has nothing to forward, and
    // the KEV catalog is read for ranking whether or not DT answers.
    let extra: Vec<String> = [
        "--dtrack-url",
        "http://127.0.0.1:9",
        "--dtrack-api-key-file",
        key.to_str().expect("path"),
        "--kev-catalog",
        KEV,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let collector = start_collector(&url, &extra);
    let mut client = QueryClient::connect(collector.url.clone())
        .await
        .expect("connect")
        .max_decoding_message_size(256 * 1024 * 1024);
    // The catalog is read just after the start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, idle) = memory(collector.pid());

    let mut firsts = Vec::new();
    let mut wholes = Vec::new();
    let mut exposures = 0;
    for _ in 0..settings.runs {
        let (total, first, whole) = list_all(&mut client, "cluster-0", 1000).await;
        exposures = total;
        eprintln!("ListExposures: {total} exposures, first page {first:?}, all {whole:?}");
        firsts.push(first);
        wholes.push(whole);
    }
    let (_, after_list) = memory(collector.pid());

    let mut reports = Vec::new();
    let mut report_bytes = 0;
    for _ in 0..settings.runs {
        let started = Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nodebom-collector"))
            .args([
                "report",
                "--server",
                &collector.url,
                "--cluster",
                "cluster-0",
            ])
            .output()
            .expect("report");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        reports.push(started.elapsed());
        report_bytes = output.stdout.len();
        eprintln!("report: {:?}", started.elapsed());
    }
    let (_, after_report) = memory(collector.pid());

    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "Exposure benchmark: {} nodes in {} clusters, {} distinct images ({} per node, {} workloads per node), {} findings per image",
        settings.nodes, CLUSTERS, settings.distinct_images, settings.images_per_node,
        settings.workloads_per_node, settings.findings_per_image
    );
    println!("| | median | slowest of {} |", settings.runs);
    println!("|---|---:|---:|");
    println!(
        "| ListExposures cluster-0, first page of 1,000 | {} | {} |",
        ms(median(firsts.clone())),
        ms(max(&firsts))
    );
    println!(
        "| ListExposures cluster-0, all {exposures} exposures (pages of 1,000) | {} | {} |",
        ms(median(wholes.clone())),
        ms(max(&wholes))
    );
    println!(
        "| report --cluster cluster-0 (the 200 most urgent), Markdown ({} KiB) | {} | {} |",
        report_bytes / 1024,
        ms(median(reports.clone())),
        ms(max(&reports))
    );
    println!(
        "collector peak RSS: {idle:.0} MiB after start, {after_list:.0} MiB after ListExposures, {after_report:.0} MiB after the reports"
    );
}

fn main() {
    let settings = Settings {
        nodes: knob("NODEBOM_BENCH_NODES", 2000),
        images_per_node: knob("NODEBOM_BENCH_IMAGES_PER_NODE", 100),
        distinct_images: knob("NODEBOM_BENCH_DISTINCT_IMAGES", 1000),
        workloads_per_node: knob("NODEBOM_BENCH_WORKLOADS_PER_NODE", 30),
        findings_per_image: knob("NODEBOM_BENCH_FINDINGS_PER_IMAGE", 300),
        runs: knob("NODEBOM_BENCH_RUNS", 5).max(1),
    };
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run(settings));
}
