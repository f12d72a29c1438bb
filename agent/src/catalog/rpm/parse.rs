//! rpm header blobs → package records. No I/O.
//!
//! The rpm database keeps one header per installed package, in the layout rpm's
//! `lib/header.c` exports (`headerExport`): two big-endian `u32` counts — index entries
//! (`il`) and data bytes (`dl`) — then `il` index entries of 16 bytes each
//! (`tag: i32, type: u32, offset: i32, count: u32`, big-endian), then the `dl`-byte data
//! store the offsets point into. No maintained Rust crate reads this, so it is written
//! here; only the few tags a package's identity needs are decoded.

/// The rpm header tags this cataloger reads (`lib/rpmtag.h`).
mod tag {
    pub const NAME: i32 = 1000;
    pub const VERSION: i32 = 1001;
    pub const RELEASE: i32 = 1002;
    pub const EPOCH: i32 = 1003;
    pub const LICENSE: i32 = 1014;
    pub const ARCH: i32 = 1022;
    pub const SOURCERPM: i32 = 1044;
    pub const DIRINDEXES: i32 = 1116;
    pub const BASENAMES: i32 = 1117;
    pub const DIRNAMES: i32 = 1118;
}

/// rpm tag data types (`rpmTagType`) that the tags above may use.
mod kind {
    pub const INT32: u32 = 4;
    pub const STRING: u32 = 6;
    pub const STRING_ARRAY: u32 = 8;
    pub const I18NSTRING: u32 = 9;
}

/// rpm refuses headers with more index entries than this (`HEADER_TAGS_MAX`).
const MAX_ENTRIES: u32 = 0xffff;
/// rpm refuses headers with a larger data store than this (`HEADER_DATA_MAX`).
const MAX_DATA: u32 = 0x0fff_ffff;
const ENTRY_SIZE: usize = 16;
const PREAMBLE_SIZE: usize = 8;

/// One installed package as its rpm header states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmRecord {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    /// Absent for `gpg-pubkey` pseudo packages.
    pub arch: Option<String>,
    /// `name-version-release.src.rpm` of the source package it was built from.
    pub source_rpm: Option<String>,
    pub license: Option<String>,
}

