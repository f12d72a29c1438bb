//! Debian samples from this machine's own dpkg database: a full one (status, file lists,
//! copyright files, runtimes both packaged and copied to `/usr/local`) and a distroless
//! one (`status.d`, one control file per package).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::{host_file, printed_version, run, Installed, Sample};
use crate::oci::Entry;

const DPKG_DIR: &str = "/var/lib/dpkg";
const DOC_DIR: &str = "/usr/share/doc";

/// Runtimes that Debian packages install here. The image holds an unpackaged copy of
/// each under `/usr/local/bin`, as images that build a runtime from source do, and the
/// packaged one where it is small: a binary that a package owns is that package's.
struct Runtime {
    binary: &'static str,
    /// Arguments that make it print its version, and the text before the version.
    version_args: &'static [&'static str],
    version_after: &'static str,
    /// The name a binary classifier gives it.
    name: &'static str,
    packaged_copy: bool,
}

const RUNTIMES: &[Runtime] = &[
    Runtime {
        binary: "/usr/bin/python3.11",
        version_args: &["--version"],
        version_after: "Python ",
        name: "python",
        packaged_copy: true,
    },
    Runtime {
        binary: "/usr/bin/openssl",
        version_args: &["version"],
        version_after: "OpenSSL ",
        name: "openssl",
        packaged_copy: true,
    },
    Runtime {
        binary: "/usr/bin/node",
        version_args: &["--version"],
        version_after: "",
        name: "node",
        packaged_copy: false,
    },
];

/// Packages a distroless "base" image carries, when this machine has them.
const DISTROLESS: &[&str] = &[
    "base-files",
    "ca-certificates",
    "libc6",
    "libgcc-s1",
    "libgomp1",
    "libssl3",
    "libstdc++6",
    "netbase",
    "tzdata",
];

/// Debian 12 as this machine has it: layer 1 the dpkg database, the copyright files and
/// the packaged runtimes; layer 2 unpackaged copies of the runtimes in `/usr/local/bin`.
pub fn debian() -> Result<Sample> {
    let mut base = os_identity()?;
    base.push(host_file(
        &format!("{DPKG_DIR}/status"),
        "/var/lib/dpkg/status",
    )?);
    for entry in sorted_dir(&format!("{DPKG_DIR}/info"))? {
        if entry.ends_with(".list") {
            base.push(host_file(
                &format!("{DPKG_DIR}/info/{entry}"),
                &format!("/var/lib/dpkg/info/{entry}"),
            )?);
        }
    }
    base.extend(copyright_files(None)?);

    let mut app = Vec::new();
    let mut installed = installed_debs()?;
    for runtime in RUNTIMES {
        let file = Path::new(runtime.binary)
            .file_name()
            .and_then(|n| n.to_str())
            .context("runtime path")?;
        if runtime.packaged_copy {
            base.push(host_file(runtime.binary, runtime.binary)?);
        }
        app.push(host_file(
            runtime.binary,
            &format!("/usr/local/bin/{file}"),
        )?);
        let version = printed_version(runtime.binary, runtime.version_args, runtime.version_after)?;
        installed.insert(Installed::new("generic", runtime.name, version));
    }
    Ok(Sample::new(
        "docker.io/nodebom/sample-debian:12",
        vec![base, app],
        vec!["deb", "generic"],
        installed,
    ))
}

/// A distroless-style image: no dpkg, one control file per package in
/// `/var/lib/dpkg/status.d/` beside its md5sums, and the packages' copyright files.
pub fn distroless() -> Result<Sample> {
    let stanzas = status_stanzas()?;
    let mut layer = os_identity()?;
    let mut chosen = BTreeSet::new();
    for package in DISTROLESS {
        let Some(stanza) = stanzas.get(*package) else {
            continue;
        };
        chosen.insert((*package).to_owned());
        layer.push(Entry::file(
            &format!("/var/lib/dpkg/status.d/{package}"),
            format!("{stanza}\n"),
        ));
        for md5sums in [
            format!("{DPKG_DIR}/info/{package}.md5sums"),
            format!("{DPKG_DIR}/info/{package}:amd64.md5sums"),
        ] {
            if Path::new(&md5sums).is_file() {
                layer.push(host_file(
                    &md5sums,
                    &format!("/var/lib/dpkg/status.d/{package}.md5sums"),
                )?);
            }
        }
    }
    layer.extend(copyright_files(Some(&chosen))?);
    let installed = installed_debs()?
        .into_iter()
        .filter(|p| chosen.contains(&p.name))
        .collect();
    Ok(Sample::new(
        "docker.io/nodebom/sample-distroless:12",
        vec![layer],
        vec!["deb"],
        installed,
    ))
}

/// `/etc/os-release` (as a file: the host's is a link) and `/etc/debian_version`.
fn os_identity() -> Result<Vec<Entry>> {
    Ok(vec![
        host_file("/etc/os-release", "/etc/os-release")?,
        host_file("/etc/debian_version", "/etc/debian_version")?,
    ])
}

/// What `dpkg-query` says is installed here: name and version (with its epoch).
fn installed_debs() -> Result<BTreeSet<Installed>> {
    let listing = run(Command::new("dpkg-query").args([
        "--admindir",
        DPKG_DIR,
        "-W",
        "-f",
        "${db:Status-Abbrev}\t${Package}\t${Version}\n",
    ]))?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let status = fields.next()?;
            let (name, version) = (fields.next()?, fields.next()?);
            (status.trim() == "ii").then(|| Installed::new("deb", name, version))
        })
        .collect())
}

/// The host status file's stanzas by package name.
fn status_stanzas() -> Result<BTreeMap<String, String>> {
    let status = std::fs::read_to_string(format!("{DPKG_DIR}/status"))?;
    Ok(status
        .split("\n\n")
        .filter_map(|stanza| {
            let name = stanza
                .lines()
                .find_map(|l| l.strip_prefix("Package: "))?
                .to_owned();
            Some((name, stanza.trim().to_owned()))
        })
        .collect())
}

/// `/usr/share/doc/<package>/copyright` of every package (or of `only`), and the doc
/// directories that are links to another package's, as Debian installs them.
fn copyright_files(only: Option<&BTreeSet<String>>) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for package in sorted_dir(DOC_DIR)? {
        if only.is_some_and(|only| !only.contains(&package)) {
            continue;
        }
        let dir = Path::new(DOC_DIR).join(&package);
        let kind = std::fs::symlink_metadata(&dir)?.file_type();
        if kind.is_symlink() {
            entries.push(Entry::Symlink {
                path: format!("{DOC_DIR}/{package}"),
                target: std::fs::read_link(&dir)?.to_string_lossy().into_owned(),
            });
            continue;
        }
        let copyright = dir.join("copyright");
        if std::fs::symlink_metadata(&copyright).is_ok_and(|m| m.file_type().is_file()) {
            entries.push(host_file(
                &copyright.to_string_lossy(),
                &format!("{DOC_DIR}/{package}/copyright"),
            )?);
        }
    }
    Ok(entries)
}

fn sorted_dir(dir: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {dir}"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    Ok(names)
}
