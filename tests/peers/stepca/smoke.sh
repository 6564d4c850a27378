#!/bin/bash
# Smoke test of the real step-ca 0.19 peer, with a CA written WITHOUT the step
# CLI, in the formats docs/stepca-formats.md describes (what our C step_ca
# module will write):
#   - root + intermediate: EC P-256, made with openssl; the intermediate key
#     encrypted as PKCS#8 PBES2 ("ENCRYPTED PRIVATE KEY") and, in a second run,
#     as legacy OpenSSL PEM ("EC PRIVATE KEY" + Proc-Type/DEK-Info);
#   - JWK provisioner: public JWK + encryptedKey JWE built by hand
#     (tools/stepca-tool, cross-checked with go-jose);
#   - config/ca.json.
# Then: /health, /roots, /root/{sha}, /provisioners, /provisioners/{kid}/encrypted-key,
# POST /1.0/sign with a hand-built one-time token, token replay and bad aud
# (401), POST /1.0/renew over mTLS, restart with the legacy key + bbolt,
# refusal of a wrong CA password.
# Traffic only on 127.0.0.1. Everything started here is stopped by pid; the
# temp dir is removed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
"$HERE/build.sh" >/dev/null
STEPCA=$ROOT/build/peers/step-ca
TOOL=$ROOT/build/peers/stepca-tool

T=$(mktemp -d /tmp/stepca-smoke.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID"; wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

PASS=0
ok()   { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; [ -f "$T/ca.log" ] && tail -20 "$T/ca.log" >&2; exit 1; }
json() {  # json FILE EXPR: strings are written as is (PEM keeps its single trailing newline)
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2], {"d": d}); sys.stdout.write(r if isinstance(r, str) else str(r) + "\n")' "$@"
}

mkdir -p "$T/certs" "$T/secrets" "$T/config" "$T/db"
printf 'ca-pass\n' > "$T/secrets/password"          # trailing newline: step-ca trims it
printf 'prov-pass\n' > "$T/secrets/provisioner_password"
cd "$T"

