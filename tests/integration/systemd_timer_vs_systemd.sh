#!/usr/bin/env bash
# library/systemd_timer against real systemd 252 (PID 1 of a local test host, tests/hosts/).
#
# 1. Every calendar event and time span of a list goes through the module (check mode) and through
#    `systemd-analyze calendar|timespan` on the host: both must agree, except where we refuse on
#    purpose (@epoch, time zones other than UTC, "+5", ".5", "infinity").
# 2. Through Ansible (the binary module path; systemd_timer_task.yml keeps each full result, and
#    one ad-hoc call shows the --check --diff text as a user sees it): a timer every 5 s fires, a
#    rerun is unchanged, check mode predicts without touching, --diff shows the change, the new
#    timing reaches systemd, run_now reports success and failure, tricky argv/environment reach
#    the command byte for byte, a bad calendar writes nothing, enabled=false and state=absent undo
#    it, and a timer made again after state=absent fires afresh.
#
# Uses host eh1 (${HOSTS_PREFIX:-eh}1). If no test host is up, starts one and stops it at the end; hosts found up are
# left up. On failure the module results and the units' journal stay in build/integration/.
# Every case runs; the last line is "N passed, M failed" (tests/lib/assert.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh
hosts=tests/hosts/hosts.sh
host=${HOSTS_PREFIX:-eh}1
inventory=build/hosts/inventory.ini
logs=build/integration/systemd_timer
prefix=it-st # every unit this test makes is named it-st-*
unit_dir=/etc/systemd/system
started_hosts=0

rm -rf "$logs"
mkdir -p "$logs"

# ---- hosts -----------------------------------------------------------------------------------

host_ready() { "$hosts" status 2>/dev/null | grep -Eq "^$host +.*systemd (running|degraded)"; }

on_host() { "$hosts" ssh "$host" "$@"; }

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && host_ready; then
    on_host "journalctl --no-pager -o short-iso -u '$prefix-*'" >"$logs/journal.txt" 2>&1 || true
    echo "systemd_timer_vs_systemd: results, commands and journal in $logs/"
  fi
  if host_ready; then
    on_host "for t in \$(ls $unit_dir | grep -E '^$prefix-.*\.timer\$'); do
               systemctl disable --now \$t >/dev/null 2>&1; done
             systemctl stop '$prefix-*.service' >/dev/null 2>&1
             rm -f $unit_dir/$prefix-* /var/tmp/$prefix-* /var/lib/systemd/timers/stamp-$prefix-*
             rm -rf /var/tmp/$prefix-dir
             systemctl daemon-reload; systemctl reset-failed '$prefix-*' >/dev/null 2>&1
             rm -f /root/systemd_timer.it" || true
  fi
  # Down only what this test started: if other hosts appeared meanwhile, someone else uses them.
  if [ "$started_hosts" -eq 1 ]; then
    others=$("$hosts" status 2>/dev/null | grep -Ev "^($host |inventory:|no test hosts)" || true)
    if [ -z "$others" ]; then
      "$hosts" down
    else
      echo "leaving the test hosts up: others started hosts beside $host meanwhile" >&2
    fi
  fi
}
assert_trap cleanup

if ! host_ready; then
  if "$hosts" status 2>/dev/null | grep -q 'nspawn pid'; then
    echo "FAIL: test hosts are up but $host is not ready; see: $hosts status" >&2
    exit 1
  fi
  started_hosts=1
  "$hosts" up 1 >/dev/null
fi
if [ ! -x library/systemd_timer ] || [ ! -f library/systemd_timer.yml ]; then
  make library/systemd_timer library/systemd_timer.yml >/dev/null
fi

# ---- assertions ------------------------------------------------------------------------------

# Every expectation is a counted case (tests/lib/assert.sh).
expect_eq() { assert_eq "$@"; } # what expected got

expect_match() { # what regex got
  if [[ $3 =~ $2 ]]; then assert_pass "$1"; else assert_fail "$1" "expected /$2/, got '$3'"; fi
}

expect_contains() { assert_contains "$@"; } # what needle haystack

# ---- running the module through Ansible ------------------------------------------------------

# Ansible runs in the controller namespace, where the hosts are. No ControlPersist: this test
# leaves no ssh master behind.
ansible_env=(env ANSIBLE_SSH_ARGS='-o ControlMaster=no' ANSIBLE_HOST_KEY_CHECKING=False
  ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=False ANSIBLE_RETRY_FILES_ENABLED=False)
step=0

