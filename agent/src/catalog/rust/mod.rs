//! Rust cataloger: crates compiled into executables built with `cargo auditable`, which
//! embeds the dependency tree as zlib-compressed JSON in the ELF section `.dep-v0`
//! (`{"packages":[{"name","version","source","kind","dependencies","root"}…]}`).
//!
//! As syft 1.18's rust-audit-binary cataloger does, every package of kind `runtime` (the
//! default when `kind` is absent) is reported, the root package included; build
//! dependencies (`"kind":"build"`) are not in the program and are left out.

use std::io::{Cursor, Read, Seek};

use flate2::read::ZlibDecoder;
use serde::Deserialize;

use super::elf::{self, Lookup};
use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::{Ecosystem, Findings, Identity, Package};

/// Property holding where a crate came from, as cargo-auditable states it:
/// `crates.io`, `git`, `local`, `registry` or `other`.
pub const PROP_SOURCE: &str = "cargo:source";

/// The section cargo-auditable writes.
const SECTION: &str = ".dep-v0";
/// Largest compressed section read; a program with a thousand crates has ~30 KiB.
const MAX_COMPRESSED: u64 = 4 << 20;
/// Largest decompressed JSON accepted, against zlib bombs; ~150 bytes per crate.
const MAX_JSON: u64 = 16 << 20;
/// Largest executable read into memory when it arrives as a stream.
const MAX_STREAMED_BINARY: u64 = 512 << 20;
/// Most packages reported from one binary (crates.io has ~180,000 crates; a large
/// program ~1,000 (see [`MAX_COMPRESSED`]), the fixture here 10). Those after are not
/// reported.
const MAX_PACKAGES: usize = 50_000;

/// Reads cargo-auditable dependency lists from executables.
pub struct RustBinaryCataloger;

impl Cataloger for RustBinaryCataloger {
    fn name(&self) -> &'static str {
        "rust-binary"
    }

    /// Every executable regular file, like the Go cataloger; a non-ELF file costs one
    /// read of its first bytes.
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable()
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let compressed = match content {
            Content::File(file) => read_section(file)?,
            Content::Stream(reader) => {
                let mut head = Vec::new();
                reader.take(4).read_to_end(&mut head)?;
                if !elf::is_elf(&head) {
                    return Ok(Findings::default());
                }
                let rest = Content::Stream(reader).read_bounded(MAX_STREAMED_BINARY)?;
                head.extend_from_slice(&rest);
                read_section(&mut Cursor::new(head))?
            }
        };
        let Some(compressed) = compressed else {
            return Ok(Findings::default());
        };
        let json = inflate(&compressed)?;
        packages(&json)
    }
}

/// The compressed `.dep-v0` section, when the file has one.
fn read_section<F: Read + Seek>(file: &mut F) -> Result<Option<Vec<u8>>, CatalogError> {
    match elf::find_section(file, SECTION)? {
        Lookup::Found(section) => section.read(file, MAX_COMPRESSED).map(Some),
        Lookup::NotElf | Lookup::NoTable | Lookup::Absent => Ok(None),
    }
}

/// Decompresses the section, refusing more than [`MAX_JSON`] bytes of output.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, CatalogError> {
    let mut json = Vec::new();
    ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| malformed(&format!("bad zlib data: {e}")))?;
    if json.len() as u64 > MAX_JSON {
        return Err(CatalogError::TooLarge { limit: MAX_JSON });
    }
    Ok(json)
}

/// cargo-auditable's `VersionInfo`; unknown fields (`format`, `dependencies`) are ignored.
#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    version: String,
    source: Option<String>,
    /// `runtime` (the default) or `build`.
    kind: Option<String>,
}

