/*
 * bench/s3put: the upload stage of the backup pipeline alone, for bench/run.sh — stdin streamed
 * to s3://BUCKET/KEY with module_utils/aws (s3_upload: multipart, 8 MiB parts, one thread), the
 * same client etcd_snapshot's `upload` uses, without gzip or encryption.
 *
 *   s3put BUCKET KEY < file      (credentials, region, endpoint from the AWS_* environment)
 *
 * Prints "bytes=N parts=P" on stderr. Memory: one part buffer (owned by the s3_upload).
 */
#include "s3.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 20];
	struct error err = {""};
	struct s3_put_result res = {0};
	struct s3_upload *up = NULL;
	struct aws *aws = NULL;
	struct aws_options opts = {0};
	int rc = 1;
	size_t n;

	if (argc != 3) {
		fprintf(stderr, "usage: s3put BUCKET KEY < file\n");
		return 2;
	}
	aws = aws_new(&opts, &err);
	if (!aws)
		goto out;
	up = s3_upload_new(aws, argv[1], argv[2], NULL, 0, 0, &err);
	if (!up)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (s3_upload_write(up, buf, n, &err) < 0)
			goto out;
	if (ferror(stdin) || s3_upload_finish(up, &res, &err) < 0)
		goto out;
	fprintf(stderr, "bytes=%llu parts=%u\n", (unsigned long long)s3_upload_bytes(up),
		s3_upload_parts(up));
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "s3put: %s\n", err.msg[0] ? err.msg : "read error");
	s3_put_result_free(&res);
	s3_upload_free(up);
	aws_free(aws);
	return rc;
}
