#!/usr/bin/env bash
# Runs every cmocka unit test binary given; prints cmocka's summary lines; fails if any failed.
set -u
status=0
for t in "$@"; do
  echo "== $t"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$t" \
    || { echo "FAILED: $t"; status=1; }
done
exit $status
