#!/usr/bin/env bash
# e2e: the cluster lifecycle of etcd.yaml on 4 local test hosts with real systemd, etcd 3.4.23 then
# 3.5.16 from the local mirror (tests/peers/etcd/mirror.sh) and the real step-ca, as the README runs it:
#   - [etcd] = H1 H2 H3, [etcd-cert-managers] = H1 H2, [etcd-clients] = H4;
#   - create (etcd 3.4.23) from clean hosts: etcdctl endpoint health OK on every member with a client
#     certificate, refused without one; etcd_member query shows 3 voters; the client H4 reaches
#     the cluster with the etcd3/facts values (tests/e2e/kube_apiserver_facts.yaml);
#   - a second run changes nothing; an unknown action and backup fail with a clear message;
#   - add node: H4 joins with --limit (learner, then promoted); removed again with etcd_member
#     state=absent and etcd.yaml -e etcd_delete_cluster=true --limit H4 (refused without the
#     confirmation);
#   - the fsync latency of each member's disk is measured and printed before create, join and
#     upgrade (etcd_member data_dir);
#   - upgrade 3.4.23 -> 3.5.16 while a bounded writer on the controller (tests/peers/etcd/writer,
#     100 puts/s through the JSON gateway, failing over between endpoints) puts keys all along:
#     refused first for a skipped minor (v3.6.0) with nothing touched; a backup first; followers
#     first, leadership handed over by etcd_member state=leader_moved, leader last, each member
#     awaited until healthy and caught up (state=healthy); afterwards every acknowledged key is
#     there, the cluster version is 3.5, the 3.5-only settings are written, the writer's longest
#     error window is shorter than one election timeout; a downgrade to 3.4.23 is refused;
#     the rest runs on 3.5.16;
#   - a stopped member: etcd_member state=query reports it unhealthy, naming its endpoint, and
#     an upgrade stops at its health gate;
#   - no command loses data (issue 10): with one member stopped, deploy starts it and waits until it
#     caught up (every key acknowledged meanwhile is on it); a member that cannot start is reported
#     with its journal; with every member stopped, create -e etcd_force_create=true is refused
#     (naming the data, systemctl start and playbooks/restore-etcd-cluster.yaml) and deploy brings
#     the cluster back with the same key count and revision; a genuinely half-done create (one
#     member started alone, no quorum, no write) is recovered by force-create, its data moved aside;
#   - delete with etcd_delete_confirm=true: units, data, certificates, timers and the CA are gone.
# Hosts are H1..H4 = ${HOSTS_PREFIX:-eh}1..4 from tests/hosts/hosts.sh (HOSTS_* variables pick
# another set). Hosts this script starts are torn down at the end; hosts that were up stay up.
# KEEP=1 keeps everything. Logs: build/e2e/cluster/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

prefix=${HOSTS_PREFIX:-eh}
h1=${prefix}1 h2=${prefix}2 h3=${prefix}3 h4=${prefix}4
hostsdir=$(realpath -m "${HOSTS_DIR:-$top/build/hosts}")
work=$top/build/e2e/cluster
ca_pw='e2e-ca-pass-4Hq!'
prov_pw='e2e-prov-pass-8Wm$'
started_hosts=0
writer_pid=
step=setup

hosts() { tests/hosts/hosts.sh "$@"; }
on() { # on HOST CMD...: run CMD on a test host
  local h=$1
  shift
  tests/hosts/hosts.sh ssh "$h" "$@"
}
ctl() { tests/hosts/hosts.sh ctl "$@"; }
play() { # play LOG INVENTORY ARGS...: etcd.yaml (or another playbook in ARGS) with the test vars
  local log=$1 inv=$2
  shift 2
  if ! ctl ansible-playbook -i "$inv" -e @"$work/vars.yml" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FAIL: ansible-playbook -i $inv $* (log: $log)" >&2
    return 1
  fi
}
play_fails() { # play_fails LOG INVENTORY ARGS...: the playbook must fail
  local log=$1 inv=$2
  shift 2
  if ctl ansible-playbook -i "$inv" -e @"$work/vars.yml" "$@" >"$log" 2>&1; then
    echo "FAIL: ansible-playbook -i $inv $* succeeded; it must fail (log: $log)" >&2
    return 1
  fi
}
recap_sum() { # recap_sum LOG FIELD: sum of FIELD=N over the PLAY RECAP lines
  awk -v f="$2" '/PLAY RECAP/ { r = 1; next } r && $2 == ":" {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } }
    END { print s + 0 }' "$1"
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
ip_of() { awk -v h="$1" '$1 == h { for (i = 2; i <= NF; i++) if ($i ~ /^ansible_host=/) { sub(/^ansible_host=/, "", $i); print $i } }' "$hostsdir/inventory.ini"; }
endpoints() { # endpoints HOST...: https://IP:2379,...
  local h out=""
  for h in "$@"; do out="$out${out:+,}https://$(ip_of "$h"):2379"; done
  echo "$out"
}
etcdctl_on() { # etcdctl_on HOST ENDPOINTS ARGS...: etcdctl on HOST with HOST's client certificate
  local h=$1 eps=$2
  shift 2
  on "$h" ETCDCTL_API=3 /opt/bin/etcdctl --endpoints="$eps" --cacert=/etc/etcd/ssl/root_ca.crt \
    --cert="/etc/etcd/ssl/etcd-$h-client.crt" --key="/etc/etcd/ssl/etcd-$h-client.key" "$@"
}
member_query() { # member_query HOST ENDPOINTS [LOG]: etcd_member state=query ad hoc on HOST
  local h=$1 eps=$2 log=${3:-/dev/null} args
  args=$(python3 -c 'import json, sys; h = sys.argv[1]; print(json.dumps({"endpoints": sys.argv[2].split(","),
    "ca_cert": "/etc/etcd/ssl/root_ca.crt", "client_cert": "/etc/etcd/ssl/etcd-%s-client.crt" % h,
    "client_key": "/etc/etcd/ssl/etcd-%s-client.key" % h, "state": "query"}))' "$h" "$eps")
  ctl ansible -i "$work/inventory.ini" "$h" -m etcd_member -a "$args" -o 2>"$log.err" | tee "$log" |
    sed -e 's/^[^{]*{/{/'
}

