//! Go programs built by the tests with the Go toolchain of this machine (Debian's
//! `golang-go`), offline: a `main` package under a chosen import path, built in module
//! mode or in GOPATH mode (as Debian builds its packages), with the flags vendors use,
//! optionally from a git checkout (version control stamping); and what `go version -m`
//! says of a binary, for tests to take their expectations from the toolchain.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// How the program is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoBuild {
    /// Module mode: a `go.mod` declaring `module` at the root, the main package at
    /// `package` below it (`""` for the root).
    Module { module: String, package: String },
    /// GOPATH mode (`GO111MODULE=off`): the main package at `$GOPATH/src/<path>`.
    Gopath { path: String },
}

/// One program to build.
#[derive(Debug, Clone)]
pub struct GoProgram {
    pub build: GoBuild,
    /// `-ldflags`, e.g. `-X main.version=1.2.3`.
    pub ldflags: String,
    /// `-trimpath` (Go then leaves `-ldflags` out of the build info).
    pub trimpath: bool,
    /// `GOOS` (default `linux`).
    pub goos: String,
    /// Module mode only: the module is committed to a git repository (at
    /// [`GIT_COMMIT_TIME`]) and built with `-buildvcs=true`, so that the build info
    /// records `vcs.revision` and `vcs.time`. Needs `git`.
    pub git: bool,
}

/// Commit time of the repository of a [`GoProgram::git`] build.
pub const GIT_COMMIT_TIME: &str = "2024-05-06T07:08:09Z";

impl GoProgram {
    /// A module-mode program.
    pub fn module(module: &str, package: &str) -> Self {
        Self::new(GoBuild::Module {
            module: module.into(),
            package: package.into(),
        })
    }

    /// A GOPATH-mode program.
    pub fn gopath(path: &str) -> Self {
        Self::new(GoBuild::Gopath { path: path.into() })
    }

    fn new(build: GoBuild) -> Self {
        GoProgram {
            build,
            ldflags: String::new(),
            trimpath: false,
            goos: "linux".into(),
            git: false,
        }
    }

    pub fn git(mut self) -> Self {
        self.git = true;
        self
    }

    pub fn ldflags(mut self, ldflags: &str) -> Self {
        self.ldflags = ldflags.into();
        self
    }

    pub fn trimpath(mut self) -> Self {
        self.trimpath = true;
        self
    }

    pub fn goos(mut self, goos: &str) -> Self {
        self.goos = goos.into();
        self
    }

    /// Builds the program into `out` (a file path); `work` holds the sources, GOPATH and
    /// build cache.
    pub fn build_to(&self, work: &Path, out: &Path) -> Result<PathBuf> {
        let gopath = work.join("gopath");
        let (dir, target, module_mode) = match &self.build {
            GoBuild::Module { module, package } => {
                let root = work.join("src").join(module.replace('/', "_"));
                std::fs::create_dir_all(&root)?;
                std::fs::write(root.join("go.mod"), format!("module {module}\n\ngo 1.19\n"))?;
                let dir = if package.is_empty() {
                    root.clone()
                } else {
                    root.join(package)
                };
                let target = if package.is_empty() {
                    ".".to_owned()
                } else {
                    format!("./{package}")
                };
                (dir, target, true)
            }
            GoBuild::Gopath { path } => (gopath.join("src").join(path), path.clone(), false),
        };
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("main.go"), MAIN_GO)?;
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let root = match &self.build {
            GoBuild::Module { module, .. } => work.join("src").join(module.replace('/', "_")),
            GoBuild::Gopath { .. } => gopath.join("src"),
        };
        if self.git {
            if !module_mode {
                bail!("version control stamping is for module builds");
            }
            commit_all(&root)?;
        }
        let mut go = Command::new("go");
        go.current_dir(&root)
            .arg("build")
            .arg(if self.git {
                "-buildvcs=true"
            } else {
                "-buildvcs=false"
            })
            .arg("-o")
            .arg(out);
        if self.trimpath {
            go.arg("-trimpath");
        }
        if !self.ldflags.is_empty() {
            go.arg(format!("-ldflags={}", self.ldflags));
        }
        go.arg(target)
            .env("GOPATH", &gopath)
            .env("GOCACHE", work.join("cache"))
            .env("GOFLAGS", if module_mode { "-mod=mod" } else { "" })
            .env("GO111MODULE", if module_mode { "on" } else { "off" })
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .env("GOOS", &self.goos);
        let output = go
            .output()
            .context("the Go toolchain must be installed (apt-get install golang-go)")?;
        if !output.status.success() {
            bail!(
                "go build {:?}: {}",
                self.build,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(out.to_owned())
    }
}

/// A program that reads its `version` variable, so that `-X main.version=` has a
/// symbol to set.
const MAIN_GO: &str = "package main\n\nimport \"fmt\"\n\nvar version = \"dev\"\n\nfunc main() { fmt.Println(version) }\n";

/// Makes `dir` a git repository with everything in it committed at [`GIT_COMMIT_TIME`]
/// by a fixed author, whatever the user's git configuration.
fn commit_all(dir: &Path) -> Result<()> {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &["commit", "-q", "--no-gpg-sign", "-m", "release"],
    ] {
        let output = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "nodebom tests")
            .env("GIT_AUTHOR_EMAIL", "tests@nodebom.invalid")
            .env("GIT_COMMITTER_NAME", "nodebom tests")
            .env("GIT_COMMITTER_EMAIL", "tests@nodebom.invalid")
            .env("GIT_AUTHOR_DATE", GIT_COMMIT_TIME)
            .env("GIT_COMMITTER_DATE", GIT_COMMIT_TIME)
            .output()
            .context("git must be installed (apt-get install git)")?;
        if !output.status.success() {
            bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

/// What `go version -m <binary>` prints: the toolchain, the main package's path, the
/// main module (`mod` line) and the build settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoVersionM {
    /// `go1.19.8`.
    pub toolchain: String,
    /// `path` line.
    pub path: String,
    /// `mod` line: path and version.
    pub main: Option<(String, String)>,
    /// `build` lines, in order.
    pub settings: Vec<(String, String)>,
}

impl GoVersionM {
    /// The value of the first build setting named `key`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs `go version -m` on `binary` (the toolchain reads Go ≥ 1.18 build info from ELF,
/// PE and Mach-O files).
pub fn go_version_m(binary: &Path) -> Result<GoVersionM> {
    let output = Command::new("go")
        .arg("version")
        .arg("-m")
        .arg(binary)
        .output()
        .context("the Go toolchain must be installed (apt-get install golang-go)")?;
    if !output.status.success() {
        bail!(
            "go version -m {}: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8(output.stdout).context("go version -m output")?;
    let mut lines = text.lines();
    // "/usr/bin/ctr: go1.19.8"
    let toolchain = lines
        .next()
        .and_then(|first| first.rsplit(": ").next())
        .context("go version -m printed nothing")?;
    let mut found = GoVersionM {
        toolchain: toolchain.trim().to_owned(),
        ..GoVersionM::default()
    };
    for line in lines {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match fields.as_slice() {
            ["path", path] => found.path = (*path).to_owned(),
            ["mod", path, version, ..] => {
                found.main = Some(((*path).to_owned(), (*version).to_owned()));
            }
            ["build", setting] => {
                let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
                found.settings.push((key.to_owned(), value.to_owned()));
            }
            _ => {}
        }
    }
    Ok(found)
}
