/*
 * aws: the AWS client the backup modules use: credentials and one signed request (SigV4 from
 * sigv4.c) over http.c (libcurl, TLS always verified). s3.c and kms.c build their calls on it.
 * Docs: docs/protocols.md (AWS).
 *
 * Credentials come from the options, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (/AWS_SESSION_TOKEN), else the EC2 instance role through IMDSv2 (AWS_EC2_METADATA_DISABLED=true
 * turns that off; AWS_EC2_METADATA_SERVICE_ENDPOINT moves it). Region: option, AWS_REGION,
 * AWS_DEFAULT_REGION. Endpoints: option, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS,
 * AWS_ENDPOINT_URL, else the real https://s3.<region>.amazonaws.com and
 * https://kms.<region>.amazonaws.com. CA bundle: option, AWS_CA_BUNDLE, else the system's.
 *
 * Ownership: struct aws (aws_new/aws_free) owns its credentials and wipes the secrets on free.
 * Borrowed inputs are const.
 */
#ifndef ETCD_ANSIBLE_AWS_H
#define ETCD_ANSIBLE_AWS_H

#include "error.h"
#include "http.h"
#include "sigv4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

int aws_credentials_resolve(const struct aws_options *opts, struct aws_credentials *out,
			    struct error *err);
void aws_credentials_free(struct aws_credentials *creds);

/* ---- the client ---- */

struct aws;

/* Resolves credentials, region, endpoints and CA as described above. NULL on failure. */
struct aws *aws_new(const struct aws_options *opts, struct error *err);
void aws_free(struct aws *aws);
const char *aws_region(const struct aws *aws);
/* The S3 endpoint (scheme://host[:port][/base], no trailing slash), or NULL for real AWS. */
const char *aws_s3_endpoint(const struct aws *aws);
/* The KMS endpoint (always set: the real one when none was given). */
const char *aws_kms_endpoint(const struct aws *aws);

/* ---- one signed request (for s3.c and kms.c) ---- */

#define AWS_DEFAULT_TIMEOUT_MS 60000L
/* Object bodies (parts, whole objects) may be large: a longer bound than API calls. */
#define AWS_TRANSFER_TIMEOUT_MS 3600000L

/* Extra headers a call may carry (the client adds its own five). */
#define AWS_CALL_MAX_HEADERS 32

struct aws_call {
	const char *service; /* "s3" (S3 signing rules, x-amz-content-sha256) or "kms" */
	const char *method;
	const char *base;	    /* scheme://host[:port] */
	const char *path;	    /* wire form */
	const char *query;	    /* wire form, or NULL */
	const char *const *headers; /* extra, signed */
	const void *body;
	size_t body_len;
	http_write_fn write;
	void *write_ctx;
	bool idempotent;
	long timeout_ms; /* 0: the client's */
};

/* Signs and sends one request. resp is filled even for non-2xx answers. */
int aws_call_send(struct aws *aws, const struct aws_call *c, struct http_response *resp,
		  struct error *err);

/* The answer is a 2xx. */
bool aws_ok(const struct http_response *resp);

#endif
