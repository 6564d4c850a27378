#!/usr/bin/env bash
# The action plugins (action_plugins/_cached_binary.py) against a real host over ssh (a local
# test host, tests/hosts/): each module binary is kept in /var/lib/etcd-ansible/modules/ by its
# SHA-256 and a task is one exec with the args on stdin.
#
# Cases: the first task installs the binary (root, 0755, the controller's hash) and the second
# copies nothing (one ssh exec, same inode); a tampered cached binary is detected and replaced; an
# older build is replaced by a new one; check mode changes nothing and --diff shows the change;
# no_log keeps a secret out of every output (also -vvv); become through sudo from a plain user;
# without root the stock path (temp dir + args file) still runs the module; async runs; the cached
# binary still takes an args file (as the timers run it).
#
# Uses host ${HOSTS_PREFIX:-eh}1; starts one host when none is up and stops it at the end.
# Logs: build/integration/module_cache/. Every case runs; ends with "N passed, M failed"
# (tests/lib/assert.sh); the hosts come up through tests/lib/e2e.sh.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
work=build/integration/module_cache # the logs (e2e.sh's $work)
logs=$work
rm -rf "$logs"
mkdir -p "$logs"
. tests/lib/e2e.sh # the host bring-up (e2e_hosts_up/down, on, ctl); assert.sh
host=$e2e_prefix"1"
inventory=$e2e_hostsdir/inventory.ini
cache=/var/lib/etcd-ansible/modules
unit=it-mc # every unit this test makes is named it-mc*

on_host() { on "$host" "$@"; }

cleanup() {
  local rc=$?
  on_host "systemctl disable --now $unit.timer $unit-svc.service >/dev/null 2>&1; rm -f /etc/systemd/system/$unit.* /etc/systemd/system/$unit-svc.*
           systemctl daemon-reload; userdel -r itmc >/dev/null 2>&1; rm -f /etc/sudoers.d/itmc" \
    >/dev/null 2>&1 || true
  e2e_hosts_down "$rc"
}
assert_trap cleanup
e2e_hosts_up 1 || exit 1
[ -x library/systemd_timer ] && [ -x library/etcd_member ] || make -s all >/dev/null

# ---- running Ansible -------------------------------------------------------------------------

# No ControlPersist: every task's ssh exec shows in -vvv as its own connection, and nothing is
# left behind.
ansible_env=(env ANSIBLE_SSH_ARGS='-o ControlMaster=no' ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
  ANSIBLE_DEPRECATION_WARNINGS=False ANSIBLE_RETRY_FILES_ENABLED=False)
