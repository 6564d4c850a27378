# etcd_look: one look at many paths, units and accounts of a node, in one exec, for the roles'
# tasks that write only what differs (a rerun then costs this one task, not a file, template,
# stat, systemd or user task, each a Python module run, per thing).
#
# It was a raw task and a set_fact parsing its output, included from etcd3/facts (three task
# starts per look). Ansible's controller pays for every task start on every host (a worker
# fork, the host's variables, templating), so one action is a third of that cost and the
# parsing runs here in Python, not in a Jinja loop.
#
# Options (a bad one fails the task, naming it):
#   paths    absolute paths (files, directories, links)
#   units    systemd unit names (optional)
#   users, groups   account names (optional)
#   read     absolute paths of small text files whose content the role needs, e.g. the
#            configuration a member was created with (optional; never a secret: the text is a
#            fact, shown with -v)
#   warn_missing   {absolute path: message}: each path is looked at too, and the message is a
#            warning of the task when the path is missing (e.g. a tool the role's files need)
#   glob     absolute shell patterns, e.g. /etc/systemd/system/etcd-*.service (optional): the
#            paths each one matches (a `find` or `ls` task less)
#   identity true: also set the facts ansible_hostname and ansible_default_ipv4 as setup sets
#            them (`uname -n` up to its first dot; {address: the src of `ip -4 route get
#            8.8.8.8`}, {} without a default route), for a role that needs only these two and
#            not a setup run (Python on the host). They are cacheable facts, as setup's are.
#   ports    TCP port numbers (optional): the local addresses listening on each (from
#            /proc/net/tcp and tcp6), e.g. whether another process holds the port a service is
#            about to listen on
#   as       the host fact to set, so that one role's look never replaces another's
# Sets that fact to a dict; what is missing is absent:
#   <path>:        "<type> <mode> <owner> <group> <sha1 of a regular file | target of a link>",
#                  e.g. "f 0640 root etcd 3f2a...", "d 0700 etcd etcd ", "l 0777 root root etcd-v3.5.16"
#   unit:<name>:   "<ActiveState> <UnitFileState>", e.g. "active enabled", "inactive " (not installed)
#   user:<name>:   its passwd line (name:x:uid:gid:comment:home:shell)
#   group:<name>:  its group line (name:x:gid:members)
#   text:<path>:   the text of a file of `read` (a regular file that is there)
#   glob:<pattern>: the paths that pattern matches, a sorted list ([] when none)
#   port:<n>:      the addresses listening on TCP port n, sorted ("0.0.0.0", "10.0.1.10", "::"),
#                  [] when none
# It reads only, so it runs in check mode too and never reports a change.
from __future__ import annotations

import base64
import ipaddress
import re
import shlex

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

# GNU find prints one line per path it can stat; sha1sum adds the regular files' checksums;
# systemctl show and getent the rest. rc 1: some path is missing (find says so on stderr).
LOOK_SCRIPT = r"""units=$1 users=$2 groups=$3 nread=$4 identity=$5 listen=$6 nglob=$7
shift 7
rc=0
while [ "$nglob" -gt 0 ]; do
  printf 'glob:%s\t\n' "$1"
  (
    IFS='
'
    for p in $1; do
      if [ -e "$p" ] || [ -L "$p" ]; then printf 'glob:%s\t%s\n' "$1" "$p"; fi
    done
  )
  shift
  nglob=$((nglob - 1))
done
if [ "$identity" = 1 ]; then
  printf 'identity:hostname\t%s\n' "$(uname -n)"
  printf 'identity:route\t%s\n' "$(ip -4 route get 8.8.8.8 2>/dev/null | head -n 1)"
fi
while [ "$nread" -gt 0 ]; do
  if [ -f "$1" ]; then printf 'text:%s\t' "$1"; base64 -w0 -- "$1" || rc=$?; printf '\n'; fi
  shift
  nread=$((nread - 1))
done
if [ $# -gt 0 ]; then
  find "$@" -maxdepth 0 \( -type f -printf '%p\t%y\t%m\t%u\t%g\t\n' -exec sha1sum {} + \) \
    -o -printf '%p\t%y\t%m\t%u\t%g\t%l\n' || rc=$?
fi
if [ "$listen" = 1 ]; then
  for t in /proc/net/tcp /proc/net/tcp6; do
    if [ -r "$t" ]; then awk -v t="${t##*/}" 'NR > 1 && $4 == "0A" { printf "listen:%s\t%s\n", t, $2 }' "$t"; fi
  done
fi
for u in $units; do
  printf 'unit:%s\t%s %s\n' "$u" "$(systemctl show --value -p ActiveState -- "$u")" \
    "$(systemctl show --value -p UnitFileState -- "$u")"
done
for u in $users; do
  if line=$(getent passwd -- "$u"); then printf 'user:%s\t%s\n' "$u" "$line"; fi
done
for g in $groups; do
  if line=$(getent group -- "$g"); then printf 'group:%s\t%s\n' "$g" "$line"; fi
done
exit $rc
"""

