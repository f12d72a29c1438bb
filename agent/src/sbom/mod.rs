//! CycloneDX assembly: turns a resolved image and its merged contents into a CycloneDX JSON
//! document that Dependency-Track can match.
//!
//! Each cataloger states its packages' identity ([`crate::package::Identity`]: purl, source
//! package, Trivy package type); what is image-wide is added here.
//!
//! - [`purl`] builds package URLs, adding an OS package's namespace and `distro` qualifier
//!   from [`purl::Distro`], the distribution of the image.
//! - [`cyclonedx`] assembles, validates and serialises the BOM.
//!
//! ```no_run
//! # fn example(image: &nodebom_agent::image::ResolvedImage,
//! #            contents: &nodebom_agent::package::ImageContents) -> nodebom_agent::Result<()> {
//! use nodebom_agent::sbom::{self, SpecVersion};
//!
//! let json: Vec<u8> = sbom::build(image, contents, SpecVersion::default())?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

pub mod cyclonedx;
pub mod purl;

#[cfg(test)]
mod tests;

pub use cyclonedx::{build, build_for, Subject};

/// CycloneDX specification version of the produced document.
///
/// Dependency-Track 4.11.0–4.11.3 accepts up to 1.5, 4.11.4–4.14 up to 1.6, and none accepts
/// 1.7, so 1.5 is the default and 1.6 is opt-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SpecVersion {
    #[default]
    V1_5,
    V1_6,
}

impl SpecVersion {
    /// The version as CycloneDX writes it in `specVersion`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1_5 => "1.5",
            SpecVersion::V1_6 => "1.6",
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spec version this crate cannot produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported CycloneDX spec version {0:?}: expected 1.5 or 1.6")]
pub struct UnsupportedSpecVersion(pub String);

impl FromStr for SpecVersion {
    type Err = UnsupportedSpecVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.5" => Ok(SpecVersion::V1_5),
            "1.6" => Ok(SpecVersion::V1_6),
            other => Err(UnsupportedSpecVersion(other.to_string())),
        }
    }
}

/// Names of the properties nodebom writes, for readers of its BOMs (the collector, tests).
pub mod property {
    /// On a package: the cataloger that found it.
    pub const CATALOGER: &str = "nodebom:cataloger";
    /// On a package: diffID of the layer holding the file it was read from.
    pub const LAYER_DIFF_ID: &str = "nodebom:layer_diff_id";
    /// On a package: absolute path of that file inside the image.
    pub const PATH: &str = "nodebom:path";
    /// Prefix of a package's own extra facts (`Package::properties`).
    pub const PACKAGE_PREFIX: &str = "nodebom:";

    /// On the image: one per containerd image name (`repo:tag`, `repo@sha256:…`), sorted.
    pub const IMAGE_NAME: &str = "nodebom:image_name";
    /// On the image: the config digest (the CRI image id).
    pub const CONFIG_DIGEST: &str = "nodebom:config_digest";
    /// On the image: the index digest, for multi-platform images.
    pub const INDEX_DIGEST: &str = "nodebom:index_digest";
    /// On the image: the platform of the manifest (`linux/amd64`).
    pub const PLATFORM: &str = "nodebom:platform";
    /// On the image: one per layer diffID, in layer order (bottom first).
    pub const DIFF_ID: &str = "nodebom:diff_id";

    /// On the BOM's metadata: one per reason the SBOM may miss packages of the image (a
    /// limit hit, entries or records skipped); the image is then also an `incomplete`
    /// assembly in `compositions`.
    pub const INCOMPLETE: &str = "nodebom:incomplete";

    /// On a node and its kernel: the machine architecture (`amd64`).
    pub const NODE_ARCH: &str = "nodebom:arch";
    /// On a node: the running kernel's release.
    pub const NODE_KERNEL: &str = "nodebom:kernel";

    /// On the operating system: the os-release `ID` as the image states it, which can
    /// differ from the component's name (`rhel` is named `redhat`).
    pub const OS_ID: &str = "nodebom:os_id";

    /// Properties read by Dependency-Track's Trivy analyzer (and by Trivy itself).
    pub const TRIVY_PKG_TYPE: &str = "aquasecurity:trivy:PkgType";
    pub const TRIVY_SRC_NAME: &str = "aquasecurity:trivy:SrcName";
    pub const TRIVY_SRC_VERSION: &str = "aquasecurity:trivy:SrcVersion";
    pub const TRIVY_SRC_RELEASE: &str = "aquasecurity:trivy:SrcRelease";
    pub const TRIVY_SRC_EPOCH: &str = "aquasecurity:trivy:SrcEpoch";
}