/// The runtime packages of the first [`MAX_PACKAGES`] of the list.
fn packages(json: &[u8]) -> Result<Findings, CatalogError> {
    let mut info: VersionInfo =
        serde_json::from_slice(json).map_err(|e| malformed(&format!("bad JSON: {e}")))?;
    let mut incomplete = Vec::new();
    if info.packages.len() > MAX_PACKAGES {
        info.packages.truncate(MAX_PACKAGES);
        incomplete.push(super::records_note(MAX_PACKAGES, "packages"));
    }
    let packages = info
        .packages
        .into_iter()
        .filter(|dep| dep.kind.as_deref() != Some("build"))
        .filter(|dep| !dep.name.is_empty() && !dep.version.is_empty())
        .map(|dep| {
            let mut package = Package::new(Ecosystem::Cargo, dep.name, dep.version);
            if let Some(source) = dep.source.filter(|s| !s.is_empty()) {
                package.properties.insert(PROP_SOURCE.to_owned(), source);
            }
            package.with_identity(identity)
        })
        .collect();
    Ok(Findings {
        incomplete,
        ..Findings::packages(packages)
    })
}

/// `pkg:cargo/<name>@<version>`; Trivy's `rustbinary`.
pub fn identity(package: &Package) -> Identity {
    Identity {
        purl_type: "cargo".to_owned(),
        name: package.name.clone(),
        version: Some(package.version.clone()),
        trivy_type: Some("rustbinary".to_owned()),
        ..Identity::default()
    }
}

