//! Stacking one image's layer analyses into what its file system shows.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::{CatalogerFindings, LayerAnalysis};
use crate::layers::path;
use crate::package::{FoundPackage, ImageContents, OsRelease};

/// Where the findings visible at one path come from.
struct Visible<'a> {
    diff_id: &'a str,
    found: &'a [CatalogerFindings],
}

/// Merges the layers of one image, bottom (base) layer first, as overlayfs stacks them.
///
/// For each layer in turn: its opaque directories hide lower layers' entries below them,
/// its whiteouts hide lower entries at and below their path, then its own files and
/// tombstones replace lower entries at their path (and below it: a file where a directory
/// was). The same layer's own entries are never hidden by its own markers. The OS comes
/// from [`crate::catalog::os::resolve`] over the visible os-release findings; packages
/// are ordered by (path, ecosystem, name, version) and deduplicated.
pub fn merge(layers: &[(String, Arc<LayerAnalysis>)]) -> ImageContents {
    let mut visible: BTreeMap<&str, Visible<'_>> = BTreeMap::new();
    for (diff_id, layer) in layers {
        for dir in &layer.opaque_dirs {
            hide_below(&mut visible, dir);
        }
        for deleted in layer.whiteouts.iter().chain(&layer.tombstones) {
            visible.remove(deleted.as_str());
            hide_below(&mut visible, deleted);
        }
        for (file, found) in &layer.files {
            hide_below(&mut visible, file);
            visible.insert(file, Visible { diff_id, found });
        }
    }

    let os_files: Vec<(&str, &OsRelease)> = visible
        .iter()
        .flat_map(|(file, visible)| {
            visible
                .found
                .iter()
                .filter_map(|found| found.findings.os.as_ref())
                .map(move |os| (*file, os))
        })
        .collect();
    let os = crate::catalog::os::resolve(&os_files);

    let mut packages: Vec<FoundPackage> = visible
        .iter()
        .flat_map(|(file, visible)| {
            visible.found.iter().flat_map(move |found| {
                found
                    .findings
                    .packages
                    .iter()
                    .map(move |package| FoundPackage {
                        package: package.clone(),
                        cataloger: found.cataloger.clone(),
                        layer_diff_id: visible.diff_id.to_owned(),
                        path: (*file).to_owned(),
                    })
            })
        })
        .collect();
    // `Package` orders by ecosystem, name, version first, then the rest, so equal
    // packages end up next to each other.
    packages.sort_by(|a, b| {
        (&a.path, &a.package, &a.cataloger).cmp(&(&b.path, &b.package, &b.cataloger))
    });
    // The same package read from the same file once is enough, whichever cataloger
    // reported it.
    packages
        .dedup_by(|later, earlier| later.path == earlier.path && later.package == earlier.package);

    ImageContents { os, packages }
}

