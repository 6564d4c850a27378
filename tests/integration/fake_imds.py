#!/usr/bin/env python3
"""A fake EC2 instance metadata service (IMDSv2 only) on 127.0.0.1 for aws_client_vs_peer.sh.

fake_imds.py PORT_FILE AKID SECRET TOKEN: serves PUT /latest/api/token (needs the TTL header),
then GET /latest/meta-data/iam/security-credentials/[role] (needs the session token; 401
otherwise, as IMDSv2 answers). Writes the port it listens on into PORT_FILE.
"""
import http.server
import json
import sys

SESSION = "fake-imds-session-token"
ROLE = "etcd-backup-role"


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400)
        self.reply(200, SESSION.encode())

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != SESSION:
            return self.reply(401)
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.reply(200, ROLE.encode())
        if self.path == base + ROLE:
            return self.reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": sys.argv[2],
                "SecretAccessKey": sys.argv[3], "Token": sys.argv[4],
                "Expiration": "2099-01-01T00:00:00Z"}).encode())
        self.reply(404)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
