#!/usr/bin/env bash
# The backup modules against real peers: kms_s3_backup and etcd_snapshot's `upload` (the pipeline
# of module_utils/backup.c: gzip, AWS Encryption SDK message, S3 multipart) against the AWS peer
# (tests/peers/aws: S3 + KMS with strict SigV4 and a fault API), a real 3-member TLS etcd 3.4
# (tests/peers/etcd/cluster.sh) and the AWS Encryption SDK for JavaScript (tests/peers/esdk), which
# must decrypt every object we write. The AWS CLI (/usr/bin/aws) is the independent S3 client.
#
# Cases: a CA tree backed up when it changed and restored with its modes; raw-aes round trip of a
# multipart object, decrypted by the JS SDK's raw AES keyring; an etcd snapshot uploaded with
# aws-kms, decrypted by the JS SDK's KMS keyring; S3/KMS faults (CompleteMultipartUpload retried on
# 200-with-Error and 5xx, bounded); a full local disk under dest (the S3 object still lands, the
# local failure is a warning and a /fail ping); a member killed mid-stream;
# retention; tampered and truncated objects; only_on_leader; bad options.
# BACKUP_BIG_MIB (default 64) sizes the etcd DB of the mid-stream kill and the measurement.
# KEEP=1 keeps the work directory (peer log, module stderr).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

for m in kms_s3_backup etcd_snapshot; do
  [ -x "library/$m" ] || { echo "FAIL: library/$m is missing: run make" >&2; exit 1; }
done
# Only what the test gives: no profile, no IMDS, no CA bundle of this machine.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=
unset AWS_CA_BUNDLE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_KMS AWS_PROFILE
AWS=/usr/bin/aws
cluster=tests/peers/etcd/cluster.sh
esdk=tests/peers/esdk/esdk.js
big_mib=${BACKUP_BIG_MIB:-64}
export ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
work=$(mktemp -d /tmp/backup_vs_peers.XXXXXX)
hc_pid= mod_pid= etcd_start= tiny_mounted=0
cleanup() {
  local status=$?
  [ "$tiny_mounted" = 1 ] && umount "$work/tiny" 2>/dev/null
  # Never let a failure here (errexit) skip the stops below.
  if [ -n "$mod_pid" ]; then kill "$mod_pid" 2>/dev/null || true; wait "$mod_pid" 2>/dev/null || true; fi
  if [ -n "$hc_pid" ]; then kill "$hc_pid" 2>/dev/null || true; wait "$hc_pid" 2>/dev/null || true; fi
  if [ -n "$etcd_start" ]; then wait "$etcd_start" 2>/dev/null || true; fi
  # SIGKILL: the data is thrown away, and a graceful stop hands leadership over first (seconds).
  # Side by side: each waits until its process is gone.
  local stops=() i
  for i in 1 2 3; do "$cluster" kill "$work/etcd" "$i" & stops+=($!); done
  tests/peers/aws/peer.sh stop "$work/peer" & stops+=($!)
  wait "${stops[@]}" || true
  if [ "$status" != 0 ]; then
    echo "--- last module stderr:"; tail -5 "$work/stderr" 2>/dev/null || true
    echo "--- peer log:"; tail -5 "$work/peer/peer.log" 2>/dev/null || true
    echo "rerun: KEEP=1 bash tests/integration/backup_vs_peers.sh"
  fi
  if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end
t0=$(date +%s%N)
step() { echo "-- $1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"; }
get() { jq -r "$2" <<<"$1"; }
fail() { assert_fail "${FUNCNAME[1]:-main}:${BASH_LINENO[0]}" "$*"; }
mkdir -p "$work/out" "$work/files"

step "start the AWS peer, the healthcheck receiver and a 3-member TLS etcd cluster"
eval "$(tests/peers/aws/peer.sh start "$work/peer")"
peer=$AWS_PEER_URL
"$cluster" start "$work/etcd" &
etcd_start=$!
# A healthchecks.io stand-in: 200 to everything, one line per request: METHOD PATH BODY.
python3 - "$work/hc.port" "$work/hc.log" <<'EOF' &
import http.server, os, sys
log = open(sys.argv[2], "a", buffering=1)
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace").replace("\n", " ") if n else ""
        log.write(f"{self.command} {self.path} {body}\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"OK")
    do_GET = do_POST = do_HEAD = answer
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
EOF
hc_pid=$!
wait_for 10 test -s "$work/hc.port" || fail "the healthcheck receiver did not start"
hc="http://127.0.0.1:$(cat "$work/hc.port")"
s3() { "$AWS" --endpoint-url "$peer" "$@"; }
s3 s3api create-bucket --bucket backups >/dev/null
kms_arn=$(s3 kms create-key --description "backup test" --query KeyMetadata.Arn --output text)
s3 kms create-alias --alias-name alias/etcd-backup-test --target-key-id "$kms_arn"
wait "$etcd_start" || fail "etcd cluster did not start (logs in $work/etcd/logs)"
etcd_start=
ep1=$("$cluster" endpoint 1)

# ---- helpers --------------------------------------------------------------------------------

run() { # run MODULE ARGS_JSON: the module's result on stdout, stderr appended to $work/stderr
  printf '%s' "$2" >"$work/args.json"
  "library/$1" "$work/args.json" 2>>"$work/stderr" || true
}
# The options every kms_s3_backup call shares, these merged over (jq object body).
bk_args() {
  jq -cn --arg peer "$peer" --arg kms "$kms_arn" '{bucket: "backups", endpoint_url: $peer,
    kms_endpoint_url: $peer, region: "us-east-1", kms_key_id: $kms} + {'"$1"'}'
}
bk() { run kms_s3_backup "$(bk_args "$1")"; }
# etcd_snapshot options: endpoints of MEMBERS (default "1 2 3") and the TLS files, merged over.
snap_args() {
  jq -cn --arg w "$work/etcd" --arg members "${2:-1 2 3}" --arg port "$ETCD_CLIENT_PORT" '{
    endpoints: ($members | split(" ") | map("https://127.0.1.\(.):\($port)")),
    ca_cert: ($w + "/ca/ca.crt"), client_cert: ($w + "/ca/client.crt"),
    client_key: ($w + "/ca/client.key")} + {'"$1"'}'
}
# The `upload` option (jq object body merged over the peer's endpoints and the KMS key).
upload_json() {
  jq -cn --arg peer "$peer" --arg kms "$kms_arn" '{bucket: "backups", endpoint_url: $peer,
    kms_endpoint_url: $peer, region: "us-east-1", kms_key_id: $kms} + {'"$1"'}'
}
stats() { curl -sf "$peer/_peer/stats"; }
op_count() { jq -r --arg op "$2" '.ops[$op] // 0' <<<"$1"; } # op_count STATS OP
faults() { curl -sf -X POST -d "$1" "$peer/_peer/faults" >/dev/null; }
no_faults() { curl -sf -X DELETE "$peer/_peer/faults" >/dev/null; }
keys_under() { # keys_under PREFIX: the object keys, one a line, by the AWS CLI
  s3 s3api list-objects-v2 --bucket backups --prefix "$1" --query 'Contents[].Key' --output json |
    jq -r '.[]?'
}
uploads_left() { # multipart uploads not completed nor aborted, by the AWS CLI
  s3 s3api list-multipart-uploads --bucket backups --output json | jq -s '.[0].Uploads // [] | length'
}
download() { s3 s3 cp --only-show-errors "s3://backups/$1" "$2"; }
upload() { s3 s3 cp --only-show-errors "$1" "s3://backups/$2"; }
exists() { [ -e "$1" ] && echo yes || echo no; }
# put_many ENDPOINT PREFIX COUNT VALUE_BYTES: puts over one kept-alive TLS connection. Random
# values: the DB does not compress, so the object is as big as the snapshot.
put_many() {
  python3 - "$work/etcd" "$@" <<'EOF'
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
# find_leader: sets leader (the member etcd says leads), follower and other (the two others).
find_leader() {
  local i st
  leader=
  for i in 1 2 3; do
    st=$(curl -sf --cacert "$work/etcd/ca/ca.crt" --cert "$work/etcd/ca/client.crt" \
      --key "$work/etcd/ca/client.key" -X POST -d '{}' "$("$cluster" endpoint $i)/v3/maintenance/status")
    [ "$(get "$st" .leader)" = "$(get "$st" .header.member_id)" ] && leader=$i
  done
  [ -n "$leader" ] || fail "no leader found"
  follower=$(( leader % 3 + 1 ))
  other=$(( follower % 3 + 1 ))
}
# Keys carry the time to the second: a second backup of the same kind and cluster in the same
# second would have the same key.
next_second() { local s; s=$(date +%s); while [ "$(date +%s)" = "$s" ]; do sleep 0.05; done; }

# ---- 1. a CA tree, if_changed, restored with its modes --------------------------------------

step "1. kms_s3_backup present of a CA tree (exclude db, if_changed), fetched back"
ca=$work/ca
mkdir -p "$ca/config" "$ca/certs" "$ca/secrets" "$ca/db" "$ca/templates/x509"
echo '{"address": ":9000", "dnsNames": ["ca.local"]}' >"$ca/config/ca.json"
head -c 700 /dev/urandom | base64 >"$ca/certs/root_ca.crt"
head -c 400 /dev/urandom | base64 >"$ca/secrets/root_ca_key"
head -c 300 /dev/urandom | base64 >"$ca/secrets/intermediate_ca_key"
echo '{"subject": {{ toJson .Subject }}}' >"$ca/templates/x509/leaf.tpl"
echo "db-1" >"$ca/db/000001.vlog"
# What a live database dir may hold: exclude must mean "never read", not "read, then dropped".
ln -s 000001.vlog "$ca/db/current"
mkfifo "$ca/db/fifo"
chmod 0400 "$ca/secrets/root_ca_key" "$ca/secrets/intermediate_ca_key"
chmod 0700 "$ca/secrets"
chmod 0750 "$ca/templates"
ca_opts='"state": "present", "src": "'"$ca"'", "exclude": ["db"], "kind": "ca", "cluster": "t1", "if_changed": true'
before=$(stats)
out=$(bk "$ca_opts"', "healthcheck_url": "'"$hc/ca"'"')
assert_eq "first run uploads: changed, uploaded" "false true true" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .uploaded)"
key1=$(get "$out" .key)
assert_contains "the key follows retention.h's layout" "ca/t1/$(date -u +%Y/%m)/ca-t1-" "$key1"
assert_eq "context: cluster, kind, content_sha256" "t1 ca $(get "$out" .content_sha256)" \
  "$(get "$out" '.context | "\(.cluster) \(.kind) \(.content_sha256)"')"
