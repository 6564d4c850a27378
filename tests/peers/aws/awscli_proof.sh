#!/usr/bin/env bash
# Proof of the AWS peer with the REAL AWS CLI (Debian awscli 2.9.19, /usr/bin/aws): S3 (mb, cp
# small + 40 MiB multipart, ls, cp back + cmp, rm, s3api pagination, multipart API, ranges,
# metadata, delete-objects, presign), KMS (create-key, alias, key policy, describe, encrypt/decrypt
# with and without an encryption context, generate-data-key), wrong secret / access key / region /
# session token refused with AWS's error codes, fault injection (503, connection reset, error in a
# 200) survived by the CLI's retries, persistence across a restart, and requests the CLI never
# sends (tampered signatures, payload hash, clock skew) signed by the CLI's own botocore
# (sigv4_strict.py); the AWS Encryption SDK for JavaScript through the peer's KMS (esdk_kms.js).
# Traffic only on 127.0.0.1. KEEP=1 keeps the work directory. Every case runs, also after a failed
# one; the last line is "N passed, M failed" (tests/lib/assert.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$ROOT"
. tests/lib/assert.sh

AWS=/usr/bin/aws   # Debian's awscli, not a pyenv shim on PATH
[ -x "$AWS" ] || { echo "FAIL: $AWS is missing (apt-get install awscli)" >&2; exit 1; }
work=$(mktemp -d /tmp/awspeer_proof.XXXXXX)
peer=$work/peer
cleanup() {
  local rc=$?
  "$HERE/peer.sh" stop "$peer" || true
  "$HERE/peer.sh" stop "$work/tlspeer" || true
  if [ $rc -ne 0 ]; then
    echo "peer log (tail):" >&2
    tail -25 "$peer/peer.log" >&2 || true
    echo "FAILED: rerun with: KEEP=1 bash $HERE/awscli_proof.sh" >&2
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
assert_trap cleanup
t0=$(date +%s%N)
step() { echo "-- $1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"; }

# A session credential next to the default one (peer.sh prints the first pair).
SESSION_AK=ASIAPEERSESSIONEXAMPLE SESSION_SK=sessionSecretEXAMPLE SESSION_TOKEN=sessionTokenEXAMPLE/+=
"$HERE/build.sh" test   # SigV4 against the published vectors first (sigv4_test.go)
eval "$("$HERE/peer.sh" defaults)"
eval "$("$HERE/peer.sh" start "$peer" -log-headers \
  -credentials "$PEER_ACCESS_KEY_ID:$PEER_SECRET_ACCESS_KEY,$SESSION_AK:$SESSION_SK:$SESSION_TOKEN")"
step "peer at $AWS_PEER_URL"
cat >"$work/config" <<'CFG'
[default]
s3 =
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
CFG
export AWS_CONFIG_FILE=$work/config AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER="" AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=3
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION
aws() { "$AWS" --endpoint-url "$AWS_PEER_URL" "$@"; }
# fails CMD...: runs CMD, which must fail; prints its stderr.
fails() { if "$@" 2>&1 >/dev/null; then echo "FAIL: expected failure: $*" >&2; return 1; fi; }
peerctl() { # peerctl METHOD PATH [JSON]
  curl -sS -X "$1" ${3:+-H 'Content-Type: application/json' --data "$3"} "$AWS_PEER_URL$2"
}
stat_of() { json_get "$(peerctl GET /_peer/stats)" "$1"; }

# ---- S3 ---------------------------------------------------------------------------------------
B=proof-bucket
assert_contains "s3 mb" "make_bucket: $B" "$(aws s3 mb "s3://$B")"
head -c 40M /dev/urandom >"$work/big.bin"
printf 'small object\n' >"$work/small.txt"
peerctl POST /_peer/stats/reset >/dev/null
aws s3 cp --only-show-errors "$work/small.txt" "s3://$B/dir/small.txt" --metadata purpose=proof
aws s3 cp --only-show-errors "$work/big.bin" "s3://$B/dir/big.bin"
step "uploaded small + 40 MiB"
assert_eq "exactly one PutObject" 1 "$(stat_of ops.PutObject)"
assert_eq "40 MiB in 8 MiB parts" 5 "$(stat_of by_op.UploadPart.200)"
assert_eq "one CompleteMultipartUpload" 1 "$(stat_of by_op.CompleteMultipartUpload.200)"

# The next three sections are independent: they run side by side (the CLI starts slowly).
s3_section() {
ls_out=$(aws s3 ls --recursive "s3://$B")
assert_contains "ls shows the small object" " 13 dir/small.txt" "$ls_out"
assert_contains "ls shows the big object" " 41943040 dir/big.bin" "$ls_out"
assert_contains "ls lists buckets" " $B" "$(aws s3 ls)"
aws s3 cp --only-show-errors "s3://$B/dir/big.bin" "$work/big.back"
assert_ok "40 MiB object read back identical" cmp "$work/big.bin" "$work/big.back"
head_out=$(aws s3api head-object --bucket "$B" --key dir/big.bin)
assert_eq "multipart ETag is md5-of-md5s-5" 5 "$(json_get "$head_out" ETag | sed 's/.*-\([0-9]*\)"$/\1/')"
expect_etag=$(python3 -c '
import hashlib, sys
d = open(sys.argv[1], "rb").read(); n = 8 << 20
print(hashlib.md5(b"".join(hashlib.md5(d[i:i+n]).digest() for i in range(0, len(d), n))).hexdigest() + "-5")' "$work/big.bin")
assert_eq "multipart ETag value" "\"$expect_etag\"" "$(json_get "$head_out" ETag)"
small_head=$(aws s3api head-object --bucket "$B" --key dir/small.txt)
assert_eq "user metadata kept" proof "$(json_get "$small_head" Metadata.purpose)"
assert_eq "small ETag is its md5" "\"$(md5sum <"$work/small.txt" | cut -d' ' -f1)\"" "$(json_get "$small_head" ETag)"
aws s3api get-object --bucket "$B" --key dir/big.bin --range bytes=100-199 "$work/range1" >"$work/range1.json"
assert_eq "range a-b" "$(tail -c +101 "$work/big.bin" | head -c 100 | sha256sum)" "$(sha256sum <"$work/range1")"
assert_eq "range Content-Range" "bytes 100-199/41943040" "$(json_get "$(cat "$work/range1.json")" ContentRange)"
aws s3api get-object --bucket "$B" --key dir/big.bin --range bytes=-7 "$work/range2" >/dev/null
assert_eq "range -n" "$(tail -c 7 "$work/big.bin" | sha256sum)" "$(sha256sum <"$work/range2")"
assert_contains "range past the end" "InvalidRange" "$(fails aws s3api get-object --bucket "$B" --key dir/big.bin --range bytes=50000000- "$work/r4")"
assert_contains "missing key on GET" "NoSuchKey" "$(fails aws s3api get-object --bucket "$B" --key nope "$work/nope")"
assert_contains "missing bucket" "NoSuchBucket" "$(fails aws s3 ls s3://no-such-bucket)"
presigned=$(aws s3 presign "s3://$B/dir/small.txt" --expires-in 60)
assert_eq "aws s3 presign URL works" "small object" "$(curl -sS -f "$presigned")"
step "s3 cp/ls/ranges/metadata"

mkdir "$work/page"
for i in 1 2 3 4 5 6 7; do printf '%s' "$i" >"$work/page/obj-$i"; done
aws s3 cp --only-show-errors --recursive "$work/page" "s3://$B/page/"
p1=$(aws s3api list-objects-v2 --bucket "$B" --prefix page/ --max-keys 2 --no-paginate)
assert_eq "page 1 KeyCount" 2 "$(json_get "$p1" KeyCount)"
assert_eq "page 1 IsTruncated" true "$(json_get "$p1" IsTruncated)"
assert_eq "page 1 keys" "page/obj-1 page/obj-2" "$(json_get "$p1" Contents.0.Key) $(json_get "$p1" Contents.1.Key)"
p2=$(aws s3api list-objects-v2 --bucket "$B" --prefix page/ --max-keys 2 --no-paginate --continuation-token "$(json_get "$p1" NextContinuationToken)")
assert_eq "page 2 via NextContinuationToken" "page/obj-3 page/obj-4" "$(json_get "$p2" Contents.0.Key) $(json_get "$p2" Contents.1.Key)"
# The CLI's own paginator follows the tokens to the end (4 requests of 2).
assert_eq "CLI pagination with --page-size 2" "page/obj-1 page/obj-2 page/obj-3 page/obj-4 page/obj-5 page/obj-6 page/obj-7" \
  "$(aws s3api list-objects-v2 --bucket "$B" --prefix page/ --page-size 2 --query 'Contents[].Key' --output text | tr '\t' '\n' | paste -sd' ')"
d=$(aws s3api list-objects-v2 --bucket "$B" --delimiter / --query 'CommonPrefixes[].Prefix' --output text)
assert_eq "delimiter common prefixes" "dir/	page/" "$d"
sa=$(aws s3api list-objects-v2 --bucket "$B" --prefix page/ --start-after page/obj-5 --query 'Contents[].Key' --output text)
assert_eq "start-after" "page/obj-6	page/obj-7" "$sa"
del=$(aws s3api delete-objects --bucket "$B" --delete 'Objects=[{Key=page/obj-1},{Key=page/obj-2}]')
assert_eq "delete-objects (Content-MD5 from the CLI)" 2 "$(json_get "$del" Deleted | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
step "list-objects-v2 pagination, delete-objects"

up=$(aws s3api create-multipart-upload --bucket "$B" --key mp/aborted --query UploadId --output text)
assert_contains "list-multipart-uploads shows it" "$up" "$(aws s3api list-multipart-uploads --bucket "$B")"
aws s3api abort-multipart-upload --bucket "$B" --key mp/aborted --upload-id "$up"
assert_not_contains "aborted upload gone" "$up" "$(aws s3api list-multipart-uploads --bucket "$B")"
up=$(aws s3api create-multipart-upload --bucket "$B" --key mp/small-parts --query UploadId --output text)
printf 'part one' >"$work/p1"; printf 'part two' >"$work/p2"
e1=$(aws s3api upload-part --bucket "$B" --key mp/small-parts --upload-id "$up" --part-number 1 --body "$work/p1" --query ETag --output text)
e2=$(aws s3api upload-part --bucket "$B" --key mp/small-parts --upload-id "$up" --part-number 2 --body "$work/p2" --query ETag --output text)
assert_eq "list-parts" 2 "$(aws s3api list-parts --bucket "$B" --key mp/small-parts --upload-id "$up" --query 'length(Parts)')"
assert_contains "parts < 5 MiB refused" "EntityTooSmall" "$(fails aws s3api complete-multipart-upload --bucket "$B" --key mp/small-parts --upload-id "$up" \
  --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$e1},{\"PartNumber\":2,\"ETag\":$e2}]}")"
assert_contains "wrong part ETag refused" "InvalidPart" "$(fails aws s3api complete-multipart-upload --bucket "$B" --key mp/small-parts --upload-id "$up" \
  --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$e2}]}")"
assert_contains "parts out of order refused" "InvalidPartOrder" "$(fails aws s3api complete-multipart-upload --bucket "$B" --key mp/small-parts --upload-id "$up" \
  --multipart-upload "{\"Parts\":[{\"PartNumber\":2,\"ETag\":$e2},{\"PartNumber\":1,\"ETag\":$e1}]}")"
aws s3api complete-multipart-upload --bucket "$B" --key mp/small-parts --upload-id "$up" \
  --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$e1}]}" >/dev/null
