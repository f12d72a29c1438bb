//! apk records as [`Package`]s.

use super::parse::ApkRecord;
use crate::package::{Ecosystem, Package, SourcePackage};

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
    package
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
