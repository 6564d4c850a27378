#!/bin/bash
# Builds a Go peer of the tests from the standard library only (GOPATH mode, an empty GOPATH, no
# network) into build/peers/NAME, reusing the binary while it is newer than every .go file of
# SRC_DIR and than the calling build script. Concurrent callers build one at a time.
#   go_build.sh NAME SRC_DIR CALLER
set -eu
name=$1 src=$(cd "$2" && pwd) caller=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
BIN=$BUILD/peers/$name

if ! command -v go >/dev/null 2>&1; then
    echo "$caller: needs golang-go (scripts/deps.sh)" >&2
    exit 1
fi

mkdir -p "$BUILD/peers" "$BUILD/go-cache"
exec 9>"$BUILD/peers/.$name-build.lock"
flock 9

up_to_date() {
    [ -x "$BIN" ] || return 1
    local f
    for f in "$src"/*.go "$caller" "$0"; do
        [ "$BIN" -nt "$f" ] || return 1
    done
}

if up_to_date; then
    echo "$name: up to date ($BIN)"
else
    t0=$(date +%s.%N)
    (cd "$src" && GO111MODULE=off GOPATH="$BUILD/go-empty-gopath" GOCACHE="$BUILD/go-cache" \
        GOFLAGS="" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
        go build -trimpath -ldflags "-w" -o "$BIN.tmp" .)
    mv -f "$BIN.tmp" "$BIN"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v f="$BIN" -v n="$name" 'BEGIN{printf "%s: built %s in %.1f s\n", n, f, b-a}'
fi
