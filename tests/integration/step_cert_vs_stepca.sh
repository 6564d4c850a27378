#!/usr/bin/env bash
# step_ca and step_cert against the real step-ca 0.19 (tests/peers/stepca) on 127.0.0.1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

tests/peers/stepca/build.sh >/dev/null
work=$(mktemp -d /tmp/step_cert_vs_stepca.XXXXXX)
stepca_pid=
cleanup() {
  [ -n "$stepca_pid" ] && kill "$stepca_pid" 2>/dev/null && wait "$stepca_pid" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end
port=$(free_port)
ca_pw='ca-pass-7Qx!'
prov_pw='prov-pass-9Zk$'

run_module() { # run_module NAME ARGS_JSON → prints the result; never fails the script
  printf '%s' "$2" >"$work/args.json"
  "library/$1" "$work/args.json" || true
}

ca_args() { # ca_args EXTRA_JSON_MEMBERS
  printf '{"path": "%s/ca", "dns_names": ["localhost", "127.0.0.1"], "address": "127.0.0.1:%s", "password": "%s", "provisioner_password": "%s", "min_duration": "5s"%s}' \
    "$work" "$port" "$ca_pw" "$prov_pw" "$1"
}

echo "-- step_ca creates a CA"
out=$(run_module step_ca "$(ca_args '')")
assert_eq "step_ca created" "true true" "$(json_get "$out" changed) $(json_get "$out" created)"
fingerprint=$(json_get "$out" root_fingerprint)
assert_eq "root fingerprint matches openssl" \
  "$(openssl x509 -in "$work/ca/certs/root_ca.crt" -outform DER | sha256sum | cut -d' ' -f1)" "$fingerprint"
assert_eq "secrets are 0400" "400 400 400" \
  "$(stat -c %a "$work/ca/secrets/root_ca_key" "$work/ca/secrets/intermediate_ca_key" "$work/ca/secrets/password" | xargs)"
assert_not_contains "no secret in the output" "$ca_pw" "$out"

out=$(run_module step_ca "$(ca_args '')")
assert_eq "step_ca rerun is idempotent" "false" "$(json_get "$out" changed)"
out=$(run_module step_ca "$(printf '{"path": "%s/ca", "dns_names": ["localhost"], "password": "wrong-pw", "provisioner_password": "%s"}' "$work" "$prov_pw")")
assert_contains "wrong CA password is refused" "password: cannot open the existing intermediate key" "$(json_get "$out" msg)"
out=$(run_module step_ca "$(ca_args ', "max_duration": "48h", "default_duration": "50h"')")
assert_contains "bad durations are refused" "min_duration <= default_duration <= max_duration" "$(json_get "$out" msg)"

echo "-- step_ca state=copied writes that CA elsewhere, as it was"
copy_args() { # copy_args BACKUP: every file of the CA above, to $work/ca2 (owner: this user)
  python3 -c '
import base64, json, os, sys
src, dst, me = sys.argv[1] + "/ca", sys.argv[1] + "/ca2", sys.argv[3]
dirs = [{"path": d, "mode": m, "owner": me} for d, m in
        [("", "0755"), ("certs", "0755"), ("secrets", "0700"), ("config", "0700")]]
files = []
for rel in ["certs/root_ca.crt", "certs/intermediate_ca.crt", "secrets/root_ca_key",
            "secrets/intermediate_ca_key", "secrets/password", "config/ca.json"]:
    with open(os.path.join(src, rel), "rb") as f:
        files.append({"path": rel, "content": base64.b64encode(f.read()).decode(), "owner": me,
                      "mode": "%04o" % (os.stat(os.path.join(src, rel)).st_mode & 0o7777)})
print(json.dumps({"state": "copied", "path": dst, "backup": sys.argv[2] == "true",
                  "directories": dirs, "files": files}))' "$work" "$1" "$(id -un)"
}
out=$(run_module step_ca "$(copy_args false)")
assert_eq "copied: changed, 4 directories and 6 files written" "true 10" \
  "$(json_get "$out" changed) $(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["changed_paths"]))')"
same=yes
for f in certs/root_ca.crt certs/intermediate_ca.crt secrets/root_ca_key secrets/intermediate_ca_key secrets/password config/ca.json; do
  cmp -s "$work/ca/$f" "$work/ca2/$f" || same="no: $f"
done
assert_eq "copied: every file byte-identical" yes "$same"
assert_eq "copied: the source's modes" "$(stat -c %a "$work"/ca/secrets/* "$work/ca/config/ca.json" | xargs)" \
  "$(stat -c %a "$work"/ca2/secrets/* "$work/ca2/config/ca.json" | xargs)"
assert_eq "copied: directory modes" "755 700 700" "$(stat -c %a "$work/ca2" "$work/ca2/secrets" "$work/ca2/config" | xargs)"
assert_not_contains "copied: no CA password in the output" "$ca_pw" "$out"
assert_not_contains "copied: no file content in the output (base64 of the password)" \
  "$(printf '%s' "$ca_pw" | base64)" "$out"
out=$(run_module step_ca "$(copy_args false)")
assert_eq "copied: a rerun changes nothing" "false" "$(json_get "$out" changed)"
chmod 0644 "$work/ca2/secrets/password"
printf 'other' >"$work/other" && cp "$work/other" "$work/ca2/config/ca.json"
out=$(run_module step_ca "$(copy_args true)")
assert_eq "copied: a loosened mode is mended, a changed file rewritten" \
  "true 400 $work/ca2/config/ca.json.replaced-" \
  "$(json_get "$out" changed) $(stat -c %a "$work/ca2/secrets/password") $(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kept"][0][:-16])')"
