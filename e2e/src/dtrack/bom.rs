//! BOM intake as in Dependency-Track 4.11.4–4.14: base64 decoding, format detection, the
//! `specVersion` check (CycloneDX JSON 1.2–1.6) and validation against the official
//! CycloneDX JSON schema of that version.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Longest `bom` string `PUT /api/v1/bom` accepts (the multipart variant has no limit).
pub(crate) const MAX_BASE64_CHARS: usize = 20_000_000;

/// Schema errors reported in one answer, and the length of each.
const MAX_REPORTED_ERRORS: usize = 50;
const MAX_ERROR_CHARS: usize = 300;

/// Java's decoder, which Dependency-Track uses, accepts missing padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const SPDX_URI: &str = "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json";
const JSF_URI: &str = "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json";
const SPDX_SCHEMA: &str = include_str!("../../fixtures/dtrack/cyclonedx/spdx.SNAPSHOT.schema.json");
const JSF_SCHEMA: &str =
    include_str!("../../fixtures/dtrack/cyclonedx/jsf-0.82.SNAPSHOT.schema.json");

/// The JSON spec versions Dependency-Track accepts, with their schemas.
const SCHEMAS: [(&str, &str); 5] = [
    (
        "1.2",
        include_str!("../../fixtures/dtrack/cyclonedx/bom-1.2.SNAPSHOT.schema.json"),
    ),
    (
        "1.3",
        include_str!("../../fixtures/dtrack/cyclonedx/bom-1.3.SNAPSHOT.schema.json"),
    ),
    (
        "1.4",
        include_str!("../../fixtures/dtrack/cyclonedx/bom-1.4.SNAPSHOT.schema.json"),
    ),
    (
        "1.5",
        include_str!("../../fixtures/dtrack/cyclonedx/bom-1.5.SNAPSHOT.schema.json"),
    ),
    (
        "1.6",
        include_str!("../../fixtures/dtrack/cyclonedx/bom-1.6.SNAPSHOT.schema.json"),
    ),
];

/// Compiled once per test process, on first use of each version.
static VALIDATORS: [OnceLock<Result<jsonschema::Validator, String>>; 5] =
    [const { OnceLock::new() }; 5];

/// An accepted BOM.
#[derive(Clone, Debug)]
pub(crate) struct ParsedBom {
    pub(crate) document: Arc<Value>,
    pub(crate) sha256: String,
    pub(crate) spec_version: String,
}

/// Decodes the `bom` field of `PUT /api/v1/bom`.
pub(crate) fn decode_base64(encoded: &str) -> Result<Vec<u8>, ApiError> {
    if encoded.chars().count() > MAX_BASE64_CHARS {
        return Err(ApiError::bad_request(format!(
            "bom: size must be between 0 and {MAX_BASE64_CHARS}"
        )));
    }
    BASE64
        .decode(encoded)
        .map_err(|e| ApiError::invalid_bom(format!("The BOM is not valid base64: {e}"), vec![]))
}

/// Whether `bytes` look like an XML BOM, which this test server does not read.
pub(crate) fn is_xml(bytes: &[u8]) -> bool {
    first_significant_byte(bytes) == Some(b'<')
}

/// Checks a BOM the way Dependency-Track does before queueing it.
pub(crate) fn parse(bytes: &[u8], validate_schema: bool) -> Result<ParsedBom, ApiError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match first_significant_byte(text) {
        Some(b'{') => {}
        Some(b'<') => {
            return Err(ApiError::invalid_bom(
                "XML BOMs are not supported by the Dependency-Track test server",
                vec![],
            ))
        }
        _ => {
            return Err(ApiError::invalid_bom(
                "BOM is neither valid JSON nor XML",
                vec![],
            ))
        }
    }
    let document: Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::invalid_bom(format!("Failed to parse JSON: {e}"), vec![]))?;
    let spec_version = match document.get("specVersion").and_then(Value::as_str) {
        None => {
            return Err(ApiError::invalid_bom(
                "Unable to determine schema version from JSON",
                vec![],
            ))
        }
        Some("1.0" | "1.1") => {
            return Err(ApiError::invalid_bom(
                "JSON is only supported for CycloneDX v1.2 and newer",
                vec![],
            ))
        }
        Some(version) => version.to_string(),
    };
    let index = SCHEMAS
        .iter()
        .position(|(version, _)| *version == spec_version)
        .ok_or_else(|| {
            ApiError::invalid_bom(format!("Unrecognized specVersion {spec_version}"), vec![])
        })?;
    if validate_schema {
        let validator = validator(index).map_err(ApiError::internal)?;
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .take(MAX_REPORTED_ERRORS)
            .map(|e| truncate(&format!("{}: {e}", e.instance_path())))
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::invalid_bom("Schema validation failed", errors));
        }
    }
    Ok(ParsedBom {
        document: Arc::new(document),
        sha256,
        spec_version,
    })
}

