/*
 * Drives module_utils/aws against the AWS peer (tests/peers/aws, strict SigV4) — built and run
 * by tests/integration/aws_client_vs_peer.sh, which exports AWS_PEER_URL, the credentials, the
 * region and AWS_TEST_BUCKET. Prints "ok <what>" per check; the first failed check exits 1.
 */
#include "kms.h"
#include "s3.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL ");                                                           \
			printf(__VA_ARGS__);                                                       \
			printf("\n     (%s:%d: %s)\n", __FILE__, __LINE__, #cond);                 \
			exit(1);                                                                   \
		}                                                                                  \
		passed++;                                                                          \
		printf("ok   ");                                                                   \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		err.msg[0] = '\0';                                                                 \
	} while (0)

struct sink {
	unsigned char *data;
	size_t len, cap;
};

static long sink_write(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	if (s->len + len > s->cap) {
		size_t cap = (s->len + len) * 2;
		unsigned char *grown = realloc(s->data, cap);

		if (!grown)
			return -1;
		s->data = grown;
		s->cap = cap;
	}
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return (long)len;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *bucket;
static struct error err;

static struct aws *client(const char *secret)
{
	struct aws_options o = {.endpoint_url = getenv("AWS_PEER_URL"),
				.kms_endpoint_url = getenv("AWS_PEER_URL")};
	struct aws *aws;

	if (secret) {
		o.access_key_id = getenv("AWS_ACCESS_KEY_ID");
		o.secret_access_key = secret;
	}
	aws = aws_new(&o, &err);
	if (!aws) {
		printf("FAIL aws_new: %s\n", err.msg);
		exit(1);
	}
	return aws;
}

static void fault(const char *rule_json)
{
	char url[512];
	json_t *body = json_pack("{s:[o]}", "rules", json_loads(rule_json, 0, NULL)), *out = NULL;
	int rc;

	snprintf(url, sizeof(url), "%s/_peer/faults", getenv("AWS_PEER_URL"));
	rc = http_json("POST", url, body, NULL, 5000, &out, &err);
	if (rc < 0) {
		printf("FAIL cannot set the fault %s: %s\n", rule_json, err.msg);
		exit(1);
	}
	json_decref(body);
	json_decref(out);
}

static void clear_faults(void)
{
	char url[512];
	json_t *out = NULL;

	snprintf(url, sizeof(url), "%s/_peer/faults", getenv("AWS_PEER_URL"));
	if (http_json("DELETE", url, NULL, NULL, 5000, &out, &err) < 0) {
		printf("FAIL cannot clear the faults: %s\n", err.msg);
		exit(1);
	}
	json_decref(out);
}

static void fill(unsigned char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

static int get_all(struct aws *aws, const char *key, struct sink *s)
{
	s->len = 0;
	return s3_get_object(aws, bucket, key, 0, 0, sink_write, s, &err);
}

/* Streams len bytes of pattern `seed` through s3_upload in odd-sized writes. */
static int upload(struct aws *aws, const char *key, size_t len, unsigned int seed, size_t part_size,
		  unsigned int *parts)
{
	static const struct s3_metadata meta[] = {{"sha256", "test"}, {"origin", "driver"}};
	struct s3_upload *u = s3_upload_new(aws, bucket, key, meta, 2, part_size, &err);
	struct s3_put_result res = {0};
	unsigned char *data = malloc(len + 1);
	size_t off = 0;
	int rc = 0;

	if (!u || !data) {
		free(data);
		s3_upload_free(u);
		return -ENOMEM;
	}
	fill(data, len, seed);
	while (off < len && rc == 0) {
		size_t n = len - off < 1000003 ? len - off : 1000003;

		rc = s3_upload_write(u, data + off, n, &err);
		off += n;
	}
	if (rc == 0)
		rc = s3_upload_finish(u, &res, &err);
	if (parts)
		*parts = s3_upload_parts(u);
	s3_put_result_free(&res);
	s3_upload_free(u);
	free(data);
	return rc;
}

static bool same(const struct sink *s, size_t len, unsigned int seed)
{
	unsigned char *want = malloc(len + 1);
	bool eq;

	fill(want, len, seed);
	eq = s->len == len && (len == 0 || memcmp(s->data, want, len) == 0);
	free(want);
	return eq;
}

struct counter {
	size_t n;
	char last[256];
	bool sorted;
};

static int count_entry(void *ctx, const struct s3_list_entry *e)
{
	struct counter *c = ctx;

	if (c->n && strcmp(c->last, e->key) >= 0)
		c->sorted = false;
	snprintf(c->last, sizeof(c->last), "%s", e->key);
	c->n++;
	return 0;
}

static void s3_checks(struct aws *aws)
{
	struct sink s = {0};
	struct s3_object_info info;
	struct s3_put_result res = {0};
	unsigned int parts = 0;
	size_t uploads = 0;
	const size_t big = 20u * 1024 * 1024;
	double t0, t1;

	CHECK(s3_put_object(aws, bucket, "one", "x", 1, NULL, 0, &res, &err) == 0 && res.etag,
	      "PutObject of 1 byte (%s)", err.msg);
	s3_put_result_free(&res);
	CHECK(get_all(aws, "one", &s) == 0 && s.len == 1 && s.data[0] == 'x',
	      "GetObject gives the byte back");
	CHECK(s3_put_object(aws, bucket, "empty", NULL, 0, NULL, 0, NULL, &err) == 0,
	      "PutObject of 0 bytes (%s)", err.msg);
	CHECK(get_all(aws, "empty", &s) == 0 && s.len == 0, "GetObject of 0 bytes");
	CHECK(upload(aws, "stream-empty", 0, 1, 0, &parts) == 0 && parts == 0,
	      "s3_upload of 0 bytes is one PutObject (%s)", err.msg);
	CHECK(get_all(aws, "stream-empty", &s) == 0 && s.len == 0, "... and reads back empty");
	CHECK(upload(aws, "dir/with space & amp+plus", 1, 2, 0, &parts) == 0 && parts == 0,
	      "a key with space, & and + (%s)", err.msg);
	CHECK(get_all(aws, "dir/with space & amp+plus", &s) == 0 && same(&s, 1, 2),
	      "... reads back");

	CHECK(upload(aws, "dots/./x/../y", 1, 7, 0, NULL) == 0 &&
		  get_all(aws, "dots/./x/../y", &s) == 0 && same(&s, 1, 7),
	      "a key with /./ and /../ goes out as is (S3 does not normalise) (%s)", err.msg);
	t0 = now();
	CHECK(upload(aws, "big", big, 3, 0, &parts) == 0 && parts == 3,
	      "20 MiB through s3_upload: multipart, 3 parts of 8 MiB (%u; %s)", parts, err.msg);
	t1 = now();
	CHECK(get_all(aws, "big", &s) == 0 && same(&s, big, 3), "GetObject gives the 20 MiB back");
	printf("     20 MiB: upload %.2f s, download %.2f s (loopback, ASan build)\n", t1 - t0,
	       now() - t1);
	CHECK(s3_head_object(aws, bucket, "big", &info, &err) == 0 && info.size == big &&
		  info.etag && s3_object_info_meta(&info, "origin") &&
		  strcmp(s3_object_info_meta(&info, "origin"), "driver") == 0 &&
		  info.last_modified > time(NULL) - 600,
	      "HeadObject: size, etag, x-amz-meta-origin, last-modified (%s)", err.msg);
	s3_object_info_free(&info);
	s.len = 0;
	CHECK(s3_get_object(aws, bucket, "big", 8 * 1024 * 1024 - 3, 7, sink_write, &s, &err) ==
		      0 &&
		  s.len == 7,
	      "a Range GetObject across a part boundary gives 7 bytes (%s)", err.msg);
	{
		struct sink whole = {0};

		get_all(aws, "big", &whole);
		CHECK(memcmp(whole.data + 8 * 1024 * 1024 - 3, s.data, 7) == 0,
		      "... the right ones");
		free(whole.data);
	}
	CHECK(s3_head_object(aws, bucket, "nope", &info, &err) == -ENOENT,
	      "HeadObject of a missing key is -ENOENT");
	s.len = 0;
	CHECK(s3_get_object(aws, bucket, "nope", 0, 0, sink_write, &s, &err) == -ENOENT &&
		  strstr(err.msg, "NoSuchKey") && s.len == 0,
	      "GetObject of a missing key: NoSuchKey, nothing in the sink (%s)", err.msg);

	fault("{\"op\": \"UploadPart\", \"status\": 503, \"count\": 1}");
	CHECK(upload(aws, "retried", 11u * 1024 * 1024, 4, 5u * 1024 * 1024, &parts) == 0 &&
		  parts == 3,
	      "a 503 on one UploadPart: the part is retried, the upload completes (%s)", err.msg);
	CHECK(get_all(aws, "retried", &s) == 0 && same(&s, 11u * 1024 * 1024, 4), "... intact");
	clear_faults();
	fault("{\"op\": \"UploadPart\", \"reset\": true, \"after_bytes\": 1000, \"count\": 1}");
	CHECK(upload(aws, "reset", 11u * 1024 * 1024, 5, 5u * 1024 * 1024, &parts) == 0,
	      "a connection reset during one UploadPart: retried, completes (%s)", err.msg);
	CHECK(get_all(aws, "reset", &s) == 0 && same(&s, 11u * 1024 * 1024, 5), "... intact");
	clear_faults();

	fault("{\"op\": \"CompleteMultipartUpload\", \"status\": 200, \"error_in_200\": true, "
	      "\"code\": \"InternalError\", \"count\": 3}");
	CHECK(upload(aws, "err200", 6u * 1024 * 1024, 6, 5u * 1024 * 1024, NULL) < 0 &&
		  strstr(err.msg, "InternalError"),
	      "CompleteMultipartUpload answering 200 with an <Error> fails (%s)", err.msg);
	clear_faults();
	CHECK(s3_count_multipart_uploads(aws, bucket, "err200", &uploads, &err) == 0 &&
		  uploads == 0,
	      "... and the upload was aborted (%zu left)", uploads);
	CHECK(s3_head_object(aws, bucket, "err200", &info, &err) == -ENOENT, "... no object");

	{
		struct s3_upload *u = s3_upload_new(aws, bucket, "aborted", NULL, 0, 0, &err);
		unsigned char *chunk = calloc(1, 9u * 1024 * 1024);

		CHECK(u && chunk && s3_upload_write(u, chunk, 9u * 1024 * 1024, &err) == 0 &&
			  s3_upload_parts(u) == 1,
		      "a started upload: one part sent");
		CHECK(s3_count_multipart_uploads(aws, bucket, "aborted", &uploads, &err) == 0 &&
			  uploads == 1,
		      "... listed by ListMultipartUploads");
		s3_upload_abort(u);
		s3_upload_free(u);
		free(chunk);
		CHECK(s3_count_multipart_uploads(aws, bucket, "aborted", &uploads, &err) == 0 &&
			  uploads == 0,
		      "s3_upload_abort leaves no upload listed");
		CHECK(s3_head_object(aws, bucket, "aborted", &info, &err) == -ENOENT,
		      "... and no object");
	}
	free(s.data);
}

static void list_and_delete_checks(struct aws *aws)
{
	enum { N = 1003 };
	static char names[N][32];
	const char *keys[N];
	struct counter c = {.sorted = true};
	struct s3_object_info info;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "page/%04d", i);
		keys[i] = names[i];
		if (s3_put_object(aws, bucket, keys[i], "p", 1, NULL, 0, NULL, &err) < 0)
			CHECK(0, "PutObject %s (%s)", keys[i], err.msg);
	}
	CHECK(s3_list_objects(aws, bucket, "page/", count_entry, &c, &err) == 0 && c.n == N &&
		  c.sorted,
	      "ListObjectsV2 over 2 pages: %zu objects, sorted (%s)", c.n, err.msg);
	CHECK(s3_delete_objects(aws, bucket, keys, N, &err) == 0,
	      "DeleteObjects of %d keys in 2 requests (Content-MD5) (%s)", N, err.msg);
	c = (struct counter){.sorted = true};
	CHECK(s3_list_objects(aws, bucket, "page/", count_entry, &c, &err) == 0 && c.n == 0,
	      "... none left (%zu)", c.n);
	CHECK(s3_delete_object(aws, bucket, "one", &err) == 0 &&
		  s3_head_object(aws, bucket, "one", &info, &err) == -ENOENT,
	      "DeleteObject, then HeadObject is -ENOENT");
	CHECK(s3_delete_object(aws, bucket, "one", &err) == 0,
	      "DeleteObject of a missing key is fine");
}

