#!/usr/bin/env bash
# A real local etcd cluster with TLS and client-certificate auth on client and peer ports, for the
# integration tests of etcd_member (traffic on 127.0.0.0/8). TEST_ETCD_VERSION picks the line:
# unset, the installed Debian etcd-server (3.4.23, /usr/bin); v3.5.16 (or any version
# tests/peers/etcd/mirror.sh provides), the binaries of build/mirror/etcd/<version>/bin, fetched
# on first use. ETCD / ETCDCTL name the binaries directly (e.g. one member on another version:
# ETCD=.../v3.5.16/bin/etcd cluster.sh restart DIR 3).
#
#   cluster.sh start DIR [N]            certs (once) + members 1..N as a new cluster; waits for health
#   cluster.sh stop DIR                 stops every member started from DIR (by recorded pid)
#   cluster.sh kill DIR I               SIGKILL member I (a crash, not a clean stop)
#   cluster.sh restart DIR I            starts member I again on its existing data dir
#   cluster.sh join DIR I INITIAL_CLUSTER   starts member I with --initial-cluster-state=existing
#   cluster.sh etcdctl DIR ARGS...      etcdctl v3 with the client cert against members 1..3
#   cluster.sh endpoint I / peer I      prints member I's client / peer URL
#
# Member I listens on 127.0.1.I (Linux answers on all of 127.0.0.0/8 without configuration),
# client port $ETCD_CLIENT_PORT (12379), peer port $ETCD_PEER_PORT (12380): not 2379/2380, so a
# real etcd on the machine is never in the way (tests pick free ports, so two runs can coexist). Everything lives in DIR: ca/ (CA, member and
# client certs made with openssl), data/I, logs/I.log, pids/I. Short raft timers keep elections fast.
set -euo pipefail
CLIENT_PORT=${ETCD_CLIENT_PORT:-12379}
PEER_PORT=${ETCD_PEER_PORT:-12380}
# The ports a cluster was started with are kept in DIR/ports, so every later command uses them.
if [ -n "${2:-}" ] && [ -f "$2/ports" ]; then
  read -r CLIENT_PORT PEER_PORT <"$2/ports"
fi
if [ -n "${TEST_ETCD_VERSION:-}" ]; then
  bin=$(cd "$(dirname "$0")/../../.." && pwd)/build/mirror/etcd/$TEST_ETCD_VERSION/bin
  [ -x "$bin/etcd" ] || "$(dirname "$0")/mirror.sh" "$TEST_ETCD_VERSION" >/dev/null
  ETCD=${ETCD:-$bin/etcd}
  ETCDCTL=${ETCDCTL:-$bin/etcdctl}
fi
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
MAX_MEMBERS=5

ip_of() { echo "127.0.1.$1"; }
endpoint() { echo "https://$(ip_of "$1"):$CLIENT_PORT"; }
peer() { echo "https://$(ip_of "$1"):$PEER_PORT"; }
name_of() { echo "member-$1"; }

# One certificate: key + cert signed by the test CA. make_cert DIR NAME CN EKU [IP]
make_cert() {
  local dir=$1 name=$2 cn=$3 eku=$4 ip=${5:-} ext
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku"
  [ -n "$ip" ] && ext="$ext
subjectAltName=$ip"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile <(printf '%s\n' "$ext") -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr"
}

# CA, one cert per member (server and peer: both EKUs — etcd 3.4's JSON gateway dials the local
# gRPC server with the member's own cert as a client cert, so it needs clientAuth too), a client
# cert, and a client cert from another CA (for "wrong CA" tests). Member certs also name
# 127.0.0.1: Linux sends from 127.0.0.1 to 127.0.1.x, and with --peer-client-cert-auth etcd
# checks the peer certificate's IP SANs against the connection's source address.
make_certs() {
  local dir=$1/ca
  [ -f "$dir/client.crt" ] && return 0
  mkdir -p "$dir" "$1/other-ca"
  for d in "$dir" "$1/other-ca"; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=etcd test CA" \
      -days 2 -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  done
  for i in $(seq 1 $MAX_MEMBERS); do
    make_cert "$dir" "member-$i" "$(name_of "$i")" serverAuth,clientAuth "IP:$(ip_of "$i"),IP:127.0.0.1"
  done
  make_cert "$dir" client root clientAuth
  make_cert "$1/other-ca" client root clientAuth
}

