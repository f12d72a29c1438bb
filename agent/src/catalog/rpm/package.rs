//! rpm header records → packages.

use crate::catalog::source_package::{self, BinaryEpoch};
use crate::package::{Ecosystem, Identity, Package, SourcePackage};

use super::parse::RpmRecord;

/// Property holding `SOURCERPM` exactly as the header states it: syft's purl puts it
/// whole in the `upstream` qualifier, and `.nosrc.rpm` names cannot be rebuilt from the
/// split [`SourcePackage`].
pub const PROP_SOURCE_RPM: &str = "rpm:sourcerpm";

/// Turns a header record into a package: version is `VERSION-RELEASE`, the epoch stays
/// separate, and the source package comes from the `SOURCERPM` file name.
pub fn to_package(record: RpmRecord) -> Package {
    let mut package = Package::new(
        Ecosystem::Rpm,
        record.name,
        format!("{}-{}", record.version, record.release),
    );
    package.epoch = record.epoch;
    package.arch = record.arch.filter(|arch| !arch.is_empty());
    if let Some(source_rpm) = record.source_rpm.filter(|s| !s.is_empty()) {
        package.source = parse_source_rpm(&source_rpm);
        package
            .properties
            .insert(PROP_SOURCE_RPM.to_owned(), source_rpm);
    }
    package
        .licenses
        .extend(record.license.filter(|l| !l.is_empty()));
    package.with_identity(identity)
}

/// `pkg:rpm/<distribution>/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm`:
/// the epoch is a qualifier, not part of the version; `upstream` (not in the purl spec;
/// grype and Dependency-Track's OSV matching use it) is the source RPM's file name, which
/// carries no epoch, whenever the header names one.
pub fn identity(package: &Package) -> Identity {
    let source = source_package::split(package, BinaryEpoch::Always);
    let upstream = package.source.as_ref().map(|_| match &source.release {
        Some(release) => format!("{}-{}-{release}.src.rpm", source.name, source.version),
        None => format!("{}-{}.src.rpm", source.name, source.version),
    });
    Identity::os_package("rpm", package, upstream, source)
}

/// Splits `name-version-release.src.rpm` (or `.nosrc.rpm`). rpm names may contain `-`,
/// versions and releases may not, so the last two `-` separate the fields. The source's
/// epoch is not in the file name; `None` means "the binary package's", as Trivy assumes.
pub fn parse_source_rpm(file_name: &str) -> Option<SourcePackage> {
    let nvr = file_name
        .strip_suffix(".src.rpm")
        .or_else(|| file_name.strip_suffix(".nosrc.rpm"))?;
    let (name_version, release) = nvr.rsplit_once('-')?;
    let (name, version) = name_version.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some(SourcePackage {
        name: name.to_owned(),
        version: Some(version.to_owned()),
        release: Some(release.to_owned()),
        epoch: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::{distro, purl_of};
    use crate::package::SourceIdentity;

    /// openssl-libs 1:3.0.7-27.el9 of RHEL 9.
    fn openssl_libs() -> Package {
        let mut openssl = Package::new(Ecosystem::Rpm, "openssl-libs", "3.0.7-27.el9");
        openssl.epoch = Some(1);
        openssl.arch = Some("x86_64".to_string());
        openssl.source = Some(SourcePackage {
            name: "openssl".into(),
            version: Some("3.0.7".into()),
            release: Some("27.el9".into()),
            epoch: None,
        });
        openssl.with_identity(identity)
    }

    #[test]
    fn rpm_on_rhel_uses_redhat_and_the_source_rpm_file_name() {
        assert_eq!(
            purl_of(&openssl_libs(), Some(&distro("rhel", "9.4"))),
            "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=redhat-9.4&epoch=1\
             &upstream=openssl-3.0.7-27.el9.src.rpm"
        );
    }

    #[test]
    fn rpm_source_takes_binary_epoch() {
        let src = openssl_libs().identity.source.unwrap();
        assert_eq!(
            src,
            SourceIdentity {
                name: "openssl".into(),
                epoch: Some(1),
                version: "3.0.7".into(),
                release: Some("27.el9".into()),
            }
        );
    }

    fn source(name: &str, version: &str, release: &str) -> Option<SourcePackage> {
        Some(SourcePackage {
            name: name.into(),
            version: Some(version.into()),
            release: Some(release.into()),
            epoch: None,
        })
    }

    #[test]
    fn source_rpm_names_with_dashes_split_at_the_last_two() {
        // Names as they appear in RHEL 9 and Fedora rpm databases.
        assert_eq!(
            parse_source_rpm("python-setuptools-53.0.0-12.el9.src.rpm"),
            source("python-setuptools", "53.0.0", "12.el9")
        );
        assert_eq!(
            parse_source_rpm("glibc-2.34-100.el9_4.2.src.rpm"),
            source("glibc", "2.34", "100.el9_4.2")
        );
        assert_eq!(
            parse_source_rpm("kernel-6.8.5-301.fc40.nosrc.rpm"),
            source("kernel", "6.8.5", "301.fc40")
        );
    }

    #[test]
    fn source_rpm_that_is_not_a_file_name_gives_no_source() {
        for bad in [
            "(none)",
            "bash.src.rpm",
            "bash-5.1.src.rpm",
            "-1-2.src.rpm",
            "bash-5.1-2.rpm",
        ] {
            assert_eq!(parse_source_rpm(bad), None, "{bad}");
        }
    }

    #[test]
    fn record_becomes_a_package_with_version_release_and_separate_epoch() {
        let package = to_package(RpmRecord {
            name: "libgreet".into(),
            version: "0.9".into(),
            release: "1".into(),
            epoch: Some(1),
            arch: Some("noarch".into()),
            source_rpm: Some("greeter-1.0-1.src.rpm".into()),
            license: Some("LGPL-2.1-only".into()),
        });
        assert_eq!(package.ecosystem, Ecosystem::Rpm);
        assert_eq!(package.version, "0.9-1");
        assert_eq!(package.full_version(), "1:0.9-1");
        assert_eq!(package.arch.as_deref(), Some("noarch"));
        assert_eq!(package.source, source("greeter", "1.0", "1"));
        assert_eq!(package.properties[PROP_SOURCE_RPM], "greeter-1.0-1.src.rpm");
        assert_eq!(package.licenses, ["LGPL-2.1-only"]);
    }
}
