# Shared helpers for the bash integration tests. Source it; every assertion is a counted case
# with a title (its first argument): it prints "ok   TITLE", or "FAIL: TITLE: ..." with what was
# expected and what came.
#
# A script that calls `assert_trap CLEANUP` (instead of `trap CLEANUP EXIT`) runs every case even
# after a failure: a failed assertion is counted and returns 0, and on exit CLEANUP runs, the
# failed titles are listed and the last line is "N passed, M failed"; the exit status is non-zero
# when a case failed or the script stopped early. Without assert_trap (the e2e scenarios, whose
# steps build on each other) a failed assertion returns non-zero and set -e stops the script.

ASSERT_PASSED=0
ASSERT_FAILED=0
ASSERT_CONTINUE=0
ASSERT_FAILED_TITLES=()

assert_ok() { # assert_ok TITLE CMD...: a case that passes when CMD succeeds
  local title=$1; shift
  if "$@"; then assert_pass "$title"; else assert_fail "$title" "failed: $*"; fi
}

assert_pass() { # assert_pass TITLE: counts a case that passed
  ASSERT_PASSED=$((ASSERT_PASSED + 1))
  echo "ok   $1"
}

assert_fail() { # assert_fail TITLE DETAIL: counts a case that failed
  ASSERT_FAILED=$((ASSERT_FAILED + 1))
  ASSERT_FAILED_TITLES+=("$1")
  echo "FAIL: $1: $2" >&2
  [ "$ASSERT_CONTINUE" = 1 ]
}

# assert_trap CLEANUP: on exit, run CLEANUP (a function or command; may be :), then the summary.
assert_trap() {
  ASSERT_CONTINUE=1
  # shellcheck disable=SC2064 # CLEANUP is fixed now, on purpose
  trap "_assert_exit $1" EXIT
}

_assert_status() { return "$1"; }

_assert_exit() {
  local rc=$? t
  set +e
  # CLEANUP sees the outcome in $?: the exit status, or 1 when a case failed
  if [ "$rc" = 0 ] && [ "$ASSERT_FAILED" != 0 ]; then _assert_status 1; else _assert_status "$rc"; fi
  "$@"
  for t in "${ASSERT_FAILED_TITLES[@]}"; do echo "  FAILED: $t"; done
  if [ "$rc" != 0 ] && [ "$ASSERT_FAILED" = 0 ]; then
    echo "stopped early (exit $rc) outside an assertion"
  fi
  echo "$ASSERT_PASSED passed, $ASSERT_FAILED failed"
  if [ "$ASSERT_FAILED" != 0 ] && [ "$rc" = 0 ]; then rc=1; fi
  exit "$rc"
}

# json_get JSON_TEXT PATH: prints the value at a dotted path (a.b.0.c); lists/objects as JSON.
json_get() {
  python3 -c '
import json, sys
value = json.loads(sys.argv[1])
for part in sys.argv[2].split(".") if sys.argv[2] else []:
    value = value[int(part)] if isinstance(value, list) else value.get(part)
    if value is None:
        break
if isinstance(value, bool):
    print("true" if value else "false")
elif isinstance(value, (dict, list)):
    print(json.dumps(value, sort_keys=True))
elif value is None:
    print("null")
else:
    print(value)
' "$1" "$2"
}

assert_eq() { # assert_eq WHAT EXPECTED GOT
  if [ "$2" != "$3" ]; then
    assert_fail "$1" "expected '$2', got '$3'"
    return
  fi
  assert_pass "$1"
}

assert_contains() { # assert_contains WHAT NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) assert_pass "$1" ;;
    *) assert_fail "$1" "expected to contain '$2', got '$3'" ;;
  esac
}

assert_not_contains() { # assert_not_contains WHAT NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) assert_fail "$1" "must not contain '$2', got '$3'" ;;
    *) assert_pass "$1" ;;
  esac
}

# free_port: a TCP port nobody listens on at 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds or the time is up.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

assert_ne() { # assert_ne WHAT UNEXPECTED GOT
  if [ "$2" = "$3" ]; then
    assert_fail "$1" "got '$3', which it must not be"
    return
  fi
  assert_pass "$1"
}

# validations_repeated LOG: "role spec" pairs whose argument validation ran more than once in one
# play of LOG (an ansible-playbook output), one per line; nothing when each ran once per play.
validations_repeated() {
  awk '/^PLAY \[/ { delete seen; next }
    match($0, /^TASK \[[^:]+ : Validating arguments against arg spec \x27[^\x27]+\x27/) {
      key = substr($0, RSTART + 6, RLENGTH - 6); sub(/ : Validating arguments against arg spec /, " ", key)
      if (seen[key]++) print key }' "$1"
}