/// A component as a BOM describes it; its project gives it a UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BomComponent {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) purl: Option<String>,
}

/// Every component of a BOM, nested ones included, in document order.
pub(crate) fn components(document: &Value) -> Vec<BomComponent> {
    let mut found = Vec::new();
    // An explicit stack: nesting depth is up to the BOM's author.
    let mut stack: Vec<&Value> = document
        .get("components")
        .and_then(Value::as_array)
        .map(|list| list.iter().rev().collect())
        .unwrap_or_default();
    while let Some(component) = stack.pop() {
        let text = |key: &str| component.get(key).and_then(Value::as_str).map(String::from);
        if let Some(name) = text("name") {
            found.push(BomComponent {
                name,
                version: text("version"),
                group: text("group"),
                purl: text("purl"),
            });
        }
        if let Some(children) = component.get("components").and_then(Value::as_array) {
            stack.extend(children.iter().rev());
        }
    }
    found
}

fn validator(index: usize) -> Result<&'static jsonschema::Validator, String> {
    let (version, schema) = SCHEMAS
        .get(index)
        .ok_or_else(|| format!("no CycloneDX schema #{index}"))?;
    let cell = VALIDATORS
        .get(index)
        .ok_or_else(|| format!("no CycloneDX validator #{index}"))?;
    cell.get_or_init(|| compile(schema).map_err(|e| format!("CycloneDX {version} schema: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}

fn compile(schema: &str) -> Result<jsonschema::Validator, String> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
    let (spdx, jsf) = (parse(SPDX_SCHEMA)?, parse(JSF_SCHEMA)?);
    let registry = jsonschema::Registry::new()
        .add(SPDX_URI, spdx)
        .and_then(|r| r.add(JSF_URI, jsf))
        .and_then(|r| r.prepare())
        .map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&parse(schema)?)
        .map_err(|e| e.to_string())
}

fn first_significant_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Keeps messages readable when the offending value is a large document.
pub(crate) fn truncate(message: &str) -> String {
    if message.chars().count() <= MAX_ERROR_CHARS {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX_ERROR_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOM_1_5: &str =
        include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python.cdx-1.5.json");

    fn detail(err: ApiError) -> String {
        format!("{err:?}")
    }

    #[test]
    fn real_syft_boms_of_every_accepted_version_pass_the_schema() {
        for text in [
            include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python.cdx-1.2.json"),
            BOM_1_5,
            include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python.cdx-1.6.json"),
        ] {
            let parsed = parse(text.as_bytes(), true).unwrap();
            let names: Vec<_> = components(&parsed.document)
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(names, ["blinker", "distro", "pyparsing"]);
        }
    }

    #[test]
    fn spec_version_1_7_is_unrecognized() {
        let bom = BOM_1_5.replace("\"specVersion\":\"1.5\"", "\"specVersion\":\"1.7\"");
        let err = parse(bom.as_bytes(), true).unwrap_err();
        assert!(detail(err).contains("Unrecognized specVersion 1.7"));
    }

    #[test]
    fn component_without_name_fails_schema_validation() {
        let mut bom: Value = serde_json::from_str(BOM_1_5).unwrap();
        bom["components"][0].as_object_mut().unwrap().remove("name");
        let err = parse(&serde_json::to_vec(&bom).unwrap(), true).unwrap_err();
        let detail = detail(err);
        assert!(detail.contains("Schema validation failed"), "{detail}");
        assert!(detail.contains("/components/0"), "{detail}");
    }

    #[test]
    fn unpadded_base64_is_accepted_like_java_does() {
        assert_eq!(decode_base64("eyJhIjoxfQ").unwrap(), b"{\"a\":1}");
        assert_eq!(decode_base64("eyJhIjoxfQ==").unwrap(), b"{\"a\":1}");
        assert!(decode_base64("not base64!").is_err());
    }

    #[test]
    fn nested_components_are_found() {
        let bom = serde_json::json!({"components": [
            {"name": "a", "components": [{"name": "b", "purl": "pkg:npm/b@1"}]},
            {"name": "c", "version": "2"}
        ]});
        let names: Vec<_> = components(&bom).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