# mod NAME ARGS_JSON [ansible-playbook flags]: one systemd_timer task (systemd_timer_task.yml)
# with these arguments; its full result goes to $logs/NN-NAME.json, whose path is left in
# $result. The command is kept beside it (.cmd), to reproduce a failure by hand.
mod() {
  local name=$1 args=$2 base
  shift 2
  step=$((step + 1))
  base="$logs/$(printf '%02d' "$step")-$name"
  result="$base.json"
  jq -n --arg t "$host" --arg f "$top/$result" --argjson a "$args" \
    '{target: $t, result_file: $f, timer_args: $a}' >"$base.vars.json"
  local cmd=("${ansible_env[@]}" ansible-playbook -i "$inventory" -M library
    tests/integration/systemd_timer_task.yml -e "@$base.vars.json" "$@")
  printf '%q ' "$hosts" ctl "${cmd[@]}" >"$base.cmd"
  "$hosts" ctl "${cmd[@]}" >"$base.out" 2>&1 || true
  if ! jq -e . "$result" >/dev/null 2>&1; then
    assert_fail "$name: a result from ansible-playbook" "none (see $base.out)"
    echo '{}' >"$result"
  fi
}

# get JQ_EXPR: a value of the last result, as text (null → "null").
get() { jq -r "$1" "$result"; }

json_args() { # KEY=JSON_VALUE...: a JSON object for -a
  local out='{}' kv
  for kv in "$@"; do
    out=$(jq -c --arg k "${kv%%=*}" --argjson v "${kv#*=}" '. + {($k): $v}' <<<"$out")
  done
  printf '%s' "$out"
}

iso='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# ---- 1. the module's checks agree with systemd's parsers -------------------------------------

echo "== calendar events and time spans: module vs systemd-analyze on $host"
address=$(awk -v h="$host" '$1 == h { sub("ansible_host=", "", $2); print $2 }' "$inventory")
"$hosts" ctl scp -q -i build/hosts/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR library/systemd_timer \
  "root@$address:/root/systemd_timer.it"
on_host python3 - >"$logs/specs.txt" <<'EOF'
import json, subprocess
calendar = """minutely|hourly|daily|weekly|monthly|quarterly|semiannually|semi-annually|yearly|
annually|DAILY|daily UTC|daily utc|*-*-* 00:00:00|*-*-* 02:00|Mon..Fri *-*-* 02:00|Mon-Fri 02:00|
Mon,Wed,Fri 10:00|Sat,Sun|Mon|monday|Mon,|Mon..|Fri..Mon|Monday..Friday 9:00|Mond|*:0/15|*:*/15|
*:1/15|*:00,15,30,45|*:*:0/10|2024-01-01|24-01-01|1969-01-01|2199-12-31|2200-01-01|*-02~03|*-*~28|
*-*~29|*-05~1/2|2024-*~03|*-*-1..7/2 08:00|*-*-32|*-13-01|*-00-01|25:00|23:59:60|12:60|12:30:59.5|
*:*:1..1|*:*:1..2|*:*:0..59/100|*:30/45|*:0/59|*:0/60|*:0/0|1,2,3:00|3..1:00|Mon *-*-* 25:00|
@1700000000|2024-01-01 12:00 UTC|2024-01-01 12:00 Europe/Berlin|12:00  UTC|10:00 junk|*-*|*-*-*-*|
1-1|12:00:00:00|*:*:*|*|**|Sun..Sat|Tue..Mon|Mon..Wed,Fri..Sun 12:00|mon..fri""".replace("\n", "")
spans = """5s|5|0|5min|5m|5M|1h 30min|1h30min|1.5h|1.5|1.|.5|2d|1w|1y|3 months|500ms|10us|10µs|5 s|
5 min 3|5x|5 x|5mins|5sec5|1h-5|-5|+5|infinity|1e3|18446744073709551615|9223372036854775807us|
100000000000y|1.0000001s|1h 30min 15s 500ms|2hr|1msec1s|5ss|h|12:00""".replace("\n", "")
# Refused by the module on purpose; systemd takes them.
ours_only = {"@1700000000", "2024-01-01 12:00 Europe/Berlin", ".5", "+5", "infinity"}

def module_accepts(option, value):
    args = {"name": "it-st-spec", "exec": ["/bin/true"], option: value,
            "unit_dir": "/var/tmp/it-st-none", "_ansible_check_mode": True}
    with open("/var/tmp/it-st-args.json", "w") as f:
        json.dump(args, f)
    out = subprocess.run(["/root/systemd_timer.it", "/var/tmp/it-st-args.json"],
                         capture_output=True, text=True).stdout
    return not json.loads(out)["failed"]

