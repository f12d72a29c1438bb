#!/usr/bin/env bash
# Peak memory of `nodebom-agent scan` on images that are large or hostile, on both ways
# the agent reads a layer (unpacked snapshot; layer blob when nothing is unpacked):
#   fatjar  a 1 GiB Spring Boot style jar with 51 nested jars (bench/fatjar.py)
#   bomb    a layer of a few MiB of gzip that expands to 4 GiB of zeros
# Prints one line per image and path: wall time, peak RSS, packages found. The chart's
# memory limit for the agent is 256 MiB; the target is a peak under 128 MiB.
#
#   sudo bench/memory.sh        (root: containerd, overlay mounts)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$BENCH_DIR/..
OUT=${BENCH_OUT:-$BENCH_DIR/out}/memory
OCI_IMAGE=$ROOT/scripts/lib/oci_image.py
AGENT=$ROOT/target/release/nodebom-agent

log() { printf '[memory] %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }
. "$ROOT/scripts/lib/debian.sh"
ensure_debian_packages containerd
require_tools containerd ctr python3 cargo

log "building the agent (release)"
(cd "$ROOT" && cargo build --release --locked -p nodebom-agent --bin nodebom-agent >&2)

mkdir -p "$OUT"
image() { # NAME: writes $OUT/NAME.oci.tar from the tree $OUT/NAME.tree
    local name=$1
    [[ -f $OUT/$name.oci.tar ]] && return
    python3 "$OCI_IMAGE" layer "$OUT/$name.tree" "$OUT/$name.layer.tar.gz" >/dev/null
    python3 "$OCI_IMAGE" layout "$OUT/$name.oci" "$OUT/$name.oci.tar" \
        --ref "docker.io/nodebom/bench-$name:1" --history "bench $name" \
        "$OUT/$name.layer.tar.gz" >/dev/null
}
if [[ ! -f $OUT/fatjar.oci.tar ]]; then
    log "writing the fat jar image"
    rm -rf "$OUT/fatjar.tree"
    python3 "$BENCH_DIR/fatjar.py" fatjar "$OUT/fatjar.tree"
    image fatjar
fi
if [[ ! -f $OUT/bomb.oci.tar ]]; then
    log "writing the gzip bomb image"
    rm -rf "$OUT/bomb.tree" && mkdir -p "$OUT/bomb.tree"
    truncate -s 4G "$OUT/bomb.tree/zeros.bin"
    image bomb
fi

# One containerd with the images unpacked, one with blobs only.
for store in snapshot blob; do
    "$BENCH_DIR/containerd.sh" stop "$OUT/containerd-$store" 2>/dev/null || true
    rm -rf "$OUT/containerd-$store"
    "$BENCH_DIR/containerd.sh" start "$OUT/containerd-$store"
    for name in fatjar bomb; do
        if [[ $store == snapshot ]]; then
            "$BENCH_DIR/containerd.sh" import "$OUT/containerd-$store" "$OUT/$name.oci.tar"
        else
            "$BENCH_DIR/containerd.sh" import "$OUT/containerd-$store" "$OUT/$name.oci.tar" --no-unpack
        fi
    done
done
trap 'for s in snapshot blob; do "$BENCH_DIR/containerd.sh" stop "$OUT/containerd-$s" || true; done' EXIT

printf '%-8s %-9s %9s %12s %9s %s\n' image path wall "peak RSS" packages note
for name in fatjar bomb; do
    for store in snapshot blob; do
        python3 - "$AGENT" "$OUT/containerd-$store/containerd.sock" \
            "docker.io/nodebom/bench-$name:1" "$name" "$store" "$OUT/fatjar.tree/expected.txt" <<'PY'
import json, resource, subprocess, sys, time
agent, socket, image, name, store, expected_path = sys.argv[1:]
started = time.monotonic()
run = subprocess.run([agent, "scan", "--socket", socket, "--log", "error", image],
                     capture_output=True)
wall = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if run.returncode != 0:
    sys.exit(f"scan of {image} failed: {run.stderr.decode()[-2000:]}")
bom = json.loads(run.stdout)
packages = [c for c in bom.get("components", []) if c.get("type") == "library"]
incomplete = any(c.get("aggregate", "").startswith("incomplete")
                 for c in bom.get("compositions", []))
note = "incomplete" if incomplete else "complete"
if name == "fatjar":
    expected = open(expected_path).read().split("\n")
    note += f", {len([e for e in expected if e])} artifacts in the jar"
print(f"{name:<8} {store:<9} {wall:8.1f}s {peak:8.1f} MiB {len(packages):>9} {note}")
PY
    done
done
