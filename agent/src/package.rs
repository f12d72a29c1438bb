//! What catalogers find: packages, each named as its cataloger states ([`Identity`]), and OS
//! identity, before layers and the image's distribution are attached.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The package ecosystem a cataloger reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Deb,
    Apk,
    Rpm,
    Python,
    Npm,
    Go,
    /// Rust crates compiled into a binary (cargo-auditable's `.dep-v0`).
    Cargo,
    /// Java archives (jar, war, ear, Jenkins plugins); the name is `groupId:artifactId`.
    Maven,
    /// Ruby gems, from installed gemspecs.
    Gem,
    /// PHP packages from Composer's `installed.json`; the name is `vendor/name`.
    Composer,
    /// .NET packages: NuGet ids from `*.deps.json`, and PE files (`*.dll`, `*.exe`) named
    /// by their version resource.
    Nuget,
    /// Well-known programs and libraries recognised by a version string in their bytes
    /// (syft's binary classifiers); the name is the classifier's (`python`, `java/jre`).
    Binary,
    /// conda packages, from the records in an environment's `conda-meta/`.
    Conda,
}

impl Ecosystem {
    /// True for packages identified from one file's content alone, with no metadata:
    /// when a package database says one of its packages installed that file, the file is
    /// that package's and the identification is dropped (see
    /// [`Findings::owned_files`]).
    pub fn yields_to_owner(self) -> bool {
        matches!(self, Ecosystem::Binary)
    }
}

/// The source package an OS package was built from (dpkg `Source:`, apk `origin`,
/// rpm `SOURCERPM`). Absent fields mean "same as the binary package".
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    pub name: String,
    pub version: Option<String>,
    pub release: Option<String>,
    pub epoch: Option<u32>,
}

/// The source package an OS package was built from, complete: what its metadata leaves
/// out ([`SourcePackage`]) filled in from the binary package by the cataloger.
///
/// Vulnerability data for Debian and Alpine is keyed by source package, and Trivy (through
/// Dependency-Track) matches on the source name and version split into epoch, version and
/// release: the SBOM writes them as the `aquasecurity:trivy:Src*` properties.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceIdentity {
    pub name: String,
    pub epoch: Option<u32>,
    /// Version without epoch and release: deb upstream version (`4.13+dfsg1`), rpm
    /// version (`3.0.7`), apk full version (`1.2.4-r2`, apk has no separate release).
    pub version: String,
    /// deb revision (`1+deb12u1`) or rpm release (`27.el9`); absent for native Debian
    /// packages and for apk.
    pub release: Option<String>,
}

impl SourceIdentity {
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

/// What a package is to its image, which decides where the SBOM puts it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// Installed by the distribution's package manager: its purl namespace, `distro`
    /// qualifier and Trivy package type name the image's distribution, and the operating
    /// system depends on it.
    Os,
    /// A package of a language ecosystem, or any other dependency.
    #[default]
    Library,
    /// A program (or its runtime library) recognised from its bytes.
    Application,
}

/// How a package is named outside nodebom, as the cataloger that found it states it: its
/// package URL except for what the image decides (an OS package's namespace and `distro`
/// qualifier, see [`PackageKind::Os`]), the source package it was built from, and the
/// package type Trivy gives it, which Dependency-Track's Trivy analyzer reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub kind: PackageKind,
    /// purl type: `deb`, `pypi`, `generic`.
    pub purl_type: String,
    /// purl namespace (an npm scope, a Maven group); never an OS package's, which is its
    /// image's distribution.
    pub namespace: Option<String>,
    /// purl name, as the purl type spells it (PEP 503 for `pypi`).
    pub name: String,
    /// purl version; `None` for a package that has none (Go's `(devel)`).
    pub version: Option<String>,
    /// The qualifiers the package itself decides (`arch`, `epoch`, `upstream`, conda's
    /// `build`); empty values are left out of the purl.
    pub qualifiers: BTreeMap<String, String>,
    /// The source package of an OS package.
    pub source: Option<SourceIdentity>,
    /// Trivy's package type (`python-pkg`, `gobinary`) when Trivy has one; an OS
    /// package's is its image's distribution.
    pub trivy_type: Option<String>,
}

impl Identity {
    /// An OS package's identity: its name and version under `purl_type`, the `arch` and
    /// `epoch` qualifiers it has plus `upstream` when given, and its source package.
    pub fn os_package(
        purl_type: &str,
        package: &Package,
        upstream: Option<String>,
        source: SourceIdentity,
    ) -> Self {
        let mut qualifiers = BTreeMap::new();
        if let Some(arch) = &package.arch {
            qualifiers.insert("arch".to_owned(), arch.clone());
        }
        if let Some(epoch) = package.epoch {
            qualifiers.insert("epoch".to_owned(), epoch.to_string());
        }
        if let Some(upstream) = upstream {
            qualifiers.insert("upstream".to_owned(), upstream);
        }
        Identity {
            kind: PackageKind::Os,
            purl_type: purl_type.to_owned(),
            namespace: None,
            name: package.name.clone(),
            version: Some(package.version.clone()),
            qualifiers,
            source: Some(source),
            trivy_type: None,
        }
    }
}

