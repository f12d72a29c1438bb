//! Which files dpkg's packages installed, for the binary classifier's sake: a classified
//! binary that a package owns is that package's ([`crate::package::Findings::owned_files`]).
//!
//! dpkg keeps one list per package, `info/<package>[:<arch>].list`: one absolute path a
//! line, directories included (opkg's `info/<package>.list` is the same). Distroless
//! images have no lists, but keep `status.d/<package>.md5sums`: `<md5>  <path>` lines with
//! the path relative to `/` (syft reads the md5sums, not the lists; they name the same
//! regular files). Only paths a binary classifier could claim
//! ([`crate::catalog::binary::is_candidate`]) are kept, so what is stored stays small,
//! and programs ([`crate::catalog::is_program`]) with the package's name, so that a Go
//! or Rust program the package installed is said to be the package's
//! ([`crate::package::Findings::owned_programs`]).

use std::io::Read;

use crate::catalog::binary::is_candidate;
use crate::catalog::{is_program, CatalogError, Cataloger, Content, FileMeta, MAX_OWNED_PROGRAMS};
use crate::package::{Findings, OwnedProgram};

/// Largest list read; the longest in Debian (kernel headers, TeX) are a few MiB.
const LIST_LIMIT: u64 = 32 << 20;
/// Bytes read at a time.
const CHUNK: usize = 64 << 10;
/// Longer lines are skipped: `PATH_MAX` is 4096.
const MAX_LINE: usize = 4096;

/// Reports the files dpkg and opkg packages installed that a binary classifier could claim.
pub struct DpkgFilesCataloger;

/// The kinds of file list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListFile {
    /// `info/<package>.list`: absolute paths.
    List,
    /// `status.d/<package>.md5sums`: a digest, two spaces, a path relative to `/`.
    Md5sums,
}

fn list_file(path: &str) -> Option<ListFile> {
    let (dir, name) = path.rsplit_once('/')?;
    if name.len() > ".list".len()
        && name.ends_with(".list")
        && (dir.ends_with("/lib/dpkg/info") || dir.ends_with("/lib/opkg/info"))
    {
        return Some(ListFile::List);
    }
    (name.len() > ".md5sums".len()
        && name.ends_with(".md5sums")
        && dir.ends_with("/lib/dpkg/status.d"))
    .then_some(ListFile::Md5sums)
}

impl Cataloger for DpkgFilesCataloger {
    fn name(&self) -> &'static str {
        "dpkg-files"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        list_file(file.path).is_some()
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let Some(kind) = list_file(file.path) else {
            return Ok(Findings::default());
        };
        if file.size > LIST_LIMIT {
            return Err(CatalogError::TooLarge { limit: LIST_LIMIT });
        }
        let package = package_of(file.path, kind);
        let reader = content.into_reader();
        let mut owned_files = Vec::new();
        let mut owned_programs = Vec::new();
        for_each_line(&mut reader.take(LIST_LIMIT), |line| {
            let path = match kind {
                ListFile::List => line.strip_suffix('/').unwrap_or(line).to_owned(),
                ListFile::Md5sums => match line.split_once("  ") {
                    Some((_, path)) => format!("/{}", path.trim_start_matches('/')),
                    None => return,
                },
            };
            if !path.starts_with('/') {
                return;
            }
            if is_program(&path) && owned_programs.len() < MAX_OWNED_PROGRAMS {
                if let Some(package) = &package {
                    owned_programs.push(OwnedProgram {
                        path: path.clone(),
                        package: package.clone(),
                    });
                }
            }
            if is_candidate(&path) {
                owned_files.push(path);
            }
        })?;
        Ok(Findings {
            owned_files,
            owned_programs,
            ..Findings::default()
        })
    }
}

/// The package a list belongs to: `info/<package>[:<arch>].list`,
/// `status.d/<package>.md5sums`.
fn package_of(path: &str, kind: ListFile) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let name = match kind {
        ListFile::List => name.strip_suffix(".list")?,
        ListFile::Md5sums => name.strip_suffix(".md5sums")?,
    };
    let name = name.split(':').next().unwrap_or(name);
    (!name.is_empty()).then(|| name.to_owned())
}

