#!/bin/bash
# Start / stop the AWS peer (S3 + KMS, strict SigV4) for tests.
#   peer.sh start DIR [extra aws-peer flags]   builds if needed, starts in the background
#       (setsid), waits for DIR/addr, writes DIR/pid, prints `export` lines to eval:
#       AWS_PEER_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
#       Data in DIR/data (kept across restarts), log in DIR/peer.log.
#   peer.sh stop DIR                           kills the pid in DIR/pid and waits for it.
#   peer.sh defaults                           prints the default credentials as PEER_* shell lines.
# Extra flags come after the defaults, so they win (e.g. -region eu-west-1, -credentials ...);
# the printed environment follows -region and the first pair of -credentials.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BIN=$ROOT/build/peers/aws-peer

# The default test credentials (fake; they only open this peer).
PEER_ACCESS_KEY_ID=AKIDPEEREXAMPLE
PEER_SECRET_ACCESS_KEY=peerSecretKey/K7MDENG+bPxRfiCYEXAMPLEKEY
PEER_REGION=us-east-1

usage() { echo "usage: $0 start DIR [aws-peer flags] | stop DIR | defaults" >&2; exit 2; }
if [ "${1:-}" = defaults ]; then
    printf 'PEER_ACCESS_KEY_ID=%q\nPEER_SECRET_ACCESS_KEY=%q\nPEER_REGION=%q\n' \
        "$PEER_ACCESS_KEY_ID" "$PEER_SECRET_ACCESS_KEY" "$PEER_REGION"
    exit 0
fi
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

case $cmd in
start)
    "$HERE/build.sh" >/dev/null
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "peer.sh: already running in $dir (pid $(cat "$dir/pid"))" >&2
        exit 1
    fi
    rm -f "$dir/addr" "$dir/pid"
    region=$PEER_REGION creds="$PEER_ACCESS_KEY_ID:$PEER_SECRET_ACCESS_KEY"
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
        -region | --region) region=${args[i + 1]:-$region} ;;
        -credentials | --credentials) creds=${args[i + 1]:-$creds} ;;
        esac
    done
    # -w: when setsid has to fork (caller with job control), $! still lives as long as the peer.
    setsid -w "$BIN" -listen 127.0.0.1:0 -addr-file "$dir/addr" -pid-file "$dir/pid" \
        -data "$dir/data" -region "$PEER_REGION" \
        -credentials "$PEER_ACCESS_KEY_ID:$PEER_SECRET_ACCESS_KEY" -log "$dir/peer.log" \
        "$@" </dev/null >>"$dir/peer.log" 2>&1 &
    launcher=$!
    for _ in $(seq 100); do
        [ -s "$dir/addr" ] && break
        if ! kill -0 "$launcher" 2>/dev/null && [ ! -s "$dir/addr" ]; then
            echo "peer.sh: aws-peer exited; log:" >&2
            tail -20 "$dir/peer.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ ! -s "$dir/addr" ]; then
        echo "peer.sh: aws-peer did not write $dir/addr within 10 s; log:" >&2
        tail -20 "$dir/peer.log" >&2
        exit 1
    fi
    first=${creds%%,*}
    ak=${first%%:*} rest=${first#*:}
    sk=${rest%%:*}
    printf 'export AWS_PEER_URL=%q\n' "$(cat "$dir/addr")"
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "$ak"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$sk"
    if [ "$rest" != "$sk" ]; then printf 'export AWS_SESSION_TOKEN=%q\n' "${rest#*:}"; fi
    printf 'export AWS_DEFAULT_REGION=%q\n' "$region"
    ;;
stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$dir/pid"
    ;;
*) usage ;;
esac
