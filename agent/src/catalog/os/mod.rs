//! OS identity: `/etc/os-release` and the older files syft falls back on.
//!
//! Each file is read on its own (a layer may hold any of them); [`resolve`] then picks the
//! identity of the merged image from the files that are visible in it.

mod parse;

use super::{binary, CatalogError, Cataloger, Content, FileMeta};
use crate::package::{Findings, OsRelease};

const ETC_OS_RELEASE: &str = "/etc/os-release";
const USR_LIB_OS_RELEASE: &str = "/usr/lib/os-release";
const SYSTEM_RELEASE_CPE: &str = "/etc/system-release-cpe";
const REDHAT_RELEASE: &str = "/etc/redhat-release";
const DEBIAN_VERSION: &str = "/etc/debian_version";
const BUSYBOX: &str = "/bin/busybox";

/// Files that state an OS identity, most authoritative first. BusyBox is last because
/// many distributions ship it too.
const IDENTITY_PRIORITY: [&str; 5] = [
    ETC_OS_RELEASE,
    USR_LIB_OS_RELEASE,
    SYSTEM_RELEASE_CPE,
    REDHAT_RELEASE,
    BUSYBOX,
];

/// Identity text files are a few hundred bytes.
const TEXT_LIMIT: u64 = 64 * 1024;

/// Reads the files that identify the operating system of an image.
pub struct OsReleaseCataloger;

impl Cataloger for OsReleaseCataloger {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        match file.path {
            ETC_OS_RELEASE | USR_LIB_OS_RELEASE | SYSTEM_RELEASE_CPE | REDHAT_RELEASE
            | DEBIAN_VERSION => true,
            BUSYBOX => file.is_executable(),
            _ => false,
        }
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let os = match file.path {
            BUSYBOX => scan_busybox(content)?,
            ETC_OS_RELEASE | USR_LIB_OS_RELEASE => {
                Some(parse::os_release(&read_text(content)?)).filter(|release| !is_empty(release))
            }
            SYSTEM_RELEASE_CPE => parse::system_release_cpe(&read_text(content)?),
            REDHAT_RELEASE => parse::redhat_release(&read_text(content)?),
            DEBIAN_VERSION => parse::debian_version(&read_text(content)?),
            _ => None,
        };
        Ok(Findings {
            os,
            ..Findings::default()
        })
    }
}

/// Picks the OS identity of an image from what its visible identity files say
/// (`(path, release)` pairs, as [`OsReleaseCataloger`] found them).
///
/// The first non-empty file in syft's order wins: `/etc/os-release`,
/// `/usr/lib/os-release`, `/etc/system-release-cpe`, `/etc/redhat-release`,
/// `/bin/busybox`. For Debian, a numeric `/etc/debian_version` (`12.5`) replaces
/// os-release's major-only `VERSION_ID` (`12`); `trixie/sid` does not.
///
/// ```
/// use nodebom_agent::catalog::os::resolve;
/// use nodebom_agent::package::OsRelease;
///
/// let os_release = OsRelease { id: Some("debian".into()), version_id: Some("12".into()), ..Default::default() };
/// let point = OsRelease { version_id: Some("12.5".into()), ..Default::default() };
/// let os = resolve(&[("/etc/debian_version", &point), ("/usr/lib/os-release", &os_release)]);
/// assert_eq!(os.and_then(|os| os.version_id).as_deref(), Some("12.5"));
/// ```
pub fn resolve(files: &[(&str, &OsRelease)]) -> Option<OsRelease> {
    let mut identity = IDENTITY_PRIORITY.iter().find_map(|wanted| {
        files
            .iter()
            .find(|(path, release)| path == wanted && !is_empty(release))
            .map(|(_, release)| (*release).clone())
    })?;
    let is_debian = identity
        .id
        .as_deref()
        .is_some_and(|id| id.eq_ignore_ascii_case("debian"));
    if is_debian {
        let point_release = files
            .iter()
            .filter(|(path, _)| *path == DEBIAN_VERSION)
            .find_map(|(_, release)| release.version_id.as_deref())
            .filter(|version| is_point_release(version));
        if let Some(version) = point_release {
            identity.version_id = Some(version.to_owned());
        }
    }
    Some(identity)
}