_FACT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_RE = re.compile(r"^[^\s'\"\\]+$")


def _is_absolute(path):
    """An absolute path the look's output can carry: its lines are split on tabs and newlines."""
    return isinstance(path, string_types) and path.startswith("/") and "\n" not in path and "\t" not in path


def look_command(paths, units, users, groups, read=(), identity=False, globs=(), listen=False):
    """sh: the look script over these names, every argument quoted (the script expands the
    patterns of globs itself; listen: the listening TCP sockets' lines)."""
    argv = (["sh", "-c", LOOK_SCRIPT, "look", " ".join(units), " ".join(users), " ".join(groups), str(len(read)),
             "1" if identity else "0", "1" if listen else "0", str(len(globs))] + list(globs) + list(read) + paths)
    return " ".join(shlex.quote(a) for a in argv)


def parse_look(stdout):
    """The look's output as the fact's dict (see the header). Lines that are neither a find
    line nor a sha1sum line (find's "No such file" on a tty) are ignored."""
    lines = stdout.splitlines()
    sums = {}
    for line in lines:
        if "\t" not in line and "  " in line:
            digest, path = line.split("  ", 1)
            sums[path] = digest
    found = {}
    for line in lines:
        if "\t" not in line:
            continue
        f = line.split("\t")
        if f[0].startswith("text:") and len(f) == 2:
            found[f[0]] = base64.b64decode(f[1]).decode("utf-8", "replace")
        elif f[0].startswith("listen:") and len(f) == 2:
            found.setdefault(f[0], []).append(f[1])
        elif f[0].startswith("glob:") and len(f) == 2:
            found.setdefault(f[0], [])
            if f[1]:
                found[f[0]].append(f[1])
        elif len(f) == 2:
            found[f[0]] = f[1]
        elif len(f) >= 6 and f[2].isdigit():
            found[f[0]] = " ".join([f[1], "%04d" % int(f[2]), f[3], f[4], sums.get(f[0], f[5])])
    for key in found:
        if key.startswith("glob:"):
            found[key].sort()
    return found


def _proc_net_address(hex_address):
    """An address of /proc/net/tcp (8 hex digits) or tcp6 (32), each 32-bit word in the host's
    order (x86-64: little-endian), as text ("10.0.1.10", "::")."""
    raw = bytes.fromhex(hex_address)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw))


def listening(found, ports):
    """{"port:<n>": sorted addresses listening on n} from the look's listen lines."""
    result = {"port:%d" % p: set() for p in ports}
    for key, local in found.items():
        if not key.startswith("listen:"):
            continue
        for entry in local:
            address, _, port = entry.partition(":")
            key_port = "port:%d" % int(port, 16)
            if key_port in result:
                result[key_port].add(_proc_net_address(address))
    return {k: sorted(v) for k, v in result.items()}