# ---- PKI with openssl ---------------------------------------------------------
cat > openssl.cnf <<'EOF'
# `openssl ca` only to backdate the CA certs (-startdate): a token's x5c chain
# is verified at leaf.NotAfter - 1m (go.step.sm/crypto/jose ParseX5cInsecure),
# which must not fall before the intermediate's notBefore.
[ca]
default_ca = smoke
[smoke]
dir = ./ca-db
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
[root_ext]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[int_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_req]
subjectAltName = DNS:etcd-1, IP:127.0.0.1
EOF
pkcs8() {  # plain key -> PKCS#8 PBES2 / PBKDF2-HMAC-SHA256 (100000 iter) / AES-256-CBC
    openssl pkcs8 -topk8 -in "$1" -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 100000 \
        -passout file:secrets/password -out "$2"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out root.plain 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out int.plain 2>/dev/null
pkcs8 root.plain secrets/root_ca_key
pkcs8 int.plain secrets/intermediate_ca_key
# legacy variant (what `step ca init` writes): EC PRIVATE KEY + DEK-Info AES-256-CBC
openssl ec -in int.plain -aes256 -passout file:secrets/password -out int.legacy 2>/dev/null
mkdir ca-db && : > ca-db/index.txt && echo 01 > ca-db/serial
START=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
END=$(date -u -d '+10 years' +%Y%m%d%H%M%SZ)
openssl req -new -key root.plain -subj "/O=Smoke/CN=Smoke Root CA" -out root.csr
openssl ca -batch -notext -config openssl.cnf -selfsign -keyfile root.plain -in root.csr \
    -startdate "$START" -enddate "$END" -extensions root_ext -out certs/root_ca.crt 2>/dev/null
openssl req -new -key int.plain -subj "/O=Smoke/CN=Smoke Intermediate CA" -out int.csr
openssl ca -batch -notext -config openssl.cnf -cert certs/root_ca.crt -keyfile root.plain -in int.csr \
    -startdate "$START" -enddate "$END" -extensions int_ext -out certs/intermediate_ca.crt 2>/dev/null
rm -rf root.plain root.csr int.csr ca-db
head -1 secrets/intermediate_ca_key | grep -q 'BEGIN ENCRYPTED PRIVATE KEY' || fail "pkcs8 key"
grep -q '^DEK-Info: AES-256-CBC,' int.legacy || fail "legacy key"
ROOT_FP=$(openssl x509 -in certs/root_ca.crt -outform DER | sha256sum | cut -d' ' -f1)
ok "openssl PKI: root + intermediate (P-256), keys encrypted (PKCS#8 PBES2 + legacy DEK-Info)"

# ---- provisioner + ca.json ------------------------------------------------------
PROV=$("$TOOL" provisioner -name admin -password-file secrets/provisioner_password)
KID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"]["kid"])' "$PROV")
ok "JWK provisioner: kid=$KID (hand-built JWE decrypts with go-jose)"

PORT=$("$TOOL" freeport)
write_config() {  # $1 = db type, $2 = db dir, $3 = provisioner minTLSCertDuration, $4 = allowRenewalAfterExpiry
    cat > config/ca.json <<EOF
{
  "root": "$T/certs/root_ca.crt",
  "federatedRoots": null,
  "crt": "$T/certs/intermediate_ca.crt",
  "key": "$T/secrets/intermediate_ca_key",
  "address": "127.0.0.1:$PORT",
  "insecureAddress": "",
  "dnsNames": ["127.0.0.1", "localhost"],
  "logger": {"format": "text"},
  "db": {"type": "$1", "dataSource": "$2", "badgerFileLoadingMode": ""},
  "authority": {
    "provisioners": [
      $(python3 -c 'import json,sys; p=json.loads(sys.argv[1]); p["claims"]={"minTLSCertDuration":sys.argv[2],"maxTLSCertDuration":"2160h","defaultTLSCertDuration":"720h","disableRenewal":False,"allowRenewalAfterExpiry":sys.argv[3]=="true"}; print(json.dumps(p))' "$PROV" "$3" "$4")
    ],
    "claims": {"minTLSCertDuration": "5m", "maxTLSCertDuration": "2160h", "defaultTLSCertDuration": "24h"}
  },
  "tls": {
    "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
    "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": false
  }
}
EOF
}

CURL=(curl -sS --max-time 10 --cacert certs/root_ca.crt)
URL=https://127.0.0.1:$PORT
start_ca() {
    "$STEPCA" --password-file secrets/password config/ca.json >> ca.log 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        if "${CURL[@]}" -o health.json "$URL/health" 2>/dev/null; then return 0; fi
        kill -0 "$PID" 2>/dev/null || fail "step-ca exited"
        sleep 0.1
    done
    fail "step-ca did not answer /health"
}
stop_ca() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

write_config badgerv2 "$T/db" 5m false
echo "peer: $("$STEPCA" version 2>&1 | sed -n 1p)"
start_ca
[ "$(cat health.json)" = '{"status":"ok"}' ] || fail "health: $(cat health.json)"
ok "step-ca pid $PID on 127.0.0.1:$PORT (badgerv2 db, PKCS#8 key): /health -> $(cat health.json)"

# ---- read-only endpoints ---------------------------------------------------------
code=$("${CURL[@]}" -o roots.json -w '%{http_code}' "$URL/roots")
[ "$code" = 201 ] || fail "/roots status $code"
json roots.json 'd["crts"][0]' > roots0.crt
[ "$(openssl x509 -in roots0.crt -outform DER | sha256sum | cut -d' ' -f1)" = "$ROOT_FP" ] || fail "/roots content"
ok "/roots -> $code {\"crts\":[root PEM]}"
code=$("${CURL[@]}" -o root.json -w '%{http_code}' "$URL/root/$ROOT_FP")
[ "$code" = 200 ] || fail "/root/sha $code"
json root.json 'd["ca"]' > root1.crt
cmp -s root1.crt certs/root_ca.crt || fail "/root/sha content"
ok "/root/<sha256> -> $code {\"ca\":PEM}"
"${CURL[@]}" -o provs.json "$URL/provisioners"
[ "$(json provs.json 'd["provisioners"][0]["key"]["kid"]')" = "$KID" ] || fail "/provisioners kid"
[ "$(json provs.json 'd["provisioners"][0]["encryptedKey"]')" = \
  "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["encryptedKey"])' "$PROV")" ] || fail "/provisioners encryptedKey"
ok "/provisioners -> $(json provs.json 'sorted(d["provisioners"][0].keys())') nextCursor='$(json provs.json 'd["nextCursor"]')'"
"${CURL[@]}" -o ek.json "$URL/provisioners/$KID/encrypted-key"
[ "$(json ek.json 'd["key"]')" = "$(json provs.json 'd["provisioners"][0]["encryptedKey"]')" ] || fail "encrypted-key"
ok "/provisioners/<kid>/encrypted-key -> {\"key\":JWE}"

# ---- sign ------------------------------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
openssl req -new -key leaf.key -subj "/CN=etcd-1" -addext "subjectAltName=DNS:etcd-1,IP:127.0.0.1" -out leaf.csr
ott() {  # $1 = aud, rest = extra tool args
    local aud=$1; shift
    "$TOOL" ott -provisioners provs.json -name admin -password-file secrets/provisioner_password \
        -aud "$aud" -sub etcd-1 -san etcd-1 -san 127.0.0.1 -root certs/root_ca.crt "$@"
}
sign() {  # $1 = token, $2 = out file, [$3 = notAfter]; prints the HTTP status
    python3 -c 'import json,sys; print(json.dumps({"csr": open("leaf.csr").read(), "ott": sys.argv[1], "notAfter": sys.argv[2]}))' "$1" "${3:-48h}" > sign.req
    "${CURL[@]}" -o "$2" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @sign.req "$URL/1.0/sign"
}
TOK=$(ott "$URL/1.0/sign")
code=$(sign "$TOK" sign.json)
[ "$code" = 201 ] || fail "sign status $code: $(cat sign.json)"
json sign.json 'd["crt"]' > leaf.crt
json sign.json 'd["ca"]' > leaf_ca.crt
[ "$(json sign.json 'len(d["certChain"])')" = 2 ] || fail "certChain"
openssl verify -CAfile certs/root_ca.crt -untrusted leaf_ca.crt leaf.crt >/dev/null || fail "verify leaf"
openssl x509 -in leaf.crt -noout -ext subjectAltName,extendedKeyUsage | tr -s ' \n' ' '; echo
nb=$(date -d "$(openssl x509 -in leaf.crt -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in leaf.crt -noout -enddate | cut -d= -f2)" +%s)
[ $((na - nb)) = $((48 * 3600 + 60)) ] || fail "leaf lifetime $((na - nb))"
ok "POST /1.0/sign -> $code {crt, ca, certChain[2], tlsOptions}; lifetime 48h + 1m backdate; chain verifies"

code=$(sign "$TOK" replay.json)
[ "$code" = 401 ] || fail "replay status $code"
ok "token replay -> $code $(cat replay.json)"
code=$(sign "$(ott https://ca.example.com/1.0/sign)" badaud.json)
[ "$code" = 401 ] || fail "bad aud status $code"
ok "aud with a host not in dnsNames -> $code"
code=$(sign "$(ott "https://localhost:1/1.0/sign")" otheraud.json)
[ "$code" = 201 ] || fail "aud localhost:1 status $code"
ok "aud https://localhost:1/1.0/sign (other dnsName, wrong port) -> $code (port is ignored)"
code=$(sign "$(ott "$URL/1.0/sign" -kid wrongkid)" badkid.json)
[ "$code" = 401 ] || fail "bad kid status $code"
ok "kid not matching the provisioner -> $code"

# ---- renew over mTLS -------------------------------------------------------------
cat leaf.crt leaf_ca.crt > leaf_chain.crt
code=$("${CURL[@]}" -o renew.json -w '%{http_code}' --cert leaf_chain.crt --key leaf.key -X POST "$URL/1.0/renew")
[ "$code" = 201 ] || fail "renew status $code: $(cat renew.json)"
json renew.json 'd["crt"]' > renewed.crt
s1=$(openssl x509 -in leaf.crt -noout -serial); s2=$(openssl x509 -in renewed.crt -noout -serial)
[ "$s1" != "$s2" ] || fail "renew returned the same serial"
nb2=$(date -d "$(openssl x509 -in renewed.crt -noout -startdate | cut -d= -f2)" +%s)
na2=$(date -d "$(openssl x509 -in renewed.crt -noout -enddate | cut -d= -f2)" +%s)
[ $((na2 - nb2)) = $((na - nb)) ] || fail "renewed lifetime $((na2 - nb2)) != $((na - nb))"
ok "POST /1.0/renew (mTLS, empty body) -> $code; new serial, same lifetime ($(( (na2 - nb2) / 60 )) min)"
code=$("${CURL[@]}" -o norenew.json -w '%{http_code}' -X POST "$URL/1.0/renew")
[ "$code" = 400 ] || fail "renew without cert status $code"
ok "POST /1.0/renew without client cert -> $code $(cat norenew.json)"

# ---- restart: legacy PEM key, bbolt db, allowRenewalAfterExpiry ---------------------
stop_ca
cp int.legacy secrets/intermediate_ca_key
write_config bbolt "$T/db/bolt.db" 1s true
start_ca
ok "restart with 'EC PRIVATE KEY' + DEK-Info key and bbolt db: /health -> $(cat health.json)"
"${CURL[@]}" -o provs.json "$URL/provisioners"
code=$(sign "$(ott "https://localhost/1.0/sign")" short.json 2s)
[ "$code" = 201 ] || fail "sign after restart $code"
json short.json 'd["crt"]' > short.crt
json short.json 'd["ca"]' >> short.crt
ok "POST /1.0/sign after restart -> $code (notAfter 2s)"
sleep 3
set +e
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' --cert short.crt --key leaf.key -X POST "$URL/1.0/renew" 2>/dev/null)
rc=$?
set -e
[ "$rc" != 0 ] || fail "expired cert renewed over mTLS (status $code)"
ok "expired cert, POST /1.0/renew over mTLS -> TLS handshake refused (curl rc=$rc) although allowRenewalAfterExpiry=true"
code=$("${CURL[@]}" -o renew2.json -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $("$TOOL" renew-token -cert short.crt -key leaf.key -aud "$URL/1.0/renew")" "$URL/1.0/renew")
[ "$code" = 201 ] || fail "x5c renew status $code: $(cat renew2.json)"
json renew2.json 'd["crt"]' > renewed2.crt
openssl x509 -in renewed2.crt -noout -checkend 0 >/dev/null || fail "x5c renewed cert not valid"
ok "expired cert, POST /1.0/renew with 'Authorization: Bearer <x5cInsecure token>' -> $code (allowRenewalAfterExpiry=true)"
stop_ca

# ---- wrong CA password --------------------------------------------------------------
printf 'wrong\n' > wrong
set +e
timeout 20 "$STEPCA" --password-file wrong config/ca.json > wrong.log 2>&1
rc=$?
set -e
if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then fail "wrong password rc=$rc"; fi
ok "wrong --password-file -> exit $rc: $(tail -1 wrong.log)"

echo "smoke: $PASS checks passed"
