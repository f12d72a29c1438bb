//! `package.json` documents as records: bytes in, no I/O.
//!
//! syft 1.18 decodes each document into a Go struct with `encoding/json`, and drops the
//! whole file when a field it declares has the wrong JSON type (`"version": 1`,
//! `"private": "true"`, `"author": ["x"]`…). To find the same packages, the decoder here
//! checks those fields the same way: keys match case-insensitively, `null` leaves a field
//! as it was, the last duplicate key wins, and every other key is skipped unread.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::catalog::{CatalogError, Records};

/// More documents than one file can sensibly hold (npm writes one; the fixtures here
/// have one or two). Those after are not read.
pub const MAX_DOCUMENTS: usize = 1024;

/// What one `package.json` document says about its package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    /// The strings in `license`: a string, a `{ "type": … }` object in old packages, or
    /// an array of either.
    pub license: Vec<String>,
    /// The strings in the legacy `licenses` array of `{ "type": …, "url": … }`.
    pub licenses: Vec<String>,
}

/// More licences than any real package lists.
const MAX_LICENSES: usize = 32;

/// Decodes the JSON documents in a `package.json` file (syft reads a stream of them), the
/// first [`MAX_DOCUMENTS`] of them. Any document that is not an object or `null`, or has
/// a declared field of the wrong type, makes the whole file malformed. Invalid UTF-8 is
/// replaced, as Go does.
pub fn parse_manifests(data: &[u8]) -> Result<Records<Manifest>, CatalogError> {
    let text = String::from_utf8_lossy(data);
    let mut manifests = Records::new(MAX_DOCUMENTS);
    for manifest in serde_json::Deserializer::from_str(&text).into_iter::<Manifest>() {
        let manifest =
            manifest.map_err(|err| CatalogError::Malformed(format!("package.json: {err}")))?;
        if !manifests.push(manifest) {
            break;
        }
    }
    Ok(manifests)
}

/// The keys syft's struct declares, with the JSON types it accepts for each.
#[derive(Clone, Copy)]
enum Key {
    Name,
    Version,
    /// `homepage`, `description`: string or null.
    Text,
    Private,
    Latest,
    Dependencies,
    Author,
    Repository,
    License,
    Licenses,
}

fn key(name: &str) -> Option<Key> {
    const KEYS: [(&str, Key); 11] = [
        ("name", Key::Name),
        ("version", Key::Version),
        ("homepage", Key::Text),
        ("description", Key::Text),
        ("private", Key::Private),
        ("latest", Key::Latest),
        ("dependencies", Key::Dependencies),
        ("author", Key::Author),
        ("repository", Key::Repository),
        ("license", Key::License),
        ("licenses", Key::Licenses),
    ];
    KEYS.iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, key)| *key)
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ManifestVisitor)
    }
}

struct ManifestVisitor;

impl<'de> Visitor<'de> for ManifestVisitor {
    type Value = Manifest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a package.json object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Manifest, E> {
        Ok(Manifest::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
        let mut manifest = Manifest::default();
        while let Some(name) = map.next_key::<String>()? {
            match key(&name) {
                Some(Key::Name) => {
                    if let Some(value) = map.next_value::<Option<String>>()? {
                        manifest.name = Some(value);
                    }
                }
                Some(Key::Version) => {
                    if let Some(value) = map.next_value::<Option<String>>()? {
                        manifest.version = Some(value);
                    }
                }
                Some(Key::Text) => {
                    map.next_value::<Option<StrictString>>()?;
                }
                Some(Key::Private) => {
                    map.next_value::<Option<bool>>()?;
                }
                Some(Key::Latest) => {
                    map.next_value::<Option<Vec<Option<StrictString>>>>()?;
                }
                Some(Key::Dependencies) => {
                    map.next_value::<Option<StringMap>>()?;
                }
                Some(Key::Author) => {
                    map.next_value::<Person>()?;
                }
                Some(Key::Repository) => {
                    map.next_value::<Repository>()?;
                }
                Some(Key::License) => manifest.license = map.next_value::<LicenseNames>()?.0,
                Some(Key::Licenses) => manifest.licenses = map.next_value::<LicenseNames>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(manifest)
    }
}

/// A JSON string checked and dropped.
struct StrictString;

impl<'de> Deserialize<'de> for StrictString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrictStringVisitor)
    }
}

struct StrictStringVisitor;