assert_eq "healthcheck: /start then the success ping" "GET /ca/start|GET /ca" \
  "$(cut -d' ' -f1,2 "$work/hc.log" | paste -sd'|')"
out=$(bk "$ca_opts")
assert_eq "second run: changed=false, not uploaded, same key" "false false false $key1" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .uploaded) $(get "$out" .key)"
echo "db-2" >>"$ca/db/000001.vlog"; echo "db-3" >"$ca/db/000002.vlog"
out=$(bk "$ca_opts")
assert_eq "a change in the excluded db/: still unchanged" "false false" \
  "$(get "$out" .failed) $(get "$out" .changed)"
touch -d '2001-01-01' "$ca/config/ca.json"
out=$(bk "$ca_opts")
assert_eq "a new mtime alone: still unchanged" "false false" "$(get "$out" .failed) $(get "$out" .changed)"
next_second
echo '{"address": ":9443", "dnsNames": ["ca.local"]}' >"$ca/config/ca.json"
out=$(bk "$ca_opts")
assert_eq "a change in config/: uploaded" "false true true" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .uploaded)"
key2=$(get "$out" .key)
after=$(stats)
assert_eq "exactly two PutObject (no multipart) for the two uploads" "2 0" \
  "$(( $(op_count "$after" PutObject) - $(op_count "$before" PutObject) )) $(( $(op_count "$after" CreateMultipartUpload) - $(op_count "$before" CreateMultipartUpload) ))"
