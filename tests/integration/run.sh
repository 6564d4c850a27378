#!/usr/bin/env bash
# Runs every integration test (tests/integration/*_vs_*.sh): each module binary against a real
# peer. Tests that need a local systemd test host bring it up and down themselves.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
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
for t in "${failed[@]}"; do echo "  FAIL  $t (rerun: bash $t)"; done
exit $status
