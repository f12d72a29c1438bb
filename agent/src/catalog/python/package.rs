//! Python metadata records as [`Package`]s.

use super::parse::PythonRecord;
use crate::package::{Ecosystem, Identity, Package};

/// Longest `License` value taken as a licence name; longer ones are the licence's text.
const MAX_LICENSE_NAME_LEN: usize = 100;

/// The installed distribution a metadata file describes, or `None` when it names none
/// or names the interpreter itself (`Python-2.7.egg-info` in `lib-dynload`), as syft
/// decides. The name is kept as written; purls normalise it.
pub fn to_package(record: PythonRecord) -> Option<Package> {
    let name = record.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() || name == "Python" {
        return None;
    }
    let version = record.version.as_deref().map(str::trim).unwrap_or_default();
    let mut package = Package::new(Ecosystem::Python, name, version);
    package.licenses = licenses(&record);
    Some(package.with_identity(identity))
}

/// `pkg:pypi/<PEP 503 name>@<version>`; Trivy's `python-pkg`.
pub fn identity(package: &Package) -> Identity {
    Identity {
        purl_type: "pypi".to_owned(),
        name: pep503_normalize(&package.name),
        version: Some(package.version.clone()),
        trivy_type: Some("python-pkg".to_owned()),
        ..Identity::default()
    }
}

/// PEP 503 name normalisation: lower case, every run of `-`, `_` and `.` becomes one `-`
/// (`zope.interface` → `zope-interface`). The purl crate only lower-cases and maps `_`.
fn pep503_normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    out
}

/// `License-Expression`, else a short `License`, else the `License ::` classifiers'
/// last segments (`MIT License`).
fn licenses(record: &PythonRecord) -> Vec<String> {
    let usable = |value: &&str| !value.is_empty() && !value.eq_ignore_ascii_case("UNKNOWN");
    if let Some(expression) = record
        .license_expression
        .as_deref()
        .map(str::trim)
        .filter(usable)
    {
        return vec![expression.to_owned()];
    }
    let short_license = record
        .license
        .as_deref()
        .map(str::trim)
        .filter(usable)
        .filter(|license| !license.contains('\n') && license.len() <= MAX_LICENSE_NAME_LEN);
    if let Some(license) = short_license {
        return vec![license.to_owned()];
    }
    let mut names: Vec<String> = Vec::new();
    for classifier in &record.license_classifiers {
        let Some(name) = classifier.rsplit("::").next().map(str::trim) else {
            continue;
        };
        // `License :: OSI Approved` alone says nothing about which licence.
        if name == "License" || name == "OSI Approved" || names.iter().any(|n| n == name) {
            continue;
        }
        names.push(name.to_owned());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::{distro, purl_of};

    fn python(name: &str, version: &str) -> Package {
        Package::new(Ecosystem::Python, name, version).with_identity(identity)
    }

    #[test]
    fn pypi_name_is_normalized_per_pep_503() {
        let debian = distro("debian", "12.5");
        let requests = python("requests", "2.31.0");
        assert_eq!(
            purl_of(&requests, Some(&debian)),
            "pkg:pypi/requests@2.31.0"
        );
        let zope = python("zope.interface", "6.2");
        assert_eq!(purl_of(&zope, None), "pkg:pypi/zope-interface@6.2");
        let flask = python("Flask-SQLAlchemy", "3.1.1");
        assert_eq!(purl_of(&flask, None), "pkg:pypi/flask-sqlalchemy@3.1.1");
        let odd = python("Foo._-Bar", "1.0");
        assert_eq!(purl_of(&odd, None), "pkg:pypi/foo-bar@1.0");
    }

    #[test]
    fn language_packages_have_no_source() {
        assert_eq!(python("requests", "2.31.0").identity.source, None);
    }

    fn record(name: &str) -> PythonRecord {
        PythonRecord {
            name: Some(name.into()),
            version: Some("1.0".into()),
            ..PythonRecord::default()
        }
    }

    #[test]
    fn missing_or_blank_name_gives_no_package() {
        assert!(to_package(PythonRecord::default()).is_none());
        assert!(to_package(record("  ")).is_none());
    }

    #[test]
    fn missing_version_gives_an_empty_version() {
        let mut record = record("pkg");
        record.version = None;
        assert_eq!(to_package(record).unwrap().version, "");
    }

    #[test]
    fn unknown_license_falls_back_to_classifiers() {
        let mut record = record("pkg");
        record.license = Some("UNKNOWN".into());
        record.license_classifiers = vec![
            "License :: OSI Approved".into(),
            "License :: OSI Approved :: MIT License".into(),
            "License :: OSI Approved :: MIT License".into(),
            "License :: Public Domain".into(),
        ];
        assert_eq!(
            to_package(record).unwrap().licenses,
            ["MIT License", "Public Domain"]
        );
    }

    #[test]
    fn overlong_single_line_license_is_not_a_name() {
        let mut record = record("pkg");
        record.license = Some("x".repeat(MAX_LICENSE_NAME_LEN + 1));
        assert!(to_package(record).unwrap().licenses.is_empty());
    }
}
