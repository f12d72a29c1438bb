//! Finding one named section of an ELF file through its section header table, for the
//! catalogers that read what a toolchain embeds in executables (`.go.buildinfo`,
//! cargo-auditable's `.dep-v0`). Only ELF is read: container images run Linux binaries.
//!
//! The `object` crate decodes the header, the section headers and the names; the reads
//! are done here, each one bounded before it is made, so that a hostile file costs at
//! most [`MAX_SECTION_TABLE`] + [`MAX_SECTION_NAMES`] bytes plus the section the caller
//! accepts, whatever its offsets and counts say.

use std::io::{self, Read, Seek, SeekFrom};
use std::mem;

use object::elf::{FileHeader32, FileHeader64, ELFCLASS32, ELFCLASS64};
use object::read::elf::{FileHeader, SectionHeader, SectionTable};
use object::read::StringTable;
use object::{Endianness, ReadRef};

use super::CatalogError;

const MAGIC: &[u8; 4] = b"\x7fELF";
/// Bytes read for the file header: the 64-bit header's size (the 32-bit one is 52).
const HEADER_SIZE: usize = 64;
/// Largest section header table read: 4096 entries of 64 bytes. Linked programs have
/// well under 100 sections (Go's ~40).
pub const MAX_SECTION_TABLE: u64 = 256 << 10;
/// Largest section name table read. A linked program's is well under 1 KiB (Go's ~400
/// bytes); objects built with one section per function reach tens of KiB.
pub const MAX_SECTION_NAMES: u64 = 256 << 10;
/// Where `e_ident` says the class is.
const EI_CLASS: usize = 4;

/// Whether `head` (the first bytes of a file) starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Where a section's bytes lie in the file, as its header states them (unchecked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub offset: u64,
    pub size: u64,
}

/// What looking for a section found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Not an ELF file (magic, class, byte order or version).
    NotElf,
    /// An ELF file without a section table that can be read within the bounds.
    NoTable,
    /// The section table has no such section with bytes in the file.
    Absent,
    Found(Section),
}

impl Section {
    /// Reads the section's bytes: [`CatalogError::TooLarge`] when it is larger than
    /// `limit`, malformed when the file ends before it does.
    pub fn read<F: Read + Seek>(&self, file: &mut F, limit: u64) -> Result<Vec<u8>, CatalogError> {
        if self.size > limit {
            return Err(CatalogError::TooLarge { limit });
        }
        read_at(file, self.offset, self.size)?.ok_or_else(|| {
            CatalogError::Malformed("ELF section runs past the end of the file".to_owned())
        })
    }
}

/// Finds the section called `name` (without its NUL) in the file, which is read from its
/// start whatever its current position.
pub fn find_section<F: Read + Seek>(file: &mut F, name: &str) -> io::Result<Lookup> {
    file.seek(SeekFrom::Start(0))?;
    // A file shorter than the 64-bit header may still hold a 32-bit one.
    let mut head = Vec::with_capacity(HEADER_SIZE);
    file.by_ref()
        .take(HEADER_SIZE as u64)
        .read_to_end(&mut head)?;
    if !is_elf(&head) {
        return Ok(Lookup::NotElf);
    }
    match head.get(EI_CLASS).copied() {
        Some(ELFCLASS32) => lookup::<FileHeader32<Endianness>, F>(file, &head, name),
        Some(ELFCLASS64) => lookup::<FileHeader64<Endianness>, F>(file, &head, name),
        _ => Ok(Lookup::NotElf),
    }
}

fn lookup<Elf, F>(file: &mut F, head: &[u8], name: &str) -> io::Result<Lookup>
where
    Elf: FileHeader<Endian = Endianness>,
    F: Read + Seek,
{
    let Ok(header) = Elf::parse(head) else {
        return Ok(Lookup::NotElf);
    };
    let Ok(endian) = header.endian() else {
        return Ok(Lookup::NotElf);
    };
    let table_offset: u64 = header.e_shoff(endian).into();
    // Counts of 0 (more than 0xff00 sections, kept in section 0) are not followed.
    let count = usize::from(header.e_shnum(endian));
    let names_index = usize::from(header.e_shstrndx(endian));
    let entry_size = mem::size_of::<Elf::SectionHeader>();
    // Both factors are small (16 bits and 64), so the product cannot overflow.
    let table_size = (count * entry_size) as u64;
    if table_offset == 0
        || count == 0
        || usize::from(header.e_shentsize(endian)) != entry_size
        || table_size > MAX_SECTION_TABLE
        || names_index == 0
        || names_index >= count
    {
        return Ok(Lookup::NoTable);
    }
    let Some(table) = read_at(file, table_offset, table_size)? else {
        return Ok(Lookup::NoTable);
    };
    let Ok(headers) = table
        .as_slice()
        .read_slice_at::<Elf::SectionHeader>(0, count)
    else {
        return Ok(Lookup::NoTable);
    };
    let Some((names_offset, names_size)) = headers
        .get(names_index)
        .and_then(|names| names.file_range(endian))
        .filter(|&(_, size)| size <= MAX_SECTION_NAMES)
    else {
        return Ok(Lookup::NoTable);
    };
    let Some(names) = read_at(file, names_offset, names_size)? else {
        return Ok(Lookup::NoTable);
    };
    let strings = StringTable::new(names.as_slice(), 0, names_size);
    let sections = SectionTable::<Elf, &[u8]>::new(headers, strings);
    // A section without bytes in the file (`SHT_NOBITS`) is as good as absent.
    let found = sections
        .section_by_name(endian, name.as_bytes())
        .and_then(|(_, section)| section.file_range(endian));
    Ok(found.map_or(Lookup::Absent, |(offset, size)| {
        Lookup::Found(Section { offset, size })
    }))
}

