//! Java archive records as [`Package`]s, named as syft 1.18 names them.

use std::collections::BTreeMap;

use super::parse::{Archive, PomLicense, PomProperties};
use crate::license::{self, Normalized};
use crate::package::{Ecosystem, Identity, Package};

/// Property holding where a package nested in another archive was found
/// (`/app/shop.war:WEB-INF/lib/x.jar`); the file's own path is the package's path.
pub const NESTED_PATH_PROPERTY: &str = "java_archive_path";

/// Manifest attributes that may name the artifact, by priority (after the file name).
const NAME_FIELDS: [&str; 5] = [
    "Name",
    "Bundle-Name",
    "Short-Name",
    "Extension-Name",
    "Implementation-Title",
];
/// Manifest attributes that may state the version, by priority (after the file name).
const VERSION_FIELDS: [&str; 3] = [
    "Implementation-Version",
    "Specification-Version",
    "Plugin-Version",
];
/// Manifest attributes that may hold a group id; the secondary ones are tried only when
/// no primary one gives one (syft's lists).
const PRIMARY_GROUP_FIELDS: [&str; 8] = [
    "Group-Id",
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Vendor-Id",
    "Implementation-Title",
    "Bundle-Activator",
];
const SECONDARY_GROUP_FIELDS: [&str; 3] = ["Automatic-Module-Name", "Main-Class", "Package"];
/// Prefixes a manifest value needs to be taken for a group id. syft compares without a
/// dot, so `commons-io` counts too (it is that artifact's real group).
const GROUP_PREFIXES: [&str; 5] = ["com", "org", "net", "io", "be"];

/// The packages one archive holds: one per `pom.properties`, or when it has none, the one
/// its manifest and file name describe.
///
/// Licences, as syft 1.18 finds them without network, in this order: the manifest's, else
/// those of the archive's licence files, for the archive's own package (its
/// `pom.properties` when it has one); else the `pom.xml` beside each `pom.properties`.
/// Of licence files, only the full text of the Apache License 2.0 is recognised (see
/// [`identify_license_text`]); syft's scanner knows every SPDX licence text.
pub fn to_packages(archive: &Archive) -> Vec<Package> {
    let own_licenses = own_licenses(archive);
    let mut packages: Vec<Package> = if archive.poms.is_empty() {
        archive
            .manifest
            .as_ref()
            .and_then(|manifest| from_manifest(&archive.file_name, manifest))
            .map(|mut package| {
                package.licenses.clone_from(&own_licenses);
                package
            })
            .into_iter()
            .collect()
    } else {
        archive
            .poms
            .iter()
            .map(|pom| {
                let mut package = from_pom(pom);
                if !own_licenses.is_empty() && is_own_pom(archive, pom) {
                    package.licenses.clone_from(&own_licenses);
                }
                package
            })
            .collect()
    };
    if archive.depth > 0 {
        for package in &mut packages {
            package
                .properties
                .insert(NESTED_PATH_PROPERTY.to_owned(), archive.location.clone());
        }
    }
    packages
}

/// The licences the archive states for itself: its manifest's, else its licence files'.
fn own_licenses(archive: &Archive) -> Vec<String> {
    let stated = archive
        .manifest
        .as_ref()
        .map(manifest_licenses)
        .unwrap_or_default();
    if !stated.is_empty() {
        return stated;
    }
    let mut identified: Vec<String> = archive
        .license_texts
        .iter()
        .filter_map(|text| identify_license_text(text))
        .map(str::to_owned)
        .collect();
    identified.dedup();
    identified
}

/// The Apache License 2.0's title and the line that ends its terms: a file holding both,
/// in this order, holds the whole licence (maybe followed by its appendix or by notices).
const APACHE_2_TITLE: &str = "apache license version 2.0, january 2004";
const APACHE_2_END: &str = "end of terms and conditions";
/// How far into the (white-space-collapsed) text the title may start.
const MAX_TITLE_OFFSET: usize = 200;

/// The SPDX id of a licence file's text, when it is the Apache License 2.0, by far the
/// most common one in Java archives (commons-io, guice, plexus-utils ship it as
/// `META-INF/LICENSE(.txt)`). Other texts are not identified.
fn identify_license_text(text: &str) -> Option<&'static str> {
    let words = text
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ");
    // The title opens the file, bar a line or two: a text that only quotes the licence
    // further down is some other file (a notice, a bundle of third-party licences).
    let title = words
        .find(APACHE_2_TITLE)
        .filter(|&at| at < MAX_TITLE_OFFSET)?;
    words
        .get(title..)?
        .contains(APACHE_2_END)
        .then_some("Apache-2.0")
}

