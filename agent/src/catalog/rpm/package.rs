//! rpm header records → packages.

use crate::package::{Ecosystem, Package, SourcePackage};

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
    package
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
