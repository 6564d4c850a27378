# etcd_read: the content of several files of a node in one exec, for a task that copies them to
# another node (smallstep's CA replication to a backup cert-manager). It was a slurp per file: a
# Python module run on the node for each (2.2 s for the six CA files of a create here).
#
# Options (a bad one fails the task, naming it):
#   paths      absolute paths of regular files (required, at least one)
#   max_bytes  the largest file it reads (default 1 MiB): what it returns is held in memory by
#              the controller, so it is for small files only
# Returns `contents`: {path: the file's bytes in base64}, in the result only, never as a fact.
# A task that reads secrets sets no_log. A path that is missing, not a regular file, unreadable
# or bigger than max_bytes fails the task, naming the path; nothing is returned then.
# It reads only, so it runs in check mode too and never reports a change.
from __future__ import annotations

import re
import shlex

from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

# One line per path: "file\t<path>\t<base64>", or "<what is wrong>\t<path>". base64 -w0 keeps the
# content on one line; stat first, so a big file is never read.
READ_SCRIPT = r"""max=$1
shift
for p in "$@"; do
  if [ -L "$p" ] || [ ! -f "$p" ]; then printf 'not a regular file\t%s\n' "$p"; continue; fi
  if [ ! -r "$p" ]; then printf 'not readable\t%s\n' "$p"; continue; fi
  size=$(stat -c %s -- "$p") || { printf 'not readable\t%s\n' "$p"; continue; }
  if [ "$size" -gt "$max" ]; then printf 'bigger than max_bytes (%s bytes)\t%s\n' "$size" "$p"; continue; fi
  printf 'file\t%s\t' "$p"
  base64 -w0 -- "$p" || exit 2
  printf '\n'
done
"""

_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def read_command(paths, max_bytes):
    """sh: the read script over these paths, every argument quoted."""
    argv = ["sh", "-c", READ_SCRIPT, "read", str(max_bytes)] + paths
    return " ".join(shlex.quote(a) for a in argv)


def parse_read(stdout, paths):
    """({path: base64}, [problem, ...]) from the script's lines; a path without a line is a
    problem too (the output was cut)."""
    contents, problems, reported = {}, [], set()
    for line in stdout.splitlines():
        f = line.rstrip("\r").split("\t")
        if len(f) == 3 and f[0] == "file" and f[1] in paths and _B64_RE.match(f[2]):
            contents[f[1]] = f[2]
        elif len(f) == 2 and f[1] in paths:
            problems.append("%s: %s" % (f[1], f[0]))
        else:
            continue
        reported.add(f[1])
    problems += ["%s: no answer from the node" % p for p in paths if p not in reported]
    return contents, problems


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("paths", "max_bytes"))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        del tmp
        paths, max_bytes, error = self._options(self._task.args)
        if error:
            result.update(failed=True, msg=error)
            return result
        out = self._low_level_execute_command(read_command(paths, max_bytes), executable=False)
        contents, problems = parse_read(out.get("stdout", ""), paths)
        if out.get("rc") != 0 or problems:
            # Only the paths and what is wrong: never the output, which may hold content.
            result.update(failed=True, rc=out.get("rc"),
                          msg="cannot read %s" % "; ".join(problems or ["the files (rc %s)" % out.get("rc")]))
            return result
        result.update(changed=False, contents=contents)
        return result

    @staticmethod
    def _options(args):
        """(paths, max_bytes, None), or (None, None, the message naming the bad option)."""
        paths = args.get("paths")
        if not isinstance(paths, list) or not paths:
            return None, None, "paths: a list of absolute paths is required, got %r" % (paths,)
        for i, p in enumerate(paths):
            if not isinstance(p, string_types) or not p.startswith("/") or "\n" in p or "\t" in p:
                return None, None, "paths[%d]: an absolute path (no tab, no newline) is required, got %r" % (i, p)
        max_bytes = args.get("max_bytes", 1 << 20)
        try:
            max_bytes = int(max_bytes)
        except (TypeError, ValueError):
            max_bytes = -1
        if isinstance(args.get("max_bytes"), bool) or max_bytes < 1:
            return None, None, "max_bytes: a positive number of bytes is required, got %r" % (args.get("max_bytes"),)
        return [str(p) for p in paths], max_bytes, None
