//! .NET cataloger: the NuGet packages a published application carries, from its
//! `<app>.deps.json`, as syft 1.18 reads them.

mod package;
mod parse;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Real manifests are tens of KiB; large ASP.NET applications stay under a few MiB.
const DEPS_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads .NET packages from `*.deps.json`.
pub struct DotnetDepsCataloger;

impl Cataloger for DotnetDepsCataloger {
    fn name(&self) -> &'static str {
        "dotnet-deps"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path
            .rsplit('/')
            .next()
            .and_then(|name| name.strip_suffix(".deps.json"))
            .is_some_and(|stem| !stem.is_empty())
    }

    fn catalog(
        &self,
        _file: &FileMeta<'_>,
        content: Content<'_>,
    ) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(DEPS_LIMIT)?;
        let packages = parse::parse_deps(&data)?
            .iter()
            .filter_map(|(key, library)| package::to_package(key, library))
            .collect();
        Ok(Findings::packages(packages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    const PYTHONNET_DEPS: &str =
        "/usr/local/lib/python3.12/site-packages/pythonnet/runtime/Python.Runtime.deps.json";

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        DotnetDepsCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    #[test]
    fn wants_deps_json_only() {
        for path in [PYTHONNET_DEPS, "/app/Shop.Api.deps.json"] {
            assert!(DotnetDepsCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/app/.deps.json",
            "/app/Shop.Api.runtimeconfig.json",
            "/app/deps.json",
            "/app/Shop.Api.deps.json.bak",
        ] {
            assert!(!DotnetDepsCataloger.wants(&meta(path)), "{path}");
        }
    }

    /// `Python.Runtime.deps.json` from the pythonnet 3.2.1 wheel on PyPI: one `project`
    /// (pythonnet itself) and nine `package` libraries.
    #[test]
    fn package_libraries_of_a_real_deps_json_are_found() {
        let packages = catalog(
            PYTHONNET_DEPS,
            include_bytes!(
                "testdata/usr/local/lib/python3.12/site-packages/pythonnet/runtime/Python.Runtime.deps.json"
            ),
        )
        .unwrap();
        let mut found: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("Microsoft.CSharp", "4.7.0"),
                ("Microsoft.SourceLink.GitHub", "10.0.401"),
                ("System.Buffers", "4.6.1"),
                ("System.IO.Hashing", "10.0.12"),
                ("System.Memory", "4.6.3"),
                ("System.Numerics.Vectors", "4.6.1"),
                ("System.Reflection.Emit", "4.7.0"),
                ("System.Reflection.Emit.ILGeneration", "4.7.0"),
                ("System.Runtime.CompilerServices.Unsafe", "6.1.2"),
            ]
        );
        assert!(packages.iter().all(|p| p.ecosystem == Ecosystem::Nuget));
        assert_eq!(
            packages
                .iter()
                .find(|p| p.name == "System.Memory")
                .and_then(|p| p.properties.get("nuget_sha512")).map(String::as_str),
            Some("sha512-qdcDOgnFZY40+Q9876JUHnlHu7bosOHX8XISRoH94fwk6hgaeQGSgfZd8srWRZNt5bV9ZW2TljcegDNxsf+96A==")
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_malformed() {
        for bytes in [
            &b""[..],
            b"\xff\xfe\0",
            b"{\"libraries\": {\"a/1\": {",
            b"null x",
        ] {
            assert!(matches!(
                catalog("/app/a.deps.json", bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn deeply_nested_json_is_skipped_without_exhausting_the_stack() {
        let json = format!(
            r#"{{"targets": {}{}, "libraries": {{"Serilog/3.1.1": {{"type": "package"}}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let packages = catalog("/app/a.deps.json", json.as_bytes()).unwrap();
        assert_eq!(packages.len(), 1);
        let too_deep_where_read = format!(
            r#"{{"libraries": {{"a/1": {{"type": {}{}}}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            catalog("/app/a.deps.json", too_deep_where_read.as_bytes()),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_file_is_refused() {
        let big = vec![b' '; DEPS_LIMIT as usize + 1];
        assert!(matches!(
            catalog("/app/a.deps.json", &big),
            Err(CatalogError::TooLarge { .. })
        ));
    }
}
