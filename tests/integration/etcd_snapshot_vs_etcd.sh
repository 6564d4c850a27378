#!/usr/bin/env bash
# etcd_snapshot against real etcd 3.4 and 3.5 clusters (tests/peers/etcd/cluster.sh: 3 members with TLS and
# client-certificate auth on 127.0.1.1-3), checked with etcdctl: saved (and etcdctl snapshot
# status agrees), verified, restored (then a single etcd started on the restored dir serves the
# keys), failover when the first endpoint is down or dies mid-stream, and clean failures.
# SNAPSHOT_BIG_MIB (default 200, on the 3.5.16 line only) sizes the DB of the measurement; 0 skips it.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh
. tests/lib/etcd_lines.sh
# Both etcd lines, one after the other (tests/lib/etcd_lines.sh); ETCD_LINES="v3.5.16" runs one,
# TEST_ETCD_VERSION=... runs one directly.
etcd_lines "$@"

[ -x library/etcd_snapshot ] || { echo "FAIL: library/etcd_snapshot is missing: run make" >&2; exit 1; }
cluster=tests/peers/etcd/cluster.sh
export ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
cport=$ETCD_CLIENT_PORT pport=$ETCD_PEER_PORT
# The big measurement (memory and speed, not etcd's behaviour) runs once, on the default 3.5 line.
big_mib=${SNAPSHOT_BIG_MIB:-$([ "$TEST_ETCD_VERSION" = v3.5.16 ] && echo 200 || echo 0)}
work=$(mktemp -d /tmp/etcd_snapshot_vs_etcd.XXXXXX)
restored_pid=
cleanup() {
  # Never let a failure here (errexit) skip the cluster stop below.
  if [ -n "$restored_pid" ]; then
    kill "$restored_pid" 2>/dev/null || true
    wait "$restored_pid" 2>/dev/null || true
  fi
  "$cluster" stop "$work"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end
t0=$(date +%s%N)
step() { echo "-- $1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"; }
get() { jq -r "$2" <<<"$1"; }
mkdir -p "$work/out"

run_module() { # run_module ARGS_JSON → prints the result; never fails the script
  printf '%s' "$1" >"$work/args.json"
  library/etcd_snapshot "$work/args.json" 2>"$work/stderr" || true
}

args() { # args '"k": v, ...' [MEMBERS]: endpoints of MEMBERS (1 2 3) and the TLS files, these merged over
  jq -cn --arg w "$work" --arg members "${2:-1 2 3}" --arg port "$cport" '{
    endpoints: ($members | split(" ") | map("https://127.0.1.\(.):\($port)")),
    ca_cert: ($w + "/ca/ca.crt"), client_cert: ($w + "/ca/client.crt"),
    client_key: ($w + "/ca/client.key")} + {'"$1"'} | with_entries(select(.value != null))'
}

ctl() { "$cluster" etcdctl "$work" "$@"; }
# etcdutl reads snapshot files on 3.5 (etcdctl's snapshot status is deprecated there), etcdctl on 3.4.
snapshot_status() {
  if [ -x "$bin/etcdutl" ]; then "$bin/etcdutl" snapshot status "$@"; else ETCDCTL_API=3 "$bin/etcdctl" snapshot status "$@"; fi
}
restore_tool=$([ -x "$bin/etcdutl" ] && echo etcdutl || echo etcdctl)
no_temp_files() { # no_temp_files WHAT: nothing but finished files in out/
  assert_eq "$1: no temp file left in dest's directory" "" "$(ls -A "$work/out" | grep -E '\.tmp\.|restore-' || true)"
}

# put_many ENDPOINT PREFIX COUNT VALUE_BYTES: puts over one kept-alive TLS connection (thousands of
# etcdctl processes would take minutes). Values are random, so the DB does not compress.
put_many() {
  python3 - "$work" "$@" <<'EOF'
import base64, http.client, json, os, ssl, sys
work, endpoint, prefix, count, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=work + "/ca/ca.crt")
ctx.load_cert_chain(work + "/ca/client.crt", work + "/ca/client.key")
host, port = endpoint.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
for i in range(count):
    body = json.dumps({"key": base64.b64encode(f"{prefix}{i:06d}".encode()).decode(),
                       "value": base64.b64encode(os.urandom(size)).decode()})
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    if r.status != 200:
        sys.exit(f"put {i}: HTTP {r.status}: {data[:200]}")
EOF
}

step "start a 3-member TLS cluster"
"$cluster" start "$work"
ep1=$("$cluster" endpoint 1) ep2=$("$cluster" endpoint 2)

step "put 3000 keys"
put_many "$ep1" key- 3000 100
ctl put marker "restored-value" >/dev/null

