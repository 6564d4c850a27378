#include "backup.h"

#include "b64.h"
#include "buf.h"
#include "clock.h"
#include "fs.h"
#include "http.h"
#include "pgzip.h"
#include "pipeline.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const BACKUP_OPTION_NAMES[] = {
    "bucket",
    "prefix",
    "cluster",
    "kind",
    "encryption",
    "kms_key_id",
    "key_file",
    "key_name",
    "key_namespace",
    "region",
    "endpoint_url",
    "kms_endpoint_url",
    "ca_bundle",
    "access_key",
    "aws_access_key_id",
    "secret_key",
    "aws_secret_access_key",
    "session_token",
    "retention_days",
    "keep_min",
    "healthcheck_url",
    "part_size_mb",
    "context",
    "timeout",
    NULL,
};

/* ---- options ------------------------------------------------------------------------------ */

static bool known_option(const char *name)
{
	for (const char *const *n = BACKUP_OPTION_NAMES; *n; n++)
		if (strcmp(*n, name) == 0)
			return true;
	return false;
}

/* A string option: NULL when absent or null; -EINVAL (err set) when not a string. */
static int opt_str(const json_t *obj, const char *where, const char *name, const char **out,
		   struct error *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return error_set(err, -EINVAL, "%s%s: must be a string", where, name);
	*out = json_string_value(v);
	if (**out == '\0')
		*out = NULL;
	return 0;
}

/* An integer option, given as a number or a string of digits; def when absent. */
static int opt_long(const json_t *obj, const char *where, const char *name, long def, long *out,
		    struct error *err)
{
	const json_t *v = json_object_get(obj, name);
	char *end = NULL;

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = (long)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && *json_string_value(v)) {
		errno = 0;
		*out = strtol(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0')
			return 0;
	}
	return error_set(err, -EINVAL, "%s%s: must be an integer", where, name);
}

static int check_unknown(const json_t *obj, const char *where, struct error *err)
{
	const char *name;
	const json_t *v;

	json_object_foreach((json_t *)obj, name, v)
	{
		(void)v;
		if (!known_option(name))
			return error_set(err, -EINVAL, "%s%s: unknown option", where, name);
	}
	return 0;
}

static int parse_strings(const json_t *obj, const char *where, struct backup_config *c,
			 const char **kind, const char **encryption, struct error *err)
{
	const char *access_alias, *secret_alias;
	int rc;

	if ((rc = opt_str(obj, where, "bucket", &c->bucket, err)) < 0 ||
	    (rc = opt_str(obj, where, "prefix", &c->prefix, err)) < 0 ||
	    (rc = opt_str(obj, where, "cluster", &c->cluster, err)) < 0 ||
	    (rc = opt_str(obj, where, "kind", kind, err)) < 0 ||
	    (rc = opt_str(obj, where, "encryption", encryption, err)) < 0 ||
	    (rc = opt_str(obj, where, "kms_key_id", &c->kms_key_id, err)) < 0 ||
	    (rc = opt_str(obj, where, "key_file", &c->key_file, err)) < 0 ||
	    (rc = opt_str(obj, where, "key_name", &c->key_name, err)) < 0 ||
	    (rc = opt_str(obj, where, "key_namespace", &c->key_namespace, err)) < 0 ||
	    (rc = opt_str(obj, where, "region", &c->aws.region, err)) < 0 ||
	    (rc = opt_str(obj, where, "endpoint_url", &c->aws.endpoint_url, err)) < 0 ||
	    (rc = opt_str(obj, where, "kms_endpoint_url", &c->aws.kms_endpoint_url, err)) < 0 ||
	    (rc = opt_str(obj, where, "ca_bundle", &c->aws.ca_file, err)) < 0 ||
	    (rc = opt_str(obj, where, "access_key", &c->aws.access_key_id, err)) < 0 ||
	    (rc = opt_str(obj, where, "aws_access_key_id", &access_alias, err)) < 0 ||
	    (rc = opt_str(obj, where, "secret_key", &c->aws.secret_access_key, err)) < 0 ||
	    (rc = opt_str(obj, where, "aws_secret_access_key", &secret_alias, err)) < 0 ||
	    (rc = opt_str(obj, where, "session_token", &c->aws.session_token, err)) < 0 ||
	    (rc = opt_str(obj, where, "healthcheck_url", &c->healthcheck_url, err)) < 0)
		return rc;
	if (!c->aws.access_key_id)
		c->aws.access_key_id = access_alias;
	if (!c->aws.secret_access_key)
		c->aws.secret_access_key = secret_alias;
	return 0;
}

