#!/usr/bin/env bash
# Builds the benchmark image as an OCI archive, the way a real one is built, without a
# container engine:
#   layer 1  debootstrap --variant=minbase bookworm               (like debian:12)
#   layer 2  apt-get install python3 python3-pip nodejs npm       (RUN in a chroot on overlayfs)
#   layer 3  app: pip packages, an npm app with node_modules, a Go binary with vendored modules
#   layer 4  deletes one pip package (OCI whiteouts)
# Output: bench/out/bench-app.oci.tar (+ bench/out/oci/, the layout it was packed from).
# Every stage is cached under bench/out/build; delete that directory to rebuild.
#
# Needs root (debootstrap, chroot, overlay mounts) and the Debian packages debootstrap and
# golang-go; the Debian mirror is read from this machine's apt configuration.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
OCI_IMAGE=$BENCH_DIR/../scripts/lib/oci_image.py
OUT=${BENCH_OUT:-$BENCH_DIR/out}
BUILD=$OUT/build
IMAGE_REF=${IMAGE_REF:-docker.io/nodebom/bench-app:1.0}
ARCHIVE=$OUT/bench-app.oci.tar
# The pip package that layer 4 deletes.
DELETED_PIP=pyyaml

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot, mount)"
. "$BENCH_DIR/../scripts/lib/debian.sh"
ensure_debian_packages debootstrap golang-go
# npm comes with the machine's Node.js where it has one; Debian's otherwise.
command -v npm >/dev/null || ensure_debian_packages npm
require_tools debootstrap go npm python3 apt-get

if [[ -f $ARCHIVE && -f $OUT/oci.summary.json && ${FORCE:-0} != 1 ]]; then
    log "cached: $ARCHIVE (FORCE=1 to rebuild the layout)"
    exit 0
fi
mkdir -p "$BUILD"

# The mirror URI that this machine's apt configuration uses for a suite.
apt_uri() {
    local suite=$1
    # shellcheck disable=SC2016 # $(…) is apt's template syntax, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
        awk -v s="$suite" '$2 == s && $3 == "Packages" { print $1; exit }'
}
MIRROR=$(apt_uri bookworm)
SECURITY_MIRROR=$(apt_uri bookworm-security)
[[ -n $MIRROR ]] || die "no bookworm mirror in the apt configuration (apt-get update first?)"
SECURITY_MIRROR=${SECURITY_MIRROR:-$MIRROR}

MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT

mount_tracked() { # mount_tracked TARGET MOUNT-ARGS...
    local target=$1
    shift
    mount "$@" "$target"
    MOUNTS+=("$target")
}