assert_eq "copied: backup kept the file it replaced" "other" "$(cat "$work"/ca2/config/ca.json.replaced-*)"
cmp -s "$work/ca/config/ca.json" "$work/ca2/config/ca.json" && assert_pass "copied: ca.json is the source's again"
out=$(run_module step_ca '{"state": "copied", "path": "'"$work"'/ca2", "files": [{"path": "../escape", "content": "eA==", "mode": "0600", "owner": "root"}]}')
assert_contains "copied: a path out of path is refused" "files[0].path must be a path relative to path" "$(json_get "$out" msg)"
assert_eq "copied: nothing written outside" "no" "$([ -e "$work/escape" ] && echo yes || echo no)"
out=$(run_module step_ca '{"state": "copied", "path": "'"$work"'/ca2", "files": [{"path": "x", "content": "eA==", "owner": "root"}]}')
assert_contains "copied: a file without a mode is refused, naming it" "files[0].mode (x) is required" "$(json_get "$out" msg)"
out=$(run_module step_ca '{"state": "copied", "path": "'"$work"'/ca2", "files": [{"path": "x", "content": "eA==", "mode": "0999", "owner": "root"}]}')
assert_contains "copied: a mode that is not octal is refused, naming it" "files[0].mode: '0999' is not an octal mode" "$(json_get "$out" msg)"
assert_eq "copied: nothing written on a refusal" "no" "$([ -e "$work/ca2/x" ] && echo yes || echo no)"
out=$(run_module step_ca '{"state": "copied", "path": "'"$work"'/ca2"}')
assert_contains "copied: files is required" "files is required with state=copied" "$(json_get "$out" msg)"
out=$(run_module step_ca '{"path": "'"$work"'/ca3"}')
assert_contains "present: dns_names is required" "dns_names is required with state=present" "$(json_get "$out" msg)"

echo "-- the real step-ca serves it"
build/peers/step-ca --password-file "$work/ca/secrets/password" "$work/ca/config/ca.json" >"$work/step-ca.log" 2>&1 &
stepca_pid=$!
# state=healthy is the wait: it asks until step-ca (just started) answers, TLS checked against
# this CA's root.
out=$(run_module step_ca '{"state": "healthy", "path": "'"$work"'/ca", "url": "https://127.0.0.1:'"$port"'", "timeout": 20}')
if [ "$(json_get "$out" failed)" = true ]; then
  echo "$out"; cat "$work/step-ca.log"; exit 1
fi
assert_eq "state=healthy waited for the answer, changed nothing" "false https://127.0.0.1:$port" \
  "$(json_get "$out" changed) $(json_get "$out" url)"
if curl -sf --cacert "$work/ca/certs/root_ca.crt" "https://127.0.0.1:$port/health" >/dev/null; then
  assert_pass "step-ca /health (curl too)"
else
  assert_fail "step-ca /health (curl too)" "curl got no answer"