static int parse_numbers(const json_t *obj, const char *where, struct backup_config *c,
			 struct error *err)
{
	long part_mb, timeout;
	int rc;

	if ((rc = opt_long(obj, where, "retention_days", -1, &c->retention_days, err)) < 0 ||
	    (rc = opt_long(obj, where, "keep_min", 1, &c->keep_min, err)) < 0 ||
	    (rc = opt_long(obj, where, "part_size_mb", 8, &part_mb, err)) < 0 ||
	    (rc = opt_long(obj, where, "timeout", 60, &timeout, err)) < 0)
		return rc;
	if (c->keep_min < 1)
		return error_set(err, -EINVAL,
				 "%skeep_min: must be at least 1 (the newest backup "
				 "is never deleted)",
				 where);
	if (c->retention_days < -1)
		return error_set(err, -EINVAL, "%sretention_days: must not be negative", where);
	if (part_mb < 5 || part_mb > 512)
		return error_set(err, -EINVAL, "%spart_size_mb: must be between 5 and 512", where);
	if (timeout < 1 || timeout > 86400)
		return error_set(err, -EINVAL, "%stimeout: must be between 1 and 86400", where);
	c->part_size = (size_t)part_mb * 1024u * 1024u;
	c->aws.timeout_ms = timeout * 1000;
	return 0;
}

static int check_context(const json_t *ctx, const char *where, struct error *err)
{
	const char *name;
	const json_t *v;

	if (!ctx || json_is_null(ctx))
		return 0;
	if (!json_is_object(ctx))
		return error_set(err, -EINVAL, "%scontext: must be a dict of strings", where);
	json_object_foreach((json_t *)ctx, name, v)
	{
		if (!json_is_string(v))
			return error_set(err, -EINVAL, "%scontext.%s: must be a string", where,
					 name);
		if (strncmp(name, "aws-crypto-", 11) == 0)
			return error_set(err, -EINVAL,
					 "%scontext.%s: the aws-crypto- prefix is reserved", where,
					 name);
	}
	return 0;
}

int backup_config_parse(const json_t *obj, const char *where, enum backup_use use,
			struct backup_config *c, struct error *err)
{
	const char *kind = NULL, *encryption = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(obj))
		return error_set(err, -EINVAL, "%s: must be a dict", *where ? where : "options");
	if ((*where && (rc = check_unknown(obj, where, err)) < 0) ||
	    (rc = parse_strings(obj, where, c, &kind, &encryption, err)) < 0 ||
	    (rc = parse_numbers(obj, where, c, err)) < 0)
		return rc;
	c->context = json_object_get(obj, "context");
	if ((rc = check_context(c->context, where, err)) < 0)
		return rc;
	if (!c->bucket)
		return error_set(err, -EINVAL, "%sbucket: required", where);
	if (kind && backup_kind_parse(kind, &c->kind) < 0)
		return error_set(err, -EINVAL,
				 "%skind: must be etcd-snapshot, ca or file, not '%s'", where,
				 kind);
	if (!kind)
		c->kind = *where ? BACKUP_KIND_ETCD : BACKUP_KIND_FILE;
	c->prefix = c->prefix ? c->prefix : "";
	c->cluster = c->cluster ? c->cluster : "default";
	c->key_name = c->key_name ? c->key_name : "etcd-ansible-backup";
	c->key_namespace = c->key_namespace ? c->key_namespace : "etcd-ansible";
	if (encryption && strcmp(encryption, "raw-aes") != 0 && strcmp(encryption, "aws-kms") != 0)
		return error_set(err, -EINVAL, "%sencryption: must be aws-kms or raw-aes, not '%s'",
				 where, encryption);
	c->raw_aes = encryption && strcmp(encryption, "raw-aes") == 0;
	if (use != BACKUP_USE_LIST && c->raw_aes && !c->key_file)
		return error_set(err, -EINVAL, "%skey_file: required with encryption=raw-aes",
				 where);
	if (use == BACKUP_USE_UPLOAD && !c->raw_aes && !c->kms_key_id)
		return error_set(err, -EINVAL, "%skms_key_id: required with encryption=aws-kms",
				 where);
	if (strchr(c->cluster, '/'))
		return error_set(err, -EINVAL, "%scluster: must not contain '/'", where);
	return 0;
}

