#!/usr/bin/env bash
# A restore drill's duration and peak memory on a backup of DRILL_DB_MIB (default 256) of etcd
# data: a 1-member TLS etcd 3.4 (tests/peers/etcd/cluster.sh) filled with 1 MiB random values, one
# backup through etcd_snapshot's upload into the AWS peer (aws-kms), then etcd_snapshot
# state=drilled under /usr/bin/time -v. Prints one MEASURE line; not part of make test.
#   DRILL_DB_MIB=256 bash bench/drill.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/lib/assert.sh
mib=${DRILL_DB_MIB:-256}
export ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
work=$(mktemp -d /tmp/drill_bench.XXXXXX)
cleanup() {
  tests/peers/etcd/cluster.sh kill "$work/etcd" 1 2>/dev/null || true
  tests/peers/aws/peer.sh stop "$work/peer" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(tests/peers/aws/peer.sh start "$work/peer")"
/usr/bin/aws --endpoint-url "$AWS_PEER_URL" s3 mb s3://bench >/dev/null
kms=$(/usr/bin/aws --endpoint-url "$AWS_PEER_URL" kms create-key --query KeyMetadata.Arn --output text)
tests/peers/etcd/cluster.sh start "$work/etcd" 1 >/dev/null
ep=$(tests/peers/etcd/cluster.sh endpoint 1)
python3 - "$work/etcd" "$ep" "$mib" <<'PY'
import base64, http.client, json, os, ssl, sys
work, endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=work + "/ca/ca.crt")
ctx.load_cert_chain(work + "/ca/client.crt", work + "/ca/client.key")
host, port = endpoint.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=120)
for i in range(count):
    body = json.dumps({"key": base64.b64encode(b"bench-%06d" % i).decode(),
                       "value": base64.b64encode(os.urandom(1048576)).decode()})
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 200: sys.exit("put %d: HTTP %d" % (i, r.status))
PY
up=$(jq -cn --arg p "$AWS_PEER_URL" --arg k "$kms" '{bucket: "bench", cluster: "bench", endpoint_url: $p,
  kms_endpoint_url: $p, region: "us-east-1", kms_key_id: $k}')
jq -cn --arg ep "$ep" --arg w "$work/etcd/ca" --argjson up "$up" '{endpoints: [$ep], ca_cert: ($w + "/ca.crt"),
  client_cert: ($w + "/client.crt"), client_key: ($w + "/client.key"), upload: $up}' >"$work/save.json"
library/etcd_snapshot "$work/save.json" >"$work/save.out" 2>/dev/null
jq -cn --arg w "$work" --argjson up "$up" '{state: "drilled", backup: $up, scratch_dir: ($w + "/scratch"),
  etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl", start_timeout: 600}' >"$work/drill.json"
/usr/bin/time -v library/etcd_snapshot "$work/drill.json" >"$work/drill.out" 2>"$work/drill.time"
out=$(cat "$work/drill.out")
[ "$(jq -r .failed <<<"$out")" = false ] || { echo "FAIL: $(jq -r .msg <<<"$out")" >&2; exit 1; }
echo "MEASURE drill db_mib=$mib snapshot_bytes=$(jq -r .snapshot_size <<<"$out") stored_bytes=$(jq -r .stored_size "$work/save.out") keys=$(jq -r .keys <<<"$out") \
duration_s=$(jq -r '.duration_s | . * 10 | round / 10' <<<"$out") wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/drill.time") \
cpu_s=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$work/drill.time") \
module_rss_mib=$(( $(jq -r .peak_rss_bytes.module <<<"$out") / 1048576 )) children_rss_mib=$(( $(jq -r .peak_rss_bytes.children <<<"$out") / 1048576 ))"
