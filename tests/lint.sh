#!/usr/bin/env bash
# make lint: clang-format (.clang-format), clang-tidy and cppcheck over module_utils/ and
# modules/ (clang-format also over the C of tests/ and bench/); any finding fails.
# Reformat with: clang-format -i $(git ls-files '*.c' '*.h')
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
sources=(module_utils/*.c modules/*.c)
flags=(-std=c11 -D_GNU_SOURCE -Imodule_utils -Ibuild/deps/include -DCURL_STATICLIB)
formatted=(module_utils/*.[ch] modules/*.c tests/unit/*.[ch] tests/fuzz/*.c tests/integration/*.c
  bench/*.c)
echo "clang-format: ${#formatted[@]} files"
clang-format --dry-run -Werror "${formatted[@]}"
# clang-tidy is the slow one (about 3 minutes for all files on one core): a file per process,
# as many processes as cores. xargs exits non-zero when any of them found something.
jobs=$(nproc 2>/dev/null || echo 2)
echo "clang-tidy: ${#sources[@]} files, $jobs at a time"
printf '%s\0' "${sources[@]}" |
  xargs -0 -P "$jobs" -I{} clang-tidy --quiet {} -- "${flags[@]}" 2>/dev/null ||
  { echo "clang-tidy: findings above" >&2; exit 1; }
echo "cppcheck: ${#sources[@]} files"
cppcheck -j "$jobs" --quiet --error-exitcode=1 --enable=warning,portability,performance \
  --inline-suppr --std=c11 -D_GNU_SOURCE -Imodule_utils --include=/usr/include/jansson.h \
  --suppress=unknownMacro --suppress=missingInclude \
  --suppress=missingIncludeSystem "${sources[@]}"
echo "lint: clean"
