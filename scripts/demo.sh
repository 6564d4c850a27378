#!/usr/bin/env bash
# make demo / make demo-down: a 3-node etcd cluster with its Smallstep CA on local test hosts,
# deployed by etcd.yaml exactly as the README runs it.
#   up    deps, static modules, local mirrors of etcd and step-ca, 3 test hosts (eh1..eh3),
#         build/demo/inventory.ini, ansible-playbook etcd.yaml -e etcd_action=create, then the
#         cluster's endpoint health and member table from eh1
#   down  stops the test hosts
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hosts=tests/hosts/hosts.sh
demo=build/demo
inventory=$demo/inventory.ini

etcdctl_on_eh1() { # etcdctl on eh1 with its client certificate, against every member
  local endpoints
  endpoints=$(awk '/^\[etcd\]/ { s = 1; next } /^\[/ { s = 0 }
    s && match($0, /ansible_host=[^ ]+/) { e = e sep "https://" substr($0, RSTART + 13, RLENGTH - 13) ":2379"; sep = "," }
    END { print e }' "$inventory")
  "$hosts" ssh eh1 ETCDCTL_API=3 /opt/bin/etcdctl --endpoints="$endpoints" \
    --cert=/etc/etcd/ssl/etcd-eh1-client.crt --key=/etc/etcd/ssl/etcd-eh1-client.key \
    --cacert=/etc/etcd/ssl/root_ca.crt "$@"
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
    grep -E '^eh[123] ' build/hosts/inventory.ini
    printf '\n[etcd-cert-managers]\neh1\neh2\n\n[etcd-clients]\n\n[all:vars]\n'
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
    start=$SECONDS
    "$hosts" ctl ansible-playbook -i "$inventory" etcd.yaml -e etcd_action=create -b
    echo
    echo "== etcd.yaml -e etcd_action=create took $((SECONDS - start)) s"
    echo "== etcdctl endpoint health (on eh1, with its client certificate)"
    etcdctl_on_eh1 endpoint health
    echo "== etcdctl member list -w table"
    etcdctl_on_eh1 member list -w table
    echo
    echo "Demo cluster is up: tests/hosts/hosts.sh ssh eh1 systemctl status etcd-default-1"
    echo "Inventory: $inventory (run playbooks through: tests/hosts/hosts.sh ctl ansible-playbook -i $inventory ...)"
    echo "Tear down with: make demo-down"
    ;;
  down)
    "$hosts" down
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
