#!/usr/bin/env bash
# Runs every end-to-end scenario (tests/e2e/*_on_testhosts.sh): ansible-playbook against the
# local systemd test hosts, as a user would. Each scenario brings up and tears down what it needs.
#
# E2E_LANES=2 runs two lanes side by side, each on its own host set (its own directory, network
# namespace, subnet and name prefix; both share the cached base image), one scenario after
# another in each lane; what the scenarios need on the controller (modules, mirrors, peers, the
# base image) is built once first, so two lanes never build the same thing at once. It pays only
# with more than 2 cores: on 2, each scenario took twice as long beside the other lane (cluster
# 702 -> 1460 s, backup 548 -> 988 s: the controller's Python is CPU-bound), so the default is
# one lane, the scenarios one after another on the default set.
#   E2E_LANES=1|2 (default 1)   E2E_ONLY="cluster pki" runs only those scenarios
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
lanes=${E2E_LANES:-1}
[[ $lanes =~ ^[12]$ ]] || { echo "E2E_LANES must be 1 or 2, not '$lanes'" >&2; exit 2; }

scenarios=()
for t in tests/e2e/*_on_testhosts.sh; do
  name=${t##*/}
  name=${name%_on_testhosts.sh}
  if [ -z "${E2E_ONLY:-}" ] || [[ " $E2E_ONLY " == *" $name "* ]]; then scenarios+=("$t"); fi
done
[ ${#scenarios[@]} -gt 0 ] || { echo "E2E_ONLY names no scenario (tests/e2e/*_on_testhosts.sh)" >&2; exit 2; }

prepare() { # everything two lanes would otherwise build at the same time
  make -s all >/dev/null &&
    tests/peers/stepca/build.sh >/dev/null &&
    tests/peers/etcd/mirror.sh v3.4.23 v3.5.16 >/dev/null &&
    tests/peers/etcd/writer/build.sh >/dev/null &&
    tests/peers/aws/build.sh >/dev/null &&
    tests/hosts/hosts.sh base
}

# run_lane LOG SCENARIO...: one after another; a line per scenario into LOG.results
run_lane() {
  local results=$1 t start
  shift
  : >"$results"
  for t in "$@"; do
    echo "== $t"
    start=$(date +%s)
    if bash "$t"; then
      echo "  ok    $t ($(($(date +%s) - start)) s)" >>"$results"
    else
      echo "  FAIL  $t (rerun: bash $t; logs kept under build/)" >>"$results"
      # A failed scenario leaves its hosts up for inspection; in CI nobody inspects them, and the
      # next scenario would fail only because it cannot bring up its own set.
      if [ "${CI:-}" = true ]; then
        echo "CI: taking down the test hosts the failed scenario left up"
        tests/hosts/hosts.sh down || true
      fi
    fi
  done
}

mkdir -p build/e2e
if [ "$lanes" = 1 ] || [ ${#scenarios[@]} -eq 1 ]; then
  run_lane build/e2e/lane-a.results "${scenarios[@]}"
  results=(build/e2e/lane-a.results)
else
  echo "== preparing what the scenarios share (modules, mirrors, peers, base image)"
  prepare || { echo "FAIL: could not build what the scenarios need" >&2; exit 1; }
  # Longest first, then each next scenario to the lane with less work so far (durations seen in
  # CI, seconds; an unknown scenario counts as 300).
  declare -A cost=([cluster]=700 [backup]=550 [two_clusters]=430 [pki]=270)
  mapfile -t ordered < <(for t in "${scenarios[@]}"; do
    n=${t##*/}
    n=${n%_on_testhosts.sh}
    echo "${cost[$n]:-300} $t"
  done | sort -rn | cut -d' ' -f2)
  a=() b=() wa=0 wb=0
  for t in "${ordered[@]}"; do
    n=${t##*/}
    n=${n%_on_testhosts.sh}
    if [ "$wa" -le "$wb" ]; then a+=("$t") wa=$((wa + ${cost[$n]:-300})); else b+=("$t") wb=$((wb + ${cost[$n]:-300})); fi
  done
  echo "== lane a (host set eh, 10.77.0): ${a[*]##*/}"
  echo "== lane b (host set fh, 10.78.0): ${b[*]##*/}"
  # Each line is prefixed with its lane so the interleaved log stays readable.
  run_lane build/e2e/lane-a.results "${a[@]}" 2>&1 | sed -u 's/^/[a] /' &
  pid_a=$!
  (
    export HOSTS_DIR=$top/build/hosts-b HOSTS_BASE=$top/build/hosts/base HOSTS_NETNS=fabr \
      HOSTS_SUBNET=10.78.0 HOSTS_PREFIX=fh
    run_lane build/e2e/lane-b.results "${b[@]}"
  ) 2>&1 | sed -u 's/^/[b] /' &
  pid_b=$!
  wait "$pid_a" "$pid_b"
  results=(build/e2e/lane-a.results build/e2e/lane-b.results)
fi
echo "e2e:"
cat "${results[@]}"
! grep -q '^  FAIL' "${results[@]}"
