//! Committed overlayfs snapshot directories: one layer's diff, already unpacked by
//! containerd, read without decompressing anything.
//!
//! The walk goes through directory file descriptors (`openat`/`fstatat` relative to the
//! parent, `O_NOFOLLOW` everywhere), so a symlink inside the layer is never followed, not
//! even one swapped in while walking. Entries are visited in byte order of their names,
//! so two walks of the same layer give the same events.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{path, LayerSource, LayerVisitor, Limits};
use crate::catalog::{Content, FileMeta};
use crate::{Error, Result};

/// Where overlayfs marks an opaque directory: `trusted.*` normally, `user.*` when the
/// snapshotter mounts with `userxattr` (rootless).
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// One overlayfs lowerdir (`…/snapshots/<N>/fs`) as a layer.
///
/// Overlayfs formats whiteouts as character devices 0:0 and opaque directories as an
/// xattr; both are reported like their OCI counterparts. Reading `trusted.*` xattrs needs
/// `CAP_SYS_ADMIN`: without it the kernel hides them and opaque directories look plain.
///
/// ```no_run
/// use nodebom_agent::layers::{snapshot::SnapshotLayer, Limits};
/// let layer = SnapshotLayer::new(
///     "sha256:<diffID>",
///     "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs",
///     Limits::default(),
/// );
/// ```
pub struct SnapshotLayer {
    diff_id: String,
    root: PathBuf,
    limits: Limits,
    /// When set, only these absolute paths (and what is below them) are walked.
    scope: Option<&'static [&'static str]>,
}

impl SnapshotLayer {
    /// `root` is the snapshot's `fs` directory, as a mount's `lowerdir` names it.
    pub fn new(diff_id: impl Into<String>, root: impl Into<PathBuf>, limits: Limits) -> Self {
        SnapshotLayer {
            diff_id: diff_id.into(),
            root: root.into(),
            limits,
            scope: None,
        }
    }

