//! Per-layer analysis, the layer cache and the bottom-up merge.
//!
//! [`analyze_layer`] runs the catalogers over one layer and keeps only what the merge
//! needs: the findings per path, and what the layer deletes or replaces. The result
//! depends on the layer and the catalogers alone, so it is cached by diffID
//! ([`layer_cache`]) and shared by every image built on that layer; [`merge::merge`] then
//! stacks the layers of one image.

pub mod layer_cache;
pub mod merge;
#[cfg(test)]
pub(crate) mod testutil;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Seek;

use serde::{Deserialize, Serialize};

pub use layer_cache::{LayerCache, MemoryLayerCache};

/// Where a layer's analysis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOrigin {
    Cache,
    Snapshot,
    Blob,
}
pub use merge::merge;

use crate::catalog::spool::{spool, Spooled};
use crate::catalog::{CatalogError, Cataloger, Content, FileMeta};
use crate::layers::{LayerSource, LayerVisitor};
use crate::package::Findings;
use crate::{Error, Result};

/// How a path-only question is put to [`Cataloger::wants`] ("would you read a regular
/// file here?"): not executable, so catalogers that select by mode (Go binaries) do not
/// claim every path, and a size any metadata file could have.
const PROBE_MODE: u32 = 0o644;
const PROBE_SIZE: u64 = 4096;

/// What one cataloger found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogerFindings {
    /// [`Cataloger::name`].
    pub cataloger: String,
    pub findings: Findings,
}

/// What one layer contributes to the images built on it.
///
/// Small by design: files nobody wanted leave no record. Paths are absolute and
/// normalised, as in [`crate::layers`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerAnalysis {
    /// Files in this layer where a cataloger found something, with what each found.
    pub files: BTreeMap<String, Vec<CatalogerFindings>>,
    /// Paths a cataloger would read that this layer replaces with nothing to report: a
    /// wanted file with no findings (or that failed to parse), a symlink or other
    /// non-file at such a path. They hide lower layers' findings at the same path.
    pub tombstones: BTreeSet<String>,
    /// Deleted paths: lower layers' entries at and below them are hidden.
    pub whiteouts: BTreeSet<String>,
    /// Opaque directories: lower layers' entries below them are hidden.
    pub opaque_dirs: BTreeSet<String>,
    /// Entries the walk skipped without reading them (see [`LayerVisitor::skipped`]), and
    /// hard links where a cataloger looks whose target it did not read.
    #[serde(default)]
    pub skipped: SkippedEntries,
    /// The layer-wide limit the walk stopped at; what follows it in the layer was not
    /// read. Such an analysis is never cached (see [`LayerAnalysis::is_whole`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Most skipped entries named in one layer's record; the rest are only counted.
pub const MAX_SKIPPED_NAMES: usize = 10;

/// The entries of one layer that were skipped: the first [`MAX_SKIPPED_NAMES`] with the
/// reason, and how many in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntries {
    /// `(name as the layer spells it, why)`.
    pub first: Vec<(String, String)>,
    pub count: u64,
}

impl SkippedEntries {
    pub fn add(&mut self, name: &str, why: &str) {
        self.count = self.count.saturating_add(1);
        if self.first.len() < MAX_SKIPPED_NAMES {
            self.first.push((name.to_owned(), why.to_owned()));
        }
    }

    /// One line for the SBOM's incompleteness notes, `None` when nothing was skipped.
    pub fn note(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let named: Vec<String> = self
            .first
            .iter()
            .map(|(name, why)| format!("{name:?} ({why})"))
            .collect();
        let noun = if self.count == 1 { "entry" } else { "entries" };
        let mut note = format!("skipped {} {noun}: {}", self.count, named.join(", "));
        let more = self.count.saturating_sub(self.first.len() as u64);
        if more > 0 {
            note.push_str(&format!(" and {more} more"));
        }
        Some(note)
    }
}

impl LayerAnalysis {
    /// Number of packages found in this layer's files (for logs and metrics).
    pub fn package_count(&self) -> usize {
        self.files
            .values()
            .flatten()
            .map(|found| found.findings.packages.len())
            .sum()
    }