# start_member DIR I STATE INITIAL_CLUSTER: etcd in the background, its pid in DIR/pids/I.
start_member() {
  local dir=$1 i=$2 state=$3 initial=$4 ca=$1/ca
  mkdir -p "$dir/data" "$dir/logs" "$dir/pids"
  setsid "$ETCD" --name "$(name_of "$i")" --data-dir "$dir/data/$i" \
    --listen-client-urls "$(endpoint "$i")" --advertise-client-urls "$(endpoint "$i")" \
    --listen-peer-urls "$(peer "$i")" --initial-advertise-peer-urls "$(peer "$i")" \
    --initial-cluster "$initial" --initial-cluster-state "$state" \
    --initial-cluster-token etcd-member-test \
    --cert-file "$ca/member-$i.crt" --key-file "$ca/member-$i.key" \
    --trusted-ca-file "$ca/ca.crt" --client-cert-auth \
    --peer-cert-file "$ca/member-$i.crt" --peer-key-file "$ca/member-$i.key" \
    --peer-trusted-ca-file "$ca/ca.crt" --peer-client-cert-auth \
    --heartbeat-interval 50 --election-timeout 500 --logger zap --log-outputs stderr \
    </dev/null >>"$dir/logs/$i.log" 2>&1 &
  echo $! >"$dir/pids/$i"
  # The arguments, so `restart` can start it again the same way.
  printf '%s\n%s\n' "$state" "$initial" >"$dir/pids/$i.args"
}

healthy() { # healthy DIR I
  curl -sf --max-time 2 --cacert "$1/ca/ca.crt" --cert "$1/ca/client.crt" --key "$1/ca/client.key" \
    "$(endpoint "$2")/health" | grep -q '"health":"true"'
}

wait_healthy() { # wait_healthy DIR I...
  local dir=$1 deadline=$(( $(date +%s) + 30 )) i; shift
  for i in "$@"; do
    until healthy "$dir" "$i"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "cluster.sh: member $i not healthy after 30 s; log:" >&2
        tail -n 20 "$dir/logs/$i.log" >&2
        return 1
      fi
      sleep 0.1
    done
  done
}

stop_pid() { # stop_pid PIDFILE SIGNAL: signal, then wait until the process is gone (max 10 s)
  local pid n=0
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$2" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

cmd_start() {
  local dir=$1 n=${2:-3} initial="" i
  mkdir -p "$dir"
  echo "$CLIENT_PORT $PEER_PORT" >"$dir/ports"
  make_certs "$dir"
  for i in $(seq 1 "$n"); do initial="$initial${initial:+,}$(name_of "$i")=$(peer "$i")"; done
  for i in $(seq 1 "$n"); do start_member "$dir" "$i" new "$initial"; done
  wait_healthy "$dir" $(seq 1 "$n")
}

cmd_stop() {
  local f
  for f in "$1"/pids/[0-9]; do [ -e "$f" ] && stop_pid "$f" TERM; done
  return 0
}

cmd_restart() {
  local args=$1/pids/$2.args state initial
  state=$(sed -n 1p "$args"); initial=$(sed -n 2p "$args")
  start_member "$1" "$2" "$state" "$initial"
  wait_healthy "$1" "$2"
}

cmd_etcdctl() {
  local dir=$1; shift
  ETCDCTL_API=3 "$ETCDCTL" --cacert "$dir/ca/ca.crt" --cert "$dir/ca/client.crt" \
    --key "$dir/ca/client.key" --endpoints "$(endpoint 1),$(endpoint 2),$(endpoint 3)" "$@"
}

case "${1:-}" in
  start) cmd_start "$2" "${3:-3}" ;;
  stop) cmd_stop "$2" ;;
  kill) stop_pid "$2/pids/$3" KILL ;;
  restart) cmd_restart "$2" "$3" ;;
  join) make_certs "$2"; start_member "$2" "$3" existing "$4" ;;
  etcdctl) shift; cmd_etcdctl "$@" ;;
  endpoint) endpoint "$2" ;;
  peer) peer "$2" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
