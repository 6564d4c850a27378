#!/usr/bin/env bash
# e2e: the PKI (roles/etcd3/certs/smallstep) on 3 local test hosts with real systemd and the real
# step-ca 0.19, as the README runs it:
#   - [etcd] = H1 H2 H3, [etcd-cert-managers] = H1 (primary) H2 (backup), [etcd-clients] = H3;
#   - first run from clean hosts, then: certificates, modes, owners, chains (openssl on the hosts),
#     step-ca serving on H1 and stopped on H2 with a byte-identical CA, renewal timers;
#   - second run changes nothing; check mode changes nothing;
#   - a renewal timer job: nothing due -> success; past the renewal point -> new certificate;
#   - Scenario 1: step-ca stopped on H1 and started on H2 issues and renews under the same root;
#   - Scenario 2: playbooks/restore-ca.yaml from H2 to H1, then the role again changes nothing.
# Hosts are H1..H3 = ${HOSTS_PREFIX:-eh}1..3 from tests/hosts/hosts.sh (HOSTS_* variables pick
# another set). Hosts this script starts are torn down at the end; hosts that were up stay up.
# KEEP=1 keeps everything. Logs: build/e2e/pki/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

prefix=${HOSTS_PREFIX:-eh}
h1=${prefix}1 h2=${prefix}2 h3=${prefix}3
hostsdir=$(realpath -m "${HOSTS_DIR:-$top/build/hosts}")
work=$top/build/e2e/pki
ca_pw='e2e-ca-pass-7Qx!'
prov_pw='e2e-prov-pass-9Zk$'
started_hosts=0
step=setup

hosts() { tests/hosts/hosts.sh "$@"; }
on() { # on HOST CMD...: run CMD on a test host
  local h=$1
  shift
  tests/hosts/hosts.sh ssh "$h" "$@"
}
ctl() { tests/hosts/hosts.sh ctl "$@"; }
play() { # play LOG PLAYBOOK [ARGS...]: ansible-playbook with the test inventory and vars
  local log=$1
  shift
  if ! ctl ansible-playbook -i "$work/inventory.ini" -e @"$work/vars.yml" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FAIL: ansible-playbook $* (log: $log)" >&2
    return 1
  fi
}
recap_sum() { # recap_sum LOG FIELD: sum of FIELD=N over the PLAY RECAP lines
  awk -v f="$2" '/PLAY RECAP/ { r = 1; next } r && $2 == ":" {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } }
    END { print s + 0 }' "$1"
}
fingerprint() { openssl x509 -outform DER | sha256sum | cut -d' ' -f1; }
ip_of() { awk -v h="$1" '$1 == h { for (i = 2; i <= NF; i++) if ($i ~ /^ansible_host=/) { sub(/^ansible_host=/, "", $i); print $i } }' "$hostsdir/inventory.ini"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED during: $step" >&2
    mkdir -p "$work/logs"
    for h in "$h1" "$h2" "$h3"; do
      on "$h" journalctl --no-pager -n 200 -u step-ca -u 'step-renew-*' >"$work/logs/journal-$h.txt" 2>&1 || true
    done
    echo "logs and journals kept in $work (playbook logs run-*.log, journals logs/)" >&2
    echo "reproduce: tests/hosts/hosts.sh ctl ansible-playbook -i $work/inventory.ini -e @$work/vars.yml tests/e2e/pki.yaml" >&2
  fi
  if [ "$started_hosts" = 1 ] && [ "${KEEP:-0}" != 1 ] && [ "$rc" -eq 0 ]; then
    hosts down >/dev/null 2>&1 || true
  elif [ "$started_hosts" = 1 ]; then
    echo "test hosts left up for inspection; tear them down with: tests/hosts/hosts.sh down" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT

step="build the modules and the step-ca mirror"
# only the modules this scenario uses: the others may be work in progress
make -s library/step_ca library/step_cert library/step_token library/systemd_timer library/etcd_files >/dev/null
tests/peers/stepca/build.sh >/dev/null
tarball=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz

step="bring up the test hosts"
rc=0
hosts status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 1 ]; then
  hosts up 3 >/dev/null
  started_hosts=1
