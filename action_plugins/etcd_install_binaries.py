# etcd_install_binaries: put controller files into one directory of the host (root-owned, 0755
# by default) and make symlinks, doing only what differs. Used by etcd3/download for etcd,
# etcdctl, step-ca, step and the module binaries.
#
# One task: first one look on the host (etcd_look's script: each file's SHA-1, type, mode and
# owner, each link's target and owner) compared with the controller's files (SHA-1 here), then
# each file that differs in one exec and the links that differ in one more. A rerun with all in
# place costs that look. (It used to be a look task, a set_fact listing what differs and this
# task: three task starts, and Ansible's controller pays for each on every host.)
#
# Why not ansible.builtin.copy: per file it runs a Python stat module, an sftp put and a Python
# copy module (three round trips, two Python start-ups: ~1 s a file a host). Here a file is one
# exec that reads it on stdin, as _cached_binary.py installs a module in its cache:
#
#   mktemp beside the destination, receive, check the SHA-256 the controller computed, chown,
#   chmod, rename over the destination (atomic: a running etcd keeps its old inode). On any
#   failure the temp file is removed and nothing else was touched.
#
# Options (a bad one fails the task, naming it):
#   dir    absolute directory on the host, created root:root 0755 when missing
#   files  [{src: controller path of a regular file, dest: file name in dir}]
#   links  [{path: absolute link path, to: target as written}] (optional); an existing link or
#          file at path is replaced, as ansible.builtin.file state=link force=true does
#   owner, group (default root), mode (default "0755"): of the installed files (owner and
#          group of the links too)
#   missing_msg  the failure message when a src is not a regular file on the controller
#          (optional: the caller's advice, e.g. "build the modules with make"; default: the
#          option's name and the path). It saves the caller an assert task of its own.
# A file whose exact build is already in the host's module cache (_cached_binary.py: step_cert
# ran from there before the role installs it for its renewal jobs) is copied from there on the
# host, checked by the same SHA-256, instead of sent again (the look lists the cache's entries).
# Returns installed: the paths it wrote (or would write), and from_module_cache: those of them
# copied from the module cache on the host. Check mode looks, reports what would
# change and writes nothing. Where one exec with stdin cannot work
# (su become, a connection without pipelining) each file goes through ansible.builtin.copy.
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import sys

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase


def _load_sibling(name, file_name):
    """A module beside this file, loaded by file location as the module plugins load
    _cached_binary.py (see step_cert.py for why not runpy), once per process."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), file_name))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


# The receive command is _cached_binary.py's (the module cache fills itself the same way); the
# look is etcd_look's.
_cached = _load_sibling("etcd_ansible_cached_binary", "_cached_binary.py")
_look = _load_sibling("etcd_ansible_look", "etcd_look.py")

_NAME_RE = re.compile(r"^[A-Za-z0-9._+-]+$")
_MODE_RE = re.compile(r"^0?[0-7]{3}$")


def mkdir_command(directory):
    """sh: the directory, root:root 0755, made only when it is missing."""
    d = shlex.quote(directory)
    return "[ -d %s ] || { mkdir -p %s && chown root:root %s && chmod 0755 %s; }" % (d, d, d, d)


def file_command(directory, name, sha, owner, group, mode):
    """sh: stdin into dir/name, verified by SHA-256, owner and mode set before the rename."""
    return "umask 077; %s || exit 1; %s" % (
        mkdir_command(directory),
        _cached.receive_command(directory, name, os.path.join(directory, name), sha,
                                "%s:%s" % (owner, group), mode))


def link_command(path, target, owner, group):
    """sh: path -> target, replacing what is at path (file state=link force=true)."""
    p, t = shlex.quote(path), shlex.quote(target)
    return "ln -sfn -- %s %s && chown -h %s:%s %s" % (t, p, shlex.quote(owner), shlex.quote(group), p)


def cache_glob(name):
    """The module cache's entries of a binary named name (any build: _cached.cache_entry)."""
    return _cached.cache_entry(name, "*")


