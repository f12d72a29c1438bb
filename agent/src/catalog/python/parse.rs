//! Python core metadata (`METADATA`, `PKG-INFO`) headers as records: bytes in, no I/O.
//!
//! The format is RFC 822-like: `Name: value` lines, continuation lines that start with
//! whitespace, then a blank line before the long description, which is not read.

/// The header fields the SBOM needs, as written (trimmed; a later singular field wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonRecord {
    pub name: Option<String>,
    pub version: Option<String>,
    /// `License`, with its non-blank continuation lines joined by `\n`.
    pub license: Option<String>,
    /// `License-Expression` (core metadata 2.4).
    pub license_expression: Option<String>,
    /// Every `Classifier` that starts with `License ::`.
    pub license_classifiers: Vec<String>,
}

/// More license classifiers than any real package declares.
const MAX_CLASSIFIERS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    License,
    Other,
}

/// Parses the header block of a metadata file; `header` may also hold the body, which is
/// ignored from the first empty line after a field on.
pub fn parse_metadata(header: &[u8]) -> PythonRecord {
    let mut record = PythonRecord::default();
    let mut current = Field::Other;
    let mut started = false;
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if started {
                break;
            }
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            let more = line.trim_ascii();
            if current == Field::License && !more.is_empty() {
                if let Some(license) = record.license.as_mut() {
                    license.push('\n');
                    license.push_str(&String::from_utf8_lossy(more));
                }
            }
            continue;
        }
        let mut parts = line.splitn(2, |&b| b == b':');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        started = true;
        let key = key.trim_ascii();
        let value = String::from_utf8_lossy(value.trim_ascii()).into_owned();
        current = Field::Other;
        if key.eq_ignore_ascii_case(b"Name") {
            record.name = Some(value);
        } else if key.eq_ignore_ascii_case(b"Version") {
            record.version = Some(value);
        } else if key.eq_ignore_ascii_case(b"License") {
            record.license = Some(value);
            current = Field::License;
        } else if key.eq_ignore_ascii_case(b"License-Expression") {
            record.license_expression = Some(value);
        } else if key.eq_ignore_ascii_case(b"Classifier")
            && value.starts_with("License ::")
            && record.license_classifiers.len() < MAX_CLASSIFIERS
        {
            record.license_classifiers.push(value);
        }
    }
    record
}

/// Whether `line`, as read with its line end, is the empty line that ends the header block.
pub fn is_header_end(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_after_the_blank_line_is_ignored() {
        let record = parse_metadata(b"Name: a\nVersion: 1\n\nName: not-a-header\n");
        assert_eq!(record.name.as_deref(), Some("a"));
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let record = parse_metadata(b"\n\r\nName: a\n");
        assert_eq!(record.name.as_deref(), Some("a"));
    }

    #[test]
    fn whitespace_only_continuation_does_not_end_the_header() {
        let record = parse_metadata(b"License: Some\n        \n        text\nName: late\n");
        assert_eq!(record.license.as_deref(), Some("Some\ntext"));
        assert_eq!(record.name.as_deref(), Some("late"));
    }

    #[test]
    fn later_singular_field_wins_and_keys_ignore_case() {
        let record = parse_metadata(b"Name: first\nname: second\nVERSION: 2\n");
        assert_eq!(record.name.as_deref(), Some("second"));
        assert_eq!(record.version.as_deref(), Some("2"));
    }

    #[test]
    fn continuation_without_a_field_and_lines_without_colon_are_skipped() {
        let record = parse_metadata(b" orphan continuation\nno colon here\nName: a\n");
        assert_eq!(record.name.as_deref(), Some("a"));
    }

    #[test]
    fn header_end_is_an_empty_line_only() {
        assert!(is_header_end(b"\n"));
        assert!(is_header_end(b"\r\n"));
        assert!(!is_header_end(b"   \n"));
    }
}
