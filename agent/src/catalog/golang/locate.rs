//! Finding the build info in an executable: through the ELF section table when the file
//! can be seeked (`catalog/elf.rs`), through the PE section table or the Mach-O load
//! commands for Windows and macOS executables (cross-built tools, Windows images), by
//! scanning it when it is a stream (through the shared `catalog/scan.rs` window).
//!
//! PE and Mach-O are read where Go's `debug/buildinfo` reads them: the linker puts the
//! build info at the start of the first writable data section of a PE file (`.data`),
//! and in the `__go_buildinfo` section of a Mach-O file (else at the start of its first
//! writable segment); the header is searched in the first [`DATA_WINDOW`] bytes there.

use std::io::{Read, Seek, SeekFrom};

use object::macho::{MachHeader32, MachHeader64};
use object::pe::{ImageDosHeader, ImageNtHeaders32, ImageNtHeaders64};
use object::read::macho::{MachHeader, Section as _, Segment as _};
use object::read::pe::ImageNtHeaders;
use object::read::ReadCache;
use object::{Endianness, FileKind, ReadRef};

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
/// Bytes searched for the header from the start of a PE or Mach-O data section, as Go's
/// `debug/buildinfo` does.
const DATA_WINDOW: u64 = 64 << 10;
/// Largest Mach-O load command table read (a Go program's is a few KiB).
const MAX_LOAD_COMMANDS: u32 = 1 << 20;
/// Mach-O segment protection: read and write.
const VM_PROT_READ_WRITE: u32 = 3;
/// PE section characteristics of Go's data section (alignment bits aside).
const PE_DATA: u32 = object::pe::IMAGE_SCN_CNT_INITIALIZED_DATA
    | object::pe::IMAGE_SCN_MEM_READ
    | object::pe::IMAGE_SCN_MEM_WRITE;

