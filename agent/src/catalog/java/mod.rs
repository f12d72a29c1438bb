//! Java cataloger: jar, war, ear and Jenkins plugin (jpi, hpi) archives, and the archives
//! nested in them, as syft 1.18 reads them.
//!
//! Every `pom.properties` under `META-INF/maven/` is one package (shaded jars hold
//! several); an archive without any is named by its file name and manifest. Packages
//! of nested archives carry where they were found in [`package::NESTED_PATH_PROPERTY`].

mod package;
mod parse;

pub use package::identity;

use super::spool::spool;
use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// Largest archive read; fat jars of real services stay well below this (the largest of
/// 639 on the build machine: 70 MB, 33,472 entries). A larger one is noted as not read.
const ARCHIVE_LIMIT: u64 = 2 << 30;
/// An archive arriving as a stream (a tar entry) is held in memory up to this size to be
/// sought in, and copied to a temporary file beyond, so memory stays flat.
const STREAM_IN_MEMORY: u64 = 8 << 20;

/// Reads Java packages from Java archives.
pub struct JavaArchiveCataloger;

impl Cataloger for JavaArchiveCataloger {
    fn name(&self) -> &'static str {
        "java-archive"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        parse::is_archive_name(file.path)
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let parsed = match content {
            Content::File(handle) => {
                if handle.metadata()?.len() > ARCHIVE_LIMIT {
                    return Err(CatalogError::TooLarge {
                        limit: ARCHIVE_LIMIT,
                    });
                }
                let reader = std::io::BufReader::new(handle);
                parse::parse_archive(reader, file.path, parse::Limits::DEFAULT)?
            }
            Content::Stream(stream) => {
                let spooled = spool(stream, file.size, STREAM_IN_MEMORY, ARCHIVE_LIMIT)?;
                parse::parse_archive(spooled, file.path, parse::Limits::DEFAULT)?
            }
        };
        let packages = parsed
            .archives
            .iter()
            .flat_map(package::to_packages)
            .collect();
        // Notes name where in the file they apply; the file's own path is added when the
        // note reaches the SBOM.
        let incomplete = parsed
            .incomplete
            .into_iter()
            .map(|note| {
                note.replacen(&format!("{}: ", file.path), "", 1).replacen(
                    &format!("{}:", file.path),
                    "",
                    1,
                )
            })
            .collect();
        Ok(Findings {
            incomplete,
            ..Findings::packages(packages)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package};

    const SLF4J_NOP: &[u8] = include_bytes!("testdata/usr/share/java/slf4j-nop-1.7.32.jar");
    const ATINJECT: &[u8] = include_bytes!("testdata/usr/share/java/atinject-jsr330-api-1.0.jar");

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        JavaArchiveCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    fn coordinates(packages: &[Package]) -> Vec<(&str, &str)> {
        let mut found: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        found.sort();
        found
    }

    /// A zip of `(name, content)` entries, deflated.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, content) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn pom(group: &str, artifact: &str, version: &str) -> Vec<u8> {
        format!("groupId={group}\nartifactId={artifact}\nversion={version}\n").into_bytes()
    }

