/*
 * snapshot: etcd snapshots as bytes in motion and as files (docs/protocols.md, etcd JSON gateway).
 *
 * Streaming. POST /v3/maintenance/snapshot on the JSON gateway answers newline-delimited
 * {"result":{"remaining_bytes":"N","blob":"<base64>"}} objects: 32 KiB blobs (~44 KB lines),
 * remaining_bytes omitted when 0, and a last object whose blob is the 32-byte SHA-256 of every
 * byte before it (etcd v3rpc/maintenance.go; checked on etcd 3.4.23: the decoded stream is byte
 * for byte the file `etcdctl snapshot save` writes). An error after the 200 arrives as a line
 * {"error":{"message":...}} (grpc-gateway v1 StreamError); a refusal before it as the usual
 * {"error":"...","message":"..."} with an HTTP status. The parser takes the answer in pieces of any
 * size, keeps at most one line (SNAPSHOT_LINE_MAX) and the last 32 bytes, and hands every decoded
 * byte -- the trailing hash included, as etcdctl writes it -- to a sink at once.
 *
 * Sinks. A sink is two callbacks and a context:
 *   write(ctx, data, len, err)  takes the next bytes; 0 or -errno (with err filled) to stop;
 *   reset(ctx, err)             forget every byte written so far, a new stream starts at byte 0
 *                               (a file: ftruncate + lseek; S3: abort the multipart upload and
 *                               start a new one). NULL when the sink cannot start over: then a
 *                               stream that fails after bytes reached the sink is not retried.
 * The bytes a sink receives are NOT verified until snapshot_fetch()/snapshot_stream() returns 0:
 * a sink must not make them visible before (rename the temp file, complete the multipart upload
 * only then), and must discard them when the call fails (unlink, abort). reset() is called only
 * between attempts, never after the call returned.
 *
 * Endpoints. snapshot_fetch() asks GET /health of the endpoints in order and streams from the
 * first healthy one; when a stream fails (endpoint down, cut mid-stream, error after the 200, hash
 * mismatch) it resets the sink and moves on to the other endpoints in their listed order. A sink
 * error ends the call at once (a full disk is not the endpoint's fault). Before streaming from an
 * endpoint it reads the revision there (a linearizable kv/range, count_only): the snapshot, taken
 * after on the same member, holds that revision or a later one.
 *
 * Files. snapshot_file_verify() checks a snapshot file as etcdctl/etcdutl restore would: the
 * trailing SHA-256 (present when size % 512 == 32, absent when size % 512 == 0) and the bbolt meta
 * pages (pages 0 and 1, at least one valid; bbolt db.go/page.go), reading in constant memory.
 *
 * Ownership: nothing returned here is allocated for the caller; struct snapshot_parser owns its
 * line buffer and digests until snapshot_parser_free(). The etcd client is borrowed.
 */
#ifndef ETCD_ANSIBLE_SNAPSHOT_H
#define ETCD_ANSIBLE_SNAPSHOT_H

#include "error.h"
#include "etcd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_HASH_SIZE 32
/* Longest line accepted: a 32 KiB blob is a 43.7 KB line; etcd 3.4 and 3.5 both send 32 KiB. */
#define SNAPSHOT_LINE_MAX (1024u * 1024u)
/* Blobs up to this size take the fast path (snapshot.c); larger ones go through jansson. */
#define SNAPSHOT_FAST_BLOB_MAX (64u * 1024u)
/* bbolt: the magic of a meta page and the only version etcd 3.x files carry. */
#define SNAPSHOT_BOLT_MAGIC 0xED0CDAEDu
#define SNAPSHOT_BOLT_VERSION 2u

struct snapshot_sink {
	int (*write)(void *ctx, const unsigned char *data, size_t len, struct error *err);
	int (*reset)(void *ctx, struct error *err); /* NULL: the sink cannot start over */
	void *ctx;
};

/* What a stream delivered. */
struct snapshot_result {
	const char *endpoint; /* the endpoint that delivered it (borrowed from the client) */
	uint64_t revision;    /* header.revision read before the stream; the snapshot's is >= */
	uint64_t size;	      /* bytes given to the sink, trailing hash included */
	unsigned char sha256[SNAPSHOT_HASH_SIZE]; /* SHA-256 of those bytes (the whole file) */
	unsigned attempts;     /* streams started (1 when the first one succeeded) */
	bool endpoint_healthy; /* the endpoint answered /health true (before, or for a fallback
				  endpoint just after, its stream) */
	char failures[ERROR_MSG_MAX]; /* why earlier attempts failed ("; "-joined), or "" */
};

