/*
 * backup: the backup pipeline of docs/backups.md, shared by kms_s3_backup and etcd_snapshot's
 * `upload`:
 *
 *   bytes → gzip → AWS Encryption SDK message (envelope.c) → S3 multipart upload (s3.c)
 *   S3 GET → ESDK message check and decrypt → gunzip → a sink
 *
 * Options. Both modules take the same option names (kms_s3_backup at its top level,
 * etcd_snapshot inside `upload`): bucket, prefix, cluster, kind, encryption (aws-kms, raw-aes),
 * kms_key_id, key_file, key_name, key_namespace, region, endpoint_url, kms_endpoint_url,
 * ca_bundle, access_key, secret_key, session_token, retention_days, keep_min, healthcheck_url,
 * part_size_mb, context, timeout. backup_config_parse() reads them from a JSON object and names
 * the offending option ("upload.bucket: ...") when one is wrong.
 *
 * Upload. Three stages, each on its own thread, with bounded queues between them:
 *   the caller's thread (reading the source: a file, or etcd's snapshot stream) copies bytes
 *   into BACKUP_PLAIN_CHUNKS chunks → the compress thread runs gzip and the encryption
 *   (envelope_writer) → BACKUP_QUEUE_CHUNKS chunks → the upload thread fills S3 parts
 *   (s3_upload). The mechanics are pipeline.h's. Memory stays near
 *   (BACKUP_PLAIN_CHUNKS + BACKUP_QUEUE_CHUNKS) * BACKUP_CHUNK + part_size whatever the size
 *   of the backup. An error in any stage stops the others: backup_upload_write() and
 *   backup_upload_finish() return it, and the caller frees (or resets) the upload.
 * Nothing is visible in S3 until backup_upload_finish() completed the upload; any failure (or
 * backup_upload_free() without finish) aborts the multipart upload. backup_upload_reset() starts
 * over (a snapshot stream that moves to another etcd member): the upload so far is aborted.
 *
 * Keys. aws-kms: the data key comes from KMS GenerateDataKey with the message's encryption
 * context (as the ESDK's KMS keyring does, so the ESDK decrypts our objects with its keyring);
 * raw-aes: a random data key wrapped with the key file's 32 bytes (raw, or base64 text).
 *
 * Ownership: a backup_session owns the AWS client and the raw key (wiped on close). Results own
 * their strings: backup_upload_result_free. Config strings are borrowed from the JSON object.
 */
#ifndef ETCD_ANSIBLE_BACKUP_H
#define ETCD_ANSIBLE_BACKUP_H

#include "kms.h"
#include "s3.h"
#include "envelope.h"
#include "error.h"
#include "metrics.h"
#include "retention.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BACKUP_CHUNK (1024u * 1024u)
#define BACKUP_QUEUE_CHUNKS 8 /* message chunks waiting for the upload thread */
#define BACKUP_PLAIN_CHUNKS 4 /* plaintext chunks waiting for the compress thread */
/* The first bytes of an object read to get its header (more when the header is longer). */
#define BACKUP_HEADER_PEEK 4096u

struct backup_config {
	struct aws_options aws;
	const char *bucket;
	const char *prefix;  /* "" when unset */
	const char *cluster; /* "default" when unset */
	enum backup_kind kind;
	bool raw_aes;
	const char *kms_key_id;
	const char *key_file;
	const char *key_name;
	const char *key_namespace;
	const char *healthcheck_url;
	long retention_days; /* -1: none given */
	long keep_min;
	size_t part_size;
	const json_t *context; /* extra encryption context (object of strings), or NULL */
};

/* What the options are for: which key options are required. */
enum backup_use {
	BACKUP_USE_LIST,   /* listings, retention, deletes: no key */
	BACKUP_USE_FETCH,  /* decrypting: key_file for raw-aes (KMS keys are named by the object) */
	BACKUP_USE_UPLOAD, /* encrypting: key_file for raw-aes, kms_key_id for aws-kms */
};

/* Reads the options above from obj. where ("" or "upload.") prefixes option names in messages. */
int backup_config_parse(const json_t *obj, const char *where, enum backup_use use,
			struct backup_config *cfg, struct error *err);

/* The option names backup_config_parse reads (for a module's option table checks). */
extern const char *const BACKUP_OPTION_NAMES[];

struct backup_session {
	struct backup_config cfg;
	struct aws *aws;
	uint8_t raw_key[ENVELOPE_KEY_LEN];
	bool have_raw_key;
};

int backup_session_open(struct backup_session *s, const struct backup_config *cfg,
			enum backup_use use, struct error *err);
