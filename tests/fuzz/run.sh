#!/usr/bin/env bash
# make fuzz [FUZZ_SECONDS=N]: builds the libFuzzer target for the args path and runs it for N seconds.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
seconds=${1:-60}
out=build/fuzz
mkdir -p "$out/corpus"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
clang -std=c11 -D_GNU_SOURCE -g -O1 -Imodule_utils -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -o "$out/fuzz_args" tests/fuzz/fuzz_args.c \
  module_utils/module.c module_utils/fs.c module_utils/error.c -ljansson
echo "fuzzing the args path for ${seconds}s (corpus in $out/corpus)"
"$out/fuzz_args" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 25
