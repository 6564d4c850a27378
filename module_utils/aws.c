#include "aws.h"

#include "b64.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ---- */

struct buf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	char *grown;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void aws_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	hex(md, 32, out);
}

void aws_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *aws_uri_encode(const char *text, size_t len, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	char *out = malloc(len * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = digits[c >> 4];
			*p++ = digits[c & 15];
		}
	}
	*p = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding of a query component; '+' stays '+' (SigV4 reads it as a literal plus). */
static char *uri_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* ---- SigV4 ---- */

struct pair {
	char *name;
	char *value;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static void pairs_free(struct pair *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

/* Canonical query: components decoded then RFC 3986-encoded, sorted by name then value. */
static int canonical_query(const char *query, struct buf *out)
{
	size_t n = 0, cap = 0;
	struct pair *pairs = NULL;
	const char *p = query ? query : "";
	int rc = 0;

	while (*p) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		size_t klen = (size_t)((eq ? eq : end) - p), vlen = eq ? (size_t)(end - eq - 1) : 0;
		char *k = NULL, *v = NULL;
		size_t dk = 0, dv = 0;

		if (end > p) {
			if (n == cap) {
				struct pair *grown =
				    reallocarray(pairs, cap ? cap * 2 : 8, sizeof(*pairs));
				if (!grown) {
					rc = -ENOMEM;
					goto out;
				}
				pairs = grown;
				cap = cap ? cap * 2 : 8;
			}
			k = uri_decode(p, klen, &dk);
			v = uri_decode(eq ? eq + 1 : "", vlen, &dv);
			pairs[n].name = k ? aws_uri_encode(k, dk, false) : NULL;
			pairs[n].value = v ? aws_uri_encode(v, dv, false) : NULL;
			free(k);
			free(v);
			n++;
			if (!pairs[n - 1].name || !pairs[n - 1].value) {
				rc = -ENOMEM;
				goto out;
			}
		}
		p = amp ? amp + 1 : end;
	}
	if (n)
		qsort(pairs, n, sizeof(*pairs), pair_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_str(out, "&");
		buf_str(out, pairs[i].name);
		buf_str(out, "=");
		buf_str(out, pairs[i].value);
	}
out:
	pairs_free(pairs, n);
	return rc;
}

/*
 * Non-S3 path: RFC 3986 §5.2.4 dot segments removed and empty segments dropped (as aws-c-auth
 * normalises), a trailing slash kept; then every byte but unreserved and '/' encoded — so an
 * already-encoded path is encoded a second time, as the SigV4 spec asks of non-S3 services.
 */
static int canonical_path(const char *path, bool s3, struct buf *out)
{
	const char *p = path && *path ? path : "/";
	size_t len = strlen(p), nseg = 0;
	const char **seg = NULL;
	size_t *seglen = NULL;
	struct buf norm = {0};
	char *enc = NULL;
	int rc = 0;

	if (s3) {
		buf_str(out, p);
		return 0;
	}
	seg = calloc(len + 1, sizeof(*seg));
	seglen = calloc(len + 1, sizeof(*seglen));
	if (!seg || !seglen) {
		rc = -ENOMEM;
		goto out;
	}
	for (const char *s = p; *s;) {
		const char *slash = strchr(s, '/');
		size_t l = slash ? (size_t)(slash - s) : strlen(s);

		if (l == 2 && strncmp(s, "..", 2) == 0) {
			if (nseg)
				nseg--;
		} else if (l > 0 && !(l == 1 && s[0] == '.')) {
			seg[nseg] = s;
			seglen[nseg++] = l;
		}
		s = slash ? slash + 1 : s + l;
	}
	buf_str(&norm, "/");
	for (size_t i = 0; i < nseg; i++) {
		buf_add(&norm, seg[i], seglen[i]);
		if (i + 1 < nseg || p[len - 1] == '/')
			buf_str(&norm, "/");
	}
	if (norm.failed || !(enc = aws_uri_encode(norm.data, norm.len, true))) {
		rc = -ENOMEM;
		goto out;
	}
	buf_str(out, enc);
out:
	free(enc);
	buf_free(&norm);
	free(seg);
	free(seglen);
	return rc;
}

/* Header value trimmed, inner runs of spaces collapsed to one. */
static char *trim_value(const char *v)
{
	char *out = malloc(strlen(v) + 1), *o = out;

	if (!out)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if ((*v == ' ' || *v == '\t') && (o > out && o[-1] == ' '))
			continue;
		*o++ = *v == '\t' ? ' ' : *v;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

static int header_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Canonical headers (names lower case, sorted; repeated names joined with ',') + signed list. */
static int canonical_headers(const char *const *headers, struct buf *out, struct buf *signed_list)
{
	size_t n = 0;
	struct pair *h;
	int rc = 0;

	for (const char *const *p = headers; p && *p; p++)
		n++;
	h = calloc(n + 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	n = 0;
	for (const char *const *p = headers; p && *p; p++) {
		const char *colon = strchr(*p, ':');

		if (!colon || colon == *p) {
			rc = -EINVAL;
			goto out;
		}
		h[n].name = strndup(*p, (size_t)(colon - *p));
		h[n].value = trim_value(colon + 1);
		if (!h[n].name || !h[n].value) {
			n++;
			rc = -ENOMEM;
			goto out;
		}
		for (char *c = h[n].name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (strcmp(h[n].name, "authorization") == 0) {
			free(h[n].name);
			free(h[n].value);
			continue;
		}
		n++;
	}
	/* A stable order for repeated names: insertion sort keeps their given order. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && header_cmp(&h[j - 1], &h[j]) > 0; j--) {
			struct pair t = h[j];

			h[j] = h[j - 1];
			h[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (same) {
			buf_str(out, ",");
		} else {
			if (i > 0) {
				buf_str(out, "\n");
				buf_str(signed_list, ";");
			}
			buf_str(out, h[i].name);
			buf_str(out, ":");
			buf_str(signed_list, h[i].name);
		}
		buf_str(out, h[i].value);
	}
	if (n)
		buf_str(out, "\n");
out:
	pairs_free(h, n);
	return rc;
}

static int hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		    &len)
		   ? 0
		   : -EIO;
}

static int signing_key(const char *secret, const char *date, const char *region,
		       const char *service, unsigned char key[32])
{
	size_t len = strlen(secret) + 5;
	char *k = malloc(len);
	int rc;

	if (!k)
		return -ENOMEM;
	snprintf(k, len, "AWS4%s", secret);
	rc = hmac(k, strlen(k), date, key);
	if (rc == 0)
		rc = hmac(key, 32, region, key);
	if (rc == 0)
		rc = hmac(key, 32, service, key);
	if (rc == 0)
		rc = hmac(key, 32, "aws4_request", key);
	OPENSSL_cleanse(k, len);
	free(k);
	return rc;
}

int aws_sign(const struct aws_sign_input *in, struct aws_signature *out, struct error *err)
{
	struct buf creq = {0}, sts = {0}, hdrs = {0}, signed_list = {0}, auth = {0};
	char date[9], creq_hash[65];
	unsigned char key[32], sig[32];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!in->amz_date || strlen(in->amz_date) != 16 || !in->creds ||
	    !in->creds->access_key_id || !in->creds->secret_access_key)
		return error_set(err, -EINVAL,
				 "SigV4: a date (YYYYMMDDTHHMMSSZ) and credentials are needed");
	memcpy(date, in->amz_date, 8);
	date[8] = '\0';
	buf_str(&creq, in->method);
	buf_str(&creq, "\n");
	rc = canonical_path(in->path, in->s3, &creq);
	if (rc == 0) {
		buf_str(&creq, "\n");
		rc = canonical_query(in->query, &creq);
	}
	if (rc == 0)
		rc = canonical_headers(in->headers, &hdrs, &signed_list);
	if (rc < 0) {
		rc = error_set(err, rc, "SigV4: %s",
			       rc == -EINVAL ? "a header without a name" : "out of memory");
		goto out;
	}
	buf_str(&creq, "\n");
	buf_add(&creq, hdrs.data ? hdrs.data : "", hdrs.len);
	buf_str(&creq, "\n");
	buf_add(&creq, signed_list.data ? signed_list.data : "", signed_list.len);
	buf_str(&creq, "\n");
	buf_str(&creq, in->payload_hash);
	if (creq.failed) {
		rc = error_set(err, -ENOMEM, "SigV4: out of memory");
		goto out;
	}
	aws_sha256_hex(creq.data, creq.len, creq_hash);
	buf_str(&sts, "AWS4-HMAC-SHA256\n");
	buf_str(&sts, in->amz_date);
	buf_str(&sts, "\n");
	buf_str(&sts, date);
	buf_str(&sts, "/");
	buf_str(&sts, in->region);
	buf_str(&sts, "/");
	buf_str(&sts, in->service);
	buf_str(&sts, "/aws4_request\n");
	buf_str(&sts, creq_hash);
	rc = sts.failed ? -ENOMEM : 0;
	if (rc == 0)
		rc = signing_key(in->creds->secret_access_key, date, in->region, in->service, key);
	if (rc == 0)
		rc = hmac(key, sizeof(key), sts.data, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		rc = error_set(err, rc, "SigV4: cannot compute the signature");
		goto out;
	}
	hex(sig, 32, out->signature);
	buf_str(&auth, "AWS4-HMAC-SHA256 Credential=");
	buf_str(&auth, in->creds->access_key_id);
	buf_str(&auth, "/");
	buf_str(&auth, date);
	buf_str(&auth, "/");
	buf_str(&auth, in->region);
	buf_str(&auth, "/");
	buf_str(&auth, in->service);
	buf_str(&auth, "/aws4_request, SignedHeaders=");
	buf_str(&auth, signed_list.data ? signed_list.data : "");
	buf_str(&auth, ", Signature=");
	buf_str(&auth, out->signature);
	if (auth.failed) {
		rc = error_set(err, -ENOMEM, "SigV4: out of memory");
		goto out;
	}
	out->canonical_request = creq.data;
	out->string_to_sign = sts.data;
	out->authorization = auth.data;
	creq.data = sts.data = auth.data = NULL;
out:
	buf_free(&creq);
	buf_free(&sts);
	buf_free(&hdrs);
	buf_free(&signed_list);
	buf_free(&auth);
	return rc;
}

void aws_signature_free(struct aws_signature *sig)
{
	free(sig->canonical_request);
	free(sig->string_to_sign);
	free(sig->authorization);
	memset(sig, 0, sizeof(*sig));
}

/* ---- XML: just enough for S3's answers ---- */

int aws_xml_find(const char *xml, size_t len, const char *name, const char **content,
		 size_t *content_len)
{
	size_t nlen = strlen(name);
	const char *end = xml + len;

	for (const char *p = xml; p && p < end; p++) {
		const char *gt, *close;

		p = memchr(p, '<', (size_t)(end - p));
		if (!p)
			break;
		if ((size_t)(end - p) < nlen + 2 || strncmp(p + 1, name, nlen) != 0 ||
		    (p[nlen + 1] != '>' && p[nlen + 1] != ' ' && p[nlen + 1] != '/'))
			continue;
		gt = memchr(p, '>', (size_t)(end - p));
		if (!gt)
			return -ENOENT;
		if (gt[-1] == '/') { /* <Name/>: empty */
			*content = gt + 1;
			*content_len = 0;
			return 0;
		}
		for (close = gt + 1; close < end; close++) {
			close = memchr(close, '<', (size_t)(end - close));
			if (!close)
				return -ENOENT;
			if ((size_t)(end - close) >= nlen + 3 && close[1] == '/' &&
			    strncmp(close + 2, name, nlen) == 0 && close[nlen + 2] == '>') {
				*content = gt + 1;
				*content_len = (size_t)(close - gt - 1);
				return 0;
			}
		}
		return -ENOENT;
	}
	return -ENOENT;
}

static bool utf8_put(char **o, unsigned long cp)
{
	char *p = *o;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return false;
	if (cp < 0x80) {
		*p++ = (char)cp;
	} else if (cp < 0x800) {
		*p++ = (char)(0xC0 | (cp >> 6));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xE0 | (cp >> 12));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*p++ = (char)(0xF0 | (cp >> 18));
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	}
	*o = p;
	return true;
}

char *aws_xml_text(const char *content, size_t len)
{
	static const struct {
		const char *name;
		char c;
	} entities[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	char *out = malloc(len + 1), *o = out;
	const char *end = content + len;

	if (!out)
		return NULL;
	for (const char *p = content; p < end;) {
		const char *semi;
		bool done = false;

		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
		if (!semi)
			goto bad;
		for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]) && !done; i++)
			if ((size_t)(semi - p) == strlen(entities[i].name) &&
			    strncmp(p + 1, entities[i].name, strlen(entities[i].name)) == 0) {
				*o++ = entities[i].c;
				done = true;
			}
		if (!done && p[1] == '#') {
			char *stop;
			bool is_hex = p[2] == 'x' || p[2] == 'X';
			unsigned long cp = strtoul(p + (is_hex ? 3 : 2), &stop, is_hex ? 16 : 10);

			/* &#N; takes at most as many bytes as it decodes to: out stays in bounds */
			if (stop != semi || stop == p + (is_hex ? 3 : 2) || !utf8_put(&o, cp))
				goto bad;
			done = true;
		}
		if (!done)
			goto bad;
		p = semi + 1;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* The text of <name> in xml as a new string, or NULL. */
static char *xml_get(const char *xml, size_t len, const char *name)
{
	const char *c;
	size_t clen;

	return aws_xml_find(xml, len, name, &c, &clen) == 0 ? aws_xml_text(c, clen) : NULL;
}

/* ---- credentials ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void aws_credentials_free(struct aws_credentials *creds)
{
	free(creds->access_key_id);
	wipe_free(creds->secret_access_key);
	wipe_free(creds->session_token);
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
/* Object bodies (parts, whole objects) may be large: a longer bound than API calls. */
#define AWS_TRANSFER_TIMEOUT_MS 3600000L
#define S3_MAX_PARTS 10000u

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

struct call {
	const char *service;
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
	long timeout_ms;
};

#define CALL_MAX_HEADERS 32

/* Signs and sends one request. resp is filled even for non-2xx answers. */
static int call_send(struct aws *aws, const struct call *c, struct http_response *resp,
		     struct error *err)
{
	const char *host = strstr(c->base, "://");
	const char *hdrs[CALL_MAX_HEADERS + 6] = {0};
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
	for (const char *const *h = c->headers; h && *h && n < CALL_MAX_HEADERS; h++)
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
	wipe_free(token_h);
	free(auth_h);
	free(url);
	aws_signature_free(&sig);
	return rc;
}

/* ---- S3 ---- */

struct s3_target {
	char *base;
	char *path;
};

static void s3_target_free(struct s3_target *t)
{
	free(t->base);
	free(t->path);
	t->base = t->path = NULL;
}

/*
 * Path-style (/bucket/key) on a given endpoint or for a dotted bucket (TLS wildcard names do
 * not cover dots); virtual-hosted (bucket.s3.region.amazonaws.com/key) for real AWS.
 */
static int s3_target(struct aws *aws, const char *bucket, const char *key, struct s3_target *t)
{
	char *enc_key = key ? aws_uri_encode(key, strlen(key), true) : strdup("");
	char *enc_bucket = aws_uri_encode(bucket, strlen(bucket), false);
	const char *ep = aws->s3_endpoint;
	const char *host = ep ? strstr(ep, "://") + 3 : NULL;
	const char *base_path = host ? strchr(host, '/') : NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!enc_key || !enc_bucket) {
		rc = -ENOMEM;
		goto out;
	}
	if (ep || strchr(bucket, '.')) {
		if (ep)
			t->base = strndup(ep, base_path ? (size_t)(base_path - ep) : strlen(ep));
		else if (asprintf(&t->base, "https://s3.%s.amazonaws.com", aws->region) < 0)
			t->base = NULL;
		if (asprintf(&t->path, "%s/%s%s%s", base_path ? base_path : "", enc_bucket,
			     key ? "/" : "", enc_key) < 0)
			t->path = NULL;
	} else {
		if (asprintf(&t->base, "https://%s.s3.%s.amazonaws.com", enc_bucket, aws->region) <
		    0)
			t->base = NULL;
		if (asprintf(&t->path, "/%s", enc_key) < 0)
			t->path = NULL;
	}
	if (!t->base || !t->path) {
		s3_target_free(t);
		rc = -ENOMEM;
	}
out:
	free(enc_key);
	free(enc_bucket);
	return rc;
}

/* S3's error document (<Error><Code/><Message/></Error>) into err; returns the errno code. */
static int s3_fail(const char *op, const char *bucket, const char *key,
		   const struct http_response *resp, struct error *err)
{
	char *code = resp->body ? xml_get(resp->body, resp->body_len, "Code") : NULL;
	char *msg = resp->body ? xml_get(resp->body, resp->body_len, "Message") : NULL;
	int rc = resp->status == 404 ? -ENOENT : resp->status == 403 ? -EACCES : -EPROTO;

	if (!code && resp->status == 404)
		code = strdup("NotFound");
	rc = error_set(err, rc, "S3 %s s3://%s/%s: HTTP %ld %s: %.300s", op, bucket, key ? key : "",
		       resp->status, code ? code : "(no code)", msg ? msg : "(no message)");
	free(code);
	free(msg);
	return rc;
}

static bool ok(const struct http_response *resp)
{
	return resp->status >= 200 && resp->status <= 299;
}

/*
 * The headers that create an object: its Content-Type (else libcurl's POST default,
 * application/x-www-form-urlencoded, would become the multipart object's type) and x-amz-meta-*
 * lines; *lines is a malloc'ed NULL-terminated array of malloc'ed strings.
 */
static int meta_headers(const struct s3_metadata *meta, size_t n, char ***lines)
{
	*lines = calloc(n + 2, sizeof(char *));
	if (!*lines || !((*lines)[0] = strdup("Content-Type: application/octet-stream")))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&(*lines)[i + 1], "x-amz-meta-%s: %s", meta[i].name, meta[i].value) <
		    0) {
			(*lines)[i + 1] = NULL;
			return -ENOMEM;
		}
	return 0;
}

static void lines_free(char **lines)
{
	for (char **l = lines; l && *l; l++)
		free(*l);
	free(lines);
}

void s3_put_result_free(struct s3_put_result *r)
{
	free(r->etag);
	r->etag = NULL;
}

int s3_put_object(struct aws *aws, const char *bucket, const char *key, const void *data,
		  size_t len, const struct s3_metadata *meta, size_t n_meta,
		  struct s3_put_result *out, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char **lines = NULL;
	int rc;

	if (out)
		out->etag = NULL;
	if (n_meta > CALL_MAX_HEADERS - 5)
		return error_set(err, -EINVAL, "S3 PutObject: too many metadata entries");
	rc = s3_target(aws, bucket, key, &t);
	if (rc == 0)
		rc = meta_headers(meta, n_meta, &lines);
	if (rc < 0) {
		rc = error_set(err, rc, "out of memory");
		goto out;
	}
	rc = call_send(aws,
		       &(struct call){.service = "s3",
				      .method = "PUT",
				      .base = t.base,
				      .path = t.path,
				      .headers = (const char *const *)lines,
				      .body = data ? data : "",
				      .body_len = len,
				      .idempotent = true,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 PutObject s3://%s/%s", bucket, key);
		goto out;
	}
	if (!ok(&resp)) {
		rc = s3_fail("PutObject", bucket, key, &resp, err);
		goto out;
	}
	if (out)
		out->etag = http_response_header(&resp, "ETag");
out:
	lines_free(lines);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* ---- S3 streaming upload ---- */

struct s3_upload {
	struct aws *aws;
	char *bucket, *key;
	char **meta_lines;
	size_t n_meta;
	char *buf;
	size_t part_size, fill;
	char *upload_id;
	char **etags;
	unsigned int parts;
	uint64_t bytes;
	bool done;
};

struct s3_upload *s3_upload_new(struct aws *aws, const char *bucket, const char *key,
				const struct s3_metadata *meta, size_t n_meta, size_t part_size,
				struct error *err)
{
	struct s3_upload *u = calloc(1, sizeof(*u));

	if (part_size == 0)
		part_size = S3_DEFAULT_PART_SIZE;
	if (part_size < S3_MIN_PART_SIZE)
		part_size = S3_MIN_PART_SIZE;
	if (!u)
		goto oom;
	if (n_meta > CALL_MAX_HEADERS - 5) {
		error_set(err, -EINVAL, "S3 upload: too many metadata entries");
		free(u);
		return NULL;
	}
	u->aws = aws;
	u->part_size = part_size;
	u->n_meta = n_meta;
	u->bucket = strdup(bucket);
	u->key = strdup(key);
	u->buf = malloc(part_size);
	u->etags = calloc(S3_MAX_PARTS, sizeof(char *));
	if (!u->bucket || !u->key || !u->buf || !u->etags ||
	    meta_headers(meta, n_meta, &u->meta_lines) < 0)
		goto oom;
	return u;
oom:
	s3_upload_free(u);
	error_set(err, -ENOMEM, "out of memory");
	return NULL;
}

uint64_t s3_upload_bytes(const struct s3_upload *u)
{
	return u->bytes;
}

unsigned int s3_upload_parts(const struct s3_upload *u)
{
	return u->parts;
}

/* POST ?uploads → UploadId. */
static int upload_create(struct s3_upload *u, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	int rc = s3_target(u->aws, u->bucket, u->key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = call_send(u->aws,
		       &(struct call){.service = "s3",
				      .method = "POST",
				      .base = t.base,
				      .path = t.path,
				      .query = "uploads=",
				      .headers = (const char *const *)u->meta_lines},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 CreateMultipartUpload s3://%s/%s", u->bucket, u->key);
	else if (!ok(&resp))
		rc = s3_fail("CreateMultipartUpload", u->bucket, u->key, &resp, err);
	else if (!(u->upload_id = xml_get(resp.body ? resp.body : "", resp.body_len, "UploadId")))
		rc = error_set(err, -EPROTO, "S3 CreateMultipartUpload s3://%s/%s: no UploadId",
			       u->bucket, u->key);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* PUT ?partNumber=N&uploadId=ID of the buffer; idempotent, so http.c retries 5xx and resets. */
static int upload_part(struct s3_upload *u, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *id = NULL, *query = NULL;
	unsigned int number = u->parts + 1;
	int rc;

	if (!u->upload_id)
		return error_set(err, -EINVAL, "S3 UploadPart: no multipart upload started");
	if (number > S3_MAX_PARTS)
		return error_set(err, -EFBIG, "S3 upload s3://%s/%s: more than %u parts", u->bucket,
				 u->key, S3_MAX_PARTS);
	rc = s3_target(u->aws, u->bucket, u->key, &t);
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (rc < 0 || !id || asprintf(&query, "partNumber=%u&uploadId=%s", number, id) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = call_send(u->aws,
		       &(struct call){.service = "s3",
				      .method = "PUT",
				      .base = t.base,
				      .path = t.path,
				      .query = query,
				      .body = u->buf,
				      .body_len = u->fill,
				      .idempotent = true,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 UploadPart %u s3://%s/%s", number, u->bucket, u->key);
		goto out;
	}
	if (!ok(&resp)) {
		rc = s3_fail("UploadPart", u->bucket, u->key, &resp, err);
		goto out;
	}
	u->etags[u->parts] = http_response_header(&resp, "ETag");
	if (!u->etags[u->parts]) {
		rc = error_set(err, -EPROTO, "S3 UploadPart %u s3://%s/%s: no ETag in the answer",
			       number, u->bucket, u->key);
		goto out;
	}
	u->parts++;
	u->fill = 0;
out:
	free(id);
	free(query);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

int s3_upload_write(struct s3_upload *u, const void *buf, size_t len, struct error *err)
{
	const char *p = buf;
	int rc = 0;

	if (u->done)
		return error_set(err, -EINVAL, "S3 upload s3://%s/%s: already finished", u->bucket,
				 u->key);
	while (len > 0) {
		size_t room = u->part_size - u->fill, n = len < room ? len : room;

		memcpy(u->buf + u->fill, p, n);
		u->fill += n;
		u->bytes += n;
		p += n;
		len -= n;
		if (u->fill < u->part_size)
			break;
		/* A full part, and more may come: the multipart upload starts here. */
		if (!u->upload_id)
			rc = upload_create(u, err);
		if (rc == 0)
			rc = upload_part(u, err);
		if (rc < 0) {
			s3_upload_abort(u);
			return rc;
		}
	}
	return 0;
}

static void xml_escape_into(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			buf_str(b, "&amp;");
			break;
		case '<':
			buf_str(b, "&lt;");
			break;
		case '>':
			buf_str(b, "&gt;");
			break;
		case '"':
			buf_str(b, "&quot;");
			break;
		case '\'':
			buf_str(b, "&apos;");
			break;
		default:
			buf_add(b, s, 1);
		}
	}
}

/*
 * CompleteMultipartUpload: attempts when S3 answers 200 with an <Error> (S3 documents that it may,
 * after the 200 was sent; the AWS SDKs retry it like a 5xx). 5xx and connection errors are
 * retried inside each attempt by http.c (idempotent). Completing the same upload with the same
 * part list again is safe: S3 keeps one object.
 */
#define COMPLETE_ATTEMPTS 3

/* One POST ?uploadId= with the part list; -EAGAIN when a 200 carried an <Error>. */
static int upload_complete_once(struct s3_upload *u, const struct s3_target *t, const char *query,
				const struct buf *body, struct s3_put_result *out,
				struct error *err)
{
	struct http_response resp = {0};
	int rc = call_send(
	    u->aws,
	    &(struct call){.service = "s3",
			   .method = "POST",
			   .base = t->base,
			   .path = t->path,
			   .query = query,
			   .headers = (const char *const[]){"Content-Type: application/xml", NULL},
			   .body = body->data,
			   .body_len = body->len,
			   .idempotent = true,
			   .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
	    &resp, err);

	if (rc < 0) {
		rc =
		    error_wrap(err, rc, "S3 CompleteMultipartUpload s3://%s/%s", u->bucket, u->key);
		goto out;
	}
	if (!ok(&resp) || !resp.body ||
	    aws_xml_find(resp.body, resp.body_len, "Error", &(const char *){NULL}, &(size_t){0}) ==
		0 ||
	    aws_xml_find(resp.body, resp.body_len, "CompleteMultipartUploadResult",
			 &(const char *){NULL}, &(size_t){0}) < 0) {
		rc = s3_fail("CompleteMultipartUpload", u->bucket, u->key, &resp, err);
		if (ok(&resp))
			rc = -EAGAIN;
		goto out;
	}
	if (out)
		out->etag = xml_get(resp.body, resp.body_len, "ETag");
out:
	http_response_free(&resp);
	return rc;
}

static int upload_complete(struct s3_upload *u, struct s3_put_result *out, struct error *err)
{
	struct s3_target t = {0};
	struct buf body = {0};
	char *id = NULL, *query = NULL, num[16];
	int rc;

	buf_str(&body,
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned int i = 0; i < u->parts; i++) {
		snprintf(num, sizeof(num), "%u", i + 1);
		buf_str(&body, "<Part><PartNumber>");
		buf_str(&body, num);
		buf_str(&body, "</PartNumber><ETag>");
		xml_escape_into(&body, u->etags[i]);
		buf_str(&body, "</ETag></Part>");
	}
	buf_str(&body, "</CompleteMultipartUpload>");
	rc = s3_target(u->aws, u->bucket, u->key, &t);
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (rc < 0 || body.failed || !id || asprintf(&query, "uploadId=%s", id) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int attempt = 0; attempt < COMPLETE_ATTEMPTS; attempt++) {
		if (attempt > 0)
			http_backoff(attempt - 1);
		rc = upload_complete_once(u, &t, query, &body, out, err);
		if (rc != -EAGAIN)
			break;
	}
	if (rc == -EAGAIN) /* still an <Error> after every attempt */
		rc = error_wrap(err, -EPROTO, "after %d attempts", COMPLETE_ATTEMPTS);
out:
	free(id);
	free(query);
	buf_free(&body);
	s3_target_free(&t);
	return rc;
}

int s3_upload_finish(struct s3_upload *u, struct s3_put_result *out, struct error *err)
{
	int rc;

	if (out)
		out->etag = NULL;
	if (u->done)
		return error_set(err, -EINVAL, "S3 upload s3://%s/%s: already finished", u->bucket,
				 u->key);
	if (!u->upload_id) {
		/* Everything fit in one part: one PutObject (meta lines are "x-amz-meta-k: v"). */
		struct s3_target t = {0};
		struct http_response resp = {0};

		rc = s3_target(u->aws, u->bucket, u->key, &t);
		if (rc < 0)
			return error_set(err, rc, "out of memory");
		rc = call_send(u->aws,
			       &(struct call){.service = "s3",
					      .method = "PUT",
					      .base = t.base,
					      .path = t.path,
					      .headers = (const char *const *)u->meta_lines,
					      .body = u->buf,
					      .body_len = u->fill,
					      .idempotent = true,
					      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
			       &resp, err);
		if (rc < 0)
			rc = error_wrap(err, rc, "S3 PutObject s3://%s/%s", u->bucket, u->key);
		else if (!ok(&resp))
			rc = s3_fail("PutObject", u->bucket, u->key, &resp, err);
		else if (out)
			out->etag = http_response_header(&resp, "ETag");
		http_response_free(&resp);
		s3_target_free(&t);
		u->done = true;
		return rc;
	}
	rc = u->fill > 0 ? upload_part(u, err) : 0;
	if (rc == 0)
		rc = upload_complete(u, out, err);
	if (rc < 0) {
		s3_upload_abort(u);
		return rc;
	}
	/* Completed: nothing left for s3_upload_free to abort (S3 would answer NoSuchUpload). */
	free(u->upload_id);
	u->upload_id = NULL;
	u->done = true;
	return 0;
}

void s3_upload_abort(struct s3_upload *u)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	struct error ignored;
	char *id = NULL, *query = NULL;

	u->done = true;
	if (!u->upload_id)
		return;
	id = aws_uri_encode(u->upload_id, strlen(u->upload_id), false);
	if (id && s3_target(u->aws, u->bucket, u->key, &t) == 0 &&
	    asprintf(&query, "uploadId=%s", id) >= 0)
		/* DELETE is idempotent: retried on 5xx; its failure leaves nothing more to do. */
		call_send(u->aws,
			  &(struct call){.service = "s3",
					 .method = "DELETE",
					 .base = t.base,
					 .path = t.path,
					 .query = query,
					 .idempotent = true},
			  &resp, &ignored);
	else
		query = NULL;
	free(u->upload_id);
	u->upload_id = NULL;
	free(id);
	free(query);
	http_response_free(&resp);
	s3_target_free(&t);
}

void s3_upload_free(struct s3_upload *u)
{
	if (!u)
		return;
	if (u->upload_id) /* never finished: no upload may stay behind */
		s3_upload_abort(u);
	free(u->bucket);
	free(u->key);
	lines_free(u->meta_lines);
	free(u->buf);
	for (unsigned int i = 0; u->etags && i < u->parts; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->upload_id);
	free(u);
}

/* ---- S3 reads, lists, deletes ---- */

int s3_get_object(struct aws *aws, const char *bucket, const char *key, uint64_t offset,
		  uint64_t length, http_write_fn write, void *ctx, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char range[80];
	const char *headers[] = {range, NULL};
	int rc = s3_target(aws, bucket, key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	if (length)
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)offset,
			 (unsigned long long)(offset + length - 1));
	else
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)offset);
	rc = call_send(aws,
		       &(struct call){.service = "s3",
				      .method = "GET",
				      .base = t.base,
				      .path = t.path,
				      .headers = length || offset ? headers : NULL,
				      .write = write,
				      .write_ctx = ctx,
				      .timeout_ms = AWS_TRANSFER_TIMEOUT_MS},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 GetObject s3://%s/%s", bucket, key);
	else if (!ok(&resp))
		rc = s3_fail("GetObject", bucket, key, &resp, err);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

static time_t parse_iso8601(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	return rest ? timegm(&tm) : 0;
}

static time_t parse_http_date(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%a, %d %b %Y %H:%M:%S", &tm) : NULL;

	return rest ? timegm(&tm) : 0;
}

void s3_object_info_free(struct s3_object_info *info)
{
	free(info->etag);
	for (size_t i = 0; i < info->n_meta; i++) {
		free((char *)info->meta[i].name);
		free((char *)info->meta[i].value);
	}
	free(info->meta);
	memset(info, 0, sizeof(*info));
}

const char *s3_object_info_meta(const struct s3_object_info *info, const char *name)
{
	for (size_t i = 0; i < info->n_meta; i++)
		if (strcasecmp(info->meta[i].name, name) == 0)
			return info->meta[i].value;
	return NULL;
}

/* The text between start and end, trimmed of blanks and CR. */
static char *span_trim(const char *start, const char *end)
{
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(start, (size_t)(end - start));
}

/* x-amz-meta-* response headers into info->meta (names lower case). */
static int collect_meta(const struct http_response *resp, struct s3_object_info *info)
{
	static const char prefix[] = "x-amz-meta-";
	const size_t plen = sizeof(prefix) - 1;
	size_t n = 0;

	for (const char *l = resp->headers; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncasecmp(l, prefix, plen) == 0;
	info->meta = calloc(n + 1, sizeof(*info->meta));
	if (!info->meta)
		return -ENOMEM;
	for (const char *l = resp->headers; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *eol = strchr(l, '\n'), *colon;
		char *name, *value;

		if (!eol)
			eol = l + strlen(l);
		colon = memchr(l, ':', (size_t)(eol - l));
		if (strncasecmp(l, prefix, plen) != 0 || !colon || info->n_meta >= n)
			continue;
		name = strndup(l + plen, (size_t)(colon - l) - plen);
		value = span_trim(colon + 1, eol);
		if (!name || !value) {
			free(name);
			free(value);
			return -ENOMEM;
		}
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		info->meta[info->n_meta].name = name;
		info->meta[info->n_meta].value = value;
		info->n_meta++;
	}
	return 0;
}

int s3_head_object(struct aws *aws, const char *bucket, const char *key, struct s3_object_info *out,
		   struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *length = NULL, *modified = NULL;
	int rc = s3_target(aws, bucket, key, &t);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = call_send(
	    aws, &(struct call){.service = "s3", .method = "HEAD", .base = t.base, .path = t.path},
	    &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 HeadObject s3://%s/%s", bucket, key);
		goto out;
	}
	if (!ok(&resp)) {
		rc = s3_fail("HeadObject", bucket, key, &resp, err);
		goto out;
	}
	length = http_response_header(&resp, "Content-Length");
	modified = http_response_header(&resp, "Last-Modified");
	out->etag = http_response_header(&resp, "ETag");
	out->size = length ? strtoull(length, NULL, 10) : 0;
	out->last_modified = parse_http_date(modified);
	if (collect_meta(&resp, out) < 0)
		rc = error_set(err, -ENOMEM, "out of memory");
out:
	if (rc < 0)
		s3_object_info_free(out);
	free(length);
	free(modified);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* One <Contents> block of a ListObjectsV2 page to the callback. */
static int list_entry(const char *xml, size_t len, s3_list_fn fn, void *ctx, bool *bad)
{
	char *key = xml_get(xml, len, "Key"), *size = xml_get(xml, len, "Size");
	char *modified = xml_get(xml, len, "LastModified"), *etag = xml_get(xml, len, "ETag");
	int rc = 0;

	*bad = !key || !size;
	if (!*bad)
		rc = fn(ctx, &(struct s3_list_entry){.key = key,
						     .size = strtoull(size, NULL, 10),
						     .last_modified = parse_iso8601(modified),
						     .etag = etag ? etag : ""});
	free(key);
	free(size);
	free(modified);
	free(etag);
	return rc;
}

int s3_list_objects(struct aws *aws, const char *bucket, const char *prefix, s3_list_fn fn,
		    void *ctx, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *token = NULL, *query = NULL, *enc_prefix = NULL, *enc_token = NULL, *truncated = NULL;
	int rc = s3_target(aws, bucket, NULL, &t);

	enc_prefix = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
	if (rc < 0 || !enc_prefix) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned int page = 0;; page++) {
		const char *block, *p;
		size_t block_len;
		bool bad = false;

		free(query);
		free(enc_token);
		enc_token = token ? aws_uri_encode(token, strlen(token), false) : NULL;
		if (asprintf(&query, "list-type=2&prefix=%s%s%s", enc_prefix,
			     enc_token ? "&continuation-token=" : "",
			     enc_token ? enc_token : "") < 0) {
			query = NULL;
			rc = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		http_response_free(&resp);
		rc = call_send(aws,
			       &(struct call){.service = "s3",
					      .method = "GET",
					      .base = t.base,
					      .path = t.path,
					      .query = query},
			       &resp, err);
		if (rc < 0) {
			rc = error_wrap(err, rc, "S3 ListObjectsV2 s3://%s/%s", bucket,
					prefix ? prefix : "");
			goto out;
		}
		if (!ok(&resp) || !resp.body) {
			rc = s3_fail("ListObjectsV2", bucket, prefix, &resp, err);
			goto out;
		}
		for (p = resp.body; aws_xml_find(p, resp.body_len - (size_t)(p - resp.body),
						 "Contents", &block, &block_len) == 0;
		     p = block + block_len) {
			rc = list_entry(block, block_len, fn, ctx, &bad);
			if (bad)
				rc = error_set(err, -EPROTO,
					       "S3 ListObjectsV2 s3://%s: an entry "
					       "without Key or Size",
					       bucket);
			if (rc != 0)
				goto out;
		}
		free(truncated);
		truncated = xml_get(resp.body, resp.body_len, "IsTruncated");
		free(token);
		token = xml_get(resp.body, resp.body_len, "NextContinuationToken");
		if (!truncated || strcmp(truncated, "true") != 0)
			break;
		if (!token || page > 1000000) {
			rc = error_set(err, -EPROTO,
				       "S3 ListObjectsV2 s3://%s: truncated without "
				       "a continuation token",
				       bucket);
			goto out;
		}
	}
out:
	free(token);
	free(query);
	free(enc_prefix);
	free(enc_token);
	free(truncated);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

int s3_delete_object(struct aws *aws, const char *bucket, const char *key, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	int rc = s3_target(aws, bucket, key, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	rc = call_send(aws,
		       &(struct call){.service = "s3",
				      .method = "DELETE",
				      .base = t.base,
				      .path = t.path,
				      .idempotent = true},
		       &resp, err);
	if (rc < 0)
		rc = error_wrap(err, rc, "S3 DeleteObject s3://%s/%s", bucket, key);
	else if (!ok(&resp))
		rc = s3_fail("DeleteObject", bucket, key, &resp, err);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* One DeleteObjects request (≤ 1000 keys). S3 requires Content-MD5 (or an x-amz-checksum-*)
 * on it [S3 API DeleteObjects]; Content-MD5 works everywhere. */
static int delete_batch(struct aws *aws, const struct s3_target *t, const char *bucket,
			const char *const *keys, size_t n, struct error *err)
{
	struct http_response resp = {0};
	struct buf body = {0};
	unsigned char md5[16];
	unsigned int md5_len = 0;
	char *b64 = NULL, md5_h[64];
	const char *headers[] = {md5_h, "Content-Type: application/xml", NULL};
	const char *block;
	size_t block_len;
	int rc;

	buf_str(&body,
		"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (size_t i = 0; i < n; i++) {
		buf_str(&body, "<Object><Key>");
		xml_escape_into(&body, keys[i]);
		buf_str(&body, "</Key></Object>");
	}
	buf_str(&body, "</Delete>");
	if (body.failed || !EVP_Digest(body.data, body.len, md5, &md5_len, EVP_md5(), NULL) ||
	    !(b64 = b64_encode(md5, sizeof(md5)))) {
		rc = error_set(err, -ENOMEM, "S3 DeleteObjects: cannot build the request");
		goto out;
	}
	snprintf(md5_h, sizeof(md5_h), "Content-MD5: %s", b64);
	rc = call_send(aws,
		       &(struct call){.service = "s3",
				      .method = "POST",
				      .base = t->base,
				      .path = t->path,
				      .query = "delete=",
				      .headers = headers,
				      .body = body.data,
				      .body_len = body.len,
				      .idempotent = true},
		       &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 DeleteObjects s3://%s", bucket);
		goto out;
	}
	if (!ok(&resp) || !resp.body) {
		rc = s3_fail("DeleteObjects", bucket, NULL, &resp, err);
		goto out;
	}
	if (aws_xml_find(resp.body, resp.body_len, "Error", &block, &block_len) == 0) {
		char *key = xml_get(block, block_len, "Key"),
		     *code = xml_get(block, block_len, "Code");
		char *msg = xml_get(block, block_len, "Message");

		rc = error_set(err, -EPROTO, "S3 DeleteObjects s3://%s/%s: %s: %.300s", bucket,
			       key ? key : "", code ? code : "(no code)",
			       msg ? msg : "(no message)");
		free(key);
		free(code);
		free(msg);
	}
out:
	free(b64);
	buf_free(&body);
	http_response_free(&resp);
	return rc;
}

int s3_delete_objects(struct aws *aws, const char *bucket, const char *const *keys, size_t n,
		      struct error *err)
{
	struct s3_target t = {0};
	int rc = s3_target(aws, bucket, NULL, &t);

	if (rc < 0)
		return error_set(err, rc, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i += 1000)
		rc = delete_batch(aws, &t, bucket, keys + i, n - i < 1000 ? n - i : 1000, err);
	s3_target_free(&t);
	return rc;
}

int s3_count_multipart_uploads(struct aws *aws, const char *bucket, const char *prefix,
			       size_t *count, struct error *err)
{
	struct s3_target t = {0};
	struct http_response resp = {0};
	char *query = NULL,
	     *enc = aws_uri_encode(prefix ? prefix : "", prefix ? strlen(prefix) : 0, false);
	const char *block, *p;
	size_t block_len;
	int rc = s3_target(aws, bucket, NULL, &t);

	*count = 0;
	if (rc < 0 || !enc || asprintf(&query, "prefix=%s&uploads=", enc) < 0) {
		query = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = call_send(
	    aws,
	    &(struct call){
		.service = "s3", .method = "GET", .base = t.base, .path = t.path, .query = query},
	    &resp, err);
	if (rc < 0) {
		rc = error_wrap(err, rc, "S3 ListMultipartUploads s3://%s", bucket);
		goto out;
	}
	if (!ok(&resp) || !resp.body) {
		rc = s3_fail("ListMultipartUploads", bucket, prefix, &resp, err);
		goto out;
	}
	for (p = resp.body; aws_xml_find(p, resp.body_len - (size_t)(p - resp.body), "Upload",
					 &block, &block_len) == 0;
	     p = block + block_len)
		(*count)++;
out:
	free(query);
	free(enc);
	http_response_free(&resp);
	s3_target_free(&t);
	return rc;
}

/* ---- KMS ---- */

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
	rc = call_send(aws,
		       &(struct call){.service = "kms",
				      .method = "POST",
				      .base = aws->kms_endpoint,
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
	      : ok(&resp)   ? json_object()
			    : NULL;
	if (!ok(&resp)) {
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

static void wipe_buffer_free(unsigned char *p, size_t len)
{
	if (p) {
		OPENSSL_cleanse(p, len);
		free(p);
	}
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
	wipe_buffer_free(plain, plain_len);
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
	wipe_buffer_free(p->data, p->len);
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
