//! What the agent's end-to-end tests share: running `nodebom-agent scan` against a
//! private containerd, and reading what the tests put in images.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Seek};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nodebom_e2e::ContainerdDaemon;
use serde_json::Value;

/// How long one scan of a test image may take: a scan still running after it is hung
/// (on a FIFO, a device, a loop), and the test fails instead of waiting forever.
const SCAN_BOUND: Duration = Duration::from_secs(120);

/// `nodebom-agent scan --socket <daemon> <args>`, warnings only in its log; killed and
/// failed after [`SCAN_BOUND`].
pub fn agent(daemon: &ContainerdDaemon, args: &[&str]) -> Output {
    // Files rather than pipes: the child never blocks on a full pipe while it is waited for.
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodebom-agent"))
        .arg("scan")
        .arg("--socket")
        .arg(daemon.socket())
        .args(args)
        .env("NODEBOM_LOG", "warn")
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCAN_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("scan {args:?} still running after {SCAN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |file: &mut std::fs::File| {
        let mut bytes = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    };
    Output {
        status,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

/// The CycloneDX document a successful scan prints; fails the test otherwise.
pub fn scan_ok(daemon: &ContainerdDaemon, args: &[&str]) -> Value {
    let output = agent(daemon, args);
    assert!(
        output.status.success(),
        "scan {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Installed package names of a dpkg status file, read the simple way dpkg-query does.
pub fn installed_debs(status: &str) -> BTreeSet<String> {
    status
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed"))
        .filter_map(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Package: ")))
        .map(str::to_string)
        .collect()
}