assert_eq "the AWS CLI lists exactly these two objects" "$(printf '%s\n%s' "$key1" "$key2" | sort)" \
  "$(keys_under ca/t1/ | sort)"
out=$(bk '"state": "drilled", "kind": "ca", "cluster": "t1", "root": "'"$ca/certs/root_ca.crt"'", "scratch_dir": "'"$work/cascratch"'"')
assert_contains "CA drill: the newest backup is checked, and a tree without a real root fails it" \
  "CA restore drill failed: the backup has no readable root certificate" "$(get "$out" .msg)"
assert_eq "CA drill: it was the newest backup, and its scratch is gone" "$key2 " "$(get "$out" .key) $(ls -A "$work/cascratch")"
out=$(bk '"state": "drilled", "kind": "ca", "cluster": "t1"')
assert_contains "CA drill: root is required" "root: required with state=drilled" "$(get "$out" .msg)"
mkdir -p "$work/restore" && echo "old" >"$work/restore/old-file"
out=$(bk '"state": "fetched", "kind": "ca", "cluster": "t1", "dest": "'"$work/restore"'"')
assert_eq "fetched the newest: changed, key" "false true $key2" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .key)"
aside=$(get "$out" .moved_aside)
assert_contains "the existing dest moved aside" "$work/restore.before-restore-20" "$aside"
assert_eq "the old dest is kept whole" "old" "$(cat "$aside/old-file")"
diff -r -x db "$ca" "$work/restore" && assert_pass "diff -r: the restored tree is the source (without db/)" ||
  fail "the restored tree differs from the source"
assert_eq "db/ is not in the backup" "no" "$(exists "$work/restore/db")"
tree_modes() { (cd "$1" && find . -path ./db -prune -o -printf '%m %U:%G %y %s %p\n' | sort); }
assert_eq "modes, owners, types, sizes (0400 keys, 0700 secrets/, 0750 templates/)" \
  "$(tree_modes "$ca")" "$(tree_modes "$work/restore")"
assert_eq "no temp dir left beside dest" "" "$(ls -A "$work" | grep -E '^restore\.restore-' || true)"

# ---- 2. raw-aes, multipart, decrypted by the JS SDK ---------------------------------------

step "2. raw-aes round trip of a 30 MiB file (multipart), decrypted by the JS SDK"
head -c 32 /dev/urandom | base64 >"$work/raw.key.b64"
chmod 0600 "$work/raw.key.b64"
base64 -d "$work/raw.key.b64" >"$work/raw.key"
# Half random, half text: gzip has something to do and the object is still several parts.
{ head -c $((15 * 1024 * 1024)) /dev/urandom; { yes "etcd-ansible backup test line" | head -c $((15 * 1024 * 1024)) || true; }; } \
  >"$work/files/big.bin"
raw_opts='"encryption": "raw-aes", "key_file": "'"$work/raw.key.b64"'", "cluster": "t2"'
out=$(bk "$raw_opts"', "src": "'"$work/files/big.bin"'", "if_changed": true')
assert_eq "uploaded" "false true" "$(get "$out" .failed) $(get "$out" .uploaded)"
raw_key=$(get "$out" .key)
parts=$(get "$out" .parts)
[ "$parts" -gt 1 ] && assert_pass "multipart: $parts parts" || fail "expected parts > 1, got $parts"
assert_eq "sha256 is the file's, and recorded in the context" \
  "$(sha256sum <"$work/files/big.bin" | cut -d' ' -f1) $(sha256sum <"$work/files/big.bin" | cut -d' ' -f1)" \
  "$(get "$out" .sha256) $(get "$out" .context.sha256)"
download "$raw_key" "$work/raw.kms"
assert_eq "stored_size is the object's" "$(stat -c %s "$work/raw.kms")" "$(get "$out" .stored_size)"
node "$esdk" decrypt --raw-aes-key-file "$work/raw.key" --key-namespace etcd-ansible \
  --key-name etcd-ansible-backup --context cluster=t2 --context kind=file <"$work/raw.kms" \
  2>"$work/esdk.err" | gunzip >"$work/raw.esdk" || { cat "$work/esdk.err" >&2; fail "the JS SDK did not decrypt"; }
cmp "$work/raw.esdk" "$work/files/big.bin" && assert_pass "the JS SDK (raw AES keyring) decrypts it; gunzip gives the source" ||
  fail "the JS SDK's plaintext differs"
rm -f "$work/raw.esdk" "$work/raw.kms"
printf '%s' "$(bk_args "$raw_opts"', "state": "fetched", "key": "'"$raw_key"'", "dest": "'"$work/out/raw.bin"'"')" >"$work/fetch.args"
/usr/bin/time -v library/kms_s3_backup "$work/fetch.args" >"$work/fetch.out" 2>"$work/fetch.time"
out=$(cat "$work/fetch.out")
assert_eq "fetched" "false true" "$(get "$out" .failed) $(get "$out" .changed)"
cmp "$work/out/raw.bin" "$work/files/big.bin" && assert_pass "fetched file is the source" || fail "fetched file differs"
fetch_rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/fetch.time")
fetch_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/fetch.time")
fetch_cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$work/fetch.time")
echo "     MEASURE fetched size=$(get "$out" .size) stored=$(get "$out" .stored_size) wall=$fetch_wall cpu_s=$fetch_cpu max_rss_kb=$fetch_rss"
head -c 32 /dev/urandom | base64 >"$work/wrong.key.b64"
out=$(bk '"encryption": "raw-aes", "key_file": "'"$work/wrong.key.b64"'", "cluster": "t2", "state": "fetched", "key": "'"$raw_key"'", "dest": "'"$work/out/wrong.bin"'"')
assert_eq "a wrong key file: fetch fails" "true" "$(get "$out" .failed)"
echo "     (message: $(get "$out" .msg | cut -c1-300))"
assert_contains "naming the object" "$raw_key" "$(get "$out" .msg)"
assert_eq "dest does not exist, no temp file" "no|" "$(exists "$work/out/wrong.bin")|$(ls -A "$work/out" | grep -v '^raw.bin$' || true)"
rm -f "$work/out/raw.bin"

# ---- 3. etcd_snapshot upload with aws-kms, decrypted by the JS SDK --------------------------