/// Removes every entry strictly below directory `dir`.
fn hide_below(visible: &mut BTreeMap<&str, Visible<'_>>, dir: &str) {
    let prefix = path::below(dir);
    let hidden: Vec<&str> = visible
        .range::<str, _>((Bound::Included(prefix.as_ref()), Bound::Unbounded))
        .map(|(file, _)| *file)
        .take_while(|file| file.starts_with(prefix.as_ref()))
        .collect();
    for file in hidden {
        visible.remove(file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze_layer;
    use crate::analysis::testutil::catalogers;
    use crate::layers::blob::BlobLayer;
    use crate::layers::testutil::{digest, LayerTar};
    use crate::layers::Limits;
    use crate::package::Ecosystem;

    /// Analyses one layer tar with the test catalogers.
    fn layer(tar: LayerTar) -> (String, Arc<LayerAnalysis>) {
        let tar = tar.finish();
        let diff_id = digest(&tar);
        let mut source = BlobLayer::new(
            diff_id.clone(),
            diff_id.clone(),
            tar.as_slice(),
            Limits::default(),
        );
        let analysis = analyze_layer(&mut source, &catalogers()).unwrap();
        (diff_id, Arc::new(analysis))
    }

    /// `path: name version` of every visible package.
    fn visible(contents: &ImageContents) -> Vec<String> {
        contents
            .packages
            .iter()
            .map(|p| format!("{}: {} {}", p.path, p.package.name, p.package.version))
            .collect()
    }

    #[test]
    fn deleted_by_upper_layer_is_not_reported() {
        let base = layer(
            LayerTar::new()
                .file("usr/lib/a.pkg", b"alpha 1\n", 0o644)
                .file("usr/lib/b.pkg", b"beta 1\n", 0o644),
        );
        let upper = layer(LayerTar::new().file("usr/lib/.wh.a.pkg", b"", 0o644));
        assert_eq!(
            visible(&merge(&[base, upper])),
            vec!["/usr/lib/b.pkg: beta 1"]
        );
    }

    #[test]
    fn whiteout_of_a_directory_hides_everything_below_it() {
        let base = layer(
            LayerTar::new()
                .file("opt/app/lib/a.pkg", b"alpha 1\n", 0o644)
                .file("opt/application.pkg", b"app 1\n", 0o644),
        );
        let upper = layer(LayerTar::new().file("opt/.wh.app", b"", 0o644));
        assert_eq!(
            visible(&merge(&[base, upper])),
            vec!["/opt/application.pkg: app 1"]
        );
    }

    #[test]
    fn opaque_dir_hides_lower_children_but_not_own_entries() {
        let base = layer(
            LayerTar::new()
                .file("srv/old.pkg", b"old 1\n", 0o644)
                .file("srv/sub/deep.pkg", b"deep 1\n", 0o644)
                .file("srv.pkg", b"sibling 1\n", 0o644),
        );
        // The marker comes after the layer's own entry: it still hides only lower ones.
        let upper = layer(LayerTar::new().file("srv/new.pkg", b"new 2\n", 0o644).file(
            "srv/.wh..wh..opq",
            b"",
            0o644,
        ));
        assert_eq!(
            visible(&merge(&[base, upper])),
            vec!["/srv.pkg: sibling 1", "/srv/new.pkg: new 2"]
        );
    }

    #[test]
    fn whiteout_hides_only_lower_layers_not_its_own() {
        let base = layer(LayerTar::new().file("etc/a.pkg", b"alpha 1\n", 0o644));
        let upper = layer(LayerTar::new().file("etc/a.pkg", b"alpha 2\n", 0o644).file(
            "etc/.wh.a.pkg",
            b"",
            0o644,
        ));
        assert_eq!(visible(&merge(&[base, upper])), vec!["/etc/a.pkg: alpha 2"]);
    }

    #[test]
    fn newer_status_file_replaces_older() {
        let base = layer(LayerTar::new().file(
            "var/lib/dpkg/status.pkg",
            b"libc6 2.36-9\nzlib1g 1.2.13\n",
            0o644,
        ));
        let upper = layer(LayerTar::new().file(
            "var/lib/dpkg/status.pkg",
            b"libc6 2.36-9+deb12u4\nzlib1g 1.2.13\ncurl 7.88.1\n",
            0o644,
        ));
        let upper_id = upper.0.clone();
        let contents = merge(&[base, upper]);
        assert_eq!(
            visible(&contents),
            vec![
                "/var/lib/dpkg/status.pkg: curl 7.88.1",
                "/var/lib/dpkg/status.pkg: libc6 2.36-9+deb12u4",
                "/var/lib/dpkg/status.pkg: zlib1g 1.2.13",
            ]
        );
        assert!(contents
            .packages
            .iter()
            .all(|p| p.layer_diff_id == upper_id));
        assert!(contents.packages.iter().all(|p| p.cataloger == "test-pkg"));
    }

    #[test]
    fn symlink_over_a_wanted_path_hides_lower_findings() {
        let base = layer(LayerTar::new().file("usr/lib/a.pkg", b"alpha 1\n", 0o644));
        let upper = layer(LayerTar::new().symlink("usr/lib/a.pkg", "/dev/null"));
        assert!(merge(&[base, upper]).packages.is_empty());
    }

    #[test]
    fn file_replacing_a_directory_hides_what_was_below_it() {
        let base = layer(LayerTar::new().file("opt/tool.pkg/inner.pkg", b"inner 1\n", 0o644));
        let upper = layer(LayerTar::new().file("opt/tool.pkg", b"tool 2\n", 0o644));
        assert_eq!(
            visible(&merge(&[base, upper])),
            vec!["/opt/tool.pkg: tool 2"]
        );
    }

    #[test]
    fn deleted_and_recreated_in_a_later_layer_is_reported_from_that_layer() {
        let base = layer(LayerTar::new().file("a.pkg", b"alpha 1\n", 0o644));
        let middle = layer(LayerTar::new().file(".wh.a.pkg", b"", 0o644));
        let top = layer(LayerTar::new().file("a.pkg", b"alpha 3\n", 0o644));
        let top_id = top.0.clone();
        let contents = merge(&[base, middle, top]);
        assert_eq!(visible(&contents), vec!["/a.pkg: alpha 3"]);
        assert_eq!(contents.packages[0].layer_diff_id, top_id);
    }

    #[test]
    fn packages_are_sorted_and_deduplicated() {
        let base = layer(
            LayerTar::new()
                .file("b.pkg", b"zeta 1\nalpha 2\nalpha 1\nalpha 1\n", 0o644)
                .file("a.pkg", b"omega 9\n", 0o644),
        );
        let contents = merge(&[base]);
        assert_eq!(
            visible(&contents),
            vec![
                "/a.pkg: omega 9",
                "/b.pkg: alpha 1",
                "/b.pkg: alpha 2",
                "/b.pkg: zeta 1"
            ]
        );
        assert!(contents
            .packages
            .iter()
            .all(|p| p.package.ecosystem == Ecosystem::Deb));
    }

    #[test]
    fn os_comes_from_the_visible_os_release() {
        let base = layer(LayerTar::new().file("etc/os-release", b"ID=debian\n", 0o644));
        let upper = layer(LayerTar::new().file("etc/.wh.os-release", b"", 0o644).file(
            "usr/lib/os-release",
            b"ID=alpine\n",
            0o644,
        ));
        let os = merge(&[base.clone(), upper]).os;
        assert_eq!(os.and_then(|os| os.id).as_deref(), Some("alpine"));
        let os = merge(&[base]).os;
        assert_eq!(os.and_then(|os| os.id).as_deref(), Some("debian"));
    }

    #[test]
    fn no_layers_give_an_empty_image() {
        assert_eq!(merge(&[]), ImageContents::default());
    }
}
