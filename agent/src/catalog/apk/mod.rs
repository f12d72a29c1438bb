//! apk cataloger: Alpine (and Wolfi, Chainguard) package databases at
//! `**/lib/apk/db/installed`, as syft reads them. The files the packages installed that a
//! binary classifier could claim are reported as owned (`F:` directory, `R:` file lines),
//! and the programs with their package.

mod package;
mod parse;

pub use package::identity;

use super::{binary, CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// A full Alpine image's database is well under 10 MiB (not measured here: the only
/// database at hand is the 2.7 KiB fixture, 6 packages with short file lists). A larger
/// file is read up to here.
const INSTALLED_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads installed Alpine packages.
pub struct ApkCataloger;

impl Cataloger for ApkCataloger {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with("/lib/apk/db/installed")
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let prefix = content.read_prefix(INSTALLED_LIMIT)?;
        let (records, incomplete) = parse::parse_installed(&prefix.data)
            .finish(prefix.cut.then_some(INSTALLED_LIMIT), "packages");
        Ok(Findings {
            packages: records.into_iter().map(package::to_package).collect(),
            owned_files: parse::owned_files(&prefix.data, binary::is_candidate),
            owned_programs: parse::owned_programs(&prefix.data),
            incomplete,
            ..Findings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package, SourcePackage};

    const INSTALLED: &[u8] = include_bytes!("testdata/lib/apk/db/installed");

    fn catalog(mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        ApkCataloger
            .catalog(&meta("/lib/apk/db/installed"), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
        packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} not found"))
    }

    #[test]
    fn wants_only_the_installed_database() {
        assert!(ApkCataloger.wants(&meta("/lib/apk/db/installed")));
        assert!(ApkCataloger.wants(&meta("/usr/lib/apk/db/installed")));
        for path in [
            "/lib/apk/db/installed.old",
            "/lib/apk/db/triggers",
            "/etc/apk/world",
            "/xlib/apk/db/installed",
        ] {
            assert!(!ApkCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn alpine_database_lists_every_package_in_order() {
        let packages = catalog(INSTALLED).unwrap();
        let found: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("musl", "1.2.5-r0"),
                ("busybox", "1.36.1-r29"),
                ("ssl_client", "1.36.1-r29"),
                ("zlib", "1.3.1-r1"),
                ("libcrypto3", "3.3.2-r0"),
                ("ca-certificates-bundle", "20240705-r0"),
            ]
        );
        assert!(packages
            .iter()
            .all(|p| p.ecosystem == Ecosystem::Apk && p.epoch.is_none()));
        assert!(packages.iter().all(|p| p.arch.as_deref() == Some("x86_64")));
    }

    #[test]
    fn subpackage_has_its_origin_as_source() {
        let packages = catalog(INSTALLED).unwrap();
        assert_eq!(
            find(&packages, "ssl_client").source,
            Some(SourcePackage {
                name: "busybox".into(),
                ..SourcePackage::default()
            })
        );
        assert_eq!(
            find(&packages, "libcrypto3")
                .source
                .as_ref()
                .map(|s| s.name.as_str()),
            Some("openssl")
        );
    }

    #[test]
    fn licence_field_is_kept() {
        let packages = catalog(INSTALLED).unwrap();
        assert_eq!(find(&packages, "musl").licenses, ["MIT"]);
        assert_eq!(
            find(&packages, "ca-certificates-bundle").licenses,
            ["MPL-2.0 AND MIT"]
        );
    }

    #[test]
    fn files_a_binary_classifier_could_claim_are_owned() {
        let findings = ApkCataloger
            .catalog(
                &meta("/lib/apk/db/installed"),
                Content::Stream(&mut &INSTALLED[..]),
            )
            .unwrap();
        assert_eq!(
            findings.owned_files,
            ["/bin/busybox", "/lib/libcrypto.so.3"]
        );
        let busybox = findings
            .owned_programs
            .iter()
            .find(|owned| owned.path == "/bin/busybox")
            .unwrap();
        assert_eq!(busybox.package, "busybox");
    }

    #[test]
    fn garbage_yields_no_package() {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 256) as u8).collect();
        assert_eq!(catalog(&garbage).unwrap(), []);
    }

    #[test]
    fn oversized_database_keeps_the_packages_before_the_cut() {
        let mut head = b"P:first\nV:1-r0\n\nP:second\nV:2-r0\n\nP:cut\nV:3".to_vec();
        head.resize(INSTALLED_LIMIT as usize + 1, b'9');
        let findings = ApkCataloger
            .catalog(
                &meta("/lib/apk/db/installed"),
                Content::Stream(&mut head.as_slice()),
            )
            .unwrap();
        let names: Vec<_> = findings.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(
            findings.incomplete,
            [format!(
                "read only the first {INSTALLED_LIMIT} bytes (size limit); later records not read"
            )]
        );
    }
}
