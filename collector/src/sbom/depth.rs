//! A reader that refuses JSON nested deeper than a bound.
//!
//! serde_json limits the recursion of typed parsing to 128 levels, but skips unknown
//! fields without any limit (iteratively, one byte of memory per level), so a document
//! could hide a million nested arrays in a field nobody reads. Tracking depth while the
//! bytes pass is a few lines of state (strings and their escapes), cheaper than a second
//! parser, and bounds known and unknown fields alike.

use std::io::{self, Read};

/// Passes the bytes of a JSON document through, failing once brackets nest deeper
/// than `max_depth`.
pub struct DepthLimited<R> {
    inner: R,
    max_depth: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl<R: Read> DepthLimited<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, max_depth: usize) -> Self {
        Self {
            inner,
            max_depth,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    fn scan(&mut self, bytes: &[u8]) -> io::Result<()> {
        for &byte in bytes {
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("JSON nested deeper than {} levels", self.max_depth),
                        ));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for DepthLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.scan(&buf[..read])?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(json: &[u8], max_depth: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        DepthLimited::new(json, max_depth).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let json = br#"{"a":"[[[[{{{{\"[[[","b":[{"c":"\\"}]}"#;
        assert_eq!(read_all(json, 3).unwrap(), json);
    }

    #[test]
    fn nesting_past_the_bound_fails() {
        let err = read_all(br#"{"a":[[[1]]]}"#, 3).unwrap_err();
        assert_eq!(err.to_string(), "JSON nested deeper than 3 levels");
        assert!(read_all(br#"{"a":[[1]],"b":[[2]]}"#, 3).is_ok());
    }
}
