//! binary-classifier cataloger: well-known programs and libraries that carry no package
//! metadata, recognised by their file name and a version string in their bytes (syft's
//! "binary classifier" cataloger). Each is reported as a `pkg:generic/<name>@<version>`
//! with the CPE syft states for it; one that an OS package owns is dropped when the layers
//! are merged ([`crate::package::Findings::owned_files`], [`is_candidate`]).
//!
//! | class | file names | version from |
//! |---|---|---|
//! | python-binary | `python3.11` (`python` + dotted version) | `\0` + the name's version + `[-._a-zA-Z0-9]*` + `\0` |
//! | python-binary-lib | `libpython3.11.so.1.0` | the same, with the library name's version |
//! | go-binary | `go` | `go1.22.1\0` |
//! | go-binary-hint | `VERSION` | `go1.22.1` (the toolchain's VERSION file) |
//! | java-binary-openjdk | `java` | `\0openjdk\0java\0<spec>\0<version>\0`, not GraalVM (`-jvmci-`) |
//! | java-binary-jdk | `jdb` | `\0<x.y.z[+n][-suffix]>\0` |
//! | nodejs-binary | `node` | `node.js/v20.11.1` |
//! | ruby-binary | `ruby`, `libruby.so*` | `ruby 3.1.2p20 ` |
//! | php-cli-binary | `php`, `php8`, `php82` | `X-Powered-By: PHP/8.2.36` |
//! | php-fpm-binary | `php-fpm*` | the same |
//! | php-cgi-binary | `php-cgi*` | the same |
//! | php-apache-binary | `libphp*.so` | the same |
//! | openssl-binary | `openssl` | `\0OpenSSL 3.0.22` |
//! | openssl-library | `libcrypto*.so*` | the same |
//! | busybox-binary | `busybox` | `BusyBox v1.36.1` |
//! | nginx-binary | `nginx` | `nginx version: nginx/1.25.1` after `\0` or `?` |
//! | redis-binary | `redis-server` | the build id: `7.2.3` [host `-`] 19 digits `\0` |
//! | httpd-binary | `httpd` | `Apache/2.4.62` |
//! | memcached-binary | `memcached` | `memcached 1.6.18` |
//! | postgresql-binary | `postgres` | `PostgreSQL 15.20` after `\0` or `?` |
//! | mariadb-binary | `mariadb`, `mysql` | `10.11.19-MariaDB` |
//! | haproxy-binary | `haproxy` | `version 2.8.3[-rev], released 20…` |
//! | bash-binary | `bash` | `@(#)Bash version 5.2.15(1) release GNU` |
//! | curl-binary | `curl` | `curl/7.88.1` |
//! | lighttpd-binary | `lighttpd` | `\0lighttpd/1.4.69\0` |
//! | proftpd-binary | `proftpd` | `\0ProFTPD Version 1.3.8\0` |
//! | zstd-binary | `zstd` | `\0v1.5.4\0` |
//! | xz-binary | `xz` | `\0xz (XZ Utils) 5.4.1\0` |
//! | gzip-binary | `gzip` | `\0` + `1.12` + `\0` (the first such string) |
//! | jq-binary | `jq` | `\0` + `1.6` + `\0` (the first such string) |
//! | util-linux-binary | `getopt` | `\0util-linux 2.38.1\0` |
//!
//! Files are chosen by name alone, whatever their mode, as syft's globs do; only those are
//! read, as a stream of at most [`MAX_SCAN`] bytes searched in chunks (`catalog/scan.rs`). When a
//! classifier has several patterns, the first one that matches anywhere wins; within a
//! pattern, the first match in the file.
//!
//! Where this differs from syft 1.18:
//! - one package per file: syft merges equal name and version found at several paths into
//!   one package, and drops all of them when an OS package owns one;
//! - a shared `ruby` or `python3.x` is reported where its library is, not at the program
//!   that links it (syft follows the program's dynamic section to the library);
//! - `openssl-library` (libcrypto) and `php-cgi-binary` are not in syft;
//! - syft's classifiers that could not be checked against a real binary here are left out
//!   (IBM, Oracle and GraalVM `java`, arm64 OpenJDK, node ≤ 6, MySQL and Percona, perl,
//!   gcc, traefik, consul, helm, erlang, and others); see testdata/make-snippets.sh.

