//! go-binary cataloger: the Go modules compiled into executables, read from the build
//! info the Go toolchain (≥ 1.18) embeds in every binary it links.
//!
//! `locate` finds the build info (ELF section table, PE section table or Mach-O load
//! commands for files, a bounded scan for streams), `parse` decodes it, `package` turns
//! it into packages the way syft 1.18 does, and `symbols` reads a version linked in
//! that the build info does not record.

mod locate;
mod package;
mod parse;
mod symbols;

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

pub use package::{
    identity, PROP_GOARCH, PROP_GOOS, PROP_H1_DIGEST, PROP_MAIN_MODULE, PROP_MAIN_PACKAGE,
    PROP_TOOLCHAIN, PROP_VCS_REVISION, STDLIB,
};

/// Reads Go build info from executables.
pub struct GoBinaryCataloger;

impl Cataloger for GoBinaryCataloger {
    fn name(&self) -> &'static str {
        "go-binary"
    }

    /// Every executable regular file, and Windows executables (`*.exe`, which images
    /// rarely mark executable). syft instead reads the MIME type of every file; here a
    /// file that is no executable costs one read of its first bytes in
    /// [`Cataloger::catalog`].
    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable()
            || file
                .path
                .rsplit_once('.')
                .is_some_and(|(_, extension)| extension.eq_ignore_ascii_case("exe"))
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        // A stream cannot be read twice: versions linked in without build info are read
        // from files only.
        let (blob, mut seekable) = match content {
            Content::File(file) => (locate::from_file(file)?, Some(file)),
            Content::Stream(reader) => (locate::from_stream(reader)?, None),
        };
        match blob {
            None => Ok(Findings::default()),
            Some(parse::Blob::PointerBased) => {
                tracing::debug!(
                    path = file.path,
                    "Go < 1.18 binary: its build info is not read"
                );
                Ok(Findings::default())
            }
            Some(parse::Blob::Inline(info)) => {
                let linked = |main_module: &str| {
                    let file = seekable.as_deref_mut()?;
                    symbols::linked_version(file, main_module)
                };
                Ok(Findings::packages(package::to_packages(info, linked)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::path::Path;

    use nodebom_e2e::golang::{go_version_m, GoProgram, GIT_COMMIT_TIME};

    use super::*;
    use crate::package::{Ecosystem, Package};

    const HELLO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/golang/testdata/usr/local/bin/hello"
    );

    fn meta(path: &str) -> FileMeta<'_> {
        FileMeta {
            path,
            size: 0,
            mode: 0o755,
        }
    }

    fn from_file(path: &Path) -> Result<Findings, CatalogError> {
        let mut file = std::fs::File::open(path).unwrap();
        GoBinaryCataloger.catalog(&meta("/usr/bin/x"), Content::File(&mut file))
    }

    fn from_stream(path: &Path) -> Result<Findings, CatalogError> {
        let mut file = std::fs::File::open(path).unwrap();
        GoBinaryCataloger.catalog(&meta("/usr/bin/x"), Content::Stream(&mut file))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Findings, CatalogError> {
        let mut reader = bytes;
        GoBinaryCataloger.catalog(&meta("/usr/bin/x"), Content::Stream(&mut reader))
    }

    /// A reader that hands out at most `n` bytes per call, to cut the stream anywhere.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn go_package(name: &str, version: &str, props: &[(&str, &str)]) -> Package {
        let mut package = Package::new(Ecosystem::Go, name, version);
        package.properties = props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>();
        package
    }

    /// The fixture's packages as syft 1.18.1 reports them (`syft scan dir:…`), with
    /// the facts `go version -m` prints as properties.
    fn hello_packages() -> Vec<Package> {
        let common = [
            (PROP_TOOLCHAIN, "go1.19.8"),
            (PROP_GOARCH, "amd64"),
            (PROP_GOOS, "linux"),
            (PROP_MAIN_MODULE, "example.com/hello"),
        ];
        let mut main = common.to_vec();
        main.push((
            PROP_VCS_REVISION,
            "0d0441c09a3ad2799c2f58d6d599d94855f4f469",
        ));
        let mut stdlib = go_package(STDLIB, "go1.19.8", &[(PROP_TOOLCHAIN, "go1.19.8")]);
        stdlib.licenses = vec!["BSD-3-Clause".into()];
        vec![
            go_package("example.com/color-fork", "v0.4.1", &common),
            go_package("example.com/greet", "v1.2.3", &common),
            go_package("example.com/hello", "v1.5.0", &main),
            stdlib,
        ]
        .into_iter()
        .map(|package| package.with_identity(identity))
        .collect()
    }

    #[test]
    fn wants_executables_only() {
        assert!(GoBinaryCataloger.wants(&FileMeta {
            path: "/usr/local/bin/app",
            size: 1,
            mode: 0o755
        }));
        assert!(GoBinaryCataloger.wants(&FileMeta {
            path: "/app",
            size: 1,
            mode: 0o700
        }));
        assert!(!GoBinaryCataloger.wants(&FileMeta {
            path: "/usr/local/bin/app",
            size: 1,
            mode: 0o644
        }));
    }

    #[test]
    fn binary_built_by_go_lists_deps_main_module_and_stdlib() {
        assert_eq!(
            from_file(Path::new(HELLO)).unwrap().packages,
            hello_packages()
        );
    }

    #[test]
    fn stream_gives_the_same_packages_as_the_file_whatever_the_read_sizes() {
        let bytes = std::fs::read(HELLO).unwrap();
        for step in [1 << 20, 65_537, 4096, 13] {
            let mut reader = Dribble(&bytes, step);
            let findings = GoBinaryCataloger
                .catalog(&meta("/usr/local/bin/hello"), Content::Stream(&mut reader))
                .unwrap();
            assert_eq!(findings.packages, hello_packages(), "reads of {step} bytes");
        }
    }

    /// Debian's containerd and runc packages ship Go binaries built in GOPATH mode and
    /// stripped: build info with a path and settings but no modules, no symbols. The
    /// main module is the module of the command `go version -m` prints the path of, at
    /// `(devel)`; the command's path is kept when it is not the module's.
    #[test]
    fn debian_go_binaries_report_their_module_and_read_the_same_from_file_and_stream() {
        let binaries = [
            ("/usr/bin/ctr", "github.com/containerd/containerd"),
            ("/usr/bin/containerd", "github.com/containerd/containerd"),
            ("/usr/sbin/runc", "github.com/opencontainers/runc"),
        ];
        assert!(
            binaries.iter().all(|(b, _)| Path::new(b).exists()),
            "Debian's containerd and runc packages must be installed (apt-get install containerd)"
        );
        for (binary, module) in binaries {
            let binary = Path::new(binary);
            let findings = from_file(binary).unwrap();
            assert_eq!(
                findings,
                from_stream(binary).unwrap(),
                "{}",
                binary.display()
            );
            let go = go_version_m(binary).unwrap();
            assert_eq!(go.main, None, "a GOPATH build: {}", binary.display());
            let found: Vec<_> = findings
                .packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            assert_eq!(
                found,
                [(module, "(devel)"), (STDLIB, go.toolchain.as_str())]
            );
            let main = &findings.packages[0].properties;
            assert_eq!(main[PROP_TOOLCHAIN], go.toolchain);
            assert_eq!(Some(main[PROP_GOOS].as_str()), go.setting("GOOS"));
            let package = (go.path != module).then_some(go.path.as_str());
            assert_eq!(main.get(PROP_MAIN_PACKAGE).map(String::as_str), package);
        }
        // Debian's ctr is the command `cmd/ctr` of containerd's module.
        assert_eq!(
            go_version_m(Path::new("/usr/bin/ctr")).unwrap().path,
            "github.com/containerd/containerd/cmd/ctr"
        );
    }

    /// Builds `program` with the tests' Go toolchain into `dir`.
    fn built(program: GoProgram, dir: &Path, name: &str) -> std::path::PathBuf {
        program
            .build_to(&dir.join("work"), &dir.join(name))
            .expect("the Go toolchain must be installed (apt-get install golang-go)")
    }

    fn main_module(findings: &Findings) -> (&str, &str) {
        let main = findings
            .packages
            .iter()
            .find(|p| p.name != STDLIB && !p.properties.contains_key(PROP_H1_DIGEST))
            .expect("a main module");
        (main.name.as_str(), main.version.as_str())
    }

    #[test]
    fn version_linked_in_with_trimpath_is_read_from_the_symbol_table() {
        let dir = tempfile::tempdir().unwrap();
        let release = GoProgram::module("example.com/tool", "cmd/tool")
            .trimpath()
            .ldflags("-X main.version=1.2.3");
        let binary = built(release.clone(), dir.path(), "tool");
        let findings = from_file(&binary).unwrap();
        assert_eq!(main_module(&findings), ("example.com/tool", "v1.2.3"));
        // The build info alone has no version (-trimpath drops -ldflags): a stream,
        // which cannot be read twice, gives the module at `(devel)`.
        assert_eq!(
            main_module(&from_stream(&binary).unwrap()),
            ("example.com/tool", "(devel)")
        );
        // Stripped (`-s -w`): no symbols, no version, still the module.
        let stripped = built(
            release.ldflags("-s -w -X main.version=1.2.3"),
            dir.path(),
            "stripped",
        );
        assert_eq!(
            main_module(&from_file(&stripped).unwrap()),
            ("example.com/tool", "(devel)")
        );
        // Not a version: nothing made up.
        let dev = built(
            GoProgram::module("example.com/tool", "cmd/tool")
                .trimpath()
                .ldflags("-X main.version=nightly"),
            dir.path(),
            "nightly",
        );
        assert_eq!(
            main_module(&from_file(&dev).unwrap()),
            ("example.com/tool", "(devel)")
        );
    }

    #[test]
    fn gopath_build_reports_the_module_of_its_command_with_the_linked_version() {
        let dir = tempfile::tempdir().unwrap();
        let binary = built(
            GoProgram::gopath("github.com/acme/tool/cmd/tool")
                .ldflags("-X github.com/acme/tool/pkg/version.Version=v0.9.1"),
            dir.path(),
            "tool",
        );
        let findings = from_file(&binary).unwrap();
        assert_eq!(main_module(&findings), ("github.com/acme/tool", "v0.9.1"));
        assert_eq!(
            findings.packages[0].properties[PROP_MAIN_PACKAGE],
            "github.com/acme/tool/cmd/tool"
        );
    }

    /// A build from a git checkout records the commit (`vcs.revision`, `vcs.time`) and
    /// no version: the main module gets Go's pseudo-version for the commit
    /// (`v0.0.0-<UTC commit time>-<12 hex digits of the revision>`).
    #[test]
    fn build_from_a_git_checkout_gets_the_pseudo_version_of_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let binary = built(
            GoProgram::module("example.com/tool", "cmd/tool")
                .trimpath()
                .git(),
            dir.path(),
            "tool",
        );
        let go = go_version_m(&binary).unwrap();
        assert_eq!(
            go.main,
            Some(("example.com/tool".to_owned(), "(devel)".to_owned()))
        );
        assert_eq!(go.setting("vcs"), Some("git"));
        assert_eq!(go.setting("vcs.time"), Some(GIT_COMMIT_TIME));
        let revision = go.setting("vcs.revision").unwrap();
        assert_eq!(revision.len(), 40);
        // 2024-05-06T07:08:09Z
        let pseudo = format!("v0.0.0-20240506070809-{}", &revision[..12]);
        let findings = from_file(&binary).unwrap();
        assert_eq!(
            main_module(&findings),
            ("example.com/tool", pseudo.as_str())
        );
        assert_eq!(findings, from_stream(&binary).unwrap());
        let main = findings
            .packages
            .iter()
            .find(|p| p.name == "example.com/tool")
            .unwrap();
        assert_eq!(main.properties[PROP_VCS_REVISION], revision);
    }

    #[test]
    fn windows_and_macos_builds_give_the_packages_of_the_linux_build() {
        let dir = tempfile::tempdir().unwrap();
        let program = GoProgram::module("example.com/tool", "cmd/tool")
            .trimpath()
            .ldflags("-X main.version=1.2.3");
        let names_and_versions = |findings: Findings| -> Vec<(String, String)> {
            findings
                .packages
                .into_iter()
                .map(|p| (p.name, p.version))
                .collect()
        };
        let linux =
            names_and_versions(from_file(&built(program.clone(), dir.path(), "linux")).unwrap());
        assert_eq!(linux[0], ("example.com/tool".into(), "v1.2.3".into()));
        for (goos, name) in [("windows", "tool.exe"), ("darwin", "tool-darwin")] {
            let binary = built(program.clone().goos(goos), dir.path(), name);
            let findings = from_file(&binary).unwrap();
            assert_eq!(findings.packages[0].properties[PROP_GOOS], goos);
            assert_eq!(names_and_versions(findings), linux, "{goos}");
            // A stream is scanned for the build info; the symbols are not read.
            let mut streamed = names_and_versions(from_stream(&binary).unwrap());
            assert_eq!(streamed[0], ("example.com/tool".into(), "(devel)".into()));
            streamed[0].1 = "v1.2.3".into();
            assert_eq!(streamed, linux, "{goos} stream");
        }
        // A Windows executable is wanted whatever its mode.
        assert!(GoBinaryCataloger.wants(&FileMeta {
            path: "/app/tool.EXE",
            size: 1,
            mode: 0o644
        }));
    }

    #[test]
    fn files_that_are_not_elf_are_rejected_unread() {
        for bytes in [&b"#!/bin/sh\necho hi\n"[..], b"MZ\x90\x00", b"\x7fEL", b""] {
            assert!(from_bytes(bytes).unwrap().is_empty());
        }
    }

    #[test]
    fn elf_binary_that_is_not_go_gives_nothing() {
        // Debian's /bin/true is a C program: sections, none of them .go.buildinfo.
        let path = Path::new("/bin/true");
        assert!(from_file(path).unwrap().is_empty());
        assert!(from_stream(path).unwrap().is_empty());
    }

    /// The fixture with the strings after its build info header zeroed.
    fn hello_with_strings_zeroed() -> Vec<u8> {
        let mut bytes = std::fs::read(HELLO).unwrap();
        let at = parse::find_magic(&bytes, 0).unwrap();
        bytes[at + 32..at + 512].fill(0);
        bytes
    }

    fn temp_file(bytes: &[u8]) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        file
    }

    #[test]
    fn file_ending_inside_its_build_info_is_an_error_not_a_panic() {
        // Cut in the header, in the version's length and string, in the module info.
        let bytes = std::fs::read(HELLO).unwrap();
        let at = parse::find_magic(&bytes, 0).unwrap();
        for keep in [14, 31, 32, 33, 40, 41, 42, 100, 300] {
            let cut = &bytes[..at + keep];
            assert!(
                matches!(from_bytes(cut), Err(CatalogError::Malformed(_))),
                "stream cut at +{keep}"
            );
            let result = GoBinaryCataloger.catalog(&meta("/x"), Content::File(&mut temp_file(cut)));
            assert!(
                matches!(result, Err(CatalogError::Malformed(_))),
                "file cut at +{keep}"
            );
        }
    }

    #[test]
    fn zeroed_strings_are_an_error_not_a_panic() {
        // Header kept, strings zeroed: an empty Go version, which Go rejects too.
        let bytes = hello_with_strings_zeroed();
        let from_file =
            GoBinaryCataloger.catalog(&meta("/x"), Content::File(&mut temp_file(&bytes)));
        assert!(matches!(from_file, Err(CatalogError::Malformed(_))));
        assert!(matches!(
            from_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn huge_string_length_is_an_error_not_a_panic() {
        let mut bytes = std::fs::read(HELLO).unwrap();
        let at = parse::find_magic(&bytes, 0).unwrap();
        bytes[at + 32..at + 42]
            .copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            from_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
        let from_file =
            GoBinaryCataloger.catalog(&meta("/x"), Content::File(&mut temp_file(&bytes)));
        assert!(matches!(from_file, Err(CatalogError::Malformed(_))));
    }

    #[test]
    fn elf_truncated_before_its_section_table_is_scanned_instead() {
        // The section table sits at the end of the file; without it the file is scanned.
        let bytes = std::fs::read(HELLO).unwrap();
        let at = parse::find_magic(&bytes, 0).unwrap();
        let mut file = temp_file(&bytes[..at + 4096]);
        let findings = GoBinaryCataloger
            .catalog(&meta("/x"), Content::File(&mut file))
            .unwrap();
        assert_eq!(findings.packages, hello_packages());
    }
}
