//! dpkg cataloger: Debian-family package databases.
//!
//! Reads the files syft reads: `**/lib/dpkg/status`, every file directly in
//! `**/lib/dpkg/status.d/` (distroless images keep one control file per package there,
//! next to `<pkg>.md5sums`), and opkg's `**/lib/opkg/status` and
//! `**/lib/opkg/info/*.control`. Licences come from each package's
//! `/usr/share/doc/<package>/copyright`, read by [`DpkgCopyrightCataloger`], and from
//! opkg's `License` field.
//!
//! Which files the packages installed (`info/*.list`, distroless `status.d/*.md5sums`)
//! is read by [`DpkgFilesCataloger`], for the binary classifier's sake.

mod copyright;
mod files;
mod package;
mod parse;

pub use package::identity;

pub use copyright::DpkgCopyrightCataloger;
pub use files::DpkgFilesCataloger;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

/// A full `status` of a large image is a few MiB (this build machine's, 726 packages:
/// 651,085 bytes, ~900 bytes a stanza); Debian 12's whole main archive installed would
/// be ~57 MB at that rate (63,440 packages). Read into memory whole, so bounded well
/// below the agent's memory limit; a larger file is read up to here.
const STATUS_LIMIT: u64 = 64 * 1024 * 1024;
/// One control file per package: a few KiB. A larger file is read up to here.
const CONTROL_LIMIT: u64 = 4 * 1024 * 1024;

/// Reads installed Debian packages from dpkg (and opkg) databases.
pub struct DpkgCataloger;

/// The kinds of database file the cataloger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbFile {
    /// Every installed package in one file.
    Status,
    /// One package per file.
    Control,
}

fn db_file(path: &str) -> Option<DbFile> {
    if path.ends_with("/lib/dpkg/status") || path.ends_with("/lib/opkg/status") {
        return Some(DbFile::Status);
    }
    let (dir, name) = path.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    let distroless = dir.ends_with("/lib/dpkg/status.d") && !name.ends_with(".md5sums");
    let opkg = dir.ends_with("/lib/opkg/info") && name.ends_with(".control");
    (distroless || opkg).then_some(DbFile::Control)
}

impl Cataloger for DpkgCataloger {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        db_file(file.path).is_some()
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let limit = match db_file(file.path) {
            Some(DbFile::Status) => STATUS_LIMIT,
            Some(DbFile::Control) => CONTROL_LIMIT,
            None => return Ok(Findings::default()),
        };
        let prefix = content.read_prefix(limit)?;
        let (records, incomplete) =
            parse::parse_db(&prefix.data).finish(prefix.cut.then_some(limit), "stanzas");
        let packages = records
            .into_iter()
            .filter_map(package::to_package)
            .collect();
        Ok(Findings {
            incomplete,
            ..Findings::packages(packages)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;
    use crate::package::{Ecosystem, Package, SourcePackage};

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Vec<Package>, CatalogError> {
        DpkgCataloger
            .catalog(&meta(path), Content::Stream(&mut bytes))
            .map(|findings| findings.packages)
    }

    const STATUS: &[u8] = include_bytes!("testdata/var/lib/dpkg/status");

    fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
        packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} not found"))
    }

