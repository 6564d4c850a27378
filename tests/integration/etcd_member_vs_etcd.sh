#!/usr/bin/env bash
# etcd_member against real etcd 3.4 and 3.5 clusters (tests/peers/etcd/cluster.sh): 3 members with TLS and
# client-certificate auth on 127.0.1.1-3, a 4th joining on 127.0.1.4. Checked against etcdctl.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh
. tests/lib/etcd_lines.sh
# Both etcd lines, one after the other (tests/lib/etcd_lines.sh); ETCD_LINES="v3.5.16" runs one,
# TEST_ETCD_VERSION=... runs one directly.
etcd_lines "$@"

[ -x library/etcd_member ] || { echo "FAIL: library/etcd_member is missing: run make" >&2; exit 1; }
cluster=tests/peers/etcd/cluster.sh
# Free ports, so that this test never meets another cluster on 127.0.1.x.
export ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
cport=$ETCD_CLIENT_PORT pport=$ETCD_PEER_PORT
work=$(mktemp -d /tmp/etcd_member_vs_etcd.XXXXXX)
cleanup() {
  "$cluster" stop "$work"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end
t0=$(date +%s%N)
step() { echo "-- $1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"; }

# Module results through jq (fast to start); etcdctl's numeric IDs through Python, since jq 1.6
# rounds numbers above 2^53 (16810294876463959011 becomes 16810294876463958000).
get() { jq -r "$2" <<<"$1"; }

run_module() { # run_module ARGS_JSON → prints the result; never fails the script
  printf '%s' "$1" >"$work/args.json"
  library/etcd_member "$work/args.json" 2>"$work/stderr" || true
}

args() { # args '"k": v, ...' [MEMBERS]: endpoints of MEMBERS (1 2 3) and the TLS files, these merged over
  jq -cn --arg w "$work" --arg members "${2:-1 2 3}" --arg port "$cport" '{
    endpoints: ($members | split(" ") | map("https://127.0.1.\(.):\($port)")),
    ca_cert: ($w + "/ca/ca.crt"), client_cert: ($w + "/ca/client.crt"),
    client_key: ($w + "/ca/client.key")} + {'"$1"'} | with_entries(select(.value != null))'
}

etcdctl_members() { "$cluster" etcdctl "$work" member list -w json; }
# etcdctl prints IDs as JSON numbers (exact in Python); in hex they are what the module returns.
etcdctl_ids() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted(format(m["ID"], "x") for m in d["members"])))'
}
etcdctl_learner() { # etcdctl_learner HEX_ID → true/false/missing
  python3 -c '
import json, sys
d = json.load(sys.stdin)
m = [m for m in d["members"] if format(m["ID"], "x") == sys.argv[1]]
print(("true" if m[0].get("isLearner") else "false") if m else "missing")' "$1"
}

