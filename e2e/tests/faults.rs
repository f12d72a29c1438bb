//! Faults between the parts of a whole nodebom (real containerd, the agent's daemon, a
//! real collector forwarding to the Dependency-Track test server): whatever breaks, every
//! image ends with one SBOM at the collector and one upload to Dependency-Track.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::proxy::CuttingProxy;
use common::stack::*;
use nodebom_e2e::dtrack::{DtOptions, DtServer};
use nodebom_e2e::{BuiltImage, ContainerdDaemon, Entry};

/// Images of different sizes from the catalogers' fixtures, imported into `daemon`.
fn import_images(daemon: &ContainerdDaemon) -> Vec<BuiltImage> {
    [
        "python/testdata/usr",
        "npm/testdata/usr",
        "os/testdata/debian-12/usr",
        "java/testdata/usr",
    ]
    .iter()
    .enumerate()
    .map(|(index, tree)| {
        let spec = debian_image(
            &format!("docker.io/nodebom/linked{index}:1"),
            Entry::tree(fixture(tree), "/usr"),
        );
        import(daemon, &spec)
    })
    .collect()
}

/// Waits until Dependency-Track received an upload for each of `digests`, lets late
/// duplicates arrive, and returns the number of uploads per digest.
async fn dt_uploads(dt: &DtServer, digests: &[String]) -> BTreeMap<String, usize> {
    let count = || {
        let mut per_digest = BTreeMap::new();
        for upload in dt.uploads() {
            let version = upload.bom["metadata"]["component"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *per_digest.entry(version).or_insert(0) += 1;
        }
        per_digest
    };
    let deadline = Instant::now() + PATIENCE;
    while !digests.iter().all(|d| count().contains_key(d)) {
        assert!(
            Instant::now() < deadline,
            "Dependency-Track did not get every SBOM: {:?}",
            count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_by_a_proxy_during_the_sync_loses_and_duplicates_nothing() {
    let daemon = ContainerdDaemon::start().unwrap();
    let built = import_images(&daemon);
    let digests: Vec<String> = built.iter().map(|b| b.manifest_digest.clone()).collect();
    let dt = DtServer::start(DtOptions::default()).unwrap();
    // Every image is forwarded: these run in no pod.
    let collector = TestCollector::start_forwarding_to(&dt, &["--dtrack-all-images".into()]).await;
    let upstream: SocketAddr = collector.url.trim_start_matches("http://").parse().unwrap();
    let proxy = CuttingProxy::start(upstream).await;

    // The first cut falls in the session's opening (inventory, claims), the later ones
    // further into the stream, where the SBOM uploads are; each cut refuses reconnects
    // for a while (the agent retries every 100-500 ms).
    proxy.cut_after(700);
    let agent = TestAgent::start_to(&daemon, &proxy.url(), "prod-a", "node-1", "token-a").await;
    let stored = |images: &[nodebom_proto::v1::ImageSummary]| {
        images.iter().filter(|i| i.sbom.is_some()).count()
    };
    let mut stored_at_cuts = Vec::new();
    for (round, next_cut) in [4_000u64, 30_000, 0].into_iter().enumerate() {
        let deadline = Instant::now() + PATIENCE;
        while proxy.cuts() <= round as u64 {
            assert!(
                Instant::now() < deadline,
                "cut {round} never came: {} bytes through the proxy",
                proxy.forwarded()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stored_at_cuts.push((proxy.forwarded(), stored(&collector.images().await)));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if next_cut > 0 {
            proxy.cut_after(next_cut);
        }
        proxy.resume();
        if stored(&collector.images().await) == built.len() {
            break;
        }
    }
    eprintln!("(bytes through the proxy, SBOMs stored) at each cut: {stored_at_cuts:?}");
    assert!(
        stored_at_cuts[0].1 < built.len(),
        "the first cut came before every SBOM was stored"
    );

    let images = collector
        .wait_for("every SBOM after the cuts", |images| {
            digests
                .iter()
                .all(|d| find(images, d).is_some_and(|i| i.sbom.is_some()))
        })
        .await;
    assert_eq!(images.len(), built.len(), "no image twice: {images:#?}");
    for digest in &digests {
        let bom = collector.sbom(digest).await.unwrap();
        assert_eq!(bom["metadata"]["component"]["version"], digest.as_str());
    }
    let failed_sends = metric(&agent.metrics, "nodebom_agent_send_failures_total");
    eprintln!("agent: {failed_sends} sends failed");
    assert!(failed_sends > 0.0, "the cuts hit the uploads");
    // An upload cut short is sent again, not built again.
    assert_eq!(
        metric(&agent.metrics, "nodebom_agent_sboms_built_total"),
        built.len() as f64
    );
    let uploads = dt_uploads(&dt, &digests).await;
    let expected: BTreeMap<String, usize> = digests.iter().map(|d| (d.clone(), 1)).collect();
    assert_eq!(uploads, expected, "one Dependency-Track upload per image");
    dt.assert_conformant();
    agent.stop().await;
}
