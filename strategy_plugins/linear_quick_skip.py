# linear_quick_skip: Ansible's linear strategy, except that the controller's main process does
# itself two kinds of work that linear forks a worker for:
#   1. a task whose `when` is false for a host is skipped without a worker;
#   2. a task whose action runs on the controller and never uses the host's connection
#      (assert, debug, fail, group_by, set_fact, validate_argument_spec) runs in the main process.
#
# Why: the linear strategy forks one worker per host for every task. A fork, the worker's start
# and its result through the queue cost the single-threaded main process about as much as the
# work itself when that work is a skip or a few templates (docs/performance.md). The roles skip a
# lot per host (the primary cert-manager only, members only, what differs only), check their
# inputs with assert and validate_argument_spec, and work out facts with set_fact: a rerun of
# etcd.yaml on 3 hosts took 18.8-20.1 s with skips alone and 15.3-15.9 s with both (3 runs
# each, in turns; 20.3-26.2 s with linear in an earlier A/B), with a quarter less controller CPU.
#
# 1. What it decides itself is what the worker would decide first, with the same code on the
# same inputs (TaskExecutor._execute: the play context set from the task and the variables, its
# magic variables added, then Task.evaluate_conditional): a false answer becomes the worker's
# own result, {"changed": false, "skipped": true, "skip_reason": "Conditional result was False"},
# which the strategy then handles as a worker's (register, callbacks, stats). A true `when` goes
# to a worker that does not evaluate it again (its forked copy of the task answers true): the
# `when` is evaluated once, as with linear. A `when` that raises (the worker reports the error
# as linear would), a task without `when`, a meta task and a loop (its `when` is per item) go to
# a worker as with linear.
#
# 2. A controller task runs through the worker's own code, TaskExecutor(...).run(), on the
# worker's inputs: its own copy of the task (TaskExecutor templates the task and its parents in
# place; a worker does that on its fork's copy) and of the variables. Its result goes through
# the results queue as a worker's does. Only when nothing in the task can block or signal the
# main process or start a process of its own: no loop, until, async, timeout or delegate_to, and
# a plain connection (ssh, local, paramiko: a persistent one such as network_cli starts a
# process as the task's connection is made). Hosts then run one after another, not in parallel:
# these actions take milliseconds.
#
# Enabled by ansible.cfg (strategy = linear_quick_skip); from the collection:
#   ANSIBLE_STRATEGY=etcd_ansible.etcd.linear_quick_skip. Without it the roles run the same,
#   with linear. Written against ansible-core 2.14's StrategyBase._queue_task, WorkerProcess._run
#   and TaskExecutor._execute: on another ansible-core it does nothing itself and runs exactly as
#   linear (said at -vv as each play starts), until it is tested there (newer ones add a
#   false_condition to the skipped result, for one).
from __future__ import annotations

import traceback

from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure
from ansible.executor.task_executor import TaskExecutor
from ansible.executor.task_result import TaskResult
from ansible.plugins import loader as plugin_loader
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.release import __version__ as ANSIBLE_VERSION
from ansible.template import Templar
from ansible.utils.display import Display

display = Display()

DOCUMENTATION = """
name: linear_quick_skip
short_description: linear, but skips and controller-only actions run without a worker
description:
  - Runs tasks as the linear strategy does (each task on every host before the next task).
  - A task whose C(when) is false for a host gets the worker's skipped result from the
    controller's main process; no worker process is forked for it.
  - The actions assert, debug, fail, group_by, set_fact and validate_argument_spec run in the
    main process, with the worker's code (TaskExecutor), when the task has no loop, until,
    async, timeout or delegate_to and the host's connection is ssh, local or paramiko.
  - Everything else runs in a worker, as with linear.
author: etcd-ansible
"""

# The result TaskExecutor._execute returns for a false `when`.
SKIP_REASON = "Conditional result was False"

# The ansible-core versions whose worker code the main process repeats here, and whether this
# one is one of them (its worker decides a `when` as _decide_when_here does).
TESTED_ANSIBLE_CORE = ("2.14.",)
QUICK_SKIP = ANSIBLE_VERSION.startswith(TESTED_ANSIBLE_CORE)


# Actions that run on the controller and never use the host's connection: the worker forked for
# one of them only runs Python that the main process can run itself. Matched by the resolved
# name (a task's own action plugin of the same short name resolves to ansible.legacy.*, and
# runs in a worker).
CONTROLLER_ACTIONS = frozenset("ansible.builtin." + name for name in (
    "assert", "debug", "fail", "group_by", "set_fact", "validate_argument_spec"))
