//! Forwarding to Dependency-Track, against the Dependency-Track test server
//! (`nodebom_e2e::dtrack`): the fleet's state is written straight into a real SQLite
//! store, and the forwarder's reconcile and drain steps are driven with explicit times.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::test_store;
use nodebom_collector::clock::Timestamp;
use nodebom_collector::config::ServeArgs;
use nodebom_collector::config::StoreUrl;
use nodebom_collector::digest::Digest;
use nodebom_collector::dtrack::{DtrackSettings, Forwarder};
use nodebom_collector::inventory::{
    Agent, FullInventory, Image, Limits, NodeKey, NodeSoftware, Workload, WorkloadKey,
};
use nodebom_collector::sbom::upload::{Assembler, UploadHeader};
use nodebom_collector::server;
use nodebom_collector::store::outbox::{Action, Plan};
use nodebom_collector::store::{ClaimPolicy, Store};
use nodebom_e2e::dtrack::{CollectionLogic, DtOptions, DtServer, Fault, NewProject, Permission};
use sha2::{Digest as _, Sha256};

/// syft 1.18.1, CycloneDX 1.6, of certifi and click.
const SBOM: &[u8] = include_bytes!("../src/sbom/testdata/syft-1.18.1-python.cdx-1.6.json");

const NGINX: &str = "docker.io/library/nginx";

/// A store with nodes in it (the SQLite file or PostgreSQL database of
/// `common::test_store`), and a temporary directory holding the API key.
struct Fleet {
    dir: tempfile::TempDir,
    url: StoreUrl,
    store: Arc<dyn Store>,
}

