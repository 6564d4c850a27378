#!/usr/bin/env bash
# make ansible-check: the Ansible side, without test hosts. Each case runs even when an earlier
# one failed; the script ends with "N passed, M failed".
#   1. modules/NAME.yml against each binary's option table; ansible-doc -l lists every module;
#      every role default has a meta/argument_specs.yml entry; the roles diagram names every role
#   2. ansible-playbook --syntax-check of every playbook in the checkout
#   3. ansible-lint --profile production (config: .ansible-lint)
#   4. the strategy linear_quick_skip against linear (tests/ansible/quick_skip.yaml)
#   5. the collection: `make collection`, installed with ansible-galaxy into a directory outside
#      the checkout, then used from there by FQCN: ansible-doc, a module, a role, the playbooks
# Logs: build/ansible-check/.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
work=$top/build/ansible-check
rm -rf "$work"
mkdir -p "$work"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
passed=0 failed=0 failures=()

run_case() { # run_case TITLE FUNCTION: runs it, logs into $work/<function>.log
  local title=$1 fn=$2 t0=$SECONDS
  # In the background, not as an if's condition: there bash ignores the cases' set -e, and a
  # failed check in the middle of a case would pass unseen.
  "$fn" >"$work/$fn.log" 2>&1 &
  if wait $!; then
    passed=$((passed + 1))
    echo "ok   $title ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$title")
    echo "FAIL $title ($((SECONDS - t0)) s; log: $work/$fn.log)"
    tail -n 30 "$work/$fn.log" | sed 's/^/     /'
  fi
}

# refused OPTION-NAME-IN-MESSAGE ARGS: the case's run() with ARGS fails cleanly (no exception),
# its message naming the option.
refused() {
  local out
  out=$(run -a "$2" || true)
  echo "$out"
  grep -q 'FAILED!' <<<"$out" && ! grep -q 'exception occurred' <<<"$out" && grep -qF "\"msg\": \"$1" <<<"$out"
}

module_docs() { python3 tests/ansible/module_docs.py library; }

role_specs() { python3 tests/ansible/role_specs.py; }

# docs/ansible-roles.dot renders and names every role (a new role must appear in the diagram).
diagram() {
  local role rc=0
  dot -Tsvg docs/ansible-roles.dot >/dev/null || return 1
  [ -s docs/ansible-roles.png ] || { echo "docs/ansible-roles.png is missing: make docs/ansible-roles.png"; return 1; }
  for role in $(find roles -name meta -type d | sed 's#^roles/##; s#/meta$##'); do
    if grep -q "\"$role[\"\\]" docs/ansible-roles.dot; then
      echo "ok   $role"
    else
      echo "FAIL $role is not in docs/ansible-roles.dot"
      rc=1
    fi
  done
  return $rc
}

# Every YAML file of the checkout whose top level is a list of plays.
playbooks() {
  python3 - <<'PY'
import pathlib, yaml
for p in sorted(pathlib.Path(".").rglob("*.y*ml")):
    if p.parts[0] in ("build", "library", "roles", "group_vars", "node_modules", "collection") or p.suffix not in (".yml", ".yaml"):
        continue
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except Exception:
        continue
    if isinstance(data, list) and data and all(isinstance(x, dict) and ("hosts" in x or "import_playbook" in x) for x in data):
        print(p)
PY
}

syntax_check() {
  local p rc=0 n=0
  for p in $(playbooks); do
    n=$((n + 1))
    if ansible-playbook --syntax-check -i localhost, "$p" >"$work/syntax.out" 2>&1; then
      echo "ok   $p"
    else
      echo "FAIL $p"
      cat "$work/syntax.out"
      rc=1
    fi
  done
  echo "$n playbooks"
  [ "$n" -gt 0 ] && return $rc
}

lint() { ansible-lint --profile production --nocolor; }

