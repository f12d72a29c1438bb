//! Holding a stream so that it can be read again or sought in: small ones in memory,
//! large ones in an unnamed temporary file, so memory stays flat whatever the size.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

use super::CatalogError;

/// A stream's bytes, readable and seekable from the start.
pub enum Spooled {
    Memory(Cursor<Vec<u8>>),
    /// Removed by the system when closed; in the system's temporary directory (the
    /// agent chart's scratch volume).
    File(std::fs::File),
}

impl Read for Spooled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Spooled::Memory(cursor) => cursor.read(buf),
            Spooled::File(file) => file.read(buf),
        }
    }
}

impl Seek for Spooled {
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        match self {
            Spooled::Memory(cursor) => cursor.seek(position),
            Spooled::File(file) => file.seek(position),
        }
    }
}

/// Reads `reader` to its end: into memory while it is at most `in_memory` bytes, into a
/// temporary file beyond. `size_hint` (a header's claim, maybe false) only sizes the
/// first buffer. More than `max` bytes is [`CatalogError::TooLarge`].
pub fn spool(
    reader: &mut dyn Read,
    size_hint: u64,
    in_memory: u64,
    max: u64,
) -> Result<Spooled, CatalogError> {
    let in_memory = in_memory.min(max);
    let mut data = Vec::with_capacity(size_hint.min(in_memory) as usize);
    reader.take(in_memory + 1).read_to_end(&mut data)?;
    if data.len() as u64 <= in_memory {
        return Ok(Spooled::Memory(Cursor::new(data)));
    }
    let mut file = tempfile::tempfile()?;
    file.write_all(&data)?;
    let head = data.len() as u64;
    drop(data);
    let rest = std::io::copy(&mut reader.take(max + 1 - head), &mut file)?;
    if head + rest > max {
        return Err(CatalogError::TooLarge { limit: max });
    }
    file.rewind()?;
    Ok(Spooled::File(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(mut spooled: Spooled) -> Vec<u8> {
        let mut data = Vec::new();
        spooled.read_to_end(&mut data).unwrap();
        spooled.rewind().unwrap();
        let mut again = Vec::new();
        spooled.read_to_end(&mut again).unwrap();
        assert_eq!(data, again);
        data
    }

    #[test]
    fn small_streams_stay_in_memory_large_ones_go_to_a_file_whole() {
        let bytes: Vec<u8> = (0..10_000u32).map(|n| (n % 251) as u8).collect();
        let small = spool(&mut &bytes[..], 0, 10_000, 1 << 20).unwrap();
        assert!(matches!(small, Spooled::Memory(_)));
        assert_eq!(contents(small), bytes);
        // A hint that lies low costs nothing: the rest still arrives, in the file.
        let large = spool(&mut &bytes[..], 10, 4096, 1 << 20).unwrap();
        assert!(matches!(large, Spooled::File(_)));
        assert_eq!(contents(large), bytes);
    }

    #[test]
    fn more_than_the_maximum_is_too_large() {
        let bytes = vec![7u8; 5000];
        for in_memory in [100, 10_000] {
            let err = spool(&mut &bytes[..], 5000, in_memory, 4999).err().unwrap();
            assert!(
                matches!(err, CatalogError::TooLarge { limit: 4999 }),
                "{err}"
            );
        }
        assert!(spool(&mut &bytes[..], 5000, 100, 5000).is_ok());
    }
}