mod classifiers;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::LazyLock;

use regex::bytes::Regex;

use self::classifiers::{Classifier, Evidence, Name, CLASSIFIERS};
use super::{scan, CatalogError, Cataloger, Content, FileMeta};
use crate::package::{Ecosystem, Findings, Identity, Package, PackageKind};

/// Property naming the classifier that recognised a binary.
pub const PROP_CLASSIFIER: &str = "binary:classifier";

/// Most bytes searched in one file. Node.js, the largest binary classified, is ~100 MiB
/// with its version ~35 MiB in. A larger file where nothing was found is noted.
pub const MAX_SCAN: u64 = 128 << 20;

/// BusyBox's file name and package name.
const BUSYBOX: &str = "busybox";

/// Recognises well-known binaries by a version string in their bytes.
pub struct BinaryClassifierCataloger;

/// Whether a binary classifier would read a file at `path`, whatever its mode: a cheap
/// test on the file name, for package databases to keep only the owned files that could
/// hide a classified binary.
///
/// ```
/// use nodebom_agent::catalog::binary::is_candidate;
///
/// assert!(is_candidate("/usr/bin/python3.11"));
/// assert!(is_candidate("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"));
/// assert!(!is_candidate("/usr/bin/python3"));
/// assert!(!is_candidate("/etc/nginx/nginx.conf"));
/// ```
pub fn is_candidate(path: &str) -> bool {
    let name = file_name(path);
    let Some(&first) = name.as_bytes().first() else {
        return false;
    };
    let index = &*NAMES;
    let first = usize::from(first);
    let exact = name.len() < 64
        && index.exact_lengths[first] & (1 << name.len()) != 0
        && index.exact.binary_search(&name).is_ok();
    exact || index.other[first].iter().any(|rule| rule.matches(name))
}

/// The classifiers' name rules, arranged for [`is_candidate`], which runs for every file
/// of every layer. Every rule has a fixed stem, so rules are looked up by first byte.
struct NameIndex {
    /// By first byte, the lengths of the exact names: bit `n` for length `n`.
    exact_lengths: [u64; 256],
    /// Exact names, sorted.
    exact: Vec<&'static str>,
    /// By first byte, the rules other than exact names.
    other: Vec<Vec<Name>>,
}

static NAMES: LazyLock<NameIndex> = LazyLock::new(|| {
    let mut index = NameIndex {
        exact_lengths: [0; 256],
        exact: Vec::new(),
        other: vec![Vec::new(); 256],
    };
    for rule in CLASSIFIERS.iter().flat_map(|c| c.names) {
        let first = rule.stem().as_bytes().first().copied().map(usize::from);
        match (*rule, first) {
            (Name::Is(exact), Some(first)) if exact.len() < 64 => {
                index.exact_lengths[first] |= 1 << exact.len();
                index.exact.push(exact);
            }
            (rule, Some(first)) => index.other[first].push(rule),
            // An empty stem could start with anything.
            (rule, None) => index.other.iter_mut().for_each(|rules| rules.push(rule)),
        }
    }
    index.exact.sort_unstable();
    index
});

impl Cataloger for BinaryClassifierCataloger {
    fn name(&self) -> &'static str {
        "binary-classifier"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        is_candidate(file.path)
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let packages = classify(file_name(file.path), content.into_reader())?;
        // A version past the searched bytes is not seen: say so when none was found.
        let incomplete = if packages.is_empty() && file.size > MAX_SCAN {
            vec![format!(
                "searched only the first {MAX_SCAN} bytes for a version (limit); none found"
            )]
        } else {
            Vec::new()
        };
        Ok(Findings {
            incomplete,
            ..Findings::packages(packages)
        })
    }
}

