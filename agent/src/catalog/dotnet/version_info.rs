//! A version resource (`VS_VERSIONINFO`) as its strings: bytes in, no I/O.
//!
//! Hand-written: no maintained crate reads this structure. It is a tree of nodes, each
//! `wLength, wValueLength, wType` (u16 little-endian), a NUL-terminated UTF-16 key, a
//! value and children, every part aligned on 32 bits from the start of the resource:
//!
//! ```text
//! VS_VERSION_INFO    value: VS_FIXEDFILEINFO (binary, signature 0xFEEF04BD)
//! ├─ StringFileInfo
//! │  └─ StringTable  key: language and code page, "040904B0"
//! │     └─ String    key: "ProductName", value: UTF-16 text
//! └─ VarFileInfo     (translations; not read)
//! ```
//!
//! Like syft 1.18 (which reads it through saferwall/pe), only the first string table of
//! each `StringFileInfo` is read, a root that is not `VS_VERSION_INFO` with a fixed file
//! info makes the resource malformed, and damage below the root ends the walk of that
//! branch quietly. Offsets and lengths come from the file: every one is checked, and the
//! walk always moves forward, so hostile input ends it.

use std::collections::BTreeMap;

use crate::catalog::CatalogError;

const HEADER_LEN: usize = 6;
const ROOT_KEY: &str = "VS_VERSION_INFO";
const FIXED_FILE_INFO_LEN: usize = 52;
const FIXED_FILE_INFO_SIGNATURE: u32 = 0xFEEF_04BD;
/// String-table keys are eight hex digits (language, code page).
const TABLE_KEY_LEN: usize = 8;

/// One node's extent and fields, within the resource.
struct Node {
    start: usize,
    /// End of the node: its `wLength`, clamped to its parent's end.
    end: usize,
    value_len: usize,
    key: String,
    /// Offset just past the key's terminating NUL.
    after_key: usize,
}

