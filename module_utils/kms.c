#include "kms.h"

#include "b64.h"
#include "buf.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST / TrentService.<op> with body; *out is the parsed answer. Errors carry __type and
 * message (the type without its "namespace#" prefix). */
static int kms_call(struct aws *aws, const char *op, json_t *body, json_t **out, struct error *err)
{
	char target[80];
	const char *headers[] = {"Content-Type: application/x-amz-json-1.1", target, NULL};
	struct http_response resp = {0};
	char *text = json_dumps(body, JSON_COMPACT);
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (!text)
		return error_set(err, -ENOMEM, "KMS %s: out of memory", op);
	snprintf(target, sizeof(target), "X-Amz-Target: TrentService.%s", op);
	rc = aws_call_send(aws,
		       &(struct aws_call){.service = "kms",
				      .method = "POST",
				      .base = aws_kms_endpoint(aws),
				      .path = "/",
				      .headers = headers,
				      .body = text,
				      .body_len = strlen(text)},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "KMS %s", op);
		goto out;
	}
	/* Some operations (CreateAlias, PutKeyPolicy) answer 200 with an empty body. */
	doc = resp.body_len ? json_loadb(resp.body, resp.body_len, 0, NULL)
	      : aws_ok(&resp)   ? json_object()
			    : NULL;
	if (!aws_ok(&resp)) {
		const char *type = json_string_value(json_object_get(doc, "__type"));
		const char *msg = json_string_value(json_object_get(doc, "message"));
		const char *hash = type ? strrchr(type, '#') : NULL;

		if (!msg)
			msg = json_string_value(json_object_get(doc, "Message"));
		/* NotFoundException: a key or alias that does not exist is -ENOENT, as in S3. */
		rc = error_set(err,
			       type && strstr(type, "NotFoundException")	 ? -ENOENT
			       : resp.status == 400 || resp.status == 403 ? -EACCES
									   : -EPROTO,
			       "KMS %s: HTTP %ld %s: %.300s", op, resp.status,
			       hash   ? hash + 1
			       : type ? type
				      : "(no type)",
			       msg ? msg : "(no message)");
		goto out;
	}
	if (!json_is_object(doc)) {
		rc = error_set(err, -EPROTO, "KMS %s: the answer is not a JSON object", op);
		goto out;
	}
	*out = doc;
	doc = NULL;
out:
	/* Bodies may hold plaintext (Encrypt's request, Decrypt's and GenerateDataKey's answers).
	 */
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	http_response_free(&resp);
	json_decref(doc);
	return rc;
}

