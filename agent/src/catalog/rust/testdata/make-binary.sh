#!/bin/sh
# Regenerates testdata/usr/local/bin/hello-auditable: a tiny Rust program built with
# cargo-auditable (`cargo install cargo-auditable`), which embeds its dependency tree as
# zlib-compressed JSON in the ELF section `.dep-v0`, then stripped (~300 KiB).
#
# Packages in the dependency tree:
#   hello-auditable 0.3.1   the root package (source "local")
#   itoa            1.0.11  a runtime dependency from crates.io
#   autocfg         1.3.0   a build dependency (kind "build"), not in the program
#
# Run from anywhere: sh agent/src/catalog/rust/testdata/make-binary.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/src"
cat >"$work/Cargo.toml" <<'TOML'
[package]
name = "hello-auditable"
version = "0.3.1"
edition = "2021"

[dependencies]
itoa = "=1.0.11"

[build-dependencies]
autocfg = "=1.3.0"

[profile.release]
opt-level = "z"
lto = true
panic = "abort"
strip = true
codegen-units = 1
TOML
cat >"$work/src/main.rs" <<'RS'
fn main() {
    let mut buf = itoa::Buffer::new();
    println!("{}", buf.format(42u32));
}
RS
echo 'fn main() { let _ = autocfg::AutoCfg::new(); }' >"$work/build.rs"

(cd "$work" && cargo auditable build --release --quiet)
mkdir -p "$here/usr/local/bin"
cp "$work/target/release/hello-auditable" "$here/usr/local/bin/hello-auditable"
readelf -S "$here/usr/local/bin/hello-auditable" | grep -A1 '\.dep-v0'