fn align4(offset: usize) -> Option<usize> {
    offset.checked_add(3).map(|o| o & !3)
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// UTF-16LE text from `start` up to a NUL or `end`; the offset past the NUL, or `None`
/// when there is no NUL before `end`.
fn utf16_until_nul(data: &[u8], start: usize, end: usize) -> (String, Option<usize>) {
    let mut units = Vec::new();
    let mut at = start;
    while at.checked_add(2).is_some_and(|next| next <= end) {
        let Some(unit) = u16_at(data, at) else { break };
        at += 2;
        if unit == 0 {
            return (String::from_utf16_lossy(&units), Some(at));
        }
        units.push(unit);
    }
    (String::from_utf16_lossy(&units), None)
}

/// The node at `start`, which must end by `limit`; `None` when it does not fit or its
/// key has no terminator inside it.
fn node_at(data: &[u8], start: usize, limit: usize) -> Option<Node> {
    let length = usize::from(u16_at(data, start)?);
    let value_len = usize::from(u16_at(data, start.checked_add(2)?)?);
    if length < HEADER_LEN {
        return None;
    }
    let end = start.checked_add(length)?.min(limit).min(data.len());
    let (key, after_key) = utf16_until_nul(data, start.checked_add(HEADER_LEN)?, end);
    Some(Node {
        start,
        end,
        value_len,
        key,
        after_key: after_key?,
    })
}

/// The strings of every `StringFileInfo` of a version resource, by key; a key stated
/// twice keeps its last value.
pub fn parse(data: &[u8]) -> Result<BTreeMap<String, String>, CatalogError> {
    let malformed = |what: &str| CatalogError::Malformed(format!("version resource: {what}"));
    let root = node_at(data, 0, data.len()).ok_or_else(|| malformed("truncated header"))?;
    if root.key != ROOT_KEY {
        return Err(malformed("not a VS_VERSION_INFO"));
    }
    let fixed = align4(root.after_key).ok_or_else(|| malformed("truncated"))?;
    if root.value_len < FIXED_FILE_INFO_LEN
        || fixed + FIXED_FILE_INFO_LEN > root.end
        || u32_at(data, fixed) != Some(FIXED_FILE_INFO_SIGNATURE)
    {
        return Err(malformed("no fixed file info"));
    }

    let mut strings = BTreeMap::new();
    let mut at = align4(fixed + root.value_len).unwrap_or(usize::MAX);
    while at < root.end {
        let Some(child) = node_at(data, at, root.end) else {
            break;
        };
        if child.key == "StringFileInfo" {
            read_first_table(data, &child, &mut strings);
        }
        match align4(child.end) {
            Some(next) if next > at => at = next,
            _ => break,
        }
    }
    Ok(strings)
}

/// The strings of the first string table below a `StringFileInfo` node.
fn read_first_table(data: &[u8], info: &Node, strings: &mut BTreeMap<String, String>) {
    let Some(table) = align4(info.after_key).and_then(|at| node_at(data, at, info.end)) else {
        return;
    };
    if table.key.encode_utf16().count() != TABLE_KEY_LEN {
        return;
    }
    let mut at = align4(table.after_key).unwrap_or(usize::MAX);
    while at < table.end {
        let Some(string) = node_at(data, at, table.end) else {
            break;
        };
        if let Some(value_start) = align4(string.after_key) {
            // `wValueLength` counts UTF-16 units, but some writers count bytes: read what
            // the node holds and stop at the NUL.
            let value_end = string
                .value_len
                .checked_mul(2)
                .and_then(|len| value_start.checked_add(len))
                .map_or(string.end, |end| end.min(string.end));
            let (value, _) = utf16_until_nul(data, value_start, value_end);
            strings.insert(string.key, value);
        }
        match align4(string.end) {
            Some(next) if next > string.start => at = next,
            _ => break,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    fn pad4(out: &mut Vec<u8>) {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    /// One node with its header filled in; `value` is written as it is given.
    fn node(key: &str, value_len: u16, value: &[u8], children: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0; HEADER_LEN];
        out.extend(utf16z(key));
        pad4(&mut out);
        out.extend_from_slice(value);
        for child in children {
            pad4(&mut out);
            out.extend_from_slice(child);
        }
        let len = u16::try_from(out.len()).unwrap();
        out[0..2].copy_from_slice(&len.to_le_bytes());
        out[2..4].copy_from_slice(&value_len.to_le_bytes());
        out[4..6].copy_from_slice(&1u16.to_le_bytes());
        out
    }

    fn string(key: &str, value: &str) -> Vec<u8> {
        let value = utf16z(value);
        node(key, u16::try_from(value.len() / 2).unwrap(), &value, &[])
    }

    /// A whole version resource with one table per `StringFileInfo` given.
    pub(crate) fn resource(tables: &[&[(&str, &str)]]) -> Vec<u8> {
        let mut fixed = FIXED_FILE_INFO_SIGNATURE.to_le_bytes().to_vec();
        fixed.resize(FIXED_FILE_INFO_LEN, 0);
        let mut children: Vec<Vec<u8>> = tables
            .iter()
            .map(|pairs| {
                let strings: Vec<_> = pairs.iter().map(|(k, v)| string(k, v)).collect();
                node(
                    "StringFileInfo",
                    0,
                    &[],
                    &[node("040904b0", 0, &[], &strings)],
                )
            })
            .collect();
        children.push(node("VarFileInfo", 0, &[], &[]));
        node(ROOT_KEY, 52, &fixed, &children)
    }

    fn pairs(map: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
        map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn strings_of_the_string_table_are_read() {
        let data = resource(&[&[
            ("ProductName", "Acme Widgets"),
            ("FileVersion", "2.4.1.0"),
            ("Comments", ""),
        ]]);
        assert_eq!(
            pairs(&parse(&data).unwrap()),
            [
                ("Comments", ""),
                ("FileVersion", "2.4.1.0"),
                ("ProductName", "Acme Widgets")
            ]
        );
    }

    #[test]
    fn later_string_file_infos_add_and_override() {
        let data = resource(&[
            &[("ProductName", "First"), ("FileVersion", "1.0")],
            &[("ProductName", "Second")],
        ]);
        assert_eq!(
            pairs(&parse(&data).unwrap()),
            [("FileVersion", "1.0"), ("ProductName", "Second")]
        );
    }

    #[test]
    fn value_length_in_bytes_is_read_up_to_the_nul() {
        let value = utf16z("1.0");
        let data = {
            let mut fixed = FIXED_FILE_INFO_SIGNATURE.to_le_bytes().to_vec();
            fixed.resize(FIXED_FILE_INFO_LEN, 0);
            let string = node(
                "FileVersion",
                u16::try_from(value.len()).unwrap(),
                &value,
                &[],
            );
            let table = node("040904b0", 0, &[], &[string]);
            node(
                ROOT_KEY,
                52,
                &fixed,
                &[node("StringFileInfo", 0, &[], &[table])],
            )
        };
        assert_eq!(pairs(&parse(&data).unwrap()), [("FileVersion", "1.0")]);
    }

    #[test]
    fn root_that_is_not_a_version_info_is_malformed() {
        let mut wrong_key = resource(&[&[("ProductName", "x")]]);
        wrong_key[6] = b'W';
        let mut no_signature = resource(&[&[("ProductName", "x")]]);
        let fixed = align4(HEADER_LEN + utf16z(ROOT_KEY).len()).unwrap();
        no_signature[fixed] = 0;
        for data in [&b""[..], b"\x10\0", &wrong_key, &no_signature] {
            assert!(
                matches!(parse(data), Err(CatalogError::Malformed(_))),
                "{data:?}"
            );
        }
    }

    #[test]
    fn every_truncation_and_corruption_ends_without_panic() {
        let data = resource(&[&[("ProductName", "Acme"), ("FileVersion", "1.2.3")]]);
        for len in 0..data.len() {
            let _ = parse(&data[..len]);
        }
        for at in 0..data.len() {
            for byte in [0x00, 0x01, 0x7f, 0xff] {
                let mut corrupt = data.clone();
                corrupt[at] = byte;
                let _ = parse(&corrupt);
            }
        }
    }

    #[test]
    fn zero_and_huge_lengths_below_the_root_stop_the_walk() {
        let mut data = resource(&[&[("ProductName", "Acme")]]);
        let len = data.len();
        // Every child length that says 0 or 0xffff.
        for at in (92..len).step_by(2) {
            for value in [0u16, 0xffff] {
                let mut corrupt = data.clone();
                corrupt[at..at + 2].copy_from_slice(&value.to_le_bytes());
                let _ = parse(&corrupt);
            }
        }
        data.truncate(100);
        assert!(parse(&data).unwrap().is_empty());
    }
}
