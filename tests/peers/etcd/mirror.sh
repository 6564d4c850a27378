#!/usr/bin/env bash
# Lays out etcd release tarballs like upstream's (github.com/etcd-io/etcd/releases) from
# Debian's etcd-server/etcd-client binaries, for the download role's local mirror:
#   build/mirror/etcd/vX.Y.Z/etcd-vX.Y.Z-linux-amd64.tar.gz   (etcd-vX.Y.Z-linux-amd64/{etcd,etcdctl,README.md})
#   build/mirror/etcd/vX.Y.Z/SHA256SUMS and <tarball>.sha256
# Usage: mirror.sh [VERSION...]   default: the installed version and a second name for upgrade
# tests (same binaries, another version label: the rolling path is exercised for real).
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
installed="v$(etcd --version | awk '/etcd Version/ {print $3}')"
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=("$installed" "${installed%.*}.99")

for version in "${versions[@]}"; do
  dir="$top/build/mirror/etcd/$version"
  name="etcd-$version-linux-amd64"
  tarball="$dir/$name.tar.gz"
  if [ -f "$tarball" ] && [ "$tarball" -nt /usr/bin/etcd ]; then
    echo "$tarball"
    continue
  fi
  stage=$(mktemp -d)
  mkdir -p "$stage/$name" "$dir"
  cp /usr/bin/etcd /usr/bin/etcdctl "$stage/$name/"
  [ -x /usr/bin/etcdutl ] && cp /usr/bin/etcdutl "$stage/$name/"
  printf 'etcd %s for the etcd-ansible test mirror (Debian build of %s)\n' "$version" "$installed" \
    >"$stage/$name/README.md"
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$tarball" "$name"
  rm -rf "$stage"
  (cd "$dir" && sha256sum "$name.tar.gz" | tee "$name.tar.gz.sha256" >SHA256SUMS)
  echo "$tarball"
done
