//! conda cataloger: packages installed into a conda environment, from the JSON record conda
//! (and mamba, micromamba, pixi) writes per package into the environment's `conda-meta/`
//! (`/opt/conda/conda-meta/python-3.11.9-h955ad1f_0.json`).
//!
//! syft 1.18 has no conda cataloger (later versions read the same files but give no conda
//! purl), so conda packages appear only in nodebom's SBOMs when the two are compared. The
//! purl follows the purl-spec `conda` type:
//! `pkg:conda/python@3.11.9?build=h955ad1f_0&channel=main&subdir=linux-64&type=conda`.
//! Python packages installed by conda also have a `*.dist-info` and are reported by the
//! Python cataloger too, as syft does.

mod package;
mod parse;

pub use package::identity;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// A record lists every file of its package, with hashes: a few MiB for the largest
/// packages. Only a handful of small fields are kept; the rest is skipped while reading.
const META_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the packages of conda environments.
pub struct CondaMetaCataloger;

impl Cataloger for CondaMetaCataloger {
    fn name(&self) -> &'static str {
        "conda-meta"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path
            .strip_suffix(".json")
            .and_then(|stem| stem.rsplit_once('/'))
            .is_some_and(|(dir, name)| !name.is_empty() && dir.ends_with("/conda-meta"))
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let reader = content.into_reader();
        let record = parse::parse_meta(reader, META_LIMIT)?;
        Ok(Findings::packages(
            package::to_package(record).into_iter().collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::package::{BUILD_PROPERTY, CHANNEL_PROPERTY, SUBDIR_PROPERTY, TYPE_PROPERTY};
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        CondaMetaCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    const PYTHON: &[u8] =
        include_bytes!("testdata/opt/conda/conda-meta/python-3.11.9-h955ad1f_0.json");
    const OPENSSL: &[u8] =
        include_bytes!("testdata/opt/conda/conda-meta/openssl-3.0.14-h5eee18b_0.json");
    const NUMPY: &[u8] =
        include_bytes!("testdata/opt/conda/conda-meta/numpy-1.26.4-py311h08b1b3b_0.json");
    const LIBZLIB: &[u8] =
        include_bytes!("testdata/opt/conda/conda-meta/libzlib-1.3.1-h4ab18f5_1.json");
    const TZDATA: &[u8] =
        include_bytes!("testdata/opt/conda/conda-meta/tzdata-2024a-h04d1e81_0.json");
    const HISTORY: &[u8] = include_bytes!("testdata/opt/conda/conda-meta/history");

    fn one(path: &str, bytes: &[u8]) -> Package {
        let mut packages = catalog(path, bytes).unwrap();
        assert_eq!(packages.len(), 1, "{path}");
        packages.remove(0)
    }

    fn property<'a>(package: &'a Package, key: &str) -> Option<&'a str> {
        package.properties.get(key).map(String::as_str)
    }

    #[test]
    fn wants_json_records_directly_in_conda_meta() {
        for path in [
            "/opt/conda/conda-meta/python-3.11.9-h955ad1f_0.json",
            "/opt/conda/envs/app/conda-meta/numpy-1.26.4-py311h08b1b3b_0.json",
            "/root/.pixi/envs/default/conda-meta/libzlib-1.3.1-h4ab18f5_1.json",
        ] {
            assert!(CondaMetaCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/opt/conda/conda-meta/history",
            "/opt/conda/conda-meta/pinned",
            "/opt/conda/conda-meta/sub/x-1-0.json",
            "/opt/conda/pkgs/python-3.11.9-h955ad1f_0/info/index.json",
            "/opt/conda/not-conda-meta/x-1-0.json",
            "/opt/conda/conda-meta/.json",
        ] {
            assert!(!CondaMetaCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn defaults_channel_record_gives_name_version_licence_and_qualifiers() {
        let python = one(
            "/opt/conda/conda-meta/python-3.11.9-h955ad1f_0.json",
            PYTHON,
        );
        assert_eq!(python.ecosystem, Ecosystem::Conda);
        assert_eq!(
            (python.name.as_str(), python.version.as_str()),
            ("python", "3.11.9")
        );
        assert_eq!(python.licenses, ["PSF-2.0"]);
        assert_eq!(property(&python, BUILD_PROPERTY), Some("h955ad1f_0"));
        // `https://repo.anaconda.com/pkgs/main/linux-64`: the channel is `main`.
        assert_eq!(property(&python, CHANNEL_PROPERTY), Some("main"));
        assert_eq!(property(&python, SUBDIR_PROPERTY), Some("linux-64"));
        assert_eq!(property(&python, TYPE_PROPERTY), Some("conda"));
        assert_eq!(python.arch, None);
        assert_eq!(python.source, None);
    }

    #[test]
    fn every_fixture_is_one_package() {
        let found: Vec<(String, String, Vec<String>)> = [
            ("openssl-3.0.14-h5eee18b_0.json", OPENSSL),
            ("numpy-1.26.4-py311h08b1b3b_0.json", NUMPY),
            ("libzlib-1.3.1-h4ab18f5_1.json", LIBZLIB),
            ("tzdata-2024a-h04d1e81_0.json", TZDATA),
        ]
        .into_iter()
        .map(|(file, bytes)| {
            let package = one(&format!("/opt/conda/conda-meta/{file}"), bytes);
            (package.name, package.version, package.licenses)
        })
        .collect();
        let expected = [
            ("openssl", "3.0.14", "Apache-2.0"),
            ("numpy", "1.26.4", "BSD-3-Clause"),
            ("libzlib", "1.3.1", "Zlib"),
            ("tzdata", "2024a", "LicenseRef-Public-Domain"),
        ];
        for (found, expected) in found.iter().zip(expected) {
            assert_eq!(
                (found.0.as_str(), found.1.as_str(), found.2.as_slice()),
                (expected.0, expected.1, &[expected.2.to_owned()][..])
            );
        }
    }

    #[test]
    fn conda_forge_tarball_record_names_its_channel_and_type() {
        let zlib = one(
            "/opt/conda/conda-meta/libzlib-1.3.1-h4ab18f5_1.json",
            LIBZLIB,
        );
        assert_eq!(property(&zlib, CHANNEL_PROPERTY), Some("conda-forge"));
        assert_eq!(property(&zlib, TYPE_PROPERTY), Some("tar.bz2"));
        assert_eq!(property(&zlib, SUBDIR_PROPERTY), Some("linux-64"));
    }

    #[test]
    fn noarch_record_keeps_its_subdir_out_of_the_channel() {
        let tzdata = one("/opt/conda/conda-meta/tzdata-2024a-h04d1e81_0.json", TZDATA);
        assert_eq!(property(&tzdata, SUBDIR_PROPERTY), Some("noarch"));
        assert_eq!(property(&tzdata, CHANNEL_PROPERTY), Some("main"));
        assert_eq!(property(&tzdata, BUILD_PROPERTY), Some("h04d1e81_0"));
    }

    #[test]
    fn history_and_garbage_are_malformed_not_panics() {
        for bytes in [HISTORY, b"", b"[1, 2]", b"{\"name\": ", b"\xff\xfe\x00"] {
            assert!(matches!(
                catalog("/opt/conda/conda-meta/x-1-0.json", bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn record_without_name_or_version_is_no_package() {
        for json in [
            r#"{"version": "1.0"}"#,
            r#"{"name": "x"}"#,
            r#"{"name": "", "version": "1"}"#,
        ] {
            assert_eq!(
                catalog("/c/conda-meta/x.json", json.as_bytes()).unwrap(),
                []
            );
        }
    }
}
