//! Shared by the catalogers' tests.

use super::FileMeta;

/// A regular, non-executable file at `path`, as `wants` and `catalog` see it.
pub fn meta(path: &str) -> FileMeta<'_> {
    FileMeta {
        path,
        size: 0,
        mode: 0o644,
    }
}
