//! `package.json` documents as [`Package`]s.

use super::parse::Manifest;
use crate::package::{Ecosystem, Identity, Package};

/// Longest licence string kept; longer ones are not names.
const MAX_LICENSE_LEN: usize = 256;

/// The package a document describes. Like syft, a document without a name is no
/// package, one without a version is kept with an empty version, and `private` packages
/// (an application's own `package.json`) are kept.
pub fn to_package(manifest: Manifest) -> Option<Package> {
    let name = manifest.name.filter(|name| !name.trim().is_empty())?;
    let version = manifest
        .version
        .filter(|version| !version.trim().is_empty())
        .unwrap_or_default();
    let mut package = Package::new(Ecosystem::Npm, name, version);
    package.licenses = licenses(&manifest.license, &manifest.licenses);
    Some(package.with_identity(identity))
}

/// `pkg:npm/%40scope/name@<version>`: the scope of `@scope/name` is the namespace (the
/// purl crate percent-encodes its `@`); Trivy's `node-pkg`.
pub fn identity(package: &Package) -> Identity {
    let (namespace, name) = match package.name.split_once('/') {
        Some((scope, name)) if scope.starts_with('@') => {
            (Some(scope.to_string()), name.to_string())
        }
        _ => (None, package.name.clone()),
    };
    Identity {
        purl_type: "npm".to_owned(),
        namespace,
        name,
        version: Some(package.version.clone()),
        trivy_type: Some("node-pkg".to_owned()),
        ..Identity::default()
    }
}

/// `license` (a string, or `{ "type": … }` in old packages), else the legacy `licenses`
/// array.
fn licenses(license: &[String], legacy: &[String]) -> Vec<String> {
    let usable = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .map(|name| name.trim())
            .filter(|name| !name.is_empty() && name.len() <= MAX_LICENSE_LEN)
            .map(str::to_owned)
            .collect()
    };
    let current = usable(license);
    if current.is_empty() {
        usable(legacy)
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::purl_of;

    #[test]
    fn npm_scope_is_a_percent_encoded_namespace() {
        let babel = Package::new(Ecosystem::Npm, "@babel/core", "7.24.0").with_identity(identity);
        assert_eq!(purl_of(&babel, None), "pkg:npm/%40babel/core@7.24.0");
        let lodash = Package::new(Ecosystem::Npm, "lodash", "4.17.21").with_identity(identity);
        assert_eq!(purl_of(&lodash, None), "pkg:npm/lodash@4.17.21");
    }

    fn manifest(name: Option<&str>, version: Option<&str>) -> Manifest {
        Manifest {
            name: name.map(Into::into),
            version: version.map(Into::into),
            ..Manifest::default()
        }
    }

    #[test]
    fn document_without_name_is_no_package() {
        assert!(to_package(manifest(None, Some("1.0.0"))).is_none());
        assert!(to_package(manifest(Some(" "), Some("1.0.0"))).is_none());
    }

    #[test]
    fn document_without_version_is_a_package_with_an_empty_version() {
        let package = to_package(manifest(Some("a"), None)).unwrap();
        assert_eq!(package.version, "");
        let package = to_package(manifest(Some("a"), Some("  "))).unwrap();
        assert_eq!(package.version, "");
    }

    #[test]
    fn blank_license_falls_back_to_legacy_licenses() {
        let legacy = ["BSD".to_owned(), " ".to_owned()];
        assert_eq!(licenses(&[" ".to_owned()], &legacy), ["BSD"]);
        assert_eq!(licenses(&[], &legacy), ["BSD"]);
    }

    #[test]
    fn license_wins_over_legacy_licenses() {
        assert_eq!(licenses(&["MIT".to_owned()], &["BSD".to_owned()]), ["MIT"]);
    }

    #[test]
    fn overlong_licence_string_is_not_a_name() {
        assert!(licenses(&["x".repeat(MAX_LICENSE_LEN + 1)], &[]).is_empty());
    }
}
