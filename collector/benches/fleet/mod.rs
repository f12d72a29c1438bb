//! What the collector benchmarks share: the simulated fleet's images and workloads,
//! and a collector process to measure.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nodebom_proto::v1 as pb;
use sha2::{Digest as _, Sha256};

/// Clusters the fleet's nodes are spread over (`cluster-0`…).
pub const CLUSTERS: usize = 10;

/// The environment variable `name` as a number, else `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `sha256:` and the hex SHA-256 of `text`.
pub fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The fleet's image number `index`: digests, two names, eight layers.
pub fn fleet_image(index: usize) -> pb::Image {
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
        ..Default::default()
    }
}

/// The images of node `node`: `per_node` distinct images of `fleet`, chosen with a
/// stride coprime to the fleet size so that nodes overlap like real clusters do.
pub fn node_images(fleet: &[pb::Image], per_node: usize, node: usize) -> Vec<pb::Image> {
    let distinct = fleet.len();
    let start = node * 37 % distinct;
    let mut stride = 7;
    while gcd(stride, distinct) != 1 {
        stride += 2;
    }
    (0..per_node.min(distinct))
        .map(|k| fleet[(start + k * stride) % distinct].clone())
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Workload `index` of node `node`, running `image`.
pub fn workload(node: usize, index: usize, image: &pb::Image) -> pb::Workload {
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

pub struct Collector {
    child: Child,
    pub url: String,
}

impl Collector {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the collector binary (or `NODEBOM_BENCH_COLLECTOR`) on `store` with a token per
/// cluster and `extra` serve flags, and waits until it listens.
pub fn start_collector(store: &str, extra: &[String]) -> Collector {
    let binary = std::env::var("NODEBOM_BENCH_COLLECTOR")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_nodebom-collector").into());
    let mut command = Command::new(binary);
    command
        .args([
            "--log-format",
            "json",
            "--log",
            "warn,nodebom_collector::server=info,nodebom_collector::exposure=debug",
        ])
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--reoffer-interval",
            "10m",
        ])
        .arg("--store")
        .arg(store)
        .args(extra);
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
            .recv_timeout(Duration::from_secs(60))
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
pub fn memory(pid: u32) -> (f64, f64) {
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
