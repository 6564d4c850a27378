#!/bin/bash
# Build the bounded etcd writer (tests/peers/etcd/writer/main.go) into build/peers/etcd-writer:
# Go standard library only, no network (tests/peers/go_build.sh). Fast when up to date.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../../go_build.sh" etcd-writer "$HERE" "$HERE/build.sh"