step "3. etcd_snapshot state=saved with upload (aws-kms), decrypted by the JS SDK's KMS keyring"
put_many "$ep1" small- 6 1048576
"$cluster" etcdctl "$work/etcd" put marker backup-marker >/dev/null
secret=$AWS_SECRET_ACCESS_KEY
up=$(upload_json '"cluster": "t3", "access_key": "'"$AWS_ACCESS_KEY_ID"'", "secret_key": "'"$secret"'", "context": {"env": "test"}')
printf '%s' "$(snap_args '"dest": "'"$work/out/snap.db"'", "upload": '"$up")" >"$work/args.json"
# Credentials only from the options: the environment has none.
out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY library/etcd_snapshot "$work/args.json" 2>>"$work/stderr" || true)
assert_eq "saved and uploaded" "false true" "$(get "$out" .failed) $(get "$out" .changed)"
snap_key=$(get "$out" .s3_key)
assert_contains "s3_key follows retention.h's layout" "t3/$(date -u +%Y/%m)/etcd-t3-" "$snap_key"
assert_contains "s3_key ends like it" "-snapshot.db.kms" "$snap_key"
assert_eq "s3_bucket, parts > 0, revision = the context's" "backups true $(get "$out" .revision)" \
  "$(get "$out" .s3_bucket) $([ "$(get "$out" .parts)" -gt 0 ] && echo true) $(get "$out" .context.revision)"
assert_eq "the secret key is nowhere in the module's stdout" "0" "$(grep -cF "$secret" <<<"$out" || true)"
assert_eq "nor in its stderr" "0" "$(grep -cF "$secret" "$work/stderr" || true)"
download "$snap_key" "$work/snap.kms"
node "$esdk" decrypt --kms-key-arn "$kms_arn" --kms-endpoint "$peer" --context cluster=t3 \
  --context kind=etcd-snapshot --context env=test --context "revision=$(get "$out" .revision)" \
  <"$work/snap.kms" 2>"$work/esdk.err" | gunzip >"$work/snap.esdk" ||
  { cat "$work/esdk.err" >&2; fail "the JS SDK did not decrypt"; }
cmp "$work/snap.esdk" "$work/out/snap.db" && assert_pass "the JS SDK (KMS keyring) decrypts it; gunzip gives dest byte for byte" ||
  fail "the JS SDK's plaintext differs from dest"
status=$(ETCDCTL_API=3 etcdctl snapshot status "$work/snap.esdk" -w json)
assert_eq "etcdctl snapshot status on it: totalSize + 32 = size" "$(get "$out" .size)" "$(( $(get "$status" .totalSize) + 32 ))"

step "3b. etcd_snapshot state=drilled: the newest t3 backup restored into scratch and served by a throwaway etcd"
drill_args() { # drill_args EXTRA_MEMBERS: a drill of cluster t3 with metrics and pings
  jq -cn --arg up "$(upload_json '"cluster": "t3", "healthcheck_url": "'"$hc/drill"'"')" --arg w "$work" '{
    state: "drilled", backup: ($up | fromjson), scratch_dir: ($w + "/scratch"),
    etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl", start_timeout: 60,
    metrics: {dir: ($w + "/metrics"), cluster: "t3", node: "n1"}} + {'"$1"'}'
}
# No write since the backup: the live cluster's key count is the snapshot's.
snap_out=$out
want_keys=$(get "$("$cluster" etcdctl "$work/etcd" get "" --prefix --keys-only -w json)" .count)
: >"$work/hc.log"
out=$(run etcd_snapshot "$(drill_args '')")
assert_eq "the drill passes on the newest backup" "false false $snap_key" "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .key)"
assert_eq "it counts the keys the snapshot holds" "$want_keys" "$(get "$out" .keys)"
assert_eq "its revision is the one in the encryption context (or later)" "true" \
  "$([ "$(get "$out" .revision)" -ge "$(get "$out" .backup_revision)" ] && echo true)"
assert_eq "nothing is left in scratch_dir" "" "$(ls -A "$work/scratch")"
assert_eq "no throwaway etcd is left running" "" "$(pgrep -f -- '--name=drill' || true)"
assert_eq "pings: start, then success" "GET /drill/start|GET /drill" "$(cut -d' ' -f1,2 "$work/hc.log" | paste -sd'|')"
prom=$work/metrics/etcd-ansible-drill-t3-etcd.prom
assert_contains "the drill's metrics: key count" "etcd_ansible_drill_keys{cluster=\"t3\",kind=\"etcd\",node=\"n1\"} $want_keys" "$(cat "$prom")"
assert_contains "the drill's metrics: success" 'etcd_ansible_drill_last_attempt_success{cluster="t3",kind="etcd",node="n1"} 1' "$(cat "$prom")"
assert_eq "promtool check metrics (drill)" "" "$(promtool check metrics <"$prom" 2>&1)"
echo "     MEASURE drill duration_s=$(get "$out" .duration_s) peak_rss=$(get "$out" .peak_rss_bytes) snapshot_size=$(get "$out" .snapshot_size)"
cp "$prom" "$work/drill-ok.prom"

