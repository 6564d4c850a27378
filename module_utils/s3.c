#include "s3.h"

#include "b64.h"
#include "buf.h"
#include "s3_xml.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct s3_target {
	char *base;
	char *path;
};

static void s3_target_free(struct s3_target *t)
{
	free(t->base);
	free(t->path);
	t->base = t->path = NULL;
}

/*
 * Path-style (/bucket/key) on a given endpoint or for a dotted bucket (TLS wildcard names do
 * not cover dots); virtual-hosted (bucket.s3.region.amazonaws.com/key) for real AWS.
 */
static int s3_target(struct aws *aws, const char *bucket, const char *key, struct s3_target *t)
{
	char *enc_key = key ? aws_uri_encode(key, strlen(key), true) : strdup("");
	char *enc_bucket = aws_uri_encode(bucket, strlen(bucket), false);
	const char *ep = aws_s3_endpoint(aws);
	const char *host = ep ? strstr(ep, "://") + 3 : NULL;
	const char *base_path = host ? strchr(host, '/') : NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!enc_key || !enc_bucket) {
		rc = -ENOMEM;
		goto out;
	}
	if (ep || strchr(bucket, '.')) {
		if (ep)
			t->base = strndup(ep, base_path ? (size_t)(base_path - ep) : strlen(ep));
		else if (asprintf(&t->base, "https://s3.%s.amazonaws.com", aws_region(aws)) < 0)
			t->base = NULL;
		if (asprintf(&t->path, "%s/%s%s%s", base_path ? base_path : "", enc_bucket,
			     key ? "/" : "", enc_key) < 0)
			t->path = NULL;
	} else {
		if (asprintf(&t->base, "https://%s.s3.%s.amazonaws.com", enc_bucket, aws_region(aws)) <
		    0)
			t->base = NULL;
		if (asprintf(&t->path, "/%s", enc_key) < 0)
			t->path = NULL;
	}
	if (!t->base || !t->path) {
		s3_target_free(t);
		rc = -ENOMEM;
	}
out:
	free(enc_key);
	free(enc_bucket);
	return rc;
}

/* S3's error document (<Error><Code/><Message/></Error>) into err; returns the errno code. */
static int s3_fail(const char *op, const char *bucket, const char *key,
		   const struct http_response *resp, struct error *err)
{
	char *code = resp->body ? aws_xml_get(resp->body, resp->body_len, "Code") : NULL;
	char *msg = resp->body ? aws_xml_get(resp->body, resp->body_len, "Message") : NULL;
	int rc = resp->status == 404 ? -ENOENT : resp->status == 403 ? -EACCES : -EPROTO;

	if (!code && resp->status == 404)
		code = strdup("NotFound");
	rc = error_set(err, rc, "S3 %s s3://%s/%s: HTTP %ld %s: %.300s", op, bucket, key ? key : "",
		       resp->status, code ? code : "(no code)", msg ? msg : "(no message)");
	free(code);
	free(msg);
	return rc;
}

/*
 * The headers that create an object: its Content-Type (else libcurl's POST default,
 * application/x-www-form-urlencoded, would become the multipart object's type) and x-amz-meta-*
 * lines; *lines is a malloc'ed NULL-terminated array of malloc'ed strings.
 */
static int meta_headers(const struct s3_metadata *meta, size_t n, char ***lines)
{
	*lines = calloc(n + 2, sizeof(char *));
	if (!*lines || !((*lines)[0] = strdup("Content-Type: application/octet-stream")))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&(*lines)[i + 1], "x-amz-meta-%s: %s", meta[i].name, meta[i].value) <
		    0) {
			(*lines)[i + 1] = NULL;
			return -ENOMEM;
		}
	return 0;
}

static void lines_free(char **lines)
{
	for (char **l = lines; l && *l; l++)
		free(*l);
	free(lines);
}

void s3_put_result_free(struct s3_put_result *r)
{
	free(r->etag);
	r->etag = NULL;
}

