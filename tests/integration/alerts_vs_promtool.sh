#!/usr/bin/env bash
# docs/alerts.yaml against Prometheus' own checker (promtool, Debian package prometheus):
# `promtool check rules` (syntax, PromQL, templates) and `promtool test rules` with
# tests/alerts/alerts_test.yaml, which makes every alert fire and checks the quiet cases; then
# `promtool check metrics` on a metrics file of each job kind written by the real modules
# (tests/unit cover the writer; the e2e scenario checks every file its jobs write on the hosts).
# Every case runs, also after a failed one; the last line is "N passed, M failed".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

command -v promtool >/dev/null || { echo "FAIL: promtool is missing: run scripts/deps.sh (package prometheus)" >&2; exit 1; }
work=$(mktemp -d /tmp/alerts_vs_promtool.XXXXXX)
cleanup() { rm -rf "$work"; }
assert_trap cleanup
out=$(promtool check rules docs/alerts.yaml 2>&1) || true
assert_contains "promtool check rules docs/alerts.yaml" "SUCCESS: 8 rules found" "$out"
out=$(promtool test rules tests/alerts/alerts_test.yaml 2>&1) || true
assert_contains "promtool test rules: every alert fires when it should, and only then" "SUCCESS" "$out"
fired=$(grep -c 'alertname: ' tests/alerts/alerts_test.yaml)
rules=$(grep -c -- '- alert: ' docs/alerts.yaml)
for a in $(awk '/- alert: / { print $3 }' docs/alerts.yaml); do
  assert_ok "alert $a is expected to fire in tests/alerts/alerts_test.yaml" python3 - "$a" <<'PY'
import sys, yaml
doc = yaml.safe_load(open("tests/alerts/alerts_test.yaml"))
sys.exit(0 if any(t.get("alertname") == sys.argv[1] and t.get("exp_alerts")
                  for g in doc["tests"] for t in g.get("alert_rule_test", [])) else 1)
PY
done
echo "     ($rules alerts, $fired expectations)"

# A file the way the modules write it: a failed renewal run of step_cert (no CA needed).
printf '{"state": "renewed", "ca_url": "https://127.0.0.1:1", "root": "/nonexistent", "subject": "n1",
  "cert_path": "%s/c.crt", "key_path": "%s/c.key", "metrics": {"dir": "%s/m", "cluster": "c1", "kind": "peer"}}' \
  "$work" "$work" "$work" >"$work/args.json"
library/step_cert "$work/args.json" >/dev/null || true
assert_eq "promtool check metrics on the file step_cert writes" "" "$(promtool check metrics <"$work/m/etcd-ansible-cert-c1-peer.prom" 2>&1)"
