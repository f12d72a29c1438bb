//! The classifiers: which files each one reads, chosen by name alone, and which bytes in
//! them state a version. Package names and CPE vendor/product are syft 1.18's, so that
//! purls and CPEs compare equal; the patterns are written for this crate and checked
//! against snippets of real binaries (testdata/make-snippets.sh).
//!
//! Every pattern is byte-oriented (`(?-u)` is prepended: `.` and classes match single
//! bytes, `\s` is ASCII) and every repetition is bounded, so that no match is longer than
//! [`crate::catalog::scan::MAX_MATCH`].

/// How a classifier picks files by name (the last path component).
#[derive(Debug, Clone, Copy)]
pub enum Name {
    /// Exactly this name.
    Is(&'static str),
    /// Names that start with this (`php-fpm`, `php-fpm8.2`).
    Prefix(&'static str),
    /// The stem, then digits only: `php`, `php8`, `php82` (not `php8.2`, not `phpize`).
    StemDigits(&'static str),
    /// A shared library: the stem, anything without a `/`, then `.so` at the end or before
    /// a `.` (`libcrypto.so.3`, `libcrypto-37c0e3a1.so.1.1`).
    SharedLibrary(&'static str),
    /// The stem, anything, then exactly `.so` at the end (`libphp.so`, `libphp8.2.so`).
    SoLibrary(&'static str),
    /// A name, starting with the stem, that states the version the content must confirm;
    /// the function returns it (`python3.11` → `3.11`).
    Versioned(&'static str, fn(&str) -> Option<&str>),
}

impl Name {
    /// What every name the rule accepts starts with.
    pub fn stem(self) -> &'static str {
        match self {
            Name::Is(stem)
            | Name::Prefix(stem)
            | Name::StemDigits(stem)
            | Name::SharedLibrary(stem)
            | Name::SoLibrary(stem)
            | Name::Versioned(stem, _) => stem,
        }
    }

    pub fn matches(self, name: &str) -> bool {
        match self {
            Name::Is(wanted) => name == wanted,
            Name::Prefix(prefix) => name.starts_with(prefix),
            Name::StemDigits(stem) => name
                .strip_prefix(stem)
                .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit())),
            Name::SharedLibrary(stem) => name.strip_prefix(stem).is_some_and(|rest| {
                rest.match_indices(".so")
                    .any(|(at, so)| matches!(rest.as_bytes().get(at + so.len()), None | Some(b'.')))
            }),
            Name::SoLibrary(stem) => name.starts_with(stem) && name.ends_with(".so"),
            Name::Versioned(_, version) => version(name).is_some(),
        }
    }
}

/// What in a file's bytes gives the version.
#[derive(Debug, Clone, Copy)]
pub enum Evidence {
    /// Patterns tried in order: the first one that matches anywhere in the file gives the
    /// version, its `version` group.
    Patterns(&'static [&'static str]),
    /// The version in the file name, confirmed and completed by the content: `3.11` from
    /// `python3.11` must appear as `\0` `3.11` `[-._a-zA-Z0-9]*` `\0` (`3.11.2`).
    NameVersion,
}

/// One kind of binary.
#[derive(Debug)]
pub struct Classifier {
    /// Stable id, kept on each package it finds (syft's class names where syft has one).
    pub class: &'static str,
    pub names: &'static [Name],
    pub evidence: Evidence,
    /// A match of any of these anywhere in the file vetoes the classifier: another
    /// product that shares the file name and the version string.
    pub unless: &'static [&'static str],
    /// Package name; a `/` separates the purl namespace from the name (`java/jre`).
    pub package: &'static str,
    /// CPE 2.3 vendor and product; the version is the one found.
    pub cpe: Option<(&'static str, &'static str)>,
}

/// `php`, `php-fpm`, `php-cgi` and `libphp` all carry PHP's default response header.
const PHP: &[&str] = &[
    r"X-Powered-By: PHP/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(?:beta[0-9]{1,9}|alpha[0-9]{1,9}|RC[0-9]{1,9})?)",
];

/// OpenSSL's version text, `OpenSSL 3.0.22 25 Aug 2026` or `OpenSSL 1.1.1w  11 Sep 2023`,
/// is in the `openssl` program and in `libcrypto` (libssl has none of its own).
const OPENSSL: &[&str] = &[
    r"\x00OpenSSL (?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(?:[a-z]|-alpha[0-9]|-beta[0-9]|-rc[0-9])?)",
];

/// Go's release tag, `go1.19.8`, as the toolchain writes it into `go` and `VERSION`.
const GO_RELEASE: &str = r"go(?P<version>[0-9]{1,9}\.[0-9]{1,9}(?:\.[0-9]{1,9}|beta[0-9]{1,9}|alpha[0-9]{1,9}|rc[0-9]{1,9})?)";

const PYTHON_CPE: Option<(&str, &str)> = Some(("python_software_foundation", "python"));

/// Every classifier, in the order their packages are reported for one file.
pub static CLASSIFIERS: &[Classifier] = &[
    Classifier {
        class: "python-binary",
        names: &[Name::Versioned("python", python_version)],
        evidence: Evidence::NameVersion,
        unless: &[],
        package: "python",
        cpe: PYTHON_CPE,
    },
    Classifier {
        class: "python-binary-lib",
        names: &[Name::Versioned("libpython", libpython_version)],
        evidence: Evidence::NameVersion,
        unless: &[],
        package: "python",
        cpe: PYTHON_CPE,
    },
    Classifier {
        class: "go-binary",
        names: &[Name::Is("go")],
        // NUL-terminated in the binary, where the tag is also part of longer strings.
        evidence: Evidence::Patterns(&[
            r"go(?P<version>[0-9]{1,9}\.[0-9]{1,9}(?:\.[0-9]{1,9}|beta[0-9]{1,9}|alpha[0-9]{1,9}|rc[0-9]{1,9})?)\x00",
        ]),
        unless: &[],
        package: "go",
        cpe: Some(("golang", "go")),
    },
    Classifier {
        class: "go-binary-hint",
        names: &[Name::Is("VERSION")],
        evidence: Evidence::Patterns(&[GO_RELEASE]),
        unless: &[],
        package: "go",
        cpe: Some(("golang", "go")),
    },
    Classifier {
        class: "java-binary-openjdk",
        names: &[Name::Is("java")],
        // The launcher's `\0openjdk\0java\0<spec>\0<version>\0` (x86-64 layout).
        evidence: Evidence::Patterns(&[
            r"\x00openjdk\x00java\x00[0-9]{1,9}[.0-9]{0,16}\x00(?P<version>[0-9]{1,9}[^\x00]{1,64})\x00",
        ]),
        // GraalVM's launcher has the same strings, with `-jvmci-` in its version.
        unless: &[r"-jvmci-"],
        package: "java/jre",
        cpe: Some(("oracle", "openjdk")),
    },
    Classifier {
        class: "java-binary-jdk",
        names: &[Name::Is("jdb")],
        evidence: Evidence::Patterns(&[
            r"\x00(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(?:\+[0-9]{1,9})?(?:[-._a-zA-Z0-9]{1,64})?)\x00",
        ]),
        unless: &[],
        package: "java/jdk",
        cpe: Some(("oracle", "jdk")),
    },
    Classifier {
        class: "nodejs-binary",
        names: &[Name::Is("node")],
        evidence: Evidence::Patterns(&[
            r"node\.js/v(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})",
        ]),
        unless: &[],
        package: "node",
        cpe: Some(("nodejs", "node.js")),
    },
    Classifier {
        class: "ruby-binary",
        // A static `ruby`, or the `libruby.so` a shared one links (syft reaches the library
        // through the program's dynamic section; here the library is read where it is).
        names: &[Name::Is("ruby"), Name::Prefix("libruby.so")],
        evidence: Evidence::Patterns(&[
            r"ruby (?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(?:(?:p|preview|rc|dev)[0-9]{0,9})?) ",
        ]),
        unless: &[],
        package: "ruby",
        cpe: Some(("ruby-lang", "ruby")),
    },
    Classifier {
        class: "php-cli-binary",
        names: &[Name::StemDigits("php")],
        evidence: Evidence::Patterns(PHP),
        unless: &[],
        package: "php-cli",
        cpe: Some(("php", "php")),
    },
    Classifier {
        class: "php-fpm-binary",
        names: &[Name::Prefix("php-fpm")],
        evidence: Evidence::Patterns(PHP),
        unless: &[],
        package: "php-fpm",
        cpe: Some(("php", "php")),
    },
    Classifier {
        class: "php-cgi-binary",
        names: &[Name::Prefix("php-cgi")],
        evidence: Evidence::Patterns(PHP),
        unless: &[],
        package: "php-cgi",
        cpe: Some(("php", "php")),
    },
    Classifier {
        class: "php-apache-binary",
        names: &[Name::SoLibrary("libphp")],
        evidence: Evidence::Patterns(PHP),
        unless: &[],
        // syft names it `libphp` and gives it the purl `pkg:generic/php`; here name and
        // purl are one, so it is `php`.
        package: "php",
        cpe: Some(("php", "php")),
    },
    Classifier {
        class: "openssl-binary",
        names: &[Name::Is("openssl")],
        evidence: Evidence::Patterns(OPENSSL),
        unless: &[],
        package: "openssl",
        cpe: Some(("openssl", "openssl")),
    },
    Classifier {
        class: "openssl-library",
        names: &[Name::SharedLibrary("libcrypto")],
        evidence: Evidence::Patterns(OPENSSL),
        unless: &[],
        package: "openssl",
        cpe: Some(("openssl", "openssl")),
    },
    Classifier {
        class: "busybox-binary",
        names: &[Name::Is("busybox")],
        evidence: Evidence::Patterns(&[
            r"BusyBox\s{1,8}v(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})",
        ]),
        unless: &[],
        package: "busybox",
        cpe: Some(("busybox", "busybox")),
    },
    Classifier {
        class: "nginx-binary",
        names: &[Name::Is("nginx")],
        // `nginx version: nginx/1.25.1`; OpenResty's `openresty/1.21.4.1` gives 1.21.4,
        // the nginx release it is built on.
        evidence: Evidence::Patterns(&[
            r"[\x00?]nginx version: [^/\x00]{1,64}/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}(?:\+[0-9]{1,9})?(?:-[0-9]{1,9})?)",
        ]),
        unless: &[],
        package: "nginx",
        cpe: Some(("f5", "nginx")),
    },
    Classifier {
        class: "redis-binary",
        names: &[Name::Is("redis-server")],
        // The build id string: the version, the build host (not in Debian's builds), then
        // 19 digits (build time, dirty flag, commit), NUL-terminated.
        evidence: Evidence::Patterns(&[
            r"[^0-9.](?P<version>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}?)(?:[a-z0-9]{12,15}-)?[0-9]{19}\x00",
        ]),
        unless: &[],
        package: "redis",
        cpe: Some(("redislabs", "redis")),
    },
    Classifier {
        class: "httpd-binary",
        names: &[Name::Is("httpd")],
        evidence: Evidence::Patterns(&[r"Apache/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})"]),
        unless: &[],
        package: "httpd",
        cpe: Some(("apache", "http_server")),
    },
    Classifier {
        class: "memcached-binary",
        names: &[Name::Is("memcached")],
        evidence: Evidence::Patterns(&[
            r"memcached\s(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})",
        ]),
        unless: &[],
        package: "memcached",
        cpe: Some(("memcached", "memcached")),
    },
    Classifier {
        class: "postgresql-binary",
        names: &[Name::Is("postgres")],
        evidence: Evidence::Patterns(&[
            r"[\x00?]PostgreSQL (?P<version>[0-9]{1,9}(?:\.[0-9]{1,9})?(?:\.[0-9]{1,9})?(?:alpha[0-9]|beta[0-9]|rc[0-9])?)",
        ]),
        unless: &[],
        package: "postgresql",
        cpe: Some(("postgresql", "postgresql")),
    },
    Classifier {
        class: "mariadb-binary",
        names: &[Name::Is("mariadb"), Name::Is("mysql")],
        evidence: Evidence::Patterns(&[
            r"(?P<version>[0-9]{1,9}(?:\.[0-9]{1,9})?(?:\.[0-9]{1,9})?(?:alpha[0-9]|beta[0-9]|rc[0-9])?)-MariaDB",
        ]),
        unless: &[],
        package: "mariadb",
        cpe: Some(("mariadb", "mariadb")),
    },
    Classifier {
        class: "haproxy-binary",
        names: &[Name::Is("haproxy")],
        // `version 2.8.3-86e043a, released 2023/09/07` (upstream builds) or
        // `version 2.6.12-1+deb12u4, released …` (a distribution's revision).
        evidence: Evidence::Patterns(&[
            r"version (?P<version>[0-9]{1,9}\.[0-9]{1,9}(?:\.|-dev|-rc)[0-9]{1,9})(?:-[0-9A-Za-z.+~]{1,32})?, released 20",
        ]),
        unless: &[],
        package: "haproxy",
        cpe: Some(("haproxy", "haproxy")),
    },
    Classifier {
        class: "bash-binary",
        names: &[Name::Is("bash")],
        evidence: Evidence::Patterns(&[
            r"@\(#\)Bash version (?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})\([0-9]\) [a-z0-9]{1,16} GNU",
        ]),
        unless: &[],
        package: "bash",
        cpe: Some(("gnu", "bash")),
    },
    Classifier {
        class: "curl-binary",
        names: &[Name::Is("curl")],
        evidence: Evidence::Patterns(&[r"curl/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})"]),
        unless: &[],
        package: "curl",
        cpe: Some(("haxx", "curl")),
    },
    Classifier {
        class: "lighttpd-binary",
        names: &[Name::Is("lighttpd")],
        evidence: Evidence::Patterns(&[
            r"\x00lighttpd/(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})\x00",
        ]),
        unless: &[],
        package: "lighttpd",
        cpe: Some(("lighttpd", "lighttpd")),
    },
    Classifier {
        class: "proftpd-binary",
        names: &[Name::Is("proftpd")],
        evidence: Evidence::Patterns(&[
            r"\x00ProFTPD Version (?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}[a-z]?)\x00",
        ]),
        unless: &[],
        package: "proftpd",
        cpe: Some(("proftpd", "proftpd")),
    },
    Classifier {
        class: "zstd-binary",
        names: &[Name::Is("zstd")],
        evidence: Evidence::Patterns(&[
            r"\x00v(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})\x00",
        ]),
        unless: &[],
        package: "zstd",
        cpe: Some(("facebook", "zstandard")),
    },
    Classifier {
        class: "xz-binary",
        names: &[Name::Is("xz")],
        evidence: Evidence::Patterns(&[
            r"\x00xz \(XZ Utils\) (?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})\x00",
        ]),
        unless: &[],
        package: "xz",
        cpe: Some(("tukaani", "xz")),
    },
    Classifier {
        class: "gzip-binary",
        names: &[Name::Is("gzip")],
        evidence: Evidence::Patterns(&[r"\x00(?P<version>[0-9]{1,9}\.[0-9]{1,9})\x00"]),
        unless: &[],
        package: "gzip",
        cpe: Some(("gnu", "gzip")),
    },
    Classifier {
        class: "jq-binary",
        names: &[Name::Is("jq")],
        evidence: Evidence::Patterns(&[
            r"\x00(?P<version>[0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,9})?)\x00",
        ]),
        unless: &[],
        package: "jq",
        cpe: Some(("jqlang", "jq")),
    },
    Classifier {
        class: "util-linux-binary",
        names: &[Name::Is("getopt")],
        evidence: Evidence::Patterns(&[
            r"\x00util-linux\s(?P<version>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})\x00",
        ]),
        unless: &[],
        package: "util-linux",
        cpe: Some(("kernel", "util-linux")),
    },
];

/// `python3.11` → `3.11`: `python`, then numbers joined by dots (at least two), nothing else.
fn python_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("python")?;
    (dotted_len(rest) == Some(rest.len())).then_some(rest)
}

