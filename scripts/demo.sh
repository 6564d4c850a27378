#!/usr/bin/env bash
# make demo / make demo-down: local test hosts and a deployment onto them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
hosts=tests/hosts/hosts.sh

case "${1:-up}" in
  up)
    [ "$(id -u)" -eq 0 ] || { echo "make demo needs root (debootstrap, systemd-nspawn)" >&2; exit 1; }
    scripts/deps.sh
    make --no-print-directory all
    "$hosts" up 3
    "$hosts" ctl ansible-playbook -i build/hosts/inventory.ini tests/e2e/demo_timer.yaml
    echo
    for h in eh1 eh2 eh3; do
      "$hosts" ssh "$h" systemctl list-timers etcd-ansible-demo.timer --no-pager | head -n 2
    done
    echo
    echo "Demo hosts are up (ssh: tests/hosts/hosts.sh ssh eh1). Tear down with: make demo-down"
    ;;
  down)
    "$hosts" down
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
