//! Layer paths: absolute, `/`-separated, without `.` or `..` components or a trailing
//! slash. The layer root is `/`.

use std::borrow::Cow;

/// Why a path found in a layer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("absolute path")]
    Absolute,
    #[error("path with a `..` component")]
    ParentComponent,
}

/// Turns a tar entry name (`./usr/bin/`, `etc//passwd`) into a layer path.
///
/// Returns `Ok(None)` for the root itself. Absolute names and `..` components are refused
/// rather than confined: the same bytes could be placed differently by whatever unpacked
/// the layer, and a scanner that guesses can be steered.
pub fn from_archive(raw: &[u8]) -> Result<Option<String>, PathError> {
    // Lossy like `OsStr::to_string_lossy` in the snapshot walker, so both sources name a
    // non-UTF-8 file the same way.
    let text = String::from_utf8_lossy(raw);
    if text.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let mut path = String::with_capacity(text.len() + 1);
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(PathError::ParentComponent),
            name => {
                path.push('/');
                path.push_str(name);
            }
        }
    }
    Ok((!path.is_empty()).then_some(path))
}

/// The path of entry `name` in directory `dir`.
pub fn join(dir: &str, name: &str) -> String {
    let mut path = String::with_capacity(dir.len() + 1 + name.len());
    path.push_str(dir);
    if !dir.ends_with('/') {
        path.push('/');
    }
    path.push_str(name);
    path
}

/// Splits a layer path into its directory and last component: `/a/b` → (`/a`, `b`),
/// `/a` → (`/`, `a`).
pub fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => ("/", path),
    }
}

/// The prefix shared by every path strictly below `dir`: `/` for the root, `dir/` else.
pub fn below(dir: &str) -> Cow<'_, str> {
    if dir.ends_with('/') {
        Cow::Borrowed(dir)
    } else {
        Cow::Owned(format!("{dir}/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_become_absolute_clean_paths() {
        assert_eq!(
            from_archive(b"./usr/bin/"),
            Ok(Some("/usr/bin".to_string()))
        );
        assert_eq!(
            from_archive(b"etc//./os-release"),
            Ok(Some("/etc/os-release".to_string()))
        );
        assert_eq!(from_archive(b"./"), Ok(None));
        assert_eq!(from_archive(b"."), Ok(None));
    }

    #[test]
    fn escaping_archive_names_are_refused() {
        assert_eq!(
            from_archive(b"../etc/passwd"),
            Err(PathError::ParentComponent)
        );
        assert_eq!(
            from_archive(b"usr/../../etc/passwd"),
            Err(PathError::ParentComponent)
        );
        assert_eq!(from_archive(b"/etc/passwd"), Err(PathError::Absolute));
    }

    #[test]
    fn split_and_join_are_inverse() {
        assert_eq!(split("/etc/os-release"), ("/etc", "os-release"));
        assert_eq!(split("/etc"), ("/", "etc"));
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/etc", "os-release"), "/etc/os-release");
        assert_eq!(below("/"), "/");
        assert_eq!(below("/usr/lib"), "/usr/lib/");
    }
}