/* ---- session ------------------------------------------------------------------------------ */

/* The raw AES key file: 32 raw bytes, or base64 text of 32 bytes (whitespace around it ignored). */
static int load_raw_key(const char *path, uint8_t key[ENVELOPE_KEY_LEN], struct error *err)
{
	unsigned char *decoded = NULL;
	size_t len = 0, dlen = 0;
	char *text = NULL, *start, *end;
	int rc;

	rc = fs_read_file(path, 1024, &text, &len, err);
	if (rc < 0)
		return error_wrap(err, rc, "key_file");
	if (len == ENVELOPE_KEY_LEN) {
		memcpy(key, text, ENVELOPE_KEY_LEN);
		goto out;
	}
	for (start = text; *start == ' ' || *start == '\n' || *start == '\r' || *start == '\t';)
		start++;
	for (end = start + strlen(start); end > start && (end[-1] == '\n' || end[-1] == ' ' ||
							  end[-1] == '\r' || end[-1] == '\t');)
		*--end = '\0';
	rc = b64_decode(start, &decoded, &dlen, err);
	if (rc < 0 || dlen != ENVELOPE_KEY_LEN) {
		rc = error_set(
		    err, -EINVAL,
		    "key_file: %s must hold 32 bytes, raw or base64 (openssl rand -base64 "
		    "32)",
		    path);
		goto out;
	}
	memcpy(key, decoded, ENVELOPE_KEY_LEN);
out:
	if (decoded)
		OPENSSL_cleanse(decoded, dlen);
	free(decoded);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc < 0 ? rc : 0;
}

int backup_session_open(struct backup_session *s, const struct backup_config *cfg,
			enum backup_use use, struct error *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	if (use != BACKUP_USE_LIST && cfg->raw_aes) {
		rc = load_raw_key(cfg->key_file, s->raw_key, err);
		if (rc < 0)
			return rc;
		s->have_raw_key = true;
	}
	s->aws = aws_new(&cfg->aws, err);
	if (!s->aws) {
		backup_session_close(s);
		return -EINVAL;
	}
	return 0;
}

void backup_session_close(struct backup_session *s)
{
	aws_free(s->aws);
	s->aws = NULL;
	OPENSSL_cleanse(s->raw_key, sizeof(s->raw_key));
	s->have_raw_key = false;
}

/* ---- encryption context ------------------------------------------------------------------- */

void backup_context_add(struct backup_context *c, const char *key, const char *value)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->keys[i], key) == 0) {
			c->values[i] = value;
			return;
		}
	}
	if (c->n < BACKUP_CONTEXT_MAX) {
		c->keys[c->n] = key;
		c->values[c->n++] = value;
	}
}

int backup_context_build(const struct backup_config *cfg, time_t now, struct backup_context *c,
			 struct error *err)
{
	const char *name;
	struct tm tm;
	json_t *v;