step "saved"
out=$(run_module "$(args '"dest": "'"$work/out/snap.db"'"')")
assert_eq "saved succeeds, changed" "false true" "$(get "$out" '.failed') $(get "$out" '.changed')"
assert_eq "path" "$work/out/snap.db" "$(get "$out" '.path')"
assert_eq "size is the file's" "$(stat -c %s "$work/out/snap.db")" "$(get "$out" '.size')"
assert_eq "sha256 is the file's" "$(sha256sum "$work/out/snap.db" | cut -d' ' -f1)" "$(get "$out" '.sha256')"
assert_eq "size % 512 == 32 (the trailing hash etcdctl writes)" 32 $(( $(get "$out" '.size') % 512 ))
assert_eq "mode 0600" 600 "$(stat -c %a "$work/out/snap.db")"
assert_eq "from the first healthy endpoint" "$ep1" "$(get "$out" '.endpoint')"
no_temp_files "saved"
status=$(snapshot_status "$work/out/snap.db" -w json)
rev=$(get "$out" '.revision')
[ "$(get "$status" '.revision')" -ge "$rev" ] || { echo "FAIL: etcdctl revision $(get "$status" '.revision') < module revision $rev" >&2; exit 1; }
assert_pass "etcdctl snapshot status: revision $(get "$status" '.revision') >= the module's $rev"
# keys: 3000 + marker + etcd's own meta keys; compare with a snapshot etcdctl saves itself.
ETCDCTL_API=3 "$bin/etcdctl" --cacert "$work/ca/ca.crt" --cert "$work/ca/client.crt" --key "$work/ca/client.key" \
  --endpoints "$ep1" snapshot save "$work/etcdctl.db" >/dev/null 2>&1
status_ctl=$(snapshot_status "$work/etcdctl.db" -w json)
assert_eq "etcdctl snapshot status agrees (hash, revision, totalKey, totalSize)" "$status_ctl" "$status"
# 3.4 streams the same bytes twice; 3.5 commits its consistent index and term into the meta
# bucket before each snapshot (a new bbolt txid), so two snapshots of etcdctl's own differ too:
# there the status above (KV hash, revision, keys, size) is the comparison.
if [ "$TEST_ETCD_VERSION" = v3.4.23 ]; then
  assert_eq "byte for byte etcdctl's own snapshot" "$(sha256sum <"$work/etcdctl.db")" "$(sha256sum <"$work/out/snap.db")"
fi

step "saved with owner/group/mode"
out=$(run_module "$(args '"dest": "'"$work/out/snap2.db"'", "owner": "etcd", "group": "etcd", "mode": "0640"')")
assert_eq "saved with owner" "false" "$(get "$out" '.failed')"
assert_eq "owner, group, mode" "etcd etcd 640" "$(stat -c '%U %G %a' "$work/out/snap2.db")"
rm -f "$work/out/snap2.db"

step "check mode writes nothing"
out=$(run_module "$(args '"dest": "'"$work/out/check.db"'", "_ansible_check_mode": true')")
assert_eq "check mode: changed, nothing written" "false true no" \
  "$(get "$out" '.failed') $(get "$out" '.changed') $([ -e "$work/out/check.db" ] && echo yes || echo no)"

step "verified"
out=$(run_module '{"state": "verified", "src": "'"$work/out/snap.db"'"}')
assert_eq "verified ok, not changed" "false false true 4096" \
  "$(get "$out" '.failed') $(get "$out" '.changed') $(get "$out" '.hash_present') $(get "$out" '.page_size')"
assert_eq "verified sha256" "$(sha256sum "$work/out/snap.db" | cut -d' ' -f1)" "$(get "$out" '.sha256')"
out=$(run_module '{"state": "verified", "src": "'"$work/data/1/member/snap/db"'"}')
assert_eq "a live data dir's db: no trailing hash, still bbolt" "false false" \
  "$(get "$out" '.failed') $(get "$out" '.hash_present')"

