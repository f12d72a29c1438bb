//! Stacking one image's layer analyses into what its file system shows.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use super::{CatalogerFindings, LayerAnalysis};
use crate::layers::path;
use crate::package::{Ecosystem, FoundPackage, ImageContents, OsRelease, Package, PROP_OS_PACKAGE};

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
/// are ordered by (path, ecosystem, name, version) and deduplicated. Licences that visible
/// files state apart from package metadata (dpkg's copyright files) go to the visible
/// packages of that ecosystem and name whose metadata states none. A package found from
/// a file's content alone (a classified binary) is dropped when a visible package database
/// says one of its packages installed that file, as syft drops it; a Go or Rust package
/// found in a program an OS package installed gets that package's name as its
/// `osPackage` property; `/bin/x` and `/usr/bin/x` count as one path (usr-merge).
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

    let stated = stated_licenses(&visible);
    let mut packages: Vec<FoundPackage> = visible
        .iter()
        .flat_map(|(file, visible)| {
            let stated = &stated;
            visible.found.iter().flat_map(move |found| {
                found
                    .findings
                    .packages
                    .iter()
                    .map(move |package| FoundPackage {
                        package: with_stated_licenses(package, stated),
                        cataloger: found.cataloger.clone(),
                        layer_diff_id: visible.diff_id.to_owned(),
                        path: (*file).to_owned(),
                    })
            })
        })
        .collect();
    let owned = owned_files(&visible);
    packages.retain(|found| {
        !(found.package.ecosystem.yields_to_owner() && owned.contains(&*usr_merged(&found.path)))
    });
    let programs = owned_programs(&visible);
    for found in &mut packages {
        if !matches!(found.package.ecosystem, Ecosystem::Go | Ecosystem::Cargo) {
            continue;
        }
        if let Some(owner) = programs.get(&*usr_merged(&found.path)) {
            found
                .package
                .properties
                .insert(PROP_OS_PACKAGE.to_owned(), (*owner).to_owned());
        }
    }
    // `Package` orders by ecosystem, name, version first, then the rest, so equal
    // packages end up next to each other.
    packages.sort_by(|a, b| {
        (&a.path, &a.package, &a.cataloger).cmp(&(&b.path, &b.package, &b.cataloger))
    });
    // The same package read from the same file once is enough, whichever cataloger
    // reported it.
    packages
        .dedup_by(|later, earlier| later.path == earlier.path && later.package == earlier.package);

    let incomplete = incompleteness(layers, &visible);
    ImageContents {
        os,
        packages,
        incomplete,
    }
}

/// Why the merged contents may miss packages, at most [`MAX_REASONS`] of them: first each
/// layer's stop at a limit and skipped entries, in layer order, as
/// `layer <diffID>: <reason>` (what was not read could be anywhere); then the notes of
/// the visible files, sorted and deduplicated, as `<path>: <reason>` (a file hidden by an
/// upper layer is not in the image, nor is what it misses).
fn incompleteness(
    layers: &[(String, Arc<LayerAnalysis>)],
    visible: &BTreeMap<&str, Visible<'_>>,
) -> Vec<String> {
    // Layers first, in layer order: a stop at a layer limit matters most.
    let mut notes = Vec::new();
    for (diff_id, layer) in layers {
        if let Some(limit) = &layer.stopped {
            notes.push(format!(
                "layer {diff_id}: stopped at a limit, the rest of the layer not read: {limit}"
            ));
        }
        if let Some(skipped) = layer.skipped.note() {
            notes.push(format!("layer {diff_id}: {skipped}"));
        }
    }
    let mut files = BTreeSet::new();
    for (file, visible) in visible {
        for found in visible.found {
            for reason in &found.findings.incomplete {
                files.insert(format!("{file}: {reason}"));
            }
        }
    }
    notes.extend(files);
    if notes.len() > MAX_REASONS {
        let more = notes.len() - (MAX_REASONS - 1);
        notes.truncate(MAX_REASONS - 1);
        notes.push(format!("{more} more reasons not listed"));
    }
    notes
}

/// Most incompleteness reasons listed for one image; a hostile image could give one per
/// file, and the SBOM must stay within the collector's size limit.
const MAX_REASONS: usize = 100;

/// Licences stated apart from package metadata by the visible files, by package.
type StatedByPackage<'a> = BTreeMap<(Ecosystem, &'a str), BTreeSet<&'a str>>;

