use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::package::Ecosystem;

/// Output of a command of this machine, trimmed.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    assert!(out.status.success(), "{program} {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `to` under `root` (a hard link when it can be, the binaries are large).
fn place(root: &Path, to: &str, from: &Path) {
    let target = root.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    if std::fs::hard_link(from, &target).is_err() {
        std::fs::copy(from, &target).unwrap();
    }
}

/// A host root made of this machine's Debian files: its os-release, dpkg database and
/// the Debian-built containerd and runc, plus things that must not be read.
fn debian_host() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    place(
        root,
        "/usr/lib/os-release",
        Path::new("/usr/lib/os-release"),
    );
    std::fs::create_dir_all(root.join("etc")).unwrap();
    symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    place(
        root,
        "/var/lib/dpkg/status",
        Path::new("/var/lib/dpkg/status"),
    );
    for package in ["containerd", "runc"] {
        let list = format!("/var/lib/dpkg/info/{package}.list");
        place(root, &list, Path::new(&list));
    }
    place(
        root,
        "/usr/bin/containerd",
        Path::new("/usr/bin/containerd"),
    );
    place(root, "/usr/sbin/runc", Path::new("/usr/sbin/runc"));
    // Outside the host paths: a Go binary in a home directory and a package database
    // under /srv are not read.
    place(root, "/home/user/bin/ctr", Path::new("/usr/bin/ctr"));
    place(
        root,
        "/srv/var/lib/dpkg/status",
        Path::new("/var/lib/dpkg/status"),
    );
    // A link out of the root where a CNI directory would be is not followed.
    std::fs::create_dir_all(root.join("opt/cni")).unwrap();
    symlink("/usr/bin", root.join("opt/cni/bin")).unwrap();
    dir
}

fn scan_root(root: &Path) -> NodeSoftware {
    scan(root, &crate::catalog::all(), Limits::default()).unwrap()
}

#[test]
fn debian_host_gives_its_os_packages_kernel_and_go_programs() {
    let dir = debian_host();
    let node = scan_root(dir.path());

    let id = run(
        "sh",
        &["-c", ". /usr/lib/os-release && echo $ID-$VERSION_ID"],
    );
    assert_eq!(node.facts.os, id);
    assert_eq!(node.facts.kernel, run("uname", &["-r"]));
    assert!(!node.facts.os_name.is_empty());

    let deb = |name: &str| {
        node.contents
            .packages
            .iter()
            .find(|p| p.package.ecosystem == Ecosystem::Deb && p.package.name == name)
            .map(|p| p.package.full_version())
    };
    for name in ["containerd", "runc"] {
        let version = run("dpkg-query", &["-W", "-f", "${Version}", name]);
        assert_eq!(deb(name).as_deref(), Some(version.as_str()), "{name}");
    }
    let installed = run("dpkg-query", &["-W", "-f", "${binary:Package}\\n"]);
    let debs = node
        .contents
        .packages
        .iter()
        .filter(|p| p.package.ecosystem == Ecosystem::Deb)
        .count();
    assert_eq!(debs, installed.lines().count());

    // The Go programs, at their host paths, with the toolchain that built them.
    let go_paths: Vec<&str> = node
        .contents
        .packages
        .iter()
        .filter(|p| p.package.ecosystem == Ecosystem::Go)
        .map(|p| p.path.as_str())
        .collect();
    assert!(go_paths.contains(&"/usr/bin/containerd"), "{go_paths:?}");
    assert!(go_paths.contains(&"/usr/sbin/runc"), "{go_paths:?}");
    assert!(
        go_paths
            .iter()
            .all(|p| !p.starts_with("/home") && !p.starts_with("/opt")),
        "{go_paths:?}"
    );
    assert!(node
        .contents
        .packages
        .iter()
        .all(|p| !p.path.starts_with("/srv")));
    // The programs are the Debian packages': said on their Go modules.
    for (path, owner) in [
        ("/usr/bin/containerd", "containerd"),
        ("/usr/sbin/runc", "runc"),
    ] {
        let go = node
            .contents
            .packages
            .iter()
            .find(|p| p.path == path && p.package.ecosystem == Ecosystem::Go)
            .unwrap();
        assert_eq!(
            go.package
                .properties
                .get(crate::package::PROP_OS_PACKAGE)
                .map(String::as_str),
            Some(owner),
            "{path}: {go:?}"
        );
    }
}

#[test]
fn identical_hosts_have_one_digest_and_a_change_gives_another() {
    let (a, b) = (debian_host(), debian_host());
    let (first, second) = (scan_root(a.path()), scan_root(b.path()));
    assert!(first.digest.starts_with("sha256:") && first.digest.len() == 71);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.contents, second.contents);

    // Another program on the kubelet's path: another node software.
    place(b.path(), "/usr/local/bin/ctr", Path::new("/usr/bin/ctr"));
    let changed = scan_root(b.path());
    assert_ne!(changed.digest, first.digest);
    // Outside the host paths: the same.
    place(a.path(), "/root/ctr", Path::new("/usr/bin/ctr"));
    assert_eq!(scan_root(a.path()).digest, first.digest);
}

#[test]
fn node_sbom_has_the_node_its_kernel_and_its_packages() {
    let dir = debian_host();
    let node = scan_root(dir.path());
    let subject = crate::sbom::Subject::Node {
        node: &node.facts,
        digest: &node.digest,
    };
    let json =
        crate::sbom::build_for(subject, &node.contents, crate::sbom::SpecVersion::V1_5).unwrap();
    let bom: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let root = &bom["metadata"]["component"];
    assert_eq!(root["type"], "platform");
    assert_eq!(root["version"], node.digest.as_str());
    let components = bom["components"].as_array().unwrap();
    let kernel = components
        .iter()
        .find(|c| c["type"] == "operating-system" && c["name"] == "linux")
        .expect("kernel component");
    assert_eq!(kernel["version"], run("uname", &["-r"]).as_str());
    assert!(components.iter().any(|c| c["purl"]
        .as_str()
        .is_some_and(|p| p.starts_with("pkg:deb/debian/runc@"))));
    // The root depends on the kernel and on the distribution.
    let root_deps = bom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == root["bom-ref"])
        .unwrap();
    let refs: Vec<&str> = root_deps["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(refs.iter().any(|r| r.starts_with("kernel:")), "{refs:?}");
    assert!(refs.iter().any(|r| r.starts_with("os:debian")), "{refs:?}");
}

#[test]
fn machine_names_become_go_architectures() {
    assert_eq!(go_arch("x86_64"), "amd64");
    assert_eq!(go_arch("aarch64"), "arm64");
    assert_eq!(go_arch("mips64"), "mips64");
}
