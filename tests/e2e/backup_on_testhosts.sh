#!/usr/bin/env bash
# e2e: backups and disaster recovery (README "Backup and Disaster Recovery") on 3 local test hosts
# with real systemd, etcd 3.5.16, the real step-ca, and the AWS peer (S3 + KMS with strict SigV4)
# listening on the controller's address of the hosts' private network:
#   - playbooks/setup-kms.yaml makes the KMS key + alias (a rerun changes nothing; -e kms_key_alias,
#     the README's name, picks another alias);
#   - etcd.yaml -e etcd_action=create installs the backup timers: the scheduled etcd backup lands
#     in S3 and the CA backup runs every few seconds but uploads exactly once until the CA
#     changes, then exactly once more; logs in /var/log/etcd-backups/, deadman pings sent;
#   - an object decrypts with the AWS Encryption SDK for JavaScript (KMS keyring), gunzips to a
#     snapshot etcdutl reads: a backup is readable without this project;
#   - *_cron_enabled: false removes the timers; etcd_action=backup takes one now (local + S3);
#   - KMS failing: the backup fails cleanly (no object, no local file) and the fail ping is sent;
#   - a bit-flipped backup is refused before any data dir is touched;
#   - restore-etcd-cluster.yaml from the newest S3 backup and from a local file: the data of the
#     backup is back, later writes are gone, the old data dirs are kept aside; etcdutl restores;
#   - a snapshot of etcd 3.4.23 (saved by etcd_snapshot from a local 3.4 etcd) restored onto the
#     3.5.16 members: its data is served, every member still runs 3.5.16;
#   - restore-ca-from-backup.yaml brings a lost CA back on the primary (same root, step-ca serves);
#   - every playbook runs in --check mode against this cluster with failed=0 and changes nothing
#     (no object, no data dir moved, the CA untouched); a missing variable is named by an assert;
#   - the backup logs are rotated by the logrotate drop-in the role installs;
#   - metrics: the renewal, backup and drill jobs write node_exporter textfiles that promtool
#     accepts (every one the scenario produces); step_cert state=inspected sees what etcd serves;
#   - restore drills (playbooks/restore-drill.yaml, the timers' own services on the last member):
#     the newest backup restores with the right key count and the CA backup's root is the live
#     one; a bit-flipped newest backup fails the drill, pings /fail, leaves no scratch data and
#     no etcd behind; the live member's PID and data dir are untouched by any drill.
#   - delete with etcd_backup on takes a last backup first.
# KEEP=1 keeps the hosts and the peer. Logs: build/e2e/backup/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
work=$top/build/e2e/backup
. tests/lib/e2e.sh

h1=${e2e_prefix}1 h2=${e2e_prefix}2 h3=${e2e_prefix}3
ca_pw='e2e-ca-pass-5Tq!'
prov_pw='e2e-prov-pass-2Wz$'
step=setup
peer_dir=$work/peer
pings_pid=

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED during: $step" >&2
    e2e_keep_journals "$h1" "$h2" "$h3"
    echo "logs kept in $work (run-*.log, logs/, peer/peer.log, pings.log)" >&2
  fi
  [ -n "$pings_pid" ] && kill "$pings_pid" 2>/dev/null
  if [ "${KEEP:-0}" != 1 ]; then tests/peers/aws/peer.sh stop "$peer_dir" >/dev/null 2>&1 || true; fi
  e2e_hosts_down "$rc"
  exit "$rc"
}
trap on_exit EXIT

step="build the modules, the mirrors and the peers"
make -s all >/dev/null
tests/peers/stepca/build.sh >/dev/null
tests/peers/etcd/mirror.sh v3.4.23 v3.5.16 >/dev/null
tests/peers/aws/build.sh >/dev/null
stepca=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz

step="bring up the test hosts"
e2e_hosts_up 3
if [ "$e2e_started_hosts" = 0 ]; then
  for h in "$h1" "$h2" "$h3"; do e2e_reset_host "$h"; done
fi

