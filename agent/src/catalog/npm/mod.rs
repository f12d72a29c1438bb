//! npm cataloger: every `package.json` in an image, as syft 1.18 reads them.
//!
//! syft's image scan reads `**/package.json`, not only those under `node_modules`: an
//! application's own (often `private`) manifest is a package too, while the nested
//! `{"type": "module"}` files some packages ship have no name and give nothing.

mod package;
mod parse;

pub use package::identity;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Real manifests are a few KiB; the largest published ones are well under 1 MiB (the
/// largest of 4,412 on this build machine: 56,723 bytes). A larger one is noted as not
/// read.
const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;

/// Reads installed JavaScript packages from their `package.json`.
pub struct NpmCataloger;

impl Cataloger for NpmCataloger {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with("/package.json")
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(MANIFEST_LIMIT)?;
        let (manifests, incomplete) = parse::parse_manifests(&data)?.finish(None, "documents");
        let packages = manifests
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
        NpmCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    fn only(path: &str, bytes: &[u8]) -> Package {
        let mut packages = catalog(path, bytes).unwrap();
        assert_eq!(packages.len(), 1);
        packages.remove(0)
    }

    #[test]
    fn wants_every_package_json() {
        for path in [
            "/usr/src/app/package.json",
            "/usr/src/app/node_modules/@types/node/package.json",
            "/usr/local/lib/node_modules/npm/node_modules/glob/dist/esm/package.json",
            "/package.json",
        ] {
            assert!(NpmCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/usr/src/app/package-lock.json",
            "/usr/src/app/node_modules/.package-lock.json",
            "/usr/src/app/my-package.json",
            "/usr/src/app/package.json5",
        ] {
            assert!(!NpmCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn installed_package_gives_name_version_and_licence() {
        let is_number = only(
            "/usr/src/app/node_modules/is-number/package.json",
            include_bytes!("testdata/usr/src/app/node_modules/is-number/package.json"),
        );
        assert_eq!(is_number.ecosystem, Ecosystem::Npm);
        assert_eq!(
            (is_number.name.as_str(), is_number.version.as_str()),
            ("is-number", "7.0.0")
        );
        assert_eq!(is_number.licenses, ["MIT"]);
    }

    #[test]
    fn scoped_package_keeps_its_scope_in_the_name() {
        let node_types = only(
            "/usr/src/app/node_modules/@types/node/package.json",
            include_bytes!("testdata/usr/src/app/node_modules/@types/node/package.json"),
        );
        assert_eq!(
            (node_types.name.as_str(), node_types.version.as_str()),
            ("@types/node", "22.10.2")
        );
    }

    #[test]
    fn private_application_manifest_is_a_package() {
        let app = only(
            "/usr/src/app/package.json",
            include_bytes!("testdata/usr/src/app/package.json"),
        );
        assert_eq!(
            (app.name.as_str(), app.version.as_str()),
            ("shop-frontend", "1.4.0")
        );
        assert_eq!(app.licenses, ["ISC"]);
    }

    #[test]
    fn legacy_licenses_array_gives_every_type() {
        let json_schema = only(
            "/usr/src/app/node_modules/json-schema/package.json",
            include_bytes!("testdata/usr/src/app/node_modules/json-schema/package.json"),
        );
        assert_eq!(json_schema.version, "0.2.3");
        assert_eq!(json_schema.licenses, ["AFLv2.1", "BSD"]);
        let qrcode = only(
            "/usr/local/lib/node_modules/npm/node_modules/qrcode-terminal/package.json",
            include_bytes!(
                "testdata/usr/local/lib/node_modules/npm/node_modules/qrcode-terminal/package.json"
            ),
        );
        assert_eq!(
            (qrcode.name.as_str(), qrcode.version.as_str()),
            ("qrcode-terminal", "0.12.0")
        );
        assert_eq!(qrcode.licenses, ["Apache 2.0"]);
    }

    #[test]
    fn license_array_is_read_too() {
        let pause_stream = only(
            "/usr/src/app/node_modules/pause-stream/package.json",
            include_bytes!("testdata/usr/src/app/node_modules/pause-stream/package.json"),
        );
        assert_eq!(pause_stream.version, "0.0.11");
        assert_eq!(pause_stream.licenses, ["MIT", "Apache2"]);
    }

    #[test]
    fn nested_module_type_manifest_is_no_package() {
        let packages = catalog(
            "/usr/local/lib/node_modules/npm/node_modules/glob/dist/esm/package.json",
            include_bytes!(
                "testdata/usr/local/lib/node_modules/npm/node_modules/glob/dist/esm/package.json"
            ),
        )
        .unwrap();
        assert_eq!(packages, []);
    }

    /// One document per `node_modules/<n>/package.json` and the packages syft 1.18.1 reported
    /// for it (`syft scan dir:… --override-default-catalogers image`). syft writes a missing
    /// version as `UNKNOWN`; here it stays empty.
    const SYFT_1_18_OUTCOMES: &[(&str, &[(&str, &str)])] = &[
        (r#"{"name": "ok-a", "version": "1"}"#, &[("ok-a", "1")]),
        (r#"{"name": "num-version", "version": 1}"#, &[]),
        (
            r#"{"name": "private-str", "version": "1", "private": "true"}"#,
            &[],
        ),
        (
            r#"{"name": "desc-obj", "version": "1", "description": {"en": "x"}}"#,
            &[],
        ),
        (
            r#"{"name": "deps-num", "version": "1", "dependencies": {"b": 1}}"#,
            &[],
        ),
        (
            r#"{"name": "author-arr", "version": "1", "author": ["x"]}"#,
            &[],
        ),
        (
            r#"{"name": "author-name-num", "version": "1", "author": {"name": 7}}"#,
            &[],
        ),
        (
            r#"{"name": "author-other-num", "version": "1", "author": {"name": "x", "web": 7}}"#,
            &[("author-other-num", "1")],
        ),
        (
            r#"{"name": "repo-bool", "version": "1", "repository": true}"#,
            &[],
        ),
        (
            r#"{"name": "repo-nested", "version": "1", "repository": {"url": "x", "directory": {"p": 1}}}"#,
            &[],
        ),
        (
            r#"{"name": "repo-null-val", "version": "1", "repository": {"url": null}}"#,
            &[("repo-null-val", "1")],
        ),
        (
            r#"{"Name": "upper-key", "VERSION": "2"}"#,
            &[("upper-key", "2")],
        ),
        (
            r#"{"name": "dup", "name": null, "version": "3"}"#,
            &[("dup", "3")],
        ),
        (r#"{"name": "no-version"}"#, &[("no-version", "")]),
        (r#"{"name": "  ", "version": "1"}"#, &[]),
        (
            r#"{"name": "multi-a", "version": "1"} {"name": "multi-b", "version": "2"}"#,
            &[("multi-a", "1"), ("multi-b", "2")],
        ),
        (r#"{"name": "trailing", "version": "1"} garbage"#, &[]),
        ("null", &[]),
        (
            r#"{"name": "latest-str", "version": "1", "latest": "1"}"#,
            &[],
        ),
        (
            r#"{"name": "homepage-arr", "version": "1", "homepage": ["x"]}"#,
            &[],
        ),
        (
            r#"{"name": "lic-weird", "version": "1", "license": [1, {"type": 2}]}"#,
            &[("lic-weird", "1")],
        ),
    ];

    #[test]
    fn same_documents_give_packages_as_with_syft_1_18() {
        for (json, expected) in SYFT_1_18_OUTCOMES {
            let found =
                catalog("/app/node_modules/x/package.json", json.as_bytes()).unwrap_or_default();
            let found: Vec<_> = found
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            assert_eq!(found, *expected, "{json}");
        }
    }

    #[test]
    fn invalid_json_is_malformed() {
        for bytes in [
            &b"{\"name\": \"a\""[..],
            b"\xff\xfe\0garbage",
            b"{\"name\": \"a\", \"version\": 1}",
        ] {
            assert!(matches!(
                catalog("/app/package.json", bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn deeply_nested_json_is_read_without_exhausting_the_stack() {
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let types = format!("{}1{}", r#"{"type":"#.repeat(100_000), "}".repeat(100_000));
        let json = format!(
            r#"{{"name": "deep", "x": {nested}, "license": {nested}, "licenses": {types}}}"#
        );
        let deep = only("/app/package.json", json.as_bytes());
        assert_eq!(deep.name, "deep");
        assert!(deep.licenses.is_empty());
    }

    #[test]
    fn oversized_manifest_is_refused() {
        let big = vec![b' '; MANIFEST_LIMIT as usize + 1];
        assert!(matches!(
            catalog("/app/package.json", &big),
            Err(CatalogError::TooLarge { .. })
        ));
    }
}
