//! Berkeley DB hash databases → the values they store. No I/O.
//!
//! rpm before 4.16 (RHEL/CentOS ≤ 8, Amazon Linux 2) keeps its headers in `Packages`, a
//! Berkeley DB hash database: key = header number, value = one header blob. No maintained
//! Rust crate reads Berkeley DB files (the C library is AGPL since 6.0 and not packaged
//! for Rust), so the few structures needed are read here, from Berkeley DB's on-disk
//! layout (`dbinc/db_page.h`): the metadata page, hash pages holding key/value items,
//! and overflow page chains for values too large for a hash page. Every page number,
//! offset and length comes from the file and is checked before use.

use super::Headers;

/// Hash database magic, in the byte order of the machine that wrote the file.
const HASH_MAGIC: u32 = 0x0006_1561;
/// Page types (`P_*`).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Hash item types (`H_*`): data stored on the page, or on a chain of overflow pages.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// Size of the header every page starts with (`PAGE`, 26 bytes).
const PAGE_HEADER: usize = 26;
/// Size of an off-page item: type, 3 unused bytes, first page number, total length.
const OFFPAGE_ITEM: usize = 12;
/// Largest value collected; rpm refuses headers over 256 MiB (`HEADER_DATA_MAX`) and
/// real ones are under 1 MiB.
const MAX_VALUE: usize = 32 << 20;

/// Why a Berkeley DB file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Berkeley DB: {0}")]
pub struct BdbError(&'static str);

/// Byte order of the file, fixed by the machine that wrote it.
#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Order::Little => u32::from_le_bytes(word),
            Order::Big => u32::from_be_bytes(word),
        })
    }

    fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let word: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Order::Little => u16::from_le_bytes(word),
            Order::Big => u16::from_be_bytes(word),
        })
    }
}

/// The database file cut into pages.
struct Pages<'a> {
    db: &'a [u8],
    size: usize,
    order: Order,
}

impl<'a> Pages<'a> {
    fn count(&self) -> usize {
        self.db.len() / self.size
    }

    fn get(&self, pgno: u32) -> Option<&'a [u8]> {
        let start = usize::try_from(pgno).ok()?.checked_mul(self.size)?;
        self.db.get(start..start.checked_add(self.size)?)
    }
}

/// Every value of a hash database whose key is not the all-zero key (where rpm keeps its
/// next header number), in page order. A value whose item or overflow chain is damaged is
/// skipped; a file whose metadata page is unusable is an error.
pub fn values(db: &[u8]) -> Result<Headers<Vec<u8>>, BdbError> {
    let pages = open(db)?;
    // Overflow pages visited, over all chains. In a sound file each overflow page belongs
    // to one chain, so this bounds the bytes copied by the file size even when hostile
    // items share or loop chains.
    let mut hops_left = pages.count();
    let mut values = Headers::default();
    for pgno in 1..pages.count() {
        let Some(page) = u32::try_from(pgno).ok().and_then(|n| pages.get(n)) else {
            break;
        };
        if !matches!(page.get(25), Some(&P_HASH | &P_HASH_UNSORTED)) {
            continue;
        }
        let items = page_items(page, &pages);
        // Items alternate key, value.
        for pair in items.chunks_exact(2) {
            let [key, value] = pair else { continue };
            if key.first() == Some(&H_KEYDATA) && key.get(1..).is_some_and(is_zero_key) {
                continue;
            }
            match read_value(value, &pages, &mut hops_left) {
                Some(value) => values.blobs.push(value),
                None => {
                    tracing::warn!("unreadable Berkeley DB value; skipped");
                    values.skipped += 1;
                }
            }
        }
    }
    Ok(values)
}

fn is_zero_key(key: &[u8]) -> bool {
    key.len() == 4 && key.iter().all(|&b| b == 0)
}

