#!/usr/bin/env bash
# make demo / make demo-down: a 3-node etcd cluster with its Smallstep CA on local test hosts,
# deployed by etcd.yaml exactly as the README runs it.
#   up    deps, static modules, local mirrors of etcd and step-ca, 3 test hosts (eh1..eh3),
#         the local S3/KMS peer (tests/peers/aws) on the controller's address of the hosts'
#         network with a bucket and the KMS key (playbooks/setup-kms.yaml), backups turned on
#         (build/demo/group_vars/all.yml), ansible-playbook etcd.yaml -e etcd_action=create, then
#         the cluster's endpoint health and member table from eh1, one run of each backup job,
#         a restore drill (playbooks/restore-drill.yaml), and the story: the backup listing, one
#         node's metrics and the drill's result
#   down  stops the AWS peer and the test hosts
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hosts=tests/hosts/hosts.sh
demo=build/demo
inventory=$demo/inventory.ini
# The test hosts: eh1..eh3 in build/hosts unless HOSTS_PREFIX / HOSTS_DIR pick another set.
pfx=${HOSTS_PREFIX:-eh}
hosts_inventory=${HOSTS_DIR:-build/hosts}/inventory.ini

etcdctl_on_eh1() { # etcdctl on eh1 with its client certificate, against every member
  local endpoints
  endpoints=$(awk '/^\[etcd\]/ { s = 1; next } /^\[/ { s = 0 }
    s && match($0, /ansible_host=[^ ]+/) { e = e sep "https://" substr($0, RSTART + 13, RLENGTH - 13) ":2379"; sep = "," }
    END { print e }' "$inventory")
  "$hosts" ssh "${pfx}1" ETCDCTL_API=3 /opt/bin/etcdctl --endpoints="$endpoints" \
    --cert="/etc/etcd/ssl/etcd-${pfx}1-client.crt" --key="/etc/etcd/ssl/etcd-${pfx}1-client.key" \
    --cacert=/etc/etcd/ssl/root_ca.crt "$@"
}

# ---- backups: the local S3/KMS peer the demo hosts reach on the controller's address ----------

peer_dir=$demo/aws-peer
controller_ip="${HOSTS_SUBNET:-10.77.0}.1"
aws_cli() { # the AWS CLI against the peer, from the hosts' network, with nothing of this machine's
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    "$hosts" ctl /usr/bin/aws --endpoint-url "$peer" "$@"
}

start_backup_peer() { # sets peer, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; bucket + KMS key
  tests/peers/aws/build.sh >/dev/null
  if [ -f "$peer_dir/pid" ] && kill -0 "$(cat "$peer_dir/pid")" 2>/dev/null; then
    "$hosts" ctl tests/peers/aws/peer.sh stop "$peer_dir" >/dev/null 2>&1 || true
  fi
  eval "$("$hosts" ctl tests/peers/aws/peer.sh start "$peer_dir" -listen "$controller_ip:0" -private-ok)"
  peer=$AWS_PEER_URL
  aws_cli s3 mb s3://etcd-backups >/dev/null 2>&1 || true
  "$hosts" ctl ansible-playbook playbooks/setup-kms.yaml -e kms_endpoint_url="$peer" -e aws_region=us-east-1 >/dev/null
}

# Backups on, against the peer (group_vars beside the inventory: ansible-playbook finds them).
write_backup_vars() {
  mkdir -p "$demo/group_vars"
  cat >"$demo/group_vars/all.yml" <<EOF
# make demo: backups to the local S3/KMS peer (tests/peers/aws, fake credentials).
etcd_upload_backup: {storage: s3, bucket: etcd-backups}
step_ca_backup_s3_bucket: etcd-backups
step_ca_backup_kms_key_id: alias/etcd-ca-backup
etcd_backup_s3_endpoint_url: "$peer"
etcd_backup_kms_endpoint_url: "$peer"
etcd_backup_aws_access_key_id: "$AWS_ACCESS_KEY_ID"
etcd_backup_aws_secret_access_key: "$AWS_SECRET_ACCESS_KEY"
EOF
}

# The end of the story: what is in S3, what one node's jobs report, what the drill proved.
show_story() {
  local drill_host=${pfx}3 h k f
  echo
  echo "== one run of each backup and renewal job now (the timers' own services)"
  for h in "${pfx}1" "${pfx}2" "${pfx}3"; do "$hosts" ssh "$h" systemctl start etcd-backup-default.service; done
  "$hosts" ssh "${pfx}1" systemctl start ca-backup-default.service
  for k in peer server client; do "$hosts" ssh "$drill_host" systemctl start "step-renew-$drill_host-$k.service"; done
  echo "== restore drill: ansible-playbook playbooks/restore-drill.yaml (on $drill_host)"
  "$hosts" ctl ansible-playbook -i "$inventory" playbooks/restore-drill.yaml -b | grep -E '"msg": ".*(restored|FAILED)' | sed 's/^ *"msg": //'
  echo
  echo "== the backups: aws s3 ls --recursive s3://etcd-backups/"
  aws_cli s3 ls --recursive s3://etcd-backups/
  echo
  echo "== metrics of $drill_host (/var/lib/prometheus/node-exporter, node_exporter's textfile directory)"
  for f in $("$hosts" ssh "$drill_host" 'ls /var/lib/prometheus/node-exporter/*.prom'); do
    echo "-- $f"
    "$hosts" ssh "$drill_host" "grep -v '^#' $f"
  done
  echo
  echo "== the last drill on $drill_host (/var/log/etcd-backups/etcd-restore-drill.log)"
  "$hosts" ssh "$drill_host" "grep '^{' /var/log/etcd-backups/etcd-restore-drill.log | tail -n 1" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(json.dumps({k: r.get(k) for k in
      ("failed", "key", "revision", "backup_revision", "keys", "snapshot_size", "duration_s", "peak_rss_bytes")}, indent=2))'
}

write_inventory() {
  # etcd 3.5 is the default line (roles/etcd3/defaults: etcd_version); the mirror has 3.5.16.
  local stepca=build/mirror/step-ca/v0.19.0/step-ca_linux_0.19.0_amd64.tar.gz etcd_version=v3.5.16
  mkdir -p "$demo"
  {
    echo "# make demo: three local test hosts (tests/hosts/hosts.sh), mirrors in build/mirror/."
    echo "# Use it like the README's inventory.ini, from the controller namespace:"
    echo "#   tests/hosts/hosts.sh ctl ansible-playbook -i $inventory etcd.yaml -e etcd_action=deploy"
    echo "[etcd]"
    grep -E "^${pfx}[123] " "$hosts_inventory"
    printf '\n[etcd-cert-managers]\n%s1\n%s2\n\n[etcd-clients]\n\n[all:vars]\n' "$pfx" "$pfx"
    echo "# Demo secrets: in a real deployment they live in group_vars/all/vault.yml, encrypted."
    echo "step_ca_password=demo-ca-password"
    echo "step_provisioner_password=demo-provisioner-password"
    echo "# The test hosts have no Internet: etcd and step-ca come from the local mirrors."
    echo "etcd_version=$etcd_version"
    echo "etcd_download_url=file://$top/build/mirror/etcd/{{ etcd_version }}/etcd-{{ etcd_version }}-linux-amd64.tar.gz"
    echo "etcd_checksum=sha256:file://$top/build/mirror/etcd/{{ etcd_version }}/SHA256SUMS"
    echo "step_ca_download_url=file://$top/$stepca"
    echo "step_ca_checksum=sha256:$(cut -d' ' -f1 "$stepca.sha256")"
    echo "etcd_download_cache_dir=$top/$demo/cache"
  } >"$inventory"
}

case "${1:-up}" in
  up)
    [ "$(id -u)" -eq 0 ] || { echo "make demo needs root (debootstrap, systemd-nspawn)" >&2; exit 1; }
    scripts/deps.sh
    make --no-print-directory all
    tests/peers/stepca/build.sh >/dev/null
    tests/peers/etcd/mirror.sh v3.5.16 >/dev/null
    "$hosts" up 3 >/dev/null
    write_inventory
    start_backup_peer
    write_backup_vars
    start=$SECONDS
    "$hosts" ctl ansible-playbook -i "$inventory" etcd.yaml -e etcd_action=create -b
    echo
    echo "== etcd.yaml -e etcd_action=create took $((SECONDS - start)) s"
    echo "== etcdctl endpoint health (on eh1, with its client certificate)"
    etcdctl_on_eh1 endpoint health
    echo "== etcdctl member list -w table"
    etcdctl_on_eh1 member list -w table
    show_story
    echo
    echo "Demo cluster is up: tests/hosts/hosts.sh ssh ${pfx}1 systemctl status etcd-default-1"
    echo "Inventory: $inventory (run playbooks through: tests/hosts/hosts.sh ctl ansible-playbook -i $inventory ...)"
    echo "Tear down with: make demo-down"
    ;;
  down)
    if [ -f "$peer_dir/pid" ]; then "$hosts" ctl tests/peers/aws/peer.sh stop "$peer_dir" || true; fi
    "$hosts" down
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