step="start the AWS peer and the deadman receiver on the hosts' network"
mkdir -p "$work"
rm -rf "$peer_dir" "$work"/run-*.log "$work/pings.log"
eval "$(ctl tests/peers/aws/peer.sh start "$peer_dir" -listen "$e2e_controller_ip:0" -private-ok)"
peer=$AWS_PEER_URL
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_CA_BUNDLE
aws() { ctl /usr/bin/aws --endpoint-url "$peer" "$@"; }
aws s3 mb s3://etcd-backups >/dev/null
# healthchecks.io stand-in: answers 200 to every ping and logs "METHOD PATH".
ctl python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace") if n else ""
        with open(sys.argv[2], "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, body.replace("\n", " ")[:200]))
        self.send_response(200); self.end_headers(); self.wfile.write(b"OK")
    do_GET = do_POST = do_HEAD = reply
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], 0), H).serve_forever()' "$e2e_controller_ip" "$work/pings.log" &
pings_pid=$!
sleep 1
# Python takes a moment to listen on a loaded machine: wait for the port (up to 30 s).
pings_port=
for _ in $(seq 300); do
  pings_port=$(ctl ss -ltnp | awk -v p="$pings_pid" '$0 ~ "pid=" p "," { split($4, a, ":"); print a[2] }' | head -1)
  [ -n "$pings_port" ] || pings_port=$(ctl ss -ltnp | awk '/python3/ { split($4, a, ":"); print a[2] }' | head -1)
  [ -n "$pings_port" ] && break
  sleep 0.1
done
[ -n "$pings_port" ] || { echo "FAIL: the deadman receiver does not listen" >&2; exit 1; }
pings="http://$e2e_controller_ip:$pings_port"

step="write the inventory and the variables"
inv=$work/inventory.ini
{
  echo "[etcd]"
  for h in "$h1" "$h2" "$h3"; do hostline "$h"; done
  printf '\n[etcd-cert-managers]\n%s\n%s\n\n[etcd-clients]\n' "$h1" "$h2"
} >"$inv"
cat >"$work/vars.yml" <<EOF
step_ca_password: "$ca_pw"
step_provisioner_password: "$prov_pw"
step_ca_download_url: "file://$top/$stepca"
step_ca_checksum: "sha256:$(cut -d' ' -f1 "$stepca.sha256")"
etcd_version: v3.5.16
etcd_download_url: "file://$top/build/mirror/etcd/{{ etcd_version }}/etcd-{{ etcd_version }}-linux-amd64.tar.gz"
etcd_checksum: "sha256:file://$top/build/mirror/etcd/{{ etcd_version }}/SHA256SUMS"
etcd_download_cache_dir: "$work/cache"
etcd_upload_backup:
  storage: s3
  bucket: etcd-backups
step_ca_backup_s3_bucket: etcd-backups
step_ca_backup_kms_key_id: alias/etcd-ca-backup
etcd_backup_s3_endpoint_url: "$peer"
etcd_backup_kms_endpoint_url: "$peer"
etcd_backup_aws_access_key_id: "$AWS_ACCESS_KEY_ID"
etcd_backup_aws_secret_access_key: "$AWS_SECRET_ACCESS_KEY"
etcd_backup_interval: "*:*:0/20"
etcd_backup_randomized_delay_sec: "0"
ca_backup_check_interval: "*:*:0/10"
backup_healthcheck_enabled: true
backup_healthcheck_url: "$pings/etcd-uuid"
ca_backup_healthcheck_url: "$pings/ca-uuid"
etcd_backup_interval_seconds: 20
etcd_restore_drill_healthcheck_url: "$pings/drill-uuid"
EOF

objects() { # objects PREFIX: number of objects under PREFIX
  aws s3 ls --recursive "s3://etcd-backups/$1" 2>/dev/null | grep -c . || true
}
at_least() { [ "$(objects "$1")" -ge "$2" ]; } # at_least PREFIX N
newest() { aws s3 ls --recursive "s3://etcd-backups/$1" | sort | tail -1 | awk '{ print $4 }'; }
etcdctl_on() { # etcdctl_on HOST ARGS...: etcdctl against the 3 members with HOST's client cert
  local h=$1
  shift
  on "$h" ETCDCTL_API=3 /opt/bin/etcdctl \
    --endpoints="https://$(ip_of "$h1"):2379,https://$(ip_of "$h2"):2379,https://$(ip_of "$h3"):2379" \
    --cacert=/etc/etcd/ssl/root_ca.crt --cert="/etc/etcd/ssl/etcd-$h-client.crt" \
    --key="/etc/etcd/ssl/etcd-$h-client.key" "$@"
}
wait_for() { # wait_for SECONDS WHAT CMD...: until CMD succeeds
  local until=$(($(date +%s) + $1)) what=$2
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$until" ]; then
      echo "FAIL: $what: not within the time allowed" >&2
      return 1
    fi
    sleep 2
  done
  echo "ok   $what"
}

echo "-- Quick Start step 1: the KMS key (playbooks/setup-kms.yaml)"
step="setup-kms"
play "$work/run-1-kms.log" "$inv" playbooks/setup-kms.yaml -e kms_endpoint_url="$peer" -e aws_region=us-east-1
assert_contains "the key and the alias are made" "alias/etcd-ca-backup -> arn:aws:kms:us-east-1:" \
  "$(cat "$work/run-1-kms.log")"