/// `12` or `12.5`: what Debian's stable releases write in `/etc/debian_version`.
fn is_point_release(version: &str) -> bool {
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(major) && all_digits(minor)
}

/// A small identity text file; bytes that are not UTF-8 are replaced.
fn read_text(content: Content<'_>) -> Result<String, CatalogError> {
    let bytes = content.read_bounded(TEXT_LIMIT)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn is_empty(release: &OsRelease) -> bool {
    *release == OsRelease::default()
}

/// The identity `/bin/busybox` states in its banner, found by the BusyBox classifier's
/// bounded, streaming search (the binary cataloger reports the same version as a
/// package).
fn scan_busybox(content: Content<'_>) -> Result<Option<OsRelease>, CatalogError> {
    let version = binary::busybox_version(content.into_reader())?;
    Ok(version.map(|version| OsRelease {
        id: Some("busybox".to_owned()),
        version_id: Some(version.clone()),
        name: Some("busybox".to_owned()),
        pretty_name: Some(format!("BusyBox v{version}")),
        ..OsRelease::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::meta;

    fn catalog(path: &str, mut bytes: &[u8]) -> Result<Findings, CatalogError> {
        OsReleaseCataloger.catalog(&meta(path), Content::Stream(&mut bytes))
    }

    fn os(path: &str, bytes: &[u8]) -> OsRelease {
        catalog(path, bytes).unwrap().os.unwrap()
    }

    #[test]
    fn wants_only_identity_files_at_their_exact_paths() {
        let cataloger = OsReleaseCataloger;
        for path in [
            ETC_OS_RELEASE,
            USR_LIB_OS_RELEASE,
            SYSTEM_RELEASE_CPE,
            REDHAT_RELEASE,
            DEBIAN_VERSION,
        ] {
            assert!(cataloger.wants(&meta(path)), "{path}");
        }
        for path in [
            "/etc/os-release.bak",
            "/opt/etc/os-release",
            "/etc/lsb-release",
            "/etc/alpine-release",
        ] {
            assert!(!cataloger.wants(&meta(path)), "{path}");
        }
    }

    #[test]
    fn wants_busybox_only_when_executable() {
        let mut file = meta(BUSYBOX);
        assert!(!OsReleaseCataloger.wants(&file));
        file.mode = 0o755;
        assert!(OsReleaseCataloger.wants(&file));
    }

    #[test]
    fn debian_12_os_release_gives_its_identity() {
        let release = os(
            USR_LIB_OS_RELEASE,
            include_bytes!("testdata/debian-12/usr/lib/os-release"),
        );
        assert_eq!(
            release,
            OsRelease {
                id: Some("debian".into()),
                id_like: vec![],
                version_id: Some("12".into()),
                version_codename: Some("bookworm".into()),
                name: Some("Debian GNU/Linux".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            }
        );
    }

    #[test]
    fn alpine_os_release_has_a_point_version_id() {
        let release = os(
            ETC_OS_RELEASE,
            include_bytes!("testdata/alpine-3.20/etc/os-release"),
        );
        assert_eq!(release.id.as_deref(), Some("alpine"));
        assert_eq!(release.version_id.as_deref(), Some("3.20.3"));
        assert_eq!(release.pretty_name.as_deref(), Some("Alpine Linux v3.20"));
        assert_eq!(release.version_codename, None);
    }

    #[test]
    fn ubuntu_os_release_is_like_debian() {
        let release = os(
            ETC_OS_RELEASE,
            include_bytes!("testdata/ubuntu-22.04/etc/os-release"),
        );
        assert_eq!(release.id.as_deref(), Some("ubuntu"));
        assert_eq!(release.id_like, ["debian"]);
        assert_eq!(release.version_id.as_deref(), Some("22.04"));
        assert_eq!(release.version_codename.as_deref(), Some("jammy"));
    }

    #[test]
    fn ubi_os_release_with_quoted_id_and_blank_line_is_rhel() {
        let release = os(
            ETC_OS_RELEASE,
            include_bytes!("testdata/ubi-9/etc/os-release"),
        );
        assert_eq!(release.id.as_deref(), Some("rhel"));
        assert_eq!(release.id_like, ["fedora"]);
        assert_eq!(release.version_id.as_deref(), Some("9.4"));
        assert_eq!(release.name.as_deref(), Some("Red Hat Enterprise Linux"));
    }

    #[test]
    fn centos_6_system_release_cpe_gives_vendor_and_major_version() {
        let release = os(
            SYSTEM_RELEASE_CPE,
            include_bytes!("testdata/centos-6/etc/system-release-cpe"),
        );
        assert_eq!(release.id.as_deref(), Some("centos"));
        assert_eq!(release.version_id.as_deref(), Some("6"));
    }

    #[test]
    fn centos_6_redhat_release_gives_name_and_minor_version() {
        let release = os(
            REDHAT_RELEASE,
            include_bytes!("testdata/centos-6/etc/redhat-release"),
        );
        assert_eq!(release.id.as_deref(), Some("centos"));
        assert_eq!(release.name.as_deref(), Some("CentOS"));
        assert_eq!(release.version_id.as_deref(), Some("6.10"));
    }

    #[test]
    fn debian_version_yields_only_a_version_id() {
        let release = os(
            DEBIAN_VERSION,
            include_bytes!("testdata/debian-12/etc/debian_version"),
        );
        assert_eq!(
            release,
            OsRelease {
                version_id: Some("12.11".into()),
                ..OsRelease::default()
            }
        );
    }

    #[test]
    fn busybox_binary_banner_gives_busybox_identity() {
        let mut file = meta(BUSYBOX);
        file.mode = 0o755;
        let mut bytes: &[u8] = include_bytes!("testdata/busybox/bin/busybox");
        let findings = OsReleaseCataloger
            .catalog(&file, Content::Stream(&mut bytes))
            .unwrap();
        let release = findings.os.unwrap();
        assert_eq!(release.id.as_deref(), Some("busybox"));
        assert_eq!(release.version_id.as_deref(), Some("1.35.0"));
    }

    #[test]
    fn busybox_banner_across_two_reads_is_found() {
        // The banner straddles the 64 KiB read boundary.
        let mut bytes = vec![0u8; 64 * 1024 - 12];
        bytes.extend_from_slice(b"BusyBox v1.36.1 (2024-06-10) multi-call binary.\0");
        bytes.extend(std::iter::repeat_n(0u8, 1000));
        let release = scan_busybox(Content::Stream(&mut bytes.as_slice()))
            .unwrap()
            .unwrap();
        assert_eq!(release.version_id.as_deref(), Some("1.36.1"));
    }

    #[test]
    fn binary_without_banner_has_no_identity() {
        let bytes = vec![0x7fu8; 200 * 1024];
        assert_eq!(
            scan_busybox(Content::Stream(&mut bytes.as_slice())).unwrap(),
            None
        );
    }

    #[test]
    fn empty_os_release_has_no_identity() {
        assert!(catalog(ETC_OS_RELEASE, b"# nothing here\n\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn garbage_os_release_has_no_identity() {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(catalog(ETC_OS_RELEASE, &garbage).unwrap().is_empty());
    }

    #[test]
    fn oversized_os_release_is_refused() {
        let big = vec![b'#'; TEXT_LIMIT as usize + 1];
        assert!(matches!(
            catalog(ETC_OS_RELEASE, &big),
            Err(CatalogError::TooLarge { .. })
        ));
    }

    fn release(id: &str, version: &str) -> OsRelease {
        OsRelease {
            id: Some(id.into()),
            version_id: Some(version.into()),
            ..OsRelease::default()
        }
    }

    fn version_only(version: &str) -> OsRelease {
        OsRelease {
            version_id: Some(version.into()),
            ..OsRelease::default()
        }
    }

    #[test]
    fn etc_os_release_wins_over_usr_lib_os_release() {
        let etc = release("debian", "12");
        let usr = release("ubuntu", "22.04");
        let os = resolve(&[(USR_LIB_OS_RELEASE, &usr), (ETC_OS_RELEASE, &etc)]).unwrap();
        assert_eq!(os.id.as_deref(), Some("debian"));
    }

    #[test]
    fn os_release_wins_over_busybox_and_redhat_release() {
        let busybox = release("busybox", "1.36.1");
        let redhat = release("centos", "6.10");
        let alpine = release("alpine", "3.20.3");
        let os = resolve(&[
            (BUSYBOX, &busybox),
            (REDHAT_RELEASE, &redhat),
            (USR_LIB_OS_RELEASE, &alpine),
        ])
        .unwrap();
        assert_eq!(os.id.as_deref(), Some("alpine"));
    }

    #[test]
    fn empty_os_release_falls_back_to_the_next_file() {
        let empty = OsRelease::default();
        let cpe = release("centos", "6");
        let os = resolve(&[(ETC_OS_RELEASE, &empty), (SYSTEM_RELEASE_CPE, &cpe)]).unwrap();
        assert_eq!(os.id.as_deref(), Some("centos"));
    }

    #[test]
    fn debian_point_release_refines_version_id() {
        let debian = os(
            USR_LIB_OS_RELEASE,
            include_bytes!("testdata/debian-12/usr/lib/os-release"),
        );
        let point = os(
            DEBIAN_VERSION,
            include_bytes!("testdata/debian-12/etc/debian_version"),
        );
        let os = resolve(&[(USR_LIB_OS_RELEASE, &debian), (DEBIAN_VERSION, &point)]).unwrap();
        assert_eq!(os.version_id.as_deref(), Some("12.11"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
    }

    #[test]
    fn ubuntu_is_not_refined_by_its_debian_version() {
        let ubuntu = os(
            ETC_OS_RELEASE,
            include_bytes!("testdata/ubuntu-22.04/etc/os-release"),
        );
        let sid = os(
            DEBIAN_VERSION,
            include_bytes!("testdata/ubuntu-22.04/etc/debian_version"),
        );
        let numeric = version_only("12.5");
        for debian_version in [&sid, &numeric] {
            let os =
                resolve(&[(ETC_OS_RELEASE, &ubuntu), (DEBIAN_VERSION, debian_version)]).unwrap();
            assert_eq!(os.version_id.as_deref(), Some("22.04"));
        }
    }

    #[test]
    fn debian_testing_codename_does_not_refine_version_id() {
        let trixie = OsRelease {
            id: Some("debian".into()),
            version_codename: Some("trixie".into()),
            ..OsRelease::default()
        };
        let sid = version_only("trixie/sid");
        let os = resolve(&[(ETC_OS_RELEASE, &trixie), (DEBIAN_VERSION, &sid)]).unwrap();
        assert_eq!(os.version_id, None);
    }

    #[test]
    fn debian_version_alone_is_not_an_identity() {
        let point = version_only("12.5");
        assert_eq!(resolve(&[(DEBIAN_VERSION, &point)]), None);
        assert_eq!(resolve(&[]), None);
    }

    #[test]
    fn identity_files_at_other_paths_are_ignored() {
        let chroot = release("debian", "12");
        assert_eq!(resolve(&[("/srv/chroot/etc/os-release", &chroot)]), None);
    }
}
