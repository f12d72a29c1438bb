//! Layer blobs as containerd's content store holds them: gzip (one or several members),
//! zstd or plain tar, told apart by their first bytes rather than by a media type.
//!
//! Both digests are computed while the blob is read (the blob digest over the stored
//! bytes, the diffID over the whole uncompressed stream, tar padding included) and
//! checked at the end; a mismatch fails [`LayerSource::walk`], so its findings are never
//! cached. OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) become [`LayerVisitor::whiteout`]
//! and [`LayerVisitor::opaque`] events.

use std::cell::Cell;
use std::io::{self, Read};

use nodebom_proto::digest::Digest;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::{path, LayerSource, LayerVisitor, Limits};
use crate::catalog::{Content, FileMeta};
use crate::{Error, Result};

/// Files eStargz adds at the layer root to index itself; not part of the image.
const ESTARGZ_FILES: [&str; 3] = [
    "stargz.index.json",
    ".prefetch.landmark",
    ".no.prefetch.landmark",
];
const WHITEOUT_PREFIX: &str = ".wh.";
/// `.wh..wh..opq` once [`WHITEOUT_PREFIX`] is stripped.
const OPAQUE_MARKER: &str = ".wh..opq";
const TAR_BLOCK: u64 = 512;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A layer read from its blob, in one pass over any byte stream (for example
/// containerd's `Content.Read`).
///
/// ```no_run
/// use nodebom_agent::layers::{blob::BlobLayer, Limits};
/// # fn open() -> std::fs::File { unimplemented!() }
/// let layer = BlobLayer::new(
///     "sha256:<blob digest from the manifest>",
///     "sha256:<diffID from the config>",
///     open(),
///     Limits::default(),
/// );
/// ```
pub struct BlobLayer<R> {
    digest: String,
    diff_id: String,
    /// Taken by the one walk a stream allows.
    reader: Option<R>,
    limits: Limits,
}

impl<R: Read> BlobLayer<R> {
    /// `digest` is the blob's digest as the manifest states it, `diff_id` the digest of
    /// its uncompressed tar as the image config states it; both `sha256:<hex>`.
    pub fn new(
        digest: impl Into<String>,
        diff_id: impl Into<String>,
        reader: R,
        limits: Limits,
    ) -> Self {
        BlobLayer {
            digest: digest.into(),
            diff_id: diff_id.into(),
            reader: Some(reader),
            limits,
        }
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Layer {
            diff_id: self.diff_id.clone(),
            message: message.into(),
        }
    }

    fn limit_exceeded(&self, limit: impl Into<String>) -> Error {
        Error::LimitExceeded {
            diff_id: self.diff_id.clone(),
            limit: limit.into(),
        }
    }

    /// An I/O error while reading, reported as the limit it hit when it comes from one.
    fn read_error(&self, doing: &str, err: io::Error, budgets: &[&Budget]) -> Error {
        match budgets.iter().find_map(|budget| budget.exceeded.get()) {
            Some(exceeded) => self.limit_exceeded(exceeded.to_string()),
            None => self.error(format!("{doing}: {err}")),
        }
    }

    fn check_algorithm(&self, what: &str, digest: &str) -> Result<()> {
        if digest.starts_with("sha256:") {
            Ok(())
        } else {
            Err(self.error(format!(
                "{what} {digest:?}: only sha256 digests are supported"
            )))
        }
    }

    fn verify(&self, what: &str, expected: &str, computed: &str) -> Result<()> {
        if expected == computed {
            Ok(())
        } else {
            Err(self.error(format!(
                "{what} mismatch: expected {expected}, computed {computed}"
            )))
        }
    }

    fn read_entries(
        &self,
        tar_stream: impl Read,
        budget: &Budget,
        visitor: &mut dyn LayerVisitor,
        budgets: &[&Budget],
    ) -> Result<()> {
        let mut archive = tar::Archive::new(tar_stream);
        let entries = archive
            .entries()
            .map_err(|e| self.read_error("reading the tar stream", e, budgets))?;
        let mut count: u64 = 0;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| self.read_error("reading a tar header", e, budgets))?;
            budget.allow_headers_after(entry.raw_file_position(), entry.size());
            count += 1;
            if count > self.limits.max_entries {
                return Err(self.limit_exceeded(format!(
                    "more than {} entries (max_entries)",
                    self.limits.max_entries
                )));
            }
            self.visit_entry(&mut entry, visitor)?;
        }
        Ok(())
    }

    /// Reports one entry. An entry containerd would refuse to unpack, or that is beyond a
    /// bound of one entry, is reported as skipped and the walk goes on.
    fn visit_entry<E: Read>(
        &self,
        entry: &mut tar::Entry<'_, E>,
        visitor: &mut dyn LayerVisitor,
    ) -> Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw);
        let skip = |visitor: &mut dyn LayerVisitor, why: &str| {
            visitor.skipped(&path::head(&name), why);
            Ok(())
        };
        if raw.len() > self.limits.max_path_len {
            let why = format!("path longer than {} bytes", self.limits.max_path_len);
            return skip(visitor, &why);
        }
        let Some(path) = path::from_archive(&raw) else {
            // containerd ignores an entry that names the root.
            return Ok(());
        };
        let (dir, base) = path::split(&path);
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            if matches!(hidden, "" | "." | "..") {
                // containerd refuses the layer over such a marker.
                return skip(visitor, "whiteout marker that names no entry");
            }
            self.visit_whiteout(dir, hidden, visitor);
            return Ok(());
        }
        if dir == "/" && ESTARGZ_FILES.contains(&base) {
            return Ok(());
        }
        match kind {
            EntryType::Directory => {}
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let Ok(mode) = entry.header().mode() else {
                    return skip(visitor, "unreadable mode");
                };
                let meta = FileMeta {
                    path: &path,
                    size: entry.size(),
                    mode: mode & 0o7777,
                };
                if visitor.wants(&meta) {
                    visitor.file(&meta, Content::Stream(entry))?;
                } else {
                    visitor.other(&path);
                }
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                if target.len() > self.limits.max_path_len {
                    let why = format!(
                        "hard link target longer than {} bytes",
                        self.limits.max_path_len
                    );
                    return skip(visitor, &why);
                }
                // Rooted as containerd roots it; a link to the root (or to nothing)
                // cannot be made, and containerd refuses the layer.
                let Some(target) = path::from_archive(&target) else {
                    return skip(visitor, "hard link to the layer root");
                };
                visitor.hardlink(&path, &target);
            }
            // Symlinks, devices, FIFOs and types this reader does not know all replace
            // whatever lower layers had at this path.
            _ => visitor.other(&path),
        }
        Ok(())
    }

    /// `hidden` is the marker's name without its `.wh.` prefix, never empty, `.` or `..`.
    fn visit_whiteout(&self, dir: &str, hidden: &str, visitor: &mut dyn LayerVisitor) {
        if hidden == OPAQUE_MARKER {
            visitor.opaque(dir);
        } else if hidden.starts_with(WHITEOUT_PREFIX) {
            // AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not a whiteout.
            tracing::debug!(layer = %self.diff_id, dir, marker = hidden, "ignoring AUFS metadata");
        } else {
            visitor.whiteout(&path::join(dir, hidden));
        }
    }
}

