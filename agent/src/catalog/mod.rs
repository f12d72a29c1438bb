//! Catalogers: per-file analysers, one folder per ecosystem (syft's layout).
//!
//! A cataloger says which files it wants from their path and mode alone (this is called
//! for every file of every layer, so it must be cheap), then turns one file's content into
//! [`Findings`]. It never does I/O of its own and knows nothing about layers.
//!
//! Each folder also owns how its packages are named outside nodebom: its `identity` gives
//! a package its [`Identity`](crate::package::Identity) (purl, source package, Trivy
//! package type), set on every package it reports; the SBOM adds only what the image
//! decides (an OS package's distribution) and serialises. Adding an ecosystem is one new
//! folder (with its `mod` line here), one line in [`all`] and its
//! [`Ecosystem`](crate::package::Ecosystem) variant.

use std::io::Read;

use crate::package::Findings;

pub mod apk;
pub mod binary;
pub mod conda;
pub mod dotnet;
pub mod dpkg;
mod elf;
pub mod golang;
pub mod java;
pub mod npm;
pub mod os;
pub mod php;
pub mod python;
pub mod rpm;
pub mod ruby;
pub mod rust;
mod scan;
mod source_package;
pub(crate) mod spool;
#[cfg(test)]
pub(crate) mod testutil;

/// What is known about a file before it is opened.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta<'a> {
    /// Absolute path inside the image, normalised: `/var/lib/dpkg/status`.
    pub path: &'a str,
    pub size: u64,
    /// Unix permission bits (`0o755`).
    pub mode: u32,
}

impl FileMeta<'_> {
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// A wanted file's content: a stream (a tar entry) or an open regular file (a snapshot
/// directory), which a cataloger may seek in to avoid reading what it does not need.
pub enum Content<'a> {
    Stream(&'a mut dyn Read),
    File(&'a mut std::fs::File),
}

impl<'a> Content<'a> {
    /// The content as a plain reader, for catalogers that only stream it.
    pub fn into_reader(self) -> &'a mut dyn Read {
        match self {
            Content::Stream(reader) => reader,
            Content::File(file) => file,
        }
    }

    /// Reads the content up to `limit` bytes: all of it, or its first `limit` bytes and
    /// the fact that there is more (for formats whose records can be read in part).
    pub fn read_prefix(self, limit: u64) -> Result<Prefix, CatalogError> {
        let mut data = Vec::new();
        self.into_reader()
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(CatalogError::Io)?;
        let cut = data.len() as u64 > limit;
        data.truncate(limit as usize);
        Ok(Prefix { data, cut })
    }

    /// Reads the whole content, failing when it is larger than `limit` bytes.
    pub fn read_bounded(self, limit: u64) -> Result<Vec<u8>, CatalogError> {
        let mut buf = Vec::new();
        self.into_reader()
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(CatalogError::Io)?;
        if buf.len() as u64 > limit {
            return Err(CatalogError::TooLarge { limit });
        }
        Ok(buf)
    }
}

/// The first bytes of a file, as [`Content::read_prefix`] read them.
pub struct Prefix {
    pub data: Vec<u8>,
    /// Whether the file goes on past `data`.
    pub cut: bool,
}

/// The records of a database file, up to a limit on their number.
#[derive(Debug)]
pub struct Records<T> {
    pub records: Vec<T>,
    limit: usize,
    /// Whether the file holds more than the limit: those after are not read.
    pub stopped_at_limit: bool,
}

impl<T> Records<T> {
    pub fn new(limit: usize) -> Self {
        Records {
            records: Vec::new(),
            limit,
            stopped_at_limit: false,
        }
    }

    /// Keeps one more record; false (and nothing kept) once the limit is reached.
    pub fn push(&mut self, record: T) -> bool {
        if self.records.len() >= self.limit {
            self.stopped_at_limit = true;
            return false;
        }
        self.records.push(record);
        true
    }

    /// The incompleteness notes of a file whose records these are, read as a prefix:
    /// the cut (when `prefix_cut`, the last record is dropped as likely partial) and
    /// the stop at the record limit. `what` names the records (`stanzas`).
    pub fn finish(mut self, prefix_cut: Option<u64>, what: &str) -> (Vec<T>, Vec<String>) {
        let mut notes = Vec::new();
        if let Some(limit) = prefix_cut {
            if !self.stopped_at_limit {
                self.records.pop();
            }
            notes.push(cut_note(limit));
        }
        if self.stopped_at_limit {
            notes.push(records_note(self.limit, what));
        }
        (self.records, notes)
    }
}

/// The incompleteness note of a file read only up to `limit` bytes.
pub fn cut_note(limit: u64) -> String {
    format!("read only the first {limit} bytes (size limit); later records not read")
}

/// The incompleteness note of a file whose records were read only up to `limit`.
pub fn records_note(limit: usize, records: &str) -> String {
    format!("stopped after {limit} {records} (limit)")
}

/// Most programs one package database (or one dpkg list) is kept saying it installed
/// ([`crate::package::Findings::owned_programs`]): a Debian list has at most a few
/// hundred, a full RHEL install a few thousand in all.
pub const MAX_OWNED_PROGRAMS: usize = 10_000;

/// Whether a path is where programs live: a `bin` or `sbin` directory, `libexec`, or a
/// CNI plugin directory (`/usr/lib/cni`, `/opt/cni/bin`). Paths only, no mode: package
/// databases do not say it for every format.
pub fn is_program(path: &str) -> bool {
    let Some((dir, name)) = path.rsplit_once('/') else {
        return false;
    };
    !name.is_empty()
        && (dir.ends_with("/bin")
            || dir.ends_with("/sbin")
            || dir.contains("/libexec")
            || dir.ends_with("/cni"))
}

/// Why one file could not be catalogued. The scan logs it and goes on.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading: {0}")]
    Io(#[from] std::io::Error),
    #[error("larger than the {limit}-byte limit for this kind of file")]
    TooLarge { limit: u64 },
    #[error("malformed: {0}")]
    Malformed(String),
}

/// A per-file analyser for one ecosystem.
pub trait Cataloger: Send + Sync {
    /// Stable name, used in logs and in the SBOM (`nodebom:cataloger`).
    fn name(&self) -> &'static str;
    /// Whether this file should be read. Path and mode only; called for every file.
    fn wants(&self, file: &FileMeta<'_>) -> bool;
    /// Turns one wanted file into findings. Malformed input is an error, never a panic.
    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError>;
}

/// Every cataloger of this build, in a fixed order.
pub fn all() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(os::OsReleaseCataloger),
        Box::new(dpkg::DpkgCataloger),
        Box::new(dpkg::DpkgCopyrightCataloger),
        Box::new(dpkg::DpkgFilesCataloger),
        Box::new(apk::ApkCataloger),
        Box::new(rpm::RpmCataloger),
        Box::new(python::PythonCataloger),
        Box::new(npm::NpmCataloger),
        Box::new(golang::GoBinaryCataloger),
        Box::new(rust::RustBinaryCataloger),
        Box::new(binary::BinaryClassifierCataloger),
        Box::new(java::JavaArchiveCataloger),
        Box::new(ruby::GemspecCataloger),
        Box::new(php::ComposerInstalledCataloger),
        Box::new(dotnet::DotnetDepsCataloger),
        Box::new(dotnet::DotnetAssemblyCataloger),
        Box::new(conda::CondaMetaCataloger),
    ]
}