def systemd_accepts(kind, value):
    return subprocess.run(["systemd-analyze", kind, value], capture_output=True).returncode == 0

def word(accepted):
    return "ok" if accepted else "refused"

for kind, option, values in (("calendar", "on_calendar", calendar),
                             ("timespan", "on_boot_sec", spans)):
    for v in values.split("|"):
        mine, theirs = module_accepts(option, v), systemd_accepts(kind, v)
        verdict = "same" if mine == theirs else "DIFF"
        if verdict == "DIFF" and v in ours_only and theirs:
            verdict = "ours-only"
        print(f"{verdict}\t{kind}\tmodule={word(mine)}\tsystemd={word(theirs)}\t{v}")
EOF
total=$(wc -l <"$logs/specs.txt")
diffs=$(grep -c '^DIFF' "$logs/specs.txt" || true)
ours=$(grep -c '^ours-only' "$logs/specs.txt" || true)
expect_eq "$total specs checked: module and systemd-analyze disagree on none" 0 "$diffs"
expect_eq "deliberate refusals (systemd accepts, we do not)" 5 "$ours"
grep '^DIFF' "$logs/specs.txt" | sed 's/^/        /' || true

# ---- 2. through Ansible ----------------------------------------------------------------------

echo "== a timer every 5 s"
tick_marker=/var/tmp/$prefix-tick.marker
on_host "rm -f $tick_marker"
tick_args() { # on_unit_active_sec
  json_args name="\"$prefix-tick\"" description='"etcd-ansible integration tick"' \
    exec="[\"/bin/sh\", \"-c\", \"date +%s.%N >> $tick_marker\"]" \
    on_boot_sec='"1s"' on_unit_active_sec="\"$1\"" accuracy_sec='"1s"'
}
mod create "$(tick_args 5s)"
expect_eq "create: failed" false "$(get .failed)"
expect_eq "create: changed" true "$(get .changed)"
expect_eq "create: timer enabled" true "$(get .enabled)"
expect_eq "create: timer active" active "$(get .active_state)"
expect_eq "create: timer_unit" "$prefix-tick.timer" "$(get .timer_unit)"
expect_eq "systemctl is-enabled" enabled \
  "$(on_host systemctl is-enabled $prefix-tick.timer || true)"
fired=0
for _ in $(seq 40); do
  fired=$(on_host "cat $tick_marker 2>/dev/null | wc -l")
  [ "$fired" -ge 2 ] && break
  sleep 0.5
done
expect_match "the service fired at least twice within 20 s (marker lines)" \
  '^([2-9]|[1-9][0-9]+)$' "$fired"

mod rerun "$(tick_args 5s)"
expect_eq "rerun: changed" false "$(get .changed)"
expect_match "rerun: next_elapse is ISO 8601 UTC" "$iso" "$(get .next_elapse)"
expect_match "rerun: last_trigger is ISO 8601 UTC" "$iso" "$(get .last_trigger)"
expect_eq "rerun: last_result" success "$(get .last_result)"

echo "== check mode and diff"
sum_before=$(on_host "sha256sum $unit_dir/$prefix-tick.service $unit_dir/$prefix-tick.timer")
"$hosts" ctl "${ansible_env[@]}" ansible -i "$inventory" "$host" -M library -m systemd_timer \
  -a "$(tick_args 7s)" --check --diff >"$logs/check-diff.txt" 2>&1 || true
check_out=$(cat "$logs/check-diff.txt")
expect_contains "check mode: reports CHANGED" "$host | CHANGED" "$check_out"
expect_contains "check mode --diff: removed line" "-OnUnitActiveSec=5s" "$check_out"
expect_contains "check mode --diff: added line" "+OnUnitActiveSec=7s" "$check_out"
expect_eq "check mode: unit files untouched" "$sum_before" \
  "$(on_host "sha256sum $unit_dir/$prefix-tick.service $unit_dir/$prefix-tick.timer")"
expect_contains "check mode: systemd still has 5 s" "OnUnitActiveUSec=5s" \
  "$(on_host systemctl show -P TimersMonotonic $prefix-tick.timer)"

mod change "$(tick_args 7s)" --diff
expect_eq "change: changed" true "$(get .changed)"
expect_eq "change: one file in the diff (the timer)" 1 "$(get '.diff | length')"
expect_contains "change: diff before" "OnUnitActiveSec=5s" "$(get '.diff[0].before')"
expect_contains "change: diff after" "OnUnitActiveSec=7s" "$(get '.diff[0].after')"
expect_contains "change: file on the host" "OnUnitActiveSec=7s" \
  "$(on_host cat $unit_dir/$prefix-tick.timer)"
