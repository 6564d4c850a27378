#!/usr/bin/env python3
"""modules/NAME.yml against the module's own option table, as ansible-test validate-modules
checks a Python module's DOCUMENTATION against its argument_spec.

Each binary prints its option table with `library/NAME --describe-options` (module_utils/module.c).
For every module: the docs load as YAML (DOCUMENTATION, EXAMPLES, RETURN); every option of the
table is documented and nothing else is; type, elements, required, default (coerced as a task
value would be), choices and aliases agree; an option whose name looks like a secret is no_log
unless it is listed below with the reason; `attributes` says check_mode, diff_mode and platform
support; every RETURN value has description, type and `returned`. Then `ansible-doc -l -M library`
must list all modules without a documentation error and `ansible-doc -M library NAME` render each.

usage: tests/ansible/module_docs.py [LIBRARY_DIR]     (default library/; run `make` first)
"""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

# validate-modules' no-log-needed pattern (ansible_test/_util/controller/sanity/validate-modules).
SECRET_NAME = re.compile(r"(?:pass(?!ive)|secret|token|key)", re.I)
# Options that match it and are not secrets (validate-modules accepts an explicit no_log=False).
NOT_SECRET = {
    "etcd_member.client_key": "a path; the key file itself stays on the node",
    "etcd_snapshot.client_key": "a path",
    "etcd_snapshot.initial_cluster_token": "a cluster name etcd prints in its own logs",
    "kms_s3_backup.access_key": "the access key ID: AWS logs it in CloudTrail, not a secret",
    "kms_s3_backup.key": "an S3 object key",
    "kms_s3_backup.key_file": "a path",
    "kms_s3_backup.key_name": "the name of a raw-AES wrapping key, part of the message header",
    "kms_s3_backup.key_namespace": "the namespace of a raw-AES wrapping key, in the message header",
    "kms_s3_backup.kms_key_id": "a KMS key ID, ARN or alias",
    "step_cert.key_path": "a path",
    "step_cert.key_type": "an algorithm name",
    "step_cert.provisioner_password_file": "a path",
}
ATTRIBUTES = ("check_mode", "diff_mode", "platform")
SUPPORT = ("full", "partial", "none", "N/A")

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")


def as_bool(v):
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("1", "true", "yes", "on", "y", "t")


def norm_default(v, typ):
    """A documented default as the module would hold it after coercion."""
    if v is None:
        return None
    if typ == "int":
        return int(v)
    if typ == "bool":
        return as_bool(v)
    if typ == "list" and isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    if typ in ("str", "path") and not isinstance(v, (list, dict)):
        return "True" if v is True else "False" if v is False else str(v)
    return v


def check_options(name, doc_opts, table):
    for opt in sorted(set(table) - set(doc_opts)):
        check(False, f"{name}: option {opt} is in the C table but not documented")
    for opt in sorted(set(doc_opts) - set(table)):
        check(False, f"{name}: option {opt} is documented but the module does not take it")
    for opt in sorted(set(doc_opts) & set(table)):
        d, c = doc_opts[opt] or {}, table[opt]
        where = f"{name}.{opt}"
        check(isinstance(d.get("description"), (str, list)) and d.get("description"),
              f"{where}: no description")
        dtype = d.get("type", "str")
        check(dtype == c["type"], f"{where}: documented type {dtype}, the module's is {c['type']}")
        if c["type"] == "list":
            check(d.get("elements", "str") == c.get("elements"),
                  f"{where}: documented elements {d.get('elements', 'str')}, the module's are {c.get('elements')}")
        check(as_bool(d.get("required", False)) == c["required"],
              f"{where}: documented required={d.get('required', False)}, the module's is {c['required']}")
        ddef = norm_default(d.get("default"), c["type"])
        check(ddef == c.get("default"),
              f"{where}: documented default {d.get('default')!r}, the module's is {c.get('default')!r}")
        dch = sorted(str(x) for x in d.get("choices") or [])
        cch = sorted(c.get("choices") or [])
        check(dch == cch, f"{where}: documented choices {dch}, the module's are {cch}")
        dal = sorted(d.get("aliases") or [])
        cal = sorted(c.get("aliases") or [])
        check(dal == cal, f"{where}: documented aliases {dal}, the module's are {cal}")
        if SECRET_NAME.search(opt) and c["type"] not in ("bool", "int"):
            check(c["no_log"] or where in NOT_SECRET,
                  f"{where}: looks like a secret but is not no_log (or list it in NOT_SECRET with why)")
        if where in NOT_SECRET:
            check(not c["no_log"], f"{where}: listed as not secret but the module has no_log")