/// Why a header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{len}-byte blob is too short for a header")]
    TooShort { len: usize },
    #[error("{count} index entries is more than rpm allows")]
    TooManyEntries { count: u32 },
    #[error("{size}-byte data store is more than rpm allows")]
    DataTooLarge { size: u32 },
    #[error("blob is {actual} bytes but its counts say {expected}")]
    SizeMismatch { expected: usize, actual: usize },
    #[error("tag {tag}: {reason}")]
    BadEntry { tag: i32, reason: &'static str },
    #[error("no {0} tag")]
    Missing(&'static str),
}

/// One index entry: where a tag's value lies in the data store.
struct Entry {
    tag: i32,
    kind: u32,
    offset: usize,
    count: u32,
}

/// Splits a header blob into its index entries and its data store, checking the counts.
fn split(blob: &[u8]) -> Result<(&[u8], &[u8]), HeaderError> {
    let too_short = HeaderError::TooShort { len: blob.len() };
    let index_len = be_u32(blob, 0).ok_or(too_short.clone())?;
    let data_len = be_u32(blob, 4).ok_or(too_short)?;
    if index_len > MAX_ENTRIES {
        return Err(HeaderError::TooManyEntries { count: index_len });
    }
    if data_len > MAX_DATA {
        return Err(HeaderError::DataTooLarge { size: data_len });
    }
    // Both counts are bounded above, so this cannot overflow.
    let index_end = PREAMBLE_SIZE + index_len as usize * ENTRY_SIZE;
    let expected = index_end + data_len as usize;
    if blob.len() != expected {
        return Err(HeaderError::SizeMismatch {
            expected,
            actual: blob.len(),
        });
    }
    let (index, data) = blob.split_at(index_end);
    Ok((index.get(PREAMBLE_SIZE..).unwrap_or_default(), data))
}

/// Reads the package identity out of one header blob (a row of rpmdb.sqlite's
/// `Packages.blob`). Every count and offset is checked against the blob.
pub fn parse_header(blob: &[u8]) -> Result<RpmRecord, HeaderError> {
    let (index, data) = split(blob)?;

    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut epoch = None;
    let mut arch = None;
    let mut source_rpm = None;
    let mut license = None;
    for raw in index.chunks_exact(ENTRY_SIZE) {
        let entry = read_entry(raw)?;
        // A tag stated twice keeps its first value.
        let slot = match entry.tag {
            tag::NAME => &mut name,
            tag::VERSION => &mut version,
            tag::RELEASE => &mut release,
            tag::ARCH => &mut arch,
            tag::SOURCERPM => &mut source_rpm,
            tag::LICENSE => &mut license,
            tag::EPOCH => {
                if epoch.is_none() {
                    epoch = Some(read_u32(&entry, data)?);
                }
                continue;
            }
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(read_string(&entry, data)?);
        }
    }
    Ok(RpmRecord {
        name: name.ok_or(HeaderError::Missing("NAME"))?,
        version: version.ok_or(HeaderError::Missing("VERSION"))?,
        release: release.ok_or(HeaderError::Missing("RELEASE"))?,
        epoch,
        arch,
        source_rpm,
        license,
    })
}

/// The files a header says its package installed (rpm stores each path as a directory,
/// `DIRNAMES[DIRINDEXES[i]]`, and a name, `BASENAMES[i]`), keeping those whose path `keep`
/// accepts. The name is tested first, so that `keep` may look at the name alone and
/// nothing is allocated for the paths it refuses. A header without files has none.
pub fn owned_files(blob: &[u8], keep: impl Fn(&str) -> bool) -> Result<Vec<String>, HeaderError> {
    let (index, data) = split(blob)?;
    let (mut names, mut dirs, mut dir_indexes) = (None, None, None);
    for raw in index.chunks_exact(ENTRY_SIZE) {
        let entry = read_entry(raw)?;
        let slot = match entry.tag {
            tag::BASENAMES => &mut names,
            tag::DIRNAMES => &mut dirs,
            tag::DIRINDEXES => &mut dir_indexes,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(entry);
        }
    }
    let (Some(names), Some(dirs), Some(dir_indexes)) = (names, dirs, dir_indexes) else {
        return Ok(Vec::new());
    };
    let bad = |tag, reason| HeaderError::BadEntry { tag, reason };
    if names.count != dir_indexes.count {
        return Err(bad(tag::DIRINDEXES, "not one per file name"));
    }
    if dir_indexes.kind != kind::INT32 || !dir_indexes.offset.is_multiple_of(4) {
        return Err(bad(tag::DIRINDEXES, "not an aligned INT32 array"));
    }
    let dirs: Vec<&[u8]> = read_strings(&dirs, data)?.collect::<Result<_, _>>()?;
    let mut files = Vec::new();
    for (i, name) in read_strings(&names, data)?.enumerate() {
        let name = name?;
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if !keep(name) {
            continue;
        }
        let at = dir_indexes.offset + i * 4;
        let dir = be_u32(data, at)
            .ok_or(bad(tag::DIRINDEXES, "runs past the data store"))
            .and_then(|dir| {
                dirs.get(dir as usize)
                    .ok_or(bad(tag::DIRINDEXES, "names no directory"))
            })?;
        let Ok(dir) = std::str::from_utf8(dir) else {
            continue;
        };
        let path = format!("{dir}{name}");
        if keep(&path) {
            files.push(path);
        }
    }
    Ok(files)
}

/// The `count` NUL-terminated strings of a `STRING_ARRAY` entry, each checked against the
/// data store as it is read.
fn read_strings<'a>(
    entry: &Entry,
    data: &'a [u8],
) -> Result<impl Iterator<Item = Result<&'a [u8], HeaderError>> + 'a, HeaderError> {
    let tag = entry.tag;
    if entry.kind != kind::STRING_ARRAY {
        return Err(HeaderError::BadEntry {
            tag,
            reason: "not a string array",
        });
    }
    let mut rest = data.get(entry.offset..).ok_or(HeaderError::BadEntry {
        tag,
        reason: "offset past the data store",
    })?;
    Ok((0..entry.count).map(move |_| {
        let end = memchr::memchr(0, rest).ok_or(HeaderError::BadEntry {
            tag,
            reason: "string runs past the data store",
        })?;
        let (string, tail) = rest.split_at(end);
        rest = tail.get(1..).unwrap_or_default();
        Ok(string)
    }))
}

fn read_entry(raw: &[u8]) -> Result<Entry, HeaderError> {
    // `raw` is one 16-byte chunk, so these reads cannot fail.
    let word = |at| be_u32(raw, at).unwrap_or_default();
    let tag = word(0) as i32;
    let offset = word(8) as i32;
    let offset = usize::try_from(offset).map_err(|_| HeaderError::BadEntry {
        tag,
        reason: "negative offset",
    })?;
    Ok(Entry {
        tag,
        kind: word(4),
        offset,
        count: word(12),
    })
}

