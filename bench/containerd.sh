#!/usr/bin/env bash
# A private containerd for the benchmark (Debian's containerd 1.6 and ctr), everything in
# one directory: root, state, config, log and the gRPC socket.
#
#   containerd.sh [-n NS] start   DIR          start the daemon (no-op if it runs)
#   containerd.sh [-n NS] import  DIR ARCHIVE [--no-unpack]
#                                               ctr images import, unpacked into overlayfs
#                                               snapshots unless --no-unpack (blobs only)
#   containerd.sh [-n NS] discard DIR IMAGE    delete the image's layer blobs, like
#                                               discard_unpacked_layers = true does
#   containerd.sh [-n NS] blobs   DIR IMAGE    print "present", "discarded" or "missing"
#                                               (no such image)
#   containerd.sh stop DIR                     stop the daemon
#
# NS is the containerd namespace, k8s.io by default. The socket is DIR/containerd.sock.
# Needs root (overlay mounts).
set -euo pipefail

NAMESPACE=k8s.io
SNAPSHOTTER=overlayfs

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() { printf '[containerd] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ ${1:-} == -n ]]; then
    NAMESPACE=${2:?usage: containerd.sh -n NAMESPACE ...}
    shift 2
fi
(($# >= 2)) || usage
cmd=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
SOCK=$DIR/containerd.sock
PIDFILE=$DIR/containerd.pid
ctr_() { ctr --address "$SOCK" --namespace "$NAMESPACE" "$@"; }

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# Digests of the layers of IMAGE's manifest (linux/amd64), from the manifest blob, which
# containerd keeps when layer blobs are discarded.
layer_digests() {
    local image=$1 target manifest
    target=$(ctr_ images ls name=="$image" | awk 'NR == 2 { print $3 }')
    [[ -n $target ]] || return 1
    manifest=$(ctr_ content get "$target")
    python3 - "$manifest" <<'EOF'
import json, sys
doc = json.loads(sys.argv[1])
if "manifests" in doc:
    sys.exit("index targets are not handled here: the benchmark image is one manifest")
for layer in doc["layers"]:
    print(layer["digest"])
EOF
}

case $cmd in
start)
    if running; then
        log "already running (pid $(cat "$PIDFILE")), socket $SOCK"
        exit 0
    fi
    mkdir -p "$DIR/root" "$DIR/state"
    # CRI stays off: the benchmark images come from `ctr images import`, and CRI would
    # want CNI and a cgroup setup this machine does not need to have.
    cat >"$DIR/config.toml" <<EOF
version = 2
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$DIR/containerd.sock.ttrpc"

[debug]
  address = "$DIR/debug.sock"
EOF
    rm -f "$SOCK"
    setsid containerd --config "$DIR/config.toml" >"$DIR/containerd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 100); do
        if [[ -S $SOCK ]] && ctr_ version >/dev/null 2>&1; then
            log "started (pid $(cat "$PIDFILE")), socket $SOCK"
            exit 0
        fi
        running || die "containerd exited, see $DIR/containerd.log"
        sleep 0.1
    done
    die "containerd did not answer on $SOCK within 10 s, see $DIR/containerd.log"
    ;;
import)
    archive=${3:?usage: containerd.sh import DIR ARCHIVE [--no-unpack]}
    running || die "containerd is not running in $DIR"
    if [[ ${4:-} == --no-unpack ]]; then
        ctr_ images import --platform linux/amd64 --no-unpack "$archive" >&2
        exit 0
    fi
    ctr_ images import --platform linux/amd64 --snapshotter "$SNAPSHOTTER" "$archive" >&2
    # Every image must be complete and unpacked (last column of `images check`).
    ctr_ images check --snapshotter "$SNAPSHOTTER" >&2
    not_unpacked=$(ctr_ images check --snapshotter "$SNAPSHOTTER" | awk 'NR > 1 && $NF != "true" { print $1 }')
    [[ -z $not_unpacked ]] || die "not unpacked into $SNAPSHOTTER snapshots: $not_unpacked"
    ;;
discard)
    image=${3:?usage: containerd.sh discard DIR IMAGE}
    running || die "containerd is not running in $DIR"
    digests=$(layer_digests "$image") || die "image $image not found in namespace $NAMESPACE"
    for digest in $digests; do
        ctr_ content rm "$digest" >/dev/null 2>&1 || true
        if ctr_ content ls -q | grep -qx "$digest"; then
            die "layer blob $digest is still in the content store"
        fi
    done
    log "layer blobs of $image deleted in namespace $NAMESPACE; snapshots kept"
    ;;
blobs)
    image=${3:?usage: containerd.sh blobs DIR IMAGE}
    running || die "containerd is not running in $DIR"
    if ! digests=$(layer_digests "$image"); then
        echo missing
        exit 0
    fi
    present=$(ctr_ content ls -q)
    state=present
    for digest in $digests; do
        grep -qx "$digest" <<<"$present" || state=discarded
    done
    echo "$state"
    ;;
stop)
    if running; then
        pid=$(cat "$PIDFILE")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        log "stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
    ;;
*)
    usage
    ;;
esac
