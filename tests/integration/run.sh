#!/usr/bin/env bash
# Runs every integration test (tests/integration/*_vs_*.sh): each module binary against a real
# peer. Tests that need the local systemd test hosts share one set, brought up once here and torn
# down at the end (unless they were already up: then they are left as found).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
hosts=tests/hosts/hosts.sh
started_hosts=0
if ! "$hosts" status >/dev/null 2>&1; then
  started_hosts=1
fi
cleanup() { [ "$started_hosts" -eq 1 ] && "$hosts" down; }
trap cleanup EXIT

"$hosts" up "${TEST_HOSTS:-3}" || { echo "FAIL: could not bring up the test hosts"; exit 1; }
status=0
passed=()
failed=()
for t in tests/integration/*_vs_*.sh; do
  echo "== $t"
  start=$(date +%s)
  if bash "$t"; then
    passed+=("$t ($(( $(date +%s) - start )) s)")
  else
    failed+=("$t")
    status=1
  fi
done
echo "integration: ${#passed[@]} passed, ${#failed[@]} failed"
for t in "${passed[@]}"; do echo "  ok    $t"; done
for t in "${failed[@]}"; do echo "  FAIL  $t"; done
exit $status
