/*
 * s3: the S3 operations the backups use (PutObject, streaming multipart upload, GetObject,
 * HeadObject, ListObjectsV2, DeleteObject(s), ListMultipartUploads) on the aws.c client.
 * Docs: docs/protocols.md (AWS).
 *
 * S3 is addressed path-style when an endpoint URL is given (or the bucket has a dot),
 * virtual-hosted otherwise. Errors carry S3's code and message:
 * "S3 PutObject s3://b/k: HTTP 403 SignatureDoesNotMatch: ...".
 *
 * Ownership: strings in out-structures are malloc'ed and freed with the matching *_free.
 */
#ifndef ETCD_ANSIBLE_S3_H
#define ETCD_ANSIBLE_S3_H

#include "aws.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define S3_MAX_PARTS 10000u

struct s3_metadata {
	const char *name; /* without the x-amz-meta- prefix, lower case */
	const char *value;
};

struct s3_put_result {
	char *etag; /* as S3 returns it, quotes included */
};
void s3_put_result_free(struct s3_put_result *r);

/* PutObject from a buffer, signed with the body's SHA-256; x-amz-meta-* from meta. */
int s3_put_object(struct aws *aws, const char *bucket, const char *key, const void *data,
		  size_t len, const struct s3_metadata *meta, size_t n_meta,
		  struct s3_put_result *out, struct error *err);

/*
 * Streaming upload in constant memory (one part buffer). Writes fill a part_size buffer
 * (0 = S3_DEFAULT_PART_SIZE, at least 5 MiB); a full part starts the multipart upload (lazily)
 * and is uploaded (retried on 5xx and connection errors). finish sends one PutObject when all
 * fits in one part, else the last part and CompleteMultipartUpload (whose 200 may carry an
 * <Error>: that fails). Any failure in write/finish aborts the multipart upload, so no partial
 * object or upload remains; s3_upload_abort does it explicitly. Always s3_upload_free.
 */
#define S3_DEFAULT_PART_SIZE (8u * 1024u * 1024u)
#define S3_MIN_PART_SIZE (5u * 1024u * 1024u)
struct s3_upload;
struct s3_upload *s3_upload_new(struct aws *aws, const char *bucket, const char *key,
				const struct s3_metadata *meta, size_t n_meta, size_t part_size,
				struct error *err);
int s3_upload_write(struct s3_upload *u, const void *buf, size_t len, struct error *err);
int s3_upload_finish(struct s3_upload *u, struct s3_put_result *out, struct error *err);
void s3_upload_abort(struct s3_upload *u);
void s3_upload_free(struct s3_upload *u);
/* Bytes written so far and parts uploaded so far (for reports and tests). */
uint64_t s3_upload_bytes(const struct s3_upload *u);
unsigned int s3_upload_parts(const struct s3_upload *u);

/*
 * GetObject streamed into write(ctx, ...). length 0 = to the end; else bytes
 * [offset, offset+length) (a Range request). -ENOENT when the object does not exist.
 */
int s3_get_object(struct aws *aws, const char *bucket, const char *key, uint64_t offset,
		  uint64_t length, http_write_fn write, void *ctx, struct error *err);

struct s3_object_info {
	uint64_t size;
	char *etag;
	time_t last_modified;
	struct s3_metadata *meta; /* names and values malloc'ed */
	size_t n_meta;
};
/* HeadObject. -ENOENT when the object does not exist. */
int s3_head_object(struct aws *aws, const char *bucket, const char *key, struct s3_object_info *out,
		   struct error *err);
void s3_object_info_free(struct s3_object_info *info);
/* The value of metadata `name` in info, or NULL. */
const char *s3_object_info_meta(const struct s3_object_info *info, const char *name);

struct s3_list_entry {
	const char *key; /* entities decoded */
	uint64_t size;
	time_t last_modified;
	const char *etag;
};
/* Called per object, in S3's (lexicographic) order; a non-zero return stops the listing and
 * becomes s3_list_objects' return value. */
typedef int (*s3_list_fn)(void *ctx, const struct s3_list_entry *entry);
/* ListObjectsV2 over every page (continuation tokens). prefix may be NULL. */
int s3_list_objects(struct aws *aws, const char *bucket, const char *prefix, s3_list_fn fn,
		    void *ctx, struct error *err);

/* DeleteObject (204 also when the key does not exist). */
int s3_delete_object(struct aws *aws, const char *bucket, const char *key, struct error *err);
/* DeleteObjects in batches of at most 1000 keys (Content-MD5); any per-key <Error> fails. */
int s3_delete_objects(struct aws *aws, const char *bucket, const char *const *keys, size_t n,
		      struct error *err);
/* Number of multipart uploads in progress under prefix (ListMultipartUploads, first page). */
int s3_count_multipart_uploads(struct aws *aws, const char *bucket, const char *prefix,
			       size_t *count, struct error *err);

#endif
