//! Go programs built by the tests with the Go toolchain of this machine (Debian's
//! `golang-go`), offline: a `main` package under a chosen import path, built in module
//! mode or in GOPATH mode (as Debian builds its packages), with the flags vendors use.

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
}

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
        }
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
        let mut go = Command::new("go");
        go.current_dir(&root)
            .arg("build")
            .arg("-buildvcs=false")
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
