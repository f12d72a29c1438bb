//! The one-machine demo: a private containerd with sample images and pods, the collector
//! on SQLite, the agent's daemon loop; prints the inventory and one SBOM summary, then
//! keeps running with the commands to try until Ctrl-C, which removes everything.
//!
//!     ./scripts/demo    (builds the binaries the printed commands use, then runs this)
//!
//! Needs root and the Debian package `containerd` (`ctr` and `containerd` on PATH).

#[path = "../tests/common/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::path::PathBuf;

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

    // The query CLI's default address, when it is free: the printed commands need no flags.
    let listen = if std::net::TcpListener::bind(DEFAULT_SERVER).is_ok() {
        DEFAULT_SERVER
    } else {
        "127.0.0.1:0"
    };
    // The web UI on port 8080 when it is free.
    let ui = if std::net::TcpListener::bind(DEMO_UI).is_ok() {
        DEMO_UI
    } else {
        "127.0.0.1:0"
    };
    println!("starting the collector (SQLite) and the agent (cluster \"prod-a\") …");
    let collector = TestCollector::start_on(listen, &["--ui-listen".into(), ui.into()]).await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "demo-node", "token-a").await;
    let images = collector
        .wait_for("every SBOM", |images| {
            digests
                .iter()
                .all(|d| find(images, d).is_some_and(|i| i.sbom.is_some()))
        })
        .await;

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

    // Every stored SBOM as a file, as `nodebom-collector query sbom` writes it.
    let sboms = collector.dir.path().join("sboms");
    std::fs::create_dir_all(&sboms)?;
    for digest in &digests {
        if let Some(bom) = collector.sbom(digest).await {
            let file = sboms.join(format!("{}.cdx.json", &digest[7..]));
            std::fs::write(file, serde_json::to_vec_pretty(&bom)?)?;
        }
    }
    let example_package = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:pypi/"))
        })
        .and_then(|c| c["name"].as_str())
        .unwrap_or("requests");
    print_commands(
        &daemon,
        &collector,
        &shop.name,
        digest,
        example_package,
        &sboms,
    );

    wait_for_stop().await?;
    println!("\nstopping the agent, the collector and containerd; removing their files …");
    agent.stop().await;
    drop(collector);
    drop(daemon);
    println!("done.");
    Ok(())
}

const DEFAULT_SERVER: &str = "127.0.0.1:7443";
/// Where the demo serves the web UI when the port is free.
const DEMO_UI: &str = "127.0.0.1:8080";

fn print_commands(
    daemon: &ContainerdDaemon,
    collector: &TestCollector,
    image: &str,
    digest: &str,
    package: &str,
    sboms: &std::path::Path,
) {
    let bin = PathBuf::from(std::env::var("NODEBOM_BIN_DIR").unwrap_or("target/release".into()));
    let query = bin.join("nodebom-collector").display().to_string() + " query";
    let server = collector.url.trim_start_matches("http://");
    let query = if server == DEFAULT_SERVER {
        query
    } else {
        format!("{query} --server {}", collector.url)
    };
    let ctr = format!("ctr --address {} -n k8s.io", daemon.socket().display());
    println!(
        "\nnodebom is running: the collector on {}, the agent following containerd.",
        collector.url
    );
    if let Some(ui) = collector.ui_url() {
        println!("The web UI: {ui} (fleet, search, images and their SBOMs).");
    }
    println!("Try, in another terminal (as root for ctr):\n");
    println!("  # the inventory; which images and pods contain a package; one SBOM:");
    println!("  {query} images");
    println!("  {query} find {package}");
    println!("  {query} sbom {digest} > shop.cdx.json");
    println!("  # events as they happen; then add a pod and watch it appear:");
    println!("  {query} watch");
    println!(
        "  {ctr} containers create --label io.cri-containerd.kind=container \\\n      \
         --label io.kubernetes.pod.namespace=shop --label io.kubernetes.pod.name=checkout-2 \\\n      \
         --label io.kubernetes.pod.uid=uid-2 --label io.kubernetes.container.name=api {image} shop-2"
    );
    println!("  # one image's SBOM straight from containerd, to stdout:");
    println!(
        "  {} scan --socket {} {image}",
        bin.join("nodebom-agent").display(),
        daemon.socket().display()
    );
    println!("  # the gRPC API by reflection (if grpcurl is installed):");
    println!("  grpcurl -plaintext {server} list");
    println!("\nSBOM files: {}", sboms.display());
    println!(
        "Collector database: {}",
        collector.dir.path().join("nodebom.db").display()
    );
    println!("\nCtrl-C stops everything and removes these files.");
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
