//! A version set at link time (`go build -ldflags "-X main.version=1.2.3"`) that the
//! build info does not record: Go leaves `-ldflags` out of it when building with
//! `-trimpath`, as release pipelines do. The value is still in the binary, as the Go
//! string the named variable holds, and the symbol table (kept unless `-s`) says where.
//! Only variables that the ldflags rules of [`super::package::version_from_ldflags`]
//! would accept are read, so a version counts only when it is clearly one: a variable of
//! package `main` or of the main module named like a version, holding `v?N.N.N…`.
//!
//! Read through the `object` crate over a read cache: the section table, the symbol
//! table (bounded below) and a few bytes per candidate, never the whole file.

use std::fs::File;

use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSymbol, ReadRef};

use super::package::version_from_ldflags;
use crate::catalog::elf::{self, Lookup};

/// Largest ELF symbol or string table read (a large Go program has a few MiB of each).
const MAX_TABLE: u64 = 32 << 20;
/// Largest PE or Mach-O file whose symbols are read (no cheap look at their tables).
const MAX_OTHER_FILE: u64 = 256 << 20;
/// Most candidate variables read.
const MAX_CANDIDATES: usize = 32;
/// Longest version string read.
const MAX_VALUE: u64 = 256;

/// The version linked into the variable of `main_module` (or `main`) that names one.
/// `None` when there is none, the binary is stripped, or anything is malformed.
pub fn linked_version(file: &mut File, main_module: &str) -> Option<String> {
    if !tables_within_bounds(file) {
        return None;
    }
    let cache = ReadCache::new(&mut *file);
    let object = object::File::parse(&cache).ok()?;
    let candidates: Vec<(String, u64)> = object
        .symbols()
        .filter_map(|symbol| {
            let name = symbol.name().ok()?;
            // Mach-O prefixes C-visible names with `_`.
            let name = name.strip_prefix('_').unwrap_or(name);
            is_candidate(name, main_module).then(|| (name.to_owned(), symbol.address()))
        })
        .take(MAX_CANDIDATES)
        .collect();
    // The variables as the `-X` flags that set them, for the ldflags rules.
    let flags: String = candidates
        .iter()
        .filter_map(|(name, address)| {
            let value = go_string_at(&object, &cache, *address)?;
            Some(format!(" -X {name}={value}"))
        })
        .collect();
    version_from_ldflags(&flags, main_module)
}

/// An ELF binary's symbol and string tables must be within [`MAX_TABLE`]; other formats
/// within [`MAX_OTHER_FILE`] whole.
fn tables_within_bounds(file: &mut File) -> bool {
    let table_fits = |file: &mut File, name: &str| match elf::find_section(file, name) {
        Ok(Lookup::Found(section)) => section.size <= MAX_TABLE,
        Ok(Lookup::Absent) => true,
        Ok(Lookup::NotElf | Lookup::NoTable) | Err(_) => false,
    };
    match elf::find_section(file, ".symtab") {
        Ok(Lookup::NotElf) => file
            .metadata()
            .is_ok_and(|meta| meta.len() <= MAX_OTHER_FILE),
        Ok(Lookup::Found(section)) => section.size <= MAX_TABLE && table_fits(file, ".strtab"),
        // Stripped (no symbol table): nothing to read.
        Ok(Lookup::Absent | Lookup::NoTable) | Err(_) => false,
    }
}

/// A variable of package `main` or of the main module whose name ends like a version
/// or a tag.
fn is_candidate(name: &str, main_module: &str) -> bool {
    const SUFFIXES: [&str; 6] = ["ver", "Ver", "version", "Version", "tag", "Tag"];
    let in_scope = name.starts_with("main.")
        || (!main_module.is_empty()
            && name
                .strip_prefix(main_module)
                .is_some_and(|rest| rest.starts_with('/')));
    let variable = name.rsplit('.').next().unwrap_or_default();
    in_scope
        && variable.chars().all(|c| c.is_ascii_alphanumeric())
        && SUFFIXES.iter().any(|suffix| variable.ends_with(suffix))
}

/// The Go string held at `address`: a (pointer, length) header of the target's word
/// size and byte order, pointing at its bytes.
fn go_string_at<'data, R: ReadRef<'data>>(
    object: &object::File<'data, R>,
    data: R,
    address: u64,
) -> Option<String> {
    let word: u64 = if object.is_64() { 8 } else { 4 };
    let header = data
        .read_bytes_at(file_offset(object, address, 2 * word)?, 2 * word)
        .ok()?;
    let number = |bytes: &[u8]| -> Option<u64> {
        let mut buffer = [0u8; 8];
        if object.is_little_endian() {
            buffer.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(u64::from_le_bytes(buffer))
        } else {
            buffer.get_mut(8 - bytes.len()..)?.copy_from_slice(bytes);
            Some(u64::from_be_bytes(buffer))
        }
    };
    let (pointer, length) = header.split_at(word as usize);
    let (pointer, length) = (number(pointer)?, number(length)?);
    if length == 0 || length > MAX_VALUE {
        return None;
    }
    let bytes = data
        .read_bytes_at(file_offset(object, pointer, length)?, length)
        .ok()?;
    let text = std::str::from_utf8(bytes).ok()?;
    // A value with spaces could not be one `-X` value; none of a version's.
    (!text.contains(char::is_whitespace)).then(|| text.to_owned())
}

/// Where the `length` bytes at virtual `address` lie in the file, when a section holds
/// them all in the file.
fn file_offset<'data, R: ReadRef<'data>>(
    object: &object::File<'data, R>,
    address: u64,
    length: u64,
) -> Option<u64> {
    object.sections().find_map(|section| {
        let start = section.address();
        let offset = address.checked_sub(start)?;
        let (file_start, file_size) = section.file_range()?;
        (offset.checked_add(length)? <= file_size.min(section.size()))
            .then(|| file_start.checked_add(offset))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_version_variables_of_main_or_the_main_module() {
        let module = "github.com/acme/tool";
        for name in [
            "main.version",
            "main.Version",
            "main.gitTag",
            "github.com/acme/tool/internal/build.Version",
        ] {
            assert!(is_candidate(name, module), "{name}");
        }
        for name in [
            "main.commit",
            "github.com/other/lib.Version",
            "github.com/acme/toolbox/x.Version",
            "main.version.func1",
            "runtime.buildVersion",
        ] {
            assert!(!is_candidate(name, module), "{name}");
        }
    }
}
