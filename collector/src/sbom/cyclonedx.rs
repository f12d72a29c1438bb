//! The CycloneDX JSON documents the collector stores: a typed model of what nodebom's
//! agents and syft-style tools write and Dependency-Track imports, the checks an upload
//! must pass, and the canonical form that is stored.
//!
//! Typed serde structs rather than `cyclonedx-bom` (which reads only spec 1.3–1.5 and
//! keeps far more than is needed) or `serde_json::Value` trees (several times the size of
//! the document): a document of tens of megabytes costs about its own size in memory.
//! Unknown fields are skipped while parsing and so dropped from the canonical form.

use std::collections::BTreeSet;
use std::io::{BufReader, BufWriter, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::depth::DepthLimited;
use super::Component as IndexedComponent;
use crate::digest::Digest;
use crate::error::{excerpt, without_nul, Error, Result};

/// CycloneDX versions the collector accepts: those Dependency-Track 4.11–4.14 imports.
pub const SPEC_VERSIONS: &[&str] = &["1.2", "1.3", "1.4", "1.5", "1.6"];

/// Deepest nesting of components (inside components) a document may have.
pub const MAX_COMPONENT_DEPTH: usize = 16;

/// Deepest nesting of JSON arrays and objects, known fields and unknown ones alike:
/// components nested [`MAX_COMPONENT_DEPTH`] deep under `metadata.component` reach 35
/// levels, their evidence a few more.
pub const MAX_JSON_DEPTH: usize = 48;

/// Longest component name, version, purl or type that is indexed.
const MAX_FIELD_LEN: usize = 4096;

/// Property in `metadata.properties` that gives one reason why an SBOM is incomplete.
pub const INCOMPLETE_PROPERTY: &str = "nodebom:incomplete";

/// Most incompleteness reasons kept in an SBOM's summary (the document keeps them all).
const MAX_REASONS: usize = 64;
/// Longest incompleteness reason kept in an SBOM's summary.
const MAX_REASON_LEN: usize = 1024;

/// Properties of the image component that depend on the node that built the SBOM (the
/// names it knows the image by, the index it was pulled through), not on the image.
const NODE_LOCAL_PROPERTIES: &[&str] = &["nodebom:image_name", "nodebom:index_digest"];

/// A CycloneDX document as stored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    /// Must be `CycloneDX`.
    #[serde(default)]
    pub bom_format: String,
    /// One of [`SPEC_VERSIONS`].
    #[serde(default)]
    pub spec_version: String,
    /// `urn:uuid:…`, new with every build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Version of the BOM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// What the BOM describes and how it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// The contents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Dependency graph by bom-ref.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// How complete the inventory is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compositions: Vec<Composition>,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Metadata {
    /// When the BOM was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// What built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Tools>,
    /// What it describes: for an image, the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
    /// Name/value pairs about the BOM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// `metadata.tools`: an object since CycloneDX 1.5, a list before.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Tools {
    /// CycloneDX 1.2–1.4 (deprecated in 1.5). First: serde would also read the object
    /// variant from a list, turning an empty legacy list into a 1.5 object.
    Legacy(Vec<LegacyTool>),
    /// CycloneDX 1.5 and later.
    Components {
        /// The tools as components.
        #[serde(default)]
        components: Vec<Component>,
    },
}