assert_eq "single small last part completes" "part one" "$(aws s3 cp s3://$B/mp/small-parts -)"
step "multipart API"
}

kms_section() {
key=$(aws kms create-key --description "etcd CA backups" --tags TagKey=Purpose,TagValue=etcd-ca-backup)
key_id=$(json_get "$key" KeyMetadata.KeyId)
key_arn=$(json_get "$key" KeyMetadata.Arn)
assert_eq "key ARN" "arn:aws:kms:us-east-1:111122223333:key/$key_id" "$key_arn"
aws kms create-alias --alias-name alias/etcd-ca-backup --target-key-id "$key_id"
assert_contains "alias exists once" "AlreadyExistsException" "$(fails aws kms create-alias --alias-name alias/etcd-ca-backup --target-key-id "$key_id")"
printf '{"Version":"2012-10-17","Statement":[{"Sid":"proof","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}' >"$work/policy.json"
aws kms put-key-policy --key-id "$key_id" --policy-name default --policy "file://$work/policy.json"
assert_contains "get-key-policy returns it" '"Sid":"proof"' "$(aws kms get-key-policy --key-id "$key_id" --policy-name default --query Policy --output text)"
desc=$(aws kms describe-key --key-id alias/etcd-ca-backup)
assert_eq "describe-key by alias" "$key_id" "$(json_get "$desc" KeyMetadata.KeyId)"
assert_eq "describe-key description" "etcd CA backups" "$(json_get "$desc" KeyMetadata.Description)"
assert_eq "describe-key by alias ARN" "$key_id" "$(aws kms describe-key --key-id arn:aws:kms:us-east-1:111122223333:alias/etcd-ca-backup --query KeyMetadata.KeyId --output text)"
assert_eq "describe-key by key ARN" "$key_id" "$(aws kms describe-key --key-id "$key_arn" --query KeyMetadata.KeyId --output text)"
assert_contains "list-aliases" "alias/etcd-ca-backup" "$(aws kms list-aliases --key-id "$key_id")"
assert_contains "tags kept" "etcd-ca-backup" "$(aws kms list-resource-tags --key-id "$key_id")"
assert_contains "unknown alias" "NotFoundException" "$(fails aws kms describe-key --key-id alias/nope)"
printf 'the CA private key, say' >"$work/secret.txt"
aws kms encrypt --key-id alias/etcd-ca-backup --plaintext "fileb://$work/secret.txt" --query CiphertextBlob --output text | base64 -d >"$work/ct1"
assert_eq "decrypt round trip" "the CA private key, say" "$(aws kms decrypt --ciphertext-blob "fileb://$work/ct1" --query Plaintext --output text | base64 -d)"
aws kms encrypt --key-id "$key_id" --plaintext "fileb://$work/secret.txt" --encryption-context cluster=proof,purpose=ca \
  --query CiphertextBlob --output text | base64 -d >"$work/ct2"
assert_eq "decrypt with the same context (other order)" "the CA private key, say" \
  "$(aws kms decrypt --ciphertext-blob "fileb://$work/ct2" --encryption-context purpose=ca,cluster=proof --query Plaintext --output text | base64 -d)"
assert_contains "decrypt with another context fails" "InvalidCiphertextException" \
  "$(fails aws kms decrypt --ciphertext-blob "fileb://$work/ct2" --encryption-context purpose=ca,cluster=other)"
assert_contains "decrypt without the context fails" "InvalidCiphertextException" "$(fails aws kms decrypt --ciphertext-blob "fileb://$work/ct2")"
other=$(aws kms create-key --description other --query KeyMetadata.KeyId --output text)
assert_contains "decrypt naming another key" "IncorrectKeyException" "$(fails aws kms decrypt --key-id "$other" --ciphertext-blob "fileb://$work/ct1")"
dk=$(aws kms generate-data-key --key-id alias/etcd-ca-backup --key-spec AES_256 --encryption-context cluster=proof)
assert_eq "data key is 32 bytes" 32 "$(json_get "$dk" Plaintext | base64 -d | wc -c)"
assert_eq "data key KeyId is the key ARN" "$key_arn" "$(json_get "$dk" KeyId)"
json_get "$dk" CiphertextBlob | base64 -d >"$work/dk.ct"
assert_eq "data key decrypts to its plaintext" "$(json_get "$dk" Plaintext)" \
  "$(aws kms decrypt --ciphertext-blob "fileb://$work/dk.ct" --encryption-context cluster=proof --query Plaintext --output text)"
assert_eq "without-plaintext has no Plaintext" null "$(json_get "$(aws kms generate-data-key-without-plaintext --key-id "$key_id" --number-of-bytes 64)" Plaintext)"
# The AWS Encryption SDK for JavaScript (what must read our backups) through this KMS.
[ -d "$HERE/../esdk/node_modules/@aws-crypto/client-node" ] ||
  { echo "FAIL: tests/peers/esdk/node_modules is missing (scripts/deps.sh)" >&2; return 1; }
NODE_NO_WARNINGS=1 node "$HERE/esdk_kms.js" "$key_arn"
head -c 4097 /dev/zero >"$work/4097"
assert_contains "Encrypt limited to 4096 bytes" "ValidationException" "$(fails aws kms encrypt --key-id "$key_id" --plaintext "fileb://$work/4097")"
step "kms"
}