/// `groupId:artifactId`; like syft, the artifact id stands in for a missing group (cut
/// at OSGi directives when it looks like a group id itself).
fn from_pom(pom: &PomProperties) -> Package {
    let artifact = pom.artifact_id.trim();
    let group = match clean_group(&pom.group_id) {
        "" if artifact.contains('.') => clean_group(artifact),
        "" => artifact,
        group => group,
    };
    let mut package = Package::new(
        Ecosystem::Maven,
        maven_name(group, artifact),
        pom.version.trim(),
    );
    package.licenses = pom.licenses.iter().filter_map(pom_license).collect();
    package.with_identity(identity)
}

/// `pkg:maven/<group>/<artifact>@<version>`: the group of `group:artifact` is the
/// namespace; Trivy's `jar`.
pub fn identity(package: &Package) -> Identity {
    let (namespace, name) = match package.name.split_once(':') {
        Some((group, artifact)) => (Some(group.to_string()), artifact.to_string()),
        None => (None, package.name.clone()),
    };
    Identity {
        purl_type: "maven".to_owned(),
        namespace,
        name,
        version: Some(package.version.clone()),
        trivy_type: Some("jar".to_owned()),
        ..Identity::default()
    }
}

/// The one value that says best which licence a `pom.xml` entry is: its name when that is
/// an SPDX id or expression (`MIT`, `Apache License, Version 2.0`), else its URL when that
/// is a known licence's text (`Apache Software Licenses` with the Apache 2.0 URL), else
/// the name, else the URL. syft keeps both, as a name with a URL; the package model holds
/// one string per licence, and an id is what SBOM consumers can resolve.
fn pom_license(entry: &PomLicense) -> Option<String> {
    let names_a_licence = |value: &str| {
        matches!(
            license::normalize(value),
            Some(Normalized::Id(_) | Normalized::Expression(_))
        )
    };
    let (name, url) = (entry.name.as_str(), entry.url.as_str());
    let chosen = if name.is_empty() || (!names_a_licence(name) && names_a_licence(url)) {
        url
    } else {
        name
    };
    (!chosen.is_empty()).then(|| chosen.to_owned())
}

/// Whether `pom` describes the archive itself rather than something shaded into it: the
/// only one, or the one whose artifact id matches the file name (syft's test: equal when
/// one of them is, else either one extending the other).
fn is_own_pom(archive: &Archive, pom: &PomProperties) -> bool {
    if archive.poms.len() == 1 {
        return true;
    }
    let (name, _) = split_file_name(&archive.file_name);
    let artifact = pom.artifact_id.trim();
    if name.is_empty() || artifact.is_empty() {
        return false;
    }
    if archive.poms.iter().any(|p| p.artifact_id.trim() == name) {
        return artifact == name;
    }
    artifact.starts_with(name) || name.ends_with(artifact)
}

/// The licences a manifest states (`Bundle-License`, Jenkins' `Plugin-License-Name`), as
/// syft reads them. OSGi's `Bundle-License` is often the URL of the licence text
/// (`http://www.apache.org/licenses/LICENSE-2.0.txt`): [`crate::license`] maps the known
/// ones to their ids and keeps the others as URLs.
fn manifest_licenses(manifest: &BTreeMap<String, String>) -> Vec<String> {
    ["Bundle-License", "Plugin-License-Name"]
        .iter()
        .filter_map(|key| manifest.get(*key))
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The archive's own package: name and version from its file name first, then from the
/// manifest; the group from the manifest, else the name itself (as syft does).
fn from_manifest(file_name: &str, manifest: &BTreeMap<String, String>) -> Option<Package> {
    let (file_artifact, file_version) = split_file_name(file_name);
    let field = |fields: &[&str]| {
        fields
            .iter()
            .filter_map(|key| manifest.get(*key))
            .map(|value| value.trim())
            .find(|value| !value.is_empty())
            .unwrap_or_default()
    };
    let artifact = Some(file_artifact)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| field(&NAME_FIELDS));
    if artifact.is_empty() {
        return None;
    }
    let version = Some(file_version)
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| field(&VERSION_FIELDS));
    let group = manifest_group(manifest, &PRIMARY_GROUP_FIELDS)
        .or_else(|| manifest_group(manifest, &SECONDARY_GROUP_FIELDS))
        .unwrap_or(artifact);
    Some(
        Package::new(Ecosystem::Maven, maven_name(group, artifact), version)
            .with_identity(identity),
    )
}

fn maven_name(group: &str, artifact: &str) -> String {
    format!("{group}:{artifact}")
}

/// Of the domain-like values of `fields`, the first in sort order (as syft picks it).
fn manifest_group<'a>(manifest: &'a BTreeMap<String, String>, fields: &[&str]) -> Option<&'a str> {
    fields
        .iter()
        .filter_map(|key| manifest.get(*key))
        .filter(|value| {
            GROUP_PREFIXES
                .iter()
                .any(|prefix| value.starts_with(prefix))
        })
        .map(|value| clean_group(value))
        .filter(|group| !group.is_empty())
        .min()
}