	memset(c, 0, sizeof(*c));
	if (!gmtime_r(&now, &tm) ||
	    !strftime(c->created, sizeof(c->created), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return error_set(err, -EINVAL, "cannot format the time");
	backup_context_add(c, "cluster", cfg->cluster);
	backup_context_add(c, "kind", backup_kind_name(cfg->kind));
	backup_context_add(c, "created", c->created);
	json_object_foreach((json_t *)cfg->context, name, v)
	{
		if (c->n >= BACKUP_CONTEXT_MAX - 4)
			return error_set(err, -E2BIG, "context: at most %d pairs",
					 BACKUP_CONTEXT_MAX - 7);
		backup_context_add(c, name, json_string_value(v));
	}
	return 0;
}

json_t *backup_context_json(const struct backup_context *c)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < c->n; i++)
		json_object_set_new(o, c->keys[i], json_string(c->values[i]));
	return o;
}

/* ---- upload: a queue between the encrypting thread and the uploading thread ---------------- */

struct backup_upload {
	struct backup_session *s;
	char *key;
	struct envelope_context ctx; /* a view of the caller's backup_context */
	uint8_t data_key[ENVELOPE_KEY_LEN];
	struct envelope_edk edk;
	bool edk_from_kms;
	bool skip_hash; /* the caller hashes the plaintext (backup_upload_skip_plaintext_hash) */
	char *kms_key_arn;
	struct envelope_writer *writer;
	struct s3_upload *s3;
	struct pipe_stage *compress; /* plaintext chunks -> envelope_writer (gzip + AES-GCM) */
	struct pipe_stage *upload;   /* message chunks -> s3_upload */
	bool finished;
	struct timespec start;
};

/* The upload stage: message bytes into the S3 part buffer (a part goes out when full). */
static int upload_chunk(void *ctx, const void *data, size_t len, struct error *err)
{
	return s3_upload_write(ctx, data, len, err);
}

/* The envelope writer's sink, on the compress thread: into the upload stage's queue. */
static int queue_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct backup_upload *u = ctx;

	return pipe_stage_write(u->upload, buf, len, err);
}

/* The compress stage: plaintext into gzip + encryption (whose sink feeds the upload stage). */
static int compress_chunk(void *ctx, const void *data, size_t len, struct error *err)
{
	return envelope_writer_write(ctx, data, len, err);
}

/* Stops both threads (the upload first: the compress thread may wait on its queue). */
static void stop_stages(struct backup_upload *u)
{
	pipe_stage_cancel(u->upload);
	pipe_stage_cancel(u->compress);
	pipe_stage_free(u->compress);
	pipe_stage_free(u->upload);
	u->compress = u->upload = NULL;
}

/* Drops the S3 upload, the writer and the queues' contents (not the key material). */
static void teardown_stream(struct backup_upload *u)
{
	stop_stages(u);
	if (u->s3) {
		if (!u->finished)
			s3_upload_abort(u->s3);
		s3_upload_free(u->s3);
		u->s3 = NULL;
	}
	envelope_writer_free(u->writer);
	u->writer = NULL;
}

static int start_stream(struct backup_upload *u, struct error *err)
{
	const struct backup_config *c = &u->s->cfg;
	const char *kind = backup_kind_name(c->kind);
	const struct s3_metadata meta[] = {
	    {.name = "etcd-ansible-kind", .value = kind},
	    {.name = "etcd-ansible-cluster", .value = c->cluster},
	};

	u->s3 = s3_upload_new(u->s->aws, c->bucket, u->key, meta, 2, c->part_size, err);
	if (!u->s3)
		return -EIO;
	u->writer =
	    envelope_writer_new(u->data_key, &u->edk, 1, &u->ctx, 0, true, queue_sink, u, err);
	if (!u->writer)
		return -EINVAL;
	if (u->skip_hash)
		envelope_writer_skip_hash(u->writer);
	/* More than 2 cores: deflate on several (pgzip.h); else zlib on the compress thread. */
	if (envelope_writer_set_deflate_workers(u->writer, pgzip_workers_for_this_machine(), err) <
	    0)
		return -ENOMEM;
	u->upload = pipe_stage_start(BACKUP_QUEUE_CHUNKS, BACKUP_CHUNK, upload_chunk, u->s3, err);
	if (!u->upload)
		return -EAGAIN;
	u->compress =
	    pipe_stage_start(BACKUP_PLAIN_CHUNKS, BACKUP_CHUNK, compress_chunk, u->writer, err);
	return u->compress ? 0 : -EAGAIN;
}

