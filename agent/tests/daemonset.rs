//! nodebom's own images (`scripts/build-images`) run as the charts run them: imported
//! into a private containerd and started with `ctr run`, the agent with exactly what the
//! agent chart's DaemonSet grants — containerd's socket directory and overlayfs
//! snapshots read-only at their own paths, a read-only root file system, every
//! capability dropped but CAP_DAC_READ_SEARCH, no privilege escalation — and the
//! collector in its own container. The agent SBOMs the node's images, one of them with
//! its layer blobs deleted, and delivers them to the collector container.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::scan_ok;
use nodebom_e2e::containerd::Pod;
use nodebom_e2e::fixtures::{debian_image, fixture};
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, Entry};
use nodebom_proto::v1::{
    get_sbom_response, query_client::QueryClient, GetSbomRequest, ImageSummary, ListImagesRequest,
    ListNodesRequest,
};
use serde_json::Value;
use tonic::transport::Channel;

const PATIENCE: Duration = Duration::from_secs(120);

/// Where `scripts/build-images` wrote the archives (`scripts/test` builds them first).
fn images_dir() -> PathBuf {
    std::env::var_os("NODEBOM_IMAGES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/images"))
}

/// What an image archive says about itself: its name, manifest digest and config.
struct OwnImage {
    archive: PathBuf,
    name: String,
    manifest_digest: String,
    config: Value,
}

