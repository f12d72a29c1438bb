//! Go build info → packages, as syft 1.18's `go-module-binary-cataloger` reports them:
//! one package per dependency (the replacement when a `replace` directive applied), the
//! main module, and the Go standard library as `stdlib`.

use crate::package::{Ecosystem, Identity, Package};

use super::parse::{BuildInfo, Module};

/// Go toolchain that built the binary, without experiments: `go1.22.1`.
pub const PROP_TOOLCHAIN: &str = "go:toolchain";
/// `GOARCH` build setting.
pub const PROP_GOARCH: &str = "go:goarch";
/// `GOOS` build setting.
pub const PROP_GOOS: &str = "go:goos";
/// Path of the main module of the binary the package was linked into.
pub const PROP_MAIN_MODULE: &str = "go:mainModule";
/// `h1:` checksum of a module, when the build recorded one.
pub const PROP_H1_DIGEST: &str = "go:h1Digest";
/// `vcs.revision` build setting, on the main module.
pub const PROP_VCS_REVISION: &str = "go:vcsRevision";
/// Import path of the main package, on a main module whose path was derived from it
/// (a build without module information).
pub const PROP_MAIN_PACKAGE: &str = "go:mainPackage";

/// Name syft gives the Go standard library.
pub const STDLIB: &str = "stdlib";
/// Version Go gives a main module built from a checkout.
const DEVEL: &str = "(devel)";
/// Main package path of `go build file.go`: not a module.
const COMMAND_LINE_ARGUMENTS: &str = "command-line-arguments";

/// The packages one binary's build info stands for. `linked_version` is asked, with the
/// main module's path, for a version set at link time (`-X`) that the build info does
/// not record (builds with `-trimpath` leave `-ldflags` out), when nothing else gives
/// the main module a version.
pub fn to_packages(
    info: BuildInfo,
    linked_version: impl FnOnce(&str) -> Option<String>,
) -> Vec<Package> {
    // `go1.21.0 X:boringcrypto` names the toolchain `go1.21.0`.
    let toolchain = info
        .go_version
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut common = vec![(PROP_TOOLCHAIN, toolchain.clone())];
    for (prop, key) in [(PROP_GOARCH, "GOARCH"), (PROP_GOOS, "GOOS")] {
        if let Some(value) = info.setting(key).filter(|v| !v.is_empty()) {
            common.push((prop, value.to_owned()));
        }
    }

    let (main, deps) = main_and_deps(&info);
    let main_path = main.as_ref().map(|m| m.path.clone()).unwrap_or_default();
    let new = |module: &Module| {
        // Like `go version -m`, a replaced module is known by its replacement.
        let module = module.replace.as_deref().unwrap_or(module);
        let mut package = Package::new(Ecosystem::Go, &module.path, &module.version);
        for (prop, value) in &common {
            package.properties.insert((*prop).to_owned(), value.clone());
        }
        if !main_path.is_empty() {
            package
                .properties
                .insert(PROP_MAIN_MODULE.to_owned(), main_path.clone());
        }
        if !module.sum.is_empty() {
            package
                .properties
                .insert(PROP_H1_DIGEST.to_owned(), module.sum.clone());
        }
        package
    };

    let mut packages: Vec<Package> = deps
        .iter()
        .map(new)
        .filter(|p| !p.name.is_empty())
        .collect();
    if let Some(main) = &main {
        let mut package = new(main);
        if package.version == DEVEL {
            let version = main_version_from_build(&info, &package.name)
                .or_else(|| linked_version(&package.name).map(|v| with_v(&v)));
            if let Some(version) = version {
                package.version = version;
            }
        }
        if main.path != info.path && !info.path.is_empty() && main.version == DEVEL {
            package
                .properties
                .insert(PROP_MAIN_PACKAGE.to_owned(), info.path.clone());
        }
        if let Some(revision) = info.setting("vcs.revision").filter(|v| !v.is_empty()) {
            package
                .properties
                .insert(PROP_VCS_REVISION.to_owned(), revision.to_owned());
        }
        packages.push(package);
    }
    // syft adds the standard library to every binary it found a module in, when the
    // toolchain version has a number to match vulnerabilities on.
    if !packages.is_empty() && toolchain.bytes().any(|b| b.is_ascii_digit()) {
        let mut stdlib = Package::new(Ecosystem::Go, STDLIB, &toolchain);
        stdlib.licenses.push("BSD-3-Clause".to_owned());
        stdlib
            .properties
            .insert(PROP_TOOLCHAIN.to_owned(), toolchain);
        packages.push(stdlib);
    }
    packages
        .into_iter()
        .map(|package| package.with_identity(identity))
        .collect()
}