/// The packages the classifiers that apply to a file called `name` find in its bytes.
fn classify(name: &str, reader: &mut dyn Read) -> Result<Vec<Package>, CatalogError> {
    let plan = Plan::for_name(name);
    if plan.applied.is_empty() {
        return Ok(Vec::new());
    }
    let patterns: Vec<&Regex> = plan.patterns.iter().map(AsRef::as_ref).collect();
    let found = scan::first_matches(reader, &patterns, MAX_SCAN, |found| plan.settled(found))?;
    Ok(plan.packages(&found))
}

/// The version BusyBox states in its banner (`BusyBox v1.36.1`), as the busybox-binary
/// classifier reads it: the one place BusyBox is recognised, for its package here and
/// for the OS identity of an image that has nothing else ([`super::os`]).
pub fn busybox_version(reader: &mut dyn Read) -> Result<Option<String>, CatalogError> {
    let packages = classify(BUSYBOX, reader)?;
    Ok(packages
        .into_iter()
        .find(|package| package.name == BUSYBOX)
        .map(|package| package.version))
}

/// The last component of a path.
fn file_name(path: &str) -> &str {
    match memchr::memrchr(b'/', path.as_bytes()) {
        Some(slash) => path.get(slash + 1..).unwrap_or_default(),
        None => path,
    }
}

/// A classifier with its patterns compiled.
struct Compiled {
    classifier: &'static Classifier,
    /// Empty for [`Evidence::NameVersion`], whose pattern depends on the file name.
    patterns: Vec<Regex>,
    unless: Vec<Regex>,
}

/// Every classifier, compiled once.
static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    let compile = |pattern: &str| {
        Regex::new(&format!("(?-u){pattern}"))
            .expect("classifier patterns are constants, each compiled by the tests")
    };
    CLASSIFIERS
        .iter()
        .map(|classifier| Compiled {
            classifier,
            patterns: match classifier.evidence {
                Evidence::Patterns(patterns) => patterns.iter().map(|p| compile(p)).collect(),
                Evidence::NameVersion => Vec::new(),
            },
            unless: classifier.unless.iter().map(|p| compile(p)).collect(),
        })
        .collect()
});

/// The classifiers that apply to one file, their patterns in one list for one pass.
struct Plan {
    patterns: Vec<Cow<'static, Regex>>,
    applied: Vec<Applied>,
}

/// One classifier's share of [`Plan::patterns`].
struct Applied {
    classifier: &'static Classifier,
    /// Version patterns, in order of preference.
    versions: std::ops::Range<usize>,
    vetoes: std::ops::Range<usize>,
}

impl Plan {
    fn for_name(name: &str) -> Plan {
        let mut plan = Plan {
            patterns: Vec::new(),
            applied: Vec::new(),
        };
        for compiled in COMPILED.iter() {
            let classifier = compiled.classifier;
            let Some(matched) = classifier.names.iter().find(|n| n.matches(name)) else {
                continue;
            };
            let start = plan.patterns.len();
            if let Name::Versioned(_, version) = *matched {
                let Some(version) = version(name) else {
                    continue;
                };
                match Regex::new(&classifiers::name_version_pattern(version)) {
                    Ok(pattern) => plan.patterns.push(Cow::Owned(pattern)),
                    Err(error) => {
                        tracing::debug!(name, %error, "no pattern for the version in a file name");
                        continue;
                    }
                }
            }
            plan.patterns
                .extend(compiled.patterns.iter().map(Cow::Borrowed));
            let versions = start..plan.patterns.len();
            plan.patterns
                .extend(compiled.unless.iter().map(Cow::Borrowed));
            let vetoes = versions.end..plan.patterns.len();
            plan.applied.push(Applied {
                classifier,
                versions,
                vetoes,
            });
        }
        plan
    }