fi
out=$(run_module step_ca '{"state": "healthy", "path": "'"$work"'/ca", "url": "https://u:hidden-pw@127.0.0.1:1", "timeout": 1}')
assert_contains "no answer within timeout: failed, naming the URL" "url: step-ca did not answer" "$(json_get "$out" msg)"
assert_contains "... after several tries" "s (" "$(json_get "$out" msg)"
assert_not_contains "... and no credential of the URL in the output" "hidden-pw" "$out"
out=$(run_module step_ca '{"state": "healthy", "path": "'"$work"'/none", "url": "https://127.0.0.1:'"$port"'", "timeout": 0}')
assert_contains "no root to verify step-ca's TLS with: no answer counts, asked once" "within 0 s (1 tries)" "$(json_get "$out" msg)"
out=$(run_module step_ca '{"state": "healthy", "path": "'"$work"'/ca"}')
assert_contains "healthy: url is required" "url is required with state=healthy" "$(json_get "$out" msg)"

cert_args() { # cert_args ', "k": v...' [SANS_JSON]: the base options with these merged over them
  python3 -c '
import json, sys
base = {"ca_url": "https://127.0.0.1:" + sys.argv[1], "root": sys.argv[2] + "/ca/certs/root_ca.crt",
        "root_fingerprint": sys.argv[3], "provisioner_password": sys.argv[4], "subject": "node-1",
        "sans": json.loads(sys.argv[6]), "cert_path": sys.argv[2] + "/node/peer.crt",
        "key_path": sys.argv[2] + "/node/peer.key"}
base.update(json.loads("{" + sys.argv[5].lstrip(", ") + "}"))
print(json.dumps(base))
' "$port" "$work" "$fingerprint" "$prov_pw" "$1" "${2:-[\"node-1\", \"127.0.0.1\"]}"
}
mkdir -p "$work/node"

echo "-- step_cert issues, verifies, is idempotent"
out=$(run_module step_cert "$(cert_args '')")
assert_eq "issued" "true issued" "$(json_get "$out" changed) $(json_get "$out" action)"
assert_eq "key is 0400, cert 0644" "400 644" "$(stat -c %a "$work/node/peer.key" "$work/node/peer.crt" | xargs)"
openssl verify -CAfile "$work/ca/certs/root_ca.crt" -untrusted "$work/node/peer.crt" "$work/node/peer.crt" >/dev/null
assert_pass "openssl verifies the chain"
sans=$(openssl x509 -in "$work/node/peer.crt" -noout -ext subjectAltName | tail -n1 | xargs)
assert_eq "SANs" "DNS:node-1, IP Address:127.0.0.1" "$sans"
assert_contains "EKU" "TLS Web Server Authentication, TLS Web Client Authentication" \
  "$(openssl x509 -in "$work/node/peer.crt" -noout -ext extendedKeyUsage)"
assert_not_contains "no password or token in the output" "$prov_pw" "$out"
serial1=$(json_get "$out" serial)
out=$(run_module step_cert "$(cert_args '')")
assert_eq "second run is a no-op" "false none" "$(json_get "$out" changed) $(json_get "$out" action)"

echo "-- check mode predicts and changes nothing"
before=$(sha256sum "$work/node/peer.crt" "$work/node/peer.key")
out=$(run_module step_cert "$(cert_args ', "_ansible_check_mode": true, "_ansible_diff": true' '["node-1", "10.9.9.9"]')")
assert_eq "check mode predicts a reissue" "true issued" "$(json_get "$out" changed) $(json_get "$out" action)"
assert_eq "check mode touched nothing" "$before" "$(sha256sum "$work/node/peer.crt" "$work/node/peer.key")"

echo "-- renewal over mTLS keeps the key"
key_before=$(sha256sum <"$work/node/peer.key")
out=$(run_module step_cert "$(cert_args ', "state": "renewed"')")
assert_eq "renewed" "true renewed" "$(json_get "$out" changed) $(json_get "$out" action)"
assert_eq "same key after renewal" "$key_before" "$(sha256sum <"$work/node/peer.key")"
[ "$(json_get "$out" serial)" != "$serial1" ] && assert_pass "new serial"

