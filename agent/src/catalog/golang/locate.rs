//! Finding the build info in an executable: through the ELF section table when the file
//! can be seeked, by scanning it when it is a stream. Only ELF is read: container images
//! run Linux binaries.

use std::io::{self, Read, Seek, SeekFrom};

use super::parse::{self, Blob, BuildInfoError, ElfLayout, ALIGN, ELF_HEADER_SIZE, MAGIC};
use crate::catalog::CatalogError;

/// Largest build info read (header and both strings). A program with a few hundred
/// dependencies has ~30 KiB.
const MAX_BLOB: usize = 1 << 20;
/// Bytes read at a time when scanning a stream.
const CHUNK: usize = 64 << 10;
/// Largest section header table read; Go binaries have ~40 sections (2.5 KiB).
const MAX_SECTION_TABLE: usize = 256 << 10;
/// Largest section name table read; Go binaries' is ~400 bytes.
const MAX_SECTION_NAMES: u64 = 64 << 10;
/// The section the Go linker writes the build info into, NUL-terminated as stored.
const SECTION_NAME: &[u8] = b".go.buildinfo\0";

/// Reads the build info of a seekable file: the ELF header, the section table, the
/// `.go.buildinfo` section, and nothing else. Files without a usable section table are
/// scanned like a stream. `Ok(None)`: not a Go binary.
pub fn from_file<F: Read + Seek>(file: &mut F) -> Result<Option<Blob>, CatalogError> {
    let mut head = Vec::with_capacity(ELF_HEADER_SIZE);
    file.by_ref()
        .take(ELF_HEADER_SIZE as u64)
        .read_to_end(&mut head)?;
    if !parse::is_elf(&head) {
        return Ok(None);
    }
    let Some(layout) = parse::elf_layout(&head) else {
        return Ok(None);
    };
    let section = match find_section(file, &layout)? {
        Lookup::Found(section) => section,
        Lookup::Absent => return Ok(None),
        Lookup::NoTable => {
            file.seek(SeekFrom::Start(0))?;
            return from_stream(file);
        }
    };
    let size = usize::try_from(section.size)
        .ok()
        .filter(|&size| size <= MAX_BLOB)
        .ok_or(CatalogError::TooLarge {
            limit: MAX_BLOB as u64,
        })?;
    file.seek(SeekFrom::Start(section.offset))?;
    let mut data = Vec::with_capacity(size);
    file.by_ref().take(size as u64).read_to_end(&mut data)?;
    if data.len() < size {
        return Err(malformed(
            ".go.buildinfo section runs past the end of the file",
        ));
    }
    // The section is aligned, so the header's alignment is relative to its start.
    let at = parse::find_magic(&data, 0)
        .ok_or_else(|| malformed("no build info header in .go.buildinfo"))?;
    parse::parse_blob(data.get(at..).unwrap_or_default())
        .map(Some)
        .map_err(blob_error)
}

enum Lookup {
    Found(parse::ElfSection),
    /// The file has sections, none of them `.go.buildinfo`: not a Go binary.
    Absent,
    /// No section table, or one too odd or large to read.
    NoTable,
}

fn find_section<F: Read + Seek>(file: &mut F, layout: &ElfLayout) -> io::Result<Lookup> {
    let entry_size = usize::from(layout.section_entry_size);
    let count = usize::from(layout.section_count);
    let table_size = entry_size * count;
    if layout.section_table_offset == 0
        || count == 0
        || entry_size < layout.min_entry_size()
        || table_size > MAX_SECTION_TABLE
        || layout.section_names_index >= layout.section_count
    {
        return Ok(Lookup::NoTable);
    }
    let Some(table) = read_at(file, layout.section_table_offset, table_size)? else {
        return Ok(Lookup::NoTable);
    };
    let names_at = usize::from(layout.section_names_index) * entry_size;
    let Some(names) = table
        .get(names_at..)
        .and_then(|entry| layout.section(entry))
    else {
        return Ok(Lookup::NoTable);
    };
    if names.size > MAX_SECTION_NAMES {
        return Ok(Lookup::NoTable);
    }
    // Bounded by MAX_SECTION_NAMES above.
    let Some(names_data) = read_at(file, names.offset, names.size as usize)? else {
        return Ok(Lookup::NoTable);
    };
    let found = table
        .chunks_exact(entry_size)
        .filter_map(|entry| layout.section(entry))
        .find(|section| {
            usize::try_from(section.name_offset)
                .ok()
                .and_then(|at| names_data.get(at..))
                .is_some_and(|name| name.starts_with(SECTION_NAME))
        });
    Ok(found.map_or(Lookup::Absent, Lookup::Found))
}

/// Reads exactly `len` bytes at `offset`; `None` when the file ends first.
fn read_at<F: Read + Seek>(file: &mut F, offset: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::with_capacity(len);
    file.by_ref().take(len as u64).read_to_end(&mut data)?;
    Ok((data.len() == len).then_some(data))
}

/// Scans a stream for the first 16-byte-aligned build info header that decodes, reading
/// it in bounded chunks and stopping there. Memory stays under `MAX_BLOB` plus two chunks
/// whatever the file's size. `Ok(None)`: not a Go binary.
pub fn from_stream<R: Read + ?Sized>(reader: &mut R) -> Result<Option<Blob>, CatalogError> {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut eof = fill(reader, &mut buf, CHUNK)?;
    if !parse::is_elf(&buf) {
        return Ok(None);
    }
    // `buf[0]` is always at a file offset that is a multiple of ALIGN, so alignment in
    // the buffer is alignment in the file. Offsets below `searched` hold no header.
    let mut searched = 0;
    let mut last_error = None;
    loop {
        while let Some(at) = parse::find_magic(&buf, searched) {
            searched = at + 1;
            loop {
                match parse::parse_blob(buf.get(at..).unwrap_or_default()) {
                    Ok(blob) => return Ok(Some(blob)),
                    Err(BuildInfoError::Truncated { needed, .. })
                        if !eof && needed <= MAX_BLOB as u64 =>
                    {
                        // Bounded by MAX_BLOB just above.
                        eof = fill(reader, &mut buf, at + needed as usize)?;
                    }
                    // The magic as data (the `debug/buildinfo` package holds it).
                    Err(BuildInfoError::NotAHeader) => break,
                    Err(error) => {
                        last_error = Some(error);
                        break;
                    }
                }
            }
        }
        if eof {
            return last_error.map_or(Ok(None), |error| Err(blob_error(error)));
        }
        // Keep only what could be the start of a magic cut by the chunk's end, from an
        // aligned offset.
        searched = searched.max(buf.len().saturating_sub(MAGIC.len() - 1));
        let keep_from = searched / ALIGN * ALIGN;
        buf.drain(..keep_from);
        searched -= keep_from;
        let target = buf.len() + CHUNK;
        eof = fill(reader, &mut buf, target)?;
    }
}

/// Reads until `buf` holds `target` bytes; true when the stream ended first.
fn fill<R: Read + ?Sized>(reader: &mut R, buf: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    let want = target.saturating_sub(buf.len());
    let read = (&mut *reader).take(want as u64).read_to_end(buf)?;
    Ok(read < want)
}

fn blob_error(error: BuildInfoError) -> CatalogError {
    malformed(&error.to_string())
}

fn malformed(reason: &str) -> CatalogError {
    CatalogError::Malformed(format!("Go build info: {reason}"))
}
