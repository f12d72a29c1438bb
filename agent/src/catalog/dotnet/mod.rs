//! .NET catalogers, both reporting [`Ecosystem::Nuget`](crate::package::Ecosystem)
//! packages (purl `pkg:nuget/<name>@<version>`):
//!
//! - [`DotnetDepsCataloger`]: the NuGet packages a published application carries, from
//!   its `<app>.deps.json`, as syft 1.18 reads them (`parse`, `package`).
//! - [`DotnetAssemblyCataloger`]: one package per `*.dll`/`*.exe` that is a PE file with
//!   a version resource, named and versioned from that resource as syft 1.18's
//!   `dotnet-portable-executable-cataloger` does (`pe`, `version_info`, `assembly`).
//!   Like syft it takes any PE, .NET or native, and reports nothing for a file without
//!   a name or version there.
//!
//! In an image scan syft 1.18 runs only the second (its deps.json cataloger is for
//! directory scans); syft 1.22 merged the two. Here both run, so a published
//! application's libraries show twice: once under their NuGet id and version from the
//! deps.json (`Serilog` 3.1.1, what advisories are keyed on), and once per assembly under
//! what its version resource says (a product name or file description, often with the
//! four-part file version, `3.1.1.0`). They are read from different files, so the merge
//! keeps both, like any findings of two files; they are not paired, as a version
//! resource carries no NuGet id to pair on.

mod assembly;
mod loose_version;
mod package;
mod parse;
mod pe;
mod version_info;

pub use package::identity;

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

/// Reads the version resource of PE files (`*.dll`, `*.exe`): .NET assemblies and
/// native Windows binaries alike.
pub struct DotnetAssemblyCataloger;

impl Cataloger for DotnetAssemblyCataloger {
    fn name(&self) -> &'static str {
        "dotnet-portable-executable"
    }

    /// syft's `**/*.dll` and `**/*.exe`, case-sensitive, whatever the mode.
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path
            .rsplit('/')
            .next()
            .is_some_and(|name| name.ends_with(".dll") || name.ends_with(".exe"))
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let Some(resources) = pe::version_resources(content)? else {
            return Ok(Findings::default());
        };
        let mut strings = std::collections::BTreeMap::new();
        // Later languages override earlier ones, as in syft.
        for resource in resources.iter() {
            strings.extend(version_info::parse(resource)?);
        }
        match assembly::to_package(&strings) {
            Some(package) => Ok(Findings::packages(vec![package])),
            None => {
                tracing::debug!(
                    path = file.path,
                    "PE version resource names no product or version"
                );
                Ok(Findings::default())
            }
        }
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

#[cfg(test)]
mod assembly_tests {
    use std::io::Read;
    use std::path::PathBuf;

    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    /// The fixtures, by image path, with the name, version and purl syft 1.18.1 reports
    /// for each (`syft dir:testdata -o json`, foundBy `dotnet-portable-executable-cataloger`).
    const FIXTURES: [(&str, &str, &str, &str); 5] = [
        (
            "/app/Acme.Widgets.dll",
            "Acme Widgets",
            "2.4.1.0",
            "pkg:nuget/Acme%20Widgets@2.4.1.0",
        ),
        (
            "/app/Contoso.Telemetry.dll",
            "Contoso.Telemetry",
            "8.0.124.61010",
            "pkg:nuget/Contoso.Telemetry@8.0.124.61010",
        ),
        (
            "/app/acme-cli.exe",
            "acme-cli",
            "3.1.0-beta.2",
            "pkg:nuget/acme-cli@3.1.0-beta.2",
        ),
        (
            "/usr/lib/mono/4.5/cert-sync.exe",
            "Mono Security Tools",
            "6.8.0.105",
            "pkg:nuget/Mono%20Security%20Tools@6.8.0.105",
        ),
        (
            "/usr/lib/mono/gac/Mono.Btls.Interface/4.0.0.0__0738eb9f132ed756/Mono.Btls.Interface.dll",
            "MONO CLI",
            "4.0.0.0",
            "pkg:nuget/MONO%20CLI@4.0.0.0",
        ),
    ];