play "$work/run-1-kms-again.log" "$inv" playbooks/setup-kms.yaml -e kms_endpoint_url="$peer" -e aws_region=us-east-1
assert_eq "setup-kms: a second run changes nothing" "0" "$(recap_sum "$work/run-1-kms-again.log" changed)"
# The README's (seed spec's) variable name for the alias.
play "$work/run-1-kms-spec-name.log" "$inv" playbooks/setup-kms.yaml -e kms_key_alias=alias/etcd-spec-name \
  -e kms_endpoint_url="$peer" -e aws_region=us-east-1
assert_contains "setup-kms -e kms_key_alias=... makes that alias" "alias/etcd-spec-name -> arn:aws:kms:us-east-1:" \
  "$(cat "$work/run-1-kms-spec-name.log")"
kms_arn=$(aws kms describe-key --key-id alias/etcd-ca-backup --query KeyMetadata.Arn --output text)

echo "-- create: the backup timers"
step="create the cluster"
play "$work/run-2-create.log" "$inv" etcd.yaml -e etcd_action=create -b
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h has the etcd backup timer" "active" "$(on "$h" systemctl is-active etcd-backup-default.timer || true)"
done
assert_eq "the primary cert-manager has the CA backup timer" "active" \
  "$(on "$h1" systemctl is-active ca-backup-default.timer || true)"
assert_eq "the other cert-manager has none" "inactive" \
  "$(on "$h2" systemctl is-active ca-backup-default.timer || true)"
assert_eq "the args files are root's alone" "600" "$(on "$h1" stat -c %a /etc/etcd-backups/etcd-backup-default.json)"
assert_contains "the args files hold the secret key" "$AWS_SECRET_ACCESS_KEY" \
  "$(on "$h1" cat /etc/etcd-backups/etcd-backup-default.json)"
assert_not_contains "... and it never shows in the run" "$AWS_SECRET_ACCESS_KEY" "$(cat "$work/run-2-create.log")"
# The test hosts have no logrotate: the look's warning names each host.
assert_contains "a missing logrotate is a warning, per host" "[WARNING]: logrotate is not installed on $h3" \
  "$(cat "$work/run-2-create.log")"
etcdctl_on "$h1" put /e2e/before-backup yes >/dev/null

step="scheduled backups"
wait_for 120 "the scheduled etcd backup lands in S3" at_least default/ 1
wait_for 60 "the CA backup lands in S3" at_least ca/default/ 1
sleep 25 # two or three more CA checks
assert_eq "an unchanged CA is backed up exactly once" "1" "$(objects ca/default/)"
on "$h1" 'echo >> /etc/step-ca/config/ca.json'
wait_for 60 "a CA change makes a new CA backup" at_least ca/default/ 2
sleep 25
assert_eq "exactly one new CA backup per change" "2" "$(objects ca/default/)"
assert_contains "the CA backup log says what happened" "unchanged since the newest backup" \
  "$(on "$h1" cat /var/log/etcd-backups/ca-backup.log)"
assert_contains "the etcd backup job logs on the leader" "streaming to s3://etcd-backups/default/" \
  "$(on "$h1" cat /var/log/etcd-backups/etcd-backup.log; on "$h2" cat /var/log/etcd-backups/etcd-backup.log; on "$h3" cat /var/log/etcd-backups/etcd-backup.log)"
assert_contains "the deadman URL got the start ping" "GET /etcd-uuid/start" "$(cat "$work/pings.log")"
assert_contains "and the success ping" "GET /etcd-uuid " "$(cat "$work/pings.log")"
assert_contains "the CA job pings its own URL" "GET /ca-uuid " "$(cat "$work/pings.log")"

echo "-- metrics (node_exporter textfiles) and inspection without the step CLI"
step="metrics of the backup and renewal jobs"
mdir=/var/lib/prometheus/node-exporter
on "$h1" systemctl start "step-renew-$h1-server.service" "step-renew-$h1-peer.service"
assert_contains "the renewal job writes its metrics; etcd serves the certificate on disk" \
  "etcd_ansible_cert_served_matches{cluster=\"default\",kind=\"server\",node=\"$h1\"} 1" \
  "$(on "$h1" cat "$mdir/etcd-ansible-cert-default-server.prom")"
assert_contains "and the peer port too" "etcd_ansible_cert_served_matches{cluster=\"default\",kind=\"peer\",node=\"$h1\"} 1" \
  "$(on "$h1" cat "$mdir/etcd-ansible-cert-default-peer.prom")"
