//! End to end: real containerd with pods (containers with kubelet's labels), the agent's
//! daemon loop (`nodebom-agent run` minus its flags), and a real collector over gRPC.

mod common;

use std::time::Duration;

use common::stack::*;
use nodebom_e2e::dtrack::{DtOptions, DtServer};
use nodebom_e2e::{ContainerdDaemon, Entry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_sharing_an_image_get_one_sbom_built_once() {
    let daemon_a = ContainerdDaemon::start().unwrap();
    let daemon_b = ContainerdDaemon::start().unwrap();
    let spec = debian_image(
        "docker.io/nodebom/shared:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let shared_a = import(&daemon_a, &spec);
    let shared_b = import(&daemon_b, &spec);
    assert_eq!(shared_a.manifest_digest, shared_b.manifest_digest);
    daemon_a
        .create_pod_container("web-a", &spec.name, &pod("shop", "web-a"), "app")
        .unwrap();
    daemon_b
        .create_pod_container("web-b", &spec.name, &pod("shop", "web-b"), "app")
        .unwrap();
    // Blobs gone on one node (discard_unpacked_layers): its builds come from snapshots.
    daemon_b.delete_blobs(&shared_b.layer_digests).unwrap();

    let dt = DtServer::start(DtOptions::default()).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("dtrack-api-key");
    std::fs::write(&key_file, dt.api_key()).unwrap();
    let collector = TestCollector::start_with(&[
        "--dtrack-url".into(),
        dt.url(),
        "--dtrack-api-key-file".into(),
        key_file.display().to_string(),
    ])
    .await;
    let agent_a = TestAgent::start(&daemon_a, &collector, "prod-a", "node-a", "token-a").await;
    let agent_b = TestAgent::start(&daemon_b, &collector, "prod-b", "node-b", "token-b").await;

    let digest = shared_a.manifest_digest.clone();
    let images = collector
        .wait_for(
            "the shared image with its SBOM, run in both clusters",
            |images| {
                find(images, &digest).is_some_and(|i| {
                    i.sbom.is_some() && clusters_running(i) == ["prod-a", "prod-b"]
                })
            },
        )
        .await;
    let image = find(&images, &digest).unwrap();
    assert_eq!(image.nodes.len(), 2);
    let bom = collector.sbom(&digest).await.expect("stored SBOM");
    assert_eq!(bom["metadata"]["component"]["version"], digest.as_str());
    assert!(bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:deb/debian/"))));

    // Give a late duplicate build a chance to show up, then count builds fleet-wide.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let built = |agent: &TestAgent| metric(&agent.metrics, "nodebom_agent_sboms_built_total");
    assert_eq!(
        built(&agent_a) + built(&agent_b),
        1.0,
        "one build for the whole fleet"
    );

    // Dependency-Track: one project for the image, tagged with both clusters.
    let deadline = std::time::Instant::now() + PATIENCE;
    let project = loop {
        if let Some(project) = dt.project("docker.io/nodebom/shared", "1") {
            if project.tags.contains("cluster:prod-a") && project.tags.contains("cluster:prod-b") {
                break project;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no DT project with both cluster tags: {:#?}",
            dt.projects()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(project.active);
    assert_eq!(dt.projects().len(), 1);
    assert_eq!(dt.uploads().len(), 1, "one SBOM upload for the fleet");
    dt.assert_conformant();
    agent_a.stop().await;
    agent_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_images_appearing_later_are_reported_within_seconds() {
    let daemon = ContainerdDaemon::start().unwrap();
    let first = debian_image(
        "docker.io/nodebom/first:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let first = import(&daemon, &first);
    let collector = TestCollector::start().await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "node-1", "token-a").await;
    let digest = first.manifest_digest.clone();
    collector
        .wait_for("the first image with its SBOM", |images| {
            find(images, &digest).is_some_and(|i| i.sbom.is_some())
        })
        .await;

    daemon
        .create_pod_container("c1", &first.name, &pod("default", "api"), "api")
        .unwrap();
    collector
        .wait_for("the new pod", |images| {
            find(images, &digest).is_some_and(|i| clusters_running(i) == ["prod-a"])
        })
        .await;
    daemon.ctr(&["containers", "rm", "c1"]).unwrap();
    collector
        .wait_for("the pod to stop", |images| {
            find(images, &digest).is_some_and(|i| clusters_running(i).is_empty())
        })
        .await;

    let later = debian_image(
        "docker.io/nodebom/later:2",
        Entry::tree(fixture("npm/testdata/usr"), "/usr"),
    );
    let later = import(&daemon, &later);
    let later_digest = later.manifest_digest.clone();
    collector
        .wait_for("the image pulled later, with its SBOM", |images| {
            find(images, &later_digest).is_some_and(|i| i.sbom.is_some())
        })
        .await;
    let bom = collector.sbom(&later_digest).await.unwrap();
    assert!(bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:npm/"))));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_restart_during_sync_loses_and_duplicates_nothing() {
    let daemon = ContainerdDaemon::start().unwrap();
    let mut built = Vec::new();
    for (index, tree) in [
        "python/testdata/usr",
        "npm/testdata/usr",
        "os/testdata/debian-12/usr",
    ]
    .iter()
    .enumerate()
    {
        let spec = debian_image(
            &format!("docker.io/nodebom/app{index}:1"),
            Entry::tree(fixture(tree), "/usr"),
        );
        built.push(import(&daemon, &spec));
    }
    daemon
        .create_pod_container("p0", &built[0].name, &pod("default", "p0"), "app")
        .unwrap();
    let mut collector = TestCollector::start().await;
    let agent = TestAgent::start(&daemon, &collector, "prod-a", "node-1", "token-a").await;
    // Restart as soon as the first SBOM is stored: the others are built or in flight.
    let first = built[0].manifest_digest.clone();
    collector
        .wait_for("a first SBOM", |images| {
            images.iter().any(|i| i.sbom.is_some()) || find(images, &first).is_some()
        })
        .await;
    collector.restart().await;

    daemon
        .create_pod_container("p1", &built[1].name, &pod("default", "p1"), "app")
        .unwrap();
    let digests: Vec<String> = built.iter().map(|b| b.manifest_digest.clone()).collect();
    let images = collector
        .wait_for("every SBOM and both pods after the restart", |images| {
            digests
                .iter()
                .all(|d| find(images, d).is_some_and(|i| i.sbom.is_some()))
                && clusters_running(find(images, &digests[1]).unwrap()) == ["prod-a"]
        })
        .await;
    assert_eq!(images.len(), built.len(), "no image twice: {images:#?}");
    assert_eq!(
        clusters_running(find(&images, &digests[0]).unwrap()),
        ["prod-a"]
    );
    for digest in &digests {
        let bom = collector.sbom(digest).await.unwrap();
        assert_eq!(bom["metadata"]["component"]["version"], digest.as_str());
    }
    agent.stop().await;
}