/// `pkg:golang/<module path>@<version>`: the module path minus its last segment is the
/// namespace (purl-spec, Trivy); Trivy's `gobinary`.
pub fn identity(package: &Package) -> Identity {
    let (namespace, name) = match package.name.rsplit_once('/') {
        Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
        None => (None, package.name.clone()),
    };
    Identity {
        purl_type: "golang".to_owned(),
        namespace,
        name,
        version: purl_version(package),
        trivy_type: Some("gobinary".to_owned()),
        ..Identity::default()
    }
}

/// The purl version of a Go module. The toolchain's `stdlib` is versioned `go1.22.1` in
/// build info and `1.22.1` in purls (syft, Trivy), and build info may append experiments
/// (`go1.22.1 X:boringcrypto`) that are not part of the version. `(devel)`, the main
/// module of a build outside version control, is no version at all.
fn purl_version(package: &Package) -> Option<String> {
    let version = package.version.trim();
    if version == DEVEL {
        return None;
    }
    if package.name == STDLIB {
        let release = version.split_whitespace().next().unwrap_or_default();
        return Some(release.strip_prefix("go").unwrap_or(release).to_string());
    }
    Some(version.to_string())
}

/// The main module and the dependencies. A binary built in GOPATH mode has no `mod`
/// line, and `go build file.go` names it `command-line-arguments`: then, as syft does,
/// the one dependency at `(devel)` is taken for the main module, or else the module the
/// main package belongs to, at `(devel)` ([`module_root`]).
fn main_and_deps(info: &BuildInfo) -> (Option<Module>, Vec<Module>) {
    let mut deps = info.deps.clone();
    let main = info.main.clone().filter(|m| *m != Module::default());
    let partial_build = Module {
        path: COMMAND_LINE_ARGUMENTS.to_owned(),
        ..Module::default()
    };
    let missing = match &main {
        None => !info.path.is_empty(),
        Some(main) => *main == partial_build,
    };
    if !missing {
        return (main, deps);
    }
    let mut devel = deps
        .iter()
        .enumerate()
        .filter(|(_, d)| d.version == DEVEL)
        .map(|(i, _)| i);
    let main = match (devel.next(), devel.next()) {
        (Some(i), None) => deps.remove(i),
        _ => Module {
            path: module_root(&info.path).to_owned(),
            version: DEVEL.to_owned(),
            ..Module::default()
        },
    };
    (Some(main), deps)
}

/// Code hosts whose repositories are `host/owner/repository`, so that a module path
/// there has three segments (plus a `/vN` major version).
const OWNER_REPOSITORY_HOSTS: [&str; 6] = [
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "gitee.com",
    "codeberg.org",
    "git.sr.ht",
];

/// The module a main package most likely belongs to, when the build recorded no module
/// (GOPATH builds: Debian's and many vendors' `(devel)` binaries): vulnerability
/// databases know modules, not commands. On a known code host, `host/owner/repository`
/// and its `/vN` major version; elsewhere, what precedes a `cmd` segment
/// (`k8s.io/kubernetes/cmd/kubelet` → `k8s.io/kubernetes`); otherwise the path itself.
/// A guess by convention, as no metadata says it; `go:mainPackage` keeps the path.
fn module_root(package: &str) -> &str {
    let segments: Vec<&str> = package.split('/').collect();
    let end = match segments.as_slice() {
        [host, _, _, rest @ ..] if OWNER_REPOSITORY_HOSTS.contains(host) => {
            if rest
                .first()
                .is_some_and(|segment| is_major_version(segment))
            {
                4
            } else {
                3
            }
        }
        _ => match segments
            .iter()
            .skip(1)
            .position(|segment| *segment == "cmd")
        {
            Some(index) => index + 1,
            None => segments.len(),
        },
    };
    let length = segments[..end].iter().map(|s| s.len() + 1).sum::<usize>() - 1;
    package.get(..length).unwrap_or(package)
}

