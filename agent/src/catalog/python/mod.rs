//! python cataloger: installed distributions, from the files syft reads.
//!
//! `**/*dist-info/METADATA` (wheels), `**/*egg-info/PKG-INFO` (eggs, Debian's
//! `python3-*` packages) and their upper-case forms, and `**/*.egg-info` when it is a
//! file (distutils installs, e.g. `/usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info`).
//! Only the header block is read: the long description after it can be megabytes.

mod package;
mod parse;

pub use package::identity;

use std::io::{BufRead, BufReader, Read};

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Headers of real metadata files are a few KiB; some carry a whole licence text (the
/// largest `METADATA` on this build machine, pydantic 2.14.3's: 141,528 bytes). A larger
/// header is noted as not read.
const HEADER_LIMIT: u64 = 8 * 1024 * 1024;

/// Reads installed Python distributions.
pub struct PythonCataloger;

fn is_metadata_file(path: &str) -> bool {
    let Some((dir, name)) = path.rsplit_once('/') else {
        return false;
    };
    if name.ends_with(".egg-info") {
        return true;
    }
    let parent = dir.rsplit_once('/').map_or(dir, |(_, parent)| parent);
    match name {
        "METADATA" => parent.ends_with("dist-info") || parent.ends_with("DIST-INFO"),
        "PKG-INFO" => parent.ends_with("egg-info") || parent.ends_with("EGG-INFO"),
        _ => false,
    }
}

impl Cataloger for PythonCataloger {
    fn name(&self) -> &'static str {
        "python"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        is_metadata_file(file.path)
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let reader = content.into_reader();
        let header = read_header(reader)?;
        let packages = package::to_package(parse::parse_metadata(&header))
            .into_iter()
            .collect();
        Ok(Findings::packages(packages))
    }
}

