# Shared pieces of the e2e scenarios (tests/e2e/*_on_testhosts.sh): the test hosts, playbook runs
# with their logs, PLAY RECAP sums. Source it after setting `top` (the checkout) and `work` (the
# scenario's log directory); it sources tests/lib/assert.sh.
#
# Hosts are ${HOSTS_PREFIX:-eh}1..N from tests/hosts/hosts.sh (HOSTS_* pick another set).
# e2e_hosts_up N starts them when none are up (and remembers it, so e2e_hosts_down only stops
# what this scenario started); it refuses a half-dead set.

. "$top/tests/lib/assert.sh"

e2e_prefix=${HOSTS_PREFIX:-eh}
e2e_hostsdir=$(realpath -m "${HOSTS_DIR:-$top/build/hosts}")
e2e_controller_ip="${HOSTS_SUBNET:-10.77.0}.1"
e2e_started_hosts=0

hosts() { "$top/tests/hosts/hosts.sh" "$@"; }
on() { # on HOST CMD...: run CMD on a test host (as root, over ssh)
  local h=$1
  shift
  "$top/tests/hosts/hosts.sh" ssh "$h" "$@"
}
ctl() { "$top/tests/hosts/hosts.sh" ctl "$@"; } # on the controller, inside the hosts' network

# play LOG INVENTORY ARGS...: ansible-playbook with the scenario's vars; shows the log's tail on failure
play() {
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
ip_of() { # ip_of HOST: its ansible_host
  awk -v h="$1" '$1 == h { for (i = 2; i <= NF; i++) if ($i ~ /^ansible_host=/) {
      sub(/^ansible_host=/, "", $i); print $i } }' "$e2e_hostsdir/inventory.ini"
}
hostline() { grep -E "^$1 " "$e2e_hostsdir/inventory.ini"; }

# e2e_hosts_up N: N test hosts up (started here when none were), all listed in the inventory.
e2e_hosts_up() {
  local n=$1 rc=0 i
  hosts status >/dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 1 ]; then
    hosts up "$n" >/dev/null
    e2e_started_hosts=1
  elif [ "$rc" -ne 0 ]; then
    echo "FAIL: some test hosts in $e2e_hostsdir are dead or not booted (tests/hosts/hosts.sh" \
      "status); fix or take them down first" >&2
    return 1
  fi
  for i in $(seq "$n"); do
    grep -q "^$e2e_prefix$i " "$e2e_hostsdir/inventory.ini" || {
      echo "FAIL: $e2e_prefix$i is not among the running test hosts; take them down" \
        "(tests/hosts/hosts.sh down) or use another set with HOSTS_DIR/HOSTS_NETNS/HOSTS_SUBNET/" \
        "HOSTS_PREFIX" >&2
      return 1
    }
  done
}

# e2e_hosts_down RC: stops the hosts this scenario started, unless it failed or KEEP=1.
e2e_hosts_down() {
  if [ "$e2e_started_hosts" = 1 ] && [ "${KEEP:-0}" != 1 ] && [ "$1" -eq 0 ]; then
    hosts down >/dev/null 2>&1 || true
  elif [ "$e2e_started_hosts" = 1 ]; then
    echo "test hosts left up for inspection; tear them down with: tests/hosts/hosts.sh down" >&2
  fi
}

# e2e_reset_host HOST: removes what the roles put on a host that was already up.
e2e_reset_host() {
  on "$1" 'systemctl stop "etcd-*" "step-ca*" "step-renew*" "etcd-backup-*" "ca-backup-*" "ca-restore-drill-*" 2>/dev/null;
    rm -f /etc/systemd/system/etcd-* /etc/systemd/system/step-ca* /etc/systemd/system/step-renew* \
      /etc/systemd/system/ca-backup-* /etc/systemd/system/ca-restore-drill-* /etc/systemd/system/*.wants/etcd-* \
      /etc/systemd/system/*.wants/step-* /etc/systemd/system/*.wants/ca-backup-* /etc/systemd/system/*.wants/ca-restore-drill-*;
    systemctl daemon-reload; systemctl reset-failed 2>/dev/null;
    rm -rf /etc/step-ca* /etc/etcd /etc/etcd-backups /opt/bin /var/lib/etcd /var/log/etcd-backups \
      /var/lib/prometheus/node-exporter/etcd-ansible-*.prom;
    userdel etcd 2>/dev/null; groupdel etcd 2>/dev/null; true'
}

# e2e_keep_journals HOST...: the hosts' journals of etcd, step-ca and the backup jobs into $work/logs.
e2e_keep_journals() {
  local h
  mkdir -p "$work/logs"
  for h in "$@"; do
    on "$h" journalctl --no-pager -n 300 -u 'etcd-*' -u 'step-ca*' -u 'ca-backup-*' \
      >"$work/logs/journal-$h.txt" 2>&1 || true
    on "$h" 'tail -n 50 /var/log/etcd-backups/*.log' >"$work/logs/backup-logs-$h.txt" 2>&1 || true
  done
}
