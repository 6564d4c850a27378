#!/usr/bin/env python3
"""Every role default has an argument_specs entry.

For each role under roles/ with defaults/main.y*ml: each variable there must be an option of an
entry point in the role's meta/argument_specs.yml. The shared defaults of roles/etcd3 (a role that
holds only defaults) must be an option of the argument_specs of some role that depends on it.
usage: tests/ansible/role_specs.py (from the checkout)
"""
import pathlib
import sys

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def spec_options(role):
    for name in ("argument_specs.yml", "argument_specs.yaml"):
        p = role / "meta" / name
        if p.exists():
            specs = load(p).get("argument_specs") or {}
            return {o for entry in specs.values() for o in (entry.get("options") or {})}
    return None


def main():
    roles = sorted({p.parent.parent for p in pathlib.Path("roles").rglob("defaults/main.y*ml")})
    every_spec = set()
    specs = {}
    for role in sorted({p.parent.parent for p in pathlib.Path("roles").rglob("meta/argument_specs.y*ml")}):
        specs[role] = spec_options(role)
        every_spec |= specs[role]
    missing = []
    checked = 0
    for role in roles:
        defaults = {}
        for p in sorted(role.glob("defaults/main.y*ml")):
            defaults.update(load(p))
        known = specs.get(role)
        for var in sorted(defaults):
            checked += 1
            if known is None:
                if var not in every_spec:
                    missing.append(f"{role}/defaults: {var} is in no role's meta/argument_specs.yml")
            elif var not in known:
                missing.append(f"{role}/defaults: {var} is not in {role}/meta/argument_specs.yml")
    for m in missing:
        print("FAIL:", m)
    print(f"role defaults: {checked} checked, {len(missing)} without an argument_specs entry")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