impl Fleet {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = StoreUrl::parse(&test_store(dir.path()).await).unwrap();
        let store = server::open_store(&url).await.unwrap();
        Self { dir, url, store }
    }

    /// Closes and opens the store again, as a collector restart does.
    async fn reopen(&mut self) {
        self.store = server::open_store(&self.url).await.unwrap();
    }

    /// Replaces the node's inventory: it has `images`, and runs each `(namespace, image)`.
    async fn node(&self, cluster: &str, node: &str, images: &[&Image], runs: &[(&str, &Image)]) {
        self.node_in_pool(cluster, node, "", images, runs).await;
    }

    /// [`Fleet::node`] for a node of node pool `pool`.
    async fn node_in_pool(
        &self,
        cluster: &str,
        node: &str,
        pool: &str,
        images: &[&Image],
        runs: &[(&str, &Image)],
    ) {
        let key = NodeKey::new(cluster, node).unwrap();
        let now = Timestamp::now();
        let session = self
            .store
            .begin_session(
                &key,
                &Agent {
                    version: "test".into(),
                    node_pool: pool.into(),
                },
                now,
            )
            .await
            .unwrap();
        let workloads = runs
            .iter()
            .enumerate()
            .map(|(i, (namespace, image))| Workload {
                key: WorkloadKey {
                    pod_uid: format!("uid-{node}-{i}"),
                    container: "main".into(),
                },
                namespace: namespace.to_string(),
                pod: format!("pod-{i}"),
                manifest_digest: image.manifest_digest.clone(),
                image: image.names.first().cloned().unwrap_or_default(),
                container_id: String::new(),
            })
            .collect();
        let inventory = FullInventory {
            images: images.iter().map(|image| (*image).clone()).collect(),
            workloads,
        };
        self.store
            .replace_inventory(
                &session,
                inventory,
                Limits::default(),
                ClaimPolicy::default(),
                now,
            )
            .await
            .unwrap();
    }

    /// Stores `SBOM`, made to describe `image` as nodebom's agent does (syft's
    /// `metadata.component` is the scanned directory, which the collector refuses), for
    /// `image`, uploaded by a node that has it. Returns the hex SHA-256 of the stored
    /// (canonical) document.
    async fn sbom(&self, cluster: &str, node: &str, image: &Image) -> String {
        let mut document: serde_json::Value = serde_json::from_slice(SBOM).unwrap();
        document["metadata"]["component"] = serde_json::json!({
            "type": "container", "name": "registry.example/app",
            "version": image.manifest_digest.as_str(),
        });
        self.put(
            cluster,
            node,
            image,
            &serde_json::to_vec(&document).unwrap(),
        )
        .await
    }

    /// Stores `document` for `image`, uploaded by a node that has it; returns the hex
    /// SHA-256 of the stored (canonical) document.
    async fn put(&self, cluster: &str, node: &str, image: &Image, document: &[u8]) -> String {
        let header = UploadHeader {
            node: NodeKey::new(cluster, node).unwrap(),
            manifest_digest: image.manifest_digest.clone(),
            size: document.len() as u64,
            sha256: Digest::from_sha256(Sha256::new_with_prefix(document)),
            agent_version: "0.1.0-test".into(),
        };
        let mut assembler = Assembler::new(header.clone(), 1 << 30).unwrap();
        assembler.push(0, document).unwrap();
        let sbom = assembler.finish().unwrap();
        let stored = sbom
            .sha256
            .as_str()
            .trim_start_matches("sha256:")
            .to_owned();
        self.store
            .put_sbom(&header.node, sbom, Timestamp::now())
            .await
            .unwrap();
        stored
    }

    /// Forwarder settings for `dt` with `extra` flags.
    fn settings(&self, dt: &DtServer, extra: &[&str]) -> DtrackSettings {
        let key = self.dir.path().join("dtrack-api-key");
        std::fs::write(&key, dt.api_key()).unwrap();
        let mut args = vec![
            "serve".to_owned(),
            "--dtrack-url".into(),
            dt.url(),
            "--dtrack-api-key-file".into(),
            key.display().to_string(),
            "--dtrack-retry-first".into(),
            "10ms".into(),
            "--dtrack-retry-max".into(),
            "50ms".into(),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let config = ServeArgs::try_parse_from(args).unwrap().resolve().unwrap();
        config.dtrack.unwrap()
    }

    fn forwarder(&self, dt: &DtServer, extra: &[&str]) -> Forwarder {
        Forwarder::new(Arc::clone(&self.store), self.settings(dt, extra)).unwrap()
    }

    /// Drains until the outbox is empty.
    async fn settle(&self, forwarder: &Forwarder) {
        self.settle_with(forwarder, Timestamp::now).await;
    }

    /// [`Fleet::settle`] with the drain times `clock` gives.
    async fn settle_with(&self, forwarder: &Forwarder, clock: impl FnMut() -> Timestamp) {
        self.settle_to(forwarder, 0, clock).await;
    }

    /// Drains until at most `left` actions are queued.
    async fn settle_to(
        &self,
        forwarder: &Forwarder,
        left: u64,
        mut clock: impl FnMut() -> Timestamp,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.store.dtrack_pending().await.unwrap() > left {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outbox does not drain"
            );
            let drained = forwarder.drain(clock()).await.unwrap();
            if drained.done + drained.failed == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A fleet whose node prod-a/a1 runs nginx 1.27.0 in namespace web, its SBOM stored.
async fn nginx_on_prod_a() -> Fleet {
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    fleet
        .node("prod-a", "a1", &[&nginx], &[("web", &nginx)])
        .await;
    fleet.sbom("prod-a", "a1", &nginx).await;
    fleet
}

/// A fleet whose node prod-a/a1 runs nginx and redis, both with their SBOM stored.
async fn nginx_and_redis_on_prod_a() -> Fleet {
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    let redis = image("redis", &["docker.io/library/redis:7.4"]);
    fleet
        .node(
            "prod-a",
            "a1",
            &[&nginx, &redis],
            &[("web", &nginx), ("db", &redis)],
        )
        .await;
    fleet.sbom("prod-a", "a1", &nginx).await;
    fleet.sbom("prod-a", "a1", &redis).await;
    fleet
}

fn image(seed: &str, names: &[&str]) -> Image {
    let digest =
        |what: &str| Digest::from_sha256(Sha256::new_with_prefix(format!("{what} of {seed}")));
    Image {
        manifest_digest: digest("manifest"),
        index_digest: None,
        config_digest: digest("config"),
        names: names.iter().map(|name| name.to_string()).collect(),
        platform: "linux/amd64".into(),
        diff_ids: vec![digest("layer")],
        node: None,
    }
}

fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

fn at(start: Timestamp, seconds: u64) -> Timestamp {
    start.saturating_add(Duration::from_secs(seconds))
}

#[tokio::test]
async fn image_used_in_two_clusters_is_one_project_with_both_cluster_tags() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    fleet
        .node("prod-a", "a1", &[&nginx], &[("web", &nginx)])
        .await;
    fleet
        .node("prod-b", "b1", &[&nginx], &[("shop", &nginx)])
        .await;
    let stored = fleet.sbom("prod-a", "a1", &nginx).await;
    let forwarder = fleet.forwarder(&dt, &["--dtrack-namespace-tags"]);

    forwarder.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&forwarder).await;

    let project = dt.project(NGINX, "1.27.0").expect("project created");
    assert_eq!(
        project.tags,
        tags(&[
            "cluster:prod-a",
            "cluster:prod-b",
            "namespace:shop",
            "namespace:web"
        ])
    );
    assert!(project.active);
    assert_eq!(dt.projects().len(), 1);
    let uploads = dt.uploads_to(project.uuid);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bom_sha256, stored);
    dt.assert_conformant();
}

