# linear_quick_skip: Ansible's linear strategy, except that a task whose `when` is false for a
# host is skipped by the controller's main process, without forking a worker for it.
#
# Why: the linear strategy forks one worker per host for every task, even when the worker only
# finds the task's `when` false. A fork, the worker's start and its result through the queue
# cost the single-threaded main process about as much as a task that runs (docs/performance.md:
# about 0.08 s per host and task here). The roles skip a lot per host (the primary cert-manager
# only, members only, what differs only): a rerun of etcd.yaml on 3 hosts took 20.3-26.2 s with
# linear and 17.6-20.1 s with this strategy (4 runs each, in turns), with a quarter less
# controller CPU. A create gains nothing: it skips less, and every true `when` is evaluated
# twice (here, then in the worker: 25-36 ms of the main process each).
#
# What it decides itself is what the worker would decide first, with the same code on the same
# inputs (TaskExecutor._execute: the play context set from the task and the variables, its magic
# variables added, then Task.evaluate_conditional): a false answer becomes the worker's own
# result, {"changed": false, "skipped": true, "skip_reason": "Conditional result was False"},
# which the strategy then handles as a worker's (register, callbacks, stats). Everything else
# goes to a worker as in linear:
#   - a task without `when`, meta tasks, tasks with a loop (their `when` is per item);
#   - a `when` that is true;
#   - a `when` that raises (an undefined variable...), so that the worker reports the error as
#     linear would.
#
# Enabled by ansible.cfg (strategy = linear_quick_skip); from the collection:
#   ANSIBLE_STRATEGY=etcd_ansible.etcd.linear_quick_skip. Without it the roles run the same,
#   with linear. Written against ansible-core 2.14's StrategyBase._queue_task and
#   TaskExecutor._execute: on another ansible-core it decides nothing itself and runs exactly as
#   linear (said at -vv as each play starts), until it is tested there (newer ones add a false_condition to
#   the skipped result, for one).
from __future__ import annotations

from ansible import constants as C
from ansible.executor.task_result import TaskResult
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.release import __version__ as ANSIBLE_VERSION
from ansible.template import Templar
from ansible.utils.display import Display

display = Display()

DOCUMENTATION = """
name: linear_quick_skip
short_description: linear, but a task whose when is false for a host is skipped without a worker
description:
  - Runs tasks as the linear strategy does (each task on every host before the next task).
  - A task whose C(when) is false for a host gets the worker's skipped result from the
    controller's main process; no worker process is forked for it.
  - Tasks without C(when), with a loop, meta tasks, a true C(when) and a C(when) that fails to
    evaluate run in a worker, as with linear.
author: etcd-ansible
"""

# The result TaskExecutor._execute returns for a false `when`.
SKIP_REASON = "Conditional result was False"

# The ansible-core versions whose worker code the main process repeats here, and whether this
# one is one of them (its worker decides a `when` as _skipped_result does).
TESTED_ANSIBLE_CORE = ("2.14.",)
QUICK_SKIP = ANSIBLE_VERSION.startswith(TESTED_ANSIBLE_CORE)


class StrategyModule(LinearStrategyModule):
    def __init__(self, tqm):
        super().__init__(tqm)
        if not QUICK_SKIP:
            display.vv("linear_quick_skip: ansible-core %s is not one it was tested with (%s): running as linear"
                       % (ANSIBLE_VERSION, ", ".join(v + "x" for v in TESTED_ANSIBLE_CORE)))

    def _queue_task(self, host, task, task_vars, play_context):
        skipped = self._skipped_result(host, task, task_vars, play_context)
        if skipped is None:
            super()._queue_task(host, task, task_vars, play_context)
            return
        # What _queue_task records for a worker, so that the result is processed as a worker's.
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        result = TaskResult(host.name, task._uuid, skipped, task_fields=task.dump_attrs())
        self.normalize_task_result(result)
        with self._results_lock:
            self._results.append(result)
        # Read by _process_pending_results, which runs in this thread: no race with the append.
        self._pending_results += 1

    def _skipped_result(self, host, task, task_vars, play_context):
        """The worker's result for a task whose when is false on this host, or None (a worker
        decides)."""
        if not QUICK_SKIP or not task.when or task.loop_with or task.loop is not None or task.action in C._ACTION_META:
            return None
        # The worker's variables: its own copy of task_vars with the search path set
        # (TaskExecutor._get_loop_items); the play context is set from them, then its magic
        # variables are added for the condition (TaskExecutor._execute does that on a second
        # copy; the play context is made before, so one copy gives the same inputs).
        variables = task_vars.copy()
        variables["ansible_search_path"] = task.get_search_path()
        if self._loader.get_basedir() not in variables["ansible_search_path"]:
            variables["ansible_search_path"].append(self._loader.get_basedir())
        templar = Templar(loader=self._loader, variables=variables)
        try:
            context = play_context.set_task_and_variable_override(task=task, variables=variables, templar=templar)
            context.post_validate(templar=templar)
            if not context.remote_addr:
                context.remote_addr = host.address
            context.update_vars(variables)
            if task.evaluate_conditional(templar, variables):
                return None
        except Exception:  # pylint: disable=broad-except
            # The worker evaluates it again and reports the error as linear does.
            return None
        return {"changed": False, "skipped": True, "skip_reason": SKIP_REASON, "_ansible_no_log": context.no_log}
