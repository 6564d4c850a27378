#!/usr/bin/env bash
# module_utils/envelope against the AWS Encryption SDK for JavaScript (@aws-crypto/client-node,
# tests/peers/esdk/esdk.js): the SDK decrypts what we write (gzip on: gunzipped here; gzip off),
# we decrypt what the SDK writes now, with the same raw AES key and encryption context; tampered
# and truncated SDK messages fail. Then the encrypt throughput on 256 MiB and the max RSS.
# BENCH_MIB=N measures on N MiB (default 64, to stay under ~40 s; the report used 256); 0 skips it.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

esdk=tests/peers/esdk/esdk.js
command -v node >/dev/null || { echo "FAIL: node is missing (Debian nodejs)" >&2; exit 1; }
[ -d tests/peers/esdk/node_modules/@aws-crypto/client-node ] ||
  { echo "FAIL: tests/peers/esdk/node_modules is missing: npm ci in tests/peers/esdk" >&2; exit 1; }
work=$(mktemp -d /tmp/envelope_vs_esdk_js.XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
assert_trap cleanup # every case runs; "N passed, M failed" at the end
t0=$(date +%s%N)
step() { echo "-- $1 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"; }

step "build the driver (module_utils/envelope.c, the Makefile's warnings)"
driver=$work/envelope_driver
cc -std=c11 -O2 -Wall -Wextra -Werror -Wshadow -D_GNU_SOURCE -Imodule_utils -o "$driver" \
  tests/integration/envelope_driver.c module_utils/envelope.c module_utils/pgzip.c module_utils/error.c \
  -lssl -lcrypto -lz -pthread

head -c 32 /dev/urandom >"$work/key"
ring=(--raw-aes-key-file "$work/key" --key-namespace etcd-ansible --key-name backup-key)
ctx=(--context cluster=prod-1 --context kind=etcd-snapshot --context created=2026-11-25T17:00:00Z
     --context plaintext_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)
head -c 0 /dev/urandom >"$work/p-0"
head -c 1024 /dev/urandom >"$work/p-1k"
head -c 8192 /dev/urandom >"$work/p-8k"
head -c $((5 << 20)) /dev/urandom >"$work/p-5m-random"
# Text (base64 lines: compresses to ~76 %), cut to size: base64 then dies of SIGPIPE.
text_of() { base64 -w 76 <"$1" | head -c "$2" || true; }
text_of "$work/p-5m-random" $((5 << 20)) >"$work/p-5m-text"
# Random and text by turns, 256 KiB each: deflate stores the random runs and compresses the text,
# switching level mid-stream (pgzip.h, pgzip_looks_incompressible).
for i in $(seq 0 9); do
  dd if="$work/p-5m-random" bs=256K skip="$i" count=1 status=none
  dd if="$work/p-5m-text" bs=256K skip="$i" count=1 status=none
done >"$work/p-5m-mixed"

same() { # same WHAT EXPECTED_FILE GOT_FILE
  if cmp -s "$2" "$3"; then assert_pass "$1"; else
    assert_fail "$1" "$(stat -c %s "$2") bytes expected, $(stat -c %s "$3") came"; fi
}

step "the SDK decrypts our messages"
for p in p-0 p-1k p-8k p-5m-random p-5m-text p-5m-mixed; do
  for frame in 4096 default; do
    # The SDK takes ~1 s per 5 MiB here: the big inputs only with our default frames.
    case $p in p-5m-*) [ "$frame" = default ] || continue ;; esac
    fl=(); [ "$frame" = default ] || fl=(--frame-length "$frame")
    "$driver" encrypt --gzip "${ring[@]}" "${ctx[@]}" "${fl[@]}" <"$work/$p" >"$work/ours.esdk" 2>/dev/null
    node "$esdk" decrypt "${ring[@]}" "${ctx[@]}" <"$work/ours.esdk" 2>"$work/esdk.err" |
      gunzip >"$work/back"
    same "$p, gzip, frame $frame: ESDK decrypt + gunzip" "$work/$p" "$work/back"
  done
  "$driver" encrypt "${ring[@]}" "${ctx[@]}" <"$work/$p" >"$work/ours.esdk" 2>/dev/null
  node "$esdk" decrypt "${ring[@]}" "${ctx[@]}" <"$work/ours.esdk" >"$work/back" 2>"$work/esdk.err"
  same "$p, no gzip: ESDK decrypt" "$work/$p" "$work/back"
done
# Parallel deflate (pgzip.h, what a backup uses on more than 2 cores): one gzip member the SDK's
# plaintext gunzips to the source, and the same message body whatever the number of workers.
for p in p-0 p-5m-text p-5m-random p-5m-mixed; do
  "$driver" encrypt --gzip --deflate-workers 3 "${ring[@]}" "${ctx[@]}" <"$work/$p" >"$work/ours.esdk" 2>/dev/null
  node "$esdk" decrypt "${ring[@]}" "${ctx[@]}" <"$work/ours.esdk" 2>"$work/esdk.err" >"$work/back.gz"
  gunzip <"$work/back.gz" >"$work/back"
  same "$p, gzip on 3 deflate workers: ESDK decrypt + gunzip" "$work/$p" "$work/back"
  "$driver" encrypt --gzip --deflate-workers 1 "${ring[@]}" "${ctx[@]}" <"$work/$p" >"$work/ours1.esdk" 2>/dev/null
  node "$esdk" decrypt "${ring[@]}" "${ctx[@]}" <"$work/ours1.esdk" 2>/dev/null >"$work/back1.gz"
  same "$p: the gzip bytes do not depend on the number of deflate workers" "$work/back.gz" "$work/back1.gz"