#[tokio::test]
async fn a_cluster_whose_build_differs_gets_its_own_project_and_leaves_the_other_untouched() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    fleet
        .node("prod-a", "a1", &[&nginx], &[("web", &nginx)])
        .await;
    fleet
        .node("prod-b", "b1", &[&nginx], &[("shop", &nginx)])
        .await;
    let real = fleet.sbom("prod-a", "a1", &nginx).await;
    // prod-b claims to run nginx and sends a one-component SBOM for it.
    let forgery = serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "metadata": {"component": {"type": "container", "name": "registry.example/app",
            "version": nginx.manifest_digest.as_str()}},
        "components": [{"type": "library", "name": "harmless", "version": "1.0"}],
    }))
    .unwrap();
    let forged = fleet.put("prod-b", "b1", &nginx, &forgery).await;
    let forwarder = fleet.forwarder(&dt, &[]);

    forwarder.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&forwarder).await;

    let project = dt.project(NGINX, "1.27.0").expect("prod-a's project");
    assert_eq!(project.tags, tags(&["cluster:prod-a"]));
    let uploads = dt.uploads_to(project.uuid);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bom_sha256, real);
    let own = dt
        .project(NGINX, "1.27.0 [prod-b]")
        .expect("prod-b's own project");
    assert_eq!(own.tags, tags(&["cluster:prod-b"]));
    let uploads = dt.uploads_to(own.uuid);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bom_sha256, forged);
    assert_eq!(dt.projects().len(), 2);
    dt.assert_conformant();
}

#[tokio::test]
async fn tags_follow_the_clusters_with_a_grace_period_and_active_follows_use() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    // Someone else's tag on the project must survive nodebom's changes.
    dt.seed_project(
        NewProject::new(NGINX, "1.27.0")
            .tags(["team:payments"])
            .latest(),
    )
    .unwrap();
    fleet
        .node("prod-a", "a1", &[&nginx], &[("web", &nginx)])
        .await;
    fleet
        .node("prod-b", "b1", &[&nginx], &[("web", &nginx)])
        .await;
    fleet.sbom("prod-a", "a1", &nginx).await;
    let forwarder = fleet.forwarder(&dt, &["--dtrack-tag-grace", "1m"]);
    let start = Timestamp::now();
    let project = || dt.project(NGINX, "1.27.0").unwrap();

    forwarder.reconcile(start).await.unwrap();
    fleet.settle(&forwarder).await;
    assert_eq!(
        project().tags,
        tags(&["cluster:prod-a", "cluster:prod-b", "team:payments"])
    );

    // prod-b stops using it: its tag stays for the grace period, then goes.
    fleet.node("prod-b", "b1", &[&nginx], &[]).await;
    forwarder.reconcile(at(start, 10)).await.unwrap();
    forwarder.reconcile(at(start, 69)).await.unwrap();
    fleet.settle_with(&forwarder, || at(start, 69)).await;
    assert!(project().tags.contains("cluster:prod-b"));
    forwarder.reconcile(at(start, 70)).await.unwrap();
    fleet.settle_with(&forwarder, || at(start, 70)).await;
    assert_eq!(project().tags, tags(&["cluster:prod-a", "team:payments"]));

    // No cluster uses it: inactive (isLatest untouched by the PATCH).
    fleet.node("prod-a", "a1", &[&nginx], &[]).await;
    forwarder.reconcile(at(start, 80)).await.unwrap();
    fleet.settle_with(&forwarder, || at(start, 80)).await;
    assert!(!project().active);
    assert!(project().is_latest);

    // It comes back: active again, without a second upload.
    fleet
        .node("prod-a", "a1", &[&nginx], &[("web", &nginx)])
        .await;
    forwarder.reconcile(at(start, 90)).await.unwrap();
    fleet.settle_with(&forwarder, || at(start, 90)).await;
    assert!(project().active);
    assert_eq!(project().tags, tags(&["cluster:prod-a", "team:payments"]));
    assert_eq!(dt.uploads().len(), 1);
    dt.assert_conformant();
}

