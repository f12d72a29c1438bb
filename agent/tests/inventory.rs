//! The node inventory against a real, private containerd: images imported with `ctr`,
//! pods represented by container records with kubelet's CRI labels (no kubelet, no
//! tasks: the agent only reads the records), and the watch following changes and a
//! containerd restart. `ctr` runs synchronously inside the tests; the multi-threaded
//! runtime keeps the watch going meanwhile.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nodebom_agent::containerd::Containerd;
use nodebom_agent::image::Platform;
use nodebom_agent::inventory::{
    self, spawn_watch, ImageRecord, Inventory, InventoryUpdate, WatchConfig, Workload,
};
use nodebom_e2e::containerd::{Pod, NAMESPACE};
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, Entry, ImageSpec, Layer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a change may take to show up in the watch.
const WITHIN: Duration = Duration::from_secs(15);

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/catalog")
        .join(path)
}

/// The test images are built for linux/amd64, whatever this machine is.
fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

fn build_and_import(daemon: &ContainerdDaemon, spec: &ImageSpec) -> BuiltImage {
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(spec, out.path()).unwrap();
    daemon.import(&built).unwrap();
    built
}

/// An Alpine 3.20 image, from a multi-platform index (as a CRI pull leaves it: only
/// the amd64 manifest is present).
fn alpine(daemon: &ContainerdDaemon) -> BuiltImage {
    build_and_import(
        daemon,
        &ImageSpec {
            name: "docker.io/nodebom/alpine:3.20".into(),
            layers: vec![Layer::gzip(vec![
                Entry::tree(fixture("os/testdata/alpine-3.20"), "/"),
                Entry::tree(fixture("apk/testdata/lib"), "/lib"),
            ])],
            multi_platform: true,
        },
    )
}

/// A two-layer Debian 12 image with dpkg's database.
fn debian(daemon: &ContainerdDaemon, name: &str) -> BuiltImage {
    build_and_import(
        daemon,
        &ImageSpec {
            name: name.into(),
            layers: vec![
                Layer::gzip(vec![Entry::tree(fixture("os/testdata/debian-12"), "/")]),
                Layer::zstd(vec![Entry::tree(fixture("dpkg/testdata/var"), "/var")]),
            ],
            multi_platform: false,
        },
    )
}

fn pod(namespace: &str, name: &str, uid: &str) -> Pod {
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        uid: uid.into(),
    }
}

/// The record the inventory should hold for an image `ctr images import --digests`
/// brought in: its tag and its `repo@<top digest>` name.
fn expected_image(built: &BuiltImage) -> ImageRecord {
    let repository = built.name.rsplit_once(':').unwrap().0;
    let top = built
        .index_digest
        .as_ref()
        .unwrap_or(&built.manifest_digest);
    let mut names = vec![built.name.clone(), format!("{repository}@{top}")];
    names.sort();
    ImageRecord {
        manifest_digest: built.manifest_digest.clone(),
        index_digest: built.index_digest.clone(),
        config_digest: built.config_digest.clone(),
        names,
        platform: "linux/amd64".into(),
        diff_ids: built.diff_ids.clone(),
    }
}

fn expected_workload(id: &str, pod: &Pod, container: &str, image: &BuiltImage) -> Workload {
    Workload {
        namespace: pod.namespace.clone(),
        pod: pod.name.clone(),
        pod_uid: pod.uid.clone(),
        container: container.into(),
        container_id: id.into(),
        image: image.name.clone(),
        image_digest: Some(image.manifest_digest.clone()),
    }
}

fn sorted(mut inventory: Inventory) -> Inventory {
    inventory
        .images
        .sort_by(|a, b| a.manifest_digest.cmp(&b.manifest_digest));
    inventory
        .workloads
        .sort_by(|a, b| a.container_id.cmp(&b.container_id));
    inventory
}