# The collection, installed outside the checkout and used from there.
collection() {
  local tarball outside rc
  scripts/collection.sh || return 1
  tarball=$(ls build/collection/etcd_ansible-etcd-*.tar.gz)
  outside=$(mktemp -d /tmp/etcd-ansible-collection.XXXXXX)
  (
    set -e
    cd "$outside"
    # A project of its own, as a user has it: its ansible.cfg says where collections go; the
    # checkout's ansible.cfg (library, roles_path) does not apply here.
    unset ANSIBLE_CONFIG ANSIBLE_LIBRARY ANSIBLE_ROLES_PATH ANSIBLE_COLLECTIONS_PATH
    printf '[defaults]\ncollections_path = ./collections\n' >ansible.cfg
    ansible-galaxy collection install "$top/$tarball"
    list=$(ansible-doc -l etcd_ansible.etcd 2>&1)
    echo "$list"
    ! grep -q "documentation formatting error" <<<"$list"
    for m in $(cd "$top/modules" && ls *.yml | sed 's/\.yml$//'); do
      grep -q "^etcd_ansible\.etcd\.$m " <<<"$list" || { echo "FAIL: ansible-doc -l lacks $m"; exit 1; }
    done
    # A module by FQCN: the binary runs (and fails as it should on a closed port).
    out=$(ansible localhost -m etcd_ansible.etcd.etcd_member -a 'endpoints=https://127.0.0.1:9 timeout=2' 2>&1 || true)
    echo "$out"
    grep -q '"msg": "endpoints: no endpoint answered' <<<"$out"
    # A role by FQCN: etcd_ansible.etcd.etcd3.facts (and its dependency etcd_ansible.etcd.etcd3).
    printf '[etcd]\nnode1 ansible_connection=local ansible_host=127.0.0.1\n' >inventory.ini
    cat >role.yml <<'YML'
- name: Use a role of the collection by FQCN
  hosts: etcd
  gather_facts: false
  roles:
    - role: etcd_ansible.etcd.etcd3.facts
  tasks:
    - name: Show the endpoints the role found
      ansible.builtin.debug:
        msg: "endpoints {{ etcd_access_addresses }}"
YML
    out=$(ansible-playbook -i inventory.ini role.yml 2>&1) || { echo "$out"; exit 1; }
    echo "$out"
    grep -q '"msg": "endpoints https://127.0.0.1:2379"' <<<"$out"
    # The same with the collection's strategy, by FQCN.
    out=$(ANSIBLE_STRATEGY=etcd_ansible.etcd.linear_quick_skip ansible-playbook -i inventory.ini role.yml 2>&1) || { echo "$out"; exit 1; }
    echo "$out"
    grep -q '"msg": "endpoints https://127.0.0.1:2379"' <<<"$out"
    for p in "$outside"/collections/ansible_collections/etcd_ansible/etcd/playbooks/*.yaml; do
      ansible-playbook --syntax-check -i localhost, "etcd_ansible.etcd.$(basename "$p" .yaml)"
    done
  )
  rc=$?
  rm -rf "$outside"
  return $rc
}

# etcd_install_binaries (action_plugins/) on this machine through the local connection, as the
# current user: check mode, an install, a rerun of the same files, each bad option refused by name.
install_binaries() {
  local d rc me grp
  d=$(mktemp -d /tmp/etcd-ansible-install.XXXXXX)
  me=$(id -un) grp=$(id -gn)
  (
    set -e
    mkdir "$d/bin" && printf 'one\n' >"$d/a" && head -c 3000000 /dev/urandom >"$d/b"
    args() { printf '{"dir": "%s/bin", "owner": "%s", "group": "%s", "mode": "0750", "files": %s, "links": %s}' \
      "$d" "$me" "$grp" "$1" "${2:-[]}"; }
    files="[{\"src\": \"$d/a\", \"dest\": \"a\"}, {\"src\": \"$d/b\", \"dest\": \"b\"}]"
    links="[{\"path\": \"$d/link\", \"to\": \"bin/b\"}]"
    run() { ansible localhost -c local -m etcd_install_binaries "$@" 2>&1; }
    out=$(run -C -a "$(args "$files" "$links")"); echo "$out"
    grep -q '"changed": true' <<<"$out" && [ -z "$(ls -A "$d/bin")" ] && [ ! -L "$d/link" ]
    out=$(run -a "$(args "$files" "$links")"); echo "$out"
    grep -q '"changed": true' <<<"$out"
    cmp "$d/a" "$d/bin/a" && cmp "$d/b" "$d/bin/b"
    [ "$(stat -c '%a %U' "$d/bin/a" "$d/bin/b" | xargs)" = "750 $me 750 $me" ]
    [ "$(readlink "$d/link")" = bin/b ] && [ "$(ls -A "$d/bin" | xargs)" = "a b" ]
    # It looks first: the same files again change nothing; a changed source is the one installed.
    out=$(run -a "$(args "$files" "$links")"); echo "$out"
    grep -q '"changed": false' <<<"$out"
    printf 'two\n' >"$d/a"
    out=$(run -C -a "$(args "$files" "$links")"); echo "$out"
    grep -q '"changed": true' <<<"$out" && grep -q "\"$d/bin/a\"" <<<"$out" && ! grep -q "\"$d/bin/b\"" <<<"$out"
    ! cmp -s "$d/a" "$d/bin/a"
    out=$(run -a "$(args "$files" "$links")"); echo "$out"
    grep -q '"changed": true' <<<"$out" && cmp "$d/a" "$d/bin/a"
    chmod 0700 "$d/bin/b" && ln -sfn bin/a "$d/link"
    out=$(run -a "$(args "$files" "$links")"); echo "$out"
    grep -q "\"$d/bin/b\"" <<<"$out" && grep -q "\"$d/link\"" <<<"$out" && ! grep -q "\"$d/bin/a\"" <<<"$out"
    [ "$(stat -c '%a' "$d/bin/b")" = 750 ] && [ "$(readlink "$d/link")" = bin/b ]
    # become_method su cannot take stdin: each file goes through ansible.builtin.copy instead
    # (root to root needs no password; another user cannot su, so this part needs root).
    if [ "$(id -u)" = 0 ]; then
      printf 'three\n' >"$d/a"
      out=$(run -b --become-method su -a "$(args "[{\"src\": \"$d/a\", \"dest\": \"a\"}]")"); echo "$out"
      grep -q '"changed": true' <<<"$out" && cmp "$d/a" "$d/bin/a"
      [ "$(stat -c '%a %U' "$d/bin/a")" = "750 $me" ]
    fi
    # A build already in the module cache (root's /var/lib/etcd-ansible/modules/<name>-<sha256>)
    # is copied from there, not sent; a damaged entry is not used: the file is sent.
    if [ "$(id -u)" = 0 ]; then
      cache=/var/lib/etcd-ansible/modules n=etcd-ansible-test-cached
      from_cache() { # "<changed> <paths from the module cache>" of a result
        python3 -c 'import json, sys; r = json.loads(sys.argv[1][sys.argv[1].index("{"):]); print(r["changed"], " ".join(r["from_module_cache"]))' "$1"; }
      head -c 200000 /dev/urandom >"$d/c" && mkdir -p "$cache"
      cp "$d/c" "$cache/$n-$(sha256sum <"$d/c" | cut -d' ' -f1)"
      out=$(run -a "$(args "[{\"src\": \"$d/c\", \"dest\": \"$n\"}]")"); echo "$out"
      [ "$(from_cache "$out")" = "True $d/bin/$n" ] && cmp "$d/c" "$d/bin/$n"
      head -c 200000 /dev/urandom >"$d/c"
      head -c 200000 /dev/urandom >"$cache/$n-$(sha256sum <"$d/c" | cut -d' ' -f1)"
      out=$(run -a "$(args "[{\"src\": \"$d/c\", \"dest\": \"$n\"}]")"); rm -f "$cache/$n"-*; echo "$out"
      [ "$(from_cache "$out")" = "True " ] && cmp "$d/c" "$d/bin/$n"
      rm -f "$d/bin/$n" "$d/c"
    fi
    refused "files[0].dest" "$(args "[{\"src\": \"$d/a\", \"dest\": \"../x\"}]")"
    refused "files[0].src" "$(args "[{\"src\": \"$d/none\", \"dest\": \"x\"}]")"
    # missing_msg: the caller's advice replaces the default message (modules.yml: "build with make").
    refused "not built here: run make" "$(args "[{\"src\": \"$d/none\", \"dest\": \"x\"}]" | sed 's/}$/, "missing_msg": "not built here: run make"}/')"
    refused "dir" '{"dir": "relative", "files": []}'
    refused "mode" "$(args "$files" | sed 's/"0750"/"999"/')"
    refused "links[0]" "$(args "$files" '[{"path": "rel", "to": "x"}]')"
    [ ! -e "$d/x" ] && [ "$(ls -A "$d/bin" | xargs)" = "a b" ]
  )
  rc=$?
  rm -rf "$d"
  return $rc
}

# etcd_look (action_plugins/) on this machine through the local connection: what it reports for a
# file (SHA-1), a directory, a link, a name with a space, a missing path and the accounts, the
# text of a file it reads (none of a missing one), a warning for a missing path, in check mode
# too (it only reads); each bad option refused by name.
look() {
  local d rc
  d=$(mktemp -d /tmp/etcd-ansible-look.XXXXXX)
  (
    set -e
    mkdir -m 0700 "$d/dir" && printf 'one\n' >"$d/f" && chmod 0640 "$d/f" && ln -s f "$d/link"
    printf 'x' >"$d/with space"
    me=$(id -un) grp=$(id -gn)
    run() { ansible localhost -c local -m etcd_look "$@" 2>&1; }
    out=$(run -C -a "{\"paths\": [\"$d/f\", \"$d/dir\", \"$d/link\", \"$d/with space\", \"$d/none\"],
      \"users\": [\"$me\", \"no-such-user-x\"], \"groups\": [\"$grp\"], \"read\": [\"$d/f\", \"$d/none\"],
      \"as\": \"seen\"}")
    echo "$out"
    LOOK_OUT=$out python3 - "$d" "$me" "$grp" "$(sha1sum <"$d/f" | cut -d' ' -f1)" "$(getent passwd "$me")" <<'PY'
import json, os, sys
d, me, grp, sha, pw = sys.argv[1:6]
out = os.environ["LOOK_OUT"]
res = json.loads(out[out.index("{"):])
seen = res["ansible_facts"]["seen"]
assert res["changed"] is False, res
assert seen[d + "/f"] == "f 0640 %s %s %s" % (me, grp, sha), seen
assert seen[d + "/dir"] == "d 0700 %s %s " % (me, grp), seen
assert seen[d + "/link"] == "l 0777 %s %s f" % (me, grp), seen
assert seen[d + "/with space"].startswith("f 0"), seen
assert d + "/none" not in seen and "user:no-such-user-x" not in seen, seen
assert seen["user:" + me] == pw and seen["group:" + grp].startswith(grp + ":"), seen
assert seen["text:" + d + "/f"] == "one\n" and "text:" + d + "/none" not in seen, seen
PY
    refused "as:" "{\"paths\": [\"$d/f\"]}"
    refused "as:" "{\"paths\": [\"$d/f\"], \"as\": \"not-a-name\"}"
    refused "paths[1]" "{\"paths\": [\"$d/f\", \"relative\"], \"as\": \"x\"}"
    refused "users[0]" '{"users": ["a b"], "as": "x"}'
    refused "read[0]" '{"read": ["etc/x"], "as": "x"}'
    refused "warn_missing:" '{"warn_missing": ["/x"], "as": "x"}'
    refused "warn_missing[/x]" '{"warn_missing": {"/x": ""}, "as": "x"}'
    # warn_missing: a warning for a missing path (looked at though not in paths), none for one there.
    out=$(run -a "{\"warn_missing\": {\"$d/none\": \"none is missing here\", \"$d/f\": \"f is missing\"}, \"as\": \"w\"}")
    echo "$out"
    grep -q 'WARNING\]: none is missing here' <<<"$out" && ! grep -q 'f is missing' <<<"$out"
    grep -q "\"$d/f\": \"f 0640" <<<"$out"
    refused "units:" '{"units": "one.service", "as": "x"}'
    refused "identity:" '{"identity": "maybe", "as": "x"}'
    refused "glob[0]" '{"glob": ["etc/*.service"], "as": "x"}'
    # glob: the paths each pattern matches, sorted, a name with a space whole; [] for none.
    out=$(run -C -a "{\"glob\": [\"$d/*\", \"$d/no-such-*\"], \"as\": \"g\"}"); echo "$out"
    LOOK_OUT=$out python3 - "$d" <<'PY'
import json, os, sys
d = sys.argv[1]
out = os.environ["LOOK_OUT"]
g = json.loads(out[out.index("{"):])["ansible_facts"]["g"]
assert g["glob:" + d + "/*"] == sorted(d + "/" + n for n in ["dir", "f", "link", "with space"]), g
assert g["glob:" + d + "/no-such-*"] == [], g
PY
    # ports: the addresses listening on each TCP port (IPv4 and IPv6), [] for a free one.
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
s6 = socket.socket(socket.AF_INET6); s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.bind(("::1", s.getsockname()[1])); s6.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$d/port" &
    listener=$!
    for _ in $(seq 50); do [ -s "$d/port" ] && break; sleep 0.1; done
    port=$(cat "$d/port")
    free=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    out=$(run -C -a "{\"ports\": [$port, \"$free\"], \"as\": \"p\"}"); kill "$listener"; echo "$out"
    LOOK_OUT=$out python3 - "$port" "$free" <<'PY'
import json, os, sys
port, free = sys.argv[1:3]
out = os.environ["LOOK_OUT"]
p = json.loads(out[out.index("{"):])["ansible_facts"]["p"]
assert p["port:" + port] == ["127.0.0.1", "::1"], p
assert p["port:" + free] == [], p
PY
    refused "ports[0]" '{"ports": [70000], "as": "x"}'
    refused "ports[1]" '{"ports": [22, "ssh"], "as": "x"}'
    refused "ports:" '{"ports": 22, "as": "x"}'
    # identity: ansible_hostname and ansible_default_ipv4 as setup finds them (uname -n up to its
    # first dot; the src of the route to 8.8.8.8, {} without one), in check mode too.
    out=$(run -C -a '{"identity": true, "as": "who"}'); echo "$out"
    want_ip=$(ip -4 route get 8.8.8.8 2>/dev/null | grep -o 'src [0-9.]*' | cut -d' ' -f2 || true)
    LOOK_OUT=$out python3 - "$(uname -n | cut -d. -f1)" "$want_ip" <<'PY'
import json, os, sys
name, ip = sys.argv[1:3]
out = os.environ["LOOK_OUT"]
facts = json.loads(out[out.index("{"):])["ansible_facts"]
assert facts["ansible_hostname"] == name, facts
assert facts["ansible_default_ipv4"] == ({"address": ip} if ip else {}), facts
PY
  )
  rc=$?
  rm -rf "$d"
  return $rc
}

# etcd_read (action_plugins/) on this machine through the local connection: the bytes of each
# file (binary too), in check mode too; a missing path, a directory, a link and a file bigger than
# max_bytes each fail the task naming the path, with no content in the message; bad options
# refused by name.
read_files() {
  local d rc
  d=$(mktemp -d /tmp/etcd-ansible-read.XXXXXX)
  (
    set -e
    printf 'one\n' >"$d/a" && head -c 3000 /dev/urandom >"$d/bin" && printf 'secret-x\n' >"$d/with space"
    mkdir "$d/dir" && ln -s a "$d/link" && head -c 2000 /dev/zero >"$d/big"
    run() { ansible localhost -c local -m etcd_read "$@" 2>&1; }
    out=$(run -C -a "{\"paths\": [\"$d/a\", \"$d/bin\", \"$d/with space\"]}")
    READ_OUT=$out python3 - "$d" <<'PY'
import base64, json, os, sys
d = sys.argv[1]
out = os.environ["READ_OUT"]
res = json.loads(out[out.index("{"):])
c = res["contents"]
assert res["changed"] is False and "ansible_facts" not in res, res
for name in ["a", "bin", "with space"]:
    assert base64.b64decode(c[d + "/" + name]) == open(d + "/" + name, "rb").read(), name
assert len(c) == 3, c
PY
    for bad in none dir link; do
      out=$(run -a "{\"paths\": [\"$d/a\", \"$d/$bad\"]}" || true); echo "$out"
      grep -q 'FAILED!' <<<"$out" && grep -qF "cannot read $d/$bad: " <<<"$out" && ! grep -q '"contents"' <<<"$out"
    done
    out=$(run -a "{\"paths\": [\"$d/big\"], \"max_bytes\": 1000}" || true); echo "$out"
    grep -qF "cannot read $d/big: bigger than max_bytes (2000 bytes)" <<<"$out"
    out=$(run -a "{\"paths\": [\"$d/with space\", \"$d/none\"]}" || true)
    ! grep -q 'secret-x\|c2VjcmV0LXgK' <<<"$out"
    refused "paths:" '{"max_bytes": 5}'
    refused "paths:" '{"paths": []}'
    refused "paths[1]" "{\"paths\": [\"$d/a\", \"relative\"]}"
    refused "max_bytes:" "{\"paths\": [\"$d/a\"], \"max_bytes\": 0}"
    refused "max_bytes:" "{\"paths\": [\"$d/a\"], \"max_bytes\": \"lots\"}"
  )
  rc=$?
  rm -rf "$d"
  return $rc
}

# etcd_account (action_plugins/) on this machine through the local connection: check mode
# reports what it would do and changes nothing; as root, a throwaway system account is made,
# found as wanted (no change), mended (shell, comment) and removed again; bad options refused.
account() {
  local u=etcd-ansible-acct-test rc
  (
    set -e
    run() { ansible localhost -c local -m etcd_account "$@" 2>&1; }
    ! getent passwd "$u" >/dev/null && ! getent group "$u" >/dev/null
    out=$(run -C -a "{\"name\": \"$u\", \"home\": \"/nonexistent\"}"); echo "$out"
    grep -q '"changed": true' <<<"$out" && grep -q "group $u created" <<<"$out" && grep -q "user $u created" <<<"$out"
    ! getent passwd "$u" >/dev/null
    me=$(id -un) line=$(getent passwd "$(id -un)")
    out=$(run -C -a "{\"name\": \"$me\", \"group\": \"$(id -gn)\", \"home\": \"$(cut -d: -f6 <<<"$line")\",
      \"shell\": \"$(cut -d: -f7 <<<"$line")\", \"comment\": \"$(cut -d: -f5 <<<"$line")\"}"); echo "$out"
    grep -q '"changed": false' <<<"$out"
    out=$(run -C -a "{\"name\": \"$me\", \"group\": \"$(id -gn)\", \"home\": \"/elsewhere\",
      \"shell\": \"$(cut -d: -f7 <<<"$line")\", \"comment\": \"$(cut -d: -f5 <<<"$line")\"}"); echo "$out"
    grep -q "user $me changed: home $(cut -d: -f6 <<<"$line") -> /elsewhere" <<<"$out"
    [ "$(getent passwd "$me")" = "$line" ]
    if [ "$(id -u)" = 0 ]; then
      out=$(run -a "{\"name\": \"$u\", \"home\": \"/nonexistent\", \"comment\": \"test\"}"); echo "$out"
      grep -q '"changed": true' <<<"$out"
      gid=$(getent group "$u" | cut -d: -f3)
      [ "$(getent passwd "$u" | cut -d: -f4-)" = "$gid:test:/nonexistent:/usr/sbin/nologin" ] && [ ! -e /nonexistent ]
      out=$(run -a "{\"name\": \"$u\", \"home\": \"/nonexistent\", \"comment\": \"test\"}"); echo "$out"
      grep -q '"changed": false' <<<"$out"
      usermod -s /bin/sh -c other "$u"
      out=$(run -a "{\"name\": \"$u\", \"home\": \"/nonexistent\", \"comment\": \"test\"}"); echo "$out"
      grep -q "user $u changed: comment other -> test, shell /bin/sh -> /usr/sbin/nologin" <<<"$out"
      [ "$(getent passwd "$u" | cut -d: -f4-)" = "$gid:test:/nonexistent:/usr/sbin/nologin" ]
    fi
    refused "name:" '{"home": "/x"}'
    refused "name:" '{"name": "a b", "home": "/x"}'
    refused "home:" '{"name": "x"}'
    refused "shell:" '{"name": "x", "home": "/x", "shell": "sh"}'
    refused "comment:" '{"name": "x", "home": "/x", "comment": "a:b"}'
  )
  rc=$?
  if [ "$(id -u)" = 0 ]; then userdel "$u" 2>/dev/null || true; groupdel "$u" 2>/dev/null || true; fi
  return $rc
}

# strategy_plugins/linear_quick_skip.py against linear, on three local hosts
# (tests/ansible/quick_skip.yaml): the same output (line order aside: hosts answer in any order)
# and the same registered results; with linear_quick_skip a `when` is decided in the main process
# and no worker evaluates it again (a false one starts no worker), while a loop's and a failing
# one go to a worker as with linear; controller actions (set_fact, assert, fail, debug, group_by, a role's
# argument validation) run in the main process, passing and failing as in a worker.
quick_skip() {
  local s d=$work/quick_skip
  for s in linear linear_quick_skip; do
    mkdir -p "$d/$s"
    ANSIBLE_STRATEGY=$s QUICK_SKIP_LOG=$d/$s/evaluated ansible-playbook -i tests/ansible/quick_skip_inventory.ini \
      tests/ansible/quick_skip.yaml -e out_dir="$d/$s" >"$d/$s/out.txt" 2>&1 || { cat "$d/$s/out.txt"; return 1; }
  done
  # On an ansible-core it was not tested with (2.99.0 here), it decides nothing itself.
  mkdir -p "$d/untested"
  PYTHONPATH=$top/tests/ansible/untested_core ANSIBLE_STRATEGY=linear_quick_skip QUICK_SKIP_LOG=$d/untested/evaluated \
    ansible-playbook -vv -i tests/ansible/quick_skip_inventory.ini tests/ansible/quick_skip.yaml -e out_dir="$d/untested" \
    >"$d/untested/out.txt" 2>&1 || { cat "$d/untested/out.txt"; return 1; }
  grep 'linear_quick_skip: ansible-core 2.99.0 is not one it was tested with' "$d/untested/out.txt"
  diff <(sort "$d/linear/evaluated") <(sort "$d/untested/evaluated")
  for s in q1 q2 q3; do diff "$d/linear/$s.json" "$d/untested/$s.json"; done
  cat "$d/linear_quick_skip/out.txt"
  diff <(sort "$d/linear/out.txt") <(sort "$d/linear_quick_skip/out.txt")
  for s in q1 q2 q3; do diff "$d/linear/$s.json" "$d/linear_quick_skip/$s.json"; done
  python3 - "$d/linear_quick_skip" <<'PY'
import json, sys
d = sys.argv[1]
q1, q2 = (json.load(open(f"{d}/{h}.json", encoding="utf-8")) for h in ("q1", "q2"))
assert q2["first"] == {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}, q2["first"]
assert q1["first"]["changed"] is False and "skipped" not in q1["first"], q1["first"]
assert q1["never"]["skipped"] and q1["secret"]["skipped"] and q1["once"]["skipped"], q1
assert q1["included"] == "not included", q1["included"]
assert q1["undefined"]["failed"] and "quick_skip_not_defined_anywhere" in q1["undefined"]["msg"], q1["undefined"]
assert [r.get("skipped", False) for r in q1["items"]["results"]] == [True, False], q1["items"]
q3 = json.load(open(f"{d}/q3.json", encoding="utf-8"))
assert q1["command"]["rc"] == 0 and q2["command"]["skipped"] and q3["command"]["rc"] == 0, q2["command"]
assert q1["fact"]["ansible_facts"] == {"quick_skip_fact": "q1"}, q1["fact"]
assert "not shown" not in json.dumps(q1["secret_fact"]), q1["secret_fact"]
assert q1["once_fact"] == q3["once_fact"] == "3", (q1["once_fact"], q3["once_fact"])
assert not q1["assert_ok"].get("failed") and q2["assert_failed"]["failed"], (q1["assert_ok"], q2["assert_failed"])
assert q2["assert_failed"]["msg"] == "q2 refused" and not q1["assert_failed"].get("failed"), q2["assert_failed"]
assert q3["fail"]["failed"] and q3["fail"]["msg"] == "q3 fails" and q1["fail"]["skipped"], (q3["fail"], q1["fail"])
assert q1["debug"]["changed"] and not q2["debug"]["changed"] and q2["debug"]["quick_skip_fact"] == "q2", q2["debug"]
assert q1["groups"] == q3["groups"] == ["quick_skip_odd"] and q2["groups"] == ["quick_skip_even"], q2["groups"]
assert q1["role_seen"] == "2", q1["role_seen"]
assert q1["refused"]["failed"] and "quick_skip_role_count" in q1["refused"]["msg"], q1["refused"]
print("registered results as expected")
PY
  sort "$d/linear/evaluated" | uniq -c
  ! grep -q ' main$' "$d/linear/evaluated"
  sort "$d/linear_quick_skip/evaluated" | uniq -c
  diff <(sort "$d/linear_quick_skip/evaluated") - <<'EOF'
command q1 main
command q2 main
command q3 main
fact q1 main
fact q2 main
fact q3 main
first q1 main
first q2 main
first q3 main
item 1 worker
item 1 worker
item 1 worker
item 2 worker
item 2 worker
item 2 worker
EOF
}

run_case "module docs agree with the option tables; ansible-doc lists every module" module_docs
run_case "every role default has an argument_specs entry" role_specs
run_case "the roles diagram renders and names every role" diagram
run_case "ansible-playbook --syntax-check of every playbook" syntax_check
run_case "ansible-lint --profile production" lint
run_case "etcd_install_binaries: check mode, install, rerun, bad options refused" install_binaries
run_case "etcd_look: files, directories, links, accounts, listening ports; check mode; bad options refused" look
run_case "etcd_read: files read whole (binary too), check mode; missing, directory, link, too big refused; bad options refused" read_files
run_case "etcd_account: check mode; as root made, kept, mended; bad options refused" account
run_case "strategy linear_quick_skip: the results of linear; a when decided once, in the main process; controller actions without a worker" quick_skip
run_case "collection etcd_ansible.etcd: built, installed, used by FQCN outside the checkout" collection

echo "ansible-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