    /// Whether the whole layer was walked, so that the analysis may be cached: skipped
    /// entries do not matter (the same layer skips the same ones), a stop at a limit does.
    pub fn is_whole(&self) -> bool {
        self.stopped.is_none()
    }
}

/// Runs `catalogers` over every file of one layer.
///
/// Each wanted file is read once: streamed to its cataloger when one wants it; when
/// several do, an open file (snapshot) is rewound for each, and a stream (tar entry) is
/// read into memory once, up to [`crate::layers::Limits::max_file_bytes`]. A cataloger
/// that fails on a file is logged and the scan goes on (a file over a cataloger's size
/// limit, or one it could not read, is noted as incomplete). A layer-wide limit of the
/// source ([`crate::Error::LimitExceeded`]) ends the walk and keeps what was read before
/// it, with [`LayerAnalysis::stopped`] set; any other error of the source (I/O, a digest
/// mismatch) fails the analysis.
pub fn analyze_layer(
    source: &mut dyn LayerSource,
    catalogers: &[Box<dyn Cataloger>],
) -> Result<LayerAnalysis> {
    let layer = source.diff_id().to_owned();
    let mut analyzer = Analyzer {
        catalogers,
        layer: &layer,
        max_file_bytes: source.limits().max_file_bytes,
        wanted: Vec::new(),
        wanted_path: String::new(),
        read: HashMap::new(),
        analysis: LayerAnalysis::default(),
    };
    let walked = source.walk(&mut analyzer);
    let mut analysis = analyzer.analysis;
    match walked {
        Ok(()) => {}
        Err(Error::LimitExceeded { limit, .. }) => {
            tracing::warn!(layer = %layer, %limit,
                "layer limit reached; keeping what was read before it");
            analysis.stopped = Some(limit);
        }
        Err(err) => return Err(err),
    }
    tracing::debug!(
        layer = %layer,
        files = analysis.files.len(),
        packages = analysis.package_count(),
        whiteouts = analysis.whiteouts.len(),
        "layer analysed"
    );
    Ok(analysis)
}

/// Largest tar entry spilled to a temporary file so that several catalogers can read it
/// (runtimes such as node are ~100 MiB, fat jars up to about 1 GiB); the agent chart's
/// scratch volume holds 2 GiB.
const MAX_SPILL_BYTES: u64 = 2 << 30;

/// What stands for a file that `reader` could not read: a note that its packages are
/// missing.
fn not_read(reader: &str, err: &dyn std::fmt::Display) -> CatalogerFindings {
    CatalogerFindings {
        cataloger: reader.to_owned(),
        findings: Findings {
            incomplete: vec![format!("not read by {reader}: {err}")],
            ..Findings::default()
        },
    }
}

/// A file read in this layer, remembered for hard links to it.
#[derive(Debug, Clone)]
struct ReadFile {
    size: u64,
    mode: u32,
    /// Indices of the catalogers that read it.
    readers: Vec<usize>,
}

/// The [`LayerVisitor`] behind [`analyze_layer`].
struct Analyzer<'a> {
    catalogers: &'a [Box<dyn Cataloger>],
    layer: &'a str,
    max_file_bytes: u64,
    /// Catalogers that accepted the file last passed to `wants`, and its path.
    wanted: Vec<usize>,
    wanted_path: String,
    read: HashMap<String, ReadFile>,
    analysis: LayerAnalysis,
}