/// A group id without OSGi directives or fragments (`org.foo;singleton:=true` →
/// `org.foo`).
fn clean_group(value: &str) -> &str {
    value.split([';', '#']).next().unwrap_or_default().trim()
}

/// Splits `name-version.ext` the way syft does: the first dash-separated part that starts
/// with a digit, `build<digit>` or `r<digit>`/`rc<digit>` begins the version. A name must
/// start with a letter; a file name that does not gives neither.
fn split_file_name(file_name: &str) -> (&str, &str) {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    if !stem.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return ("", "");
    }
    let mut offset = 0;
    for part in stem.split('-') {
        if offset > 0 && starts_version(part) {
            let name = stem.get(..offset - 1).unwrap_or_default();
            let version = stem.get(offset..).unwrap_or_default();
            return (name, version);
        }
        offset += part.len() + 1;
    }
    (stem, "")
}

fn starts_version(part: &str) -> bool {
    let digit_after = |prefix: &str| {
        part.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    digit_after("") || digit_after("build") || digit_after("rc") || digit_after("r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_at_the_first_version_like_part() {
        for (file, expected) in [
            ("some-package-4.0.1.jar", ("some-package", "4.0.1")),
            ("my-http2-server-5.jar", ("my-http2-server", "5")),
            ("ironman-r4-2009.jar", ("ironman", "r4-2009")),
            ("jetpack-build235-rc5.war", ("jetpack", "build235-rc5")),
            ("commons-lang3.jar", ("commons-lang3", "")),
            ("1up-2.0.jar", ("", "")),
            ("-", ("", "")),
        ] {
            assert_eq!(split_file_name(file), expected, "{file}");
        }
    }

    #[test]
    fn only_the_whole_apache_2_text_near_the_top_is_identified() {
        // commons-io's META-INF/LICENSE.txt.
        let apache = include_str!("testdata/apache-2.0.txt");
        assert_eq!(identify_license_text(apache), Some("Apache-2.0"));
        // Re-wrapped, as some projects ship it.
        let rewrapped = apache.split_whitespace().collect::<Vec<_>>().join("\n");
        assert_eq!(identify_license_text(&rewrapped), Some("Apache-2.0"));
        let terms_only = apache.split("END OF TERMS").next().unwrap_or_default();
        assert_eq!(identify_license_text(terms_only), None);
        let quoted = format!("{}{apache}", "Portions are under other terms. ".repeat(10));
        assert_eq!(identify_license_text(&quoted), None);
        assert_eq!(
            identify_license_text("Licensed under the Apache License, Version 2.0"),
            None
        );
        assert_eq!(identify_license_text(""), None);
    }

    #[test]
    fn osgi_directives_are_not_part_of_the_group() {
        assert_eq!(clean_group("org.foo;singleton:=true"), "org.foo");
    }

    #[test]
    fn artifact_that_looks_like_a_group_stands_in_for_a_missing_group() {
        let pom = PomProperties {
            group_id: String::new(),
            artifact_id: "org.example.thing".into(),
            version: "1".into(),
            licenses: Vec::new(),
        };
        assert_eq!(from_pom(&pom).name, "org.example.thing:org.example.thing");
        let pom = PomProperties {
            artifact_id: "thing".into(),
            ..pom
        };
        assert_eq!(from_pom(&pom).name, "thing:thing");
    }

    #[test]
    fn manifest_group_needs_a_domain_prefix_and_falls_back_to_the_name() {
        let manifest = BTreeMap::from([
            ("Bundle-SymbolicName".into(), "javax.inject".into()),
            ("Automatic-Module-Name".into(), "org.example.inject".into()),
        ]);
        let package = from_manifest("inject-1.0.jar", &manifest).unwrap();
        assert_eq!(package.name, "org.example.inject:inject");
        let manifest = BTreeMap::from([("Bundle-SymbolicName".into(), "javax.inject".into())]);
        let package = from_manifest("inject-1.0.jar", &manifest).unwrap();
        assert_eq!(package.name, "inject:inject");
    }

    #[test]
    fn manifest_without_any_name_is_no_package() {
        let manifest = BTreeMap::from([("Implementation-Version".into(), "1.0".into())]);
        assert!(from_manifest("1234.jar", &manifest).is_none());
    }

    #[test]
    fn manifest_name_and_version_are_used_when_the_file_name_has_none() {
        let manifest = BTreeMap::from([
            ("Implementation-Title".into(), "Widget".into()),
            ("Bundle-Name".into(), "widget-bundle".into()),
            ("Specification-Version".into(), "2.1".into()),
            (
                "Bundle-SymbolicName".into(),
                "com.example.widget;singleton:=true".into(),
            ),
        ]);
        let package = from_manifest("1234.jar", &manifest).unwrap();
        assert_eq!(package.name, "com.example.widget:widget-bundle");
        assert_eq!(package.version, "2.1");
    }
}
