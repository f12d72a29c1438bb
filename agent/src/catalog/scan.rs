//! Bounded, streaming searches of one file's bytes: a [`Window`] that reads a stream in
//! chunks and drops what its user is done with, and on it [`first_matches`], the search
//! for several byte patterns at once that the binary classifiers (and through them the
//! BusyBox OS identity) use. The Go cataloger's scan for its build info header reads
//! through a [`Window`] too.
//!
//! [`first_matches`] reads chunks that overlap by [`MAX_MATCH`] bytes, so memory stays at
//! one chunk whatever the file's size, and each pattern keeps its first match in file
//! order, as a search of the whole file would find it.

use std::io::{self, Read};

use regex::bytes::Regex;

/// Bytes read per step.
const CHUNK: usize = 1 << 20;
/// Longer than any match of the classifiers' patterns (their repetitions are bounded).
/// A match is accepted only when this many bytes from its start are in the buffer, so a
/// match that a chunk boundary cuts is found whole in the next step.
pub const MAX_MATCH: usize = 4096;

/// What a pattern matched: its `version` group, or the whole match without one.
pub type Match = Vec<u8>;

/// The bytes of a stream that have been read and not yet dropped, never more than
/// `limit` bytes read in all.
pub struct Window<'r, R: ?Sized> {
    reader: &'r mut R,
    buf: Vec<u8>,
    /// Bytes that may still be read.
    left: u64,
    ended: bool,
}

impl<'r, R: Read + ?Sized> Window<'r, R> {
    /// An empty window on `reader`, with room for `capacity` bytes before it grows.
    pub fn new(reader: &'r mut R, limit: u64, capacity: usize) -> Self {
        Window {
            reader,
            buf: Vec::with_capacity(capacity),
            left: limit,
            ended: false,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the stream ended or the limit was reached: no more bytes will come.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Reads until the window holds `len` bytes, or until the stream or the limit ends.
    pub fn fill(&mut self, len: usize) -> io::Result<()> {
        let want = (len.saturating_sub(self.buf.len()) as u64).min(self.left);
        let read = (&mut *self.reader).take(want).read_to_end(&mut self.buf)? as u64;
        self.left -= read;
        if read < want || self.left == 0 {
            self.ended = true;
        }
        Ok(())
    }

    /// Drops the first `len` bytes (all of them when there are fewer).
    pub fn consume(&mut self, len: usize) {
        self.buf.drain(..len.min(self.buf.len()));
    }
}

/// Reads at most `limit` bytes of `reader` and returns, for each pattern, its first match.
///
/// `settled` is asked after every chunk with the matches so far; when it answers true the
/// rest of the file is not read. A file longer than `limit` is searched up to `limit`.
pub fn first_matches<R: Read + ?Sized>(
    reader: &mut R,
    patterns: &[&Regex],
    limit: u64,
    settled: impl Fn(&[Option<Match>]) -> bool,
) -> io::Result<Vec<Option<Match>>> {
    let mut found: Vec<Option<Match>> = vec![None; patterns.len()];
    let mut window = Window::new(reader, limit, CHUNK + MAX_MATCH);
    loop {
        window.fill(window.bytes().len() + CHUNK)?;
        let buf = window.bytes();
        // Matches that start before `stable` cannot change with more bytes.
        let stable = if window.ended() {
            buf.len()
        } else {
            buf.len().saturating_sub(MAX_MATCH)
        };
        for (slot, pattern) in found.iter_mut().zip(patterns) {
            if slot.is_some() {
                continue;
            }
            // The leftmost match: when it is not yet stable, no other one is.
            let Some(captures) = pattern.captures(buf) else {
                continue;
            };
            let Some(whole) = captures.get(0) else {
                continue;
            };
            if whole.start() < stable {
                let version = captures.name("version").unwrap_or(whole);
                *slot = Some(version.as_bytes().to_vec());
            }
        }
        if window.ended() || settled(&found) {
            return Ok(found);
        }
        window.consume(stable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `n` bytes per call.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn regex(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap()
    }

    fn text(found: &Option<Match>) -> Option<&str> {
        found.as_deref().map(|m| std::str::from_utf8(m).unwrap())
    }

    #[test]
    fn each_pattern_keeps_its_first_match_in_file_order() {
        let a = regex(r"(?-u)\x00v(?P<version>[0-9]{1,4}\.[0-9]{1,4})\x00");
        let b = regex(r"(?-u)tag-(?P<version>[a-z]{1,8})");
        let data = b"..\x00v1.2\x00..tag-x..\x00v3.4\x00..tag-y";
        let found = first_matches(&mut &data[..], &[&a, &b], 1 << 20, |_| false).unwrap();
        assert_eq!(text(&found[0]), Some("1.2"));
        assert_eq!(text(&found[1]), Some("x"));
    }

    #[test]
    fn match_across_a_chunk_boundary_is_found_whole() {
        let pattern = regex(r"(?-u)OpenSSL (?P<version>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})");
        // Put the match so that every cut point falls inside it once.
        for shift in 0..16 {
            let mut data = vec![b'x'; CHUNK - 8 + shift];
            data.extend_from_slice(b"OpenSSL 3.0.22\x00");
            data.extend(std::iter::repeat_n(b'y', 3 * MAX_MATCH));
            let found =
                first_matches(&mut data.as_slice(), &[&pattern], 1 << 30, |_| false).unwrap();
            assert_eq!(text(&found[0]), Some("3.0.22"), "shift {shift}");
        }
    }

    #[test]
    fn short_reads_find_the_same_as_one_read() {
        let pattern = regex(r"(?-u)v(?P<version>[0-9]{1,4}(?:\.[0-9]{1,4}){1,3})\x00");
        let mut data: Vec<u8> = (0..3 * CHUNK as u32).map(|i| (i % 251) as u8).collect();
        data.extend_from_slice(b"\x00v22.9.0\x00");
        for step in [1 << 20, 65_537, 4096, 7] {
            let mut reader = Dribble(&data, step);
            let found = first_matches(&mut reader, &[&pattern], 1 << 30, |_| false).unwrap();
            assert_eq!(text(&found[0]), Some("22.9.0"), "reads of {step} bytes");
        }
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let pattern = regex(r"(?-u)needle");
        let mut endless = io::repeat(0).take(u64::MAX);
        let found = first_matches(&mut endless, &[&pattern], 3 * CHUNK as u64, |_| false).unwrap();
        assert_eq!(found, [None]);
        // What was left unread is still there.
        let mut next = [1u8; 4];
        endless.read_exact(&mut next).unwrap();
        assert_eq!(endless.limit(), u64::MAX - 3 * CHUNK as u64 - 4);
    }

    #[test]
    fn match_beyond_the_limit_is_not_seen() {
        let pattern = regex(r"(?-u)needle");
        let mut data = vec![0u8; 100];
        data.extend_from_slice(b"needle");
        let found = first_matches(&mut data.as_slice(), &[&pattern], 100, |_| false).unwrap();
        assert_eq!(found, [None]);
    }

    #[test]
    fn settled_answer_stops_the_reading() {
        let pattern = regex(r"(?-u)needle");
        let mut data = b"needle".to_vec();
        data.resize(5 * CHUNK, 0);
        let mut reader = data.as_slice();
        let found = first_matches(&mut reader, &[&pattern], u64::MAX, |found| {
            found.iter().all(Option::is_some)
        })
        .unwrap();
        assert_eq!(text(&found[0]), Some("needle"));
        assert_eq!(reader.len(), 4 * CHUNK);
    }
}