/// A string tag's value: the first string of a `STRING`, `STRING_ARRAY` or `I18NSTRING`.
fn read_string(entry: &Entry, data: &[u8]) -> Result<String, HeaderError> {
    let bad = |reason| HeaderError::BadEntry {
        tag: entry.tag,
        reason,
    };
    if !matches!(
        entry.kind,
        kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING
    ) {
        return Err(bad("not a string"));
    }
    if entry.count == 0 {
        return Err(bad("no value"));
    }
    let rest = data
        .get(entry.offset..)
        .ok_or(bad("offset past the data store"))?;
    let end = memchr::memchr(0, rest).ok_or(bad("string runs past the data store"))?;
    let bytes = rest.get(..end).unwrap_or_default();
    // Header strings are UTF-8 in every distribution this cataloger targets; a stray byte
    // in one field should not cost the package.
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn read_u32(entry: &Entry, data: &[u8]) -> Result<u32, HeaderError> {
    let bad = |reason| HeaderError::BadEntry {
        tag: entry.tag,
        reason,
    };
    if entry.kind != kind::INT32 {
        return Err(bad("not an INT32"));
    }
    if entry.count == 0 {
        return Err(bad("no value"));
    }
    if !entry.offset.is_multiple_of(4) {
        return Err(bad("misaligned INT32"));
    }
    be_u32(data, entry.offset).ok_or(bad("offset past the data store"))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(word.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header rpm wrote for `name` into the fixture database.
    fn fixture_blob(name: &str) -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/catalog/rpm/testdata/var/lib/rpm/rpmdb.sqlite"
        );
        let bytes = std::fs::read(path).unwrap();
        let conn = super::super::open_db(bytes.as_slice(), bytes.len()).unwrap();
        let mut stmt = conn.prepare("SELECT blob FROM Packages").unwrap();
        let blobs: Vec<Vec<u8>> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        blobs
            .into_iter()
            .find(|blob| parse_header(blob).is_ok_and(|record| record.name == name))
            .unwrap()
    }

    #[test]
    fn header_written_by_rpm_gives_its_identity() {
        let record = parse_header(&fixture_blob("acme-tools")).unwrap();
        assert_eq!(
            record,
            RpmRecord {
                name: "acme-tools".into(),
                version: "3.1.4".into(),
                release: "7.fc40".into(),
                epoch: Some(2),
                arch: Some("x86_64".into()),
                source_rpm: Some("acme-tools-3.1.4-7.fc40.src.rpm".into()),
                license: Some("MIT AND Apache-2.0".into()),
            }
        );
    }

    #[test]
    fn header_written_by_rpm_lists_its_files() {
        let all = |_: &str| true;
        assert_eq!(
            owned_files(&fixture_blob("acme-tools"), all).unwrap(),
            [
                "/usr/bin/acme",
                "/usr/libexec/acme/node",
                "/usr/share/doc/acme-tools/README"
            ]
        );
        assert_eq!(
            owned_files(&fixture_blob("libgreet"), |path| path.contains("python")).unwrap(),
            ["/usr/lib64/libpython3.12.so.1.0"]
        );
    }

    #[test]
    fn every_truncation_of_a_header_is_an_error_for_its_files_too() {
        let blob = fixture_blob("acme-tools");
        for len in 0..blob.len() {
            assert!(
                owned_files(&blob[..len], |_| true).is_err(),
                "truncated to {len} bytes"
            );
        }
    }

    #[test]
    fn file_pointing_at_a_missing_directory_is_an_error() {
        let blob = fixture_blob("acme-tools");
        let (index, data) = split(&blob).unwrap();
        let data_at = blob.len() - data.len();
        let dir_indexes = index
            .chunks_exact(ENTRY_SIZE)
            .map(|raw| read_entry(raw).unwrap())
            .find(|entry| entry.tag == tag::DIRINDEXES)
            .unwrap();
        let mut bad = blob.clone();
        let at = data_at + dir_indexes.offset;
        bad[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            owned_files(&bad, |_| true),
            Err(HeaderError::BadEntry {
                tag: tag::DIRINDEXES,
                ..
            })
        ));
    }

    #[test]
    fn every_truncation_of_a_header_is_an_error() {
        let blob = fixture_blob("acme-tools");
        for len in 0..blob.len() {
            assert!(
                parse_header(&blob[..len]).is_err(),
                "truncated to {len} bytes"
            );
        }
    }

    #[test]
    fn trailing_bytes_after_the_data_store_are_an_error() {
        let mut blob = fixture_blob("acme-tools");
        blob.push(0);
        assert_eq!(
            parse_header(&blob),
            Err(HeaderError::SizeMismatch {
                expected: blob.len() - 1,
                actual: blob.len()
            })
        );
    }

    #[test]
    fn huge_counts_are_refused_before_anything_is_read() {
        let mut blob = vec![0xff; 8];
        assert_eq!(
            parse_header(&blob),
            Err(HeaderError::TooManyEntries { count: u32::MAX })
        );
        blob[..4].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            parse_header(&blob),
            Err(HeaderError::DataTooLarge { size: u32::MAX })
        );
    }

    #[test]
    fn offsets_pointing_outside_the_data_store_are_errors() {
        let blob = fixture_blob("acme-tools");
        let index_len = u32::from_be_bytes(blob[..4].try_into().unwrap()) as usize;
        for entry in 0..index_len {
            let at = PREAMBLE_SIZE + entry * ENTRY_SIZE;
            let tag = i32::from_be_bytes(blob[at..at + 4].try_into().unwrap());
            if ![tag::NAME, tag::EPOCH].contains(&tag) {
                continue;
            }
            for offset in [u32::MAX, 0x7fff_fff0, blob.len() as u32] {
                let mut bad = blob.clone();
                bad[at + 8..at + 12].copy_from_slice(&offset.to_be_bytes());
                assert!(
                    matches!(parse_header(&bad), Err(HeaderError::BadEntry { tag: t, .. }) if t == tag),
                    "tag {tag} at offset {offset:#x}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..64 {
            assert!(parse_header(&garbage[start..]).is_err());
        }
    }
}
