#!/usr/bin/env bash
# make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="tar envelope"]: builds the libFuzzer targets
# (clang, ASan + UBSan) and runs each for N seconds, one after the other: the total is N times the
# number of targets (5 by default). Targets:
#   args      the module args path (module.c)             tests/fuzz/fuzz_args.c
#   envelope  ESDK messages from S3 (envelope.c)          tests/fuzz/fuzz_envelope.c
#   tar       CA archives from backups (tar.c)            tests/fuzz/fuzz_tar.c
#   snapshot  etcd's NDJSON snapshot stream, bbolt metas  tests/fuzz/fuzz_snapshot.c
#   s3_xml    S3's XML answers (s3_xml.c)                 tests/fuzz/fuzz_s3_xml.c
# Corpora: tests/fuzz/corpus/<target>/ (seeds and inputs that found bugs) are copied into
# build/fuzz/corpus/<target>/, where libFuzzer adds what it finds; a crash is written to
# build/fuzz/crash-<target>-*, and the run fails.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
seconds=${1:-60}
targets=${FUZZ_TARGETS:-args envelope tar snapshot s3_xml}
out=build/fuzz
deps=build/deps
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -Imodule_utils -I"$deps/include")
# -Werror for our targets; module_utils is held to gcc's warnings by the Makefile (clang's differ)
werror=(-Wall -Wextra -Werror)
libs=(-L"$deps/lib" -lcurl -lcares -lssl -lcrypto -lz -ljansson -lsystemd -lcap -pthread)
mkdir -p "$out/obj"

# module_utils once, instrumented, as an archive: each target links what it uses.
objs=()
for src in module_utils/*.c; do
  obj=$out/obj/$(basename "${src%.c}").o
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find module_utils -name '*.h' -newer "$obj")" ]; then
    clang "${cflags[@]}" -w -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
      -c -o "$obj" "$src"
  fi
  objs+=("$obj")
done
rm -f "$out/libutils.a" && ar rcs "$out/libutils.a" "${objs[@]}"

# Per target: max_len (a seed must fit) and seeds made at run time.
max_len() {
  case $1 in
    envelope) echo 32768 ;;   # the golden 10000-byte messages fit
    snapshot) echo 131072 ;;  # etcd-3.4.23-snapshot.ndjson is 114880 bytes
    tar) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

seed() {
  local t=$1 dir=$2
  case $t in
    envelope)
      cp tests/unit/vectors/esdk/*.esdk "$dir/"
      clang "${cflags[@]}" "${werror[@]}" -o "$out/gen_envelope" tests/fuzz/gen_envelope.c module_utils/envelope.c \
        module_utils/pgzip.c module_utils/error.c -lcrypto -lz -pthread
      "$out/gen_envelope" "$dir" ;;
    snapshot)
      cp tests/unit/vectors/snapshot/*.ndjson "$dir/" ;;
  esac
}

status=0
for t in $targets; do
  src=tests/fuzz/fuzz_$t.c
  [ -e "$src" ] || { echo "no fuzz target $t ($src)"; exit 2; }
  if [ "$t" = args ]; then
    clang "${cflags[@]}" "${werror[@]}" "${san[@]}" -o "$out/fuzz_$t" "$src" module_utils/module.c module_utils/fs.c \
      module_utils/error.c -ljansson
  else
    clang "${cflags[@]}" "${werror[@]}" "${san[@]}" -o "$out/fuzz_$t" "$src" "$out/libutils.a" "${libs[@]}"
  fi
  mkdir -p "$out/corpus/$t"
  cp -n tests/fuzz/corpus/"$t"/* "$out/corpus/$t/" 2>/dev/null || true
  seed "$t" "$out/corpus/$t"
  echo "== fuzzing $t for ${seconds}s (corpus in $out/corpus/$t)"
  ASAN_OPTIONS=detect_leaks=1 \
  "$out/fuzz_$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crash-$t-" "$out/corpus/$t" \
    >"$out/$t.log" 2>&1 || { status=1; echo "FAILED: $t (log: $out/$t.log)"; }
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::number_of_executed_units|^stat::peak_rss|ERROR|SUMMARY' "$out/$t.log" | tail -n 8
done
exit $status
