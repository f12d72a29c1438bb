//! The collector's CycloneDX reader: what it checks and indexes of an uploaded SBOM.
//!
//! Input: the document. The reader is called directly rather than through the upload
//! `Assembler`: what that adds in front of it (chunk order, size and digest checks, a
//! zstd round trip) does not depend on the document's content, and its compressor slowed
//! the fuzzer several times.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodebom_collector::sbom::cyclonedx;

/// The digest an upload is checked against; a document naming it in
/// `metadata.component.version` also goes through the checks after that one.
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fuzz_target!(|data: &[u8]| {
    let Ok(digest) = nodebom_collector::digest::parse("digest", DIGEST) else {
        return;
    };
    let _ = cyclonedx::check(data, &digest);
});