credentials_section() {
key_id=00000000-1111-2222-3333-444444444444   # refused before the key is looked up
printf 'x' >"$work/secret.txt.creds"
out=$(AWS_SECRET_ACCESS_KEY=wrong-secret fails aws s3 ls)
assert_contains "s3 wrong secret" "SignatureDoesNotMatch" "$out"
assert_contains "kms wrong secret" "InvalidSignatureException" "$(AWS_SECRET_ACCESS_KEY=wrong-secret fails aws kms encrypt --key-id "$key_id" --plaintext "fileb://$work/secret.txt.creds")"
assert_contains "s3 wrong access key" "InvalidAccessKeyId" "$(AWS_ACCESS_KEY_ID=AKIDWRONGEXAMPLE fails aws s3 ls)"
assert_contains "kms wrong access key" "UnrecognizedClientException" "$(AWS_ACCESS_KEY_ID=AKIDWRONGEXAMPLE fails aws kms encrypt --key-id "$key_id" --plaintext "fileb://$work/secret.txt.creds")"
out=$(fails aws s3 ls --region eu-west-1)
assert_contains "s3 wrong region" "AuthorizationHeaderMalformed" "$out"
assert_contains "s3 wrong region names the right one" "expecting 'us-east-1'" "$out"
assert_contains "kms wrong region" "InvalidSignatureException" "$(fails aws kms encrypt --region eu-west-1 --key-id "$key_id" --plaintext "fileb://$work/secret.txt.creds")"
assert_contains "session credential with its token" "dir/" \
  "$(AWS_ACCESS_KEY_ID=$SESSION_AK AWS_SECRET_ACCESS_KEY=$SESSION_SK AWS_SESSION_TOKEN=$SESSION_TOKEN aws s3 ls "s3://$B/")"
assert_contains "session credential without its token" "InvalidToken" \
  "$(AWS_ACCESS_KEY_ID=$SESSION_AK AWS_SECRET_ACCESS_KEY=$SESSION_SK fails aws s3 ls "s3://$B/")"
assert_contains "session credential with a wrong token" "InvalidToken" \
  "$(AWS_ACCESS_KEY_ID=$SESSION_AK AWS_SECRET_ACCESS_KEY=$SESSION_SK AWS_SESSION_TOKEN=wrong fails aws s3 ls "s3://$B/")"
assert_contains "kms session credential with its token reaches the API" "NotFoundException" \
  "$(AWS_ACCESS_KEY_ID=$SESSION_AK AWS_SECRET_ACCESS_KEY=$SESSION_SK AWS_SESSION_TOKEN=$SESSION_TOKEN fails aws kms describe-key --key-id "$key_id")"
assert_contains "kms session credential without its token" "UnrecognizedClientException" \
  "$(AWS_ACCESS_KEY_ID=$SESSION_AK AWS_SECRET_ACCESS_KEY=$SESSION_SK fails aws kms describe-key --key-id "$key_id")"
step "wrong credentials refused"
}

