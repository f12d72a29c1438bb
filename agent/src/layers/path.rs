//! Layer paths: absolute, `/`-separated, without `.` or `..` components or a trailing
//! slash. The layer root is `/`.

use std::borrow::Cow;

/// Turns a tar entry name (`./usr/bin/`, `etc//passwd`) into a layer path, placing it
/// where containerd unpacks it.
///
/// Returns `None` for the root itself. containerd cleans the name and roots it in the
/// layer (`pkg/archive` in containerd: `filepath.Clean`, then `fs.RootPath`), so an
/// absolute name is taken as relative to the root and a `..` never climbs above the
/// root: `/etc/passwd` and `../etc/passwd` are both `/etc/passwd`. The same happens
/// here, lexically: nothing outside the layer is ever named. (Symlinks that lower layers
/// put in the parent directories are not resolved; nor does containerd's overlayfs
/// snapshotter, which unpacks a layer into its own directory, resolve them.)
pub fn from_archive(raw: &[u8]) -> Option<String> {
    // Lossy like `OsStr::to_string_lossy` in the snapshot walker, so both sources name a
    // non-UTF-8 file the same way.
    let text = String::from_utf8_lossy(raw);
    let mut components: Vec<&str> = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            name => components.push(name),
        }
    }
    if components.is_empty() {
        return None;
    }
    let mut path = String::with_capacity(text.len() + 1);
    for component in components {
        path.push('/');
        path.push_str(component);
    }
    Some(path)
}

/// The start of a name found in a layer, short enough to be quoted in a note.
pub fn head(name: &str) -> String {
    const SHOWN: usize = 128;
    match name.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
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
        assert_eq!(from_archive(b"./usr/bin/"), Some("/usr/bin".to_string()));
        assert_eq!(
            from_archive(b"etc//./os-release"),
            Some("/etc/os-release".to_string())
        );
        assert_eq!(from_archive(b"./"), None);
        assert_eq!(from_archive(b"."), None);
    }

    #[test]
    fn escaping_archive_names_are_rooted_in_the_layer() {
        let passwd = Some("/etc/passwd".to_string());
        assert_eq!(from_archive(b"../etc/passwd"), passwd);
        assert_eq!(from_archive(b"usr/../../etc/passwd"), passwd);
        assert_eq!(from_archive(b"/etc/passwd"), passwd);
        assert_eq!(from_archive(b"/../../../etc/passwd"), passwd);
        assert_eq!(
            from_archive(b"usr/lib/../bin/x"),
            Some("/usr/bin/x".to_string())
        );
        assert_eq!(from_archive(b"../.."), None);
        assert_eq!(from_archive(b"/"), None);
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