    /// Whether reading on can no longer change the outcome: a veto found, or the preferred
    /// pattern found with no veto to look for, settles a classifier.
    fn settled(&self, found: &[Option<scan::Match>]) -> bool {
        let seen = |i: usize| found.get(i).is_some_and(Option::is_some);
        self.applied.iter().all(|applied| {
            applied.vetoes.clone().any(seen)
                || (applied.vetoes.is_empty() && seen(applied.versions.start))
        })
    }

    fn packages(&self, found: &[Option<scan::Match>]) -> Vec<Package> {
        let mut seen = BTreeSet::new();
        let mut packages = Vec::new();
        for applied in &self.applied {
            let vetoed = applied
                .vetoes
                .clone()
                .any(|i| found.get(i).is_some_and(Option::is_some));
            if vetoed {
                continue;
            }
            let Some(version) = applied
                .versions
                .clone()
                .find_map(|i| found.get(i).and_then(Option::as_deref))
                .and_then(version_text)
            else {
                continue;
            };
            let classifier = applied.classifier;
            if !seen.insert((classifier.package, version.clone())) {
                continue;
            }
            let mut package = Package::new(Ecosystem::Binary, classifier.package, &version);
            package.cpe = classifier
                .cpe
                .map(|(vendor, product)| classifiers::cpe(vendor, product, &version));
            package
                .properties
                .insert(PROP_CLASSIFIER.to_owned(), classifier.class.to_owned());
            packages.push(package.with_identity(identity));
        }
        packages
    }
}

/// `pkg:generic/<name>@<version>`, as syft: a classifier's `java/jre` is namespace `java`.
/// A classified binary is a program (or its runtime library), not a dependency, and Trivy
/// has no package type for binaries it identifies by their content.
pub fn identity(package: &Package) -> Identity {
    let (namespace, name) = match package.name.split_once('/') {
        Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
        None => (None, package.name.clone()),
    };
    Identity {
        kind: PackageKind::Application,
        purl_type: "generic".to_owned(),
        namespace,
        name,
        version: Some(package.version.clone()),
        ..Identity::default()
    }
}