#[tokio::test]
async fn server_errors_and_an_outage_deliver_everything_once() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = nginx_and_redis_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();

    dt.down().unwrap();
    let drained = forwarder.drain(Timestamp::now()).await.unwrap();
    assert_eq!((drained.done, drained.postponed), (0, 2));
    dt.up().unwrap();
    dt.inject(Fault::server_error().times(3).on_path("/api/v1/bom"));
    dt.inject(
        Fault::too_many_requests()
            .times(2)
            .on_path("/api/v1/project"),
    );
    fleet.settle(&forwarder).await;

    assert_eq!(dt.faults_remaining(), 0);
    assert_eq!(dt.uploads().len(), 2);
    for (name, version) in [(NGINX, "1.27.0"), ("docker.io/library/redis", "7.4")] {
        let project = dt.project(name, version).unwrap();
        assert_eq!(project.tags, tags(&["cluster:prod-a"]), "{name}");
    }
    assert!(dt.uploads().iter().all(|upload| !upload.overlapped));
    assert!(fleet.store.dtrack_failures(10).await.unwrap().is_empty());
    dt.assert_conformant();
}

#[tokio::test]
async fn an_hour_long_outage_delivers_everything_once_when_dt_returns() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = nginx_and_redis_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    let start = Timestamp::now();
    forwarder.reconcile(start).await.unwrap();

    // An hour of the test clock with DT down: the outbox is tried every minute and
    // reconciled every quarter of an hour, as the forwarder's loop does; nothing is
    // given up, and reconciling queues nothing twice.
    dt.down().unwrap();
    for minute in 0..=60 {
        let now = at(start, minute * 60);
        if minute % 15 == 0 {
            forwarder.reconcile(now).await.unwrap();
        }
        let drained = forwarder.drain(now).await.unwrap();
        // Both projects' next actions tried and put off.
        assert_eq!(
            (drained.done, drained.postponed, drained.failed),
            (0, 2, 0),
            "minute {minute}"
        );
    }
    assert!(dt.uploads().is_empty());
    assert!(fleet.store.dtrack_failures(10).await.unwrap().is_empty());

    dt.up().unwrap();
    let back = at(start, 61 * 60);
    forwarder.reconcile(back).await.unwrap();
    // Each drain a second of the test clock later, so that retries come due.
    let mut now = back;
    fleet
        .settle_with(&forwarder, || {
            now = now.saturating_add(Duration::from_secs(1));
            now
        })
        .await;
    let uploads = dt.uploads();
    assert_eq!(uploads.len(), 2, "{uploads:#?}");
    for (name, version) in [(NGINX, "1.27.0"), ("docker.io/library/redis", "7.4")] {
        let project = dt.project(name, version).unwrap();
        assert_eq!(dt.uploads_to(project.uuid).len(), 1, "{name}");
        assert_eq!(project.tags, tags(&["cluster:prod-a"]), "{name}");
    }
    assert!(fleet.store.dtrack_failures(10).await.unwrap().is_empty());
    dt.assert_conformant();
}

#[tokio::test]
async fn a_collector_restart_with_queued_actions_loses_and_duplicates_nothing() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let mut fleet = nginx_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    // Upload, tags, findings.
    assert_eq!(forwarder.reconcile(Timestamp::now()).await.unwrap(), 3);
    dt.inject(Fault::server_error().on_path("/api/v1/bom"));
    forwarder.drain(Timestamp::now()).await.unwrap();
    drop(forwarder);

    fleet.reopen().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    assert_eq!(forwarder.reconcile(Timestamp::now()).await.unwrap(), 0);
    fleet.settle(&forwarder).await;

    assert_eq!(dt.uploads().len(), 1);
    assert_eq!(
        dt.project(NGINX, "1.27.0").unwrap().tags,
        tags(&["cluster:prod-a"])
    );
    dt.assert_conformant();
}