step "3c. a drill over a bit-flipped backup fails, pings /fail, leaves nothing behind"
cp "$work/snap.kms" "$work/flipped.kms"
size=$(stat -c %s "$work/flipped.kms")
# XOR, not a fixed byte: writing 0x5a over a byte that already is 0x5a (1 in 256 snapshots)
# flipped nothing and the drill rightly passed.
python3 - "$work/flipped.kms" $(( size / 2 )) <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x01]))
EOF
cmp -s "$work/snap.kms" "$work/flipped.kms" && { echo "FAIL: the flipped copy equals the backup" >&2; exit 1; }
upload "$work/flipped.kms" "t3/2099/01/etcd-t3-2099-01-01_00-00-00-snapshot.db.kms"
mkdir -p "$work/scratch/etcd-drill-t3-OLDONE"; echo 999999999 >"$work/scratch/etcd-drill-t3-OLDONE/.etcd-ansible-drill"
: >"$work/hc.log"
out=$(run etcd_snapshot "$(drill_args '')")
assert_eq "the flipped backup fails the drill" "true" "$(get "$out" .failed)"
assert_contains "the failure names the object" "t3/2099/01/etcd-t3-2099-01-01_00-00-00-snapshot.db.kms" "$(get "$out" .msg)"
assert_eq "no scratch data left (and the stale one of a dead drill is gone)" "" "$(ls -A "$work/scratch")"
assert_eq "no throwaway etcd running" "" "$(pgrep -f -- '--name=drill' || true)"
assert_contains "the /fail ping carries the reason" "POST /drill/fail s3://backups/t3/2099/01/etcd-t3-2099-01-01_00-00-00-snapshot.db.kms: frame" "$(cat "$work/hc.log")"
assert_contains "metrics: the attempt failed" 'etcd_ansible_drill_last_attempt_success{cluster="t3",kind="etcd",node="n1"} 0' "$(cat "$prom")"
assert_eq "metrics: the last success is kept" "$(grep '^etcd_ansible_drill_last_success' "$work/drill-ok.prom")" "$(grep '^etcd_ansible_drill_last_success' "$prom")"
assert_eq "promtool check metrics (failed drill)" "" "$(promtool check metrics <"$prom" 2>&1)"
s3 s3 rm --only-show-errors "s3://backups/t3/2099/01/etcd-t3-2099-01-01_00-00-00-snapshot.db.kms"
# The room check: a 1 MiB file system cannot hold 2x the snapshot; refused before any fetch.
mkdir -p "$work/tiny"
if mount -t tmpfs -o size=1m tmpfs "$work/tiny" 2>/dev/null; then
  before=$(stats)
  out=$(run etcd_snapshot "$(drill_args '"scratch_dir": "'"$work/tiny"'"')")
  after=$(stats)
  umount "$work/tiny"
  assert_contains "no room for 2x the snapshot: refused" "not enough room for a restore drill" "$(get "$out" .msg)"
  assert_eq "refused before anything was fetched" "0" "$(( $(op_count "$after" GetObject) - $(op_count "$before" GetObject) ))"
else
  echo "skip the room check: cannot mount a tmpfs here"
fi
out=$(run etcd_snapshot "$(drill_args '"scratch_dir": "/proc/sys"')")
assert_eq "an unusable scratch_dir fails cleanly" "true" "$(get "$out" .failed)"
out=$(run etcd_snapshot "$(drill_args '"backup": {"bucket": "backups"}, "start_timeout": 0')")
assert_contains "a bad start_timeout is named" "start_timeout" "$(get "$out" .msg)"
out=$snap_out
[ "$(get "$status" .revision)" -ge "$(get "$out" .revision)" ] && assert_pass "its revision >= the module's" ||
  fail "etcdctl revision $(get "$status" .revision) < $(get "$out" .revision)"
rm -f "$work/snap.kms" "$work/snap.esdk" "$work/out/snap.db"

# ---- 4. faults ------------------------------------------------------------------------------

step "4a. UploadPart: 503 twice, then a reset mid-body on another part → completed"
no_faults
# UploadPart requests in order: 503, 503, (passes), reset after 1 MiB of the body, (passes)...
faults '{"rules": [{"op": "UploadPart", "status": 503, "count": 2},
  {"op": "UploadPart", "delay_ms": 1, "count": 1},
  {"op": "UploadPart", "reset": true, "after_bytes": 1048576, "count": 1}]}'
before=$(stats)
out=$(bk '"cluster": "t4", "src": "'"$work/files/big.bin"'", "key": "files/t4/faults-1.kms", "part_size_mb": 5, "if_changed": true')
after=$(stats)
assert_eq "uploaded despite the faults" "false true" "$(get "$out" .failed) $(get "$out" .uploaded)"
assert_eq "the peer saw them: 2 x 503 and 1 reset on UploadPart" "2 1" \
  "$(jq -r '.by_op.UploadPart["503"] // 0' <<<"$after") $(jq -r '.by_op.UploadPart.reset // 0' <<<"$after")"
assert_eq "every rule used" "2 1 1" "$(curl -sf "$peer/_peer/faults" | jq -r '[.rules[].used] | join(" ")')"
no_faults
out=$(bk '"cluster": "t4", "state": "fetched", "key": "files/t4/faults-1.kms", "dest": "'"$work/out/faults.bin"'"')
assert_eq "it fetches (every tag, the recorded sha256)" "false" "$(get "$out" .failed)"
cmp "$work/out/faults.bin" "$work/files/big.bin" && assert_pass "and is the source" || fail "fetched file differs"
rm -f "$work/out/faults.bin"

step "4b. CompleteMultipartUpload answers 200 with an <Error>, then 500: retried, one object"
faults '{"rules": [{"op": "CompleteMultipartUpload", "error_in_200": true, "count": 1},
  {"op": "CompleteMultipartUpload", "status": 500, "count": 1}]}'
before=$(stats)
out=$(bk '"cluster": "t4", "src": "'"$work/files/big.bin"'", "key": "files/t4/faults-2.kms", "part_size_mb": 5')
after=$(stats)
no_faults
assert_eq "uploaded despite both (AWS SDKs retry CompleteMultipartUpload)" "false true" "$(get "$out" .failed) $(get "$out" .uploaded)"
assert_eq "three CompleteMultipartUpload calls on one multipart upload" "3 1" \
  "$(( $(op_count "$after" CompleteMultipartUpload) - $(op_count "$before" CompleteMultipartUpload) )) $(( $(op_count "$after" CreateMultipartUpload) - $(op_count "$before" CreateMultipartUpload) ))"
out=$(bk '"cluster": "t4", "state": "fetched", "key": "files/t4/faults-2.kms", "dest": "'"$work/out/faults2.bin"'"')
cmp "$work/out/faults2.bin" "$work/files/big.bin" && assert_pass "retried: a valid object" || fail "object differs"
rm -f "$work/out/faults2.bin"
assert_eq "no multipart upload left" "0" "$(uploads_left)"
faults '{"rules": [{"op": "CompleteMultipartUpload", "error_in_200": true, "count": 100}]}'
before=$(stats)
out=$(bk '"cluster": "t4", "src": "'"$work/files/big.bin"'", "key": "files/t4/faults-3.kms", "part_size_mb": 5')
after=$(stats)
no_faults
assert_eq "an <Error> every time: failed after 3 attempts (bounded)" "true 3" \
  "$(get "$out" .failed) $(( $(op_count "$after" CompleteMultipartUpload) - $(op_count "$before" CompleteMultipartUpload) ))"
