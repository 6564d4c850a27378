# etcd_service: a systemd unit started or stopped, enabled or disabled, in one exec on the node,
# for the roles' daemons (etcd members, step-ca).
#
# It replaces ansible.builtin.systemd where the roles start or stop a unit: that module is a
# Python run on the node (about 1-1.5 s a call here, 3.6 s for "Start and enable" on 3 hosts of
# a create) for what a few systemctl commands do. The roles call it only when their look
# (etcd_look units) found the unit in another state, so a rerun never starts it.
#
# Options (a bad one fails the task, naming it):
#   name           the unit, e.g. etcd-default-1 (".service" may be left out)
#   state          started or stopped (optional: leave the unit as it runs)
#   enabled        true or false (optional: leave it as it is)
#   daemon_reload  true: systemctl daemon-reload first (a unit file that was just written)
#   no_block       true: start or stop without waiting for the job (a new cluster's members wait
#                  for each other: Type=notify reports ready only once a leader is elected)
# What it does, as ansible.builtin.systemd would: enable or disable when `systemctl is-enabled`
# says otherwise; start when the unit is not active, activating or reloading; stop when it is
# not inactive or failed. A unit systemd does not know fails the task. Result: changed, and
# `actions`, one word per thing done (enabled, disabled, started, stopped). In check mode it
# only looks (no daemon-reload either) and reports what it would do.
from __future__ import annotations

import re
import shlex

import importlib.util
import os.path
import sys

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.six import string_types

# The shared ScriptAction (_cached_binary.py), loaded by file location as the module plugins load it.
_NAME = "etcd_ansible_cached_binary"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, os.path.join(os.path.dirname(__file__), "_cached_binary.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_cached = sys.modules[_NAME]

# Positional: unit state(started|stopped|-) enabled(1|0|-) reload(1|0) no_block(1|0) check(1|0).
# Prints "did: <action>" per action (ssh with a tty merges stderr into stdout: the prefix tells
# them apart); rc 3 for a unit systemd does not know.
SERVICE_SCRIPT = r"""unit=$1 state=$2 enabled=$3 reload=$4 nb=$5 check=$6
set -e
if [ "$reload" = 1 ] && [ "$check" = 0 ]; then systemctl daemon-reload; fi
if [ "$(systemctl show --value -p LoadState -- "$unit")" = not-found ]; then
  echo "systemd does not know $unit" >&2
  exit 3
fi
flag=
[ "$nb" = 1 ] && flag=--no-block
if [ "$enabled" = 1 ] && ! systemctl is-enabled --quiet -- "$unit"; then
  [ "$check" = 1 ] || systemctl enable --quiet -- "$unit"
  echo "did: enabled"
elif [ "$enabled" = 0 ] && systemctl is-enabled --quiet -- "$unit"; then
  [ "$check" = 1 ] || systemctl disable --quiet -- "$unit"
  echo "did: disabled"
fi
active=$(systemctl show --value -p ActiveState -- "$unit")
case "$state:$active" in
  started:active | started:activating | started:reloading | stopped:inactive | stopped:failed | -:*) ;;
  started:*)
    [ "$check" = 1 ] || systemctl start $flag -- "$unit"
    echo "did: started"
    ;;
  stopped:*)
    [ "$check" = 1 ] || systemctl stop $flag -- "$unit"
    echo "did: stopped"
    ;;
esac
"""

# A unit name as systemd takes it (unit_name_is_valid: letters, digits, ":-_.\@").
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.\\@-]{1,255}$")


def service_command(unit, state, enabled, reload, no_block, check):
    flag = {True: "1", False: "0", None: "-"}
    argv = ["sh", "-c", SERVICE_SCRIPT, "service", unit, state or "-", flag[enabled],
            flag[bool(reload)], flag[bool(no_block)], flag[bool(check)]]
    return " ".join(shlex.quote(a) for a in argv)


class ActionModule(_cached.ScriptAction):
    _VALID_ARGS = frozenset(("name", "state", "enabled", "daemon_reload", "no_block"))

    def command(self, options, check_mode):
        return service_command(*options, check_mode)

    def failure(self, options):
        return options[0]

    def options(self):
        args = self._task.args
        unit = args.get("name")
        if not isinstance(unit, string_types) or not _UNIT_RE.match(unit):
            raise AnsibleActionFail("name: a systemd unit name is required, got %r" % (unit,))
        state = args.get("state")
        if state not in (None, "started", "stopped"):
            raise AnsibleActionFail("state: started or stopped is required, got %r" % (state,))
        flags = []
        for option in ("enabled", "daemon_reload", "no_block"):
            value = args.get(option)
            try:
                flags.append(None if value is None else boolean(value, strict=True))
            except TypeError:
                raise AnsibleActionFail("%s: true or false is required, got %r" % (option, value))
        if state is None and flags[0] is None:
            raise AnsibleActionFail("state or enabled is required")
        return (str(unit), state) + tuple(flags)
