//! What the agent's end-to-end tests share: running `nodebom-agent scan` against a
//! private containerd.

use std::process::{Command, Output};

use nodebom_e2e::ContainerdDaemon;
use serde_json::Value;

/// `nodebom-agent scan --socket <daemon> <args>`, warnings only in its log.
pub fn agent(daemon: &ContainerdDaemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nodebom-agent"))
        .arg("scan")
        .arg("--socket")
        .arg(daemon.socket())
        .args(args)
        .env("NODEBOM_LOG", "warn")
        .output()
        .unwrap()
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
