#!/usr/bin/env bash
# Local test hosts: Debian bookworm systemd-nspawn containers with real systemd as PID 1.
#
#   hosts.sh up [N]          start N hosts (default 3), named ${HOSTS_PREFIX:-eh}1..N; print the inventory
#   hosts.sh down            stop every host that up started and remove its mounts, netns, cgroups
#   hosts.sh status          one line per host; exit 0 all booted, 1 none up, 2 some not ready
#   hosts.sh ctl CMD...      run CMD in the controller network namespace (where Ansible runs)
#   hosts.sh ssh NAME [CMD]  ssh into a host from the controller namespace
#
# Each host has its own network namespace with one veth into a bridge namespace (eabr, 10.77.0.1/24),
# which has no other link: test traffic cannot leave the machine. See README.md beside this file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
dir=$(realpath -m "${HOSTS_DIR:-$top/build/hosts}")
base=$(realpath -m "${HOSTS_BASE:-$dir/base}") # another path lets several clones share one base
key="$dir/id_ed25519"
inventory="$dir/inventory.ini"
prefix=${HOSTS_PREFIX:-eh}
mirror=${HOSTS_MIRROR:-http://deb.debian.org/debian}
timeout=${HOSTS_TIMEOUT:-60}
# Another namespace and subnet let a second, independent set run beside this one.
brns=${HOSTS_NETNS:-eabr}
bridge=br0
subnet=${HOSTS_SUBNET:-10.77.0}
# A change of the package list rebuilds the base; bump base_version when configure_base changes.
base_version=1
packages=systemd,systemd-sysv,dbus,python3,openssh-server,iproute2,ca-certificates,sudo,procps,less,iputils-ping
ssh_opts=(-i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ConnectTimeout=3)

log() { printf '[hosts] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- small helpers ----------------------------------------------------------------------------

host_names() { # names that up created, from their pid files
  local f
  for f in "$dir"/*/pid; do [ -f "$f" ] && basename "$(dirname "$f")"; done
  return 0
}

host_dirs() { # every per-host directory, including half-made ones from an interrupted up
  local d
  for d in "$dir"/*/; do
    d=${d%/}
    case ${d##*/} in base | base.*) continue ;; esac
    [ -f "$d/ip" ] && basename "$d"
  done
  return 0
}

pid_alive() { # a zombie is not alive: a killed nspawn stays one until PID 1 reaps it
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

nspawn_pid() { # prints the pid in NAME/pid if that process is still our systemd-nspawn
  local pid
  pid=$(cat "$dir/$1/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ] && pid_alive "$pid" || return 1
  echo "$pid"
}

cgroup_roots() { # hierarchies a container's cgroup lives in: v1 name=systemd + unified, or pure v2
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo /sys/fs/cgroup
  else
    local r
    for r in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do [ -d "$r" ] && echo "$r"; done
  fi
  return 0
}

mounts_under() { # mount points at or below $1, deepest first
  awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all_under() {
  local m
  for m in $(mounts_under "$1"); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

netns_exists() { [ -e "/run/netns/$1" ]; }

not_in_test_netns() { # up/down need the machine's /sys (cgroups), which ip netns exec replaces
  local ns
  for ns in "/run/netns/$brns" $(host_dirs | sed 's|^|/run/netns/|'); do
    [ -e "$ns" ] || continue
    [ "$(stat -L -c %i /proc/self/ns/net)" = "$(stat -L -c %i "$ns")" ] &&
      die "run up/down outside the test namespaces (this shell is in ${ns##*/})"
  done
  return 0
}

ancestors() { # this process and its parents: never killed as "left in the controller namespace"
  local pid=$$
  while [ "$pid" -gt 1 ]; do
    echo "$pid"
    pid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
  done
}

kill_pids() { # TERM, then KILL after a few seconds, each pid given
  local pid left i
  [ $# -eq 0 ] && return 0
  kill -TERM "$@" 2>/dev/null || true
  for i in $(seq 50); do
    left=()
    for pid in "$@"; do pid_alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
}

# --- base image -------------------------------------------------------------------------------

build_base() { # debootstrap once (cached); re-run the cheap configuration when base_version changes
  local t0=$SECONDS
  if [ "$(cat "$base/.etcd-ansible-debootstrap" 2>/dev/null)" != "$packages" ]; then
    command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/deps.sh --apt-only"
    unmount_all_under "$base"
    rm -rf --one-file-system "$base"
    log "building base image in $base (debootstrap bookworm, about a minute)"
    if ! debootstrap --variant=minbase --include="$packages" bookworm "$base" "$mirror" \
      >"$dir/debootstrap.log" 2>&1; then
      unmount_all_under "$base"
      tail -n 20 "$dir/debootstrap.log" >&2
      die "debootstrap failed (full log: $dir/debootstrap.log)"
    fi
    echo "$packages" >"$base/.etcd-ansible-debootstrap" # only now: an interrupted one is redone
  fi
  [ "$(cat "$base/.etcd-ansible-base" 2>/dev/null)" = "$base_version" ] && return 0
  configure_base
  echo "$base_version" >"$base/.etcd-ansible-base"
  log "base image ready in $((SECONDS - t0)) s"
}

configure_base() {
  chroot "$base" apt-get clean
  rm -rf "$base"/var/lib/apt/lists/* "$base"/etc/hostname
  : >"$base/etc/machine-id" # each host gets its own in its overlay
  printf '# test hosts have no DNS and no route out of the test bridge\n' >"$base/etc/resolv.conf"
  echo LANG=C.UTF-8 >"$base/etc/default/locale"
  mkdir -p "$base/var/log/journal" # persistent journal: it stays in the host's upper dir after down
  cat >"$base/etc/ssh/sshd_config.d/etcd-ansible-tests.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
EOF
  # Nothing to fetch from the test hosts, and apt-daily would hold the dpkg lock while a test installs.
  local unit
  for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service; do
    ln -sf /dev/null "$base/etc/systemd/system/$unit"
  done
  chroot "$base" systemctl is-enabled ssh.service >/dev/null || chroot "$base" systemctl enable ssh.service
}

ensure_key() {
  [ -f "$key" ] && [ -f "$key.pub" ] && return 0
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t ed25519 -N '' -C etcd-ansible-test-hosts -f "$key"
}

# --- networking -------------------------------------------------------------------------------

hosts_file() { # /etc/hosts content listing the controller and all hosts
  local name
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n'
  printf '%s.1\tcontroller\n' "$subnet"
  for name in "$@"; do printf '%s\t%s\n' "$(cat "$dir/$name/ip")" "$name"; done
}

bridge_up() {
  if ! netns_exists "$brns"; then
    ip netns add "$brns"
  fi
  ip -n "$brns" link set lo up
  ip -n "$brns" link show "$bridge" >/dev/null 2>&1 || ip -n "$brns" link add "$bridge" type bridge
  ip -n "$brns" addr replace "$subnet.1/24" dev "$bridge"
  ip -n "$brns" link set "$bridge" up
  # The bridge namespace has no link out. Forwarding on plus an unreachable default route makes it
  # answer "no route to host" at once, so a stray download fails fast instead of timing out.
  ip netns exec "$brns" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$brns" route replace unreachable default
}

host_net_up() { # $1 name, $2 ip
  local name=$1 addr=$2
  netns_exists "$name" || ip netns add "$name"
  ip -n "$name" link set lo up
  ip -n "$brns" link del "ve-$name" 2>/dev/null || true
  ip -n "$brns" link add "ve-$name" type veth peer name eth0 netns "$name"
  ip -n "$brns" link set "ve-$name" master "$bridge" up
  ip -n "$name" addr replace "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route replace default via "$subnet.1"
}

# --- one host ---------------------------------------------------------------------------------

host_prepare() { # $1 name, $2 ip, $3.. all names: fresh overlay, files, netns, cgroup
  local name=$1 addr=$2 d="$dir/$1" r
  shift 2
  mkdir -p "$d"
  echo "$addr" >"$d/ip"
  unmount_all_under "$d/root"
  rm -rf --one-file-system "$d/upper" "$d/work" "$d/pid"
  mkdir -p "$d/upper" "$d/work" "$d/root"
  mount -t overlay overlay -o "lowerdir=$base,upperdir=$d/upper,workdir=$d/work" "$d/root"
  echo "$name" >"$d/root/etc/hostname"
  hosts_file "$@" >"$d/root/etc/hosts"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/root/etc/machine-id"
  echo >>"$d/root/etc/machine-id"
  install -d -m 700 "$d/root/root/.ssh"
  install -m 600 "$key.pub" "$d/root/root/.ssh/authorized_keys"
  host_net_up "$name" "$addr"
  for r in $(cgroup_roots); do mkdir -p "$r/$name"; done
}

host_start() { # $1 name: boot the container in the background from its own cgroup
  local name=$1 d="$dir/$1"
  (
    exec 9>&- # the up/down lock must not live on in the container
    for r in $(cgroup_roots); do echo "$BASHPID" >"$r/$name/cgroup.procs"; done
    # setsid: the hosts live until down, whatever signals reach the caller's process group
    # (setsid does not fork here: a background subshell never leads its process group).
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec setsid systemd-nspawn --quiet --boot --register=no --keep-unit \
      --private-network --network-namespace-path="/run/netns/$name" --directory="$d/root" --machine="$name" \
      --console=read-only --resolv-conf=off --link-journal=no --timezone=off
  ) </dev/null >"$d/console.log" 2>&1 &
  echo $! >"$d/pid"
  # until the subshell has exec'd, its comm is not yet systemd-nspawn
  for _ in $(seq 50); do nspawn_pid "$name" >/dev/null && return 0; sleep 0.02; done
  die "$name: systemd-nspawn did not start (see $d/console.log)"
}

host_wait() { # $1 name, $2 deadline (SECONDS): wait until systemd finished booting and ssh answers
  local name=$1 deadline=$2 addr state left
  addr=$(cat "$dir/$name/ip")
  while :; do
    nspawn_pid "$name" >/dev/null || { log "$name: systemd-nspawn exited"; return 1; }
    left=$((deadline - SECONDS))
    [ "$left" -ge 1 ] || left=1
    state=$(ip netns exec "$brns" ssh "${ssh_opts[@]}" "root@$addr" \
      timeout "$left" systemctl is-system-running --wait 2>/dev/null) || true
    case $state in
      running) return 0 ;;
      degraded)
        log "$name: degraded; failed units:"
        ip netns exec "$brns" ssh "${ssh_opts[@]}" "root@$addr" \
          systemctl --failed --no-legend --plain >&2 || true
        return 0
        ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || { log "$name: not ready after ${timeout} s (state: ${state:-no ssh})"; return 1; }
    sleep 0.5
  done
}

host_stop_signal() { # send SIGTERM to nspawn: it powers the container off (SIGRTMIN+3 to its init)
  local pid
  pid=$(nspawn_pid "$1") && kill -TERM "$pid" 2>/dev/null
  return 0
}

host_stop_wait() { # $1 name, $2 deadline
  local name=$1 deadline=$2 pid next=$((SECONDS + 2))
  pid=$(nspawn_pid "$name") || return 0
  while pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
    # A container still booting may lose the first signal (PID 1 ignores signals it has no
    # handler for yet), so ask again now and then.
    if [ "$SECONDS" -ge "$next" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      next=$((SECONDS + 2))
    fi
    sleep 0.2
  done
  if pid_alive "$pid"; then
    log "$name: systemd-nspawn $pid did not stop in time; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  return 0
}

cgroup_pids() { # pids left in a host's cgroups
  local r
  for r in $(cgroup_roots); do
    [ -d "$r/$1" ] && find "$r/$1" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

host_cleanup() { # $1 name: everything but the logs and the upper dir (kept for post-mortem)
  local name=$1 d="$dir/$1" r pids
  mapfile -t pids < <(cgroup_pids "$name")
  if [ ${#pids[@]} -gt 0 ]; then
    # the container outlived its nspawn: no orderly shutdown is left, and systemd as PID 1 takes
    # SIGTERM as "re-execute", so kill
    log "$name: killing leftover processes ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(cgroup_pids "$name")" ] && break; sleep 0.1; done
  fi
  if netns_exists "$name"; then
    mapfile -t pids < <(ip netns pids "$name" 2>/dev/null)
    [ ${#pids[@]} -gt 0 ] && kill_pids "${pids[@]}"
  fi
  unmount_all_under "$d/root"
  rmdir "$d/root" 2>/dev/null || true
  rm -rf --one-file-system "$d/work"
  unmount_all_under "/run/systemd/nspawn/propagate/$name"
  rm -rf --one-file-system "/run/systemd/nspawn/propagate/$name" "/run/systemd/nspawn/unix-export/$name"
  for r in $(cgroup_roots); do
    [ -d "$r/$name" ] || continue
    find "$r/$name" -depth -type d -exec rmdir {} + 2>/dev/null || log "$name: could not remove cgroup $r/$name"
  done
  if netns_exists "$brns"; then ip -n "$brns" link del "ve-$name" 2>/dev/null || true; fi
  if netns_exists "$name"; then ip netns del "$name"; fi
  rm -f "$d/pid" "$d/ip"
  return 0
}

# --- commands ---------------------------------------------------------------------------------

write_inventory() {
  local name
  {
    echo "# written by tests/hosts/hosts.sh up; removed by down"
    echo "[testhosts]"
    for name in "$@"; do
      printf "%s ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s " \
        "$name" "$(cat "$dir/$name/ip")" "$key"
      printf "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' "
      printf "ansible_python_interpreter=/usr/bin/python3\n"
    done
  } >"$inventory.tmp"
  mv "$inventory.tmp" "$inventory"
}

wait_all() { # waits for the named hosts in parallel
  local deadline=$((SECONDS + timeout)) name rc=0 pids=()
  for name in "$@"; do
    host_wait "$name" "$deadline" &
    pids+=($!)
  done
  for name in "${pids[@]}"; do wait "$name" || rc=1; done
  return $rc
}

# Each host's systemd takes several inotify instances; the kernel's default of 128 per user runs
# out with a few host sets on one machine ("Too many open files" at boot). Only ever raised.
raise_inotify_limits() {
  local cur
  cur=$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 0)
  [ "$cur" -ge 1024 ] || sysctl -qw fs.inotify.max_user_instances=1024 || true
}

cmd_up_inner() { # runs in its own process so that set -e holds; the caller cleans up on failure
  local n=$1 i name names=() t0
  for i in $(seq "$n"); do names+=("$prefix$i"); done
  build_base
  ensure_key
  raise_inotify_limits
  t0=$SECONDS
  bridge_up
  for i in $(seq "$n"); do
    name=$prefix$i
    mkdir -p "$dir/$name"
    echo "$subnet.$((10 + i))" >"$dir/$name/ip"
  done
  mkdir -p "/etc/netns/$brns"
  hosts_file "${names[@]}" >"/etc/netns/$brns/hosts"
  printf '# no DNS in the test controller namespace\n' >"/etc/netns/$brns/resolv.conf"
  for name in "${names[@]}"; do
    host_prepare "$name" "$(cat "$dir/$name/ip")" "${names[@]}"
    host_start "$name"
  done
  write_inventory "${names[@]}"
  log "started ${names[*]}; waiting for systemd and ssh (up to ${timeout} s)"
  wait_all "${names[@]}"
  log "up: ${#names[@]} hosts ready in $((SECONDS - t0)) s"
}

cmd_up() {
  local n=${1:-3} i running=() wanted=() half=() want
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 200 ]; then die "N must be 1..200, not '$n'"; fi
  # veth names are ve-NAME and Linux allows 15 characters
  [[ $prefix =~ ^[a-z][a-z0-9-]{0,8}$ ]] || die "HOSTS_PREFIX must match [a-z][a-z0-9-]{0,8}"
  [[ $brns =~ ^[a-z][a-z0-9-]{0,14}$ ]] || die "HOSTS_NETNS must match [a-z][a-z0-9-]{0,14}"
  [[ $subnet =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "HOSTS_SUBNET must look like 10.77.0"
  [ "$(id -u)" -eq 0 ] || die "run as root"
  for i in $(seq "$n"); do wanted+=("$prefix$i"); done
  mapfile -t running < <(host_names | sort)
  mapfile -t half < <(host_dirs | sort)
  if [ ${#half[@]} -gt 0 ]; then
    want=$(printf '%s\n' "${wanted[@]}" | sort | paste -sd ' ')
    if [ "${running[*]}" = "$want" ] && [ "${half[*]}" = "$want" ] &&
      all_alive "${running[@]}" && netns_exists "$brns"; then
      log "already up: ${running[*]}"
      wait_all "${wanted[@]}" || die "hosts are up but not healthy; try: $0 down && $0 up $n"
      echo "$inventory"
      return 0
    fi
    log "other, dead or half-made hosts are there (${half[*]}); taking them down first"
    cmd_down
  fi
  mkdir -p "$dir"
  trap 'log "interrupted; tearing down"; cmd_down; exit 130' INT TERM
  if ! "$BASH" "${BASH_SOURCE[0]}" __up "$n"; then
    local name
    for name in "${wanted[@]}"; do
      if [ -f "$dir/$name/pid" ] && [ -f "$dir/$name/console.log" ]; then
        log "--- last lines of $dir/$name/console.log"
        tail -n 15 "$dir/$name/console.log" >&2
      fi
    done
    log "up failed; tearing down (logs stay in $dir/NAME/)"
    cmd_down
    exit 1
  fi
  trap - INT TERM
  echo "$inventory"
}

all_alive() {
  local name
  for name in "$@"; do nspawn_pid "$name" >/dev/null || return 1; done
}

cmd_down() {
  local names name deadline t0=$SECONDS pids pid nspawns left
  [ "$(id -u)" -eq 0 ] || die "run as root"
  mapfile -t names < <(host_dirs)
  if [ ${#names[@]} -gt 0 ]; then
    log "stopping ${names[*]}"
    nspawns=()
    for name in "${names[@]}"; do nspawns+=("$(cat "$dir/$name/pid" 2>/dev/null || true)"); done
    for name in "${names[@]}"; do host_stop_signal "$name"; done
    deadline=$((SECONDS + 20))
    for name in "${names[@]}"; do host_stop_wait "$name" "$deadline"; done
    for name in "${names[@]}"; do host_cleanup "$name"; done
    # An exited nspawn is an orphan zombie until PID 1 reaps it (about a second here); wait a
    # little so that "no systemd-nspawn left" holds when down returns.
    for _ in $(seq 50); do
      left=0
      for pid in "${nspawns[@]}"; do [ -n "$pid" ] && [ -e "/proc/$pid" ] && left=1; done
      [ "$left" -eq 0 ] && break
      sleep 0.1
    done
  fi
  if netns_exists "$brns"; then
    # what ran in the controller namespace (e.g. ssh ControlPersist masters left by Ansible)
    mapfile -t pids < <(ip netns pids "$brns" 2>/dev/null | grep -vxF -f <(ancestors))
    [ ${#pids[@]} -gt 0 ] && kill_pids "${pids[@]}"
    ip netns del "$brns"
  fi
  rm -rf "/etc/netns/$brns"
  rm -f "$inventory"
  log "down in $((SECONDS - t0)) s"
}

cmd_status() { # exit 0: all up and booted; 1: none up; 2: some dead or not (yet) booted
  local names name pid state addr rc=0
  mapfile -t names < <(host_names)
  if [ ${#names[@]} -eq 0 ]; then
    echo "no test hosts are up"
    return 1
  fi
  for name in "${names[@]}"; do
    addr=$(cat "$dir/$name/ip" 2>/dev/null || echo '?')
    if pid=$(nspawn_pid "$name"); then
      state=$(ip netns exec "$brns" ssh "${ssh_opts[@]}" -o ConnectTimeout=2 "root@$addr" \
        systemctl is-system-running 2>/dev/null) || true
      printf '%-12s %-12s nspawn pid %-8s systemd %s\n' "$name" "$addr" "$pid" "${state:-unreachable}"
      case $state in running | degraded) ;; *) rc=2 ;; esac
    else
      printf '%-12s %-12s dead (see %s)\n' "$name" "$addr" "$dir/$name/console.log"
      rc=2
    fi
  done
  echo "inventory: $inventory"
  return $rc
}

cmd_ssh() {
  local name=${1:?usage: hosts.sh ssh NAME [CMD...]}
  shift
  [ -f "$dir/$name/ip" ] || die "no host $name"
  exec ip netns exec "$brns" ssh "${ssh_opts[@]}" "root@$(cat "$dir/$name/ip")" "$@"
}

cmd_ctl() {
  [ $# -gt 0 ] || die "usage: hosts.sh ctl CMD..."
  netns_exists "$brns" || die "no controller namespace: run hosts.sh up first"
  exec ip netns exec "$brns" "$@"
}

with_lock() {
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w 300 9 || die "another hosts.sh up/down holds $dir/.lock"
  "$@"
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    up) not_in_test_netns && with_lock cmd_up "$@" ;;
    __up) cmd_up_inner "$@" ;;
    down) not_in_test_netns && with_lock cmd_down ;;
    status) cmd_status ;;
    ssh) cmd_ssh "$@" ;;
    ctl) cmd_ctl "$@" ;;
    *)
      sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
      exit 2
      ;;
  esac
}

main "$@"