/* ---- the answer's parser (no network; the unit tests feed it) ----------------------------- */

struct snapshot_parser {
	const struct snapshot_sink *sink; /* borrowed */
	char *line;			  /* the incomplete line, at most SNAPSHOT_LINE_MAX */
	size_t line_len, line_cap;
	unsigned char *blob; /* SNAPSHOT_FAST_BLOB_MAX bytes: a blob decoded on the fast path */
	void *body_md;	     /* EVP_MD_CTX: SHA-256 of all but the last 32 bytes */
	void *all_md;	     /* EVP_MD_CTX: SHA-256 of every byte */
	unsigned char tail[SNAPSHOT_HASH_SIZE];
	size_t tail_len;
	uint64_t size;	   /* bytes given to the sink */
	uint64_t messages; /* result objects seen */
	bool remote_error; /* an {"error":...} line came */
	bool sink_failed;  /* the sink refused bytes (its error is the parser's error) */
};

int snapshot_parser_init(struct snapshot_parser *p, const struct snapshot_sink *sink,
			 struct error *err);
/* Feeds the next piece of the answer. -EREMOTEIO (ETCD_EREMOTE) carries etcd's message. */
int snapshot_parser_feed(struct snapshot_parser *p, const char *data, size_t len,
			 struct error *err);
/* The answer ended: parses a last unterminated line, checks the trailing hash, fills sha256. */
int snapshot_parser_finish(struct snapshot_parser *p, unsigned char sha256[SNAPSHOT_HASH_SIZE],
			   struct error *err);
void snapshot_parser_free(struct snapshot_parser *p);

/* ---- streaming from etcd ------------------------------------------------------------------ */

/*
 * One stream from one endpoint into sink; timeout_ms bounds the whole transfer (0: 1 hour).
 * out->size says whether the sink received bytes even when this fails. Returns 0, -EPIPE when the
 * sink failed (final), or another negative errno (worth another endpoint).
 */
int snapshot_stream(const struct etcd_client *c, const char *endpoint, long timeout_ms,
		    const struct snapshot_sink *sink, struct snapshot_result *out,
		    struct error *err);

/* The endpoint choice and retries described in the header comment. */
int snapshot_fetch(const struct etcd_client *c, long timeout_ms, const struct snapshot_sink *sink,
		   struct snapshot_result *out, struct error *err);

/* ---- snapshot files ----------------------------------------------------------------------- */

struct snapshot_bolt_meta {
	uint32_t magic, version, page_size, flags;
	uint64_t root, freelist, pgid, txid, checksum;
};

/*
 * Decodes and checks one meta page (at least 16 + 64 bytes): magic, version 2, a page size that
 * is a power of two >= 512, and the checksum (FNV-1a 64 of the 56 bytes before it).
 */
int snapshot_bolt_meta_parse(const unsigned char *page, size_t len, struct snapshot_bolt_meta *out,
			     struct error *err);

struct snapshot_file_info {
	uint64_t size;
	unsigned char sha256[SNAPSHOT_HASH_SIZE]; /* of the whole file */
	bool hash_present;			  /* size % 512 == 32 */
	uint32_t page_size; /* of the meta in use (the valid one with the higher txid) */
	uint64_t txid;
	uint64_t pgid;
	int meta_in_use; /* 0 or 1 */
	bool meta_ok[2]; /* which meta pages are valid */
};

/*
 * Checks a snapshot file: trailing hash (unless skip_hash, and required unless allow_no_hash),
 * bbolt metas, size >= pgid * page_size. Returns 0, or -EBADMSG with err naming what is wrong
 * (other negative errno when the file cannot be read).
 */
int snapshot_file_verify(const char *path, bool skip_hash, bool allow_no_hash,
			 struct snapshot_file_info *out, struct error *err);

/* The same checks on a file already open (read from offset 0; the offset is not used). */
int snapshot_fd_verify(int fd, const char *name, bool skip_hash, bool allow_no_hash,
		       struct snapshot_file_info *out, struct error *err);

/* sha256 as 64 lowercase hex digits + NUL into hex (65 bytes); returns hex. */
char *snapshot_hex(const unsigned char sha256[SNAPSHOT_HASH_SIZE], char *hex);

#endif
