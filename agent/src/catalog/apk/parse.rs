//! apk's installed database (`/lib/apk/db/installed`) as records: bytes in, no I/O.
//!
//! The format is one `K:value` line per field, with a blank line between packages (see
//! the apk-tools "Apk spec"). File records (`F:`, `R:`, `Z:`…) follow each package's
//! fields and are skipped.

use crate::catalog::{is_program, Records, MAX_OWNED_PROGRAMS};
use crate::package::OwnedProgram;

/// More packages than any real image installs (Alpine's whole repository has ~20,000);
/// those after are not read.
pub const MAX_RECORDS: usize = 100_000;

/// One package's fields, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApkRecord {
    /// `P:`
    pub name: String,
    /// `V:` (`1.36.1-r29`); empty when missing.
    pub version: String,
    /// `A:`
    pub arch: Option<String>,
    /// `o:` the origin (source) package.
    pub origin: Option<String>,
    /// `L:`
    pub license: Option<String>,
}

/// Parses the packages of an apk installed database, the first [`MAX_RECORDS`] of them.
/// Entries without `P:` are skipped; a later value of the same field wins, as in apk-tools.
pub fn parse_installed(data: &[u8]) -> Records<ApkRecord> {
    let mut records = Records::new(MAX_RECORDS);
    let mut current = ApkRecord::default();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if !push(&mut records, std::mem::take(&mut current)) {
                return records;
            }
            continue;
        }
        let mut parts = line.splitn(2, |&b| b == b':');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        match key {
            b"P" => current.name = value,
            b"V" => current.version = value,
            b"A" => current.arch = Some(value),
            b"o" => current.origin = Some(value),
            b"L" => current.license = Some(value),
            _ => {}
        }
    }
    push(&mut records, current);
    records
}

/// The files the database says its packages installed, as absolute paths, keeping those
/// `keep` accepts.
pub fn owned_files(data: &[u8], keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut files = Vec::new();
    for_each_file(data, |_, path| {
        if keep(path) {
            files.push(path.to_owned());
        }
        true
    });
    files
}

/// The programs ([`is_program`]) the database says its packages installed, with the
/// package, up to [`MAX_OWNED_PROGRAMS`].
pub fn owned_programs(data: &[u8]) -> Vec<OwnedProgram> {
    let mut programs = Vec::new();
    for_each_file(data, |package, path| {
        if is_program(path) && !package.is_empty() {
            programs.push(OwnedProgram {
                path: path.to_owned(),
                package: package.to_owned(),
            });
        }
        programs.len() < MAX_OWNED_PROGRAMS
    });
    programs
}

/// Calls `each` with the package (`P:`) and the absolute path of every file the database
/// says its packages installed, until it returns false: each `R:` (a file name) is in the
/// directory of the `F:` before it, in the same package entry.
fn for_each_file(data: &[u8], mut each: impl FnMut(&str, &str) -> bool) {
    let mut dir: Option<&[u8]> = None;
    let mut package: &[u8] = b"";
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            dir = None;
            package = b"";
        } else if let Some(name) = line.strip_prefix(b"P:") {
            package = name;
        } else if let Some(path) = line.strip_prefix(b"F:") {
            dir = Some(path);
        } else if let Some(name) = line.strip_prefix(b"R:") {
            // `R:` with no `F:` before it is at the root, as apk-tools reads it.
            let dir = dir.unwrap_or_default();
            let (Ok(dir), Ok(name)) = (std::str::from_utf8(dir), std::str::from_utf8(name)) else {
                continue;
            };
            if name.is_empty() || name.contains('/') {
                continue;
            }
            let dir = dir.trim_matches('/');
            let path = if dir.is_empty() {
                format!("/{name}")
            } else {
                format!("/{dir}/{name}")
            };
            if !each(std::str::from_utf8(package).unwrap_or_default(), &path) {
                return;
            }
        }
    }
}

/// Keeps a finished entry that names a package; false once the limit is reached.
fn push(records: &mut Records<ApkRecord>, record: ApkRecord) -> bool {
    record.name.trim().is_empty() || records.push(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_entry_without_trailing_blank_line_is_kept() {
        let records = parse_installed(b"P:a\nV:1-r0\n\nP:b\nV:2-r0").records;
        let names: Vec<_> = records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn entry_without_name_is_skipped() {
        let records = parse_installed(b"V:1-r0\nA:x86_64\n\nP:named\n").records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].name, "named");
        assert_eq!(records[0].version, "");
    }

    #[test]
    fn empty_values_and_lines_without_colon_are_ignored() {
        let records = parse_installed(b"P:a\nV:\nnot a field\nA:aarch64\n").records;
        assert_eq!(records[0].version, "");
        assert_eq!(records[0].arch.as_deref(), Some("aarch64"));
    }

    #[test]
    fn values_keep_colons() {
        let records = parse_installed(b"P:a\nV:1:2\n").records;
        assert_eq!(records[0].version, "1:2");
    }

    #[test]
    fn owned_files_join_each_file_to_the_directory_before_it() {
        let data = b"P:a\nF:usr/bin\nR:node\nR:npm\nF:usr/lib\nR:libcrypto.so.3\n\n\
                     P:b\nR:top\nF:bin\nR:busybox\nR:../escape\n";
        assert_eq!(
            owned_files(data, |_| true),
            [
                "/usr/bin/node",
                "/usr/bin/npm",
                "/usr/lib/libcrypto.so.3",
                "/top",
                "/bin/busybox"
            ]
        );
        assert_eq!(
            owned_files(data, |p| p.ends_with("node")),
            ["/usr/bin/node"]
        );
        let programs: Vec<_> = owned_programs(data)
            .into_iter()
            .map(|owned| (owned.package, owned.path))
            .collect();
        let pair = |package: &str, path: &str| (package.to_owned(), path.to_owned());
        assert_eq!(
            programs,
            [
                pair("a", "/usr/bin/node"),
                pair("a", "/usr/bin/npm"),
                pair("b", "/bin/busybox")
            ]
        );
    }

    #[test]
    fn entries_up_to_the_limit_are_kept_and_the_stop_said() {
        let mut data = Vec::new();
        for i in 0..MAX_RECORDS + 1 {
            data.extend_from_slice(format!("P:p{i}\nV:1\n\n").as_bytes());
        }
        let parsed = parse_installed(&data);
        assert!(parsed.stopped_at_limit);
        assert_eq!(parsed.records.len(), MAX_RECORDS);
        assert_eq!(parsed.records[MAX_RECORDS - 1].name, "p99999");
    }
}