impl<R: Read> LayerSource for BlobLayer<R> {
    fn diff_id(&self) -> &str {
        &self.diff_id
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn walk(&mut self, visitor: &mut dyn LayerVisitor) -> Result<()> {
        self.check_algorithm("blob digest", &self.digest)?;
        self.check_algorithm("diffID", &self.diff_id)?;
        let input = self
            .reader
            .take()
            .ok_or_else(|| self.error("the blob stream was already read"))?;

        let blob_budget = Budget::new(
            "stored blob bytes (max_layer_bytes)",
            self.limits.max_layer_bytes,
            None,
        );
        let tar_budget = Budget::new(
            "uncompressed bytes (max_layer_bytes)",
            self.limits.max_layer_bytes,
            Some(self.limits.max_header_bytes),
        );
        let budgets = [&blob_budget, &tar_budget];

        let mut blob = Measured::new(input, &blob_budget);
        let mut head = Vec::with_capacity(ZSTD_MAGIC.len());
        (&mut blob)
            .take(ZSTD_MAGIC.len() as u64)
            .read_to_end(&mut head)
            .map_err(|e| self.read_error("reading the blob", e, &budgets))?;
        let unpacked_digest: Result<String> = (|| {
            // The magic bytes were read through `blob`, so they are already hashed.
            let stream = head.as_slice().chain(&mut blob);
            let decoded: Box<dyn Read + '_> = if head.starts_with(GZIP_MAGIC) {
                Box::new(flate2::read::MultiGzDecoder::new(stream))
            } else if head.starts_with(ZSTD_MAGIC) {
                Box::new(
                    zstd::stream::read::Decoder::new(stream)
                        .map_err(|e| self.error(format!("starting zstd: {e}")))?,
                )
            } else {
                Box::new(stream)
            };
            let mut unpacked = Measured::new(decoded, &tar_budget);
            self.read_entries(&mut unpacked, &tar_budget, visitor, &budgets)?;
            // The diffID covers the whole stream: the tar end blocks, padding after them,
            // and any trailing bytes the tar reader stopped short of.
            tar_budget.allow_any_headers();
            io::copy(&mut unpacked, &mut io::sink())
                .map_err(|e| self.read_error("reading past the tar end", e, &budgets))?;
            Ok(unpacked.digest())
        })();
        if unpacked_digest.is_err() && budgets.iter().any(|b| b.exceeded.get().is_some()) {
            return unpacked_digest.map(drop);
        }
        // Whatever the decoding said, the blob is read to its end and its digest checked
        // first: content that is not the blob the manifest names (swapped, truncated) is
        // reported as that, not as the decoding error it causes.
        let drained = io::copy(&mut blob, &mut io::sink())
            .map_err(|e| self.read_error("reading past the compressed end", e, &budgets));
        let blob_digest = blob.digest();
        if drained.is_ok() {
            self.verify("blob digest", &self.digest, &blob_digest)?;
        }
        let unpacked_digest = unpacked_digest?;
        drained?;
        self.verify("diffID", &self.diff_id, &unpacked_digest)
    }
}

