//! An SBOM upload as the collector ingests it: reassembled from chunks, hashed,
//! compressed, then checked and indexed as CycloneDX JSON.
//!
//! Input: the document. The header announces its real size and digest, so every input
//! reaches the CycloneDX reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodebom_collector::digest::Digest;
use nodebom_collector::inventory::NodeKey;
use nodebom_collector::sbom::upload::{Assembler, UploadHeader};

/// The collector's default `--max-sbom-bytes` is far above what a fuzzer sends.
const MAX_BYTES: u64 = 64 << 20;
/// Chunks as an agent sends them (smaller, so that inputs span several).
const CHUNK: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let header = UploadHeader {
        node: NodeKey {
            cluster: "fuzz".into(),
            node: "node-1".into(),
        },
        manifest_digest: Digest::sha256_of(b"manifest"),
        size: data.len() as u64,
        sha256: Digest::sha256_of(data),
    };
    let Ok(mut assembler) = Assembler::new(header, MAX_BYTES) else {
        return;
    };
    let mut offset = 0;
    for chunk in data.chunks(CHUNK) {
        if assembler.push(offset, chunk).is_err() {
            return;
        }
        offset += chunk.len() as u64;
    }
    let _ = assembler.finish();
});
