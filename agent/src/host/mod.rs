//! The node's own software: what runs the pods rather than what they run. The OS and its
//! packages, the running kernel, and the programs on the paths kubelet, containerd and
//! the CNI plugins live in, read from the host's root file system (mounted read-only
//! into the agent's pod, or `/` for `scan-host`) with the image catalogers.
//!
//! Only [`HOST_PATHS`] are walked, never the whole disk, with the same walk as an
//! unpacked layer: no link is followed, only regular files are opened, and the layer
//! limits bound the entries read. The result is keyed by the digest of its contents, so
//! identical nodes (a node pool of one machine image) report the same digest and the
//! collector keeps one SBOM for all of them.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::analysis::{self, merge};
use crate::catalog::Cataloger;
use crate::layers::snapshot::SnapshotLayer;
use crate::layers::Limits;
use crate::package::ImageContents;
use crate::{Error, Result};

/// The host paths read, each with what is below it: the OS identity and package
/// databases (dpkg, rpm in both of its places, apk), and the directories where
/// distributions and Kubernetes installers put kubelet, containerd and its shims, runc,
/// crictl and the CNI plugins (`/opt/cni/bin` upstream, `/usr/lib/cni` on Debian,
/// `/usr/libexec/cni` on Fedora, `/home/kubernetes/bin` on GKE, `/opt/bin` on Flatcar).
/// `/bin` and `/sbin` count for hosts that are not usr-merged (elsewhere they are links,
/// which the walk never follows).
pub const HOST_PATHS: &[&str] = &[
    "/etc/os-release",
    "/usr/lib/os-release",
    "/var/lib/dpkg",
    "/var/lib/rpm",
    "/usr/lib/sysimage/rpm",
    "/lib/apk/db",
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/libexec/cni",
    "/usr/libexec/kubernetes",
    "/usr/lib/cni",
    "/opt/bin",
    "/opt/cni/bin",
    "/home/kubernetes/bin",
];

/// Stands for the host where an image SBOM names the layer a package was found in.
pub const HOST_LAYER: &str = "host";

/// What the node is, beyond its packages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeFacts {
    /// os-release `ID-VERSION_ID` (`debian-12`); empty when unknown.
    pub os: String,
    /// os-release `PRETTY_NAME`.
    pub os_name: String,
    /// Running kernel release (`uname -r`).
    pub kernel: String,
    /// Machine architecture in Go's terms (`amd64`, `arm64`).
    pub arch: String,
}

/// The node's own software, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSoftware {
    pub facts: NodeFacts,
    /// Packages found on [`HOST_PATHS`], as for an image of one layer.
    pub contents: ImageContents,
    /// `sha256:<hex>` of the facts and contents: equal on identical nodes.
    pub digest: String,
}

/// The node's software as the agent reports it: its record and its SBOM, built once
/// per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// [`NodeSoftware::digest`].
    pub digest: String,
    pub facts: NodeFacts,
    /// The CycloneDX JSON document.
    pub sbom: Vec<u8>,
}

/// The latest [`HostReport`], `None` until the host was read (or when it is not).
pub type HostFeed = tokio::sync::watch::Receiver<Option<Arc<HostReport>>>;

/// Reads the host whose root file system is at `root`. Blocking: run it off the async
/// runtime. The kernel is the running one (a pod shares its node's kernel).
pub fn scan(
    root: &Path,
    catalogers: &[Box<dyn Cataloger>],
    limits: Limits,
) -> Result<NodeSoftware> {
    let mut source = SnapshotLayer::new(HOST_LAYER, root, limits).within(HOST_PATHS);
    let analysis = analysis::analyze_layer(&mut source, catalogers)?;
    let contents = merge(&[(HOST_LAYER.to_owned(), Arc::new(analysis))]);
    let uname = rustix::system::uname();
    let os = contents.os.as_ref();
    let facts = NodeFacts {
        os: match os.map(|os| (&os.id, &os.version_id)) {
            Some((Some(id), Some(version))) => format!("{id}-{version}"),
            Some((Some(id), None)) => id.clone(),
            _ => String::new(),
        },
        os_name: os
            .and_then(|os| os.pretty_name.clone().or_else(|| os.name.clone()))
            .unwrap_or_default(),
        kernel: uname.release().to_string_lossy().into_owned(),
        arch: go_arch(&uname.machine().to_string_lossy()).to_owned(),
    };
    let digest = content_digest(&facts, &contents)?;
    Ok(NodeSoftware {
        facts,
        contents,
        digest,
    })
}

/// The digest that identifies a node's software: SHA-256 of its facts and contents as
/// JSON (their field order and the contents' sorting make it canonical).
fn content_digest(facts: &NodeFacts, contents: &ImageContents) -> Result<String> {
    let json = serde_json::to_vec(&(facts, contents))
        .map_err(|e| Error::Sbom(format!("hashing the node's software: {e}")))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&json))))
}

/// `uname -m` in Go's (and OCI's) architecture names.
fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "i386" | "i686" => "386",
        "armv7l" | "armv6l" => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests;