#[tokio::test]
async fn two_digests_under_one_tag_never_share_a_project() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = Fleet::new().await;
    let amd64 = image("nginx amd64", &["docker.io/library/nginx:1.27.0"]);
    let arm64 = image("nginx arm64", &["docker.io/library/nginx:1.27.0"]);
    fleet
        .node("prod-a", "amd", &[&amd64], &[("web", &amd64)])
        .await;
    fleet
        .node("prod-a", "arm", &[&arm64], &[("web", &arm64)])
        .await;
    fleet.sbom("prod-a", "amd", &amd64).await;
    fleet.sbom("prod-a", "arm", &arm64).await;
    let forwarder = fleet.forwarder(&dt, &[]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&forwarder).await;

    let (first, second) = if amd64.manifest_digest.as_str() < arm64.manifest_digest.as_str() {
        (&amd64, &arm64)
    } else {
        (&arm64, &amd64)
    };
    let short = &second.manifest_digest.as_str()[..19];
    assert!(dt.project(NGINX, "1.27.0").is_some(), "{first:?}");
    let other = dt.project(NGINX, &format!("1.27.0@{short}")).unwrap();
    assert_eq!(dt.uploads_to(other.uuid).len(), 1);
    assert_eq!(dt.uploads().len(), 2);
    dt.assert_conformant();
}

#[tokio::test]
async fn a_second_upload_waits_for_the_first_to_be_processed() {
    let dt = DtServer::start(DtOptions {
        processing_delay: Duration::from_millis(400),
        ..DtOptions::default()
    })
    .unwrap();
    let fleet = nginx_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();
    // Queue a second upload behind the first, as a changed SBOM would.
    let mut state = fleet.store.dtrack_projects().await.unwrap().remove(0);
    state.sbom_sha256 = "replaced".into();
    let again = Action::Upload {
        sbom_sha256: "replaced".into(),
        tags: Vec::new(),
    };
    fleet
        .store
        .dtrack_plan(vec![Plan {
            state,
            actions: vec![again],
            queued_at: Timestamp::now(),
        }])
        .await
        .unwrap();
    fleet.settle(&forwarder).await;

    let uploads = dt.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(
        uploads.iter().all(|upload| !upload.overlapped),
        "{uploads:#?}"
    );
    dt.assert_conformant();
}

#[tokio::test]
async fn refused_actions_are_reported_once_and_not_retried() {
    let dt = DtServer::start(DtOptions {
        permissions: [Permission::BomUpload, Permission::ViewPortfolio].into(),
        ..DtOptions::default()
    })
    .unwrap();
    let fleet = nginx_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&forwarder).await;

    let failures = fleet.store.dtrack_failures(10).await.unwrap();
    let seen: Vec<_> = failures
        .iter()
        .map(|f| (f.action.as_str(), f.status))
        .collect();
    // The upload may not create the project (401); the update then finds none (404).
    assert_eq!(seen, [("update", Some(404)), ("upload", Some(401))]);
    assert!(dt.projects().is_empty());
    assert_eq!(
        dt.requests()
            .iter()
            .filter(|r| r.path == "/api/v1/bom")
            .count(),
        1
    );
}

