# Shared base of the action plugins of our static binary modules (etcd_member.py, step_cert.py,
# ...: each file is a few lines that load this one).
#
# Why: ansible-core pipelines only Python modules. For a binary module every task makes a remote
# temp dir, copies the 2-6 MB binary, chmods, runs it with an args file and removes the lot: four
# or five round trips and megabytes per task. Here the binary stays on the host in a
# content-addressed cache and a task is one exec:
#
#   /var/lib/etcd-ansible/modules/<name>-<sha256 of the binary>   root, 0755
#
#   1. exec: sh checks that the cached file's SHA-256 is the controller's (every time, before use)
#      and execs it with "-": the module reads its args (JSON) from stdin, never from a file.
#   2. only on a miss (first task on a host, a new build, a tampered or damaged file): one exec
#      that receives the binary on stdin into a temp file beside the cache entry, checks its hash,
#      renames it into place and removes the other builds of the same module; then step 1 again.
#
# Everything else is Ansible's: check mode, diff and no_log reach the module as the _ansible_*
# args of _update_module_args (as for any module); become wraps both commands (sudo reads the
# args on stdin like pipelining does); the task's environment is exported before the exec.
# Where a single exec cannot work the stock path runs instead (_execute_module: temp dir + args
# file): async tasks, connections without stdin for commands (has_pipelining false), become
# method su, a cache the remote user cannot write (no become), and a non-binary module.
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.unsafe_proxy import wrap_var
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

CACHE_DIR = "/var/lib/etcd-ansible/modules"
# Printed by the run command instead of exec'ing: the cache has no good copy of this build.
MISS = "ETCD-ANSIBLE-MODULE-CACHE-MISS"
# Printed by the run command on a miss (and by the install command) when this user cannot write
# the cache (not root): stock path, and the binary is not sent for nothing.
NO_CACHE = "ETCD-ANSIBLE-MODULE-CACHE-UNWRITABLE"


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_command(entry, sha, env_string):
    """sh: exec the cached entry with the args on stdin if its hash is right, else say MISS, or
    NO_CACHE when this user cannot fill the cache (not root): the binary is then never sent to
    an install command that would not read it."""
    export = "export %s; " % env_string if env_string else ""
    return (
        "f=%(f)s; "
        'if [ -f "$f" ] && h=$(sha256sum "$f" 2>/dev/null) && [ "${h%%%% *}" = %(sha)s ]; '
        'then %(export)sexec "$f" -; fi; '
        'if [ "$(id -u)" = 0 ]; then echo %(miss)s; else echo %(nc)s; fi'
        % {"f": shlex.quote(entry), "sha": sha, "export": export, "miss": MISS, "nc": NO_CACHE}
    )


def cache_entry(name, sha):
    """The cache's path of this build (SHA-256) of the binary name."""
    return "%s/%s-%s" % (CACHE_DIR, name, sha)


def receive_command(directory, name, dest, sha, owner=None, mode="0755"):
    """sh: stdin into a temp file in directory, its SHA-256 checked, then owner (user:group) and
    mode set and renamed over dest; on any failure the temp file is removed (exit 1)."""
    chown = 'chown %s "$t" && ' % shlex.quote(owner) if owner else ""
    return (
        't=$(mktemp %(tmpl)s) || { cat >/dev/null; exit 1; }; '
        'cat >"$t" && h=$(sha256sum "$t") && [ "${h%%%% *}" = %(sha)s ] || '
        '{ rm -f "$t"; echo "the copy of %(name)s arrived damaged" >&2; exit 1; }; '
        '%(chown)schmod %(mode)s "$t" && mv -f "$t" %(dest)s || { rm -f "$t"; exit 1; }'
        % {"tmpl": shlex.quote(os.path.join(directory, "." + name + ".XXXXXX")), "sha": sha,
           "name": name, "chown": chown, "mode": mode, "dest": shlex.quote(dest)}
    )


def install_command(name, sha):
    """sh: the binary from stdin into the cache, verified, atomically; older builds removed."""
    entry = cache_entry(name, sha)
    return (
        "umask 022; d=%(d)s; "
        # stdin (the binary) is read before any early exit: a command that exits while the
        # controller still writes makes ssh fail with a broken pipe, hiding the answer.
        '[ "$(id -u)" = 0 ] && mkdir -p "$d" || { cat >/dev/null; echo %(nc)s; exit 0; }; '
        'chown root:root "$d" "${d%%/*}" && chmod 0755 "$d" "${d%%/*}" || { cat >/dev/null; exit 1; }; '
        '%(receive)s; '
        'for o in "$d"/%(name)s-*; do [ "$o" = %(entry)s ] || rm -f "$o"; done'
        % {"d": shlex.quote(CACHE_DIR), "nc": NO_CACHE, "name": name,
           "receive": receive_command(CACHE_DIR, name, entry, sha), "entry": shlex.quote(entry)}
    )


