#!/usr/bin/env bash
# Regenerates the golden messages in this directory with the AWS Encryption SDK for JavaScript
# (tests/peers/esdk/esdk.js over @aws-crypto/client-node 5.0.2): suite 0x0478, raw AES keyring.
# key.bin and plain-*.bin are kept when they exist (so a rerun only remakes the messages, which
# differ each run: random message id and IVs). tests/unit/test_envelope.c decrypts every message
# listed in vectors.json and compares it with its plaintext and context.
set -euo pipefail
cd "$(dirname "$0")"
esdk=../../../peers/esdk/esdk.js
[ -f key.bin ] || head -c 32 /dev/urandom >key.bin
for n in 0 100 10000; do [ -f "plain-$n.bin" ] || head -c "$n" /dev/urandom >"plain-$n.bin"; done
ring=(--raw-aes-key-file key.bin --key-namespace etcd-ansible --key-name backup-key)
ctx=(--context cluster=prod-1 --context kind=etcd-snapshot --context created=2026-11-25T17:00:00Z
     --context plaintext_sha256=0000000000000000000000000000000000000000000000000000000000000000)
entries=()
add() { # add NAME PLAIN FRAME CONTEXT(yes/no)
  local args=("${ring[@]}")
  [ "$3" = default ] || args+=(--frame-length "$3")
  [ "$4" = no ] || args+=("${ctx[@]}")
  node "$esdk" encrypt "${args[@]}" <"$2" >"$1.esdk"
  node "$esdk" decrypt "${ring[@]}" <"$1.esdk" 2>/dev/null | cmp -s - "$2"   # the SDK reads it back
  entries+=("{\"name\":\"$1\",\"plaintext\":\"$2\",\"frame_length\":\"$3\",\"context\":\"$4\"}")
}
for n in 0 100 10000; do
  for f in 4096 default 100; do add "msg-$n-$f" "plain-$n.bin" "$f" yes; done
done
add msg-100-nocontext plain-100.bin 4096 no
{
  echo '{"key_namespace":"etcd-ansible","key_name":"backup-key","key_file":"key.bin",'
  echo ' "context":{"cluster":"prod-1","kind":"etcd-snapshot","created":"2026-11-25T17:00:00Z",'
  echo '  "plaintext_sha256":"0000000000000000000000000000000000000000000000000000000000000000"},'
  echo ' "messages":['
  printf '  %s' "${entries[0]}"; for e in "${entries[@]:1}"; do printf ',\n  %s' "$e"; done
  echo; echo ' ]}'
} >vectors.json
echo "made ${#entries[@]} messages"