# eventually WHAT EXPECTED CMD...: etcd 3.4 serves MemberList from the answering member's own view
# (not linearizable: 3.5 added that), so a follower may show a change a moment after the leader.
eventually() {
  local what=$1 expected=$2 got deadline=$(( $(date +%s) + 5 )); shift 2
  until got=$("$@"); [ "$got" = "$expected" ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
  assert_eq "$what" "$expected" "$got"
}
learner_state() { etcdctl_members | etcdctl_learner "$1"; }
member_count() { etcdctl_members | etcdctl_ids | wc -w; }

step "start a 3-member TLS cluster"
"$cluster" start "$work"

step "query"
out=$(run_module "$(args '"name": "member-2"')")
assert_eq "query succeeds" "false false" "$(get "$out" '.failed') $(get "$out" '.changed')"
ids=$(jq -r '[.members[].id] | sort | join(" ")' <<<"$out")
assert_eq "ids are etcdctl's IDs in hex" "$(etcdctl_members | etcdctl_ids)" "$ids"
for id in $ids; do
  [[ "$id" =~ ^[0-9a-f]{1,16}$ ]] || assert_fail "id '$id' is not hex" "(see above)"
done
assert_pass "ids are hex strings (etcdctl's form: no leading zeros)"
assert_eq "3 voters" "false false false" \
  "$(jq -r '[.members[].is_learner | tostring] | join(" ")' <<<"$out")"
assert_eq "cluster_id is etcdctl's" \
  "$(etcdctl_members | python3 -c 'import json,sys; print(format(json.load(sys.stdin)["header"]["cluster_id"], "x"))')" \
  "$(get "$out" '.cluster_id')"
assert_contains "the leader is a member" "$(get "$out" '.leader')" "$ids"
assert_eq "all healthy" "true true true true" \
  "$(get "$out" '.healthy') $(get "$out" '.health[0].healthy') $(get "$out" '.health[1].healthy') $(get "$out" '.health[2].healthy')"
assert_eq "health names the member behind the endpoint" "$(get "$out" '.member_id')" "$(get "$out" '.health[1].member_id')"
assert_eq "version and db_size" "${TEST_ETCD_VERSION#v} yes" \
  "$(get "$out" '.health[0].version') $([ "$(get "$out" '.health[0].db_size')" -gt 0 ] && echo yes)"
member2=$(get "$out" '.member_id')

# The leader as etcdctl sees it: the name of the member whose ID is the leader in endpoint status.
etcdctl_leader() {
  "$cluster" etcdctl "$work" endpoint status -w json | python3 -c '
import json, sys
st = json.load(sys.stdin)
ids = {s["Status"]["header"]["member_id"]: s["Endpoint"] for s in st}
leaders = {s["Status"]["leader"] for s in st}
print(" ".join(sorted(ids.get(l, format(l, "x")) for l in leaders)))'
}
name_of_endpoint() { sed -E 's|https://127\.0\.1\.([0-9]+):.*|member-\1|' <<<"$1"; }

step "leader_moved: a follower is not the leader, nothing to do"
leader=$(name_of_endpoint "$(etcdctl_leader)")
follower=$(for i in 1 2 3; do [ "member-$i" != "$leader" ] && echo "member-$i" && break; done)
out=$(run_module "$(args '"state": "leader_moved", "name": "'"$follower"'"')")
assert_eq "follower: no change" "false false none" "$(get "$out" '.failed') $(get "$out" '.changed') $(get "$out" '.action')"
assert_contains "says who leads" "'$follower'" "$(get "$out" '.msg')"
assert_eq "the leader is unchanged (etcdctl)" "$leader" "$(name_of_endpoint "$(etcdctl_leader)")"

step "leader_moved: check mode predicts and moves nothing"
out=$(run_module "$(args '"state": "leader_moved", "name": "'"$leader"'", "_ansible_check_mode": true')")
assert_eq "check mode: would move" "false true moved" "$(get "$out" '.failed') $(get "$out" '.changed') $(get "$out" '.action')"
assert_eq "the leader is unchanged (etcdctl)" "$leader" "$(name_of_endpoint "$(etcdctl_leader)")"

step "leader_moved: the leader hands over to a caught-up voter (etcdctl sees the new leader)"
m0=$(date +%s%N)
out=$(run_module "$(args '"state": "leader_moved", "name": "'"$leader"'", "wait_timeout": 30')")
echo "     (moved in $(( ($(date +%s%N) - m0) / 1000000 )) ms)"
assert_eq "moved" "false true moved" "$(get "$out" '.failed') $(get "$out" '.changed') $(get "$out" '.action')"
new_leader=$(name_of_endpoint "$(etcdctl_leader)")
[ "$new_leader" != "$leader" ] || assert_fail "etcdctl still sees $leader as the leader" "(see above)"
assert_pass "etcdctl: the leader went from $leader to $new_leader"
assert_eq "the module's leader is etcdctl's" "$new_leader" \
  "$(jq -r --arg id "$(get "$out" '.leader')" '.members[] | select(.id == $id) | .name' <<<"$out")"
assert_eq "transferee is the new leader" "$(get "$out" '.leader')" "$(get "$out" '.transferee')"
assert_eq "previous_leader is the member asked" "$(get "$out" '.member_id')" "$(get "$out" '.previous_leader')"
out=$(run_module "$(args '"state": "leader_moved", "name": "'"$leader"'"')")
assert_eq "again: no change" "false false" "$(get "$out" '.failed') $(get "$out" '.changed')"

step "healthy: a member that is healthy and caught up"
out=$(run_module "$(args '"state": "healthy", "name": "'"$leader"'", "wait_timeout": 10')")
assert_eq "healthy" "false false true" "$(get "$out" '.failed') $(get "$out" '.changed') $(get "$out" '.healthy')"
assert_contains "says so with the indexes" "member '$leader' (" "$(get "$out" '.msg')"
lag=$(get "$out" '.lag')
[ "$lag" -le 100 ] && [ "$(get "$out" '.applied_index')" -gt 0 ] ||
  { echo "FAIL: lag $lag, applied_index $(get "$out" '.applied_index')" >&2; exit 1; }
assert_pass "lag $lag entries (applied $(get "$out" '.applied_index'), leader at $(get "$out" '.leader_raft_index'))"
out=$(run_module "$(args '"state": "healthy", "name": "'"$new_leader"'", "wait_timeout": 10')")
assert_eq "healthy on the leader itself: its own applied index is read (not 0)" "false true true" \
  "$(get "$out" '.failed') $(get "$out" '.healthy') $([ "$(get "$out" '.applied_index')" -gt 0 ] && echo true)"
bad_lag=$(run_module "$(args '"state": "healthy", "name": "no-such-member"')")
assert_contains "healthy: an unknown member fails at once" "no member named 'no-such-member'" "$(get "$bad_lag" '.msg')"

step "the fsync latency of a data dir (fsync_warn_ms 0.001: the warning path)"
out=$(run_module "$(args '"state": "query", "data_dir": "'"$work"'/data/new-member", "fsync_warn_ms": 0.001, "fsync_writes": 50')")
assert_eq "query with data_dir succeeds" "false false" "$(get "$out" '.failed') $(get "$out" '.changed')"
assert_eq "measured in the parent of the missing data dir, 50 writes" "$work/data 50" "$(get "$out" '.fsync_dir') $(get "$out" '.fsync_writes')"
assert_contains "a warning gives the figures" "the p99 is above fsync_warn_ms 0.001 ms" "$(get "$out" '.warnings')"
assert_eq "and the query still ran" "true 3" "$(get "$out" '.healthy') $(jq '.members | length' <<<"$out")"
echo "     fsync on this machine: p50 $(get "$out" '.fsync_p50_ms') ms, p99 $(get "$out" '.fsync_p99_ms') ms"
assert_eq "no test file left" "" "$(ls -A "$work/data" | grep fsync || true)"
out=$(run_module "$(args '"data_dir": "'"$work"'/data", "fsync_fail_ms": 0.001, "fsync_writes": 20, "state": "leader_moved", "name": "'"$new_leader"'"')")
assert_eq "fsync_fail_ms: failed before anything else" "true false $new_leader" \
  "$(get "$out" '.failed') $(get "$out" '.changed') $(name_of_endpoint "$(etcdctl_leader)")"
assert_contains "failure says why" "the p99 is above fsync_fail_ms 0.001 ms" "$(get "$out" '.msg')"
printf '%s' '{"data_dir": "'"$work"'/data", "fsync_writes": 20}' >"$work/args.json"
out=$(library/etcd_member "$work/args.json")
assert_eq "data_dir without endpoints: the disk only" "false $work/data" "$(get "$out" '.failed') $(get "$out" '.fsync_dir')"

new='"name": "member-4", "peer_urls": ["https://127.0.1.4:'"$pport"'"]'
step "present in check mode predicts and adds nothing"
out=$(run_module "$(args "$new"', "state": "present", "_ansible_check_mode": true')")
assert_eq "check mode: would add" "true added" "$(get "$out" '.changed') $(get "$out" '.action')"
assert_contains "predicted initial_cluster" "member-4=https://127.0.1.4:$pport" "$(get "$out" '.initial_cluster')"
assert_eq "still 3 members" "3" "$(etcdctl_members | etcdctl_ids | wc -w)"

step "present, promote=false: adds a learner and returns at once"
out=$(run_module "$(args "$new"', "state": "present", "promote": false')")
assert_eq "added" "true added true" "$(get "$out" '.changed') $(get "$out" '.action') $(get "$out" '.is_learner')"
id4=$(get "$out" '.member_id')
eventually "etcdctl shows a learner" "true" learner_state "$id4"
initial=$(get "$out" '.initial_cluster')
assert_eq "initial_cluster_state" "existing" "$(get "$out" '.initial_cluster_state')"
assert_eq "initial_cluster names all 4 members" \
  "member-1=https://127.0.1.1:$pport member-2=https://127.0.1.2:$pport member-3=https://127.0.1.3:$pport member-4=https://127.0.1.4:$pport" \
  "$(tr , '\n' <<<"$initial" | sort | xargs)"
out=$(run_module "$(args "$new"', "state": "present", "promote": false')")
assert_eq "rerun before start: no change, same initial_cluster" "false none $initial" \
  "$(get "$out" '.changed') $(get "$out" '.action') $(get "$out" '.initial_cluster')"
out=$(run_module "$(args '"state": "present", "name": "member-4", "peer_urls": ["https://127.0.1.4:'"$pport"'"], "learner": true, "promote": false')")
assert_eq "the same member" "$id4" "$(get "$out" '.member_id')"
out=$(run_module "$(args "$new"', "state": "present", "wait_timeout": 1')")
assert_contains "promote before start: bounded wait, clear message" \
  "wait_timeout: learner '(not started)' ($id4) was added but has not started within 1 s" "$(get "$out" '.msg')"
assert_eq "...and initial_cluster is still returned" "true $initial" "$(get "$out" '.failed') $(get "$out" '.initial_cluster')"

step "write 24 MiB, so that the new member has something to catch up with"
head -c 750000 /dev/urandom | base64 -w0 >"$work/value" # 1 MB: below --max-request-bytes
for i in $(seq 1 24); do "$cluster" etcdctl "$work" put "/filler/$i" <"$work/value" >/dev/null; done

step "start etcd 4 with the returned initial_cluster; present promotes it"
"$cluster" join "$work" 4 "$initial"
p0=$(date +%s%N)
out=$(run_module "$(args "$new"', "state": "present", "wait_timeout": 30')")
echo "     (started + caught up + promoted in $(( ($(date +%s%N) - p0) / 1000000 )) ms;" \
  "$(grep -c 'not ready for promotion' "$work/stderr" || true) refused promotion(s) retried)"
assert_eq "promoted" "true promoted false" "$(get "$out" '.changed') $(get "$out" '.action') $(get "$out" '.is_learner')"
eventually "etcdctl shows a voter" "false" learner_state "$id4"
out=$(run_module "$(args "$new"', "state": "present"')")
assert_eq "present again: no change" "false none" "$(get "$out" '.changed') $(get "$out" '.action')"
out=$(run_module "$(args "" "1 2 3 4")")
assert_eq "4 healthy endpoints" "true 4" "$(get "$out" '.healthy') $(jq '.members | length' <<<"$out")"

step "a second learner: queries skip it, removing it needs no quorum check"
new5='"name": "member-5", "peer_urls": ["https://127.0.1.5:'"$pport"'"]'
out=$(run_module "$(args "$new5"', "state": "present", "promote": false')")
assert_eq "member-5 added as a learner" "true added" "$(get "$out" '.changed') $(get "$out" '.action')"
id5=$(get "$out" '.member_id')
"$cluster" join "$work" 5 "$(get "$out" '.initial_cluster')"
wait_for 20 curl -sf --cacert "$work/ca/ca.crt" --cert "$work/ca/client.crt" --key "$work/ca/client.key" \
  https://127.0.1.5:$cport/health
# A learner refuses every client RPC but Status ("rpc not supported for learner"): listed first,
# the module must ask the next endpoint, and still report the learner's health.
out=$(run_module "$(args "" "5 1 2 3")")
assert_eq "query with the learner first" "false true true" \
  "$(get "$out" '.failed') $(get "$out" '.health[0].healthy') $(get "$out" '.health[0].is_learner')"
out=$(run_module "$(args '"state": "absent", "id": "'"$id5"'"')")
assert_eq "learner removed by id" "true removed" "$(get "$out" '.changed') $(get "$out" '.action')"
eventually "etcdctl: member-5 gone" "missing" learner_state "$id5"
"$cluster" kill "$work" 5

step "absent removes member 4"
out=$(run_module "$(args '"state": "absent", "name": "member-4", "_ansible_check_mode": true')")
assert_eq "check mode: would remove" "true removed 4" \
  "$(get "$out" '.changed') $(get "$out" '.action') $(etcdctl_members | etcdctl_ids | wc -w)"
r0=$(date +%s%N)
out=$(run_module "$(args '"state": "absent", "name": "member-4", "wait_timeout": 30')")
echo "     (removed in $(( ($(date +%s%N) - r0) / 1000000 )) ms)"
assert_eq "removed" "true removed $id4" "$(get "$out" '.changed') $(get "$out" '.action') $(get "$out" '.member_id')"
eventually "etcdctl: gone" "missing" learner_state "$id4"
"$cluster" kill "$work" 4
out=$(run_module "$(args '"state": "absent", "name": "member-4"')")
assert_eq "absent again: no change" "false none false" "$(get "$out" '.changed') $(get "$out" '.action') $(get "$out" '.failed')"
out=$(run_module "$(args '"state": "absent", "id": "0x123abc"')")
assert_eq "absent by an unknown id: no change" "false false" "$(get "$out" '.changed') $(get "$out" '.failed')"
dec3=$(etcdctl_members | python3 -c 'import json,sys; print([m["ID"] for m in json.load(sys.stdin)["members"] if m["name"] == "member-3"][0])')
out=$(run_module "$(args '"state": "absent", "id": "'"$dec3"'", "_ansible_check_mode": true')")
assert_eq "a decimal id is found (check mode)" "true $(printf '%x' "$dec3")" "$(get "$out" '.changed') $(get "$out" '.member_id')"

step "target_version: what an upgrade from here may do"
line=${TEST_ETCD_VERSION#v}
minor=$(cut -d. -f2 <<<"$line")
upgrade_of() { # upgrade_of TARGET → "failed upgrade"
  local o; o=$(run_module "$(args '"target_version": "'"$1"'"')")
  echo "$(get "$o" '.failed') $(get "$o" '.upgrade')"
}
out=$(run_module "$(args '"target_version": "v'"$line"'"')")
assert_eq "the same version: nothing to do" "false none" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
assert_eq "versions per member" "$line $line $line" "$(jq -r '[.versions[]] | join(" ")' <<<"$out")"
assert_eq "cluster_version from /version" "3.$minor.0" "$(get "$out" '.cluster_version')"
out=$(run_module "$(args '"target_version": "v'"$line"'", "wait": true, "wait_timeout": 10' "1 9")")
assert_eq "endpoints lacking members and naming a dead one: the listed members are probed" \
  "false none true 3 $line $line $line" \
  "$(get "$out" '.failed') $(get "$out" '.upgrade') $(get "$out" '.healthy') $(jq '.health | length' <<<"$out") $(jq -r '[.versions[]] | join(" ")' <<<"$out")"
out=$(run_module "$(args '"target_version": "v'"$line"'", "wait": true, "wait_timeout": 2' "9")")
assert_contains "no endpoint answers: the gate refuses after the wait, naming endpoints" \
  "endpoints: no endpoint answered" "$(get "$out" '.msg')"
assert_eq "the next minor is an upgrade" "false minor" "$(upgrade_of "v3.$((minor + 1)).0")"
assert_eq "another patch release is one too" "false patch" "$(upgrade_of "v3.$minor.99")"
out=$(run_module "$(args '"target_version": "v3.'"$((minor + 2))"'.0"')")
assert_eq "skipping a minor is refused" "true skips_minor" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
assert_contains "saying to go through 3.$((minor + 1)) first" \
  "upgrade to the newest v3.$((minor + 1)).x first (e.g. -e etcd_version=v3.$((minor + 1)).<patch>), then to v3.$((minor + 2)).0. Nothing was changed" "$(get "$out" '.msg')"
out=$(run_module "$(args '"target_version": "v3.'"$((minor - 1))"'.9"')")
assert_eq "an older minor is refused" "true downgrade" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
assert_contains "saying what to do instead" "restore a backup taken before the upgrade" "$(get "$out" '.msg')"

step "kill member 3: query reports it, removal of a live voter is refused"
"$cluster" kill "$work" 3
out=$(run_module "$(args '')")
assert_eq "query still succeeds" "false false" "$(get "$out" '.failed') $(get "$out" '.healthy')"
assert_eq "endpoint health" "true true false" \
  "$(get "$out" '.health[0].healthy') $(get "$out" '.health[1].healthy') $(get "$out" '.health[2].healthy')"
assert_contains "the dead endpoint's error" "Failed to connect to 127.0.1.3 port $cport" "$(get "$out" '.health[2].error')"
assert_contains "msg names it" "unhealthy: https://127.0.1.3:$cport" "$(get "$out" '.msg')"
out=$(run_module "$(args '"target_version": "v'"$line"'", "wait": true, "wait_timeout": 2' "1 2")")
assert_eq "the gate with endpoints that leave member 3 out still waits for it, and refuses" \
  "true false https://127.0.1.3:$cport" \
  "$(get "$out" '.failed') $(get "$out" '.healthy') $(jq -r '.health[] | select(.healthy | not) | .endpoint' <<<"$out")"
assert_contains "saying which URLs" "wait_timeout: 1 of 3 client URLs of the listed members still unhealthy" "$(get "$out" '.msg')"
assert_contains "a warning names it" "endpoint https://127.0.1.3:$cport is unhealthy" "$(get "$out" '.warnings')"
out=$(run_module "$(args '"wait": true, "wait_timeout": 1')")
assert_eq "wait=true fails when one stays unhealthy" \
  "true wait_timeout: 1 of 3 endpoints still unhealthy after 1 s (https://127.0.1.3:$cport)" "$(get "$out" '.failed') $(get "$out" '.msg')"
out=$(run_module "$(args '"state": "healthy", "name": "member-3", "wait_timeout": 1')")
assert_eq "healthy on the dead member fails" "true false" "$(get "$out" '.failed') $(get "$out" '.changed')"
assert_contains "naming it and why" "wait_timeout: member 'member-3' is not healthy and caught up after 1 s: 'member-3' (" "$(get "$out" '.msg')"
out=$(run_module "$(args '"state": "absent", "name": "member-2"')")
assert_eq "refused" "true false" "$(get "$out" '.failed') $(get "$out" '.changed')"
assert_contains "refusal says why" "1 healthy voting members would remain of 2, fewer than the quorum of 2; unhealthy: 'member-3'" "$(get "$out" '.msg')"
# force skips our check, but etcd's own strict reconfiguration check still refuses: the module
# passes its answer on, and the member stays.
out=$(run_module "$(args '"state": "absent", "name": "member-2", "force": true')")
assert_contains "force: etcd refuses" "etcdserver: unhealthy cluster" "$(get "$out" '.msg')"
assert_contains "force: warned" "force: removing" "$(get "$out" '.warnings')"
assert_contains "member-2 is still there" "$member2" "$(etcdctl_members | etcdctl_ids)"
out=$(run_module "$(args '"state": "absent", "name": "member-3", "_ansible_check_mode": true')")
assert_eq "removing the dead member is allowed" "false true" "$(get "$out" '.failed') $(get "$out" '.changed')"

step "no endpoint answers"
out=$(run_module "$(args '' "3 5")")
assert_eq "failed" "true" "$(get "$out" '.failed')"
assert_contains "clear message" "endpoints: no endpoint answered: https://127.0.1.3:$cport" "$(get "$out" '.msg')"
assert_contains "names every endpoint" "127.0.1.5" "$(get "$out" '.msg')"

step "TLS mistakes"
out=$(run_module "$(args '"client_cert": null, "client_key": null' "1")")
assert_contains "no client cert" "it requires a client certificate; set client_cert and client_key" "$(get "$out" '.msg')"
assert_eq "no client cert fails" "true" "$(get "$out" '.failed')"
out=$(run_module "$(args '"client_cert": "'"$work"'/other-ca/client.crt", "client_key": "'"$work"'/other-ca/client.key"' "1")")
assert_contains "client cert from another CA" "client_cert is not signed by ca_cert" "$(get "$out" '.msg')"
out=$(run_module "$(args '"ca_cert": "'"$work"'/other-ca/ca.crt"' "1")")
assert_contains "wrong ca_cert" "does not verify against ca_cert" "$(get "$out" '.msg')"

step "bad options"
bad() { # bad WHAT EXTRA NEEDLE
  local o; o=$(run_module "$(args "$2")")
  assert_eq "$1 fails" "true" "$(get "$o" '.failed')"
  assert_contains "$1 message" "$3" "$(get "$o" '.msg')"
}
bad "http endpoint" '"endpoints": ["http://127.0.1.1:'"$cport"'"]' "endpoints: 'http://127.0.1.1:$cport' is not an https:// URL"
bad "empty endpoints" '"endpoints": []' "endpoints: give at least one client URL"
bad "wait_timeout type" '"wait_timeout": "soon"' "wait_timeout"
bad "learner type" '"learner": "maybe"' "learner"
bad "state choice" '"state": "gone"' "value of state must be one of: query, present, absent, leader_moved, healthy"
bad "leader_moved without a member" '"state": "leader_moved"' "state=leader_moved needs name or id"
bad "healthy without a member" '"state": "healthy"' "state=healthy needs name or id"
bad "fsync_warn_ms not a number" '"fsync_warn_ms": "fast"' "fsync_warn_ms: 'fast' is not a number of milliseconds"
bad "target_version not a version" '"target_version": "latest"' "target_version: 'latest' is not an etcd version such as v3.5.16"
bad "max_lag negative" '"max_lag": -1' "max_lag must be 0 or more"
bad "unknown option" '"nmae": "x"' "Unsupported parameters for (etcd_member) module: nmae"
bad "cert without key" '"client_key": null' "client_cert and client_key go together"
bad "missing key file" '"client_key": "/nonexistent/k.pem"' "client_key: cannot read /nonexistent/k.pem"
bad "present without name" '"state": "present"' "name is required with state=present"
bad "present of a new member without peer_urls" '"state": "present", "name": "member-9"' "peer_urls: required to add member 'member-9'"
bad "absent without a member" '"state": "absent"' "state=absent needs name, id or peer_urls"
bad "bad id" '"state": "absent", "id": "zzz"' "id: 'zzz' is not a member ID"
bad "peer_urls of another member" '"state": "present", "name": "member-9", "peer_urls": ["https://127.0.1.1:'"$pport"'"]' "peer_urls: already used by member 'member-1'"
bad "name with other peer_urls" '"state": "present", "name": "member-1", "peer_urls": ["https://127.0.1.9:'"$pport"'"]' "peer_urls: member 'member-1'"

if [ "$TEST_ETCD_VERSION" = v3.4.23 ]; then
  step "an upgrade that stopped half-way: member-3 on 3.5.16, the others on 3.4.23"
  tests/peers/etcd/mirror.sh v3.5.16 >/dev/null
  "$cluster" kill "$work" 3
  ETCD=$top/build/mirror/etcd/v3.5.16/bin/etcd "$cluster" restart "$work" 3
  out=$(run_module "$(args '"target_version": "v3.5.16", "wait": true, "wait_timeout": 30')")
  assert_eq "versions per member" "3.4.23 3.4.23 3.5.16" \
    "$(jq -r '[.versions["member-1", "member-2", "member-3"]] | join(" ")' <<<"$out")"
  assert_eq "finishing it to 3.5.16 is allowed" "false resume" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
  assert_eq "the cluster version stays 3.4 until every member runs 3.5" "3.4.0" "$(get "$out" '.cluster_version')"
  out=$(run_module "$(args '"target_version": "v3.5.17"')")
  assert_eq "a third version is refused (mixed)" "true mixed" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
  assert_contains "naming who runs what" "3.5.16 on member-3" "$(get "$out" '.msg')"
  assert_contains "both versions" "the members run different versions (3.4.23 on member-" "$(get "$out" '.msg')"
  out=$(run_module "$(args '"target_version": "v3.4.23"')")
  assert_eq "going back to 3.4.23 is refused" "true downgrade" "$(get "$out" '.failed') $(get "$out" '.upgrade')"
  "$cluster" kill "$work" 2
  out=$(run_module "$(args '"target_version": "v3.5.16"')")
  assert_eq "a member down: refused" "true" "$(get "$out" '.failed')"
  assert_contains "naming it" "the version of member 'member-2'" "$(get "$out" '.msg')"
  assert_contains "and what to do" "an upgrade starts only when every member answers" "$(get "$out" '.msg')"
  out=$(run_module "$(args '"target_version": "v3.5.16", "wait": true, "wait_timeout": 2')")
  assert_contains "with wait: the health gate says to bring it back" "(https://127.0.1.2:$cport); an upgrade starts only on a healthy cluster: bring those members back" "$(get "$out" '.msg')"
  "$cluster" restart "$work" 2
fi

step "memory of a query"
printf '%s' "$(args '')" >"$work/args.json"
/usr/bin/time -v library/etcd_member "$work/args.json" >/dev/null 2>"$work/time.txt" || true
echo "     max RSS of a query: $(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.txt") KiB; binary $(stat -L -c %s library/etcd_member) bytes"
step "etcd_member_vs_etcd: all passed"
