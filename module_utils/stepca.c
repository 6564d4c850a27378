#include "stepca.h"

#include "http.h"
#include "jose.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The step CLI's default token lifetime (cli-utils/token: 5 min); step-ca itself sets none. */
#define TOKEN_LIFETIME_S 300

static long timeout_of(const struct stepca *ca)
{
	return ca->timeout_ms > 0 ? ca->timeout_ms : 30000L;
}

/* ca->url + path into a new string (caller frees). */
static char *ca_endpoint(const struct stepca *ca, const char *path)
{
	size_t len = strlen(ca->url);
	char *out;

	while (len && ca->url[len - 1] == '/')
		len--;
	if (asprintf(&out, "%.*s%s", (int)len, ca->url, path) < 0)
		return NULL;
	return out;
}

static int ca_json(const struct stepca *ca, const char *method, const char *path,
		   const json_t *body, const struct http_tls *client, json_t **out,
		   struct error *err)
{
	struct http_tls tls = { .ca_file = ca->root_file };
	char *url = ca_endpoint(ca, path);
	int rc;

	if (!url)
		return error_set(err, -ENOMEM, "out of memory");
	if (client) {
		tls.cert_file = client->cert_file;
		tls.key_file = client->key_file;
	}
	rc = http_json(method, url, body, &tls, timeout_of(ca), out, err);
	free(url);
	return rc;
}

int stepca_health(const struct stepca *ca, struct error *err)
{
	json_t *answer = NULL;
	int rc = ca_json(ca, "GET", "/health", NULL, NULL, &answer, err);

	if (rc == 0 && strcmp(json_string_value(json_object_get(answer, "status")) ?: "", "ok") != 0)
		rc = error_set(err, -EPROTO, "%s/health did not answer {\"status\":\"ok\"}", ca->url);
	json_decref(answer);
	return rc;
}

/* The provisioner called name in one page, or NULL. */
static json_t *find_in_page(const json_t *page, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(page, "provisioners"), i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));
		const char *pname = json_string_value(json_object_get(p, "name"));

		if (type && pname && strcasecmp(type, "JWK") == 0 && strcmp(pname, name) == 0)
			return p;
	}
	return NULL;
}

int stepca_provisioner(const struct stepca *ca, const char *name, json_t **key,
		       char **encrypted_key, struct error *err)
{
	char path[512] = "/provisioners?limit=100";
	json_t *page = NULL, *found = NULL;
	int rc = 0;

	*key = NULL;
	*encrypted_key = NULL;
	/* Bounded paging: a CA with more than 100 pages of provisioners is not one of ours. */
	for (int pages = 0; pages < 100 && !found; pages++) {
		const char *cursor;

		json_decref(page);
		page = NULL;
		rc = ca_json(ca, "GET", path, NULL, NULL, &page, err);
		if (rc < 0)
			goto out;
		found = find_in_page(page, name);
		cursor = json_string_value(json_object_get(page, "nextCursor"));
		if (found || !cursor || !*cursor)
			break;
		snprintf(path, sizeof(path), "/provisioners?limit=100&cursor=%.400s", cursor);
	}
	if (!found) {
		rc = error_set(err, -ENOENT, "the CA at %s has no JWK provisioner named '%s'",
			       ca->url, name);
		goto out;
	}
	if (!json_is_object(json_object_get(found, "key")) ||
	    !json_is_string(json_object_get(found, "encryptedKey"))) {
		rc = error_set(err, -EPROTO, "provisioner '%s' has no key or encryptedKey", name);
		goto out;
	}
	*key = json_incref(json_object_get(found, "key"));
	*encrypted_key = strdup(json_string_value(json_object_get(found, "encryptedKey")));
	if (!*encrypted_key) {
		json_decref(*key);
		*key = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
	}
out:
	json_decref(page);
	return rc;
}

/* https://HOST[:PORT]/1.0/sign from the CA URL, as the step CLI makes it (step-ca ignores the port). */
static char *sign_audience(const char *ca_url)
{
	const char *host = strstr(ca_url, "://");
	size_t len;
	char *aud;

	host = host ? host + 3 : ca_url;
	len = strcspn(host, "/");
	if (asprintf(&aud, "https://%.*s/1.0/sign", (int)len, host) < 0)
		return NULL;
	return aud;
}

static json_t *token_claims(const char *provisioner, const char *aud, const char *subject,
			    const char *const *sans, size_t n_sans, const char *root_fingerprint,
			    const char *jti)
{
	json_t *claims, *list = json_array();
	json_int_t now = (json_int_t)time(NULL);

	for (size_t i = 0; list && i < n_sans; i++)
		json_array_append_new(list, json_string(sans[i]));
	claims = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:s}", "iss", provisioner, "sub",
			   subject, "aud", aud, "sans", list, "iat", now, "nbf", now, "exp",
			   now + TOKEN_LIFETIME_S, "jti", jti);
	if (claims && root_fingerprint)
		json_object_set_new(claims, "sha", json_string(root_fingerprint));
	return claims;
}

int stepca_sign_token(EVP_PKEY *key, const char *kid, const char *provisioner,
		      const char *ca_url, const char *subject, const char *const *sans,
		      size_t n_sans, const char *root_fingerprint, char **token, struct error *err)
{
	char *aud = sign_audience(ca_url), *jti = jose_random_jti();
	json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "kid", kid, "typ", "JWT");
	json_t *claims = NULL;
	int rc;

	*token = NULL;
	if (!aud || !jti || !header) {
		rc = error_set(err, -ENOMEM, "out of memory while making a token");
		goto out;
	}
	claims = token_claims(provisioner, aud, subject, sans, n_sans, root_fingerprint, jti);
	if (!claims) {
		rc = error_set(err, -ENOMEM, "out of memory while making a token");
		goto out;
	}
	rc = jose_jws_sign_es256(key, header, claims, token, err);