echo "-- past the renewal point renews (the timer's job)"
out=$(run_module step_cert "$(cert_args ', "duration": "10m", "force": true')")
assert_eq "short cert issued" "issued" "$(json_get "$out" action)"
out=$(run_module step_cert "$(cert_args ', "renew_fraction": "0.001"')")
assert_eq "renewal point passed" "true renewed" "$(json_get "$out" changed) $(json_get "$out" action)"
printf '%s' "$(cert_args '')" >"$work/renew-job.json"
chmod 0600 "$work/renew-job.json"
library/step_cert "$work/renew-job.json" >"$work/job.out"
assert_eq "the timer job exits 0 when nothing is due" "false" "$(json_get "$(cat "$work/job.out")" changed)"

echo "-- drift: the certificate a server presents is compared with the file on disk"
awk '/BEGIN CERT/ {n++} n >= 2' "$work/node/peer.crt" >"$work/node/intermediates.pem"
tls_port=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$tls_port" -cert "$work/node/peer.crt" -key "$work/node/peer.key" \
  -cert_chain "$work/node/intermediates.pem" -www >/dev/null 2>&1 &
server_pid=$!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$tls_port"
out=$(run_module step_cert "$(cert_args ", \"serving_url\": \"https://127.0.0.1:$tls_port\"")")
assert_eq "served certificate matches the file" "true" "$(json_get "$out" served_matches)"
out=$(run_module step_cert "$(cert_args ", \"state\": \"renewed\", \"serving_url\": \"https://127.0.0.1:$tls_port\"")")
assert_eq "after a renewal the old server drifts" "false" "$(json_get "$out" served_matches)"
assert_contains "drift is reported" "drift: https://127.0.0.1:$tls_port serves" "$(json_get "$out" warnings)"
assert_eq "drift is a warning, not a failure" "false" "$(json_get "$out" failed)"

echo "-- state=inspected: what step certificate inspect shows, without the step CLI"
inspect_args() { # inspect_args EXTRA_MEMBERS: only the file, root, key and the served check
  printf '{"state": "inspected", "cert_path": "%s/node/peer.crt", "key_path": "%s/node/peer.key", "root": "%s/ca/certs/root_ca.crt"%s}' \
    "$work" "$work" "$work" "$1"
}
out=$(run_module step_cert "$(inspect_args ", \"serving_url\": \"https://127.0.0.1:$tls_port\"")")
assert_eq "inspected changes nothing" "false false" "$(json_get "$out" changed) $(json_get "$out" failed)"
assert_eq "the server still presents the old certificate: served_matches=false" "false" "$(json_get "$out" served_matches)"
assert_eq "subject as openssl shows it" "$(openssl x509 -in "$work/node/peer.crt" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ { print $2 }')" "$(json_get "$out" subject)"
assert_eq "issuer as openssl shows it" "$(openssl x509 -in "$work/node/peer.crt" -noout -issuer -nameopt multiline | awk -F' = ' '/commonName/ { print $2 }')" "$(json_get "$out" issuer)"
assert_eq "serial as openssl shows it (hex there, decimal here)" \
  "$(python3 -c "print(int('$(openssl x509 -in "$work/node/peer.crt" -noout -serial | cut -d= -f2)', 16))")" "$(json_get "$out" serial)"
assert_eq "not_after as openssl shows it" "$(date -u -d "$(openssl x509 -in "$work/node/peer.crt" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)" "$(json_get "$out" not_after)"
assert_eq "SANs, key type, chain and key" '["127.0.0.1", "node-1"] EC-P256 true true' \
  "$(python3 -c 'import json,sys; print(json.dumps(sorted(json.loads(sys.argv[1]))))' "$(json_get "$out" sans)") $(json_get "$out" key_type) $(json_get "$out" chain_valid) $(json_get "$out" key_matches)"
assert_ne "the renewal due time is reported" "null" "$(json_get "$out" renewal_point)"
assert_eq "openssl verify -untrusted agrees the chain is valid" "$work/node/peer.crt: OK" \
  "$(openssl verify -CAfile "$work/ca/certs/root_ca.crt" -untrusted "$work/node/intermediates.pem" "$work/node/peer.crt")"