def identity_facts(found):
    """ansible_hostname and ansible_default_ipv4 from the identity lines, as setup has them."""
    src = re.findall(r"\bsrc ([0-9.]+)", found.get("identity:route", ""))
    return {"ansible_hostname": found.get("identity:hostname", "").strip().split(".")[0],
            "ansible_default_ipv4": {"address": src[0]} if src else {}}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("paths", "units", "users", "groups", "read", "glob", "warn_missing", "identity", "ports",
                             "as"))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        del tmp
        try:
            fact, paths, units, users, groups, read = self._options()
            globs = self._absolute(self._task.args, "glob")
            warn_missing = self._warn_missing(self._task.args)
            ports = self._ports(self._task.args)
        except AnsibleActionFail as e:
            result.update(failed=True, msg=e.message)
            return result
        try:
            identity = boolean(self._task.args.get("identity", False), strict=True)
        except TypeError:
            result.update(failed=True, msg="identity: true or false is required, got %r" % (self._task.args["identity"],))
            return result
        paths = paths + [p for p in warn_missing if p not in paths]
        out = self._low_level_execute_command(
            look_command(paths, units, users, groups, read, identity, globs, listen=bool(ports)), executable=False)
        if out.get("rc") not in (0, 1):
            result.update(failed=True, rc=out.get("rc"), stdout=out.get("stdout", ""),
                          stderr=out.get("stderr", ""),
                          msg="the look at %s failed (rc %s): %s" % (
                              ", ".join(paths + units) or "the accounts", out.get("rc"),
                              (out.get("stderr") or out.get("stdout") or "").strip()[-400:]))
            return result
        found = parse_look(out.get("stdout", ""))
        listen_lines = {k: found.pop(k) for k in [k for k in found if k.startswith("listen:")]}
        found.update(listening(listen_lines, ports))
        warnings = [msg for path, msg in warn_missing.items() if path not in found]
        if warnings:
            result["warnings"] = warnings
        facts = {fact: found}
        if identity:
            facts.update(identity_facts(found))
        result.update(changed=False, ansible_facts=facts)
        return result

    @staticmethod
    def _ports(args):
        """A list of TCP port numbers (1-65535; numbers as text too: templated options are)."""
        value = args.get("ports") or []
        if not isinstance(value, list):
            raise AnsibleActionFail("ports: a list of TCP port numbers is required, got %r" % (value,))
        ports = []
        for i, p in enumerate(value):
            try:
                port = int(p) if not isinstance(p, bool) else 0
            except (TypeError, ValueError):
                port = 0
            if not 1 <= port <= 65535:
                raise AnsibleActionFail("ports[%d]: a TCP port number (1-65535) is required, got %r" % (i, p))
            ports.append(port)
        return ports

    @staticmethod
    def _warn_missing(args):
        """{absolute path: message}, in the order given."""
        value = args.get("warn_missing") or {}
        if not isinstance(value, dict):
            raise AnsibleActionFail("warn_missing: a dict of absolute path: message is required, got %r" % (value,))
        for p, msg in value.items():
            if not _is_absolute(p):
                raise AnsibleActionFail("warn_missing: %r is not an absolute path (no tab, no newline)" % (p,))
            if not isinstance(msg, string_types) or not msg.strip():
                raise AnsibleActionFail("warn_missing[%s]: a message is required" % (p,))
        return {str(p): str(m) for p, m in value.items()}

    def _options(self):
        args = self._task.args
        fact = args.get("as")
        if not isinstance(fact, string_types) or not _FACT_RE.match(fact):
            raise AnsibleActionFail("as: the name of the fact to set is required (a variable name), got %r" % (fact,))
        paths, read = self._absolute(args, "paths"), self._absolute(args, "read")
        return fact, paths, self._names(args, "units"), self._names(args, "users"), self._names(args, "groups"), read

    @staticmethod
    def _absolute(args, option):
        """A list of absolute paths: each one is an argument of its own (spaces are fine), but
        the output is split on lines and tabs."""
        value = args.get(option) or []
        if not isinstance(value, list):
            raise AnsibleActionFail("%s: a list is required, got %r" % (option, value))
        for i, p in enumerate(value):
            if not _is_absolute(p):
                raise AnsibleActionFail("%s[%d]: an absolute path (no tab, no newline) is required, got %r" % (option, i, p))
        return [str(p) for p in value]

    @staticmethod
    def _names(args, option):
        """A list of names without white space or quotes (the script splits on spaces)."""
        value = args.get(option) or []
        if not isinstance(value, list):
            raise AnsibleActionFail("%s: a list is required, got %r" % (option, value))
        for i, name in enumerate(value):
            if not isinstance(name, string_types) or not _NAME_RE.match(name):
                raise AnsibleActionFail("%s[%d]: a name without spaces or quotes is required, got %r" % (option, i, name))
        return [str(n) for n in value]
