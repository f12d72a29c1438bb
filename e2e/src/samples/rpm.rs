//! A Rocky-Linux-like image: rpm packages built by `rpmbuild` with Rocky 9's names,
//! versions and licences, installed into an image root by `rpm --root` (Debian's rpm
//! tools, whose database is `rpmdb.sqlite` as on RHEL 9).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::{run, Installed, Sample};
use crate::oci::Entry;

/// A binary package: its name and the files it installs (path in the image, copied from
/// this machine's file, or written with placeholder text when `None`).
type BinaryRpm = (
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
);

/// One source rpm and the binary packages built from it.
struct SourceRpm {
    name: &'static str,
    epoch: Option<u32>,
    version: &'static str,
    release: &'static str,
    arch: &'static str,
    license: &'static str,
    packages: &'static [BinaryRpm],
}

const OS_RELEASE: &str = r#"NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
"#;

const SOURCES: &[SourceRpm] = &[
    SourceRpm {
        name: "rocky-release",
        epoch: None,
        version: "9.4",
        release: "1.7.el9",
        arch: "noarch",
        license: "BSD-3-Clause AND CC-BY-SA-4.0",
        packages: &[(
            "rocky-release",
            &[("/etc/rocky-release", None), ("/etc/os-release", None)],
        )],
    },
    SourceRpm {
        name: "bash",
        epoch: None,
        version: "5.1.8",
        release: "9.el9",
        arch: "x86_64",
        license: "GPLv3+",
        packages: &[("bash", &[("/usr/bin/bash", Some("/usr/bin/bash"))])],
    },
    SourceRpm {
        name: "glibc",
        epoch: None,
        version: "2.34",
        release: "100.el9_4.2",
        arch: "x86_64",
        license: "LGPLv2+ and LGPLv2+ with exceptions and GPLv2+ and GPLv2+ with exceptions and BSD and Inner-Net and ISC and Public Domain and GFDL",
        packages: &[
            ("glibc", &[("/usr/lib64/libc.so.6", None)]),
            ("glibc-common", &[("/usr/bin/ldd", None)]),
            ("glibc-minimal-langpack", &[]),
        ],
    },
    SourceRpm {
        name: "openssl",
        epoch: Some(1),
        version: "3.0.7",
        release: "27.el9",
        arch: "x86_64",
        license: "ASL 2.0",
        packages: &[
            ("openssl", &[("/usr/bin/openssl", Some("/usr/bin/openssl"))]),
            ("openssl-libs", &[("/usr/lib64/libssl.so.3", None)]),
        ],
    },
    SourceRpm {
        name: "python3.9",
        epoch: None,
        version: "3.9.18",
        release: "3.el9_4.5",
        arch: "x86_64",
        license: "Python",
        packages: &[
            ("python3", &[("/usr/bin/python3.9", None)]),
            ("python3-libs", &[("/usr/lib64/libpython3.9.so.1.0", None)]),
        ],
    },
    SourceRpm {
        name: "zlib",
        epoch: None,
        version: "1.2.11",
        release: "40.el9",
        arch: "x86_64",
        license: "zlib and Boost",
        packages: &[("zlib", &[("/usr/lib64/libz.so.1", None)])],
    },
    SourceRpm {
        name: "tzdata",
        epoch: None,
        version: "2024a",
        release: "1.el9",
        arch: "noarch",
        license: "Public Domain",
        packages: &[("tzdata", &[("/usr/share/zoneinfo/UTC", None)])],
    },
    SourceRpm {
        name: "ca-certificates",
        epoch: None,
        version: "2023.2.60_v7.0.306",
        release: "90.1.el9_2",
        arch: "noarch",
        license: "MIT and GPLv2+",
        packages: &[(
            "ca-certificates",
            &[("/etc/pki/tls/certs/ca-bundle.crt", None)],
        )],
    },
    SourceRpm {
        name: "gcc",
        epoch: None,
        version: "11.4.1",
        release: "3.el9",
        arch: "x86_64",
        license: "GPLv3+ and GPLv3+ with exceptions and GPLv2+ with exceptions and LGPLv2+ and BSD",
        packages: &[("libgcc", &[("/usr/lib64/libgcc_s.so.1", None)])],
    },
    SourceRpm {
        name: "curl",
        epoch: None,
        version: "7.76.1",
        release: "29.el9_4.1",
        arch: "x86_64",
        license: "MIT",
        packages: &[
            ("curl-minimal", &[("/usr/bin/curl", None)]),
            ("libcurl-minimal", &[("/usr/lib64/libcurl.so.4", None)]),
        ],
    },
];

