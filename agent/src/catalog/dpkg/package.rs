//! dpkg records as [`Package`]s.

use super::parse::DpkgRecord;
use crate::catalog::source_package::{self, BinaryEpoch};
use crate::license::{self, Normalized};
use crate::package::{Ecosystem, Identity, Package, SourcePackage};

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
    Some(package.with_identity(identity))
}

/// `pkg:deb/<distribution>/login@4.13%2Bdfsg1-1?arch=amd64&epoch=1&upstream=shadow`: the
/// epoch is a qualifier, not part of the version (purl-spec, Trivy, Dependency-Track; syft
/// puts it in the version). `upstream` (not in the purl spec; grype and Dependency-Track's
/// OSV matching use it) names the source package only when its name or version differs
/// from the binary's, as syft does.
pub fn identity(package: &Package) -> Identity {
    let source = source_package::split(package, BinaryEpoch::WithBinaryVersion);
    let upstream = package.source.as_ref().and_then(|_| {
        let same_version = source.full_version() == package.full_version();
        match (source.name == package.name, same_version) {
            (true, true) => None,
            (_, true) => Some(source.name.clone()),
            (_, false) => Some(format!("{}@{}", source.name, source.full_version())),
        }
    });
    Identity::os_package("deb", package, upstream, source)
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
    use crate::catalog::testutil::{distro, purl_of};
    use crate::package::SourceIdentity;

    fn deb(
        name: &str,
        version: &str,
        epoch: Option<u32>,
        source: Option<SourcePackage>,
    ) -> Package {
        let mut package = Package::new(Ecosystem::Deb, name, version);
        package.epoch = epoch;
        package.arch = Some("amd64".to_string());
        package.source = source;
        package.with_identity(identity)
    }

    fn source(name: &str, version: Option<&str>) -> SourcePackage {
        SourcePackage {
            name: name.to_string(),
            version: version.map(str::to_string),
            ..SourcePackage::default()
        }
    }

    #[test]
    fn deb_names_its_source_and_distro() {
        let libc6 = deb("libc6", "2.36-9+deb12u4", None, Some(source("glibc", None)));
        assert_eq!(
            purl_of(&libc6, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5&upstream=glibc"
        );
    }

    #[test]
    fn deb_epoch_is_a_qualifier_not_part_of_the_version() {
        let login = deb(
            "login",
            "4.13+dfsg1-1",
            Some(1),
            Some(source("shadow", None)),
        );
        assert_eq!(
            purl_of(&login, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1&upstream=shadow"
        );
    }

    #[test]
    fn deb_upstream_carries_the_source_version_when_it_differs() {
        // bsdutils 1:2.38.1-5+deb12u3 from `Source: util-linux (2.38.1-5+deb12u3)`.
        let bsdutils = deb(
            "bsdutils",
            "2.38.1-5+deb12u3",
            Some(1),
            Some(source("util-linux", Some("2.38.1-5+deb12u3"))),
        );
        assert_eq!(
            purl_of(&bsdutils, Some(&distro("debian", "12.11"))),
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12.11&epoch=1\
             &upstream=util-linux%402.38.1-5%2Bdeb12u3"
        );
    }

    #[test]
    fn deb_without_source_field_has_no_upstream() {
        let base = deb("base-files", "12.4+deb12u5", None, None);
        assert_eq!(
            purl_of(&base, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12.5"
        );
    }

    #[test]
    fn deb_source_without_version_takes_binary_version_and_epoch() {
        // login 1:4.13+dfsg1-1+deb12u1, `Source: shadow` (Debian 12 /var/lib/dpkg/status).
        let login = deb(
            "login",
            "4.13+dfsg1-1+deb12u1",
            Some(1),
            Some(source("shadow", None)),
        );
        let src = login.identity.source.unwrap();
        assert_eq!(
            src,
            SourceIdentity {
                name: "shadow".into(),
                epoch: Some(1),
                version: "4.13+dfsg1".into(),
                release: Some("1+deb12u1".into()),
            }
        );
        assert_eq!(src.full_version(), "1:4.13+dfsg1-1+deb12u1");
    }

    #[test]
    fn deb_stated_source_version_without_epoch_has_no_epoch() {
        // bsdutils 1:2.38.1-5+deb12u3, `Source: util-linux (2.38.1-5+deb12u3)`.
        let bsdutils = deb(
            "bsdutils",
            "2.38.1-5+deb12u3",
            Some(1),
            Some(source("util-linux", Some("2.38.1-5+deb12u3"))),
        );
        let src = bsdutils.identity.source.unwrap();
        assert_eq!(src.name, "util-linux");
        assert_eq!(src.epoch, None);
        assert_eq!(src.version, "2.38.1");
        assert_eq!(src.release.as_deref(), Some("5+deb12u3"));
    }

    #[test]
    fn deb_source_version_with_inline_epoch_is_split() {
        let package = deb(
            "foo",
            "2.0-1",
            None,
            Some(source("foo-src", Some("3:2.0-1"))),
        );
        let src = package.identity.source.unwrap();
        assert_eq!(src.epoch, Some(3));
        assert_eq!(src.version, "2.0");
        assert_eq!(src.release.as_deref(), Some("1"));
    }

    #[test]
    fn deb_native_source_has_no_release() {
        // cpp 4:12.2.0-3, `Source: gcc-defaults (1.203)`.
        let cpp = deb(
            "cpp",
            "12.2.0-3",
            Some(4),
            Some(source("gcc-defaults", Some("1.203"))),
        );
        let src = cpp.identity.source.unwrap();
        assert_eq!(src.full_version(), "1.203");
        assert_eq!(src.release, None);
    }

    #[test]
    fn deb_without_source_is_its_own_source() {
        let base = deb("base-files", "12.4+deb12u11", None, None);
        let src = base.identity.source.unwrap();
        assert_eq!(src.name, "base-files");
        assert_eq!(src.version, "12.4+deb12u11");
        assert_eq!(src.release, None);
    }

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
