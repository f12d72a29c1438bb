//! apk records as [`Package`]s.

use super::parse::ApkRecord;
use crate::catalog::source_package;
use crate::package::{Ecosystem, Identity, Package, SourcePackage};

/// The package an installed-database entry describes. The origin becomes the source
/// package, with no version of its own: apk builds every subpackage of an origin at the
/// origin's version.
pub fn to_package(record: ApkRecord) -> Package {
    let mut package = Package::new(Ecosystem::Apk, record.name, record.version);
    package.arch = record.arch;
    package.source = record.origin.map(|name| SourcePackage {
        name,
        ..SourcePackage::default()
    });
    package.licenses = record.license.as_deref().map(licenses).unwrap_or_default();
    package.with_identity(identity)
}

/// `pkg:apk/<distribution>/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl`: apk has no
/// epochs; `upstream` (not in the purl spec; grype and Dependency-Track's OSV matching use
/// it) names the origin when it differs from the package.
pub fn identity(package: &Package) -> Identity {
    let source = source_package::unsplit(package);
    // apk has no epochs.
    let upstream =
        (package.source.is_some() && source.name != package.name).then(|| source.name.clone());
    Identity::os_package("apk", package, upstream, source)
}

/// Splits an `L:` value the way syft does: an SPDX expression (`MPL-2.0 AND MIT`) is one
/// licence; older space-separated lists (`GPL2 LGPL2`) are several.
fn licenses(value: &str) -> Vec<String> {
    let value = value.trim();
    let is_expression = value.contains('(')
        || value
            .split_whitespace()
            .any(|word| matches!(word, "AND" | "OR" | "WITH" | "and" | "or" | "with"));
    if is_expression {
        vec![value.to_owned()]
    } else {
        value.split_whitespace().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::{distro, purl_of};

    fn apk(name: &str, version: &str, origin: &str) -> Package {
        let mut package = Package::new(Ecosystem::Apk, name, version);
        package.arch = Some("x86_64".to_string());
        package.source = Some(SourcePackage {
            name: origin.to_string(),
            ..SourcePackage::default()
        });
        package.with_identity(identity)
    }

    #[test]
    fn apk_names_origin_only_when_it_differs() {
        let alpine = distro("alpine", "3.18.4");
        let musl = apk("musl", "1.2.4-r2", "musl");
        assert_eq!(
            purl_of(&musl, Some(&alpine)),
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
        );
        let libcrypto = apk("libcrypto3", "3.1.4-r5", "openssl");
        assert_eq!(
            purl_of(&libcrypto, Some(&alpine)),
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.18.4&upstream=openssl"
        );
    }

    #[test]
    fn apk_source_keeps_full_version() {
        let libcrypto = apk("libcrypto3", "3.1.4-r5", "openssl");
        let src = libcrypto.identity.source.unwrap();
        assert_eq!(src.name, "openssl");
        assert_eq!(src.version, "3.1.4-r5");
        assert_eq!(src.release, None);
    }

    #[test]
    fn spdx_expression_is_one_licence() {
        assert_eq!(licenses("MPL-2.0 AND MIT"), ["MPL-2.0 AND MIT"]);
        assert_eq!(
            licenses("GPL-2.0-or-later WITH Linux-syscall-note"),
            ["GPL-2.0-or-later WITH Linux-syscall-note"]
        );
        assert_eq!(licenses("(MIT OR Apache-2.0)"), ["(MIT OR Apache-2.0)"]);
    }

    #[test]
    fn space_separated_legacy_licences_are_split() {
        assert_eq!(licenses("GPL2 LGPL2"), ["GPL2", "LGPL2"]);
        assert_eq!(licenses("  MIT "), ["MIT"]);
    }

    #[test]
    fn package_without_origin_has_no_source() {
        let package = to_package(ApkRecord {
            name: "a".into(),
            version: "1-r0".into(),
            ..ApkRecord::default()
        });
        assert_eq!(package.source, None);
        assert!(package.licenses.is_empty());
    }
}
