//! `nodebom-agent scan` against a real, private containerd with images built by the tests
//! from the catalogers' real-world fixtures: once from layer blobs (image not unpacked),
//! once from snapshots after the layer blobs were deleted (discard_unpacked_layers).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

mod common;

use common::{agent, installed_debs, scan_ok};
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, Entry, ImageSpec, Layer};
use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/catalog")
        .join(path)
}

fn read_fixture(path: &str) -> String {
    std::fs::read_to_string(fixture(path)).unwrap()
}

/// (purl type, name, version) of every library/application component.
fn packages(bom: &Value) -> BTreeSet<(String, String, String)> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] != "operating-system")
        .map(|c| {
            let purl = c["purl"].as_str().unwrap();
            let kind = purl
                .trim_start_matches("pkg:")
                .split('/')
                .next()
                .unwrap()
                .to_string();
            (
                kind,
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn names_of(bom: &Value, kind: &str) -> BTreeSet<String> {
    packages(bom)
        .into_iter()
        .filter(|(k, _, _)| k == kind)
        .map(|(_, n, _)| n)
        .collect()
}

/// The status file without one package's stanza: what `dpkg --purge` leaves behind.
fn status_without(status: &str, package: &str) -> String {
    status
        .split("\n\n")
        .filter(|stanza| !stanza.lines().any(|l| l == format!("Package: {package}")))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A Debian 12 image built like a real one: base with dpkg, an app layer with a Go
/// binary and pip/npm packages, then a layer that deletes a pip package, an npm
/// package and a dpkg package.
fn debian_app_image() -> (ImageSpec, String) {
    let status = read_fixture("dpkg/testdata/var/lib/dpkg/status");
    let purged = installed_debs(&status).into_iter().next().unwrap();
    let spec = ImageSpec {
        name: "docker.io/nodebom/debian-app:1.0".into(),
        layers: vec![
            Layer::gzip(vec![
                Entry::tree(fixture("os/testdata/debian-12"), "/"),
                Entry::Symlink {
                    path: "/etc/os-release".into(),
                    target: "../usr/lib/os-release".into(),
                },
                Entry::file("/var/lib/dpkg/status", status.clone()),
            ]),
            Layer::zstd(vec![
                Entry::tree(
                    fixture("python/testdata/usr/local/lib/python3.11/site-packages"),
                    "/usr/local/lib/python3.11/site-packages",
                ),
                Entry::tree(
                    fixture("npm/testdata/usr/src/app/node_modules"),
                    "/app/node_modules",
                ),
                Entry::executable(
                    "/usr/local/bin/hello",
                    std::fs::read(fixture("golang/testdata/usr/local/bin/hello")).unwrap(),
                ),
            ]),
            Layer::plain(vec![
                Entry::Whiteout {
                    path: format!(
                        "/usr/local/lib/python3.11/site-packages/{}",
                        doomed_dist_info()
                    ),
                },
                Entry::Opaque {
                    dir: format!("/app/node_modules/{}", doomed_npm_dir()),
                },
                Entry::file("/var/lib/dpkg/status", status_without(&status, &purged)),
            ]),
        ],
        multi_platform: false,
    };
    (spec, purged)
}

/// The first dist-info directory of the Python fixture: deleted by the last layer.
fn doomed_dist_info() -> String {
    let mut dirs: Vec<String> = std::fs::read_dir(fixture(
        "python/testdata/usr/local/lib/python3.11/site-packages",
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .filter(|n| n.ends_with(".dist-info"))
    .collect();
    dirs.sort();
    dirs.remove(0)
}

/// The first package directory of the npm fixture: emptied by an opaque marker.
fn doomed_npm_dir() -> String {
    let mut dirs: Vec<String> = std::fs::read_dir(fixture("npm/testdata/usr/src/app/node_modules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.starts_with('@'))
        .collect();
    dirs.sort();
    dirs.remove(0)
}

fn metadata_field(path: &Path, field: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")).map(str::to_string))
        .unwrap()
}

fn build_and_import(daemon: &ContainerdDaemon, spec: &ImageSpec, unpack: bool) -> BuiltImage {
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(spec, out.path()).unwrap();
    if unpack {
        daemon.import(&built).unwrap();
    } else {
        daemon.import_packed(&built).unwrap();
    }
    built
}

fn assert_debian_app_bom(bom: &Value, built: &BuiltImage, purged: &str) {
    let component = &bom["metadata"]["component"];
    assert_eq!(component["type"], "container");
    assert_eq!(component["name"], "docker.io/nodebom/debian-app");
    assert_eq!(component["version"], built.manifest_digest.as_str());

    let os = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "operating-system")
        .expect("an operating-system component");
    assert_eq!(os["name"], "debian");
    let debian_version = read_fixture("os/testdata/debian-12/etc/debian_version");
    assert_eq!(os["version"], debian_version.trim());

    let status = read_fixture("dpkg/testdata/var/lib/dpkg/status");
    let mut expected_debs = installed_debs(&status);
    expected_debs.remove(purged);
    assert_eq!(names_of(bom, "deb"), expected_debs, "visible dpkg packages");

    let site = fixture("python/testdata/usr/local/lib/python3.11/site-packages");
    let doomed = doomed_dist_info();
    let mut expected_python = BTreeSet::new();
    for entry in std::fs::read_dir(&site).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".dist-info") && name != doomed {
            expected_python.insert(metadata_field(&site.join(&name).join("METADATA"), "Name"));
        }
    }
    let doomed_name = metadata_field(&site.join(&doomed).join("METADATA"), "Name");
    let python = names_of(bom, "pypi");
    assert!(
        !python.contains(&doomed_name),
        "{doomed_name} was deleted by a later layer"
    );
    assert_eq!(python, expected_python);

    let npm = names_of(bom, "npm");
    let doomed_npm: Value = serde_json::from_str(&read_fixture(&format!(
        "npm/testdata/usr/src/app/node_modules/{}/package.json",
        doomed_npm_dir()
    )))
    .unwrap();
    assert!(
        !npm.contains(doomed_npm["name"].as_str().unwrap()),
        "opaque dir hides {}",
        doomed_npm["name"]
    );
    assert!(!npm.is_empty());

    let go = names_of(bom, "golang");
    assert!(go.contains("stdlib"), "{go:?}");
    assert!(go.contains("example.com/greet"), "{go:?}");

    let diff_ids: BTreeSet<&str> = built.diff_ids.iter().map(String::as_str).collect();
    for c in bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] != "operating-system")
    {
        let layer = c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "nodebom:layer_diff_id")
            .map(|p| p["value"].as_str().unwrap())
            .unwrap();
        assert!(
            diff_ids.contains(layer),
            "{layer} is not a layer of the image"
        );
    }
}

#[test]
fn blobs_and_snapshots_give_the_same_visible_packages() {
    let daemon = ContainerdDaemon::start().unwrap();
    let (spec, purged) = debian_app_image();

    let packed = build_and_import(&daemon, &spec, false);
    let from_blobs = scan_ok(&daemon, &[&packed.name]);
    assert_debian_app_bom(&from_blobs, &packed, &purged);

    let daemon = ContainerdDaemon::start().unwrap();
    let unpacked = build_and_import(&daemon, &spec, true);
    daemon.delete_blobs(&unpacked.layer_digests).unwrap();
    let from_snapshots = scan_ok(&daemon, &[&unpacked.name]);
    assert_debian_app_bom(&from_snapshots, &unpacked, &purged);

    assert_eq!(packages(&from_blobs), packages(&from_snapshots));
    // A complete scan says nothing about completeness: no compositions, no reasons.
    for bom in [&from_blobs, &from_snapshots] {
        assert!(bom.get("compositions").is_none(), "{}", bom["compositions"]);
        assert!(bom["metadata"].get("properties").is_none());
    }
}

#[test]
fn bad_tar_entry_gives_an_incomplete_sbom_not_a_failed_scan() {
    let daemon = ContainerdDaemon::start().unwrap();
    let (mut spec, purged) = debian_app_image();
    // A hard link to the layer root: containerd refuses to unpack it, so the image is
    // imported without unpacking and read from its blobs.
    spec.layers.push(Layer::gzip(vec![Entry::Hardlink {
        path: "/etc/escape".into(),
        target: "..".into(),
    }]));
    let packed = build_and_import(&daemon, &spec, false);
    let output = agent(&daemon, &[&packed.name]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("incomplete: its SBOM says so"), "{stderr}");
    assert!(stderr.contains("hard link to the layer root"), "{stderr}");
    let bom: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_debian_app_bom(&bom, &packed, &purged);
    let image_ref = bom["metadata"]["component"]["bom-ref"].clone();
    assert_eq!(
        bom["compositions"],
        serde_json::json!([{"aggregate": "incomplete", "assemblies": [image_ref]}])
    );
    let last_layer = packed.diff_ids.last().unwrap();
    assert_eq!(
        bom["metadata"]["properties"],
        serde_json::json!([{
            "name": "nodebom:incomplete",
            "value": format!(
                "layer {last_layer}: skipped 1 entry: \"etc/escape\" (hard link to the layer root)"
            ),
        }])
    );
}

#[test]
fn multi_platform_index_resolves_to_the_manifest_present_on_the_node() {
    let daemon = ContainerdDaemon::start().unwrap();
    let spec = ImageSpec {
        name: "docker.io/nodebom/multi:2".into(),
        layers: vec![Layer::gzip(vec![
            Entry::tree(fixture("os/testdata/alpine-3.20"), "/"),
            Entry::tree(fixture("apk/testdata/lib"), "/lib"),
        ])],
        multi_platform: true,
    };
    let built = build_and_import(&daemon, &spec, true);
    let index = built.index_digest.clone().unwrap();
    for reference in [
        built.name.clone(),
        format!("docker.io/nodebom/multi@{index}"),
        built.config_digest.clone(),
    ] {
        let bom = scan_ok(&daemon, &["--platform", "linux/amd64", &reference]);
        assert_eq!(
            bom["metadata"]["component"]["version"],
            built.manifest_digest.as_str(),
            "{reference}"
        );
        assert!(!names_of(&bom, "apk").is_empty(), "{reference}");
        let purl = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|c| c["purl"].as_str().filter(|p| p.starts_with("pkg:apk/")))
            .unwrap()
            .to_string();
        assert!(purl.starts_with("pkg:apk/alpine/"), "{purl}");
        assert!(purl.contains("distro=alpine-3.20"), "{purl}");
    }
    let output = agent(&daemon, &["--platform", "linux/arm64/v8", &built.name]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not on this node"), "{stderr}");
}

#[test]
fn rpm_image_reports_redhat_purls_with_epoch() {
    let daemon = ContainerdDaemon::start().unwrap();
    let spec = ImageSpec {
        name: "registry.example/nodebom/ubi:9".into(),
        layers: vec![Layer::gzip(vec![
            Entry::tree(fixture("os/testdata/ubi-9"), "/"),
            Entry::tree(fixture("rpm/testdata/var"), "/var"),
        ])],
        multi_platform: false,
    };
    let built = build_and_import(&daemon, &spec, true);
    let bom = scan_ok(&daemon, &[&built.name]);
    let purls: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert!(!purls.is_empty());
    for purl in &purls {
        assert!(purl.starts_with("pkg:rpm/redhat/"), "{purl}");
        assert!(purl.contains("distro=redhat-9"), "{purl}");
    }
    assert!(
        purls.iter().any(|p| p.contains("epoch=")),
        "the fixture has a package with an epoch: {purls:?}"
    );
}

#[test]
fn several_images_and_all_write_one_file_per_manifest_digest() {
    let daemon = ContainerdDaemon::start().unwrap();
    let (spec, _) = debian_app_image();
    let first = build_and_import(&daemon, &spec, true);
    let second_spec = ImageSpec {
        name: "docker.io/nodebom/alpine:3.20".into(),
        layers: vec![Layer::gzip(vec![
            Entry::tree(fixture("os/testdata/alpine-3.20"), "/"),
            Entry::tree(fixture("apk/testdata/lib"), "/lib"),
        ])],
        multi_platform: false,
    };
    let second = build_and_import(&daemon, &second_spec, true);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("sboms");
    let output = agent(&daemon, &["--all", "--output", dir.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = [&first, &second]
        .iter()
        .map(|b| format!("{}.cdx.json", b.manifest_digest.replace(':', "-")))
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "one file per digest, although each image has several names"
    );
    for built in [&first, &second] {
        let name = format!("{}.cdx.json", built.manifest_digest.replace(':', "-"));
        let bom: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        assert_eq!(bom["specVersion"], "1.5");
        assert_eq!(
            bom["metadata"]["component"]["version"],
            built.manifest_digest.as_str()
        );
    }

    let output = agent(&daemon, &["--spec", "1.6", &first.name]);
    let bom: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(bom["specVersion"], "1.6");
}

#[test]
fn unknown_image_is_a_clear_error() {
    let daemon = ContainerdDaemon::start().unwrap();
    let output = agent(&daemon, &["docker.io/library/nope:1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("docker.io/library/nope:1") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn unreachable_socket_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_nodebom-agent"))
        .args([
            "scan",
            "--socket",
            "/nonexistent/containerd.sock",
            "docker.io/library/nginx:1",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/containerd.sock"), "{stderr}");
}

#[test]
fn image_whose_layers_are_nowhere_on_the_node_fails_without_pulling() {
    let daemon = ContainerdDaemon::start().unwrap();
    let spec = ImageSpec {
        name: "docker.io/nodebom/gone:1".into(),
        layers: vec![Layer::gzip(vec![Entry::tree(
            fixture("os/testdata/alpine-3.20"),
            "/",
        )])],
        multi_platform: false,
    };
    let built = build_and_import(&daemon, &spec, false);
    daemon.delete_blobs(&built.layer_digests).unwrap();
    let output = agent(&daemon, &[&built.name]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&built.layer_digests[0]) && stderr.contains("never pulls"),
        "{stderr}"
    );
    let content =
        String::from_utf8_lossy(&daemon.ctr(&["content", "ls", "-q"]).unwrap().stdout).into_owned();
    assert!(
        !content.contains(&built.layer_digests[0]),
        "nothing was fetched"
    );
}

#[test]
fn second_image_sharing_the_base_layer_reads_only_its_own_layers() {
    use nodebom_agent::analysis::layer_cache::MemoryLayerCache;
    use nodebom_agent::analysis::LayerOrigin;
    use nodebom_agent::containerd::Containerd;
    use nodebom_agent::image::Platform;
    use nodebom_agent::layers::Limits;
    use nodebom_agent::package::PackageKind;
    use nodebom_agent::scan::Scanner;

    let daemon = ContainerdDaemon::start().unwrap();
    let base = Layer::gzip(vec![
        Entry::tree(fixture("os/testdata/debian-12"), "/"),
        Entry::tree(fixture("dpkg/testdata/var"), "/var"),
    ]);
    let first = ImageSpec {
        name: "docker.io/nodebom/first:1".into(),
        layers: vec![
            base.clone(),
            Layer::gzip(vec![Entry::tree(fixture("python/testdata/usr"), "/usr")]),
        ],
        multi_platform: false,
    };
    let second = ImageSpec {
        name: "docker.io/nodebom/second:1".into(),
        layers: vec![
            base,
            Layer::zstd(vec![Entry::tree(fixture("npm/testdata/usr"), "/usr")]),
        ],
        multi_platform: false,
    };
    let first = build_and_import(&daemon, &first, false);
    let second = build_and_import(&daemon, &second, true);
    assert_eq!(
        first.diff_ids[0], second.diff_ids[0],
        "the base layer is shared"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Containerd::connect(daemon.socket().to_str().unwrap(), "k8s.io")
            .await
            .unwrap();
        let scanner = Scanner::new(
            client,
            Arc::new(MemoryLayerCache::new(16 << 20)),
            Limits::default(),
            Platform::host(),
        );
        let a = scanner.scan(&first.name).await.unwrap();
        assert_eq!(a.origins, vec![LayerOrigin::Blob, LayerOrigin::Blob]);
        let b = scanner.scan(&second.name).await.unwrap();
        assert_eq!(b.origins, vec![LayerOrigin::Cache, LayerOrigin::Snapshot]);
        let debs = |o: &nodebom_agent::scan::ScanOutcome| {
            o.contents
                .packages
                .iter()
                .filter(|p| p.package.identity.kind == PackageKind::Os)
                .count()
        };
        assert!(debs(&a) > 0);
        assert_eq!(
            debs(&a),
            debs(&b),
            "the cached base layer gives the same packages"
        );
    });
}