def _sha1(path):
    """SHA-1 of a controller file, as sha1sum prints it (the look's comparison, not a check of
    the transfer: that is the SHA-256 of file_command)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ActionModule(ActionBase):
    # TRANSFERS_FILES stays False: True would make (and then remove) a remote temp dir per task,
    # two execs this plugin never needs (the copy fallback makes its own).
    _VALID_ARGS = frozenset(("dir", "files", "links", "owner", "group", "mode", "missing_msg"))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        del tmp
        try:
            result.update(self._install(task_vars))
        except AnsibleActionFail as e:
            # e.result would add an "exception" (a traceback of nothing): a refusal is not a crash
            result.update(failed=True, msg=e.message)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _install(self, task_vars):
        directory, files, links, owner, group, mode = self._options()
        files, links, cached = self._what_differs(directory, files, links, owner, group, mode)
        done = [os.path.join(directory, f["dest"]) for f in files] + [link["path"] for link in links]
        if self._play_context.check_mode or not done:
            return {"changed": bool(done), "installed": done, "from_module_cache": []}
        one_exec = (self._connection.has_pipelining
                    and (self._connection.become is None or self._connection.become.name != "su"))
        from_cache = []
        for f in files:
            if not one_exec:
                self._install_by_copy(directory, f, owner, group, mode, task_vars)
            elif self._install_one_exec(directory, f, owner, group, mode, cached):
                from_cache.append(os.path.join(directory, f["dest"]))
        if links:
            self._run(" && ".join(link_command(link["path"], link["to"], owner, group) for link in links), None,
                      "cannot link %s" % ", ".join(link["path"] for link in links))
        return {"changed": True, "installed": done, "from_module_cache": from_cache}

    def _options(self):
        args = self._task.args
        directory = args.get("dir")
        if not isinstance(directory, string_types) or not directory.startswith("/"):
            raise AnsibleActionFail("dir: an absolute directory path is required, got %r" % (directory,))
        files = args.get("files") or []
        links = args.get("links") or []
        if not isinstance(files, list) or not isinstance(links, list):
            raise AnsibleActionFail("files and links must be lists")
        for i, f in enumerate(files):
            if not isinstance(f, dict) or not _NAME_RE.match(str(f.get("dest", ""))):
                raise AnsibleActionFail("files[%d].dest: a plain file name is required" % i)
            if not os.path.isfile(str(f.get("src", ""))):
                raise AnsibleActionFail(str(args.get("missing_msg") or "")
                                        or "files[%d].src: %r is not a regular file on the controller" % (i, f.get("src")))
        for i, link in enumerate(links):
            if not isinstance(link, dict) or not str(link.get("path", "")).startswith("/") or not link.get("to"):
                raise AnsibleActionFail("links[%d]: an absolute path and a target (to) are required" % i)
        owner, group = str(args.get("owner", "root")), str(args.get("group", "root"))
        mode = str(args.get("mode", "0755"))
        if not _NAME_RE.match(owner) or not _NAME_RE.match(group):
            raise AnsibleActionFail("owner, group: a user and a group name are required")
        if not _MODE_RE.match(mode):
            raise AnsibleActionFail("mode: an octal mode such as \"0755\" is required, got %r" % mode)
        return directory, files, links, owner, group, mode

    def _what_differs(self, directory, files, links, owner, group, mode):
        """The files and links whose state on the host is not the wanted one (one look exec)."""
        paths = [os.path.join(directory, f["dest"]) for f in files] + [link["path"] for link in links]
        if not paths:
            return files, links, set()
        globs = [cache_glob(f["dest"]) for f in files]
        res = self._low_level_execute_command(_look.look_command(paths, [], [], [], globs=globs), executable=False)
        if res.get("rc") not in (0, 1):
            raise AnsibleActionFail("cannot look at %s on %s (rc %s): %s" % (
                ", ".join(paths), self._play_context.remote_addr, res.get("rc"),
                (res.get("stderr") or res.get("stdout") or "").strip()[-400:]))
        found = _look.parse_look(res.get("stdout", ""))
        want_file = "f %04d %s %s " % (int(mode), owner, group)  # find prints the mode as 755
        todo_files = [f for f in files
                      if found.get(os.path.join(directory, f["dest"])) != want_file + _sha1(f["src"])]
        todo_links = [link for link in links
                      if found.get(link["path"]) != "l 0777 %s %s %s" % (owner, group, link["to"])]
        cached = set()
        for pattern in globs:
            cached.update(found.get("glob:" + pattern, []))
        return todo_files, todo_links, cached

    def _install_one_exec(self, directory, f, owner, group, mode, cached):
        """True when it came from the module cache on the host, False when it was sent."""
        with open(f["src"], "rb") as src:
            data = src.read()
        sha = hashlib.sha256(data).hexdigest()
        entry = _cached.cache_entry(f["dest"], sha)
        if entry in cached:
            # The same bytes are on the host already: copied there, the SHA-256 checked as for a
            # transfer. Anything wrong with the entry (changed since the look, damaged): sent.
            res = self._low_level_execute_command(
                "{ %s; } < %s" % (file_command(directory, f["dest"], sha, owner, group, mode), shlex.quote(entry)))
            if res["rc"] == 0:
                return True
            self._display.vvv("%s: the module cache's copy did not install (%s); sending it" % (
                f["dest"], res["stderr"].strip()[-200:]))
        self._run(file_command(directory, f["dest"], sha, owner, group, mode), data,
                  "cannot install %s in %s" % (f["dest"], directory))
        return False

    def _install_by_copy(self, directory, f, owner, group, mode, task_vars):
        task = self._task.copy()
        task.args = {"src": f["src"], "dest": os.path.join(directory, f["dest"]),
                     "owner": owner, "group": group, "mode": mode}
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        res = copy.run(task_vars=task_vars)
        if res.get("failed"):
            raise AnsibleActionFail("cannot install %s in %s: %s" % (f["dest"], directory, res.get("msg", "")))

    def _run(self, command, data, what):
        res = self._low_level_execute_command(command, in_data=data)
        if res["rc"] != 0:
            raise AnsibleActionFail("%s on %s (rc %s): %s" % (
                what, self._play_context.remote_addr, res["rc"], res["stderr"].strip()[-400:]))
