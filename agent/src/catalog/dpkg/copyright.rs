//! dpkg copyright files: the licences of one Debian package.
//!
//! The dpkg database states no licence; each package ships
//! `/usr/share/doc/<package>/copyright` instead (distroless images keep them too, next to
//! `status.d/`). Like syft 1.18, which reads the file at that path from the image root for
//! every dpkg package, this reads those files and names the package by the directory; the
//! merge gives the licences to the visible Deb package of that name.
//!
//! What counts as a licence (syft's two sources, with its prose false positives removed):
//! - the short names of a `License:` field (machine-readable DEP-5 files): `GPL-2+`,
//!   both names of `BSD-3-clause or GPL-2` (syft 1.18 takes the first word only), the
//!   licence of `GPL-2+ with OpenSSL exception`, `BSD` of `BSD (3 clause)`, `CC0` of
//!   `CC0 license`, whatever white space follows the colon (syft wants exactly one space).
//!   A `License:` line that reads as prose (`License: This software is provided…`, which
//!   free-form files have) gives nothing, where syft took its first word;
//! - the file names of `/usr/share/common-licenses/<X>` references, which free-form files
//!   (glibc's, base-files') use: `GPL-2`, `LGPL-2.1`.
//!
//! Values are kept as written (`GPL-2+`); [`crate::license`] maps them to SPDX ids.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};

use crate::catalog::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::{Ecosystem, Findings, StatedLicenses};

/// Copyright files are a few KiB; Boost's, the largest in Debian, about 2 MiB. Only this
/// much is read: licence lines past it are lost, the rest is kept.
const READ_LIMIT: u64 = 4 * 1024 * 1024;
/// Distinct licences kept per file; real files state a few dozen at most.
const MAX_LICENSES: usize = 256;
/// Longest short name kept; longer words are not names.
const MAX_NAME_LEN: usize = 64;

const DOC_DIR: &str = "/usr/share/doc/";
const COMMON_LICENSES: &str = "/usr/share/common-licenses/";

/// Reads the licences of Debian packages from their copyright files.
pub struct DpkgCopyrightCataloger;

/// The package a copyright file belongs to: `/usr/share/doc/<package>/copyright`, from
/// the image root only, as syft looks it up.
fn package_of(path: &str) -> Option<&str> {
    let package = path.strip_prefix(DOC_DIR)?.strip_suffix("/copyright")?;
    let valid = package.starts_with(|c: char| c.is_ascii_alphanumeric())
        && package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'));
    valid.then_some(package)
}

impl Cataloger for DpkgCopyrightCataloger {
    fn name(&self) -> &'static str {
        "dpkg-copyright"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        package_of(file.path).is_some()
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let Some(package) = package_of(file.path) else {
            return Ok(Findings::default());
        };
        let reader = content.into_reader();
        let licenses = parse_copyright(BufReader::new(reader.take(READ_LIMIT)))?;
        if licenses.is_empty() {
            return Ok(Findings::default());
        }
        Ok(Findings {
            stated_licenses: vec![StatedLicenses {
                ecosystem: Ecosystem::Deb,
                package: package.to_owned(),
                licenses,
            }],
            ..Findings::default()
        })
    }
}