/// One installed package as its own metadata states it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem spells it (`@scope/name` for npm, module path for Go).
    pub name: String,
    /// Version without epoch: deb `4.13+dfsg1-1`, rpm `3.0.7-27.el9` (version-release),
    /// apk `1.36.1-r5`, Go `v1.2.3` or `(devel)`.
    pub version: String,
    /// deb and rpm epoch, when the package has one.
    pub epoch: Option<u32>,
    pub arch: Option<String>,
    pub source: Option<SourcePackage>,
    /// SPDX ids or expressions where they parse, licence names otherwise.
    pub licenses: Vec<String>,
    /// A CPE the cataloger states for the package (binaries identified by a classifier);
    /// never guessed for packages that have metadata.
    #[serde(default)]
    pub cpe: Option<String>,
    /// Extra facts carried into the SBOM as `nodebom:<key>` properties.
    pub properties: BTreeMap<String, String>,
    /// How the package is named outside nodebom; set last by its cataloger (see
    /// [`Package::with_identity`]).
    pub identity: Identity,
}

impl Package {
    pub fn new(ecosystem: Ecosystem, name: impl Into<String>, version: impl Into<String>) -> Self {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            epoch: None,
            arch: None,
            source: None,
            licenses: Vec::new(),
            cpe: None,
            properties: BTreeMap::new(),
            identity: Identity::default(),
        }
    }

    /// The package with the identity that its cataloger's `identity` gives it from the
    /// other fields, which must be set by then.
    pub fn with_identity(mut self, identity: fn(&Package) -> Identity) -> Package {
        self.identity = identity(&self);
        self
    }

    /// Version as package managers print it: `epoch:version` when there is an epoch.
    pub fn full_version(&self) -> String {
        match self.epoch {
            Some(epoch) => format!("{epoch}:{}", self.version),
            None => self.version.clone(),
        }
    }
}

/// Operating-system identity read from one file (`/etc/os-release` and friends).
/// Fields follow os-release(5); a file that states only part of it leaves the rest empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: Option<String>,
    pub id_like: Vec<String>,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    pub name: Option<String>,
    pub pretty_name: Option<String>,
}

/// Everything one cataloger found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub packages: Vec<Package>,
    pub os: Option<OsRelease>,
    /// Files an OS package database says its packages installed, kept only where a
    /// binary classifier could claim them: a classified binary that a package owns is
    /// that package's, not a second one.
    #[serde(default)]
    pub owned_files: Vec<String>,
    /// Programs (files in `bin`, `sbin`, `libexec` and CNI plugin directories) an OS
    /// package database says its packages installed, with the package: a Go or Rust
    /// program that an OS package installed is said to be that package's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owned_programs: Vec<OwnedProgram>,
    /// Licences stated apart from the package metadata (dpkg's
    /// `/usr/share/doc/<package>/copyright`), attached to that package when merged.
    #[serde(default)]
    pub stated_licenses: Vec<StatedLicenses>,
    /// Why what this file holds may be more than what was found: a limit was hit, damaged
    /// records were skipped. Short reasons without the file's path, which the merge adds
    /// (`stopped after 100000 stanzas (limit)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
}

/// A program and the OS package that installed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedProgram {
    /// Absolute path.
    pub path: String,
    /// Name of the OS package.
    pub package: String,
}

/// Package property naming the OS package that installed the program a package was
/// found in (written `nodebom:osPackage`, with the OS package's purl).
pub const PROP_OS_PACKAGE: &str = "osPackage";

/// Licences one file states for a package that is described elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatedLicenses {
    pub ecosystem: Ecosystem,
    pub package: String,
    pub licenses: Vec<String>,
}

impl Findings {
    pub fn packages(packages: Vec<Package>) -> Self {
        Findings {
            packages,
            ..Findings::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
            && self.os.is_none()
            && self.owned_files.is_empty()
            && self.owned_programs.is_empty()
            && self.stated_licenses.is_empty()
            && self.incomplete.is_empty()
    }
}

/// A package visible in the final image, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundPackage {
    pub package: Package,
    /// Name of the cataloger that found it.
    pub cataloger: String,
    /// diffID of the layer that holds the file it was read from.
    pub layer_diff_id: String,
    /// Absolute path of that file inside the image.
    pub path: String,
}

/// What the merged (visible) file system of an image contains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageContents {
    /// The OS identity resolved from the visible os-release files.
    pub os: Option<OsRelease>,
    /// Visible packages, ordered by (path, ecosystem, name, version).
    pub packages: Vec<FoundPackage>,
    /// Why the packages may be fewer than the image holds, one reason each, sorted:
    /// empty for a complete scan.
    #[serde(default)]
    pub incomplete: Vec<String>,
}
