# Shared helpers for the bash integration tests. Source it; every assertion prints what was
# expected and what came, and returns non-zero (the tests run with set -e).

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
    echo "FAIL: $1: expected '$2', got '$3'" >&2
    return 1
  fi
  echo "ok   $1"
}

assert_contains() { # assert_contains WHAT NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) echo "ok   $1" ;;
    *) echo "FAIL: $1: expected to contain '$2', got '$3'" >&2; return 1 ;;
  esac
}

assert_not_contains() { # assert_not_contains WHAT NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) echo "FAIL: $1: must not contain '$2', got '$3'" >&2; return 1 ;;
    *) echo "ok   $1" ;;
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
    echo "FAIL: $1: got '$3', which it must not be" >&2
    return 1
  fi
  echo "ok   $1"
}
