#!/usr/bin/env bash
# Issue #11, against every module binary: credentials in URL options never reach any output, and
# a '..' in a path option is refused naming the option.
#   - every option whose name says URL or endpoint is declared `.url = true` in its module;
#   - each module runs with credentials (plain and percent-encoded) in each of its URL options,
#     against a closed port: stdout (result, msg, warnings, invocation) and stderr hold neither
#     form of the password, and the URL is shown as https://user:********@...;
#   - each module refuses '..' in a path option with failed: true and the option's name.
# No peer beyond a closed loopback port; takes a few seconds. Every case runs, also after a failed
# or crashed one; the last line is "N passed, M failed" (as tests/lib/assert.sh prints it).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
make -s all >/dev/null || exit 1
work=$(mktemp -d /tmp/url_and_path.XXXXXX)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=t -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
python3 - "$top" "$work" <<'PY'
import json, os, re, subprocess, sys
top, work = sys.argv[1], sys.argv[2]
pw, pw_enc = "S3cr3tPw9", "S3cr%33tPw9"     # the second decodes to the first
passed = failed = 0

failed_titles = []

def check(title, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1; print("ok  ", title)
    else:
        failed += 1; failed_titles.append(title); print(f"FAIL: {title}: {detail}")

def run(module, args):
    """The module's stdout+stderr on args; a crash or a hang is a failed case, not the end."""
    path = f"{work}/args.json"
    json.dump(args, open(path, "w"))
    try:
        return subprocess.run([f"{top}/library/{module}", path], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess([module], -1, "", f"did not run: {e}")

def result(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"msg": f"no JSON on stdout (exit {r.returncode}): {r.stdout[:200]}{r.stderr[:200]}"}

# 1. every URL-ish option is declared .url = true
for f in sorted(os.listdir(f"{top}/modules")):
    if not f.endswith(".c"):
        continue
    src = open(f"{top}/modules/{f}").read()
    for m in re.finditer(r'\{ ?\.name = "([a-z_]+)"([^}]*)\}', src):
        name, rest = m.group(1), m.group(2)
        if re.search(r"url|endpoint|^initial_cluster$|^upload$", name):
            check(f"{f[:-2]}: option {name} is declared .url", ".url = true" in rest)

cert, key = f"{work}/cert.pem", f"{work}/key.pem"
def url(enc=False):
    return f"https://me:{pw_enc if enc else pw}@127.0.0.1:9/x"
tls = {"ca_cert": cert, "client_cert": cert, "client_key": key}
cases = {  # module: (base args, {option: value builder})
    "etcd_member": ({"state": "query", "timeout": 1, **tls},
                    {"endpoints": lambda u: [u], "peer_urls": lambda u: [u]}),
    "etcd_snapshot": ({"state": "saved", "dest": f"{work}/snap.db", "timeout": 1, **tls,
                       "endpoints": ["https://127.0.0.1:9"]},
                      {"endpoints": lambda u: [u],
                       "upload": lambda u: {"bucket": "b", "endpoint_url": u, "kms_endpoint_url": u,
                                            "healthcheck_url": u, "region": "us-east-1",
                                            "access_key": "AK", "secret_key": "SK"},
                       "initial_cluster": lambda u: ["n1=" + u],
                       "initial_advertise_peer_urls": lambda u: [u]}),
    "kms_s3_backup": ({"state": "listed", "bucket": "b", "kind": "etcd-snapshot", "cluster": "c",
                       "region": "us-east-1", "access_key": "AK", "secret_key": "SK"},
                      {"endpoint_url": lambda u: u, "kms_endpoint_url": lambda u: u,
                       "healthcheck_url": lambda u: u}),
    "step_cert": ({"root": cert, "subject": "x", "cert_path": f"{work}/c.crt",
                   "key_path": f"{work}/c.key", "token": "t", "timeout": 2,
                   "ca_url": "https://127.0.0.1:9"},
                  {"ca_url": lambda u: [u, u], "serving_url": lambda u: u}),
    "step_token": ({"path": work, "provisioner_password": "prov-pw-long", "subject": "x"},
                   {"ca_url": lambda u: [u]}),
}
for module, (base, opts) in cases.items():
    for opt, build in opts.items():
        for enc in (False, True):
            args = dict(base); args[opt] = build(url(enc))
            r = run(module, args)
            out = r.stdout + r.stderr
            title = f"{module} {opt}{' (percent-encoded)' if enc else ''}: no password in stdout/stderr"
            check(title, pw not in out and pw_enc not in out, out[:400])
            check(f"{module} {opt}: the URL is shown masked", "me:********@127.0.0.1" in r.stdout,
                  r.stdout[:300])

# 2. '..' in a path option
paths = {"etcd_member": ("ca_cert", {"endpoints": ["https://127.0.0.1:9"]}),
         "etcd_snapshot": ("dest", {"endpoints": ["https://127.0.0.1:9"], **tls}),
         "kms_s3_backup": ("src", {"bucket": "b"}),
         "step_ca": ("path", {"dns_names": ["x"], "password": "ca-pw-long", "provisioner_password": "prov-pw-long"}),
         "step_cert": ("cert_path", {"key_path": f"{work}/k"}),
         "step_token": ("path", {"provisioner_password": "prov-pw-long", "ca_url": ["https://x"], "subject": "x"}),
         "systemd_timer": ("unit_dir", {"name": "t", "on_calendar": "daily", "exec": ["/bin/true"]})}
for module, (opt, base) in paths.items():
    args = dict(base); args[opt] = "/etc/../tmp/x/../../etc/t"
    res = result(run(module, args))
    check(f"{module}: '..' in {opt} refused, naming it",
          res.get("failed") is True and f"argument '{opt}': '..' is not allowed" in res.get("msg", ""),
          res.get("msg"))
for t in failed_titles:
    print(f"  FAILED: {t}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
