//! Package URLs (purl-spec) of what the catalogers find. Each cataloger states its
//! packages' purls ([`crate::package::Identity`]; each cataloger's `identity` documents its
//! shape); this adds what the image decides: an OS package's namespace and `distro`
//! qualifier, from the image's distribution ([`Distro`]).
//!
//! The shapes follow what Dependency-Track matches on, which is what Trivy emits:
//! `pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1&upstream=shadow`.
//!
//! When the OS is unknown, OS purls have no namespace and no `distro`: guessing `debian` for
//! a dpkg database could be wrong (Ubuntu and derivatives use dpkg too), and a wrong
//! namespace yields wrong matches where a missing one yields none.

use packageurl::PackageUrl;

use crate::package::{OsRelease, Package, PackageKind};
use crate::{Error, Result};

/// The distribution OS packages belong to: purl namespace, `distro` qualifier and the name
/// of the BOM's `operating-system` component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// The os-release `ID`, lower-cased, with the IDs that Trivy names differently mapped
    /// to Trivy's name (see [`Distro::from_os_release`]).
    pub family: String,
    /// The os-release `VERSION_ID` (`12.5`, `3.18.4`, `9.4`), when stated.
    pub version: Option<String>,
}

impl Distro {
    /// The distribution of an image, `None` when its os-release states no `ID`.
    ///
    /// Dependency-Track's Trivy analyzer groups OS packages by their `distro` qualifier and
    /// pairs each group with the `operating-system` component named `<name>-<version>`, then
    /// hands that name to Trivy as the OS family. Trivy knows RHEL as `redhat`, Amazon Linux
    /// as `amazon`, Oracle Linux as `oracle`…, so those IDs are mapped; the purl spec also
    /// names RHEL's rpm namespace `redhat`. Every other ID (debian, ubuntu, alpine, rocky,
    /// fedora, …) is already Trivy's name.
    pub fn from_os_release(os: &OsRelease) -> Option<Distro> {
        let id = os
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())?;
        let id = id.to_ascii_lowercase();
        let family = match id.as_str() {
            "rhel" => "redhat",
            "amzn" => "amazon",
            "ol" => "oracle",
            "almalinux" => "alma",
            "mariner" => "cbl-mariner",
            "sle-micro" => "slem",
            other => other,
        }
        .to_string();
        let version = os
            .version_id
            .as_deref()
            .map(str::trim)
            .filter(|version| !version.is_empty())
            .map(str::to_string);
        Some(Distro { family, version })
    }

    /// The purl `distro` qualifier, `<family>-<version>`; `None` without a version, since a
    /// bare family would be read as a release name (Dependency-Track reads `debian-bookworm`).
    pub fn qualifier(&self) -> Option<String> {
        self.version
            .as_ref()
            .map(|version| format!("{}-{version}", self.family))
    }
}

/// The package URL of a package, canonical (qualifiers sorted, components percent-encoded).
///
/// `distro` is the image's distribution; it only affects OS packages.
pub fn package_url(package: &Package, distro: Option<&Distro>) -> Result<String> {
    Ok(build(package, distro)?.to_string())
}

