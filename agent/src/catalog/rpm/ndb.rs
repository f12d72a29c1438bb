//! rpm NDB package databases (`Packages.db`, SUSE) → the header blobs they store. No I/O.
//!
//! NDB is rpm's own format (`lib/backend/ndb/rpmpkg.c`), so no crate reads it. The file
//! starts with slot pages of 4 KiB: a 32-byte header (`RpmP` magic, version 0, generation,
//! number of slot pages, next package index) in place of the first two slots, then
//! 16-byte slots (`Slot` magic, package index, offset and length in 16-byte blocks). A
//! slot points at a blob: a 16-byte head (`BlbS`, package index, timestamp, length), the
//! header blob, zero padding, and a 12-byte tail (adler32, length, `BlbE`). All integers
//! are little-endian.

use super::Headers;

const DB_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_HEAD_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const BLOB_TAIL_MAGIC: u32 = u32::from_le_bytes(*b"BlbE");
const DB_VERSION: u32 = 0;
const PAGE_SIZE: usize = 4096;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
const DB_HEADER_SIZE: usize = 32;
const BLOB_HEAD_SIZE: usize = 16;
const BLOB_TAIL_SIZE: usize = 12;

/// Why an NDB file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NDB: {0}")]
pub struct NdbError(&'static str);

/// Every header blob the slots point at, in file order. A slot whose blob is damaged, or
/// overlaps another slot's blob, is skipped (rpm never lets blobs overlap, and overlapping
/// slots would let a small file name one large blob many times); a file whose header or
/// slot pages are unusable is an error.
pub fn blobs(db: &[u8]) -> Result<Headers<&[u8]>, NdbError> {
    if le_u32(db, 0) != Some(DB_MAGIC) {
        return Err(NdbError("not an rpm NDB database (bad magic)"));
    }
    if le_u32(db, 4) != Some(DB_VERSION) {
        return Err(NdbError("unknown database version"));
    }
    let slot_pages = le_u32(db, 12)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or(NdbError("no slot pages"))?;
    // Checked against the file length, so the slot pages are all present.
    let slots_end = slot_pages
        .checked_mul(PAGE_SIZE)
        .filter(|&end| end <= db.len())
        .ok_or(NdbError("slot pages run past the end of the file"))?;
    let slots = db
        .get(DB_HEADER_SIZE..slots_end)
        .ok_or(NdbError("slot pages run past the end of the file"))?;
    let first_blob_block = slots_end / BLOCK_SIZE;
    let mut found = Vec::new();
    let mut skipped = 0;
    for slot in slots.chunks_exact(SLOT_SIZE) {
        if le_u32(slot, 0) != Some(SLOT_MAGIC) {
            return Err(NdbError("slot without its magic"));
        }
        let (Some(index), Some(offset), Some(blocks)) =
            (le_u32(slot, 4), le_u32(slot, 8), le_u32(slot, 12))
        else {
            continue;
        };
        // Offset 0 marks a free slot.
        if offset == 0 {
            continue;
        }
        match blob(db, index, offset, blocks, first_blob_block) {
            Some(blob) => found.push((offset, blocks, blob)),
            None => {
                tracing::warn!(index, "damaged NDB blob; package skipped");
                skipped += 1;
            }
        }
    }
    found.sort_unstable_by_key(|&(offset, _, _)| offset);
    let mut blobs = Vec::with_capacity(found.len());
    let mut free_from = 0u64;
    for (offset, blocks, blob) in found {
        if u64::from(offset) < free_from {
            tracing::warn!(offset, "NDB blob overlaps another; package skipped");
            skipped += 1;
            continue;
        }
        free_from = u64::from(offset) + u64::from(blocks);
        blobs.push(blob);
    }
    Ok(Headers { blobs, skipped })
}

/// The header blob a slot points at, when its head and tail agree with the slot.
fn blob(db: &[u8], index: u32, offset: u32, blocks: u32, first_block: usize) -> Option<&[u8]> {
    let offset = usize::try_from(offset).ok().filter(|&o| o >= first_block)?;
    let start = offset.checked_mul(BLOCK_SIZE)?;
    let len = usize::try_from(blocks).ok()?.checked_mul(BLOCK_SIZE)?;
    let stored = db.get(start..start.checked_add(len)?)?;
    if index == 0 || le_u32(stored, 0)? != BLOB_HEAD_MAGIC || le_u32(stored, 4)? != index {
        return None;
    }
    let blob_len = usize::try_from(le_u32(stored, 12)?).ok()?;
    let used = BLOB_HEAD_SIZE
        .checked_add(blob_len)?
        .checked_add(BLOB_TAIL_SIZE)?;
    // rpm sizes a blob's slot to the block count its length needs, no more.
    if used.div_ceil(BLOCK_SIZE) * BLOCK_SIZE != len {
        return None;
    }
    let tail = len - BLOB_TAIL_SIZE;
    if le_u32(stored, tail + 4)? != le_u32(stored, 12)?
        || le_u32(stored, tail + 8)? != BLOB_TAIL_MAGIC
    {
        return None;
    }
    stored.get(BLOB_HEAD_SIZE..BLOB_HEAD_SIZE + blob_len)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Builds an NDB file the way rpm's `rpmpkgPut` lays one out: one slot page, then
    /// each blob in the next free blocks, its slot filled in order. rpm on this machine
    /// cannot write NDB (Debian builds it without the backend), so tests construct it.
    pub fn construct(headers: &[Vec<u8>]) -> Vec<u8> {
        let mut db = vec![0u8; PAGE_SIZE];
        db[0..4].copy_from_slice(b"RpmP");
        db[8..12].copy_from_slice(&(headers.len() as u32 + 1).to_le_bytes());
        db[12..16].copy_from_slice(&1u32.to_le_bytes());
        db[16..20].copy_from_slice(&(headers.len() as u32 + 1).to_le_bytes());
        for slot in (DB_HEADER_SIZE..PAGE_SIZE).step_by(SLOT_SIZE) {
            db[slot..slot + 4].copy_from_slice(b"Slot");
        }
        for (i, header) in headers.iter().enumerate() {
            let index = i as u32 + 1;
            let offset = db.len() / BLOCK_SIZE;
            let blocks = (BLOB_HEAD_SIZE + header.len() + BLOB_TAIL_SIZE).div_ceil(BLOCK_SIZE);
            let mut blob = Vec::new();
            blob.extend_from_slice(b"BlbS");
            blob.extend_from_slice(&index.to_le_bytes());
            blob.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            blob.extend_from_slice(&(header.len() as u32).to_le_bytes());
            blob.extend_from_slice(header);
            blob.resize(blocks * BLOCK_SIZE - BLOB_TAIL_SIZE, 0);
            blob.extend_from_slice(&adler32(&blob).to_le_bytes());
            blob.extend_from_slice(&(header.len() as u32).to_le_bytes());
            blob.extend_from_slice(b"BlbE");
            db.extend_from_slice(&blob);
            let slot = DB_HEADER_SIZE + i * SLOT_SIZE;
            db[slot + 4..slot + 8].copy_from_slice(&index.to_le_bytes());
            db[slot + 8..slot + 12].copy_from_slice(&(offset as u32).to_le_bytes());
            db[slot + 12..slot + 16].copy_from_slice(&(blocks as u32).to_le_bytes());
        }
        db
    }

    /// RFC 1950's checksum, as rpm writes it into each blob's tail.
    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in data {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    fn headers() -> Vec<Vec<u8>> {
        vec![vec![1; 40], vec![2; 100], vec![3; 7]]
    }

    #[test]
    fn constructed_database_gives_back_every_blob() {
        let db = construct(&headers());
        assert_eq!(blobs(&db).unwrap().blobs, headers());
    }

    #[test]
    fn free_slots_are_ignored() {
        let mut db = construct(&headers());
        let slot = DB_HEADER_SIZE + SLOT_SIZE;
        db[slot + 4..slot + 16].fill(0);
        assert_eq!(
            blobs(&db).unwrap().blobs,
            vec![headers()[0].clone(), headers()[2].clone()]
        );
    }

    #[test]
    fn blob_whose_length_disagrees_with_its_slot_is_skipped() {
        let mut db = construct(&headers());
        let slot = DB_HEADER_SIZE;
        db[slot + 12..slot + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(blobs(&db).unwrap().blobs, headers()[1..].to_vec());

        let mut db = construct(&headers());
        let first_blob_length = PAGE_SIZE + 12;
        db[first_blob_length..first_blob_length + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(blobs(&db).unwrap().blobs, headers()[1..].to_vec());
    }

    #[test]
    fn slot_pointing_into_the_slot_pages_is_skipped() {
        let mut db = construct(&headers());
        let slot = DB_HEADER_SIZE;
        db[slot + 8..slot + 12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(blobs(&db).unwrap().blobs.len(), 2);
    }

    #[test]
    fn slots_pointing_at_one_blob_give_it_once() {
        let mut db = construct(&headers());
        let first = db[DB_HEADER_SIZE..DB_HEADER_SIZE + SLOT_SIZE].to_vec();
        for slot in (DB_HEADER_SIZE + SLOT_SIZE..PAGE_SIZE).step_by(SLOT_SIZE) {
            db[slot..slot + SLOT_SIZE].copy_from_slice(&first);
        }
        assert_eq!(blobs(&db).unwrap().blobs, vec![headers()[0].clone()]);
    }

    #[test]
    fn huge_slot_page_count_is_an_error() {
        let mut db = construct(&headers());
        db[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(blobs(&db).is_err());
    }

    #[test]
    fn truncated_database_gives_an_error_or_fewer_blobs_never_a_panic() {
        let db = construct(&headers());
        for len in 0..db.len() {
            if let Ok(found) = blobs(&db[..len]) {
                assert!(found.blobs.len() < headers().len() || len == db.len());
            }
        }
    }

    #[test]
    fn other_files_are_errors() {
        assert!(blobs(b"").is_err());
        assert!(blobs(&[0u8; PAGE_SIZE]).is_err());
    }
}
