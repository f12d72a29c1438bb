//! `installed.json` records as [`Package`]s.

use super::parse::InstalledPackage;
use crate::package::{Ecosystem, Identity, Package};

/// Longest licence string kept; longer ones are not names.
const MAX_LICENSE_LEN: usize = 256;

/// The package a record describes; one without a name is none. The version is kept as
/// Composer states it (`v1.28.0` stays `v1.28.0`, as in syft and on Packagist).
pub fn to_package(record: InstalledPackage) -> Option<Package> {
    let name = record.name.filter(|name| !name.trim().is_empty())?;
    let version = record.version.unwrap_or_default();
    let mut package = Package::new(Ecosystem::Composer, name.trim(), version.trim());
    package.licenses = record
        .license
        .into_iter()
        .map(|license| license.trim().to_owned())
        .filter(|license| !license.is_empty() && license.len() <= MAX_LICENSE_LEN)
        .collect();
    Some(package.with_identity(identity))
}

/// `pkg:composer/<vendor>/<name>@<version>`: the vendor of `vendor/name` is the
/// namespace; Trivy's `composer`.
pub fn identity(package: &Package) -> Identity {
    let (namespace, name) = match package.name.split_once('/') {
        Some((vendor, name)) => (Some(vendor.to_string()), name.to_string()),
        None => (None, package.name.clone()),
    };
    Identity {
        purl_type: "composer".to_owned(),
        namespace,
        name,
        version: Some(package.version.clone()),
        trivy_type: Some("composer".to_owned()),
        ..Identity::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_without_name_is_no_package() {
        let record = InstalledPackage {
            version: Some("1.0".into()),
            ..InstalledPackage::default()
        };
        assert!(to_package(record).is_none());
    }
}
