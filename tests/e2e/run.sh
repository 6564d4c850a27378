#!/usr/bin/env bash
# Runs every end-to-end scenario (tests/e2e/*_on_testhosts.sh): ansible-playbook against the
# local systemd test hosts, as a user would. Each scenario brings up and tears down what it needs.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
results=()
for t in tests/e2e/*_on_testhosts.sh; do
  echo "== $t"
  start=$(date +%s)
  if bash "$t"; then
    results+=("  ok    $t ($(( $(date +%s) - start )) s)")
  else
    results+=("  FAIL  $t (rerun: bash $t; logs kept under build/)")
    status=1
    # A failed scenario leaves its hosts up for inspection; in CI nobody inspects them, and the
    # next scenario would fail only because it cannot bring up its own set.
    if [ "${CI:-}" = true ]; then
      echo "CI: taking down the test hosts the failed scenario left up"
      tests/hosts/hosts.sh down || true
    fi
  fi
done
echo "e2e:"
printf '%s\n' "${results[@]}"
exit $status