static int make_data_key(struct backup_upload *u, struct error *err)
{
	struct backup_session *s = u->s;
	struct kms_data_key dk = {0};
	int rc;

	if (s->cfg.raw_aes) {
		if (RAND_bytes(u->data_key, ENVELOPE_KEY_LEN) != 1)
			return error_set(err, -EIO, "cannot draw a random data key");
		return envelope_raw_aes_wrap(s->raw_key, s->cfg.key_namespace, s->cfg.key_name,
					     u->data_key, &u->ctx, &u->edk, err);
	}
	rc = kms_generate_data_key(
	    s->aws, s->cfg.kms_key_id,
	    &(struct kms_context){.keys = u->ctx.keys, .values = u->ctx.values, .n = u->ctx.n}, &dk,
	    err);
	if (rc < 0)
		return rc;
	memcpy(u->data_key, dk.plaintext, ENVELOPE_KEY_LEN);
	u->edk.provider_id = strdup(ENVELOPE_PROVIDER_KMS);
	u->edk.provider_info = (uint8_t *)strdup(dk.key_arn);
	u->edk.info_len = strlen(dk.key_arn);
	u->edk.ciphertext = dk.ciphertext;
	u->edk.ct_len = dk.ciphertext_len;
	u->kms_key_arn = strdup(dk.key_arn);
	dk.ciphertext = NULL;
	u->edk_from_kms = true;
	kms_data_key_free(&dk);
	if (!u->edk.provider_id || !u->edk.provider_info || !u->kms_key_arn)
		return error_set(err, -ENOMEM, "out of memory");
	return 0;
}

struct backup_upload *backup_upload_new(struct backup_session *s, const char *key,
					const struct backup_context *ctx, struct error *err)
{
	struct backup_upload *u = calloc(1, sizeof(*u));
	int rc = -ENOMEM;

	if (!u) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	u->s = s;
	u->ctx = (struct envelope_context){.keys = ctx->keys, .values = ctx->values, .n = ctx->n};
	clock_gettime(CLOCK_MONOTONIC, &u->start);
	u->key = strdup(key);
	if (!u->key) {
		error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = make_data_key(u, err);
	if (rc == 0)
		rc = start_stream(u, err);
	if (rc == 0)
		return u;
fail:
	if (rc == -ENOMEM && !err->msg[0])
		error_set(err, -ENOMEM, "out of memory");
	backup_upload_free(u);
	return NULL;
}

int backup_upload_write(struct backup_upload *u, const void *buf, size_t len, struct error *err)
{
	if (!u->compress)
		return error_set(err, -EINVAL, "backup upload: not running");
	return pipe_stage_write(u->compress, buf, len, err);
}

void backup_upload_skip_plaintext_hash(struct backup_upload *u)
{
	u->skip_hash = true;
	if (u->writer)
		envelope_writer_skip_hash(u->writer);
}

int backup_upload_reset(struct backup_upload *u, struct error *err)
{
	teardown_stream(u);
	return start_stream(u, err);
}

int backup_upload_finish(struct backup_upload *u, struct backup_upload_result *out,
			 struct error *err)
{
	struct s3_put_result put = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!u->compress || !u->upload)
		return error_set(err, -EINVAL, "backup upload: not running");
	/* In order: every plaintext byte through deflate, the last frame, every part out. */
	rc = pipe_stage_finish(u->compress, err);
	if (rc == 0)
		rc = envelope_writer_finish(u->writer, err);
	if (rc == 0)
		rc = pipe_stage_finish(u->upload, err);
	if (rc == 0)
		rc = s3_upload_finish(u->s3, &put, err);
	if (rc < 0) {
		stop_stages(u);
		return rc;
	}
	u->finished = true;
	envelope_writer_stats(u->writer, &out->stats);
	out->parts = s3_upload_parts(u->s3);
	out->etag = put.etag;
	out->kms_key_arn = u->kms_key_arn ? strdup(u->kms_key_arn) : NULL;
	out->seconds = seconds_since(&u->start);
	return 0;
}