impl OwnImage {
    fn open(binary: &str) -> Self {
        let archive = images_dir().join(format!("{binary}.oci.tar"));
        assert!(
            archive.is_file(),
            "{} is missing: run scripts/build-images first (scripts/test does)",
            archive.display()
        );
        let files = archive_files(&archive);
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let entry = &index["manifests"][0];
        let manifest_digest = entry["digest"].as_str().unwrap().to_string();
        let manifest: Value = serde_json::from_slice(&files[&blob_path(&manifest_digest)]).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config = serde_json::from_slice(&files[&blob_path(config_digest)]).unwrap();
        OwnImage {
            name: entry["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
                .to_string(),
            archive,
            manifest_digest,
            config,
        }
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// The small files of an OCI archive (index, manifests, configs), by path.
fn archive_files(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut files = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() && entry.size() < 1 << 20 {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
    }
    files
}

/// A Debian image with one app layer, run by pod `pod` of namespace `shop`.
fn sample(daemon: &ContainerdDaemon, name: &str, app: Entry, pod: &str) -> BuiltImage {
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(&debian_image(name, app), out.path()).unwrap();
    daemon.import(&built).unwrap();
    let pod = Pod {
        namespace: "shop".into(),
        name: pod.into(),
        uid: format!("uid-{pod}"),
    };
    daemon
        .create_pod_container(&format!("{}-app", pod.name), name, &pod, "app")
        .unwrap();
    built
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bind mount for `ctr run --mount`.
fn bind(source: &Path, destination: &Path, mode: &str) -> [String; 2] {
    [
        "--mount".into(),
        format!(
            "type=bind,src={},dst={},options=rbind:{mode}",
            source.display(),
            destination.display()
        ),
    ]
}

/// Every Linux capability (as of 6.x); ctr 1.6 takes no `ALL`.
const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// What the charts' securityContext gives a container: host network (in place of a
/// pod network), a read-only root, the runtime's seccomp profile, `capabilities`
/// only. ctr sets no_new_privileges unless told otherwise.
fn restricted(capabilities: &[&str]) -> Vec<String> {
    let mut options: Vec<String> = ["--net-host", "--read-only", "--seccomp"]
        .map(String::from)
        .to_vec();
    for capability in CAPABILITIES {
        if !capabilities.contains(&capability) {
            options.extend(["--cap-drop".into(), capability.to_string()]);
        }
    }
    for capability in capabilities {
        options.extend(["--cap-add".into(), capability.to_string()]);
    }
    options
}

/// The OCI runtime spec containerd holds for container `id`.
fn runtime_spec(daemon: &ContainerdDaemon, id: &str) -> Value {
    let info = daemon.ctr(&["containers", "info", id]).unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    info["Spec"].clone()
}

fn logs(paths: &[&Path]) -> String {
    paths
        .iter()
        .map(|path| {
            format!(
                "--- {}\n{}",
                path.display(),
                std::fs::read_to_string(path).unwrap_or_default()
            )
        })
        .collect()
}

async fn list_images(client: &mut QueryClient<Channel>) -> Vec<ImageSummary> {
    match client.list_images(ListImagesRequest::default()).await {
        Ok(response) => response.into_inner().images,
        Err(_) => Vec::new(),
    }
}

async fn stored_sbom(client: &mut QueryClient<Channel>, digest: &str) -> Value {
    let mut stream = client
        .get_sbom(GetSbomRequest {
            manifest_digest: digest.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(get_sbom_response::Part::Chunk(chunk)) = message.part {
            bytes.extend_from_slice(&chunk.data);
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

/// The purls of an SBOM's components.
fn purls(bom: &Value) -> BTreeSet<String> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str().map(str::to_string))
        .collect()
}

/// `(name, version)` of the Debian packages whose `.deb` files `scripts/build-images`
/// downloaded (`<name>_<version>_<arch>.deb`, epoch colon escaped as `%3a`).
fn downloaded_debs() -> BTreeSet<(String, String)> {
    std::fs::read_dir(images_dir().join("debs"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".deb")?;
            let mut parts = stem.splitn(3, '_');
            let package = parts.next()?.to_string();
            let version = parts.next()?.replace("%3a", ":");
            Some((package, version))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_collector_images_run_as_the_charts_run_them() {
    let agent_image = OwnImage::open("nodebom-agent");
    let collector_image = OwnImage::open("nodebom-collector");
    // The process the charts start: the image's entrypoint, as the charts' user.
    assert_eq!(
        agent_image.config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/nodebom-agent"])
    );
    assert_eq!(agent_image.config["config"]["User"], "0:0");
    assert_eq!(
        collector_image.config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/nodebom-collector"])
    );
    assert_eq!(collector_image.config["config"]["User"], "65532:65532");

    let daemon = ContainerdDaemon::start().unwrap();
    daemon.import_archive(&agent_image.archive).unwrap();
    daemon.import_archive(&collector_image.archive).unwrap();
    let with_blobs = sample(
        &daemon,
        "docker.io/nodebom/daemonset-python:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
        "web",
    );
    let blobs_deleted = sample(
        &daemon,
        "docker.io/nodebom/daemonset-go:1",
        Entry::tree(fixture("golang/testdata/usr"), "/usr"),
        "api",
    );
    // discard_unpacked_layers: only the snapshots are left of this image.
    daemon.delete_blobs(&blobs_deleted.layer_digests).unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let dir = |name: &str, owner: u32| {
        let path = scratch.path().join(name);
        std::fs::create_dir(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
        path
    };

    // The collector: its SQLite volume writable by its user, nothing else.
    let data = dir("collector-data", 65532);
    let port = free_port();
    let collector_log = scratch.path().join("collector.log");
    let mut options = restricted(&[]);
    options.extend(bind(&data, Path::new("/var/lib/nodebom-collector"), "rw"));
    daemon
        .run_detached(
            "nodebom-collector",
            &collector_image.name,
            &options,
            &[
                "/usr/bin/nodebom-collector".into(),
                "serve".into(),
                format!("--listen=127.0.0.1:{port}"),
                "--data-dir=/var/lib/nodebom-collector".into(),
                "--cluster-token=node-test=token-node-test".into(),
            ],
            &collector_log,
        )
        .unwrap();

    // The agent: the mounts, capabilities and arguments of the chart's DaemonSet (the
    // chart's test pins them), plaintext to the collector and metrics on loopback.
    let socket = daemon.socket();
    let socket_dir = socket.parent().unwrap();
    let snapshots = daemon.root().join("io.containerd.snapshotter.v1.overlayfs");
    let secrets = dir("token", 0);
    std::fs::write(secrets.join("token"), "token-node-test").unwrap();
    let cache = dir("cache", 0);
    let tmp = dir("tmp", 0);
    // The host's root as `nodeSoftware.enabled` mounts it, made of this Debian machine's
    // files: a package database readable only by its (other) owner, which the agent
    // reads with CAP_DAC_READ_SEARCH alone, and Debian's runc.
    let host = dir("host", 0);
    let place = |from: &str, to: &str, mode: u32| {
        let target = host.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from, &target).unwrap();
        std::os::unix::fs::chown(&target, Some(4321), Some(4321)).unwrap();
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
    };
    place("/usr/lib/os-release", "/usr/lib/os-release", 0o644);
    place("/var/lib/dpkg/status", "/var/lib/dpkg/status", 0o600);
    place("/usr/sbin/runc", "/usr/sbin/runc", 0o700);
    let agent_log = scratch.path().join("agent.log");
    let mut options = restricted(&["CAP_DAC_READ_SEARCH"]);
    // /tmp first: the test daemon's directories are below the host's /tmp.
    options.extend(bind(&tmp, Path::new("/tmp"), "rw"));
    options.extend(bind(socket_dir, socket_dir, "ro"));
    options.extend(bind(&snapshots, &snapshots, "ro"));
    options.extend(bind(&secrets, Path::new("/etc/nodebom/token"), "ro"));
    options.extend(bind(&cache, Path::new("/var/cache/nodebom"), "rw"));
    options.extend(bind(&host, Path::new("/host"), "ro"));
    daemon
        .run_detached(
            "nodebom-agent",
            &agent_image.name,
            &options,
            &[
                "/usr/bin/nodebom-agent".into(),
                "run".into(),
                "--cluster=node-test".into(),
                "--node=node-1".into(),
                format!("--collector=http://127.0.0.1:{port}"),
                "--insecure".into(),
                "--token-file=/etc/nodebom/token/token".into(),
                format!("--socket={}", socket.display()),
                "--namespace=k8s.io".into(),
                "--cache-dir=/var/cache/nodebom".into(),
                "--cache-mib=512".into(),
                "--builders=1".into(),
                "--nice=10".into(),
                "--metrics-listen=127.0.0.1:0".into(),
                "--spec=1.5".into(),
                "--host-root=/host".into(),
                "--host-interval=1h".into(),
            ],
            &agent_log,
        )
        .unwrap();

    // The agent's container has what the chart grants and nothing more.
    let spec = runtime_spec(&daemon, "nodebom-agent");
    let process = &spec["process"];
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(
            process["capabilities"][set],
            serde_json::json!(["CAP_DAC_READ_SEARCH"]),
            "{set} capabilities"
        );
    }
    assert_eq!(process["noNewPrivileges"], true);
    assert_eq!(process["user"]["uid"], 0);
    assert_eq!(spec["root"]["readonly"], true);
    let collector_spec = runtime_spec(&daemon, "nodebom-collector");
    assert_eq!(collector_spec["process"]["user"]["uid"], 65532);
    let bounding = &collector_spec["process"]["capabilities"]["bounding"];
    assert!(
        bounding.as_array().is_none_or(Vec::is_empty),
        "the collector needs no capability: {bounding}"
    );

    // Every image of the node, with its SBOM, at the collector.
    let expected: BTreeSet<String> = [
        &agent_image.manifest_digest,
        &collector_image.manifest_digest,
        &with_blobs.manifest_digest,
        &blobs_deleted.manifest_digest,
    ]
    .into_iter()
    .cloned()
    .collect();
    let deadline = Instant::now() + PATIENCE;
    let mut client = loop {
        if let Ok(client) = QueryClient::connect(format!("http://127.0.0.1:{port}")).await {
            break client;
        }
        assert!(
            Instant::now() < deadline,
            "the collector container does not answer:\n{}",
            logs(&[&collector_log])
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let images = loop {
        let images = list_images(&mut client).await;
        let stored: BTreeSet<String> = images
            .iter()
            .filter(|image| image.sbom.is_some())
            .map(|image| image.manifest_digest.clone())
            .collect();
        if expected.is_subset(&stored) {
            break images;
        }
        assert!(
            Instant::now() < deadline,
            "SBOMs stored: {stored:?}, expected: {expected:?}\n{}",
            logs(&[&agent_log, &collector_log])
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        daemon.task_running("nodebom-agent").unwrap(),
        "the agent stopped:\n{}",
        logs(&[&agent_log])
    );
    let deleted = images
        .iter()
        .find(|image| image.manifest_digest == blobs_deleted.manifest_digest)
        .unwrap();
    assert!(
        deleted.workloads.iter().any(|w| w.cluster == "node-test"
            && w.workload
                .as_ref()
                .is_some_and(|w| w.namespace == "shop" && w.pod == "api")),
        "the pod of the blob-deleted image: {deleted:#?}"
    );

    // What the agent built in its container is what it builds on the host.
    let from_container = stored_sbom(&mut client, &blobs_deleted.manifest_digest).await;
    let on_host = scan_ok(&daemon, &[&blobs_deleted.name]);
    assert!(purls(&on_host).iter().any(|p| p.starts_with("pkg:golang/")));
    assert_eq!(purls(&from_container), purls(&on_host));

    // The node's own software, read in the container through its read-only mount, is
    // what `scan-host` finds on the host.
    let node = loop {
        let nodes = client
            .list_nodes(ListNodesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .nodes;
        if let Some(node) = nodes.into_iter().find(|n| n.node == "node-1" && n.has_sbom) {
            break node;
        }
        assert!(
            Instant::now() < deadline,
            "no node software stored\n{}",
            logs(&[&agent_log, &collector_log])
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let from_container = stored_sbom(&mut client, &node.sbom_digest).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nodebom-agent"))
        .args(["scan-host", "--root"])
        .arg(&host)
        .env("NODEBOM_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let on_host: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        from_container["metadata"]["component"]["version"],
        on_host["metadata"]["component"]["version"],
        "the same digest"
    );
    assert_eq!(purls(&from_container), purls(&on_host));
    assert!(purls(&on_host)
        .iter()
        .any(|p| p.starts_with("pkg:deb/debian/runc@")));
    assert!(purls(&on_host)
        .iter()
        .any(|p| p.starts_with("pkg:golang/github.com/opencontainers/runc")));

    // nodebom's own images list the Debian packages they were built from.
    let debs = downloaded_debs();
    for package in ["libc6", "libgcc-s1", "ca-certificates"] {
        assert!(
            debs.iter().any(|(name, _)| name == package),
            "{package} was not downloaded: {debs:?}"
        );
    }
    for image in [&agent_image, &collector_image] {
        let bom = scan_ok(&daemon, &[&image.name]);
        let listed: BTreeSet<(String, String)> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pkg:deb/"))
            })
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["version"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(listed, debs, "Debian packages of {}", image.name);
    }
}