/// Follows the watch into `model` until it equals `expected`; fails after [`WITHIN`].
async fn until_equal(
    updates: &mut mpsc::Receiver<InventoryUpdate>,
    model: &mut Inventory,
    expected: &Inventory,
) -> Vec<InventoryUpdate> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WITHIN;
    while model != expected {
        let update = tokio::time::timeout_at(deadline, updates.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("no matching update within {WITHIN:?}; have {model:#?}, want {expected:#?}")
            })
            .expect("watch ended");
        match update.clone() {
            InventoryUpdate::Full(full) => *model = sorted(full),
            InventoryUpdate::Delta(changes) => model.apply(&changes),
        }
        seen.push(update);
    }
    seen
}

async fn listed(daemon: &ContainerdDaemon) -> Inventory {
    let client = Containerd::connect(daemon.socket().to_str().unwrap(), NAMESPACE)
        .await
        .unwrap();
    sorted(inventory::list(&client, &amd64()).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_lists_images_and_pod_containers_without_sandboxes() {
    let daemon = ContainerdDaemon::start().unwrap();
    let alpine = alpine(&daemon);
    let debian = debian(&daemon, "registry.example/shop/api:1.4");
    let web = pod(
        "shop",
        "web-7d9f6b-x2k4q",
        "5f0f4a52-8a47-4c4e-9a37-4d1c5e2b7a10",
    );
    let db = pod("shop", "db-0", "0e6a9d0c-1b7e-4f2e-8d55-8f3f6b1c2d34");
    daemon
        .create_pod_sandbox("sandbox-web", &alpine.name, &web)
        .unwrap();
    daemon
        .create_pod_container("ctr-web", &alpine.name, &web, "nginx")
        .unwrap();
    daemon
        .create_pod_container("ctr-db", &debian.name, &db, "postgres")
        .unwrap();

    let inventory = listed(&daemon).await;

    let expected = sorted(Inventory {
        images: vec![expected_image(&alpine), expected_image(&debian)],
        workloads: vec![
            expected_workload("ctr-web", &web, "nginx", &alpine),
            expected_workload("ctr-db", &db, "postgres", &debian),
        ],
    });
    assert_eq!(inventory, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_without_content_for_the_platform_is_left_out() {
    let daemon = ContainerdDaemon::start().unwrap();
    let alpine = alpine(&daemon);
    let debian = debian(&daemon, "registry.example/shop/api:1.4");
    let web = pod("shop", "web-0", "4b8f1c9e-2d3a-4e5f-8a6b-7c8d9e0f1a2b");
    daemon
        .create_pod_container("ctr-web", &alpine.name, &web, "nginx")
        .unwrap();
    let client = Containerd::connect(daemon.socket().to_str().unwrap(), NAMESPACE)
        .await
        .unwrap();

    // The Alpine index lists an arm64 manifest whose content is not on this node.
    let arm64 = Platform::parse("linux/arm64/v8").unwrap();
    let inventory = inventory::list(&client, &arm64).await.unwrap();

    let digests: Vec<&str> = inventory
        .images
        .iter()
        .map(|i| i.manifest_digest.as_str())
        .collect();
    assert_eq!(digests, [debian.manifest_digest.as_str()]);
    assert_eq!(inventory.workloads.len(), 1);
    assert_eq!(inventory.workloads[0].image, alpine.name);
    assert_eq!(inventory.workloads[0].image_digest, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_deltas_for_changes_and_a_full_inventory_after_a_restart() {
    // Shown when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("nodebom_agent=debug")
        .with_test_writer()
        .try_init();
    let mut daemon = ContainerdDaemon::start().unwrap();
    let alpine = alpine(&daemon);
    let web = pod("shop", "web-0", "9c3e2b1a-0f4d-4e6a-b8c7-d5e4f3a2b1c0");
    daemon
        .create_pod_sandbox("sandbox-web", &alpine.name, &web)
        .unwrap();
    daemon
        .create_pod_container("ctr-web", &alpine.name, &web, "nginx")
        .unwrap();

    let cancel = CancellationToken::new();
    let mut config = WatchConfig::new(daemon.socket().to_str().unwrap(), NAMESPACE, amd64());
    config.min_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(1);
    let (mut updates, task) = spawn_watch(config, 8, cancel.clone());

    // First the full inventory, as listed.
    let first = tokio::time::timeout(WITHIN, updates.recv())
        .await
        .expect("a first update")
        .expect("watch running");
    let InventoryUpdate::Full(first) = first else {
        panic!("first update is not a full inventory: {first:?}");
    };
    let mut model = sorted(first);
    assert_eq!(model, listed(&daemon).await);
    assert_eq!(model.images, [expected_image(&alpine)]);

    // A new image and a pod container using it arrive as deltas.
    let api = debian(&daemon, "registry.example/shop/api:1.4");
    let api_pod = pod("shop", "api-0", "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
    daemon
        .create_pod_sandbox("sandbox-api", &api.name, &api_pod)
        .unwrap();
    daemon
        .create_pod_container("ctr-api", &api.name, &api_pod, "api")
        .unwrap();
    let mut expected = model.clone();
    expected.images.push(expected_image(&api));
    expected
        .workloads
        .push(expected_workload("ctr-api", &api_pod, "api", &api));
    let expected = sorted(expected);
    let seen = until_equal(&mut updates, &mut model, &expected).await;
    assert!(
        seen.iter()
            .all(|u| matches!(u, InventoryUpdate::Delta(changes) if !changes.is_empty())),
        "only non-empty deltas: {seen:#?}"
    );
    assert_eq!(model, listed(&daemon).await);

    // A deleted container and a deleted image go away the same way.
    daemon.delete_container("ctr-web").unwrap();
    daemon.delete_container("sandbox-web").unwrap();
    let alpine_names = expected_image(&alpine).names;
    let mut args = vec!["images", "rm"];
    args.extend(alpine_names.iter().map(String::as_str));
    daemon.ctr(&args).unwrap();
    let mut expected = model.clone();
    expected.workloads.retain(|w| w.container_id != "ctr-web");
    expected
        .images
        .retain(|i| i.manifest_digest != alpine.manifest_digest);
    until_equal(&mut updates, &mut model, &expected).await;
    assert_eq!(model, listed(&daemon).await);

    // containerd restarts: the watch reconnects and lists everything again.
    daemon.restart().unwrap();
    let update = tokio::time::timeout(WITHIN, updates.recv())
        .await
        .expect("an update after the restart")
        .expect("watch running");
    assert_eq!(update, InventoryUpdate::Full(model.clone()));

    // And follows events on the new connection.
    daemon.delete_container("ctr-api").unwrap();
    let mut expected = model.clone();
    expected.workloads.clear();
    until_equal(&mut updates, &mut model, &expected).await;

    cancel.cancel();
    tokio::time::timeout(WITHIN, task)
        .await
        .expect("watch stops when cancelled")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_listing_sends_nothing_while_events_kept_up() {
    let daemon = ContainerdDaemon::start().unwrap();
    let alpine = alpine(&daemon);
    let web = pod("shop", "web-0", "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d");
    daemon
        .create_pod_container("ctr-web", &alpine.name, &web, "nginx")
        .unwrap();
    let cancel = CancellationToken::new();
    let mut config = WatchConfig::new(daemon.socket().to_str().unwrap(), NAMESPACE, amd64());
    config.resync_interval = Duration::from_millis(200);
    let (mut updates, task) = spawn_watch(config, 8, cancel.clone());
    let first = tokio::time::timeout(WITHIN, updates.recv())
        .await
        .expect("a first update")
        .expect("watch running");
    let InventoryUpdate::Full(mut model) = first else {
        panic!("first update is not a full inventory: {first:?}");
    };

    // Several listings later, nothing was sent: the records did not change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(updates.try_recv(), Err(mpsc::error::TryRecvError::Empty));

    // The watch still follows changes (by event, or by the next listing).
    daemon.delete_container("ctr-web").unwrap();
    let mut expected = model.clone();
    expected.workloads.clear();
    until_equal(&mut updates, &mut model, &expected).await;
    cancel.cancel();
    task.await.unwrap();
}