int s3_put_object(struct aws *aws, const char *bucket, const char *key, const void *data,
		  size_t len, const struct s3_metadata *meta, size_t n_meta,
		  struct s3_put_result *out, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char **lines = NULL;
	int rc;

	if (out)
		out->etag = NULL;
	if (n_meta > AWS_CALL_MAX_HEADERS - 5)
		return error_set(err, -EINVAL, "S3 PutObject: too many metadata entries");
	rc = s3_target(aws, bucket, key, &t);
	if (rc == 0)
		rc = meta_headers(meta, n_meta, &lines);
	if (rc < 0) {
		rc = error_set(err, rc, "out of memory");
		goto out;
	}
	rc = aws_call_send(aws,
		       &(struct aws_call){.service = "s3",
				      .method = "PUT",
				      .base = t.base,
				      .path = t.path,
				      .headers = (const char *const *)lines,
				      .body = data ? data : "",
				      .body_len = len,
				      .idempotent = true,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 PutObject s3://%s/%s", bucket, key);
		goto out;
	}
	if (!aws_ok(&resp)) {
		rc = s3_fail("PutObject", bucket, key, &resp, err);
		goto out;
	}
	if (out)
		out->etag = http_response_header(&resp, "ETag");
out:
	lines_free(lines);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* ---- S3 streaming upload ---- */

struct s3_upload {
	struct aws *aws;
	char *bucket, *key;
	char **meta_lines;
	size_t n_meta;
	char *buf;
	size_t part_size, fill;
	char *upload_id;
	char **etags;
	unsigned int parts;
	uint64_t bytes;
	bool done;
};

struct s3_upload *s3_upload_new(struct aws *aws, const char *bucket, const char *key,
				const struct s3_metadata *meta, size_t n_meta, size_t part_size,
				struct error *err)
{
	struct s3_upload *u = calloc(1, sizeof(*u));

	if (part_size == 0)
		part_size = S3_DEFAULT_PART_SIZE;
	if (part_size < S3_MIN_PART_SIZE)
		part_size = S3_MIN_PART_SIZE;
	if (!u)
		goto oom;
	if (n_meta > AWS_CALL_MAX_HEADERS - 5) {
		error_set(err, -EINVAL, "S3 upload: too many metadata entries");
		free(u);
		return NULL;
	}
	u->aws = aws;
	u->part_size = part_size;
	u->n_meta = n_meta;
	u->bucket = strdup(bucket);
	u->key = strdup(key);
	u->buf = malloc(part_size);
	u->etags = calloc(S3_MAX_PARTS, sizeof(char *));
	if (!u->bucket || !u->key || !u->buf || !u->etags ||
	    meta_headers(meta, n_meta, &u->meta_lines) < 0)
		goto oom;
	return u;
oom:
	s3_upload_free(u);
	error_set(err, -ENOMEM, "out of memory");
	return NULL;
}

uint64_t s3_upload_bytes(const struct s3_upload *u)
{
	return u->bytes;
}

unsigned int s3_upload_parts(const struct s3_upload *u)
{
	return u->parts;
}

/* POST ?uploads → UploadId. */
static int upload_create(struct s3_upload *u, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	int rc = s3_target(u->aws, u->bucket, u->key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = aws_call_send(u->aws,
		       &(struct aws_call){.service = "s3",
				      .method = "POST",
				      .base = t.base,
				      .path = t.path,
				      .query = "uploads=",
				      .headers = (const char *const *)u->meta_lines},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 CreateMultipartUpload s3://%s/%s", u->bucket, u->key);
	else if (!aws_ok(&resp))
		rc = s3_fail("CreateMultipartUpload", u->bucket, u->key, &resp, err);
	else if (!(u->upload_id = aws_xml_get(resp.body ? resp.body : "", resp.body_len, "UploadId")))
		rc = error_set(err, -EPROTO, "S3 CreateMultipartUpload s3://%s/%s: no UploadId",
			       u->bucket, u->key);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* PUT ?partNumber=N&uploadId=ID of the buffer; idempotent, so http.c retries 5xx and resets. */
static int upload_part(struct s3_upload *u, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *id = NULL, *query = NULL;
	unsigned int number = u->parts + 1;
	int rc;

	if (!u->upload_id)
		return error_set(err, -EINVAL, "S3 UploadPart: no multipart upload started");
	if (number > S3_MAX_PARTS)
		return error_set(err, -EFBIG, "S3 upload s3://%s/%s: more than %u parts", u->bucket,
				 u->key, S3_MAX_PARTS);
	rc = s3_target(u->aws, u->bucket, u->key, &t);
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (rc < 0 || !id || asprintf(&query, "partNumber=%u&uploadId=%s", number, id) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = aws_call_send(u->aws,
		       &(struct aws_call){.service = "s3",
				      .method = "PUT",
				      .base = t.base,
				      .path = t.path,
				      .query = query,
				      .body = u->buf,
				      .body_len = u->fill,
				      .idempotent = true,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 UploadPart %u s3://%s/%s", number, u->bucket, u->key);
		goto out;
	}
	if (!aws_ok(&resp)) {
		rc = s3_fail("UploadPart", u->bucket, u->key, &resp, err);
		goto out;
	}
	u->etags[u->parts] = http_response_header(&resp, "ETag");
	if (!u->etags[u->parts]) {
		rc = error_set(err, -EPROTO, "S3 UploadPart %u s3://%s/%s: no ETag in the answer",
			       number, u->bucket, u->key);
		goto out;
	}
	u->parts++;
	u->fill = 0;
out:
	free(id);
	free(query);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

int s3_upload_write(struct s3_upload *u, const void *buf, size_t len, struct error *err)
{
	const char *p = buf;
	int rc = 0;

	if (u->done)
		return error_set(err, -EINVAL, "S3 upload s3://%s/%s: already finished", u->bucket,
				 u->key);
	while (len > 0) {
		size_t room = u->part_size - u->fill, n = len < room ? len : room;

		memcpy(u->buf + u->fill, p, n);
		u->fill += n;
		u->bytes += n;
		p += n;
		len -= n;
		if (u->fill < u->part_size)
			break;
		/* A full part, and more may come: the multipart upload starts here. */
		if (!u->upload_id)
			rc = upload_create(u, err);
		if (rc == 0)
			rc = upload_part(u, err);
		if (rc < 0) {
			s3_upload_abort(u);
			return rc;
		}
	}
	return 0;
}

static void xml_escape_into(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			buf_str(b, "&amp;");
			break;
		case '<':
			buf_str(b, "&lt;");
			break;
		case '>':
			buf_str(b, "&gt;");
			break;
		case '"':
			buf_str(b, "&quot;");
			break;
		case '\'':
			buf_str(b, "&apos;");
			break;
		default:
			buf_add(b, s, 1);
		}
	}
}

/*
 * CompleteMultipartUpload: attempts when S3 answers 200 with an <Error> (S3 documents that it may,
 * after the 200 was sent; the AWS SDKs retry it like a 5xx). 5xx and connection errors are
 * retried inside each attempt by http.c (idempotent). Completing the same upload with the same
 * part list again is safe: S3 keeps one object.
 */
#define COMPLETE_ATTEMPTS 3

/* One POST ?uploadId= with the part list; -EAGAIN when a 200 carried an <Error>. */
static int upload_complete_once(struct s3_upload *u, const struct s3_target *t, const char *query,
				const struct buf *body, struct s3_put_result *out,
				struct error *err)
{
	struct http_response resp = {0};
	int rc = aws_call_send(
	    u->aws,
	    &(struct aws_call){.service = "s3",
			       .method = "POST",
			       .base = t->base,
			       .path = t->path,
			       .query = query,
			       .headers =
				   (const char *const[]){"Content-Type: application/xml", NULL},
			       .body = body->data,
			       .body_len = body->len,
			       .idempotent = true,
			       .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
	    &resp, err);

	if (rc < 0) {
		rc =
		    error_wrap(err, rc, "S3 CompleteMultipartUpload s3://%s/%s", u->bucket, u->key);
		goto out;
	}
	if (!aws_ok(&resp) || !resp.body ||
	    aws_xml_find(resp.body, resp.body_len, "Error", &(const char *){NULL}, &(size_t){0}) ==
		0 ||
	    aws_xml_find(resp.body, resp.body_len, "CompleteMultipartUploadResult",
			 &(const char *){NULL}, &(size_t){0}) < 0) {
		rc = s3_fail("CompleteMultipartUpload", u->bucket, u->key, &resp, err);
		if (aws_ok(&resp))
			rc = -EAGAIN;
		goto out;
	}
	if (out)
		out->etag = aws_xml_get(resp.body, resp.body_len, "ETag");
out:
	http_response_free(&resp);
	return rc;
}

static int upload_complete(struct s3_upload *u, struct s3_put_result *out, struct error *err)
{
	struct s3_target t = {0};
	struct buf body = {0};
	char *id = NULL, *query = NULL, num[16];
	int rc;

	buf_str(&body,
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned int i = 0; i < u->parts; i++) {
		snprintf(num, sizeof(num), "%u", i + 1);
		buf_str(&body, "<Part><PartNumber>");
		buf_str(&body, num);
		buf_str(&body, "</PartNumber><ETag>");
		xml_escape_into(&body, u->etags[i]);
		buf_str(&body, "</ETag></Part>");
	}
	buf_str(&body, "</CompleteMultipartUpload>");
	rc = s3_target(u->aws, u->bucket, u->key, &t);
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (rc < 0 || body.failed || !id || asprintf(&query, "uploadId=%s", id) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int attempt = 0; attempt < COMPLETE_ATTEMPTS; attempt++) {
		if (attempt > 0)
			http_backoff(attempt - 1);
		rc = upload_complete_once(u, &t, query, &body, out, err);
		if (rc != -EAGAIN)
			break;
	}
	if (rc == -EAGAIN) /* still an <Error> after every attempt */
		rc = error_wrap(err, -EPROTO, "after %d attempts", COMPLETE_ATTEMPTS);
out:
	free(id);
	free(query);
	buf_free(&body);
	s3_target_free(&t);
	return rc;
}

int s3_upload_finish(struct s3_upload *u, struct s3_put_result *out, struct error *err)
{
	int rc;

	if (out)
		out->etag = NULL;
	if (u->done)
		return error_set(err, -EINVAL, "S3 upload s3://%s/%s: already finished", u->bucket,
				 u->key);
	if (!u->upload_id) {
		/* Everything fit in one part: one PutObject (meta lines are "x-amz-meta-k: v"). */
		struct s3_target t = {0};
		struct http_response resp = {0};

		rc = s3_target(u->aws, u->bucket, u->key, &t);
		if (rc < 0)
			return error_set(err, rc, "out of memory");
		rc = aws_call_send(u->aws,
			       &(struct aws_call){.service = "s3",
					      .method = "PUT",
					      .base = t.base,
					      .path = t.path,
					      .headers = (const char *const *)u->meta_lines,
					      .body = u->buf,
					      .body_len = u->fill,
					      .idempotent = true,
					      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
			       &resp, err);
		if (rc < 0)
			rc = error_wrap(err, rc, "S3 PutObject s3://%s/%s", u->bucket, u->key);
		else if (!aws_ok(&resp))
			rc = s3_fail("PutObject", u->bucket, u->key, &resp, err);
		else if (out)
			out->etag = http_response_header(&resp, "ETag");
		http_response_free(&resp);
		s3_target_free(&t);
		u->done = true;
		return rc;
	}
	rc = u->fill > 0 ? upload_part(u, err) : 0;
	if (rc == 0)
		rc = upload_complete(u, out, err);
	if (rc < 0) {
		s3_upload_abort(u);
		return rc;
	}
	/* Completed: nothing left for s3_upload_free to abort (S3 would answer NoSuchUpload). */
	free(u->upload_id);
	u->upload_id = NULL;
	u->done = true;
	return 0;
}

void s3_upload_abort(struct s3_upload *u)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	struct error ignored;
	char *id = NULL, *query = NULL;

	u->done = true;
	if (!u->upload_id)
		return;
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (id && s3_target(u->aws, u->bucket, u->key, &t) == 0 &&
	    asprintf(&query, "uploadId=%s", id) >= 0)
		/* DELETE is idempotent: retried on 5xx; its failure leaves nothing more to do. */
		aws_call_send(u->aws,
			  &(struct aws_call){.service = "s3",
					 .method = "DELETE",
					 .base = t.base,
					 .path = t.path,
					 .query = query,
					 .idempotent = true},
			  &resp, &ignored);
	else
		query = NULL;
	free(u->upload_id);
	u->upload_id = NULL;
	free(id);
	free(query);
	http_response_free(&resp);
	s3_target_free(&t);
}

void s3_upload_free(struct s3_upload *u)
{
	if (!u)
		return;
	if (u->upload_id) /* never finished: no upload may stay behind */
		s3_upload_abort(u);
	free(u->bucket);
	free(u->key);
	lines_free(u->meta_lines);
	free(u->buf);
	for (unsigned int i = 0; u->etags && i < u->parts; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->upload_id);
	free(u);
}

/* ---- S3 reads, lists, deletes ---- */

int s3_get_object(struct aws *aws, const char *bucket, const char *key, uint64_t offset,
		  uint64_t length, http_write_fn write, void *ctx, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char range[80];
	const char *headers[] = {range, NULL};
	int rc = s3_target(aws, bucket, key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	if (length)
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)offset,
			 (unsigned long long)(offset + length - 1));
	else
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)offset);
	rc = aws_call_send(aws,
		       &(struct aws_call){.service = "s3",
				      .method = "GET",
				      .base = t.base,
				      .path = t.path,
				      .headers = length || offset ? headers : NULL,
				      .write = write,
				      .write_ctx = ctx,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 GetObject s3://%s/%s", bucket, key);
	else if (!aws_ok(&resp))
		rc = s3_fail("GetObject", bucket, key, &resp, err);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

static time_t parse_iso8601(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	return rest ? timegm(&tm) : 0;
}

static time_t parse_http_date(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%a, %d %b %Y %H:%M:%S", &tm) : NULL;

	return rest ? timegm(&tm) : 0;
}

void s3_object_info_free(struct s3_object_info *info)
{
	free(info->etag);
	for (size_t i = 0; i < info->n_meta; i++) {
		free((char *)info->meta[i].name);
		free((char *)info->meta[i].value);
	}
	free(info->meta);
	memset(info, 0, sizeof(*info));
}

const char *s3_object_info_meta(const struct s3_object_info *info, const char *name)
{
	for (size_t i = 0; i < info->n_meta; i++)
		if (strcasecmp(info->meta[i].name, name) == 0)
			return info->meta[i].value;
	return NULL;
}

/* The text between start and end, trimmed of blanks and CR. */
static char *span_trim(const char *start, const char *end)
{
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(start, (size_t)(end - start));
}

/* x-amz-meta-* response headers into info->meta (names lower case). */
static int collect_meta(const struct http_response *resp, struct s3_object_info *info)
{
	static const char prefix[] = "x-amz-meta-";
	const size_t plen = sizeof(prefix) - 1;
	size_t n = 0;

	for (const char *l = resp->headers; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncasecmp(l, prefix, plen) == 0;
	info->meta = calloc(n + 1, sizeof(*info->meta));
	if (!info->meta)
		return -ENOMEM;
	for (const char *l = resp->headers; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *eol = strchr(l, '\n'), *colon;
		char *name, *value;

		if (!eol)
			eol = l + strlen(l);
		colon = memchr(l, ':', (size_t)(eol - l));
		if (strncasecmp(l, prefix, plen) != 0 || !colon || info->n_meta >= n)
			continue;
		name = strndup(l + plen, (size_t)(colon - l) - plen);
		value = span_trim(colon + 1, eol);
		if (!name || !value) {
			free(name);
			free(value);
			return -ENOMEM;
		}
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		info->meta[info->n_meta].name = name;
		info->meta[info->n_meta].value = value;
		info->n_meta++;
	}
	return 0;
}

int s3_head_object(struct aws *aws, const char *bucket, const char *key, struct s3_object_info *out,
		   struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *length = NULL, *modified = NULL;
	int rc = s3_target(aws, bucket, key, &t);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = aws_call_send(
	    aws, &(struct aws_call){.service = "s3", .method = "HEAD", .base = t.base, .path = t.path},
	    &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 HeadObject s3://%s/%s", bucket, key);
		goto out;
	}
	if (!aws_ok(&resp)) {
		rc = s3_fail("HeadObject", bucket, key, &resp, err);
		goto out;
	}
	length = http_response_header(&resp, "Content-Length");
	modified = http_response_header(&resp, "Last-Modified");
	out->etag = http_response_header(&resp, "ETag");
	out->size = length ? strtoull(length, NULL, 10) : 0;
	out->last_modified = parse_http_date(modified);
	if (collect_meta(&resp, out) < 0)
		rc = error_set(err, -ENOMEM, "out of memory");
out:
	if (rc < 0)
		s3_object_info_free(out);
	free(length);
	free(modified);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* One <Contents> block of a ListObjectsV2 page to the callback. */
static int list_entry(const char *xml, size_t len, s3_list_fn fn, void *ctx, bool *bad)
{
	char *key = aws_xml_get(xml, len, "Key"), *size = aws_xml_get(xml, len, "Size");
	char *modified = aws_xml_get(xml, len, "LastModified"), *etag = aws_xml_get(xml, len, "ETag");
	int rc = 0;

	*bad = !key || !size;
	if (!*bad)
		rc = fn(ctx, &(struct s3_list_entry){.key = key,
						     .size = strtoull(size, NULL, 10),
						     .last_modified = parse_iso8601(modified),
						     .etag = etag ? etag : ""});
	free(key);
	free(size);
	free(modified);
	free(etag);
	return rc;
}

int s3_list_objects(struct aws *aws, const char *bucket, const char *prefix, s3_list_fn fn,
		    void *ctx, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *token = NULL, *query = NULL, *enc_prefix = NULL, *enc_token = NULL, *truncated = NULL;
	int rc = s3_target(aws, bucket, NULL, &t);

	enc_prefix = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
	if (rc < 0 || !enc_prefix) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned int page = 0;; page++) {
		const char *block, *p;
		size_t block_len;
		bool bad = false;

		free(query);
		free(enc_token);
		enc_token = token ? aws_uri_encode(token, strlen(token), false) : NULL;
		if (asprintf(&query, "list-type=2&prefix=%s%s%s", enc_prefix,
			     enc_token ? "&continuation-token=" : "",
			     enc_token ? enc_token : "") < 0) {
			query = NULL;
			rc = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		http_response_free(&resp);
		rc = aws_call_send(aws,
			       &(struct aws_call){.service = "s3",
					      .method = "GET",
					      .base = t.base,
					      .path = t.path,
					      .query = query},
			       &resp, err);
		if (rc < 0) {
			rc = error_wrap(err, rc, "S3 ListObjectsV2 s3://%s/%s", bucket,
					prefix ? prefix : "");
			goto out;
		}
		if (!aws_ok(&resp) || !resp.body) {
			rc = s3_fail("ListObjectsV2", bucket, prefix, &resp, err);
			goto out;
		}
		for (p = resp.body; aws_xml_find(p, resp.body_len - (size_t)(p - resp.body),
						 "Contents", &block, &block_len) == 0;
		     p = block + block_len) {
			rc = list_entry(block, block_len, fn, ctx, &bad);
			if (bad)
				rc = error_set(err, -EPROTO,
					       "S3 ListObjectsV2 s3://%s: an entry "
					       "without Key or Size",
					       bucket);
			if (rc != 0)
				goto out;
		}
		free(truncated);
		truncated = aws_xml_get(resp.body, resp.body_len, "IsTruncated");
		free(token);
		token = aws_xml_get(resp.body, resp.body_len, "NextContinuationToken");
		if (!truncated || strcmp(truncated, "true") != 0)
			break;
		if (!token || page > 1000000) {
			rc = error_set(err, -EPROTO,
				       "S3 ListObjectsV2 s3://%s: truncated without "
				       "a continuation token",
				       bucket);
			goto out;
		}
	}
out:
	free(token);
	free(query);
	free(enc_prefix);
	free(enc_token);
	free(truncated);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

int s3_delete_object(struct aws *aws, const char *bucket, const char *key, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	int rc = s3_target(aws, bucket, key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = aws_call_send(aws,
		       &(struct aws_call){.service = "s3",
				      .method = "DELETE",
				      .base = t.base,
				      .path = t.path,
				      .idempotent = true},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 DeleteObject s3://%s/%s", bucket, key);
	else if (!aws_ok(&resp))
		rc = s3_fail("DeleteObject", bucket, key, &resp, err);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* One DeleteObjects request (≤ 1000 keys). S3 requires Content-MD5 (or an x-amz-checksum-*)
 * on it [S3 API DeleteObjects]; Content-MD5 works everywhere. */
static int delete_batch(struct aws *aws, const struct s3_target *t, const char *bucket,
			const char *const *keys, size_t n, struct error *err)
{
	struct http_response resp = {0};
	struct buf body = {0};
	unsigned char md5[16];
	unsigned int md5_len = 0;
	char *b64 = NULL, md5_h[64];
	const char *headers[] = {md5_h, "Content-Type: application/xml", NULL};
	const char *block;
	size_t block_len;
	int rc;

	buf_str(&body,
		"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (size_t i = 0; i < n; i++) {
		buf_str(&body, "<Object><Key>");
		xml_escape_into(&body, keys[i]);
		buf_str(&body, "</Key></Object>");
	}
	buf_str(&body, "</Delete>");
	if (body.failed || !EVP_Digest(body.data, body.len, md5, &md5_len, EVP_md5(), NULL) ||
	    !(b64 = b64_encode(md5, sizeof(md5)))) {
		rc = error_set(err, -ENOMEM, "S3 DeleteObjects: cannot build the request");
		goto out;
	}
	snprintf(md5_h, sizeof(md5_h), "Content-MD5: %s", b64);
	rc = aws_call_send(aws,
		       &(struct aws_call){.service = "s3",
				      .method = "POST",
				      .base = t->base,
				      .path = t->path,
				      .query = "delete=",
				      .headers = headers,
				      .body = body.data,
				      .body_len = body.len,
				      .idempotent = true},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 DeleteObjects s3://%s", bucket);
		goto out;
	}
	if (!aws_ok(&resp) || !resp.body) {
		rc = s3_fail("DeleteObjects", bucket, NULL, &resp, err);
		goto out;
	}
	if (aws_xml_find(resp.body, resp.body_len, "Error", &block, &block_len) == 0) {
		char *key = aws_xml_get(block, block_len, "Key"),
		     *code = aws_xml_get(block, block_len, "Code");
		char *msg = aws_xml_get(block, block_len, "Message");

		rc = error_set(err, -EPROTO, "S3 DeleteObjects s3://%s/%s: %s: %.300s", bucket,
			       key ? key : "", code ? code : "(no code)",
			       msg ? msg : "(no message)");
		free(key);
		free(code);
		free(msg);
	}
out:
	free(b64);
	buf_free(&body);
	http_response_free(&resp);
	return rc;
}

int s3_delete_objects(struct aws *aws, const char *bucket, const char *const *keys, size_t n,
		      struct error *err)
{
	struct s3_target t = {0};
	int rc = s3_target(aws, bucket, NULL, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i += 1000)
		rc = delete_batch(aws, &t, bucket, keys + i, n - i < 1000 ? n - i : 1000, err);
	s3_target_free(&t);
	return rc;
}

int s3_count_multipart_uploads(struct aws *aws, const char *bucket, const char *prefix,
			       size_t *count, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *query = NULL,
	     *enc = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
	const char *block, *p;
	size_t block_len;
	int rc = s3_target(aws, bucket, NULL, &t);

	*count = 0;
	if (rc < 0 || !enc || asprintf(&query, "prefix=%s&uploads=", enc) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = aws_call_send(
	    aws,
	    &(struct aws_call){
		.service = "s3", .method = "GET", .base = t.base, .path = t.path, .query = query},
	    &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 ListMultipartUploads s3://%s", bucket);
		goto out;
	}
	if (!aws_ok(&resp) || !resp.body) {
		rc = s3_fail("ListMultipartUploads", bucket, prefix, &resp, err);
		goto out;
	}
	for (p = resp.body; aws_xml_find(p, resp.body_len - (size_t)(p - resp.body), "Upload",
					 &block, &block_len) == 0;
	     p = block + block_len)
		(*count)++;
out:
	free(query);
	free(enc);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}
