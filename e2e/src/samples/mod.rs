//! Sample images, one per ecosystem, for the accuracy test and `bench/accuracy.sh`.
//!
//! Each is built from real package databases and real files where this machine has them:
//! Debian's from this machine's own dpkg database, the rpm image from packages built by
//! `rpmbuild` and installed by `rpm --root`, the JVM image from Debian's jars and one
//! built by `javac` and `jar`. Where no tool is at hand (apk, gems, Composer, .NET) the
//! image holds the files those tools write, in their documented formats.
//!
//! Every sample states its ground truth: the packages that are really installed, read
//! from the source of each image (`dpkg-query`, `rpm -qa`, the version a binary prints),
//! not from what a scanner reports.

mod apk;
mod debian;
mod jvm;
mod layouts;
mod rpm;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::oci::{Entry, ImageSpec, Layer};

pub use apk::alpine;
pub use debian::{debian, distroless};
pub use jvm::jvm;
pub use layouts::{dotnet, php, ruby};
pub use rpm::rocky;

/// A package as a CycloneDX component names it: purl type, name, version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Installed {
    pub purl_type: String,
    pub name: String,
    pub version: String,
}

impl Installed {
    pub fn new(purl_type: &str, name: impl Into<String>, version: impl Into<String>) -> Self {
        Installed {
            purl_type: purl_type.into(),
            name: name.into(),
            version: version.into(),
        }
    }
}

/// One sample image and what is really installed in it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub spec: ImageSpec,
    /// The purl types this sample is about; a scanner's packages of these types are
    /// compared with `installed`.
    pub purl_types: Vec<&'static str>,
    pub installed: BTreeSet<Installed>,
}

impl Sample {
    /// A sample image of gzip layers (bottom first), each with the directory entries its
    /// files need.
    fn new(
        name: &str,
        layers: Vec<Vec<Entry>>,
        purl_types: Vec<&'static str>,
        installed: BTreeSet<Installed>,
    ) -> Self {
        Sample {
            spec: ImageSpec {
                name: name.into(),
                layers: layers
                    .into_iter()
                    .map(|entries| Layer::gzip(with_parent_dirs(entries)))
                    .collect(),
                multi_platform: false,
            },
            purl_types,
            installed,
        }
    }
}

/// Every sample. `work` is a scratch directory for the tools that build them.
pub fn all(work: &Path) -> Result<Vec<Sample>> {
    Ok(vec![
        debian()?,
        distroless()?,
        alpine()?,
        rocky(&work.join("rocky"))?,
        jvm(&work.join("jvm"))?,
        ruby()?,
        php()?,
        dotnet()?,
    ])
}

/// `entries` preceded by an entry for every parent directory they need, as image builders
/// write layers (some scanners only see a directory's files through its entry).
fn with_parent_dirs(entries: Vec<Entry>) -> Vec<Entry> {
    let mut dirs = BTreeSet::new();
    for entry in &entries {
        let path = match entry {
            Entry::File { path, .. } | Entry::Symlink { path, .. } => path,
            _ => continue,
        };
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
            dirs.insert(dir.to_string_lossy().into_owned());
            parent = dir.parent();
        }
    }
    let mut all: Vec<Entry> = dirs.into_iter().map(|path| Entry::Dir { path }).collect();
    all.extend(entries);
    all
}

/// Runs a host tool, failing with its stderr when it fails.
pub(crate) fn run(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("output of {command:?}"))
}

/// A regular file of this machine, placed at `dest` with its permission bits.
pub(crate) fn host_file(source: &str, dest: &str) -> Result<Entry> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(source).with_context(|| format!("reading {source}"))?;
    let data = std::fs::read(source).with_context(|| format!("reading {source}"))?;
    Ok(Entry::File {
        path: dest.into(),
        data,
        mode: metadata.permissions().mode() & 0o7777,
    })
}

/// The version a runtime binary of this machine prints: the first whitespace-separated
/// word of `args`' output after `after` (`Python 3.11.2` → `3.11.2`).
pub(crate) fn printed_version(binary: &str, args: &[&str], after: &str) -> Result<String> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {binary}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.split_once(after)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(|v| v.trim_start_matches('v').to_owned())
        .with_context(|| format!("{binary} {args:?} printed no version after {after:?}: {text}"))
}
