//! Gemspec records as [`Package`]s.

use super::parse::Gemspec;
use crate::package::{Ecosystem, Identity, Package};

/// Longest licence string kept; longer ones are not names.
const MAX_LICENSE_LEN: usize = 256;

/// The gem a gemspec describes; like syft, one without a name or a version is none.
pub fn to_package(spec: Gemspec) -> Option<Package> {
    let name = spec.name.trim();
    let version = spec.version.trim();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let mut package = Package::new(Ecosystem::Gem, name, version);
    package.licenses = spec
        .licenses
        .into_iter()
        .filter(|license| license.len() <= MAX_LICENSE_LEN)
        .collect();
    Some(package.with_identity(identity))
}

/// `pkg:gem/<name>@<version>`; Trivy's `gemspec`.
pub fn identity(package: &Package) -> Identity {
    Identity {
        purl_type: "gem".to_owned(),
        name: package.name.clone(),
        version: Some(package.version.clone()),
        trivy_type: Some("gemspec".to_owned()),
        ..Identity::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemspec_without_version_is_no_package() {
        let spec = Gemspec {
            name: "rack".into(),
            ..Gemspec::default()
        };
        assert!(to_package(spec).is_none());
    }

    #[test]
    fn gemspec_without_name_is_no_package() {
        let spec = Gemspec {
            version: "1.0".into(),
            ..Gemspec::default()
        };
        assert!(to_package(spec).is_none());
    }
}