/// Reads the build info of a seekable file: the ELF header, the section table, the
/// `.go.buildinfo` section, and nothing else (PE and Mach-O: [`from_pe_or_mach_o`]).
/// Files without a usable section table are scanned like a stream. `Ok(None)`: not a
/// Go binary.
pub fn from_file<F: Read + Seek>(file: &mut F) -> Result<Option<Blob>, CatalogError> {
    let section = match elf::find_section(file, SECTION_NAME)? {
        Lookup::Found(section) => section,
        Lookup::NotElf => {
            if let Some(found) = from_pe_or_mach_o(file)? {
                return Ok(found);
            }
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

/// Where the data section of a PE or Mach-O file starts in the file, and how many of
/// its bytes the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DataStart {
    offset: u64,
    size: u64,
}

/// The build info of a PE or Mach-O file, read from the start of its data section.
/// `None`: not a PE or Mach-O file this can read (the caller scans it instead);
/// `Some(None)`: one, but no Go build info where Go puts it.
fn from_pe_or_mach_o<F: Read + Seek>(file: &mut F) -> Result<Option<Option<Blob>>, CatalogError> {
    let cache = ReadCache::new(&mut *file);
    let Some(data) = data_start(&cache) else {
        return Ok(None);
    };
    let window = data.size.min(DATA_WINDOW);
    let Ok(bytes) = cache.read_bytes_at(data.offset, window) else {
        return Err(malformed("data section runs past the end of the file"));
    };
    // The section is aligned, so the header's alignment is relative to its start.
    let Some(at) = parse::find_magic(bytes, 0) else {
        return Ok(Some(None));
    };
    match parse::parse_blob(bytes.get(at..).unwrap_or_default()) {
        Ok(blob) => Ok(Some(Some(blob))),
        Err(BuildInfoError::Truncated { needed, .. })
            if needed <= MAX_BLOB as u64 && at as u64 + needed <= data.size =>
        {
            let Ok(bytes) = cache.read_bytes_at(data.offset + at as u64, needed) else {
                return Err(malformed("data section runs past the end of the file"));
            };
            parse::parse_blob(bytes)
                .map(|blob| Some(Some(blob)))
                .map_err(blob_error)
        }
        Err(error) => Err(blob_error(error)),
    }
}

/// The data section Go's `debug/buildinfo` reads, from the PE section table or the
/// Mach-O load commands only. Fat Mach-O files are left to the scan.
fn data_start<'data, R: ReadRef<'data>>(data: R) -> Option<DataStart> {
    match FileKind::parse(data).ok()? {
        FileKind::Pe32 => pe_data_start::<ImageNtHeaders32, R>(data),
        FileKind::Pe64 => pe_data_start::<ImageNtHeaders64, R>(data),
        FileKind::MachO32 => mach_o_data_start::<MachHeader32<Endianness>, R>(data),
        FileKind::MachO64 => mach_o_data_start::<MachHeader64<Endianness>, R>(data),
        _ => None,
    }
}

/// The first section holding initialised, readable, writable data (`.data`).
fn pe_data_start<'data, Pe: ImageNtHeaders, R: ReadRef<'data>>(data: R) -> Option<DataStart> {
    let dos = ImageDosHeader::parse(data).ok()?;
    let mut offset = u64::from(dos.nt_headers_offset());
    let (headers, _) = Pe::parse(data, &mut offset).ok()?;
    // At most 65535 headers of 40 bytes.
    let sections = headers.sections(data, offset).ok()?;
    sections.iter().find_map(|section| {
        let characteristics = section.characteristics.get(object::LittleEndian);
        let is_data = characteristics & !object::pe::IMAGE_SCN_ALIGN_MASK == PE_DATA;
        let (offset, size) = section.pe_file_range();
        (is_data && section.virtual_address.get(object::LittleEndian) != 0 && size != 0).then(
            || DataStart {
                offset: offset.into(),
                size: size.into(),
            },
        )
    })
}

/// The `__go_buildinfo` section, else the start of the first writable segment.
fn mach_o_data_start<'data, Mach: MachHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
) -> Option<DataStart> {
    let header = Mach::parse(data, 0).ok()?;
    let endian = header.endian().ok()?;
    if header.sizeofcmds(endian) > MAX_LOAD_COMMANDS {
        return None;
    }
    let mut first_writable = None;
    let mut commands = header.load_commands(endian, data, 0).ok()?;
    while let Ok(Some(command)) = commands.next() {
        let Ok(Some((segment, section_data))) = Mach::Segment::from_command(command) else {
            continue;
        };
        let sections = segment.sections(endian, section_data).ok()?;
        if let Some((offset, size)) = sections
            .iter()
            .find(|section| section.name() == b"__go_buildinfo")
            .and_then(|section| section.file_range(endian))
        {
            return Some(DataStart { offset, size });
        }
        let (offset, size) = segment.file_range(endian);
        let writable = segment.initprot(endian) == VM_PROT_READ_WRITE
            && segment.maxprot(endian) == VM_PROT_READ_WRITE;
        if first_writable.is_none() && writable && size != 0 && offset != 0 {
            first_writable = Some(DataStart { offset, size });
        }
    }
    first_writable
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::path::Path;

    use nodebom_e2e::golang::GoProgram;

    use super::*;

    fn cross_built(dir: &Path, goos: &str) -> Vec<u8> {
        let binary = GoProgram::module("example.com/tool", "cmd/tool")
            .goos(goos)
            .build_to(&dir.join("work"), &dir.join(goos))
            .expect("the Go toolchain must be installed (apt-get install golang-go)");
        std::fs::read(binary).unwrap()
    }

    #[test]
    fn pe_and_mach_o_build_info_is_at_the_start_of_their_data_section() {
        let dir = tempfile::tempdir().unwrap();
        for goos in ["windows", "darwin"] {
            let bytes = cross_built(dir.path(), goos);
            let data = data_start(bytes.as_slice()).expect(goos);
            let window = &bytes[data.offset as usize..][..data.size.min(DATA_WINDOW) as usize];
            assert!(parse::find_magic(window, 0).is_some(), "{goos}");
            let blob = from_pe_or_mach_o(&mut Cursor::new(&bytes)).unwrap();
            assert!(matches!(blob, Some(Some(Blob::Inline(_)))), "{goos}");
        }
    }

    #[test]
    fn cut_or_patched_pe_and_mach_o_files_give_errors_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for goos in ["windows", "darwin"] {
            let bytes = cross_built(dir.path(), goos);
            for len in (0..bytes.len().min(1 << 20)).step_by(997) {
                let _ = from_file(&mut Cursor::new(&bytes[..len]));
            }
            // Section and command counts, offsets and sizes set to their maximum.
            for at in (0..1024).step_by(4) {
                let mut patched = bytes.clone();
                patched[at..at + 4].fill(0xff);
                let _ = from_file(&mut Cursor::new(&patched));
            }
        }
    }

    #[test]
    fn other_files_are_not_pe_or_mach_o() {
        for bytes in [&b"#!/bin/sh\n"[..], b"MZ", b"\xcf\xfa\xed\xfe", b""] {
            assert_eq!(data_start(bytes), None);
        }
    }
}