static void kms_checks(struct aws *aws)
{
	static const char *const ck[] = {"purpose", "cluster"}, *const cv[] = {"etcd-backup", "c1"};
	static const char *const bad_v[] = {"etcd-backup", "c2"};
	static const char *const tag_k[] = {"app"}, *const tag_v[] = {"etcd"};
	struct kms_context ctx = {ck, cv, 2}, bad = {ck, bad_v, 2};
	struct kms_data_key dk;
	struct kms_plaintext pt;
	char *key_id = NULL, *arn = NULL, *arn2 = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;

	CHECK(kms_create_key(aws, "driver key", tag_k, tag_v, 1, &key_id, &arn, &err) == 0 &&
		  strncmp(arn, "arn:aws:kms:", 12) == 0,
	      "KMS CreateKey → %s (%s)", arn ? arn : "-", err.msg);
	CHECK(kms_create_alias(aws, "alias/driver", key_id, &err) == 0, "KMS CreateAlias (%s)",
	      err.msg);
	CHECK(kms_describe_key(aws, "alias/driver", &arn2, &err) == 0 && strcmp(arn, arn2) == 0,
	      "KMS DescribeKey of the alias gives the ARN (%s)", err.msg);
	free(arn2);
	arn2 = NULL;
	CHECK(kms_put_key_policy(aws, key_id,
				 "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"all\","
				 "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},"
				 "\"Action\":\"kms:*\",\"Resource\":\"*\"}]}",
				 &err) == 0,
	      "KMS PutKeyPolicy (%s)", err.msg);
	CHECK(kms_generate_data_key(aws, "alias/driver", &ctx, &dk, &err) == 0 &&
		  dk.ciphertext_len > 32 && strcmp(dk.key_arn, arn) == 0,
	      "KMS GenerateDataKey: 32 bytes + blob, KeyId is the ARN (%s)", err.msg);
	CHECK(kms_decrypt(aws, NULL, dk.ciphertext, dk.ciphertext_len, &ctx, &pt, &err) == 0 &&
		  pt.len == 32 && memcmp(pt.data, dk.plaintext, 32) == 0,
	      "KMS Decrypt gives the data key back (%s)", err.msg);
	kms_plaintext_free(&pt);
	CHECK(kms_decrypt(aws, key_id, dk.ciphertext, dk.ciphertext_len, &bad, &pt, &err) < 0 &&
		  strstr(err.msg, "InvalidCiphertextException"),
	      "KMS Decrypt with another encryption context fails: %s", err.msg);
	CHECK(kms_encrypt(aws, key_id, (const unsigned char *)"secret", 6, &ctx, &blob, &blob_len,
			  &err) == 0,
	      "KMS Encrypt (%s)", err.msg);
	CHECK(kms_decrypt(aws, key_id, blob, blob_len, &ctx, &pt, &err) == 0 && pt.len == 6 &&
		  memcmp(pt.data, "secret", 6) == 0,
	      "... and Decrypt round trip (%s)", err.msg);
	kms_plaintext_free(&pt);
	CHECK(kms_describe_key(aws, "alias/missing", &arn2, &err) < 0 &&
		  strstr(err.msg, "NotFoundException"),
	      "KMS errors carry __type: %s", err.msg);
	kms_data_key_free(&dk);
	free(arn2);
	free(blob);
	free(key_id);
	free(arn);
}