elif [ "$rc" -ne 0 ]; then
  echo "FAIL: some test hosts in $hostsdir are dead or not booted (tests/hosts/hosts.sh status);" \
    "fix or take them down first" >&2
  exit 1
fi
for h in "$h1" "$h2" "$h3"; do
  grep -q "^$h " "$hostsdir/inventory.ini" || {
    echo "FAIL: $h is not among the running test hosts ($hostsdir/inventory.ini); they belong to" \
      "someone else: take them down, or use another set with HOSTS_DIR/HOSTS_NETNS/HOSTS_SUBNET/HOSTS_PREFIX" >&2
    exit 1
  }
done

step="write the inventory and the variables"
mkdir -p "$work"
rm -f "$work"/run-*.log
{
  echo "[etcd]"
  grep -E "^($h1|$h2|$h3) " "$hostsdir/inventory.ini"
  printf '\n[etcd-cert-managers]\n%s\n%s\n\n[etcd-clients]\n%s\n' "$h1" "$h2" "$h3"
} >"$work/inventory.ini"
cat >"$work/vars.yml" <<EOF
step_ca_password: "$ca_pw"
step_provisioner_password: "$prov_pw"
step_ca_download_url: "file://$top/$tarball"
step_ca_checksum: "sha256:$(cut -d' ' -f1 "$tarball.sha256")"
etcd_download_cache_dir: "$work/cache"
EOF

