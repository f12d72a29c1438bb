//! Go build info bytes → records. No I/O.
//!
//! The Go linker writes a 32-byte header (`\xff Go buildinf:`, pointer size, flags),
//! 16-byte aligned, into the `.go.buildinfo` section of every binary it links. Since
//! Go 1.18 (flags bit 2) the header is followed inline by two uvarint-length-prefixed
//! strings: the toolchain version and the module info text, which `runtime/debug`
//! writes and `debug.ParseBuildInfo` reads. Older binaries hold pointers to those strings
//! instead. No maintained Rust crate reads this format (Go's own `debug/buildinfo` is the
//! reference), so it is written here.

/// The magic that starts the build info header.
pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// The header is aligned to this many bytes in the file.
pub const ALIGN: usize = 16;
const HEADER_SIZE: usize = 32;
/// Flags bit set by Go ≥ 1.18: the strings follow the header inline.
const FLAG_INLINE: u8 = 2;
/// Longest uvarint encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;
/// `cmd/go` frames the module info between two 16-byte sentinels.
const SENTINEL_LEN: usize = 16;

/// A Go module as the build info records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    /// `v1.2.3`, a pseudo-version, `(devel)`, or empty (local replacements).
    pub version: String,
    /// `h1:` checksum; empty for vendored builds and local replacements.
    pub sum: String,
    /// What a `replace` directive substituted for this module.
    pub replace: Option<Box<Module>>,
}