    /// Walks only `paths` (absolute, normalised) and what is below them; the directories
    /// above them are listed to reach them and nothing else in them is reported. Used to
    /// read a bounded part of a host's root file system.
    pub fn within(mut self, paths: &'static [&'static str]) -> Self {
        self.scope = Some(paths);
        self
    }

    /// Whether the walk goes to `path`: always without a scope; with one, when it is in
    /// the scope or, for a directory, on the way to it.
    fn in_scope(&self, path: &str, is_dir: bool) -> bool {
        let Some(scope) = self.scope else {
            return true;
        };
        scope.iter().any(|allowed| {
            path == *allowed
                || path.starts_with(&*path::below(allowed))
                || (is_dir && allowed.starts_with(&*path::below(path)))
        })
    }

    fn io_error(&self, path: &str, err: impl Into<std::io::Error>) -> Error {
        let relative = path.trim_start_matches('/');
        Error::Io {
            path: if relative.is_empty() {
                self.root.clone()
            } else {
                self.root.join(relative)
            },
            source: err.into(),
        }
    }

    fn limit_exceeded(&self, limit: String) -> Error {
        Error::LimitExceeded {
            diff_id: self.diff_id.clone(),
            limit,
        }
    }

    /// Opens a directory of the layer, reports it if opaque and lists it, sorted.
    fn open_dir(
        &self,
        fd: OwnedFd,
        path: String,
        depth: usize,
        walk: &mut Walk<'_>,
    ) -> Result<Frame> {
        if is_opaque(&fd).map_err(|e| self.io_error(&path, e))? {
            walk.visitor.opaque(&path);
        }
        let mut entries = Vec::new();
        for entry in Dir::read_from(&fd).map_err(|e| self.io_error(&path, e))? {
            let entry = entry.map_err(|e| self.io_error(&path, e))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            walk.entries += 1;
            if walk.entries > self.limits.max_entries {
                return Err(self.limit_exceeded(format!(
                    "more than {} entries (max_entries)",
                    self.limits.max_entries
                )));
            }
            entries.push((name.to_owned(), entry.file_type()));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Frame {
            fd,
            path,
            depth,
            entries: entries.into_iter(),
        })
    }

    /// Reports one entry of `dir`; returns the directory to descend into, if it is one.
    fn visit(
        &self,
        dir: &Frame,
        name: &CString,
        listed_type: FileType,
        walk: &mut Walk<'_>,
    ) -> Result<Option<Frame>> {
        let path = path::join(&dir.path, &name.to_string_lossy());
        // Over a bound: this entry (and, for a directory, what is below it) is skipped,
        // and the rest of the layer still read.
        if path.len() > self.limits.max_path_len {
            let why = format!("path longer than {} bytes", self.limits.max_path_len);
            walk.visitor.skipped(&path::head(&path), &why);
            return Ok(None);
        }
        let stat = || {
            rustix::fs::statat(&dir.fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| self.io_error(&path, e))
        };
        // `Unknown` when the file system does not fill in `d_type`.
        let file_type = match listed_type {
            FileType::Unknown => FileType::from_raw_mode(stat()?.st_mode),
            known => known,
        };
        if !self.in_scope(&path, file_type == FileType::Directory) {
            return Ok(None);
        }
        match file_type {
            FileType::Directory => {
                if dir.depth >= self.limits.max_depth {
                    let why = format!(
                        "directory nested more than {} deep, not walked",
                        self.limits.max_depth
                    );
                    walk.visitor.skipped(&path::head(&path), &why);
                    return Ok(None);
                }
                let fd = rustix::fs::openat(
                    &dir.fd,
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.io_error(&path, e))?;
                return self.open_dir(fd, path, dir.depth + 1, walk).map(Some);
            }
            FileType::RegularFile => {
                let stat = stat()?;
                let meta = FileMeta {
                    path: &path,
                    size: u64::try_from(stat.st_size).unwrap_or(0),
                    mode: stat.st_mode & 0o7777,
                };
                if !walk.visitor.wants(&meta) {
                    walk.visitor.other(&path);
                    return Ok(None);
                }
                match self.open_regular(dir, name, &path)? {
                    Some(mut file) => walk.visitor.file(&meta, Content::File(&mut file))?,
                    None => {
                        walk.visitor.other(&path);
                        walk.visitor
                            .skipped(&path, "no longer a regular file when opened");
                    }
                }
            }
            FileType::CharacterDevice if stat()?.st_rdev == 0 => walk.visitor.whiteout(&path),
            _ => walk.visitor.other(&path),
        }
        Ok(None)
    }

    /// Opens a regular file without following a link and without blocking on a FIFO;
    /// `None` when what is there now is no longer a regular file.
    fn open_regular(&self, dir: &Frame, name: &CString, path: &str) -> Result<Option<File>> {
        let opened = rustix::fs::openat(
            &dir.fd,
            name.as_c_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let fd = match opened {
            Ok(fd) => fd,
            // A symlink swapped in after the listing.
            Err(Errno::LOOP) => return Ok(None),
            Err(e) => return Err(self.io_error(path, e)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| self.io_error(path, e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Ok(None);
        }
        Ok(Some(File::from(fd)))
    }
}

/// State of one walk.
struct Walk<'v> {
    visitor: &'v mut dyn LayerVisitor,
    entries: u64,
}

/// A directory being walked: its descriptor and the entries not visited yet.
struct Frame {
    fd: OwnedFd,
    path: String,
    depth: usize,
    entries: std::vec::IntoIter<(CString, FileType)>,
}

impl LayerSource for SnapshotLayer {
    fn diff_id(&self) -> &str {
        &self.diff_id
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn walk(&mut self, visitor: &mut dyn LayerVisitor) -> Result<()> {
        // The root itself comes from containerd's mount, not from the layer: it may sit
        // behind a link the node's administrator made.
        let root = rustix::fs::open(
            &self.root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io_error("/", e))?;
        let mut walk = Walk {
            visitor,
            entries: 0,
        };
        // Depth-first with an explicit stack, so a deep tree cannot overflow ours; the
        // stack holds at most `max_depth` open directories.
        let mut stack = vec![self.open_dir(root, "/".to_string(), 0, &mut walk)?];
        while let Some(frame) = stack.last_mut() {
            let Some((name, file_type)) = frame.entries.next() else {
                stack.pop();
                continue;
            };
            if let Some(child) = self.visit(frame, &name, file_type, &mut walk)? {
                stack.push(child);
            }
        }
        Ok(())
    }
}

fn is_opaque(dir: &OwnedFd) -> std::io::Result<bool> {
    for name in OPAQUE_XATTRS {
        // One byte more than "y", to tell "y" from longer values.
        let mut value = [0u8; 2];
        match rustix::fs::fgetxattr(dir, name, &mut value) {
            Ok(len) if value.get(..len) == Some(b"y".as_slice()) => return Ok(true),
            // Absent, longer than "y", or a file system without xattrs: not opaque.
            Ok(_) | Err(Errno::NODATA | Errno::RANGE | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;
    use crate::layers::testutil::{Event, Recorder};

    fn mknod(dir: &std::path::Path, name: &str, file_type: FileType, major: u32, minor: u32) {
        let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        rustix::fs::mknodat(
            &fd,
            name,
            file_type,
            Mode::from_raw_mode(0o644),
            rustix::fs::makedev(major, minor),
        )
        .unwrap();
    }

    fn set_opaque(dir: &std::path::Path, xattr: &str) {
        rustix::fs::setxattr(dir, xattr, b"y", rustix::fs::XattrFlags::empty()).unwrap();
    }

    fn write(root: &std::path::Path, path: &str, data: &[u8]) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, data).unwrap();
    }

    fn walk(root: &std::path::Path, limits: Limits) -> Result<Vec<Event>> {
        let mut layer = SnapshotLayer::new("sha256:test", root, limits);
        let mut recorder = Recorder::wanting(".pkg");
        layer.walk(&mut recorder)?;
        Ok(recorder.events)
    }

    /// Whiteouts are character devices and opaque markers `trusted.` xattrs, as overlayfs
    /// writes them: making them needs root (`as_root_` names such tests).
    #[test]
    fn as_root_overlay_whiteouts_and_opaque_dirs_become_events() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "usr/share/a.pkg", b"alpha 1.0\n");
        write(root, "usr/share/readme.txt", b"not wanted");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        mknod(
            &root.join("etc"),
            "old.pkg",
            FileType::CharacterDevice,
            0,
            0,
        );
        mknod(
            &root.join("etc"),
            "tty0.pkg",
            FileType::CharacterDevice,
            4,
            0,
        );
        write(root, "var/lib/new.pkg", b"beta 2\n");
        set_opaque(&root.join("var/lib"), "trusted.overlay.opaque");
        std::fs::create_dir_all(root.join("opt")).unwrap();
        set_opaque(&root.join("opt"), "user.overlay.opaque");

        assert_eq!(
            walk(root, Limits::default()).unwrap(),
            vec![
                Event::Whiteout("/etc/old.pkg".into()),
                Event::Other("/etc/tty0.pkg".into()),
                Event::Opaque("/opt".into()),
                Event::File("/usr/share/a.pkg".into(), b"alpha 1.0\n".to_vec()),
                Event::Other("/usr/share/readme.txt".into()),
                Event::Opaque("/var/lib".into()),
                Event::File("/var/lib/new.pkg".into(), b"beta 2\n".to_vec()),
            ]
        );
    }

    #[test]
    fn symlinks_fifos_and_sockets_are_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.pkg", b"secret 1\n");
        // A link out of the layer, to a file and to a directory.
        symlink(outside.path().join("secret.pkg"), root.join("link.pkg")).unwrap();
        symlink(outside.path(), root.join("linkdir")).unwrap();
        mknod(root, "fifo.pkg", FileType::Fifo, 0, 0);
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock.pkg")).unwrap();

        assert_eq!(
            walk(root, Limits::default()).unwrap(),
            vec![
                Event::Other("/fifo.pkg".into()),
                Event::Other("/link.pkg".into()),
                Event::Other("/linkdir".into()),
                Event::Other("/sock.pkg".into()),
            ]
        );
    }

    #[test]
    fn regular_file_metadata_comes_from_lstat() {
        struct Modes(Vec<(String, u64, u32)>);
        impl LayerVisitor for Modes {
            fn wants(&mut self, file: &FileMeta<'_>) -> bool {
                self.0.push((file.path.to_string(), file.size, file.mode));
                false
            }
            fn file(&mut self, _: &FileMeta<'_>, _: Content<'_>) -> Result<()> {
                Ok(())
            }
            fn other(&mut self, _: &str) {}
            fn hardlink(&mut self, _: &str, _: &str) {}
            fn whiteout(&mut self, _: &str) {}
            fn opaque(&mut self, _: &str) {}
            fn skipped(&mut self, _: &str, _: &str) {}
        }
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "usr/bin/tool", b"#!/bin/sh\n");
        std::fs::set_permissions(
            dir.path().join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        let mut modes = Modes(Vec::new());
        SnapshotLayer::new("sha256:test", dir.path(), Limits::default())
            .walk(&mut modes)
            .unwrap();
        assert_eq!(modes.0, vec![("/usr/bin/tool".to_string(), 10, 0o4755)]);
    }

    #[test]
    fn directory_below_the_depth_limit_is_skipped_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/b/c/d/e/f.pkg", b"deep 1\n");
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        write(dir.path(), "a/b/shallow.pkg", b"shallow 1\n");
        assert_eq!(
            walk(dir.path(), limits).unwrap(),
            vec![
                Event::Skipped(
                    "/a/b/c/d".into(),
                    "directory nested more than 3 deep, not walked".into()
                ),
                Event::File("/a/b/shallow.pkg".into(), b"shallow 1\n".to_vec()),
            ]
        );
        assert_eq!(
            walk(dir.path(), Limits::default()).unwrap(),
            vec![
                Event::File("/a/b/c/d/e/f.pkg".into(), b"deep 1\n".to_vec()),
                Event::File("/a/b/shallow.pkg".into(), b"shallow 1\n".to_vec()),
            ]
        );
    }

    #[test]
    fn too_many_entries_hit_the_entry_limit() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            write(dir.path(), &format!("f{i}"), b"");
        }
        let limits = Limits {
            max_entries: 10,
            ..Limits::default()
        };
        let err = walk(dir.path(), limits).unwrap_err();
        assert!(err.to_string().contains("max_entries"), "{err}");
    }

    #[test]
    fn long_path_is_skipped_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &format!("{}/a.pkg", "d".repeat(200)), b"");
        write(dir.path(), "b.pkg", b"beta 1\n");
        let limits = Limits {
            max_path_len: 100,
            ..Limits::default()
        };
        let long = format!("/{}", "d".repeat(200));
        assert_eq!(
            walk(dir.path(), limits).unwrap(),
            vec![
                Event::File("/b.pkg".into(), b"beta 1\n".to_vec()),
                Event::Skipped(path::head(&long), "path longer than 100 bytes".into()),
            ]
        );
    }

    #[test]
    fn missing_root_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("snapshots/7/fs");
        let err = walk(&missing, Limits::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, .. } if *path == missing),
            "{err}"
        );
    }
}
