//! SBOM documents: checking that an upload is a CycloneDX SBOM of the image it was
//! uploaded for, indexing its components for `FindComponents`, and storing its canonical
//! form compressed.
//!
//! A document is compressed while it arrives ([`upload::Assembler`]) and parsed from the
//! compressed form into a typed model, so an upload costs about its compressed size plus
//! the model in memory, not a tree of JSON values several times its size.

pub mod cyclonedx;
mod depth;
pub mod purl;
pub mod upload;

use std::io::Read;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// zstd level for stored documents: SBOM JSON is repetitive and compresses about 10× at
/// this level, at a few hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

/// A component of an SBOM, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Component {
    /// CycloneDX `name`.
    pub name: String,
    /// CycloneDX `version`, empty when absent.
    pub version: String,
    /// CycloneDX `purl`, empty when absent.
    pub purl: String,
    /// CycloneDX `type`.
    pub kind: String,
}

/// An uploaded document that passed every check, ready to store.
#[derive(Debug, Clone)]
pub struct ValidatedSbom {
    /// The image it describes.
    pub manifest_digest: Digest,
    /// Version of the agent that built it, from the upload's header.
    pub agent_version: String,
    /// CycloneDX `specVersion`.
    pub spec_version: String,
    /// Size of the canonical JSON document.
    pub size: u64,
    /// SHA-256 of the canonical JSON document.
    pub sha256: Digest,
    /// The canonical document, zstd-compressed.
    pub document_zstd: Vec<u8>,
    /// Distinct components, sorted.
    pub components: Vec<Component>,
    /// See [`cyclonedx::Bom::content_hash`]: equal for equal contents.
    pub content_hash: Digest,
    /// Whether the document says it lists only part of the image.
    pub completeness: cyclonedx::Completeness,
}

/// Decompresses a whole stored document whose size is `size` bytes.
pub fn decompress(document_zstd: &[u8], size: u64) -> Result<Vec<u8>> {
    let mut document = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    decompress_chunks(document_zstd, 1 << 20, |chunk| {
        document.extend_from_slice(&chunk);
        true
    })?;
    Ok(document)
}

/// Decompresses a stored document and hands it to `sink` in pieces of at most
/// `chunk_size` bytes, stopping early when `sink` returns false.
pub fn decompress_chunks(
    document_zstd: &[u8],
    chunk_size: usize,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<()> {
    let mut decoder = zstd::stream::read::Decoder::new(document_zstd)
        .map_err(|err| Error::Corrupt(format!("stored SBOM does not decompress: {err}")))?;
    loop {
        let mut chunk = Vec::with_capacity(chunk_size);
        let read = (&mut decoder)
            .take(chunk_size as u64)
            .read_to_end(&mut chunk)
            .map_err(|err| Error::Corrupt(format!("stored SBOM does not decompress: {err}")))?;
        if read == 0 || !sink(chunk) {
            return Ok(());
        }
    }
}