/// Reads exactly `len` bytes at `offset`; `None` when the file ends first. The caller
/// bounds `len`.
fn read_at<F: Read + Seek>(file: &mut F, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or_default());
    file.by_ref().take(len).read_to_end(&mut data)?;
    Ok((data.len() as u64 == len).then_some(data))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const GO_HELLO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/golang/testdata/usr/local/bin/hello"
    );

    fn lookup_in(bytes: &[u8], name: &str) -> Lookup {
        find_section(&mut Cursor::new(bytes), name).unwrap()
    }

    fn found(lookup: Lookup) -> Section {
        match lookup {
            Lookup::Found(section) => section,
            other => panic!("{other:?}"),
        }
    }

    /// Moved from the Go cataloger's hand-written header reader.
    #[test]
    fn elf_header_of_the_fixture_locates_its_section_table() {
        let bytes = std::fs::read(GO_HELLO).unwrap();
        let header = FileHeader64::<Endianness>::parse(&bytes[..HEADER_SIZE]).unwrap();
        let endian = header.endian().unwrap();
        assert!(header.is_class_64() && endian == Endianness::Little);
        assert_eq!(usize::from(header.e_shentsize(endian)), 64);
        assert!(header.e_shnum(endian) > 0);
        assert_eq!(lookup_in(&bytes[..20], ".go.buildinfo"), Lookup::NotElf);
        assert_eq!(lookup_in(b"MZ\x90\x00", ".go.buildinfo"), Lookup::NotElf);
    }

    #[test]
    fn named_section_is_found_and_read_whole() {
        let bytes = std::fs::read(GO_HELLO).unwrap();
        let section = found(lookup_in(&bytes, ".go.buildinfo"));
        let data = section.read(&mut Cursor::new(&bytes), 1 << 20).unwrap();
        assert_eq!(data.len() as u64, section.size);
        assert!(data.starts_with(b"\xff Go buildinf:"));
    }

    #[test]
    fn names_match_whole_and_sections_without_bytes_are_absent() {
        let bytes = std::fs::read(GO_HELLO).unwrap();
        for name in [".go.buildinf", ".go.buildinfo.x", ".dep-v0", ".bss"] {
            assert_eq!(lookup_in(&bytes, name), Lookup::Absent, "{name:?}");
        }
    }

    #[test]
    fn section_larger_than_the_limit_or_past_the_end_is_refused() {
        let bytes = std::fs::read(GO_HELLO).unwrap();
        let section = found(lookup_in(&bytes, ".go.buildinfo"));
        assert!(matches!(
            section.read(&mut Cursor::new(&bytes), section.size - 1),
            Err(CatalogError::TooLarge { .. })
        ));
        let cut = &bytes[..(section.offset + section.size / 2) as usize];
        assert!(matches!(
            section.read(&mut Cursor::new(cut), u64::MAX),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn hostile_headers_give_no_table_never_a_panic() {
        let bytes = std::fs::read(GO_HELLO).unwrap();
        let patched = |at: usize, value: &[u8]| {
            let mut bytes = bytes.clone();
            bytes[at..at + value.len()].copy_from_slice(value);
            lookup_in(&bytes, ".go.buildinfo")
        };
        // Table offset past the file, at 0, and a count beyond the table limit.
        assert_eq!(patched(0x28, &u64::MAX.to_le_bytes()), Lookup::NoTable);
        assert_eq!(patched(0x28, &0u64.to_le_bytes()), Lookup::NoTable);
        assert_eq!(patched(0x3c, &u16::MAX.to_le_bytes()), Lookup::NoTable);
        // An entry size that is not the class's, a names index beyond the table.
        assert_eq!(patched(0x3a, &40u16.to_le_bytes()), Lookup::NoTable);
        assert_eq!(patched(0x3e, &u16::MAX.to_le_bytes()), Lookup::NoTable);
        // Another class or version is not ELF this reads.
        assert_eq!(patched(4, &[3]), Lookup::NotElf);
        assert_eq!(patched(6, &[0]), Lookup::NotElf);
        for len in (0..bytes.len()).step_by(4093) {
            let _ = lookup_in(&bytes[..len], ".go.buildinfo");
        }
    }
}
