#include "aws.h"

#include "buf.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void aws_credentials_free(struct aws_credentials *creds)
{
	free(creds->access_key_id);
	wipe_str_free(creds->secret_access_key);
	wipe_str_free(creds->session_token);
	creds->access_key_id = creds->secret_access_key = creds->session_token = NULL;
}

static int credentials_set(struct aws_credentials *out, const char *id, const char *secret,
			   const char *token, struct error *err)
{
	out->access_key_id = strdup(id);
	out->secret_access_key = strdup(secret);
	out->session_token = token && *token ? strdup(token) : NULL;
	if (!out->access_key_id || !out->secret_access_key ||
	    (token && *token && !out->session_token)) {
		aws_credentials_free(out);
		return error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* One IMDS call: short timeouts, so hosts off EC2 fail fast. */
static int imds_call(const char *method, const char *url, const char *const *headers,
		     struct http_response *resp, struct error *err)
{
	struct http_request req = {.method = method,
				   .url = url,
				   .headers = headers,
				   .timeout_ms = 3000,
				   .connect_timeout_ms = 1000,
				   .retries = 1,
				   .max_response = 64 * 1024};
	int rc = http_request(&req, resp, err);

	if (rc == 0 && (resp->status < 200 || resp->status > 299))
		rc = error_set(err, -EACCES, "%s %s: HTTP %ld", method, url, resp->status);
	return rc;
}

/* IMDSv2: a session token, the role name, then the role's credentials. */
static int credentials_from_imds(struct aws_credentials *out, struct error *err)
{
	const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char url[512], token_header[1200], role[256];
	const char *put_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	const char *get_headers[] = {token_header, NULL};
	struct http_response resp = {0};
	json_t *doc = NULL;
	size_t blen;
	int rc;

	if (!base)
		base = "http://169.254.169.254";
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)blen, base);
	rc = imds_call("PUT", url, put_headers, &resp, err);
	if (rc < 0)
		goto out;
	if (!resp.body || resp.body_len > 1000) {
		rc = error_set(err, -EPROTO, "%s: no token in the answer", url);
		goto out;
	}
	snprintf(token_header, sizeof(token_header), "X-aws-ec2-metadata-token: %s", resp.body);
	http_response_free(&resp);
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/", (int)blen,
		 base);
	rc = imds_call("GET", url, get_headers, &resp, err);
	if (rc < 0)
		goto out;
	if (!resp.body || !resp.body_len || resp.body_len >= sizeof(role)) {
		rc = error_set(err, -ENOENT, "%s: the instance has no IAM role", url);
		goto out;
	}
	snprintf(role, sizeof(role), "%.*s", (int)strcspn(resp.body, "\r\n"), resp.body);
	http_response_free(&resp);
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen,
		 base, role);
	rc = imds_call("GET", url, get_headers, &resp, err);
	if (rc < 0)
		goto out;
	doc = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	if (!json_string_value(json_object_get(doc, "AccessKeyId")) ||
	    !json_string_value(json_object_get(doc, "SecretAccessKey"))) {
		rc = error_set(err, -EPROTO, "%s: no AccessKeyId/SecretAccessKey in the answer",
			       url);
		goto out;
	}
	rc = credentials_set(out, json_string_value(json_object_get(doc, "AccessKeyId")),
			     json_string_value(json_object_get(doc, "SecretAccessKey")),
			     json_string_value(json_object_get(doc, "Token")), err);
out:
	OPENSSL_cleanse(token_header, sizeof(token_header));
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	http_response_free(&resp);
	json_decref(doc); /* jansson keeps its own copy of the secret: freed here */
	return rc;
}

int aws_credentials_resolve(const struct aws_options *opts, struct aws_credentials *out,
			    struct error *err)
{
	const char *disabled = env("AWS_EC2_METADATA_DISABLED");
	int rc;

	memset(out, 0, sizeof(*out));
	if (opts->access_key_id || opts->secret_access_key) {
		if (!opts->access_key_id || !opts->secret_access_key)
			return error_set(err, -EINVAL,
					 "access_key_id and secret_access_key go together");
		return credentials_set(out, opts->access_key_id, opts->secret_access_key,
				       opts->session_token, err);
	}
	if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY"))
		return credentials_set(out, env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
				       env("AWS_SESSION_TOKEN"), err);
	if (disabled && strcasecmp(disabled, "true") == 0)
		return error_set(err, -ENOENT,
				 "no AWS credentials: give access_key_id/secret_access_key or set "
				 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (IMDS is disabled by "
				 "AWS_EC2_METADATA_DISABLED)");
	rc = credentials_from_imds(out, err);
	if (rc < 0)
		return error_wrap(err, rc,
				  "no AWS credentials: give access_key_id/secret_access_key, set "
				  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on EC2 with an "
				  "instance role (IMDSv2)");
	return 0;
}

/* ---- the client ---- */

#define AWS_DEFAULT_TIMEOUT_MS 60000L

struct aws {
	struct aws_credentials creds;
	char *region;
	char *s3_endpoint;  /* scheme://host[:port][/base], no trailing slash; NULL: real AWS */
	char *kms_endpoint; /* idem, always set */
	char *ca_file;
	struct http_tls tls;
	long timeout_ms;
};

const char *aws_region(const struct aws *aws)
{
	return aws->region;
}

const char *aws_s3_endpoint(const struct aws *aws)
{
	return aws->s3_endpoint;
}

const char *aws_kms_endpoint(const struct aws *aws)
{
	return aws->kms_endpoint;
}

static char *endpoint_dup(const char *url)
{
	size_t len = strlen(url);

	while (len && url[len - 1] == '/')
		len--;
	return strndup(url, len);
}

void aws_free(struct aws *aws)
{
	if (!aws)
		return;
	aws_credentials_free(&aws->creds);
	free(aws->region);
	free(aws->s3_endpoint);
	free(aws->kms_endpoint);
	free(aws->ca_file);
	free(aws);
}

static const char *first(const char *a, const char *b, const char *c)
{
	return a && *a ? a : b ? b : c;
}

static bool url_ok(const char *url)
{
	return (strncmp(url, "https://", 8) == 0 && url[8]) ||
	       (strncmp(url, "http://", 7) == 0 && url[7]);
}

struct aws *aws_new(const struct aws_options *opts, struct error *err)
{
	struct aws *aws = calloc(1, sizeof(*aws));
	const char *region = first(opts->region, env("AWS_REGION"), env("AWS_DEFAULT_REGION"));
	const char *s3 =
	    first(opts->endpoint_url, env("AWS_ENDPOINT_URL_S3"), env("AWS_ENDPOINT_URL"));
	const char *kms =
	    first(opts->kms_endpoint_url, env("AWS_ENDPOINT_URL_KMS"), env("AWS_ENDPOINT_URL"));
	const char *ca = first(opts->ca_file, env("AWS_CA_BUNDLE"), NULL);
	char real_kms[128];

