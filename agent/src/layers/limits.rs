//! Bounds that keep a hostile image from exhausting the node.

/// Limits applied while reading one layer. A layer-wide one (bytes, entries, headers)
/// stops the walk with [`crate::Error::LimitExceeded`]: the analysis keeps what was read
/// before it, says it stopped, and is never cached. A bound of one entry (path length,
/// depth) skips that entry and the walk goes on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Uncompressed bytes one layer may expand to (decompression bombs). Counts every
    /// byte of the tar stream, including the content of entries nobody reads.
    pub max_layer_bytes: u64,
    /// Entries (files, directories, links) in one layer.
    pub max_entries: u64,
    /// Length of one path, in bytes (Linux's `PATH_MAX`).
    pub max_path_len: usize,
    /// Size of one tar entry held in memory to be shared by several catalogers; a larger
    /// one is copied to a temporary file instead (memory stays flat on the blob path).
    pub max_file_bytes: u64,
    /// Depth of directories walked in a snapshot.
    pub max_depth: usize,
    /// Bytes of tar extension records (GNU long names, pax headers) in front of one
    /// entry. The tar reader holds them in memory whole, so they need their own bound.
    pub max_header_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 32 << 30,
            max_entries: 2_000_000,
            max_path_len: 4096,
            max_file_bytes: 8 << 20,
            max_depth: 256,
            max_header_bytes: 1 << 20,
        }
    }
}