/// `v2`, `v3`, …: the last segment of a module path from major version 2 on.
fn is_major_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|n| n.len() < 6 && n.parse::<u32>().is_ok_and(|n| n >= 2))
}

/// A version as Go writes module versions, with a leading `v`.
fn with_v(version: &str) -> String {
    if version.starts_with('v') {
        version.to_owned()
    } else {
        format!("v{version}")
    }
}

/// A version for a `(devel)` main module from what the build recorded, in syft's order:
/// a version set with `-ldflags -X`, else the VCS tag when a build recorded one
/// (`vcs.tag`: not written by `cmd/go`, whose 1.24 versions the main module from the
/// tag instead, but by some build tools), else a pseudo-version from the VCS revision
/// and time. syft's step between the first two — taking the first NUL-delimited
/// semver-looking string anywhere in the binary — is left out: it needs the whole file
/// read and picks up versions of bundled C libraries as readily as the program's own.
fn main_version_from_build(info: &BuildInfo, main_path: &str) -> Option<String> {
    if let Some(version) = info
        .setting("-ldflags")
        .and_then(|flags| version_from_ldflags(flags, main_path))
    {
        return Some(with_v(&version));
    }
    if let Some(tag) = info
        .setting("vcs.tag")
        .and_then(|tag| semver_prefix(tag).filter(|version| version.len() == tag.len()))
    {
        return Some(with_v(&tag));
    }
    let revision = info.setting("vcs.revision")?;
    let time = info.setting("vcs.time")?;
    Some(pseudo_version(revision, time))
}

/// syft's two `-X` patterns, tried in order over the whole flags string: a symbol in
/// package `main` or under the main module whose name ends in `ver`/`Ver`/`version`/
/// `Version` (then one ending in `tag`/`Tag`), set to a value whose last path segments
/// start with `[v]N.N.N`. Written out by hand to keep syft's regular-expression
/// semantics (leftmost match, `.` matching any character) without a regex engine.
pub fn version_from_ldflags(ldflags: &str, main_path: &str) -> Option<String> {
    const VERSION_SUFFIXES: [&str; 4] = ["ver", "Ver", "version", "Version"];
    const TAG_SUFFIXES: [&str; 2] = ["tag", "Tag"];
    [&VERSION_SUFFIXES[..], &TAG_SUFFIXES[..]]
        .iter()
        .find_map(|suffixes| {
            ldflags
                .char_indices()
                .find_map(|(start, _)| match_at(ldflags, start, main_path, suffixes))
        })
}

/// `(main|<main_path>/\S*)\.<alnum ending in suffix>=(\S+/)*<version>` at `start`.
fn match_at(s: &str, start: usize, main_path: &str, suffixes: &[&str]) -> Option<String> {
    let rest = s.get(start..)?;
    if rest.starts_with("main") {
        if let Some(version) = symbol_tail(s, start + "main".len(), suffixes) {
            return Some(version);
        }
    }
    let prefix = format!("{main_path}/");
    if !main_path.is_empty() && rest.starts_with(&prefix) {
        let from = start + prefix.len();
        let run_end = from
            + s.get(from..)?
                .find(char::is_whitespace)
                .unwrap_or(s.len() - from);
        // `\S*` is greedy: try the longest run first.
        for end in (from..=run_end)
            .rev()
            .filter(|&end| s.is_char_boundary(end))
        {
            if let Some(version) = symbol_tail(s, end, suffixes) {
                return Some(version);
            }
        }
    }
    None
}