void backup_upload_free(struct backup_upload *u)
{
	if (!u)
		return;
	teardown_stream(u);
	OPENSSL_cleanse(u->data_key, sizeof(u->data_key));
	if (u->edk_from_kms) {
		free(u->edk.provider_id);
		free(u->edk.provider_info);
		free(u->edk.ciphertext);
	} else {
		envelope_edk_release(&u->edk);
	}
	free(u->kms_key_arn);
	free(u->key);
	free(u);
}

void backup_upload_result_free(struct backup_upload_result *r)
{
	free(r->etag);
	free(r->kms_key_arn);
	memset(r, 0, sizeof(*r));
}

/* ---- listing, headers, retention ---------------------------------------------------------- */

struct list_ctx {
	const struct backup_config *cfg;
	struct backup_object *objects;
	size_t n, cap;
};

static int collect_object(void *ctx, const struct s3_list_entry *e)
{
	struct list_ctx *l = ctx;

	if (!backup_key_matches(e->key, l->cfg->prefix, l->cfg->kind, l->cfg->cluster))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct backup_object *grown = reallocarray(l->objects, cap, sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		l->objects = grown;
		l->cap = cap;
	}
	l->objects[l->n] = (struct backup_object){
	    .key = strdup(e->key), .size = e->size, .last_modified = e->last_modified};
	if (!l->objects[l->n].key)
		return -ENOMEM;
	l->n++;
	return 0;
}

int backup_list(struct backup_session *s, struct backup_object **objects, size_t *n,
		struct error *err)
{
	struct list_ctx l = {.cfg = &s->cfg};
	char *prefix = backup_key_prefix(s->cfg.prefix, s->cfg.kind, s->cfg.cluster);
	int rc;

	*objects = NULL;
	*n = 0;
	if (!prefix)
		return error_set(err, -ENOMEM, "out of memory");
	rc = s3_list_objects(s->aws, s->cfg.bucket, prefix, collect_object, &l, err);
	if (rc == -ENOMEM)
		error_set(err, rc, "out of memory");
	free(prefix);
	if (rc < 0) {
		backup_objects_free(l.objects, l.n);
		return rc;
	}
	backup_objects_sort(l.objects, l.n);
	*objects = l.objects;
	*n = l.n;
	return 0;
}

struct peek_buf {
	unsigned char *data;
	size_t len, cap;
};

static long peek_write(void *ctx, const char *buf, size_t len)
{
	struct peek_buf *p = ctx;

	if (len > p->cap - p->len)
		return -1;
	memcpy(p->data + p->len, buf, len);
	p->len += len;
	return (long)len;
}

int backup_read_header(struct backup_session *s, const char *key, struct envelope_header *hdr,
		       struct error *err)
{
	struct peek_buf p = {0};
	size_t want = BACKUP_HEADER_PEEK, consumed;
	int rc;

	for (;;) {
		free(p.data);
		p = (struct peek_buf){.data = malloc(want), .cap = want};
		if (!p.data)
			return error_set(err, -ENOMEM, "out of memory");
		rc = s3_get_object(s->aws, s->cfg.bucket, key, 0, want, peek_write, &p, err);
		if (rc == 0)
			rc = envelope_header_parse(p.data, p.len, hdr, &consumed, err);
		/* More header than we read, and the object has more: read more of it. */
		if (rc != -EAGAIN || p.len < want || want >= ENVELOPE_HEADER_MAX)
			break;
		want *= 4;
	}
	if (rc == -EAGAIN)
		rc = error_set(err, -EBADMSG, "s3://%s/%s: not a backup (header cut short)",
			       s->cfg.bucket, key);
	else if (rc < 0 && rc != -ENOENT)
		error_wrap(err, rc, "s3://%s/%s", s->cfg.bucket, key);
	free(p.data);
	return rc;
}

