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
        ..Default::default()
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
            ..Default::default()
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

/// A node's root file system as the tests make it: this Debian machine's os-release and
/// dpkg database, with kubelet, containerd, runc and a CNI plugin built by the tests'
/// Go toolchain where installers put them.
fn host_root(work: &std::path::Path) -> tempfile::TempDir {
    use nodebom_e2e::golang::GoProgram;
    let root = tempfile::tempdir().unwrap();
    let place = |from: &str, to: &str| {
        let target = root.path().join(to.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from, target).unwrap();
    };
    place("/usr/lib/os-release", "/usr/lib/os-release");
    place("/var/lib/dpkg/status", "/var/lib/dpkg/status");
    let programs = [
        // Built as Kubernetes builds it: GOPATH layout, version stamped at link time.
        (
            GoProgram::gopath("k8s.io/kubernetes/cmd/kubelet")
                .ldflags("-X k8s.io/kubernetes/pkg/version.gitVersion=v1.31.2"),
            "/usr/bin/kubelet",
        ),
        (
            GoProgram::module("github.com/containerd/containerd/v2", "cmd/containerd"),
            "/usr/local/bin/containerd",
        ),
        (
            GoProgram::module("github.com/opencontainers/runc", "")
                .ldflags("-X main.version=1.2.3"),
            "/usr/local/sbin/runc",
        ),
        (
            GoProgram::module(
                "github.com/containernetworking/plugins",
                "plugins/main/bridge",
            ),
            "/opt/cni/bin/bridge",
        ),
    ];
    for (program, at) in programs {
        let out = root.path().join(at.trim_start_matches('/'));
        program.build_to(work, &out).unwrap();
    }
    root
}