# adhoc NAME MODULE ARGS [ansible flags]: `ansible HOST -m MODULE -a ARGS -vvv`, output in
# $out (the host's result, as JSON, in $res), log $logs/NAME.log.
adhoc() {
  local name=$1 module=$2 args=$3
  shift 3
  log=$logs/$name.log
  ctl "${ansible_env[@]}" ansible "$host" -i "$inventory" -m "$module" -a "$args" -vvv "$@" \
    >"$log" 2>&1
  out=$(cat "$log")
  # The ad-hoc callback prints "HOST | STATUS => {" and the result, indented, up to "}".
  res=$(python3 -c '
import json, re, sys
m = re.search(r"^%s \| [A-Z!]+ => (\{.*?^\})" % re.escape(sys.argv[2]), open(sys.argv[1]).read(), re.S | re.M)
print(json.dumps(json.loads(m.group(1))) if m else "{}")
' "$log" "$host" 2>/dev/null)
  [ -n "$res" ] || res='{}'
}
field() { jq -r "$1" <<<"$res"; } # the callback drops failed=false: use .failed // false
installs() { grep -c "module cache: installing" <<<"$out"; }
execs() { grep -c "SSH: EXEC" <<<"$out"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
absent_args="name=$unit state=absent"

# ---- cases -----------------------------------------------------------------------------------

case_first_installs_second_copies_nothing() {
  local sha inode1 inode2
  sha=$(sha_of library/systemd_timer)
  on_host "rm -rf /var/lib/etcd-ansible" || return 1
  adhoc first systemd_timer "$absent_args"
  [ "$(field ".failed // false")" = false ] || { echo "first task failed: $(field .msg)"; return 1; }
  [ "$(installs)" = 1 ] || { echo "first task: expected 1 install, got $(installs)"; return 1; }
  local st
  st=$(on_host "stat -c '%U:%G %a' /var/lib/etcd-ansible $cache $cache/systemd_timer-$sha; sha256sum $cache/systemd_timer-$sha")
  [ "$(head -3 <<<"$st" | sort -u)" = "root:root 755" ] || { echo "owner/mode: $st"; return 1; }
  [[ $(tail -1 <<<"$st") == "$sha "* ]] || { echo "cached hash: $st (expected $sha)"; return 1; }
  inode1=$(on_host stat -c %i "$cache/systemd_timer-$sha")
  adhoc second systemd_timer "$absent_args"
  inode2=$(on_host stat -c %i "$cache/systemd_timer-$sha")
  [ "$(field ".failed // false")" = false ] || { echo "second task failed: $(field .msg)"; return 1; }
  [ "$(installs)" = 0 ] || { echo "second task installed again"; return 1; }
  [ "$(execs)" = 1 ] || { echo "second task: expected 1 ssh exec, got $(execs)"; return 1; }
  [ "$inode1" = "$inode2" ] || { echo "the cached file was rewritten ($inode1 -> $inode2)"; return 1; }
  ! grep -q "PUT \|sftp\|AnsiballZ\|/args" <<<"$out" || { echo "a file was copied"; return 1; }
}

case_tampered_binary_is_replaced() {
  local sha
  sha=$(sha_of library/systemd_timer)
  # Same size, one byte different: only the hash can tell.
  on_host "printf X | dd of=$cache/systemd_timer-$sha bs=1 seek=5000 conv=notrunc status=none" || return 1
  [ "$(on_host sha256sum "$cache/systemd_timer-$sha" | cut -d' ' -f1)" != "$sha" ] || return 1
  adhoc tampered systemd_timer "$absent_args"
  [ "$(field ".failed // false")" = false ] || { echo "task failed: $(field .msg)"; return 1; }
  [ "$(installs)" = 1 ] || { echo "expected 1 install, got $(installs)"; return 1; }
  [ "$(on_host sha256sum "$cache/systemd_timer-$sha" | cut -d' ' -f1)" = "$sha" ] ||
    { echo "the cached file is still not the controller's"; return 1; }
}

case_new_build_replaces_the_old() {
  local old=$cache/systemd_timer-0000000000000000000000000000000000000000000000000000000000000000
  on_host "cp $cache/systemd_timer-* $old" || return 1
  on_host "rm -f $cache/systemd_timer-$(sha_of library/systemd_timer)"
  adhoc rebuild systemd_timer "$absent_args"
  [ "$(installs)" = 1 ] || { echo "expected 1 install, got $(installs)"; return 1; }
  [ "$(on_host "ls $cache | grep -c '^systemd_timer-'")" = 1 ] || { echo "old builds stay: $(on_host ls $cache)"; return 1; }
}

case_check_mode_and_diff() {
  local args="name=$unit exec=/bin/true on_calendar=hourly"
  adhoc check systemd_timer "$args" --check --diff
  [ "$(field .changed)" = true ] || { echo "check mode: expected changed, got $(field .changed) $(field .msg)"; return 1; }
  [ "$(field '.diff | length')" -ge 1 ] || { echo "no diff in the result"; return 1; }
  grep -q 'OnCalendar=hourly' <<<"$(field '.diff')" || { echo "diff without the timer text"; return 1; }
  on_host "! test -e /etc/systemd/system/$unit.timer" || { echo "check mode wrote the unit"; return 1; }
  adhoc apply systemd_timer "$args"
  [ "$(field .changed)" = true ] || { echo "apply: not changed: $(field .msg)"; return 1; }
  adhoc again systemd_timer "$args"
  [ "$(field .changed)" = false ] || { echo "rerun: changed again"; return 1; }
  adhoc remove systemd_timer "$absent_args"
  [ "$(field .changed)" = true ] || { echo "remove: not changed"; return 1; }
}

case_no_log_keeps_secrets_out() {
  local secret=it-mc-Secret-9f3e
  # The module's own no_log option (secret_key) is masked in invocation; the task's no_log hides
  # the whole result. Neither value reaches the -vvv output (args travel on stdin).
  adhoc optnolog kms_s3_backup "state=present src=/etc/hostname bucket=b cluster=c access_key=AK secret_key=$secret"
  grep -q "^$host | FAILED! =>" "$log" || { echo "expected a failure (no kms_key_id)"; return 1; }
  [ "$(field .msg)" = "kms_key_id: required with encryption=aws-kms" ] || { echo "msg: $(field .msg)"; return 1; }
  [ "$(field .invocation.module_args.secret_key)" = VALUE_SPECIFIED_IN_NO_LOG_PARAMETER ] ||
    { echo "secret_key not masked: $(field .invocation.module_args.secret_key)"; return 1; }
  ! grep -q "$secret" "$log" || { echo "the secret is in $log"; return 1; }
  cat >"$logs/nolog.yml" <<PLAY
- hosts: $host
  gather_facts: false
  tasks:
    - name: Remove a timer whose description is secret
      systemd_timer: {name: $unit, state: absent, description: $secret}
      no_log: true
PLAY
  log=$logs/tasknolog.log
  ctl "${ansible_env[@]}" ansible-playbook -i "$inventory" "$logs/nolog.yml" -vvv >"$log" 2>&1 ||
    { echo "the no_log play failed (see $log)"; return 1; }
  grep -q "censored" "$log" || { echo "no censored result in $log"; return 1; }
  ! grep -q "$secret" "$log" || { echo "the description (task no_log) is in $log"; return 1; }
  ! on_host "grep -rq $secret /tmp /root/.ansible 2>/dev/null" || { echo "the secret is in a file on the host"; return 1; }
}

case_become_through_sudo() {
  local ip
  ip=$(awk -v h="$host" '$1 == h { sub("ansible_host=", "", $2); print $2 }' "$inventory")
  on_host "id itmc >/dev/null 2>&1 || useradd -m -s /bin/sh itmc; mkdir -p ~itmc/.ssh &&
    cp /root/.ssh/authorized_keys ~itmc/.ssh/ && chown -R itmc ~itmc/.ssh &&
    echo 'itmc ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/itmc && chmod 0440 /etc/sudoers.d/itmc" || return 1
  on_host "rm -f $cache/systemd_timer-*"
  adhoc sudo systemd_timer "$absent_args" -e ansible_user=itmc -b
  [ "$(field ".failed // false")" = false ] || { echo "become: $(field .msg)"; return 1; }
  [ "$(installs)" = 1 ] || { echo "become: expected 1 install, got $(installs)"; return 1; }
  grep -q "sudo -H -S -n" <<<"$out" || { echo "sudo was not used"; return 1; }
  [ "$(on_host stat -c %U "$cache/systemd_timer-$(sha_of library/systemd_timer)")" = root ] || return 1
  # Not root and no become: the cache is not writable, the stock path runs the module.
  adhoc plainuser etcd_member "state=query" -e ansible_user=itmc
  [ "$(field .msg)" = "endpoints: give at least one client URL" ] ||
    { echo "plain user: the module did not answer: $(field .msg)"; return 1; }
  grep -q "cannot be written, copying the module" <<<"$out" || { echo "no fallback note"; return 1; }
  # ... decided by the run command: the binary is not sent to an install that could not keep it
  # (that install exited without reading it, and ssh failed with a broken pipe under load).
  [ "$(installs)" = 0 ] || { echo "plain user: the binary was sent to the cache install"; return 1; }
  : "$ip"
}

case_async_takes_the_stock_path() {
  adhoc async systemd_timer "$absent_args" -B 60 -P 1
  [ "$(field ".failed // false")" = false ] || { echo "async: $(field .msg)"; return 1; }
  [ "$(field .name)" = "$unit" ] || { echo "async: no module result: $res"; return 1; }
}

case_binary_still_takes_an_args_file() {
  local sha
  sha=$(sha_of library/systemd_timer)
  on_host "printf '{\"name\": \"$unit\", \"state\": \"absent\"}' >/root/it-mc.json &&
    $cache/systemd_timer-$sha /root/it-mc.json && rm -f /root/it-mc.json" >"$logs/argsfile.out" ||
    { echo "args file: $(cat "$logs/argsfile.out")"; return 1; }
  [ "$(jq -r .failed "$logs/argsfile.out")" = false ] || return 1
}

# etcd_service (action_plugins/, no module binary: systemctl in one exec) on real systemd: check
# mode only says what it would do; a unit is enabled and started, then left alone, then stopped
# and disabled; an unknown unit and a bad state fail, named.
case_etcd_service_starts_and_stops() {
  local svc=$unit-svc
  on_host "printf '[Unit]\nDescription=etcd_service test\n[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n' \
    >/etc/systemd/system/$svc.service" || return 1
  adhoc svccheck etcd_service "name=$svc state=started enabled=true daemon_reload=true" --check
  [ "$(field .changed)" = true ] && [ "$(field '.actions | join(",")')" = "enabled,started" ] ||
    { echo "check mode: $(field .changed) $(field .actions) $(field .msg)"; return 1; }
  [ "$(on_host "systemctl is-active $svc; systemctl is-enabled $svc" | xargs)" = "inactive disabled" ] ||
    { echo "check mode changed the unit"; return 1; }
  adhoc svcstart etcd_service "name=$svc state=started enabled=true daemon_reload=true"
  [ "$(field .changed)" = true ] && [ "$(field '.actions | join(",")')" = "enabled,started" ] ||
    { echo "start: $(field .changed) $(field .actions) $(field .msg)"; return 1; }
  [ "$(execs)" = 1 ] || { echo "start: expected 1 ssh exec, got $(execs)"; return 1; }
  [ "$(on_host "systemctl is-active $svc; systemctl is-enabled $svc" | xargs)" = "active enabled" ] ||
    { echo "not started and enabled"; return 1; }
  adhoc svcagain etcd_service "name=$svc state=started enabled=true"
  [ "$(field .changed)" = false ] || { echo "again: changed $(field .actions)"; return 1; }
  adhoc svcstop etcd_service "name=$svc state=stopped enabled=false"
  [ "$(field .changed)" = true ] && [ "$(field '.actions | join(",")')" = "disabled,stopped" ] ||
    { echo "stop: $(field .changed) $(field .actions) $(field .msg)"; return 1; }
  [ "$(on_host "systemctl is-active $svc; systemctl is-enabled $svc" | xargs)" = "inactive disabled" ] ||
    { echo "not stopped and disabled"; return 1; }
  adhoc svcunknown etcd_service "name=$unit-none state=started"
  grep -q "^$host | FAILED! =>" "$log" && [ "$(field .msg)" = "$unit-none: systemd does not know $unit-none" ] ||
    { echo "unknown unit: $(field .msg)"; return 1; }
  adhoc svcbad etcd_service "name=$svc state=running"
  [[ $(field .msg) == "state: started or stopped is required"* ]] || { echo "bad state: $(field .msg)"; return 1; }
}

for c in case_first_installs_second_copies_nothing case_tampered_binary_is_replaced \
  case_new_build_replaces_the_old case_check_mode_and_diff case_no_log_keeps_secrets_out \
  case_become_through_sudo case_async_takes_the_stock_path case_binary_still_takes_an_args_file \
  case_etcd_service_starts_and_stops; do
  if msg=$($c 2>&1); then
    assert_pass "${c#case_}"
  else
    assert_fail "${c#case_}" "$(tail -3 <<<"$msg" | tr '\n' ' ') (logs: $logs)"
  fi
done
