//! The source package an OS package was built from, with what its metadata leaves out
//! filled in from the binary package: shared by the OS catalogers' `identity`.

use crate::package::{Package, SourceIdentity};

/// Where a source whose metadata states no epoch takes one from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryEpoch {
    /// dpkg: version and epoch go together. dpkg writes `Source: util-linux
    /// (2.38.1-5+deb12u3)` for `bsdutils 1:2.38.1-5+deb12u3`, so a stated source version
    /// without an epoch has none, and only a source without a version takes the binary's.
    WithBinaryVersion,
    /// rpm: the source file name carries no epoch, so the binary's applies, as Trivy does.
    Always,
}

/// The source of a dpkg or rpm package: the stated name or the binary's, and the stated
/// version (`[epoch:]version[-release]`) or the binary's, split into epoch, version and
/// release.
pub fn split(package: &Package, binary_epoch: BinaryEpoch) -> SourceIdentity {
    let stated_version = stated_version(package);
    let (text, fallback_epoch) = match &stated_version {
        Some(version) => (version.as_str(), None),
        None => (package.version.as_str(), package.epoch),
    };
    let parts = split_version(text);
    let stated_epoch = package.source.as_ref().and_then(|s| s.epoch);
    let epoch = match binary_epoch {
        BinaryEpoch::Always => stated_epoch.or(parts.epoch).or(package.epoch),
        BinaryEpoch::WithBinaryVersion => stated_epoch.or(parts.epoch).or(fallback_epoch),
    };
    SourceIdentity {
        name: name(package),
        epoch,
        version: parts.version.to_string(),
        release: parts.release.map(str::to_string),
    }
}

/// The source of an apk package: the stated name (the origin) or the binary's, at the
/// binary's full version unless another is stated. apk has no epochs and no separate
/// release.
pub fn unsplit(package: &Package) -> SourceIdentity {
    SourceIdentity {
        name: name(package),
        epoch: None,
        version: stated_version(package).unwrap_or_else(|| package.version.clone()),
        release: None,
    }
}

/// The stated source name, or the binary's when none is stated.
fn name(package: &Package) -> String {
    package
        .source
        .as_ref()
        .map(|s| s.name.trim())
        .filter(|name| !name.is_empty())
        .unwrap_or(&package.name)
        .to_string()
}

/// The stated source version, `version[-release]`.
fn stated_version(package: &Package) -> Option<String> {
    let source = package.source.as_ref()?;
    let version = source.version.as_deref()?;
    Some(match source.release.as_deref() {
        Some(release) => format!("{version}-{release}"),
        None => version.to_string(),
    })
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
