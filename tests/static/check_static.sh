#!/usr/bin/env bash
# Proof that every module binary is fully static: `file` must say so, and the binary must answer
# with valid JSON inside an empty chroot that holds only itself and its args file.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
root=$(mktemp -d /tmp/etcd-ansible-chroot.XXXXXX)
trap 'rm -rf "$root"' EXIT
fail=0

answer_in_chroot() { # $1 binary, $2 args text → prints the module's stdout
  rm -rf "${root:?}"/*
  cp "$1" "$root/module"
  printf '%s' "$2" >"$root/args"
  timeout 10 chroot "$root" /module /args || true
}

is_result_json() { # stdin: module output; must be one object with a boolean `failed`
  python3 -c 'import json,sys; r=json.load(sys.stdin); assert isinstance(r.get("failed"), bool), r'
}

printf '%-24s %10s  %s\n' module bytes result
for bin in "$@"; do
  name=$(basename "$bin")
  if ! file -L "$bin" | grep -q 'statically linked'; then
    echo "FAIL: $bin is not statically linked: $(file -L "$bin")"
    fail=1
    continue
  fi
  for args in '{}' 'not json' '{"_ansible_check_mode": true, "no_such_option": 1}'; do
    out=$(answer_in_chroot "$bin" "$args")
    if ! printf '%s' "$out" | is_result_json; then
      echo "FAIL: $name in an empty chroot with args '$args' printed: $out"
      fail=1
    fi
  done
  printf '%-24s %10s  %s\n' "$name" "$(stat -L -c %s "$bin")" "static, answers in an empty chroot"
done
exit $fail
