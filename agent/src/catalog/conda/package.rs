//! conda-meta records as [`Package`]s.

use super::parse::CondaRecord;
use std::collections::BTreeMap;

use crate::package::{Ecosystem, Identity, Package};

/// Package properties that the purl's qualifiers are made from (purl-spec `conda` type).
pub const BUILD_PROPERTY: &str = "conda_build";
pub const CHANNEL_PROPERTY: &str = "conda_channel";
pub const SUBDIR_PROPERTY: &str = "conda_subdir";
/// The package file's format: `conda` or `tar.bz2`.
pub const TYPE_PROPERTY: &str = "conda_type";

/// Longest licence string kept; longer ones are not names.
const MAX_LICENSE_LEN: usize = 512;

/// The package a record describes; one without a name or a version is none.
pub fn to_package(record: CondaRecord) -> Option<Package> {
    if record.name.is_empty() || record.version.is_empty() {
        return None;
    }
    let channel = channel_name(&record);
    let file_type = package_type(&record);
    let mut package = Package::new(Ecosystem::Conda, record.name, record.version);
    if !record.license.is_empty() && record.license.len() <= MAX_LICENSE_LEN {
        package.licenses.push(record.license);
    }
    for (key, value) in [
        (BUILD_PROPERTY, Some(record.build)),
        (CHANNEL_PROPERTY, channel),
        (SUBDIR_PROPERTY, Some(record.subdir)),
        (TYPE_PROPERTY, file_type),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            package.properties.insert(key.to_owned(), value);
        }
    }
    Some(package.with_identity(identity))
}

/// `pkg:conda/python@3.11.9?build=h955ad1f_0&channel=main&subdir=linux-64&type=conda`,
/// purl-spec's qualifiers from what the cataloger kept of the record (syft has no conda
/// purl); Trivy's `conda-pkg`.
pub fn identity(package: &Package) -> Identity {
    let qualifiers: BTreeMap<String, String> = [
        ("build", BUILD_PROPERTY),
        ("channel", CHANNEL_PROPERTY),
        ("subdir", SUBDIR_PROPERTY),
        ("type", TYPE_PROPERTY),
    ]
    .into_iter()
    .filter_map(|(qualifier, property)| {
        Some((
            qualifier.to_owned(),
            package.properties.get(property)?.clone(),
        ))
    })
    .collect();
    Identity {
        purl_type: "conda".to_owned(),
        name: package.name.clone(),
        version: Some(package.version.clone()),
        qualifiers,
        trivy_type: Some("conda-pkg".to_owned()),
        ..Identity::default()
    }
}

/// The channel's name, as the purl-spec example writes it (`channel=main`): the last part
/// of the channel URL (or of the download URL's directory), without the platform
/// directory conda sometimes appends. `https://repo.anaconda.com/pkgs/main/linux-64` →
/// `main`, `https://conda.anaconda.org/conda-forge/` → `conda-forge`.
fn channel_name(record: &CondaRecord) -> Option<String> {
    let location = if record.channel.is_empty() {
        record.url.rsplit_once('/')?.0
    } else {
        record.channel.as_str()
    };
    let mut parts = location
        .split('/')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>();
    if parts
        .last()
        .is_some_and(|last| *last == record.subdir || *last == "noarch")
    {
        parts.pop();
    }
    let name = parts.pop()?;
    // `https:` alone is a URL with no path: no name.
    (!name.ends_with(':')).then(|| name.to_owned())
}

/// `conda` for `.conda` files, `tar.bz2` for the older format.
fn package_type(record: &CondaRecord) -> Option<String> {
    let file = if record.file_name.is_empty() {
        &record.url
    } else {
        &record.file_name
    };
    if file.ends_with(".conda") {
        Some("conda".to_owned())
    } else if file.ends_with(".tar.bz2") {
        Some("tar.bz2".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::{distro, purl_of};

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
        let python = python.with_identity(identity);
        assert_eq!(
            purl_of(&python, Some(&distro("debian", "12.5"))),
            "pkg:conda/python@3.11.9?build=h955ad1f_0&channel=main&subdir=linux-64&type=conda"
        );
        let bare = Package::new(Ecosystem::Conda, "libzlib", "1.3.1").with_identity(identity);
        assert_eq!(purl_of(&bare, None), "pkg:conda/libzlib@1.3.1");
    }

    fn record(channel: &str, url: &str, subdir: &str) -> CondaRecord {
        CondaRecord {
            name: "x".into(),
            version: "1".into(),
            channel: channel.into(),
            url: url.into(),
            subdir: subdir.into(),
            ..CondaRecord::default()
        }
    }

    #[test]
    fn channel_names_from_urls_and_names() {
        for (channel, url, subdir, expected) in [
            ("https://repo.anaconda.com/pkgs/main/linux-64", "", "linux-64", Some("main")),
            ("https://repo.anaconda.com/pkgs/main", "", "linux-64", Some("main")),
            ("https://conda.anaconda.org/conda-forge/", "", "osx-arm64", Some("conda-forge")),
            ("https://repo.anaconda.com/pkgs/main/noarch", "", "noarch", Some("main")),
            ("pkgs/main", "", "linux-64", Some("main")),
            ("conda-forge", "", "linux-64", Some("conda-forge")),
            (
                "",
                "https://conda.anaconda.org/pytorch/linux-64/pytorch-2.3.1-py3.11_cuda12.1_cudnn8.9.2_0.tar.bz2",
                "linux-64",
                Some("pytorch"),
            ),
            ("https://", "", "linux-64", None),
            ("", "", "linux-64", None),
        ] {
            let record = record(channel, url, subdir);
            assert_eq!(channel_name(&record).as_deref(), expected, "{channel:?} {url:?}");
        }
    }

    #[test]
    fn package_type_from_file_name_or_url() {
        let mut r = record("", "https://x/linux-64/a-1-0.tar.bz2", "linux-64");
        assert_eq!(package_type(&r).as_deref(), Some("tar.bz2"));
        r.file_name = "a-1-0.conda".into();
        assert_eq!(package_type(&r).as_deref(), Some("conda"));
        r.file_name = "a-1-0.zip".into();
        assert_eq!(package_type(&r), None);
    }

    #[test]
    fn overlong_licence_is_dropped() {
        let mut r = record("conda-forge", "", "noarch");
        r.license = "x".repeat(MAX_LICENSE_LEN + 1);
        assert!(to_package(r).unwrap().licenses.is_empty());
    }
}