/// [`package_url`] as a structured value, for callers that add qualifiers: the purl its
/// cataloger states ([`Package::identity`]), with an OS package's namespace and `distro`
/// qualifier from the image's distribution.
pub(crate) fn build(package: &Package, distro: Option<&Distro>) -> Result<PackageUrl<'static>> {
    let fail = |e: packageurl::Error| {
        Error::Sbom(format!(
            "purl of {:?} package {:?} {:?}: {e}",
            package.ecosystem, package.name, package.version
        ))
    };
    let identity = &package.identity;
    let is_os = identity.kind == PackageKind::Os;
    let namespace = if is_os {
        distro.map(|d| d.family.clone())
    } else {
        identity.namespace.clone()
    };
    let mut purl =
        PackageUrl::new(identity.purl_type.clone(), identity.name.clone()).map_err(fail)?;
    if let Some(namespace) = namespace {
        purl.with_namespace(namespace).map_err(fail)?;
    }
    if let Some(version) = identity.version.clone().filter(|v| !v.is_empty()) {
        purl.with_version(version).map_err(fail)?;
    }
    let mut qualifiers = identity.qualifiers.clone();
    if is_os {
        if let Some(qualifier) = distro.and_then(Distro::qualifier) {
            qualifiers.insert("distro".to_owned(), qualifier);
        }
    }
    for (key, value) in qualifiers {
        if !value.is_empty() {
            purl.add_qualifier(key, value).map_err(fail)?;
        }
    }
    Ok(purl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::package::{Ecosystem, SourcePackage};

    fn os(id: &str, version_id: &str) -> OsRelease {
        OsRelease {
            id: Some(id.to_string()),
            version_id: Some(version_id.to_string()),
            ..OsRelease::default()
        }
    }

    fn distro(id: &str, version_id: &str) -> Distro {
        Distro::from_os_release(&os(id, version_id)).unwrap()
    }

    fn deb(name: &str, version: &str, arch: &str, source: Option<SourcePackage>) -> Package {
        let mut package = Package::new(Ecosystem::Deb, name, version);
        package.arch = Some(arch.to_string());
        package.source = source;
        package.with_identity(catalog::dpkg::identity)
    }

    fn named_source(name: &str) -> Option<SourcePackage> {
        Some(SourcePackage {
            name: name.to_string(),
            ..SourcePackage::default()
        })
    }

    fn purl_of(package: &Package, distro: Option<&Distro>) -> String {
        package_url(package, distro).unwrap()
    }

    #[test]
    fn deb_on_unknown_os_has_no_namespace_nor_distro() {
        let libc6 = deb("libc6", "2.36-9+deb12u4", "amd64", named_source("glibc"));
        assert_eq!(
            purl_of(&libc6, None),
            "pkg:deb/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc"
        );
    }

    #[test]
    fn os_without_version_gives_namespace_but_no_distro() {
        let no_version = Distro::from_os_release(&OsRelease {
            id: Some("debian".into()),
            ..OsRelease::default()
        })
        .unwrap();
        let libc6 = deb("libc6", "2.36-9+deb12u4", "amd64", named_source("glibc"));
        assert_eq!(
            purl_of(&libc6, Some(&no_version)),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc"
        );
    }

    #[test]
    fn language_packages_ignore_arch_and_distro() {
        let mut requests = Package::new(Ecosystem::Python, "requests", "2.31.0");
        requests.arch = Some("amd64".into());
        let requests = requests.with_identity(catalog::python::identity);
        assert_eq!(
            purl_of(&requests, Some(&distro("debian", "12.5"))),
            "pkg:pypi/requests@2.31.0"
        );
    }

    #[test]
    fn distro_maps_ids_that_trivy_names_differently() {
        assert_eq!(
            distro("rhel", "9.4").qualifier().as_deref(),
            Some("redhat-9.4")
        );
        assert_eq!(distro("amzn", "2023").family, "amazon");
        assert_eq!(
            distro("Ubuntu", "22.04").qualifier().as_deref(),
            Some("ubuntu-22.04")
        );
        assert_eq!(Distro::from_os_release(&OsRelease::default()), None);
    }

    #[test]
    fn maven_group_composer_vendor_and_plain_gem_and_nuget_names() {
        // Expected forms from purl-spec's examples for each type.
        for (package, expected) in [
            (
                Package::new(
                    Ecosystem::Maven,
                    "org.apache.commons:commons-lang3",
                    "3.12.0",
                )
                .with_identity(catalog::java::identity),
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
            ),
            (
                Package::new(Ecosystem::Gem, "rack", "2.2.22")
                    .with_identity(catalog::ruby::identity),
                "pkg:gem/rack@2.2.22",
            ),
            (
                Package::new(Ecosystem::Composer, "symfony/polyfill-mbstring", "v1.28.0")
                    .with_identity(catalog::php::identity),
                "pkg:composer/symfony/polyfill-mbstring@v1.28.0",
            ),
            (
                Package::new(Ecosystem::Nuget, "System.Memory", "4.6.3")
                    .with_identity(catalog::dotnet::identity),
                "pkg:nuget/System.Memory@4.6.3",
            ),
        ] {
            assert_eq!(purl_of(&package, Some(&distro("debian", "12.5"))), expected);
        }
    }

    #[test]
    fn opkg_package_is_deb_in_the_openwrt_namespace() {
        // syft 1.18 gives opkg packages no purl unless the OS is Debian-like; the deb type
        // in the image's own namespace cannot be matched against Debian's advisories.
        let busybox = deb("busybox", "1.36.1-1", "x86_64", None);
        assert_eq!(
            purl_of(&busybox, Some(&distro("openwrt", "23.05.2"))),
            "pkg:deb/openwrt/busybox@1.36.1-1?arch=x86_64&distro=openwrt-23.05.2"
        );
    }

    #[test]
    fn empty_name_is_an_error_not_a_panic() {
        let nameless =
            Package::new(Ecosystem::Deb, "", "1.0").with_identity(catalog::dpkg::identity);
        assert!(matches!(package_url(&nameless, None), Err(Error::Sbom(_))));
    }
}
