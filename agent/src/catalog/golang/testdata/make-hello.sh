#!/bin/sh
# Regenerates testdata/usr/local/bin/hello, a small stripped Go binary with real build info,
# with the Go toolchain of this machine (Debian's golang-go) and no network: its two
# dependencies are vendored modules written here.
#
# It is built without -trimpath on purpose: with -trimpath the go command leaves -ldflags
# out of the build info, and the fixture is meant to carry them.
#
# What the build info of the binary holds:
#   path  example.com/hello
#   mod   example.com/hello (devel)
#   dep   example.com/greet v1.2.3
#   dep   example.com/color v0.4.0 => example.com/color-fork v0.4.1 (a replace directive)
#   build -ldflags="-s -w -X main.version=1.5.0", GOOS/GOARCH of this machine, and
#         vcs.revision/vcs.time of a git commit with a fixed date and author.
#
# Run from anywhere: sh agent/src/catalog/golang/testdata/make-hello.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/hello"
mkdir -p "$src/vendor/example.com/greet" "$src/vendor/example.com/color"

cat >"$src/go.mod" <<'EOF'
module example.com/hello

go 1.19

require (
	example.com/color v0.4.0
	example.com/greet v1.2.3
)

replace example.com/color v0.4.0 => example.com/color-fork v0.4.1
EOF

cat >"$src/main.go" <<'EOF'
package main

import (
	"os"

	"example.com/color"
	"example.com/greet"
)

var version = "unset"

func main() {
	os.Stdout.WriteString(color.Bold(greet.Hello("world")) + " " + version + "\n")
}
EOF

cat >"$src/vendor/example.com/greet/greet.go" <<'EOF'
package greet

func Hello(name string) string { return "hello, " + name }
EOF

cat >"$src/vendor/example.com/color/color.go" <<'EOF'
package color

func Bold(s string) string { return "\x1b[1m" + s + "\x1b[0m" }
EOF

cat >"$src/vendor/modules.txt" <<'EOF'
# example.com/color v0.4.0 => example.com/color-fork v0.4.1
## explicit
example.com/color
# example.com/greet v1.2.3
## explicit
example.com/greet
EOF

# A commit with a fixed author and date, so that vcs.revision is the same on every run.
export GIT_AUTHOR_NAME=fixture GIT_AUTHOR_EMAIL=fixture@example.invalid
export GIT_COMMITTER_NAME=fixture GIT_COMMITTER_EMAIL=fixture@example.invalid
export GIT_AUTHOR_DATE='2024-05-06T07:08:09Z' GIT_COMMITTER_DATE='2024-05-06T07:08:09Z'
git -C "$src" init --quiet
git -C "$src" add .
git -C "$src" -c commit.gpgsign=false commit --quiet -m fixture

mkdir -p "$here/usr/local/bin"
(cd "$src" && GOFLAGS= GOPROXY=off GOCACHE="$work/cache" \
    go build -mod=vendor -ldflags='-s -w -X main.version=1.5.0' \
    -o "$here/usr/local/bin/hello" .)
go version -m "$here/usr/local/bin/hello"
