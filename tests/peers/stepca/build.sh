#!/bin/bash
# Build the real step-ca 0.19.0 peer from Debian's Go sources
# (golang-github-smallstep-certificates-dev, GOPATH mode, no network) and lay it
# out in a local mirror like the upstream GitHub release (goreleaser):
#   build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz
#     step-ca_0.19.0/bin/step-ca, step-ca_0.19.0/README.md, step-ca_0.19.0/LICENSE
#   build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz.sha256
#   build/mirror/step-ca/v0.19.0/checksums.txt        ("<sha256>  <file>" lines)
# Reuses the binary when it is newer than main.go (and this script).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VERSION=0.19.0
BUILD=$ROOT/build
BIN=$BUILD/peers/step-ca
MIRROR=$BUILD/mirror/step-ca/v$VERSION
TARNAME=step-ca_linux_${VERSION}_amd64.tar.gz

if ! dpkg -s golang-go golang-github-smallstep-certificates-dev >/dev/null 2>&1; then
    echo "build.sh: needs golang-go and golang-github-smallstep-certificates-dev (scripts/deps.sh)" >&2
    exit 1
fi

mkdir -p "$BUILD/peers" "$BUILD/go-cache" "$MIRROR"
# Tests may call this concurrently: one builder at a time.
exec 9>"$BUILD/peers/.stepca-build.lock"
flock 9

# go_build DIR OUT [ldflags]: GOPATH-mode static build against /usr/share/gocode.
go_build() {
    (cd "$1" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$BUILD/go-cache" \
        GOFLAGS="" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
        go build -trimpath -ldflags "${3:-}" -o "$2" .)
}

if [ -x "$BIN" ] && [ "$BIN" -nt "$HERE/main.go" ] && [ "$BIN" -nt "$HERE/build.sh" ]; then
    echo "step-ca: up to date ($BIN)"
else
    # BuildTime from main.go's mtime so rebuilds of the same source are identical.
    bt=$(date -u -d "@$(stat -c %Y "$HERE/main.go")" '+%Y-%m-%dT%H:%M:%SZ')
    t0=$(date +%s.%N)
    go_build "$HERE" "$BIN.tmp" "-w -X main.Version=$VERSION -X main.BuildTime=$bt"
    mv -f "$BIN.tmp" "$BIN"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v f="$BIN" 'BEGIN{printf "step-ca: built %s in %.1f s\n", f, b-a}'
fi

# Helper used by smoke.sh (JWK/JWE/OTT generation), same build mode.
TOOL=$BUILD/peers/stepca-tool
if [ ! -x "$TOOL" ] || [ "$HERE/tools/stepca-tool/main.go" -nt "$TOOL" ]; then
    go_build "$HERE/tools/stepca-tool" "$TOOL.tmp" "-w"
    mv -f "$TOOL.tmp" "$TOOL"
    echo "stepca-tool: built $TOOL"
fi

if [ ! -f "$MIRROR/$TARNAME" ] || [ "$BIN" -nt "$MIRROR/$TARNAME" ]; then
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    d=$stage/step-ca_$VERSION
    mkdir -p "$d/bin"
    install -m 0755 "$BIN" "$d/bin/step-ca"
    cp /usr/share/common-licenses/Apache-2.0 "$d/LICENSE"
    cat > "$d/README.md" <<README
# step-ca $VERSION (test mirror)

Built by etcd-ansible tests/peers/stepca/build.sh from Debian's
golang-github-smallstep-certificates-dev $VERSION sources, laid out like the
upstream release tarball $TARNAME.
README
    mt=$(stat -c %Y "$HERE/main.go")   # same source -> byte-identical tarball
    tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$mt" -cf - "step-ca_$VERSION" | gzip -n -9 > "$MIRROR/$TARNAME.tmp"
    mv -f "$MIRROR/$TARNAME.tmp" "$MIRROR/$TARNAME"
    (cd "$MIRROR" && sha256sum "$TARNAME" > "$TARNAME.sha256" && cp "$TARNAME.sha256" checksums.txt)
    echo "mirror: packaged $MIRROR/$TARNAME"
fi

echo "binary:    $BIN ($(stat -c %s "$BIN") bytes)"
echo "tool:      $TOOL"
echo "tarball:   $MIRROR/$TARNAME"
echo "sha256:    $MIRROR/$TARNAME.sha256"
echo "checksums: $MIRROR/checksums.txt"
