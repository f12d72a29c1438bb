//! deps.json libraries as [`Package`]s.

use super::parse::Library;
use crate::package::{Ecosystem, Identity, Package};

/// The NuGet package a library is, when it is one: syft 1.18 keeps libraries of type
/// `package` (the application's own `project` entries and framework references are not
/// NuGet packages). The key is `Name/Version`.
pub fn to_package(key: &str, library: &Library) -> Option<Package> {
    if library.kind.as_deref() != Some("package") {
        return None;
    }
    let (name, version) = key.split_once('/')?;
    let (name, version) = (name.trim(), version.trim());
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let mut package = Package::new(Ecosystem::Nuget, name, version);
    if let Some(sha512) = library.sha512.as_deref().filter(|sha| !sha.is_empty()) {
        package
            .properties
            .insert("nuget_sha512".to_owned(), sha512.to_owned());
    }
    Some(package.with_identity(identity))
}

/// `pkg:nuget/<name>@<version>`, for the NuGet packages of `deps.json` and the assemblies
/// named by their version resource alike; Trivy's `dotnet-core`.
pub fn identity(package: &Package) -> Identity {
    Identity {
        purl_type: "nuget".to_owned(),
        name: package.name.clone(),
        version: Some(package.version.clone()),
        trivy_type: Some("dotnet-core".to_owned()),
        ..Identity::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(kind: &str) -> Library {
        Library {
            kind: Some(kind.to_owned()),
            ..Library::default()
        }
    }

    #[test]
    fn only_package_libraries_are_packages() {
        assert!(to_package("Serilog/3.1.1", &library("package")).is_some());
        for kind in ["project", "reference", "runtimepack", ""] {
            assert!(
                to_package("Serilog/3.1.1", &library(kind)).is_none(),
                "{kind}"
            );
        }
        assert!(to_package("Serilog/3.1.1", &Library::default()).is_none());
    }

    #[test]
    fn key_without_name_or_version_is_no_package() {
        for key in ["Serilog", "/3.1.1", "Serilog/", ""] {
            assert!(to_package(key, &library("package")).is_none(), "{key}");
        }
    }
}