fn malformed(reason: &str) -> CatalogError {
    CatalogError::Malformed(format!(".dep-v0: {reason}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use flate2::write::ZlibEncoder;
    use flate2::Compression;

    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/rust/testdata/usr/local/bin/hello-auditable"
    );
    const IMAGE_PATH: &str = "/usr/local/bin/hello-auditable";

    fn meta(path: &str, size: u64, mode: u32) -> FileMeta<'_> {
        FileMeta { path, size, mode }
    }

    fn catalog_stream(bytes: &[u8]) -> Result<Findings, CatalogError> {
        let mut reader = bytes;
        RustBinaryCataloger.catalog(
            &meta(IMAGE_PATH, bytes.len() as u64, 0o755),
            Content::Stream(&mut reader),
        )
    }

    fn crate_package(name: &str, version: &str, source: &str) -> Package {
        let mut package = Package::new(Ecosystem::Cargo, name, version);
        package.properties = BTreeMap::from([(PROP_SOURCE.into(), source.into())]);
        package.with_identity(identity)
    }

    /// What the fixture's `.dep-v0` lists (see testdata/make-binary.sh), less the build
    /// dependency autocfg.
    fn fixture_packages() -> Vec<Package> {
        vec![
            crate_package("hello-auditable", "0.3.1", "local"),
            crate_package("itoa", "1.0.11", "crates.io"),
        ]
    }

    fn sorted(mut findings: Findings) -> Vec<Package> {
        findings.packages.sort();
        findings.packages
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// The fixture with its `.dep-v0` section's bytes replaced (same length, padded).
    fn fixture_with_section(content: &[u8]) -> Vec<u8> {
        let mut bytes = std::fs::read(FIXTURE).unwrap();
        let Lookup::Found(section) = elf::find_section(&mut Cursor::new(&bytes), SECTION).unwrap()
        else {
            panic!("the fixture has a {SECTION} section");
        };
        let (offset, size) = (section.offset as usize, section.size as usize);
        assert!(content.len() <= size, "replacement must fit the section");
        bytes[offset..offset + size].fill(0);
        bytes[offset..offset + content.len()].copy_from_slice(content);
        bytes
    }

    #[test]
    fn wants_executables_only() {
        let cataloger = RustBinaryCataloger;
        assert!(cataloger.wants(&meta(IMAGE_PATH, 1, 0o755)));
        assert!(cataloger.wants(&meta("/app/server", 1, 0o700)));
        assert!(!cataloger.wants(&meta("/usr/lib/libfoo.rlib", 1, 0o644)));
    }

    #[test]
    fn binary_built_with_cargo_auditable_lists_root_and_runtime_crates_not_build_ones() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        assert_eq!(sorted(catalog_stream(&bytes).unwrap()), fixture_packages());
    }

    #[test]
    fn binary_read_from_a_file_gives_the_same_packages_as_from_a_stream() {
        let mut file = std::fs::File::open(FIXTURE).unwrap();
        let size = file.metadata().unwrap().len();
        let findings = RustBinaryCataloger
            .catalog(&meta(IMAGE_PATH, size, 0o755), Content::File(&mut file))
            .unwrap();
        assert_eq!(sorted(findings), fixture_packages());
    }

    #[test]
    fn fixture_crates_get_cargo_purls_like_syft() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        let purls: Vec<String> = sorted(catalog_stream(&bytes).unwrap())
            .iter()
            .map(|p| crate::sbom::purl::package_url(p, None).unwrap())
            .collect();
        assert_eq!(
            purls,
            ["pkg:cargo/hello-auditable@0.3.1", "pkg:cargo/itoa@1.0.11"]
        );
    }

    #[test]
    fn non_elf_executable_has_no_packages() {
        let script = b"#!/bin/sh\necho hello\n";
        assert!(catalog_stream(script).unwrap().is_empty());
        assert!(catalog_stream(b"").unwrap().is_empty());
    }

    #[test]
    fn elf_without_dep_section_has_no_packages() {
        // The test runner itself: an ELF executable built without cargo-auditable.
        let exe = std::env::current_exe().unwrap();
        let mut file = std::fs::File::open(&exe).unwrap();
        let size = file.metadata().unwrap().len();
        let findings = RustBinaryCataloger
            .catalog(&meta("/app/test", size, 0o755), Content::File(&mut file))
            .unwrap();
        assert!(findings.is_empty());
    }

    #[test]
    fn zlib_bomb_is_refused() {
        // Spaces just over the limit compress to ~16 KiB; inflated directly.
        let bomb = zlib(&vec![b' '; MAX_JSON as usize + 4096]);
        assert!(matches!(inflate(&bomb), Err(CatalogError::TooLarge { .. })));
    }

    #[test]
    fn corrupt_section_is_an_error() {
        let bytes = fixture_with_section(b"not zlib at all");
        assert!(matches!(
            catalog_stream(&bytes),
            Err(CatalogError::Malformed(_))
        ));
        let bytes = fixture_with_section(&zlib(b"{\"packages\": 7}"));
        assert!(matches!(
            catalog_stream(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn section_with_missing_fields_or_empty_names_keeps_only_valid_packages() {
        let json = br#"{"packages":[{"name":"","version":"1.0"},{"name":"a","version":"2.0"}]}"#;
        let bytes = fixture_with_section(&zlib(json));
        let found = catalog_stream(&bytes).unwrap().packages;
        assert_eq!(
            found,
            vec![Package::new(Ecosystem::Cargo, "a", "2.0").with_identity(identity)]
        );
    }

    #[test]
    fn packages_past_the_limit_are_not_reported_and_the_stop_noted() {
        let crates: Vec<String> = (0..MAX_PACKAGES + 2)
            .map(|i| format!(r#"{{"name":"c{i}","version":"1.0.0"}}"#))
            .collect();
        let json = format!(r#"{{"packages":[{}]}}"#, crates.join(","));
        let findings = packages(json.as_bytes()).unwrap();
        assert_eq!(findings.packages.len(), MAX_PACKAGES);
        assert_eq!(findings.packages[MAX_PACKAGES - 1].name, "c49999");
        assert_eq!(
            findings.incomplete,
            ["stopped after 50000 packages (limit)"]
        );
        let complete = catalog_stream(&std::fs::read(FIXTURE).unwrap()).unwrap();
        assert!(complete.incomplete.is_empty());
    }

    #[test]
    fn truncated_binary_is_an_error_or_empty_never_a_panic() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        for len in (0..bytes.len()).step_by(4093) {
            let _ = catalog_stream(&bytes[..len]);
        }
    }

    #[test]
    fn section_table_pointing_past_the_file_gives_no_packages() {
        let mut bytes = std::fs::read(FIXTURE).unwrap();
        bytes[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(catalog_stream(&bytes).unwrap().is_empty());
        let mut bytes = std::fs::read(FIXTURE).unwrap();
        bytes[0x3c..0x3e].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(catalog_stream(&bytes).unwrap().is_empty());
    }
}