out:
	free(aud);
	free(jti);
	json_decref(header);
	json_decref(claims);
	return rc;
}

/* Joins certChain (leaf first, no root) into one PEM text. */
static int chain_pem_of(const json_t *answer, char **chain_pem, struct error *err)
{
	json_t *chain = json_object_get(answer, "certChain"), *item;
	size_t i, total = 1;
	char *out;

	if (!json_is_array(chain) || json_array_size(chain) == 0) {
		/* Older answers: crt + ca. */
		chain = json_pack("[O?O?]", json_object_get(answer, "crt"),
				  json_object_get(answer, "ca"));
	} else {
		json_incref(chain);
	}
	json_array_foreach(chain, i, item)
		total += json_string_length(item) + 1;
	out = calloc(1, total);
	if (!out || !json_array_size(chain)) {
		free(out);
		json_decref(chain);
		return error_set(err, -EPROTO, "the CA answered without a certificate");
	}
	json_array_foreach(chain, i, item) {
		strcat(out, json_string_value(item) ?: "");
		if (total > 1 && out[0] && out[strlen(out) - 1] != '\n')
			strcat(out, "\n");
	}
	json_decref(chain);
	*chain_pem = out;
	return 0;
}

int stepca_sign(const struct stepca *ca, const char *csr_pem, const char *token,
		const char *not_after, char **chain_pem, struct error *err)
{
	json_t *body = json_pack("{s:s, s:s}", "csr", csr_pem, "ott", token);
	json_t *answer = NULL;
	int rc;

	*chain_pem = NULL;
	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	if (not_after)
		json_object_set_new(body, "notAfter", json_string(not_after));
	rc = ca_json(ca, "POST", "/1.0/sign", body, NULL, &answer, err);
	if (rc == 0)
		rc = chain_pem_of(answer, chain_pem, err);
	json_decref(body);
	json_decref(answer);
	return rc;
}

int stepca_renew(const struct stepca *ca, const char *cert_file, const char *key_file,
		 char **chain_pem, struct error *err)
{
	struct http_tls client = { .cert_file = cert_file, .key_file = key_file };
	json_t *answer = NULL;
	int rc;

	*chain_pem = NULL;
	rc = ca_json(ca, "POST", "/1.0/renew", NULL, &client, &answer, err);
	if (rc == 0)
		rc = chain_pem_of(answer, chain_pem, err);
	json_decref(answer);
	return rc;
}

/* Multiplier in seconds for a Go duration unit at s (advances *len over it), 0 if unknown. */
static double duration_unit(const char *s, size_t *len)
{
	static const struct {
		const char *name;
		double seconds;
	} units[] = { { "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 }, { "ms", 1e-3 },
		      { "s", 1 },     { "m", 60 },    { "h", 3600 } };

	/* Longest match first: "ms" before "m". */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (strncmp(s, units[i].name, n) == 0 && (n > 1 || s[1] != 's')) {
			*len = n;
			return units[i].seconds;
		}
	}
	return 0;
}

int stepca_duration_parse(const char *text, double *seconds)
{
	const char *p = text;
	double total = 0;

	if (!text || !*text)
		return -EINVAL;
	if (strcmp(text, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	while (*p) {
		size_t digits = strspn(p, "0123456789"), unit_len = 0, frac = 0;
		double value, unit;

		if (p[digits] == '.')
			frac = 1 + strspn(p + digits + 1, "0123456789");
		if (digits + frac == 0 || (digits == 0 && frac == 1))
			return -EINVAL;
		value = strtod(p, NULL); /* only digits and one dot: strtod cannot overrun */
		unit = duration_unit(p + digits + frac, &unit_len);
		if (unit == 0)
			return -EINVAL;
		total += value * unit;
		p += digits + frac + unit_len;
	}
	*seconds = total;
	return 0;
}

int stepca_provisioner_key(const json_t *public_jwk, const char *encrypted_key,
			   const char *password, EVP_PKEY **key, char **kid, struct error *err)
{
	unsigned char *plain = NULL;
	json_t *private_jwk = NULL;
	size_t len = 0;
	int rc;

	*key = NULL;
	*kid = NULL;
	rc = jose_jwe_decrypt_pbes2(encrypted_key, password, &plain, &len, err);
	if (rc < 0) {
		rc = error_wrap(err, -EACCES, "the password does not open the provisioner key");
		goto out;
	}
	private_jwk = json_loadb((const char *)plain, len, 0, NULL);
	*key = private_jwk ? jose_jwk_to_pkey(private_jwk, err) : NULL;
	*kid = strdup(json_string_value(json_object_get(public_jwk, "kid")) ?: "");
	if (!*key || !*kid) {
		EVP_PKEY_free(*key);
		free(*kid);
		*key = NULL;
		*kid = NULL;
		rc = error_set(err, -EPROTO, "the provisioner key is unusable");
	}
out:
	if (plain)
		jose_secret_free(plain, len);
	json_decref(private_jwk); /* jansson frees without wiping; the JWK text was wiped above */
	return rc;
}

const json_t *stepca_config_provisioner(const json_t *config, const char *name)
{
	const json_t *list = json_object_get(json_object_get(config, "authority"), "provisioners");
	json_t *p;
	size_t i;

	json_array_foreach(list, i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));
		const char *n = json_string_value(json_object_get(p, "name"));

		if (type && n && strcmp(type, "JWK") == 0 && strcmp(n, name) == 0)
			return p;
	}
	return NULL;
}
