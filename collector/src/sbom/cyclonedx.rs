//! The parts of a CycloneDX JSON document that the collector checks and indexes.
//!
//! Read with a few serde structs rather than with `cyclonedx-bom`: that crate reads only
//! spec 1.3–1.5 and builds the whole object model, several times the size of the
//! document, while the collector needs five fields and must stay small with uploads of
//! tens of megabytes. Unknown fields are skipped without being kept.

use std::collections::BTreeSet;
use std::io::Read;

use serde::Deserialize;

use super::Component;
use crate::error::{excerpt, Error, Result};

/// CycloneDX versions the collector accepts: those Dependency-Track 4.11–4.14 imports.
pub const SPEC_VERSIONS: &[&str] = &["1.2", "1.3", "1.4", "1.5", "1.6"];

/// Longest component name, version or purl that is indexed.
const MAX_FIELD_LEN: usize = 4096;

/// What the collector keeps from a document besides the document itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    /// `specVersion`.
    pub spec_version: String,
    /// `metadata.component.version`: for nodebom's own SBOMs, the manifest digest.
    pub described_version: Option<String>,
    /// Distinct components of the document, nested ones included, sorted.
    pub components: Vec<Component>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    bom_format: Option<String>,
    spec_version: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<RawComponent>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    component: Option<Described>,
}

#[derive(Deserialize)]
struct Described {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<RawComponent>,
}

/// Parses a CycloneDX JSON document from `reader` and indexes its components.
///
/// Errors are [`Error::InvalidSbom`] with a message that says what is wrong.
pub fn index(reader: impl Read) -> Result<Indexed> {
    let reader = expect_object(reader)?;
    let document: Document = serde_json::from_reader(reader)
        .map_err(|err| Error::InvalidSbom(format!("not CycloneDX JSON: {err}")))?;
    match document.bom_format.as_deref() {
        Some("CycloneDX") => {}
        Some(other) => {
            return Err(Error::InvalidSbom(format!(
                "not CycloneDX JSON: bomFormat is {:?}, not \"CycloneDX\"",
                excerpt(other)
            )))
        }
        None => {
            return Err(Error::InvalidSbom(
                "not CycloneDX JSON: the document has no bomFormat".into(),
            ))
        }
    }
    let spec_version = document
        .spec_version
        .ok_or_else(|| Error::InvalidSbom("the document has no specVersion".into()))?;
    if !SPEC_VERSIONS.contains(&spec_version.as_str()) {
        return Err(Error::InvalidSbom(format!(
            "CycloneDX specVersion {:?} is not supported (want one of {})",
            excerpt(&spec_version),
            SPEC_VERSIONS.join(", ")
        )));
    }
    let mut components = BTreeSet::new();
    collect(document.components, &mut components)?;
    Ok(Indexed {
        spec_version,
        described_version: document
            .metadata
            .and_then(|metadata| metadata.component)
            .and_then(|component| component.version),
        components: components.into_iter().collect(),
    })
}

/// Skips leading whitespace and requires `{`: serde would also read a struct from a JSON
/// array, which is no CycloneDX document.
fn expect_object(mut reader: impl Read) -> Result<impl Read> {
    let mut byte = [0u8; 1];
    loop {
        let read = reader
            .read(&mut byte)
            .map_err(|err| Error::InvalidSbom(format!("document does not read: {err}")))?;
        match (read, byte[0]) {
            (0, _) => {
                return Err(Error::InvalidSbom(
                    "not CycloneDX JSON: the document is empty".into(),
                ))
            }
            (_, b' ' | b'\t' | b'\r' | b'\n') => continue,
            (_, b'{') => return Ok(std::io::Cursor::new(byte).chain(reader)),
            (_, other) => {
                return Err(Error::InvalidSbom(format!(
                    "not CycloneDX JSON: the document starts with {:?}, not a JSON object",
                    char::from(other)
                )))
            }
        }
    }
}