void backup_session_close(struct backup_session *s);

/* ---- encryption context ------------------------------------------------------------------- */

#define BACKUP_CONTEXT_MAX 24

/*
 * The encryption context of a new backup: cluster, kind, created (ISO 8601 UTC), then the
 * config's extra pairs; callers add what they know (content_sha256, sha256, revision). Values
 * are borrowed: they must outlive the context (created lives inside it).
 */
struct backup_context {
	const char *keys[BACKUP_CONTEXT_MAX];
	const char *values[BACKUP_CONTEXT_MAX];
	size_t n;
	char created[32];
};

int backup_context_build(const struct backup_config *cfg, time_t now, struct backup_context *c,
			 struct error *err);
/* Adds or replaces a pair; silently ignored past BACKUP_CONTEXT_MAX (build keeps 4 free). */
void backup_context_add(struct backup_context *c, const char *key, const char *value);
json_t *backup_context_json(const struct backup_context *c);

/* ---- upload ------------------------------------------------------------------------------- */

struct backup_upload_result {
	struct envelope_stats stats; /* plaintext bytes and sha256, message bytes */
	unsigned int parts;	     /* 0: a single PutObject */
	char *etag;
	char *kms_key_arn; /* aws-kms: the key that made the data key */
	double seconds;
};
void backup_upload_result_free(struct backup_upload_result *r);

struct backup_upload;

/* ctx: the message's encryption context; it must outlive the upload. */
struct backup_upload *backup_upload_new(struct backup_session *s, const char *key,
					const struct backup_context *ctx, struct error *err);
int backup_upload_write(struct backup_upload *u, const void *buf, size_t len, struct error *err);
/*
 * The caller hashes the plaintext itself (etcd_snapshot: the snapshot stream's own SHA-256), so
 * the upload does not hash the same bytes again: the result's stats.plaintext_sha256 stays zero.
 */
void backup_upload_skip_plaintext_hash(struct backup_upload *u);
int backup_upload_reset(struct backup_upload *u, struct error *err);
int backup_upload_finish(struct backup_upload *u, struct backup_upload_result *out,
			 struct error *err);
/* Aborts an unfinished upload, then frees. */
void backup_upload_free(struct backup_upload *u);

/* ---- listing, headers, retention ---------------------------------------------------------- */

/* Backups of the session's kind and cluster, oldest first. */
int backup_list(struct backup_session *s, struct backup_object **objects, size_t *n,
		struct error *err);
/* The header of an object (its encryption context), from a ranged GET; release it after. */
int backup_read_header(struct backup_session *s, const char *key, struct envelope_header *hdr,
		       struct error *err);
/*
 * Deletes the backups retention selects (backup_retention_select with the session's
 * retention_days and keep_min). *deleted gets a JSON array of the keys deleted (caller decrefs);
 * *kept (may be NULL) the number of backups left. retention_days < 0 deletes nothing and only
 * counts. check_mode: select and report, delete nothing.
 */
int backup_prune(struct backup_session *s, time_t now, bool check_mode, json_t **deleted,
		 size_t *kept, struct error *err);

/* ---- download ----------------------------------------------------------------------------- */

struct backup_fetch_result {
	struct envelope_stats stats;
	json_t *context; /* the message's encryption context (caller decrefs) */
	uint64_t stored_bytes;
};

/*
 * Streams object key through the decryption into sink; the sink's bytes are authentic frame by
 * frame, and the whole message is only proven when this returns 0 (see envelope.h): write to a
 * temporary place and use it only then. A "sha256" in the context is checked against the
 * plaintext at the end.
 */
int backup_fetch(struct backup_session *s, const char *key, envelope_sink_fn sink, void *sink_ctx,
		 struct backup_fetch_result *out, struct error *err);

/* ---- deadman pings (healthchecks.io: <url>/start, <url>, <url>/fail) ------------------------ */

/*
 * Pings url + suffix ("/start", "", "/fail"); body (may be NULL) is POSTed as the log, cut to
 * 10000 bytes. Best effort: returns 0 or a negative errno, never retries for long.
 */
int backup_ping(const char *url, const char *suffix, const char *body, const char *ca_file,
		struct error *err);

/* ---- metrics ------------------------------------------------------------------------------ */

/*
 * The backup job's metrics file (job "backup"): metrics_job_result, then backup_stored_bytes and
 * backup_objects_kept from the module's result ("stored_size", "objects_kept") when this run
 * succeeded and set them, else carried over from the previous file.
 */
int backup_write_metrics(const struct metrics_config *cfg, bool ok, double seconds,
			 const json_t *result, struct error *err);

#endif
