//! A layer blob (gzip, zstd or plain tar) read as the agent reads one from containerd's
//! content store, with every cataloger over its files.
//!
//! Input: the blob. Its digest is the real one, so the walk goes to the end; the diffID
//! is not, so every walk ends with a diffID mismatch, after all entries were seen.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nodebom_agent::analysis::analyze_layer;
use nodebom_agent::catalog::{self, Cataloger};
use nodebom_agent::layers::{blob::BlobLayer, Limits};
use nodebom_proto::digest::Digest;

static CATALOGERS: LazyLock<Vec<Box<dyn Cataloger>>> = LazyLock::new(catalog::all);

/// Smaller than the agent's defaults so that one input stays within libFuzzer's time
/// limit: a small blob can inflate to gigabytes, which the defaults allow.
fn limits() -> Limits {
    Limits {
        max_layer_bytes: 64 << 20,
        max_entries: 20_000,
        ..Limits::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let digest = Digest::sha256_of(data).to_string();
    let diff_id = Digest::sha256_of(b"").to_string();
    let mut layer = BlobLayer::new(digest, diff_id, data, limits());
    let _ = analyze_layer(&mut layer, &CATALOGERS);
});
