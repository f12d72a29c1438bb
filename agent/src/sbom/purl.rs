//! Package URLs (purl-spec) for what the catalogers find.
//!
//! The shapes follow what Dependency-Track matches on, which is what Trivy emits:
//! - deb `pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1&upstream=shadow`
//!   (the epoch is a qualifier, not part of the version; syft puts it in the version);
//! - apk `pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4`;
//! - rpm `pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=redhat-9.4&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm`;
//! - `pkg:pypi/<PEP 503 name>@…`, `pkg:npm/%40scope/name@…`, `pkg:golang/<module>@…`;
//! - conda `pkg:conda/python@3.11.9?build=h955ad1f_0&channel=main&subdir=linux-64&type=conda`
//!   (purl-spec's qualifiers; syft has no conda purl);
//! - classified binaries `pkg:generic/<name>@…` (`pkg:generic/java/jre@…`), as syft.
//!
//! `upstream` (not in the purl spec; grype and Dependency-Track's OSV matching use it) names
//! the source package: for deb only when its name or version differs from the binary's, as
//! syft does; for apk when the origin differs; for rpm always, as the source RPM file name.
//!
//! When the OS is unknown, OS purls have no namespace and no `distro`: guessing `debian` for
//! a dpkg database could be wrong (Ubuntu and derivatives use dpkg too), and a wrong
//! namespace yields wrong matches where a missing one yields none.

use packageurl::PackageUrl;

use super::source_package::Source;
use crate::package::{Ecosystem, OsRelease, Package};
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

/// [`package_url`] as a structured value, for callers that add qualifiers.
pub(crate) fn build(package: &Package, distro: Option<&Distro>) -> Result<PackageUrl<'static>> {
    let fail = |e: packageurl::Error| {
        Error::Sbom(format!(
            "purl of {:?} package {:?} {:?}: {e}",
            package.ecosystem, package.name, package.version
        ))
    };
    let (ty, namespace, name, version) = coordinates(package, distro);
    let mut purl = PackageUrl::new(ty, name).map_err(fail)?;
    if let Some(namespace) = namespace {
        purl.with_namespace(namespace).map_err(fail)?;
    }
    if let Some(version) = version.filter(|v| !v.is_empty()) {
        purl.with_version(version).map_err(fail)?;
    }
    for (key, value) in qualifiers(package, distro) {
        if !value.is_empty() {
            purl.add_qualifier(key, value).map_err(fail)?;
        }
    }
    Ok(purl)
}

/// Type, namespace, name and version of a package's purl.
fn coordinates(
    package: &Package,
    distro: Option<&Distro>,
) -> (&'static str, Option<String>, String, Option<String>) {
    let os_namespace = distro.map(|d| d.family.clone());
    let version = Some(package.version.clone());
    match package.ecosystem {
        Ecosystem::Deb => ("deb", os_namespace, package.name.clone(), version),
        Ecosystem::Apk => ("apk", os_namespace, package.name.clone(), version),
        Ecosystem::Rpm => ("rpm", os_namespace, package.name.clone(), version),
        Ecosystem::Python => ("pypi", None, pep503_normalize(&package.name), version),
        Ecosystem::Npm => {
            // `@scope/name`: the scope is the namespace; the crate percent-encodes its `@`.
            let (namespace, name) = match package.name.split_once('/') {
                Some((scope, name)) if scope.starts_with('@') => {
                    (Some(scope.to_string()), name.to_string())
                }
                _ => (None, package.name.clone()),
            };
            ("npm", namespace, name, version)
        }
        Ecosystem::Go => {
            // The module path minus its last segment is the namespace (purl-spec, Trivy).
            let (namespace, name) = namespaced(&package.name, package.name.rsplit_once('/'));
            ("golang", namespace, name, go_version(package))
        }
        Ecosystem::Cargo => ("cargo", None, package.name.clone(), version),
        Ecosystem::Maven => {
            // `groupId:artifactId`: the group is the namespace.
            let (namespace, name) = namespaced(&package.name, package.name.split_once(':'));
            ("maven", namespace, name, version)
        }
        Ecosystem::Gem => ("gem", None, package.name.clone(), version),
        Ecosystem::Composer => {
            // `vendor/name`: the vendor is the namespace.
            let (namespace, name) = namespaced(&package.name, package.name.split_once('/'));
            ("composer", namespace, name, version)
        }
        Ecosystem::Nuget => ("nuget", None, package.name.clone(), version),
        Ecosystem::Conda => ("conda", None, package.name.clone(), version),
        Ecosystem::Binary => {
            // syft's `pkg:generic/<name>`; a classifier's `java/jre` is namespace `java`.
            let (namespace, name) = namespaced(&package.name, package.name.split_once('/'));
            ("generic", namespace, name, version)
        }
    }
}