assert_contains "naming S3's answer" "CompleteMultipartUpload" "$(get "$out" .msg)"
assert_eq "no object, no multipart upload left" "|0" "$(keys_under files/t4/faults-3)|$(uploads_left)"

step "4c. KMS GenerateDataKey fails (500, every time): etcd_snapshot with dest and upload"
faults '{"rules": [{"op": "GenerateDataKey", "status": 500, "count": 100}]}'
: >"$work/hc.log"
before=$(stats)
up=$(upload_json '"cluster": "t4", "healthcheck_url": "'"$hc/etcd"'"')
out=$(run etcd_snapshot "$(snap_args '"dest": "'"$work/out/kmsfail.db"'", "upload": '"$up")")
after=$(stats)
no_faults
assert_eq "failed" "true" "$(get "$out" .failed)"
assert_contains "with KMS's message" "KMS GenerateDataKey" "$(get "$out" .msg)"
echo "     (message: $(get "$out" .msg | cut -c1-300))"
assert_eq "no dest, no temp or plaintext file beside it" "|" "$(ls -A "$work/out")|"
assert_eq "nothing uploaded: no PutObject, no multipart upload started" "0 0" \
  "$(( $(op_count "$after" PutObject) - $(op_count "$before" PutObject) )) $(( $(op_count "$after" CreateMultipartUpload) - $(op_count "$before" CreateMultipartUpload) ))"
assert_eq "no object" "" "$(keys_under t4/)"
assert_eq "no multipart upload left" "0" "$(uploads_left)"
assert_eq "healthcheck: /start then /fail" "GET /etcd/start|POST /etcd/fail" \
  "$(cut -d' ' -f1,2 "$work/hc.log" | paste -sd'|')"
assert_contains "the /fail body is the error" "GenerateDataKey" "$(grep '/fail' "$work/hc.log")"

step "4d. UploadPart fails every time during an etcd_snapshot upload: not retried on etcd"
faults '{"rules": [{"op": "UploadPart", "status": 503, "count": 100}]}'
before=$(stats)
out=$(run etcd_snapshot "$(snap_args '"upload": '"$(upload_json '"cluster": "t4"')")")
after=$(stats)
no_faults
assert_eq "failed" "true" "$(get "$out" .failed)"
assert_contains "naming S3's answer" "UploadPart" "$(get "$out" .msg)"
echo "     (message: $(get "$out" .msg | cut -c1-300))"
assert_eq "one multipart upload, aborted; no object" "1 1 0" \
  "$(( $(op_count "$after" CreateMultipartUpload) - $(op_count "$before" CreateMultipartUpload) )) $(( $(op_count "$after" AbortMultipartUpload) - $(op_count "$before" AbortMultipartUpload) )) $(keys_under t4/ | wc -l)"
assert_eq "no multipart upload left" "0" "$(uploads_left)"

step "4e. the local copy's disk is full (64 KiB tmpfs): the S3 object still lands and is readable"
mkdir -p "$work/tiny"
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$work/tiny"
tiny_mounted=1
: >"$work/hc.log"
up=$(upload_json '"cluster": "t4e", "healthcheck_url": "'"$hc/etcd"'"')
out=$(run etcd_snapshot "$(snap_args '"dest": "'"$work/tiny/snap.db"'", "upload": '"$up")")
assert_eq "not failed: the off-host backup is there" "false true true" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .local_copy_failed)"
assert_contains "the local failure is reported (warning)" "dest: the local copy failed" "$(get "$out" '.warnings | join(" ")')"
assert_contains "with the reason" "No space left on device" "$(get "$out" .local_error)"
assert_eq "no path, nothing partial on the tiny disk" "null|" "$(get "$out" .path)|$(ls -A "$work/tiny")"
out2=$(bk '"state": "fetched", "kind": "etcd-snapshot", "cluster": "t4e", "key": "'"$(get "$out" .s3_key)"'", "dest": "'"$work/out/t4e.db"'"')
assert_eq "the S3 object fetches and decrypts: the snapshot's sha256" "false $(get "$out" .sha256)" \
  "$(get "$out2" .failed) $(sha256sum "$work/out/t4e.db" | cut -d' ' -f1)"
status=$(ETCDCTL_API=3 etcdctl snapshot status "$work/out/t4e.db" -w json)
assert_eq "etcdctl reads it" "$(get "$out" .size)" "$(( $(get "$status" .totalSize) + 32 ))"
assert_eq "healthcheck: /start then /fail (a failed local copy is a failed run)" "GET /etcd/start|POST /etcd/fail" \
  "$(cut -d' ' -f1,2 "$work/hc.log" | paste -sd'|')"
assert_contains "the /fail body says why" "No space left" "$(grep '/fail' "$work/hc.log")"
umount "$work/tiny" && tiny_mounted=0
rm -f "$work/out/t4e.db"

# ---- 6. retention ---------------------------------------------------------------------------

step "6. retention: pruned with retention_days=30 keep_min=2, then keep_min=1"
echo "a small snapshot stand-in" >"$work/files/tiny"
ret_keys="t6/2020/01/etcd-t6-2020-01-01_00-00-00-snapshot.db.kms t6/2020/02/etcd-t6-2020-02-01_00-00-00-snapshot.db.kms
  t6/2020/03/etcd-t6-2020-03-01_00-00-00-snapshot.db.kms t6/2020/04/etcd-t6-2020-04-01_12-00-00-snapshot.db.kms
  t7/2020/01/etcd-t7-2020-01-01_00-00-00-snapshot.db.kms t7/2020/02/etcd-t7-2020-02-01_00-00-00-snapshot.db.kms"