    #[test]
    fn wants_java_archives_only() {
        for path in [
            "/usr/share/java/slf4j-nop-1.7.32.jar",
            "/usr/local/tomcat/webapps/shop.war",
            "/opt/app.EAR",
            "/var/jenkins_home/plugins/git.jpi",
            "/var/jenkins_home/plugins/credentials.hpi",
        ] {
            assert!(JavaArchiveCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/usr/share/java/x.jar.sha1",
            "/usr/share/java/jar",
            "/app/app.zip",
            "/usr/bin/java",
        ] {
            assert!(!JavaArchiveCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn pom_properties_name_the_package() {
        let packages = catalog("/usr/share/java/slf4j-nop-1.7.32.jar", SLF4J_NOP).unwrap();
        assert_eq!(coordinates(&packages), [("org.slf4j:slf4j-nop", "1.7.32")]);
        assert_eq!(packages[0].ecosystem, Ecosystem::Maven);
        assert!(packages[0].properties.is_empty());
    }

    #[test]
    fn shaded_jar_gives_one_package_per_pom_properties() {
        let packages = catalog(
            "/usr/share/java/maven3-slf4j-provider-3.8.7.jar",
            include_bytes!("testdata/usr/share/java/maven3-slf4j-provider-3.8.7.jar"),
        )
        .unwrap();
        assert_eq!(
            coordinates(&packages),
            [
                ("org.apache.maven:maven-slf4j-provider", "3.8.7"),
                ("org.slf4j:slf4j-simple", "1.7.32"),
            ]
        );
    }

    #[test]
    fn jar_without_pom_properties_is_named_by_file_name_and_manifest() {
        // The file name gives name and version. Its only group-like attribute,
        // `Bundle-SymbolicName: javax.inject`, does not start with a domain syft accepts,
        // so like syft the name stands in for the group.
        let packages = catalog("/usr/share/java/atinject-jsr330-api-1.0.jar", ATINJECT).unwrap();
        assert_eq!(
            coordinates(&packages),
            [("atinject-jsr330-api:atinject-jsr330-api", "1.0")]
        );
    }

    #[test]
    fn jars_in_a_war_are_found_with_their_nested_path() {
        let war = zip_of(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n"),
            (
                "META-INF/maven/com.example/shop/pom.properties",
                &pom("com.example", "shop", "2.3.0"),
            ),
            ("WEB-INF/lib/slf4j-nop-1.7.32.jar", SLF4J_NOP),
            ("WEB-INF/lib/atinject-jsr330-api-1.0.jar", ATINJECT),
        ]);
        let packages = catalog("/usr/local/tomcat/webapps/shop.war", &war).unwrap();
        assert_eq!(
            coordinates(&packages),
            [
                ("atinject-jsr330-api:atinject-jsr330-api", "1.0"),
                ("com.example:shop", "2.3.0"),
                ("org.slf4j:slf4j-nop", "1.7.32"),
            ]
        );
        let nested = |name: &str| {
            packages
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.properties.get(package::NESTED_PATH_PROPERTY))
                .cloned()
        };
        assert_eq!(nested("com.example:shop"), None);
        assert_eq!(
            nested("org.slf4j:slf4j-nop").as_deref(),
            Some("/usr/local/tomcat/webapps/shop.war:WEB-INF/lib/slf4j-nop-1.7.32.jar")
        );
    }

    #[test]
    fn spring_boot_jar_in_an_ear_keeps_the_whole_chain() {
        let boot = zip_of(&[("BOOT-INF/lib/slf4j-nop-1.7.32.jar", SLF4J_NOP)]);
        let ear = zip_of(&[("app.jar", &boot)]);
        let packages = catalog("/opt/app.ear", &ear).unwrap();
        assert_eq!(coordinates(&packages), [("org.slf4j:slf4j-nop", "1.7.32")]);
        assert_eq!(
            packages[0]
                .properties
                .get(package::NESTED_PATH_PROPERTY)
                .map(String::as_str),
            Some("/opt/app.ear:app.jar:BOOT-INF/lib/slf4j-nop-1.7.32.jar")
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_not_opened() {
        let mut archive = zip_of(&[(
            "META-INF/maven/deep/level6/pom.properties",
            &pom("deep", "level6", "6"),
        )]);
        for level in (0..6).rev() {
            archive = zip_of(&[
                (
                    &format!("META-INF/maven/deep/level{level}/pom.properties"),
                    &pom("deep", &format!("level{level}"), &level.to_string()),
                ),
                ("lib/inner.jar", &archive),
            ]);
        }
        let packages = catalog("/app/outer.jar", &archive).unwrap();
        let names: Vec<_> = coordinates(&packages).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "deep:level0",
                "deep:level1",
                "deep:level2",
                "deep:level3",
                "deep:level4"
            ]
        );
    }

    #[test]
    fn broken_nested_archive_is_skipped_and_the_rest_is_found() {
        let truncated = SLF4J_NOP.get(..SLF4J_NOP.len() / 2).unwrap();
        let war = zip_of(&[
            ("WEB-INF/lib/broken-1.0.jar", truncated),
            ("WEB-INF/lib/garbage-1.0.jar", b"not a zip at all"),
            ("WEB-INF/lib/atinject-jsr330-api-1.0.jar", ATINJECT),
        ]);
        let findings = JavaArchiveCataloger
            .catalog(&meta("/app/shop.war"), Content::Stream(&mut war.as_slice()))
            .unwrap();
        assert_eq!(
            coordinates(&findings.packages),
            [("atinject-jsr330-api:atinject-jsr330-api", "1.0")]
        );
        assert_eq!(findings.incomplete.len(), 2, "{:?}", findings.incomplete);
        assert!(findings.incomplete[0]
            .starts_with("skipped a nested archive: WEB-INF/lib/broken-1.0.jar: "));
        assert!(findings.incomplete[1]
            .starts_with("skipped a nested archive: WEB-INF/lib/garbage-1.0.jar: "));
    }

    #[test]
    fn garbage_and_truncated_archives_are_malformed() {
        let truncated = SLF4J_NOP.get(..SLF4J_NOP.len() - 30).unwrap();
        for bytes in [&b""[..], b"PK\x03\x04garbage", b"\xff\xfe\0", truncated] {
            assert!(matches!(
                catalog("/app/x.jar", bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn manifest_bomb_stops_the_reading_and_keeps_what_came_before() {
        // 4 MiB of spaces deflate to a few KiB.
        let bomb = vec![b' '; 4 * 1024 * 1024];
        let jar = zip_of(&[
            (
                "META-INF/maven/org.example/a/pom.properties",
                &pom("org.example", "a", "1.0"),
            ),
            ("META-INF/MANIFEST.MF", &bomb),
            (
                "META-INF/maven/org.example/b/pom.properties",
                &pom("org.example", "b", "2.0"),
            ),
        ]);
        assert!(jar.len() < 64 * 1024);
        let findings = JavaArchiveCataloger
            .catalog(&meta("/app/x.jar"), Content::Stream(&mut jar.as_slice()))
            .unwrap();
        assert_eq!(coordinates(&findings.packages), [("org.example:a", "1.0")]);
        assert_eq!(
            findings.incomplete,
            ["stopped at an entry over 1048576 bytes (limit)"]
        );
    }

    #[test]
    fn nested_bomb_keeps_the_archives_read_before_it() {
        // Room for the first jar and its metadata, not for the bomb's manifest.
        let max_decompressed = ATINJECT.len() as u64 + (256 << 10);
        let limits = parse::Limits {
            max_decompressed,
            ..parse::Limits::DEFAULT
        };
        let bomb = zip_of(&[("META-INF/MANIFEST.MF", &vec![b' '; 512 << 10])]);
        let war = zip_of(&[
            ("WEB-INF/lib/atinject-jsr330-api-1.0.jar", ATINJECT),
            ("WEB-INF/lib/bomb.jar", &bomb),
            ("WEB-INF/lib/slf4j-nop-1.7.32.jar", SLF4J_NOP),
        ]);
        let parsed = parse::parse_archive(Cursor::new(&war), "/app/shop.war", limits).unwrap();
        let packages: Vec<Package> = parsed
            .archives
            .iter()
            .flat_map(package::to_packages)
            .collect();
        assert_eq!(
            coordinates(&packages),
            [("atinject-jsr330-api:atinject-jsr330-api", "1.0")]
        );
        assert_eq!(
            parsed.incomplete,
            [format!(
                "/app/shop.war:WEB-INF/lib/bomb.jar: stopped after {max_decompressed} \
                 decompressed bytes in all (limit)"
            )]
        );
    }

    #[test]
    fn nested_archives_share_one_decompression_budget() {
        let limits = parse::Limits {
            max_decompressed: (SLF4J_NOP.len() * 2 + SLF4J_NOP.len() / 2) as u64,
            ..parse::Limits::DEFAULT
        };
        let war = zip_of(&[
            ("WEB-INF/lib/a.jar", SLF4J_NOP),
            ("WEB-INF/lib/b.jar", SLF4J_NOP),
            ("WEB-INF/lib/c.jar", SLF4J_NOP),
        ]);
        let stopped = parse::parse_archive(Cursor::new(&war), "/app/shop.war", limits).unwrap();
        assert_eq!(stopped.incomplete.len(), 1, "{:?}", stopped.incomplete);
        // Each nested jar costs its own bytes and its decompressed manifest, pom.properties
        // and pom.xml.
        let within = parse::Limits {
            max_decompressed: (SLF4J_NOP.len() * 5) as u64,
            ..limits
        };
        let whole = parse::parse_archive(Cursor::new(&war), "/app/shop.war", within).unwrap();
        assert!(whole.incomplete.is_empty());
        assert_eq!(whole.archives.len(), 4);
    }

    #[test]
    fn archives_larger_than_memory_holds_are_read_from_temporary_files() {
        // Incompressible filler, so that the nested jar and the war itself are both
        // larger than what is held in memory.
        let mut filler = vec![0u8; (STREAM_IN_MEMORY + (1 << 20)) as usize];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for byte in &mut filler {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        let inner = zip_of(&[
            (
                "META-INF/maven/com.example/big/pom.properties",
                &pom("com.example", "big", "1.0"),
            ),
            ("blob.bin", &filler),
        ]);
        assert!(inner.len() as u64 > STREAM_IN_MEMORY);
        let war = zip_of(&[
            ("WEB-INF/lib/big-1.0.jar", &inner),
            ("WEB-INF/lib/slf4j-nop-1.7.32.jar", SLF4J_NOP),
        ]);
        let expected = [
            ("com.example:big", "1.0"),
            ("org.slf4j:slf4j-nop", "1.7.32"),
        ];
        let streamed = catalog("/app/shop.war", &war).unwrap();
        assert_eq!(coordinates(&streamed), expected);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.war");
        std::fs::write(&path, &war).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let from_file = JavaArchiveCataloger
            .catalog(&meta("/app/shop.war"), Content::File(&mut file))
            .unwrap()
            .packages;
        assert_eq!(coordinates(&from_file), expected);
    }

    #[test]
    fn entry_count_is_bounded_before_the_directory_is_loaded() {
        let limits = parse::Limits {
            max_entries: 3,
            ..parse::Limits::DEFAULT
        };
        let many: Vec<(String, Vec<u8>)> =
            (0..4).map(|i| (format!("f{i}.txt"), Vec::new())).collect();
        let entries: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(name, content)| (name.as_str(), content.as_slice()))
            .collect();
        let jar = zip_of(&entries);
        let over = parse::parse_archive(Cursor::new(&jar), "/app/x.jar", limits).unwrap();
        assert!(over.archives.is_empty());
        assert_eq!(
            over.incomplete,
            ["/app/x.jar: not read, more than 3 zip entries in all (limit)"]
        );
        let fits = zip_of(entries.get(..3).unwrap());
        let whole = parse::parse_archive(Cursor::new(&fits), "/app/x.jar", limits).unwrap();
        assert!(whole.incomplete.is_empty());
    }

    /// A `pom.xml` whose project states `licenses`, with decoys elsewhere in it.
    fn pom_xml(licenses: &[&str]) -> Vec<u8> {
        let licenses: String = licenses
            .iter()
            .map(|name| {
                format!("<license><name>{name}</name><url>https://x/{name}</url></license>")
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- <licenses><license><name>Commented</name></license></licenses> -->
  <name>example</name>
  <licenses>{licenses}</licenses>
  <profiles><profile><licenses><license><name>Profile</name></license></licenses></profile></profiles>
</project>"#
        )
        .into_bytes()
    }

    fn licences_of(packages: &[Package]) -> Vec<(&str, Vec<&str>)> {
        let mut found: Vec<_> = packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.licenses.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn embedded_pom_xml_states_the_licence() {
        let packages = catalog(
            "/usr/share/java/error-prone-type-annotations-2.18.0.jar",
            include_bytes!("testdata/usr/share/java/error-prone-type-annotations-2.18.0.jar"),
        )
        .unwrap();
        assert_eq!(
            licences_of(&packages),
            [(
                "com.google.errorprone:error_prone_type_annotations",
                vec!["Apache 2.0"]
            )]
        );
    }

    #[test]
    fn manifest_licence_url_is_kept_for_the_sbom_to_resolve() {
        // Debian's libcdi-api-java, trimmed to its metadata: `Bundle-License:
        // http://www.apache.org/licenses/LICENSE-2.0.html` wins over the pom.xml's name,
        // as in syft; the SBOM writes it as `Apache-2.0`.
        let packages = catalog(
            "/usr/share/java/cdi-api-1.2.jar",
            include_bytes!("testdata/usr/share/java/cdi-api-1.2.jar"),
        )
        .unwrap();
        assert_eq!(
            licences_of(&packages),
            [(
                "javax.enterprise:cdi-api",
                vec!["http://www.apache.org/licenses/LICENSE-2.0.html"]
            )]
        );
    }

    #[test]
    fn apache_licence_file_states_the_licence_when_the_manifest_does_not() {
        // Debian's libcommons-io-java, trimmed to its metadata and META-INF/LICENSE.txt:
        // no Bundle-License, a pom.xml whose licence is its parent's.
        let packages = catalog(
            "/usr/share/java/commons-io-2.11.0.jar",
            include_bytes!("testdata/usr/share/java/commons-io-2.11.0.jar"),
        )
        .unwrap();
        assert_eq!(
            licences_of(&packages),
            [("commons-io:commons-io", vec!["Apache-2.0"])]
        );
    }

    #[test]
    fn licence_files_of_meta_inf_win_over_the_root_and_the_pom_xml() {
        let apache = include_str!("testdata/apache-2.0.txt").as_bytes();
        let jar = |entries: &[(&str, &[u8])]| {
            let mut all: Vec<(&str, &[u8])> = vec![
                (
                    "META-INF/maven/com.example/app/pom.properties",
                    b"groupId=com.example\nartifactId=app\nversion=1.0\n",
                ),
                (
                    "META-INF/maven/com.example/app/pom.xml",
                    b"<project><licenses><license><name>MIT</name></license></licenses></project>",
                ),
            ];
            all.extend_from_slice(entries);
            catalog("/app/app-1.0.jar", &zip_of(&all)).unwrap()
        };
        let found = |entries: &[(&str, &[u8])]| -> Vec<String> { jar(entries)[0].licenses.clone() };
        // syft's order: licence files before the pom.xml.
        assert_eq!(found(&[("META-INF/license", apache)]), ["Apache-2.0"]);
        assert_eq!(found(&[("LICENSE.txt", apache)]), ["Apache-2.0"]);
        // A root file is not read when META-INF has one, even one that is not recognised.
        assert_eq!(
            found(&[("META-INF/LICENSE", b"Custom terms"), ("LICENSE", apache)]),
            ["MIT"]
        );
        // Not licence files by name or place.
        assert_eq!(found(&[("META-INF/NOTICE.txt", apache)]), ["MIT"]);
        assert_eq!(found(&[("docs/LICENSE", apache)]), ["MIT"]);
        // The manifest's licence wins over the file.
        assert_eq!(
            found(&[
                (
                    "META-INF/MANIFEST.MF",
                    b"Manifest-Version: 1.0\nBundle-License: EPL-2.0\n"
                ),
                ("META-INF/LICENSE", apache),
            ]),
            ["EPL-2.0"]
        );
    }

    #[test]
    fn pom_licence_url_stands_in_for_a_name_that_is_no_id() {
        // Debian's libslf4j-java, trimmed to its metadata: `Apache Software Licenses` says
        // no version; its URL does.
        let packages = catalog(
            "/usr/share/java/log4j-over-slf4j-1.7.32.jar",
            include_bytes!("testdata/usr/share/java/log4j-over-slf4j-1.7.32.jar"),
        )
        .unwrap();
        assert_eq!(
            licences_of(&packages),
            [(
                "org.slf4j:log4j-over-slf4j",
                vec!["http://www.apache.org/licenses/LICENSE-2.0.txt"]
            )]
        );
    }

    #[test]
    fn pom_licence_name_wins_unless_only_the_url_is_known() {
        let xml = br#"<project><licenses>
  <license><name>Apache License, Version 2.0</name><url>https://example.com/L</url></license>
  <license><name>Custom</name><url>https://example.com/custom</url></license>
  <license><name>Old style</name><url>https://opensource.org/licenses/MIT</url></license>
  <license><url>https://example.com/only-url</url></license>
</licenses></project>"#;
        let jar = zip_of(&[
            (
                "META-INF/maven/com.example/app/pom.properties",
                &pom("com.example", "app", "1.0"),
            ),
            ("META-INF/maven/com.example/app/pom.xml", xml),
        ]);
        let packages = catalog("/app/app-1.0.jar", &jar).unwrap();
        assert_eq!(
            licences_of(&packages),
            [(
                "com.example:app",
                vec![
                    "Apache License, Version 2.0",
                    "Custom",
                    "https://opensource.org/licenses/MIT",
                    "https://example.com/only-url",
                ]
            )]
        );
    }

    #[test]
    fn pom_without_licences_gives_none() {
        // slf4j-nop's pom.xml inherits its licence from a parent pom, which is not there.
        let packages = catalog("/usr/share/java/slf4j-nop-1.7.32.jar", SLF4J_NOP).unwrap();
        assert!(packages[0].licenses.is_empty());
    }

    #[test]
    fn each_shaded_pom_gets_the_licences_of_its_own_pom_xml() {
        // pom.xml before pom.properties: zip order does not matter.
        let jar = zip_of(&[
            (
                "META-INF/maven/com.example/app/pom.xml",
                &pom_xml(&["MIT", "Apache-2.0"]),
            ),
            (
                "META-INF/maven/com.example/app/pom.properties",
                &pom("com.example", "app", "1.0"),
            ),
            (
                "META-INF/maven/org.lib/shaded/pom.properties",
                &pom("org.lib", "shaded", "2.0"),
            ),
            (
                "META-INF/maven/org.lib/shaded/pom.xml",
                &pom_xml(&["BSD-3-Clause"]),
            ),
            (
                "META-INF/maven/org.other/bare/pom.properties",
                &pom("org.other", "bare", "3.0"),
            ),
        ]);
        let packages = catalog("/app/app-1.0.jar", &jar).unwrap();
        assert_eq!(
            licences_of(&packages),
            [
                ("com.example:app", vec!["MIT", "Apache-2.0"]),
                ("org.lib:shaded", vec!["BSD-3-Clause"]),
                ("org.other:bare", vec![]),
            ]
        );
    }

    #[test]
    fn manifest_licence_wins_for_the_archive_own_pom_only() {
        let jar = zip_of(&[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\nBundle-License: EPL-2.0\n",
            ),
            (
                "META-INF/maven/com.example/app/pom.properties",
                &pom("com.example", "app", "1.0"),
            ),
            ("META-INF/maven/com.example/app/pom.xml", &pom_xml(&["MIT"])),
            (
                "META-INF/maven/org.lib/shaded/pom.properties",
                &pom("org.lib", "shaded", "2.0"),
            ),
            (
                "META-INF/maven/org.lib/shaded/pom.xml",
                &pom_xml(&["BSD-3-Clause"]),
            ),
        ]);
        let packages = catalog("/app/app-1.0.jar", &jar).unwrap();
        assert_eq!(
            licences_of(&packages),
            [
                ("com.example:app", vec!["EPL-2.0"]),
                ("org.lib:shaded", vec!["BSD-3-Clause"]),
            ]
        );
    }

    #[test]
    fn broken_or_oversized_pom_xml_costs_only_the_licences() {
        let mut big = pom_xml(&["MIT"]);
        big.resize(1024 * 1024 + 1, b' ');
        for xml in [
            &b"<project><licenses><license><name>MIT"[..],
            b"\xff\xfe<<",
            &big,
        ] {
            let jar = zip_of(&[
                (
                    "META-INF/maven/com.example/app/pom.properties",
                    &pom("com.example", "app", "1.0"),
                ),
                ("META-INF/maven/com.example/app/pom.xml", xml),
            ]);
            let packages = catalog("/app/app-1.0.jar", &jar).unwrap();
            assert_eq!(licences_of(&packages), [("com.example:app", vec![])]);
        }
    }
}
