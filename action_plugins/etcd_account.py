# etcd_account: a system group and a system user of that group, made or mended in one exec on the
# node, for the accounts the roles run daemons as (etcd, step-ca).
#
# It replaces an ansible.builtin.group and an ansible.builtin.user task: two Python module runs
# (about 0.7 s each on 3 hosts here) for what groupadd, useradd and usermod do in one command.
# The roles call it only when their look (etcd_look users/groups) found the account missing or
# other than wanted, so a rerun never starts it.
#
# Options (a bad one fails the task, naming it):
#   name      the user (required)
#   group     its primary group, made as a system group when missing (default: name)
#   home      its home directory, never created here (required)
#   shell     default /usr/sbin/nologin
#   comment   the GECOS field (default: name)
# What it does, as the builtin modules would with system: true and create_home: false:
#   - the group missing: groupadd --system GROUP;
#   - the user missing: useradd --system -g GROUP -c COMMENT -d HOME -M -s SHELL NAME;
#   - the user there with another primary group, comment, home or shell: usermod -g -c -d -s
#     (the home is not moved). Its UID is never changed.
# Result: changed, and `actions`, one line per thing done ("group etcd created", "user etcd
# created", "user etcd changed: shell /bin/sh -> /usr/sbin/nologin"). In check mode it only
# looks and reports what it would do.
from __future__ import annotations

import re
import shlex

import importlib.util
import os.path
import sys

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types

# The shared ScriptAction (_cached_binary.py), loaded by file location as the module plugins load it.
_NAME = "etcd_ansible_cached_binary"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, os.path.join(os.path.dirname(__file__), "_cached_binary.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_cached = sys.modules[_NAME]

# Positional: group user home shell comment check(0/1). Prints "did: <action>" per action
# (_cached_binary.py ScriptAction). Field order of passwd: name:x:uid:gid:comment:home:shell.
ACCOUNT_SCRIPT = r"""g=$1 u=$2 home=$3 shell=$4 comment=$5 check=$6
set -e
if ! getent group -- "$g" >/dev/null; then
  [ "$check" = 1 ] || groupadd --system -- "$g"
  echo "did: group $g created"
fi
gid=$(getent group -- "$g" | cut -d: -f3) || gid=
if line=$(getent passwd -- "$u"); then
  old_gid=$(printf '%s' "$line" | cut -d: -f4)
  old_comment=$(printf '%s' "$line" | cut -d: -f5)
  old_home=$(printf '%s' "$line" | cut -d: -f6)
  old_shell=$(printf '%s' "$line" | cut -d: -f7)
  what=
  [ "$old_gid" = "$gid" ] || what="$what group $old_gid -> $g,"
  [ "$old_comment" = "$comment" ] || what="$what comment $old_comment -> $comment,"
  [ "$old_home" = "$home" ] || what="$what home $old_home -> $home,"
  [ "$old_shell" = "$shell" ] || what="$what shell $old_shell -> $shell,"
  if [ -n "$what" ]; then
    [ "$check" = 1 ] || usermod -g "$g" -c "$comment" -d "$home" -s "$shell" -- "$u"
    echo "did: user $u changed:${what%,}"
  fi
else
  [ "$check" = 1 ] || useradd --system -g "$g" -c "$comment" -d "$home" -M -s "$shell" -- "$u"
  echo "did: user $u created"
fi
"""

# What groupadd and useradd take as a name (shadow's default NAME_REGEX, with upper case).
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def account_command(group, user, home, shell, comment, check):
    argv = ["sh", "-c", ACCOUNT_SCRIPT, "account", group, user, home, shell, comment, "1" if check else "0"]
    return " ".join(shlex.quote(a) for a in argv)


class ActionModule(_cached.ScriptAction):
    _VALID_ARGS = frozenset(("name", "group", "home", "shell", "comment"))

    def command(self, options, check_mode):
        group, user, home, shell, comment = options
        return account_command(group, user, home, shell, comment, check_mode)

    def failure(self, options):
        return "the account %s (group %s) could not be made" % (options[1], options[0])

    def options(self):
        args = self._task.args
        user = self._name(args, "name", None)
        group = self._name(args, "group", user)
        home = args.get("home")
        if not isinstance(home, string_types) or not home.startswith("/") or ":" in home or "\n" in home:
            raise AnsibleActionFail("home: an absolute path without ':' is required, got %r" % (home,))
        shell = args.get("shell") or "/usr/sbin/nologin"
        if not isinstance(shell, string_types) or not shell.startswith("/") or ":" in shell or "\n" in shell:
            raise AnsibleActionFail("shell: an absolute path without ':' is required, got %r" % (shell,))
        comment = args.get("comment", user)
        if not isinstance(comment, string_types) or ":" in comment or "\n" in comment:
            raise AnsibleActionFail("comment: text without ':' or a newline is required, got %r" % (comment,))
        return group, user, str(home), str(shell), str(comment)

    @staticmethod
    def _name(args, option, default):
        value = args.get(option, default)
        if not isinstance(value, string_types) or not _NAME_RE.match(value):
            raise AnsibleActionFail("%s: an account name (letters, digits, _ . -; at most 32) is required, got %r"
                                    % (option, value))
        return str(value)
