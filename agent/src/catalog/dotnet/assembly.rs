//! A PE version resource's strings as a [`Package`], named and versioned as syft 1.18
//! does, so that the same files give the same components.
//!
//! - Name: the first non-blank of `ProductName`, `FileDescription`, `InternalName`,
//!   `OriginalFilename`. When the company or product mentions Microsoft, `ProductName`
//!   comes last (it is then "Microsoft® .NET Framework" for hundreds of assemblies).
//!   Whitespace runs become one space and control characters are dropped.
//! - Version: `FileVersion` and `ProductVersion`, each cut after its leading numeric
//!   words ("4.7.3190.0 built by: NET472REL1LAST_C" → "4.7.3190.0"). The higher of the two
//!   by [`LooseVersion`] order wins (the product version when only it parses); when they
//!   tie or the product version does not parse, the one with a digit and more `.`/`,`
//!   separators wins, ProductVersion on equal counts. The chosen string is kept as
//!   written: "3.0.1+b86b61b" keeps its build suffix, "1, 0, 0, 0" its commas.
//! - No name or no version: no package.

use std::collections::BTreeMap;

use super::loose_version::LooseVersion;
use super::package::identity;
use crate::package::{Ecosystem, Package};

/// Version-resource strings kept as properties, under `dotnet:<key>`: what identifies
/// the assembly beyond the chosen name and version.
const KEPT_STRINGS: [(&str, &str); 5] = [
    ("CompanyName", "dotnet:companyName"),
    ("ProductName", "dotnet:productName"),
    ("ProductVersion", "dotnet:productVersion"),
    ("InternalName", "dotnet:internalName"),
    ("Assembly Version", "dotnet:assemblyVersion"),
];

/// The package the strings of a version resource describe, if they name and version one.
pub fn to_package(strings: &BTreeMap<String, String>) -> Option<Package> {
    let name = name(strings)?;
    let version = version(strings)?;
    let mut package = Package::new(Ecosystem::Nuget, name, version);
    for (key, property) in KEPT_STRINGS {
        let value = strings
            .get(key)
            .map(|v| normalize_spaces(v))
            .unwrap_or_default();
        if !value.is_empty() {
            package.properties.insert(property.to_owned(), value);
        }
    }
    Some(package.with_identity(identity))
}

fn get<'a>(strings: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    strings.get(key).map(String::as_str).unwrap_or_default()
}

fn name(strings: &BTreeMap<String, String>) -> Option<String> {
    let by_microsoft = ["CompanyName", "ProductName"]
        .iter()
        .any(|key| get(strings, key).to_lowercase().contains("microsoft"));
    let order = if by_microsoft {
        [
            "FileDescription",
            "InternalName",
            "OriginalFilename",
            "ProductName",
        ]
    } else {
        [
            "ProductName",
            "FileDescription",
            "InternalName",
            "OriginalFilename",
        ]
    };
    order
        .iter()
        .map(|key| normalize_spaces(get(strings, key)))
        .find(|name| !name.is_empty())
}

fn version(strings: &BTreeMap<String, String>) -> Option<String> {
    let product = leading_version(get(strings, "ProductVersion"));
    let file = leading_version(get(strings, "FileVersion"));
    if let Some(higher) = higher_version(&product, &file) {
        return Some(higher);
    }
    let (product_detail, file_detail) = (separator_runs(&product), separator_runs(&file));
    let chosen = if has_digit(&product) && product_detail >= file_detail {
        product
    } else if has_digit(&file) && file_detail > 0 {
        file
    } else if has_digit(&product) || !has_digit(&file) {
        product
    } else {
        file
    };
    Some(chosen).filter(|v| !v.is_empty())
}

/// The higher of two versions when both parse and differ; only the product version when
/// the file version does not parse; nothing when the product version does not parse.
fn higher_version(product: &str, file: &str) -> Option<String> {
    let product_version = LooseVersion::parse(product)?;
    let Some(file_version) = LooseVersion::parse(file) else {
        return Some(product.to_owned());
    };
    match file_version.compare(&product_version) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(file.to_owned()),
        std::cmp::Ordering::Less => Some(product.to_owned()),
    }
}