    fn fixture_path(image_path: &str) -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/catalog/dotnet/testdata"
        ))
        .join(image_path.trim_start_matches('/'))
    }

    fn fixture(image_path: &str) -> Vec<u8> {
        std::fs::read(fixture_path(image_path)).unwrap()
    }

    fn from_bytes(bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        let mut reader = bytes;
        DotnetAssemblyCataloger
            .catalog(&meta("/app/a.dll"), Content::Stream(&mut reader))
            .map(|findings| findings.packages)
    }

    fn from_file(image_path: &str) -> Result<Vec<Package>, CatalogError> {
        let mut file = std::fs::File::open(fixture_path(image_path)).unwrap();
        DotnetAssemblyCataloger
            .catalog(&meta(image_path), Content::File(&mut file))
            .map(|findings| findings.packages)
    }

    fn name_and_version(packages: &[Package]) -> Vec<(&str, &str)> {
        packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect()
    }

    fn u32_le(bytes: &[u8], at: usize) -> usize {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
    }

    /// Offset of the resource entry of the data directories (the fixtures are PE32).
    fn resource_directory_entry(bytes: &[u8]) -> usize {
        let nt = u32_le(bytes, 0x3c);
        assert_eq!(&bytes[nt + 24..nt + 26], &0x10bu16.to_le_bytes());
        nt + 24 + 96 + 2 * 8
    }

    /// Offset of the `.rsrc` section header.
    fn rsrc_section_header(bytes: &[u8]) -> usize {
        let nt = u32_le(bytes, 0x3c);
        let optional_len = u16::from_le_bytes([bytes[nt + 20], bytes[nt + 21]]) as usize;
        let table = nt + 24 + optional_len;
        (0..3)
            .map(|i| table + i * 40)
            .find(|&at| &bytes[at..at + 5] == b".rsrc")
            .unwrap()
    }

    #[test]
    fn wants_dll_and_exe_files() {
        for path in [
            "/app/Acme.Widgets.dll",
            "/app/acme-cli.exe",
            "/usr/lib/mono/4.5/mscorlib.dll",
        ] {
            assert!(DotnetAssemblyCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/app/Acme.Widgets.DLL",
            "/app/Acme.Widgets.dll.config",
            "/app/Acme.Widgets.pdb",
            "/app/Acme.Widgets.deps.json",
            "/usr/lib/libmono-native.so",
            "/app/dll",
        ] {
            assert!(!DotnetAssemblyCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn fixtures_get_the_name_version_and_purl_syft_reports() {
        for (path, name, version, purl) in FIXTURES {
            for packages in [
                from_file(path).unwrap(),
                from_bytes(&fixture(path)).unwrap(),
            ] {
                assert_eq!(name_and_version(&packages), [(name, version)], "{path}");
                assert_eq!(packages[0].ecosystem, Ecosystem::Nuget);
                let found = crate::sbom::purl::package_url(&packages[0], None).unwrap();
                assert_eq!(found, purl);
            }
        }
    }

    /// The informational version keeps its `+commit` suffix in the properties, while the
    /// file version, one separator more detailed, is the version.
    #[test]
    fn informational_version_is_kept_as_the_product_version() {
        let packages = from_file("/app/Acme.Widgets.dll").unwrap();
        let properties: Vec<_> = packages[0]
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            properties,
            [
                ("dotnet:companyName", "Acme Corp"),
                ("dotnet:internalName", "Acme.Widgets"),
                ("dotnet:productName", "Acme Widgets"),
                ("dotnet:productVersion", "2.4.1+abcdef0"),
            ]
        );
    }

    #[test]
    fn files_that_are_not_pe_give_nothing() {
        let dos_program = {
            let mut bytes = fixture("/app/acme-cli.exe");
            let nt = u32_le(&bytes, 0x3c);
            bytes[nt..nt + 4].copy_from_slice(b"NE\0\0");
            bytes
        };
        for bytes in [
            &b""[..],
            b"M",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
            b"<?xml version=\"1.0\"?><configuration/>",
            &dos_program,
        ] {
            assert_eq!(from_bytes(bytes).unwrap(), [], "{bytes:?}");
        }
    }

    #[test]
    fn pe_without_resources_gives_nothing() {
        let mut bytes = fixture("/app/Acme.Widgets.dll");
        let entry = resource_directory_entry(&bytes);
        bytes[entry..entry + 8].fill(0);
        assert_eq!(from_bytes(&bytes).unwrap(), []);
    }

    #[test]
    fn truncated_assemblies_are_malformed() {
        for (path, ..) in FIXTURES {
            let bytes = fixture(path);
            let header = rsrc_section_header(&bytes);
            let rsrc_len = u32_le(&bytes, header + 8).min(u32_le(&bytes, header + 16));
            let rsrc_end = u32_le(&bytes, header + 20) + rsrc_len;
            for len in (2..rsrc_end).step_by(7) {
                assert!(
                    matches!(from_bytes(&bytes[..len]), Err(CatalogError::Malformed(_))),
                    "{path} cut at {len}"
                );
            }
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let bytes = fixture("/app/acme-cli.exe");
        for at in 0..bytes.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[at] = value;
                let _ = from_bytes(&corrupt);
            }
        }
    }

    #[test]
    fn garbage_after_a_pe_header_is_malformed() {
        let mut bytes = fixture("/app/acme-cli.exe");
        let nt = u32_le(&bytes, 0x3c);
        bytes.truncate(nt + 4);
        bytes.extend(std::iter::repeat_n(0xa5, 4096));
        assert!(matches!(
            from_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn damaged_version_resource_is_malformed() {
        let mut bytes = fixture("/app/Acme.Widgets.dll");
        let key = bytes.windows(6).position(|w| w == b"V\0S\0_\0").unwrap();
        bytes[key] = b'W';
        assert!(matches!(
            from_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    /// A resource section said to lie past the read limit is refused from a stream, and
    /// is beyond the end of an open file.
    #[test]
    fn resource_section_beyond_the_read_limit_is_refused() {
        let mut bytes = fixture("/app/Acme.Widgets.dll");
        let header = rsrc_section_header(&bytes);
        let far = u32::try_from(pe::READ_LIMIT).unwrap() + 512;
        bytes[header + 20..header + 24].copy_from_slice(&far.to_le_bytes());
        let mut endless = bytes.as_slice().chain(std::io::repeat(0));
        assert!(matches!(
            DotnetAssemblyCataloger.catalog(&meta("/app/a.dll"), Content::Stream(&mut endless)),
            Err(CatalogError::TooLarge { .. })
        ));

        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        assert!(matches!(
            DotnetAssemblyCataloger.catalog(&meta("/app/a.dll"), Content::File(&mut file)),
            Err(CatalogError::Malformed(_))
        ));
    }
}