/// `\.<alnum>*<suffix>=(\S+/)*<version>` at `at`.
fn symbol_tail(s: &str, at: usize, suffixes: &[&str]) -> Option<String> {
    let rest = s.get(at..)?.strip_prefix('.')?;
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_len);
    let value = after.strip_prefix('=')?;
    if !suffixes.iter().any(|suffix| name.ends_with(suffix)) {
        return None;
    }
    // `(\S+/)*` skips any leading path ending in `/` (at least two characters), longest
    // first.
    let path = value.split(char::is_whitespace).next().unwrap_or_default();
    let mut starts: Vec<usize> = path
        .match_indices('/')
        .map(|(i, _)| i + 1)
        .filter(|&i| i >= 2)
        .collect();
    starts.reverse();
    starts.push(0);
    starts
        .into_iter()
        .find_map(|i| semver_prefix(value.get(i..)?))
}

/// `v?\d+.\d+.\d+[-\w]*` at the start of `s` (`.` is any character but a newline), as a
/// backtracking regex engine would match it.
fn semver_prefix(s: &str) -> Option<String> {
    let digits_from = usize::from(s.starts_with('v'));
    let end = numbers(s, digits_from, 3)?;
    Some(s.get(..end)?.to_owned())
}

/// Matches `remaining` groups of `\d+` separated by any one character from `at`, then
/// `[-\w]*`; returns where the match ends. Greedy digit runs are tried longest first.
fn numbers(s: &str, at: usize, remaining: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let run = bytes
        .get(at..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    for len in (1..=run).rev() {
        let after = at + len;
        if remaining == 1 {
            let tail = bytes.get(after..)?;
            let word = tail
                .iter()
                .take_while(|&&b| b == b'-' || b == b'_' || b.is_ascii_alphanumeric())
                .count();
            return Some(after + word);
        }
        let next = s.get(after..)?.chars().next().filter(|&c| c != '\n')?;
        if let Some(end) = numbers(s, after + next.len_utf8(), remaining - 1) {
            return Some(end);
        }
    }
    None
}

/// Go's pseudo-version for an untagged commit (`module.PseudoVersion` with no base
/// version): `v0.0.0-<UTC yyyymmddhhmmss>-<12-char revision prefix>`. A time that does not
/// parse as RFC 3339 becomes Go's zero time, as in syft.
fn pseudo_version(revision: &str, time: &str) -> String {
    let timestamp =
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
            .map(|t| {
                let t = t.to_offset(time::UtcOffset::UTC);
                let (month, day) = (u8::from(t.month()), t.day());
                let (year, hour, minute, second) = (t.year(), t.hour(), t.minute(), t.second());
                format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}")
            })
            .unwrap_or_else(|_| "00010101000000".to_owned());
    let revision = revision.get(..12).unwrap_or(revision);
    format!("v0.0.0-{timestamp}-{revision}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::purl_of;

    fn packages_of(info: BuildInfo) -> Vec<Package> {
        to_packages(info, |_| None)
    }

    fn go(name: &str, version: &str) -> Package {
        Package::new(Ecosystem::Go, name, version).with_identity(identity)
    }

    #[test]
    fn go_module_path_splits_into_namespace_and_name() {
        let cobra = go("github.com/spf13/cobra", "v1.8.0");
        assert_eq!(
            purl_of(&cobra, None),
            "pkg:golang/github.com/spf13/cobra@v1.8.0"
        );
        let otelhttp = go(
            "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
            "v0.49.0",
        );
        assert_eq!(
            purl_of(&otelhttp, None),
            "pkg:golang/go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.49.0"
        );
    }

    #[test]
    fn go_stdlib_version_drops_the_go_prefix_and_experiments() {
        let stdlib = go("stdlib", "go1.22.1");
        assert_eq!(purl_of(&stdlib, None), "pkg:golang/stdlib@1.22.1");
        let boring = go("stdlib", "go1.22.1 X:boringcrypto");
        assert_eq!(purl_of(&boring, None), "pkg:golang/stdlib@1.22.1");
    }

    #[test]
    fn go_devel_main_module_has_no_version() {
        let main = go("example.com/tool", "(devel)");
        assert_eq!(purl_of(&main, None), "pkg:golang/example.com/tool");
    }

    fn module(path: &str, version: &str) -> Module {
        Module {
            path: path.into(),
            version: version.into(),
            sum: String::new(),
            replace: None,
        }
    }

    fn info(main: Option<Module>, deps: Vec<Module>, settings: &[(&str, &str)]) -> BuildInfo {
        BuildInfo {
            go_version: "go1.22.5 X:boringcrypto".into(),
            path: "example.com/app/cmd/app".into(),
            main,
            deps,
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    fn names_and_versions(packages: &[Package]) -> Vec<(&str, &str)> {
        packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect()
    }

    #[test]
    fn replaced_dependency_is_reported_as_its_replacement() {
        let mut dep = module("golang.org/x/net", "v0.20.0");
        dep.replace = Some(Box::new(Module {
            sum: "h1:abc=".into(),
            ..module("github.com/fork/net", "v0.20.1")
        }));
        let packages = packages_of(info(
            Some(module("example.com/app", "v1.0.0")),
            vec![dep],
            &[],
        ));
        assert_eq!(
            names_and_versions(&packages),
            [
                ("github.com/fork/net", "v0.20.1"),
                ("example.com/app", "v1.0.0"),
                ("stdlib", "go1.22.5")
            ]
        );
        assert_eq!(packages[0].properties[PROP_H1_DIGEST], "h1:abc=");
        assert_eq!(packages[0].properties[PROP_MAIN_MODULE], "example.com/app");
        assert_eq!(packages[0].properties[PROP_TOOLCHAIN], "go1.22.5");
    }

    #[test]
    fn gopath_build_reports_the_module_of_its_main_package_at_devel() {
        // What Debian's containerd binaries hold: no `mod` line, no dependencies.
        let packages = packages_of(info(
            None,
            vec![],
            &[("GOARCH", "arm64"), ("GOOS", "linux")],
        ));
        assert_eq!(
            names_and_versions(&packages),
            [("example.com/app", "(devel)"), ("stdlib", "go1.22.5")]
        );
        assert_eq!(
            packages[0].properties[PROP_MAIN_PACKAGE],
            "example.com/app/cmd/app"
        );
        assert_eq!(packages[0].properties[PROP_GOARCH], "arm64");
        assert_eq!(packages[0].properties[PROP_GOOS], "linux");
        assert_eq!(packages[1].licenses, ["BSD-3-Clause"]);
    }

    #[test]
    fn single_devel_dependency_becomes_the_main_module_of_a_file_build() {
        let packages = packages_of(info(
            Some(module(COMMAND_LINE_ARGUMENTS, "")),
            vec![
                module("example.com/app", DEVEL),
                module("example.com/lib", "v0.1.0"),
            ],
            &[],
        ));
        assert_eq!(
            names_and_versions(&packages),
            [
                ("example.com/lib", "v0.1.0"),
                ("example.com/app", "(devel)"),
                ("stdlib", "go1.22.5")
            ]
        );
    }

    #[test]
    fn module_roots_follow_code_hosts_and_cmd_directories() {
        let cases = [
            (
                "github.com/containerd/containerd/cmd/ctr",
                "github.com/containerd/containerd",
            ),
            (
                "github.com/opencontainers/runc",
                "github.com/opencontainers/runc",
            ),
            (
                "github.com/containerd/containerd/v2/cmd/containerd",
                "github.com/containerd/containerd/v2",
            ),
            (
                "gitlab.com/group/tool/internal/main",
                "gitlab.com/group/tool",
            ),
            ("k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes"),
            ("sigs.k8s.io/cri-tools/cmd/crictl", "sigs.k8s.io/cri-tools"),
            ("go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3"),
            ("github.com/owner", "github.com/owner"),
            ("cmd/tool", "cmd/tool"),
            ("", ""),
        ];
        for (package, module) in cases {
            assert_eq!(module_root(package), module, "{package}");
        }
        assert!(is_major_version("v2") && !is_major_version("v1") && !is_major_version("vx"));
    }

    #[test]
    fn a_version_linked_in_is_asked_for_only_when_nothing_else_gives_one() {
        let mut asked = None;
        let packages = to_packages(info(None, vec![], &[]), |module| {
            asked = Some(module.to_owned());
            Some("1.2.3".into())
        });
        assert_eq!(asked.as_deref(), Some("example.com/app"));
        assert_eq!(packages[0].version, "v1.2.3");
        // An ldflags version in the build info comes first.
        let settings = [("-ldflags", "-X main.version=2.0.0")];
        let packages = to_packages(info(None, vec![], &settings), |_| {
            panic!("not asked when the build info has a version")
        });
        assert_eq!(packages[0].version, "v2.0.0");
    }

    #[test]
    fn build_without_modules_reports_nothing() {
        let mut empty = info(None, vec![], &[]);
        empty.path.clear();
        assert!(packages_of(empty).is_empty());
    }

    #[test]
    fn devel_main_module_takes_the_vcs_pseudo_version() {
        let settings = [
            ("vcs.revision", "0d0441c09a3ad2799c2f58d6d599d94855f4f469"),
            ("vcs.time", "2024-05-06T09:08:09+02:00"),
        ];
        let packages = packages_of(info(
            Some(module("example.com/app", DEVEL)),
            vec![],
            &settings,
        ));
        assert_eq!(packages[0].version, "v0.0.0-20240506070809-0d0441c09a3a");
        assert_eq!(
            packages[0].properties[PROP_VCS_REVISION],
            "0d0441c09a3ad2799c2f58d6d599d94855f4f469"
        );
    }

    #[test]
    fn vcs_tag_that_is_a_version_wins_over_the_pseudo_version() {
        let vcs = |tag: &str| {
            let settings = [
                ("vcs.tag", tag),
                ("vcs.revision", "0d0441c09a3ad2799c2f58d6d599d94855f4f469"),
                ("vcs.time", "2024-05-06T07:08:09Z"),
            ];
            let main = Some(module("example.com/app", DEVEL));
            packages_of(info(main, vec![], &settings))[0]
                .version
                .clone()
        };
        assert_eq!(vcs("v1.4.0"), "v1.4.0");
        assert_eq!(vcs("2.0.1-rc1"), "v2.0.1-rc1");
        for tag in ["nightly", "v1.4.0/x", "release-1.4"] {
            assert_eq!(vcs(tag), "v0.0.0-20240506070809-0d0441c09a3a", "{tag}");
        }
    }

    #[test]
    fn unparsable_vcs_time_gives_the_zero_time_like_go() {
        assert_eq!(
            pseudo_version("abc", "yesterday"),
            "v0.0.0-00010101000000-abc"
        );
    }

    #[test]
    fn ldflags_version_wins_over_the_pseudo_version() {
        let settings = [
            (
                "-ldflags",
                "-s -w -X github.com/acme/app/internal/build.Version=2.3.4-rc.1",
            ),
            ("vcs.revision", "0d0441c09a3ad2799c2f58d6d599d94855f4f469"),
            ("vcs.time", "2024-05-06T07:08:09Z"),
        ];
        let main = Some(module("github.com/acme/app", DEVEL));
        assert_eq!(
            packages_of(info(main, vec![], &settings))[0].version,
            "v2.3.4-rc"
        );
    }

    #[test]
    fn ldflags_patterns_follow_syft() {
        let m = "github.com/acme/app";
        let cases = [
            ("-X main.version=1.5.0", Some("1.5.0")),
            ("-X main.Version=v1.5.0", Some("v1.5.0")),
            (
                "-X main.gitVersion=v1.2.3-4-gabcdef",
                Some("v1.2.3-4-gabcdef"),
            ),
            (
                "-X github.com/acme/app/pkg/version.buildVer=10.20.30",
                Some("10.20.30"),
            ),
            ("-X main.Tag=refs/tags/v0.9.1", Some("v0.9.1")),
            ("-X main.tag=v1.0.0 -X main.version=v2.0.0", Some("v2.0.0")),
            ("-X main.commit=1.2.3", None),
            ("-X github.com/other/lib.Version=1.2.3", None),
            ("-X main.version=dev", None),
        ];
        for (flags, want) in cases {
            assert_eq!(version_from_ldflags(flags, m).as_deref(), want, "{flags}");
        }
    }
}