# HTTPS (-tls-cert): what the CLI sends there differs: UNSIGNED-PAYLOAD when Content-MD5 is set,
# and aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies with --checksum-algorithm.
tls_section() {
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
eval "$("$HERE/peer.sh" start "$work/tlspeer" -log-headers -tls-cert "$work/tls/cert.pem" -tls-key "$work/tls/key.pem")"
export AWS_CA_BUNDLE=$work/tls/cert.pem
assert_contains "peer URL is https" "https://127.0.0.1:" "$AWS_PEER_URL"
aws s3 mb s3://tls-bucket >/dev/null
aws s3api put-object --bucket tls-bucket --key crc32.txt --checksum-algorithm CRC32 --body "$work/small.txt" >/dev/null
assert_contains "the CLI sent aws-chunked with a trailer" "X-Amz-Content-Sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER" "$(cat "$work/tlspeer/peer.log")"
crc=$(python3 -c 'import base64,sys,zlib; print(base64.b64encode(zlib.crc32(open(sys.argv[1],"rb").read()).to_bytes(4,"big")).decode())' "$work/small.txt")
assert_eq "trailer CRC32 verified and kept" "$crc" \
  "$(aws s3api head-object --bucket tls-bucket --key crc32.txt --checksum-mode ENABLED --query ChecksumCRC32 --output text)"
head -c 12M "$work/big.bin" >"$work/tls12M"
aws s3 cp --only-show-errors "$work/tls12M" s3://tls-bucket/multi.bin
assert_contains "over https with Content-MD5 the CLI sends UNSIGNED-PAYLOAD" "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD" "$(cat "$work/tlspeer/peer.log")"
aws s3 cp --only-show-errors s3://tls-bucket/multi.bin "$work/tls12M.back"
assert_ok "12 MiB multipart over https read back identical" cmp "$work/tls12M" "$work/tls12M.back"
assert_contains "kms over https" "arn:aws:kms:us-east-1:111122223333:key/" "$(aws kms create-key --query KeyMetadata.Arn --output text)"
"$HERE/peer.sh" stop "$work/tlspeer"
step "https"
}

