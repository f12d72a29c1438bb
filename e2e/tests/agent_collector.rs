//! End to end: real containerd with pods (containers with kubelet's labels), the agent's
//! daemon loop (`nodebom-agent run` minus its flags), and a real collector over gRPC.

mod common;

use std::time::Duration;

use common::stack::*;
use nodebom_e2e::dtrack::{DtOptions, DtServer};
use nodebom_e2e::{ContainerdDaemon, Entry};
use nodebom_proto::v1::{self as v1, ingest_client::IngestClient, SbomCheckStatus};
use sha2::{Digest as _, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_sharing_an_image_get_one_sbom_built_once_per_cluster() {
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
    let collector = TestCollector::start_forwarding_to(&dt, &[]).await;
    let agent_a = TestAgent::start(&daemon_a, &collector, "prod-a", "node-a", "token-a").await;
    let agent_b = TestAgent::start(&daemon_b, &collector, "prod-b", "node-b", "token-b").await;

    let digest = shared_a.manifest_digest.clone();
    let images = collector
        .wait_for(
            "the shared image with its SBOM checked by the other cluster, run in both",
            |images| {
                find(images, &digest).is_some_and(|i| {
                    i.sbom.as_ref().is_some_and(|sbom| sbom.checks.len() == 1)
                        && clusters_running(i) == ["prod-a", "prod-b"]
                })
            },
        )
        .await;
    let image = find(&images, &digest).unwrap();
    assert_eq!(image.nodes.len(), 2);
    // The second cluster's build (from snapshots, under other blobs) has the same
    // contents: it verified the stored copy, which stays the only one.
    let sbom = image.sbom.as_ref().unwrap();
    assert_eq!(
        sbom.checks[0].status(),
        SbomCheckStatus::Verified,
        "{sbom:#?}"
    );
    assert_eq!(sbom.checks[0].content_hash, sbom.content_hash);
    assert_eq!(sbom.agent_version, env!("CARGO_PKG_VERSION"));
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
        (built(&agent_a), built(&agent_b)),
        (1.0, 1.0),
        "one build per cluster: each cluster checks what the other says"
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

/// Cluster `prod-b` as a stolen token would make it: it claims to run `image` and uploads
/// a one-component SBOM for it over `Ingest`. Returns the `Sync` stream's sender, which
/// keeps the forged node connected while it lives.
async fn forge(
    collector: &TestCollector,
    image: &nodebom_e2e::BuiltImage,
) -> tokio::sync::mpsc::Sender<v1::SyncRequest> {
    use v1::sync_request::Message;
    fn authorized<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", "Bearer token-b".parse().unwrap());
        request
    }
    let mut client = IngestClient::connect(collector.url.clone()).await.unwrap();
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut responses = client
        .sync(authorized(tokio_stream::wrappers::ReceiverStream::new(
            receiver,
        )))
        .await
        .unwrap()
        .into_inner();
    let hello = v1::Hello {
        cluster: "prod-b".into(),
        node: "forger".into(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
    };
    sender
        .send(v1::SyncRequest {
            sequence: 1,
            message: Some(Message::Hello(hello)),
        })
        .await
        .unwrap();
    let inventory = v1::InventoryPart {
        images: vec![v1::Image {
            manifest_digest: image.manifest_digest.clone(),
            index_digest: image.index_digest.clone().unwrap_or_default(),
            config_digest: image.config_digest.clone(),
            names: vec![image.name.clone()],
            platform: "linux/amd64".into(),
            diff_ids: image.diff_ids.clone(),
        }],
        workloads: vec![v1::Workload {
            namespace: "decoy".into(),
            pod: "decoy-0".into(),
            pod_uid: "uid-decoy-0".into(),
            container: "app".into(),
            manifest_digest: image.manifest_digest.clone(),
            image: image.name.clone(),
            container_id: "f".repeat(64),
        }],
        last: true,
    };
    sender
        .send(v1::SyncRequest {
            sequence: 2,
            message: Some(Message::Inventory(inventory)),
        })
        .await
        .unwrap();
    // Welcome, then the inventory's acknowledgement.
    for _ in 0..2 {
        responses.message().await.unwrap().unwrap();
    }
    let forgery = serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "metadata": {"component": {"type": "container",
            "bom-ref": format!("image:{}", image.manifest_digest),
            "name": "docker.io/nodebom/shared", "version": image.manifest_digest}},
        "components": [{"type": "library", "name": "harmless", "version": "1.0",
            "purl": "pkg:generic/harmless@1.0"}],
    }))
    .unwrap();
    use v1::upload_sbom_request::Part;
    let messages = vec![
        v1::UploadSbomRequest {
            part: Some(Part::Header(v1::SbomHeader {
                manifest_digest: image.manifest_digest.clone(),
                cluster: "prod-b".into(),
                node: "forger".into(),
                size: forgery.len() as u64,
                sha256: format!("sha256:{}", hex::encode(Sha256::digest(&forgery))),
                agent_version: env!("CARGO_PKG_VERSION").into(),
            })),
        },
        v1::UploadSbomRequest {
            part: Some(Part::Chunk(v1::SbomChunk {
                offset: 0,
                data: forgery,
            })),
        },
    ];
    let stored = client
        .upload_sbom(authorized(tokio_stream::iter(messages)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !stored.already_stored,
        "the forgery is the first SBOM of the image"
    );
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forging_cluster_changes_nothing_another_cluster_and_its_dt_project_show() {
    let daemon_a = ContainerdDaemon::start().unwrap();
    let spec = debian_image(
        "docker.io/nodebom/shared:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    let shared = import(&daemon_a, &spec);
    daemon_a
        .create_pod_container("web-a", &spec.name, &pod("shop", "web-a"), "app")
        .unwrap();
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let collector = TestCollector::start_forwarding_to(&dt, &[]).await;
    // prod-b forges first: its SBOM is the stored copy before prod-a's agent runs.
    let _forger = forge(&collector, &shared).await;
    let agent_a = TestAgent::start(&daemon_a, &collector, "prod-a", "node-a", "token-a").await;

    let digest = shared.manifest_digest.clone();
    let images = collector
        .wait_for(
            "prod-a's build of the image, conflicting with prod-b's",
            |images| {
                find(images, &digest).is_some_and(|i| {
                    i.sbom.as_ref().is_some_and(|sbom| sbom.checks.len() == 1)
                        && clusters_running(i) == ["prod-a", "prod-b"]
                })
            },
        )
        .await;
    let sbom = find(&images, &digest).unwrap().sbom.clone().unwrap();
    assert_eq!(sbom.cluster, "prod-b");
    assert_eq!(
        (sbom.checks[0].cluster.as_str(), sbom.checks[0].status()),
        ("prod-a", SbomCheckStatus::Conflict)
    );

    // What prod-a's workloads are said to contain: prod-a's own build.
    let is_debian = |bom: &serde_json::Value| {
        bom["components"].as_array().unwrap().iter().any(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/debian/"))
        })
    };
    let harmless = |bom: &serde_json::Value| {
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "harmless")
    };
    let own = collector.sbom_of(&digest, "prod-a").await.unwrap();
    assert!(is_debian(&own) && !harmless(&own));

    // Dependency-Track: the project tagged with prod-a holds prod-a's build only; the
    // forgery sits in a project tagged with prod-b only.
    let deadline = std::time::Instant::now() + PATIENCE;
    let (project_a, project_b) = loop {
        let projects = dt.projects();
        let tagged = |cluster: &str| {
            projects
                .iter()
                .find(|p| p.tags.contains(&format!("cluster:{cluster}")))
                .cloned()
        };
        if let (Some(a), Some(b)) = (tagged("prod-a"), tagged("prod-b")) {
            if dt.uploads_to(a.uuid).len() == 1 && dt.uploads_to(b.uuid).len() == 1 {
                break (a, b);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no project per cluster: {projects:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(project_a.uuid, project_b.uuid);
    assert!(!project_a.tags.contains("cluster:prod-b"), "{project_a:#?}");
    assert!(!project_b.tags.contains("cluster:prod-a"), "{project_b:#?}");
    let upload_a = &dt.uploads_to(project_a.uuid)[0];
    assert!(is_debian(&upload_a.bom) && !harmless(&upload_a.bom));
    let upload_b = &dt.uploads_to(project_b.uuid)[0];
    assert!(harmless(&upload_b.bom) && !is_debian(&upload_b.bom));
    dt.assert_conformant();
    agent_a.stop().await;
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
