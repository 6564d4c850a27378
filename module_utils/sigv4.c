#include "sigv4.h"

#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aws_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	hex_encode(md, 32, out);
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
	hex_encode(sig, 32, out->signature);
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
