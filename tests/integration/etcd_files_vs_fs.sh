#!/usr/bin/env bash
# etcd_files (the static binary) against the real filesystem, as root: directories, files and
# links made as wanted, compared first, check and diff modes, backups, secrets, refusals.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/lib/assert.sh

work=$(mktemp -d /tmp/etcd_files_vs_fs.XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
assert_trap cleanup
secret='s3cr3t-Backup-Key!'

run_files() { # run_files ARGS_JSON → prints the result; never fails the script
  printf '%s' "$1" >"$work/args.json"
  library/etcd_files "$work/args.json" || true
}
py() { python3 -c "import json,sys; r=json.load(sys.stdin); print($1)"; }

wanted() { # wanted UNIT_TEXT EXTRA_MEMBERS: a role's files under $work/etc, as the install role asks
  python3 -c '
import json, sys
w, unit, extra = sys.argv[1], sys.argv[2], sys.argv[3]
args = {
  "directories": [{"path": w + "/etc", "mode": "0755", "owner": "root"},
                  {"path": w + "/etc/data", "mode": "0700", "owner": "nobody", "group": "nogroup"}],
  "files": [{"path": w + "/etc/etcd.service", "mode": "0644", "owner": "root", "content": unit},
            {"path": w + "/etc/etcd.conf.yml", "mode": "0640", "owner": "root", "group": "nogroup",
             "content": "name: n1\ndata-dir: /var/lib/etcd\n"},
            {"path": w + "/etc/key", "mode": "0400", "owner": "root", "content": sys.argv[4],
             "secret": True}],
  "links": [{"path": w + "/etc/peer_ca.crt", "target": "root_ca.crt"}]}
args.update(json.loads("{" + extra + "}"))
print(json.dumps(args))' "$work" "$1" "$2" "$secret"
}

echo "-- a node without the files"
out=$(run_files "$(wanted $'[Unit]\nDescription=etcd\n' '"_ansible_diff": true')")
assert_eq "made: changed, 2 directories, 3 files, 1 link" "True 6" \
  "$(printf '%s' "$out" | py 'r["changed"], len(r["changed_paths"])')"
assert_eq "made: modes and owners exact" "755 root:root 700 nobody:nogroup 644 root:root 640 root:nogroup 400 root:root" \
  "$(stat -c '%a %U:%G' "$work/etc" "$work/etc/data" "$work/etc/etcd.service" "$work/etc/etcd.conf.yml" "$work/etc/key" | xargs)"
assert_eq "made: the link" "root_ca.crt" "$(readlink "$work/etc/peer_ca.crt")"
assert_eq "made: the text as given" "name: n1" "$(head -1 "$work/etc/etcd.conf.yml")"
assert_contains "diff: a new file's text" '"after": "name: n1\ndata-dir: /var/lib/etcd\n"' \
  "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["diff"]))')"
assert_contains "diff: a new directory's mode" "directory 0700 uid $(id -u nobody)" "$out"
assert_not_contains "secret: not in the output (args echo, diff)" "$secret" "$out"
assert_contains "secret: its diff shows no content" "secret content not shown" "$out"

echo "-- a rerun"
out=$(run_files "$(wanted $'[Unit]\nDescription=etcd\n' '"_ansible_diff": true')")
assert_eq "rerun: nothing changed, no diff" "False [] None" \
  "$(printf '%s' "$out" | py 'r["changed"], r["changed_paths"], r.get("diff")')"

echo "-- check mode"
out=$(run_files "$(wanted $'[Unit]\nDescription=etcd v2\n' '"_ansible_check_mode": true, "_ansible_diff": true')")
assert_eq "check: the unit would change" "True ['$work/etc/etcd.service']" \
  "$(printf '%s' "$out" | py 'r["changed"], r["changed_paths"]')"
assert_eq "check: the file untouched" "Description=etcd" "$(sed -n 2p "$work/etc/etcd.service")"
assert_contains "check: diff before and after" '"before": "[Unit]\nDescription=etcd\n", "after": "[Unit]\nDescription=etcd v2\n"' \
  "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["diff"]))')"

echo "-- what drifted is mended; backup keeps what is replaced"
chmod 0666 "$work/etc/etcd.conf.yml"
ln -sfn elsewhere.crt "$work/etc/peer_ca.crt"
out=$(run_files "$(wanted $'[Unit]\nDescription=etcd v2\n' '"backup": true, "_ansible_diff": true')")
assert_eq "mended: the unit, the config's mode, the link" \
  "['$work/etc/etcd.service', '$work/etc/etcd.conf.yml', '$work/etc/peer_ca.crt']" \
  "$(printf '%s' "$out" | py 'r["changed_paths"]')"
assert_eq "mended: mode, link, new text" "640 root_ca.crt Description=etcd v2" \
  "$(stat -c %a "$work/etc/etcd.conf.yml") $(readlink "$work/etc/peer_ca.crt") $(sed -n 2p "$work/etc/etcd.service")"
assert_contains "mended: the mode's diff" "file 0666 uid 0 gid $(getent group nogroup | cut -d: -f3)" "$out"
assert_contains "mended: the link's diff" "link to elsewhere.crt" "$out"
assert_eq "backup: the replaced unit kept" "Description=etcd" "$(sed -n 2p "$work"/etc/etcd.service.replaced-*)"
assert_eq "backup: only what was replaced" "1" "$(printf '%s' "$out" | py 'len(r["kept"])')"

echo "-- a directory's missing parents are made as mkdir -p makes them"
out=$(run_files '{"directories": [{"path": "'"$work"'/new/a/b", "mode": "0700", "owner": "nobody", "group": "nogroup"}]}')
assert_eq "parents: made, root's; the directory as wanted" "True 755 root 700 nobody" \
  "$(printf '%s' "$out" | py 'r["changed"]') $(stat -c '%a %U' "$work/new/a" "$work/new/a/b" | xargs)"
out=$(run_files '{"files": [{"path": "'"$work"'/none/f", "mode": "0644", "owner": "root", "content": "y"}]}')
assert_contains "a file's missing directory is an error, not made" "files[0]: " "$(json_get "$out" msg)"
assert_eq "no directory made for a file" "no" "$([ -e "$work/none" ] && echo yes || echo no)"

echo "-- refusals: nothing of another kind is replaced, bad entries are named"
rm "$work/etc/peer_ca.crt" && printf 'data\n' >"$work/etc/peer_ca.crt"
out=$(run_files "$(wanted $'[Unit]\nDescription=etcd v2\n' '')")
assert_contains "a file where the link should be is refused" "links[0]: $work/etc/peer_ca.crt: exists and is not a symbolic link" "$(json_get "$out" msg)"
assert_eq "the file is kept" "data" "$(cat "$work/etc/peer_ca.crt")"
rm "$work/etc/peer_ca.crt"
mkdir "$work/etc/x"
out=$(run_files '{"files": [{"path": "'"$work"'/etc/x", "mode": "0644", "owner": "root", "content": "y"}]}')
assert_contains "a directory where a file should be is refused" "files[0]: $work/etc/x: exists and is not a regular file" "$(json_get "$out" msg)"
out=$(run_files '{"files": [{"path": "etc/y", "mode": "0644", "owner": "root", "content": "y"}]}')
assert_contains "a relative path is refused, named" "files[0].path must be an absolute path" "$(json_get "$out" msg)"
out=$(run_files '{"directories": [{"path": "'"$work"'/../escape", "mode": "0755", "owner": "root"}]}')
assert_contains "a path with .. is refused, named" "directories[0].path must be an absolute path without '..'" "$(json_get "$out" msg)"
out=$(run_files '{"files": [{"path": "'"$work"'/etc/y", "mode": "0644", "owner": "no-such-user-x", "content": "y"}]}')
assert_contains "an unknown owner is refused, named" "files[0].owner ($work/etc/y)" "$(json_get "$out" msg)"
out=$(run_files '{"files": [{"path": "'"$work"'/etc/y", "mode": "0644", "owner": "root"}]}')
assert_contains "a file without content is refused, named" "files[0].content ($work/etc/y) must be text" "$(json_get "$out" msg)"
out=$(run_files '{"files": [{"path": "'"$work"'/etc/y", "mode": "u+rw", "owner": "root", "content": "y"}]}')
assert_contains "a mode that is not octal is refused, named" "files[0].mode" "$(json_get "$out" msg)"
out=$(run_files '{"links": [{"path": "'"$work"'/etc/l"}]}')
assert_contains "a link without a target is refused, named" "links[0].target ($work/etc/l) is required" "$(json_get "$out" msg)"
assert_eq "nothing written on a refusal" "no" "$([ -e "$work/etc/y" ] || [ -e "$work/etc/l" ] && echo yes || echo no)"
out=$(run_files '{"directories": [{"path": "'"$work"'/d1", "mode": "0755", "owner": "root"}], "files": [{"path": "'"$work"'/f1", "mode": "0644", "owner": "root", "content": "y"}], "links": [{"path": "'"$work"'/l1", "target": ""}]}')
assert_contains "a bad last entry is refused, named" "links[0].target ($work/l1) is required" "$(json_get "$out" msg)"
assert_eq "every entry is checked first: the good ones before it are not written" "no no" \
  "$([ -e "$work/d1" ] && echo yes || echo no) $([ -e "$work/f1" ] && echo yes || echo no)"
head -c 300000 /dev/zero | tr '\0' 'x' >"$work/big"
out=$(run_files '{"files": [{"path": "'"$work"'/big", "mode": "0644", "owner": "root", "content": "small\n"}], "_ansible_diff": true, "_ansible_check_mode": true}')
assert_contains "diff: a large old file is named, not shown" "larger than 256 KiB, not shown" "$out"
out=$(run_files '{"mode": "0644"}')
assert_contains "an unknown option is named" "mode" "$(json_get "$out" msg)"