/// The build info of a Go ≥ 1.18 binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.22.1`, possibly followed by ` X:<experiments>`.
    pub go_version: String,
    /// Import path of the main package.
    pub path: String,
    /// The main module (`mod` line), absent in GOPATH-mode builds.
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` lines: `-ldflags`, `GOARCH`, `GOOS`, `vcs.revision`…, in order.
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// The value of the first build setting named `key`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a build info header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    Inline(BuildInfo),
    /// Go < 1.18: the strings are elsewhere in the binary, behind pointers.
    PointerBased,
}

/// Why bytes that start with the magic are not usable build info.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildInfoError {
    #[error("magic not followed by a build info header")]
    NotAHeader,
    #[error("build info needs {needed} bytes, {available} available")]
    Truncated { needed: u64, available: usize },
    #[error("string length is not a valid uvarint")]
    BadVarint,
    #[error("empty Go version")]
    NoGoVersion,
    #[error("Go version is not UTF-8")]
    NotUtf8,
    #[error("module info line {line}: {reason}")]
    BadModInfo { line: usize, reason: &'static str },
}

/// Decodes the build info whose header starts at `data[0]`. `data` may run past the end
/// of the build info; its strings must lie within it.
pub fn parse_blob(data: &[u8]) -> Result<Blob, BuildInfoError> {
    let header = data.get(..HEADER_SIZE).ok_or(BuildInfoError::Truncated {
        needed: HEADER_SIZE as u64,
        available: data.len(),
    })?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (ptr_size, flags) = match rest {
        [ptr_size, flags, ..] => (*ptr_size, *flags),
        _ => return Err(BuildInfoError::NotAHeader),
    };
    if magic != MAGIC || !matches!(ptr_size, 4 | 8) {
        return Err(BuildInfoError::NotAHeader);
    }
    if flags & FLAG_INLINE == 0 {
        // The flags byte is then the byte order: 0 little, 1 big.
        return match flags {
            0 | 1 => Ok(Blob::PointerBased),
            _ => Err(BuildInfoError::NotAHeader),
        };
    }
    let (go_version, at) = read_string(data, HEADER_SIZE)?;
    let (modinfo, _) = read_string(data, at)?;
    if go_version.is_empty() {
        return Err(BuildInfoError::NoGoVersion);
    }
    let go_version = std::str::from_utf8(go_version).map_err(|_| BuildInfoError::NotUtf8)?;
    parse_modinfo(go_version, modinfo).map(Blob::Inline)
}

/// Reads a uvarint-length-prefixed string at `at`; returns it and the offset after it.
fn read_string(data: &[u8], at: usize) -> Result<(&[u8], usize), BuildInfoError> {
    let rest = data.get(at..).unwrap_or_default();
    let (len, varint_len) = read_uvarint(rest).ok_or_else(|| {
        if rest.len() < MAX_VARINT_LEN && rest.iter().all(|b| b & 0x80 != 0) {
            BuildInfoError::Truncated {
                needed: (at + rest.len() + 1) as u64,
                available: data.len(),
            }
        } else {
            BuildInfoError::BadVarint
        }
    })?;
    let start = at + varint_len;
    let truncated = BuildInfoError::Truncated {
        needed: (start as u64).saturating_add(len),
        available: data.len(),
    };
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .ok_or(truncated.clone())?;
    let string = data.get(start..end).ok_or(truncated)?;
    Ok((string, end))
}

/// Decodes an unsigned LEB128 varint (Go's `binary.Uvarint`): the value and its length,
/// or `None` when it is unterminated or overflows 64 bits.
fn read_uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(MAX_VARINT_LEN).enumerate() {
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Parses the module info text (`path`, `mod`, `dep`, `=>`, `build` lines) the way
/// `debug.ParseBuildInfo` does: unknown lines are skipped, a final line without a
/// newline is ignored, and structural errors fail the whole text.
pub fn parse_modinfo(go_version: &str, framed: &[u8]) -> Result<BuildInfo, BuildInfoError> {
    let mut info = BuildInfo {
        go_version: go_version.to_owned(),
        ..BuildInfo::default()
    };
    // Go treats text without the framing as no module info at all.
    let text = match framed
        .len()
        .checked_sub(SENTINEL_LEN + 1)
        .and_then(|i| framed.get(i))
    {
        Some(b'\n') if framed.len() > 2 * SENTINEL_LEN => framed
            .get(SENTINEL_LEN..framed.len() - SENTINEL_LEN)
            .unwrap_or_default(),
        _ => return Ok(info),
    };

    /// Which module a `=>` line replaces.
    enum Last {
        None,
        Main,
        Dep(usize),
    }
    let mut last = Last::None;
    let mut rest = text;
    let mut line_no = 0;
    while let Some(newline) = memchr::memchr(b'\n', rest) {
        let (line, tail) = rest.split_at(newline);
        rest = tail.get(1..).unwrap_or_default();
        line_no += 1;
        let bad = |reason| BuildInfoError::BadModInfo {
            line: line_no,
            reason,
        };
        let line = std::str::from_utf8(line).map_err(|_| bad("not UTF-8"))?;
        if let Some(path) = line.strip_prefix("path\t") {
            path.clone_into(&mut info.path);
        } else if let Some(fields) = line.strip_prefix("mod\t") {
            info.main = Some(module_line(fields).ok_or(bad("expected 2 or 3 columns"))?);
            last = Last::Main;
        } else if let Some(fields) = line.strip_prefix("dep\t") {
            info.deps
                .push(module_line(fields).ok_or(bad("expected 2 or 3 columns"))?);
            last = Last::Dep(info.deps.len() - 1);
        } else if let Some(fields) = line.strip_prefix("=>\t") {
            let mut columns = fields.split('\t');
            let (Some(path), Some(version), Some(sum), None) = (
                columns.next(),
                columns.next(),
                columns.next(),
                columns.next(),
            ) else {
                return Err(bad("expected 3 columns for replacement"));
            };
            let replaced = match last {
                Last::None => return Err(bad("replacement with no module on previous line")),
                Last::Main => info.main.as_mut(),
                Last::Dep(i) => info.deps.get_mut(i),
            };
            if let Some(replaced) = replaced {
                replaced.replace = Some(Box::new(Module {
                    path: path.to_owned(),
                    version: version.to_owned(),
                    sum: sum.to_owned(),
                    replace: None,
                }));
            }
            last = Last::None;
        } else if let Some(setting) = line.strip_prefix("build\t") {
            info.settings.push(build_setting(setting).map_err(bad)?);
        }
    }
    Ok(info)
}

/// `path \t version [\t sum]`.
fn module_line(fields: &str) -> Option<Module> {
    let mut columns = fields.split('\t');
    let (path, version, sum) = (
        columns.next()?,
        columns.next()?,
        columns.next().unwrap_or_default(),
    );
    if columns.next().is_some() {
        return None;
    }
    Some(Module {
        path: path.to_owned(),
        version: version.to_owned(),
        sum: sum.to_owned(),
        replace: None,
    })
}

/// `key=value`, where `cmd/go` quotes a key or value (Go syntax) when it holds spaces,
/// tabs, quotes, `=` (keys) or newlines.
fn build_setting(kv: &str) -> Result<(String, String), &'static str> {
    let (key, raw_value) = match kv.as_bytes().first() {
        None => return Err("build line missing '='"),
        Some(b'=') => return Err("build line with missing key"),
        Some(b'"' | b'`') => {
            let (key, rest) = quoted_prefix(kv).ok_or("invalid quoted key in build line")?;
            let raw_value = rest.strip_prefix('=').ok_or("no '=' after quoted key")?;
            (key, raw_value)
        }
        Some(_) => {
            let (key, raw_value) = kv.split_once('=').ok_or("build line missing '='")?;
            if key.contains([' ', '\t', '\r', '\n', '"', '`']) {
                return Err("unquoted key must be quoted");
            }
            (key.to_owned(), raw_value)
        }
    };
    let value = match raw_value.as_bytes().first() {
        Some(b'"' | b'`') => match quoted_prefix(raw_value) {
            Some((value, "")) => value,
            _ => return Err("invalid quoted value in build line"),
        },
        _ => {
            if raw_value.contains([' ', '\t', '\r', '\n', '"', '`']) {
                return Err("unquoted value must be quoted");
            }
            raw_value.to_owned()
        }
    };
    Ok((key, value))
}

