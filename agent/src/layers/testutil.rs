//! Test helpers: layer tars built with the `tar` crate, compressed with the real
//! encoders, and a visitor that records what a source reports.

use std::io::{Read, Write};

use super::LayerVisitor;
use crate::catalog::{Content, FileMeta};
use crate::Result;

/// `sha256:<hex>` of `bytes`, as a string the way layer readers take it.
pub fn digest(bytes: &[u8]) -> String {
    nodebom_proto::digest::Digest::sha256_of(bytes).into()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_members(&[data])
}

/// One gzip member per part, concatenated (what parallel compressors such as pigz write).
pub fn gzip_members(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(part).unwrap();
        out.extend(encoder.finish().unwrap());
    }
    out
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Builds one layer tar the way image builders write them: GNU headers, names relative
/// to the layer root.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    pub fn new() -> Self {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, path, std::io::empty())
            .unwrap();
        self
    }

    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        let mut header = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.builder.append_data(&mut header, path, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut header, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Link, 0o644, 0);
        self.builder.append_link(&mut header, path, target).unwrap();
        self
    }

    pub fn fifo(mut self, path: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Fifo, 0o644, 0);
        self.builder
            .append_data(&mut header, path, std::io::empty())
            .unwrap();
        self
    }

    /// A regular file whose name is written as is, bypassing the builder's checks
    /// (hostile names such as `../etc/passwd`).
    pub fn raw_name_file(mut self, name: &[u8], data: &[u8]) -> Self {
        let mut header = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    /// A hard link whose name and target are written as is (`/etc/shadow`, `..`).
    pub fn raw_hardlink(mut self, name: &[u8], target: &[u8]) -> Self {
        let mut header = Self::header(tar::EntryType::Link, 0o644, 0);
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..target.len()].copy_from_slice(target);
        header.set_cksum();
        self.builder.append(&header, std::io::empty()).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// One visitor call, as [`Recorder`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    File(String, Vec<u8>),
    Other(String),
    Hardlink(String, String),
    Whiteout(String),
    Opaque(String),
    /// Name and reason.
    Skipped(String, String),
}

/// Records every event; wants the regular files whose path ends with a suffix.
pub struct Recorder {
    suffix: &'static str,
    pub events: Vec<Event>,
}

impl Recorder {
    pub fn wanting(suffix: &'static str) -> Self {
        Recorder {
            suffix,
            events: Vec::new(),
        }
    }
}

impl LayerVisitor for Recorder {
    fn wants(&mut self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(self.suffix)
    }

    fn file(&mut self, file: &FileMeta<'_>, content: Content<'_>) -> Result<()> {
        let mut data = Vec::new();
        match content {
            Content::Stream(reader) => reader.read_to_end(&mut data),
            Content::File(reader) => reader.read_to_end(&mut data),
        }
        .unwrap();
        self.events.push(Event::File(file.path.to_string(), data));
        Ok(())
    }

    fn other(&mut self, path: &str) {
        self.events.push(Event::Other(path.to_string()));
    }

    fn hardlink(&mut self, path: &str, target: &str) {
        self.events
            .push(Event::Hardlink(path.to_string(), target.to_string()));
    }

    fn whiteout(&mut self, path: &str) {
        self.events.push(Event::Whiteout(path.to_string()));
    }

    fn opaque(&mut self, dir: &str) {
        self.events.push(Event::Opaque(dir.to_string()));
    }

    fn skipped(&mut self, name: &str, why: &str) {
        self.events
            .push(Event::Skipped(name.to_string(), why.to_string()));
    }
}