    #[test]
    fn wants_status_files_and_distroless_control_files() {
        for path in [
            "/var/lib/dpkg/status",
            "/usr/lib/dpkg/status",
            "/var/lib/dpkg/status.d/libc6",
            "/var/lib/dpkg/status.d/libssl3",
            "/usr/lib/opkg/status",
            "/usr/lib/opkg/info/busybox.control",
            "/srv/chroot/var/lib/dpkg/status",
        ] {
            assert!(DpkgCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn wants_no_md5sums_backups_or_lookalikes() {
        for path in [
            "/var/lib/dpkg/status.d/libc6.md5sums",
            "/var/lib/dpkg/status-old",
            "/var/lib/dpkg/status.d/nested/libc6",
            "/var/lib/dpkg/info/libc6.list",
            "/var/lib/dpkg/available",
            "/var/xlib/dpkg/status",
            "/usr/lib/opkg/info/busybox.list",
        ] {
            assert!(!DpkgCataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn debian_12_status_lists_installed_packages() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        let mut names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "base-files",
                "bsdutils",
                "libc6",
                "libcap2",
                "python3-six",
                "tzdata",
                "zlib1g"
            ]
        );
        assert!(packages.iter().all(|p| p.ecosystem == Ecosystem::Deb));
    }

    #[test]
    fn removed_package_with_config_files_left_is_not_reported() {
        // netbase was installed then `dpkg -r`-ed: dpkg keeps its stanza for the conffiles.
        assert!(std::str::from_utf8(STATUS)
            .unwrap()
            .contains("Package: netbase\nStatus: deinstall ok config-files"));
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        assert!(packages.iter().all(|p| p.name != "netbase"));
    }

    #[test]
    fn package_without_source_field_has_no_source() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        let base_files = find(&packages, "base-files");
        assert_eq!(base_files.version, "12.4+deb12u11");
        assert_eq!(base_files.epoch, None);
        assert_eq!(base_files.arch.as_deref(), Some("amd64"));
        assert_eq!(base_files.source, None);
    }

    #[test]
    fn epoch_is_split_from_the_version() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        let bsdutils = find(&packages, "bsdutils");
        assert_eq!(bsdutils.version, "2.38.1-5+deb12u3");
        assert_eq!(bsdutils.epoch, Some(1));
        assert_eq!(bsdutils.full_version(), "1:2.38.1-5+deb12u3");
    }

    #[test]
    fn source_with_version_keeps_its_own_version_and_no_epoch() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        assert_eq!(
            find(&packages, "bsdutils").source,
            Some(SourcePackage {
                name: "util-linux".into(),
                version: Some("2.38.1-5+deb12u3".into()),
                release: None,
                epoch: None,
            })
        );
    }