def check_module(libdir, path):
    name = os.path.basename(path)[: -len(".yml")]
    try:
        with open(path, encoding="utf-8") as f:
            docs = yaml.safe_load(f)
    except yaml.YAMLError as e:
        check(False, f"{name}: {path} is not valid YAML: {e}")
        return name
    check(isinstance(docs, dict) and set(docs) >= {"DOCUMENTATION", "EXAMPLES", "RETURN"},
          f"{name}: {path} needs DOCUMENTATION, EXAMPLES and RETURN")
    doc = docs.get("DOCUMENTATION") or {}
    check(doc.get("module") == name, f"{name}: DOCUMENTATION.module is {doc.get('module')!r}")
    for key in ("short_description", "description", "author", "version_added"):
        check(doc.get(key), f"{name}: DOCUMENTATION.{key} missing")
    try:
        yaml.safe_load(docs.get("EXAMPLES") or "")
    except yaml.YAMLError as e:
        check(False, f"{name}: EXAMPLES is not valid YAML: {e}")
    attrs = doc.get("attributes") or {}
    for a in ATTRIBUTES:
        check(isinstance(attrs.get(a), dict) and attrs[a].get("support") in SUPPORT
              and attrs[a].get("description"),
              f"{name}: attributes.{a} needs description and support ({'/'.join(SUPPORT)})")
    check((attrs.get("platform") or {}).get("platforms"), f"{name}: attributes.platform.platforms missing")
    ret = docs.get("RETURN")
    check(isinstance(ret, dict) and ret, f"{name}: RETURN is not a mapping of return values")
    for key, v in (ret or {}).items():
        ok = isinstance(v, dict) and all(v.get(k) for k in ("description", "type", "returned"))
        check(ok, f"{name}: RETURN.{key} needs description, type and returned")
    binary = os.path.join(libdir, name)
    out = subprocess.run([binary, "--describe-options"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"{name}: {binary} --describe-options exited {out.returncode}")
    if out.returncode == 0:
        table = json.loads(out.stdout)
        check(table.get("module") == name, f"{name}: the binary calls itself {table.get('module')!r}")
        check_options(name, doc.get("options") or {}, table["options"])
    return name


def check_ansible_doc(libdir, names):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    out = subprocess.run(["ansible-doc", "-l", "-M", libdir], capture_output=True, text=True,
                         timeout=300, env=env)
    text = out.stdout + out.stderr
    check(out.returncode == 0, f"ansible-doc -l -M {libdir} exited {out.returncode}")
    check("documentation formatting error" not in text,
          "ansible-doc -l reports a documentation formatting error:\n"
          + "\n".join(l for l in text.splitlines() if "error" in l))
    for n in names:
        check(re.search(rf"^ansible\.legacy\.{n}\s", out.stdout, re.M),
              f"ansible-doc -l -M {libdir} does not list {n}")
        one = subprocess.run(["ansible-doc", "-M", libdir, n], capture_output=True, text=True,
                             timeout=300, env=env)
        check(one.returncode == 0 and "ATTRIBUTES" in one.stdout and "RETURN VALUES" in one.stdout,
              f"ansible-doc -M {libdir} {n} failed: {one.stderr.strip()[:300]}")


def main():
    libdir = sys.argv[1] if len(sys.argv) > 1 else "library"
    names = [check_module(libdir, p) for p in sorted(glob.glob("modules/*.yml"))]
    check(len(names) > 0, "no modules/*.yml found (run from the checkout)")
    check_ansible_doc(libdir, names)
    print(f"module docs: {len(names)} modules, {checks - len(failures)} checks passed, "
          f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