	if (!aws) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (!region) {
		error_set(err, -EINVAL,
			  "no AWS region: set the region option, AWS_REGION or "
			  "AWS_DEFAULT_REGION");
		goto fail;
	}
	if ((s3 && !url_ok(s3)) || (kms && !url_ok(kms))) {
		error_set(err, -EINVAL, "endpoint URL %s: must start with https:// or http://",
			  s3 && !url_ok(s3) ? s3 : kms);
		goto fail;
	}
	snprintf(real_kms, sizeof(real_kms), "https://kms.%s.amazonaws.com", region);
	aws->region = strdup(region);
	aws->s3_endpoint = s3 ? endpoint_dup(s3) : NULL;
	aws->kms_endpoint = endpoint_dup(kms ? kms : real_kms);
	aws->ca_file = ca ? strdup(ca) : NULL;
	if (!aws->region || (s3 && !aws->s3_endpoint) || !aws->kms_endpoint ||
	    (ca && !aws->ca_file)) {
		error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	aws->tls.ca_file = aws->ca_file;
	aws->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : AWS_DEFAULT_TIMEOUT_MS;
	if (aws_credentials_resolve(opts, &aws->creds, err) < 0)
		goto fail;
	return aws;
fail:
	aws_free(aws);
	return NULL;
}

bool aws_ok(const struct http_response *resp)
{
	return resp->status >= 200 && resp->status <= 299;
}

int aws_call_send(struct aws *aws, const struct aws_call *c, struct http_response *resp,
		     struct error *err)
{
	const char *host = strstr(c->base, "://");
	const char *hdrs[AWS_CALL_MAX_HEADERS + 6] = {0};
	char host_h[300], date_h[40], sha_h[100], amz_date[17], hash[65], *token_h = NULL;
	char *auth_h = NULL, *url = NULL;
	struct aws_signature sig = {0};
	struct http_request req = {0};
	size_t n = 0, url_len;
	const char *base_path;
	int rc;

	host = host ? host + 3 : c->base;
	base_path = strchr(host, '/');
	snprintf(host_h, sizeof(host_h), "Host: %.*s",
		 (int)(base_path ? (size_t)(base_path - host) : strlen(host)), host);
	aws_amz_date(time(NULL), amz_date);
	snprintf(date_h, sizeof(date_h), "X-Amz-Date: %s", amz_date);
	aws_sha256_hex(c->body ? c->body : "", c->body ? c->body_len : 0, hash);
	hdrs[n++] = host_h;
	hdrs[n++] = date_h;
	if (strcmp(c->service, "s3") == 0) {
		snprintf(sha_h, sizeof(sha_h), "x-amz-content-sha256: %s", hash);
		hdrs[n++] = sha_h;
	}
	if (aws->creds.session_token) {
		if (asprintf(&token_h, "X-Amz-Security-Token: %s", aws->creds.session_token) < 0) {
			token_h = NULL;
			rc = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		hdrs[n++] = token_h;
	}
	for (const char *const *h = c->headers; h && *h && n < AWS_CALL_MAX_HEADERS; h++)
		hdrs[n++] = *h;
	rc = aws_sign(&(struct aws_sign_input){.method = c->method,
					       .path = c->path,
					       .query = c->query,
					       .headers = hdrs,
					       .payload_hash = hash,
					       .amz_date = amz_date,
					       .region = aws->region,
					       .service = c->service,
					       .creds = &aws->creds,
					       .s3 = strcmp(c->service, "s3") == 0},
		      &sig, err);
	if (rc < 0)
		goto out;
	url_len = strlen(c->base) + strlen(c->path) + (c->query ? strlen(c->query) : 0) + 2;
	url = malloc(url_len);
	if (!url || asprintf(&auth_h, "Authorization: %s", sig.authorization) < 0) {
		auth_h = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	snprintf(url, url_len, "%s%s%s%s", c->base, c->path, c->query && *c->query ? "?" : "",
		 c->query ? c->query : "");
	hdrs[n++] = auth_h;
	req = (struct http_request){.method = c->method,
				    .url = url,
				    .headers = hdrs,
				    .body = c->body,
				    .body_len = c->body_len,
				    .write_body = c->write,
				    .write_ctx = c->write_ctx,
				    .tls = &aws->tls,
				    .timeout_ms = c->timeout_ms ? c->timeout_ms : aws->timeout_ms,
				    .idempotent = c->idempotent};
	rc = http_request(&req, resp, err);
out:
	wipe_str_free(token_h);
	free(auth_h);
	free(url);
	aws_signature_free(&sig);
	return rc;
}