#[tokio::test]
async fn serve_flags_start_the_forwarder() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = nginx_on_prod_a().await;
    let key = fleet.dir.path().join("key");
    std::fs::write(&key, dt.api_key()).unwrap();
    let args = [
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--dtrack-url".into(),
        dt.url(),
        "--dtrack-api-key-file".into(),
        key.display().to_string(),
    ];
    let config = ServeArgs::try_parse_from(args).unwrap().resolve().unwrap();
    let collector = nodebom_collector::server::start_with_store(config, Arc::clone(&fleet.store))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dt
        .project(NGINX, "1.27.0")
        .is_none_or(|p| p.tags.is_empty())
    {
        assert!(tokio::time::Instant::now() < deadline, "nothing forwarded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    collector.shutdown().await.unwrap();
    assert_eq!(
        dt.project(NGINX, "1.27.0").unwrap().tags,
        tags(&["cluster:prod-a"])
    );
    dt.assert_conformant();
}

#[tokio::test]
async fn from_4_12_a_new_project_has_its_tags_and_latest_flag_from_its_first_upload() {
    for (release, with_upload) in [("4.11.7", false), ("4.12.0", true), ("4.14.2", true)] {
        let dt = DtServer::start(DtOptions {
            version: release.into(),
            ..DtOptions::default()
        })
        .unwrap();
        let fleet = Fleet::new().await;
        let old = image("nginx-old", &["docker.io/library/nginx:1.26.0"]);
        fleet.node("prod-a", "a1", &[&old], &[("web", &old)]).await;
        fleet.sbom("prod-a", "a1", &old).await;
        let forwarder = fleet.forwarder(&dt, &[]);
        forwarder.reconcile(Timestamp::now()).await.unwrap();
        // The upload only: its tag update and findings read are still queued.
        fleet.settle_to(&forwarder, 2, Timestamp::now).await;
        let created = dt.project(NGINX, "1.26.0").unwrap();
        assert_eq!(
            created.tags == tags(&["cluster:prod-a"]),
            with_upload,
            "{release}: {:?}",
            created.tags
        );
        assert_eq!(created.is_latest, with_upload, "{release}");
        fleet.settle(&forwarder).await;
        assert_eq!(
            dt.project(NGINX, "1.26.0").unwrap().tags,
            tags(&["cluster:prod-a"])
        );

        // A newer version of the name arrives: it becomes the latest.
        let new = image("nginx-new", &["docker.io/library/nginx:1.27.0"]);
        fleet
            .node(
                "prod-a",
                "a1",
                &[&old, &new],
                &[("web", &old), ("web", &new)],
            )
            .await;
        fleet.sbom("prod-a", "a1", &new).await;
        forwarder.reconcile(Timestamp::now()).await.unwrap();
        fleet.settle(&forwarder).await;
        assert_eq!(
            dt.project(NGINX, "1.27.0").unwrap().is_latest,
            with_upload,
            "{release}"
        );
        assert!(!dt.project(NGINX, "1.26.0").unwrap().is_latest, "{release}");
        dt.assert_conformant();
    }
}

#[tokio::test]
async fn new_projects_go_under_the_configured_parent() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let parent = dt.seed_project(NewProject::new("fleet", "1")).unwrap();
    let fleet = nginx_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &["--dtrack-parent", "fleet@1"]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&forwarder).await;

    assert_eq!(dt.project(NGINX, "1.27.0").unwrap().parent, Some(parent));
    dt.assert_conformant();
}

#[tokio::test]
async fn a_missing_parent_is_created_as_a_collection_from_4_13_and_awaited_before() {
    for release in ["4.12.7", "4.14.2"] {
        let dt = DtServer::start(DtOptions {
            version: release.into(),
            ..DtOptions::default()
        })
        .unwrap();
        let fleet = nginx_on_prod_a().await;
        let forwarder = fleet.forwarder(&dt, &["--dtrack-parent", "fleet@1"]);
        let start = Timestamp::now();
        forwarder.reconcile(start).await.unwrap();
        let drained = forwarder.drain(start).await.unwrap();
        if release == "4.12.7" {
            // Nothing is lost while the parent is missing: the upload waits for it.
            assert_eq!((drained.done, drained.failed), (0, 0), "{drained:?}");
            assert!(dt.project(NGINX, "1.27.0").is_none());
            dt.seed_project(NewProject::new("fleet", "1")).unwrap();
        }
        // An hour on: past any backoff.
        fleet
            .settle_with(&forwarder, || at(Timestamp::now(), 3600))
            .await;

        let parent = dt.project("fleet", "1").unwrap();
        let expected = if release == "4.12.7" {
            CollectionLogic::None
        } else {
            CollectionLogic::AggregateDirectChildren
        };
        assert_eq!(parent.collection_logic, expected, "{release}");
        assert_eq!(
            dt.project(NGINX, "1.27.0").unwrap().parent,
            Some(parent.uuid)
        );
        assert!(fleet.store.dtrack_failures(10).await.unwrap().is_empty());
        dt.assert_conformant();
    }
}

