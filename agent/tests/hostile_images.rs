//! Hostile images, built by the test, scanned by `nodebom-agent scan` from a real
//! containerd through both of its paths: the layer blobs (image imported without
//! unpacking) and the snapshots (image unpacked, then its layer blobs deleted). Each case
//! states what the scan must give on each path: the packages the case itself put where
//! the image's processes would see them, nothing from the host, and whether the SBOM
//! says it is incomplete (and why). Every scan is bounded in time (`common::agent`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

mod common;

use common::{agent, installed_debs};
use nodebom_e2e::{oci, BuiltImage, ContainerdDaemon, Entry, ImageSpec, Layer};
use packageurl::PackageUrl;
use serde_json::Value;

/// (purl type, name) of a package; Maven names are `group:artifact`.
type Package = (String, String);

fn package(kind: &str, name: &str) -> Package {
    (kind.to_owned(), name.to_owned())
}

/// A dpkg status file with one installed package per name.
fn dpkg_status(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\n\
                 Architecture: amd64\nVersion: 1.0-1\nDescription: {name}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Python distribution's METADATA.
fn python_metadata(name: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
}

/// A hostile entry: written as is, without the tar crate's checks on names.
fn raw(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Entry {
    Entry::Raw {
        name: name.to_vec(),
        kind,
        link: link.to_vec(),
        data: data.to_vec(),
        device: (0, 0),
    }
}

fn symlink(path: &str, target: &str) -> Entry {
    Entry::Symlink {
        path: path.into(),
        target: target.into(),
    }
}

/// The Debian base every case starts from (`/etc/os-release` and friends).
fn debian_base() -> Entry {
    Entry::tree(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog/os/testdata/debian-12"),
        "/",
    )
}

/// Packages of this machine that an escape out of the image root would report: the
/// host's dpkg database and its Python distributions.
fn host_packages() -> BTreeSet<Package> {
    let mut found: BTreeSet<Package> =
        installed_debs(&std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default())
            .into_iter()
            .map(|name| package("deb", &name))
            .collect();
    if let Ok(dir) = std::fs::read_dir("/usr/lib/python3/dist-packages") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((dist, _)) = name.split_once('-') {
                found.insert(package("pypi", &dist.to_lowercase()));
            }
        }
    }
    found
}

/// A jar (zip) with the given entries, each deflated.
fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn pom_properties(group: &str, artifact: &str) -> Vec<u8> {
    format!("groupId={group}\nartifactId={artifact}\nversion=1.0\n").into_bytes()
}

/// The Go fixture binary with its build information's module text overwritten: the
/// varint lengths of its inline strings become absurd.
fn corrupt_go_binary() -> Vec<u8> {
    let mut binary = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/catalog/golang/testdata/usr/local/bin/hello"),
    )
    .unwrap();
    let magic = b"\xff Go buildinf:";
    let at = binary
        .windows(magic.len())
        .position(|w| w == magic)
        .expect("the fixture has Go build information");
    // Header: 14 bytes of magic, pointer size, flags, then (Go 1.18+) inline strings
    // from offset 32: version, then module information.
    for byte in &mut binary[at + 32..at + 48] {
        *byte = 0xff;
    }
    binary
}

/// What a scan through one path must give.
#[derive(Debug, Clone)]
struct Outcome {
    packages: BTreeSet<Package>,
    /// `None`: a complete SBOM (no compositions, no `nodebom:incomplete`). `Some(words)`:
    /// incomplete, with one reason containing every one of `words`.
    incomplete: Option<Vec<&'static str>>,
}

impl Outcome {
    fn complete(packages: &[Package]) -> Self {
        Outcome {
            packages: packages.iter().cloned().collect(),
            incomplete: None,
        }
    }