/// Reads lines up to the blank line that ends the header block (or the end of the file).
fn read_header(reader: &mut dyn Read) -> Result<Vec<u8>, CatalogError> {
    let mut reader = BufReader::new(reader.take(HEADER_LIMIT + 1));
    let mut header = Vec::new();
    let mut started = false;
    loop {
        let line_start = header.len();
        if reader.read_until(b'\n', &mut header)? == 0 {
            break;
        }
        if header.len() as u64 > HEADER_LIMIT {
            return Err(CatalogError::TooLarge {
                limit: HEADER_LIMIT,
            });
        }
        let line = header.get(line_start..).unwrap_or_default();
        if parse::is_header_end(line) {
            if started {
                break;
            }
        } else {
            started = true;
        }
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        PythonCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    fn only(path: &str, bytes: &[u8]) -> Package {
        let mut packages = catalog(path, bytes).unwrap();
        assert_eq!(packages.len(), 1);
        packages.remove(0)
    }

    #[test]
    fn wants_wheel_egg_and_distutils_metadata() {
        for path in [
            "/usr/local/lib/python3.11/site-packages/requests-2.34.2.dist-info/METADATA",
            "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
            "/usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info",
            "/opt/venv/lib/python3.12/site-packages/foo-1.0-py3.12.egg/EGG-INFO/PKG-INFO",
            "/app/Pkg-1.0.DIST-INFO/METADATA",
        ] {
            assert!(PythonCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn wants_no_other_files_of_a_distribution() {
        for path in [
            "/usr/local/lib/python3.11/site-packages/requests-2.34.2.dist-info/RECORD",
            "/usr/local/lib/python3.11/site-packages/requests/METADATA",
            "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt",
            "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO.bak",
            "/app/pkg.dist-info/metadata",
            "/PKG-INFO",
            "METADATA",
        ] {
            assert!(!PythonCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn debian_single_file_egg_info_is_a_package() {
        let crit = only(
            "/usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info",
            include_bytes!("testdata/usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info"),
        );
        assert_eq!(crit.ecosystem, Ecosystem::Python);
        assert_eq!(
            (crit.name.as_str(), crit.version.as_str()),
            ("crit", "3.17.1")
        );
        assert_eq!(crit.licenses, ["GPLv2"]);
    }

    #[test]
    fn debian_egg_info_directory_pkg_info_is_a_package() {
        let six = only(
            "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
            include_bytes!("testdata/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO"),
        );
        assert_eq!((six.name.as_str(), six.version.as_str()), ("six", "1.16.0"));
        assert_eq!(six.licenses, ["MIT"]);
    }

    #[test]
    fn short_license_field_with_expression_is_kept_whole() {
        let cryptography = only(
            "/usr/lib/python3/dist-packages/cryptography-38.0.4.dist-info/METADATA",
            include_bytes!(
                "testdata/usr/lib/python3/dist-packages/cryptography-38.0.4.dist-info/METADATA"
            ),
        );
        assert_eq!(cryptography.version, "38.0.4");
        assert_eq!(cryptography.licenses, ["BSD-3-Clause OR Apache-2.0"]);
    }

    #[test]
    fn license_expression_is_preferred() {
        let urllib3 = only(
            "/usr/local/lib/python3.11/site-packages/urllib3-2.8.0.dist-info/METADATA",
            include_bytes!(
                "testdata/usr/local/lib/python3.11/site-packages/urllib3-2.8.0.dist-info/METADATA"
            ),
        );
        assert_eq!(
            (urllib3.name.as_str(), urllib3.version.as_str()),
            ("urllib3", "2.8.0")
        );
        assert_eq!(urllib3.licenses, ["MIT"]);
    }

    #[test]
    fn license_field_wins_over_classifiers() {
        let requests = only(
            "/usr/local/lib/python3.11/site-packages/requests-2.34.2.dist-info/METADATA",
            include_bytes!("testdata/usr/local/lib/python3.11/site-packages/requests-2.34.2.dist-info/METADATA"),
        );
        assert_eq!(requests.version, "2.34.2");
        assert_eq!(requests.licenses, ["Apache-2.0"]);
    }

    #[test]
    fn full_licence_text_falls_back_to_classifiers() {
        let traitlets = only(
            "/usr/local/lib/python3.11/site-packages/traitlets-5.15.0.dist-info/METADATA",
            include_bytes!("testdata/usr/local/lib/python3.11/site-packages/traitlets-5.15.0.dist-info/METADATA"),
        );
        assert_eq!(
            (traitlets.name.as_str(), traitlets.version.as_str()),
            ("traitlets", "5.15.0")
        );
        assert_eq!(traitlets.licenses, ["BSD License"]);
    }

    #[test]
    fn python_interpreter_egg_info_is_not_a_package() {
        let packages = catalog(
            "/usr/lib/python2.7/lib-dynload/Python-2.7.18-py2.7.egg-info",
            include_bytes!("testdata/usr/lib/python2.7/lib-dynload/Python-2.7.18-py2.7.egg-info"),
        )
        .unwrap();
        assert_eq!(packages, []);
    }

    #[test]
    fn huge_description_after_the_header_is_not_read() {
        let mut data = b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n".to_vec();
        data.resize(HEADER_LIMIT as usize * 2, b'x');
        let big = only("/x/big-1.0.dist-info/METADATA", &data);
        assert_eq!(big.version, "1.0");
    }

    #[test]
    fn header_without_end_over_the_limit_is_refused() {
        let mut endless = Read::take(std::io::repeat(b'x'), HEADER_LIMIT + 10);
        let result = PythonCataloger.catalog(&meta("/x/a.egg-info"), Content::Stream(&mut endless));
        assert!(matches!(result, Err(CatalogError::TooLarge { .. })));
    }

    #[test]
    fn garbage_yields_no_package() {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 256) as u8).collect();
        assert_eq!(catalog("/x/a.egg-info", &garbage).unwrap(), []);
        assert_eq!(catalog("/x/a.egg-info", b"").unwrap(), []);
    }
}
