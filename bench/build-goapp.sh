#!/usr/bin/env bash
# Builds bench/goapp into a static Go binary whose build info lists several third-party
# modules, without a Go module proxy: the module sources come from Debian's golang-*-dev
# packages and are vendored (vendor/ + vendor/modules.txt), then built with -mod=vendor,
# as many release pipelines do. Module versions are the ones in bench/goapp/go.mod. The
# version goes in with -ldflags -X (no -trimpath, so the flags stay in the build info).
#
# Usage: build-goapp.sh WORK_DIR OUTPUT_BINARY
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=${1:?usage: build-goapp.sh WORK_DIR OUTPUT_BINARY}
OUTPUT=${2:?usage: build-goapp.sh WORK_DIR OUTPUT_BINARY}
MAIN_VERSION=1.4.2

# module path | Debian package with its source | packages of the module the app imports
MODULES=(
    "github.com/google/uuid|golang-github-google-uuid-dev|github.com/google/uuid"
    "github.com/pkg/errors|golang-github-pkg-errors-dev|github.com/pkg/errors"
    "github.com/sirupsen/logrus|golang-github-sirupsen-logrus-dev|github.com/sirupsen/logrus"
    "github.com/spf13/pflag|golang-github-spf13-pflag-dev|github.com/spf13/pflag"
    "gopkg.in/yaml.v3|golang-gopkg-yaml.v3-dev|gopkg.in/yaml.v3"
    "golang.org/x/sys|golang-golang-x-sys-dev|golang.org/x/sys/unix"
)

mkdir -p "$WORK/debs"
debs=()
for entry in "${MODULES[@]}"; do
    IFS='|' read -r _ deb _ <<<"$entry"
    debs+=("$deb")
done
if [[ ! -f $WORK/debs/.done ]]; then
    (cd "$WORK/debs" && apt-get download "${debs[@]}")
    for f in "$WORK"/debs/*.deb; do dpkg-deb -x "$f" "$WORK/debs/root"; done
    touch "$WORK/debs/.done"
fi
GOCODE=$WORK/debs/root/usr/share/gocode/src

SRC=$WORK/src
rm -rf "$SRC"
mkdir -p "$SRC/vendor"
cp "$BENCH_DIR/goapp/go.mod" "$BENCH_DIR/goapp/main.go" "$SRC/"

# vendor/modules.txt in the format `go mod vendor` writes: one "# module version" header
# per required module, "## explicit" because go.mod lists it (with the module's go
# version), then the packages the app imports from it.
modules_txt=$SRC/vendor/modules.txt
: >"$modules_txt"
for entry in "${MODULES[@]}"; do
    IFS='|' read -r module _ packages <<<"$entry"
    version=$(awk -v m="$module" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$SRC/go.mod")
    [[ -n $version ]] || { echo "no version for $module in go.mod" >&2; exit 1; }
    # The module's own go directive sets the language version its packages compile with.
    go_directive=$(awk '$1 == "go" { print $2 }' "$GOCODE/$module/go.mod" 2>/dev/null || true)
    printf '# %s %s\n## explicit%s\n' "$module" "$version" "${go_directive:+; go $go_directive}" >>"$modules_txt"
    for package in $packages; do
        echo "$package" >>"$modules_txt"
        mkdir -p "$SRC/vendor/$package"
        find "$GOCODE/$package" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' -o -name '*.h' \) \
            ! -name '*_test.go' -exec cp {} "$SRC/vendor/$package/" \;
    done
    for lic in LICENSE LICENSE.txt COPYING; do
        [[ -f $GOCODE/$module/$lic ]] && cp "$GOCODE/$module/$lic" "$SRC/vendor/$module/"
    done
done

cd "$SRC"
CGO_ENABLED=0 GOFLAGS=-mod=vendor GOPROXY=off GOCACHE=$WORK/gocache \
    go build -buildvcs=false -ldflags "-s -w -X main.version=$MAIN_VERSION" -o "$OUTPUT" .
go version -m "$OUTPUT"
