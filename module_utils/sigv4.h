/*
 * sigv4: AWS Signature Version 4 as a pure function (no clock, no network), with the encoders
 * it needs. Checked against the published aws-c-auth signing vectors (tests/unit/test_sigv4.c).
 * The protocol facts it relies on: docs/protocols.md (AWS).
 *
 * Ownership: aws_sign fills a struct aws_signature whose strings are malloc'ed; free them with
 * aws_signature_free. aws_uri_encode returns a malloc'ed string. Inputs are borrowed.
 */
#ifndef ETCD_ANSIBLE_SIGV4_H
#define ETCD_ANSIBLE_SIGV4_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The signing identity (aws.c resolves it; aws_credentials_free wipes the secrets). */
struct aws_credentials {
	char *access_key_id;
	char *secret_access_key; /* wiped by aws_credentials_free */
	char *session_token;	 /* NULL when none; wiped too */
};

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

#endif