/// Checks the metadata page (page 0) and returns the page geometry it states.
fn open(db: &[u8]) -> Result<Pages<'_>, BdbError> {
    let order = if Order::Little.u32(db, 12) == Some(HASH_MAGIC) {
        Order::Little
    } else if Order::Big.u32(db, 12) == Some(HASH_MAGIC) {
        Order::Big
    } else {
        return Err(BdbError("not a hash database (bad magic)"));
    };
    let size = order
        .u32(db, 20)
        .and_then(|size| usize::try_from(size).ok())
        .filter(|size| size.is_power_of_two() && (512..=65536).contains(size))
        .ok_or(BdbError(
            "page size is not a power of two from 512 to 64 KiB",
        ))?;
    if db.get(24) != Some(&0) {
        return Err(BdbError("encrypted databases are not supported"));
    }
    if db.get(25) != Some(&P_HASHMETA) {
        return Err(BdbError("first page is not a hash metadata page"));
    }
    if db.len() < size {
        return Err(BdbError("shorter than one page"));
    }
    Ok(Pages { db, size, order })
}

/// The items of one hash page. BDB packs items from the end of the page downwards, in
/// index order, so item `i` ends where item `i - 1` starts (the page end for item 0).
fn page_items<'a>(page: &'a [u8], pages: &Pages<'_>) -> Vec<&'a [u8]> {
    let entries = pages.order.u16(page, 20).map_or(0, usize::from);
    let mut items = Vec::with_capacity(entries.min(page.len() / 2));
    let mut end = page.len();
    for i in 0..entries {
        let Some(start) = pages.order.u16(page, PAGE_HEADER + 2 * i).map(usize::from) else {
            break;
        };
        // An offset into the index, or past the previous item, is damage: stop here.
        let index_end = PAGE_HEADER + 2 * entries;
        let Some(item) = page.get(start..end).filter(|_| start >= index_end) else {
            break;
        };
        items.push(item);
        end = start;
    }
    items
}

/// A value item's bytes: inline, or gathered from its overflow chain.
fn read_value(item: &[u8], pages: &Pages<'_>, hops_left: &mut usize) -> Option<Vec<u8>> {
    match *item.first()? {
        H_KEYDATA => Some(item.get(1..)?.to_vec()),
        H_OFFPAGE if item.len() >= OFFPAGE_ITEM => {
            let first = pages.order.u32(item, 4)?;
            let total = usize::try_from(pages.order.u32(item, 8)?).ok()?;
            read_overflow(first, total, pages, hops_left)
        }
        _ => None,
    }
}

