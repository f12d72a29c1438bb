//! Finding the build info in an executable: through the ELF section table when the file
//! can be seeked (`catalog/elf.rs`), by scanning it when it is a stream (through the
//! shared `catalog/scan.rs` window). PE (Windows) and Mach-O (macOS) executables, which
//! images and hosts carry now and then (cross-built tools, Windows images), are scanned
//! like streams: the Go linker puts the build info at the start of their first writable
//! data section (`debug/buildinfo` looks there), which the aligned scan finds.

use std::io::{Read, Seek, SeekFrom};

use super::parse::{self, Blob, BuildInfoError, ALIGN, MAGIC};
use crate::catalog::elf::{self, Lookup};
use crate::catalog::scan::Window;
use crate::catalog::CatalogError;

/// Largest build info read (header and both strings). A program with a few hundred
/// dependencies has ~30 KiB.
const MAX_BLOB: usize = 1 << 20;
/// Bytes read at a time when scanning a stream.
const CHUNK: usize = 64 << 10;
/// The section the Go linker writes the build info into.
const SECTION_NAME: &str = ".go.buildinfo";

/// Reads the build info of a seekable file: the ELF header, the section table, the
/// `.go.buildinfo` section, and nothing else. Files without a usable section table are
/// scanned like a stream. `Ok(None)`: not a Go binary.
pub fn from_file<F: Read + Seek>(file: &mut F) -> Result<Option<Blob>, CatalogError> {
    let section = match elf::find_section(file, SECTION_NAME)? {
        Lookup::Found(section) => section,
        Lookup::NotElf => {
            file.seek(SeekFrom::Start(0))?;
            return from_stream(file);
        }
        Lookup::Absent => return Ok(None),
        Lookup::NoTable => {
            file.seek(SeekFrom::Start(0))?;
            return from_stream(file);
        }
    };
    let data = section.read(file, MAX_BLOB as u64)?;
    // The section is aligned, so the header's alignment is relative to its start.
    let at = parse::find_magic(&data, 0)
        .ok_or_else(|| malformed("no build info header in .go.buildinfo"))?;
    parse::parse_blob(data.get(at..).unwrap_or_default())
        .map(Some)
        .map_err(blob_error)
}

/// Scans a stream for the first 16-byte-aligned build info header that decodes, reading
/// it in bounded chunks and stopping there. Memory stays under `MAX_BLOB` plus two chunks
/// whatever the file's size. `Ok(None)`: not a Go binary.
pub fn from_stream<R: Read + ?Sized>(reader: &mut R) -> Result<Option<Blob>, CatalogError> {
    let mut window = Window::new(reader, u64::MAX, CHUNK);
    window.fill(CHUNK)?;
    if !is_executable(window.bytes()) {
        return Ok(None);
    }
    // The window always starts at a file offset that is a multiple of ALIGN, so alignment
    // in the window is alignment in the file. Offsets below `searched` hold no header.
    let mut searched = 0;
    let mut last_error = None;
    loop {
        while let Some(at) = parse::find_magic(window.bytes(), searched) {
            searched = at + 1;
            loop {
                match parse::parse_blob(window.bytes().get(at..).unwrap_or_default()) {
                    Ok(blob) => return Ok(Some(blob)),
                    Err(BuildInfoError::Truncated { needed, .. })
                        if !window.ended() && needed <= MAX_BLOB as u64 =>
                    {
                        // Bounded by MAX_BLOB just above.
                        window.fill(at + needed as usize)?;
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
        if window.ended() {
            return last_error.map_or(Ok(None), |error| Err(blob_error(error)));
        }
        // Keep only what could be the start of a magic cut by the chunk's end, from an
        // aligned offset.
        searched = searched.max(window.bytes().len().saturating_sub(MAGIC.len() - 1));
        let keep_from = searched / ALIGN * ALIGN;
        window.consume(keep_from);
        searched -= keep_from;
        window.fill(window.bytes().len() + CHUNK)?;
    }
}

/// ELF, PE (`MZ`) or Mach-O (32 or 64 bits, either byte order) by its first bytes. Fat
/// Mach-O files are left out: their magic is also Java's class file magic.
fn is_executable(head: &[u8]) -> bool {
    const MACH_O: [[u8; 4]; 4] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ];
    elf::is_elf(head)
        || head.starts_with(b"MZ")
        || MACH_O.iter().any(|magic| head.starts_with(magic))
}

fn blob_error(error: BuildInfoError) -> CatalogError {
    malformed(&error.to_string())
}

fn malformed(reason: &str) -> CatalogError {
    CatalogError::Malformed(format!("Go build info: {reason}"))
}