int backup_prune(struct backup_session *s, time_t now, bool check_mode, json_t **deleted,
		 size_t *kept, struct error *err)
{
	struct backup_object *objects = NULL;
	const char **keys = NULL;
	size_t n = 0, n_keys = 0;
	int rc;

	*deleted = json_array();
	if (!*deleted)
		return error_set(err, -ENOMEM, "out of memory");
	rc = backup_list(s, &objects, &n, err);
	if (rc < 0 || s->cfg.retention_days < 0 ||
	    backup_retention_select(objects, n, now, s->cfg.retention_days, s->cfg.keep_min) == 0)
		goto out;
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!objects[i].delete)
			continue;
		keys[n_keys++] = objects[i].key;
		json_array_append_new(*deleted, json_string(objects[i].key));
	}
	if (!check_mode)
		rc = s3_delete_objects(s->aws, s->cfg.bucket, keys, n_keys, err);
out:
	if (kept)
		*kept = n - n_keys;
	free(keys);
	backup_objects_free(objects, n);
	if (rc < 0) {
		json_decref(*deleted);
		*deleted = NULL;
	}
	return rc;
}

/* ---- download ----------------------------------------------------------------------------- */

struct fetch_ctx {
	struct backup_session *s;
	struct envelope_reader *reader;
	struct error err; /* the reader's failure, kept apart from the transfer's */
	int rc;
	uint64_t bytes;
};

/* The data key from the header's EDKs: KMS Decrypt for aws-kms ones, the raw key for ours. */
static int fetch_key(void *ctx, const struct envelope_header *hdr,
		     uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err)
{
	struct backup_session *s = ctx;
	int rc = -ENOKEY;

	if (s->have_raw_key) {
		rc = envelope_raw_aes_unwrap(s->raw_key, s->cfg.key_namespace, s->cfg.key_name, hdr,
					     data_key_out, err);
		if (rc != -ENOKEY)
			return rc;
	}
	for (size_t i = 0; i < hdr->n_edks; i++) {
		const struct envelope_edk *e = &hdr->edks[i];
		struct kms_plaintext pt = {0};
		char *arn;

		if (strcmp(e->provider_id, ENVELOPE_PROVIDER_KMS) != 0)
			continue;
		arn = strndup((const char *)e->provider_info, e->info_len);
		if (!arn)
			return error_set(err, -ENOMEM, "out of memory");
		rc = kms_decrypt(s->aws, arn, e->ciphertext, e->ct_len,
				 &(struct kms_context){.keys = hdr->context.keys,
						       .values = hdr->context.values,
						       .n = hdr->context.n},
				 &pt, err);
		free(arn);
		if (rc == 0 && pt.len != ENVELOPE_KEY_LEN)
			rc =
			    error_set(err, -EACCES, "KMS returned a data key of %zu bytes", pt.len);
		if (rc == 0)
			memcpy(data_key_out, pt.data, ENVELOPE_KEY_LEN);
		kms_plaintext_free(&pt);
		if (rc == 0)
			return 0;
	}
	if (rc == -ENOKEY)
		error_set(err, rc,
			  "no encrypted data key of this backup opens with the configured keys "
			  "(encryption=%s)",
			  s->cfg.raw_aes ? "raw-aes" : "aws-kms");
	return rc;
}

static long fetch_write(void *ctx, const char *buf, size_t len)
{
	struct fetch_ctx *f = ctx;

	f->rc = envelope_reader_write(f->reader, buf, len, &f->err);
	if (f->rc < 0)
		return -1;
	f->bytes += len;
	return (long)len;
}