reset_host() { # reset_host HOST: remove everything the role and this test put on HOST
  on "$1" 'systemctl stop "step-ca*" "step-renew-*" 2>/dev/null;
    rm -f /etc/systemd/system/step-ca*.service /etc/systemd/system/step-renew-* \
      /etc/systemd/system/*.wants/step-ca*.service /etc/systemd/system/*.wants/step-renew-*;
    systemctl daemon-reload; systemctl reset-failed "step-*" 2>/dev/null;
    rm -rf /etc/step-ca /etc/step-ca-* /etc/etcd /opt/bin /root/failover.*;
    userdel etcd 2>/dev/null; groupdel etcd 2>/dev/null; true'
}
step="reset the hosts to a clean state"
for h in "$h1" "$h2" "$h3"; do reset_host "$h"; done

echo "-- check mode on clean hosts predicts and touches nothing"
step="check mode on clean hosts"
play "$work/run-0-check.log" tests/e2e/pki.yaml --check
assert_eq "check mode: no failure" "0" "$(recap_sum "$work/run-0-check.log" failed)"
assert_eq "check mode: nothing written" "no no" \
  "$(on "$h1" 'test -e /etc/step-ca && echo yes || echo no; test -e /etc/etcd && echo yes || echo no' | xargs)"

echo "-- first run"
step="first run of tests/e2e/pki.yaml"
t0=$(date +%s.%N)
play "$work/run-1.log" tests/e2e/pki.yaml
first_run=$(elapsed "$t0")
assert_eq "first run: no failure" "0" "$(recap_sum "$work/run-1.log" failed)"

step="check the certificates"
on "$h1" cat /etc/etcd/ssl/root_ca.crt >"$work/root_ca.crt"
root_fp=$(fingerprint <"$work/root_ca.crt")
for h in "$h1" "$h2" "$h3"; do
  files=""
  for kind in peer server client; do files="$files /etc/etcd/ssl/etcd-$h-$kind.crt /etc/etcd/ssl/etcd-$h-$kind.key"; done
  assert_eq "$h: certs 0644 and keys 0400, owner etcd" \
    "644 etcd etcd 400 etcd etcd 644 etcd etcd 400 etcd etcd 644 etcd etcd 400 etcd etcd" \
    "$(on "$h" stat -c "'%a %U %G'" $files | xargs)"
  assert_eq "$h: root_ca.crt 0644 root, CA links" "644 root root|root_ca.crt root_ca.crt" \
    "$(on "$h" stat -c "'%a %U %G'" /etc/etcd/ssl/root_ca.crt | xargs)|$(on "$h" readlink /etc/etcd/ssl/peer-ca.crt /etc/etcd/ssl/client-ca.crt | xargs)"
  assert_eq "$h: the same root everywhere" "$root_fp" "$(on "$h" cat /etc/etcd/ssl/root_ca.crt | fingerprint)"
  for kind in peer server client; do
    crt=/etc/etcd/ssl/etcd-$h-$kind.crt
    assert_eq "$h: openssl verifies the $kind chain" "$crt: OK" \
      "$(on "$h" openssl verify -CAfile /etc/etcd/ssl/root_ca.crt -untrusted "$crt" "$crt")"
  done
  ip=$(awk -v h="$h" '$1 == h { for (i = 2; i <= NF; i++) if ($i ~ /^ansible_host=/) { sub(/^ansible_host=/, "", $i); print $i } }' "$work/inventory.ini")
  assert_eq "$h: peer SANs" "DNS:$h, IP Address:$ip, IP Address:127.0.0.1" \
    "$(on "$h" openssl x509 -in "/etc/etcd/ssl/etcd-$h-peer.crt" -noout -ext subjectAltName | tail -n1 | xargs)"
  assert_eq "$h: server SANs" "DNS:$h, DNS:localhost, IP Address:$ip, IP Address:127.0.0.1" \
    "$(on "$h" openssl x509 -in "/etc/etcd/ssl/etcd-$h-server.crt" -noout -ext subjectAltName | tail -n1 | xargs)"
  assert_eq "$h: client SANs" "DNS:$h" \
    "$(on "$h" openssl x509 -in "/etc/etcd/ssl/etcd-$h-client.crt" -noout -ext subjectAltName | tail -n1 | xargs)"
  assert_eq "$h: renewal args files 0600 root" "600 root 600 root 600 root" \
    "$(on "$h" stat -c "'%a %U'" /etc/etcd/step/renew-peer.json /etc/etcd/step/renew-server.json /etc/etcd/step/renew-client.json | xargs)"
  assert_eq "$h: 3 renewal timers" "3" \
    "$(on "$h" systemctl list-timers --no-legend "'step-renew-*'" | grep -c "step-renew-$h-")"
done
assert_not_contains "no password in the playbook output" "$prov_pw" "$(cat "$work/run-1.log")"
assert_not_contains "no CA password in the playbook output" "$ca_pw" "$(cat "$work/run-1.log")"

step="check step-ca on the cert-managers"
assert_eq "step-ca /health on $h1" '{"status":"ok"}' \
  "$(ctl curl -sS --cacert "$work/root_ca.crt" "https://$h1:9000/health")"
assert_eq "step-ca on $h1 active and enabled" "active enabled" \
  "$({ on "$h1" systemctl is-active step-ca; on "$h1" systemctl is-enabled step-ca; } | xargs)"
assert_eq "step-ca on $h2 inactive and disabled" "inactive disabled" \
  "$({ on "$h2" systemctl is-active step-ca || true; on "$h2" systemctl is-enabled step-ca || true; } | xargs)"
ca_files="certs/root_ca.crt certs/intermediate_ca.crt secrets/root_ca_key secrets/intermediate_ca_key secrets/password config/ca.json"
listing() { on "$1" "cd /etc/step-ca && sha256sum $ca_files && stat -c '%n %a %U' $ca_files certs secrets config db"; }
assert_eq "the CA on $h2 is byte-identical to $h1, same modes" "$(listing "$h1")" "$(listing "$h2")"
assert_eq "CA secrets 0400; the root key root's, what step-ca reads step-ca's" "400 root 400 step-ca 400 step-ca" \
  "$(on "$h2" stat -c "'%a %U'" /etc/step-ca/secrets/root_ca_key /etc/step-ca/secrets/intermediate_ca_key /etc/step-ca/secrets/password | xargs)"

echo "-- TLS and least privilege (issue #11)"
step="step-ca's user, address and TLS policy"
assert_eq "step-ca runs as the step-ca user" "step-ca" \
  "$(on "$h1" "ps -o user= -p \$(systemctl show -p MainPID --value step-ca)" | xargs)"
assert_eq "step-ca listens on $h1's own address only" "$(ip_of "$h1"):9000" \
  "$(on "$h1" "ss -Hltn 'sport = :9000'" | awk '{ print $4 }' | xargs)"
tls_try() { # tls_try HOST:PORT ARGS...: "ok" when an openssl handshake with ARGS succeeds
  if ctl sh -c "openssl s_client -connect $1 ${*:2} </dev/null >/dev/null 2>&1"; then echo ok; else echo refused; fi
}
ca_ep="$(ip_of "$h1"):9000"
assert_eq "step-ca: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 accepted" ok "$(tls_try "$ca_ep" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256)"
assert_eq "step-ca: CBC-SHA1 (ECDHE-ECDSA-AES128-SHA) refused" refused "$(tls_try "$ca_ep" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA)"
assert_eq "step-ca: CBC-SHA1 (ECDHE-ECDSA-AES256-SHA) refused" refused "$(tls_try "$ca_ep" -tls1_2 -cipher ECDHE-ECDSA-AES256-SHA)"
assert_eq "step-ca: TLS 1.1 refused" refused "$(tls_try "$ca_ep" -tls1_1 -cipher 'ALL:@SECLEVEL=0')"
assert_eq "step-ca: TLS 1.3 accepted" ok "$(tls_try "$ca_ep" -tls1_3)"
assert_eq "peer certificates carry the peer CN" "CN = etcd-peer-default CN = $h3" \
  "$(on "$h3" "openssl x509 -noout -subject -nameopt oneline -in /etc/etcd/ssl/etcd-$h3-peer.crt; openssl x509 -noout -subject -nameopt oneline -in /etc/etcd/ssl/etcd-$h3-client.crt" | sed 's/^subject=//' | xargs)"
step="no node but the cert-managers holds the provisioner password"
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: no renewal args file names a provisioner credential" "" \
    "$(on "$h" "grep -l provisioner_password /etc/etcd/step/*.json || true")"
done
t_grep=$(date +%s.%N)
assert_eq "$h3 (not a cert-manager): no file holds the provisioner password" "" \
  "$(on "$h3" "grep -rlsF -e '$prov_pw' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev || true")"
echo "     (grep of every file on $h3: $(elapsed "$t_grep") s)"

echo "-- second run changes nothing"
step="second run of tests/e2e/pki.yaml"
t0=$(date +%s.%N)
play "$work/run-2.log" tests/e2e/pki.yaml
second_run=$(elapsed "$t0")
assert_eq "second run: changed=0" "0 0" \
  "$(recap_sum "$work/run-2.log" changed) $(recap_sum "$work/run-2.log" failed)"

step="check mode on the deployed hosts"
play "$work/run-3-check.log" tests/e2e/pki.yaml --check --diff
assert_eq "check mode on deployed hosts: changed=0" "0 0" \
  "$(recap_sum "$work/run-3-check.log" changed) $(recap_sum "$work/run-3-check.log" failed)"

step="a rerun puts back what drifted"
# What the roles' looks watch, changed by hand: the etcd account, a mode, a link, step-ca's unit
# state on the backup, its start script on the primary (a restart through the handler, with its
# start skipped because it was running).
ca_started() { on "$h1" systemctl show -p ActiveEnterTimestampMonotonic --value step-ca; }
ca_before=$(ca_started)
on "$h3" usermod -s /bin/sh etcd
on "$h3" "chmod 0600 /etc/etcd/ssl/root_ca.crt && rm /etc/etcd/ssl/peer-ca.crt"
on "$h2" systemctl enable step-ca
on "$h1" chmod 0700 /opt/bin/step-ca-start
# A module binary damaged and another given away: etcd_install_binaries puts the controller's back.
on "$h2" "printf x >> /opt/bin/step_cert && chown nobody /opt/bin/step-ca"
play "$work/run-drift.log" tests/e2e/pki.yaml
assert_eq "the drift run: no failure, something changed" "0 yes" \
  "$(recap_sum "$work/run-drift.log" failed) $([ "$(recap_sum "$work/run-drift.log" changed)" -gt 0 ] && echo yes)"
assert_eq "$h3: etcd's shell is nologin again" "/usr/sbin/nologin" "$(on "$h3" getent passwd etcd | cut -d: -f7)"
assert_eq "$h3: root_ca.crt 0644 again, the peer CA link back" "644 root_ca.crt" \
  "$(on "$h3" "stat -c %a /etc/etcd/ssl/root_ca.crt; readlink /etc/etcd/ssl/peer-ca.crt" | xargs)"
assert_eq "step-ca on $h2 disabled again" "disabled" "$(on "$h2" systemctl is-enabled step-ca || true)"
assert_eq "$h1: the start script 0755 again" "755" "$(on "$h1" stat -c %a /opt/bin/step-ca-start)"
assert_eq "$h2: step_cert the controller's again, step-ca root's again, 0755, no temp file left" \
  "$(sha256sum library/.bin/step_cert | cut -d' ' -f1) 755 root:root 755 root:root none" \
  "$(on "$h2" "sha256sum /opt/bin/step_cert | cut -d' ' -f1;
     stat -c '%a %U:%G' /opt/bin/step_cert /opt/bin/step-ca; ls -A /opt/bin | grep '^\\.' || echo none" | xargs)"
[ "$(ca_started)" != "$ca_before" ] || { echo "FAIL: step-ca on $h1 was not restarted after its start script changed" >&2; exit 1; }
echo "ok   step-ca on $h1 restarted by the handler"
assert_eq "step-ca /health on $h1 after the restart" '{"status":"ok"}' \
  "$(ctl curl -sS --cacert "$work/root_ca.crt" "https://$h1:9000/health")"

echo "-- a new node joins with --limit (README \"Add New Node\")"
step="add $h3 again with --limit"
reset_host "$h3"
play "$work/run-5-limit.log" tests/e2e/pki.yaml --limit "$h3"
assert_eq "--limit $h3: no failure" "0" "$(recap_sum "$work/run-5-limit.log" failed)"
for kind in peer server client; do
  crt=/etc/etcd/ssl/etcd-$h3-$kind.crt
  assert_eq "$h3: the new $kind certificate verifies" "$crt: OK" \
    "$(on "$h3" openssl verify -CAfile /etc/etcd/ssl/root_ca.crt -untrusted "$crt" "$crt")"
done
assert_eq "$h3: 3 renewal timers again" "3" \
  "$(on "$h3" systemctl list-timers --no-legend "'step-renew-*'" | grep -c "step-renew-$h3-")"
play "$work/run-6-limit.log" tests/e2e/pki.yaml --limit "$h3"
assert_eq "--limit $h3 again: changed=0" "0 0" \
  "$(recap_sum "$work/run-6-limit.log" changed) $(recap_sum "$work/run-6-limit.log" failed)"

echo "-- renewal timers"
step="renewal job with nothing due"
on "$h2" systemctl start "step-renew-$h2-peer.service"
assert_eq "step-renew-$h2-peer.service: nothing due is a success" "Result=success" \
  "$(on "$h2" systemctl show -p Result "step-renew-$h2-peer.service")"
assert_contains "the job reported no change" '"action":"none","changed":false' \
  "$(on "$h2" journalctl --no-pager -o cat -u "step-renew-$h2-peer.service")"

step="renewal job past the renewal point"
crt=/etc/etcd/ssl/etcd-$h3-server.crt
serial_before=$(on "$h3" openssl x509 -in "$crt" -noout -serial)
key_before=$(on "$h3" sha256sum "/etc/etcd/ssl/etcd-$h3-server.key")
on "$h3" "cp -p /etc/etcd/step/renew-server.json /root/renew-server.json.orig &&
  sed -i 's/\"renew_fraction\": \"[0-9.]*\"/\"renew_fraction\": \"0.0000001\"/' /etc/etcd/step/renew-server.json"
# Let the timer itself fire (not systemctl start): a drop-in makes it fire every 5 s, no delay.
timer="step-renew-$h3-server.timer"
dropin="/etc/systemd/system/$timer.d/fast.conf"
on "$h3" "mkdir -p /etc/systemd/system/$timer.d && printf '[Timer]\nOnCalendar=\nOnCalendar=*:*:0/5\nRandomizedDelaySec=0\nAccuracySec=1s\n' >$dropin &&
  systemctl daemon-reload && systemctl restart $timer"
fired=0
for _ in $(seq 1 40); do
  [ "$(on "$h3" openssl x509 -in "$crt" -noout -serial)" != "$serial_before" ] && { fired=1; break; }
  sleep 0.5
done
on "$h3" "rm -rf /etc/systemd/system/$timer.d && systemctl daemon-reload && systemctl restart $timer"
on "$h3" "cp -p /root/renew-server.json.orig /etc/etcd/step/renew-server.json && rm /root/renew-server.json.orig"
[ "$fired" = 1 ] || { echo "FAIL: $timer did not renew the certificate within 20 s" >&2; exit 1; }
echo "ok   $timer fired on its own schedule"
assert_eq "step-renew-$h3-server.service succeeded" "Result=success" \
  "$(on "$h3" systemctl show -p Result "step-renew-$h3-server.service")"
serial_after=$(on "$h3" openssl x509 -in "$crt" -noout -serial)
[ "$serial_after" != "$serial_before" ] || { echo "FAIL: the timer job did not renew ($serial_after)" >&2; exit 1; }
echo "ok   the timer job renewed the server certificate ($serial_before -> $serial_after)"
assert_eq "renewal kept the key" "$key_before" "$(on "$h3" sha256sum "/etc/etcd/ssl/etcd-$h3-server.key")"
assert_eq "the renewed certificate verifies" "$crt: OK" \
  "$(on "$h3" openssl verify -CAfile /etc/etcd/ssl/root_ca.crt -untrusted "$crt" "$crt")"
assert_eq "renewed cert and key still 0644/0400 etcd" "644 etcd 400 etcd" \
  "$(on "$h3" stat -c "'%a %U'" "$crt" "/etc/etcd/ssl/etcd-$h3-server.key" | xargs)"

step="an etcd-style mutual-TLS client still connects after the renewal"
# The renewed server certificate serves TLS that demands a client certificate (as etcd's
# client-cert-auth does); h1's client certificate and the root must be accepted both ways.
on "$h3" "cd /etc/etcd/ssl && awk '/BEGIN CERT/ {n++} n >= 2' etcd-$h3-server.crt >/root/int.pem &&
  (setsid openssl s_server -quiet -accept 12379 -cert etcd-$h3-server.crt -key etcd-$h3-server.key \
     -cert_chain /root/int.pem -CAfile root_ca.crt -Verify 1 -verify_return_error -www \
     </dev/null >/root/s_server.log 2>&1 & echo \$! >/root/s_server.pid)"
sleep 1
# Like Go's TLS stack (etcdctl, kube-apiserver), send the whole chain in the certificate file.
handshake=$(on "$h1" "awk '/BEGIN CERT/ {n++} n >= 2' /etc/etcd/ssl/etcd-$h1-client.crt >/root/cint.pem &&
  openssl s_client -connect $h3:12379 -servername $h3 -CAfile /etc/etcd/ssl/root_ca.crt \
  -cert /etc/etcd/ssl/etcd-$h1-client.crt -key /etc/etcd/ssl/etcd-$h1-client.key -cert_chain /root/cint.pem \
  -verify_return_error -brief </dev/null 2>&1; rm -f /root/cint.pem" || true)
on "$h3" 'kill $(cat /root/s_server.pid) 2>/dev/null; rm -f /root/s_server.pid /root/int.pem'
assert_contains "$h1's client verifies $h3's renewed server certificate" "Verification: OK" "$handshake"
assert_not_contains "$h3 accepts $h1's client certificate" "alert" "$handshake"

echo "-- Scenario 1: fail over to the backup cert-manager"
step="fail over step-ca to $h2"
on "$h1" systemctl stop step-ca
on "$h2" systemctl start step-ca
wait_for 30 ctl curl -sf --cacert "$work/root_ca.crt" "https://$h2:9000/health" ||
  { echo "FAIL: step-ca on $h2 does not answer /health" >&2; exit 1; }
echo "ok   step-ca on $h2 answers /health under the same root"
served=$(ctl curl -sS --cacert "$work/root_ca.crt" "https://$h2:9000/roots" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["crts"][0])' | fingerprint)
assert_eq "$h2 serves the same root" "$root_fp" "$served"
step="a renewal timer job fails over to $h2 without rerunning the play"
crt=/etc/etcd/ssl/etcd-$h3-client.crt
serial_before=$(on "$h3" openssl x509 -in "$crt" -noout -serial)
on "$h3" "cp -p /etc/etcd/step/renew-client.json /root/renew-client.json.orig &&
  sed -i 's/\"renew_fraction\": \"[0-9.]*\"/\"renew_fraction\": \"0.0000001\"/' /etc/etcd/step/renew-client.json"
on "$h3" systemctl start "step-renew-$h3-client.service" || true
on "$h3" "cp -p /root/renew-client.json.orig /etc/etcd/step/renew-client.json && rm /root/renew-client.json.orig"
assert_eq "step-renew-$h3-client.service succeeded with $h1 down" "Result=success" \
  "$(on "$h3" systemctl show -p Result "step-renew-$h3-client.service")"
assert_contains "the job renewed at $h2" "\"ca_url_used\":\"https://$(ip_of "$h2"):9000\"" \
  "$(on "$h3" journalctl --no-pager -o cat -u "step-renew-$h3-client.service" | tail -n 5)"
[ "$(on "$h3" openssl x509 -in "$crt" -noout -serial)" != "$serial_before" ] ||
  { echo "FAIL: the renewal job did not renew $crt" >&2; exit 1; }
echo "ok   the renewal job renewed $crt at $h2"
step="a renewal job that would need a new certificate says the playbook issues it"
on "$h3" "mv /etc/etcd/ssl/etcd-$h3-client.crt /root/client.crt.saved"
on "$h3" systemctl start "step-renew-$h3-client.service" || true
assert_contains "the failure names the playbook" "the playbook issues it: ansible-playbook -i INVENTORY etcd.yaml -e etcd_action=deploy --limit $h3" \
  "$(on "$h3" journalctl --no-pager -o cat -u "step-renew-$h3-client.service" | tail -n 5)"
on "$h3" "mv /root/client.crt.saved /etc/etcd/ssl/etcd-$h3-client.crt"
step_cert_adhoc() { # step_cert_adhoc LOG JSON_ARGS: the step_cert module on H3, from Ansible
  ctl ansible -i "$work/inventory.ini" "$h3" -m step_cert -a "$2" >"$1" 2>&1 || { cat "$1" >&2; return 1; }
}
step_cert_adhoc "$work/adhoc-issue.log" "$(printf '{"ca_url": "https://%s:9000", "root": "/etc/etcd/ssl/root_ca.crt", "provisioner_password": "%s", "subject": "failover-test", "sans": ["failover-test"], "cert_path": "/root/failover.crt", "key_path": "/root/failover.key"}' "$h2" "$prov_pw")"
assert_contains "$h2 issues a certificate" '"action": "issued"' "$(cat "$work/adhoc-issue.log")"
step_cert_adhoc "$work/adhoc-renew.log" "$(printf '{"ca_url": "https://%s:9000", "root": "/etc/etcd/ssl/root_ca.crt", "subject": "%s", "sans": ["%s"], "cert_path": "/etc/etcd/ssl/etcd-%s-client.crt", "key_path": "/etc/etcd/ssl/etcd-%s-client.key", "owner": "etcd", "group": "etcd", "state": "renewed"}' "$h2" "$h3" "$h3" "$h3" "$h3")"
assert_contains "$h2 renews $h3's client certificate" '"action": "renewed"' "$(cat "$work/adhoc-renew.log")"
assert_not_contains "no password in the ad-hoc output" "$prov_pw" "$(cat "$work/adhoc-issue.log")"
for crt in /root/failover.crt "/etc/etcd/ssl/etcd-$h3-client.crt"; do
  assert_eq "$crt chains to the same root" "$crt: OK" \
    "$(on "$h3" openssl verify -CAfile /etc/etcd/ssl/root_ca.crt -untrusted "$crt" "$crt")"
done
on "$h3" rm -f /root/failover.crt /root/failover.key

echo "-- Scenario 2: restore the CA from $h2 to $h1"
step="restore-ca.yaml refuses bad requests"
if ctl ansible-playbook -i "$work/inventory.ini" playbooks/restore-ca.yaml >"$work/run-restore-novars.log" 2>&1; then
  echo "FAIL: restore-ca.yaml without source_node/target_node succeeded" >&2
  exit 1
fi
assert_contains "missing variables are named" "-e source_node=" "$(cat "$work/run-restore-novars.log")"
if ctl ansible-playbook -i "$work/inventory.ini" -e @"$work/vars.yml" -e "source_node=$h3" -e "target_node=$h1" \
  playbooks/restore-ca.yaml >"$work/run-restore-nosource.log" 2>&1; then
  echo "FAIL: restore-ca.yaml from a node without a CA succeeded" >&2
  exit 1
fi
assert_contains "a source without a CA is named" "source_node $h3 has no CA" "$(cat "$work/run-restore-nosource.log")"
on "$h1" systemctl is-active step-ca >/dev/null && { echo "FAIL: a refused restore started step-ca on $h1" >&2; exit 1; }

step="restore-ca.yaml from $h2 to $h1"
# A lost primary: its CA directory is gone.
on "$h1" rm -rf /etc/step-ca
# The primary lost its CA and the backup holds one: the role refuses to make a new CA, also with
# the backup outside the play (--limit), and names the restore.
step="no new CA while a backup cert-manager holds one"
if ctl ansible-playbook -i "$work/inventory.ini" -e @"$work/vars.yml" --limit "$h1" tests/e2e/pki.yaml \
  >"$work/run-newca-refused.log" 2>&1; then
  echo "FAIL: the role made a new CA on $h1 while $h2 holds one" >&2
  exit 1
fi
assert_contains "the refusal names the restore" "Restore it first: ansible-playbook -i INVENTORY playbooks/restore-ca.yaml -e source_node=$h2" \
  "$(tr -s ' \n' ' ' <"$work/run-newca-refused.log")"
assert_eq "no CA was made on $h1" "no" "$(on "$h1" "test -e /etc/step-ca && echo yes || echo no")"
t0=$(date +%s.%N)
play "$work/run-restore.log" playbooks/restore-ca.yaml -e "source_node=$h2" -e "target_node=$h1"
restore_run=$(elapsed "$t0")
assert_eq "step-ca /health on $h1 after the restore" '{"status":"ok"}' \
  "$(ctl curl -sS --cacert "$work/root_ca.crt" "https://$h1:9000/health")"
served=$(ctl curl -sS --cacert "$work/root_ca.crt" "https://$h1:9000/roots" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["crts"][0])' | fingerprint)
assert_eq "$h1 serves the same root fingerprint" "$root_fp" "$served"
assert_contains "the playbook reports the fingerprint" "root fingerprint $root_fp" "$(cat "$work/run-restore.log")"
assert_eq "the restored CA is byte-identical, same modes" "$(listing "$h2")" "$(listing "$h1")"
assert_eq "step-ca on $h1 active and enabled, on $h2 inactive and disabled" "active enabled inactive disabled" \
  "$({ on "$h1" systemctl is-active step-ca; on "$h1" systemctl is-enabled step-ca
       on "$h2" systemctl is-active step-ca || true; on "$h2" systemctl is-enabled step-ca || true; } | xargs)"
assert_not_contains "no CA password in the restore output" "$ca_pw" "$(cat "$work/run-restore.log")"

step="the role after the restore"
play "$work/run-4.log" tests/e2e/pki.yaml
assert_eq "the role after the restore: changed=0" "0 0" \
  "$(recap_sum "$work/run-4.log" changed) $(recap_sum "$work/run-4.log" failed)"

step="no replication over another CA on a backup cert-manager"
on "$h2" "mv /etc/step-ca/certs/root_ca.crt /root/root_ca.crt.e2e && cp -p /etc/step-ca/certs/intermediate_ca.crt /etc/step-ca/certs/root_ca.crt"
other_sum=$(on "$h2" sha256sum /etc/step-ca/certs/root_ca.crt)
if ctl ansible-playbook -i "$work/inventory.ini" -e @"$work/vars.yml" tests/e2e/pki.yaml \
  >"$work/run-otherca-refused.log" 2>&1; then
  echo "FAIL: the role replicated over another CA on $h2" >&2
  exit 1
fi
assert_contains "the refusal names the way out" "step_ca_force_replication=true" \
  "$(tr -s ' \n' ' ' <"$work/run-otherca-refused.log")"
assert_eq "$h2's other root is untouched" "$other_sum" "$(on "$h2" sha256sum /etc/step-ca/certs/root_ca.crt)"
on "$h2" "mv /root/root_ca.crt.e2e /etc/step-ca/certs/root_ca.crt"

echo "timing: first run ${first_run} s, second run ${second_run} s, restore-ca ${restore_run} s (3 hosts, 9 certificates)"
echo "pki_on_testhosts: all passed"
