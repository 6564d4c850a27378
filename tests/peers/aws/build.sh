#!/bin/bash
# Build the AWS peer (S3 + KMS on loopback with strict SigV4, tests/peers/aws/*.go) into
# build/peers/aws-peer: Go standard library only, GOPATH mode, no network.
# Reuses the binary when it is newer than every source file (and this script).
#   build.sh        build (fast when up to date)
#   build.sh test   also go vet + go test (SigV4 against published vectors, sigv4_test.go)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BUILD=$ROOT/build
BIN=$BUILD/peers/aws-peer

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: needs golang-go (scripts/deps.sh)" >&2
    exit 1
fi

mkdir -p "$BUILD/peers" "$BUILD/go-cache"
# Tests may call this concurrently: one builder at a time.
exec 9>"$BUILD/peers/.aws-peer-build.lock"
flock 9

up_to_date() {
    [ -x "$BIN" ] || return 1
    local f
    for f in "$HERE"/*.go "$HERE/build.sh"; do
        [ "$BIN" -nt "$f" ] || return 1
    done
}

if up_to_date; then
    echo "aws-peer: up to date ($BIN)"
else
    t0=$(date +%s.%N)
    # An empty GOPATH: the standard library only, nothing else can sneak in.
    (cd "$HERE" && GO111MODULE=off GOPATH="$BUILD/go-empty-gopath" GOCACHE="$BUILD/go-cache" \
        GOFLAGS="" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
        go build -trimpath -ldflags "-w" -o "$BIN.tmp" .)
    mv -f "$BIN.tmp" "$BIN"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v f="$BIN" 'BEGIN{printf "aws-peer: built %s in %.1f s\n", f, b-a}'
fi

if [ "${1:-}" = test ]; then
    (cd "$HERE" && export GO111MODULE=off GOPATH="$BUILD/go-empty-gopath" GOCACHE="$BUILD/go-cache" \
        GOFLAGS="" CGO_ENABLED=0 && go vet . && go test -count=1 .)
fi