/// A tool as CycloneDX 1.4 and earlier describe it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LegacyTool {
    /// Vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A component. Rare parts are boxed: a document holds tens of thousands of these.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Component {
    /// `library`, `application`, `operating-system`, `container`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Identifies the component within the BOM.
    #[serde(rename = "bom-ref", default, skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// Supplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Box<OrganizationalEntity>>,
    /// Author, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Publisher, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Group (Maven groupId, npm scope, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Name.
    pub name: String,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `required`, `optional` or `excluded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Digests of the component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
    /// Licences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseChoice>,
    /// Copyright text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    /// CPE 2.2 or 2.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
    /// Package URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Links.
    #[serde(
        rename = "externalReferences",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_references: Vec<ExternalReference>,
    /// Name/value pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
    /// Components inside this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// How the component was identified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Box<Evidence>>,
}

/// An organisation (supplier).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OrganizationalEntity {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Web sites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<String>,
    /// People to contact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<Contact>,
}

/// A person to contact.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Contact {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A digest.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Hash {
    /// Algorithm (`SHA-256`, …).
    pub alg: String,
    /// Hex value.
    pub content: String,
}

/// A licence or an SPDX expression.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LicenseChoice {
    /// A licence by SPDX id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// An SPDX expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A licence.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct License {
    /// SPDX id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, when not an SPDX id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the licence text is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A link.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ExternalReference {
    /// The URL.
    pub url: String,
    /// `website`, `vcs`, `distribution`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Digests of what the URL points to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
}

/// A name/value pair.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Property {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `evidence` of a component.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Evidence {
    /// How the identity was found: one object in CycloneDX 1.5, a list in 1.6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<OneOrMany<Identity>>,
    /// Where the component was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<Occurrence>,
    /// Licences found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseChoice>,
    /// Copyright texts found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copyright: Vec<Copyright>,
}

/// One value or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One.
    One(T),
    /// A list.
    Many(Vec<T>),
}

/// Evidence of one field of a component's identity.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `name`, `version`, `purl`, …
    pub field: String,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The value found (CycloneDX 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concluded_value: Option<String>,
    /// How.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Method>,
    /// bom-refs of the tools that found it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// A technique that identified a field.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Method {
    /// `manifest-analysis`, `binary-analysis`, …
    pub technique: String,
    /// 0–1.
    pub confidence: f64,
    /// What it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Where a component was found.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// Identifies the occurrence.
    #[serde(rename = "bom-ref", default, skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// A path.
    pub location: String,
    /// Line (CycloneDX 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Byte offset (CycloneDX 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Symbol (CycloneDX 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// More (CycloneDX 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_context: Option<String>,
}

/// A copyright text found.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Copyright {
    /// The text.
    pub text: String,
}

/// What one bom-ref depends on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Dependency {
    /// The component.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What it depends on.
    #[serde(rename = "dependsOn", default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// How complete a part of the inventory is.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Composition {
    /// `complete`, `incomplete`, `incomplete_first_party_only`, `unknown`, …
    pub aggregate: String,
    /// bom-refs of the components this applies to (and what they contain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assemblies: Vec<String>,
    /// bom-refs whose dependencies this applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

/// Whether a document says it lists only part of its image's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// A composition's aggregate is `incomplete…` or `unknown…`, or a reason is given.
    pub incomplete: bool,
    /// The `nodebom:incomplete` properties of `metadata`, at most 64 of at most 1024
    /// bytes each.
    pub reasons: Vec<String>,
}

/// A document that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The document, unknown fields dropped.
    pub bom: Bom,
    /// Distinct components, nested ones included, sorted.
    pub components: Vec<IndexedComponent>,
    /// Whether it is complete.
    pub completeness: Completeness,
}

/// Parses the CycloneDX JSON document in `reader` and checks that it is an SBOM of the
/// image `digest`: `metadata.component.version` must be the digest, as nodebom's agents
/// write it.
///
/// Errors are [`Error::InvalidSbom`] with a message that says what is wrong.
pub fn check(reader: impl Read, digest: &Digest) -> Result<Checked> {
    let bom = parse(reader)?;
    describes(&bom, digest)?;
    let mut components = BTreeSet::new();
    collect(&bom.components, 1, &mut components)?;
    if let Some(metadata) = &bom.metadata {
        // Only depth matters there: what metadata names is not part of the contents.
        let described = metadata.component.iter();
        let tools = match &metadata.tools {
            Some(Tools::Components { components }) => components.iter(),
            _ => [].iter(),
        };
        for component in described.chain(tools) {
            check_depth(component, 1)?;
        }
    }
    let completeness = completeness(&bom);
    Ok(Checked {
        bom,
        components: components.into_iter().collect(),
        completeness,
    })
}

/// Parses a document and checks its format and spec version.
fn parse(reader: impl Read) -> Result<Bom> {
    let reader = expect_object(DepthLimited::new(BufReader::new(reader), MAX_JSON_DEPTH))?;
    let bom: Bom = serde_json::from_reader(reader)
        .map_err(|err| Error::InvalidSbom(format!("not CycloneDX JSON: {err}")))?;
    if bom.bom_format.is_empty() {
        return Err(Error::InvalidSbom(
            "not CycloneDX JSON: the document has no bomFormat".into(),
        ));
    }
    if bom.bom_format != "CycloneDX" {
        return Err(Error::InvalidSbom(format!(
            "not CycloneDX JSON: bomFormat is {:?}, not \"CycloneDX\"",
            excerpt(&bom.bom_format)
        )));
    }
    if bom.spec_version.is_empty() {
        return Err(Error::InvalidSbom("the document has no specVersion".into()));
    }
    if !SPEC_VERSIONS.contains(&bom.spec_version.as_str()) {
        return Err(Error::InvalidSbom(format!(
            "CycloneDX specVersion {:?} is not supported (want one of {})",
            excerpt(&bom.spec_version),
            SPEC_VERSIONS.join(", ")
        )));
    }
    Ok(bom)
}

/// Requires `metadata.component.version` to be `digest`.
fn describes(bom: &Bom, digest: &Digest) -> Result<()> {
    let described = bom
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.component.as_ref());
    let Some(described) = described else {
        return Err(Error::InvalidSbom(format!(
            "the document has no metadata.component; an image's SBOM names the image there, \
             with its manifest digest {digest} as version"
        )));
    };
    match described.version.as_deref() {
        Some(version) if version == digest.as_str() => Ok(()),
        Some(version) => Err(Error::InvalidSbom(format!(
            "the document describes {:?}, but was uploaded for {digest}",
            excerpt(version)
        ))),
        None => Err(Error::InvalidSbom(format!(
            "metadata.component {:?} has no version; an image's SBOM gives its manifest \
             digest {digest} there",
            excerpt(&described.name)
        ))),
    }
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

fn too_deep() -> Error {
    Error::InvalidSbom(format!(
        "components are nested deeper than {MAX_COMPONENT_DEPTH} levels"
    ))
}

fn check_depth(component: &Component, depth: usize) -> Result<()> {
    if depth > MAX_COMPONENT_DEPTH {
        return Err(too_deep());
    }
    component
        .components
        .iter()
        .try_for_each(|inner| check_depth(inner, depth + 1))
}

/// Flattens the components at `depth` and below into `into`.
fn collect(
    components: &[Component],
    depth: usize,
    into: &mut BTreeSet<IndexedComponent>,
) -> Result<()> {
    if depth > MAX_COMPONENT_DEPTH && !components.is_empty() {
        return Err(too_deep());
    }
    for component in components {
        let version = component.version.clone().unwrap_or_default();
        let purl = component.purl.clone().unwrap_or_default();
        for (field, value) in [
            ("name", &component.name),
            ("version", &version),
            ("purl", &purl),
            ("type", &component.kind),
        ] {
            if value.len() > MAX_FIELD_LEN {
                return Err(Error::InvalidSbom(format!(
                    "component {:?} has a {field} longer than {MAX_FIELD_LEN} bytes",
                    excerpt(&component.name)
                )));
            }
        }
        // The index holds no NUL (PostgreSQL's text cannot); the document keeps it.
        into.insert(IndexedComponent {
            name: without_nul(&component.name),
            version: without_nul(&version),
            purl: without_nul(&purl),
            kind: without_nul(&component.kind),
        });
        collect(&component.components, depth + 1, into)?;
    }
    Ok(())
}

/// Whether `bom` says it is incomplete, and why.
fn completeness(bom: &Bom) -> Completeness {
    let reasons: Vec<String> = bom
        .metadata
        .iter()
        .flat_map(|metadata| &metadata.properties)
        .filter(|property| property.name == INCOMPLETE_PROPERTY)
        .filter_map(|property| property.value.as_deref())
        .take(MAX_REASONS)
        .map(|reason| truncate_bytes(reason.to_owned(), MAX_REASON_LEN))
        .collect();
    let aggregate_incomplete = bom.compositions.iter().any(|composition| {
        composition.aggregate.starts_with("incomplete")
            || composition.aggregate.starts_with("unknown")
    });
    Completeness {
        incomplete: aggregate_incomplete || !reasons.is_empty(),
        reasons,
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&end| text.is_char_boundary(end))
            .unwrap_or(0);
        text.truncate(end);
    }
    text
}

impl Bom {
    /// Writes the canonical JSON form: compact, fields in the model's order, unknown
    /// fields gone.
    pub fn write_canonical(&self, writer: impl Write) -> Result<()> {
        // serde_json writes in small pieces; the buffer batches them for the compressor.
        let mut buffered = BufWriter::with_capacity(64 * 1024, writer);
        serde_json::to_writer(&mut buffered, self)
            .map_err(|err| Error::Internal(format!("writing a canonical SBOM: {err}")))?;
        buffered
            .flush()
            .map_err(Error::io("writing a canonical SBOM"))
    }

    /// SHA-256 of the canonical form without what differs between two builds of one
    /// image by one agent version on two nodes: `serialNumber`, `metadata.timestamp`,
    /// and the image component's name and node-local properties (the names and index
    /// the node knows it by). Equal hashes mean equal contents.
    pub fn content_hash(mut self) -> Result<Digest> {
        self.serial_number = None;
        if let Some(metadata) = &mut self.metadata {
            metadata.timestamp = None;
            if let Some(image) = &mut metadata.component {
                image.name.clear();
                image
                    .properties
                    .retain(|property| !NODE_LOCAL_PROPERTIES.contains(&property.name.as_str()));
            }
        }
        let mut hasher = Sha256::new();
        self.write_canonical(&mut hasher)?;
        Ok(Digest::from_sha256(hasher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sbom/testdata");
    const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn image() -> Digest {
        crate::digest::parse("d", IMAGE).unwrap()
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{TESTDATA}/{name}")).unwrap()
    }

    /// A syft fixture made to describe [`IMAGE`]: syft describes the directory it scanned
    /// (`metadata.component` of type `file` named `rootfs`, no version), which the
    /// collector refuses; nodebom's agent names the image and its digest there.
    fn describing_image(name: &str) -> Vec<u8> {
        let mut document: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
        document["metadata"]["component"] = serde_json::json!({
            "type": "container", "bom-ref": format!("image:{IMAGE}"),
            "name": "registry.example/app", "version": IMAGE,
        });
        serde_json::to_vec(&document).unwrap()
    }

    /// The smallest document nodebom's agent could send for [`IMAGE`], with `extra`
    /// top-level fields.
    fn minimal(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5",
            "metadata":{{"component":{{"type":"container","bom-ref":"image:{IMAGE}","name":"app","version":"{IMAGE}"}}}}{extra}}}"#
        )
        .into_bytes()
    }

    fn canonical(checked: &Checked) -> serde_json::Value {
        let mut json = Vec::new();
        checked.bom.write_canonical(&mut json).unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn syft_debian_sbom_indexes_every_package_once() {
        let checked = check(
            &describing_image("syft-1.18.1-debian-12.cdx.json")[..],
            &image(),
        )
        .unwrap();
        assert_eq!(checked.bom.spec_version, "1.5");
        // 739 dpkg packages, 4 Python distributions, the OS.
        assert_eq!(checked.components.len(), 744);
        let libc = checked
            .components
            .iter()
            .find(|c| c.name == "libc6")
            .unwrap();
        assert_eq!(libc.version, "2.36-9+deb12u14");
        assert!(libc
            .purl
            .starts_with("pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?"));
        assert_eq!(libc.kind, "library");
        let os = checked
            .components
            .iter()
            .find(|c| c.kind == "operating-system")
            .unwrap();
        assert_eq!((os.name.as_str(), os.version.as_str()), ("debian", "12"));
        assert!(checked
            .components
            .iter()
            .any(|c| c.purl == "pkg:pypi/certifi@2026.5.20"));
        assert!(!checked.completeness.incomplete);
    }

    #[test]
    fn canonical_form_keeps_what_dependency_track_imports_and_drops_the_rest() {
        let original: serde_json::Value =
            serde_json::from_slice(&describing_image("syft-1.18.1-debian-12.cdx.json")).unwrap();
        let checked = check(
            &describing_image("syft-1.18.1-debian-12.cdx.json")[..],
            &image(),
        )
        .unwrap();
        let stored = canonical(&checked);
        assert_eq!(stored.get("$schema"), None);
        for field in ["serialNumber", "version", "dependencies"] {
            assert_eq!(stored[field], original[field], "{field}");
        }
        assert_eq!(stored["metadata"]["tools"], original["metadata"]["tools"]);
        assert_eq!(
            stored["metadata"]["timestamp"],
            original["metadata"]["timestamp"]
        );
        // Every component field syft writes survives, except swid (Dependency-Track
        // matches on purl and cpe).
        let components = stored["components"].as_array().unwrap();
        for (kept, before) in components
            .iter()
            .zip(original["components"].as_array().unwrap())
        {
            let mut before = before.clone();
            before.as_object_mut().unwrap().remove("swid");
            assert_eq!(kept, &before);
        }
        assert_eq!(
            components.len(),
            original["components"].as_array().unwrap().len()
        );
    }

    #[test]
    fn spec_1_6_document_is_accepted() {
        let checked = check(
            &describing_image("syft-1.18.1-python.cdx-1.6.json")[..],
            &image(),
        )
        .unwrap();
        assert_eq!(checked.bom.spec_version, "1.6");
        let names: Vec<_> = checked.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["certifi", "click"]);
    }

    #[test]
    fn unknown_fields_are_dropped() {
        let document = minimal(
            r#","vulnerabilities":[{"id":"CVE-1"}],"components":[{"type":"library","name":"a",
               "secret":{"x":[1,2]},"purl":"pkg:generic/a@1","version":"1"}]"#,
        );
        let checked = check(&document[..], &image()).unwrap();
        assert_eq!(
            canonical(&checked),
            serde_json::json!({
                "bomFormat": "CycloneDX", "specVersion": "1.5",
                "metadata": {"component": {"type": "container", "bom-ref": format!("image:{IMAGE}"),
                    "name": "app", "version": IMAGE}},
                "components": [{"type": "library", "name": "a", "version": "1", "purl": "pkg:generic/a@1"}],
            })
        );
    }

    #[test]
    fn deeply_nested_unknown_field_is_refused_without_blowing_up() {
        let nested = format!(
            r#","x-unknown":{}{}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = check(&minimal(&nested)[..], &image()).unwrap_err();
        assert!(matches!(err, Error::InvalidSbom(_)), "{err}");
        assert!(
            err.to_string().contains("nested deeper than 48 levels"),
            "{err}"
        );
    }

    #[test]
    fn components_nested_past_the_bound_are_refused() {
        // `levels` components each holding the next: the innermost list is empty.
        let nested = |levels: usize| {
            let mut component = String::from(r#"{"type":"library","name":"leaf"}"#);
            for _ in 1..levels {
                component =
                    format!(r#"{{"type":"library","name":"n","components":[{component}]}}"#);
            }
            minimal(&format!(r#","components":[{component}]"#))
        };
        assert!(check(&nested(MAX_COMPONENT_DEPTH)[..], &image()).is_ok());
        let err = check(&nested(MAX_COMPONENT_DEPTH + 1)[..], &image()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SBOM rejected: components are nested deeper than 16 levels"
        );
    }

    #[test]
    fn document_without_metadata_component_is_refused() {
        let err = check(
            &br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#[..],
            &image(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidSbom(_)), "{err}");
        assert!(
            err.to_string().contains("has no metadata.component"),
            "{err}"
        );
        // syft's description of a scanned directory names no digest.
        let err = check(&fixture("syft-1.18.1-python.cdx-1.6.json")[..], &image()).unwrap_err();
        assert!(
            err.to_string()
                .contains("metadata.component \"small\" has no version"),
            "{err}"
        );
    }

    #[test]
    fn document_describing_another_digest_is_refused() {
        let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let document = minimal("");
        let document = String::from_utf8(document).unwrap().replace(
            &format!(r#""version":"{IMAGE}""#),
            &format!(r#""version":"{other}""#),
        );
        let err = check(document.as_bytes(), &image()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "SBOM rejected: the document describes \"{other}\", but was uploaded for {IMAGE}"
            )
        );
    }

    #[test]
    fn incompleteness_and_its_reasons_are_read_and_kept() {
        let document = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5",
            "metadata":{{"component":{{"type":"container","bom-ref":"image:{IMAGE}","name":"app","version":"{IMAGE}"}},
              "properties":[{{"name":"nodebom:incomplete","value":"layer 3 could not be read"}},
                            {{"name":"other","value":"x"}},
                            {{"name":"nodebom:incomplete","value":"rpm database unreadable"}}]}},
            "compositions":[{{"aggregate":"incomplete","assemblies":["image:{IMAGE}"]}}]}}"#
        );
        let checked = check(document.as_bytes(), &image()).unwrap();
        assert_eq!(
            checked.completeness,
            Completeness {
                incomplete: true,
                reasons: vec![
                    "layer 3 could not be read".into(),
                    "rpm database unreadable".into()
                ],
            }
        );
        let stored = canonical(&checked);
        assert_eq!(
            stored["compositions"],
            serde_json::json!([{"aggregate": "incomplete", "assemblies": [format!("image:{IMAGE}")]}])
        );
        assert_eq!(
            stored["metadata"]["properties"].as_array().unwrap().len(),
            3
        );
        // Read back from the canonical form, the same.
        let mut json = Vec::new();
        checked.bom.write_canonical(&mut json).unwrap();
        assert_eq!(
            check(&json[..], &image()).unwrap().completeness,
            checked.completeness
        );
    }

    #[test]
    fn unknown_aggregate_counts_as_incomplete_and_complete_does_not() {
        let with = |aggregate: &str| {
            minimal(&format!(
                r#","compositions":[{{"aggregate":"{aggregate}","assemblies":["image:{IMAGE}"]}}]"#
            ))
        };
        for (aggregate, incomplete) in [
            ("unknown", true),
            ("incomplete_first_party_only", true),
            ("complete", false),
            ("not_specified", false),
        ] {
            let checked = check(&with(aggregate)[..], &image()).unwrap();
            assert_eq!(checked.completeness.incomplete, incomplete, "{aggregate}");
            assert!(checked.completeness.reasons.is_empty());
        }
    }

    #[test]
    fn content_hash_ignores_what_differs_between_nodes_and_sees_contents() {
        let build = |serial: &str, timestamp: &str, name: &str, package: &str| {
            format!(
                r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"{serial}",
                "metadata":{{"timestamp":"{timestamp}","component":{{"type":"container","bom-ref":"image:{IMAGE}",
                   "name":"{name}","version":"{IMAGE}","properties":[
                     {{"name":"nodebom:image_name","value":"{name}:1"}},
                     {{"name":"nodebom:platform","value":"linux/amd64"}}]}}}},
                "components":[{{"type":"library","name":"{package}","version":"1"}}]}}"#
            )
        };
        let hash = |document: String| {
            check(document.as_bytes(), &image())
                .unwrap()
                .bom
                .content_hash()
                .unwrap()
        };
        let a = hash(build(
            "urn:uuid:1",
            "2026-01-01T00:00:00Z",
            "registry-a/app",
            "zlib",
        ));
        let b = hash(build(
            "urn:uuid:2",
            "2026-02-02T00:00:00Z",
            "mirror-b/app",
            "zlib",
        ));
        let forged = hash(build(
            "urn:uuid:2",
            "2026-02-02T00:00:00Z",
            "mirror-b/app",
            "zlob",
        ));
        assert_eq!(a, b);
        assert_ne!(a, forged);
    }

    #[test]
    fn spdx_json_is_not_cyclonedx() {
        let err = check(&fixture("syft-1.18.1-python.spdx.json")[..], &image()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SBOM rejected: not CycloneDX JSON: the document has no bomFormat"
        );
    }

    #[test]
    fn cyclonedx_xml_is_not_cyclonedx_json() {
        let err = check(&fixture("syft-1.18.1-python.cdx.xml")[..], &image()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SBOM rejected: not CycloneDX JSON: the document starts with '<', not a JSON object"
        );
    }

    #[test]
    fn truncated_document_is_rejected() {
        let document = describing_image("syft-1.18.1-debian-12.cdx.json");
        let err = check(&document[..document.len() / 2], &image()).unwrap_err();
        assert!(err.to_string().contains("EOF while parsing"), "{err}");
    }

    #[test]
    fn unsupported_spec_version_is_named() {
        let document = String::from_utf8(minimal(""))
            .unwrap()
            .replace("1.5", "1.7");
        let err = check(document.as_bytes(), &image()).unwrap_err();
        assert!(
            err.to_string()
                .contains("specVersion \"1.7\" is not supported"),
            "{err}"
        );
    }

    #[test]
    fn component_without_a_name_is_rejected() {
        let err = check(
            &minimal(r#","components":[{"type":"library"}]"#)[..],
            &image(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
    }

    #[test]
    fn nested_components_are_indexed() {
        let document = minimal(
            r#","components":[{"type":"library","name":"app.jar","components":[
                {"type":"library","name":"log4j-core","version":"2.14.1",
                 "purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]}]"#,
        );
        let checked = check(&document[..], &image()).unwrap();
        let names: Vec<_> = checked.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app.jar", "log4j-core"]);
    }
}
