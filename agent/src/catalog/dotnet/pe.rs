//! Finding the version resources of a PE file (`.dll`, `.exe`) while reading as little
//! of it as possible: the headers, then the one section that holds the resource
//! directory. An open file is read with seeks; a stream is skipped forward to that
//! section, which in assemblies usually comes last.
//!
//! The `object` crate parses the headers, section table and resource directory; the
//! bytes it is given are read here, within [`READ_LIMIT`].

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;

use object::pe::{
    ImageNtHeaders32, ImageNtHeaders64, IMAGE_DIRECTORY_ENTRY_RESOURCE,
    IMAGE_NT_OPTIONAL_HDR32_MAGIC, IMAGE_NT_OPTIONAL_HDR64_MAGIC, RT_VERSION,
};
use object::read::pe::{ImageNtHeaders, ResourceDirectory, ResourceDirectoryTable};
use object::LittleEndian as LE;

use crate::catalog::{CatalogError, Content};

/// Bytes read or skipped per file. Assemblies are up to tens of MiB, and a stream must be
/// skipped up to the resource section, which usually comes after the code.
pub const READ_LIMIT: u64 = 64 << 20;
/// DOS stub, NT headers and section table; real ones fit in a few hundred bytes.
const HEADERS_LIMIT: u64 = 256 << 10;
const DOS_HEADER_LEN: u64 = 64;
/// Signature and COFF file header, before the optional header.
const NT_PREFIX_LEN: u64 = 24;
const SECTION_HEADER_LEN: u64 = 40;
/// Language variants of one version resource read. Most files have one, Wine's have
/// dozens; each variant is parsed, and a `VS_VERSIONINFO` spans at most 64 KiB.
const MAX_LANGUAGES: usize = 512;

fn malformed(what: impl std::fmt::Display) -> CatalogError {
    CatalogError::Malformed(format!("PE: {what}"))
}

/// Reads ranges in increasing order from a file or a stream, within [`READ_LIMIT`].
struct Reader<'a> {
    content: Content<'a>,
    /// Stream position; a stream cannot go back before it.
    position: u64,
    /// Bytes read or skipped so far, never more than [`READ_LIMIT`] + 1.
    consumed: u64,
}

impl Reader<'_> {
    /// Up to `len` bytes at `offset`: fewer only when the file ends first. Bytes read or
    /// skipped count against [`READ_LIMIT`]; no more than the rest of it is read.
    fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, CatalogError> {
        let too_large = CatalogError::TooLarge { limit: READ_LIMIT };
        let source: &mut dyn Read = match &mut self.content {
            Content::File(file) => {
                file.seek(SeekFrom::Start(offset))?;
                *file
            }
            Content::Stream(reader) => {
                let skip = offset
                    .checked_sub(self.position)
                    .ok_or_else(|| malformed("data before what the stream has passed"))?;
                let budget = READ_LIMIT.saturating_sub(self.consumed);
                let skipped = io::copy(&mut reader.take(skip.min(budget + 1)), &mut io::sink())?;
                self.position += skipped;
                self.consumed = self.consumed.saturating_add(skipped);
                if skipped > budget {
                    return Err(too_large);
                }
                if skipped < skip {
                    return Ok(Vec::new());
                }
                *reader
            }
        };
        let budget = READ_LIMIT.saturating_sub(self.consumed);
        let mut out = Vec::new();
        source.take(len.min(budget + 1)).read_to_end(&mut out)?;
        let read = out.len() as u64;
        self.position += read;
        self.consumed = self.consumed.saturating_add(read);
        if read > budget {
            return Err(too_large);
        }
        Ok(out)
    }

    /// Extends `head` (the file from offset 0) to at least `len` bytes.
    fn extend_head(&mut self, head: &mut Vec<u8>, len: u64) -> Result<(), CatalogError> {
        if len > HEADERS_LIMIT {
            return Err(malformed("headers larger than any real file's"));
        }
        let have = head.len() as u64;
        if have < len {
            head.extend(self.read_at(have, len - have)?);
        }
        if (head.len() as u64) < len {
            return Err(malformed("truncated headers"));
        }
        Ok(())
    }
}

