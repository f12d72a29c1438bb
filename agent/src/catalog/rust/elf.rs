//! Finding one section of an ELF file through its section header table. Only ELF is
//! read: container images run Linux binaries. Small and hand-written like the Go
//! cataloger's lookup: the section table is all that is needed, and reading it through
//! `Read + Seek` lets an open file be read without loading the whole binary.

use std::io::{self, Read, Seek, SeekFrom};

const MAGIC: &[u8; 4] = b"\x7fELF";
const HEADER_SIZE: usize = 64;
/// Largest section header table read; real binaries have well under 100 sections.
const MAX_SECTION_TABLE: usize = 256 << 10;
/// Largest section name table read; real binaries' is a few KiB.
const MAX_SECTION_NAMES: u64 = 256 << 10;
/// Section type of sections that occupy no space in the file (`.bss`).
const SHT_NOBITS: u32 = 8;

/// Where a section's bytes lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub offset: u64,
    pub size: u64,
}

/// ELF class and byte order, which fix where the header fields lie.
#[derive(Clone, Copy)]
struct Layout {
    wide: bool,
    little: bool,
}

impl Layout {
    fn uint(self, bytes: &[u8], at: usize, len: usize) -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if self.little {
                field.get(len - 1 - i)?
            } else {
                field.get(i)?
            };
            value = value << 8 | u64::from(*byte);
        }
        Some(value)
    }

    /// An address-sized field: 8 bytes in 64-bit files, 4 in 32-bit ones.
    fn addr(self, bytes: &[u8], at64: usize, at32: usize) -> Option<u64> {
        if self.wide {
            self.uint(bytes, at64, 8)
        } else {
            self.uint(bytes, at32, 4)
        }
    }

    fn half(self, bytes: &[u8], at64: usize, at32: usize) -> Option<usize> {
        let at = if self.wide { at64 } else { at32 };
        self.uint(bytes, at, 2)
            .and_then(|v| usize::try_from(v).ok())
    }

    fn min_entry_size(self) -> usize {
        if self.wide {
            64
        } else {
            40
        }
    }

    /// Name offset and location of one section header table entry.
    fn section(self, entry: &[u8]) -> Option<(u64, u32, Section)> {
        let name = self.uint(entry, 0, 4)?;
        let kind = u32::try_from(self.uint(entry, 4, 4)?).ok()?;
        let offset = self.addr(entry, 0x18, 0x10)?;
        let size = self.addr(entry, 0x20, 0x14)?;
        Some((name, kind, Section { offset, size }))
    }
}

/// Whether `head` (the first bytes of a file) starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Finds the section called `name` (without its NUL). `Ok(None)`: not an ELF file, no
/// usable section table, or no such section with bytes in the file.
pub fn find_section<F: Read + Seek>(file: &mut F, name: &[u8]) -> io::Result<Option<Section>> {
    file.seek(SeekFrom::Start(0))?;
    let Some(head) = read_exact_or_none(file, HEADER_SIZE)? else {
        return Ok(None);
    };
    if !is_elf(&head) {
        return Ok(None);
    }
    let layout = match (head.get(4), head.get(5)) {
        (Some(1), Some(1)) => Layout {
            wide: false,
            little: true,
        },
        (Some(1), Some(2)) => Layout {
            wide: false,
            little: false,
        },
        (Some(2), Some(1)) => Layout {
            wide: true,
            little: true,
        },
        (Some(2), Some(2)) => Layout {
            wide: true,
            little: false,
        },
        _ => return Ok(None),
    };
    let (Some(table_offset), Some(entry_size), Some(count), Some(names_index)) = (
        layout.addr(&head, 0x28, 0x20),
        layout.half(&head, 0x3a, 0x2e),
        layout.half(&head, 0x3c, 0x30),
        layout.half(&head, 0x3e, 0x32),
    ) else {
        return Ok(None);
    };
    // Both factors are 16-bit, so the product cannot overflow.
    let table_size = entry_size * count;
    if table_offset == 0
        || count == 0
        || entry_size < layout.min_entry_size()
        || table_size > MAX_SECTION_TABLE
        || names_index >= count
    {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(table_offset))?;
    let Some(table) = read_exact_or_none(file, table_size)? else {
        return Ok(None);
    };
    let Some((_, _, names)) = table
        .get(names_index * entry_size..)
        .and_then(|entry| layout.section(entry))
    else {
        return Ok(None);
    };
    if names.size > MAX_SECTION_NAMES {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(names.offset))?;
    // Bounded by MAX_SECTION_NAMES above.
    let Some(names) = read_exact_or_none(file, names.size as usize)? else {
        return Ok(None);
    };
    let found = table
        .chunks_exact(entry_size)
        .filter_map(|entry| layout.section(entry))
        .find(|(name_at, _, _)| {
            usize::try_from(*name_at)
                .ok()
                .and_then(|at| names.get(at..))
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.first() == Some(&0))
        });
    Ok(found
        .filter(|(_, kind, _)| *kind != SHT_NOBITS)
        .map(|(_, _, section)| section))
}

/// Reads exactly `len` bytes; `None` when the file ends first.
fn read_exact_or_none<F: Read>(file: &mut F, len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::with_capacity(len);
    file.by_ref().take(len as u64).read_to_end(&mut data)?;
    Ok((data.len() == len).then_some(data))
}
