#!/usr/bin/env bash
# Proves module_utils/jose against the Go code step-ca 0.19 runs (Debian golang-* packages under
# /usr/share/gocode, no network):
#   run.sh               builds ours.c and gen.go; step's code decrypts our encryptedKey and
#                        step-ca's JWK provisioner authorizes our token (gen -check)
#   run.sh --regenerate  also rewrites ../pbes2.json, ../jwk.json, ../jws.json (new random keys)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$tmp/gen" "$here/gen.go" 2>"$tmp/go.log" \
  || { cat "$tmp/go.log"; exit 1; }
if [ "${1:-}" = --regenerate ]; then
  "$tmp/gen" -out "$here/.."
  echo "vectors rewritten in $here/.."
fi
cc -std=c11 -D_GNU_SOURCE -I"$root/module_utils" -Wall -Wextra -Werror -o "$tmp/ours" \
  "$here/ours.c" "$root"/module_utils/{b64,jose,error}.c -lcrypto -ljansson
"$tmp/ours" >"$tmp/ours.json"
"$tmp/gen" -check "$tmp/ours.json"