fn u16_at(data: &[u8], at: u64) -> Option<u16> {
    let at = usize::try_from(at).ok()?;
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn u32_at(data: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// Where the resource directory lies.
struct ResourceSection {
    /// Its address once loaded: resource data entries give addresses, not offsets.
    rva: u32,
    file_offset: u64,
    /// To the end of the section that holds it.
    len: u64,
}

/// The version resources of a PE file, within its resource section.
pub struct VersionResources {
    section: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl VersionResources {
    /// Each language variant's bytes, in the order of the resource directory.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges
            .iter()
            .filter_map(|range| self.section.get(range.clone()))
    }
}

/// The raw version resources (`RT_VERSION`, every language of the first one) of a PE
/// file. `None` when the file is no PE (no `MZ`, or a DOS program) or has no version
/// resource; an error when it is a PE whose structure is damaged.
pub fn version_resources(content: Content<'_>) -> Result<Option<VersionResources>, CatalogError> {
    let mut reader = Reader {
        content,
        position: 0,
        consumed: 0,
    };
    let mut head = reader.read_at(0, DOS_HEADER_LEN)?;
    if !head.starts_with(b"MZ") {
        return Ok(None);
    }
    reader.extend_head(&mut head, DOS_HEADER_LEN)?;
    let nt_offset = u64::from(u32_at(&head, 0x3c).unwrap_or_default());
    reader.extend_head(&mut head, nt_offset.saturating_add(NT_PREFIX_LEN))?;
    if u32_at(&head, nt_offset) != Some(u32::from_le_bytes(*b"PE\0\0")) {
        return Ok(None);
    }
    let sections = u64::from(u16_at(&head, nt_offset + 6).unwrap_or_default());
    let optional_len = u64::from(u16_at(&head, nt_offset + 20).unwrap_or_default());
    let headers_len = nt_offset + NT_PREFIX_LEN + optional_len + sections * SECTION_HEADER_LEN;
    reader.extend_head(&mut head, headers_len)?;

    let magic = object::read::pe::optional_header_magic(head.as_slice()).map_err(malformed)?;
    let section = match magic {
        IMAGE_NT_OPTIONAL_HDR32_MAGIC => resource_section::<ImageNtHeaders32>(&head, nt_offset),
        IMAGE_NT_OPTIONAL_HDR64_MAGIC => resource_section::<ImageNtHeaders64>(&head, nt_offset),
        _ => Err(malformed(format_args!("optional header magic {magic:#x}"))),
    }?;
    let Some(section) = section else {
        return Ok(None);
    };
    let data = reader.read_at(section.file_offset, section.len)?;
    if (data.len() as u64) < section.len {
        return Err(malformed("truncated resource section"));
    }
    let ranges = version_ranges(&data, section.rva)?;
    Ok((!ranges.is_empty()).then_some(VersionResources {
        section: data,
        ranges,
    }))
}

/// The resource directory's place, from the data directories and the section table.
fn resource_section<Pe: ImageNtHeaders>(
    head: &[u8],
    nt_offset: u64,
) -> Result<Option<ResourceSection>, CatalogError> {
    let mut offset = nt_offset;
    let (nt_headers, directories) = Pe::parse(head, &mut offset).map_err(malformed)?;
    let sections = nt_headers.sections(head, offset).map_err(malformed)?;
    let Some(directory) = directories.get(IMAGE_DIRECTORY_ENTRY_RESOURCE) else {
        return Ok(None);
    };
    let (rva, size) = directory.address_range();
    if rva == 0 || size == 0 {
        return Ok(None);
    }
    let (file_offset, len) = sections
        .pe_file_range_at(rva)
        .ok_or_else(|| malformed("resource directory outside every section"))?;
    Ok(Some(ResourceSection {
        rva,
        file_offset: file_offset.into(),
        len: len.into(),
    }))
}

/// Where the version resources lie in a resource section that starts at `rva`. The
/// tree is type → name → language; like syft, the first name under `RT_VERSION` is
/// read, in every language.
fn version_ranges(data: &[u8], rva: u32) -> Result<Vec<Range<usize>>, CatalogError> {
    let directory = ResourceDirectory::new(data);
    let root = directory.root().map_err(malformed)?;
    let Some(versions) = root
        .entries
        .iter()
        .find(|entry| entry.name_or_id().id() == Some(RT_VERSION))
    else {
        return Ok(Vec::new());
    };
    let names = subtable(versions, directory)?;
    let Some(first) = names.entries.first() else {
        return Ok(Vec::new());
    };
    let languages = subtable(first, directory)?;
    let mut ranges = Vec::new();
    for language in languages.entries.iter().take(MAX_LANGUAGES) {
        let entry = language
            .data(directory)
            .map_err(malformed)?
            .data()
            .ok_or_else(|| malformed("resource tree deeper than type, name, language"))?;
        let range = entry
            .offset_to_data
            .get(LE)
            .checked_sub(rva)
            .and_then(|start| {
                let start = usize::try_from(start).ok()?;
                let len = usize::try_from(entry.size.get(LE)).ok()?;
                Some(start..start.checked_add(len)?)
            })
            .filter(|range| range.end <= data.len())
            .ok_or_else(|| malformed("version resource outside the resource section"))?;
        ranges.push(range);
    }
    Ok(ranges)
}

fn subtable<'data>(
    entry: &object::pe::ImageResourceDirectoryEntry,
    directory: ResourceDirectory<'data>,
) -> Result<ResourceDirectoryTable<'data>, CatalogError> {
    entry
        .data(directory)
        .map_err(malformed)?
        .table()
        .ok_or_else(|| malformed("resource data where a directory was expected"))
}
