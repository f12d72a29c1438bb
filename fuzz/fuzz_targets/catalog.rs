//! Every cataloger, as a layer scan calls it: the catalogers that want the file (by path
//! and mode) read its content.
//!
//! Input: one flags byte (bit 0: executable; bit 1: the content is an open file rather
//! than a stream), the file's path inside the image, `\n`, the content.

#![no_main]

use std::io::{Seek, Write};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nodebom_agent::catalog::{self, Cataloger, Content, FileMeta};

/// Longer paths are cut by the layer readers' limits long before a cataloger sees them.
const MAX_PATH_LEN: usize = 4096;

static CATALOGERS: LazyLock<Vec<Box<dyn Cataloger>>> = LazyLock::new(catalog::all);

thread_local! {
    /// One temporary file, rewritten for each input that asks for file content.
    static FILE: std::cell::RefCell<std::fs::File> =
        std::cell::RefCell::new(tempfile::tempfile().expect("a temporary file for the fuzz target"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some(end) = memchr::memchr(b'\n', rest) else {
        return;
    };
    let (path, content) = (&rest[..end], &rest[end + 1..]);
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    if path.len() > MAX_PATH_LEN {
        return;
    }
    let file = FileMeta {
        path,
        size: content.len() as u64,
        mode: if flags & 1 != 0 { 0o755 } else { 0o644 },
    };
    for cataloger in CATALOGERS.iter().filter(|c| c.wants(&file)) {
        if flags & 2 != 0 {
            FILE.with_borrow_mut(|open| {
                open.set_len(0).expect("truncating the temporary file");
                open.rewind().expect("rewinding the temporary file");
                open.write_all(content).expect("writing the temporary file");
                open.rewind().expect("rewinding the temporary file");
                let _ = cataloger.catalog(&file, Content::File(open));
            });
        } else {
            let _ = cataloger.catalog(&file, Content::Stream(&mut &content[..]));
        }
    }
});