static json_t *kms_context_json(const struct kms_context *ctx)
{
	json_t *o = json_object();

	for (size_t i = 0; o && ctx && i < ctx->n; i++)
		if (json_object_set_new(o, ctx->keys[i], json_string(ctx->values[i])) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* Base64 field `name` of doc, decoded; *out malloc'ed. */
static int kms_b64_field(const json_t *doc, const char *op, const char *name, unsigned char **out,
			 size_t *out_len, struct error *err)
{
	const char *text = json_string_value(json_object_get(doc, name));

	*out = NULL;
	if (!text)
		return error_set(err, -EPROTO, "KMS %s: no %s in the answer", op, name);
	if (b64_decode(text, out, out_len, err) < 0)
		return error_wrap(err, -EPROTO, "KMS %s: %s", op, name);
	return 0;
}

int kms_generate_data_key(struct aws *aws, const char *key_id, const struct kms_context *ctx,
			  struct kms_data_key *out, struct error *err)
{
	json_t *body = json_pack("{s:s, s:s, s:o*}", "KeyId", key_id, "KeySpec", "AES_256",
				 "EncryptionContext", kms_context_json(ctx));
	json_t *doc = NULL;
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!body)
		return error_set(err, -ENOMEM, "KMS GenerateDataKey: out of memory");
	rc = kms_call(aws, "GenerateDataKey", body, &doc, err);
	if (rc < 0)
		goto out;
	rc = kms_b64_field(doc, "GenerateDataKey", "Plaintext", &plain, &plain_len, err);
	if (rc == 0 && plain_len != sizeof(out->plaintext))
		rc = error_set(err, -EPROTO, "KMS GenerateDataKey: a %zu-byte key, not 32",
			       plain_len);
	if (rc == 0)
		rc = kms_b64_field(doc, "GenerateDataKey", "CiphertextBlob", &out->ciphertext,
				   &out->ciphertext_len, err);
	if (rc == 0 &&
	    !(out->key_arn = strdup(json_string_value(json_object_get(doc, "KeyId"))
					? json_string_value(json_object_get(doc, "KeyId"))
					: key_id)))
		rc = error_set(err, -ENOMEM, "out of memory");
	if (rc == 0 && plain)
		memcpy(out->plaintext, plain, sizeof(out->plaintext));
out:
	wipe_free(plain, plain_len);
	if (rc < 0)
		kms_data_key_free(out);
	json_decref(body);
	json_decref(doc);
	return rc;
}

void kms_data_key_free(struct kms_data_key *key)
{
	OPENSSL_cleanse(key->plaintext, sizeof(key->plaintext));
	free(key->ciphertext);
	free(key->key_arn);
	memset(key, 0, sizeof(*key));
}

int kms_decrypt(struct aws *aws, const char *key_id, const unsigned char *blob, size_t blob_len,
		const struct kms_context *ctx, struct kms_plaintext *out, struct error *err)
{
	char *b64 = b64_encode(blob, blob_len);
	json_t *body = b64 ? json_pack("{s:s, s:o*}", "CiphertextBlob", b64, "EncryptionContext",
				       kms_context_json(ctx))
			   : NULL;
	json_t *doc = NULL;
	const char *arn;
	int rc;

	memset(out, 0, sizeof(*out));
	if (body && key_id && json_object_set_new(body, "KeyId", json_string(key_id)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (!body) {
		free(b64);
		return error_set(err, -ENOMEM, "KMS Decrypt: out of memory");
	}
	rc = kms_call(aws, "Decrypt", body, &doc, err);
	if (rc == 0)
		rc = kms_b64_field(doc, "Decrypt", "Plaintext", &out->data, &out->len, err);
	arn = json_string_value(json_object_get(doc, "KeyId"));
	if (rc == 0 && arn && !(out->key_arn = strdup(arn)))
		rc = error_set(err, -ENOMEM, "out of memory");
	if (rc < 0)
		kms_plaintext_free(out);
	free(b64);
	json_decref(body);
	json_decref(doc);
	return rc;
}

void kms_plaintext_free(struct kms_plaintext *p)
{
	wipe_free(p->data, p->len);
	free(p->key_arn);
	memset(p, 0, sizeof(*p));
}

int kms_encrypt(struct aws *aws, const char *key_id, const unsigned char *data, size_t len,
		const struct kms_context *ctx, unsigned char **blob, size_t *blob_len,
		struct error *err)
{
	char *b64 = NULL;
	json_t *body = NULL, *doc = NULL;
	int rc;

	*blob = NULL;
	*blob_len = 0;
	if (len > 4096)
		return error_set(err, -EINVAL, "KMS Encrypt: at most 4096 bytes, not %zu", len);
	b64 = b64_encode(data, len);
	body = b64 ? json_pack("{s:s, s:s, s:o*}", "KeyId", key_id, "Plaintext", b64,
			       "EncryptionContext", kms_context_json(ctx))
		   : NULL;
	if (!body) {
		rc = error_set(err, -ENOMEM, "KMS Encrypt: out of memory");
		goto out;
	}
	rc = kms_call(aws, "Encrypt", body, &doc, err);
	if (rc == 0)
		rc = kms_b64_field(doc, "Encrypt", "CiphertextBlob", blob, blob_len, err);
out:
	if (b64) {
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	}
	json_decref(body); /* jansson's copy of the plaintext goes with it */
	json_decref(doc);
	return rc;
}

static int kms_string_out(const json_t *obj, const char *op, const char *name, char **out,
			  struct error *err)
{
	const char *v = json_string_value(json_object_get(obj, name));

	*out = NULL;
	if (!v)
		return error_set(err, -EPROTO, "KMS %s: no %s in the answer", op, name);
	*out = strdup(v);
	return *out ? 0 : error_set(err, -ENOMEM, "out of memory");
}

int kms_describe_key(struct aws *aws, const char *key_id, char **arn, struct error *err)
{
	json_t *body = json_pack("{s:s}", "KeyId", key_id), *doc = NULL;
	int rc;

	*arn = NULL;
	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = kms_call(aws, "DescribeKey", body, &doc, err);
	if (rc == 0)
		rc = kms_string_out(json_object_get(doc, "KeyMetadata"), "DescribeKey", "Arn", arn,
				    err);
	json_decref(body);
	json_decref(doc);
	return rc;
}

int kms_create_key(struct aws *aws, const char *description, const char *const *tag_keys,
		   const char *const *tag_values, size_t n_tags, char **key_id, char **arn,
		   struct error *err)
{
	json_t *tags = json_array(), *body = NULL, *doc = NULL, *meta;
	int rc;

	*key_id = *arn = NULL;
	for (size_t i = 0; tags && i < n_tags; i++)
		if (json_array_append_new(tags, json_pack("{s:s, s:s}", "TagKey", tag_keys[i],
							  "TagValue", tag_values[i])) < 0) {
			json_decref(tags);
			tags = NULL;
		}
	body = tags ? json_pack("{s:s, s:o}", "Description", description ? description : "", "Tags",
				tags)
		    : NULL;
	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = kms_call(aws, "CreateKey", body, &doc, err);
	meta = json_object_get(doc, "KeyMetadata");
	if (rc == 0)
		rc = kms_string_out(meta, "CreateKey", "KeyId", key_id, err);
	if (rc == 0)
		rc = kms_string_out(meta, "CreateKey", "Arn", arn, err);
	if (rc < 0) {
		free(*key_id);
		*key_id = NULL;
	}
	json_decref(body);
	json_decref(doc);
	return rc;
}

int kms_create_alias(struct aws *aws, const char *alias, const char *key_id, struct error *err)
{
	json_t *body = json_pack("{s:s, s:s}", "AliasName", alias, "TargetKeyId", key_id),
	       *doc = NULL;
	int rc;

	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = kms_call(aws, "CreateAlias", body, &doc, err);
	json_decref(body);
	json_decref(doc);
	return rc;
}

int kms_put_key_policy(struct aws *aws, const char *key_id, const char *policy_json,
		       struct error *err)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "KeyId", key_id, "PolicyName", "default",
				 "Policy", policy_json),
	       *doc = NULL;
	int rc;

	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = kms_call(aws, "PutKeyPolicy", body, &doc, err);
	json_decref(body);
	json_decref(doc);
	return rc;
}