assert_contains "the etcd backup job (on the leader) writes its metrics" \
  'etcd_ansible_backup_last_attempt_success{cluster="default",kind="etcd"' \
  "$(for h in "$h1" "$h2" "$h3"; do on "$h" "cat $mdir/etcd-ansible-backup-default-etcd.prom 2>/dev/null"; done)"
assert_contains "the CA backup job too, with the objects kept" 'etcd_ansible_backup_objects_kept{cluster="default",kind="ca",node="'"$h1"'"} 2' \
  "$(on "$h1" cat "$mdir/etcd-ansible-backup-default-ca.prom")"
on "$h1" cat "$mdir/etcd-ansible-backup-default-ca.prom" >"$work/example-ca-backup.prom"
assert_contains "the interval for the alerts" 'etcd_ansible_backup_interval_seconds{cluster="default",kind="etcd"' \
  "$(for h in "$h1" "$h2" "$h3"; do on "$h" "cat $mdir/etcd-ansible-backup-default-etcd.prom 2>/dev/null"; done)"
inspect=$(ctl ansible "$h1" -i "$inv" -m step_cert -a "state=inspected cert_path=/etc/etcd/ssl/etcd-$h1-server.crt \
  key_path=/etc/etcd/ssl/etcd-$h1-server.key root=/etc/etcd/ssl/root_ca.crt serving_url=https://$(ip_of "$h1"):2379" 2>&1)
assert_contains "step_cert state=inspected: etcd serves the file on disk" '"served_matches": true' "$inspect"
assert_contains "step_cert state=inspected: the chain verifies" '"chain_valid": true' "$inspect"
assert_eq "openssl verify -untrusted agrees" "OK" "$(on "$h1" "awk '/BEGIN CERT/ {n++} n >= 2' /etc/etcd/ssl/etcd-$h1-server.crt >/tmp/int.pem; \
  openssl verify -CAfile /etc/etcd/ssl/root_ca.crt -untrusted /tmp/int.pem /etc/etcd/ssl/etcd-$h1-server.crt" | awk '{ print $2 }')"
assert_eq "the drill timers are on the last member only" "active inactive" \
  "$(on "$h3" systemctl is-active etcd-restore-drill-default.timer || true) $(on "$h1" systemctl is-active etcd-restore-drill-default.timer || true)"
assert_eq "the drill runs niced, idle I/O, with a memory limit" "Nice=19|IOSchedulingClass=idle|MemoryMax=2G" \
  "$(on "$h3" "grep -E '^(Nice|IOSchedulingClass|MemoryMax)=' /etc/systemd/system/etcd-restore-drill-default.service" | paste -sd'|')"

echo "-- the backup format: readable without this project"
step="decrypt with the AWS Encryption SDK"
key=$(newest default/)
aws s3 cp "s3://etcd-backups/$key" "$work/obj.kms" >/dev/null
ctl env AWS_REGION=us-east-1 node tests/peers/esdk/esdk.js decrypt --kms-key-arn "$kms_arn" \
  --kms-endpoint "$peer" <"$work/obj.kms" 2>"$work/esdk.err" | gunzip >"$work/restore-by-hand.db"
status_json=$(build/mirror/etcd/v3.5.16/bin/etcdutl snapshot status "$work/restore-by-hand.db" -w json)
assert_ne "the JS SDK decrypts the backup and etcdutl reads the snapshot" "0" "$(json_get "$status_json" totalKey)"

echo "-- turning the timers off, one backup now"
step="disable the timers"
# The same deploy switches the backups to raw-aes (their timers are off): the key file is written
# by the role's one etcd_files call, 0400 root, and never shown.
aes_pw=$(head -c 32 /dev/urandom | base64)
play "$work/run-3-deploy.log" "$inv" etcd.yaml -e etcd_action=deploy -e etcd_backup_cron_enabled=false \
  -e ca_backup_cron_enabled=false -e step_ca_backup_encryption_method=raw-aes -e "step_ca_backup_password=$aes_pw" -b
assert_eq "raw-aes: the key file is the password, 0400 root" "400 root $aes_pw" \
  "$(on "$h1" 'stat -c "%a %U" /etc/etcd-backups/raw-aes.key | tr "\n" " "; cat /etc/etcd-backups/raw-aes.key')"
assert_not_contains "raw-aes: the key never shows in the run" "$aes_pw" "$(cat "$work/run-3-deploy.log")"
for h in "$h1" "$h2" "$h3"; do
  assert_eq "$h: no etcd backup timer" "inactive" "$(on "$h" systemctl is-active etcd-backup-default.timer || true)"