expect_contains "change: systemd runs the new timing" "OnUnitActiveUSec=7s" \
  "$(on_host systemctl show -P TimersMonotonic $prefix-tick.timer)"
expect_eq "change: timer still active" active \
  "$(on_host systemctl is-active $prefix-tick.timer || true)"

echo "== check mode where unit_dir does not exist"
mod check-nodir "$(json_args name="\"$prefix-new\"" exec='["/bin/true"]' on_calendar='"daily"' \
  unit_dir="\"/var/tmp/$prefix-dir/units\"")" --check
expect_eq "check (no unit_dir): failed" false "$(get .failed)"
expect_eq "check (no unit_dir): changed" true "$(get .changed)"
expect_eq "check (no unit_dir): directory not created" absent \
  "$(on_host "test -e /var/tmp/$prefix-dir && echo present || echo absent")"

echo "== run_now"
mod run-ok "$(json_args name="\"$prefix-once\"" on_calendar='"daily"' run_now=true \
  exec="[\"/bin/sh\", \"-c\", \"echo ran > /var/tmp/$prefix-once.marker\"]")"
expect_eq "run_now: failed" false "$(get .failed)"
expect_eq "run_now: changed" true "$(get .changed)"
expect_eq "run_now: last_result" success "$(get .last_result)"
expect_eq "run_now: exit_status" 0 "$(get .exit_status)"
expect_match "run_now: next_elapse (daily) is ISO 8601 UTC at midnight" 'T00:00:00Z$' \
  "$(get .next_elapse)"
expect_eq "run_now: the command ran" ran "$(on_host cat /var/tmp/$prefix-once.marker)"

mod run-fail "$(json_args name="\"$prefix-fail\"" on_calendar='"*:0/15"' run_now=true \
  exec='["/bin/sh", "-c", "echo boom >&2; exit 3"]')"
expect_eq "failing run_now: failed" true "$(get .failed)"
expect_contains "failing run_now: msg names the unit and exit status" \
  "$prefix-fail.service failed (job failed, result exit-code, exit status 3)" "$(get .msg)"
expect_contains "failing run_now: msg says where to look" "journalctl -u $prefix-fail.service" \
  "$(get .msg)"
expect_eq "failing run_now: exit_status" 3 "$(get .exit_status)"
expect_eq "failing run_now: last_result" exit-code "$(get .last_result)"
expect_eq "failing run_now: changed" false "$(get .changed)"
expect_eq "failing run_now: the units it made are gone" none \
  "$(on_host "ls $unit_dir/$prefix-fail.* /etc/systemd/system/timers.target.wants/$prefix-fail.* 2>/dev/null || echo none")"

echo "== unit_dir: '..' refused, outside systemd's search path nothing left behind (issue #11)"
mod dotdot "$(json_args name="\"$prefix-dd\"" on_calendar='"daily"' exec='["/bin/true"]' \
  unit_dir='"/etc/../var/tmp/x/../../etc/systemd/system"')"
expect_eq "unit_dir with '..': failed" true "$(get .failed)"
expect_contains "unit_dir with '..': msg names the option" \
  "argument 'unit_dir': '..' is not allowed in a path" "$(get .msg)"
expect_eq "unit_dir with '..': nothing written" none \
  "$(on_host "ls /etc/$prefix-dd.* /etc/systemd/system/$prefix-dd.* 2>/dev/null || echo none")"
mod outside "$(json_args name="\"$prefix-out\"" on_calendar='"daily"' exec='["/bin/true"]' \
  unit_dir="\"/var/tmp/$prefix-dir/new/units\"")"
expect_eq "unit_dir outside systemd's search path: failed" true "$(get .failed)"
expect_eq "unit_dir outside systemd's search path: no file, no directory left" none \
  "$(on_host "ls -d /var/tmp/$prefix-dir/new /etc/systemd/system/timers.target.wants/$prefix-out.* 2>/dev/null || echo none")"

echo "== argv and environment reach the command byte for byte"
quote_args=$(jq -c -n --arg out "/var/tmp/$prefix-quote.json" --arg name "$prefix-quote" '{
  name: $name, on_calendar: "daily", run_now: true,
  exec: (["/usr/bin/python3", "-c",
          ("import json, os, sys; env = {k: os.environ.get(k) for k in \"ABC\"}; " +
           "json.dump({\"argv\": sys.argv[1:], \"env\": env}, open(sys.argv[1], \"w\"))"),
          $out] + ["two words", "100%", "$HOME", "${HOME}", "$$", ";", "a\"b\\c", "it'"'"'s",
          "tab\there", "new\nline", "", "\\", "ünï", "%n", "back\\"]),
  environment: {A: "50% \"q\" $HOME \\ end\\", B: "x\ny", C: ""}}')