stop_writer() { # the writer stops by itself at its -duration; this stops it sooner
  [ -n "$writer_pid" ] || return 0
  touch "$work/writer/stop"
  wait "$writer_pid" || true
  writer_pid=
}

on_exit() {
  local rc=$?
  stop_writer
  if [ "$rc" -ne 0 ]; then
    echo "FAILED during: $step" >&2
    mkdir -p "$work/logs"
    for h in "$h1" "$h2" "$h3" "$h4"; do
      on "$h" journalctl --no-pager -n 300 -u 'etcd-*' -u step-ca >"$work/logs/journal-$h.txt" 2>&1 || true
    done
    echo "logs and journals kept in $work (playbook logs run-*.log, journals logs/)" >&2
    echo "reproduce: tests/hosts/hosts.sh ctl ansible-playbook -i $work/inventory.ini -e @$work/vars.yml etcd.yaml -e etcd_action=create" >&2
  fi
  if [ "$started_hosts" = 1 ] && [ "${KEEP:-0}" != 1 ] && [ "$rc" -eq 0 ]; then
    hosts down >/dev/null 2>&1 || true
  elif [ "$started_hosts" = 1 ]; then
    echo "test hosts left up for inspection; tear them down with: tests/hosts/hosts.sh down" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT

step="build the modules and the mirrors"
# only the modules this scenario uses: the others may be work in progress
make -s library/step_ca library/step_cert library/step_token library/systemd_timer library/etcd_member library/etcd_data library/etcd_files >/dev/null
tests/peers/stepca/build.sh >/dev/null
tests/peers/etcd/mirror.sh v3.4.23 v3.5.16 >/dev/null
tests/peers/etcd/writer/build.sh >/dev/null
stepca=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz

step="bring up the test hosts"
rc=0
hosts status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 1 ]; then
  hosts up 4 >/dev/null
  started_hosts=1
elif [ "$rc" -ne 0 ]; then
  echo "FAIL: some test hosts in $hostsdir are dead or not booted (tests/hosts/hosts.sh status);" \
    "fix or take them down first" >&2
  exit 1
fi
for h in "$h1" "$h2" "$h3" "$h4"; do
  grep -q "^$h " "$hostsdir/inventory.ini" || {
    echo "FAIL: $h is not among the running test hosts ($hostsdir/inventory.ini); take them down" \
      "(tests/hosts/hosts.sh down) so that this test starts 4, or use another set with" \
      "HOSTS_DIR/HOSTS_NETNS/HOSTS_SUBNET/HOSTS_PREFIX" >&2
    exit 1
  }
done

step="write the inventories and the variables"
mkdir -p "$work"
rm -f "$work"/run-*.log "$work"/adhoc-*.log*
hostline() { grep -E "^$1 " "$hostsdir/inventory.ini"; }
write_inventory() { # write_inventory FILE ETCD_HOSTS...: [etcd] = the hosts given, H4 a client
  local f=$1 h
  shift
  {
    echo "[etcd]"
    for h in "$@"; do hostline "$h"; done
    printf '\n[etcd-cert-managers]\n%s\n%s\n\n[etcd-clients]\n' "$h1" "$h2"
    hostline "$h4"
  } >"$f"
}
write_inventory "$work/inventory.ini" "$h1" "$h2" "$h3"
write_inventory "$work/inventory-4.ini" "$h1" "$h2" "$h3" "$h4"
cat >"$work/vars.yml" <<EOF
step_ca_password: "$ca_pw"
step_provisioner_password: "$prov_pw"
step_ca_download_url: "file://$top/$stepca"
step_ca_checksum: "sha256:$(cut -d' ' -f1 "$stepca.sha256")"
etcd_version: v3.4.23
etcd_download_url: "file://$top/build/mirror/etcd/{{ etcd_version }}/etcd-{{ etcd_version }}-linux-amd64.tar.gz"
etcd_checksum: "sha256:file://$top/build/mirror/etcd/{{ etcd_version }}/SHA256SUMS"
etcd_download_cache_dir: "$work/cache"
EOF
inv=$work/inventory.ini
inv4=$work/inventory-4.ini
eps3=$(endpoints "$h1" "$h2" "$h3")
eps4=$(endpoints "$h1" "$h2" "$h3" "$h4")

