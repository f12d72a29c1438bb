//! Shared by the catalogers' tests.

use super::FileMeta;
use crate::package::{OsRelease, Package};
use crate::sbom::purl::{package_url, Distro};

/// A regular, non-executable file at `path`, as `wants` and `catalog` see it.
pub fn meta(path: &str) -> FileMeta<'_> {
    FileMeta {
        path,
        size: 0,
        mode: 0o644,
    }
}

/// The distribution of an image whose os-release states `ID` and `VERSION_ID`.
pub fn distro(id: &str, version_id: &str) -> Distro {
    let os = OsRelease {
        id: Some(id.to_string()),
        version_id: Some(version_id.to_string()),
        ..OsRelease::default()
    };
    Distro::from_os_release(&os).unwrap()
}

/// The package URL the SBOM gives a package in an image of `distro`.
pub fn purl_of(package: &Package, distro: Option<&Distro>) -> String {
    package_url(package, distro).unwrap()
}
