/*
 * kms: the KMS operations (JSON 1.1, X-Amz-Target: TrentService.<Op>) on the aws.c client:
 * data keys for the backup envelopes, Decrypt, Encrypt, and the key setup calls.
 * Docs: docs/protocols.md (AWS).
 *
 * Errors carry KMS's __type and message. Plaintext data keys are wiped by kms_data_key_free /
 * kms_plaintext_free; other strings and blobs are malloc'ed (caller frees).
 */
#ifndef ETCD_ANSIBLE_KMS_H
#define ETCD_ANSIBLE_KMS_H

#include "aws.h"

#include <stddef.h>

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

#endif