/// Builds the packages, installs them into a root under `work` and returns the image.
pub fn rocky(work: &Path) -> Result<Sample> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    let topdir = work.join("rpmbuild");
    let specs = work.join("specs");
    std::fs::create_dir_all(&specs)?;
    for source in SOURCES {
        let spec = specs.join(format!("{}.spec", source.name));
        std::fs::write(&spec, spec_file(source)?)?;
        run(Command::new("rpmbuild")
            .arg("--quiet")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", topdir.display()))
            // No stripping, debuginfo or byte-compiling: the payload is what it is.
            .args(["--define", "__os_install_post %{nil}"])
            .args(["--define", "debug_package %{nil}"])
            .arg(&spec))
        .with_context(|| format!("building {}", source.name))?;
    }

    let root = work.join("root");
    std::fs::create_dir_all(&root)?;
    let rpm = |args: &[&str]| -> Result<String> {
        run(Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args))
    };
    rpm(&["--initdb"])?;
    let mut install = vec![
        "-i",
        "--nodeps",
        "--ignorearch",
        "--ignoreos",
        "--noscripts",
        "--notriggers",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    for arch in ["noarch", "x86_64"] {
        let dir = topdir.join("RPMS").join(arch);
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            install.push(entry?.path().to_string_lossy().into_owned());
        }
    }
    rpm(&install.iter().map(String::as_str).collect::<Vec<_>>())?;

    let listing = rpm(&["-qa", "--qf", "%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\n"])?;
    let installed: BTreeSet<Installed> = listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (name, epoch, version) = (fields.next()?, fields.next()?, fields.next()?);
            let version = match epoch {
                "(none)" => version.to_owned(),
                epoch => format!("{epoch}:{version}"),
            };
            Some(Installed::new("rpm", name, version))
        })
        .collect();

    Ok(Sample::new(
        "docker.io/nodebom/sample-rocky:9",
        vec![vec![Entry::tree(&root, "/")]],
        vec!["rpm"],
        installed,
    ))
}

/// The spec file of one source rpm: its binary packages, each installing its files.
fn spec_file(source: &SourceRpm) -> Result<String> {
    let mut spec = String::new();
    writeln!(spec, "Name: {}", source.name)?;
    if let Some(epoch) = source.epoch {
        writeln!(spec, "Epoch: {epoch}")?;
    }
    writeln!(spec, "Version: {}", source.version)?;
    writeln!(spec, "Release: {}", source.release)?;
    writeln!(spec, "Summary: {} sample package", source.name)?;
    writeln!(spec, "License: {}", source.license)?;
    writeln!(spec, "BuildArch: {}", source.arch)?;
    writeln!(spec, "AutoReqProv: no")?;
    writeln!(spec, "%description\n{} sample package.", source.name)?;
    for (name, _) in source.packages.iter().filter(|(n, _)| *n != source.name) {
        writeln!(spec, "%package -n {name}\nSummary: {name} sample package")?;
        writeln!(spec, "%description -n {name}\n{name} sample package.")?;
    }
    writeln!(spec, "%install")?;
    for (_, files) in source.packages {
        for (path, from) in *files {
            let dest = format!("%{{buildroot}}{path}");
            let parent = Path::new(path).parent().context("file path")?.display();
            writeln!(spec, "mkdir -p %{{buildroot}}{parent}")?;
            match (from, *path) {
                (Some(host), _) => writeln!(spec, "cp {host} {dest}")?,
                (None, "/etc/os-release") => {
                    writeln!(spec, "cat > {dest} <<'EOF'\n{OS_RELEASE}EOF")?
                }
                (None, _) => writeln!(spec, "echo '{} {path}' > {dest}", source.name)?,
            }
        }
    }
    for (name, files) in source.packages {
        if *name == source.name {
            writeln!(spec, "%files")?;
        } else {
            writeln!(spec, "%files -n {name}")?;
        }
        for (path, _) in *files {
            writeln!(spec, "{path}")?;
        }
    }
    Ok(spec)
}
