#!/usr/bin/env bash
# module_utils/aws (the S3/KMS client) against the AWS peer (tests/peers/aws: S3 + KMS on
# 127.0.0.1 with strict SigV4 and a fault API), through tests/integration/aws_driver.c; and the
# IMDSv2 credential path against a small fake metadata service on 127.0.0.1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

peer_dir=${AWS_PEER_DIR:-$top/tests/peers/aws}
[ -x "$peer_dir/peer.sh" ] || { echo "FAIL: no AWS peer at $peer_dir (set AWS_PEER_DIR)"; exit 1; }
work=$(mktemp -d /tmp/aws_client_vs_peer.XXXXXX)
imds_pid=
cleanup() {
  "$peer_dir/peer.sh" stop "$work/peer" || true
  "$peer_dir/peer.sh" stop "$work/tls-peer" 2>/dev/null || true
  if [ -n "$imds_pid" ]; then kill "$imds_pid" 2>/dev/null; wait "$imds_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup # every case runs; "N passed, M failed" at the end

# The driver: dynamic, with the sanitizers, against the same sources as the modules.
mkdir -p build/integration
cc -D_GNU_SOURCE -Imodule_utils -Ibuild/deps/include -DCURL_STATICLIB -std=c11 -O1 -g \
  -Wall -Wextra -Werror -fsanitize=address,undefined -fno-omit-frame-pointer \
  -o build/integration/aws_driver tests/integration/aws_driver.c module_utils/*.c \
  -Lbuild/deps/lib -lcurl -lcares -lssl -lcrypto -lz -ljansson -lsystemd -lcap -pthread

# A second key pair, with a session token, is what the fake IMDS hands out.
imds_akid=AKIDIMDSEXAMPLE imds_secret=imdsSecret/K7MDENGbPxRfiCYEXAMPLEKEY imds_token=imds-session-token-1
eval "$("$peer_dir/peer.sh" start "$work/peer" \
  -credentials "AKIDPEEREXAMPLE:peerSecretKey/K7MDENG+bPxRfiCYEXAMPLEKEY,$imds_akid:$imds_secret:$imds_token")"
export AWS_TEST_BUCKET=driver-bucket AWS_EC2_METADATA_DISABLED=true
AWS_PAGER= aws --endpoint-url "$AWS_PEER_URL" s3api create-bucket --bucket "$AWS_TEST_BUCKET" >/dev/null
echo "-- the client against the peer ($AWS_PEER_URL)"
start=$(date +%s.%N)
if ! ASAN_OPTIONS=detect_leaks=1 build/integration/aws_driver; then
  echo "peer log: $work/peer/peer.log (KEEP=1 keeps it)"; tail -20 "$work/peer/peer.log"; exit 1
fi
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "driver: %.1f s\n", b-a}'

echo "-- credentials from IMDSv2 (a fake metadata service on 127.0.0.1)"
python3 tests/integration/fake_imds.py "$work/imds.port" "$imds_akid" "$imds_secret" "$imds_token" &
imds_pid=$!
wait_for 10 test -s "$work/imds.port"
(
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_EC2_METADATA_DISABLED
  export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(cat "$work/imds.port")"
  ASAN_OPTIONS=detect_leaks=1 build/integration/aws_driver imds
)
out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=true \
  build/integration/aws_driver imds 2>&1 || true)
assert_contains "AWS_EC2_METADATA_DISABLED=true: no IMDS call, the error names the variables" \
  "AWS_EC2_METADATA_DISABLED" "$out"

echo "-- over HTTPS: the CA bundle from AWS_CA_BUNDLE, verified"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
(
  eval "$("$peer_dir/peer.sh" start "$work/tls-peer" -tls-cert "$work/tls.crt" -tls-key "$work/tls.key")"
  case $AWS_PEER_URL in https://*) ;; *) echo "FAIL: the TLS peer serves $AWS_PEER_URL"; exit 1 ;; esac
  AWS_PAGER= aws --ca-bundle "$work/tls.crt" --endpoint-url "$AWS_PEER_URL" s3api create-bucket \
    --bucket "$AWS_TEST_BUCKET" >/dev/null
  AWS_CA_BUNDLE="$work/tls.crt" ASAN_OPTIONS=detect_leaks=1 build/integration/aws_driver tls trusted
  env -u AWS_CA_BUNDLE ASAN_OPTIONS=detect_leaks=1 build/integration/aws_driver tls untrusted
)