class CachedBinaryAction(ActionBase):
    """The action plugin of one static binary module (the task's action names it)."""

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True  # the module itself honours _ansible_check_mode
        self._supports_async = True
        result = super().run(tmp, task_vars)
        del tmp
        if result.get("skipped"):
            return result
        task_vars = task_vars or {}
        wrap_async = self._task.async_val and not self._connection.has_native_async
        path = self._binary_path()
        if wrap_async or path is None or not self._single_exec_possible():
            data = self._stock(task_vars, wrap_async)
        else:
            data = self._cached(path, task_vars)
        result = merge_hash(result, data)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # ---- the two ways to run -------------------------------------------------------------------

    def _stock(self, task_vars, wrap_async):
        return self._execute_module(task_vars=task_vars, wrap_async=wrap_async)

    def _cached(self, path, task_vars):
        name = os.path.basename(path)
        sha = file_sha256(path)
        entry = cache_entry(name, sha)
        args = dict(self._task.args)
        self._update_module_args(self._task.action, args, task_vars)
        args_json = json.dumps(args).encode("utf-8")
        run = run_command(entry, sha, self._compute_environment_string())

        res = self._low_level_execute_command(run, in_data=args_json)
        if res["stdout"].strip() == NO_CACHE:
            self._display.vvv("module cache: %s cannot be written, copying the module" % CACHE_DIR)
            return self._stock(task_vars, False)
        if res["stdout"].strip() == MISS:
            self._display.vvv("module cache: installing %s on %s" % (entry, self._host_name()))
            with open(path, "rb") as f:
                binary = f.read()
            inst = self._low_level_execute_command(install_command(name, sha), in_data=binary)
            if inst["stdout"].strip() == NO_CACHE:
                self._display.vvv("module cache: %s cannot be written, copying the module" % CACHE_DIR)
                return self._stock(task_vars, False)
            if inst["rc"] != 0:
                raise AnsibleError("cannot install %s in the module cache %s on %s (rc %s): %s" % (
                    name, CACHE_DIR, self._host_name(), inst["rc"], inst["stderr"].strip()[-400:]))
            res = self._low_level_execute_command(run, in_data=args_json)
            if res["stdout"].strip() == MISS:
                raise AnsibleError("the module cache entry %s on %s does not verify right after "
                                   "its install" % (entry, self._host_name()))
        return self._module_result(res)

    # ---- helpers -------------------------------------------------------------------------------

    def _binary_path(self):
        """The controller path of the task's module when it is one of ours (a binary), else None."""
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(
            self._task.action, collection_list=self._task.collections)
        path = found.plugin_resolved_path if found.resolved else None
        if not path or os.path.splitext(path)[1]:
            return None
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
        return path

    def _single_exec_possible(self):
        become = self._connection.become
        return (self._connection.has_pipelining and not self._connection.always_pipeline_modules
                and (become is None or become.name != "su")
                and self._connection._shell.SHELL_FAMILY == "sh")

    def _host_name(self):
        return str(self._play_context.remote_addr)

    def _module_result(self, res):
        """What _execute_module makes of a module's output: parsed JSON, internal keys removed."""
        data = self._parse_returned_data(res)
        remove_internal_keys(data)
        return wrap_var(data)


# ---- one-exec script actions (etcd_account.py, etcd_service.py) -------------------------------

# What ssh itself says on a connection with a tty (which also merges the node's stderr into its
# stdout), not the script's commands.
_SSH_NOISE = re.compile(r"^(Warning: Permanently added .*|(Shared c|C)onnection to \S+ closed\.)$")


class ScriptAction(ActionBase):
    """An action that runs one sh script on the node. The script prints "did: <what>" for each
    thing it does (or, in check mode, would do); anything else it prints is its complaint.
    Subclasses give options() (the checked options; AnsibleActionFail names a bad one),
    command(options, check_mode) and failure(options) (what could not be done)."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        del tmp
        try:
            options = self.options()
        except AnsibleActionFail as e:
            result.update(failed=True, msg=e.message)
            return result
        out = self._low_level_execute_command(self.command(options, self._play_context.check_mode),
                                              executable=False)
        lines = [line.strip() for line in (out.get("stdout", "") + "\n" + out.get("stderr", "")).splitlines()]
        done = [line[5:] for line in lines if line.startswith("did: ")]
        if out.get("rc") != 0:
            said = [line for line in lines if line and not line.startswith("did: ") and not _SSH_NOISE.match(line)]
            result.update(failed=True, rc=out.get("rc"), actions=done,
                          msg="%s: %s" % (self.failure(options),
                                          " ".join(said)[-600:] or "the command failed (rc %s)" % out.get("rc")))
            return result
        result.update(changed=bool(done), actions=done)
        return result