impl Visitor<'_> for StrictStringVisitor {
    type Value = StrictString;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<StrictString, E> {
        Ok(StrictString)
    }
}

/// An object whose values are all strings or null (`dependencies`, an object
/// `repository`).
struct StringMap;

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringMapVisitor)
    }
}

struct StringMapVisitor;

impl<'de> Visitor<'de> for StringMapVisitor {
    type Value = StringMap;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
        while map
            .next_entry::<IgnoredAny, Option<StrictString>>()?
            .is_some()
        {}
        Ok(StringMap)
    }
}

/// `author`: a string, null, or an object whose `name`, `email` and `url` are strings.
struct Person;

impl<'de> Deserialize<'de> for Person {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PersonVisitor)
    }
}

struct PersonVisitor;

impl<'de> Visitor<'de> for PersonVisitor {
    type Value = Person;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a person string or object")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Person, E> {
        Ok(Person)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Person, E> {
        Ok(Person)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Person, A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let is_text = ["name", "email", "url"]
                .iter()
                .any(|field| field.eq_ignore_ascii_case(&name));
            if is_text {
                map.next_value::<Option<StrictString>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Person)
    }
}

/// `repository`: a string, null, or an object of strings.
struct Repository;

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RepositoryVisitor)
    }
}

struct RepositoryVisitor;

impl<'de> Visitor<'de> for RepositoryVisitor {
    type Value = Repository;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a repository string or object of strings")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Repository, E> {
        Ok(Repository)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Repository, E> {
        Ok(Repository)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Repository, A::Error> {
        StringMapVisitor.visit_map(map)?;
        Ok(Repository)
    }
}

/// Licence names in a `license` or `licenses` value of any shape: strings, the `type` of
/// objects, and both inside an array. Anything else is skipped without recursion, so
/// deep nesting cannot exhaust the stack.
struct LicenseNames(Vec<String>);

impl<'de> Deserialize<'de> for LicenseNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LicenseVisitor(Level::Value))
    }
}

/// Where a licence value sits, which decides what nested values may still hold names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The whole `license` or `licenses` value: a string, an object or an array.
    Value,
    /// An array item: a string or an object.
    Item,
    /// An object's `type`: only a string.
    Type,
}

struct LicenseVisitor(Level);

impl<'de> Visitor<'de> for LicenseVisitor {
    type Value = LicenseNames;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<LicenseNames, E> {
        Ok(LicenseNames(vec![value.to_owned()]))
    }

