#!/usr/bin/env bash
# The collector under a flood of agents: the ingest benchmark (collector/benches/ingest.rs)
# with 200 nodes over 10 clusters, each reporting 5,000 images (drawn from 20,000
# distinct ones), all at once; then deltas, a reconnect, and once every session closed,
# the idle collector's RSS for a minute; on the SQLite store (NODEBOM_BENCH_STORES=postgres
# for PostgreSQL). Knobs of that benchmark override these, e.g.
#   NODEBOM_BENCH_NODES=50 bench/collector-flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NODEBOM_BENCH_NODES=${NODEBOM_BENCH_NODES:-200}
export NODEBOM_BENCH_IMAGES_PER_NODE=${NODEBOM_BENCH_IMAGES_PER_NODE:-5000}
export NODEBOM_BENCH_DISTINCT_IMAGES=${NODEBOM_BENCH_DISTINCT_IMAGES:-20000}
export NODEBOM_BENCH_IDLE_SECONDS=${NODEBOM_BENCH_IDLE_SECONDS:-60}
export NODEBOM_BENCH_STORES=${NODEBOM_BENCH_STORES:-sqlite}
exec cargo bench --locked -p nodebom-collector --bench ingest