/* Credentials from the (fake) IMDSv2 only: the environment has none. Never prints the secret. */
static int imds_mode(void)
{
	struct aws_credentials c;
	struct aws *aws;

	CHECK(aws_credentials_resolve(&(struct aws_options){0}, &c, &err) == 0 &&
		  strcmp(c.access_key_id, "AKIDIMDSEXAMPLE") == 0 && c.session_token,
	      "IMDSv2: token, role, credentials with a session token (%s)", err.msg);
	aws_credentials_free(&c);
	aws = client(NULL);
	CHECK(s3_put_object(aws, bucket, "from-imds", "i", 1, NULL, 0, NULL, &err) == 0,
	      "a PutObject signed with them and X-Amz-Security-Token (%s)", err.msg);
	aws_free(aws);
	printf("aws client IMDS: %d passed, 0 failed\n", passed);
	return 0;
}

/* Over HTTPS: AWS_CA_BUNDLE names the peer's CA (verified); without it the handshake fails. */
static int tls_mode(bool trusted)
{
	struct aws *aws = client(NULL);
	struct sink s = {0};
	int rc;

	rc = s3_put_object(aws, bucket, "tls", "t", 1, NULL, 0, NULL, &err);
	if (trusted) {
		CHECK(rc == 0 && get_all(aws, "tls", &s) == 0 && s.len == 1,
		      "HTTPS with AWS_CA_BUNDLE: put and get (%s)", err.msg);
	} else {
		CHECK(rc < 0 && strstr(err.msg, "certificate"),
		      "HTTPS with the system CAs refuses the peer's certificate: %s", err.msg);
	}
	free(s.data);
	aws_free(aws);
	printf("aws client TLS: %d passed, 0 failed\n", passed);
	return 0;
}

