#!/usr/bin/env bash
# make bench (issue #6): our modules measured beside what users run today, in the same run.
# Benchmarks, not tests: prints a markdown table, writes bench/results/latest.json, exits 0
# (a missed target is a row with its ratio, never an error).
#
#   BENCH_RUNS=5        runs per measurement (the table shows medians; peak RSS is the max)
#   BENCH_DB_MIB=1024   size of the generated etcd DB of item 1
#   BENCH_SMALL_MIB=256 the smaller DB the constant-memory row compares with
#   BENCH_ITEMS="1 2 3 4"  which items to run (1 snapshot pipeline, 2 module cost per task,
#                       3 etcd.yaml create + rerun, 4 restore); 2 (over ssh), 3, 4 need test hosts
#   BENCH_TASKS=50      tasks per play of item 2
#   BENCH_WORK=build/bench  scratch (DB files, the peers, the hosts' logs)
#   HOSTS_*             the test hosts (tests/hosts/README.md), as the e2e scenarios use them
#   BENCH_PERF=1        perf record -g of one pipeline run (report in $BENCH_WORK/perf.txt)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 0
RUNS=${BENCH_RUNS:-5}
DB_MIB=${BENCH_DB_MIB:-1024}
SMALL_MIB=${BENCH_SMALL_MIB:-256}
ITEMS=${BENCH_ITEMS:-1 2 3 4}
TASKS=${BENCH_TASKS:-50}
work=$(realpath -m "${BENCH_WORK:-$top/build/bench}")
results=$top/bench/results
raw=$work/raw.tsv     # id  wall_s  cpu_s  rss_kib  bytes  load   (one line per run; load: the
                      # 1-min load average, the higher of the run's start and end)
