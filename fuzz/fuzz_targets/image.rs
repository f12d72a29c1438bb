//! An image's metadata blobs (OCI or Docker index, manifest, config) resolved as the
//! agent resolves an image record of containerd's, from an in-memory content store.
//!
//! Input: one byte choosing the record's media type, then blobs separated by NUL bytes
//! (JSON has none). Blob 0 is the record's target. A blob refers to a later blob `N`
//! (1–9) by the text `<N>`, replaced by that blob's digest, which the fuzzer could not
//! compute.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nodebom_agent::image::{resolve_record, Platform};
use nodebom_agent::image_store::memory::{MemoryImageStore, INDEX, MANIFEST};

const MAX_BLOBS: usize = 10;

/// An index, a manifest, or an unknown type (told apart by the content).
const MEDIA_TYPES: [&str; 3] = [INDEX, MANIFEST, "application/octet-stream"];

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime for the fuzz target")
});

/// `blob` with every `pattern` replaced by `with`.
fn replace(blob: &[u8], pattern: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blob.len());
    let mut rest = blob;
    while let Some(at) = memchr::memmem::find(rest, pattern) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + pattern.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let blobs: Vec<&[u8]> = rest.split(|&b| b == 0).take(MAX_BLOBS).collect();
    let mut store = MemoryImageStore::default();
    let mut digests = vec![String::new(); blobs.len()];
    for i in (0..blobs.len()).rev() {
        let mut blob = blobs[i].to_vec();
        for (later, digest) in digests.iter().enumerate().skip(i + 1) {
            blob = replace(&blob, format!("<{later}>").as_bytes(), digest.as_bytes());
        }
        digests[i] = store.put_blob(blob);
    }
    let media_type = MEDIA_TYPES[usize::from(kind) % MEDIA_TYPES.len()];
    store.tag("fuzz.example/image:latest", media_type, &digests[0]);
    let record = store.images[0].clone();
    let platform = Platform::parse("linux/amd64").expect("a valid platform");
    let _ = RUNTIME.block_on(resolve_record(&store, &record, &platform));
});
