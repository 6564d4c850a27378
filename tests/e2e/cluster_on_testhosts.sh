#!/usr/bin/env bash
# e2e: the cluster lifecycle of etcd.yaml on 4 local test hosts with real systemd, etcd 3.4 from
# the local mirror (tests/peers/etcd/mirror.sh) and the real step-ca, as the README runs it:
#   - [etcd] = H1 H2 H3, [etcd-cert-managers] = H1 H2, [etcd-clients] = H4;
#   - create from clean hosts: etcdctl endpoint health OK on every member with a client
#     certificate, refused without one; etcd_member query shows 3 voters; the client H4 reaches
#     the cluster with the etcd3/facts values (tests/e2e/kube_apiserver_facts.yaml);
#   - a second run changes nothing; an unknown action and backup fail with a clear message;
#   - add node: H4 joins with --limit (learner, then promoted); removed again with etcd_member
#     state=absent and etcd.yaml -e etcd_delete_cluster=true --limit H4 (refused without the
#     confirmation);
#   - the fsync latency of each member's disk is measured and printed before create, join and
#     upgrade (etcd_member data_dir);
#   - upgrade to v3.4.99 (same binaries under another version, so the rolling path runs for real)
#     with a writer putting keys all along: followers first, leadership handed over by
#     etcd_member state=leader_moved, leader last, each member awaited until healthy and caught up
#     (state=healthy); every acknowledged key is there afterwards;
#   - a stopped member: etcd_member state=query reports it unhealthy, naming its endpoint, and
#     an upgrade stops at its health gate;
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
writer_started=0
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

