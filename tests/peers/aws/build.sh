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

"$ROOT/tests/peers/go_build.sh" aws-peer "$HERE" "$HERE/build.sh"

if [ "${1:-}" = test ]; then
    (cd "$HERE" && export GO111MODULE=off GOPATH="$BUILD/go-empty-gopath" GOCACHE="$BUILD/go-cache" \
        GOFLAGS="" CGO_ENABLED=0 && go vet . && go test -count=1 .)
fi