/// Follows an overflow chain from page `pgno`, collecting `total` bytes. Each page holds
/// its data length in the header's `hf_offset` field and names the next page. A chain
/// that is cyclic, leaves the file, ends early or late, or outlasts the hop budget is
/// refused.
fn read_overflow(
    mut pgno: u32,
    total: usize,
    pages: &Pages<'_>,
    hops_left: &mut usize,
) -> Option<Vec<u8>> {
    if total > MAX_VALUE || total > pages.db.len() {
        return None;
    }
    let mut value = Vec::new();
    loop {
        *hops_left = hops_left.checked_sub(1)?;
        let page = pages
            .get(pgno)
            .filter(|p| pgno != 0 && p.get(25) == Some(&P_OVERFLOW))?;
        let len = usize::from(pages.order.u16(page, 22)?);
        let data = page.get(PAGE_HEADER..PAGE_HEADER.checked_add(len)?)?;
        if value.len() + data.len() > total {
            return None;
        }
        value.extend_from_slice(data);
        let next = pages.order.u32(page, 16)?;
        if next == 0 {
            return (value.len() == total).then_some(value);
        }
        pgno = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/rpm/testdata/var/lib/rpm/Packages"
    );
    const PAGE: usize = 512;

    fn fixture() -> Vec<u8> {
        std::fs::read(FIXTURE).unwrap()
    }

    /// Page numbers of the fixture's pages of one type.
    fn pages_of_type(db: &[u8], kind: u8) -> Vec<usize> {
        (0..db.len() / PAGE)
            .filter(|&p| db[p * PAGE + 25] == kind)
            .collect()
    }

    fn set_u32(db: &mut [u8], at: usize, value: u32) {
        db[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn fixture_written_by_berkeley_db_has_overflow_values() {
        let db = fixture();
        assert_eq!(
            u32::from_le_bytes(db[20..24].try_into().unwrap()),
            PAGE as u32
        );
        assert!(!pages_of_type(&db, P_OVERFLOW).is_empty());
        // Four headers; rpm's next-number record under key 0 is left out.
        assert_eq!(values(&db).unwrap().blobs.len(), 4);
    }

    #[test]
    fn non_hash_file_is_an_error() {
        assert!(values(b"").is_err());
        assert!(values(&[0u8; 4096]).is_err());
        let mut db = fixture();
        db[25] = P_HASH;
        assert!(values(&db).is_err());
    }

    #[test]
    fn odd_page_size_is_an_error() {
        let mut db = fixture();
        set_u32(&mut db, 20, 1000);
        assert!(values(&db).is_err());
        set_u32(&mut db, 20, 1 << 30);
        assert!(values(&db).is_err());
    }

    #[test]
    fn cyclic_overflow_chain_skips_the_value_without_hanging() {
        let mut db = fixture();
        for p in pages_of_type(&db, P_OVERFLOW) {
            set_u32(&mut db, p * PAGE + 16, p as u32);
        }
        assert!(values(&db).unwrap().blobs.is_empty());
    }

    #[test]
    fn items_sharing_one_overflow_chain_copy_no_more_than_the_file_size() {
        // Every off-page item made to point at the first value's chain: the hop budget
        // lets the chain be read while pages last, then skips the rest.
        let mut db = fixture();
        let mut offpage_items = Vec::new();
        for p in pages_of_type(&db, P_HASH) {
            let page = &db[p * PAGE..(p + 1) * PAGE];
            let entries = u16::from_le_bytes(page[20..22].try_into().unwrap()) as usize;
            for i in (1..entries).step_by(2) {
                let at = u16::from_le_bytes(page[26 + 2 * i..28 + 2 * i].try_into().unwrap());
                if page[at as usize] == H_OFFPAGE {
                    offpage_items.push(p * PAGE + at as usize);
                }
            }
        }
        assert_eq!(offpage_items.len(), 4);
        let chain = db[offpage_items[0] + 4..offpage_items[0] + 12].to_vec();
        for item in offpage_items {
            db[item + 4..item + 12].copy_from_slice(&chain);
        }
        let found = values(&db).unwrap().blobs;
        assert!(!found.is_empty());
        let copied: usize = found.iter().map(Vec::len).sum();
        assert!(copied <= db.len());
    }

    #[test]
    fn overflow_chain_leaving_the_file_skips_the_value() {
        let mut db = fixture();
        for p in pages_of_type(&db, P_OVERFLOW) {
            set_u32(&mut db, p * PAGE + 16, u32::MAX);
        }
        assert!(values(&db).unwrap().blobs.is_empty());
    }

    #[test]
    fn huge_item_counts_and_lengths_are_bounded() {
        let mut db = fixture();
        for p in pages_of_type(&db, P_HASH) {
            db[p * PAGE + 20..p * PAGE + 22].copy_from_slice(&u16::MAX.to_le_bytes());
        }
        for p in pages_of_type(&db, P_OVERFLOW) {
            db[p * PAGE + 22..p * PAGE + 24].copy_from_slice(&u16::MAX.to_le_bytes());
        }
        assert!(values(&db).unwrap().blobs.is_empty());
    }

    #[test]
    fn truncated_file_gives_an_error_or_fewer_values_never_a_panic() {
        let db = fixture();
        for len in (0..db.len()).step_by(97) {
            if let Ok(found) = values(&db[..len]) {
                assert!(found.blobs.len() <= 4);
            }
        }
    }
}