done
assert_eq "no CA backup timer" "inactive" "$(on "$h1" systemctl is-active ca-backup-default.timer || true)"

step="KMS down"
ctl curl -fsS -X POST "$peer/_peer/faults" -d '{"rules":[{"op":"GenerateDataKey","status":500,"count":100}]}' >/dev/null
before=$(objects default/)
: >"$work/pings.log"
play_fails "$work/run-4-kms-down.log" "$inv" etcd.yaml -e etcd_action=backup -b
assert_contains "the failure names KMS" "GenerateDataKey" "$(cat "$work/run-4-kms-down.log")"
assert_eq "no object was written" "$before" "$(objects default/)"
assert_eq "no multipart upload is left" "" "$(aws s3api list-multipart-uploads --bucket etcd-backups --query 'Uploads[].Key' --output text | grep -v None || true)"
assert_eq "no snapshot file was left behind" "" "$(on "$h1" "find /var/lib/etcd/backups -type f 2>/dev/null")"
assert_contains "the fail ping was sent" "POST /etcd-uuid/fail" "$(cat "$work/pings.log")"
ctl curl -fsS -X DELETE "$peer/_peer/faults" >/dev/null

step="etcd_action=backup"
play "$work/run-5-backup.log" "$inv" etcd.yaml -e etcd_action=backup -b
assert_contains "the backup reports its revision and place" "uploaded to s3://etcd-backups/default/" \
  "$(cat "$work/run-5-backup.log")"
assert_eq "one more object" "$((before + 1))" "$(objects default/)"
local_copy=$(on "$h1" 'find /var/lib/etcd/backups/default -name "*-snapshot.db"' | head -1)
assert_ne "a local copy is kept on the first node" "" "$local_copy"

echo "-- restore drills: playbooks/restore-drill.yaml on the drill member ($h3)"
step="restore drill of the newest backup"
live() { on "$h3" 'echo "$(systemctl show -p MainPID --value etcd-default-3) $(stat -c %i /var/lib/etcd/default /var/lib/etcd/default/member/snap/db | paste -sd" ")"'; }
live_before=$(live)
want_keys=$(json_get "$(etcdctl_on "$h1" get "''" --prefix --keys-only -w json)" count) # '' survives ssh
: >"$work/pings.log"
t0=$(date +%s.%N)
play "$work/run-5b-drill.log" "$inv" playbooks/restore-drill.yaml -b
drill_s=$(elapsed "$t0")
assert_contains "the drill restored the newest backup with the right key count" \
  "etcd-restore-drill: restored $(newest default/): revision" "$(cat "$work/run-5b-drill.log")"
assert_contains "... $want_keys keys" ", $want_keys keys," "$(cat "$work/run-5b-drill.log")"
assert_contains "the CA drill: the backed-up root is the live one" "ca-restore-drill: restored ca/default/" "$(cat "$work/run-5b-drill.log")"
assert_eq "the live member: same PID, same data dir and db file" "$live_before" "$(live)"
assert_eq "no scratch data left" "" "$(on "$h3" 'ls -d /var/tmp/etcd-drill-* /var/tmp/ca-drill-* 2>/dev/null')"
assert_contains "the drill pinged start and success" "GET /drill-uuid/start" "$(cat "$work/pings.log")"
drill_prom=$(on "$h3" cat /var/lib/prometheus/node-exporter/etcd-ansible-drill-default-etcd.prom)
assert_contains "the drill's metrics: the key count" "etcd_ansible_drill_keys{cluster=\"default\",kind=\"etcd\",node=\"$h3\"} $want_keys" "$drill_prom"
printf '%s\n' "$drill_prom" >"$work/example-drill.prom"
grep -o 'etcd-restore-drill: restored.*' "$work/run-5b-drill.log" | head -1 | sed 's/".*//' >"$work/drill-result.txt"
etcdctl_on "$h1" put /e2e/after-backup yes >/dev/null

echo "-- Scenario 3: restore etcd data"
step="a bit-flipped backup is refused"
good=$(newest default/)
aws s3 cp "s3://etcd-backups/$good" "$work/good.kms" >/dev/null
cp "$work/good.kms" "$work/bad.kms"
size=$(stat -c %s "$work/bad.kms")
# Flip bits of the middle byte (writing a fixed value is no change when the byte already has it).
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' \
  "$work/bad.kms" $((size / 2))