/// A bound crossed while reading; kept for the error message, because what reaches the
/// caller through the decoder and the tar reader is an opaque `io::Error`.
#[derive(Debug, Clone, Copy)]
struct Exceeded {
    what: &'static str,
    limit: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} {}", self.limit, self.what)
    }
}

/// What one stream may read. Shared (through `Cell`s) between the reader that enforces
/// it and the tar loop that moves the header window.
struct Budget {
    what: &'static str,
    max_bytes: u64,
    /// Extension records allowed between two entries' data; `None` for no window.
    max_header_bytes: Option<u64>,
    /// Reads past this offset fail: the end of the current entry's data plus one header
    /// and `max_header_bytes`. The tar crate (0.4.46) reads GNU long names and pax records
    /// into memory whole, with no bound of its own; this keeps a bomb hidden in one from
    /// growing past the window.
    window_end: Cell<u64>,
    exceeded: Cell<Option<Exceeded>>,
}

impl Budget {
    fn new(what: &'static str, max_bytes: u64, max_header_bytes: Option<u64>) -> Self {
        let window_end = match max_header_bytes {
            Some(headers) => headers.saturating_add(TAR_BLOCK),
            None => u64::MAX,
        };
        Budget {
            what,
            max_bytes,
            max_header_bytes,
            window_end: Cell::new(window_end),
            exceeded: Cell::new(None),
        }
    }

    /// Moves the window past the data of the entry that starts at `data_start`.
    fn allow_headers_after(&self, data_start: u64, size: u64) {
        if let Some(headers) = self.max_header_bytes {
            let padded = size.saturating_add(TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
            let end = data_start
                .saturating_add(padded)
                .saturating_add(TAR_BLOCK)
                .saturating_add(headers);
            self.window_end.set(end);
        }
    }

    fn allow_any_headers(&self) {
        self.window_end.set(u64::MAX);
    }

    fn check(&self, count: u64) -> io::Result<()> {
        let exceeded = if count > self.max_bytes {
            Exceeded {
                what: self.what,
                limit: self.max_bytes,
            }
        } else if count > self.window_end.get() {
            Exceeded {
                what: "bytes of tar extension headers before one entry (max_header_bytes)",
                limit: self.max_header_bytes.unwrap_or(u64::MAX),
            }
        } else {
            return Ok(());
        };
        self.exceeded.set(Some(exceeded));
        Err(io::Error::other(exceeded.to_string()))
    }
}

/// Hashes and counts every byte read through it, failing once its [`Budget`] is spent.
struct Measured<'b, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    budget: &'b Budget,
}

