//! Documents in [`SbomChunk`]s (`Ingest.UploadSbom`, `Query.GetSbom`): sent in order, each
//! chunk starting where the previous one ended, and checked as they arrive.

use crate::v1::SbomChunk;

/// The chunks of `document`, at most `size` bytes each.
pub fn split(document: &[u8], size: usize) -> impl Iterator<Item = SbomChunk> + '_ {
    let mut offsets = Offsets::default();
    document
        .chunks(size.max(1))
        .map(move |piece| offsets.chunk(piece.to_vec()))
}

/// Offsets for pieces that come one by one (from a decompressor, say).
#[derive(Debug, Default)]
pub struct Offsets {
    next: u64,
}

impl Offsets {
    /// The chunk of the next `data`.
    pub fn chunk(&mut self, data: Vec<u8>) -> SbomChunk {
        let offset = self.next;
        self.next += data.len() as u64;
        SbomChunk { offset, data }
    }
}

/// A chunk that does not continue the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error(
        "chunk out of order: it starts at byte {offset}, but {received} bytes were received so far"
    )]
    OutOfOrder { offset: u64, received: u64 },
    #[error("the chunks run past the announced size of {size} bytes (to byte {end})")]
    PastSize { size: u64, end: u64 },
}

impl ChunkError {
    /// The `SbomChunk` field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ChunkError::OutOfOrder { .. } => "chunk.offset",
            ChunkError::PastSize { .. } => "chunk.data",
        }
    }
}

/// Checks the chunks of a document of `size` bytes as they arrive.
#[derive(Debug)]
pub struct Reassembly {
    size: u64,
    received: u64,
}

impl Reassembly {
    pub fn new(size: u64) -> Self {
        Reassembly { size, received: 0 }
    }

    /// Accepts the chunk of `len` bytes at `offset` if it starts where the previous one
    /// ended and stays within the size.
    pub fn accept(&mut self, offset: u64, len: usize) -> Result<(), ChunkError> {
        if offset != self.received {
            return Err(ChunkError::OutOfOrder {
                offset,
                received: self.received,
            });
        }
        let end = self.received.saturating_add(len as u64);
        if end > self.size {
            return Err(ChunkError::PastSize {
                size: self.size,
                end,
            });
        }
        self.received = end;
        Ok(())
    }

    /// Bytes accepted so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether every announced byte arrived.
    pub fn is_complete(&self) -> bool {
        self.received == self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_chunks_go_back_together() {
        let document: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let chunks: Vec<SbomChunk> = split(&document, 4096).collect();
        assert_eq!(chunks.len(), 3);
        let mut reassembly = Reassembly::new(document.len() as u64);
        let mut joined = Vec::new();
        for chunk in &chunks {
            reassembly.accept(chunk.offset, chunk.data.len()).unwrap();
            joined.extend_from_slice(&chunk.data);
        }
        assert!(reassembly.is_complete());
        assert_eq!(joined, document);
    }

    #[test]
    fn gaps_repeats_and_overruns_are_refused() {
        let mut reassembly = Reassembly::new(10);
        reassembly.accept(0, 4).unwrap();
        let repeat = reassembly.accept(0, 4).unwrap_err();
        assert_eq!(repeat.field(), "chunk.offset");
        assert!(reassembly.accept(6, 2).is_err());
        let overrun = reassembly.accept(4, 7).unwrap_err();
        assert_eq!(overrun, ChunkError::PastSize { size: 10, end: 11 });
        reassembly.accept(4, 6).unwrap();
        assert!(reassembly.is_complete());
    }
}