/// The licences a copyright file states, sorted and deduplicated. Lines need not be
/// UTF-8 (old files are Latin-1).
pub fn parse_copyright(mut reader: impl BufRead) -> Result<Vec<String>, CatalogError> {
    let mut found = BTreeSet::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let mut names = license_field(&text);
        names.extend(common_license_references(&text));
        for name in names {
            if found.len() >= MAX_LICENSES {
                break;
            }
            if !name.eq_ignore_ascii_case("none") {
                found.insert(name.to_owned());
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// The short names of a `License:` field's first line; none when it reads as prose.
fn license_field(line: &str) -> Vec<&str> {
    let Some(value) = line
        .get(..8)
        .filter(|field| field.eq_ignore_ascii_case("license:"))
        .and_then(|_| line.get(8..))
    else {
        return Vec::new();
    };
    short_names(value)
}

/// `GPL-2+ or Artistic`, `Apache-2.0, and BSD-2-clause`, `GPL-2+ with OpenSSL exception`:
/// names joined by `or`, `and` or commas, each maybe followed by a `with … exception`
/// clause, a parenthesised comment (`BSD (3 clause)`) or the word `license`
/// (`CC0 license`). Anything else (two names in a row, a word that cannot be a name) is
/// prose.
fn short_names(value: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut expect_name = true;
    let mut in_exception = false;
    let mut in_comment = false;
    for word in value.split_whitespace().flat_map(split_commas) {
        if in_comment {
            in_comment = !word.ends_with(')');
        } else if word == "," || word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("and")
        {
            if names.is_empty() {
                return Vec::new();
            }
            expect_name = true;
            in_exception = false;
        } else if word.eq_ignore_ascii_case("with") {
            if expect_name {
                return Vec::new();
            }
            in_exception = true;
        } else if in_exception {
            // The exception's own words (`OpenSSL exception`).
        } else if !expect_name && word.starts_with('(') {
            in_comment = !word.ends_with(')');
        } else if !expect_name
            && (word.eq_ignore_ascii_case("license") || word.eq_ignore_ascii_case("licence"))
        {
            // `CC0 license`: the name is the licence's.
        } else {
            let name = word.trim_end_matches('.');
            if !expect_name || !is_short_name(name) {
                return Vec::new();
            }
            names.push(name);
            expect_name = false;
        }
    }
    if expect_name || in_comment {
        // A dangling `or` / `and` or an open parenthesis: not a field value.
        return Vec::new();
    }
    names
}

/// `a,` → `a`, `,`; `,` alone stays.
fn split_commas(word: &str) -> impl Iterator<Item = &str> {
    let (name, comma) = match word.strip_suffix(',') {
        Some(name) if !name.is_empty() => (Some(name), Some(",")),
        _ => (Some(word), None),
    };
    name.into_iter().chain(comma)
}

/// A DEP-5 short name: `GPL-2+`, `BSD-3-clause`, `public-domain`, `GAP~configure`,
/// `BSD-3-Viagénie` (letters need not be ASCII; a Latin-1 byte read as UTF-8 is no letter).
fn is_short_name(word: &str) -> bool {
    word.len() <= MAX_NAME_LEN
        && word.starts_with(char::is_alphanumeric)
        && word.chars().all(|c| {
            c.is_alphanumeric()
                || (c.is_ascii_graphic() && !matches!(c, '(' | ')' | '"' | '\'' | '`' | ';'))
        })
}

/// `GPL-2` in `…can be found in /usr/share/common-licenses/GPL-2.` (syft's pattern: the
/// file name's characters, a sentence's final dot dropped).
fn common_license_references(line: &str) -> Vec<&str> {
    line.match_indices(COMMON_LICENSES)
        .filter_map(|(at, _)| {
            let rest = line.get(at + COMMON_LICENSES.len()..)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .unwrap_or(rest.len());
            let name = rest.get(..end)?.trim_end_matches('.');
            (!name.is_empty() && name.len() <= MAX_NAME_LEN).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;

    fn catalog(path: &str, mut bytes: &[u8]) -> Findings {
        DpkgCopyrightCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .unwrap()
    }

    fn licenses(bytes: &[u8]) -> Vec<String> {
        parse_copyright(bytes).unwrap()
    }

    const LIBC6: &[u8] = include_bytes!("testdata/usr/share/doc/libc6/copyright");
    const BASE_FILES: &[u8] = include_bytes!("testdata/usr/share/doc/base-files/copyright");
    const LIBCAP2: &[u8] = include_bytes!("testdata/usr/share/doc/libcap2/copyright");
    const ZLIB1G: &[u8] = include_bytes!("testdata/usr/share/doc/zlib1g/copyright");
    const TZDATA: &[u8] = include_bytes!("testdata/usr/share/doc/tzdata/copyright");
    const PYTHON3_SIX: &[u8] = include_bytes!("testdata/usr/share/doc/python3-six/copyright");
    const BASH: &[u8] = include_bytes!("testdata/usr/share/doc/bash/copyright");
    const FILE: &[u8] = include_bytes!("testdata/usr/share/doc/file/copyright");
    const LIBUNBOUND8: &[u8] = include_bytes!("testdata/usr/share/doc/libunbound8/copyright");
    const LIBSQLITE3: &[u8] =
        include_bytes!("testdata/distroless/usr/share/doc/libsqlite3-0/copyright");

    #[test]
    fn wants_copyright_files_of_the_root_doc_dir_only() {
        for path in [
            "/usr/share/doc/libc6/copyright",
            "/usr/share/doc/libstdc++6/copyright",
            "/usr/share/doc/python3.11-minimal/copyright",
        ] {
            assert!(DpkgCopyrightCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/usr/share/doc/libc6/changelog.Debian.gz",
            "/usr/share/doc/libc6/copyright.gz",
            "/usr/share/doc/copyright",
            "/usr/share/doc/libc6/sub/copyright",
            "/srv/chroot/usr/share/doc/libc6/copyright",
            "/usr/share/doc/.hidden/copyright",
            "/usr/local/share/doc/app/copyright",
        ] {
            assert!(!DpkgCopyrightCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn free_form_file_gives_the_common_licenses_it_refers_to() {
        // glibc's copyright is prose; the licences are the files it points to.
        assert_eq!(licenses(LIBC6), ["GPL-2", "LGPL-2.1"]);
        assert_eq!(licenses(BASE_FILES), ["GPL"]);
    }

    #[test]
    fn dep5_file_gives_every_short_name() {
        assert_eq!(licenses(ZLIB1G), ["Zlib"]);
        assert_eq!(licenses(TZDATA), ["public-domain"]);
        assert_eq!(licenses(PYTHON3_SIX), ["Expat"]);
        // `BSD-3-clause or GPL-2+` lines give both names.
        assert_eq!(licenses(LIBCAP2), ["BSD-3-clause", "GPL-2", "GPL-2+"]);
    }

    #[test]
    fn dep5_names_are_kept_as_written_for_the_sbom_to_map() {
        // `BSD-2-Clause-netbsd` is a deprecated SPDX id; `crate::license` gives its
        // successor `BSD-2-Clause`, as syft does.
        assert_eq!(
            licenses(FILE),
            [
                "BSD-2-Clause-alike",
                "BSD-2-Clause-netbsd",
                "BSD-2-Clause-regents",
                "MIT-Old-Style-with-legal-disclaimer-2",
                "public-domain",
            ]
        );
        assert_eq!(
            crate::license::normalize("BSD-2-Clause-netbsd"),
            Some(crate::license::Normalized::Id("BSD-2-Clause".into()))
        );
    }

    #[test]
    fn short_names_may_have_non_ascii_letters() {
        let found = licenses(LIBUNBOUND8);
        assert!(found.contains(&"BSD-3-Viagénie".to_owned()), "{found:?}");
        assert!(found.contains(&"GPL-3+".to_owned()), "{found:?}");
    }

    #[test]
    fn dep5_exception_clauses_are_not_names() {
        let found = licenses(BASH);
        assert!(found.contains(&"GPL-3+".to_owned()), "{found:?}");
        assert!(
            found
                .iter()
                .all(|l| !l.contains("exception") && !l.eq_ignore_ascii_case("with")),
            "{found:?}"
        );
    }

    #[test]
    fn short_name_lists_are_split_and_prose_is_ignored() {
        assert_eq!(short_names(" GPL-2+ or Artistic"), ["GPL-2+", "Artistic"]);
        assert_eq!(
            short_names(" Apache-2.0, and BSD-2-clause, and Expat or Unlicense"),
            ["Apache-2.0", "BSD-2-clause", "Expat", "Unlicense"]
        );
        assert_eq!(
            short_names(" GPL-2+ with OpenSSL exception and MIT"),
            ["GPL-2+", "MIT"]
        );
        assert_eq!(short_names(" GAP~configure"), ["GAP~configure"]);
        assert_eq!(short_names(" GPL-2."), ["GPL-2"]);
        // libunbound8's.
        assert_eq!(short_names(" BSD-3-Viagénie"), ["BSD-3-Viagénie"]);
        // libgnutls30's.
        assert_eq!(short_names(" CC0 license"), ["CC0"]);
        // libgstreamer-plugins-base1.0-0's.
        assert_eq!(short_names(" BSD (3 clause)"), ["BSD"]);
        assert_eq!(short_names(" GPL-2+ (see below) or MIT"), ["GPL-2+", "MIT"]);
        for prose in [
            " This software is provided 'as-is', without any express",
            " # Licensed to PSF under a Contributor Agreement",
            "  * Permission to use this software in any way is granted",
            " see above, some license as Python.",
            " GPL-2 or",
            " or GPL-2",
            " (GPL-2)",
            " GPL-2 (unclosed comment",
            // Two names in a row around a comment.
            " MIT/X11 (BSD like) LGPL-2+",
            " caf\u{fffd}",
            "",
        ] {
            assert!(short_names(prose).is_empty(), "{prose:?}");
        }
    }

    #[test]
    fn license_field_must_start_the_line() {
        assert_eq!(
            licenses(b"License: MIT\n License: GPL-2\nXLicense: ISC\nlicense: Zlib\n"),
            ["MIT", "Zlib"]
        );
    }

    #[test]
    fn none_is_no_licence() {
        assert!(licenses(b"License: none\nLicense: NONE\n").is_empty());
    }

    #[test]
    fn common_licenses_references_take_the_file_name() {
        assert_eq!(
            common_license_references(
                "see /usr/share/common-licenses/GPL-2. and `/usr/share/common-licenses/LGPL-2.1'"
            ),
            ["GPL-2", "LGPL-2.1"]
        );
        assert!(common_license_references("in /usr/share/common-licenses/ or").is_empty());
    }

    #[test]
    fn distroless_copyright_names_its_package() {
        let findings = catalog("/usr/share/doc/libsqlite3-0/copyright", LIBSQLITE3);
        assert!(findings.packages.is_empty());
        assert_eq!(
            findings.stated_licenses,
            [StatedLicenses {
                ecosystem: Ecosystem::Deb,
                package: "libsqlite3-0".into(),
                licenses: vec!["GPL-2".into(), "GPL-2+".into(), "public-domain".into()],
            }]
        );
    }

    #[test]
    fn file_without_licences_gives_nothing() {
        let findings = catalog("/usr/share/doc/x/copyright", b"Copyright 2024 Someone\n");
        assert!(findings.is_empty());
    }

    #[test]
    fn invalid_utf8_and_garbage_are_not_fatal() {
        assert_eq!(
            licenses(b"License: MIT\n\xff\xfe caf\xe9\nLicense: ISC\n"),
            ["ISC", "MIT"]
        );
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 256) as u8).collect();
        assert!(licenses(&garbage).is_empty());
    }

    #[test]
    fn only_the_first_bytes_of_a_huge_file_are_read() {
        let mut big = b"License: MIT\n".to_vec();
        big.resize(READ_LIMIT as usize + 10, b' ');
        big.extend_from_slice(b"\nLicense: ISC\n");
        let findings = catalog("/usr/share/doc/big/copyright", &big);
        assert_eq!(findings.stated_licenses[0].licenses, ["MIT"]);
    }

    #[test]
    fn licences_per_file_are_bounded() {
        let many: String = (0..MAX_LICENSES + 50)
            .map(|i| format!("License: L-{i}\n"))
            .collect();
        assert_eq!(licenses(many.as_bytes()).len(), MAX_LICENSES);
    }

    /// The visible packages, with licences, of an image made of `layers`, as the real
    /// dpkg catalogers and the merge see it.
    fn image_licences(layers: Vec<crate::layers::testutil::LayerTar>) -> Vec<String> {
        use crate::analysis::merge;
        use crate::analysis::testutil::analysed;
        use crate::catalog::dpkg::DpkgCataloger;

        let catalogers: Vec<Box<dyn Cataloger>> =
            vec![Box::new(DpkgCataloger), Box::new(DpkgCopyrightCataloger)];
        let layers: Vec<_> = layers
            .into_iter()
            .map(|layer| analysed(layer, &catalogers))
            .collect();
        merge(&layers)
            .packages
            .iter()
            .map(|p| format!("{}: {}", p.package.name, p.package.licenses.join(" ")))
            .collect()
    }

    #[test]
    fn copyright_reaches_the_status_package_of_another_layer_until_deleted() {
        use crate::layers::testutil::LayerTar;

        let status = b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n\
                       Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n";
        let docs = || {
            LayerTar::new()
                .file("usr/share/doc/libc6/copyright", LIBC6, 0o644)
                .file("usr/share/doc/zlib1g/copyright", ZLIB1G, 0o644)
                // No package of that name: nothing to attach to.
                .file("usr/share/doc/tzdata/copyright", TZDATA, 0o644)
        };
        let packages = || LayerTar::new().file("var/lib/dpkg/status", status, 0o644);
        assert_eq!(
            image_licences(vec![docs(), packages()]),
            ["libc6: GPL-2 LGPL-2.1", "zlib1g: Zlib"]
        );
        let cleanup = LayerTar::new().file("usr/share/doc/libc6/.wh.copyright", b"", 0o644);
        assert_eq!(
            image_licences(vec![packages(), docs(), cleanup]),
            ["libc6: ", "zlib1g: Zlib"]
        );
    }
}
