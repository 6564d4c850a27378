#!/usr/bin/env bash
# The AWS peer (tests/peers/aws: S3 + KMS with strict SigV4) against the real AWS CLI. This proves
# the peer itself, which the kms_s3_backup / etcd_snapshot integration tests then rely on.
set -euo pipefail
exec bash "$(cd "$(dirname "$0")/../.." && pwd)/tests/peers/aws/awscli_proof.sh" "$@"