/// Copies a directory tree (regular files and directories only).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_nodes_share_one_node_sbom_and_one_dt_project_tagged_by_cluster_and_pool() {
    use nodebom_agent::daemon::HostScanConfig;

    let work = tempfile::tempdir().unwrap();
    let root = host_root(work.path());
    // A third node starts from the same machine image, in another cluster and pool.
    let other_root = tempfile::tempdir().unwrap();
    copy_tree(root.path(), other_root.path());
    let daemon = ContainerdDaemon::start().unwrap();
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let collector =
        TestCollector::start_forwarding_to(&dt, &["--dtrack-tag-grace".into(), "1s".into()]).await;
    let host = |root: &std::path::Path| {
        Some(HostScanConfig {
            root: root.to_owned(),
            interval: Duration::from_millis(500),
        })
    };
    let start = |cluster: &'static str, node: &'static str, token, root, pool| {
        let (daemon, url) = (&daemon, collector.url.clone());
        async move { TestAgent::start_with(daemon, &url, cluster, node, token, host(root), pool).await }
    };
    let agents = [
        start("prod-a", "node-a1", "token-a", root.path(), "pool-a").await,
        start("prod-a", "node-a2", "token-a", root.path(), "pool-a").await,
        start("prod-b", "node-b1", "token-b", other_root.path(), "pool-b").await,
    ];

    // One digest for the three nodes, its SBOM stored once.
    let deadline = std::time::Instant::now() + PATIENCE;
    let nodes = loop {
        let nodes = collector.nodes().await;
        if nodes.len() == 3 && nodes.iter().all(|n| n.has_sbom) {
            break nodes;
        }
        assert!(std::time::Instant::now() < deadline, "{nodes:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let digest = nodes[0].sbom_digest.clone();
    assert!(digest.starts_with("sha256:"), "{nodes:#?}");
    assert!(nodes.iter().all(|n| n.sbom_digest == digest), "{nodes:#?}");
    let pools: Vec<&str> = nodes.iter().map(|n| n.node_pool.as_str()).collect();
    assert_eq!(pools, ["pool-a", "pool-a", "pool-b"]);
    let software = nodes[0].software.clone().unwrap();
    let kernel = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .unwrap();
    let kernel = String::from_utf8(kernel.stdout).unwrap().trim().to_owned();
    assert_eq!(software.kernel, kernel);
    assert!(software.os.starts_with("debian-"), "{software:?}");
    // Node software is not an image.
    assert!(collector
        .images()
        .await
        .iter()
        .all(|i| i.manifest_digest != digest));

    // The SBOM: the node, its kernel, its Debian packages and the Go programs.
    let bom = collector.sbom(&digest).await.expect("node SBOM stored");
    assert_eq!(bom["metadata"]["component"]["type"], "platform");
    let purls: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    let dpkg = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "containerd"])
        .output()
        .unwrap();
    let containerd_deb = String::from_utf8(dpkg.stdout).unwrap();
    assert!(
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "containerd"
                && c["version"] == containerd_deb.as_str()
                && c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pkg:deb/debian/containerd@"))),
        "Debian's containerd package"
    );
    // Main modules (not packages), versioned from what the link stamped when it did.
    for module in [
        "pkg:golang/k8s.io/kubernetes@v1.31.2",
        "pkg:golang/github.com/containerd/containerd/v2",
        "pkg:golang/github.com/opencontainers/runc@v1.2.3",
        "pkg:golang/github.com/containernetworking/plugins",
    ] {
        assert!(purls.contains(&module), "{module}: {purls:#?}");
    }

    // FindComponents answers for nodes: runc is on the three nodes.
    let mut query = v1::query_client::QueryClient::connect(collector.url.clone())
        .await
        .unwrap();
    let found = query
        .find_components(v1::FindComponentsRequest {
            name: "github.com/opencontainers/runc".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let on_nodes = found
        .matches
        .iter()
        .find(|m| {
            m.image
                .as_ref()
                .is_some_and(|i| i.manifest_digest == digest)
        })
        .and_then(|m| m.image.clone())
        .expect("the node software matches");
    assert_eq!(on_nodes.kind(), v1::ArtifactKind::Node);
    assert_eq!(on_nodes.nodes.len(), 3);

    // One DT project for the three nodes, tagged with both clusters and both pools.
    let wanted_tags = [
        "cluster:prod-a",
        "cluster:prod-b",
        "node-pool:pool-a",
        "node-pool:pool-b",
    ];
    let deadline = std::time::Instant::now() + PATIENCE;
    let project = loop {
        let projects: Vec<_> = dt
            .projects()
            .into_iter()
            .filter(|p| p.name.starts_with("node/"))
            .collect();
        if let [project] = projects.as_slice() {
            if wanted_tags.iter().all(|t| project.tags.contains(*t))
                && project.last_bom_import.is_some()
            {
                break project.clone();
            }
        }
        assert!(std::time::Instant::now() < deadline, "{projects:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(project.name, format!("node/{}", software.os));
    let short = &digest["sha256:".len()..][..12];
    assert_eq!(
        project.version.as_deref(),
        Some(format!("{kernel}-sha256:{short}").as_str())
    );
    assert!(project.active);
    assert_eq!(
        dt.uploads_to(project.uuid).len(),
        1,
        "uploaded once for three nodes"
    );

    // The third node's software changes (a new program on its path): it gets a project
    // of its own, and the shared one loses its cluster and pool tags.
    std::fs::copy("/usr/bin/ctr", other_root.path().join("usr/local/bin/ctr")).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let shared = dt.project_by_uuid(project.uuid).unwrap();
        let others = dt
            .projects()
            .into_iter()
            .filter(|p| p.name.starts_with("node/") && p.uuid != project.uuid)
            .count();
        if others == 1
            && !shared.tags.contains("cluster:prod-b")
            && !shared.tags.contains("node-pool:pool-b")
        {
            assert!(shared.tags.contains("cluster:prod-a"), "{shared:#?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{shared:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Read again and again (every 500 ms here), without failing.
    assert!(metric(&agents[2].metrics, "nodebom_agent_host_reads_total") >= 2.0);
    assert_eq!(
        metric(&agents[2].metrics, "nodebom_agent_host_read_failures_total"),
        0.0
    );
    for agent in agents {
        agent.stop().await;
    }
}
