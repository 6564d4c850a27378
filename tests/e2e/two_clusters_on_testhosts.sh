#!/usr/bin/env bash
# e2e: two etcd clusters side by side on the same 3 local test hosts (README "Multi-Cluster
# Setup"), each with its own CA, as etcd.yaml deploys them:
#   - cluster A = "default" (etcd 2379/2380, step-ca on 9000: the README's names step-ca,
#     /etc/step-ca, /etc/etcd/ssl, step-renew-<node>-<kind>) and cluster B = "second" (etcd
#     2479/2480, step_ca_port 9001, set in B's inventory group_vars: step-ca-second,
#     /etc/step-ca-second, /etc/etcd/ssl-second, step-renew-second-<node>-<kind>);
#     [etcd] = H1 H2 H3 and [etcd-cert-managers] = H1 H2 for both;
#   - cluster B is deployed, rerun and deleted from the collection etcd_ansible.etcd (make
#     collection), installed with ansible-galaxy into a project directory outside the checkout and
#     run by FQCN there (ansible-playbook etcd_ansible.etcd.etcd), as a user of the collection does;
#   - both healthy with their own client certificates; a client certificate of A is refused by B
#     (and B's by A): different CAs;
#   - a module of ours runs on a node where no Python interpreter can be found;
#   - on every node, `. /etc/etcd/etcdctl.env` (A) or `. /etc/etcd/etcdctl-second.env` (B) is all
#     a bare `etcdctl member list` / `endpoint health` / `endpoint status` needs (0640 root:etcd);
#   - a second run of each changes nothing;
#   - deleting B leaves A healthy, and A's step-ca, timers, certificates and units untouched
#     (same files, same main PIDs); deleting B again changes nothing; then A is deleted too.
# Hosts are H1..H3 = ${HOSTS_PREFIX:-eh}1..3 from tests/hosts/hosts.sh (HOSTS_* variables pick
# another set). Hosts this script starts are torn down at the end; hosts that were up stay up
# (and are reset first). KEEP=1 keeps everything. Logs: build/e2e/two_clusters/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

prefix=${HOSTS_PREFIX:-eh}
h1=${prefix}1 h2=${prefix}2 h3=${prefix}3
hostsdir=$(realpath -m "${HOSTS_DIR:-$top/build/hosts}")
work=$top/build/e2e/two_clusters
# Cluster B's project: outside the checkout (the checkout's ansible.cfg, library/ and roles/ do
# not apply there), with the collection installed in it.
outside=/tmp/etcd-ansible-e2e-two-clusters-${prefix}
ca_pw='e2e-two-ca-pass-5Rt!'
prov_pw='e2e-two-prov-pass-2Zx$'
started_hosts=0
step=setup

