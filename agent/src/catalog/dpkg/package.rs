//! dpkg records as [`Package`]s.

use super::parse::DpkgRecord;
use crate::license::{self, Normalized};
use crate::package::{Ecosystem, Package, SourcePackage};

/// Longest `License` value kept; longer ones are not licence names.
const MAX_LICENSE_LEN: usize = 512;

/// The package a stanza describes, or `None` when dpkg says its files are not on disk
/// (`deinstall ok config-files` after `apt-get remove`, `not-installed`).
///
/// Versions lose their epoch to [`Package::epoch`]. The source package is set when the
/// stanza has a `Source` field; its version is the one in parentheses, or the binary's
/// when there is none. [`SourcePackage::version`] is, like [`Package::version`], the
/// Debian version without epoch (`2.36-9+deb12u4`), and `release` stays empty. A
/// `Source` that is no package name is ignored: opkg control files put the build recipe
/// there (OpenWrt's `package/libs/toolchain`, Yocto's `busybox_1.36.1.bb`).
pub fn to_package(record: DpkgRecord) -> Option<Package> {
    if !files_on_disk(record.status.as_deref()) {
        return None;
    }
    let (epoch, version) = split_epoch(&record.version);
    let source = record
        .source
        .as_deref()
        .filter(|field| is_source_name(field))
        .map(|field| {
            let (name, source_version) = parse_source(field);
            let (epoch, version) = match source_version {
                Some(source_version) => split_epoch(source_version),
                None => (epoch, version),
            };
            SourcePackage {
                name: name.to_owned(),
                version: (!version.is_empty()).then(|| version.to_owned()),
                release: None,
                epoch,
            }
        });
    let mut package = Package::new(Ecosystem::Deb, record.package, version);
    package.epoch = epoch;
    package.arch = record.architecture;
    package.source = source;
    package.licenses = record.license.as_deref().map(licenses).unwrap_or_default();
    Some(package)
}

/// Whether a `Source` field starts with a Debian package name (policy 5.6.1, any case).
fn is_source_name(field: &str) -> bool {
    let name = field.split_whitespace().next().unwrap_or_default();
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The licences of an opkg `License` field: one SPDX id or expression, or, as OpenWrt
/// writes several, a space-separated list of them (`GPL-2.0-or-later BSD-3-Clause`);
/// anything else is one name.
fn licenses(field: &str) -> Vec<String> {
    let field = field.trim();
    if field.is_empty() || field.len() > MAX_LICENSE_LEN {
        return Vec::new();
    }
    let is_spdx = |value: &str| {
        matches!(
            license::normalize(value),
            Some(Normalized::Id(_) | Normalized::Expression(_))
        )
    };
    if !is_spdx(field) && field.split_whitespace().all(is_spdx) {
        return field.split_whitespace().map(str::to_owned).collect();
    }
    vec![field.to_owned()]
}

/// Whether a `Status: want flag state` value leaves the package's files installed. Only
/// the state matters: `deinstall ok installed` (marked for removal) is still there. A
/// stanza without `Status` (distroless `status.d`, opkg control files) is installed.
fn files_on_disk(status: Option<&str>) -> bool {
    let state = status.and_then(|status| status.split_whitespace().nth(2));
    !matches!(state, Some("not-installed" | "config-files"))
}

/// Splits `epoch:version`. A prefix that is not a number is left in the version, as
/// dpkg would refuse it anyway.
fn split_epoch(version: &str) -> (Option<u32>, &str) {
    match version.split_once(':') {
        Some((epoch, rest)) => match epoch.parse::<u32>() {
            Ok(epoch) => (Some(epoch), rest),
            Err(_) => (None, version),
        },
        None => (None, version),
    }
}

/// Splits `Source: name (version)` into its name and optional version.
fn parse_source(field: &str) -> (&str, Option<&str>) {
    let field = field.trim();
    let (name, rest) = field.split_once(char::is_whitespace).unwrap_or((field, ""));
    let version = rest
        .trim()
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::trim)
        .filter(|version| !version.is_empty());
    (name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, source: Option<&str>, status: Option<&str>) -> DpkgRecord {
        DpkgRecord {
            package: "pkg".into(),
            version: version.into(),
            architecture: Some("amd64".into()),
            source: source.map(Into::into),
            status: status.map(Into::into),
            license: None,
        }
    }

    #[test]
    fn non_numeric_epoch_stays_in_the_version() {
        let package = to_package(record("x:1.0", None, None)).unwrap();
        assert_eq!((package.epoch, package.version.as_str()), (None, "x:1.0"));
    }

    #[test]
    fn source_with_empty_parentheses_takes_the_binary_version() {
        let package = to_package(record("2:1.0-1", Some("src ()"), None)).unwrap();
        let source = package.source.unwrap();
        assert_eq!(source.name, "src");
        assert_eq!(source.version.as_deref(), Some("1.0-1"));
        assert_eq!(source.epoch, Some(2));
    }

    #[test]
    fn marked_for_removal_but_still_installed_is_reported() {
        assert!(to_package(record("1", None, Some("deinstall ok installed"))).is_some());
        assert!(to_package(record("1", None, Some("hold ok installed"))).is_some());
        assert!(to_package(record("1", None, Some("install ok unpacked"))).is_some());
    }

    #[test]
    fn purged_and_config_files_only_are_not_reported() {
        assert!(to_package(record("1", None, Some("purge ok not-installed"))).is_none());
        assert!(to_package(record("1", None, Some("deinstall ok config-files"))).is_none());
    }

    #[test]
    fn missing_version_gives_an_empty_version() {
        let package = to_package(record("", Some("src"), None)).unwrap();
        assert_eq!(package.version, "");
        assert_eq!(package.source.unwrap().version, None);
    }

    #[test]
    fn build_recipe_in_source_is_no_source_package() {
        for recipe in ["package/libs/toolchain", "busybox_1.36.1.bb"] {
            assert_eq!(
                to_package(record("1", Some(recipe), None)).unwrap().source,
                None
            );
        }
        let kept = to_package(record("1", Some("libcap2 (1:2.66-4)"), None)).unwrap();
        assert_eq!(kept.source.unwrap().name, "libcap2");
    }

    #[test]
    fn opkg_license_lists_are_split_only_when_every_item_is_spdx() {
        assert_eq!(licenses("GPL-2.0-or-later"), ["GPL-2.0-or-later"]);
        assert_eq!(
            licenses("GPL-2.0-or-later BSD-3-Clause"),
            ["GPL-2.0-or-later", "BSD-3-Clause"]
        );
        assert_eq!(licenses("MIT OR Apache-2.0"), ["MIT OR Apache-2.0"]);
        assert_eq!(licenses("Apache License 2.0"), ["Apache License 2.0"]);
        assert!(licenses("  ").is_empty());
        assert!(licenses(&"x".repeat(MAX_LICENSE_LEN + 1)).is_empty());
    }
}