step "a flipped byte: verified fails, restored refuses and touches nothing"
cp "$work/out/snap.db" "$work/bad.db"
size=$(stat -c %s "$work/bad.db")
python3 - "$work/bad.db" $(( size / 2 )) <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x01]))
EOF
out=$(run_module '{"state": "verified", "src": "'"$work/bad.db"'"}')
assert_eq "verified fails" "true" "$(get "$out" '.failed')"
assert_contains "and says why" "trailing SHA-256 does not match" "$(get "$out" '.msg')"
mkdir -p "$work/restore-target" && echo keep >"$work/restore-target/file"
restore_args() { # restore_args SRC DATA_DIR [extra json]
  jq -cn --arg src "$1" --arg dir "$2" --arg peer "https://127.0.1.5:$pport" --arg tool "$restore_tool" \
    --arg path "$bin/$restore_tool" '{state: "restored",
    src: $src, data_dir: $dir, name: "restored-1", initial_cluster: ("restored-1=" + $peer),
    initial_advertise_peer_urls: $peer, initial_cluster_token: "restored-test", ($tool): $path} + {'"${3:-}"'}'
}
before=$(ls -laR "$work/restore-target" | sha256sum)
out=$(run_module "$(restore_args "$work/bad.db" "$work/restore-target" '"force": true')")
assert_eq "restored refuses a corrupt snapshot" "true" "$(get "$out" '.failed')"
assert_contains "before touching anything" "nothing was restored or touched" "$(get "$out" '.msg')"
assert_eq "the data dir is untouched" "$before" "$(ls -laR "$work/restore-target" | sha256sum)"
assert_eq "no temp dir beside it" "" "$(ls -A "$work" | grep -E 'restore-target\..*restore' || true)"

step "restored into a fresh data dir, served by a new single-member etcd"
out=$(run_module "$(restore_args "$work/out/snap.db" "$work/restored")")
assert_eq "restored: changed" "false true" "$(get "$out" '.failed') $(get "$out" '.changed')"
assert_eq "restored with $restore_tool ($TEST_ETCD_VERSION)" "$bin/$restore_tool" "$(get "$out" '.tool')"
assert_eq "nothing moved aside" "null" "$(get "$out" '.moved_aside')"
assert_eq "data dir 0700, owned by etcd" "700 etcd" "$(stat -c '%a %U' "$work/restored")"
assert_eq "no temp dir left" "" "$(ls -A "$work" | grep -E '^\.restored\.restore' || true)"
ca=$work/ca
ETCD=$bin/etcd
"$ETCD" --name restored-1 --data-dir "$work/restored" \
  --listen-client-urls "https://127.0.1.5:$cport" --advertise-client-urls "https://127.0.1.5:$cport" \
  --listen-peer-urls "https://127.0.1.5:$pport" --initial-advertise-peer-urls "https://127.0.1.5:$pport" \
  --initial-cluster "restored-1=https://127.0.1.5:$pport" --initial-cluster-token restored-test \
  --cert-file "$ca/member-5.crt" --key-file "$ca/member-5.key" --trusted-ca-file "$ca/ca.crt" \
  --client-cert-auth --peer-cert-file "$ca/member-5.crt" --peer-key-file "$ca/member-5.key" \
  --peer-trusted-ca-file "$ca/ca.crt" --peer-client-cert-auth --logger zap --log-outputs stderr \
  </dev/null >"$work/restored.log" 2>&1 &
restored_pid=$!
restored_ctl() {
  ETCDCTL_API=3 "$bin/etcdctl" --cacert "$ca/ca.crt" --cert "$ca/client.crt" --key "$ca/client.key" \
    --endpoints "https://127.0.1.5:$cport" "$@"
}
restored_get() { restored_ctl get "$1" --print-value-only; }
wait_for 30 restored_get marker || { tail -20 "$work/restored.log" >&2; echo "FAIL: restored etcd does not serve" >&2; exit 1; }
assert_eq "the restored etcd serves the marker key" "restored-value" "$(restored_get marker)"
assert_eq "and the 3000 keys" 3000 "$(restored_ctl get key- --prefix --keys-only | grep -c key-)"
kill "$restored_pid"; wait "$restored_pid" 2>/dev/null || true; restored_pid=

step "restored over an existing data dir: refused without force, moved aside with it"
out=$(run_module "$(restore_args "$work/out/snap.db" "$work/restored")")
assert_eq "refused without force" "true" "$(get "$out" '.failed')"
assert_contains "says to set force" "force=true" "$(get "$out" '.msg')"
out=$(run_module "$(restore_args "$work/out/snap.db" "$work/restored" '"force": true')")
assert_eq "restored with force" "false true" "$(get "$out" '.failed') $(get "$out" '.changed')"
aside=$(get "$out" '.moved_aside')
assert_contains "moved aside, named by the time" "$work/restored.before-restore-20" "$aside"
[ -d "$aside/member/wal" ] && assert_pass "the old data dir is kept whole" || assert_fail "$aside has no member/wal" "(see above)"