int main(int argc, char **argv)
{
	struct aws *aws, *wrong;

	bucket = getenv("AWS_TEST_BUCKET");
	if (!bucket || !getenv("AWS_PEER_URL")) {
		printf("FAIL set AWS_PEER_URL and AWS_TEST_BUCKET\n");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "imds") == 0)
		return imds_mode();
	if (argc > 1 && strcmp(argv[1], "tls") == 0)
		return tls_mode(argc > 2 && strcmp(argv[2], "trusted") == 0);
	aws = client(NULL);
	wrong = client("not-the-secret");
	CHECK(s3_put_object(wrong, bucket, "x", "x", 1, NULL, 0, NULL, &err) == -EACCES &&
		  strstr(err.msg, "SignatureDoesNotMatch") && strstr(err.msg, "S3 PutObject s3://"),
	      "a wrong secret: %s", err.msg);
	CHECK(kms_describe_key(wrong, "alias/x", &(char *){NULL}, &err) < 0 &&
		  strstr(err.msg, "KMS DescribeKey"),
	      "a wrong secret on KMS: %s", err.msg);
	s3_checks(aws);
	list_and_delete_checks(aws);
	kms_checks(aws);
	aws_free(wrong);
	aws_free(aws);
	printf("aws client vs peer: %d passed, 0 failed\n", passed);
	return 0;
}
