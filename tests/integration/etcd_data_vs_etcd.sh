#!/usr/bin/env bash
# etcd_data against data directories a real etcd 3.4 wrote (tests/peers/etcd/cluster.sh, one
# member with TLS), the member stopped each time:
#   - a bootstrap that elected a leader and never got a write: no user data; state=cleared moves
#     it aside to <dir>.before-force-create-<time> (whole: member/wal kept), never deletes it;
#   - after 25 puts and 5 deletes: user data, 30 key revisions, revision 31 (what etcdctl said
#     before the stop); state=cleared refuses and touches nothing; force=true moves it aside;
#   - a lease alone, no key: user data; a damaged db: treated as data;
#   - bad input names the option.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

[ -x library/etcd_data ] || { echo "FAIL: library/etcd_data is missing: run make" >&2; exit 1; }
cluster=tests/peers/etcd/cluster.sh
export ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
work=$(mktemp -d /tmp/etcd_data_vs_etcd.XXXXXX)
cleanup() {
  "$cluster" stop "$work"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end
get() { jq -r "$2" <<<"$1"; }
run_module() { # run_module ARGS_JSON → the result; never fails the script
  printf '%s' "$1" >"$work/args.json"
  library/etcd_data "$work/args.json" 2>"$work/stderr" || true
}
ctl() { ETCDCTL_API=3 etcdctl --cacert "$work/ca/ca.crt" --cert "$work/ca/client.crt" \
  --key "$work/ca/client.key" --endpoints "$("$cluster" endpoint 1)" "$@"; }
data=$work/data/1

echo "-- a bootstrap without a write"
"$cluster" start "$work" 1
"$cluster" stop "$work"
out=$(run_module '{"data_dir": "'"$data"'"}')
assert_eq "inspected: no user data, a member dir with a db, nothing changed" "false true true 0 false" \
  "$(get "$out" '[.user_data, .member_dir, .db, .key_revisions, .changed] | map(tostring) | join(" ")')"
out=$(run_module '{"data_dir": "'"$data"'", "state": "cleared", "_ansible_check_mode": true}')
assert_eq "check mode: would move it, moved nothing" "true true" \
  "$(get "$out" .changed) $([ -d "$data/member" ] && echo true || echo false)"
out=$(run_module '{"data_dir": "'"$data"'", "state": "cleared"}')
aside=$(get "$out" .moved_aside)
assert_contains "cleared: moved aside, named by the time" "$data.before-force-create-20" "$aside"
assert_eq "the data dir is gone, the aside one whole" "no yes" \
  "$(test -e "$data" && echo yes || echo no) $(test -d "$aside/member/wal" && echo yes || echo no)"
out=$(run_module '{"data_dir": "'"$data"'", "state": "cleared"}')
assert_eq "cleared again: nothing to do" "false" "$(get "$out" .changed)"

echo "-- a member with keys"
"$cluster" start "$work" 1
for i in $(seq 25); do ctl put "k$i" "v$i" >/dev/null; done
for i in $(seq 5); do ctl del "k$i" >/dev/null; done
rev=$(ctl get k10 -w json | jq -r .header.revision)
count=$(ctl get k --prefix --keys-only | grep -c .)
"$cluster" stop "$work"
out=$(run_module '{"data_dir": "'"$data"'"}')
assert_eq "inspected: user data, 30 key revisions, revision $rev ($count keys live)" "true 30 $rev" \
  "$(get "$out" '[.user_data, .key_revisions, .revision] | map(tostring) | join(" ")')"
assert_contains "the reason names the revisions" "30 key revision(s), revision $rev" "$(get "$out" .user_data_reason)"
out=$(run_module '{"data_dir": "'"$data"'", "state": "cleared"}')
assert_eq "cleared: refused, nothing moved" "true true false yes" \
  "$(get "$out" '[.failed, .refused, .changed] | map(tostring) | join(" ")') $(test -d "$data/member" && echo yes || echo no)"
assert_contains "the refusal says why" "holds user data (30 key revision(s)" "$(get "$out" .msg)"
"$cluster" restart "$work" 1
assert_eq "the member still serves its $count keys" "$count" "$(ctl get k --prefix --keys-only | grep -c .)"

echo "-- a lease alone"
"$cluster" stop "$work"
out=$(run_module '{"data_dir": "'"$data"'", "state": "cleared", "force": true, "aside_tag": "before-join"}')
assert_contains "force=true moves user data aside too (never deletes)" "$data.before-join-20" "$(get "$out" .moved_aside)"
"$cluster" start "$work" 1
ctl lease grant 600 >/dev/null
"$cluster" stop "$work"
out=$(run_module '{"data_dir": "'"$data"'"}')
assert_eq "a lease is user data" "true 0 1" "$(get "$out" '[.user_data, .key_revisions, .leases] | map(tostring) | join(" ")')"

echo "-- damage and bad input"
cp -a "$data" "$work/damaged"
dd if=/dev/zero of="$work/damaged/member/snap/db" bs=4096 count=2 conv=notrunc status=none
out=$(run_module '{"data_dir": "'"$work/damaged"'"}')
assert_eq "a db without a valid meta page counts as data" "true" "$(get "$out" .user_data)"
assert_contains "saying it cannot be read" "cannot be read" "$(get "$out" .user_data_reason)"
out=$(run_module '{"state": "inspected"}')
assert_eq "data_dir is required" "true" "$(get "$out" .failed)"
assert_contains "naming it" "data_dir" "$(get "$out" .msg)"
out=$(run_module '{"data_dir": "/", "state": "cleared"}')
assert_contains "/ is refused" "is not a member's data directory" "$(get "$out" .msg)"
out=$(run_module '{"data_dir": "'"$work/none"'", "state": "cleared"}')
assert_eq "a missing dir: nothing to clear" "false false" "$(get "$out" .failed) $(get "$out" .changed)"
echo "etcd_data_vs_etcd: all passed"
