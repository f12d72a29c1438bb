//! The one-machine demo: a private containerd with sample images and pods, the collector
//! on SQLite, the agent's daemon loop; prints the inventory and one SBOM summary.
//!
//!     sudo cargo run -p nodebom-e2e --example demo
//!
//! Needs root and the Debian package `containerd` (`ctr` and `containerd` on PATH).

#[path = "../tests/common/stack.rs"]
mod stack;

use std::collections::BTreeMap;

use anyhow::Context;
use nodebom_e2e::{ContainerdDaemon, Entry, ImageSpec, Layer};
use stack::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    println!("starting a private containerd …");
    let daemon = ContainerdDaemon::start().context("starting containerd (run as root)")?;

    let shop = debian_image(
        "docker.io/nodebom/demo-shop:1.0",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let web = debian_image(
        "docker.io/nodebom/demo-web:2.1",
        Entry::tree(fixture("npm/testdata/usr"), "/usr"),
    );
    let edge = ImageSpec {
        name: "docker.io/nodebom/demo-edge:3.20".into(),
        layers: vec![Layer::gzip(vec![
            Entry::tree(fixture("os/testdata/alpine-3.20"), "/"),
            Entry::tree(fixture("apk/testdata/lib"), "/lib"),
        ])],
        multi_platform: false,
    };
    let mut digests = Vec::new();
    for spec in [&shop, &web, &edge] {
        let built = import(&daemon, spec);
        println!("  image {} → {}", built.name, built.manifest_digest);
        if spec.name == web.name {
            // As `discard_unpacked_layers` does on EKS, GKE and kind: only snapshots remain.
            daemon.delete_blobs(&built.layer_digests)?;
            println!("    its layer blobs deleted: the agent reads its snapshots");
        }
        digests.push(built.manifest_digest);
    }
    // Pods are containers with kubelet's CRI labels.
    daemon.create_pod_container("shop-1", &shop.name, &pod("shop", "checkout-7d9f"), "api")?;
    daemon.create_pod_container("web-1", &web.name, &pod("web", "frontend-5c4b"), "ui")?;
    daemon.create_pod_container(
        "edge-1",
        &edge.name,
        &pod("kube-system", "proxy-x2k1"),
        "proxy",
    )?;

    println!("starting the collector (SQLite) and the agent (cluster \"prod-a\") …");
    let collector = TestCollector::start().await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "demo-node", "token-a").await;
    let images = collector
        .wait_for("every SBOM", |images| {
            digests
                .iter()
                .all(|d| find(images, d).is_some_and(|i| i.sbom.is_some()))
        })
        .await;
    agent.stop().await;

    println!("\ninventory (collector's ListImages):");
    println!(
        "  {:<40} {:<10} {:>10}  runs in",
        "image", "digest", "components"
    );
    for image in &images {
        let name = image
            .names
            .iter()
            .find(|n| !n.starts_with("sha256:") && !n.contains('@'));
        let components = image.sbom.as_ref().map_or(0, |s| s.component_count);
        let runs: Vec<String> = image
            .workloads
            .iter()
            .filter_map(|w| {
                let workload = w.workload.as_ref()?;
                Some(format!(
                    "{}/{}/{}/{}",
                    w.cluster, workload.namespace, workload.pod, workload.container
                ))
            })
            .collect();
        println!(
            "  {:<40} {:<10} {:>10}  {}",
            name.map_or("?", String::as_str),
            &image.manifest_digest[7..17],
            components,
            runs.join(", ")
        );
    }

    let digest = &digests[0];
    let bom = collector
        .sbom(digest)
        .await
        .context("reading the stored SBOM")?;
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for component in bom["components"].as_array().into_iter().flatten() {
        let kind = component["purl"]
            .as_str()
            .and_then(|p| p.strip_prefix("pkg:"))
            .and_then(|p| p.split('/').next())
            .unwrap_or("operating-system");
        *by_type.entry(kind.to_string()).or_default() += 1;
    }
    println!(
        "\nSBOM of {} ({digest}):",
        bom["metadata"]["component"]["name"].as_str().unwrap_or("?")
    );
    println!("  CycloneDX {}", bom["specVersion"].as_str().unwrap_or("?"));
    for (kind, count) in by_type {
        println!("  {kind:<18} {count}");
    }
    if let Some(example) = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| c["purl"].as_str())
    {
        println!("  e.g. {example}");
    }
    println!(
        "\nThe collector's database was {}; everything is removed on exit.",
        collector.dir.path().display()
    );
    Ok(())
}