    #[test]
    fn source_version_with_epoch_differs_from_binnmu_binary_version() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        let libcap2 = find(&packages, "libcap2");
        assert_eq!(libcap2.version, "2.66-4+deb12u2+b2");
        assert_eq!(libcap2.epoch, Some(1));
        assert_eq!(
            libcap2.source,
            Some(SourcePackage {
                name: "libcap2".into(),
                version: Some("2.66-4+deb12u2".into()),
                release: None,
                epoch: Some(1),
            })
        );
    }

    #[test]
    fn source_without_version_takes_the_binary_version() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        let libc6 = find(&packages, "libc6");
        assert_eq!(
            libc6.source,
            Some(SourcePackage {
                name: "glibc".into(),
                version: Some("2.36-9+deb12u14".into()),
                release: None,
                epoch: None,
            })
        );
        let zlib1g = find(&packages, "zlib1g");
        assert_eq!(zlib1g.version, "1.2.13.dfsg-1");
        assert_eq!(
            zlib1g.source,
            Some(SourcePackage {
                name: "zlib".into(),
                version: Some("1.2.13.dfsg-1".into()),
                release: None,
                epoch: Some(1),
            })
        );
    }

    #[test]
    fn architecture_all_is_kept() {
        let packages = catalog("/var/lib/dpkg/status", STATUS).unwrap();
        assert_eq!(find(&packages, "tzdata").arch.as_deref(), Some("all"));
    }

    #[test]
    fn distroless_control_file_without_status_is_installed() {
        let packages = catalog(
            "/var/lib/dpkg/status.d/libsqlite3-0",
            include_bytes!("testdata/distroless/var/lib/dpkg/status.d/libsqlite3-0"),
        )
        .unwrap();
        assert_eq!(packages.len(), 1);
        let sqlite = &packages[0];
        assert_eq!(sqlite.name, "libsqlite3-0");
        assert_eq!(sqlite.version, "3.40.1-2+deb12u2");
        assert_eq!(
            sqlite.source.as_ref().map(|s| s.name.as_str()),
            Some("sqlite3")
        );
    }

    #[test]
    fn distroless_control_file_with_epoch() {
        let packages = catalog(
            "/var/lib/dpkg/status.d/zlib1g",
            include_bytes!("testdata/distroless/var/lib/dpkg/status.d/zlib1g"),
        )
        .unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].full_version(), "1:1.2.13.dfsg-1");
    }

    #[test]
    fn md5sums_content_yields_no_package() {
        let md5sums = include_bytes!("testdata/distroless/var/lib/dpkg/status.d/zlib1g.md5sums");
        assert_eq!(catalog("/var/lib/dpkg/status", md5sums).unwrap(), []);
    }

    #[test]
    fn garbage_yields_no_package() {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 256) as u8).collect();
        assert_eq!(catalog("/var/lib/dpkg/status", &garbage).unwrap(), []);
    }

    const OPKG_STATUS: &[u8] = include_bytes!("testdata/openwrt/usr/lib/opkg/status");

    /// The packages of an OpenWrt `info/<name>.control` fixture.
    fn opkg_control(name: &str) -> Vec<Package> {
        macro_rules! control {
            ($name:literal) => {
                &include_bytes!(concat!(
                    "testdata/openwrt/usr/lib/opkg/info/",
                    $name,
                    ".control"
                ))[..]
            };
        }
        let bytes = match name {
            "busybox" => control!("busybox"),
            "libc" => control!("libc"),
            "dropbear" => control!("dropbear"),
            "ca-bundle" => control!("ca-bundle"),
            "opkg" => control!("opkg"),
            other => panic!("no fixture {other}"),
        };
        catalog(&format!("/usr/lib/opkg/info/{name}.control"), bytes).unwrap()
    }

    #[test]
    fn openwrt_opkg_status_lists_installed_packages() {
        let packages = catalog("/usr/lib/opkg/status", OPKG_STATUS).unwrap();
        let found: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_deref()))
            .collect();
        // `wpad-basic-mbedtls` was removed: `deinstall user not-installed`.
        assert_eq!(
            found,
            [
                ("libc", "1.2.4-4", Some("x86_64")),
                ("busybox", "1.36.1-1", Some("x86_64")),
                ("dropbear", "2022.83-1", Some("x86_64")),
                ("ca-bundle", "20230311-1", Some("all")),
                ("opkg", "2022-02-24-d038e5b6-2", Some("x86_64")),
            ]
        );
        assert!(packages.iter().all(|p| p.ecosystem == Ecosystem::Deb
            && p.epoch.is_none()
            && p.source.is_none()
            && p.licenses.is_empty()));
    }

    #[test]
    fn opkg_control_file_states_the_licence() {
        let busybox = opkg_control("busybox");
        assert_eq!(busybox.len(), 1);
        assert_eq!(
            (busybox[0].name.as_str(), busybox[0].version.as_str()),
            ("busybox", "1.36.1-1")
        );
        assert_eq!(busybox[0].licenses, ["GPL-2.0"]);
        assert_eq!(opkg_control("dropbear")[0].licenses, ["MIT"]);
        assert_eq!(
            opkg_control("libc")[0].licenses,
            ["GPL-3.0-with-GCC-exception"]
        );
        // OpenWrt lists several licences separated by spaces.
        assert_eq!(
            opkg_control("ca-bundle")[0].licenses,
            ["GPL-2.0-or-later", "MPL-2.0"]
        );
    }

    #[test]
    fn opkg_source_is_a_build_recipe_not_a_source_package() {
        // `Source: package/utils/busybox` names OpenWrt's build directory.
        for name in ["busybox", "libc", "dropbear", "ca-bundle", "opkg"] {
            assert_eq!(opkg_control(name)[0].source, None, "{name}");
        }
    }

    #[test]
    fn status_over_the_size_limit_keeps_the_stanzas_before_the_cut() {
        let stanza =
            |i: usize| format!("Package: p{i}\nStatus: install ok installed\nVersion: 1.{i}\n\n");
        let mut data = Vec::new();
        let mut i = 0;
        while data.len() as u64 <= CONTROL_LIMIT {
            data.extend_from_slice(stanza(i).as_bytes());
            i += 1;
        }
        let mut bytes = data.as_slice();
        let findings = DpkgCataloger
            .catalog(
                &meta("/var/lib/dpkg/status.d/big"),
                Content::Stream(&mut bytes),
            )
            .unwrap();
        // Every stanza that ends before the cut is kept; the one it cuts is not.
        let whole = data[..CONTROL_LIMIT as usize]
            .windows(2)
            .filter(|w| w == b"\n\n")
            .count();
        assert_eq!(findings.packages.len(), whole);
        assert_eq!(findings.packages[0].name, "p0");
        assert_eq!(
            findings.packages[whole - 1].version,
            format!("1.{}", whole - 1)
        );
        assert_eq!(
            findings.incomplete,
            [format!(
                "read only the first {CONTROL_LIMIT} bytes (size limit); later records not read"
            )]
        );
    }

    #[test]
    fn status_within_the_limits_is_complete() {
        let findings = DpkgCataloger
            .catalog(
                &meta("/var/lib/dpkg/status"),
                Content::Stream(&mut &STATUS[..]),
            )
            .unwrap();
        assert!(!findings.packages.is_empty());
        assert!(findings.incomplete.is_empty());
    }
}