for k in $ret_keys; do
  cl=${k%%/*}
  out=$(bk "$raw_opts"', "cluster": "'"$cl"'", "kind": "etcd-snapshot", "src": "'"$work/files/tiny"'", "key": "'"$k"'"')
  [ "$(get "$out" .uploaded)" = true ] || fail "upload of $k: $(get "$out" .msg)"
done
# And one of now, with the generated key.
out=$(bk "$raw_opts"', "cluster": "t6", "kind": "etcd-snapshot", "src": "'"$work/files/tiny"'"')
new_key=$(get "$out" .key)
assert_contains "a generated etcd-snapshot key" "t6/$(date -u +%Y/%m)/etcd-t6-$(date -u +%Y-%m-%d_)" "$new_key"
out=$(bk '"state": "listed", "cluster": "t6", "kind": "etcd-snapshot"')
assert_eq "listed: oldest first, newest last" "5 t6/2020/01/etcd-t6-2020-01-01_00-00-00-snapshot.db.kms $new_key" \
  "$(get "$out" '.objects | length') $(get "$out" '.objects[0].key') $(get "$out" '.objects[-1].key')"
out=$(bk '"state": "pruned", "cluster": "t6", "kind": "etcd-snapshot", "retention_days": 30, "keep_min": 2, "_ansible_check_mode": true')
assert_eq "check mode: would delete 3, changed" "3 true" "$(get "$out" '.deleted | length') $(get "$out" .changed)"
assert_eq "and deleted nothing" "5" "$(keys_under t6/ | wc -l)"
out=$(bk '"state": "pruned", "cluster": "t6", "kind": "etcd-snapshot", "retention_days": 30, "keep_min": 2, "healthcheck_url": "'"$hc/prune"'"')
assert_eq "pruned: changed, the 3 oldest deleted" "false true t6/2020/01/etcd-t6-2020-01-01_00-00-00-snapshot.db.kms t6/2020/02/etcd-t6-2020-02-01_00-00-00-snapshot.db.kms t6/2020/03/etcd-t6-2020-03-01_00-00-00-snapshot.db.kms" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" '.deleted | sort | join(" ")')"
assert_eq "the AWS CLI lists the newest 2 (the old one kept by keep_min)" \
  "$(printf '%s\n' t6/2020/04/etcd-t6-2020-04-01_12-00-00-snapshot.db.kms "$new_key" | sort)" "$(keys_under t6/ | sort)"
out=$(bk '"state": "pruned", "cluster": "t6", "kind": "etcd-snapshot", "retention_days": 30, "keep_min": 2')
assert_eq "pruned again: nothing to do, changed=false" "false false 0" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" '.deleted | length')"
out=$(bk '"state": "pruned", "cluster": "t7", "kind": "etcd-snapshot", "retention_days": 30, "keep_min": 1')
assert_eq "keep_min=1, all old: only the older deleted" "true t7/2020/01/etcd-t7-2020-01-01_00-00-00-snapshot.db.kms" \
  "$(get "$out" .changed) $(get "$out" '.deleted | join(" ")')"
assert_eq "the newest stays" "t7/2020/02/etcd-t7-2020-02-01_00-00-00-snapshot.db.kms" "$(keys_under t7/)"

# ---- 7. tampered and truncated objects --------------------------------------------------------

step "7. a tampered and a truncated object: fetched fails, no dest"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$work/files/small.bin"
out=$(bk "$raw_opts"', "src": "'"$work/files/small.bin"'", "key": "files/t2/small.kms"')
[ "$(get "$out" .uploaded)" = true ] || fail "upload: $(get "$out" .msg)"
download files/t2/small.kms "$work/small.kms"
size=$(stat -c %s "$work/small.kms")
cp "$work/small.kms" "$work/flipped.kms"
python3 - "$work/flipped.kms" $(( size / 2 )) <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x01]))
EOF
head -c $(( size * 2 / 3 )) "$work/small.kms" >"$work/truncated.kms"
upload "$work/flipped.kms" files/t2/flipped.kms
upload "$work/truncated.kms" files/t2/truncated.kms
out=$(bk "$raw_opts"', "state": "fetched", "key": "files/t2/small.kms", "dest": "'"$work/out/small.bin"'"')
cmp "$work/out/small.bin" "$work/files/small.bin" && assert_pass "the untouched object fetches" || fail "untouched object differs"
rm -f "$work/out/small.bin"
for bad in flipped truncated; do
  out=$(bk "$raw_opts"', "state": "fetched", "key": "files/t2/'"$bad"'.kms", "dest": "'"$work/out/$bad.bin"'"')
  assert_eq "$bad: fetch fails" "true" "$(get "$out" .failed)"
  echo "     (message: $(get "$out" .msg | cut -c1-300))"
  assert_eq "$bad: no dest, no temp file" "no|" "$(exists "$work/out/$bad.bin")|$(ls -A "$work/out")"
done
assert_contains "flipped: an authentication failure" "authenticat" "$(bk "$raw_opts"', "state": "fetched", "key": "files/t2/flipped.kms", "dest": "'"$work/out/x"'"' | jq -r .msg)"
assert_contains "the ESDK agrees: the flipped object does not decrypt" "fail" \
  "$(node "$esdk" decrypt --raw-aes-key-file "$work/raw.key" --key-namespace etcd-ansible --key-name etcd-ansible-backup <"$work/flipped.kms" 2>&1 >/dev/null && echo "decrypted!" || echo "fail")"

# ---- 8. only_on_leader ------------------------------------------------------------------------

step "8. only_on_leader"
find_leader
before=$(stats)
up=$(upload_json '"cluster": "t8"')
out=$(run etcd_snapshot "$(snap_args '"only_on_leader": true, "upload": '"$up" "$follower $leader $other")")
after=$(stats)
assert_eq "follower first: skipped, not changed" "false false true" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .skipped)"
assert_contains "saying why" "is not the leader" "$(get "$out" .msg)"
assert_eq "nothing sent to S3 or KMS" "$(jq .total <<<"$before")" "$(jq .total <<<"$after")"
out=$(run etcd_snapshot "$(snap_args '"only_on_leader": true, "upload": '"$up" "$leader $follower")")
assert_eq "leader first: backed up" "false true null" \
  "$(get "$out" .failed) $(get "$out" .changed) $(get "$out" .skipped)"
assert_eq "one object" "$(get "$out" .s3_key)" "$(keys_under t8/)"

# ---- 9. bad input -----------------------------------------------------------------------------

step "9. bad options are named"
out=$(run etcd_snapshot "$(snap_args '"upload": {"kms_key_id": "alias/x"}')")
assert_eq "etcd_snapshot: missing upload.bucket" "true|upload.bucket: required" "$(get "$out" .failed)|$(get "$out" .msg)"
out=$(run etcd_snapshot "$(snap_args '"upload": '"$(upload_json '"foo": 1')")")
assert_eq "etcd_snapshot: unknown upload.foo" "true|upload.foo: unknown option" "$(get "$out" .failed)|$(get "$out" .msg)"
out=$(run etcd_snapshot "$(snap_args '"upload": '"$(upload_json '"keep_min": 0')")")
assert_contains "etcd_snapshot: upload.keep_min 0" "upload.keep_min: must be at least 1" "$(get "$out" .msg)"
out=$(run etcd_snapshot "$(snap_args '"upload": '"$(upload_json '"encryption": "raw-aes"')")")
assert_contains "etcd_snapshot: raw-aes without key_file" "upload.key_file: required with encryption=raw-aes" "$(get "$out" .msg)"
out=$(run kms_s3_backup '{"src": "'"$work/files/tiny"'", "kms_key_id": "alias/x"}')
assert_eq "kms_s3_backup: missing bucket" "true|bucket: required" "$(get "$out" .failed)|$(get "$out" .msg)"
out=$(bk '"src": "'"$work/files/tiny"'", "keep_min": 0, "retention_days": 3')
assert_contains "kms_s3_backup: keep_min 0" "keep_min: must be at least 1" "$(get "$out" .msg)"
out=$(bk '"src": "'"$work/files/tiny"'", "encryption": "raw-aes"')
assert_contains "kms_s3_backup: raw-aes without key_file" "key_file: required with encryption=raw-aes" "$(get "$out" .msg)"
out=$(bk '"src": "'"$work/files/tiny"'", "foo": 1')
assert_contains "kms_s3_backup: unknown foo" "foo" "$(get "$out" .msg)"
assert_eq "nothing uploaded by any of them" "" "$(keys_under files/default/)"

# ---- 5. a member killed mid-stream, and the measurement ----------------------------------------

step "5. generate a ${big_mib} MiB DB (1 MiB values)"
g0=$(date +%s%N)
put_many "$ep1" big- "$big_mib" 1048576
echo "     generation: $(( ($(date +%s%N) - g0) / 1000000 )) ms"

step "measure: etcd_snapshot saved + upload (aws-kms) of the big DB"
printf '%s' "$(snap_args '"dest": "'"$work/out/big.db"'", "upload": '"$(upload_json '"cluster": "measure"')")" >"$work/big.json"
/usr/bin/time -v library/etcd_snapshot "$work/big.json" >"$work/big.out" 2>"$work/big.time"
out=$(cat "$work/big.out")
assert_eq "big saved and uploaded" "false 1" "$(get "$out" .failed) $(get "$out" .attempts)"
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/big.time")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/big.time")
cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$work/big.time")
echo "     MEASURE saved+upload size=$(get "$out" .size) stored=$(get "$out" .stored_size) parts=$(get "$out" .parts) duration_s=$(get "$out" .duration_s) bytes_per_s=$(get "$out" .bytes_per_s) wall=$wall cpu_s=$cpu max_rss_kb=$rss"
[ "$rss" -lt 65536 ] && assert_pass "constant memory: max RSS $rss KiB" || fail "max RSS $rss KiB"
rm -f "$work/out/big.db"

step "5. a member killed mid-stream: retried on another endpoint, one object, no upload left"
# A follower first, so that the kill does not also start an election ("leader changed" would
# fail the stream from the second member too, and make it 3 attempts).
find_leader
victim=$follower
before=$(stats)
printf '%s' "$(snap_args '"dest": "'"$work/out/big.db"'", "upload": '"$(upload_json '"cluster": "t5"')" "$follower $other $leader")" >"$work/kill.json"
library/etcd_snapshot "$work/kill.json" >"$work/kill.out" 2>>"$work/stderr" &
mod_pid=$!
killed=no
for _ in $(seq 1 1500); do
  tmp=$(ls "$work/out"/big.db.tmp.* 2>/dev/null | head -1 || true)
  if [ -n "$tmp" ] && [ "$(stat -c %s "$tmp" 2>/dev/null || echo 0)" -gt $(( big_mib * 1024 * 1024 / 3 )) ]; then
    "$cluster" kill "$work/etcd" "$victim"; killed=yes; break
  fi
  sleep 0.02
done
wait "$mod_pid" || true
mod_pid=
after=$(stats)
out=$(cat "$work/kill.out")
assert_eq "member $victim was killed while the stream ran" "yes" "$killed"
assert_eq "saved anyway, after 2 attempts, from the next endpoint" "false 2 $("$cluster" endpoint $other)" \
  "$(get "$out" .failed) $(get "$out" .attempts) $(get "$out" .endpoint)"
echo "     (warning: $(get "$out" '.warnings[0]' | cut -c1-200))"
assert_eq "exactly one object" "$(get "$out" .s3_key)" "$(keys_under t5/)"
assert_eq "two multipart uploads started, one aborted, one completed" "2 1 1" \
  "$(( $(op_count "$after" CreateMultipartUpload) - $(op_count "$before" CreateMultipartUpload) )) $(( $(op_count "$after" AbortMultipartUpload) - $(op_count "$before" AbortMultipartUpload) )) $(( $(op_count "$after" CompleteMultipartUpload) - $(op_count "$before" CompleteMultipartUpload) ))"
assert_eq "no multipart upload left" "0" "$(uploads_left)"
out=$(bk '"state": "fetched", "kind": "etcd-snapshot", "cluster": "t5", "dest": "'"$work/out/t5.db"'"')
cmp "$work/out/t5.db" "$work/out/big.db" && assert_pass "the object fetches and is dest byte for byte" || fail "the t5 object differs from dest"
step "done"
