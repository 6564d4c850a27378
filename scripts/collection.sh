#!/usr/bin/env bash
# make collection: the Ansible collection etcd_ansible.etcd as build/collection/etcd_ansible-etcd-VERSION.tar.gz
#
# Assembled from this checkout (nothing in the checkout changes, it keeps working as it is):
#   collection/galaxy.yml, collection/meta/runtime.yml, collection/README.md, LICENSE
#   plugins/modules/   the static binaries (library/.bin/) with their docs (modules/NAME.yml);
#                      NAME is a link to .bin/NAME and NAME.ini a copy of the docs, as in
#                      library/, so `ansible-doc -l etcd_ansible.etcd` lists them on ansible-core
#                      2.14 too (see the Makefile)
#   plugins/action/    action_plugins/*.py, when the checkout has them
#   plugins/strategy/  strategy_plugins/*.py (linear_quick_skip: ANSIBLE_STRATEGY=etcd_ansible.etcd.linear_quick_skip)
#   roles/etcd3/...    the roles; role references (etcd3/cluster/install) become FQCNs
#                      (etcd_ansible.etcd.etcd3.cluster.install): a collection role finds the
#                      others only by FQCN
#   playbooks/         etcd.yaml and playbooks/*.yaml, "-" in names as "_" (a playbook FQCN is a
#                      Python-style name): etcd_ansible.etcd.etcd, etcd_ansible.etcd.restore_ca, ...
#   docs/              the design documents
# Then `ansible-galaxy collection build`. Install and use:
#   ansible-galaxy collection install build/collection/etcd_ansible-etcd-*.tar.gz
#   ansible-playbook -i inventory.ini etcd_ansible.etcd.etcd -e etcd_action=create -b
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=build/collection
src=$out/src/etcd_ansible/etcd
fqcn=etcd_ansible.etcd

rm -rf "$out/src" "$out"/etcd_ansible-etcd-*.tar.gz
mkdir -p "$src/meta" "$src/plugins/modules/.bin" "$src/playbooks" "$src/docs"

cp collection/galaxy.yml collection/README.md collection/CHANGELOG.md "$src/"
cp collection/meta/runtime.yml "$src/meta/"
cp LICENSE "$src/"
cp docs/*.md "$src/docs/"
for f in docs/*.dot docs/*.png; do [ -e "$f" ] && cp "$f" "$src/docs/"; done

for doc in modules/*.yml; do
  name=$(basename "$doc" .yml)
  [ -x "library/.bin/$name" ] || { echo "collection: library/.bin/$name is missing: run make" >&2; exit 1; }
  cp "library/.bin/$name" "$src/plugins/modules/.bin/$name"
  ln -s ".bin/$name" "$src/plugins/modules/$name"
  cp "$doc" "$src/plugins/modules/$name.yml"
  cp "$doc" "$src/plugins/modules/$name.ini"
done
for kind in action strategy; do
  if [ -d "${kind}_plugins" ] && compgen -G "${kind}_plugins/*.py" >/dev/null; then
    mkdir -p "$src/plugins/$kind"
    cp "${kind}_plugins"/*.py "$src/plugins/$kind/"
  fi
done

# Role references by path (the spec's etcd3/cluster/install) → FQCN, in roles and playbooks:
# "role: etcd3/x/y" and "name: etcd3/x/y" (include_role/import_role) whose whole value is a role.
to_fqcn() {
  python3 - "$fqcn" "$@" <<'PY'
import re, sys
fqcn = sys.argv[1]
ref = re.compile(r"""^(\s*(?:- )?(?:role|name):\s+)(["']?)(etcd3(?:/[a-z_]+)*)\2\s*$""", re.M)
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    new = ref.sub(lambda m: m[1] + m[2] + fqcn + "." + m[3].replace("/", ".") + m[2], text)
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
PY
}
cp -a roles "$src/roles"
cp etcd.yaml "$src/playbooks/etcd.yaml"
for p in playbooks/*.yaml; do
  cp "$p" "$src/playbooks/$(basename "$p" | tr - _)"
done
mapfile -t yamls < <(find "$src/roles" "$src/playbooks" -name '*.yml' -o -name '*.yaml')
to_fqcn "${yamls[@]}"
if grep -rnE "^[[:space:]]*(- )?(role|name):[[:space:]]+[\"']?etcd3(/|[\"']?$)" "$src/roles" "$src/playbooks"; then
  echo "collection: role references above were not turned into FQCNs" >&2
  exit 1
fi

ansible-galaxy collection build --force --output-path "$out" "$src" >/dev/null
ls "$out"/etcd_ansible-etcd-*.tar.gz