step "failures are clear and leave nothing behind"
out=$(run_module "$(args '"state": "saved"')")
assert_eq "missing dest is named" "true|state=saved needs dest, upload or both" "$(get "$out" '.failed')|$(get "$out" '.msg')"
out=$(run_module '{"dest": "'"$work/out/x.db"'"}')
assert_eq "missing endpoints is named" "endpoints is required with state=saved" "$(get "$out" '.msg')"
out=$(run_module '{"state": "restored", "src": "'"$work/out/snap.db"'"}')
assert_eq "missing data_dir is named" "data_dir is required with state=restored" "$(get "$out" '.msg')"
out=$(run_module "$(args '"dest": "'"$work/out/x.db"'", "upload": {"bucket": "b"}')")
assert_eq "upload without a key is named (backup_vs_peers.sh tests upload)" \
  "upload.kms_key_id: required with encryption=aws-kms" "$(get "$out" '.msg')"
out=$(run_module "$(args '"dest": "'"$work/out/x.db"'", "client_cert": "'"$work/other-ca/client.crt"'", "client_key": "'"$work/other-ca/client.key"'"')")
assert_eq "a client cert from another CA fails" "true" "$(get "$out" '.failed')"
assert_contains "naming the endpoints" "$ep1" "$(get "$out" '.msg')"
echo "     (message: $(get "$out" '.msg' | cut -c1-300))"
no_temp_files "wrong client cert"
assert_eq "and no dest" "no" "$([ -e "$work/out/x.db" ] && echo yes || echo no)"

step "first endpoint down: saved from the next one"
"$cluster" kill "$work" 1
out=$(run_module "$(args '"dest": "'"$work/out/snap-failover.db"'"')")
assert_eq "saved" "false" "$(get "$out" '.failed')"
assert_eq "from endpoint 2" "$ep2" "$(get "$out" '.endpoint')"
out=$(run_module '{"state": "verified", "src": "'"$work/out/snap-failover.db"'"}')
assert_eq "which verifies" "false" "$(get "$out" '.failed')"
"$cluster" restart "$work" 1

if [ "$big_mib" -gt 0 ]; then
  step "generate a ${big_mib} MiB DB (1 MiB values)"
  g0=$(date +%s%N)
  put_many "$ep1" big- "$big_mib" 1048576
  gen_ms=$(( ($(date +%s%N) - g0) / 1000000 ))
  echo "     generation: $gen_ms ms"

  step "measure: saved of the big DB"
  printf '%s' "$(args '"dest": "'"$work/out/big.db"'"')" >"$work/big.json"
  /usr/bin/time -v library/etcd_snapshot "$work/big.json" >"$work/big.out" 2>"$work/big.time"
  out=$(cat "$work/big.out")
  assert_eq "big saved" "false" "$(get "$out" '.failed')"
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/big.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/big.time")
  echo "     MEASURE size=$(get "$out" '.size') duration_s=$(get "$out" '.duration_s') bytes_per_s=$(get "$out" '.bytes_per_s') max_rss_kb=$rss wall=$wall generation_ms=$gen_ms"
  [ "$rss" -lt 65536 ] && assert_pass "constant memory: max RSS $rss KiB for a $(get "$out" '.size') byte snapshot" \
    || assert_fail "max RSS $rss KiB" "(see above)"
  status=$(snapshot_status "$work/out/big.db" -w json)
  assert_eq "etcdctl reads the big snapshot: totalSize + 32 = size" "$(get "$out" '.size')" "$(( $(get "$status" '.totalSize') + 32 ))"

  step "a member killed mid-stream: retried on the next endpoint"
  rm -f "$work/out/big.db"
  library/etcd_snapshot "$work/big.json" >"$work/big.out" 2>"$work/stderr" &
  mod=$!
  killed=no
  for _ in $(seq 1 600); do
    tmp=$(ls "$work/out"/big.db.tmp.* 2>/dev/null | head -1 || true)
    if [ -n "$tmp" ] && [ "$(stat -c %s "$tmp" 2>/dev/null || echo 0)" -gt 10000000 ]; then
      "$cluster" kill "$work" 1; killed=yes; break
    fi
    sleep 0.02
  done
  wait "$mod" || true
  out=$(cat "$work/big.out")
  assert_eq "member 1 was killed while the stream ran" "yes" "$killed"
  assert_eq "saved anyway" "false" "$(get "$out" '.failed')"
  assert_eq "after 2 attempts, from endpoint 2" "2 $ep2" "$(get "$out" '.attempts') $(get "$out" '.endpoint')"
  assert_contains "with a warning naming the cut stream" "snapshot cut after" "$(get "$out" '.warnings')"
  echo "     (warning: $(get "$out" '.warnings[0]' | cut -c1-300))"
  out=$(run_module '{"state": "verified", "src": "'"$work/out/big.db"'"}')
  assert_eq "the retried snapshot verifies" "false" "$(get "$out" '.failed')"
  no_temp_files "mid-stream kill"
fi
step "done"