notes=$work/notes.tsv # id  note                              (rows not measured, facts)
mkdir -p "$work" "$results"
: >"$raw"
: >"$notes"
[ "$SMALL_MIB" -lt "$DB_MIB" ] || SMALL_MIB=$((DB_MIB / 4))
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_CA_BUNDLE
log() { echo "bench: $*" >&2; }
note() { printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\n\t' '  ')" >>"$notes"; }

load1() { cut -d' ' -f1 /proc/loadavg; }
# measure ID BYTES CMD...: one run of CMD under /usr/bin/time (wall, user+sys, max RSS) → raw.
measure() {
  local id=$1 bytes=$2 t l0
  shift 2
  l0=$(load1)
  t=$(mktemp "$work/time.XXXXXX")
  if ! /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >"$work/last.out" 2>"$work/last.err"; then
    log "$id: failed: $(tail -c 400 "$work/last.err") $(tail -c 400 "$work/last.out")"
    note "$id" "a run failed: $(tail -c 200 "$work/last.err" | tr '\n\t' '  ')"
    rm -f "$t"
    return 1
  fi
  awk -v id="$id" -v b="$bytes" -v l0="$l0" -v l1="$(load1)" \
    'END { printf "%s\t%s\t%.2f\t%s\t%s\t%.2f\n", id, $1, $2 + $3, $4, b, (l0 > l1 ? l0 : l1) }' "$t" >>"$raw"
  rm -f "$t"
}
# stamp ID BYTES START_NS: a wall-only measurement (a whole playbook); load: the end's, or the
# start's ($load0, set beside t0) when higher.
stamp() {
  printf '%s\t%s\t\t\t%s\t%s\n' "$1" "$(awk -v a="$3" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" \
    "$2" "$(awk -v l0="${load0:-0}" -v l1="$(load1)" 'BEGIN { print (l0 > l1 ? l0 : l1) }')" >>"$raw"
}

# ---------------------------------------------------------------------------------------------
# Item 1: the snapshot pipeline on a generated DB.
# ---------------------------------------------------------------------------------------------
cluster=tests/peers/etcd/cluster.sh
edir=$work/etcd
pdir=$work/peer
tmpfs_dir=
item1_cleanup() {
  "$cluster" stop "$edir" >/dev/null 2>&1 || true
  tests/peers/aws/peer.sh stop "$pdir" >/dev/null 2>&1 || true
  [ -n "$tmpfs_dir" ] && rm -rf "$tmpfs_dir"
}

# gen_db ENDPOINT FROM_MIB TO_MIB: adds keys until the DB holds TO_MIB more of values. Three puts
# in four are Kubernetes-like objects under /registry/ (1–8 KiB of JSON-like text, compressible),
# one in four a 256 KiB value, half random and half text; by bytes the big values dominate, so the
# snapshot compresses to ~70 %. Over the JSON gateway, one kept-alive TLS connection per writer,
# 2 writers.
gen_db() {
  python3 - "$edir" "$@" <<'EOF'
import base64, http.client, json, os, random, ssl, sys, threading
d, ep, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
want = (hi - lo) << 20
rnd = random.Random(lo)
words = [("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 12)))) for _ in range(2000)]
def text(n):
    out = []; size = 0
    while size < n:
        w = '"%s": "%s-%d", ' % (rnd.choice(words), rnd.choice(words), rnd.randint(0, 99999))
        out.append(w); size += len(w)
    return "".join(out)[:n].encode()
def conn():
    ctx = ssl.create_default_context(cafile=d + "/ca/ca.crt")
    ctx.load_cert_chain(d + "/ca/client.crt", d + "/ca/client.key")
    host, port = ep.split("//")[1].split(":")
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=120)
def put(c, k, v):
    body = json.dumps({"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(v).decode()})
    c.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 200:
        sys.exit(f"put {k}: HTTP {r.status}: {data[:200]}")
small_text = text(1 << 20); big_text = text(1 << 20)
def writer(w):
    c = conn(); done = 0; i = 0
    while done < want // 2:
        if i % 4 == 0:
            v = os.urandom(128 << 10) + big_text[: 128 << 10]
            k = f"/registry/configmaps/bench-{lo}/big-{w}-{i:07d}"
        else:
            n = random.randint(1024, 8192); off = random.randint(0, len(small_text) - n)
            v = small_text[off:off + n]
            k = f"/registry/pods/ns-{i % 97}/pod-{lo}-{w}-{i:07d}"
        put(c, k, v); done += len(v); i += 1
ts = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
}

item1() {
  local ep args_base snap gz sz db_bytes gz_bytes g0 i key
  log "item 1: etcd (1 member, TLS) and the AWS peer"
  trap item1_cleanup RETURN
  rm -rf "$edir" "$pdir"
  export ETCD_CLIENT_PORT ETCD_PEER_PORT
  ETCD_CLIENT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ETCD_PEER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$cluster" start "$edir" 1 >/dev/null || { note 1 "etcd did not start"; return; }
  ep=$("$cluster" endpoint 1)
  tests/peers/aws/build.sh >/dev/null
  eval "$(tests/peers/aws/peer.sh start "$pdir")"
  aws() { /usr/bin/aws --endpoint-url "$AWS_PEER_URL" "$@"; }
  aws s3 mb s3://bench >/dev/null
  key_id=$(aws kms create-key --query KeyMetadata.Arn --output text)
  cc -D_GNU_SOURCE -Imodule_utils -Ibuild/deps/include -DCURL_STATICLIB -std=c11 -O2 -Wall -Wextra \
    -Werror -o "$work/s3put" bench/s3put.c module_utils/*.c -Lbuild/deps/lib -lcurl -lcares -lssl \
    -lcrypto -lz -ljansson -lsystemd -lcap -pthread
  cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Imodule_utils -o "$work/envelope_driver" \
    tests/integration/envelope_driver.c module_utils/envelope.c module_utils/pgzip.c module_utils/error.c -lssl -lcrypto -lz -pthread
  head -c 32 /dev/urandom >"$work/raw-aes.key"
  args_base=$(jq -cn --arg d "$edir" --arg ep "$ep" '{endpoints: [$ep], ca_cert: ($d + "/ca/ca.crt"),
    client_cert: ($d + "/ca/client.crt"), client_key: ($d + "/ca/client.key")}')
  jq -c --arg k "$key_id" --arg u "$AWS_PEER_URL" --arg a "$AWS_ACCESS_KEY_ID" --arg s "$AWS_SECRET_ACCESS_KEY" \
    '. + {upload: {bucket: "bench", cluster: "bench", encryption: "aws-kms", kms_key_id: $k,
      endpoint_url: $u, kms_endpoint_url: $u, access_key: $a, secret_key: $s, region: "us-east-1"}}' \
    <<<"$args_base" >"$work/ours.json"
  # Stage "snapshot alone": into a file on tmpfs (the module renames a temp file; no /dev/null).
  tmpfs_dir=$(mktemp -d /dev/shm/bench.XXXXXX)
  jq -c --arg f "$tmpfs_dir/snap.db" '. + {dest: $f}' <<<"$args_base" >"$work/stage-snap.json"
  jq -c --arg f "$work/snap-ours.db" '. + {dest: $f}' <<<"$args_base" >"$work/save-disk.json"

  # The smaller DB first: the constant-memory row.
  log "item 1: generate ${SMALL_MIB} MiB"
  g0=$(date +%s%N)
  gen_db "$ep" 0 "$SMALL_MIB" || { note 1 "DB generation failed"; return; }
  stamp 1.gen.small "$((SMALL_MIB << 20))" "$g0"
  for i in $(seq "$RUNS"); do
    measure 1.ours.small "$(stat -c %s "$edir/data/1/member/snap/db")" library/etcd_snapshot "$work/ours.json"
    # the same on one core: how much the pipeline's threads gain from the second
    measure 1.ours.1core "$(stat -c %s "$edir/data/1/member/snap/db")" taskset -c 0 library/etcd_snapshot "$work/ours.json"
  done
  log "item 1: generate up to ${DB_MIB} MiB"
  g0=$(date +%s%N)
  gen_db "$ep" "$SMALL_MIB" "$DB_MIB" || { note 1 "DB generation failed"; return; }
  stamp 1.gen "$(((DB_MIB - SMALL_MIB) << 20))" "$g0"
  ETCDCTL_API=3 etcdctl --endpoints "$ep" --cacert "$edir/ca/ca.crt" --cert "$edir/ca/client.crt" \
    --key "$edir/ca/client.key" endpoint status -w json >"$work/status.json" 2>/dev/null
  note facts.db_size "$(jq '.[0].Status.dbSize' "$work/status.json")"
  note facts.db_keys "$(ETCDCTL_API=3 etcdctl --endpoints "$ep" --cacert "$edir/ca/ca.crt" --cert "$edir/ca/client.crt" \
    --key "$edir/ca/client.key" get /registry --prefix --count-only -w json 2>/dev/null | jq .count 2>/dev/null)"

  snap=$work/snap.db gz=$work/snap.db.gz
  for i in $(seq "$RUNS"); do
    log "item 1: run $i/$RUNS"
    # ours: stream → gzip → ESDK (KMS data key) → S3 multipart, one process, three threads
    measure 1.ours "$(stat -c %s "$edir/data/1/member/snap/db")" library/etcd_snapshot "$work/ours.json"
    db_bytes=$(jq -r '.size // empty' "$work/last.out" 2>/dev/null)
    # baseline A: etcdctl snapshot save; gzip; aws s3 cp
    rm -f "$snap" "$gz"
    measure 1.a.save "$(stat -c %s "$edir/data/1/member/snap/db")" env ETCDCTL_API=3 etcdctl --endpoints "$ep" \
      --cacert "$edir/ca/ca.crt" --cert "$edir/ca/client.crt" --key "$edir/ca/client.key" snapshot save "$snap"
    sz=$(stat -c %s "$snap")
    measure 1.a.gzip "$sz" gzip -k "$snap"
    gz_bytes=$(stat -c %s "$gz")
    measure 1.a.cp "$sz" /usr/bin/aws --endpoint-url "$AWS_PEER_URL" s3 cp --only-show-errors "$gz" "s3://bench/baseline/snap-$i.db.gz"
    # the stages of ours alone (bytes: the snapshot's size, so throughputs compare)
    rm -f "$tmpfs_dir/snap.db"
    measure 1.stage.snapshot "$sz" library/etcd_snapshot "$work/stage-snap.json"
    rm -f "$tmpfs_dir/snap.db"
    measure 1.stage.gzip "$sz" sh -c 'gzip -1 -c "$1" >/dev/null' sh "$snap"
    gzip -1 -c "$snap" >"$work/snap.gz1"
    measure 1.stage.encrypt "$sz" sh -c '"$1" encrypt --raw-aes-key-file "$2" --key-namespace bench --key-name k <"$3" >/dev/null' \
      sh "$work/envelope_driver" "$work/raw-aes.key" "$work/snap.gz1"
    measure 1.stage.upload "$sz" env AWS_ENDPOINT_URL="$AWS_PEER_URL" sh -c '"$1" bench "stage/upload-$2" <"$3"' \
      sh "$work/s3put" "$i" "$work/snap.gz1"
    # our compress thread's work alone: deflate (random-looking segments stored, pgzip.h) + ESDK
    measure 1.stage.deflate "$sz" sh -c '"$1" encrypt --gzip --raw-aes-key-file "$2" --key-namespace bench --key-name k <"$3" >/dev/null' \
      sh "$work/envelope_driver" "$work/raw-aes.key" "$snap"
    # keep the peer's disk small: objects of earlier runs go
    aws s3 rm --recursive --only-show-errors s3://bench/stage/ >/dev/null 2>&1 || true
    aws s3 rm --recursive --only-show-errors s3://bench/baseline/ >/dev/null 2>&1 || true
  done
  note facts.snapshot_bytes "$sz"
  note facts.gzip6_bytes "$gz_bytes"
  note facts.gzip1_bytes "$(stat -c %s "$work/snap.gz1")"
  [ -n "${db_bytes:-}" ] && note facts.ours_snapshot_bytes "$db_bytes"
  if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null; then
    log "item 1: perf record -g of one pipeline run"
    # the same objects as library/etcd_snapshot, linked without -s so perf names the functions
    cc -static -Wl,--gc-sections -o "$work/etcd_snapshot.sym" build/obj/mod_etcd_snapshot.o \
      build/obj/libmodule_utils.a build/deps/lib/libcurl.a -lcares build/deps/openssl/lib/libssl.a \
      build/deps/openssl/lib/libcrypto.a -lz -ljansson \
      build/deps/lib/libsystemd.a -lcap -pthread 2>/dev/null
    perf record -q -g -o "$work/perf.data" "$work/etcd_snapshot.sym" "$work/ours.json" >/dev/null 2>&1 &&
      perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -15 >"$work/perf.txt"
    perf report -i "$work/perf.data" --no-children --sort comm,dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 >"$work/perf-threads.txt" || true
    note facts.perf_top "$(head -6 "$work/perf.txt" | awk '{ printf "%s %s; ", $1, $3 }')"
  fi
  # For item 4: one big backup made by ours, kept as a plain snapshot file.
  cp "$snap" "$work/big-snapshot.db" 2>/dev/null || true
  rm -f "$snap" "$gz" "$work/snap.gz1" "$work/snap-ours.db"
}

# ---------------------------------------------------------------------------------------------
# Item 2 (local part): raw exec time of each module binary (an args error: no JSON file), sizes.
# ---------------------------------------------------------------------------------------------
item2_local() {
  local b i n=200 t0
  echo '{"_ansible_check_mode": true}' >"$work/noop.json"
  for b in library/*; do
    case $b in *.yml | *.ini) continue ;; esac
    note "facts.size.$(basename "$b")" "$(stat -L -c %s "$b")"
    for i in $(seq "$RUNS"); do
      load0=$(load1) t0=$(date +%s%N)
      for _ in $(seq $n); do "$b" "$work/noop.json" >/dev/null 2>&1; done
      printf '%s\t%s\t\t\t\t%s\n' "2.exec.$(basename "$b")" "$(awk -v a="$t0" -v b="$(date +%s%N)" -v n=$n \
        'BEGIN { printf "%.5f", (b - a) / 1e9 / n }')" "$(load1)" >>"$raw"
    done
  done
  for i in $(seq "$RUNS"); do
    load0=$(load1) t0=$(date +%s%N)
    for _ in $(seq $n); do python3 -c 'import json, sys' >/dev/null 2>&1; done
    printf '%s\t%s\t\t\t\t%s\n' "2.exec.python3" "$(awk -v a="$t0" -v b="$(date +%s%N)" -v n=$n \
      'BEGIN { printf "%.5f", (b - a) / 1e9 / n }')" "$(load1)" >>"$raw"
  done
}

# ---------------------------------------------------------------------------------------------
# Items 2 (over ssh), 3, 4: on the test hosts (HOSTS_* pick the set; the e2e library drives them).
# ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2154 # e2e_prefix, e2e_hostsdir, e2e_controller_ip come from tests/lib/e2e.sh
hosts_items() {
  # shellcheck source=../tests/lib/e2e.sh
  . tests/lib/e2e.sh
  local hw=$work/hosts h1 h2 h3 i t0 inv stepca peer_dir=$work/hpeer
  h1=${e2e_prefix}1 h2=${e2e_prefix}2 h3=${e2e_prefix}3
  # Never touch another set (the e2e scenarios' hosts): the bench starts and stops its own, so its
  # network namespace must be free when it begins (`hosts down` would stop whatever uses it).
  if ip netns list | grep -qw "${HOSTS_NETNS:-eabr}"; then
    log "netns ${HOSTS_NETNS:-eabr} is in use by other test hosts: set HOSTS_NETNS, HOSTS_SUBNET," \
      "HOSTS_PREFIX (and HOSTS_DIR) to a set of the bench's own"
    note 3 "not run: netns ${HOSTS_NETNS:-eabr} in use by other test hosts (set HOSTS_NETNS/HOSTS_SUBNET/HOSTS_PREFIX)"
    note 2.task "not run: netns ${HOSTS_NETNS:-eabr} in use by other test hosts"
    note 4 "not run: netns ${HOSTS_NETNS:-eabr} in use by other test hosts"
    return
  fi
  tests/peers/stepca/build.sh >/dev/null && tests/peers/etcd/mirror.sh v3.4.23 >/dev/null || {
    note 3 "the step-ca / etcd mirrors could not be built"
    return
  }
  stepca=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz
  mkdir -p "$hw"
  local work_saved=$work
  hosts_down_all() { hosts down >/dev/null 2>&1 || true; }
  write_vars() {
    inv=$hw/inventory.ini
    {
      echo "[etcd]"
      for h in "$h1" "$h2" "$h3"; do hostline "$h"; done
      printf '\n[etcd-cert-managers]\n%s\n%s\n\n[etcd-clients]\n' "$h1" "$h2"
    } >"$inv"
    cat >"$hw/vars.yml" <<EOF
step_ca_password: "bench-ca-pass-5Tq!"
step_provisioner_password: "bench-prov-pass-2Wz\$"
step_ca_download_url: "file://$top/$stepca"
step_ca_checksum: "sha256:$(cut -d' ' -f1 "$stepca.sha256")"
etcd_version: v3.4.23
etcd_download_url: "file://$top/build/mirror/etcd/{{ etcd_version }}/etcd-{{ etcd_version }}-linux-amd64.tar.gz"
etcd_checksum: "sha256:file://$top/build/mirror/etcd/{{ etcd_version }}/SHA256SUMS"
etcd_download_cache_dir: "$hw/cache"
${1:-}
EOF
  }
  # shellcheck disable=SC2120 # write_vars takes extra variables; item 3 passes none
  fresh_hosts() { # 3 fresh hosts (fresh overlays on the cached base)
    hosts_down_all
    hosts up 3 >/dev/null || return 1
    write_vars "${1:-}"
  }

  # Item 3: create on 3 fresh hosts, then the idempotent rerun.
  if [[ " $ITEMS " == *" 3 "* || " $ITEMS " == *" 2 "* ]]; then
    for i in $(seq "${BENCH_DEPLOY_RUNS:-$RUNS}"); do
      log "item 3: run $i: fresh hosts"
      fresh_hosts || { note 3 "the test hosts did not come up"; break; }
      work=$hw
      load0=$(load1) t0=$(date +%s%N)
      if play "$hw/create-$i.log" "$inv" etcd.yaml -e etcd_action=create -b; then
        stamp 3.create 0 "$t0"
        load0=$(load1) t0=$(date +%s%N)
        play "$hw/rerun-$i.log" "$inv" etcd.yaml -e etcd_action=create -b && stamp 3.rerun 0 "$t0"
        note "3.rerun.changed.$i" "$(recap_sum "$hw/rerun-$i.log" changed)"
      else
        note 3 "create failed (log $hw/create-$i.log)"
      fi
      work=$work_saved
    done
  fi

  # Item 2 over ssh: the cost of one task, as the difference of a play of $TASKS tasks and a play
  # of one (so the playbook's own start is not counted), for three ways to ask a member:
  #   ours   etcd_member state=query through action_plugins/ (one exec, the binary cached)
  #   stock  the same task with no action plugin (ANSIBLE_ACTION_PLUGINS at an empty dir): Ansible's
  #          binary-module path (temp dir, copy the binary and the args, run, remove)
  #   uri    ansible.builtin.uri /health (a pipelined Python module)
  # and each again with the link to the host capped at 100 Mbit/s (tc tbf on the host's veth in
  # the bridge namespace: controller → host, the direction binaries travel; no netem here).
  # The plays are written in $hw, which has no action_plugins/ of its own.
  if [[ " $ITEMS " == *" 2 "* ]] && grep -q "^$h1 " "$e2e_hostsdir/inventory.ini" 2>/dev/null; then
    log "item 2: per-task cost, $TASKS tasks vs 1"
    local ip variant cap n kind rc t1 t2
    ip=$(ip_of "$h1")
    mkdir -p "$hw/no-action-plugins"
    [ ! -e "$hw/action_plugins" ] || note 2.task "a stray $hw/action_plugins would change the stock row"
    for n in 1 "$TASKS"; do
      cat >"$hw/tasks-ours-$n.yaml" <<EOF
- hosts: $h1
  gather_facts: false
  tasks:
    - name: etcd_member state=query
      etcd_member:
        state: query
        endpoints: ["https://$ip:2379"]
        ca_cert: /etc/etcd/ssl/root_ca.crt
        client_cert: /etc/etcd/ssl/etcd-$h1-client.crt
        client_key: /etc/etcd/ssl/etcd-$h1-client.key
      loop: "{{ range($n) | list }}"
EOF
      cat >"$hw/tasks-uri-$n.yaml" <<EOF
- hosts: $h1
  gather_facts: false
  tasks:
    - name: uri /health
      ansible.builtin.uri:
        url: "https://$ip:2379/health"
        ca_path: /etc/etcd/ssl/root_ca.crt
        client_cert: /etc/etcd/ssl/etcd-$h1-client.crt
        client_key: /etc/etcd/ssl/etcd-$h1-client.key
      loop: "{{ range($n) | list }}"
EOF
    done
    work=$hw
    for cap in free capped; do
      if [ "$cap" = capped ]; then
        ip netns exec "${HOSTS_NETNS:-eabr}" tc qdisc replace dev "ve-$h1" root tbf rate 100mbit \
          burst 64kb latency 50ms || { note 2.task.capped "tc tbf failed"; break; }
      fi
      for i in $(seq "$RUNS"); do
        for variant in ours stock uri; do
          kind=2.task.$variant
          [ "$cap" = free ] || kind=$kind.capped
          if [ "$variant" = stock ]; then
            on "$h1" 'rm -f /var/lib/etcd-ansible/modules/etcd_member-*'
            export ANSIBLE_ACTION_PLUGINS=$hw/no-action-plugins
          fi
          load0=$(load1) t0=$(date +%s%N)
          play "$hw/$variant-$cap-1-$i.log" "$inv" "$hw/tasks-${variant/stock/ours}-1.yaml" &&
            t1=$(date +%s%N) &&
            play "$hw/$variant-$cap-$TASKS-$i.log" "$inv" "$hw/tasks-${variant/stock/ours}-$TASKS.yaml"
          rc=$? t2=$(date +%s%N)
          unset ANSIBLE_ACTION_PLUGINS
          [ "$rc" -eq 0 ] || continue
          if [ "$variant" = stock ] && on "$h1" 'ls /var/lib/etcd-ansible/modules/etcd_member-* >/dev/null 2>&1'; then
            note "$kind" "the stock row used the module cache: not a stock transfer"
          fi
          # per task: (T(N) - T(1)) / (N - 1); the load column: the higher of start and end
          awk -v id="$kind" -v a="$t0" -v b="$t1" -v c="$t2" -v n="$TASKS" -v l0="$load0" \
            -v l1="$(load1)" 'BEGIN { printf "%s\t%.4f\t\t\t%d\t%.2f\n", id,
            ((c - b) - (b - a)) / 1e9 / (n - 1), n, (l0 > l1 ? l0 : l1) }' >>"$raw"
        done
      done
      [ "$cap" = capped ] && ip netns exec "${HOSTS_NETNS:-eabr}" tc qdisc del dev "ve-$h1" root 2>/dev/null
    done
    work=$work_saved
  fi

  # Item 4: restore the big backup from S3 onto 3 hosts until healthy.
  if [[ " $ITEMS " == *" 4 "* ]]; then
    if [ ! -s "$work/big-snapshot.db" ]; then
      note 4 "no big snapshot (item 1 did not run)"
    else
      fresh_hosts || { note 4 "the test hosts did not come up"; return; }
      rm -rf "$peer_dir"
      eval "$(ctl tests/peers/aws/peer.sh start "$peer_dir" -listen "$e2e_controller_ip:0" -private-ok)"
      ctl /usr/bin/aws --endpoint-url "$AWS_PEER_URL" s3 mb s3://etcd-backups >/dev/null
      work=$hw
      write_vars "etcd_upload_backup:
  storage: s3
  bucket: etcd-backups
step_ca_backup_s3_bucket: etcd-backups
step_ca_backup_kms_key_id: alias/etcd-ca-backup
etcd_backup_s3_endpoint_url: \"$AWS_PEER_URL\"
etcd_backup_kms_endpoint_url: \"$AWS_PEER_URL\"
etcd_backup_aws_access_key_id: \"$AWS_ACCESS_KEY_ID\"
etcd_backup_aws_secret_access_key: \"$AWS_SECRET_ACCESS_KEY\"
etcd_backup_cron_enabled: false
ca_backup_cron_enabled: false"
      if play "$hw/kms.log" "$inv" playbooks/setup-kms.yaml -e kms_endpoint_url="$AWS_PEER_URL" -e aws_region=us-east-1 &&
        play "$hw/create-r.log" "$inv" etcd.yaml -e etcd_action=create -b; then
        # The big backup: the item-1 snapshot, uploaded by kms_s3_backup as the timer's job would.
        local key
        key="default/2026/01/etcd-default-2026-01-01_00-00-00-snapshot.db.kms"
        jq -cn --arg src "$work_saved/big-snapshot.db" --arg u "$AWS_PEER_URL" --arg a "$AWS_ACCESS_KEY_ID" \
          --arg s "$AWS_SECRET_ACCESS_KEY" '{state: "present", src: $src, kind: "etcd-snapshot", bucket: "etcd-backups",
          cluster: "default", encryption: "aws-kms", kms_key_id: "alias/etcd-ca-backup", endpoint_url: $u,
          kms_endpoint_url: $u, access_key: $a, secret_key: $s, region: "us-east-1"}' >"$hw/upload.json"
        ctl library/kms_s3_backup "$hw/upload.json" >"$hw/upload.out" 2>"$hw/upload.err" || true
        key=$(jq -r '.key // .s3_key // empty' "$hw/upload.out" 2>/dev/null)
        note facts.restore_key "${key:-upload failed: $(head -c 200 "$hw/upload.out")}"
        for i in $(seq "${BENCH_RESTORE_RUNS:-$RUNS}"); do
          load0=$(load1) t0=$(date +%s%N)
          play "$hw/restore-$i.log" "$inv" playbooks/restore-etcd-cluster.yaml -e restore_confirm=false \
            ${key:+-e restore_etcd_s3_file="$key"} && stamp 4.restore "$(stat -c %s "$work_saved/big-snapshot.db")" "$t0" ||
            { note 4 "restore failed (log $hw/restore-$i.log)"; break; }
        done
      else
        note 4 "setup-kms or create failed (logs in $hw)"
      fi
      work=$work_saved
      ctl tests/peers/aws/peer.sh stop "$peer_dir" >/dev/null 2>&1 || true
    fi
  fi
  hosts_down_all
}

# ---------------------------------------------------------------------------------------------
note facts.nproc "$(nproc)"
note facts.mem_total_kib "$(awk '/MemTotal/ { print $2 }' /proc/meminfo)"
note facts.cpu "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note facts.etcd_version "$(etcd --version 2>/dev/null | head -1)"
note facts.loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
note facts.date "$(date -u +%FT%TZ)"
note facts.runs "$RUNS"
note facts.db_mib "$DB_MIB"
note facts.small_mib "$SMALL_MIB"

[[ " $ITEMS " == *" 1 "* ]] && item1
[[ " $ITEMS " == *" 2 "* ]] && item2_local
if [[ " $ITEMS " == *" 2 "* || " $ITEMS " == *" 3 "* || " $ITEMS " == *" 4 "* ]]; then
  if [ "$(id -u)" != 0 ]; then
    note 3 "the test hosts need root"
  else
    hosts_items
  fi
fi
note facts.loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/report.py "$raw" "$notes" "$ITEMS" "$results/latest.json" || log "report failed"
exit 0