# --- layer 1: base ----------------------------------------------------------------------
ROOTFS=$BUILD/rootfs
if [[ ! -f $BUILD/.layer1.done ]]; then
    if [[ ! -f $BUILD/.debootstrap.done ]]; then
        log "layer 1: debootstrap bookworm from $MIRROR"
        rm -rf "$ROOTFS"
        debootstrap --variant=minbase --arch=amd64 bookworm "$ROOTFS" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 ||
            die "debootstrap failed, see $BUILD/debootstrap.log"
        touch "$BUILD/.debootstrap.done"
    fi
    # Make it look like the official debian:12 image: deb822 sources with updates and
    # security, no package lists or caches, an empty /dev (the runtime provides it).
    rm -f "$ROOTFS/etc/apt/sources.list"
    cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "${ROOTFS:?}"/var/lib/apt/lists/* "${ROOTFS:?}"/var/cache/apt/*.bin "${ROOTFS:?}"/dev/*
    mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
    : >"$ROOTFS/etc/resolv.conf"
    : >"$ROOTFS/etc/hostname"
    touch "$BUILD/.layer1.done"
fi

# --- layer 2: OS packages, installed in a chroot on an overlay over layer 1 ---------------
UPPER2=$BUILD/layer2
if [[ ! -f $BUILD/.layer2.done ]]; then
    log "layer 2: apt-get install python3 python3-pip nodejs npm"
    rm -rf "$UPPER2" "$BUILD/work2" "$BUILD/merged2"
    mkdir -p "$UPPER2" "$BUILD/work2" "$BUILD/merged2"
    MERGED=$BUILD/merged2
    mount_tracked "$MERGED" -t overlay overlay \
        -o "lowerdir=$ROOTFS,upperdir=$UPPER2,workdir=$BUILD/work2,index=off,metacopy=off,redirect_dir=off"
    mount_tracked "$MERGED/proc" -t proc proc
    mount_tracked "$MERGED/dev" --bind /dev
    mount_tracked "$MERGED/etc/resolv.conf" --bind /etc/resolv.conf
    chroot "$MERGED" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        DEBIAN_FRONTEND=noninteractive /bin/sh -ec '
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends python3 python3-pip nodejs npm
            apt-get clean
            rm -rf /var/lib/apt/lists/*' >"$BUILD/layer2.log" 2>&1 ||
        die "apt-get in the chroot failed, see $BUILD/layer2.log"
    cleanup
    MOUNTS=()
    rm -rf "$BUILD/work2" "$BUILD/merged2"
    touch "$BUILD/.layer2.done"
fi

# --- layer 3: the application ------------------------------------------------------------
APP=$BUILD/layer3
if [[ ! -f $BUILD/.layer3.done ]]; then
    rm -rf "$APP"
    site=$APP/usr/local/lib/python3.11/dist-packages
    mkdir -p "$site" "$APP/usr/local/bin" "$APP/app"

    log "layer 3: pip install -r app/requirements.txt"
    # The host's pip, targeting the image's Python (3.11, wheels only). Scripts land in
    # $site/bin; move them where Debian's pip puts them and point them at the image's python.
    PIP_NO_WARN_SCRIPT_LOCATION=1 python3 -m pip install --quiet --no-deps \
        --target "$site" --python-version 3.11 --only-binary=:all: \
        -r "$BENCH_DIR/app/requirements.txt" >"$BUILD/pip.log" 2>&1 ||
        die "pip install failed, see $BUILD/pip.log"
    rm -rf "$site/bin/__pycache__"
    for script in "$site"/bin/*; do
        sed -i '1s|^#!.*python.*$|#!/usr/bin/python3|' "$script"
        mv "$script" "$APP/usr/local/bin/"
    done
    rmdir "$site/bin"

    log "layer 3: npm ci in /app"
    cp "$BENCH_DIR/app/package.json" "$BENCH_DIR/app/package-lock.json" "$APP/app/"
    (cd "$APP/app" && npm ci --no-audit --no-fund --ignore-scripts) >"$BUILD/npm.log" 2>&1 ||
        die "npm ci failed, see $BUILD/npm.log"

    log "layer 3: Go binary with vendored modules from Debian's golang-*-dev packages"
    "$BENCH_DIR/build-goapp.sh" "$BUILD/goapp" "$APP/usr/local/bin/benchapp" >"$BUILD/go.log" 2>&1 ||
        die "Go build failed, see $BUILD/go.log"
    touch "$BUILD/.layer3.done"
fi

# --- layer 4: delete one pip package ------------------------------------------------------
site_rel=usr/local/lib/python3.11/dist-packages
deleted=()
for entry in "$APP/$site_rel"/*; do
    name=$(basename "$entry")
    case ${name,,} in
        "${DELETED_PIP}"-*.dist-info | yaml | _yaml) deleted+=("$site_rel/$name") ;;
    esac
done
((${#deleted[@]} == 3)) || die "expected dist-info, yaml/ and _yaml/ of $DELETED_PIP, found: ${deleted[*]}"

# --- layer tars and the OCI layout --------------------------------------------------------
mkdir -p "$OUT/layers"
make_layer() { # make_layer NAME ARGS-FOR-oci_image.py...
    local name=$1
    shift
    if [[ ! -f $OUT/layers/$name.tar.gz.json ]]; then
        log "packing $name"
        python3 "$OCI_IMAGE" "$@" >/dev/null
    fi
}
make_layer 1-base layer "$ROOTFS" "$OUT/layers/1-base.tar.gz"
make_layer 2-os-packages layer --overlay-upper "$UPPER2" "$OUT/layers/2-os-packages.tar.gz"
make_layer 3-app layer "$APP" "$OUT/layers/3-app.tar.gz"
make_layer 4-delete-pip whiteout-layer "$APP" "$OUT/layers/4-delete-pip.tar.gz" "${deleted[@]}"

log "writing OCI layout and $ARCHIVE"
python3 "$OCI_IMAGE" layout "$OUT/oci" "$ARCHIVE" --ref "$IMAGE_REF" \
    --cmd '["/usr/local/bin/benchapp"]' --workdir /app \
    --history "debootstrap --variant=minbase bookworm" \
    --history "apt-get install -y --no-install-recommends python3 python3-pip nodejs npm" \
    --history "pip install -r requirements.txt; npm ci; COPY benchapp /usr/local/bin/" \
    --history "pip uninstall $DELETED_PIP" \
    "$OUT/layers/1-base.tar.gz" "$OUT/layers/2-os-packages.tar.gz" \
    "$OUT/layers/3-app.tar.gz" "$OUT/layers/4-delete-pip.tar.gz" >/dev/null
python3 - "$OUT/oci.summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
total = sum(l["uncompressed_size"] for l in s["layers"])
packed = sum(l["size"] for l in s["layers"])
print(f"{s['ref']}  manifest {s['manifest_digest']}")
print(f"{len(s['layers'])} layers, {total / 1e6:.0f} MB uncompressed, {packed / 1e6:.0f} MB gzip")
EOF
