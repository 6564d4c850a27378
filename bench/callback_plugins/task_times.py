# A bench aid (not used by the roles): the wall time of every task, from its start to the start of
# the next, and a summary of the slowest at the end of the run. Enable it with
#   ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=task_times
# It appends to the file named by TASK_TIMES_FILE (default: stderr), one report per run, so a
# play's own output stays as it is and a create and its rerun land in one file.
from __future__ import annotations

import os
import sys
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: the wall time of every task (bench aid)
description: Records when each task starts; at the end prints every task's wall time, slowest first.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._times = []  # [name, start, end, hosts that ran it (not skipped)]
        self._start = time.monotonic()

    def _close_last(self):
        if self._times and self._times[-1][2] is None:
            self._times[-1][2] = time.monotonic()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_last()
        self._times.append([task.get_name(), time.monotonic(), None, 0])

    def v2_playbook_on_handler_task_start(self, task):
        # Ansible passes a handler's task alone (no is_conditional).
        self.v2_playbook_on_task_start(task, False)

    def _ran(self, result):
        if self._times:
            self._times[-1][3] += 1

    v2_runner_on_ok = _ran
    v2_runner_on_failed = _ran

    def v2_playbook_on_stats(self, stats):
        self._close_last()
        total = time.monotonic() - self._start
        path = os.environ.get("TASK_TIMES_FILE")
        out = open(path, "a", encoding="utf-8") if path else sys.stderr
        ran = [t for t in self._times if t[3]]
        out.write(f"== {' '.join(sys.argv[1:])[:300]}\n")
        out.write(f"total {total:.2f} s, {len(self._times)} tasks started, {len(ran)} ran on some host\n")
        out.write(f"sum of tasks that ran {sum(t[2] - t[1] for t in ran):.2f} s;"
                  f" skipped everywhere {sum(t[2] - t[1] for t in self._times if not t[3]):.2f} s\n")
        for name, start, end, hosts in sorted(self._times, key=lambda t: t[1] - t[2]):
            out.write(f"{end - start:7.3f} {hosts:2d} {name}\n")
        if path:
            out.close()