/// Calls `each` with every line of `reader` that is UTF-8 and at most [`MAX_LINE`] bytes,
/// without its line end; memory stays at one chunk and one line.
fn for_each_line(reader: &mut dyn Read, mut each: impl FnMut(&str)) -> std::io::Result<()> {
    let mut chunk = vec![0u8; CHUNK];
    let mut line = Vec::with_capacity(256);
    let mut overlong = false;
    let mut emit = |line: &mut Vec<u8>, overlong: &mut bool| {
        let bytes = line.strip_suffix(b"\r").unwrap_or(line);
        if !*overlong && !bytes.is_empty() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                each(text);
            }
        }
        line.clear();
        *overlong = false;
    };
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        for part in chunk[..read].split_inclusive(|&b| b == b'\n') {
            let (text, ends) = match part.strip_suffix(b"\n") {
                Some(text) => (text, true),
                None => (part, false),
            };
            if line.len() + text.len() > MAX_LINE {
                overlong = true;
                line.clear();
            } else if !overlong {
                line.extend_from_slice(text);
            }
            if ends {
                emit(&mut line, &mut overlong);
            }
        }
    }
    emit(&mut line, &mut overlong);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;

    fn owned(path: &str, mut bytes: &[u8]) -> Vec<String> {
        let findings = DpkgFilesCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .unwrap();
        assert!(findings.packages.is_empty() && findings.os.is_none());
        findings.owned_files
    }

    fn programs(path: &str, mut bytes: &[u8]) -> Vec<(String, String)> {
        DpkgFilesCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .unwrap()
            .owned_programs
            .into_iter()
            .map(|owned| (owned.path, owned.package))
            .collect()
    }

    #[test]
    fn programs_are_kept_with_the_package_that_installed_them() {
        // Debian 12's containerd.list, shortened; the architecture leaves the name.
        let list = b"/.\n/usr\n/usr/bin\n/usr/bin/containerd\n/usr/bin/containerd-shim-runc-v2\n\
/usr/share/doc/containerd/copyright\n/usr/lib/cni/bridge\n/usr/libexec/kubernetes/plugin\n";
        let pair = |path: &str| (path.to_owned(), "containerd".to_owned());
        assert_eq!(
            programs("/var/lib/dpkg/info/containerd:amd64.list", list),
            [
                pair("/usr/bin/containerd"),
                pair("/usr/bin/containerd-shim-runc-v2"),
                pair("/usr/lib/cni/bridge"),
                pair("/usr/libexec/kubernetes/plugin"),
            ]
        );
        // Distroless: md5sums under status.d, paths relative to `/`.
        let md5sums = b"0123456789abcdef0123456789abcdef  usr/sbin/runc\n";
        assert_eq!(
            programs("/var/lib/dpkg/status.d/runc.md5sums", md5sums),
            [("/usr/sbin/runc".to_owned(), "runc".to_owned())]
        );
    }

    #[test]
    fn wants_lists_and_distroless_md5sums() {
        for path in [
            "/var/lib/dpkg/info/bash.list",
            "/var/lib/dpkg/info/libssl3:amd64.list",
            "/usr/lib/opkg/info/busybox.list",
            "/var/lib/dpkg/status.d/libssl3.md5sums",
            "/srv/root/var/lib/dpkg/info/bash.list",
        ] {
            assert!(DpkgFilesCataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/var/lib/dpkg/info/bash.md5sums",
            "/var/lib/dpkg/info/bash.conffiles",
            "/var/lib/dpkg/info/.list",
            "/var/lib/dpkg/status.d/libssl3",
            "/var/lib/dpkg/status",
            "/etc/apt/sources.list",
            "/var/lib/dpkg/info/nested/bash.list",
        ] {
            assert!(!DpkgFilesCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn list_keeps_only_what_a_classifier_could_claim() {
        // Debian 12's lists, as dpkg wrote them.
        let python = include_bytes!("testdata/var/lib/dpkg/info/python3.11-minimal.list");
        assert_eq!(
            owned("/var/lib/dpkg/info/python3.11-minimal.list", python),
            [
                "/usr/bin/python3.11",
                // A binfmt description, named like the program: kept, harmless.
                "/usr/share/binfmts/python3.11",
            ]
        );
        let libssl = include_bytes!("testdata/var/lib/dpkg/info/libssl3:amd64.list");
        assert_eq!(
            owned("/var/lib/dpkg/info/libssl3:amd64.list", libssl),
            ["/usr/lib/x86_64-linux-gnu/libcrypto.so.3"]
        );
    }

    #[test]
    fn list_paths_are_as_the_package_ships_them() {
        // Debian 12's bash ships /bin/bash; the merge maps it onto /usr/bin (usr-merge).
        // Anything named `bash` is kept, directories too: the list does not say which
        // is which, and an owned path where no binary was classified costs nothing.
        let bash = include_bytes!("testdata/var/lib/dpkg/info/bash.list");
        assert_eq!(
            owned("/var/lib/dpkg/info/bash.list", bash),
            [
                "/bin/bash",
                "/usr/share/debianutils/shells.d/bash",
                "/usr/share/doc/bash",
                "/usr/share/lintian/overrides/bash",
                "/usr/share/menu/bash",
            ]
        );
    }

    #[test]
    fn distroless_md5sums_paths_become_absolute() {
        let md5sums = include_bytes!("testdata/distroless/var/lib/dpkg/status.d/libssl3.md5sums");
        assert_eq!(
            owned("/var/lib/dpkg/status.d/libssl3.md5sums", md5sums),
            ["/usr/lib/x86_64-linux-gnu/libcrypto.so.3"]
        );
    }

    #[test]
    fn crlf_missing_final_newline_and_odd_lines_are_handled() {
        let list = b"/.\r\n/usr/bin/node\r\n\n/usr/bin/\xffnode\n/usr/local/bin/node";
        assert_eq!(
            owned("/var/lib/dpkg/info/x.list", list),
            ["/usr/bin/node", "/usr/local/bin/node"]
        );
        let md5sums = b"no-separator usr/bin/node\nabc  usr/bin/curl\n";
        assert_eq!(
            owned("/var/lib/dpkg/status.d/x.md5sums", md5sums),
            ["/usr/bin/curl"]
        );
    }

    #[test]
    fn lines_cut_by_reads_are_joined_and_overlong_ones_skipped() {
        let mut list = Vec::new();
        for i in 0..20_000 {
            list.extend_from_slice(format!("/opt/tool-{i}/bin/node\n").as_bytes());
        }
        list.extend(std::iter::repeat_n(b'a', MAX_LINE + 1));
        list.extend_from_slice(b"/bin/node\n/usr/bin/curl\n");
        let found = owned("/var/lib/dpkg/info/x.list", &list);
        assert_eq!(found.len(), 20_001);
        assert_eq!(found[19_999], "/opt/tool-19999/bin/node");
        assert_eq!(found[20_000], "/usr/bin/curl");
    }

    #[test]
    fn garbage_gives_no_paths() {
        let garbage: Vec<u8> = (0..256 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(
            owned("/var/lib/dpkg/info/x.list", &garbage),
            Vec::<String>::new()
        );
    }

    #[test]
    fn oversized_list_is_refused_unread() {
        let mut reader: &[u8] = &[];
        let file = FileMeta {
            path: "/var/lib/dpkg/info/x.list",
            size: LIST_LIMIT + 1,
            mode: 0o644,
        };
        assert!(matches!(
            DpkgFilesCataloger.catalog(&file, Content::Stream(&mut reader)),
            Err(CatalogError::TooLarge { .. })
        ));
    }
}