    fn incomplete(packages: &[Package], words: &[&'static str]) -> Self {
        Outcome {
            packages: packages.iter().cloned().collect(),
            incomplete: Some(words.to_vec()),
        }
    }
}

struct Case {
    /// Image name `docker.io/hostile/<name>:1`.
    name: &'static str,
    layers: Vec<Layer>,
    /// Scan options (lowered limits).
    args: Vec<&'static str>,
    from_blobs: Outcome,
    from_snapshots: Outcome,
}

fn cases() -> Vec<Case> {
    let control = |name: &str| Entry::file("/var/lib/dpkg/status", dpkg_status(&[name]));
    let python = |dir: &str, name: &str| {
        Entry::file(
            &format!("{dir}/{name}-1.0.dist-info/METADATA"),
            python_metadata(name),
        )
    };
    let zeros = vec![0u8; 16 << 20];
    let mut cases = Vec::new();

    // (a) Names with `..` and absolute names are rooted, as containerd roots them.
    let dotdot = package("deb", "dotdot");
    let absolute = package("pypi", "absolute");
    cases.push(Case {
        name: "traversal",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            raw(
                b"../../../../var/lib/dpkg/status",
                tar::EntryType::Regular,
                b"",
                dpkg_status(&["dotdot"]).as_bytes(),
            ),
            raw(
                b"/usr/lib/python3/dist-packages/absolute-1.0.dist-info/METADATA",
                tar::EntryType::Regular,
                b"",
                python_metadata("absolute").as_bytes(),
            ),
        ])],
        args: vec![],
        from_blobs: Outcome::complete(&[dotdot.clone(), absolute.clone()]),
        from_snapshots: Outcome::complete(&[dotdot, absolute]),
    });

    // (b) Symlinks are never followed, in the root or out of it: a dpkg status and the
    // Python directory point at this machine's, through /proc and through `..`.
    // A link to `../../..` is a directory a later layer writes through: containerd's
    // overlayfs unpacking writes that layer into its own directory, where the link is
    // not, so the file stays under its own name (/opt/up/...) and the first status file
    // stays visible; a layer stream reads it the same way.
    let control_python = package("pypi", "symlink-control");
    let through = package("deb", "through-link");
    let kept = package("deb", "kept-under-link");
    cases.push(Case {
        name: "symlinks",
        layers: vec![
            Layer::gzip(vec![
                debian_base(),
                control("kept-under-link"),
                symlink("/usr/lib/dpkg/status", "/proc/1/root/var/lib/dpkg/status"),
                symlink(
                    "/usr/lib/python3/dist-packages",
                    "../../../../../../../../../../usr/lib/python3/dist-packages",
                ),
                symlink("/opt/up", "../../.."),
                python("/usr/local/lib/python3.11/site-packages", "symlink-control"),
            ]),
            Layer::gzip(vec![Entry::file(
                "/opt/up/var/lib/dpkg/status",
                dpkg_status(&["through-link"]),
            )]),
        ],
        args: vec![],
        from_blobs: Outcome::complete(&[control_python.clone(), through.clone(), kept.clone()]),
        from_snapshots: Outcome::complete(&[control_python, through, kept]),
    });

    // (c) Hard links out of the root are rooted, as containerd roots them. Their targets
    // are at paths no cataloger reads, so a stream cannot know what the links hold by
    // the time it meets them: from blobs, the SBOM says so.
    let hardlinked = package("deb", "hardlinked");
    let abslink = package("pypi", "abslink");
    cases.push(Case {
        name: "hardlinks",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            Entry::file("/opt/real-status", dpkg_status(&["hardlinked"])),
            Entry::file("/opt/metadata", python_metadata("abslink")),
            raw(
                b"var/lib/dpkg/status",
                tar::EntryType::Link,
                b"../../../../../../opt/real-status",
                b"",
            ),
            raw(
                b"usr/lib/python3/dist-packages/abslink-1.0.dist-info/METADATA",
                tar::EntryType::Link,
                b"/opt/metadata",
                b"",
            ),
        ])],
        args: vec![],
        from_blobs: Outcome::incomplete(
            &[],
            &["var/lib/dpkg/status", "hard link to /opt/real-status"],
        ),
        from_snapshots: Outcome::complete(&[hardlinked, abslink]),
    });

    // (d) A FIFO and a device where catalogers look are never opened: no hang, no
    // endless read of /dev/zero, nothing missing.
    let special_control = package("pypi", "special-control");
    cases.push(Case {
        name: "special-files",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            raw(b"var/lib/dpkg/status", tar::EntryType::Fifo, b"", b""),
            Entry::Raw {
                name: b"lib/apk/db/installed".to_vec(),
                kind: tar::EntryType::Char,
                link: Vec::new(),
                data: Vec::new(),
                device: (1, 5),
            },
            python("/usr/lib/python3/dist-packages", "special-control"),
        ])],
        args: vec![],
        from_blobs: Outcome::complete(std::slice::from_ref(&special_control)),
        from_snapshots: Outcome::complete(&[special_control]),
    });

    // (e) A gzip bomb: 16 MiB of zeros (a few KiB of gzip) past a 1 MiB layer limit. The
    // blob path stops that layer and keeps the others; a snapshot is already expanded
    // and has no such bound.
    let before = package("deb", "before-bomb");
    let in_bomb = package("pypi", "in-bomb");
    let after = package("pypi", "after-bomb");
    cases.push(Case {
        name: "gzip-bomb",
        layers: vec![
            Layer::gzip(vec![debian_base(), control("before-bomb")]),
            Layer::gzip(vec![
                Entry::file("/var/cache/zeros", zeros.clone()),
                python("/usr/lib/python3/dist-packages", "in-bomb"),
            ]),
            Layer::gzip(vec![python(
                "/usr/local/lib/python3.11/site-packages",
                "after-bomb",
            )]),
        ],
        args: vec!["--max-layer-mib", "1"],
        from_blobs: Outcome::incomplete(
            &[before.clone(), after.clone()],
            &["uncompressed bytes", "max_layer_bytes"],
        ),
        from_snapshots: Outcome::complete(&[before, in_bomb, after]),
    });

    // (f) Too many entries: a layer of 500 files over a limit of 100 is stopped, on both
    // paths; the layers around it are read.
    let few = package("deb", "few-entries");
    let after_spam = package("pypi", "after-spam");
    let spam: Vec<Entry> = (0..500)
        .map(|i| Entry::file(&format!("/var/spam/{i}"), ""))
        .collect();
    cases.push(Case {
        name: "many-entries",
        layers: vec![
            Layer::gzip(vec![
                Entry::file("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
                control("few-entries"),
            ]),
            Layer::gzip(spam),
            Layer::gzip(vec![python(
                "/usr/local/lib/python3.11/site-packages",
                "after-spam",
            )]),
        ],
        args: vec!["--max-layer-entries", "100"],
        from_blobs: Outcome::incomplete(
            &[few.clone(), after_spam.clone()],
            &["more than 100 entries", "max_entries"],
        ),
        from_snapshots: Outcome::incomplete(
            &[few, after_spam],
            &["more than 100 entries", "max_entries"],
        ),
    });

    // (h) A zip bomb in a jar: its MANIFEST.MF deflates 16 MiB of zeros, past the 1 MiB
    // a metadata file may have. The artifact read before it and the other jar are kept.
    let kept = package("maven", "org.example:kept");
    let fine = package("maven", "org.example:fine");
    let jar_control = package("deb", "jar-control");
    let bomb = jar(&[
        (
            "META-INF/maven/org.example/kept/pom.properties",
            &pom_properties("org.example", "kept"),
        ),
        ("META-INF/MANIFEST.MF", &zeros),
    ]);
    let fine_jar = jar(&[(
        "META-INF/maven/org.example/fine/pom.properties",
        &pom_properties("org.example", "fine"),
    )]);
    cases.push(Case {
        name: "zip-bomb",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            control("jar-control"),
            Entry::file("/usr/share/java/bomb.jar", bomb),
            Entry::file("/usr/share/java/fine.jar", fine_jar),
        ])],
        args: vec![],
        from_blobs: Outcome::incomplete(
            &[jar_control.clone(), kept.clone(), fine.clone()],
            &["bomb.jar", "limit"],
        ),
        from_snapshots: Outcome::incomplete(&[jar_control, kept, fine], &["bomb.jar", "limit"]),
    });

    // Directories 300 deep, a Python distribution at the bottom: a tar names it in one
    // path (630 bytes, under the 4,096 of a path), a snapshot walk stops at depth 256
    // and says so.
    let deep_control = package("deb", "deep-control");
    let deep = package("pypi", "deep-down");
    cases.push(Case {
        name: "deep-directories",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            control("deep-control"),
            python(&"/d".repeat(300), "deep-down"),
        ])],
        args: vec![],
        from_blobs: Outcome::complete(&[deep_control.clone(), deep]),
        from_snapshots: Outcome::incomplete(&[deep_control], &["nested more than 256 deep"]),
    });

    // (i) Names that are not UTF-8: a directory of a Python distribution among them.
    let utf8_control = package("deb", "utf8-control");
    let latin1 = package("pypi", "latin-one");
    cases.push(Case {
        name: "non-utf8",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            control("utf8-control"),
            raw(
                b"usr/share/\xff\xfe/file",
                tar::EntryType::Regular,
                b"",
                b"x",
            ),
            raw(
                b"usr/lib/python3/dist-packages/latin\xe9-1.0.dist-info/METADATA",
                tar::EntryType::Regular,
                b"",
                python_metadata("latin-one").as_bytes(),
            ),
        ])],
        args: vec![],
        from_blobs: Outcome::complete(&[utf8_control.clone(), latin1.clone()]),
        from_snapshots: Outcome::complete(&[utf8_control, latin1]),
    });

    // (j) A Go binary whose build information is garbage: no modules from it, the rest
    // of the image read.
    let go_control = package("deb", "go-control");
    cases.push(Case {
        name: "corrupt-go",
        layers: vec![Layer::gzip(vec![
            debian_base(),
            control("go-control"),
            Entry::executable("/usr/local/bin/hello", corrupt_go_binary()),
        ])],
        args: vec![],
        from_blobs: Outcome::complete(std::slice::from_ref(&go_control)),
        from_snapshots: Outcome::complete(&[go_control]),
    });
    cases
}