/// A purl namespace and name from a package name `split` in two, or the whole name
/// without a namespace when it does not split.
fn namespaced(name: &str, split: Option<(&str, &str)>) -> (Option<String>, String) {
    match split {
        Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
        None => (None, name.to_string()),
    }
}

/// The purl version of a Go module. The toolchain's `stdlib` is versioned `go1.22.1` in
/// build info and `1.22.1` in purls (syft, Trivy), and build info may append experiments
/// (`go1.22.1 X:boringcrypto`) that are not part of the version. `(devel)`, the main
/// module of a build outside version control, is no version at all.
fn go_version(package: &Package) -> Option<String> {
    let version = package.version.trim();
    if version == "(devel)" {
        return None;
    }
    if package.name == "stdlib" {
        let release = version.split_whitespace().next().unwrap_or_default();
        return Some(release.strip_prefix("go").unwrap_or(release).to_string());
    }
    Some(version.to_string())
}

/// Qualifiers of a package's purl; empty values are dropped by the caller.
fn qualifiers(package: &Package, distro: Option<&Distro>) -> Vec<(&'static str, String)> {
    if package.ecosystem == Ecosystem::Conda {
        return conda_qualifiers(package);
    }
    if !package.ecosystem.is_os() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(arch) = &package.arch {
        out.push(("arch", arch.clone()));
    }
    if let Some(epoch) = package.epoch {
        // apk has no epochs; deb and rpm carry it here (purl-spec, Trivy, Dependency-Track).
        out.push(("epoch", epoch.to_string()));
    }
    if let Some(qualifier) = distro.and_then(Distro::qualifier) {
        out.push(("distro", qualifier));
    }
    if let Some(upstream) = upstream(package) {
        out.push(("upstream", upstream));
    }
    out
}

/// The purl-spec `conda` qualifiers, from what the cataloger kept of the record.
fn conda_qualifiers(package: &Package) -> Vec<(&'static str, String)> {
    use crate::catalog::conda::{BUILD_PROPERTY, CHANNEL_PROPERTY, SUBDIR_PROPERTY, TYPE_PROPERTY};
    [
        ("build", BUILD_PROPERTY),
        ("channel", CHANNEL_PROPERTY),
        ("subdir", SUBDIR_PROPERTY),
        ("type", TYPE_PROPERTY),
    ]
    .into_iter()
    .filter_map(|(qualifier, property)| {
        Some((qualifier, package.properties.get(property)?.clone()))
    })
    .collect()
}

