//! An Alpine-like image: Alpine 3.20's base packages in apk's installed database
//! (`/lib/apk/db/installed`, written in apk-tools' format with the files each package
//! owns) and those files. No apk tool is packaged for Debian, so the database is written
//! here rather than by `apk add`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::Result;
use base64::Engine as _;
use sha2::Digest as _;

use super::{Installed, Sample};
use crate::oci::Entry;

/// name, version, origin, licence, files.
type ApkPackage = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const PACKAGES: &[ApkPackage] = &[
    (
        "musl",
        "1.2.5-r0",
        "musl",
        "MIT",
        &["lib/ld-musl-x86_64.so.1"],
    ),
    (
        "busybox",
        "1.36.1-r29",
        "busybox",
        "GPL-2.0-only",
        &["bin/busybox"],
    ),
    (
        "busybox-binsh",
        "1.36.1-r29",
        "busybox",
        "GPL-2.0-only",
        &[],
    ),
    (
        "alpine-baselayout-data",
        "3.6.5-r0",
        "alpine-baselayout",
        "GPL-2.0-only",
        &["etc/hosts", "etc/passwd"],
    ),
    (
        "alpine-baselayout",
        "3.6.5-r0",
        "alpine-baselayout",
        "GPL-2.0-only",
        &["etc/profile"],
    ),
    (
        "alpine-keys",
        "2.4-r1",
        "alpine-keys",
        "MIT",
        &["usr/share/apk/keys/alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub"],
    ),
    (
        "alpine-release",
        "3.20.3-r0",
        "alpine-base",
        "MIT",
        &["etc/alpine-release", "etc/os-release"],
    ),
    (
        "ca-certificates-bundle",
        "20240705-r0",
        "ca-certificates",
        "MPL-2.0 AND MIT",
        &["etc/ssl/certs/ca-certificates.crt"],
    ),
    (
        "libcrypto3",
        "3.3.2-r0",
        "openssl",
        "Apache-2.0",
        &["lib/libcrypto.so.3"],
    ),
    (
        "libssl3",
        "3.3.2-r0",
        "openssl",
        "Apache-2.0",
        &["lib/libssl.so.3"],
    ),
    (
        "ssl_client",
        "1.36.1-r29",
        "busybox",
        "GPL-2.0-only",
        &["usr/bin/ssl_client"],
    ),
    ("zlib", "1.3.1-r1", "zlib", "Zlib", &["lib/libz.so.1.3.1"]),
    (
        "apk-tools",
        "2.14.4-r1",
        "apk-tools",
        "GPL-2.0-only",
        &["sbin/apk"],
    ),
    (
        "scanelf",
        "1.3.7-r2",
        "pax-utils",
        "GPL-2.0-only",
        &["usr/bin/scanelf"],
    ),
    (
        "musl-utils",
        "1.2.5-r0",
        "musl",
        "MIT AND BSD-2-Clause AND GPL-2.0-or-later",
        &["usr/bin/ldd"],
    ),
    (
        "libc-utils",
        "0.7.2-r5",
        "libc-dev",
        "BSD-2-Clause AND BSD-3-Clause",
        &[],
    ),
];

const OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n\
PRETTY_NAME=\"Alpine Linux v3.20\"\nHOME_URL=\"https://alpinelinux.org/\"\n\
BUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n";

/// Alpine 3.20.3's base packages, one layer.
pub fn alpine() -> Result<Sample> {
    let mut layer = Vec::new();
    let mut database = String::new();
    for (name, version, origin, license, files) in PACKAGES {
        writeln!(
            database,
            "C:{}",
            apk_checksum(format!("{name}-{version}").as_bytes())
        )?;
        writeln!(database, "P:{name}\nV:{version}\nA:x86_64")?;
        writeln!(
            database,
            "S:{}\nI:{}",
            1000 + name.len() * 97,
            4096 * (1 + files.len())
        )?;
        writeln!(
            database,
            "T:{name} from Alpine Linux\nU:https://alpinelinux.org/"
        )?;
        writeln!(database, "L:{license}\no:{origin}")?;
        writeln!(
            database,
            "m:Natanael Copa <ncopa@alpinelinux.org>\nt:1725000000"
        )?;
        writeln!(
            database,
            "c:{}",
            hex::encode(&sha2::Sha256::digest(origin.as_bytes())[..20])
        )?;
        let mut dir = "";
        for file in *files {
            let (parent, base) = file.rsplit_once('/').unwrap_or(("", file));
            if parent != dir {
                writeln!(database, "F:{parent}")?;
                dir = parent;
            }
            let content = match *file {
                "etc/os-release" => OS_RELEASE.to_owned(),
                "etc/alpine-release" => "3.20.3\n".to_owned(),
                other => format!("{name} {version} /{other}\n"),
            };
            writeln!(database, "R:{base}\na:0:0:755")?;
            writeln!(database, "Z:{}", apk_checksum(content.as_bytes()))?;
            layer.push(Entry::executable(&format!("/{file}"), content));
        }
        database.push('\n');
    }
    layer.push(Entry::file("/lib/apk/db/installed", database));
    layer.push(Entry::file(
        "/etc/apk/world",
        "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nca-certificates-bundle\nlibc-utils\nssl_client\n",
    ));
    let installed: BTreeSet<Installed> = PACKAGES
        .iter()
        .map(|(name, version, ..)| Installed::new("apk", *name, *version))
        .collect();
    Ok(Sample::new(
        "docker.io/nodebom/sample-alpine:3.20",
        vec![layer],
        vec!["apk"],
        installed,
    ))
}

/// apk's `Q1` checksum notation: base64 of a SHA-1 (here a SHA-256 cut to SHA-1 size).
fn apk_checksum(data: &[u8]) -> String {
    let digest = sha2::Sha256::digest(data);
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(&digest[..20])
    )
}