fn packages(bom: &Value) -> BTreeSet<Package> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let purl = PackageUrl::from_str(c["purl"].as_str()?).unwrap();
            let name = match purl.namespace() {
                Some(group) if purl.ty() == "maven" => format!("{group}:{}", purl.name()),
                _ => purl.name().to_owned(),
            };
            Some(package(purl.ty(), &name))
        })
        .collect()
}

/// Scans one image and checks the outcome; returns a description of each mismatch.
fn check(
    daemon: &ContainerdDaemon,
    case: &Case,
    built: &BuiltImage,
    path: &str,
    want: &Outcome,
    host: &BTreeSet<Package>,
) -> Vec<String> {
    let mut args = case.args.clone();
    args.push(&built.name);
    let started = std::time::Instant::now();
    let output = agent(daemon, &args);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let at = format!("{} ({path}, {took:.1?})", case.name);
    if !output.status.success() {
        return vec![format!("{at}: scan failed: {stderr}")];
    }
    let mut wrong = Vec::new();
    if stderr.contains("panicked") {
        wrong.push(format!("{at}: panic: {stderr}"));
    }
    let bom: Value = serde_json::from_slice(&output.stdout).unwrap();
    let found = packages(&bom);
    // Packages of this machine an escape would have read (the case's own names are
    // not the host's).
    let escaped: Vec<&Package> = found
        .intersection(host)
        .filter(|p| !want.packages.contains(*p))
        .collect();
    if !escaped.is_empty() {
        wrong.push(format!("{at}: packages of the host: {escaped:?}"));
    }
    if found != want.packages {
        wrong.push(format!(
            "{at}: packages {found:?}, expected {:?}",
            want.packages
        ));
    }
    let reasons: Vec<&str> = bom["metadata"]["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "nodebom:incomplete")
        .filter_map(|p| p["value"].as_str())
        .collect();
    eprintln!("{at}: {} packages, incomplete: {reasons:?}", found.len());
    let image_ref = bom["metadata"]["component"]["bom-ref"].clone();
    match &want.incomplete {
        None => {
            if bom.get("compositions").is_some() || !reasons.is_empty() {
                wrong.push(format!(
                    "{at}: expected a complete SBOM, got {} {reasons:?}",
                    bom["compositions"]
                ));
            }
        }
        Some(words) => {
            let aggregate =
                serde_json::json!([{"aggregate": "incomplete", "assemblies": [image_ref]}]);
            if bom["compositions"] != aggregate {
                wrong.push(format!(
                    "{at}: compositions {}, expected {aggregate}",
                    bom["compositions"]
                ));
            }
            if !reasons
                .iter()
                .any(|r| words.iter().all(|word| r.contains(word)))
            {
                wrong.push(format!("{at}: no reason with {words:?} among {reasons:?}"));
            }
            if !stderr.contains("incomplete") {
                wrong.push(format!(
                    "{at}: no warning that the SBOM is incomplete: {stderr}"
                ));
            }
        }
    }
    wrong
}

fn build(case: &Case, out: &Path) -> BuiltImage {
    let spec = ImageSpec {
        name: format!("docker.io/hostile/{}:1", case.name),
        layers: case.layers.clone(),
        multi_platform: false,
    };
    oci::build(&spec, out).unwrap()
}

#[test]
fn hostile_images_give_their_expected_sbom_from_blobs_and_from_snapshots() {
    let host = host_packages();
    let cases = cases();
    // An escape shows as a host package only if the cases' own names are not the host's.
    let ours: BTreeSet<&Package> = cases
        .iter()
        .flat_map(|c| {
            c.from_blobs
                .packages
                .iter()
                .chain(&c.from_snapshots.packages)
        })
        .collect();
    assert!(ours.iter().all(|p| !host.contains(*p)), "{ours:?}");
    let out = tempfile::tempdir().unwrap();
    let built: Vec<BuiltImage> = cases
        .iter()
        .map(|case| build(case, &out.path().join(case.name)))
        .collect();
    let mut wrong = Vec::new();

    let blobs = ContainerdDaemon::start().unwrap();
    for (case, image) in cases.iter().zip(&built) {
        blobs.import_packed(image).unwrap();
        wrong.extend(check(&blobs, case, image, "blobs", &case.from_blobs, &host));
    }
    drop(blobs);

    let snapshots = ContainerdDaemon::start().unwrap();
    for (case, image) in cases.iter().zip(&built) {
        if let Err(err) = snapshots.import(image) {
            wrong.push(format!(
                "{}: containerd did not unpack it: {err:#}",
                case.name
            ));
            continue;
        }
        snapshots.delete_blobs(&image.layer_digests).unwrap();
        wrong.extend(check(
            &snapshots,
            case,
            image,
            "snapshots",
            &case.from_snapshots,
            &host,
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