    fn visit_unit<E: de::Error>(self) -> Result<LicenseNames, E> {
        Ok(LicenseNames(Vec::new()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<LicenseNames, E> {
        self.visit_unit()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<LicenseNames, E> {
        self.visit_unit()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<LicenseNames, E> {
        self.visit_unit()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<LicenseNames, E> {
        self.visit_unit()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LicenseNames, A::Error> {
        let mut names = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0 != Level::Type && key.eq_ignore_ascii_case("type") {
                names = map.next_value_seed(LicenseVisitor(Level::Type))?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(LicenseNames(names))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LicenseNames, A::Error> {
        let mut names = Vec::new();
        if self.0 != Level::Value {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(LicenseNames(names));
        }
        while let Some(item) = seq.next_element_seed(LicenseVisitor(Level::Item))? {
            let room = MAX_LICENSES.saturating_sub(names.len());
            names.extend(item.0.into_iter().take(room));
        }
        Ok(LicenseNames(names))
    }
}

impl<'de> de::DeserializeSeed<'de> for LicenseVisitor {
    type Value = LicenseNames;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<LicenseNames, D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Manifest {
        let mut manifests = parse_manifests(json.as_bytes()).unwrap().records;
        assert_eq!(manifests.len(), 1);
        manifests.remove(0)
    }

    fn rejected(json: &str) -> bool {
        matches!(
            parse_manifests(json.as_bytes()),
            Err(CatalogError::Malformed(_))
        )
    }

    #[test]
    fn keys_match_case_insensitively_and_the_last_duplicate_wins() {
        let manifest = one(r#"{"Name": "a", "VERSION": "1", "name": "b"}"#);
        assert_eq!(manifest.name.as_deref(), Some("b"));
        assert_eq!(manifest.version.as_deref(), Some("1"));
    }

    #[test]
    fn null_leaves_a_field_as_it_was() {
        let manifest = one(r#"{"name": "a", "name": null, "version": null}"#);
        assert_eq!(manifest.name.as_deref(), Some("a"));
        assert_eq!(manifest.version, None);
    }

    #[test]
    fn declared_fields_of_the_wrong_type_reject_the_file() {
        for json in [
            r#"{"name": "a", "version": 1}"#,
            r#"{"name": ["a"]}"#,
            r#"{"name": "a", "private": "true"}"#,
            r#"{"name": "a", "description": {"en": "x"}}"#,
            r#"{"name": "a", "homepage": ["https://x"]}"#,
            r#"{"name": "a", "latest": "1.0"}"#,
            r#"{"name": "a", "dependencies": {"b": 1}}"#,
            r#"{"name": "a", "author": ["x"]}"#,
            r#"{"name": "a", "author": {"name": 7}}"#,
            r#"{"name": "a", "repository": {"url": "x", "directory": {"p": 1}}}"#,
            r#"{"name": "a", "repository": true}"#,
        ] {
            assert!(rejected(json), "{json}");
        }
    }

    #[test]
    fn declared_fields_of_the_right_shape_are_accepted() {
        let json = r#"{
            "name": "a", "version": "1.0.0", "private": true, "latest": ["1.0.0", null],
            "dependencies": {"b": "^1", "c": null}, "homepage": null,
            "author": {"name": "A", "email": null, "web": 3},
            "repository": {"type": "git", "url": "https://x", "directory": null},
            "license": {"type": "MIT"}, "licenses": 42,
            "unknown": [{"deeply": [1, 2, {"nested": true}]}]
        }"#;
        let manifest = one(json);
        assert_eq!(manifest.name.as_deref(), Some("a"));
        assert_eq!(manifest.license, ["MIT"]);
        assert_eq!(manifest.licenses, Vec::<String>::new());
    }

    #[test]
    fn licence_strings_are_found_in_every_shape() {
        let manifest = one(
            r#"{"license": ["MIT", {"type": "ISC", "url": "x"}, ["nested"], {"type": {"type": "odd"}}, 3],
                "licenses": {"TYPE": "BSD"}}"#,
        );
        assert_eq!(manifest.license, ["MIT", "ISC"]);
        assert_eq!(manifest.licenses, ["BSD"]);
    }

    #[test]
    fn huge_licence_lists_are_bounded() {
        let json = format!(r#"{{"license": [{}"MIT"]}}"#, r#""MIT","#.repeat(1000));
        assert_eq!(one(&json).license.len(), MAX_LICENSES);
    }

    #[test]
    fn top_level_null_is_an_empty_document_and_other_values_are_rejected() {
        assert_eq!(one("null"), Manifest::default());
        for json in ["[]", "\"a\"", "1", "true"] {
            assert!(rejected(json), "{json}");
        }
    }

    #[test]
    fn documents_past_the_limit_are_not_read_and_the_stop_said() {
        let json = r#"{"name": "a", "version": "1"} "#.repeat(MAX_DOCUMENTS + 1);
        let parsed = parse_manifests(json.as_bytes()).unwrap();
        assert_eq!(parsed.records.len(), MAX_DOCUMENTS);
        assert!(parsed.stopped_at_limit);
    }

    #[test]
    fn several_documents_in_one_file_are_all_read() {
        let manifests = parse_manifests(br#"{"name": "a"} {"name": "b"}"#)
            .unwrap()
            .records;
        assert_eq!(manifests.len(), 2);
        assert!(parse_manifests(br#"{"name": "a"} trailing"#).is_err());
    }

    #[test]
    fn empty_file_has_no_documents() {
        assert!(parse_manifests(b"  \n").unwrap().records.is_empty());
    }

    #[test]
    fn invalid_utf8_in_strings_is_replaced() {
        let manifest = one("{\"name\": \"caf\u{e9}\", \"description\": \"x\"}");
        assert_eq!(manifest.name.as_deref(), Some("caf\u{e9}"));
        let mut latin1 = br#"{"name": "caf"#.to_vec();
        latin1.extend_from_slice(b"\xe9\"}");
        assert_eq!(
            parse_manifests(&latin1).unwrap().records[0].name.as_deref(),
            Some("caf\u{fffd}")
        );
    }

    #[test]
    fn truncated_json_is_malformed() {
        assert!(rejected(r#"{"name": "a", "version": "1"#));
    }
}