stop_writer() {
  [ "$writer_started" = 1 ] || return 0
  on "$h1" 'touch /root/writer.stop; for i in $(seq 100); do [ -e /root/writer.done ] && exit 0; sleep 0.1; done' || true
  writer_started=0
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
make -s library/step_ca library/step_cert library/systemd_timer library/etcd_member >/dev/null
tests/peers/stepca/build.sh >/dev/null
tests/peers/etcd/mirror.sh v3.4.23 v3.4.99 >/dev/null
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

echo "-- create (README \"Install New Cluster\")"
step="create the cluster"
t0=$(date +%s.%N)
play "$work/run-1-create.log" "$inv" etcd.yaml -e etcd_action=create -b
create_run=$(elapsed "$t0")
assert_eq "create: no failure" "0" "$(recap_sum "$work/run-1-create.log" failed)"
assert_contains "create reports a healthy cluster" \
  "3 of 3 endpoints healthy; 3 members (3 voting)" "$(cat "$work/run-1-create.log")"
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

echo "-- add a node (README \"Add New Node to Existing Cluster\")"
step="add $h4 with --limit"
t0=$(date +%s.%N)
play "$work/run-4-add.log" "$inv4" etcd.yaml -e etcd_action=create --limit "$h4" -b
add_run=$(elapsed "$t0")
assert_contains "$h4 was added as a learner" "Add $h4 to the cluster as a learner" "$(cat "$work/run-4-add.log")"
assert_eq "$h4: added, started and promoted" "3" \
  "$(grep -A1 -E "TASK .*(Add to the cluster as a learner $h4|Start and enable etcd-default-4|Promote, once caught up with the leader, $h4)" "$work/run-4-add.log" | grep -c "^changed: \[$h4\]")"
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

echo "-- upgrade with writes running (README \"Upgrade Cluster\")"
step="start the writer on $h1"
on "$h1" "rm -f /root/writer.*; nohup sh -c '
  i=0
  while [ ! -e /root/writer.stop ]; do
    i=\$((i + 1))
    if ETCDCTL_API=3 /opt/bin/etcdctl --endpoints=$eps3 --cacert=/etc/etcd/ssl/root_ca.crt \
        --cert=/etc/etcd/ssl/etcd-$h1-client.crt --key=/etc/etcd/ssl/etcd-$h1-client.key \
        --command-timeout=5s put writer/\$i \$i >/dev/null 2>>/root/writer.err; then
      echo \$i >>/root/writer.acked
    else
      echo \$i >>/root/writer.failed
    fi
    sleep 0.05
  done
  touch /root/writer.done' >/dev/null 2>&1 &"
writer_started=1
wait_for 20 on "$h1" test -s /root/writer.acked || { echo "FAIL: the writer acknowledged nothing" >&2; exit 1; }
echo "ok   the writer puts keys"

step="upgrade to v3.4.99"
leader_before=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print([m["name"] for m in r["members"] if m["id"] == r["leader"]][0])' "$work/query-3b.json")
t0=$(date +%s.%N)
play "$work/run-8-upgrade.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.4.99 -b
upgrade_run=$(elapsed "$t0")
sleep 2
stop_writer
restarts=$(grep -oE "TASK \[etcd3/cluster/install : Restart etcd-default-[0-9]+\]" "$work/run-8-upgrade.log" | grep -oE '[0-9]+\]$' | tr -d ']' | xargs)
assert_eq "three restarts, one at a time" "3" "$(wc -w <<<"$restarts")"
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
  assert_eq "$h runs etcd-v3.4.99" "/opt/bin/etcd-v3.4.99" \
    "$(on "$h" "readlink /proc/\$(systemctl show -p MainPID --value etcd-default-$n)/exe")"
done
# comm wants a lexical order (sort -n puts 9 before 10 and comm then fails as soon as a put that
# timed out at the client during a restart was committed anyway: a key stored but not acked).
on "$h1" 'sort /root/writer.acked' >"$work/writer.acked"
etcdctl_on "$h1" "$eps3" get --prefix writer/ --keys-only | sed -n 's|^writer/||p' | sort >"$work/writer.stored"
acked=$(wc -l <"$work/writer.acked")
failed=$(on "$h1" 'cat /root/writer.failed 2>/dev/null | wc -l')
missing=$(comm -23 "$work/writer.acked" "$work/writer.stored" | wc -l)
assert_eq "every acknowledged key is there ($acked acknowledged, $failed refused during restarts)" "0" "$missing"
[ "$acked" -gt 20 ] || { echo "FAIL: only $acked keys acknowledged during the upgrade" >&2; exit 1; }
play "$work/run-9-upgrade-again.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.4.99 -b
assert_eq "upgrade again: changed=0" "0 0" \
  "$(recap_sum "$work/run-9-upgrade-again.log" changed) $(recap_sum "$work/run-9-upgrade-again.log" failed)"

echo "-- a stopped member is reported"
step="stop $h3's member"
on "$h3" systemctl stop etcd-default-3
member_query "$h1" "$eps3" "$work/adhoc-query-dead.log" >"$work/query-dead.json"
msg=$(json_get "$(cat "$work/query-dead.json")" msg)
assert_contains "query says which endpoint is unhealthy" \
  "2 of 3 endpoints healthy (unhealthy: https://$(ip_of "$h3"):2379" "$msg"
assert_contains "and why" "Couldn't connect to server" "$(cat "$work/query-dead.json")"
step="upgrade with a member down"
play_fails "$work/run-10-upgrade-unhealthy.log" "$inv" etcd.yaml -e etcd_action=upgrade -e etcd_version=v3.4.99 \
  -e etcd_health_timeout=3
assert_contains "the upgrade stops at the health gate" "Check that the cluster is healthy before changing it" \
  "$(grep -B3 'fatal:' "$work/run-10-upgrade-unhealthy.log")"
assert_contains "naming the member that is down" "https://$(ip_of "$h3"):2379" \
  "$(grep 'fatal:' "$work/run-10-upgrade-unhealthy.log")"
on "$h3" systemctl start etcd-default-3
wait_for 60 sh -c "tests/hosts/hosts.sh ssh $h1 ETCDCTL_API=3 /opt/bin/etcdctl --endpoints=$eps3 \
  --cacert=/etc/etcd/ssl/root_ca.crt --cert=/etc/etcd/ssl/etcd-$h1-client.crt --key=/etc/etcd/ssl/etcd-$h1-client.key \
  endpoint health" || { echo "FAIL: the cluster is not healthy again after $h3 restarted" >&2; exit 1; }
echo "ok   healthy again once $h3 runs"

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
echo "cluster_on_testhosts: all passed"