/// `libpython3.11.so.1.0`, `libpython3.7m.so` → `3.11`, `3.7`: `libpython`, dotted numbers,
/// an optional ABI letter, then `.so`.
fn libpython_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("libpython")?;
    let len = dotted_len(rest)?;
    let (version, tail) = rest.split_at(len);
    let tail = match tail.as_bytes().first() {
        Some(b) if b.is_ascii_lowercase() => tail.get(1..)?,
        _ => tail,
    };
    tail.starts_with(".so").then_some(version)
}

/// Length of the leading `<digits>(.<digits>)+` of `s`, when it has one.
fn dotted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let digits_from = |at: usize| {
        bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits_from(0);
    if end == 0 {
        return None;
    }
    let mut parts = 1;
    while bytes.get(end) == Some(&b'.') {
        let more = digits_from(end + 1);
        if more == 0 {
            break;
        }
        end += 1 + more;
        parts += 1;
    }
    (parts >= 2).then_some(end)
}

/// The content pattern of [`Evidence::NameVersion`] for a version taken from a file name.
pub fn name_version_pattern(version: &str) -> String {
    format!(
        r"(?-u)\x00(?P<version>{}[-._a-zA-Z0-9]{{0,32}})\x00",
        regex::escape(version)
    )
}

/// A classifier's version as the CPE 2.3 formatted string binds it: characters other than
/// letters, digits, `-`, `.` and `_` are escaped (`17.0.15+6` → `17.0.15\+6`).
pub fn cpe(vendor: &str, product: &str, version: &str) -> String {
    let mut escaped = String::with_capacity(version.len() + 4);
    for c in version.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("cpe:2.3:a:{vendor}:{product}:{escaped}:*:*:*:*:*:*:*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names_give_their_version() {
        assert_eq!(python_version("python3.11"), Some("3.11"));
        assert_eq!(python_version("python2.7.18"), Some("2.7.18"));
        for name in [
            "python3",
            "python",
            "python3.11-config",
            "python3.",
            "python.3",
        ] {
            assert_eq!(python_version(name), None, "{name}");
        }
    }

    #[test]
    fn libpython_names_give_their_version() {
        assert_eq!(libpython_version("libpython3.11.so.1.0"), Some("3.11"));
        assert_eq!(libpython_version("libpython3.12.so"), Some("3.12"));
        assert_eq!(libpython_version("libpython3.7m.so.1.0"), Some("3.7"));
        assert_eq!(libpython_version("libpython3.13t.so"), Some("3.13"));
        for name in [
            "libpython3.so",
            "libpython3.11.a",
            "libpython3.11",
            "libpython3.11mm.so",
        ] {
            assert_eq!(libpython_version(name), None, "{name}");
        }
    }

    #[test]
    fn shared_library_names_need_a_so_part() {
        let libcrypto = Name::SharedLibrary("libcrypto");
        for name in [
            "libcrypto.so",
            "libcrypto.so.3",
            "libcrypto-37c0e3a1.so.1.1",
        ] {
            assert!(libcrypto.matches(name), "{name}");
        }
        for name in [
            "libcrypto.a",
            "libcrypto.sox",
            "libcrypto3.pc",
            "libcrypt.so.1",
        ] {
            assert!(!libcrypto.matches(name), "{name}");
        }
    }

    #[test]
    fn stem_digits_names_are_the_stem_then_digits() {
        let php = Name::StemDigits("php");
        for name in ["php", "php8", "php82"] {
            assert!(php.matches(name), "{name}");
        }
        for name in ["php8.2", "phpize", "php-fpm", "php-config"] {
            assert!(!php.matches(name), "{name}");
        }
    }

    #[test]
    fn cpe_escapes_what_the_formatted_string_binding_quotes() {
        assert_eq!(
            cpe("oracle", "openjdk", "17.0.15+6-Debian-1deb12u1"),
            r"cpe:2.3:a:oracle:openjdk:17.0.15\+6-Debian-1deb12u1:*:*:*:*:*:*:*"
        );
        assert_eq!(
            cpe("haxx", "curl", "7.88.1"),
            "cpe:2.3:a:haxx:curl:7.88.1:*:*:*:*:*:*:*"
        );
    }

    #[test]
    fn name_version_pattern_escapes_the_dots() {
        let pattern = regex::bytes::Regex::new(&name_version_pattern("3.11")).unwrap();
        assert!(pattern.is_match(b"\x003.11.2\x00"));
        assert!(!pattern.is_match(b"\x003x11.2\x00"));
    }
}
