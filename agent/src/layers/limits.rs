//! Bounds that keep a hostile image from exhausting the node.

/// Limits applied while reading one layer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Uncompressed bytes one layer may expand to (decompression bombs).
    pub max_layer_bytes: u64,
    /// Entries (files, directories, links) in one layer.
    pub max_entries: u64,
    /// Length of one path, in bytes.
    pub max_path_len: usize,
    /// Size of one file a cataloger reads into memory.
    pub max_file_bytes: u64,
    /// Depth of directories walked in a snapshot.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 32 << 30,
            max_entries: 2_000_000,
            max_path_len: 4096,
            max_file_bytes: 64 << 20,
            max_depth: 256,
        }
    }
}