cmp -s "$work/good.kms" "$work/bad.kms" && { echo "FAIL: the flipped copy equals the good one" >&2; exit 1; }
bad_key="default/2099/01/etcd-default-2099-01-01_00-00-00-snapshot.db.kms"
aws s3 cp "$work/bad.kms" "s3://etcd-backups/$bad_key" >/dev/null
play_fails "$work/run-6-bad.log" "$inv" playbooks/restore-etcd-cluster.yaml -e restore_confirm=false \
  -e restore_etcd_s3_file="$bad_key"
assert_contains "the flipped byte is caught" "s3://etcd-backups/$bad_key" "$(cat "$work/run-6-bad.log")"
assert_eq "no data dir was touched" "" "$(for h in "$h1" "$h2" "$h3"; do on "$h" 'ls -d /var/lib/etcd/*.before-restore-* 2>/dev/null'; done)"
assert_eq "the cluster still has the later write" "yes" "$(etcdctl_on "$h1" get --print-value-only /e2e/after-backup)"
step="a restore drill over the bit-flipped newest backup"
live_before=$(live)
: >"$work/pings.log"
play_fails "$work/run-6b-drill-bad.log" "$inv" playbooks/restore-drill.yaml -b
assert_contains "the drill fails on the flipped backup" "etcd-restore-drill: FAILED" "$(cat "$work/run-6b-drill-bad.log")"
assert_contains "... naming it" "$bad_key" "$(cat "$work/run-6b-drill-bad.log")"
assert_contains "the drill pinged /fail" "POST /drill-uuid/fail" "$(cat "$work/pings.log")"
assert_eq "no scratch data left behind" "" "$(on "$h3" 'ls -d /var/tmp/etcd-drill-* 2>/dev/null')"
assert_eq "no throwaway etcd left running" "" "$(on "$h3" "pgrep -f -- '[-]-name=drill' || true")"
assert_eq "the live member: same PID, same data dir and db file" "$live_before" "$(live)"
assert_contains "the drill's metrics say it failed" \
  "etcd_ansible_drill_last_attempt_success{cluster=\"default\",kind=\"etcd\",node=\"$h3\"} 0" \
  "$(on "$h3" cat /var/lib/prometheus/node-exporter/etcd-ansible-drill-default-etcd.prom)"
aws s3 rm "s3://etcd-backups/$bad_key" >/dev/null

step="restore from the newest S3 backup"
t0=$(date +%s.%N)
play "$work/run-7-restore-s3.log" "$inv" playbooks/restore-etcd-cluster.yaml -e restore_confirm=false
restore_s3=$(elapsed "$t0")
assert_contains "restored from the newest backup" "restored from s3://etcd-backups/$good" "$(cat "$work/run-7-restore-s3.log")"
assert_eq "the backed-up key is there" "yes" "$(etcdctl_on "$h2" get --print-value-only /e2e/before-backup)"
assert_eq "the later write is gone" "" "$(etcdctl_on "$h2" get --print-value-only /e2e/after-backup)"
assert_eq "3 healthy members" "3" "$(etcdctl_on "$h1" endpoint health 2>&1 | grep -c 'is healthy')"
assert_eq "every old data dir is kept aside" "3" "$(for h in "$h1" "$h2" "$h3"; do on "$h" 'ls -d /var/lib/etcd/default.before-restore-*'; done | wc -l)"
assert_eq "the plaintext copies are gone" "" "$(for h in "$h1" "$h2" "$h3"; do on "$h" 'ls /var/lib/etcd/restore 2>/dev/null'; done)"

step="restore from a local file"
etcdctl_on "$h1" put /e2e/after-backup again >/dev/null
play "$work/run-8-restore-local.log" "$inv" playbooks/restore-etcd-cluster.yaml -e restore_confirm=false \
  -e restore_etcd_local_file="$local_copy"
assert_eq "restored from the local file: the backed-up key" "yes" "$(etcdctl_on "$h3" get --print-value-only /e2e/before-backup)"
assert_eq "restored from the local file: the later write is gone" "" "$(etcdctl_on "$h3" get --print-value-only /e2e/after-backup)"
assert_contains "restored with etcdutl (3.5)" "with etcdutl" "$(tr -s ' \n' ' ' <"$work/run-8-restore-local.log")"