hosts() { tests/hosts/hosts.sh "$@"; }
on() { # on HOST CMD...: run CMD on a test host
  local h=$1
  shift
  tests/hosts/hosts.sh ssh "$h" "$@"
}
ctl() { tests/hosts/hosts.sh ctl "$@"; }
play() { # play LOG INVENTORY ARGS...: etcd.yaml with the test vars
  local log=$1 inv=$2
  shift 2
  if ! ctl ansible-playbook -i "$inv" -e @"$work/vars.yml" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FAIL: ansible-playbook -i $inv $* (log: $log)" >&2
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
endpoints() { # endpoints PORT HOST...: https://IP:PORT,...
  local port=$1 h out=""
  shift
  for h in "$@"; do out="$out${out:+,}https://$(ip_of "$h"):$port"; done
  echo "$out"
}
# etcdctl_on HOST ENDPOINTS CA_DIR CERT_DIR ARGS...: etcdctl on HOST, trusting CA_DIR/root_ca.crt,
# with HOST's client certificate from CERT_DIR.
etcdctl_on() {
  local h=$1 eps=$2 ca=$3 certs=$4
  shift 4
  on "$h" ETCDCTL_API=3 /opt/bin/etcdctl --endpoints="$eps" --cacert="$ca/root_ca.crt" \
    --cert="$certs/etcd-$h-client.crt" --key="$certs/etcd-$h-client.key" \
    --dial-timeout=3s --command-timeout=5s "$@"
}
# play_b LOG ARGS...: the collection's playbook etcd_ansible.etcd.etcd, from cluster B's project
play_b() {
  local log=$1
  shift
  if ! (cd "$outside" && "$top/tests/hosts/hosts.sh" ctl ansible-playbook -i inventory.ini -e @"$work/vars.yml" \
    etcd_ansible.etcd.etcd "$@") >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FAIL: (cd $outside && ansible-playbook -i inventory.ini etcd_ansible.etcd.etcd $*) (log: $log)" >&2
    return 1
  fi
}
healthy_count() { # healthy_count HOST ENDPOINTS CA_DIR CERT_DIR: members etcdctl finds healthy
  { etcdctl_on "$@" endpoint health 2>&1 || true; } | grep -c 'is healthy' || true
}
# What of cluster A must not change when B comes and goes: units, CA files, certificates, timers.
a_fingerprint() { # a_fingerprint HOST: unit files, CA and certificate files, main PIDs, timers
  local h=$1 n=${1#"$prefix"}
  on "$h" 'cd /etc/systemd/system && cat etcd-default-'"$n"'.service step-renew-'"$h"'-*.timer \
      $(ls step-ca.service 2>/dev/null) | sha256sum | cut -c1-16;
    find /etc/etcd/ssl /etc/step-ca -type f 2>/dev/null | sort | xargs sha256sum | sha256sum | cut -c1-16;
    systemctl show -p MainPID --value etcd-default-'"$n"' step-ca;
    systemctl list-timers --all --no-legend "step-renew-'"$h"'-*" | grep -c "step-renew-'"$h"'-"' | xargs
}

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED during: $step" >&2
    mkdir -p "$work/logs"
    for h in "$h1" "$h2" "$h3"; do
      on "$h" journalctl --no-pager -n 300 -u 'etcd-*' -u 'step-ca*' >"$work/logs/journal-$h.txt" 2>&1 || true
    done
    echo "logs and journals kept in $work (playbook logs run-*.log, journals logs/)" >&2
    echo "reproduce: tests/hosts/hosts.sh ctl ansible-playbook -i $work/default/inventory.ini -e @$work/vars.yml etcd.yaml -e etcd_action=create" >&2
    echo "       or: cd $outside && $top/tests/hosts/hosts.sh ctl ansible-playbook -i inventory.ini -e @$work/vars.yml etcd_ansible.etcd.etcd -e etcd_action=create" >&2
  fi
  [ "$rc" -eq 0 ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$outside"
  if [ "$started_hosts" = 1 ] && [ "${KEEP:-0}" != 1 ] && [ "$rc" -eq 0 ]; then
    hosts down >/dev/null 2>&1 || true
  elif [ "$started_hosts" = 1 ]; then
    echo "test hosts left up for inspection; tear them down with: tests/hosts/hosts.sh down" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT

step="build the modules, the collection and the mirrors"
make -s collection >/dev/null
tests/peers/stepca/build.sh >/dev/null
tests/peers/etcd/mirror.sh v3.5.16 >/dev/null
stepca=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz

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
    echo "FAIL: $h is not among the running test hosts ($hostsdir/inventory.ini)" >&2
    exit 1
  }
done

step="write the inventories and the variables"
mkdir -p "$work/default" "$work/second/group_vars"
rm -f "$work"/run-*.log
hostline() { grep -E "^$1 " "$hostsdir/inventory.ini"; }
for c in default second; do
  {
    echo "[etcd]"
    for h in "$h1" "$h2" "$h3"; do hostline "$h"; done
    printf '\n[etcd-cert-managers]\n%s\n%s\n\n[etcd-clients]\n' "$h1" "$h2"
  } >"$work/$c/inventory.ini"
done
# Cluster B's own settings, in its inventory (group_vars beside it), as a user would keep them.
cat >"$work/second/group_vars/all.yml" <<'EOF'
etcd_cluster_name: second
etcd_ports:
  client: 2479
  peer: 2480
step_ca_port: 9001
EOF
cat >"$work/vars.yml" <<EOF
step_ca_password: "$ca_pw"
step_provisioner_password: "$prov_pw"
step_ca_download_url: "file://$top/$stepca"
step_ca_checksum: "sha256:$(cut -d' ' -f1 "$stepca.sha256")"
etcd_version: v3.5.16
etcd_download_url: "file://$top/build/mirror/etcd/{{ etcd_version }}/etcd-{{ etcd_version }}-linux-amd64.tar.gz"
etcd_checksum: "sha256:file://$top/build/mirror/etcd/{{ etcd_version }}/SHA256SUMS"
etcd_download_cache_dir: "$work/cache"
EOF
inv_a=$work/default/inventory.ini

step="install the collection into cluster B's project outside the checkout"
rm -rf "$outside"
mkdir -p "$outside"
cp -r "$work/second/." "$outside/"
printf '[defaults]\ncollections_path = ./collections\nhost_key_checking = False\n' >"$outside/ansible.cfg"
(cd "$outside" && ansible-galaxy collection install "$(ls "$top"/build/collection/etcd_ansible-etcd-*.tar.gz)") \
  >"$work/galaxy-install.log" 2>&1 || { cat "$work/galaxy-install.log" >&2; exit 1; }
assert_contains "the collection is installed in B's project" "etcd_ansible.etcd:1.0.0 was installed successfully" \
  "$(cat "$work/galaxy-install.log")"
eps_a=$(endpoints 2379 "$h1" "$h2" "$h3")
eps_b=$(endpoints 2479 "$h1" "$h2" "$h3")
ssl_a=/etc/etcd/ssl
ssl_b=/etc/etcd/ssl-second

if [ "$started_hosts" = 0 ]; then
  step="reset the hosts to a clean state"
  for h in "$h1" "$h2" "$h3"; do
    on "$h" 'systemctl stop "etcd-*" "step-ca*" "step-renew-*" 2>/dev/null;
      rm -f /etc/systemd/system/etcd-*.service /etc/systemd/system/step-ca*.service /etc/systemd/system/step-renew-* \
        /etc/systemd/system/*.wants/etcd-* /etc/systemd/system/*.wants/step-ca*.service /etc/systemd/system/*.wants/step-renew-*;
      systemctl daemon-reload; systemctl reset-failed "etcd-*" "step-*" 2>/dev/null;
      rm -rf /etc/step-ca /etc/step-ca-* /etc/etcd /opt/bin /var/lib/etcd;
      userdel etcd 2>/dev/null; groupdel etcd 2>/dev/null; true'
  done
fi

echo "-- cluster A (default) and cluster B (second) on the same hosts"
step="create cluster A"
t0=$(date +%s.%N)
play "$work/run-1-create-a.log" "$inv_a" etcd.yaml -e etcd_action=create -b
create_a=$(elapsed "$t0")
assert_contains "A reports a healthy cluster" "etcd default: 3 of 3 endpoints healthy" "$(cat "$work/run-1-create-a.log")"
step="create cluster B from the installed collection"
t0=$(date +%s.%N)
play_b "$work/run-2-create-b.log" -e etcd_action=create -b
create_b=$(elapsed "$t0")
assert_contains "B reports a healthy cluster" "etcd second: 3 of 3 endpoints healthy" "$(cat "$work/run-2-create-b.log")"
assert_eq "B's members measured their disk too" "3" \
  "$(grep -c '"msg": "[^"]*: fsync latency in /var/lib/etcd: p50' "$work/run-2-create-b.log")"
assert_contains "B ran the collection's roles" "TASK [etcd_ansible.etcd.install" "$(cat "$work/run-2-create-b.log")"

step="check both clusters"
n=0
for h in "$h1" "$h2" "$h3"; do
  n=$((n + 1))
  assert_eq "$h: etcd-default-$n and etcd-second-$n active" "active active" \
    "$(on "$h" systemctl is-active "etcd-default-$n" "etcd-second-$n" | xargs)"
  assert_eq "$h: A healthy with A's client certificate" "3" "$(healthy_count "$h" "$eps_a" "$ssl_a" "$ssl_a")"
  assert_eq "$h: B healthy with B's client certificate" "3" "$(healthy_count "$h" "$eps_b" "$ssl_b" "$ssl_b")"
  assert_eq "$h: own data dirs and configuration files" "yes yes yes yes" \
    "$(on "$h" 'for f in /var/lib/etcd/default /var/lib/etcd/second /etc/etcd/etcd-default.conf.yml /etc/etcd/etcd-second.conf.yml; do test -e $f && echo yes || echo no; done' | xargs)"
  assert_eq "$h: renewal timers of both clusters" "3 3" \
    "$(on "$h" systemctl list-timers --no-legend "'step-renew-*'" | awk -v a="step-renew-$h-" -v b="step-renew-second-$h-" \
      '{ for (i = 1; i <= NF; i++) if ($i ~ /\.timer$/) { if (index($i, a) == 1) na++; if (index($i, b) == 1) nb++ } } END { print na + 0, nb + 0 }')"
  assert_eq "$h: args files of both clusters' renewal jobs" "yes yes" \
    "$(on "$h" 'for f in /etc/etcd/step/renew-peer.json /etc/etcd/step-second/renew-peer.json; do test -e $f && echo yes || echo no; done' | xargs)"
done
assert_eq "$h1: step-ca and step-ca-second serve (active enabled x2)" "active active enabled enabled" \
  "$(on "$h1" systemctl is-active step-ca step-ca-second | xargs) $(on "$h1" systemctl is-enabled step-ca step-ca-second | xargs)"
assert_eq "$h2 (backup): both stopped and disabled" "inactive inactive disabled disabled" \
  "$({ on "$h2" systemctl is-active step-ca step-ca-second || true; } | xargs) $({ on "$h2" systemctl is-enabled step-ca step-ca-second || true; } | xargs)"
assert_eq "step-ca on 9000 and step-ca-second on 9001 answer /health" '{"status":"ok"} {"status":"ok"}' \
  "$(ctl curl -sk "https://$(ip_of "$h1"):9000/health") $(ctl curl -sk "https://$(ip_of "$h1"):9001/health")"
assert_contains "step-ca-second uses its own CA directory" "/etc/step-ca-second/config/ca.json" \
  "$(on "$h1" 'systemctl cat step-ca-second; cat /opt/bin/step-ca-second-start')"
if on "$h1" cmp -s /etc/step-ca/certs/root_ca.crt /etc/step-ca-second/certs/root_ca.crt; then
  echo "FAIL: both clusters have the same root CA" >&2
  exit 1
fi
echo "ok   two different root CAs"
assert_contains "B's root is its own CA" "etcd-second Root CA" \
  "$(on "$h1" openssl x509 -noout -subject -in /etc/step-ca-second/certs/root_ca.crt 2>/dev/null || on "$h1" cat /etc/step-ca-second/config/ca.json)"

step="our modules need no Python on the target"
out=$(ctl ansible -i "$inv_a" "$h1" -b -e ansible_python_interpreter=/nonexistent/python3 -m etcd_member \
  -a "endpoints=$eps_a ca_cert=$ssl_a/root_ca.crt client_cert=$ssl_a/etcd-$h1-client.crt client_key=$ssl_a/etcd-$h1-client.key" 2>&1 || true)
assert_contains "$h1: etcd_member answers with no Python interpreter to be found" '"healthy": true' "$out"

step="etcdctl with only the environment file"
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: etcdctl.env and etcdctl-second.env are 0640 root:etcd" "640 root:etcd 640 root:etcd" \
    "$(on "$h" stat -c "'%a %U:%G'" /etc/etcd/etcdctl.env /etc/etcd/etcdctl-second.env | xargs)"
  assert_eq "$h: . /etc/etcd/etcdctl.env && etcdctl member list: A's 3 members" "3" \
    "$(on "$h" '. /etc/etcd/etcdctl.env && etcdctl member list' | grep -c ', started, ')"
  assert_eq "$h: . /etc/etcd/etcdctl-second.env && etcdctl endpoint health: B's 3 endpoints" "3" \
    "$(on "$h" '. /etc/etcd/etcdctl-second.env && etcdctl endpoint health 2>&1' | grep -c ':2479 is healthy')"
done
assert_contains "$h1: etcdctl endpoint status --write-out=table with the environment" "| https://$(ip_of "$h1"):2379 |" \
  "$(on "$h1" '. /etc/etcd/etcdctl.env && etcdctl endpoint status --write-out=table')"

step="a client certificate of one cluster is refused by the other"
assert_eq "B refuses A's client certificate" "0" "$(healthy_count "$h1" "$eps_b" "$ssl_b" "$ssl_a")"
assert_eq "A refuses B's client certificate" "0" "$(healthy_count "$h1" "$eps_a" "$ssl_a" "$ssl_b")"

echo "-- a second run of each changes nothing"
step="second run of A and B"
play "$work/run-3-rerun-a.log" "$inv_a" etcd.yaml -e etcd_action=create -b
assert_eq "A again: changed=0 failed=0" "0 0" \
  "$(recap_sum "$work/run-3-rerun-a.log" changed) $(recap_sum "$work/run-3-rerun-a.log" failed)"
t0=$(date +%s.%N)
play_b "$work/run-4-rerun-b.log" -e etcd_action=create -b
rerun_b=$(elapsed "$t0")
assert_eq "B again: changed=0 failed=0" "0 0" \
  "$(recap_sum "$work/run-4-rerun-b.log" changed) $(recap_sum "$work/run-4-rerun-b.log" failed)"

echo "-- delete B: A stays as it was"
step="delete cluster B"
declare -A a_before
for h in "$h1" "$h2" "$h3"; do a_before[$h]=$(a_fingerprint "$h"); done
play_b "$work/run-5-delete-b.log" -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: no unit, data, configuration, certificates, CA, timers or args of B left" "0 no no no no no no 0" \
    "$(on "$h" 'ls /etc/systemd/system | grep -c -E "^(etcd-second-|step-ca-second|step-renew-second-)";
      for f in /var/lib/etcd/second /etc/etcd/etcd-second.conf.yml /etc/etcd/ssl-second /etc/step-ca-second /etc/etcd/step-second /etc/etcd/etcdctl-second.env; do
        test -e $f && echo yes || echo no; done;
      systemctl list-units --all --no-legend "etcd-second-*" "step-ca-second*" "step-renew-second-*" | wc -l' | xargs)"
  assert_eq "$h: A's units, CA, certificates, main PIDs and timers untouched" "${a_before[$h]}" "$(a_fingerprint "$h")"
  assert_eq "$h: A still healthy" "3" "$(healthy_count "$h" "$eps_a" "$ssl_a" "$ssl_a")"
done
assert_eq "$h1: step-ca still serves A on 9000" '{"status":"ok"}' "$(ctl curl -sk "https://$(ip_of "$h1"):9000/health")"
play_b "$work/run-6-delete-b-again.log" -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
assert_eq "delete B again: changed=0" "0 0" \
  "$(recap_sum "$work/run-6-delete-b-again.log" changed) $(recap_sum "$work/run-6-delete-b-again.log" failed)"
echo "-- B on A's step-ca port: refused before its step-ca starts, naming what holds the port"
step="B on A's step-ca port"
if (cd "$outside" && "$top/tests/hosts/hosts.sh" ctl ansible-playbook -i inventory.ini -e @"$work/vars.yml" \
  etcd_ansible.etcd.etcd -e etcd_action=create -e step_ca_port=9000 -b) >"$work/run-6b-b-on-9000.log" 2>&1; then
  assert_eq "B on port 9000 fails" "failed" "passed"
fi
assert_contains "the refusal names the port and its holder" "Port 9000 on $h1 is in use by another process (listening" \
  "$(tr -s ' \n' ' ' <"$work/run-6b-b-on-9000.log")"
assert_eq "$h1: step-ca-second never started; step-ca still serves A on 9000" 'inactive {"status":"ok"}' \
  "$(on "$h1" 'systemctl is-active step-ca-second' | tr -d '\r') $(ctl curl -sk "https://$(ip_of "$h1"):9000/health")"
play_b "$work/run-6c-delete-b-after.log" -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
play "$work/run-7-rerun-a.log" "$inv_a" etcd.yaml -e etcd_action=create -b
assert_eq "A after B's deletion: changed=0" "0 0" \
  "$(recap_sum "$work/run-7-rerun-a.log" changed) $(recap_sum "$work/run-7-rerun-a.log" failed)"

step="delete cluster A"
play "$work/run-8-delete-a.log" "$inv_a" etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: nothing of either cluster left" "0 no no no" \
    "$(on "$h" 'ls /etc/systemd/system | grep -c -E "^(etcd-|step-ca|step-renew-)";
      for f in /etc/etcd/ssl /etc/step-ca /etc/etcd/etcdctl.env; do test -e $f && echo yes || echo no; done' | xargs)"
done

echo "timing: create A ${create_a} s, create B ${create_b} s, idempotent rerun of B ${rerun_b} s (3 hosts each)"
echo "two_clusters_on_testhosts: all passed"