/// A matched version as text: printable ASCII without spaces, or nothing.
fn version_text(bytes: &[u8]) -> Option<String> {
    let printable = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_graphic);
    printable.then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::catalog::testutil::{distro, meta, purl_of};

    #[test]
    fn classified_binary_is_generic_with_its_namespace() {
        let node = Package::new(Ecosystem::Binary, "node", "20.20.2").with_identity(identity);
        assert_eq!(
            purl_of(&node, Some(&distro("debian", "12.5"))),
            "pkg:generic/node@20.20.2"
        );
        let java = Package::new(Ecosystem::Binary, "java/jre", "17.0.15+6-Debian-1deb12u1")
            .with_identity(identity);
        assert_eq!(
            purl_of(&java, None),
            "pkg:generic/java/jre@17.0.15%2B6-Debian-1deb12u1"
        );
    }

    /// Where make-snippets.sh writes: `<package>-<version>/<file name as installed>`.
    fn snippets() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog/binary/testdata/snippets")
    }

    /// `(snippet, package, version, cpe, class)` for every snippet, as syft 1.18.1 reports
    /// the same files (`syft scan dir:testdata/snippets`), except where noted.
    const EXPECTED: &[(&str, &str, &str, &str, &str)] = &[
        (
            "bash-5.2.15/bash",
            "bash",
            "5.2.15",
            "gnu:bash",
            "bash-binary",
        ),
        (
            "busybox-1.35.0/busybox",
            "busybox",
            "1.35.0",
            "busybox:busybox",
            "busybox-binary",
        ),
        (
            "curl-7.88.1/curl",
            "curl",
            "7.88.1",
            "haxx:curl",
            "curl-binary",
        ),
        (
            "go-1.19.8/VERSION",
            "go",
            "1.19.8",
            "golang:go",
            "go-binary-hint",
        ),
        ("go-1.19.8/go", "go", "1.19.8", "golang:go", "go-binary"),
        ("gzip-1.12/gzip", "gzip", "1.12", "gnu:gzip", "gzip-binary"),
        // syft: no match (Debian's revision in the version string).
        (
            "haproxy-2.6.12/haproxy",
            "haproxy",
            "2.6.12",
            "haproxy:haproxy",
            "haproxy-binary",
        ),
        (
            "httpd-2.4.71/httpd",
            "httpd",
            "2.4.71",
            "apache:http_server",
            "httpd-binary",
        ),
        (
            "java-17.0.21.1+2-1-deb12u1-Debian/java",
            "java/jre",
            "17.0.21.1+2-1-deb12u1-Debian",
            "oracle:openjdk",
            "java-binary-openjdk",
        ),
        (
            "java-25.0.3+9-LTS/java",
            "java/jre",
            "25.0.3+9-LTS",
            "oracle:openjdk",
            "java-binary-openjdk",
        ),
        (
            "java-25.0.3+9-LTS/jdb",
            "java/jdk",
            "25.0.3+9-LTS",
            "oracle:jdk",
            "java-binary-jdk",
        ),
        ("jq-1.6/jq", "jq", "1.6", "jqlang:jq", "jq-binary"),
        (
            "lighttpd-1.4.69/lighttpd",
            "lighttpd",
            "1.4.69",
            "lighttpd:lighttpd",
            "lighttpd-binary",
        ),
        (
            "mariadb-10.11.19/mariadb",
            "mariadb",
            "10.11.19",
            "mariadb:mariadb",
            "mariadb-binary",
        ),
        (
            "memcached-1.6.18/memcached",
            "memcached",
            "1.6.18",
            "memcached:memcached",
            "memcached-binary",
        ),
        (
            "nginx-1.22.1/nginx",
            "nginx",
            "1.22.1",
            "f5:nginx",
            "nginx-binary",
        ),
        (
            "node-20.20.2/node",
            "node",
            "20.20.2",
            "nodejs:node.js",
            "nodejs-binary",
        ),
        // syft: not classified (it has no libcrypto classifier).
        (
            "openssl-3.0.22/libcrypto.so.3",
            "openssl",
            "3.0.22",
            "openssl:openssl",
            "openssl-library",
        ),
        (
            "openssl-3.0.22/openssl",
            "openssl",
            "3.0.22",
            "openssl:openssl",
            "openssl-binary",
        ),
        // syft names it `libphp`, with the purl pkg:generic/php.
        (
            "php-8.2.36/libphp8.2.so",
            "php",
            "8.2.36",
            "php:php",
            "php-apache-binary",
        ),
        (
            "php-8.2.36/php",
            "php-cli",
            "8.2.36",
            "php:php",
            "php-cli-binary",
        ),
        // syft: not classified (it has no php-cgi classifier).
        (
            "php-8.2.36/php-cgi8.2",
            "php-cgi",
            "8.2.36",
            "php:php",
            "php-cgi-binary",
        ),
        (
            "php-8.2.36/php-fpm8.2",
            "php-fpm",
            "8.2.36",
            "php:php",
            "php-fpm-binary",
        ),
        (
            "postgresql-15.20/postgres",
            "postgresql",
            "15.20",
            "postgresql:postgresql",
            "postgresql-binary",
        ),
        (
            "proftpd-1.3.8/proftpd",
            "proftpd",
            "1.3.8",
            "proftpd:proftpd",
            "proftpd-binary",
        ),
        (
            "python-3.11.2/libpython3.11.so.1.0",
            "python",
            "3.11.2",
            "python_software_foundation:python",
            "python-binary-lib",
        ),
        (
            "python-3.11.2/python3.11",
            "python",
            "3.11.2",
            "python_software_foundation:python",
            "python-binary",
        ),
        // syft: no match (Debian's build id has no build host).
        (
            "redis-7.0.15/redis-server",
            "redis",
            "7.0.15",
            "redislabs:redis",
            "redis-binary",
        ),
        // syft: reached only through a `ruby` program that links the library.
        (
            "ruby-3.1.2p20/libruby.so.3.1",
            "ruby",
            "3.1.2p20",
            "ruby-lang:ruby",
            "ruby-binary",
        ),
        (
            "util-linux-2.38.1/getopt",
            "util-linux",
            "2.38.1",
            "kernel:util-linux",
            "util-linux-binary",
        ),
        ("xz-5.4.1/xz", "xz", "5.4.1", "tukaani:xz", "xz-binary"),
        (
            "zstd-1.5.4/zstd",
            "zstd",
            "1.5.4",
            "facebook:zstandard",
            "zstd-binary",
        ),
    ];

    fn catalog_bytes(path: &str, mut bytes: &[u8]) -> Vec<Package> {
        BinaryClassifierCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .unwrap()
            .packages
    }

    fn found(packages: &[Package]) -> Vec<(String, String, String, String)> {
        packages
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.version.clone(),
                    p.cpe.clone().unwrap_or_default(),
                    p.properties[PROP_CLASSIFIER].clone(),
                )
            })
            .collect()
    }

    fn expected(
        name: &str,
        version: &str,
        vendor_product: &str,
        class: &str,
    ) -> (String, String, String, String) {
        let (vendor, product) = vendor_product.split_once(':').unwrap();
        (
            name.into(),
            version.into(),
            classifiers::cpe(vendor, product, version),
            class.into(),
        )
    }

    #[test]
    fn every_snippet_gives_its_package_version_and_cpe() {
        for (snippet, name, version, cpe, class) in EXPECTED {
            let bytes = std::fs::read(snippets().join(snippet)).unwrap();
            let file = file_name(snippet);
            let path = format!("/usr/bin/{file}");
            assert!(BinaryClassifierCataloger.wants(&meta(&path)), "{snippet}");
            assert_eq!(
                found(&catalog_bytes(&path, &bytes)),
                [expected(name, version, cpe, class)],
                "{snippet}"
            );
        }
    }

    #[test]
    fn every_snippet_is_expected_and_every_classifier_has_one() {
        let mut on_disk = Vec::new();
        for dir in std::fs::read_dir(snippets()).unwrap() {
            let dir = dir.unwrap();
            for file in std::fs::read_dir(dir.path()).unwrap() {
                let file = file.unwrap().file_name().into_string().unwrap();
                on_disk.push(format!("{}/{file}", dir.file_name().to_str().unwrap()));
            }
        }
        on_disk.sort();
        let listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(on_disk, listed);
        for classifier in CLASSIFIERS {
            assert!(
                EXPECTED.iter().any(|e| e.4 == classifier.class),
                "{} has no snippet",
                classifier.class
            );
        }
    }

    #[test]
    fn snippets_are_small() {
        for (snippet, ..) in EXPECTED {
            let size = std::fs::metadata(snippets().join(snippet)).unwrap().len();
            assert!(size <= 16 << 10, "{snippet} is {size} bytes");
        }
    }

    #[test]
    fn every_class_is_documented() {
        let doc = include_str!("mod.rs");
        for classifier in CLASSIFIERS {
            assert!(
                doc.contains(&format!("//! | {} |", classifier.class)),
                "{} is not in the table of mod.rs",
                classifier.class
            );
        }
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), CLASSIFIERS.len());
    }

    #[test]
    fn snippet_read_from_a_file_gives_the_same_as_from_a_stream() {
        let path = snippets().join("node-20.20.2/node");
        let mut file = std::fs::File::open(&path).unwrap();
        let from_file = BinaryClassifierCataloger
            .catalog(&meta("/usr/local/bin/node"), Content::File(&mut file))
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            from_file.packages,
            catalog_bytes("/usr/local/bin/node", &bytes)
        );
    }

    #[test]
    fn wants_well_known_names_in_any_directory_whatever_the_mode() {
        for path in [
            "/usr/local/bin/python3.12",
            "/usr/local/lib/libpython3.12.so.1.0",
            "/opt/java/openjdk/bin/java",
            "/usr/local/bin/node",
            "/usr/local/go/bin/go",
            "/usr/local/go/VERSION",
            "/usr/local/lib/libruby.so.3.3",
            "/usr/local/bin/php",
            "/usr/local/sbin/php-fpm",
            "/usr/lib/apache2/modules/libphp.so",
            "/app/venv/lib/python3.12/site-packages/cryptography.libs/libcrypto-37c0e3a1.so.3",
            "/bin/busybox",
            "/usr/sbin/nginx",
            "/usr/local/bin/redis-server",
        ] {
            assert!(is_candidate(path), "{path}");
            let file = FileMeta {
                path,
                size: 1,
                mode: 0o644,
            };
            assert!(BinaryClassifierCataloger.wants(&file), "{path}");
        }
    }

    #[test]
    fn name_index_agrees_with_the_rules() {
        let naive = |name: &str| {
            CLASSIFIERS
                .iter()
                .any(|c| c.names.iter().any(|rule| rule.matches(name)))
        };
        let mut names: Vec<String> = EXPECTED.iter().map(|e| file_name(e.0).to_owned()).collect();
        for rule in CLASSIFIERS.iter().flat_map(|c| c.names) {
            let stem = rule.stem();
            for suffix in ["", "1", "3.11", "3.11.so", ".so", ".so.3", "-x", "x", ".a"] {
                names.push(format!("{stem}{suffix}"));
                names.push(format!("x{stem}{suffix}"));
                names.push(format!("{}{suffix}", &stem[..stem.len() - 1]));
            }
        }
        names.push(String::new());
        names.push("a".repeat(70));
        for name in &names {
            assert_eq!(
                is_candidate(&format!("/usr/bin/{name}")),
                naive(name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn wants_no_lookalike_names() {
        for path in [
            "/usr/bin/python3",
            "/usr/bin/python3.11-config",
            "/usr/lib/libpython3.so",
            "/usr/bin/nodejs",
            "/usr/lib/node_modules/npm/bin/node-gyp-bin/node-gyp",
            "/usr/bin/java-wrapper",
            "/usr/bin/php8.2",
            "/usr/bin/phpize",
            "/usr/lib/libssl.so.3",
            "/usr/lib/libcrypto.a",
            "/etc/nginx/nginx.conf",
            "/usr/bin/gofmt",
            "/usr/share/doc/bash/README",
            "/version",
        ] {
            assert!(!is_candidate(path), "{path}");
        }
    }

    #[test]
    fn file_with_the_name_but_no_version_string_gives_nothing() {
        for (path, bytes) in [
            (
                "/usr/bin/node",
                &b"#!/bin/sh\nexec /usr/bin/nodejs \"$@\"\n"[..],
            ),
            ("/usr/bin/python3.11", b"\x003.10.4\x00 other python"),
            ("/usr/bin/java", b"\x00openjdk\x00java\x00"),
            ("/usr/bin/openssl", b"LibreSSL 3.8.2\x00"),
            ("/usr/local/go/VERSION", b"v1.2.3\n"),
            ("/bin/busybox", b""),
        ] {
            assert_eq!(catalog_bytes(path, bytes), [], "{path}");
        }
    }

    fn busybox(bytes: &[u8]) -> Option<String> {
        busybox_version(&mut &bytes[..]).unwrap()
    }

    /// Moved from the OS cataloger's own banner search, which this one replaced.
    #[test]
    fn busybox_format_string_is_not_a_version() {
        assert_eq!(
            busybox(b"BusyBox v%s (%s)\0BusyBox v1.36.1 (").as_deref(),
            Some("1.36.1")
        );
        assert_eq!(busybox(b"BusyBox v%s\0"), None);
    }

    /// The OS cataloger's search took `1.3` here; the classifier wants all three parts.
    #[test]
    fn busybox_version_cut_short_by_the_end_of_the_file_is_not_a_version() {
        assert_eq!(busybox(b"\0BusyBox v1.3"), None);
    }

    #[test]
    fn busybox_banner_across_a_chunk_boundary_is_found_whole() {
        for before in [(1 << 20) - 12, (64 << 10) - 12] {
            let mut bytes = vec![0u8; before];
            bytes.extend_from_slice(b"BusyBox v1.36.1 (2024-06-10) multi-call binary.\0");
            bytes.extend(std::iter::repeat_n(0u8, 1000));
            assert_eq!(busybox(&bytes).as_deref(), Some("1.36.1"), "{before}");
        }
    }

    #[test]
    fn graalvm_java_is_not_openjdk() {
        let launcher = b"..\x00openjdk\x00java\x000.0\x0021.0.2+13-jvmci-23.1-b30\x00..";
        assert_eq!(catalog_bytes("/opt/graalvm/bin/java", launcher), []);
    }

    #[test]
    fn snippet_cut_inside_its_version_string_gives_nothing_and_does_not_panic() {
        for (snippet, ..) in EXPECTED {
            let bytes = std::fs::read(snippets().join(snippet)).unwrap();
            let path = format!("/usr/bin/{}", file_name(snippet));
            let full = catalog_bytes(&path, &bytes);
            // No prefix may panic or find more than the whole snippet does.
            for len in (0..bytes.len()).step_by(97) {
                let cut = catalog_bytes(&path, &bytes[..len]);
                assert!(cut.len() <= full.len(), "{snippet} cut at {len}");
            }
        }
    }

    #[test]
    fn garbage_gives_nothing() {
        let garbage: Vec<u8> = (0..256 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (snippet, ..) in EXPECTED {
            let path = format!("/usr/bin/{}", file_name(snippet));
            let found = catalog_bytes(&path, &garbage);
            assert_eq!(found, [], "{snippet}");
        }
    }

    #[test]
    fn version_past_the_scan_limit_is_not_read() {
        // An endless file named `node`: the cataloger stops at MAX_SCAN.
        let mut endless = std::io::repeat(b'x').take(u64::MAX);
        let findings = BinaryClassifierCataloger
            .catalog(&meta("/usr/bin/node"), Content::Stream(&mut endless))
            .unwrap();
        assert!(findings.is_empty());
        assert_eq!(endless.limit(), u64::MAX - MAX_SCAN);
    }

    #[test]
    fn file_larger_than_the_scan_limit_without_a_version_is_noted() {
        let big = FileMeta {
            path: "/usr/bin/node",
            size: MAX_SCAN + 1,
            mode: 0o755,
        };
        let mut endless = std::io::repeat(b'x').take(MAX_SCAN + 1);
        let findings = BinaryClassifierCataloger
            .catalog(&big, Content::Stream(&mut endless))
            .unwrap();
        assert!(findings.packages.is_empty());
        assert_eq!(
            findings.incomplete,
            ["searched only the first 134217728 bytes for a version (limit); none found"]
        );
    }

    #[test]
    fn packages_carry_a_generic_identity_and_the_classifier() {
        let bytes = std::fs::read(snippets().join("nginx-1.22.1/nginx")).unwrap();
        let packages = catalog_bytes("/usr/sbin/nginx", &bytes);
        let nginx = &packages[0];
        assert_eq!(nginx.ecosystem, Ecosystem::Binary);
        assert_eq!(
            nginx.cpe.as_deref(),
            Some("cpe:2.3:a:f5:nginx:1.22.1:*:*:*:*:*:*:*")
        );
        assert_eq!(nginx.properties[PROP_CLASSIFIER], "nginx-binary");
        assert!(nginx.licenses.is_empty() && nginx.source.is_none() && nginx.arch.is_none());
    }
}
