# The etcd lines an integration script runs against: the 3.4 of Debian bookworm and the 3.5 of
# trixie (tests/peers/etcd/mirror.sh). Source it after setting `top`, then call
#   etcd_lines "$@"
# Without TEST_ETCD_VERSION it runs the script once per line (ETCD_LINES="v3.5.16" picks one),
# printing "== etcd LINE" before each, and exits non-zero when one of them failed. With
# TEST_ETCD_VERSION=vX.Y.Z (set by that loop, or by hand) it returns: the script runs that line,
# with $bin its binaries (mirrored when missing).

etcd_lines() {
  local rc=0 line
  if [ -z "${TEST_ETCD_VERSION:-}" ]; then
    for line in ${ETCD_LINES:-v3.4.23 v3.5.16}; do
      echo "== etcd $line"
      TEST_ETCD_VERSION=$line bash "$0" "$@" || rc=1
    done
    exit $rc
  fi
  export TEST_ETCD_VERSION
  bin=$top/build/mirror/etcd/$TEST_ETCD_VERSION/bin
  [ -x "$bin/etcd" ] || "$top/tests/peers/etcd/mirror.sh" "$TEST_ETCD_VERSION" >/dev/null
}