static json_t *context_json(const struct envelope_header *hdr)
{
	json_t *ctx = json_object();

	for (size_t i = 0; ctx && i < hdr->context.n; i++)
		json_object_set_new(ctx, hdr->context.keys[i], json_string(hdr->context.values[i]));
	return ctx;
}

int backup_fetch(struct backup_session *s, const char *key, envelope_sink_fn sink, void *sink_ctx,
		 struct backup_fetch_result *out, struct error *err)
{
	struct fetch_ctx f = {.s = s};
	const struct envelope_header *hdr;
	const char *want;
	char got[65];
	int rc;

	memset(out, 0, sizeof(*out));
	f.reader = envelope_reader_new(fetch_key, s, true, sink, sink_ctx, err);
	if (!f.reader)
		return -ENOMEM;
	rc = s3_get_object(s->aws, s->cfg.bucket, key, 0, 0, fetch_write, &f, err);
	if (f.rc < 0) {
		*err = f.err;
		rc = f.rc;
	}
	if (rc == 0)
		rc = envelope_reader_finish(f.reader, err);
	if (rc < 0) {
		if (rc != -ENOENT)
			error_wrap(err, rc, "s3://%s/%s", s->cfg.bucket, key);
		goto out;
	}
	envelope_reader_stats(f.reader, &out->stats);
	hdr = envelope_reader_header(f.reader);
	out->context = hdr ? context_json(hdr) : json_object();
	out->stored_bytes = f.bytes;
	want = hdr ? envelope_header_get(hdr, "sha256") : NULL;
	hex_encode(out->stats.plaintext_sha256, 32, got);
	if (want && strcmp(want, got) != 0)
		rc = error_set(err, -EBADMSG,
			       "s3://%s/%s: the content's sha256 is %s, the backup recorded %s",
			       s->cfg.bucket, key, got, want);
out:
	envelope_reader_free(f.reader);
	return rc;
}

/* ---- deadman pings ------------------------------------------------------------------------ */

int backup_ping(const char *url, const char *suffix, const char *body, const char *ca_file,
		struct error *err)
{
	struct http_response resp;
	struct http_tls tls = {.ca_file = ca_file};
	size_t len = body ? strlen(body) : 0;
	char *full = NULL;
	int rc;

	if (!url || !*url)
		return 0;
	if (asprintf(&full, "%s%s", url, suffix) < 0)
		return error_set(err, -ENOMEM, "out of memory");
	rc = http_request(&(struct http_request){.method = body ? "POST" : "GET",
						 .url = full,
						 .body = body,
						 .body_len = len > 10000 ? 10000 : len,
						 .tls = &tls,
						 .timeout_ms = 10000,
						 .retries = 1,
						 .idempotent = true},
			  &resp, err);
	if (rc == 0 && (resp.status < 200 || resp.status > 299))
		rc = error_set(err, -EIO, "%s: HTTP %ld", full, resp.status);
	http_response_free(&resp);
	free(full);
	return rc;
}

/* ---- metrics ------------------------------------------------------------------------------ */

int backup_write_metrics(const struct metrics_config *cfg, bool ok, double seconds,
			 const json_t *result, struct error *err)
{
	const json_t *stored = json_object_get(result, "stored_size");
	const json_t *kept = json_object_get(result, "objects_kept");
	struct metrics *m = metrics_new(cfg, "backup");
	int rc;

	if (!m)
		return error_set(err, -ENOMEM, "metrics: out of memory");
	metrics_job_result(m, "backup", ok, seconds);
	metrics_gauge_or_previous(
	    m, "backup_stored_bytes", "Bytes in S3 of the newest backup this job uploaded.",
	    ok && json_is_integer(stored), (double)json_integer_value(stored));
	metrics_gauge_or_previous(m, "backup_objects_kept",
				  "Backups of this cluster and kind in S3 after retention.",
				  ok && json_is_integer(kept), (double)json_integer_value(kept));
	rc = metrics_commit(m, err);
	metrics_free(m);
	return rc;
}