/// Unquotes the Go string literal (`"…"` with escapes, or `` `…` `` raw) at the start of
/// `s`; returns it and what follows. Escapes yielding bytes that are not UTF-8 become
/// U+FFFD.
fn quoted_prefix(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    if quote == '`' {
        let end = s.get(1..)?.find('`')? + 1;
        let raw = s.get(1..end)?;
        return Some((raw.replace('\r', ""), s.get(end + 1..)?));
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4];
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((String::from_utf8_lossy(&out).into_owned(), s.get(i + 1..)?)),
            '\n' => return None,
            '\\' => {
                let (_, escape) = chars.next()?;
                match escape {
                    'a' => out.push(0x07),
                    'b' => out.push(0x08),
                    'f' => out.push(0x0c),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(0x0b),
                    '\\' | '"' => out.push(escape as u8),
                    'x' => out.push(u8::try_from(hex_digits(&mut chars, 2)?).ok()?),
                    'u' | 'U' => {
                        let c = char::from_u32(hex_digits(
                            &mut chars,
                            if escape == 'u' { 4 } else { 8 },
                        )?)?;
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    '0'..='7' => {
                        let mut value = escape.to_digit(8)?;
                        for _ in 0..2 {
                            value = value * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        out.push(u8::try_from(value).ok()?);
                    }
                    _ => return None,
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    None
}

fn hex_digits(chars: &mut std::str::CharIndices<'_>, count: usize) -> Option<u32> {
    (0..count).try_fold(0u32, |value, _| {
        Some(value * 16 + chars.next()?.1.to_digit(16)?)
    })
}

/// The first `MAGIC` in `data` at an offset that is a multiple of [`ALIGN`], searching
/// from `from`. `data[0]` must itself be aligned.
pub fn find_magic(data: &[u8], from: usize) -> Option<usize> {
    let haystack = data.get(from..)?;
    memchr::memmem::find_iter(haystack, MAGIC)
        .map(|i| i + from)
        .find(|i| i % ALIGN == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/golang/testdata/usr/local/bin/hello"
    );

    /// The build info blob of the fixture binary: from its magic to the end of the file.
    fn hello_blob() -> Vec<u8> {
        let bytes = std::fs::read(HELLO).unwrap();
        let at = find_magic(&bytes, 0).unwrap();
        bytes[at..].to_vec()
    }

    fn inline(blob: &[u8]) -> BuildInfo {
        match parse_blob(blob).unwrap() {
            Blob::Inline(info) => info,
            Blob::PointerBased => panic!("pointer-based"),
        }
    }

    /// Values as `go version -m` prints them for the fixture (see testdata/make-hello.sh).
    #[test]
    fn build_info_written_by_go_1_19_is_read_whole() {
        let info = inline(&hello_blob());
        assert_eq!(info.go_version, "go1.19.8");
        assert_eq!(info.path, "example.com/hello");
        let module = |path: &str, version: &str| Module {
            path: path.into(),
            version: version.into(),
            sum: String::new(),
            replace: None,
        };
        assert_eq!(info.main, Some(module("example.com/hello", "(devel)")));
        let mut color = module("example.com/color", "v0.4.0");
        color.replace = Some(Box::new(module("example.com/color-fork", "v0.4.1")));
        assert_eq!(info.deps, [color, module("example.com/greet", "v1.2.3")]);
        assert_eq!(
            info.setting("-ldflags"),
            Some("-s -w -X main.version=1.5.0")
        );
        assert_eq!(info.setting("GOARCH"), Some("amd64"));
        assert_eq!(info.setting("GOOS"), Some("linux"));
        assert_eq!(info.setting("CGO_CFLAGS"), Some(""));
        assert_eq!(
            info.setting("vcs.revision"),
            Some("0d0441c09a3ad2799c2f58d6d599d94855f4f469")
        );
        assert_eq!(info.setting("vcs.time"), Some("2024-05-06T07:08:09Z"));
        assert_eq!(info.settings.len(), 14);
    }

    #[test]
    fn every_truncation_of_the_build_info_is_an_error() {
        let blob = hello_blob();
        let Blob::Inline(_) = parse_blob(&blob).unwrap() else {
            panic!()
        };
        // Where the module info string ends: the header, two varints and two strings.
        let (_, at) = read_string(&blob, HEADER_SIZE).unwrap();
        let (_, end) = read_string(&blob, at).unwrap();
        for len in 0..end {
            assert!(
                matches!(
                    parse_blob(&blob[..len]),
                    Err(BuildInfoError::Truncated { .. })
                ),
                "truncated to {len} bytes"
            );
        }
        assert!(parse_blob(&blob[..end]).is_ok());
    }

    #[test]
    fn huge_string_lengths_are_errors() {
        let mut blob = hello_blob()[..HEADER_SIZE].to_vec();
        // u64::MAX, then a varint that overflows 64 bits, then one that never ends.
        let cases: [&[u8]; 3] = [
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[0x80; 64],
        ];
        let base = blob.len();
        for case in cases {
            blob.truncate(base);
            blob.extend_from_slice(case);
            assert!(parse_blob(&blob).is_err(), "{case:x?}");
        }
        blob.truncate(base);
        blob.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            parse_blob(&blob),
            Err(BuildInfoError::Truncated {
                needed: u64::MAX,
                available: blob.len()
            })
        );
    }

    #[test]
    fn go_1_17_header_is_pointer_based() {
        // The header layout of Go < 1.18: two 8-byte little-endian pointers, no strings.
        let mut blob = MAGIC.to_vec();
        blob.extend_from_slice(&[8, 0]);
        blob.extend_from_slice(&0x5a_8000u64.to_le_bytes());
        blob.extend_from_slice(&0x5a_8010u64.to_le_bytes());
        assert_eq!(parse_blob(&blob), Ok(Blob::PointerBased));
    }

    #[test]
    fn magic_without_a_header_is_not_build_info() {
        // The literal `debug/buildinfo` compiles into its users, followed by anything.
        let mut blob = MAGIC.to_vec();
        blob.extend_from_slice(b"no pointer size here");
        assert_eq!(parse_blob(&blob), Err(BuildInfoError::NotAHeader));
    }

    #[test]
    fn module_info_without_sentinels_is_empty() {
        let info = parse_modinfo("go1.21.0", b"path\texample.com/x\n").unwrap();
        assert_eq!(
            info,
            BuildInfo {
                go_version: "go1.21.0".into(),
                ..BuildInfo::default()
            }
        );
    }

    fn framed(text: &str) -> Vec<u8> {
        let mut framed = vec![b'S'; SENTINEL_LEN];
        framed.extend_from_slice(text.as_bytes());
        framed.extend_from_slice(&[b'E'; SENTINEL_LEN]);
        framed
    }

    #[test]
    fn replacement_without_a_module_fails_the_module_info() {
        let text = "path\tx\n=>\texample.com/y\tv1.0.0\t\n";
        assert_eq!(
            parse_modinfo("go1.21.0", &framed(text)),
            Err(BuildInfoError::BadModInfo {
                line: 2,
                reason: "replacement with no module on previous line"
            })
        );
    }

    #[test]
    fn quoted_build_settings_are_unquoted_like_go() {
        // Lines as cmd/go writes them (strconv.Quote) when values need quoting.
        let text = concat!(
            "build\t-ldflags=\"-X main.v=1 -extldflags '-static'\"\n",
            "build\t-tags=`a,b`\n",
            "build\t\"we\\tird\"=\"\\x41\\u00e9\\101\"\n",
            "build\tCGO_CFLAGS=\n",
        );
        let info = parse_modinfo("go1.21.0", &framed(text)).unwrap();
        assert_eq!(
            info.settings,
            [
                (
                    "-ldflags".into(),
                    "-X main.v=1 -extldflags '-static'".into()
                ),
                ("-tags".into(), "a,b".into()),
                ("we\tird".into(), "AéA".into()),
                ("CGO_CFLAGS".into(), String::new()),
            ]
        );
    }

    #[test]
    fn badly_quoted_build_settings_fail_the_module_info() {
        for line in [
            "build\t-ldflags=\"-s -w\n",
            "build\t-ldflags=-s -w\n",
            "build\t=x\n",
            "build\tGOOS\n",
            "build\t-x=\"a\\q\"\n",
        ] {
            assert!(
                matches!(
                    parse_modinfo("go1.21.0", &framed(line)),
                    Err(BuildInfoError::BadModInfo { line: 1, .. })
                ),
                "{line:?}"
            );
        }
    }

    #[test]
    fn magic_is_found_only_at_aligned_offsets() {
        let mut data = vec![0u8; 64];
        data[8..22].copy_from_slice(MAGIC);
        assert_eq!(find_magic(&data, 0), None);
        data[32..46].copy_from_slice(MAGIC);
        assert_eq!(find_magic(&data, 0), Some(32));
        assert_eq!(find_magic(&data, 33), None);
    }
}
