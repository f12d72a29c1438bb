//! The `nodebom-agent run` binary as a separate process, against a real containerd and a
//! real collector (in this process) forwarding to the Dependency-Track test server: a
//! SIGKILL in the middle of a build, then a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// The whole-nodebom harness of the end-to-end tests (collector, images), shared as is.
#[path = "../../e2e/tests/common/stack.rs"]
mod stack;

use nodebom_e2e::dtrack::{DtOptions, DtServer};
use nodebom_e2e::{ContainerdDaemon, Entry, Layer};
use stack::*;

/// An agent process, killed (SIGKILL) when dropped.
struct AgentProcess(Child);

impl AgentProcess {
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An agent process reporting as node `node-1` of cluster `prod-a`; every line of its
/// log goes to `lines`.
fn spawn_agent(
    daemon: &ContainerdDaemon,
    collector: &TestCollector,
    token_file: &std::path::Path,
    lines: mpsc::Sender<String>,
) -> AgentProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodebom-agent"))
        .args([
            "run",
            "--cluster",
            "prod-a",
            "--node",
            "node-1",
            "--insecure",
        ])
        .args(["--collector", &collector.url])
        .arg("--token-file")
        .arg(token_file)
        .arg("--socket")
        .arg(daemon.socket())
        .args(["--metrics-listen", "127.0.0.1:0", "--nice", "0"])
        .env("NODEBOM_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    AgentProcess(child)
}

/// Waits for a log line containing `what`; fails after `PATIENCE`.
fn wait_for_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(err) => panic!("no log line with {what:?}: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_build_builds_again_after_its_restart_and_uploads_once() {
    let daemon = ContainerdDaemon::start().unwrap();
    // A small base layer, then a layer of 128 MiB (of zeros, a few hundred KiB of gzip)
    // that takes the agent a while to read from its blob: the kill falls in it.
    let mut spec = debian_image(
        "docker.io/nodebom/slow:1",
        Entry::tree(fixture("python/testdata/usr"), "/usr"),
    );
    spec.layers.push(Layer::gzip(vec![Entry::file(
        "/var/cache/big",
        vec![0u8; 128 << 20],
    )]));
    let out = tempfile::tempdir().unwrap();
    let built = nodebom_e2e::oci::build(&spec, out.path()).unwrap();
    daemon.import_packed(&built).unwrap();
    let digest = built.manifest_digest.clone();

    let dt = DtServer::start(DtOptions::default()).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let token_file = keys.path().join("token");
    std::fs::write(&token_file, "token-a").unwrap();
    let collector = TestCollector::start_forwarding_to(&dt, &["--dtrack-all-images".into()]).await;

    let (lines, log) = mpsc::channel();
    let mut first = spawn_agent(&daemon, &collector, &token_file, lines);
    // The first layer is read: the build the collector asked for is under way.
    wait_for_line(&log, "layer analysed");
    first.kill();
    let killed_at = Instant::now();
    let images = collector.images().await;
    assert!(
        find(&images, &digest).is_some_and(|i| i.sbom.is_none()),
        "killed before its upload: {images:#?}"
    );

    // Same node: the new session takes over the killed one's build claim at once
    // instead of waiting for the claim's lease (15 minutes) to run out.
    let (lines, log) = mpsc::channel();
    let mut second = spawn_agent(&daemon, &collector, &token_file, lines);
    collector
        .wait_for("the SBOM from the restarted agent", |images| {
            find(images, &digest).is_some_and(|i| i.sbom.is_some())
        })
        .await;
    eprintln!("SBOM stored {:.1?} after the kill", killed_at.elapsed());
    let stored = wait_for_line(&log, "SBOM stored by the collector");
    assert!(stored.contains("already_stored=false"), "{stored}");

    let deadline = Instant::now() + PATIENCE;
    while dt.uploads().is_empty() {
        assert!(Instant::now() < deadline, "no upload to Dependency-Track");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let uploads = dt.uploads();
    assert_eq!(uploads.len(), 1, "one upload: {uploads:#?}");
    assert_eq!(
        uploads[0].bom["metadata"]["component"]["version"],
        digest.as_str()
    );
    assert_eq!(collector.images().await.len(), 1);
    second.kill();
}