done
assert_contains "the SDK sees our context" '"kind":"etcd-snapshot"' "$(cat "$work/esdk.err")"
# A keyring built as a user's script would (no utf8Sorting: localeCompare order for its AAD) with
# the keys a backup's context has: they sort the same both ways, so it opens our message too.
"$driver" encrypt --gzip "${ring[@]}" "${ctx[@]}" --context etcd_revision=42 <"$work/p-1k" \
  >"$work/ours.esdk" 2>/dev/null
node "$esdk" decrypt "${ring[@]}" --default-sorting <"$work/ours.esdk" 2>/dev/null | gunzip >"$work/back"
same "p-1k, backup context keys: ESDK decrypt with the keyring's default sorting" "$work/p-1k" "$work/back"

step "we decrypt the SDK's messages, made now"
for p in p-0 p-1k p-8k p-5m-random; do
  for frame in default 65536 100; do
    [ "$p" = p-5m-random ] && [ "$frame" != default ] && continue
    fl=(); [ "$frame" = default ] || fl=(--frame-length "$frame")
    node "$esdk" encrypt "${ring[@]}" "${ctx[@]}" "${fl[@]}" <"$work/$p" >"$work/theirs.esdk"
    "$driver" decrypt "${ring[@]}" "${ctx[@]}" <"$work/theirs.esdk" >"$work/back" 2>"$work/drv.err" ||
      { cat "$work/drv.err" >&2; exit 1; }
    same "$p, frame $frame: our decrypt" "$work/$p" "$work/back"
    assert_contains "$p: our sha256 of the plaintext" "sha256=$(sha256sum <"$work/$p" | cut -c1-64)" \
      "$(cat "$work/drv.err")"
  done
done

step "tampered and truncated SDK messages fail"
node "$esdk" encrypt "${ring[@]}" "${ctx[@]}" <"$work/p-8k" >"$work/theirs.esdk"
size=$(stat -c %s "$work/theirs.esdk")
for at in 0 5 50 150 $((size / 2)) $((size - 1)); do
  cp "$work/theirs.esdk" "$work/bad.esdk"
  byte=$(od -An -tu1 -j "$at" -N1 "$work/bad.esdk" | tr -d ' ')
  printf "$(printf '\\%03o' $(( byte ^ 1 )))" |
    dd of="$work/bad.esdk" bs=1 seek="$at" conv=notrunc status=none
  if "$driver" decrypt "${ring[@]}" <"$work/bad.esdk" >/dev/null 2>"$work/drv.err"; then
    echo "FAIL: byte $at flipped, yet the message decrypted" >&2; exit 1; fi
  assert_pass "byte $at flipped: $(cat "$work/drv.err")"
done
head -c $((size - 1)) "$work/theirs.esdk" >"$work/bad.esdk"
if "$driver" decrypt "${ring[@]}" <"$work/bad.esdk" >/dev/null 2>"$work/drv.err"; then
  echo "FAIL: truncated message decrypted" >&2; exit 1; fi
assert_contains "truncated SDK message" "truncated" "$(cat "$work/drv.err")"
head -c 32 /dev/urandom >"$work/other-key"
if "$driver" decrypt --raw-aes-key-file "$work/other-key" --key-namespace etcd-ansible \
    --key-name backup-key <"$work/theirs.esdk" >/dev/null 2>"$work/drv.err"; then
  echo "FAIL: another wrapping key opened the message" >&2; exit 1; fi
assert_contains "another wrapping key" "does not open" "$(cat "$work/drv.err")"

mib=${BENCH_MIB:-64}
if [ "$mib" -gt 0 ]; then
  # Random input by default (incompressible: deflate's slow case, AES-GCM's plain one);
  # BENCH_INPUT=text measures base64 lines instead.
  step "throughput on $mib MiB (encrypt to /dev/null; decrypt from a file)"
  head -c $((mib << 20)) /dev/urandom >"$work/big-random"
  if [ "${BENCH_INPUT:-random}" = text ]; then
    text_of "$work/big-random" $((mib << 20)) >"$work/big-text"
    rm "$work/big-random"
  fi
  input=big-${BENCH_INPUT:-random}
  for g in "" --gzip; do
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$driver" encrypt $g "${ring[@]}" "${ctx[@]}" \
      <"$work/$input" >/dev/null 2>/dev/null
    read -r secs user sys rss <"$work/time"
    # CPU time too: on a shared test host the wall clock mostly measures the neighbours.
    echo "bench encrypt ${g:-(no gzip)} $input: $secs s wall, $(awk -v s="$secs" -v u="$user" \
      -v y="$sys" -v m="$mib" 'BEGIN { printf "%.0f MiB/s; %.2f s CPU, %.0f MiB/s of CPU", \
      (s > 0 ? m / s : 0), u + y, (u + y > 0 ? m / (u + y) : 0) }'), max RSS $rss KiB"
    [ "$rss" -lt 65536 ] || assert_fail "max RSS $rss KiB: not constant memory" "(see above)"
  done
  "$driver" encrypt --gzip "${ring[@]}" <"$work/$input" >"$work/big.esdk" 2>/dev/null
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$driver" decrypt --gzip "${ring[@]}" \
    <"$work/big.esdk" >/dev/null 2>/dev/null
  read -r secs user sys rss <"$work/time"
  echo "bench decrypt --gzip $input ($(stat -c %s "$work/big.esdk") bytes): $secs s wall," \
    "$user s user + $sys s sys, max RSS $rss KiB"
  [ "$rss" -lt 65536 ] || assert_fail "max RSS $rss KiB: not constant memory" "(see above)"
fi
step "done"