out=$(run_module step_cert "{\"state\": \"inspected\", \"cert_path\": \"$work/node/peer.crt\", \"root\": \"/nonexistent/root.crt\"}")
assert_contains "inspected: a bad root is named" "root: " "$(json_get "$out" msg)"
out=$(run_module step_cert '{"state": "inspected", "cert_path": "/nonexistent.crt"}')
assert_contains "inspected: a missing certificate is named" "cert_path: " "$(json_get "$out" msg)"

echo "-- the renewal job writes its metrics (node_exporter textfile)"
metrics_args=", \"metrics\": {\"dir\": \"$work/metrics\", \"cluster\": \"c1\", \"node\": \"node-1\", \"kind\": \"peer\"}"
out=$(run_module step_cert "$(cert_args "$metrics_args, \"serving_url\": \"https://127.0.0.1:$tls_port\"")")
prom=$work/metrics/etcd-ansible-cert-c1-peer.prom
assert_eq "one file per certificate" "$prom" "$(ls "$work"/metrics/*.prom)"
assert_contains "not after" "etcd_ansible_cert_not_after_timestamp_seconds{cluster=\"c1\",kind=\"peer\",node=\"node-1\"} $(date -u -d "$(json_get "$out" not_after)" +%s)" "$(cat "$prom")"
assert_contains "the old server is seen" 'etcd_ansible_cert_served_matches{cluster="c1",kind="peer",node="node-1"} 0' "$(cat "$prom")"
assert_contains "the attempt succeeded" 'etcd_ansible_cert_renewal_last_attempt_success{cluster="c1",kind="peer",node="node-1"} 1' "$(cat "$prom")"
assert_eq "promtool check metrics" "" "$(promtool check metrics <"$prom" 2>&1)"
cp "$prom" "$work/metrics-ok.prom"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

echo "-- an expired certificate is reissued (mTLS cannot renew it)"
out=$(run_module step_cert "$(cert_args ', "duration": "5s", "force": true')")
assert_eq "5-second certificate issued" "issued" "$(json_get "$out" action)"
echo "     valid $(json_get "$out" not_before) .. $(json_get "$out" not_after)"
sleep 6
out=$(run_module step_cert "$(cert_args '')")
assert_eq "expired certificate reissued" "issued|the certificate has expired" "$(json_get "$out" action)|$(json_get "$out" reason)"

