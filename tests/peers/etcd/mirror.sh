#!/usr/bin/env bash
# Lays out etcd release tarballs like upstream's (github.com/etcd-io/etcd/releases) from Debian's
# etcd-server/etcd-client binaries, for the download role's local mirror:
#   build/mirror/etcd/vX.Y.Z/etcd-vX.Y.Z-linux-amd64.tar.gz
#       etcd-vX.Y.Z-linux-amd64/{etcd,etcdctl,etcdutl (3.5+),README.md}
#   build/mirror/etcd/vX.Y.Z/SHA256SUMS and <tarball>.sha256
#   build/mirror/etcd/vX.Y.Z/bin/{etcd,etcdctl,etcdutl}   the same binaries, for local test clusters
#
# Usage: mirror.sh [VERSION...]   default: v3.4.23 v3.5.16
#   - the version of bookworm's etcd-server (installed by scripts/deps.sh, 3.4.23) comes from
#     /usr/bin;
#   - any other version comes from Debian trixie (3.5.16), fetched with `apt-get download` through
#     a private apt configuration under build/apt-trixie/ (its own sources list, lists, cache and
#     state): the machine's apt sources are never touched. The .debs are kept in build/apt-trixie/,
#     so a rerun is instant and offline.
# Each tarball is rebuilt only when missing. Prints one tarball path per version.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(v3.4.23 v3.5.16)
installed="v$(etcd --version | awk '/etcd Version/ {print $3}')"
# The archive scripts/deps.sh uses, suite trixie; its keys ship in bookworm's debian-archive-keyring.
ARCHIVE=${ETCD_MIRROR_ARCHIVE:-http://deb.debian.org/debian}
SUITE=trixie
aptdir=$top/build/apt-trixie

# apt-get with the private configuration: nothing of /etc/apt is read or written.
private_apt() {
  apt-get -q -o Dir::Etc="$aptdir/etc" -o Dir::Etc::sourcelist="$aptdir/etc/sources.list" \
    -o Dir::Etc::sourceparts="$aptdir/etc/sources.list.d" -o Dir::Etc::parts="$aptdir/etc/apt.conf.d" \
    -o Dir::Etc::preferencesparts="$aptdir/etc/preferences.d" -o APT::Sandbox::User=root \
    -o Dir::State="$aptdir/state" -o Dir::State::Lists="$aptdir/state/lists" \
    -o Dir::State::status="$aptdir/state/status" -o Dir::Cache="$aptdir/cache" \
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Debug::NoLocking=1 "$@"
}

# fetch_trixie VERSION STAGE: the binaries of etcd-server/etcd-client VERSION into STAGE/.
fetch_trixie() {
  local version=$1 stage=$2 want=${1#v} deb pkg debs=()
  mkdir -p "$aptdir/etc/apt.conf.d" "$aptdir/etc/preferences.d" "$aptdir/etc/sources.list.d" "$aptdir/state/lists/partial" \
    "$aptdir/cache/archives/partial" "$aptdir/debs"
  touch "$aptdir/state/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $ARCHIVE $SUITE main" \
    >"$aptdir/etc/sources.list"
  for pkg in etcd-server etcd-client; do
    deb=$(ls "$aptdir/debs/${pkg}_${want}"-*_amd64.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
      [ -f "$aptdir/state/updated" ] || { private_apt update >&2 && touch "$aptdir/state/updated"; }
      (cd "$aptdir/debs" && private_apt download "$pkg" >&2)
      deb=$(ls "$aptdir/debs/${pkg}_${want}"-*_amd64.deb 2>/dev/null | head -n1 || true)
      if [ -z "$deb" ]; then
        echo "mirror.sh: trixie's $pkg is $(ls "$aptdir/debs/${pkg}"_*.deb | xargs -n1 basename), not $want" >&2
        return 1
      fi
    fi
    debs+=("$deb")
  done
  for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$stage/root"; done
  for b in etcd etcdctl etcdutl; do
    [ -x "$stage/root/usr/bin/$b" ] && cp "$stage/root/usr/bin/$b" "$stage/"
  done
  rm -rf "$stage/root"
  # trixie's Go binaries must run on bookworm (the controller and the test hosts). The output is
  # read whole first: `etcd --version | grep -q` under pipefail fails when grep exits before etcd
  # has written its last line (SIGPIPE), and a fresh-clone CI once refused a good binary so.
  local version_out
  version_out=$("$stage/etcd" --version 2>&1) || true
  grep -q "etcd Version: $want" <<<"$version_out" || {
    echo "mirror.sh: trixie's etcd $want does not run here:" >&2
    echo "$version_out" >&2
    return 1
  }
}

for version in "${versions[@]}"; do
  dir="$top/build/mirror/etcd/$version"
  name="etcd-$version-linux-amd64"
  tarball="$dir/$name.tar.gz"
  if [ -f "$tarball" ] && [ -x "$dir/bin/etcd" ]; then
    echo "$tarball"
    continue
  fi
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/$name" "$dir/bin"
  if [ "$version" = "$installed" ]; then
    source="Debian bookworm's etcd-server/etcd-client"
    cp /usr/bin/etcd /usr/bin/etcdctl "$stage/$name/"
    [ -x /usr/bin/etcdutl ] && cp /usr/bin/etcdutl "$stage/$name/"
  else
    source="Debian trixie's etcd-server/etcd-client"
    fetch_trixie "$version" "$stage/$name"
  fi
  printf 'etcd %s for the etcd-ansible test mirror (%s)\n' "$version" "$source" >"$stage/$name/README.md"
  cp "$stage/$name"/etcd* "$dir/bin/"
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$tarball" "$name"
  rm -rf "$stage"
  trap - EXIT
  (cd "$dir" && sha256sum "$name.tar.gz" | tee "$name.tar.gz.sha256" >SHA256SUMS)
  echo "$tarball"
done