/// Flattens nested components into `into`. Depth is bounded by serde_json's recursion
/// limit, which has already applied while parsing.
fn collect(components: Vec<RawComponent>, into: &mut BTreeSet<Component>) -> Result<()> {
    for raw in components {
        let version = raw.version.unwrap_or_default();
        let purl = raw.purl.unwrap_or_default();
        for (field, value) in [("name", &raw.name), ("version", &version), ("purl", &purl)] {
            if value.len() > MAX_FIELD_LEN {
                return Err(Error::InvalidSbom(format!(
                    "component {:?} has a {field} longer than {MAX_FIELD_LEN} bytes",
                    excerpt(&raw.name)
                )));
            }
        }
        into.insert(Component {
            name: raw.name,
            version,
            purl,
            kind: raw.kind,
        });
        collect(raw.components, into)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sbom/testdata");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{TESTDATA}/{name}")).unwrap()
    }

    #[test]
    fn syft_debian_sbom_indexes_every_package_once() {
        let indexed = index(&fixture("syft-1.18.1-debian-12.cdx.json")[..]).unwrap();
        assert_eq!(indexed.spec_version, "1.5");
        // 739 dpkg packages, 4 Python distributions, the OS.
        assert_eq!(indexed.components.len(), 744);
        let libc = indexed
            .components
            .iter()
            .find(|c| c.name == "libc6")
            .unwrap();
        assert_eq!(libc.version, "2.36-9+deb12u14");
        assert!(libc
            .purl
            .starts_with("pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?"));
        assert_eq!(libc.kind, "library");
        let os = indexed
            .components
            .iter()
            .find(|c| c.kind == "operating-system")
            .unwrap();
        assert_eq!((os.name.as_str(), os.version.as_str()), ("debian", "12"));
        assert!(indexed
            .components
            .iter()
            .any(|c| c.purl == "pkg:pypi/certifi@2026.5.20"));
    }

    #[test]
    fn spec_1_6_document_is_accepted() {
        let indexed = index(&fixture("syft-1.18.1-python.cdx-1.6.json")[..]).unwrap();
        assert_eq!(indexed.spec_version, "1.6");
        let names: Vec<_> = indexed.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["certifi", "click"]);
    }

    #[test]
    fn spdx_json_is_not_cyclonedx() {
        let err = index(&fixture("syft-1.18.1-python.spdx.json")[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SBOM rejected: not CycloneDX JSON: the document has no bomFormat"
        );
    }

    #[test]
    fn cyclonedx_xml_is_not_cyclonedx_json() {
        let err = index(&fixture("syft-1.18.1-python.cdx.xml")[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SBOM rejected: not CycloneDX JSON: the document starts with '<', not a JSON object"
        );
    }

    #[test]
    fn truncated_document_is_rejected() {
        let document = fixture("syft-1.18.1-debian-12.cdx.json");
        let err = index(&document[..document.len() / 2]).unwrap_err();
        assert!(err.to_string().contains("EOF while parsing"), "{err}");
    }

    #[test]
    fn unsupported_spec_version_is_named() {
        let err = index(&br#"{"bomFormat":"CycloneDX","specVersion":"1.7"}"#[..]).unwrap_err();
        assert!(
            err.to_string()
                .contains("specVersion \"1.7\" is not supported"),
            "{err}"
        );
    }

    #[test]
    fn component_without_a_name_is_rejected() {
        let document =
            br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library"}]}"#;
        let err = index(&document[..]).unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
    }

    #[test]
    fn nested_components_are_indexed_and_metadata_version_is_kept() {
        let document = br#"{"bomFormat":"CycloneDX","specVersion":"1.5",
            "metadata":{"component":{"type":"container","name":"nginx","version":"sha256:abc"}},
            "components":[{"type":"library","name":"app.jar","components":[
                {"type":"library","name":"log4j-core","version":"2.14.1",
                 "purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]}]}"#;
        let indexed = index(&document[..]).unwrap();
        assert_eq!(indexed.described_version.as_deref(), Some("sha256:abc"));
        let names: Vec<_> = indexed.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app.jar", "log4j-core"]);
    }
}