# Connections whose plugin object is made without starting anything: TaskExecutor makes the
# host's connection even for a controller action, and a persistent one (network_cli...) would
# start its connection process from here.
PLAIN_CONNECTIONS = frozenset(prefix + name for name in ("ssh", "local", "paramiko", "paramiko_ssh", "smart")
                              for prefix in ("", "ansible.builtin."))


# _decide_when_here's answer for a `when` it found true: the worker is told not to evaluate it
# again (linear evaluates it once; a second evaluation costs the worker as much as the first).
DECIDED_TRUE = object()


def _has_loop(task):
    """Whether the task loops (loop or with_*): its `when` is decided per item, in a worker."""
    return bool(task.loop_with) or task.loop is not None


def _decided_true(templar, all_vars):  # pylint: disable=unused-argument
    """Task.evaluate_conditional of a task whose `when` the main process found true."""
    return True


class StrategyModule(LinearStrategyModule):
    def __init__(self, tqm):
        super().__init__(tqm)
        if not QUICK_SKIP:
            display.vv("linear_quick_skip: ansible-core %s is not one it was tested with (%s): running as linear"
                       % (ANSIBLE_VERSION, ", ".join(v + "x" for v in TESTED_ANSIBLE_CORE)))

    def _queue_task(self, host, task, task_vars, play_context):
        if not QUICK_SKIP:
            super()._queue_task(host, task, task_vars, play_context)
            return
        if self._runs_on_controller(task, task_vars, play_context):
            self._run_here(host, task, task_vars, play_context)
            return
        decision = self._decide_when_here(host, task, task_vars, play_context)
        if decision is None:
            super()._queue_task(host, task, task_vars, play_context)
        elif decision is DECIDED_TRUE:
            self._queue_decided_true(host, task, task_vars, play_context)
        else:
            self._skip_here(host, task, task_vars, play_context, decision)

    def _queue_decided_true(self, host, task, task_vars, play_context):
        """linear's _queue_task, for a worker that does not evaluate the task's `when` again.
        The worker is forked inside _queue_task from this process's memory: its copy of the
        task answers the `when` with this decision, and the task here is left as it was."""
        task.evaluate_conditional = _decided_true
        try:
            super()._queue_task(host, task, task_vars, play_context)
        finally:
            del task.evaluate_conditional

    def _skip_here(self, host, task, task_vars, play_context, skipped):
        """The worker's skipped result, queued as a worker's."""
        self._start_here(host, task, task_vars, play_context)
        result = TaskResult(host.name, task._uuid, skipped, task_fields=task.dump_attrs())
        self.normalize_task_result(result)
        with self._results_lock:
            self._results.append(result)
        # Read by _process_pending_results, which runs in this thread: no race with the append.
        self._pending_results += 1

    def _start_here(self, host, task, task_vars, play_context):
        """What _queue_task records and says for a worker it starts, so that the result is
        processed as a worker's."""
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)

    @staticmethod
    def _runs_on_controller(task, task_vars, play_context):
        """Whether the task is a controller action that the main process can run as a worker
        would: nothing that blocks (until, async), signals (timeout), changes the variables'
        host (delegate_to) or starts a connection process (a persistent connection)."""
        return ((task.resolved_action or task.action) in CONTROLLER_ACTIONS
                and not _has_loop(task) and not task.until and not task.async_val
                and not task.timeout and not task.delegate_to
                and task_vars.get("ansible_connection", play_context.connection) in PLAIN_CONNECTIONS)

    def _run_here(self, host, task, task_vars, play_context):
        """WorkerProcess._run, in this process: TaskExecutor on the worker's own copies of the
        task and the variables, its result sent through the results queue."""
        self._start_here(host, task, task_vars, play_context)
        own_task = task.copy()
        try:
            result = TaskExecutor(host, own_task, task_vars.copy(), play_context, None, self._loader,
                                  plugin_loader, self._final_q).run()
        except AnsibleConnectionFailure:
            result = {"unreachable": True}
        except Exception:  # pylint: disable=broad-except
            result = {"failed": True, "exception": traceback.format_exc(), "stdout": ""}
        self._pending_results += 1
        self._final_q.send_task_result(host.name, task._uuid, result, task_fields=own_task.dump_attrs())

    def _decide_when_here(self, host, task, task_vars, play_context):
        """The worker's result for a task whose when is false on this host; DECIDED_TRUE when
        it is true; None when a worker decides (no when, a loop, a meta task, an error)."""
        if not task.when or _has_loop(task) or task.action in C._ACTION_META:
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
                return DECIDED_TRUE
        except Exception:  # pylint: disable=broad-except
            # The worker evaluates it again and reports the error as linear does.
            return None
        return {"changed": False, "skipped": True, "skip_reason": SKIP_REASON, "_ansible_no_log": context.no_log}