step="a 3.4 backup restored onto the 3.5 cluster"
# A snapshot etcd_snapshot saved from etcd 3.4.23 (a one-member TLS etcd on the controller's
# loopback, tests/peers/etcd/cluster.sh), restored by the playbook onto the 3.5.16 members.
c34=$work/etcd-3.4
rm -rf "$c34"
(
  export TEST_ETCD_VERSION=v3.4.23 ETCD_CLIENT_PORT=$(free_port) ETCD_PEER_PORT=$(free_port)
  trap 'tests/peers/etcd/cluster.sh stop "$c34"' EXIT
  tests/peers/etcd/cluster.sh start "$c34" 1 >/dev/null
  tests/peers/etcd/cluster.sh etcdctl "$c34" put /e2e/from-3.4 "written by etcd 3.4.23" >/dev/null
  jq -n --arg c "$c34" --arg ep "$(tests/peers/etcd/cluster.sh endpoint 1)" '{endpoints: [$ep], state: "saved",
    ca_cert: ($c + "/ca/ca.crt"), client_cert: ($c + "/ca/client.crt"), client_key: ($c + "/ca/client.key"),
    dest: ($c + "/etcd-3.4.23-snapshot.db")}' >"$c34/args.json"
  library/etcd_snapshot "$c34/args.json" >"$c34/saved.json"
)
assert_eq "etcd_snapshot saved a snapshot of etcd 3.4.23" "false" "$(json_get "$(cat "$c34/saved.json")" failed)"
snap34=/var/lib/etcd/backups/etcd-3.4.23-snapshot.db
on "$h1" "mkdir -p /var/lib/etcd/backups && cat >$snap34 && chmod 0600 $snap34" <"$c34/etcd-3.4.23-snapshot.db"
play "$work/run-8b-restore-3.4.log" "$inv" playbooks/restore-etcd-cluster.yaml -e restore_confirm=false \
  -e restore_etcd_local_file="$snap34"
assert_contains "restored with etcdutl (3.5)" "restored from $snap34 with etcdutl" \
  "$(tr -s ' \n' ' ' <"$work/run-8b-restore-3.4.log")"
assert_eq "the 3.5 cluster serves the 3.4 data" "written by etcd 3.4.23" \
  "$(etcdctl_on "$h2" get --print-value-only /e2e/from-3.4)"
assert_eq "the key of the 3.5 backup is gone (the 3.4 snapshot replaced everything)" "" \
  "$(etcdctl_on "$h2" get --print-value-only /e2e/before-backup)"
assert_eq "3 healthy members, still on 3.5.16" "3 3.5.16" \
  "$(etcdctl_on "$h1" endpoint health 2>&1 | grep -c 'is healthy') $(etcdctl_on "$h1" endpoint status -w json | jq -r '[.[].Status.version] | unique | join(" ")')"

echo "-- Scenario 2: restore the CA from S3"
step="restore the CA from its backup"
root_before=$(on "$h1" sha256sum /etc/step-ca/certs/root_ca.crt | cut -d' ' -f1)
on "$h1" 'systemctl stop step-ca; mv /etc/step-ca /root/lost-ca'
play "$work/run-9-restore-ca.log" "$inv" playbooks/restore-ca-from-backup.yaml -e target_node="$h1"
assert_eq "the same root is back" "$root_before" "$(on "$h1" sha256sum /etc/step-ca/certs/root_ca.crt | cut -d' ' -f1)"
assert_eq "step-ca serves it" "active" "$(on "$h1" systemctl is-active step-ca)"
on "$h1" cat /etc/step-ca/certs/root_ca.crt >"$work/root_ca.crt"
assert_contains "step-ca answers /health with the restored root" '"status":"ok"' \
  "$(ctl curl -fsS --cacert "$work/root_ca.crt" "https://$(ip_of "$h1"):9000/health")"
assert_eq "the CA key kept its mode" "400" "$(on "$h1" stat -c %a /etc/step-ca/secrets/intermediate_ca_key)"

echo "-- every metrics file the scenario produced passes promtool check metrics"
step="promtool check metrics"
mkdir -p "$work/metrics"
n_prom=0
for h in "$h1" "$h2" "$h3"; do
  for f in $(on "$h" 'ls /var/lib/prometheus/node-exporter/*.prom 2>/dev/null' || true); do
    on "$h" cat "$f" >"$work/metrics/$h-$(basename "$f")"
    assert_eq "promtool check metrics $h:$(basename "$f")" "" "$(promtool check metrics <"$work/metrics/$h-$(basename "$f")" 2>&1)"
    n_prom=$((n_prom + 1))
  done
done
# What this scenario ran: 2 renewal jobs on h1 (server, peer), the etcd and the CA backup job,
# the etcd and the CA drill.
assert_eq "6 metrics files at least (2 renewals, etcd and CA backup, 2 drills): $n_prom" "true" \
  "$([ "$n_prom" -ge 6 ] && echo true)"

