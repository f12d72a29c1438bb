//! `*.deps.json` dependency manifests as records: bytes in, no I/O.
//!
//! `dotnet publish` writes `<app>.deps.json` beside the application: its `libraries`
//! object maps `Name/Version` to the kind of library (`package` from NuGet, `project`
//! for the application's own assemblies, `reference`, `runtimepack`…). Like syft 1.18,
//! a `libraries` value or library field of the wrong JSON type makes the file malformed;
//! every other key is skipped unread.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalog::CatalogError;

/// One `libraries` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Library {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Where the package sits in the NuGet cache (`system.memory/4.6.3`).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub sha512: Option<String>,
}

#[derive(Deserialize)]
struct DepsJson {
    #[serde(default)]
    libraries: BTreeMap<String, Library>,
}

/// The `libraries` of a deps.json, by `Name/Version` key. Invalid UTF-8 is replaced.
pub fn parse_deps(data: &[u8]) -> Result<BTreeMap<String, Library>, CatalogError> {
    let text = String::from_utf8_lossy(data);
    // serde would also take a JSON array for the top-level struct; a manifest is an object.
    if !text.trim_start().starts_with('{') {
        return Err(CatalogError::Malformed(
            "deps.json: not a JSON object".to_owned(),
        ));
    }
    serde_json::from_str::<DepsJson>(&text)
        .map(|deps| deps.libraries)
        .map_err(|err| CatalogError::Malformed(format!("deps.json: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_are_read_and_other_keys_skipped() {
        let libraries = parse_deps(
            br#"{"runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"}, "targets": {},
                "libraries": {"Serilog/3.1.1": {"type": "package", "serviceable": true,
                "sha512": "sha512-x", "path": "serilog/3.1.1"}}}"#,
        )
        .unwrap();
        let serilog = libraries.get("Serilog/3.1.1").unwrap();
        assert_eq!(serilog.kind.as_deref(), Some("package"));
        assert_eq!(serilog.path.as_deref(), Some("serilog/3.1.1"));
    }

    #[test]
    fn wrong_types_are_malformed() {
        for json in [
            &br#"{"libraries": {"a/1": {"type": 1}}}"#[..],
            br#"{"libraries": []}"#,
            br#"[]"#,
        ] {
            assert!(matches!(parse_deps(json), Err(CatalogError::Malformed(_))));
        }
    }
}