/// The `upstream` qualifier: the source package, when the package metadata names one.
fn upstream(package: &Package) -> Option<String> {
    package.source.as_ref()?;
    let source = Source::of(package)?;
    match package.ecosystem {
        Ecosystem::Deb => {
            let same_version = source.full_version() == package.full_version();
            match (source.name == package.name, same_version) {
                (true, true) => None,
                (_, true) => Some(source.name),
                (_, false) => Some(format!("{}@{}", source.name, source.full_version())),
            }
        }
        Ecosystem::Apk => (source.name != package.name).then_some(source.name),
        // The source RPM's file name, which carries no epoch.
        Ecosystem::Rpm => Some(match &source.release {
            Some(release) => format!("{}-{}-{release}.src.rpm", source.name, source.version),
            None => format!("{}-{}.src.rpm", source.name, source.version),
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

/// PEP 503 name normalisation: lower case, every run of `-`, `_` and `.` becomes one `-`
/// (`zope.interface` → `zope-interface`). The purl crate only lower-cases and maps `_`.
fn pep503_normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::SourcePackage;

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

    fn os_package(
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        epoch: Option<u32>,
        arch: &str,
        source: Option<SourcePackage>,
    ) -> Package {
        let mut package = Package::new(ecosystem, name, version);
        package.epoch = epoch;
        package.arch = Some(arch.to_string());
        package.source = source;
        package
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
    fn deb_names_its_source_and_distro() {
        let libc6 = os_package(
            Ecosystem::Deb,
            "libc6",
            "2.36-9+deb12u4",
            None,
            "amd64",
            named_source("glibc"),
        );
        assert_eq!(
            purl_of(&libc6, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5&upstream=glibc"
        );
    }

    #[test]
    fn deb_epoch_is_a_qualifier_not_part_of_the_version() {
        let login = os_package(
            Ecosystem::Deb,
            "login",
            "4.13+dfsg1-1",
            Some(1),
            "amd64",
            named_source("shadow"),
        );
        assert_eq!(
            purl_of(&login, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1&upstream=shadow"
        );
    }

    #[test]
    fn deb_upstream_carries_the_source_version_when_it_differs() {
        // bsdutils 1:2.38.1-5+deb12u3 from `Source: util-linux (2.38.1-5+deb12u3)`.
        let bsdutils = os_package(
            Ecosystem::Deb,
            "bsdutils",
            "2.38.1-5+deb12u3",
            Some(1),
            "amd64",
            Some(SourcePackage {
                name: "util-linux".into(),
                version: Some("2.38.1-5+deb12u3".into()),
                ..SourcePackage::default()
            }),
        );
        assert_eq!(
            purl_of(&bsdutils, Some(&distro("debian", "12.11"))),
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12.11&epoch=1\
             &upstream=util-linux%402.38.1-5%2Bdeb12u3"
        );
    }

    #[test]
    fn deb_without_source_field_has_no_upstream() {
        let base = os_package(
            Ecosystem::Deb,
            "base-files",
            "12.4+deb12u5",
            None,
            "amd64",
            None,
        );
        assert_eq!(
            purl_of(&base, Some(&distro("debian", "12.5"))),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12.5"
        );
    }

    #[test]
    fn deb_on_unknown_os_has_no_namespace_nor_distro() {
        let libc6 = os_package(
            Ecosystem::Deb,
            "libc6",
            "2.36-9+deb12u4",
            None,
            "amd64",
            named_source("glibc"),
        );
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
        let libc6 = os_package(
            Ecosystem::Deb,
            "libc6",
            "2.36-9+deb12u4",
            None,
            "amd64",
            named_source("glibc"),
        );
        assert_eq!(
            purl_of(&libc6, Some(&no_version)),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc"
        );
    }

    #[test]
    fn rpm_on_rhel_uses_redhat_and_the_source_rpm_file_name() {
        let openssl = os_package(
            Ecosystem::Rpm,
            "openssl-libs",
            "3.0.7-27.el9",
            Some(1),
            "x86_64",
            Some(SourcePackage {
                name: "openssl".into(),
                version: Some("3.0.7".into()),
                release: Some("27.el9".into()),
                epoch: None,
            }),
        );
        assert_eq!(
            purl_of(&openssl, Some(&distro("rhel", "9.4"))),
            "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=redhat-9.4&epoch=1\
             &upstream=openssl-3.0.7-27.el9.src.rpm"
        );
    }

    #[test]
    fn apk_names_origin_only_when_it_differs() {
        let alpine = distro("alpine", "3.18.4");
        let musl = os_package(
            Ecosystem::Apk,
            "musl",
            "1.2.4-r2",
            None,
            "x86_64",
            named_source("musl"),
        );
        assert_eq!(
            purl_of(&musl, Some(&alpine)),
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
        );
        let libcrypto = os_package(
            Ecosystem::Apk,
            "libcrypto3",
            "3.1.4-r5",
            None,
            "x86_64",
            named_source("openssl"),
        );
        assert_eq!(
            purl_of(&libcrypto, Some(&alpine)),
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.18.4&upstream=openssl"
        );
    }

    #[test]
    fn pypi_name_is_normalized_per_pep_503() {
        let debian = distro("debian", "12.5");
        let requests = Package::new(Ecosystem::Python, "requests", "2.31.0");
        assert_eq!(
            purl_of(&requests, Some(&debian)),
            "pkg:pypi/requests@2.31.0"
        );
        let zope = Package::new(Ecosystem::Python, "zope.interface", "6.2");
        assert_eq!(purl_of(&zope, None), "pkg:pypi/zope-interface@6.2");
        let flask = Package::new(Ecosystem::Python, "Flask-SQLAlchemy", "3.1.1");
        assert_eq!(purl_of(&flask, None), "pkg:pypi/flask-sqlalchemy@3.1.1");
        let odd = Package::new(Ecosystem::Python, "Foo._-Bar", "1.0");
        assert_eq!(purl_of(&odd, None), "pkg:pypi/foo-bar@1.0");
    }

    #[test]
    fn npm_scope_is_a_percent_encoded_namespace() {
        let babel = Package::new(Ecosystem::Npm, "@babel/core", "7.24.0");
        assert_eq!(purl_of(&babel, None), "pkg:npm/%40babel/core@7.24.0");
        let lodash = Package::new(Ecosystem::Npm, "lodash", "4.17.21");
        assert_eq!(purl_of(&lodash, None), "pkg:npm/lodash@4.17.21");
    }

    #[test]
    fn go_module_path_splits_into_namespace_and_name() {
        let cobra = Package::new(Ecosystem::Go, "github.com/spf13/cobra", "v1.8.0");
        assert_eq!(
            purl_of(&cobra, None),
            "pkg:golang/github.com/spf13/cobra@v1.8.0"
        );
        let otelhttp = Package::new(
            Ecosystem::Go,
            "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
            "v0.49.0",
        );
        assert_eq!(
            purl_of(&otelhttp, None),
            "pkg:golang/go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.49.0"
        );
    }

    #[test]
    fn go_stdlib_version_drops_the_go_prefix_and_experiments() {
        let stdlib = Package::new(Ecosystem::Go, "stdlib", "go1.22.1");
        assert_eq!(purl_of(&stdlib, None), "pkg:golang/stdlib@1.22.1");
        let boring = Package::new(Ecosystem::Go, "stdlib", "go1.22.1 X:boringcrypto");
        assert_eq!(purl_of(&boring, None), "pkg:golang/stdlib@1.22.1");
    }

    #[test]
    fn go_devel_main_module_has_no_version() {
        let main = Package::new(Ecosystem::Go, "example.com/tool", "(devel)");
        assert_eq!(purl_of(&main, None), "pkg:golang/example.com/tool");
    }

    #[test]
    fn language_packages_ignore_arch_and_distro() {
        let mut requests = Package::new(Ecosystem::Python, "requests", "2.31.0");
        requests.arch = Some("amd64".into());
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
        for (ecosystem, name, version, expected) in [
            (
                Ecosystem::Maven,
                "org.apache.commons:commons-lang3",
                "3.12.0",
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
            ),
            (Ecosystem::Gem, "rack", "2.2.22", "pkg:gem/rack@2.2.22"),
            (
                Ecosystem::Composer,
                "symfony/polyfill-mbstring",
                "v1.28.0",
                "pkg:composer/symfony/polyfill-mbstring@v1.28.0",
            ),
            (
                Ecosystem::Nuget,
                "System.Memory",
                "4.6.3",
                "pkg:nuget/System.Memory@4.6.3",
            ),
        ] {
            let package = Package::new(ecosystem, name, version);
            assert_eq!(purl_of(&package, Some(&distro("debian", "12.5"))), expected);
        }
    }

    #[test]
    fn classified_binary_is_generic_with_its_namespace() {
        let node = Package::new(Ecosystem::Binary, "node", "20.20.2");
        assert_eq!(
            purl_of(&node, Some(&distro("debian", "12.5"))),
            "pkg:generic/node@20.20.2"
        );
        let java = Package::new(Ecosystem::Binary, "java/jre", "17.0.15+6-Debian-1deb12u1");
        assert_eq!(
            purl_of(&java, None),
            "pkg:generic/java/jre@17.0.15%2B6-Debian-1deb12u1"
        );
    }

    #[test]
    fn conda_carries_build_channel_subdir_and_type() {
        let mut python = Package::new(Ecosystem::Conda, "python", "3.11.9");
        for (key, value) in [
            ("conda_build", "h955ad1f_0"),
            ("conda_channel", "main"),
            ("conda_subdir", "linux-64"),
            ("conda_type", "conda"),
        ] {
            python.properties.insert(key.into(), value.into());
        }
        assert_eq!(
            purl_of(&python, Some(&distro("debian", "12.5"))),
            "pkg:conda/python@3.11.9?build=h955ad1f_0&channel=main&subdir=linux-64&type=conda"
        );
        let bare = Package::new(Ecosystem::Conda, "libzlib", "1.3.1");
        assert_eq!(purl_of(&bare, None), "pkg:conda/libzlib@1.3.1");
    }

    #[test]
    fn opkg_package_is_deb_in_the_openwrt_namespace() {
        // syft 1.18 gives opkg packages no purl unless the OS is Debian-like; the deb type
        // in the image's own namespace cannot be matched against Debian's advisories.
        let busybox = os_package(Ecosystem::Deb, "busybox", "1.36.1-1", None, "x86_64", None);
        assert_eq!(
            purl_of(&busybox, Some(&distro("openwrt", "23.05.2"))),
            "pkg:deb/openwrt/busybox@1.36.1-1?arch=x86_64&distro=openwrt-23.05.2"
        );
    }

    #[test]
    fn empty_name_is_an_error_not_a_panic() {
        let nameless = Package::new(Ecosystem::Deb, "", "1.0");
        assert!(matches!(package_url(&nameless, None), Err(Error::Sbom(_))));
    }
}
