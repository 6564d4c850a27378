#!/usr/bin/env bash
# Every shipped playbook (etcd.yaml, playbooks/*.yaml) passes `ansible-playbook --syntax-check`
# as a user runs it first: the example inventory, no extra variables (issue 10). The --check runs
# against a deployed cluster are at the end of tests/e2e/backup_on_testhosts.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
passed=0 failed=0
for p in etcd.yaml playbooks/*.yaml; do
  if out=$(ANSIBLE_LOCALHOST_WARNING=false ansible-playbook --syntax-check -i inventory-example.ini "$p" 2>&1); then
    echo "ok   --syntax-check $p"
    passed=$((passed + 1))
  else
    echo "FAIL: ansible-playbook --syntax-check -i inventory-example.ini $p:" >&2
    echo "$out" | tail -n 15 >&2
    failed=$((failed + 1))
  fi
done
echo "playbooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