fn stated_licenses<'a>(visible: &BTreeMap<&str, Visible<'a>>) -> StatedByPackage<'a> {
    let mut stated = StatedByPackage::new();
    for found in visible.values().flat_map(|visible| visible.found) {
        for licenses in &found.findings.stated_licenses {
            stated
                .entry((licenses.ecosystem, licenses.package.as_str()))
                .or_default()
                .extend(licenses.licenses.iter().map(String::as_str));
        }
    }
    stated
}

/// A visible package with the licences visible files state for it (dpkg's copyright
/// files), unless its own metadata states some: those win.
fn with_stated_licenses(package: &Package, stated: &StatedByPackage<'_>) -> Package {
    let mut package = package.clone();
    if package.licenses.is_empty() {
        if let Some(licenses) = stated.get(&(package.ecosystem, package.name.as_str())) {
            package.licenses = licenses.iter().map(|l| (*l).to_owned()).collect();
        }
    }
    package
}

/// The files that visible package databases say their packages installed, each under its
/// [`usr_merged`] path.
fn owned_files<'a>(visible: &BTreeMap<&str, Visible<'a>>) -> HashSet<Cow<'a, str>> {
    visible
        .values()
        .flat_map(|visible| visible.found)
        .flat_map(|found| &found.findings.owned_files)
        .map(|file| usr_merged(file))
        .collect()
}

/// The programs that visible package databases say their packages installed, each under
/// its [`usr_merged`] path, with the package.
fn owned_programs<'a>(visible: &BTreeMap<&str, Visible<'a>>) -> HashMap<Cow<'a, str>, &'a str> {
    visible
        .values()
        .flat_map(|visible| visible.found)
        .flat_map(|found| &found.findings.owned_programs)
        .map(|owned| (usr_merged(&owned.path), owned.package.as_str()))
        .collect()
}

