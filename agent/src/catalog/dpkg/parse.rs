//! dpkg database files as records: bytes in, no I/O.
//!
//! `status`, distroless `status.d/<pkg>` and opkg control files are all deb822(5)
//! paragraphs: `Field: value` lines, continuation lines that start with a space or a tab,
//! and blank lines between packages. Only the fields the SBOM needs are kept.

use crate::catalog::Records;

/// More stanzas than any real database holds: Debian 12's whole main archive for amd64
/// is 63,440 binary packages (its `Packages` index, measured), so a status with every
/// one of them installed stays below. Those after it are not read.
pub const MAX_RECORDS: usize = 100_000;

/// One package stanza, fields as written (trimmed, lossily decoded as UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpkgRecord {
    pub package: String,
    /// `Version`, epoch included (`1:2.38.1-5`); empty when the stanza has none.
    pub version: String,
    pub architecture: Option<String>,
    /// `Source`, possibly with a version: `util-linux (2.38.1-5+deb12u3)`.
    pub source: Option<String>,
    /// `Status`: `want flag state`, e.g. `install ok installed`.
    pub status: Option<String>,
    /// `License`: opkg control files state one (`GPL-2.0-or-later`); dpkg's never do.
    pub license: Option<String>,
}

/// The fields of the stanza being read, borrowed from the input.
#[derive(Default)]
struct Fields<'a> {
    package: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    architecture: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    license: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, key: &[u8], value: &'a [u8]) {
        let slot = if key.eq_ignore_ascii_case(b"Package") {
            &mut self.package
        } else if key.eq_ignore_ascii_case(b"Version") {
            &mut self.version
        } else if key.eq_ignore_ascii_case(b"Architecture") {
            &mut self.architecture
        } else if key.eq_ignore_ascii_case(b"Source") {
            &mut self.source
        } else if key.eq_ignore_ascii_case(b"Status") {
            &mut self.status
        } else if key.eq_ignore_ascii_case(b"License") {
            &mut self.license
        } else {
            return;
        };
        // dpkg never writes a field twice; if a file does, the first one counts.
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    /// The record of a finished stanza: `None` when it names no package.
    fn take_record(&mut self) -> Option<DpkgRecord> {
        let fields = std::mem::take(self);
        let package = text(fields.package?);
        if package.is_empty() {
            return None;
        }
        Some(DpkgRecord {
            package,
            version: fields.version.map(text).unwrap_or_default(),
            architecture: fields.architecture.map(text).filter(|a| !a.is_empty()),
            source: fields.source.map(text).filter(|s| !s.is_empty()),
            status: fields.status.map(text),
            license: fields.license.map(text).filter(|l| !l.is_empty()),
        })
    }
}

/// Parses the stanzas of a dpkg database file, the first [`MAX_RECORDS`] of them.
/// Stanzas without a `Package` field and lines that are not `Field: value` are skipped;
/// CRLF line ends are accepted.
pub fn parse_db(data: &[u8]) -> Records<DpkgRecord> {
    let mut parsed = Records::new(MAX_RECORDS);
    let mut fields = Fields::default();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            if let Some(record) = fields.take_record() {
                if !parsed.push(record) {
                    return parsed;
                }
            }
            continue;
        }
        // Continuations belong to multi-line fields (Description, Conffiles) that are not
        // kept; `#` lines are deb822 comments.
        if matches!(line.first(), Some(b' ' | b'\t') | Some(b'#')) {
            continue;
        }
        let mut parts = line.splitn(2, |&b| b == b':');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        fields.set(key.trim_ascii(), value.trim_ascii());
    }
    if let Some(record) = fields.take_record() {
        parsed.push(record);
    }
    parsed
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_do_not_leak_into_fields() {
        let data = b"Package: a\nDescription: short\n Version: 9.9\n\tArchitecture: evil\n .\nVersion: 1.0\n";
        let records = parse_db(data).records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].version, "1.0");
        assert_eq!(records[0].architecture, None);
    }

    #[test]
    fn crlf_line_ends_and_whitespace_only_separators_are_accepted() {
        let data = b"Package: a\r\nVersion: 1\r\n\r\nPackage: b\r\nVersion: 2\r\n \t\r\nPackage: c\r\nVersion: 3";
        let records = parse_db(data).records;
        let names: Vec<_> = records
            .iter()
            .map(|r| (r.package.as_str(), r.version.as_str()))
            .collect();
        assert_eq!(names, [("a", "1"), ("b", "2"), ("c", "3")]);
    }

    #[test]
    fn stanza_without_package_is_skipped() {
        let data = b"Version: 1.0\nArchitecture: amd64\n\nPackage: kept\n";
        let records = parse_db(data).records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].package, "kept");
        assert_eq!(records[0].version, "");
    }

    #[test]
    fn field_names_are_case_insensitive_and_first_value_wins() {
        let data = b"package: a\nVERSION: 1\nVersion: 2\n";
        let records = parse_db(data).records;
        assert_eq!(records[0].package, "a");
        assert_eq!(records[0].version, "1");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let data = b"Package: caf\xe9\nVersion: 1\n";
        let records = parse_db(data).records;
        assert_eq!(records[0].package, "caf\u{fffd}");
    }

    #[test]
    fn stanzas_up_to_the_limit_are_kept_and_the_stop_said() {
        let mut data = Vec::new();
        for i in 0..MAX_RECORDS + 2 {
            data.extend_from_slice(format!("Package: p{i}\nVersion: 1\n\n").as_bytes());
        }
        let parsed = parse_db(&data);
        assert!(parsed.stopped_at_limit);
        assert_eq!(parsed.records.len(), MAX_RECORDS);
        assert_eq!(parsed.records[0].package, "p0");
        assert_eq!(parsed.records[MAX_RECORDS - 1].package, "p99999");

        let exactly = data
            .split_inclusive(|&b| b == b'\n')
            .take(3 * MAX_RECORDS)
            .flatten()
            .copied()
            .collect::<Vec<u8>>();
        let parsed = parse_db(&exactly);
        assert!(!parsed.stopped_at_limit);
        assert_eq!(parsed.records.len(), MAX_RECORDS);
    }
}
