/*
 * aws: the AWS client the backup modules use — credentials, SigV4 signing, S3 and KMS — over
 * http.c (libcurl, TLS always verified). Docs: PROTOCOLS §4.
 *
 * Credentials come from the options, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (/AWS_SESSION_TOKEN), else the EC2 instance role through IMDSv2 (AWS_EC2_METADATA_DISABLED=true
 * turns that off; AWS_EC2_METADATA_SERVICE_ENDPOINT moves it). Region: option, AWS_REGION,
 * AWS_DEFAULT_REGION. Endpoints: option, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS,
 * AWS_ENDPOINT_URL, else the real https://s3.<region>.amazonaws.com and
 * https://kms.<region>.amazonaws.com. CA bundle: option, AWS_CA_BUNDLE, else the system's.
 *
 * S3 is addressed path-style when an endpoint URL is given (or the bucket has a dot),
 * virtual-hosted otherwise. Errors carry S3's or KMS's code and message:
 * "S3 PutObject s3://b/k: HTTP 403 SignatureDoesNotMatch: ...".
 *
 * Ownership: struct aws (aws_new/aws_free) owns its credentials and wipes the secrets on free.
 * Strings in out-structures are malloc'ed and freed with the matching *_free. Plaintext data
 * keys are wiped by kms_data_key_free / kms_plaintext_free. Borrowed inputs are const.
 */
#ifndef ETCD_ANSIBLE_AWS_H
#define ETCD_ANSIBLE_AWS_H

#include "error.h"
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- credentials and options ---- */

struct aws_options {
	const char *access_key_id; /* all three NULL: the environment, then IMDSv2 */
	const char *secret_access_key;
	const char *session_token;
	const char *region;	  /* NULL: AWS_REGION, AWS_DEFAULT_REGION */
	const char *endpoint_url; /* S3; NULL: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, real AWS */
	const char *kms_endpoint_url; /* NULL: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, real AWS */
	const char *ca_file;	      /* NULL: AWS_CA_BUNDLE, the system bundle */
	long timeout_ms;	      /* per request; 0 = 60 s */
};

struct aws_credentials {
	char *access_key_id;
	char *secret_access_key; /* wiped by aws_credentials_free */
	char *session_token;	 /* NULL when none; wiped too */
};

int aws_credentials_resolve(const struct aws_options *opts, struct aws_credentials *out,
			    struct error *err);
void aws_credentials_free(struct aws_credentials *creds);

/* ---- SigV4 (pure: no clock, no network) ---- */

struct aws_sign_input {
	const char *method;
	const char *path;  /* as sent on the wire: already percent-encoded ("" means "/") */
	const char *query; /* as sent, without '?', any order; NULL or "" for none */
	const char *const *headers; /* "Name: value", NULL-terminated; every one is signed. Must
				     * hold Host and X-Amz-Date (and X-Amz-Security-Token and
				     * x-amz-content-sha256 when the caller sends them) */
	const char *payload_hash;   /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;	    /* 20150830T123600Z */
	const char *region;
	const char *service;
	const struct aws_credentials *creds;
	bool s3; /* S3 rules: the path is used as sent (encoded once), no normalisation; other
		  * services: dot segments and empty segments removed, then encoded again */
};

struct aws_signature {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];  /* hex */
	char *authorization; /* the Authorization header's value */
};

int aws_sign(const struct aws_sign_input *in, struct aws_signature *out, struct error *err);
void aws_signature_free(struct aws_signature *sig);

/* RFC 3986 percent-encoding of all but A-Za-z0-9-_.~ (and '/' when keep_slash). Caller frees. */
char *aws_uri_encode(const char *text, size_t len, bool keep_slash);
/* "YYYYMMDDTHHMMSSZ" for t (UTC). */
void aws_amz_date(time_t t, char out[17]);
/* Hex SHA-256 of data. */
void aws_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- the client ---- */

struct aws;

/* Resolves credentials, region, endpoints and CA as described above. NULL on failure. */
struct aws *aws_new(const struct aws_options *opts, struct error *err);
void aws_free(struct aws *aws);
const char *aws_region(const struct aws *aws);

/* ---- S3 ---- */

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

/* ---- KMS (JSON 1.1, X-Amz-Target: TrentService.<Op>) ---- */

/* An encryption context: n pairs; may be empty. */
struct kms_context {
	const char *const *keys;
	const char *const *values;
	size_t n;
};

struct kms_data_key {
	unsigned char plaintext[32]; /* wiped by kms_data_key_free */
	unsigned char *ciphertext;   /* CiphertextBlob */
	size_t ciphertext_len;
	char *key_arn; /* KeyId in the answer (an ARN) */
};
/* GenerateDataKey, KeySpec AES_256. */
int kms_generate_data_key(struct aws *aws, const char *key_id, const struct kms_context *ctx,
			  struct kms_data_key *out, struct error *err);
void kms_data_key_free(struct kms_data_key *key);

struct kms_plaintext {
	unsigned char *data; /* wiped by kms_plaintext_free */
	size_t len;
	char *key_arn;
};
/* Decrypt. key_id may be NULL (KMS finds it in the blob). */
int kms_decrypt(struct aws *aws, const char *key_id, const unsigned char *blob, size_t blob_len,
		const struct kms_context *ctx, struct kms_plaintext *out, struct error *err);
void kms_plaintext_free(struct kms_plaintext *p);

/* Encrypt (at most 4096 bytes): *blob malloc'ed. */
int kms_encrypt(struct aws *aws, const char *key_id, const unsigned char *data, size_t len,
		const struct kms_context *ctx, unsigned char **blob, size_t *blob_len,
		struct error *err);
/* DescribeKey → the key's ARN (*arn malloc'ed). */
int kms_describe_key(struct aws *aws, const char *key_id, char **arn, struct error *err);
/* CreateKey with a description and tags (n_tags pairs, may be 0) → KeyId and Arn. */
int kms_create_key(struct aws *aws, const char *description, const char *const *tag_keys,
		   const char *const *tag_values, size_t n_tags, char **key_id, char **arn,
		   struct error *err);
/* CreateAlias ("alias/name" → key id). */
int kms_create_alias(struct aws *aws, const char *alias, const char *key_id, struct error *err);
/* PutKeyPolicy (policy name "default"). */
int kms_put_key_policy(struct aws *aws, const char *key_id, const char *policy_json,
		       struct error *err);

/* ---- the tiny XML reader S3's answers need (exposed for tests) ---- */

/*
 * Finds the next element <name> (attributes allowed) in xml[0..len) and returns its content
 * span. Returns 0, or -ENOENT. Nested elements of the same name are not supported (S3 has none
 * where we look).
 */
int aws_xml_find(const char *xml, size_t len, const char *name, const char **content,
		 size_t *content_len);
/* Content with the five XML entities and &#N; / &#xH; decoded; malloc'ed, NULL if invalid. */
char *aws_xml_text(const char *content, size_t len);

#endif