echo "-- every playbook in --check mode against the deployed cluster (issue 10)"
step="--check runs"
check_t0=$(date +%s)
objects_before=$(objects "")
aside_before=$(for h in "$h1" "$h2" "$h3"; do on "$h" 'ls -d /var/lib/etcd/*.before-* 2>/dev/null'; done | wc -l)
root_ca_sum=$(on "$h1" sha256sum /etc/step-ca/certs/root_ca.crt | cut -d' ' -f1)
check_play() { # check_play NAME ARGS...: ansible-playbook --check ... must end with failed=0
  local name=$1
  shift
  play "$work/run-check-$name.log" "$inv" --check "$@"
  assert_eq "--check $name: failed=0" "0" "$(recap_sum "$work/run-check-$name.log" failed)"
}
check_play deploy etcd.yaml -e etcd_action=deploy -b
check_play backup etcd.yaml -e etcd_action=backup -b
check_play delete etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
check_play restore-etcd playbooks/restore-etcd-cluster.yaml -e restore_confirm=false
assert_contains "--check restore-etcd-cluster says what it would do" "Check mode: cluster default would be restored from s3://etcd-backups/" \
  "$(cat "$work/run-check-restore-etcd.log")"
check_play restore-ca-s3 playbooks/restore-ca-from-backup.yaml -e target_node="$h1"
check_play restore-ca playbooks/restore-ca.yaml -e source_node="$h2" -e target_node="$h1"
check_play restore-drill playbooks/restore-drill.yaml -b
check_play setup-kms playbooks/setup-kms.yaml -e kms_endpoint_url="$peer" -e aws_region=us-east-1
assert_eq "after the --check runs: no object added or removed" "$objects_before" "$(objects "")"
assert_eq "no data dir moved aside" "$aside_before" \
  "$(for h in "$h1" "$h2" "$h3"; do on "$h" 'ls -d /var/lib/etcd/*.before-* 2>/dev/null'; done | wc -l)"
# The data is what the 3.4 snapshot restore above left: /e2e/from-3.4, not the older keys.
assert_eq "the cluster still serves its data, 3 members healthy" "written by etcd 3.4.23 3" \
  "$(etcdctl_on "$h1" get --print-value-only /e2e/from-3.4) $(etcdctl_on "$h1" endpoint health 2>&1 | grep -c 'is healthy')"
assert_eq "the CA is untouched, step-ca serves" "$root_ca_sum active" \
  "$(on "$h1" sha256sum /etc/step-ca/certs/root_ca.crt | cut -d' ' -f1) $(on "$h1" systemctl is-active step-ca)"
play_fails "$work/run-check-no-bucket.log" "$inv" playbooks/restore-ca-from-backup.yaml -e target_node="$h1" \
  -e step_ca_backup_s3_bucket=""
assert_contains "restore-ca-from-backup without a CA bucket names the variable" "step_ca_backup_s3_bucket is not set" \
  "$(cat "$work/run-check-no-bucket.log")"
play_fails "$work/run-check-no-nodes.log" "$inv" playbooks/restore-ca.yaml
assert_contains "restore-ca without source_node/target_node names them" "-e source_node=<cert-manager with the CA>" \
  "$(cat "$work/run-check-no-nodes.log")"
check_run=$(( $(date +%s) - check_t0 ))

echo "-- the backup logs are rotated (logrotate drop-in)"
step="logrotate"
on "$h1" cat /etc/logrotate.d/etcd-backups >"$work/logrotate.conf"
assert_contains "the drop-in covers the backup logs" "/var/log/etcd-backups/*.log {" "$(cat "$work/logrotate.conf")"
rm -rf "$work/lr" && mkdir -p "$work/lr"
on "$h1" cat /var/log/etcd-backups/etcd-backup.log >"$work/lr/etcd-backup.log"
sed "s|/var/log/etcd-backups/|$work/lr/|" "$work/logrotate.conf" >"$work/lr.conf"
logrotate -f -s "$work/lr.state" "$work/lr.conf" 2>"$work/lr.err" || { cat "$work/lr.err" >&2; exit 1; }
assert_eq "logrotate (controller's, same drop-in) rotates it: a new empty log, the old one kept" "0 yes" \
  "$(stat -c %s "$work/lr/etcd-backup.log") $(test -s "$work/lr/etcd-backup.log.1" && echo yes || echo no)"

echo "-- delete takes a last backup"
step="delete"
before=$(objects default/)
play "$work/run-10-delete.log" "$inv" etcd.yaml -e etcd_delete_cluster=true -e etcd_delete_confirm=true -b
assert_eq "a backup was taken before the delete" "$((before + 1))" "$(objects default/)"

echo "backup e2e: restore of 3 members from S3 in ${restore_s3} s; restore drill (playbook) in ${drill_s} s; --check of every playbook ${check_run} s"
