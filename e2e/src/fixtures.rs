//! Images made of the catalogers' real-world fixtures (`agent/src/catalog/*/testdata`).

use std::path::{Path, PathBuf};

use crate::{Entry, ImageSpec, Layer};

/// A path below `agent/src/catalog/`, e.g. `python/testdata/usr`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/src/catalog")
        .join(path)
}

/// A Debian 12 image (os-release and the dpkg fixture database, gzip) with `app` in a
/// second layer (zstd).
pub fn debian_image(name: &str, app: Entry) -> ImageSpec {
    ImageSpec {
        name: name.into(),
        layers: vec![
            Layer::gzip(vec![
                Entry::tree(fixture("os/testdata/debian-12"), "/"),
                Entry::tree(fixture("dpkg/testdata/var"), "/var"),
            ]),
            Layer::zstd(vec![app]),
        ],
        multi_platform: false,
    }
}