/// The words of a version string up to the first word without a digit that follows one
/// with a digit: "1, 0, 0, 0" and "Release 73" stay whole, trailing prose goes.
fn leading_version(value: &str) -> String {
    let mut out = String::new();
    for word in value.split_whitespace() {
        if has_digit(&out) && !has_digit(word) {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// How many runs of `.` and `,` a version has: "1.2.3" has 2, "1, 0, 0, 0" has 3.
fn separator_runs(s: &str) -> usize {
    let mut runs = 0;
    let mut in_run = false;
    for c in s.chars() {
        let separator = c == '.' || c == ',';
        if separator && !in_run {
            runs += 1;
        }
        in_run = separator;
    }
    runs
}

/// Trimmed, control characters dropped, every run of ASCII whitespace or no-break spaces
/// made one space.
fn normalize_spaces(value: &str) -> String {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ' | '\u{a0}');
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in value.trim().chars() {
        if is_space(c) {
            pending_space = true;
        } else if c.is_ascii_control() && c != '\x7f' {
            continue;
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn name_and_version(pairs: &[(&str, &str)]) -> Option<(String, String)> {
        to_package(&strings(pairs)).map(|p| (p.name, p.version))
    }

    fn chosen_version(product: &str, file: &str) -> Option<String> {
        version(&strings(&[
            ("ProductVersion", product),
            ("FileVersion", file),
        ]))
    }

    #[test]
    fn product_name_names_the_package() {
        assert_eq!(
            name_and_version(&[
                ("CompanyName", "SQLite Development Team"),
                ("FileDescription", "SQLite is a software library"),
                ("InternalName", "sqlite3"),
                ("ProductName", "SQLite"),
                ("ProductVersion", "3.23.2"),
                ("FileVersion", "3.23.2"),
            ]),
            Some(("SQLite".to_owned(), "3.23.2".to_owned()))
        );
    }

    #[test]
    fn microsoft_assemblies_are_named_by_their_description() {
        assert_eq!(
            name(&strings(&[
                ("CompanyName", "Microsoft Corporation"),
                ("FileDescription", "System.Data.Linq.dll"),
                ("ProductName", "Microsoft® .NET Framework"),
            ])),
            Some("System.Data.Linq.dll".to_owned())
        );
        // A blank description falls through to the internal name, the product comes last.
        assert_eq!(
            name(&strings(&[
                ("FileDescription", " "),
                ("InternalName", "System.Web"),
                ("ProductName", "Microsoft® .NET Framework"),
            ])),
            Some("System.Web".to_owned())
        );
        assert_eq!(
            name(&strings(&[("ProductName", "MICROSOFT® .NET")])),
            Some("MICROSOFT® .NET".to_owned())
        );
    }

    #[test]
    fn blank_fields_fall_through_to_the_next_name() {
        assert_eq!(
            name(&strings(&[
                ("ProductName", " \t"),
                ("FileDescription", ""),
                ("InternalName", "Prometheus.AspNetCore.dll"),
            ])),
            Some("Prometheus.AspNetCore.dll".to_owned())
        );
        assert_eq!(name(&strings(&[("Comments", "x")])), None);
    }

    #[test]
    fn names_are_space_normalized_and_control_characters_dropped() {
        assert_eq!(normalize_spaces(" a \t\n b\r\n"), "a b");
        assert_eq!(
            normalize_spaces("\rs\u{1}ome\u{a0} \u{1} name\n"),
            "some name"
        );
        assert_eq!(normalize_spaces("\u{1}"), "");
    }

    #[test]
    fn leading_numeric_words_make_the_version() {
        assert_eq!(
            leading_version("4.7.4076.0 built by: NET472REL1LAST_B"),
            "4.7.4076.0"
        );
        assert_eq!(leading_version("1, 0, 0, 0"), "1, 0, 0, 0");
        assert_eq!(leading_version("Release 73"), "Release 73");
        assert_eq!(
            leading_version("  3.14.40721.0918    xxxfffdddjjjj"),
            "3.14.40721.0918"
        );
        assert_eq!(leading_version(""), "");
    }

    #[test]
    fn the_higher_of_product_and_file_version_wins() {
        assert_eq!(
            chosen_version("8.0.1+c61f043", "8.0.124.61010").as_deref(),
            Some("8.0.124.61010")
        );
        assert_eq!(
            chosen_version("3.0.1+b86b61b", "3.0.0.0").as_deref(),
            Some("3.0.1+b86b61b")
        );
        assert_eq!(
            chosen_version("3.0.0", "3.0.1+b86b61b").as_deref(),
            Some("3.0.1+b86b61b")
        );
        assert_eq!(
            chosen_version("80.1.7.92", "80.1.7").as_deref(),
            Some("80.1.7.92")
        );
    }

    #[test]
    fn equal_or_unparsable_versions_go_by_detail() {
        // Equal: the one with more separators.
        assert_eq!(
            chosen_version("3.0.0", "3.0.0.0").as_deref(),
            Some("3.0.0.0")
        );
        assert_eq!(
            chosen_version("2.4.1+abcdef0", "2.4.1.0").as_deref(),
            Some("2.4.1.0")
        );
        assert_eq!(
            chosen_version("3.1.0-beta.2", "3.1.0.0").as_deref(),
            Some("3.1.0-beta.2")
        );
        // A product version that is no version (a commit id) loses to a file version.
        assert_eq!(
            chosen_version(
                "c61f043686a544863efc014114c42e844f905336",
                "3.14.40721.0918"
            )
            .as_deref(),
            Some("3.14.40721.0918")
        );
        // Neither parses: digits and separators decide.
        assert_eq!(
            chosen_version("1, 0, 0, 0", "1, 0, 0, 0").as_deref(),
            Some("1, 0, 0, 0")
        );
        assert_eq!(
            chosen_version("A", "3.0.1+b86b61b").as_deref(),
            Some("3.0.1+b86b61b")
        );
        assert_eq!(
            chosen_version("3.0.1+b86b61b", "A").as_deref(),
            Some("3.0.1+b86b61b")
        );
        assert_eq!(
            chosen_version("Release 73", "").as_deref(),
            Some("Release 73")
        );
        assert_eq!(chosen_version("", "Build 7").as_deref(), Some("Build 7"));
        assert_eq!(chosen_version("A", "").as_deref(), Some("A"));
        assert_eq!(chosen_version("", ""), None);
    }

    #[test]
    fn identifying_strings_are_kept_as_properties() {
        let package = to_package(&strings(&[
            ("CompanyName", "MONO development team"),
            ("ProductName", "MONO CLI"),
            ("ProductVersion", "4.0.0.0"),
            ("InternalName", "Mono.Btls.Interface"),
            ("LegalCopyright", "(c) 2016 Xamarin"),
            ("Comments", " "),
        ]))
        .unwrap();
        assert_eq!(package.ecosystem, Ecosystem::Nuget);
        assert_eq!(
            package.properties,
            strings(&[
                ("dotnet:companyName", "MONO development team"),
                ("dotnet:internalName", "Mono.Btls.Interface"),
                ("dotnet:productName", "MONO CLI"),
                ("dotnet:productVersion", "4.0.0.0"),
            ])
        );
    }
}
