//! OS identity files as [`OsRelease`] values: text in, no I/O.
//!
//! os-release(5) is parsed by hand: the crates that exist read the host's own
//! `/etc/os-release` from disk, while here the bytes come from a hostile image and must be
//! parsed in memory, with the shell quoting the format allows.

use crate::package::OsRelease;

/// Parses an os-release(5) file. Unknown keys, comments and malformed lines are skipped;
/// a later assignment of the same key wins, as it would in a shell.
pub fn os_release(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let Some(value) = unquote(raw.trim()) else {
            continue;
        };
        match key.trim() {
            "ID" => release.id = non_empty(value),
            "ID_LIKE" => release.id_like = value.split_whitespace().map(str::to_owned).collect(),
            "VERSION_ID" => release.version_id = non_empty(value),
            "VERSION_CODENAME" => release.version_codename = non_empty(value),
            "NAME" => release.name = non_empty(value),
            "PRETTY_NAME" => release.pretty_name = non_empty(value),
            _ => {}
        }
    }
    release
}

/// Undoes the shell quoting os-release(5) allows: `"…"` with `\"`, `\\`, `\$` and `` \` ``
/// escapes, `'…'` verbatim, or a bare word with backslash escapes. `None` when a quote is
/// never closed.
fn unquote(raw: &str) -> Option<String> {
    let mut chars = raw.chars();
    match chars.next() {
        None => Some(String::new()),
        Some('"') => {
            let mut out = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(out),
                    '\\' => match chars.next() {
                        Some(escaped @ ('"' | '\\' | '$' | '`')) => out.push(escaped),
                        // Inside double quotes a backslash before anything else is literal.
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => return None,
                    },
                    other => out.push(other),
                }
            }
            None
        }
        Some('\'') => chars
            .as_str()
            .split_once('\'')
            .map(|(inner, _)| inner.to_owned()),
        Some(_) => {
            let word = raw.split_whitespace().next().unwrap_or_default();
            let mut out = String::with_capacity(word.len());
            let mut chars = word.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
    }
}

/// Parses `/etc/system-release-cpe` (`cpe:/o:centos:linux:6:GA`), the identity file of
/// CentOS 6 and its relatives: the CPE vendor is the id, its version the version id.
pub fn system_release_cpe(text: &str) -> Option<OsRelease> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("cpe:/o:")?;
        let mut parts = rest.split(':');
        let vendor = parts.next().filter(|v| !v.is_empty())?;
        let _product = parts.next()?;
        let version = parts.next().filter(|v| !v.is_empty())?;
        Some(simple_release(vendor, version))
    })
}

/// Parses `/etc/redhat-release` (`CentOS release 6.10 (Final)`), the last resort of old
/// Red Hat family images: the words before `release` name the OS, then `major.minor`.
pub fn redhat_release(text: &str) -> Option<OsRelease> {
    text.lines().find_map(|line| {
        let (name, after) = line.split_once(" release ")?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let after = after.trim_start();
        let major_len = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let (major, rest) = after.split_at(major_len);
        let minor = rest.strip_prefix('.')?;
        let minor = minor
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or_default();
        if major.is_empty() || minor.is_empty() {
            return None;
        }
        Some(simple_release(name, &format!("{major}.{minor}")))
    })
}

/// The longest `/etc/debian_version` line taken seriously; real ones are `12.5` or
/// `trixie/sid`.
const MAX_DEBIAN_VERSION_LEN: usize = 64;

/// Parses `/etc/debian_version`: its first line, as the only field of the result. Whether
/// it is a point release that refines os-release is decided by [`super::resolve`].
pub fn debian_version(text: &str) -> Option<OsRelease> {
    let line = text.lines().next()?.trim();
    if line.is_empty() || line.len() > MAX_DEBIAN_VERSION_LEN {
        return None;
    }
    Some(OsRelease {
        version_id: Some(line.to_owned()),
        ..OsRelease::default()
    })
}

fn simple_release(name: &str, version: &str) -> OsRelease {
    OsRelease {
        id: Some(name.to_lowercase()),
        version_id: Some(version.to_owned()),
        name: Some(name.to_owned()),
        pretty_name: Some(name.to_owned()),
        ..OsRelease::default()
    }
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_quoted_values_lose_quotes_and_keep_escaped_characters() {
        let release = os_release(r#"PRETTY_NAME="My \"OS\" \$HOME \\ 1\x""#);
        assert_eq!(
            release.pretty_name.as_deref(),
            Some(r#"My "OS" $HOME \ 1\x"#)
        );
    }

    #[test]
    fn single_quoted_values_are_verbatim() {
        let release = os_release(r"NAME='Fancy \ OS'");
        assert_eq!(release.name.as_deref(), Some(r"Fancy \ OS"));
    }

    #[test]
    fn comments_blank_lines_and_unterminated_quotes_are_skipped() {
        let text =
            "# a comment\n\nID=arch\n   # indented comment\nNAME=\"never closed\nBROKEN LINE\n";
        let release = os_release(text);
        assert_eq!(release.id.as_deref(), Some("arch"));
        assert_eq!(release.name, None);
    }

    #[test]
    fn a_later_assignment_wins() {
        let release = os_release("ID=first\nID=second\n");
        assert_eq!(release.id.as_deref(), Some("second"));
    }

    #[test]
    fn id_like_is_split_on_whitespace() {
        let release = os_release("ID_LIKE=\"rhel  centos fedora\"\n");
        assert_eq!(release.id_like, ["rhel", "centos", "fedora"]);
    }

    #[test]
    fn empty_values_are_absent() {
        let release = os_release("VERSION_ID=\nID=\"\"\n");
        assert_eq!(release, OsRelease::default());
    }

    #[test]
    fn redhat_release_without_minor_version_is_not_an_identity() {
        assert_eq!(redhat_release("Fedora release 39 (Thirty Nine)"), None);
    }

    #[test]
    fn cpe_that_is_not_an_os_is_not_an_identity() {
        assert_eq!(system_release_cpe("cpe:/a:vendor:product:1.0"), None);
    }

    #[test]
    fn overlong_debian_version_is_ignored() {
        assert_eq!(debian_version(&"9".repeat(65)), None);
    }
}
