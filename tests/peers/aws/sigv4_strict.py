#!/usr/bin/python3
"""Requests the AWS CLI never sends, signed by the AWS CLI's own signer (awscli's vendored
botocore, Debian awscli 2.9.19) and then tampered with, against the AWS peer:
  sigv4_strict.py URL BUCKET
Each case prints "ok   ..." or "FAIL: ..." (expected vs got); exit status 1 on any failure.
Run with /usr/bin/python3 (the interpreter awscli is installed for)."""
import datetime
import hashlib
import http.client
import os
import re
import sys
import urllib.parse

import awscli  # noqa: F401  (makes awscli's vendored botocore importable as "botocore")
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

URL, BUCKET = sys.argv[1], sys.argv[2]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
CREDS = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
HOSTPORT = urllib.parse.urlsplit(URL).netloc
failures = 0


def sign(method, path, body=b"", headers=None, service="s3", region=REGION, creds=CREDS, s3=True):
    req = AWSRequest(method=method, url=URL + path, data=body, headers=headers or {})
    signer = botocore.auth.S3SigV4Auth if s3 else botocore.auth.SigV4Auth
    signer(creds, service, region).add_auth(req)
    return req


def send(method, path, headers, body=b""):
    conn = http.client.HTTPConnection(HOSTPORT, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(body if body else None)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data.decode("utf-8", "replace"), dict(resp.getheaders())


def send_signed(req, path=None, body=None, drop=(), add=None, replace=None):
    headers = {k: v for k, v in req.headers.items() if k.lower() not in drop}
    headers.setdefault("Host", HOSTPORT)
    if replace:
        headers.update(replace)
    if add:
        headers.update(add)
    body = req.body if body is None else body
    if body:
        headers["Content-Length"] = str(len(body))
    return send(req.method, path or urllib.parse.urlsplit(req.url).path +
                ("?" + urllib.parse.urlsplit(req.url).query if urllib.parse.urlsplit(req.url).query else ""),
                headers, body or b"")


def code_of(body):
    m = re.search(r"<Code>([^<]*)</Code>", body) or re.search(r'"__type":"([^"]*)"', body)
    return m.group(1) if m else ""


def check(what, want_status, want_code, got):
    global failures
    status, body, _ = got
    if status == want_status and code_of(body) == want_code:
        print(f"ok   {what} ({status} {want_code})")
    else:
        failures += 1
        print(f"FAIL: {what}: expected {want_status} {want_code}, got {status} {code_of(body)}: {body[:300]}",
              file=sys.stderr)


def with_clock(delta, fn):
    """Runs fn with botocore's clock moved by delta (botocore.auth calls datetime.datetime.utcnow)."""
    real = botocore.auth.datetime

    class FakeDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return real.datetime.utcnow() + delta

    class FakeModule:
        datetime = FakeDateTime

    botocore.auth.datetime = FakeModule
    try:
        return fn()
    finally:
        botocore.auth.datetime = real


obj = f"/{BUCKET}/strict/object.txt"
body = b"hello strict peer\n"

# The baseline: an untouched signed PUT and GET work.
check("signed PUT", 200, "", send_signed(sign("PUT", obj, body, {"x-amz-meta-owner": "etcd"})))
check("signed GET", 200, "", send_signed(sign("GET", obj)))

# Tampering after signing.
check("tampered path", 403, "SignatureDoesNotMatch",
      send_signed(sign("GET", obj), path=f"/{BUCKET}/strict/other.txt"))
check("tampered query", 403, "SignatureDoesNotMatch",
      send_signed(sign("GET", f"/{BUCKET}?list-type=2&prefix=a"), path=f"/{BUCKET}?list-type=2&prefix=b"))
check("tampered signed header", 403, "SignatureDoesNotMatch",
      send_signed(sign("PUT", obj, body, {"x-amz-meta-owner": "etcd"}), replace={"x-amz-meta-owner": "mallory"}))
check("unsigned x-amz-* header added", 403, "AccessDenied",
      send_signed(sign("GET", obj), add={"x-amz-meta-extra": "1"}))
check("signed header missing", 403, "SignatureDoesNotMatch",
      send_signed(sign("PUT", obj, body, {"x-amz-meta-owner": "etcd"}), drop=("x-amz-meta-owner",)))
r = sign("GET", obj)
r.headers["Authorization"] = r.headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
check("host not signed", 403, "AccessDenied", send_signed(r))
check("body differs from signed x-amz-content-sha256", 400, "XAmzContentSHA256Mismatch",
      send_signed(sign("PUT", f"/{BUCKET}/strict/tampered.txt", body), body=b"HELLO strict peer\n"))
check("... and the object was not stored", 404, "NoSuchKey",
      send_signed(sign("GET", f"/{BUCKET}/strict/tampered.txt")))
check("x-amz-content-sha256 missing", 400, "InvalidRequest",
      send_signed(sign("GET", obj, s3=False)))
r = sign("PUT", obj, body, {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                            "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body))},
         s3=False)  # the generic signer keeps our x-amz-content-sha256 (S3SigV4Auth replaces it)
check("aws-chunked payload refused clearly", 501, "NotImplemented", send_signed(r))

# Scope and clock.
check("wrong service in scope (kms on S3)", 400, "AuthorizationHeaderMalformed",
      send_signed(sign("GET", obj, service="kms")))
check("credential date differs from x-amz-date", 400, "AuthorizationHeaderMalformed",
      send_signed(sign("GET", obj), replace={"X-Amz-Date": (datetime.datetime.utcnow() - datetime.timedelta(days=2)).strftime("%Y%m%dT%H%M%SZ")}))
check("x-amz-date 20 min in the past", 403, "RequestTimeTooSkewed",
      send_signed(with_clock(datetime.timedelta(minutes=-20), lambda: sign("GET", obj))))
check("x-amz-date 20 min in the future", 403, "RequestTimeTooSkewed",
      send_signed(with_clock(datetime.timedelta(minutes=20), lambda: sign("GET", obj))))
check("x-amz-date 10 min off is within the 15 min", 200, "",
      send_signed(with_clock(datetime.timedelta(minutes=-10), lambda: sign("GET", obj))))
check("no Authorization at all", 403, "AccessDenied", send("GET", obj, {"Host": HOSTPORT}))

# KMS: the service in the scope must be kms, the body is hashed by the server.
kms_body = b'{"KeySpec":"AES_256","KeyId":"alias/none"}'
kms_headers = {"X-Amz-Target": "TrentService.GenerateDataKey", "Content-Type": "application/x-amz-json-1.1"}
check("KMS request signed for s3", 400, "InvalidSignatureException",
      send_signed(sign("POST", "/", kms_body, dict(kms_headers), service="s3", s3=False)))
check("KMS body tampered", 400, "InvalidSignatureException",
      send_signed(sign("POST", "/", kms_body, dict(kms_headers), service="kms", s3=False),
                  body=kms_body.replace(b"none", b"nope")))
check("KMS correctly signed reaches the API", 400, "NotFoundException",
      send_signed(sign("POST", "/", kms_body, dict(kms_headers), service="kms", s3=False)))

# Presigned GET (query auth), signed by botocore's S3SigV4QueryAuth.
def presign(path, expires=60, creds=CREDS):
    req = AWSRequest(method="GET", url=URL + path)
    botocore.auth.S3SigV4QueryAuth(creds, "s3", REGION, expires=expires).add_auth(req)
    return urllib.parse.urlsplit(req.url)

u = presign(obj)
check("presigned GET", 200, "", send("GET", u.path + "?" + u.query, {"Host": HOSTPORT}))
check("presigned GET, tampered path", 403, "SignatureDoesNotMatch",
      send("GET", u.path.replace("object", "other") + "?" + u.query, {"Host": HOSTPORT}))
u = with_clock(datetime.timedelta(minutes=-5), lambda: presign(obj, expires=60))
check("presigned GET, expired", 403, "AccessDenied", send("GET", u.path + "?" + u.query, {"Host": HOSTPORT}))
u = presign(obj, creds=Credentials(CREDS.access_key, "wrong-secret"))
check("presigned GET, wrong secret", 403, "SignatureDoesNotMatch", send("GET", u.path + "?" + u.query, {"Host": HOSTPORT}))

# Keys that need encoding: the path is encoded once, no normalisation (S3).
for key in ["strict/space and+plus.txt", "strict/a//b/../c.txt", "strict/ünïcødé~%.txt"]:
    path = f"/{BUCKET}/" + urllib.parse.quote(key, safe="/~")
    check(f"key {key!r} PUT", 200, "", send_signed(sign("PUT", path, b"k")))
    st, got, _ = send_signed(sign("GET", f"/{BUCKET}?list-type=2&prefix=" + urllib.parse.quote(key, safe="")))
    if f"<Key>{key}</Key>" not in got:
        failures += 1
        print(f"FAIL: key {key!r} not listed as itself: {got[:400]}", file=sys.stderr)
    else:
        print(f"ok   key {key!r} listed as itself")

sys.exit(1 if failures else 0)