mod quote "$quote_args"
expect_eq "quoting: run_now succeeded" success "$(get .last_result)"
sent=$(jq -c '{argv: .exec[4:], env: .environment}' <<<"$quote_args")
got=$(on_host cat "/var/tmp/$prefix-quote.json" | jq -c '{argv: .argv[1:], env: .env}')
expect_eq "quoting: argv and environment as given" "$sent" "$got"

echo "== a bad calendar writes nothing"
mod bad-calendar "$(json_args name="\"$prefix-bad\"" exec='["/bin/true"]' \
  on_calendar='["daily", "Mon *-*-* 25:00"]')"
expect_eq "bad on_calendar: failed" true "$(get .failed)"
expect_contains "bad on_calendar: msg names the option and value" \
  "on_calendar: 'Mon *-*-* 25:00' is not a calendar event systemd accepts" "$(get .msg)"
expect_contains "bad on_calendar: msg says why" "hour out of range" "$(get .msg)"
expect_eq "bad on_calendar: no unit file written" none \
  "$(on_host "ls $unit_dir/$prefix-bad.* 2>/dev/null || echo none")"
mod no-trigger "$(json_args name="\"$prefix-bad\"" exec='["/bin/true"]')"
expect_contains "no trigger: msg names the options" \
  "give at least one of on_calendar, on_boot_sec, on_unit_active_sec" "$(get .msg)"

echo "== enabled=false"
once_args() { json_args name="\"$prefix-once\"" on_calendar='"daily"' enabled="$1" \
  exec="[\"/bin/sh\", \"-c\", \"echo ran > /var/tmp/$prefix-once.marker\"]"; }
mod disable "$(once_args false)"
expect_eq "enabled=false: changed" true "$(get .changed)"
expect_eq "enabled=false: enabled" false "$(get .enabled)"
expect_eq "enabled=false: systemctl is-active" inactive \
  "$(on_host systemctl is-active $prefix-once.timer || true)"
mod disable-again "$(once_args false)"
expect_eq "enabled=false again: changed" false "$(get .changed)"

echo "== state=absent"
for name in tick once quote; do
  mod "absent-$name" "$(json_args name="\"$prefix-$name\"" state='"absent"')"
  expect_eq "absent $name: changed" true "$(get .changed)"
done
expect_eq "absent: no unit files left" none \
  "$(on_host "ls $unit_dir/$prefix-* 2>/dev/null || echo none")"
expect_eq "absent: timer inactive" inactive \
  "$(on_host systemctl is-active $prefix-tick.timer || true)"
expect_eq "absent: no failed unit left behind" "" \
  "$(on_host "systemctl list-units --failed --plain --no-legend '$prefix-*'")"
mod absent-again "$(json_args name="\"$prefix-tick\"" state='"absent"')"
expect_eq "absent again: changed" false "$(get .changed)"
expect_eq "absent again: failed" false "$(get .failed)"

echo "== a timer made again after state=absent starts afresh"
# A calendar timer with Persistent=true leaves a stamp of its last run; absent must clean it, or a
# re-created timer would count as having fired already.
again_args=$(json_args name="\"$prefix-again\"" on_calendar='"daily"' persistent=true \
  exec="[\"/bin/sh\", \"-c\", \"echo x >> /var/tmp/$prefix-again.marker\"]" run_now=true)
stamp=/var/lib/systemd/timers/stamp-$prefix-again.timer
mod again-1 "$again_args"
expect_eq "persistent timer: stamp file kept by systemd" present \
  "$(on_host "test -e $stamp && echo present || echo absent")"
mod again-absent "$(json_args name="\"$prefix-again\"" state='"absent"')"
expect_eq "absent: stamp file cleaned" absent \
  "$(on_host "test -e $stamp && echo present || echo absent")"
on_host "rm -f $tick_marker"
mod tick-again "$(tick_args 5s)"
expect_eq "tick made again: changed" true "$(get .changed)"
fired=0
for _ in $(seq 40); do
  fired=$(on_host "cat $tick_marker 2>/dev/null | wc -l")
  [ "$fired" -ge 1 ] && break
  sleep 0.5
done
expect_match "tick made again fires (OnBootSec= is not taken as done)" '^[1-9][0-9]*$' "$fired"
mod tick-again-absent "$(json_args name="\"$prefix-tick\"" state='"absent"')"
expect_eq "tick made again: absent" true "$(get .changed)"
