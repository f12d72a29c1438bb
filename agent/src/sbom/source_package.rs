//! The source package an OS package was built from, with what its metadata leaves out
//! filled in from the binary package.
//!
//! Vulnerability data for Debian and Alpine is keyed by source package, and Trivy (through
//! Dependency-Track) matches on the source name and version split into epoch, version and
//! release. Both the purl `upstream` qualifier and the `aquasecurity:trivy:Src*` properties
//! are derived from [`Source`].

use crate::package::{Ecosystem, Package};

/// Source package of an OS package, complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub epoch: Option<u32>,
    /// Version without epoch and release: deb upstream version (`4.13+dfsg1`), rpm
    /// version (`3.0.7`), apk full version (`1.2.4-r2`, apk has no separate release).
    pub version: String,
    /// deb revision (`1+deb12u1`) or rpm release (`27.el9`); absent for native Debian
    /// packages and for apk.
    pub release: Option<String>,
}

impl Source {
    /// Resolves the source of an OS package; `None` for language packages.
    ///
    /// Catalogers leave out what equals the binary package ([`crate::package::SourcePackage`]).
    /// Version and epoch go together: dpkg writes `Source: util-linux (2.38.1-5+deb12u3)` for
    /// `bsdutils 1:2.38.1-5+deb12u3`, so a stated source version without an epoch has none,
    /// and only a source without a version takes the binary's epoch. For rpm, whose source
    /// file name carries no epoch, the binary's epoch applies, as Trivy does.
    pub fn of(package: &Package) -> Option<Source> {
        let source = package.source.as_ref();
        let name = source
            .map(|s| s.name.trim())
            .filter(|name| !name.is_empty())
            .unwrap_or(&package.name)
            .to_string();
        let stated_version = source.and_then(|s| {
            s.version
                .as_deref()
                .map(|version| match s.release.as_deref() {
                    Some(release) => format!("{version}-{release}"),
                    None => version.to_string(),
                })
        });
        let stated_epoch = source.and_then(|s| s.epoch);

        match package.ecosystem {
            Ecosystem::Deb | Ecosystem::Rpm => {
                let (text, fallback_epoch) = match &stated_version {
                    Some(version) => (version.as_str(), None),
                    None => (package.version.as_str(), package.epoch),
                };
                let parts = split_version(text);
                let epoch = match package.ecosystem {
                    Ecosystem::Rpm => stated_epoch.or(parts.epoch).or(package.epoch),
                    _ => stated_epoch.or(parts.epoch).or(fallback_epoch),
                };
                Some(Source {
                    name,
                    epoch,
                    version: parts.version.to_string(),
                    release: parts.release.map(str::to_string),
                })
            }
            Ecosystem::Apk => Some(Source {
                name,
                epoch: None,
                version: stated_version.unwrap_or_else(|| package.version.clone()),
                release: None,
            }),
            Ecosystem::Python
            | Ecosystem::Npm
            | Ecosystem::Go
            | Ecosystem::Cargo
            | Ecosystem::Maven
            | Ecosystem::Gem
            | Ecosystem::Composer
            | Ecosystem::Nuget
            | Ecosystem::Binary
            | Ecosystem::Conda => None,
        }
    }

    /// Version as the package manager prints it: `[epoch:]version[-release]`.
    pub fn full_version(&self) -> String {
        let mut out = String::new();
        if let Some(epoch) = self.epoch {
            out.push_str(&epoch.to_string());
            out.push(':');
        }
        out.push_str(&self.version);
        if let Some(release) = &self.release {
            out.push('-');
            out.push_str(release);
        }
        out
    }
}

/// A version split the way dpkg (deb-version(7)) and rpm split it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VersionParts<'a> {
    epoch: Option<u32>,
    version: &'a str,
    release: Option<&'a str>,
}

/// Splits `[epoch:]version[-release]`: the epoch is a leading run of digits before the
/// first colon, the release what follows the last hyphen (both formats forbid a hyphen in
/// the release). Written by hand: it is three string cuts, and no maintained crate offers
/// the split for both formats without also bringing a comparison engine.
fn split_version(text: &str) -> VersionParts<'_> {
    let (epoch, rest) = match text.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (epoch.parse().ok(), rest)
        }
        _ => (None, text),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) if !version.is_empty() && !release.is_empty() => VersionParts {
            epoch,
            version,
            release: Some(release),
        },
        _ => VersionParts {
            epoch,
            version: rest,
            release: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::SourcePackage;

    fn deb(
        name: &str,
        version: &str,
        epoch: Option<u32>,
        source: Option<SourcePackage>,
    ) -> Package {
        let mut package = Package::new(Ecosystem::Deb, name, version);
        package.epoch = epoch;
        package.source = source;
        package
    }

    fn source(name: &str, version: Option<&str>) -> SourcePackage {
        SourcePackage {
            name: name.to_string(),
            version: version.map(str::to_string),
            ..SourcePackage::default()
        }
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
        let src = Source::of(&login).unwrap();
        assert_eq!(
            src,
            Source {
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
        let src = Source::of(&bsdutils).unwrap();
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
        let src = Source::of(&package).unwrap();
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
        let src = Source::of(&cpp).unwrap();
        assert_eq!(src.full_version(), "1.203");
        assert_eq!(src.release, None);
    }

    #[test]
    fn deb_without_source_is_its_own_source() {
        let base = deb("base-files", "12.4+deb12u11", None, None);
        let src = Source::of(&base).unwrap();
        assert_eq!(src.name, "base-files");
        assert_eq!(src.version, "12.4+deb12u11");
        assert_eq!(src.release, None);
    }

    #[test]
    fn rpm_source_takes_binary_epoch() {
        let mut openssl = Package::new(Ecosystem::Rpm, "openssl-libs", "3.0.7-27.el9");
        openssl.epoch = Some(1);
        openssl.source = Some(SourcePackage {
            name: "openssl".into(),
            version: Some("3.0.7".into()),
            release: Some("27.el9".into()),
            epoch: None,
        });
        let src = Source::of(&openssl).unwrap();
        assert_eq!(
            src,
            Source {
                name: "openssl".into(),
                epoch: Some(1),
                version: "3.0.7".into(),
                release: Some("27.el9".into()),
            }
        );
    }

    #[test]
    fn apk_source_keeps_full_version() {
        let mut libcrypto = Package::new(Ecosystem::Apk, "libcrypto3", "3.1.4-r5");
        libcrypto.source = Some(source("openssl", None));
        let src = Source::of(&libcrypto).unwrap();
        assert_eq!(src.name, "openssl");
        assert_eq!(src.version, "3.1.4-r5");
        assert_eq!(src.release, None);
    }

    #[test]
    fn language_packages_have_no_source() {
        assert_eq!(
            Source::of(&Package::new(Ecosystem::Python, "requests", "2.31.0")),
            None
        );
    }

    #[test]
    fn split_version_ignores_non_numeric_epoch_and_trailing_hyphen() {
        assert_eq!(
            split_version("a:1.0-"),
            VersionParts {
                epoch: None,
                version: "a:1.0-",
                release: None
            }
        );
    }
}