reset_host() { # reset_host HOST: remove everything the roles and this test put on HOST
  on "$1" 'systemctl stop "etcd-*" "step-ca*" "step-renew-*" 2>/dev/null;
    rm -f /etc/systemd/system/etcd-*.service /etc/systemd/system/step-ca*.service /etc/systemd/system/step-renew-* \
      /etc/systemd/system/*.wants/etcd-* /etc/systemd/system/*.wants/step-ca*.service /etc/systemd/system/*.wants/step-renew-*;
    systemctl daemon-reload; systemctl reset-failed "etcd-*" "step-*" 2>/dev/null;
    rm -rf /etc/step-ca /etc/step-ca-* /etc/etcd /opt/bin /var/lib/etcd /root/writer.* /root/kube-apiserver.yaml;
    userdel etcd 2>/dev/null; groupdel etcd 2>/dev/null; true'
}
if [ "$started_hosts" = 0 ]; then
  step="reset the hosts to a clean state"
  for h in "$h1" "$h2" "$h3" "$h4"; do reset_host "$h"; done
fi

echo "-- the request is checked first"
step="unknown action and backup"
play_fails "$work/run-0-unknown.log" "$inv" etcd.yaml -e etcd_action=recreate
assert_contains "an unknown action is refused, naming the choices" \
  'etcd_action must be create, deploy, upgrade or backup, not \"recreate\"' "$(cat "$work/run-0-unknown.log")"
play_fails "$work/run-0-backup.log" "$inv" etcd.yaml -e etcd_action=backup
assert_contains "a backup of a cluster that was never created fails, saying so" \
  "has no client certificate" "$(cat "$work/run-0-backup.log")"
play_fails "$work/run-0-no-checksum.log" "$inv" etcd.yaml -e etcd_action=create -e step_ca_checksum= -b
assert_contains "a download without a checksum is refused, naming it" \
  "No checksum for step-ca 0.19.0" "$(cat "$work/run-0-no-checksum.log")"
assert_eq "... before anything reached a host" "" "$(on "$h1" 'ls /opt/bin /etc/step-ca 2>/dev/null')"

echo "-- create (README \"Install New Cluster\")"
step="create the cluster"
t0=$(date +%s.%N)
play "$work/run-1-create.log" "$inv" etcd.yaml -e etcd_action=create -b
create_run=$(elapsed "$t0")
assert_eq "create: no failure" "0" "$(recap_sum "$work/run-1-create.log" failed)"
assert_contains "create reports a healthy cluster" \
  "3 of 3 endpoints healthy; 3 members (3 voting)" "$(cat "$work/run-1-create.log")"
assert_not_contains "3.4: no 3.5-only settings in the configuration" "tls-min-version" \
  "$(on "$h1" cat /etc/etcd/etcd-default.conf.yml)"
assert_eq "the disk of each new member was measured (fsync p50/p99 in the play output)" "3" \
  "$(grep -c '"msg": "[^"]*: fsync latency in /var/lib/etcd: p50 [0-9.]* ms, p99 [0-9.]* ms' "$work/run-1-create.log")"
grep -o '"msg": "[^"]*: fsync latency in [^"]*' "$work/run-1-create.log" | sed 's/^"msg": "/     /'
assert_not_contains "no provisioner password in the output" "$prov_pw" "$(cat "$work/run-1-create.log")"
assert_not_contains "no CA password in the output" "$ca_pw" "$(cat "$work/run-1-create.log")"

step="check the members"
n=0
for h in "$h1" "$h2" "$h3"; do
  n=$((n + 1))
  assert_eq "$h: etcd-default-$n active and enabled" "active enabled" \
    "$({ on "$h" systemctl is-active "etcd-default-$n"; on "$h" systemctl is-enabled "etcd-default-$n"; } | xargs)"
  health=$(etcdctl_on "$h" "$eps3" endpoint health 2>&1)
  assert_eq "$h: etcdctl endpoint health with the client certificate: 3 healthy" "3" \
    "$(grep -c 'is healthy' <<<"$health")"
  assert_eq "$h: config 0640 root:etcd, data dir 0700 etcd" "640 root etcd|700 etcd etcd" \
    "$(on "$h" stat -c "'%a %U %G'" /etc/etcd/etcd-default.conf.yml)|$(on "$h" stat -c "'%a %U %G'" /var/lib/etcd/default)"
done
if on "$h1" ETCDCTL_API=3 /opt/bin/etcdctl --endpoints="$eps3" --cacert=/etc/etcd/ssl/root_ca.crt \
  --dial-timeout=2s --command-timeout=3s endpoint health >"$work/adhoc-nocert.log" 2>&1; then
  echo "FAIL: the members answered etcdctl without a client certificate" >&2
  exit 1
fi
assert_eq "without a client certificate all 3 members refuse" "3" \
  "$(grep -c 'is unhealthy' "$work/adhoc-nocert.log")"
conf=$(on "$h1" cat /etc/etcd/etcd-default.conf.yml)
for want in "heartbeat-interval: 250" "election-timeout: 5000" "snapshot-count: 10000" \
  'auto-compaction-retention: "8"' "client-cert-auth: true" "initial-cluster-state: \"new\"" \
  "listen-client-urls: \"https://$(ip_of "$h1"):2379,https://127.0.0.1:2379\""; do
  assert_contains "config: $want" "$want" "$conf"
done

step="the peer port takes peer certificates only; TLS 1.2 AEAD or TLS 1.3 only (issue #11)"
tls_on() { # tls_on HOST HOST:PORT ARGS...: an HTTP GET /members over openssl s_client on HOST
  on "$1" "printf 'GET /members HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect $2 -quiet \
    -CAfile /etc/etcd/ssl/root_ca.crt ${*:3} 2>/dev/null | head -n 1"
}
with_cert() { # with_cert HOST KIND: the s_client options for HOST's KIND certificate (leaf + chain)
  echo "-cert /etc/etcd/ssl/etcd-$1-$2.crt -cert_chain /etc/etcd/ssl/etcd-$1-$2.crt -key /etc/etcd/ssl/etcd-$1-$2.key"
}
peer2=$(ip_of "$h2"):2380
assert_contains "$h1's peer certificate is accepted on $h2's peer port" "HTTP/1.0 200" \
  "$(tls_on "$h1" "$peer2" $(with_cert "$h1" peer))"
assert_not_contains "$h4's client certificate is refused on $h2's peer port from $h4's own address" "HTTP/1." \
  "$(tls_on "$h4" "$peer2" $(with_cert "$h4" client))"
assert_not_contains "$h1's client certificate is refused on $h2's peer port too" "HTTP/1." \
  "$(tls_on "$h1" "$peer2" $(with_cert "$h1" client))"
for port in 2379 2380; do
  ep=$(ip_of "$h2"):$port kind=$([ "$port" = 2379 ] && echo client || echo peer)
  assert_contains "$port: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 accepted" "HTTP/1." \
    "$(tls_on "$h1" "$ep" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 $(with_cert "$h1" "$kind"))"
  assert_contains "$port: TLS 1.3 accepted" "HTTP/1." "$(tls_on "$h1" "$ep" -tls1_3 $(with_cert "$h1" "$kind"))"
  for cipher in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA; do
    assert_not_contains "$port: CBC-SHA1 $cipher refused" "HTTP/1." \
      "$(tls_on "$h1" "$ep" -tls1_2 -cipher "$cipher" $(with_cert "$h1" "$kind"))"
  done
  assert_not_contains "$port: TLS 1.1 refused" "HTTP/1." \
    "$(tls_on "$h1" "$ep" -tls1_1 -cipher 'ALL:@SECLEVEL=0' $(with_cert "$h1" "$kind"))"
done
member_query "$h1" "$eps3" "$work/adhoc-query-3.log" >"$work/query-3.json"
assert_eq "etcd_member query: 3 voters, all healthy" "3 0 true" \
  "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); m = r["members"];
print(len([x for x in m if not x["is_learner"]]), len([x for x in m if x["is_learner"]]), str(r["healthy"]).lower())' "$work/query-3.json")"

step="the client reaches the cluster with the etcd3/facts values"
play "$work/run-2-facts.log" "$inv" tests/e2e/kube_apiserver_facts.yaml
assert_contains "kube-apiserver flags from etcd3/facts" \
  "--etcd-servers=$eps3" "$(on "$h4" cat /root/kube-apiserver.yaml)"
assert_contains "the client certificate of $h4" "--etcd-certfile=/etc/etcd/ssl/etcd-$h4-client.crt" \
  "$(on "$h4" cat /root/kube-apiserver.yaml)"

echo "-- a second run changes nothing"
step="second run of create"
t0=$(date +%s.%N)
play "$work/run-3-rerun.log" "$inv" etcd.yaml -e etcd_action=create -b
rerun_run=$(elapsed "$t0")
assert_eq "second run: changed=0 failed=0" "0 0" \
  "$(recap_sum "$work/run-3-rerun.log" changed) $(recap_sum "$work/run-3-rerun.log" failed)"
assert_eq "each role's arguments validated once per play (none repeated)" "" \
  "$(validations_repeated "$work/run-3-rerun.log")"
[ "$(grep -c "Validating arguments against arg spec" "$work/run-3-rerun.log")" -gt 5 ] ||
  { echo "FAIL: the rerun log shows no argument validation: the check above proved nothing" >&2; exit 1; }

echo "-- add a node (README \"Add New Node to Existing Cluster\")"
step="add $h4 with --limit"
t0=$(date +%s.%N)
play "$work/run-4-add.log" "$inv4" etcd.yaml -e etcd_action=create --limit "$h4" -b
add_run=$(elapsed "$t0")
assert_contains "$h4 was added as a learner" "Add to the cluster as a learner $h4" "$(cat "$work/run-4-add.log")"
assert_eq "$h4: added, started and promoted" "3" \
  "$(grep -A1 -E "TASK .*(Add to the cluster as a learner $h4|Start and enable etcd-default-4|Promote, once caught up with the leader, $h4)" "$work/run-4-add.log" | grep -c "^changed: \[$h4\]")"
echo "ok   $h4 joined with its peer certificate (CN $(on "$h4" openssl x509 -noout -subject -nameopt oneline -in "/etc/etcd/ssl/etcd-$h4-peer.crt" | sed 's/.*CN = //'))"
assert_eq "the disk of $h4 was measured before it joined" "1" \
  "$(grep -c "\"msg\": \"$h4: fsync latency in /var/lib/etcd" "$work/run-4-add.log")"
member_query "$h1" "$eps4" "$work/adhoc-query-4.log" >"$work/query-4.json"
assert_eq "etcd_member query: 4 voters (no learner left), all healthy" "4 0 true" \
  "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); m = r["members"];
print(len([x for x in m if not x["is_learner"]]), len([x for x in m if x["is_learner"]]), str(r["healthy"]).lower())' "$work/query-4.json")"
assert_contains "$h4 joined with initial-cluster-state existing" 'initial-cluster-state: "existing"' \
  "$(on "$h4" cat /etc/etcd/etcd-default.conf.yml)"
play "$work/run-5-add-again.log" "$inv4" etcd.yaml -e etcd_action=create --limit "$h4" -b
assert_eq "adding $h4 again: changed=0" "0 0" \
  "$(recap_sum "$work/run-5-add-again.log" changed) $(recap_sum "$work/run-5-add-again.log" failed)"

echo "-- remove the node again"
step="remove $h4"
play_fails "$work/run-6-delete-unconfirmed.log" "$inv4" etcd.yaml -e etcd_delete_cluster=true --limit "$h4"
assert_contains "delete without confirmation is refused" "Deletion not confirmed; nothing was deleted" \
  "$(cat "$work/run-6-delete-unconfirmed.log")"
assert_eq "$h4 still runs after the refusal" "active" "$(on "$h4" systemctl is-active etcd-default-4)"
h4_id=$(python3 -c 'import json, sys; print([m["id"] for m in json.load(open(sys.argv[1]))["members"] if m["name"] == sys.argv[2]][0])' \
  "$work/query-4.json" "$h4")
ctl ansible -i "$inv4" "$h1" -m etcd_member -a "$(printf '{"endpoints": "%s", "ca_cert": "/etc/etcd/ssl/root_ca.crt", "client_cert": "/etc/etcd/ssl/etcd-%s-client.crt", "client_key": "/etc/etcd/ssl/etcd-%s-client.key", "state": "absent", "id": "%s"}' "$eps3" "$h1" "$h1" "$h4_id")" \
  >"$work/adhoc-absent.log" 2>&1 || { cat "$work/adhoc-absent.log" >&2; exit 1; }
assert_contains "etcd_member state=absent removed $h4" '"action": "removed"' "$(cat "$work/adhoc-absent.log")"
play "$work/run-7-delete-node.log" "$inv4" etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true --limit "$h4" -b
assert_eq "$h4: unit, data, config and certificates gone" "no no no no" \
  "$(on "$h4" 'for f in /etc/systemd/system/etcd-default-4.service /var/lib/etcd/default /etc/etcd/etcd-default.conf.yml /etc/etcd/ssl; do test -e $f && echo yes || echo no; done' | xargs)"
assert_eq "$h4: no renewal timers left" "0" \
  "$(on "$h4" systemctl list-timers --all --no-legend "'step-renew-*'" | grep -c step-renew || true)"
member_query "$h1" "$eps3" "$work/adhoc-query-3b.log" >"$work/query-3b.json"
assert_eq "3 members left, all healthy" "3 true" \
  "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(len(r["members"]), str(r["healthy"]).lower())' "$work/query-3b.json")"
assert_eq "step-ca still serves on $h1" "active" "$(on "$h1" systemctl is-active step-ca)"

echo "-- upgrade 3.4.23 -> 3.5.16 with writes running (README \"Upgrade Cluster\")"
step="refuse an upgrade that skips a minor version"
conf_before=$(on "$h1" sha256sum /etc/etcd/etcd-default.conf.yml)
play_fails "$work/run-8a-skip-minor.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.6.0 -b
assert_contains "3.4 -> 3.6 is refused, saying to go through 3.5" \
  "upgrade to the newest v3.5.x first (e.g. -e etcd_version=v3.5.<patch>), then to v3.6.0. Nothing was changed" \
  "$(grep 'fatal:' "$work/run-8a-skip-minor.log")"
assert_eq "before anything was touched (config, binaries)" "$conf_before|no" \
  "$(on "$h1" sha256sum /etc/etcd/etcd-default.conf.yml)|$(on "$h1" 'test -e /opt/bin/etcd-v3.6.0 && echo yes || echo no')"

step="start the writer on the controller"
mkdir -p "$work/writer" "$work/client"
rm -f "$work/writer"/*
for f in crt key; do
  on "$h1" cat "/etc/etcd/ssl/etcd-$h1-client.$f" >"$work/client/client.$f"
done
on "$h1" cat /etc/etcd/ssl/root_ca.crt >"$work/client/ca.crt"
chmod 0400 "$work/client/client.key"
# 100 puts/s, one at a time; it stops by itself after 15 min at the latest.
ctl build/peers/etcd-writer -endpoints "$eps3" -cacert "$work/client/ca.crt" -cert "$work/client/client.crt" \
  -key "$work/client/client.key" -prefix writer/ -rate 100 -duration 15m -stop-file "$work/writer/stop" \
  -out "$work/writer" 2>"$work/writer/stderr" &
writer_pid=$!
wait_for 20 test -s "$work/writer/acked" || { cat "$work/writer/stderr" >&2; echo "FAIL: the writer acknowledged nothing" >&2; exit 1; }
echo "ok   the writer puts keys"

step="upgrade to v3.5.16"
leader_before=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print([m["name"] for m in r["members"] if m["id"] == r["leader"]][0])' "$work/query-3b.json")
t0=$(date +%s.%N)
play "$work/run-8-upgrade.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.5.16 -b
upgrade_run=$(elapsed "$t0")
sleep 2
stop_writer
sed -i 's/^etcd_version: v3.4.23$/etcd_version: v3.5.16/' "$work/vars.yml"
assert_contains "the gate found 3.4.23 everywhere and a minor upgrade" "3.4.23, $h3 3.4.23 (cluster version 3.4.0); etcd_version v3.5.16: minor" \
  "$(cat "$work/run-8-upgrade.log")"
restarts=$(grep -oE "TASK \[etcd3/cluster/install : Restart etcd-default-[0-9]+\]" "$work/run-8-upgrade.log" | grep -oE '[0-9]+\]$' | tr -d ']' | xargs)
assert_eq "three restarts, one at a time" "3" "$(wc -w <<<"$restarts")"
first_restart=$(grep -n "TASK \[etcd3/cluster/install : Restart etcd-default-" "$work/run-8-upgrade.log" | head -n1 | cut -d: -f1)
backup_line=$(grep -n "TASK \[etcd3/backups : Take a snapshot of etcd cluster default\]" "$work/run-8-upgrade.log" | head -n1 | cut -d: -f1)
assert_eq "a backup was taken first (before the first restart)" "yes" \
  "$([ -n "$backup_line" ] && [ "$backup_line" -lt "$first_restart" ] && echo yes || echo "no (backup at line ${backup_line:-none}, first restart at $first_restart)")"
assert_ne "the pre-upgrade snapshot is on $h1" "" "$(on "$h1" 'find /var/lib/etcd/backups/default -name "*-snapshot.db"' | head -n1)"
leader_index=$(( ${leader_before#"$prefix"} ))
assert_eq "the leader ($leader_before) restarted last" "$leader_index" "${restarts##* }"
assert_eq "the leadership was handed over once (etcd_member state=leader_moved), before the leader's restart" "1" \
  "$(grep -A1 'Move the leadership away before restarting' "$work/run-8-upgrade.log" | grep -c '^changed:')"
assert_eq "the leader handed over just before its own restart" "Move the leadership away before restarting $leader_before" \
  "$(grep -B3 '^changed:' "$work/run-8-upgrade.log" | grep -o 'Move the leadership away before restarting [^ ]*[0-9]' | tail -n1)"
assert_eq "each restarted member was awaited until healthy and caught up (etcd_member state=healthy)" "3" \
  "$(grep -c "is healthy and caught up: applied index" "$work/run-8-upgrade.log")"
assert_eq "the disk of each member was measured before its upgrade" "3" \
  "$(grep -c '"msg": "[^"]*: fsync latency in /var/lib/etcd/default: p50' "$work/run-8-upgrade.log")"
n=0
for h in "$h1" "$h2" "$h3"; do
  n=$((n + 1))
  assert_eq "$h runs etcd-v3.5.16" "/opt/bin/etcd-v3.5.16" \
    "$(on "$h" "readlink /proc/\$(systemctl show -p MainPID --value etcd-default-$n)/exe")"
done
conf=$(on "$h1" cat /etc/etcd/etcd-default.conf.yml)
for want in 'tls-min-version: "TLS1.2"' "experimental-initial-corrupt-check: true" \
  "experimental-compact-hash-check-enabled: true"; do
  assert_contains "3.5 config: $want" "$want" "$conf"
done
# The leader raises the cluster version once it sees every member on 3.5 (a few seconds).
cluster_version() { member_query "$h1" "$eps3" "$work/adhoc-query-version.log" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("cluster_version"))'; }
for i in $(seq 30); do [ "$(cluster_version)" = 3.5.0 ] && break; sleep 1; done
assert_eq "the cluster version is 3.5" "3.5.0" "$(cluster_version)"
# comm wants a lexical order (sort -n puts 9 before 10 and comm then fails as soon as a put that
# timed out at the client during a restart was committed anyway: a key stored but not acked).
sort "$work/writer/acked" >"$work/writer.acked"
etcdctl_on "$h1" "$eps3" get --prefix writer/ --keys-only | sed -n 's|^writer/||p' | sort >"$work/writer.stored"
acked=$(wc -l <"$work/writer.acked")
present=$(comm -12 "$work/writer.acked" "$work/writer.stored" | wc -l)
missing=$(comm -23 "$work/writer.acked" "$work/writer.stored" | wc -l)
failed=$(wc -l <"$work/writer/failed")
window=$(json_get "$(cat "$work/writer/summary.json")" longest_error_window_ms)
echo "     writer: $acked puts acknowledged, $present of them present, $failed failed (may or may not be stored);" \
  "longest error window ${window} ms; upgrade ${upgrade_run} s"
assert_eq "every acknowledged key is there ($acked acknowledged, $present present)" "0" "$missing"
[ "$acked" -gt 1000 ] || { echo "FAIL: only $acked keys acknowledged during the upgrade" >&2; exit 1; }
# One leader election: etcd_election_timeout (5000 ms, roles/etcd3/defaults).
[ "$window" -lt 5000 ] || { echo "FAIL: the writer could not write for $window ms, longer than one election timeout (5000 ms); see $work/writer/summary.json" >&2; exit 1; }
echo "ok   the writer's longest error window ($window ms) is shorter than one election timeout (5000 ms)"
play "$work/run-9-upgrade-again.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.5.16 -b
assert_eq "upgrade again: changed=0" "0 0" \
  "$(recap_sum "$work/run-9-upgrade-again.log" changed) $(recap_sum "$work/run-9-upgrade-again.log" failed)"
step="refuse a downgrade"
play_fails "$work/run-9a-downgrade.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.4.23 -b
assert_contains "3.5 -> 3.4 is refused, saying what to do" \
  "target_version v3.4.23 is older than what the members run (3.5.16 on" "$(grep 'fatal:' "$work/run-9a-downgrade.log")"
assert_contains "and nothing was touched" "restore a backup taken before the upgrade into a new cluster of the old version" \
  "$(grep 'fatal:' "$work/run-9a-downgrade.log")"
assert_eq "every member still runs 3.5.16" "/opt/bin/etcd-v3.5.16 /opt/bin/etcd-v3.5.16 /opt/bin/etcd-v3.5.16" \
  "$(for n in 1 2 3; do h=$prefix$n; on "$h" "readlink /proc/\$(systemctl show -p MainPID --value etcd-default-$n)/exe"; done | xargs)"

echo "-- a stopped member is reported"
step="stop $h3's member"
on "$h3" systemctl stop etcd-default-3
member_query "$h1" "$eps3" "$work/adhoc-query-dead.log" >"$work/query-dead.json"
msg=$(json_get "$(cat "$work/query-dead.json")" msg)
assert_contains "query says which endpoint is unhealthy" \
  "2 of 3 endpoints healthy (unhealthy: https://$(ip_of "$h3"):2379" "$msg"
assert_contains "and why" "Couldn't connect to server" "$(cat "$work/query-dead.json")"
step="upgrade with a member down"
play_fails "$work/run-10-upgrade-unhealthy.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.5.16 \
  -e etcd_health_timeout=3
assert_contains "the upgrade stops at the health gate" "Check before changing it that the cluster is healthy and may run etcd v3.5.16" \
  "$(grep -B3 'fatal:' "$work/run-10-upgrade-unhealthy.log")"
assert_contains "naming the member that is down" "https://$(ip_of "$h3"):2379" \
  "$(grep 'fatal:' "$work/run-10-upgrade-unhealthy.log")"
on "$h3" systemctl start etcd-default-3
wait_for 60 sh -c "tests/hosts/hosts.sh ssh $h1 ETCDCTL_API=3 /opt/bin/etcdctl --endpoints=$eps3 \
  --cacert=/etc/etcd/ssl/root_ca.crt --cert=/etc/etcd/ssl/etcd-$h1-client.crt --key=/etc/etcd/ssl/etcd-$h1-client.key \
  endpoint health" || { echo "FAIL: the cluster is not healthy again after $h3 restarted" >&2; exit 1; }
echo "ok   healthy again once $h3 runs"

# ---- No operator command loses data (issue 10): self-contained, on the running 3-member cluster.
echo "-- deploy brings a stopped member back; force-create never clears data that held keys"
step="safety: prepare"
safety_t0=$(date +%s)
# The version the members run now (the upgrade above may have changed it): deploy keeps it.
run_version=$(on "$h1" "readlink /proc/\$(systemctl show -p MainPID --value etcd-default-1)/exe" | sed 's|.*/etcd-||')
safety_play() { play "$@" -e etcd_version="$run_version" -e etcd_health_timeout=60; }
keys_of() { # keys_of HOST [ENDPOINT]: "<count> <revision>" of every key, read on ENDPOINT (HOST's own)
  # --limit=1: the answer's count is still every key of the range (etcd's RangeResponse.count).
  etcdctl_on "$1" "${2:-https://$(ip_of "$1"):2379}" get "''" --prefix --limit=1 --consistency=s -w json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(r.get("count", 0), r["header"]["revision"])'
}
put_keys() { # put_keys PREFIX N: N puts from H1, each acknowledged one listed in /root/acked-PREFIX
  on "$h1" "rm -f /root/acked-$1; for i in \$(seq $2); do ETCDCTL_API=3 /opt/bin/etcdctl --endpoints=$eps3 \
    --cacert=/etc/etcd/ssl/root_ca.crt --cert=/etc/etcd/ssl/etcd-$h1-client.crt --key=/etc/etcd/ssl/etcd-$h1-client.key \
    --command-timeout=5s put $1/\$i \$i >/dev/null && echo \$i >>/root/acked-$1; done; wc -l </root/acked-$1"
}

step="safety: deploy starts a stopped member"
on "$h3" systemctl stop etcd-default-3
acked=$(put_keys stopped 200)
[ "$acked" -eq 200 ] || { echo "FAIL: only $acked of 200 puts acknowledged with $h3 stopped" >&2; exit 1; }
safety_play "$work/run-s1-deploy-stopped.log" "$inv" etcd.yaml -e etcd_action=deploy -b
assert_eq "deploy started the stopped member on $h3 only" "$h3" \
  "$(grep -A3 'TASK .*Start the installed but stopped member etcd-default-[0-9]' "$work/run-s1-deploy-stopped.log" | sed -n 's/^changed: \[\([^]]*\)\].*/\1/p' | xargs)"
assert_contains "and waited until it caught up" "etcd-default-3 on $h3 was stopped and is back: member '$h3' (" \
  "$(cat "$work/run-s1-deploy-stopped.log")"
assert_eq "$h3 runs again" "active" "$(on "$h3" systemctl is-active etcd-default-3)"
etcdctl_on "$h3" "https://$(ip_of "$h3"):2379" get stopped/ --prefix --keys-only --consistency=s |
  sed -n 's|^stopped/||p' | sort >"$work/stopped.stored"
on "$h1" sort /root/acked-stopped >"$work/stopped.acked"
assert_eq "every acknowledged key is on $h3 (200 acknowledged while it was stopped)" "0 200" \
  "$(comm -23 "$work/stopped.acked" "$work/stopped.stored" | wc -l) $(wc -l <"$work/stopped.stored")"

step="safety: a member that cannot start is reported with its journal"
on "$h3" 'systemctl stop etcd-default-3; chown root:root /var/lib/etcd/default'
play_fails "$work/run-s2-deploy-broken.log" "$inv" etcd.yaml -e etcd_action=deploy -e etcd_version="$run_version" \
  -e etcd_health_timeout=15 -b
assert_contains "the failure names the member that did not come back" \
  "etcd-default-3 on $h3 was stopped; this run started it, but it did not become healthy" "$(cat "$work/run-s2-deploy-broken.log")"
assert_contains "with its journal lines" "permission denied" "$(grep -A30 "Check that the started member came back, etcd-default-3" "$work/run-s2-deploy-broken.log")"
on "$h3" 'chown etcd:etcd /var/lib/etcd/default; systemctl restart etcd-default-3'

step="safety: force-create in a full outage"
wait_for 60 sh -c "tests/hosts/hosts.sh ssh $h1 ETCDCTL_API=3 /opt/bin/etcdctl --endpoints=$eps3 --cacert=/etc/etcd/ssl/root_ca.crt \
  --cert=/etc/etcd/ssl/etcd-$h1-client.crt --key=/etc/etcd/ssl/etcd-$h1-client.key endpoint health" ||
  { echo "FAIL: the cluster is not healthy again after $h3 was repaired" >&2; exit 1; }
put_keys outage 1000 >/dev/null
before=$(keys_of "$h1")
for i in 1 2 3; do on "${prefix}$i" systemctl stop "etcd-default-$i"; done
play_fails "$work/run-s3-force-create.log" "$inv" etcd.yaml -e etcd_action=create -e etcd_force_create=true \
  -e etcd_force_create_confirm=true -e etcd_version="$run_version" -b
refusal=$(sed -n 's/.*"msg": "\(etcd_force_create refused[^"]*\)".*/\1/p' "$work/run-s3-force-create.log" | head -n1)
assert_contains "force-create with every member stopped is refused" "etcd_force_create refused, nothing was changed" "$refusal"
assert_contains "naming the data that holds keys" "$h1:/var/lib/etcd/default holds user data (" "$refusal"
assert_contains "how to start the members" "systemctl start etcd-default-<index>" "$refusal"
assert_contains "and the restore playbook" "playbooks/restore-etcd-cluster.yaml" "$refusal"
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: the data dir is untouched, nothing moved aside" "yes 0" \
    "$(on "$h" 'test -d /var/lib/etcd/default/member && echo yes || echo no; ls -d /var/lib/etcd/default.before-force-create-* 2>/dev/null | wc -l' | xargs)"
done
safety_play "$work/run-s4-deploy-outage.log" "$inv" etcd.yaml -e etcd_action=deploy -b
assert_eq "deploy started the 3 stopped members" "3" \
  "$(grep -A4 'TASK .*Start the installed but stopped member etcd-default-[0-9]' "$work/run-s4-deploy-outage.log" | grep -c '^changed:')"
after=$(keys_of "$h1")
assert_eq "key count and revision unchanged once the members run again" "$before" "$after"
echo "     keys, revision before the outage: $before; after force-create (refused) and deploy: $after"
echo "     refusal: $refusal"

step="safety: a genuinely half-done create is recovered by force-create"
for i in 1 2 3; do
  on "${prefix}$i" "systemctl stop etcd-default-$i; mv /var/lib/etcd/default /var/lib/etcd/e2e-populated-$i;
    install -d -o etcd -g etcd -m 0700 /var/lib/etcd/default"
done
# Only $h1 starts: no quorum, no leader, no write - a first start that failed before any data.
on "$h1" systemctl start --no-block etcd-default-1
wait_for 30 on "$h1" test -e /var/lib/etcd/default/member/snap/db || { echo "FAIL: $h1 wrote no bootstrap data" >&2; exit 1; }
sleep 3
on "$h1" systemctl stop etcd-default-1
safety_play "$work/run-s5-force-create.log" "$inv" etcd.yaml -e etcd_action=create -e etcd_force_create=true \
  -e etcd_force_create_confirm=true -b
assert_contains "the failed bootstrap's data is moved aside" "$h1: the data of the failed create is kept in /var/lib/etcd/default.before-force-create-" \
  "$(cat "$work/run-s5-force-create.log")"
assert_eq "$h1: the old bootstrap is kept whole" "1" "$(on "$h1" 'ls -d /var/lib/etcd/default.before-force-create-*/member/wal | wc -l')"
assert_contains "the cluster is created anew" "3 of 3 endpoints healthy; 3 members (3 voting)" "$(cat "$work/run-s5-force-create.log")"
assert_eq "a new, empty cluster (0 keys)" "0" "$(keys_of "$h1" | cut -d' ' -f1)"
safety_run=$(( $(date +%s) - safety_t0 ))

echo "-- delete (README \"Delete Cluster\")"
step="delete the cluster"
play "$work/run-11-delete.log" "$inv" etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
for h in "$h1" "$h2" "$h3" "$h4"; do
  assert_eq "$h: no etcd unit, data, certificates, timers, CA" "0 no no no 0" \
    "$(on "$h" 'ls /etc/systemd/system | grep -c -E "^(etcd-default-|step-ca|step-renew-)";
      for f in /var/lib/etcd/default /etc/etcd/ssl /etc/step-ca; do test -e $f && echo yes || echo no; done;
      systemctl list-units --all --no-legend "etcd-*" "step-*" | wc -l' | xargs)"
done
play "$work/run-12-delete-again.log" "$inv" etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
assert_eq "delete again: changed=0" "0 0" \
  "$(recap_sum "$work/run-12-delete-again.log" changed) $(recap_sum "$work/run-12-delete-again.log" failed)"

echo "timing: create from nothing ${create_run} s, idempotent rerun ${rerun_run} s, add node ${add_run} s, upgrade ${upgrade_run} s (3 members + 1 client)"
echo "timing: data-safety section (stopped member, full outage, force-create) ${safety_run} s"
echo "cluster_on_testhosts: all passed"
