//! The loose version ordering syft 1.18 uses to choose between a PE's `FileVersion` and
//! `ProductVersion` (anchore's fork of hashicorp's go-version): `v`-prefixed or not,
//! numeric segments (padded to three), an optional `-pre.release` and `+build.meta`.
//! Written here from its documented grammar and ordering, edge cases included, so that
//! the same version is chosen; it is not a general version library.

use std::cmp::Ordering;
use std::num::IntErrorKind;

/// A parsed version. Build metadata is checked but not kept: it never takes part in the
/// ordering.
#[derive(Debug, Clone)]
pub struct LooseVersion {
    segments: Vec<i64>,
    pre: String,
}

/// Characters of pre-release and metadata identifiers.
fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '~'
}

/// Dot-separated, non-empty identifiers.
fn is_ident_list(s: &str) -> bool {
    s.split('.')
        .all(|part| !part.is_empty() && part.chars().all(is_ident_char))
}

impl LooseVersion {
    /// Parses `s` whole (no surrounding spaces allowed); `None` when it is no version.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix('v').unwrap_or(s);
        // Numeric segments: digit runs joined by dots.
        let mut end = 0;
        let bytes = s.as_bytes();
        loop {
            let start = end;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start {
                return None;
            }
            let dot_then_digit =
                bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
            if !dot_then_digit {
                break;
            }
            end += 1;
        }
        let (numeric, rest) = s.split_at(end);
        let mut segments = numeric
            .split('.')
            .map(|segment| segment.parse::<i64>().ok())
            .collect::<Option<Vec<_>>>()?;
        while segments.len() < 3 {
            segments.push(0);
        }

        let (pre, meta) = match rest.split_once('+') {
            Some((pre, meta)) => (pre, Some(meta)),
            None => (rest, None),
        };
        if meta.is_some_and(|meta| !is_ident_list(meta)) {
            return None;
        }
        let pre = if pre.is_empty() {
            ""
        } else if let Some(after_dash) = pre
            .strip_prefix('-')
            .filter(|after| after.chars().next().is_some_and(is_ident_char))
        {
            // `-1.rc`, `-beta`, `--x`: the dash is the separator.
            after_dash
        } else if pre
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '-' || c == '~')
        {
            // `1.0beta`, and a lone `-`, which is then itself the pre-release.
            pre
        } else {
            return None;
        };
        if !pre.is_empty() && !is_ident_list(pre) {
            return None;
        }
        Some(LooseVersion {
            segments,
            pre: pre.to_owned(),
        })
    }
}

impl LooseVersion {
    /// The ordering syft relies on. Not `Ord`: versions that differ (`1.0-beta` and
    /// `1.0.0.0`) can compare equal.
    pub fn compare(&self, other: &Self) -> Ordering {
        if self.segments == other.segments {
            return match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prereleases(&self.pre, &other.pre),
            };
        }
        // Segment lists of different lengths are equal when the longer one only adds
        // zeros; pre-releases are then not looked at.
        let longest = self.segments.len().max(other.segments.len());
        for i in 0..longest {
            match (self.segments.get(i), other.segments.get(i)) {
                (Some(a), Some(b)) => match a.cmp(b) {
                    Ordering::Equal => continue,
                    unequal => return unequal,
                },
                (None, _) => {
                    let rest = other.segments.get(i..).unwrap_or_default();
                    return if rest.iter().all(|s| *s == 0) {
                        Ordering::Equal
                    } else {
                        Ordering::Less
                    };
                }
                (_, None) => {
                    let rest = self.segments.get(i..).unwrap_or_default();
                    return if rest.iter().all(|s| *s == 0) {
                        Ordering::Equal
                    } else {
                        Ordering::Greater
                    };
                }
            }
        }
        Ordering::Equal
    }
}

fn compare_prereleases(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    for i in 0..a.len().max(b.len()) {
        let part_a = a.get(i).copied().unwrap_or_default();
        let part_b = b.get(i).copied().unwrap_or_default();
        match compare_part(part_a, part_b) {
            Ordering::Equal => continue,
            unequal => return unequal,
        }
    }
    Ordering::Equal
}

/// An identifier as a signed integer, with the value Go's parser reports alongside its
/// error (the saturated bound when out of range), which the ordering below still uses.
fn numeric(part: &str) -> (bool, i64) {
    match part.parse::<i64>() {
        Ok(n) => (true, n),
        Err(err) => match err.kind() {
            IntErrorKind::PosOverflow => (false, i64::MAX),
            IntErrorKind::NegOverflow => (false, i64::MIN),
            _ => (false, 0),
        },
    }
}

/// One pre-release identifier against another: a missing one is lower, numbers are
/// lower than words. The ordering is not symmetric in every corner (`01` against `1`),
/// and is kept so.
fn compare_part(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.is_empty() {
        return Ordering::Less;
    }
    if b.is_empty() {
        return Ordering::Greater;
    }
    let (a_numeric, a_value) = numeric(a);
    let (b_numeric, b_value) = numeric(b);
    match (a_numeric, b_numeric) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) if a > b => Ordering::Greater,
        _ if a_value > b_value => Ordering::Greater,
        _ => Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> LooseVersion {
        LooseVersion::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn versions_of_version_resources_parse() {
        for s in [
            "1",
            "8.0.124.61010",
            "v1.2.3",
            "3.0.1+b86b61bf676163639795b163d8d753b20aad6207",
            "3.1.0-beta.2",
            "1.0beta",
            "1.0-",
            "2.0.0-rc.1+build.5",
        ] {
            assert!(LooseVersion::parse(s).is_some(), "{s}");
        }
    }

    #[test]
    fn non_versions_do_not_parse() {
        for s in [
            "",
            "A",
            "1, 0, 0, 0",
            " 1.0",
            "1.0 ",
            "1.",
            "1..2",
            "1.0+",
            "1.0+a+b",
            "1.0-a..b",
            "99999999999999999999",
            "c61f043686a544863efc014114c42e844f905336",
            "vv1",
        ] {
            assert!(LooseVersion::parse(s).is_none(), "{s}");
        }
    }

    fn order(a: &str, b: &str) -> Ordering {
        v(a).compare(&v(b))
    }

    #[test]
    fn ordering_pads_segments_and_ignores_build_metadata() {
        use Ordering::{Equal, Greater};
        assert_eq!(order("3.0.0", "3.0.0.0"), Equal);
        assert_eq!(order("3", "3.0.0"), Equal);
        assert_eq!(order("3.0.1+abc", "3.0.1+def"), Equal);
        assert_eq!(order("3.0.1+b86b61b", "3.0.0.0"), Greater);
        assert_eq!(order("8.0.124.61010", "8.0.1+c61f043"), Greater);
        assert_eq!(order("80.1.7.92", "80.1.7"), Greater);
        assert_eq!(order("1.10", "1.9.9"), Greater);
    }

    #[test]
    fn pre_releases_order_below_releases_unless_segment_counts_differ() {
        use Ordering::{Equal, Less};
        assert_eq!(order("1.2.3-beta", "1.2.3"), Less);
        assert_eq!(order("1.2.3-beta.2", "1.2.3-beta.10"), Less);
        assert_eq!(order("1.2.3-alpha", "1.2.3-beta"), Less);
        assert_eq!(order("1.2.3-1", "1.2.3-alpha"), Less);
        assert_eq!(order("1.2.3-beta", "1.2.3-beta.1"), Less);
        // Jagged segment lists compare equal without looking at the pre-release.
        assert_eq!(order("3.1.0-beta.2", "3.1.0.0"), Equal);
    }
}