# run_parallel NAME...: runs the section functions side by side, then prints their output in order.
# Each section counts its own cases (in its subshell); they are added here, and a section that
# stopped before its end counts as one failed case.
run_parallel() {
  local name i ok p f t
  local -a pids=()
  for name in "$@"; do
    (
      set -e
      ASSERT_PASSED=0 ASSERT_FAILED=0 ASSERT_FAILED_TITLES=()
      trap 'echo "$ASSERT_PASSED $ASSERT_FAILED" >"$work/$name.counts"
            printf "%s\n" "${ASSERT_FAILED_TITLES[@]}" >"$work/$name.titles"' EXIT
      "$name"
    ) >"$work/$name.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    name=${*:$((i + 1)):1}
    if wait "${pids[$i]}"; then ok=1; else ok=0; fi
    echo "== $name"; cat "$work/$name.out"
    read -r p f <"$work/$name.counts" 2>/dev/null || { p=0; f=0; }
    ASSERT_PASSED=$((ASSERT_PASSED + p)) ASSERT_FAILED=$((ASSERT_FAILED + f))
    while IFS= read -r t; do [ -z "$t" ] || ASSERT_FAILED_TITLES+=("$t"); done \
      <"$work/$name.titles" 2>/dev/null || true
    [ "$ok" = 1 ] || assert_fail "$name ran to its end" "it stopped early (output above)"
  done
}
run_parallel s3_section kms_section credentials_section tls_section