/// `/bin/x` → `/usr/bin/x`, and the same for `/sbin` and the `/lib` directories.
///
/// In a usr-merged image (Debian 12, Ubuntu 22.04, Fedora, RHEL 9…) those directories are
/// links into `/usr`, so the `/bin/bash` that Debian 12's bash lists is the file a layer
/// holds at `/usr/bin/bash`; syft follows the link and finds the binary owned. The
/// analysis keeps no links, so both spellings are taken as one path everywhere. The cost:
/// in an image that is not usr-merged, an unowned copy at `/usr/bin/x` of a program a
/// package installed at `/bin/x` is dropped too.
fn usr_merged(path: &str) -> Cow<'_, str> {
    const MERGED: [&str; 6] = ["/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"];
    if MERGED.iter().any(|dir| path.starts_with(dir)) {
        Cow::Owned(format!("/usr{path}"))
    } else {
        Cow::Borrowed(path)
    }
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
    use crate::analysis::testutil::{analysed, catalogers};
    use crate::layers::testutil::LayerTar;
    use crate::package::Ecosystem;

    /// Analyses one layer tar with the test catalogers.
    fn layer(tar: LayerTar) -> (String, Arc<LayerAnalysis>) {
        analysed(tar, &catalogers())
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
    fn reasons_are_bounded() {
        let mut big = b"alpha 1\n".to_vec();
        big.resize((1 << 20) + 1, b'\n');
        let mut tar = LayerTar::new();
        for i in 0..MAX_REASONS + 5 {
            tar = tar.file(&format!("opt/{i:03}.pkg"), &big, 0o644);
        }
        let incomplete = merge(&[layer(tar)]).incomplete;
        assert_eq!(incomplete.len(), MAX_REASONS);
        assert!(incomplete[0].starts_with("/opt/000.pkg: "));
        assert_eq!(incomplete[MAX_REASONS - 1], "6 more reasons not listed");
    }

    #[test]
    fn complete_layers_give_no_incompleteness() {
        let base = layer(LayerTar::new().file("usr/lib/a.pkg", b"alpha 1\n", 0o644));
        assert!(merge(&[base]).incomplete.is_empty());
    }

    #[test]
    fn notes_of_visible_files_and_of_layers_are_merged_with_where_they_come_from() {
        let mut big = b"alpha 1\n".to_vec();
        big.resize((1 << 20) + 1, b'\n');
        let base = layer(
            LayerTar::new()
                .file("opt/big.pkg", &big, 0o644)
                .file("usr/hidden.pkg", &big, 0o644)
                .raw_hardlink(b"etc/x", b"/"),
        );
        let upper = layer(LayerTar::new().file("usr/.wh.hidden.pkg", b"", 0o644));
        let mut stopped = (*upper.1).clone();
        stopped.stopped = Some("more than 10 entries (max_entries)".into());
        let upper = (upper.0, Arc::new(stopped));
        let contents = merge(&[base.clone(), upper.clone()]);
        let expected = vec![
            format!(
                "layer {}: skipped 1 entry: \"etc/x\" (hard link to the layer root)",
                base.0
            ),
            format!(
                "layer {}: stopped at a limit, the rest of the layer not read: more than \
                 10 entries (max_entries)",
                upper.0
            ),
            "/opt/big.pkg: not read by test-pkg: larger than the 1048576-byte limit for \
             this kind of file"
                .to_string(),
        ];
        assert_eq!(contents.incomplete, expected);
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

    /// Analyses one layer tar with every real cataloger.
    fn real_layer(tar: LayerTar) -> (String, Arc<LayerAnalysis>) {
        analysed(tar, &crate::catalog::all())
    }

    /// `path: name version` of the classified binaries.
    fn binaries(contents: &ImageContents) -> Vec<String> {
        contents
            .packages
            .iter()
            .filter(|p| p.package.ecosystem == Ecosystem::Binary)
            .map(|p| format!("{}: {} {}", p.path, p.package.name, p.package.version))
            .collect()
    }

    const BASH: &[u8] = b"\x7fELF..\x00@(#)Bash version 5.2.15(1) release GNU\x00..";
    const CURL: &[u8] = b"\x7fELF..\x00curl/7.88.1\x00..";
    /// What Debian 12's bash and curl packages list (abridged).
    const BASH_LIST: &[u8] = b"/.\n/bin\n/bin/bash\n/usr/share/doc/bash\n";
    const CURL_LIST: &[u8] = b"/.\n/usr\n/usr/bin\n/usr/bin/curl\n";

    #[test]
    fn binary_owned_by_a_dpkg_list_is_dropped_and_an_unowned_copy_kept() {
        let base = real_layer(
            LayerTar::new()
                .file("var/lib/dpkg/info/curl.list", CURL_LIST, 0o644)
                .file("usr/bin/curl", CURL, 0o755)
                .file("opt/tools/curl", CURL, 0o755),
        );
        assert_eq!(binaries(&merge(&[base])), ["/opt/tools/curl: curl 7.88.1"]);
    }

    #[test]
    fn list_naming_bin_owns_the_usr_bin_file_of_a_usr_merged_image() {
        // Debian 12's bash lists /bin/bash; /bin links to usr/bin.
        let base = real_layer(
            LayerTar::new()
                .symlink("bin", "usr/bin")
                .file("usr/bin/bash", BASH, 0o755)
                .file("var/lib/dpkg/info/bash.list", BASH_LIST, 0o644),
        );
        assert_eq!(binaries(&merge(&[base])), Vec::<String>::new());
    }

    #[test]
    fn owner_in_another_layer_still_owns() {
        let base =
            real_layer(LayerTar::new().file("var/lib/dpkg/info/curl.list", CURL_LIST, 0o644));
        let upper = real_layer(LayerTar::new().file("usr/bin/curl", CURL, 0o755));
        assert_eq!(binaries(&merge(&[base, upper])), Vec::<String>::new());
    }

    #[test]
    fn binary_of_a_removed_package_is_reported_again() {
        // `dpkg -r curl` in a later layer deletes its list, and a copy is put back by hand.
        let base = real_layer(
            LayerTar::new()
                .file("var/lib/dpkg/info/curl.list", CURL_LIST, 0o644)
                .file("usr/bin/curl", CURL, 0o755),
        );
        let upper = real_layer(LayerTar::new().file("var/lib/dpkg/info/.wh.curl.list", b"", 0o644));
        let base_id = base.0.clone();
        let contents = merge(&[base, upper]);
        assert_eq!(binaries(&contents), ["/usr/bin/curl: curl 7.88.1"]);
        assert_eq!(contents.packages[0].layer_diff_id, base_id);
    }

    #[test]
    fn binary_owned_by_apk_is_dropped() {
        let installed = b"P:busybox\nV:1.36.1-r29\nF:bin\nR:busybox\n";
        let busybox = b"\x00BusyBox v1.36.1 (2024-06-10 08:11:50 UTC)\x00";
        let base = real_layer(
            LayerTar::new()
                .file("lib/apk/db/installed", installed, 0o644)
                .file("bin/busybox", busybox, 0o755)
                .file("opt/busybox", busybox, 0o755),
        );
        let contents = merge(&[base]);
        assert_eq!(binaries(&contents), ["/opt/busybox: busybox 1.36.1"]);
        assert!(contents
            .packages
            .iter()
            .any(|p| p.package.ecosystem == Ecosystem::Apk && p.package.name == "busybox"));
    }

    #[test]
    fn ownership_drops_only_the_classified_binary_not_other_findings_in_the_file() {
        // A Go program installed as `go`: the classifier takes it for the toolchain (as
        // syft does), and the Go build info lists its modules.
        let hello = include_bytes!("../catalog/golang/testdata/usr/local/bin/hello");
        let unowned = real_layer(LayerTar::new().file("usr/bin/go", hello, 0o755));
        assert_eq!(binaries(&merge(&[unowned])), ["/usr/bin/go: go 1.19.8"]);

        let owned = real_layer(LayerTar::new().file("usr/bin/go", hello, 0o755).file(
            "var/lib/dpkg/info/hello.list",
            b"/usr/bin/go\n",
            0o644,
        ));
        let contents = merge(&[owned]);
        assert_eq!(binaries(&contents), Vec::<String>::new());
        let go: Vec<_> = contents
            .packages
            .iter()
            .filter(|p| p.package.ecosystem == Ecosystem::Go)
            .map(|p| p.package.name.as_str())
            .collect();
        assert!(
            go.contains(&"example.com/hello") && go.contains(&"stdlib"),
            "{go:?}"
        );
    }

    /// `path: osPackage` of every Go package, `-` without the property.
    fn go_owners(contents: &ImageContents) -> Vec<String> {
        contents
            .packages
            .iter()
            .filter(|p| p.package.ecosystem == Ecosystem::Go)
            .map(|p| {
                let owner = p.package.properties.get(PROP_OS_PACKAGE);
                format!("{}: {}", p.path, owner.map_or("-", String::as_str))
            })
            .collect()
    }

    #[test]
    fn go_program_listed_by_a_dpkg_package_names_it_and_an_unlisted_copy_does_not() {
        // The list (of a usr-merged image, with the architecture in its name) says
        // /bin/hello; the program is at /usr/bin/hello, in a later layer.
        let hello = include_bytes!("../catalog/golang/testdata/usr/local/bin/hello");
        let base = real_layer(LayerTar::new().symlink("bin", "usr/bin").file(
            "var/lib/dpkg/info/hello-go:amd64.list",
            b"/.\n/bin\n/bin/hello\n/usr/share/doc/hello-go/copyright\n",
            0o644,
        ));
        let upper = real_layer(LayerTar::new().file("usr/bin/hello", hello, 0o755).file(
            "opt/hello/hello",
            hello,
            0o755,
        ));
        let owners = go_owners(&merge(&[base, upper]));
        // The dependencies, the main module and the standard library of each copy.
        assert_eq!(owners.len(), 8, "{owners:?}");
        for owner in owners {
            let want = if owner.starts_with("/usr/bin/hello:") {
                "/usr/bin/hello: hello-go"
            } else {
                "/opt/hello/hello: -"
            };
            assert_eq!(owner, want);
        }
    }

    #[test]
    fn go_program_of_a_removed_package_names_no_owner() {
        let hello = include_bytes!("../catalog/golang/testdata/usr/local/bin/hello");
        let base = real_layer(
            LayerTar::new()
                .file(
                    "var/lib/dpkg/info/hello-go.list",
                    b"/usr/bin/hello\n",
                    0o644,
                )
                .file("usr/bin/hello", hello, 0o755),
        );
        let upper =
            real_layer(LayerTar::new().file("var/lib/dpkg/info/.wh.hello-go.list", b"", 0o644));
        let owners = go_owners(&merge(&[base, upper]));
        assert!(
            !owners.is_empty() && owners.iter().all(|o| o == "/usr/bin/hello: -"),
            "{owners:?}"
        );
    }

    #[test]
    fn go_program_installed_by_apk_names_its_package() {
        let installed = b"P:hello-go\nV:1.5.0-r0\nF:usr/bin\nR:hello\n";
        let hello = include_bytes!("../catalog/golang/testdata/usr/local/bin/hello");
        let base = real_layer(
            LayerTar::new()
                .file("lib/apk/db/installed", installed, 0o644)
                .file("usr/bin/hello", hello, 0o755),
        );
        let owners = go_owners(&merge(&[base]));
        assert!(
            !owners.is_empty() && owners.iter().all(|o| o == "/usr/bin/hello: hello-go"),
            "{owners:?}"
        );
    }

    #[test]
    fn bin_sbin_and_lib_are_spelled_under_usr() {
        assert_eq!(usr_merged("/bin/bash"), "/usr/bin/bash");
        assert_eq!(usr_merged("/sbin/x"), "/usr/sbin/x");
        assert_eq!(
            usr_merged("/lib64/ld-linux-x86-64.so.2"),
            "/usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(usr_merged("/usr/bin/bash"), "/usr/bin/bash");
        assert_eq!(usr_merged("/binary"), "/binary");
        assert_eq!(usr_merged("/opt/bin/x"), "/opt/bin/x");
    }

    /// `name: licences` of every visible package.
    fn licences(contents: &ImageContents) -> Vec<String> {
        contents
            .packages
            .iter()
            .map(|p| format!("{}: {}", p.package.name, p.package.licenses.join(",")))
            .collect()
    }

    #[test]
    fn stated_licences_reach_the_package_from_another_layer() {
        let base = layer(LayerTar::new().file(
            "usr/share/doc/libc6.lic",
            b"libc6 GPL-2\nlibc6 LGPL-2.1\n",
            0o644,
        ));
        let upper = layer(LayerTar::new().file(
            "var/lib/dpkg/status.pkg",
            b"libc6 2.36-9\nzlib1g 1.2.13\n",
            0o644,
        ));
        assert_eq!(
            licences(&merge(&[base, upper])),
            ["libc6: GPL-2,LGPL-2.1", "zlib1g: "]
        );
    }

    #[test]
    fn deleting_the_licence_file_removes_the_licence() {
        let base = layer(
            LayerTar::new()
                .file("var/lib/dpkg/status.pkg", b"libc6 2.36-9\n", 0o644)
                .file("usr/share/doc/libc6.lic", b"libc6 GPL-2\n", 0o644),
        );
        let upper = layer(LayerTar::new().file("usr/share/doc/.wh.libc6.lic", b"", 0o644));
        assert_eq!(
            licences(&merge(std::slice::from_ref(&base))),
            ["libc6: GPL-2"]
        );
        assert_eq!(licences(&merge(&[base, upper])), ["libc6: "]);
    }

    #[test]
    fn own_licences_win_over_stated_ones() {
        let base = layer(
            LayerTar::new()
                .file("var/lib/dpkg/status.pkg", b"libc6 2.36-9\n", 0o644)
                .file("usr/share/doc/libc6.lic", b"libc6 GPL-2\n", 0o644),
        );
        let mut contents = merge(std::slice::from_ref(&base));
        assert_eq!(licences(&contents), ["libc6: GPL-2"]);

        // The same package with a licence of its own keeps it.
        let (diff_id, analysis) = base;
        let mut analysis = (*analysis).clone();
        for found in analysis.files.values_mut().flatten() {
            for package in &mut found.findings.packages {
                package.licenses = vec!["LGPL-2.1".into()];
            }
        }
        contents = merge(&[(diff_id, Arc::new(analysis))]);
        assert_eq!(licences(&contents), ["libc6: LGPL-2.1"]);
    }

    #[test]
    fn stated_licences_go_only_to_the_same_ecosystem() {
        let base = layer(
            LayerTar::new()
                .file("var/lib/dpkg/status.pkg", b"six 1.16.0\n", 0o644)
                .file("usr/share/doc/six.lic", b"six Expat\n", 0o644),
        );
        let (diff_id, analysis) = base;
        let mut analysis = (*analysis).clone();
        for found in analysis.files.values_mut().flatten() {
            for package in &mut found.findings.packages {
                package.ecosystem = Ecosystem::Python;
            }
        }
        let contents = merge(&[(diff_id, Arc::new(analysis))]);
        assert_eq!(licences(&contents), ["six: "]);
    }
}
