//! conda-meta records as [`CondaRecord`]s: bytes in, no I/O of its own.
//!
//! A record is one JSON object (conda's `PrefixRecord`). Most of its bytes are the
//! `files` and `paths_data` lists, which are skipped while streaming: only the few string
//! fields below are kept, so a large record costs reading time, not memory.

use std::io::{BufReader, Read};

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::CatalogError;

/// What a conda-meta record states about its package. Fields that are missing or not
/// strings are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CondaRecord {
    pub name: String,
    pub version: String,
    /// Build string: `h955ad1f_0`.
    pub build: String,
    /// The channel as conda wrote it: a URL (`https://repo.anaconda.com/pkgs/main/linux-64`,
    /// `https://conda.anaconda.org/conda-forge/`) or a name.
    pub channel: String,
    /// Where the package was downloaded from.
    pub url: String,
    /// Platform directory of the channel: `linux-64`, `noarch`.
    pub subdir: String,
    /// Package file name: `python-3.11.9-h955ad1f_0.conda`.
    pub file_name: String,
    pub license: String,
}

/// The fields read; `Value` so that an odd type in one of them is not an error.
#[derive(Deserialize)]
struct Raw {
    name: Option<Value>,
    version: Option<Value>,
    build: Option<Value>,
    channel: Option<Value>,
    url: Option<Value>,
    subdir: Option<Value>,
    #[serde(rename = "fn")]
    file_name: Option<Value>,
    license: Option<Value>,
}

/// Reads one record from `reader`, at most `limit` bytes of it.
pub fn parse_meta(reader: impl Read, limit: u64) -> Result<CondaRecord, CatalogError> {
    let mut limited = reader.take(limit);
    let parsed: Result<Raw, _> = serde_json::from_reader(BufReader::new(&mut limited));
    let raw = match parsed {
        Ok(raw) => raw,
        Err(_) if limited.limit() == 0 => return Err(CatalogError::TooLarge { limit }),
        Err(err) if err.is_io() => return Err(CatalogError::Io(err.into())),
        Err(err) => return Err(CatalogError::Malformed(err.to_string())),
    };
    let text = |value: Option<Value>| match value {
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => String::new(),
    };
    Ok(CondaRecord {
        name: text(raw.name),
        version: text(raw.version),
        build: text(raw.build),
        channel: text(raw.channel),
        url: text(raw.url),
        subdir: text(raw.subdir),
        file_name: text(raw.file_name),
        license: text(raw.license),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_file_lists_are_skipped_not_kept() {
        let files: Vec<String> = (0..50_000).map(|i| format!("lib/file-{i}.so")).collect();
        let json = serde_json::json!({
            "name": "big", "version": "1.0", "files": files,
            "paths_data": {"paths": files, "paths_version": 1}
        });
        let bytes = serde_json::to_vec(&json).unwrap();
        let record = parse_meta(bytes.as_slice(), bytes.len() as u64).unwrap();
        assert_eq!(
            (record.name.as_str(), record.version.as_str()),
            ("big", "1.0")
        );
    }

    #[test]
    fn record_beyond_the_limit_is_too_large() {
        let bytes = br#"{"name": "x", "version": "1", "files": ["a", "b", "c"]}"#;
        assert!(matches!(
            parse_meta(&bytes[..], 20),
            Err(CatalogError::TooLarge { limit: 20 })
        ));
    }

    #[test]
    fn fields_of_another_type_are_empty() {
        let bytes = br#"{"name": "x", "version": 1, "license": ["MIT"], "channel": null}"#;
        let record = parse_meta(&bytes[..], 1024).unwrap();
        assert_eq!(record.name, "x");
        assert_eq!(record.version, "");
        assert_eq!(record.license, "");
        assert_eq!(record.channel, "");
    }

    #[test]
    fn trailing_data_after_the_object_is_malformed() {
        assert!(matches!(
            parse_meta(&br#"{"name": "x"} {"name": "y"}"#[..], 1024),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn deep_nesting_is_no_stack_overflow() {
        let deep = |field: &str| {
            format!(
                "{{\"{field}\": {}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
        };
        // Skipped fields are walked without recursion; kept ones stop at serde_json's
        // depth limit.
        let skipped = parse_meta(deep("files").as_bytes(), 1 << 20).unwrap();
        assert_eq!(skipped, CondaRecord::default());
        assert!(matches!(
            parse_meta(deep("license").as_bytes(), 1 << 20),
            Err(CatalogError::Malformed(_))
        ));
    }
}