# ---- faults, side by side with the tampered requests (those touch no multipart operation) -----------
faults_section() {
peerctl POST /_peer/stats/reset >/dev/null
peerctl POST /_peer/faults '{"rules":[{"op":"UploadPart","status":503,"count":1}]}' >/dev/null
aws s3 cp --only-show-errors "$work/big.bin" "s3://$B/faults/503.bin"
assert_eq "UploadPart 503 seen once" 1 "$(stat_of by_op.UploadPart.503)"
assert_eq "all 5 parts stored after the retry" 5 "$(stat_of by_op.UploadPart.200)"
peerctl DELETE /_peer/faults >/dev/null
peerctl POST /_peer/stats/reset >/dev/null
peerctl POST /_peer/faults '{"rules":[{"op":"UploadPart","reset":true,"after_bytes":100000,"count":1},{"op":"CompleteMultipartUpload","error_in_200":true,"count":1}]}' >/dev/null
aws s3 cp --only-show-errors "$work/big.bin" "s3://$B/faults/reset.bin"
assert_eq "UploadPart reset once" 1 "$(stat_of by_op.UploadPart.reset)"
assert_eq "CompleteMultipartUpload answered twice with 200 (error inside, then success)" 2 "$(stat_of by_op.CompleteMultipartUpload.200)"
aws s3 cp --only-show-errors "s3://$B/faults/reset.bin" "$work/reset.back"
assert_ok "object after reset + error-in-200 is intact" cmp "$work/big.bin" "$work/reset.back"
peerctl DELETE /_peer/faults >/dev/null
peerctl POST /_peer/faults '{"rules":[{"op":"GenerateDataKey","delay_ms":1500,"count":1}]}' >/dev/null
s=$(date +%s%N)
aws kms generate-data-key --key-id alias/etcd-ca-backup --key-spec AES_256 >/dev/null
assert_eq "GenerateDataKey delayed >= 1.5 s" 1 "$(( ($(date +%s%N) - s) >= 1500000000 ))"
peerctl DELETE /_peer/faults >/dev/null
step "faults"
}
strict_section() {
/usr/bin/python3 "$HERE/sigv4_strict.py" "$AWS_PEER_URL" "$B"
step "strict SigV4 (sigv4_strict.py)"
}
run_parallel faults_section strict_section

# ---- restart keeps objects and keys -----------------------------------------------------------
"$HERE/peer.sh" stop "$peer"
eval "$("$HERE/peer.sh" start "$peer" -log-headers)"
assert_contains "objects survive a restart" " 41943040 dir/big.bin" "$(aws s3 ls --recursive "s3://$B")"
assert_eq "keys survive a restart" "the CA private key, say" "$(aws kms decrypt --ciphertext-blob "fileb://$work/ct1" --query Plaintext --output text | base64 -d)"
step "restart"

aws s3 rm --only-show-errors --recursive "s3://$B"
assert_eq "s3 rm --recursive empties the bucket" "" "$(aws s3 ls --recursive "s3://$B")"
aws s3 rb "s3://$B" >/dev/null
assert_not_contains "s3 rb" " $B" "$(aws s3 ls)"
step "done"
echo "awscli_proof: done in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