echo "-- issue #11: a token from step_token instead of the password; fail-over; renewal needs no credential"
tok=$(run_module step_token "$(printf '{"path": "%s/ca", "provisioner_password": "%s", "ca_url": ["https://127.0.0.1:%s"], "subject": "node-2", "sans": ["node-2"]}' "$work" "$prov_pw" "$port")")
token=$(json_get "$tok" token)
assert_eq "step_token made a token" "false 3" "$(json_get "$tok" failed) $(tr -cd . <<<"$token" | wc -c | awk '{ print $1 + 1 }')"
out=$(run_module step_cert "$(python3 -c 'import json, sys; print(json.dumps({"ca_url": ["https://127.0.0.1:1", "https://127.0.0.1:" + sys.argv[1]], "root": sys.argv[2] + "/ca/certs/root_ca.crt", "token": sys.argv[3], "subject": "node-2", "sans": ["node-2"], "cert_path": sys.argv[2] + "/node/n2.crt", "key_path": sys.argv[2] + "/node/n2.key"}))' "$port" "$work" "$token")")
assert_eq "issued with the token at the second CA URL (the first does not answer)" "issued https://127.0.0.1:$port" \
  "$(json_get "$out" action) $(json_get "$out" ca_url_used)"
assert_not_contains "the token is not in the output" "$token" "$out"
out=$(run_module step_cert "$(python3 -c 'import json, sys; print(json.dumps({"ca_url": ["https://127.0.0.1:" + sys.argv[1]], "root": sys.argv[2] + "/ca/certs/root_ca.crt", "token": sys.argv[3], "subject": "node-2", "sans": ["node-2"], "cert_path": sys.argv[2] + "/node/n2.crt", "key_path": sys.argv[2] + "/node/n2.key", "force": True}))' "$port" "$work" "$token")")
assert_contains "a used token is refused" "the CA refused to sign" "$(json_get "$out" msg)"
# items: the tokens of two certificates in one exec, each for its own subject and SANs, the
# password masked; a bad item is named and stops the rest.
tok=$(run_module step_token "$(printf '{"path": "%s/ca", "provisioner_password": "%s", "ca_url": ["https://127.0.0.1:%s"], "items": [{"subject": "node-3", "sans": ["node-3"]}, {"subject": "node-4", "sans": ["node-4", "127.0.0.4"]}]}' "$work" "$prov_pw" "$port")")
assert_eq "step_token items: two tokens, each for its subject" "false node-3 node-4" \
  "$(json_get "$tok" failed) $(json_get "$tok" results.0.subject) $(json_get "$tok" results.1.subject)"
assert_not_contains "step_token items: the password is masked" "$prov_pw" "$tok"
out=$(run_module step_cert "$(python3 -c 'import json, sys; print(json.dumps({"ca_url": ["https://127.0.0.1:" + sys.argv[1]], "root": sys.argv[2] + "/ca/certs/root_ca.crt", "token": sys.argv[3], "subject": "node-4", "sans": ["node-4", "127.0.0.4"], "cert_path": sys.argv[2] + "/node/n4.crt", "key_path": sys.argv[2] + "/node/n4.key"}))' "$port" "$work" "$(json_get "$tok" results.1.token)")")
assert_eq "the second item's token issues the second subject" "issued" "$(json_get "$out" action)"
out=$(run_module step_cert "$(python3 -c 'import json, sys; print(json.dumps({"ca_url": ["https://127.0.0.1:" + sys.argv[1]], "root": sys.argv[2] + "/ca/certs/root_ca.crt", "token": sys.argv[3], "subject": "node-4", "sans": ["node-4", "127.0.0.4"], "cert_path": sys.argv[2] + "/node/n4b.crt", "key_path": sys.argv[2] + "/node/n4b.key"}))' "$port" "$work" "$(json_get "$tok" results.0.token)")")
assert_contains "the first item's token does not issue the second subject" "the CA refused to sign" "$(json_get "$out" msg)"
tok=$(run_module step_token "$(printf '{"path": "%s/ca", "provisioner_password": "%s", "ca_url": ["https://127.0.0.1:%s"], "items": [{"subject": "node-3"}, {"sans": ["x"]}, {"subject": "node-5"}]}' "$work" "$prov_pw" "$port")")
assert_contains "step_token items: an item without subject is named" "items[1]: " "$(json_get "$tok" msg)"
assert_contains "step_token items: the rest did not run" "the items after it did not run" "$(json_get "$tok" msg)"
renew_only() { python3 -c 'import json, sys; print(json.dumps({"ca_url": ["https://127.0.0.1:1", "https://127.0.0.1:" + sys.argv[1]], "root": sys.argv[2] + "/ca/certs/root_ca.crt", "subject": "node-2", "sans": ["node-2"], "cert_path": sys.argv[2] + "/node/n2.crt", "key_path": sys.argv[2] + "/node/n2.key", "state": "renewed", "reissue_hint": "run the playbook"}))' "$port" "$work"; }
out=$(run_module step_cert "$(renew_only)")
assert_eq "renewed over mTLS with no credential, failing over" "renewed https://127.0.0.1:$port" \
  "$(json_get "$out" action) $(json_get "$out" ca_url_used)"
rm "$work/node/n2.crt"
out=$(run_module step_cert "$(renew_only)")
assert_contains "a lost certificate: the job says the playbook issues it" "a new certificate must be issued" "$(json_get "$out" msg)"
assert_contains "with the hint" "run the playbook" "$(json_get "$out" msg)"

echo "-- failures leave the pair untouched"
before=$(sha256sum "$work/node/peer.crt" "$work/node/peer.key")
out=$(run_module step_cert "$(cert_args ', "force": true, "provisioner_password": "not-the-password"')")
assert_contains "wrong provisioner password is named" "provisioner_password: cannot use the key" "$(json_get "$out" msg)"
assert_eq "wrong password: files untouched" "$before" "$(sha256sum "$work/node/peer.crt" "$work/node/peer.key")"
kill "$stepca_pid"; wait "$stepca_pid" 2>/dev/null || true
out=$(run_module step_cert "$(cert_args ', "state": "renewed"')")
assert_contains "step-ca down: the error names the CA" "127.0.0.1:$port" "$(json_get "$out" msg)"
assert_eq "step-ca down: failed" "true" "$(json_get "$out" failed)"
assert_eq "step-ca down: old pair kept" "$before" "$(sha256sum "$work/node/peer.crt" "$work/node/peer.key")"
out=$(run_module step_cert "$(cert_args ", \"state\": \"renewed\"$metrics_args")")
assert_contains "a failed renewal is in the metrics" 'etcd_ansible_cert_renewal_last_attempt_success{cluster="c1",kind="peer",node="node-1"} 0' "$(cat "$prom")"
assert_eq "the last successful renewal is kept" "$(grep '^etcd_ansible_cert_last_renewal_timestamp_seconds' "$work/metrics-ok.prom")" \
  "$(grep '^etcd_ansible_cert_last_renewal_timestamp_seconds' "$prom")"
assert_eq "promtool check metrics (failed run)" "" "$(promtool check metrics <"$prom" 2>&1)"
build/peers/step-ca --password-file "$work/ca/secrets/password" "$work/ca/config/ca.json" >>"$work/step-ca.log" 2>&1 &
stepca_pid=$!
wait_for 20 curl -sf --cacert "$work/ca/certs/root_ca.crt" "https://127.0.0.1:$port/health"

echo "-- keys are 0400 from the first byte (syscalls traced)"
rm -f "$work/node/peer.key" "$work/node/peer.crt"
printf '%s' "$(cert_args '')" >"$work/args.json"
strace -f -qq -e trace=openat,chmod,fchmod,fchmodat -o "$work/strace.log" library/step_cert "$work/args.json" >/dev/null
key_open=$(grep -E "openat\(.*peer\.key\.tmp\.[a-z0-9]+\"" "$work/strace.log" | head -n1)
assert_contains "the key's temp file is created O_EXCL with mode 0400" "O_CREAT|O_EXCL" "$key_open"
assert_contains "... and mode 0400" ", 0400)" "$key_open"
assert_eq "no chmod ever widens the key" "" "$(grep -E "chmod\(.*peer\.key" "$work/strace.log" | grep -v ", 0400)" || true)"

echo "-- SAN change reissues; key type change makes a new key"
out=$(run_module step_cert "$(cert_args '' '["node-1", "127.0.0.1", "localhost"]')")
assert_eq "SAN change" "issued|the SANs changed" "$(json_get "$out" action)|$(json_get "$out" reason)"
out=$(run_module step_cert "$(cert_args ', "key_type": "RSA"' '["node-1", "127.0.0.1", "localhost"]')")
assert_eq "RSA key" "issued RSA-2048" "$(json_get "$out" action) $(json_get "$out" key_type)"
assert_eq "RSA key still 0400" "400" "$(stat -c %a "$work/node/peer.key")"

echo "-- a certificate from another CA is replaced"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/node/peer.key.other" \
  -out "$work/node/peer.crt" -subj /CN=node-1 -days 1 2>/dev/null
mv "$work/node/peer.key.other" "$work/node/peer.key"
out=$(run_module step_cert "$(cert_args '')")
assert_eq "foreign cert reissued" "issued|the certificate does not chain to root" "$(json_get "$out" action)|$(json_get "$out" reason)"

echo "-- bad input gets a clear message"
out=$(run_module step_cert "$(cert_args ', "renew_fraction": "2"')")
assert_contains "bad renew_fraction" "renew_fraction must be" "$(json_get "$out" msg)"
out=$(run_module step_cert "$(cert_args ', "key_type": "DSA"')")
assert_contains "bad key_type" "key_type" "$(json_get "$out" msg)"
out=$(run_module step_cert "$(cert_args ', "root_fingerprint": "00ff"')")
assert_contains "wrong root fingerprint" "root_fingerprint" "$(json_get "$out" msg)"
out=$(run_module step_cert "$(cert_args ', "ca_url": "https://127.0.0.1:1", "force": true')")
assert_contains "unreachable CA" "127.0.0.1:1" "$(json_get "$out" msg)"
assert_eq "failed sets failed" "true" "$(json_get "$out" failed)"

echo "-- items: two certificates and their renewal jobs' args files in one call"
items_args() { # items_args EXTRA_ITEM_JSON_MEMBERS
  python3 -c '
import json, sys
base, w = json.loads(sys.argv[1]), sys.argv[2]
del base["cert_path"], base["key_path"]
base["items"] = [dict({"cert_path": w + "/items/" + k + ".crt", "key_path": w + "/items/" + k + ".key",
                       "job_args_file": w + "/items/renew-" + k + ".json",
                       "job_options": {"timeout": 20}}, **json.loads("{" + sys.argv[3].lstrip(", ") + "}"))
                 for k in ("a", "b")]
print(json.dumps(base))' "$(cert_args '')" "$work" "$1"
}
mkdir -p "$work/items"
out=$(run_module step_cert "$(items_args ', "_ansible_check_mode": true')")
assert_eq "check mode plans both certificates and both args files" "false issued issued true true" \
  "$(json_get "$out" failed) $(json_get "$out" results.0.action) $(json_get "$out" results.1.action) $(json_get "$out" results.0.job_args_changed) $(json_get "$out" results.1.job_args_changed)"
[ ! -e "$work/items/a.crt" ] && [ ! -e "$work/items/renew-a.json" ] && assert_pass "check mode wrote nothing"
out=$(run_module step_cert "$(items_args '')")
assert_eq "one call issued both and wrote both args files" "true issued issued true true" \
  "$(json_get "$out" changed) $(json_get "$out" results.0.action) $(json_get "$out" results.1.action) $(json_get "$out" results.0.job_args_changed) $(json_get "$out" results.1.job_args_changed)"
assert_eq "the args files are 0600" "600 600" "$(stat -c %a "$work/items/renew-a.json" "$work/items/renew-b.json" | xargs)"
assert_eq "an args file holds the certificate's options and job_options" "$work/items/a.crt 20 node-1" \
  "$(json_get "$(cat "$work/items/renew-a.json")" cert_path) $(json_get "$(cat "$work/items/renew-a.json")" timeout) $(json_get "$(cat "$work/items/renew-a.json")" subject)"
assert_not_contains "no provisioner password in an args file" "$prov_pw" "$(cat "$work/items/renew-a.json")"
assert_not_contains "no password in the output" "$prov_pw" "$out"
out=$(run_module step_cert "$(items_args '')")
assert_eq "a rerun changes nothing" "false none none false false" \
  "$(json_get "$out" changed) $(json_get "$out" results.0.action) $(json_get "$out" results.1.action) $(json_get "$out" results.0.job_args_changed) $(json_get "$out" results.1.job_args_changed)"
out=$(library/step_cert "$work/items/renew-b.json" || true)
assert_eq "the renewal job runs from its args file: nothing due" "false false" "$(json_get "$out" failed) $(json_get "$out" changed)"
chmod 0644 "$work/items/renew-b.json"
out=$(run_module step_cert "$(items_args ', "job_options": {"timeout": 25}')")
assert_eq "changed job options rewrite both files, no certificate" "true none true true" \
  "$(json_get "$out" changed) $(json_get "$out" results.0.action) $(json_get "$out" results.0.job_args_changed) $(json_get "$out" results.1.job_args_changed)"
assert_eq "the drifted mode is back to 0600" "600" "$(stat -c %a "$work/items/renew-b.json")"
out=$(run_module step_cert "$(items_args ', "job_options": {"token": "x"}')")
assert_contains "a job option that is not one is refused, naming it" "items[0]: job_options: token is not an option of the renewal job" "$(json_get "$out" msg)"
out=$(run_module step_cert "$(cert_args ', "job_options": {"timeout": 5}')")
assert_contains "job_options without job_args_file is refused" "job_options needs job_args_file" "$(json_get "$out" msg)"

echo "-- absent removes, twice is a no-op; check mode removes nothing"
out=$(run_module step_cert "$(cert_args ', "state": "absent", "_ansible_check_mode": true')")
assert_eq "check mode predicts removal" "true" "$(json_get "$out" changed)"
[ -e "$work/node/peer.crt" ] && [ -e "$work/node/peer.key" ] && assert_pass "check mode kept the files"
out=$(run_module step_cert "$(cert_args ', "state": "absent"')")
assert_eq "removed" "true" "$(json_get "$out" changed)"
[ ! -e "$work/node/peer.crt" ] && [ ! -e "$work/node/peer.key" ] && assert_pass "files gone"
out=$(run_module step_cert "$(cert_args ', "state": "absent"')")
assert_eq "absent again" "false" "$(json_get "$out" changed)"
echo "step_cert_vs_stepca: all passed"
