//! Composer's `installed.json` as records: bytes in, no I/O.
//!
//! Composer 1 writes a JSON array of packages; Composer 2 an object whose `packages` key
//! holds that array (next to `dev` and `dev-package-names`). Like syft 1.18, a `name`,
//! `version` or `license` of the wrong JSON type makes the file malformed; every other
//! key is skipped unread.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::catalog::{CatalogError, Records};

/// More packages than any real project installs (Packagist lists ~400,000 packages in
/// all; a large project installs a few hundred). Those after are not read.
pub const MAX_PACKAGES: usize = 100_000;

/// What `installed.json` says about one package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InstalledPackage {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "licenses")]
    pub license: Vec<String>,
}

/// Decodes either format, the first [`MAX_PACKAGES`] packages; anything else is
/// malformed. Invalid UTF-8 is replaced.
pub fn parse_installed(data: &[u8]) -> Result<Records<InstalledPackage>, CatalogError> {
    let text = String::from_utf8_lossy(data);
    let mut de = serde_json::Deserializer::from_str(&text);
    let installed = de
        .deserialize_any(InstalledVisitor)
        .and_then(|packages| de.end().map(|()| packages))
        .map_err(|err| CatalogError::Malformed(format!("installed.json: {err}")))?;
    Ok(installed)
}

/// The top level: a package array (Composer 1) or an object with `packages` (Composer 2).
/// Decoded by hand so that neither shape is buffered to try the other.
struct InstalledVisitor;

impl<'de> Visitor<'de> for InstalledVisitor {
    type Value = Records<InstalledPackage>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of packages or an object with `packages`")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        PackagesVisitor.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut packages = Records::new(MAX_PACKAGES);
        while let Some(key) = map.next_key::<String>()? {
            if key == "packages" {
                packages = map.next_value_seed(PackagesSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(packages)
    }
}

struct PackagesSeed;

impl<'de> de::DeserializeSeed<'de> for PackagesSeed {
    type Value = Records<InstalledPackage>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(PackagesVisitor)
    }
}

struct PackagesVisitor;

impl<'de> Visitor<'de> for PackagesVisitor {
    type Value = Records<InstalledPackage>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of packages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut packages = Records::new(MAX_PACKAGES);
        while let Some(package) = seq.next_element::<InstalledPackage>()? {
            if !packages.push(package) {
                // The rest is still checked to be JSON, but not kept.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
        }
        Ok(packages)
    }
}

/// `license`: an array of strings, or (hand-edited files) one string.
fn licenses<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(license)) => vec![license],
        Some(OneOrMany::Many(licenses)) => licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_give_the_same_packages() {
        let v1 = parse_installed(br#"[{"name": "a/b", "version": "1.0.0", "license": ["MIT"]}]"#)
            .unwrap()
            .records;
        let v2 = parse_installed(
            br#"{"packages": [{"name": "a/b", "version": "1.0.0", "license": ["MIT"]}], "dev": true}"#,
        )
        .unwrap()
        .records;
        assert_eq!(v1, v2);
        assert_eq!(v1[0].license, ["MIT"]);
    }

    #[test]
    fn packages_past_the_limit_are_not_kept_and_the_stop_said() {
        let one = r#"{"name": "a/b", "version": "1.0.0"},"#;
        let json = format!(r#"{{"packages": [{}{{}}]}}"#, one.repeat(MAX_PACKAGES));
        let parsed = parse_installed(json.as_bytes()).unwrap();
        assert_eq!(parsed.records.len(), MAX_PACKAGES);
        assert!(parsed.stopped_at_limit);
    }

    #[test]
    fn object_without_packages_has_none() {
        assert!(parse_installed(br#"{"dev": true}"#)
            .unwrap()
            .records
            .is_empty());
    }

    #[test]
    fn wrong_types_and_trailing_data_are_malformed() {
        for json in [
            &br#"[{"name": 1}]"#[..],
            br#"{"packages": {"name": "a/b"}}"#,
            br#"[{"name": "a/b", "license": [1]}]"#,
            br#"[] []"#,
            b"\"packages\"",
        ] {
            assert!(
                matches!(parse_installed(json), Err(CatalogError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