#[tokio::test]
async fn with_all_images_an_image_no_workload_uses_is_forwarded() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let fleet = Fleet::new().await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    fleet.node("prod-a", "a1", &[&nginx], &[]).await;
    fleet.sbom("prod-a", "a1", &nginx).await;

    let used_only = fleet.forwarder(&dt, &[]);
    assert_eq!(used_only.reconcile(Timestamp::now()).await.unwrap(), 0);
    let every_image = fleet.forwarder(&dt, &["--dtrack-all-images"]);
    every_image.reconcile(Timestamp::now()).await.unwrap();
    fleet.settle(&every_image).await;

    let project = dt.project(NGINX, "1.27.0").unwrap();
    assert!(project.active);
    assert_eq!(project.tags, tags(&["cluster:prod-a"]));
    dt.assert_conformant();
}

#[tokio::test]
async fn a_token_lost_in_a_dependency_track_restart_does_not_block_the_next_upload() {
    let dt = DtServer::start(DtOptions {
        processing_delay: Duration::from_secs(600),
        ..DtOptions::default()
    })
    .unwrap();
    let fleet = nginx_on_prod_a().await;
    let forwarder = fleet.forwarder(&dt, &[]);
    forwarder.reconcile(Timestamp::now()).await.unwrap();
    // Uploaded and tagged; reading its findings waits for DT to process it.
    fleet.settle_to(&forwarder, 1, Timestamp::now).await;
    assert_eq!(dt.pending_uploads(), 1);

    dt.restart().unwrap();
    dt.set_processing_delay(Duration::from_millis(50));
    let mut state = fleet.store.dtrack_projects().await.unwrap().remove(0);
    state.sbom_sha256 = "replaced".into();
    let again = Action::Upload {
        sbom_sha256: "replaced".into(),
        tags: Vec::new(),
    };
    fleet
        .store
        .dtrack_plan(vec![Plan {
            state,
            actions: vec![again],
            queued_at: Timestamp::now(),
        }])
        .await
        .unwrap();
    fleet.settle(&forwarder).await;

    let uploads = dt.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads[0].lost);
    assert!(!uploads[1].overlapped);
    dt.assert_conformant();
}

#[tokio::test]
async fn node_software_is_used_by_the_nodes_that_carry_it_with_their_pools() {
    let fleet = Fleet::new().await;
    let mut software = image("node software", &[]);
    software.diff_ids.clear();
    software.config_digest = software.manifest_digest.clone();
    software.node = Some(NodeSoftware {
        os: "debian-12".into(),
        os_name: "Debian GNU/Linux 12 (bookworm)".into(),
        kernel: "6.1.0-18-amd64".into(),
        arch: "amd64".into(),
    });
    let app = image("app", &["docker.io/library/nginx:1.27"]);
    fleet
        .node_in_pool("prod-a", "n1", "pool-a", &[&software, &app], &[])
        .await;
    fleet
        .node_in_pool("prod-b", "n2", "pool-b", &[&software], &[])
        .await;
    fleet
        .node_in_pool("prod-b", "n3", "", &[&software], &[])
        .await;
    fleet.sbom("prod-a", "n1", &software).await;
    fleet.sbom("prod-a", "n1", &app).await;

    // Images are used by workloads (none runs `app`); node software by its nodes.
    let usage = fleet.store.dtrack_usage(false).await.unwrap();
    assert_eq!(usage.len(), 1, "{usage:#?}");
    let used = &usage[0];
    assert_eq!(used.digest, software.manifest_digest.as_str());
    assert_eq!(used.node, software.node);
    let clusters: Vec<&str> = used.clusters.keys().map(String::as_str).collect();
    assert_eq!(clusters, ["prod-a", "prod-b"]);
    assert_eq!(used.node_pools, tags(&["pool-a", "pool-b"]));
    // With every image forwarded, `app` too, as an image.
    let every = fleet.store.dtrack_usage(true).await.unwrap();
    assert_eq!(every.len(), 2);
    let app_usage = every
        .iter()
        .find(|u| u.digest == app.manifest_digest.as_str())
        .unwrap();
    assert!(app_usage.node.is_none() && app_usage.node_pools.is_empty());
}