impl<'b, R: Read> Measured<'b, R> {
    fn new(inner: R, budget: &'b Budget) -> Self {
        Measured {
            inner,
            hasher: Sha256::new(),
            count: 0,
            budget,
        }
    }

    fn digest(self) -> String {
        Digest::from_sha256(self.hasher).into()
    }
}

impl<R: Read> Read for Measured<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A spent budget stays spent, even for readers that retry after an error.
        self.budget.check(self.count)?;
        let n = self.inner.read(buf)?;
        let chunk = buf
            .get(..n)
            .ok_or_else(|| io::Error::other("reader returned more bytes than asked for"))?;
        self.hasher.update(chunk);
        self.count = self.count.saturating_add(n as u64);
        self.budget.check(self.count)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{digest, gzip, gzip_members, zstd, Event, LayerTar, Recorder};

    fn walk(blob: &[u8], tar: &[u8], limits: Limits) -> Result<Vec<Event>> {
        let mut layer = BlobLayer::new(digest(blob), digest(tar), blob, limits);
        let mut recorder = Recorder::wanting(".pkg");
        layer.walk(&mut recorder)?;
        Ok(recorder.events)
    }

    fn sample_layer() -> Vec<u8> {
        LayerTar::new()
            .dir("usr/")
            .file("usr/share/a.pkg", b"alpha 1.0\n", 0o644)
            .file("usr/share/readme.txt", b"not wanted", 0o644)
            .symlink("usr/share/b.pkg", "a.pkg")
            .hardlink("usr/share/c.pkg", "usr/share/a.pkg")
            .fifo("run/fifo.pkg")
            .finish()
    }

    fn sample_events() -> Vec<Event> {
        vec![
            Event::File("/usr/share/a.pkg".into(), b"alpha 1.0\n".to_vec()),
            Event::Other("/usr/share/readme.txt".into()),
            Event::Other("/usr/share/b.pkg".into()),
            Event::Hardlink("/usr/share/c.pkg".into(), "/usr/share/a.pkg".into()),
            Event::Other("/run/fifo.pkg".into()),
        ]
    }

    #[test]
    fn plain_tar_is_read_and_verified() {
        let tar = sample_layer();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            sample_events()
        );
    }

    #[test]
    fn gzip_layer_is_decompressed_and_both_digests_verified() {
        let tar = sample_layer();
        assert_eq!(
            walk(&gzip(&tar), &tar, Limits::default()).unwrap(),
            sample_events()
        );
    }

    #[test]
    fn multi_member_gzip_layer_is_read_to_the_last_member() {
        let tar = sample_layer();
        let (first, second) = tar.split_at(700);
        let blob = gzip_members(&[first, second]);
        assert_eq!(
            walk(&blob, &tar, Limits::default()).unwrap(),
            sample_events()
        );
    }

    #[test]
    fn zstd_layer_is_decompressed_and_both_digests_verified() {
        let tar = sample_layer();
        assert_eq!(
            walk(&zstd(&tar), &tar, Limits::default()).unwrap(),
            sample_events()
        );
    }

    #[test]
    fn wrong_diff_id_fails_the_walk() {
        let tar = sample_layer();
        let blob = gzip(&tar);
        let wrong = digest(b"another layer");
        let mut layer = BlobLayer::new(
            digest(&blob),
            wrong.clone(),
            blob.as_slice(),
            Limits::default(),
        );
        let err = layer.walk(&mut Recorder::wanting(".pkg")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("diffID mismatch"), "{message}");
        assert!(message.contains(&digest(&tar)), "{message}");
    }

    #[test]
    fn wrong_blob_digest_fails_the_walk() {
        let tar = sample_layer();
        let blob = gzip(&tar);
        let mut layer = BlobLayer::new(
            digest(&tar),
            digest(&tar),
            blob.as_slice(),
            Limits::default(),
        );
        let err = layer.walk(&mut Recorder::wanting(".pkg")).unwrap_err();
        assert!(err.to_string().contains("blob digest mismatch"), "{err}");
    }

    #[test]
    fn swapped_content_is_a_blob_digest_mismatch_not_a_decoding_error() {
        let tar = sample_layer();
        let blob = gzip(&tar);
        // Another blob, as a corrupted or swapped content store would return it.
        let mut swapped = gzip(b"not a tar archive at all");
        swapped.truncate(swapped.len() / 2);
        let mut layer = BlobLayer::new(
            digest(&blob),
            digest(&tar),
            swapped.as_slice(),
            Limits::default(),
        );
        let err = layer.walk(&mut Recorder::wanting(".pkg")).unwrap_err();
        assert!(err.to_string().contains("blob digest mismatch"), "{err}");
        assert!(err.to_string().contains(&digest(&blob)), "{err}");
    }

    #[test]
    fn diff_id_covers_padding_after_the_tar_end() {
        let mut tar = sample_layer();
        // Blocking-factor padding as GNU tar writes it: zeros after the end blocks.
        tar.extend_from_slice(&[0; 8192]);
        assert_eq!(
            walk(&gzip(&tar), &tar, Limits::default()).unwrap(),
            sample_events()
        );

        let unpadded = sample_layer();
        let err = walk(&gzip(&tar), &unpadded, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("diffID mismatch"), "{err}");
    }

    #[test]
    fn a_stream_is_walked_once() {
        let tar = sample_layer();
        let mut layer = BlobLayer::new(
            digest(&tar),
            digest(&tar),
            tar.as_slice(),
            Limits::default(),
        );
        layer.walk(&mut Recorder::wanting(".pkg")).unwrap();
        let err = layer.walk(&mut Recorder::wanting(".pkg")).unwrap_err();
        assert!(err.to_string().contains("already read"), "{err}");
    }

    #[test]
    fn whiteouts_and_opaque_markers_become_events() {
        let tar = LayerTar::new()
            .file("etc/.wh.old.pkg", b"", 0o644)
            .file(".wh.opt", b"", 0o644)
            .file("var/lib/.wh..wh..opq", b"", 0o644)
            .file("var/lib/new.pkg", b"beta 2\n", 0o644)
            .file(".wh..wh.plnk", b"", 0o644)
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![
                Event::Whiteout("/etc/old.pkg".into()),
                Event::Whiteout("/opt".into()),
                Event::Opaque("/var/lib".into()),
                Event::File("/var/lib/new.pkg".into(), b"beta 2\n".to_vec()),
            ]
        );
    }

    #[test]
    fn whiteout_naming_the_parent_directory_is_skipped() {
        for marker in ["etc/.wh.", "etc/.wh..", "etc/.wh..."] {
            let tar = LayerTar::new()
                .file(marker, b"", 0o644)
                .file("etc/a.pkg", b"alpha 1\n", 0o644)
                .finish();
            assert_eq!(
                walk(&tar, &tar, Limits::default()).unwrap(),
                vec![
                    Event::Skipped(marker.into(), "whiteout marker that names no entry".into()),
                    Event::File("/etc/a.pkg".into(), b"alpha 1\n".to_vec()),
                ],
                "{marker}"
            );
        }
    }

    #[test]
    fn estargz_index_files_are_not_content() {
        let tar = LayerTar::new()
            .file("stargz.index.json", b"{}", 0o644)
            .file(".prefetch.landmark", b"", 0o644)
            .file("etc/stargz.index.json", b"{}", 0o644)
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![Event::Other("/etc/stargz.index.json".into())]
        );
    }

    #[test]
    fn entry_climbing_out_of_the_layer_is_read_where_containerd_puts_it() {
        let tar = LayerTar::new()
            .file("a.pkg", b"alpha 1\n", 0o644)
            .raw_name_file(b"../etc/passwd.pkg", b"root 0\n")
            .raw_name_file(b"usr/../../../opt/b.pkg", b"beta 1\n")
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![
                Event::File("/a.pkg".into(), b"alpha 1\n".to_vec()),
                Event::File("/etc/passwd.pkg".into(), b"root 0\n".to_vec()),
                Event::File("/opt/b.pkg".into(), b"beta 1\n".to_vec()),
            ]
        );
    }

    #[test]
    fn absolute_entry_is_read_relative_to_the_layer_root() {
        let tar = LayerTar::new()
            .raw_name_file(b"/etc/passwd.pkg", b"root 0\n")
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![Event::File("/etc/passwd.pkg".into(), b"root 0\n".to_vec())]
        );
    }

    #[test]
    fn hard_link_targets_are_rooted_in_the_layer() {
        let tar = LayerTar::new()
            .hardlink("etc/shadow.pkg", "../../etc/shadow")
            .raw_hardlink(b"etc/abs.pkg", b"/usr/lib/a.pkg")
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![
                Event::Hardlink("/etc/shadow.pkg".into(), "/etc/shadow".into()),
                Event::Hardlink("/etc/abs.pkg".into(), "/usr/lib/a.pkg".into()),
            ]
        );
    }

    #[test]
    fn hard_link_to_the_root_is_skipped_and_the_rest_read() {
        let tar = LayerTar::new()
            .raw_hardlink(b"etc/root.pkg", b"../..")
            .raw_hardlink(b"etc/none.pkg", b"")
            .file("b.pkg", b"beta 1\n", 0o644)
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![
                Event::Skipped("etc/root.pkg".into(), "hard link to the layer root".into()),
                Event::Skipped("etc/none.pkg".into(), "hard link to the layer root".into()),
                Event::File("/b.pkg".into(), b"beta 1\n".to_vec()),
            ]
        );
    }

    #[test]
    fn entry_naming_the_root_is_ignored() {
        let tar = LayerTar::new()
            .raw_name_file(b"../", b"")
            .file("b.pkg", b"beta 1\n", 0o644)
            .finish();
        assert_eq!(
            walk(&tar, &tar, Limits::default()).unwrap(),
            vec![Event::File("/b.pkg".into(), b"beta 1\n".to_vec())]
        );
    }

    #[test]
    fn decompression_bomb_in_an_unread_entry_hits_the_layer_limit() {
        let tar = LayerTar::new()
            .file("zeros.bin", &vec![0; 4 << 20], 0o644)
            .file("late.pkg", b"late 1\n", 0o644)
            .finish();
        let blob = gzip(&tar);
        assert!(blob.len() < 64 << 10, "the bomb compresses well");
        let limits = Limits {
            max_layer_bytes: 1 << 20,
            ..Limits::default()
        };
        let err = walk(&blob, &tar, limits).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
        assert!(err.to_string().contains("max_layer_bytes"), "{err}");
    }

    #[test]
    fn too_many_entries_hit_the_entry_limit() {
        let mut layer = LayerTar::new();
        for i in 0..20 {
            layer = layer.file(&format!("f{i}"), b"", 0o644);
        }
        let tar = layer.finish();
        let limits = Limits {
            max_entries: 10,
            ..Limits::default()
        };
        let err = walk(&tar, &tar, limits).unwrap_err();
        assert!(err.to_string().contains("max_entries"), "{err}");
    }

    #[test]
    fn long_path_is_skipped_and_the_rest_read() {
        let long = format!("{}/a.pkg", "d".repeat(300));
        let tar = LayerTar::new()
            .file(&long, b"alpha 1\n", 0o644)
            .hardlink("link.pkg", &long)
            .file("b.pkg", b"beta 1\n", 0o644)
            .finish();
        let limits = Limits {
            max_path_len: 256,
            ..Limits::default()
        };
        assert_eq!(
            walk(&tar, &tar, limits).unwrap(),
            vec![
                Event::Skipped(path::head(&long), "path longer than 256 bytes".into()),
                Event::Skipped(
                    "link.pkg".into(),
                    "hard link target longer than 256 bytes".into()
                ),
                Event::File("/b.pkg".into(), b"beta 1\n".to_vec()),
            ]
        );
    }

    #[test]
    fn oversized_long_name_is_refused_before_it_is_buffered() {
        // A GNU long-name record the tar reader would hold in memory whole.
        let long = "n".repeat(64 << 10);
        let tar = LayerTar::new().file(&long, b"", 0o644).finish();
        let limits = Limits {
            max_header_bytes: 8 << 10,
            ..Limits::default()
        };
        let err = walk(&gzip(&tar), &tar, limits).unwrap_err();
        assert!(err.to_string().contains("max_header_bytes"), "{err}");
    }

    #[test]
    fn long_names_within_the_header_limit_are_read() {
        let long = format!("{}/a.pkg", "d".repeat(300));
        let tar = LayerTar::new()
            .file("first.pkg", &vec![b'x'; 5000], 0o644)
            .file(&long, b"alpha 1\n", 0o644)
            .finish();
        let events = walk(&tar, &tar, Limits::default()).unwrap();
        assert_eq!(
            events.last(),
            Some(&Event::File(format!("/{long}"), b"alpha 1\n".to_vec()))
        );
    }
}
