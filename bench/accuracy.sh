#!/usr/bin/env bash
# Accuracy per ecosystem against syft 1.18: builds the sample images of the accuracy
# test (e2e/src/samples/: Debian, distroless, Alpine-like apk, Rocky-like rpm, JVM,
# Ruby, PHP, .NET), imports them into a private containerd, scans each with syft and
# with nodebom, and prints, per image and ecosystem, what is installed, what each found,
# and every difference (also written to bench/out/accuracy/report.md).
#
# Environment:
#   SKIP_BUILD=1   use the existing target/release/nodebom-agent (no cargo build)
# Exit status: that of compare.py accuracy (1 when nodebom reports a package that is not
# installed, or finds less than 99 % of syft's packages of an ecosystem).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
OUT=$BENCH_DIR/out/accuracy
CONTAINERD_DIR=$OUT/containerd

log() { printf '[accuracy] %s\n' "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nodebom-agent"
    (cd "$REPO_DIR" && cargo build --release -p nodebom-agent)
fi
log "building the sample images"
(cd "$REPO_DIR" && cargo run --release -q -p nodebom-e2e --example samples -- "$OUT/images")

"$BENCH_DIR/containerd.sh" start "$CONTAINERD_DIR"
trap '"$BENCH_DIR/containerd.sh" stop "$CONTAINERD_DIR"' EXIT
python3 - "$OUT/images/samples.json" <<'PY' | while read -r archive; do
import json, sys
for sample in json.load(open(sys.argv[1])):
    print(sample["archive"])
PY
    log "importing $(basename "$archive")"
    "$BENCH_DIR/containerd.sh" import "$CONTAINERD_DIR" "$archive"
done

python3 "$BENCH_DIR/compare.py" accuracy --samples "$OUT/images/samples.json" \
    --socket "$CONTAINERD_DIR/containerd.sock" --out "$OUT/results"