impl Analyzer<'_> {
    fn wanting(&self, file: &FileMeta<'_>) -> Vec<usize> {
        self.catalogers
            .iter()
            .enumerate()
            .filter(|(_, cataloger)| cataloger.wants(file))
            .map(|(index, _)| index)
            .collect()
    }

    /// Whether some cataloger would read a regular file at `path`, whatever is there.
    fn wanted_by_path(&self, path: &str) -> bool {
        let probe = FileMeta {
            path,
            size: PROBE_SIZE,
            mode: PROBE_MODE,
        };
        self.catalogers.iter().any(|c| c.wants(&probe))
    }

    /// Drops what an earlier entry of this layer left at `path`: in a tar, the last
    /// entry for a path wins.
    fn forget(&mut self, path: &str) {
        self.analysis.files.remove(path);
        self.analysis.tombstones.remove(path);
        self.read.remove(path);
    }

    /// Records what was found at `path`; nothing found makes it a tombstone.
    fn record(&mut self, path: &str, found: Vec<CatalogerFindings>) {
        let found: Vec<_> = found
            .into_iter()
            .filter(|f| !f.findings.is_empty())
            .collect();
        if found.is_empty() {
            self.analysis.tombstones.insert(path.to_owned());
        } else {
            self.analysis.files.insert(path.to_owned(), found);
        }
    }

    fn catalog_one(
        &self,
        index: usize,
        file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Option<CatalogerFindings> {
        let cataloger = self.catalogers.get(index)?;
        match cataloger.catalog(file, content) {
            Ok(findings) => Some(CatalogerFindings {
                cataloger: cataloger.name().to_owned(),
                findings,
            }),
            Err(err) => {
                tracing::warn!(
                    layer = %self.layer,
                    path = file.path,
                    cataloger = cataloger.name(),
                    error = %err,
                    "cataloger failed; file skipped"
                );
                // A file that is not what its name says holds nothing to miss; one too
                // large or unreadable may hold packages.
                match err {
                    CatalogError::Malformed(_) => None,
                    CatalogError::TooLarge { .. } | CatalogError::Io(_) => {
                        Some(not_read(cataloger.name(), &err))
                    }
                }
            }
        }
    }

    /// Gives one file to several catalogers.
    fn catalog_shared(
        &self,
        readers: &[usize],
        file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Vec<CatalogerFindings> {
        let mut found = Vec::with_capacity(readers.len());
        match content {
            Content::File(handle) => {
                for &index in readers {
                    if let Err(err) = handle.rewind() {
                        tracing::warn!(layer = %self.layer, path = file.path, error = %err,
                            "rewinding a file for the next cataloger failed; file skipped");
                        found.push(not_read("several catalogers", &err));
                        break;
                    }
                    found.extend(self.catalog_one(index, file, Content::File(handle)));
                }
            }
            Content::Stream(stream) => {
                match spool(stream, file.size, self.max_file_bytes, MAX_SPILL_BYTES) {
                    Ok(Spooled::Memory(data)) => {
                        for &index in readers {
                            let mut slice = data.get_ref().as_slice();
                            found.extend(self.catalog_one(
                                index,
                                file,
                                Content::Stream(&mut slice),
                            ));
                        }
                    }
                    Ok(Spooled::File(mut spill)) => {
                        return self.catalog_shared(readers, file, Content::File(&mut spill));
                    }
                    Err(err) => {
                        tracing::warn!(
                            layer = %self.layer,
                            path = file.path,
                            error = %err,
                            "reading a file wanted by several catalogers failed; file skipped"
                        );
                        found.push(not_read("several catalogers", &err));
                    }
                }
            }
        }
        found
    }

    /// Findings of cataloger `index` in a file read earlier in this layer.
    fn findings_of(&self, path: &str, index: usize) -> Option<CatalogerFindings> {
        let name = self.catalogers.get(index)?.name();
        self.analysis
            .files
            .get(path)?
            .iter()
            .find(|found| found.cataloger == name)
            .cloned()
    }
}

impl LayerVisitor for Analyzer<'_> {
    fn wants(&mut self, file: &FileMeta<'_>) -> bool {
        self.wanted.clear();
        for (index, cataloger) in self.catalogers.iter().enumerate() {
            if cataloger.wants(file) {
                self.wanted.push(index);
            }
        }
        if self.wanted.is_empty() {
            return false;
        }
        self.wanted_path.clear();
        self.wanted_path.push_str(file.path);
        true
    }

    fn file(&mut self, file: &FileMeta<'_>, content: Content<'_>) -> Result<()> {
        let readers = if self.wanted_path == file.path {
            std::mem::take(&mut self.wanted)
        } else {
            self.wanting(file)
        };
        self.wanted_path.clear();
        self.forget(file.path);
        let found = match readers.as_slice() {
            [] => Vec::new(),
            [index] => self
                .catalog_one(*index, file, content)
                .into_iter()
                .collect(),
            several => self.catalog_shared(several, file, content),
        };
        self.record(file.path, found);
        self.read.insert(
            file.path.to_owned(),
            ReadFile {
                size: file.size,
                mode: file.mode,
                readers,
            },
        );
        Ok(())
    }

    fn other(&mut self, path: &str) {
        self.forget(path);
        if self.wanted_by_path(path) {
            self.analysis.tombstones.insert(path.to_owned());
        }
    }

    fn hardlink(&mut self, path: &str, target: &str) {
        let Some(target_file) = self.read.get(target).cloned() else {
            // The target was not read (nobody wanted it, or it is not in this layer):
            // what `path` holds is unknown, but it still replaces lower layers' file.
            // Where a cataloger would have read it, the SBOM says it was not.
            if self.wanted_by_path(path) {
                self.skipped(path, &format!("hard link to {target}, which was not read"));
            }
            self.other(path);
            return;
        };
        let meta = FileMeta {
            path,
            size: target_file.size,
            mode: target_file.mode,
        };
        let wanting = self.wanting(&meta);
        if wanting.is_empty() {
            self.other(path);
            return;
        }
        let mut readers = Vec::new();
        let mut found = Vec::new();
        for index in wanting {
            if target_file.readers.contains(&index) {
                readers.push(index);
                found.extend(self.findings_of(target, index));
            } else {
                let cataloger = self.catalogers.get(index).map_or("?", |c| c.name());
                self.skipped(
                    path,
                    &format!("hard link to {target}, which {cataloger} did not read"),
                );
            }
        }
        self.forget(path);
        self.record(path, found);
        self.read.insert(
            path.to_owned(),
            ReadFile {
                readers,
                ..target_file
            },
        );
    }

    fn whiteout(&mut self, path: &str) {
        self.analysis.whiteouts.insert(path.to_owned());
    }

    fn opaque(&mut self, dir: &str) {
        self.analysis.opaque_dirs.insert(dir.to_owned());
    }

    fn skipped(&mut self, name: &str, why: &str) {
        tracing::warn!(layer = %self.layer, entry = name, reason = why, "layer entry skipped");
        self.analysis.skipped.add(name, why);
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{catalogers, pkg, OsCataloger, PkgCataloger, TwinCataloger};
    use super::*;
    use crate::layers::blob::BlobLayer;
    use crate::layers::snapshot::SnapshotLayer;
    use crate::layers::testutil::{digest, gzip, LayerTar};
    use crate::layers::Limits;

    fn analyze_tar(tar: &[u8], catalogers: &[Box<dyn Cataloger>]) -> Result<LayerAnalysis> {
        let blob = gzip(tar);
        let mut layer = BlobLayer::new(
            digest(&blob),
            digest(tar),
            blob.as_slice(),
            Limits::default(),
        );
        analyze_layer(&mut layer, catalogers)
    }

    fn names(analysis: &LayerAnalysis, path: &str) -> Vec<(String, Vec<String>)> {
        analysis.files[path]
            .iter()
            .map(|found| {
                let packages = found
                    .findings
                    .packages
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.version))
                    .collect();
                (found.cataloger.clone(), packages)
            })
            .collect()
    }

    #[test]
    fn findings_are_kept_per_path_and_unwanted_files_leave_no_record() {
        let tar = LayerTar::new()
            .file("usr/share/a.pkg", b"alpha 1.0\nbeta 2.0\n", 0o644)
            .file("usr/share/doc/readme", b"text", 0o644)
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert_eq!(
            names(&analysis, "/usr/share/a.pkg"),
            vec![(
                "test-pkg".to_string(),
                vec!["alpha 1.0".to_string(), "beta 2.0".to_string()]
            )]
        );
        assert_eq!(analysis.files.len(), 1);
        assert!(analysis.tombstones.is_empty());
    }

    #[test]
    fn wanted_path_without_findings_is_a_tombstone() {
        let tar = LayerTar::new()
            .file("empty.pkg", b"", 0o644)
            .file("broken.pkg", b"no-version-here\n", 0o644)
            .symlink("link.pkg", "empty.pkg")
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert!(analysis.files.is_empty());
        assert_eq!(
            analysis.tombstones.iter().collect::<Vec<_>>(),
            vec!["/broken.pkg", "/empty.pkg", "/link.pkg"]
        );
    }

    #[test]
    fn later_tar_entry_for_a_path_replaces_the_earlier_one() {
        let tar = LayerTar::new()
            .file("a.pkg", b"alpha 1\n", 0o644)
            .symlink("a.pkg", "elsewhere")
            .file("b.pkg", b"beta 1\n", 0o644)
            .file("b.pkg", b"beta 2\n", 0o644)
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert!(analysis.tombstones.contains("/a.pkg"));
        assert!(!analysis.files.contains_key("/a.pkg"));
        assert_eq!(
            names(&analysis, "/b.pkg"),
            vec![("test-pkg".to_string(), vec!["beta 2".to_string()])]
        );
    }

    #[test]
    fn hard_link_gets_the_findings_of_its_target() {
        let tar = LayerTar::new()
            .file("usr/lib/a.pkg", b"alpha 1\n", 0o644)
            .hardlink("usr/lib/copy.pkg", "usr/lib/a.pkg")
            .file("usr/lib/notes", b"alpha 1\n", 0o644)
            .hardlink("usr/lib/from-notes.pkg", "usr/lib/notes")
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert_eq!(
            names(&analysis, "/usr/lib/copy.pkg"),
            names(&analysis, "/usr/lib/a.pkg")
        );
        // Its target was read by nobody: the content is unknown, the path replaced, and
        // the analysis says what it could not read.
        assert!(analysis.tombstones.contains("/usr/lib/from-notes.pkg"));
        assert_eq!(
            analysis.skipped.first,
            vec![(
                "/usr/lib/from-notes.pkg".to_string(),
                "hard link to /usr/lib/notes, which was not read".to_string()
            )]
        );
    }

    #[test]
    fn hard_link_wanted_by_a_cataloger_that_did_not_read_its_target_is_noted() {
        let tar = LayerTar::new()
            .file("etc/os-release", b"ID=debian\n", 0o644)
            .hardlink("usr/lib/a.pkg", "etc/os-release")
            .finish();
        let both: Vec<Box<dyn Cataloger>> = vec![Box::new(PkgCataloger), Box::new(OsCataloger)];
        let analysis = analyze_tar(&tar, &both).unwrap();
        assert!(!analysis.files.contains_key("/usr/lib/a.pkg"));
        assert_eq!(
            analysis.skipped.first,
            vec![(
                "/usr/lib/a.pkg".to_string(),
                "hard link to /etc/os-release, which test-pkg did not read".to_string()
            )]
        );
    }

    #[test]
    fn file_wanted_by_two_catalogers_reaches_both_from_a_stream() {
        let tar = LayerTar::new().file("a.pkg", b"alpha 1\n", 0o644).finish();
        let both: Vec<Box<dyn Cataloger>> = vec![Box::new(PkgCataloger), Box::new(TwinCataloger)];
        let analysis = analyze_tar(&tar, &both).unwrap();
        assert_eq!(
            names(&analysis, "/a.pkg"),
            vec![
                ("test-pkg".to_string(), vec!["alpha 1".to_string()]),
                ("test-twin".to_string(), vec!["alpha 1".to_string()]),
            ]
        );
    }

    #[test]
    fn file_wanted_by_two_catalogers_reaches_both_from_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pkg"), b"alpha 1\n").unwrap();
        let both: Vec<Box<dyn Cataloger>> = vec![Box::new(PkgCataloger), Box::new(TwinCataloger)];
        let mut layer = SnapshotLayer::new("sha256:test", dir.path(), Limits::default());
        let analysis = analyze_layer(&mut layer, &both).unwrap();
        assert_eq!(
            names(&analysis, "/a.pkg"),
            vec![
                ("test-pkg".to_string(), vec!["alpha 1".to_string()]),
                ("test-twin".to_string(), vec!["alpha 1".to_string()]),
            ]
        );
    }

    #[test]
    fn shared_file_over_the_memory_limit_is_spilled_and_read_by_each() {
        let mut big = b"alpha 1\n".to_vec();
        big.resize(4096, b'\n');
        let tar = LayerTar::new().file("big.pkg", &big, 0o644).finish();
        let blob = gzip(&tar);
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let mut layer = BlobLayer::new(digest(&blob), digest(&tar), blob.as_slice(), limits);
        let both: Vec<Box<dyn Cataloger>> = vec![Box::new(PkgCataloger), Box::new(TwinCataloger)];
        let analysis = analyze_layer(&mut layer, &both).unwrap();
        assert_eq!(
            names(&analysis, "/big.pkg"),
            vec![
                ("test-pkg".to_string(), vec!["alpha 1".to_string()]),
                ("test-twin".to_string(), vec!["alpha 1".to_string()]),
            ]
        );
    }

    /// Needs root for the overlayfs whiteout and opaque marker (see `layers::snapshot`).
    #[test]
    fn as_root_snapshot_and_blob_of_the_same_layer_analyse_alike() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        std::fs::write(root.join("var/lib/a.pkg"), b"alpha 1\n").unwrap();
        std::fs::write(root.join("var/lib/readme"), b"text").unwrap();
        std::os::unix::fs::symlink("a.pkg", root.join("var/lib/b.pkg")).unwrap();
        rustix::fs::setxattr(
            root.join("var/lib"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let fd = rustix::fs::open(
            root,
            rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        rustix::fs::mknodat(
            &fd,
            "old.pkg",
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        let tar = LayerTar::new()
            .file(".wh.old.pkg", b"", 0o644)
            .dir("var/lib/")
            .file("var/lib/.wh..wh..opq", b"", 0o644)
            .file("var/lib/a.pkg", b"alpha 1\n", 0o644)
            .file("var/lib/readme", b"text", 0o644)
            .symlink("var/lib/b.pkg", "a.pkg")
            .finish();

        let mut snapshot = SnapshotLayer::new(digest(&tar), root, Limits::default());
        let from_snapshot = analyze_layer(&mut snapshot, &catalogers()).unwrap();
        let from_blob = analyze_tar(&tar, &catalogers()).unwrap();
        assert_eq!(from_snapshot, from_blob);
        assert_eq!(
            pkg(&from_blob, "/var/lib/a.pkg"),
            vec!["alpha 1".to_string()]
        );
        assert!(from_blob.whiteouts.contains("/old.pkg"));
        assert!(from_blob.opaque_dirs.contains("/var/lib"));
        assert!(from_blob.tombstones.contains("/var/lib/b.pkg"));
    }

    #[test]
    fn analysis_survives_a_serde_round_trip() {
        let tar = LayerTar::new()
            .file("a.pkg", b"alpha 1\n", 0o644)
            .file(".wh.gone", b"", 0o644)
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        let json = serde_json::to_string(&analysis).unwrap();
        assert_eq!(
            serde_json::from_str::<LayerAnalysis>(&json).unwrap(),
            analysis
        );
    }

    #[test]
    fn file_over_a_cataloger_limit_is_noted_and_hides_lower_findings() {
        let mut big = b"alpha 1\n".to_vec();
        big.resize((1 << 20) + 1, b'\n');
        let tar = LayerTar::new().file("big.pkg", &big, 0o644).finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        let found = &analysis.files["/big.pkg"];
        assert_eq!(found.len(), 1);
        assert!(found[0].findings.packages.is_empty());
        assert_eq!(
            found[0].findings.incomplete,
            ["not read by test-pkg: larger than the 1048576-byte limit for this kind of file"]
        );
        assert!(analysis.is_whole());
    }

    #[test]
    fn real_catalogers_over_their_size_limits_leave_notes() {
        // Files that can only be read whole (JSON, a gemspec, a metadata header): over
        // their cataloger's bound, they are noted as not read. Limits written out here.
        let header = "Name: x\n".repeat((8 << 20) / 8 + 1);
        let cases = [
            ("app/node_modules/x/package.json", 4u64 << 20, "npm"),
            (
                "usr/local/bundle/specifications/x-1.gemspec",
                1 << 20,
                "ruby-gemspec",
            ),
            ("app/x.deps.json", 16 << 20, "dotnet-deps"),
            ("opt/conda/conda-meta/x-1-0.json", 64 << 20, "conda-meta"),
        ];
        let mut layer = LayerTar::new().file(
            "usr/lib/python3/dist-packages/x-1.dist-info/METADATA",
            header.as_bytes(),
            0o644,
        );
        for (path, limit, _) in cases {
            layer = layer.file(path, &vec![b' '; limit as usize + 1], 0o644);
        }
        let tar = layer.finish();
        let mut source = BlobLayer::new(
            digest(&tar),
            digest(&tar),
            tar.as_slice(),
            Limits::default(),
        );
        let analysis = analyze_layer(&mut source, &crate::catalog::all()).unwrap();
        let note = |path: &str| analysis.files[path][0].findings.incomplete.clone();
        assert_eq!(
            note("/usr/lib/python3/dist-packages/x-1.dist-info/METADATA"),
            ["not read by python: larger than the 8388608-byte limit for this kind of file"]
        );
        for (path, limit, cataloger) in cases {
            assert_eq!(
                note(&format!("/{path}")),
                [format!(
                    "not read by {cataloger}: larger than the {limit}-byte limit for this kind \
                     of file"
                )],
                "{path}"
            );
        }
    }

    #[test]
    fn malformed_file_is_no_incompleteness() {
        let tar = LayerTar::new()
            .file("a.pkg", b"no-version\n", 0o644)
            .finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert!(analysis.files.is_empty());
        assert!(analysis.tombstones.contains("/a.pkg"));
    }

    #[test]
    fn layer_limit_keeps_what_came_before_it_and_says_where_it_stopped() {
        let mut layer = LayerTar::new().file("a.pkg", b"alpha 1\n", 0o644);
        for i in 0..20 {
            layer = layer.file(&format!("f{i}"), b"", 0o644);
        }
        let tar = layer.file("z.pkg", b"zulu 1\n", 0o644).finish();
        let blob = gzip(&tar);
        let limits = Limits {
            max_entries: 10,
            ..Limits::default()
        };
        let mut layer = BlobLayer::new(digest(&blob), digest(&tar), blob.as_slice(), limits);
        let analysis = analyze_layer(&mut layer, &catalogers()).unwrap();
        assert_eq!(pkg(&analysis, "/a.pkg"), ["alpha 1"]);
        assert!(!analysis.files.contains_key("/z.pkg"));
        assert_eq!(
            analysis.stopped.as_deref(),
            Some("more than 10 entries (max_entries)")
        );
        assert!(!analysis.is_whole());
    }

    #[test]
    fn skipped_entries_are_counted_and_the_first_ones_named() {
        let mut layer = LayerTar::new();
        for i in 0..MAX_SKIPPED_NAMES + 3 {
            layer = layer.raw_hardlink(format!("l{i:02}").as_bytes(), b"..");
        }
        let tar = layer.file("a.pkg", b"alpha 1\n", 0o644).finish();
        let analysis = analyze_tar(&tar, &catalogers()).unwrap();
        assert_eq!(pkg(&analysis, "/a.pkg"), ["alpha 1"]);
        assert!(analysis.is_whole());
        assert_eq!(analysis.skipped.count, 13);
        assert_eq!(analysis.skipped.first.len(), 10);
        let note = analysis.skipped.note().unwrap();
        assert!(
            note.starts_with(
                "skipped 13 entries: \"l00\" (hard link to the layer root), \"l01\" (hard"
            ),
            "{note}"
        );
        assert!(
            note.ends_with("\"l09\" (hard link to the layer root) and 3 more"),
            "{note}"
        );
        assert!(!note.contains("l10"), "{note}");
    }

    #[test]
    fn failed_verification_fails_the_analysis() {
        // The caller caches only what `analyze_layer` returns, so nothing is cached.
        let tar = LayerTar::new().file("a.pkg", b"alpha 1\n", 0o644).finish();
        let wrong = digest(b"not this layer");
        let mut layer = BlobLayer::new(digest(&tar), wrong, tar.as_slice(), Limits::default());
        let err = analyze_layer(&mut layer, &catalogers()).unwrap_err();
        assert!(err.to_string().contains("diffID mismatch"), "{err}");
    }
}
