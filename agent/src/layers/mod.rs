//! One layer as a stream of file-system events, from wherever it is on the node.
//!
//! Two sources give the same events: a committed overlayfs snapshot directory
//! ([`snapshot`], no decompression) and a layer blob ([`blob`], gzip/zstd/plain tar,
//! digest and diffID checked). Whiteouts and opaque directories are reported as such in
//! both formats, so the merge does not care where a layer came from.
//! Every layer is hostile: see [`limits::Limits`].

pub mod blob;
pub mod limits;
pub(crate) mod path;
pub mod snapshot;
// Also built for fuzzing: the in-memory image store uses it.
#[cfg(any(test, fuzzing))]
#[cfg_attr(fuzzing, allow(dead_code))]
pub(crate) mod testutil;

pub use limits::Limits;

use crate::catalog::{Content, FileMeta};
use crate::Result;

/// Receives one layer's entries, in the order the source yields them.
///
/// Paths are absolute and normalised (`/etc/os-release`): no `.`/`..` components,
/// no trailing slash, never outside the layer root.
pub trait LayerVisitor {
    /// Whether the content of this regular file is needed. Called before [`Self::file`]
    /// so that sources can skip opening or reading what nobody wants.
    fn wants(&mut self, file: &FileMeta<'_>) -> bool;
    /// A regular file that [`Self::wants`] accepted.
    fn file(&mut self, file: &FileMeta<'_>, content: Content<'_>) -> Result<()>;
    /// Any other entry that replaces what lower layers had at `path` (directory excluded):
    /// a symlink, a regular file nobody wanted, a device, a FIFO…
    fn other(&mut self, path: &str);
    /// A hard link in a tar layer: `path` has the content of `target` (same layer).
    fn hardlink(&mut self, path: &str, target: &str);
    /// `path` is deleted: lower layers' entries at and below it are hidden.
    fn whiteout(&mut self, path: &str);
    /// Directory `dir` is opaque: lower layers' entries below it are hidden.
    fn opaque(&mut self, dir: &str);
    /// An entry that was not read and reports nothing else: one containerd would refuse
    /// to unpack, or one beyond a bound of the walk. `name` is as the layer spells it
    /// (not normalised), `why` says what was wrong with it.
    fn skipped(&mut self, name: &str, why: &str);
}

/// A layer that can be walked.
pub trait LayerSource {
    /// The layer's diffID (`sha256:…` of its uncompressed tar).
    fn diff_id(&self) -> &str;
    /// The bounds this layer is read with; consumers of its files honour them too.
    fn limits(&self) -> &Limits;
    /// Walks the whole layer, calling `visitor` for every entry.
    fn walk(&mut self, visitor: &mut dyn LayerVisitor) -> Result<()>;
}
