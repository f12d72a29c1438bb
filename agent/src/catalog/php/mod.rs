//! PHP cataloger: the packages Composer installed into a `vendor/` directory, from
//! `vendor/composer/installed.json`, as syft 1.18 reads them.

mod package;
mod parse;

pub use package::identity;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Real files are a few hundred KiB for projects with a hundred or so packages.
const INSTALLED_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads installed PHP packages from Composer's `installed.json`.
pub struct ComposerInstalledCataloger;

impl Cataloger for ComposerInstalledCataloger {
    fn name(&self) -> &'static str {
        "php-composer-installed"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with("/composer/installed.json")
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(INSTALLED_LIMIT)?;
        let (installed, incomplete) = parse::parse_installed(&data)?.finish(None, "packages");
        let packages = installed
            .into_iter()
            .filter_map(package::to_package)
            .collect();
        Ok(Findings {
            incomplete,
            ..Findings::packages(packages)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        ComposerInstalledCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    fn coordinates(packages: &[Package]) -> Vec<(&str, &str)> {
        packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect()
    }

    #[test]
    fn wants_installed_json_of_composer_only() {
        assert!(
            ComposerInstalledCataloger.wants(&meta("/var/www/html/vendor/composer/installed.json"))
        );
        for path in [
            "/var/www/html/composer.json",
            "/var/www/html/composer.lock",
            "/var/www/html/vendor/composer/installed.php",
            "/var/www/html/vendor/installed.json",
        ] {
            assert!(!ComposerInstalledCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn composer_2_installed_json_gives_every_package() {
        let packages = catalog(
            "/var/www/html/vendor/composer/installed.json",
            include_bytes!("testdata/var/www/html/vendor/composer/installed.json"),
        )
        .unwrap();
        assert_eq!(
            coordinates(&packages),
            [
                ("monolog/monolog", "3.5.0"),
                ("psr/log", "3.0.0"),
                ("symfony/polyfill-mbstring", "v1.28.0"),
                ("phpunit/phpunit", "10.5.5"),
            ]
        );
        assert!(packages.iter().all(|p| p.ecosystem == Ecosystem::Composer));
        assert_eq!(packages[0].licenses, ["MIT"]);
        assert_eq!(packages[3].licenses, ["BSD-3-Clause"]);
    }

    #[test]
    fn composer_1_installed_json_gives_every_package() {
        let packages = catalog(
            "/app/vendor/composer/installed.json",
            include_bytes!("testdata/app/vendor/composer/installed.json"),
        )
        .unwrap();
        assert_eq!(
            coordinates(&packages),
            [("guzzlehttp/psr7", "1.9.1"), ("psr/http-message", "1.0.1")]
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for bytes in [&b""[..], b"\xff\xfe\0", b"{\"packages\": [", b"42"] {
            assert!(matches!(
                catalog("/app/vendor/composer/installed.json", bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn deeply_nested_json_is_skipped_without_exhausting_the_stack() {
        let json = format!(
            r#"{{"packages": [{{"name": "a/b", "extra": {}{}}}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let packages = catalog("/app/vendor/composer/installed.json", json.as_bytes()).unwrap();
        assert_eq!(coordinates(&packages), [("a/b", "")]);
        let too_deep_where_read = format!(
            r#"[{{"name": "a/b", "license": {}{}}}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            catalog(
                "/app/vendor/composer/installed.json",
                too_deep_where_read.as_bytes()
            ),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_file_is_refused() {
        let big = vec![b' '; INSTALLED_LIMIT as usize + 1];
        assert!(matches!(
            catalog("/app/vendor/composer/installed.json", &big),
            Err(CatalogError::TooLarge { .. })
        ));
    }
}
