//! Ruby cataloger: installed gems, from the gemspecs RubyGems writes under
//! `specifications/` (`/usr/local/lib/ruby/gems/3.3.0/specifications/rack-3.1.8.gemspec`,
//! Debian's `/usr/share/rubygems-integration/all/specifications/`), as syft 1.18 reads them.

mod package;
mod parse;

pub use package::identity;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Installed gemspecs are a few KiB.
const GEMSPEC_LIMIT: u64 = 1024 * 1024;

/// Reads installed Ruby gems from their gemspecs.
pub struct GemspecCataloger;

impl Cataloger for GemspecCataloger {
    fn name(&self) -> &'static str {
        "ruby-gemspec"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".gemspec") && file.path.contains("/specifications/")
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(GEMSPEC_LIMIT)?;
        let spec = parse::parse_gemspec(&String::from_utf8_lossy(&data));
        Ok(Findings::packages(
            package::to_package(spec).into_iter().collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        GemspecCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    #[test]
    fn wants_installed_gemspecs_only() {
        for path in [
            "/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
            "/usr/local/lib/ruby/gems/3.3.0/specifications/default/json-2.7.2.gemspec",
            "/usr/local/bundle/specifications/puma-6.4.2.gemspec",
            "/var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        ] {
            assert!(GemspecCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/usr/src/app/myapp.gemspec",
            "/usr/local/bundle/gems/puma-6.4.2/puma.gemspec",
            "/usr/local/bundle/specifications/puma-6.4.2.gemspec.bak",
        ] {
            assert!(!GemspecCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn debian_gemspecs_give_name_version_and_licence() {
        for (path, bytes, name, version) in [
            (
                "/usr/share/rubygems-integration/all/specifications/rainbow-3.1.1.gemspec",
                &include_bytes!(
                    "testdata/usr/share/rubygems-integration/all/specifications/rainbow-3.1.1.gemspec"
                )[..],
                "rainbow",
                "3.1.1",
            ),
            (
                "/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
                &include_bytes!(
                    "testdata/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"
                )[..],
                "rack",
                "2.2.22",
            ),
        ] {
            let packages = catalog(path, bytes).unwrap();
            assert_eq!(packages.len(), 1, "{path}");
            let gem = &packages[0];
            assert_eq!(gem.ecosystem, Ecosystem::Gem);
            assert_eq!((gem.name.as_str(), gem.version.as_str()), (name, version));
            assert_eq!(gem.licenses, ["MIT"]);
        }
    }

    #[test]
    fn default_gem_lists_every_licence() {
        let packages = catalog(
            "/usr/lib/ruby/gems/3.1.0/specifications/net-ftp-0.1.3.gemspec",
            include_bytes!("testdata/usr/lib/ruby/gems/3.1.0/specifications/net-ftp-0.1.3.gemspec"),
        )
        .unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].licenses, ["Ruby", "BSD-2-Clause"]);
    }

    #[test]
    fn garbage_gives_nothing() {
        for bytes in [
            &b""[..],
            b"\xff\xfe\0\x01",
            b"s.name = \"unterminated\ns.version =\n",
        ] {
            assert_eq!(catalog("/x/specifications/a.gemspec", bytes).unwrap(), []);
        }
    }

    #[test]
    fn oversized_gemspec_is_refused() {
        let big = vec![b'#'; GEMSPEC_LIMIT as usize + 1];
        assert!(matches!(
            catalog("/x/specifications/a.gemspec", &big),
            Err(CatalogError::TooLarge { .. })
        ));
    }
}
