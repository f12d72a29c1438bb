#!/usr/bin/env bash
# The collector under a flood of agents: 200 Sync sessions over 10 clusters, each
# reporting 5,000 images (drawn from 20,000 distinct ones), all open at once; then all
# close and the idle collector's RSS is sampled for a minute. Runs the release binary
# with a SQLite store in a temporary directory. Arguments go to the flood tool, e.g.
#   bench/collector-flood.sh --agents 50 --images 1000 --idle-seconds 30
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --locked -p nodebom-collector --bin nodebom-collector --example flood >&2
exec target/release/examples/flood --collector target/release/nodebom-collector "$@"
