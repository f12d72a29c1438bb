//! Reassembling an uploaded SBOM from its chunks.

use std::io::Write;

use nodebom_proto::chunks::Reassembly;
use sha2::{Digest as _, Sha256};

use super::{cyclonedx, ValidatedSbom, ZSTD_LEVEL};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::NodeKey;

/// What an upload announces before its first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHeader {
    /// The node that built the SBOM.
    pub node: NodeKey,
    /// The image the SBOM describes.
    pub manifest_digest: Digest,
    /// Exact size of the document.
    pub size: u64,
    /// SHA-256 of the document.
    pub sha256: Digest,
}

/// Receives the chunks of one upload in order, hashing and compressing them as they
/// come, and checks the result when the upload ends.
pub struct Assembler {
    header: UploadHeader,
    reassembly: Reassembly,
    hasher: Sha256,
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
}

impl Assembler {
    /// Starts an upload of at most `max_bytes`.
    pub fn new(header: UploadHeader, max_bytes: u64) -> Result<Self> {
        if header.size == 0 {
            return Err(Error::invalid("header.size", "an SBOM cannot be empty"));
        }
        if header.size > max_bytes {
            return Err(Error::ResourceExhausted(format!(
                "SBOM of {} bytes is larger than the collector's limit of {max_bytes} bytes (--max-sbom-bytes)",
                header.size
            )));
        }
        let encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
            .map_err(Error::io("starting SBOM compression"))?;
        Ok(Self {
            reassembly: Reassembly::new(header.size),
            header,
            hasher: Sha256::new(),
            encoder,
        })
    }

    /// The header the upload started with.
    pub fn header(&self) -> &UploadHeader {
        &self.header
    }

    /// Adds the chunk that starts at `offset`, which must be where the previous one ended.
    pub fn push(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.reassembly
            .accept(offset, data.len())
            .map_err(|err| Error::invalid(err.field(), err.to_string()))?;
        self.hasher.update(data);
        self.encoder
            .write_all(data)
            .map_err(Error::io("compressing an SBOM"))?;
        Ok(())
    }

    /// Ends the upload: checks size and hash, parses the document and indexes it.
    pub fn finish(self) -> Result<ValidatedSbom> {
        let header = self.header;
        if !self.reassembly.is_complete() {
            return Err(Error::invalid(
                "chunk",
                format!(
                    "the upload ended after {} of the announced {} bytes",
                    self.reassembly.received(),
                    header.size
                ),
            ));
        }
        let sha256 = Digest::from_sha256(self.hasher);
        if sha256 != header.sha256 {
            return Err(Error::invalid(
                "header.sha256",
                format!(
                    "the document's digest is {sha256}, the header announced {}",
                    header.sha256
                ),
            ));
        }
        let document_zstd = self
            .encoder
            .finish()
            .map_err(Error::io("compressing an SBOM"))?;
        let decoder = zstd::stream::read::Decoder::new(&document_zstd[..])
            .map_err(Error::io("reading back a compressed SBOM"))?;
        let indexed = cyclonedx::index(decoder)?;
        if let Some(described) = &indexed.described_version {
            // nodebom's own SBOMs name the manifest digest here; a different digest means
            // the agent sent the document of another image.
            let looks_like_digest =
                described.starts_with("sha256:") || described.starts_with("sha512:");
            if looks_like_digest && described != header.manifest_digest.as_str() {
                return Err(Error::InvalidSbom(format!(
                    "the document describes {described}, but was uploaded for {}",
                    header.manifest_digest
                )));
            }
        }
        Ok(ValidatedSbom {
            manifest_digest: header.manifest_digest,
            spec_version: indexed.spec_version,
            size: header.size,
            sha256,
            document_zstd,
            components: indexed.components,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &[u8] = include_bytes!("testdata/syft-1.18.1-debian-12.cdx.json");
    const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn header(document: &[u8]) -> UploadHeader {
        let mut hasher = Sha256::new();
        hasher.update(document);
        UploadHeader {
            node: NodeKey::new("prod", "worker-1").unwrap(),
            manifest_digest: crate::digest::parse("d", IMAGE).unwrap(),
            size: document.len() as u64,
            sha256: Digest::from_sha256(hasher),
        }
    }

    fn upload(document: &[u8], chunk: usize) -> Result<ValidatedSbom> {
        let mut assembler = Assembler::new(header(document), 1 << 30)?;
        let mut offset = 0u64;
        for piece in document.chunks(chunk) {
            assembler.push(offset, piece)?;
            offset += piece.len() as u64;
        }
        assembler.finish()
    }

    #[test]
    fn chunked_upload_is_stored_compressed_and_decompresses_to_the_same_bytes() {
        let sbom = upload(DEBIAN, 64 * 1024).unwrap();
        assert_eq!(sbom.components.len(), 744);
        assert!(
            sbom.document_zstd.len() * 5 < DEBIAN.len(),
            "{} bytes",
            sbom.document_zstd.len()
        );
        let mut restored = Vec::new();
        crate::sbom::decompress_chunks(&sbom.document_zstd, 100_000, |chunk| {
            assert!(chunk.len() <= 100_000);
            restored.extend(chunk);
            true
        })
        .unwrap();
        assert_eq!(restored, DEBIAN);
    }

    #[test]
    fn chunk_out_of_order_is_rejected() {
        let mut assembler = Assembler::new(header(DEBIAN), 1 << 30).unwrap();
        assembler.push(0, &DEBIAN[..1000]).unwrap();
        let err = assembler.push(2000, &DEBIAN[2000..3000]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chunk.offset: chunk out of order: it starts at byte 2000, but 1000 bytes were received so far"
        );
    }

    #[test]
    fn document_larger_than_the_limit_is_refused_before_any_chunk() {
        let err = Assembler::new(header(DEBIAN), 1024).err().unwrap();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
    }

    #[test]
    fn upload_shorter_than_announced_is_rejected() {
        let mut assembler = Assembler::new(header(DEBIAN), 1 << 30).unwrap();
        assembler.push(0, &DEBIAN[..1000]).unwrap();
        let err = assembler.finish().unwrap_err();
        assert!(
            err.to_string()
                .contains("ended after 1000 of the announced"),
            "{err}"
        );
    }

    #[test]
    fn document_that_does_not_match_its_hash_is_rejected() {
        let mut tampered = DEBIAN.to_vec();
        let mut assembler = Assembler::new(header(DEBIAN), 1 << 30).unwrap();
        tampered[100] ^= 1;
        assembler.push(0, &tampered).unwrap();
        let err = assembler.finish().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("header.sha256: the document's digest is"),
            "{err}"
        );
    }

    #[test]
    fn document_describing_another_image_is_rejected() {
        let document = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"type":"container","name":"x","version":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}}"#;
        let err = upload(document, 16).unwrap_err();
        assert!(matches!(err, Error::InvalidSbom(_)), "{err}");
        assert!(err.to_string().contains("describes sha256:2222"), "{err}");
    }
}
