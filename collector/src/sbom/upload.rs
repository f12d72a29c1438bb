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
    /// Version of the agent that built it ('' when the agent does not say).
    pub agent_version: String,
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

    /// Ends the upload: checks size and hash, checks that the document is an SBOM of the
    /// announced image, indexes it, and keeps its canonical form (see
    /// [`cyclonedx::Bom::write_canonical`]) instead of the bytes uploaded.
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
        let upload_zstd = self
            .encoder
            .finish()
            .map_err(Error::io("compressing an SBOM"))?;
        let decoder = zstd::stream::read::Decoder::new(&upload_zstd[..])
            .map_err(Error::io("reading back a compressed SBOM"))?;
        let checked = cyclonedx::check(decoder, &header.manifest_digest)?;
        drop(upload_zstd);
        let mut canonical = CanonicalWriter {
            hasher: Sha256::new(),
            size: 0,
            encoder: zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                .map_err(Error::io("starting SBOM compression"))?,
        };
        checked.bom.write_canonical(&mut canonical)?;
        let document_zstd = canonical
            .encoder
            .finish()
            .map_err(Error::io("compressing an SBOM"))?;
        Ok(ValidatedSbom {
            manifest_digest: header.manifest_digest,
            agent_version: header.agent_version,
            spec_version: checked.bom.spec_version.clone(),
            size: canonical.size,
            sha256: Digest::from_sha256(canonical.hasher),
            document_zstd,
            components: checked.components,
            content_hash: checked.bom.content_hash()?,
            completeness: checked.completeness,
        })
    }
}

/// Receives the canonical document: hashes, counts and compresses it in one pass.
struct CanonicalWriter {
    hasher: Sha256,
    size: u64,
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
}

impl Write for CanonicalWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.encoder.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.encoder.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// syft's Debian fixture made to describe [`IMAGE`] as nodebom's agent does (syft
    /// names the scanned directory in `metadata.component`, which the collector refuses),
    /// pretty-printed with an unknown field, as an upload could be.
    fn debian() -> Vec<u8> {
        let mut document: serde_json::Value =
            serde_json::from_slice(include_bytes!("testdata/syft-1.18.1-debian-12.cdx.json"))
                .unwrap();
        document["metadata"]["component"] = serde_json::json!({
            "type": "container", "bom-ref": format!("image:{IMAGE}"),
            "name": "registry.example/debian", "version": IMAGE,
        });
        document["x-unknown"] = serde_json::json!({"dropped": true});
        serde_json::to_vec_pretty(&document).unwrap()
    }

    fn header(document: &[u8]) -> UploadHeader {
        let mut hasher = Sha256::new();
        hasher.update(document);
        UploadHeader {
            node: NodeKey::new("prod", "worker-1").unwrap(),
            manifest_digest: crate::digest::parse("d", IMAGE).unwrap(),
            size: document.len() as u64,
            sha256: Digest::from_sha256(hasher),
            agent_version: "0.1.0".into(),
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
    fn chunked_upload_is_stored_compressed_in_canonical_form() {
        let document = debian();
        let sbom = upload(&document, 64 * 1024).unwrap();
        assert_eq!(sbom.components.len(), 744);
        assert!(
            sbom.document_zstd.len() * 5 < document.len(),
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
        // Size and hash describe what is stored: the compact form without the unknown
        // field, which holds the same CycloneDX data as the upload.
        assert_eq!(sbom.size, restored.len() as u64);
        assert_eq!(
            sbom.sha256,
            Digest::from_sha256(Sha256::new_with_prefix(&restored))
        );
        assert!(restored.len() < document.len());
        let mut expected: serde_json::Value = serde_json::from_slice(&document).unwrap();
        expected.as_object_mut().unwrap().remove("x-unknown");
        expected.as_object_mut().unwrap().remove("$schema");
        for component in expected["components"].as_array_mut().unwrap() {
            component.as_object_mut().unwrap().remove("swid");
        }
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&restored).unwrap(),
            expected
        );
    }

    #[test]
    fn chunk_out_of_order_is_rejected() {
        let document = debian();
        let mut assembler = Assembler::new(header(&document), 1 << 30).unwrap();
        assembler.push(0, &document[..1000]).unwrap();
        let err = assembler.push(2000, &document[2000..3000]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chunk.offset: chunk out of order: it starts at byte 2000, but 1000 bytes were received so far"
        );
    }

    #[test]
    fn document_larger_than_the_limit_is_refused_before_any_chunk() {
        let err = Assembler::new(header(&debian()), 1024).err().unwrap();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
    }

    #[test]
    fn upload_shorter_than_announced_is_rejected() {
        let document = debian();
        let mut assembler = Assembler::new(header(&document), 1 << 30).unwrap();
        assembler.push(0, &document[..1000]).unwrap();
        let err = assembler.finish().unwrap_err();
        assert!(
            err.to_string()
                .contains("ended after 1000 of the announced"),
            "{err}"
        );
    }

    #[test]
    fn document_that_does_not_match_its_hash_is_rejected() {
        let document = debian();
        let mut tampered = document.clone();
        let mut assembler = Assembler::new(header(&document), 1 << 30).unwrap();
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
        assert!(err.to_string().contains("describes \"sha256:2222"), "{err}");
    }
}
