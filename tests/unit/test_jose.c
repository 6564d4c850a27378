/*
 * cmocka tests of module_utils/b64 and module_utils/jose.
 *
 * Vectors come from outside (STYLE §12): RFC 4648 §10, RFC 3394 §4.1, RFC 7638 §3.1, RFC 7517
 * Appendix C, and the JSON files in tests/unit/vectors/jose/, written by the Go code step-ca 0.19
 * runs (tests/unit/vectors/jose/gen/gen.go; gen/run.sh also checks that step-ca accepts our
 * output).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"
#include "jose.h"

#include <openssl/evp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rc must be code and the message must contain what; a failure shows both sides (STYLE §13). */
#define assert_error(rc, code, err, what)                                                          \
	do {                                                                                       \
		int rc_ = (rc);                                                                    \
		if (rc_ != (code) || !strstr((err).msg, (what)))                                   \
			fail_msg("expected %d \"%s\", got %d \"%s\"", (code), (what), rc_,         \
				 (err).msg);                                                       \
	} while (0)

/* The vectors sit beside this file; JOSE_VECTORS overrides (tests run from the repo root). */
static json_t *vectors_load(const char *name)
{
	const char *dir = getenv("JOSE_VECTORS");
	char path[1024];
	json_error_t jerr;
	json_t *v;

	if (dir)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else
		snprintf(path, sizeof(path), "%.*s/vectors/jose/%s",
			 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, name);
	v = json_load_file(path, 0, &jerr);
	if (!v)
		fail_msg("%s: %s", path, jerr.text);
	return v;
}

static const json_t *vector_find(const json_t *list, const char *name)
{
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v) if (strcmp(json_string_value(json_object_get(v, "name")),
						  name) == 0) return v;
	fail_msg("no vector %s", name);
	return NULL;
}

static const char *str(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));

	assert_non_null(s);
	return s;
}

/* A copy of compact with one character in the middle of part (0-based) changed. */
static char *tamper(const char *compact, int part)
{
	char *copy = strdup(compact), *p = copy, *c;

	for (int i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	c = p + strcspn(p, ".") / 2;
	*c = *c == 'A' ? 'B' : 'A';
	return copy;
}

/* compact with its protected header replaced by header (serialized compactly). */
static char *with_header(const char *compact, const json_t *header)
{
	char *text = json_dumps(header, JSON_COMPACT), *b64 = b64url_encode(text, strlen(text));
	char *out = NULL;

	assert_true(asprintf(&out, "%s%s", b64, strchr(compact, '.')) > 0);
	free(text);
	free(b64);
	return out;
}

/* The protected header of compact, parsed. */
static json_t *header_of(const char *compact)
{
	unsigned char *text;
	size_t len;
	struct error err;
	json_t *h;

	assert_int_equal(b64url_decode_n(compact, strcspn(compact, "."), &text, &len, &err), 0);
	h = json_loadb((const char *)text, len, 0, NULL);
	assert_non_null(h);
	free(text);
	return h;
}

static char *header_text_of(const char *compact)
{
	unsigned char *text;
	size_t len;
	struct error err;

	assert_int_equal(b64url_decode_n(compact, strcspn(compact, "."), &text, &len, &err), 0);
	return (char *)text;
}

/* ---- base64 ---- */

static void test_b64_rfc4648_vectors(void **state)
{
	/* RFC 4648 §10 */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const std[] = {"",	      "Zg==",	  "Zm8=",    "Zm9v",
					  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	struct error err;
	(void)state;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		unsigned char *out;
		size_t len;
		char *enc = b64_encode(plain[i], strlen(plain[i]));

		assert_string_equal(enc, std[i]);
		free(enc);
		enc = b64url_encode(plain[i], strlen(plain[i]));
		assert_string_equal(enc, url[i]);
		free(enc);
		assert_int_equal(b64_decode(std[i], &out, &len, &err), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_string_equal((char *)out, plain[i]);
		free(out);
		assert_int_equal(b64url_decode(url[i], &out, &len, &err), 0);
		assert_string_equal((char *)out, plain[i]);
		free(out);
		/* The url form also takes correct padding. */
		assert_int_equal(b64url_decode(std[i], &out, &len, &err), 0);
		assert_string_equal((char *)out, plain[i]);
		free(out);
	}
}

static void test_b64_alphabets(void **state)
{
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0xfe};
	unsigned char *out;
	size_t len;
	struct error err;
	char *enc;
	(void)state;

	enc = b64_encode(bytes, sizeof(bytes));
	assert_string_equal(enc, "+/+//g==");
	free(enc);
	enc = b64url_encode(bytes, sizeof(bytes));
	assert_string_equal(enc, "-_-__g");
	free(enc);
	assert_int_equal(b64url_decode("-_-__g", &out, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, bytes, 4);
	free(out);
	assert_error(b64_decode("-_-__g==", &out, &len, &err), -EINVAL, err,
		     "invalid base64: unexpected character at offset 0");
	assert_null(out);
	assert_error(b64url_decode("+/+//g", &out, &len, &err), -EINVAL, err,
		     "invalid base64url: unexpected character at offset 0");
}

static void test_b64_rejects_bad_input(void **state)
{
	unsigned char *out;
	size_t len;
	struct error err;
	(void)state;

	assert_error(b64url_decode("Zm9v!A", &out, &len, &err), -EINVAL, err,
		     "unexpected character at offset 4");
	assert_error(b64_decode("Zm9v\nYm=", &out, &len, &err), -EINVAL, err,
		     "unexpected character at offset 4");
	assert_error(b64url_decode("Zm9v YmE", &out, &len, &err), -EINVAL, err,
		     "unexpected character at offset 4");
	assert_error(b64_decode("Zm9", &out, &len, &err), -EINVAL, err,
		     "length 3 is not a multiple of 4");
	assert_error(b64url_decode("Zm9vY", &out, &len, &err), -EINVAL, err, "truncated input");
	assert_error(b64_decode("Z===", &out, &len, &err), -EINVAL, err, "truncated input");
	assert_error(b64_decode("Zg=", &out, &len, &err), -EINVAL, err, "misplaced padding");
	assert_error(b64url_decode("Zg=", &out, &len, &err), -EINVAL, err, "misplaced padding");
	assert_error(b64url_decode("=Zg=", &out, &len, &err), -EINVAL, err,
		     "unexpected character at offset 0");
	assert_error(b64_decode("Zg=a", &out, &len, &err), -EINVAL, err,
		     "unexpected character at offset 2");
	/* "Zm9=" and "Zh" leave non-zero unused bits; the canonical forms are "Zm8=" and "Zg". */
	assert_error(b64_decode("Zm9=", &out, &len, &err), -EINVAL, err, "non-zero trailing bits");
	assert_error(b64url_decode("Zh", &out, &len, &err), -EINVAL, err, "non-zero trailing bits");
	assert_null(out);
}

/* ---- AES key wrap ---- */

static void test_aes_key_wrap_rfc3394(void **state)
{
	/* RFC 3394 §4.1: wrap 128 bits of key data with a 128-bit KEK. */
	static const unsigned char kek[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					      0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F};
	static const unsigned char key[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					      0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
	static const unsigned char wrapped[24] = {0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47,
						  0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82,
						  0x9D, 0x3E, 0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5};
	unsigned char out[24], bad[24];
	struct error err;
	(void)state;

	assert_int_equal(jose_aes_key_wrap(kek, 16, key, 16, out, &err), 0);
	assert_memory_equal(out, wrapped, 24);
	assert_int_equal(jose_aes_key_unwrap(kek, 16, wrapped, 24, out, &err), 0);
	assert_memory_equal(out, key, 16);
	memcpy(bad, wrapped, 24);
	bad[23] ^= 1;
	assert_error(jose_aes_key_unwrap(kek, 16, bad, 24, out, &err), -EACCES, err,
		     "AES key unwrap: integrity check failed");
	assert_error(jose_aes_key_unwrap(kek, 15, wrapped, 24, out, &err), -EINVAL, err,
		     "KEK must be 16, 24 or 32 bytes");
	assert_error(jose_aes_key_unwrap(kek, 16, wrapped, 20, out, &err), -EINVAL, err,
		     "not a multiple of 8");
}

/* ---- JWK ---- */

static void test_thumbprint_rfc7638(void **state)
{
	/* RFC 7638 §3.1, with the optional members the RFC's JWK carries. */
	json_t *jwk = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n",
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
	    "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
	    "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyr"
	    "dkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
	    "KnqDKgw",
	    "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
	struct error err;
	char *tp = jose_jwk_thumbprint(jwk, &err);
	(void)state;

	assert_non_null(tp);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(tp);
	json_decref(jwk);
}

/* Every key step's code generated: the thumbprint of its public and private JWK is step's kid. */
static void test_thumbprint_go_vectors(void **state)
{
	json_t *list = vectors_load("jwk.json");
	const json_t *v;
	struct error err;
	size_t i;
	(void)state;

	json_array_foreach(list, i, v)
	{
		char *tp = jose_jwk_thumbprint(json_object_get(v, "public_jwk"), &err);

		assert_non_null(tp);
		assert_string_equal(tp, str(v, "thumbprint"));
		free(tp);
		if (json_object_get(v, "private_jwk")) {
			tp = jose_jwk_thumbprint(json_object_get(v, "private_jwk"), &err);
			assert_string_equal(tp, str(v, "thumbprint"));
			free(tp);
		}
	}
	json_decref(list);
}

/* JWK → EVP_PKEY → JWK gives back exactly what go-jose wrote (member order, padding). */
static void assert_jwk_round_trip(const json_t *jwk, bool private_key)
{
	struct error err;
	EVP_PKEY *key = jose_jwk_to_pkey(jwk, &err);
	json_t *again;
	char *want, *got;

	if (!key)
		fail_msg("jose_jwk_to_pkey: %s", err.msg);
	again = jose_pkey_to_jwk(key, private_key, json_string_value(json_object_get(jwk, "kid")),
				 json_string_value(json_object_get(jwk, "use")),
				 json_string_value(json_object_get(jwk, "alg")), &err);
	if (!again)
		fail_msg("jose_pkey_to_jwk: %s", err.msg);
	want = json_dumps(jwk, JSON_COMPACT);
	got = json_dumps(again, JSON_COMPACT);
	assert_string_equal(got, want);
	free(want);
	jose_secret_free(got, strlen(got));
	json_decref(again);
	EVP_PKEY_free(key);
}

static void test_jwk_round_trip_go_vectors(void **state)
{
	json_t *list = vectors_load("jwk.json");
	const json_t *v;
	size_t i, n = 0;
	(void)state;

	json_array_foreach(list, i, v)
	{
		if (!json_object_get(v, "private_jwk"))
			continue;
		assert_jwk_round_trip(json_object_get(v, "private_jwk"), true);
		assert_jwk_round_trip(json_object_get(v, "public_jwk"), false);
		n++;
	}
	assert_int_equal(n, 5); /* P-256 with a short x, P-256, P-384, P-521, Ed25519 */
	json_decref(list);
}

static void test_jwk_round_trip_openssl_keys(void **state)
{
	static const char *const curves[] = {"P-256", "P-384", "P-521"};
	struct error err;
	(void)state;

	for (size_t i = 0; i < 4; i++) {
		EVP_PKEY *key = i < 3 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i])
				      : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		json_t *jwk = jose_pkey_to_jwk(key, true, NULL, NULL, NULL, &err);
		json_t *pub = jose_pkey_to_jwk(key, false, NULL, NULL, NULL, &err);
		EVP_PKEY *back = jose_jwk_to_pkey(jwk, &err),
			 *back_pub = jose_jwk_to_pkey(pub, &err);

		assert_non_null(back);
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		assert_int_equal(EVP_PKEY_eq(key, back_pub), 1);
		assert_null(json_object_get(pub, "d"));
		assert_null(json_object_get(jwk, "kid"));
		if (i < 3)
			assert_string_equal(str(jwk, "crv"), curves[i]);
		EVP_PKEY_free(key);
		EVP_PKEY_free(back);
		EVP_PKEY_free(back_pub);
		json_decref(jwk);
		json_decref(pub);
	}
}

/* Loads a vector's private JWK and applies one change: name set to value (NULL: removed). */
static json_t *jwk_changed(const char *vector, const char *name, const char *value)
{
	json_t *list = vectors_load("jwk.json");
	json_t *jwk = json_deep_copy(json_object_get(vector_find(list, vector), "private_jwk"));

	if (value)
		json_object_set_new(jwk, name, json_string(value));
	else
		json_object_del(jwk, name);
	json_decref(list);
	return jwk;
}

static void assert_jwk_refused(json_t *jwk, const char *what)
{
	struct error err;
	EVP_PKEY *key = jose_jwk_to_pkey(jwk, &err);

	if (key || !strstr(err.msg, what))
		fail_msg("expected refusal \"%s\", got key %p \"%s\"", what, (void *)key, err.msg);
	json_decref(jwk);
}

static void test_jwk_rejects(void **state)
{
	json_t *list = vectors_load("jwk.json");
	const json_t *p256 = json_object_get(vector_find(list, "ec-p-256"), "private_jwk");
	const json_t *shortx = json_object_get(vector_find(list, "ec-p256-short-x"), "private_jwk");
	unsigned char *x;
	size_t x_len;
	char *stripped;
	struct error err;
	(void)state;

	/* x without its leading zero byte, as a careless encoder writes it: RFC 7518 §6.2.1.2
	 * wants the full length. */
	assert_int_equal(b64url_decode(str(shortx, "x"), &x, &x_len, &err), 0);
	assert_int_equal(x[0], 0);
	stripped = b64url_encode(x + 1, x_len - 1);
	assert_jwk_refused(jwk_changed("ec-p256-short-x", "x", stripped),
			   "JWK \"x\" is 31 bytes, want 32");
	free(stripped);
	free(x);
	assert_jwk_refused(jwk_changed("ec-p-256", "x", "AAAA"), "JWK \"x\" is 3 bytes, want 32");
	assert_jwk_refused(jwk_changed("ec-p-256", "y", NULL), "JWK: missing \"y\"");
	/* A point off the curve: P-256's y with P-256's x from another key. */
	assert_jwk_refused(jwk_changed("ec-p-256", "y", str(shortx, "y")),
			   "JWK: EC key import failed: point is not on curve");
	/* d of another key on the same curve. */
	assert_jwk_refused(jwk_changed("ec-p-256", "d", str(shortx, "d")),
			   "JWK: EC key pair check (d, x, y) failed");
	assert_jwk_refused(jwk_changed("ec-p-256", "crv", "P-192"), "unsupported EC crv \"P-192\"");
	assert_jwk_refused(jwk_changed("ec-p-256", "kty", "RSA"), "unsupported kty \"RSA\"");
	assert_jwk_refused(jwk_changed("okp-ed25519", "d", str(p256, "d")),
			   "Ed25519 \"d\" does not match \"x\"");
	assert_jwk_refused(jwk_changed("okp-ed25519", "crv", "X25519"),
			   "unsupported OKP crv \"X25519\"");
	assert_jwk_refused(json_string("EC"), "not an object with a \"kty\"");
	/* Thumbprints refuse the same malformed keys. */
	{
		json_t *bad = jwk_changed("ec-p-384", "x", str(p256, "x"));

		assert_null(jose_jwk_thumbprint(bad, &err));
		assert_string_equal(err.msg, "JWK \"x\" is 32 bytes, want 48");
		json_decref(bad);
	}
	json_decref(list);
}

static void test_pkey_to_jwk_rejects(void **state)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	json_t *pub = NULL;
	EVP_PKEY *pub_key = NULL;
	struct error err;
	(void)state;

	assert_null(jose_pkey_to_jwk(rsa, false, NULL, NULL, NULL, &err));
	assert_string_equal(err.msg, "JWK: unsupported key type RSA (want EC or Ed25519)");
	pub = jose_pkey_to_jwk(ec, false, NULL, NULL, NULL, &err);
	pub_key = jose_jwk_to_pkey(pub, &err);
	assert_non_null(pub_key);
	assert_null(jose_pkey_to_jwk(pub_key, true, NULL, NULL, NULL, &err));
	assert_string_equal(err.msg, "JWK: cannot export the EC key (is it a private key?)");
	json_decref(pub);
	EVP_PKEY_free(pub_key);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* ---- JWE ---- */

static void assert_decrypts(const json_t *v)
{
	unsigned char *plain = NULL;
	size_t len = 0;
	struct error err;
	int rc = jose_jwe_decrypt_pbes2(str(v, "compact"), str(v, "password"), &plain, &len, &err);

	if (rc != 0)
		fail_msg("%s: %d %s", str(v, "name"), rc, err.msg);
	assert_int_equal(len, strlen(str(v, "plaintext")));
	assert_memory_equal(plain, str(v, "plaintext"), len);
	assert_int_equal(plain[len], '\0');
	jose_secret_free(plain, len);
}

static void test_jwe_decrypt_go_vectors(void **state)
{
	json_t *list = vectors_load("pbes2.json");
	const json_t *v;
	size_t i, n = 0;
	(void)state;

	json_array_foreach(list, i, v)
	{
		if (json_integer_value(json_object_get(v, "p2c")) < JOSE_PBES2_COUNT_MIN)
			continue;
		assert_decrypts(v);
		n++;
	}
	assert_int_equal(n, 6);
	json_decref(list);
}

/* What step_cert does with `step ca init`'s encryptedKey: the key inside is the provisioner's,
 * its thumbprint the kid ca.json lists, its public half the "key" ca.json lists. */
static void test_jwe_step_provisioner_key(void **state)
{
	json_t *list = vectors_load("pbes2.json"), *jwk, *pub;
	const json_t *v = vector_find(list, "step-provisioner-key");
	unsigned char *plain;
	size_t len;
	struct error err;
	EVP_PKEY *key;
	char *tp, *want, *got;
	(void)state;

	assert_int_equal(json_integer_value(json_object_get(v, "p2c")), JOSE_PBES2_COUNT);
	assert_int_equal(
	    jose_jwe_decrypt_pbes2(str(v, "compact"), str(v, "password"), &plain, &len, &err), 0);
	jwk = json_loadb((const char *)plain, len, 0, NULL);
	jose_secret_free(plain, len);
	tp = jose_jwk_thumbprint(jwk, &err);
	assert_string_equal(tp, str(v, "kid"));
	assert_string_equal(str(jwk, "kid"), str(v, "kid"));
	key = jose_jwk_to_pkey(jwk, &err);
	assert_non_null(key);
	pub = jose_pkey_to_jwk(key, false, tp, "sig", "ES256", &err);
	want = json_dumps(json_object_get(v, "public_jwk"), JSON_COMPACT);
	got = json_dumps(pub, JSON_COMPACT);
	assert_string_equal(got, want);
	free(want);
	free(got);
	free(tp);
	json_decref(pub);
	json_decref(jwk);
	EVP_PKEY_free(key);
	json_decref(list);
}

static void test_jwe_wrong_password(void **state)
{
	json_t *list = vectors_load("pbes2.json");
	const json_t *v;
	unsigned char *plain;
	size_t i, len;
	struct error err;
	(void)state;

	json_array_foreach(list, i, v)
	{
		if (json_integer_value(json_object_get(v, "p2c")) < JOSE_PBES2_COUNT_MIN)
			continue;
		assert_error(jose_jwe_decrypt_pbes2(str(v, "compact"), "not the password", &plain,
						    &len, &err),
			     -EACCES, err, JOSE_WRONG_PASSWORD);
		assert_string_equal(err.msg, JOSE_WRONG_PASSWORD);
		assert_null(plain);
	}
	assert_error(
	    jose_jwe_decrypt_pbes2(str(json_array_get(list, 0), "compact"), "", &plain, &len, &err),
	    -EINVAL, err, "JWE: the password is empty");
	json_decref(list);
}

static void test_jwe_tampered(void **state)
{
	json_t *list = vectors_load("pbes2.json"), *header;
	const json_t *gcm = vector_find(list, "go-jose-hs384-a192gcm");
	const json_t *cbc = vector_find(list, "go-jose-hs256-a128cbc-hs256");
	const json_t *vs[] = {gcm, cbc};
	unsigned char *plain;
	size_t len;
	struct error err;
	char *bad;
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		const char *compact = str(vs[i], "compact"), *pw = str(vs[i], "password");

		/* Parts 2, 3, 4: IV, ciphertext, tag; part 1, the wrapped key, fails the unwrap. */
		for (int part = 1; part <= 4; part++) {
			bad = tamper(compact, part);
			if (part == 1)
				assert_error(jose_jwe_decrypt_pbes2(bad, pw, &plain, &len, &err),
					     -EACCES, err, JOSE_WRONG_PASSWORD);
			else
				assert_error(jose_jwe_decrypt_pbes2(bad, pw, &plain, &len, &err),
					     -EBADMSG, err, "JWE: authentication failed");
			assert_null(plain);
			free(bad);
		}
		/* A header member added: the KEK is the same, the AAD is not. */
		header = header_of(compact);
		json_object_set_new(header, "x", json_integer(1));
		bad = with_header(compact, header);
		assert_error(jose_jwe_decrypt_pbes2(bad, pw, &plain, &len, &err), -EBADMSG, err,
			     "JWE: authentication failed");
		free(bad);
		json_decref(header);
	}
	json_decref(list);
}

/* compact with header member name set to value (owned). */
static char *with_member(const char *compact, const char *name, json_t *value)
{
	json_t *header = header_of(compact);
	char *out;

	if (value)
		json_object_set_new(header, name, value);
	else
		json_object_del(header, name);
	out = with_header(compact, header);
	json_decref(header);
	return out;
}

static void assert_refused(char *compact, int code, const char *what)
{
	unsigned char *plain;
	size_t len;
	struct error err;

	assert_error(jose_jwe_decrypt_pbes2(compact, "password", &plain, &len, &err), code, err,
		     what);
	assert_null(plain);
	free(compact);
}

static void test_jwe_p2c_bounds(void **state)
{
	json_t *list = vectors_load("pbes2.json");
	const char *low = str(vector_find(list, "go-jose-p2c-999"), "compact");
	const char *step = str(vector_find(list, "step-provisioner-key"), "compact");
	(void)state;

	assert_refused(strdup(low), -ERANGE, "JWE: p2c 999 is out of bounds [1000, 10000000]");
	assert_refused(with_member(step, "p2c", json_integer(10000001)), -ERANGE,
		       "JWE: p2c 10000001 is out of bounds [1000, 10000000]");
	assert_refused(with_member(step, "p2c", json_integer(-1)), -ERANGE,
		       "JWE: p2c -1 is out of bounds");
	assert_refused(with_member(step, "p2c", json_string("100000")), -EINVAL,
		       "JWE: missing p2c (PBES2 count) or not an integer");
	assert_refused(with_member(step, "p2c", NULL), -EINVAL, "JWE: missing p2c");
	json_decref(list);
}

static void test_jwe_header_rejects(void **state)
{
	json_t *list = vectors_load("pbes2.json");
	const char *step = str(vector_find(list, "step-provisioner-key"), "compact");
	char *four;
	(void)state;

	assert_refused(with_member(step, "alg", json_string("dir")), -ENOTSUP,
		       "JWE: unsupported alg \"dir\"");
	assert_refused(with_member(step, "alg", json_string("PBES2-HS256+A192KW")), -ENOTSUP,
		       "JWE: unsupported alg");
	assert_refused(with_member(step, "enc", json_string("A256CTR")), -ENOTSUP,
		       "JWE: unsupported enc \"A256CTR\"");
	assert_refused(with_member(step, "zip", json_string("DEF")), -ENOTSUP,
		       "JWE: compressed content (zip) is not supported");
	assert_refused(with_member(step, "crit", json_pack("[s]", "exp")), -ENOTSUP,
		       "JWE: critical header parameters are not supported");
	assert_refused(with_member(step, "p2s", json_string("c2FsdA")), -EINVAL,
		       "JWE: p2s is 4 bytes, RFC 7518 wants at least 8");
	assert_refused(with_member(step, "p2s", json_string("c2Fsd!Bzb3Vw")), -EINVAL,
		       "JWE p2s: invalid base64url: unexpected character at offset 5");
	assert_refused(with_member(step, "enc", json_string("A128GCM")), -EINVAL,
		       "JWE: encrypted key is 40 bytes, A128GCM wants 24");
	four = strdup(step);
	*strrchr(four, '.') = '\0';
	assert_refused(four, -EINVAL, "JWE: compact serialization must have 5 parts");
	assert_refused(strdup("e!J9.a.b.c.d"), -EINVAL,
		       "JWE protected header: invalid base64url: unexpected character at offset 1");
	assert_refused(strdup("eyJ9.a.b.c.d"), -EINVAL, "JWE protected header: invalid JSON");
	assert_refused(strdup("WzFd.a.b.c.d"), -EINVAL, "JWE protected header: not a JSON object");
	{
		size_t len;
		char *huge = malloc(JOSE_COMPACT_MAX + 2);

		memset(huge, 'A', JOSE_COMPACT_MAX + 1);
		huge[JOSE_COMPACT_MAX + 1] = '\0';
		len = strlen(huge);
		assert_true(len > JOSE_COMPACT_MAX);
		assert_refused(huge, -E2BIG, "JWE: longer than 1048576 bytes");
	}
	json_decref(list);
}

static void test_jwe_encrypt_round_trip(void **state)
{
	static const char plain[] = "{\"kty\":\"EC\",\"crv\":\"P-256\"}";
	static const char prefix[] = "{\"alg\":\"PBES2-HS256+A128KW\",\"cty\":\"jwk+json\","
				     "\"enc\":\"A256GCM\",\"p2c\":100000,\"p2s\":\"";
	unsigned char *out, *p2s;
	size_t len, p2s_len;
	struct error err;
	char *compact, *header;
	json_t *h;
	(void)state;

	assert_int_equal(jose_jwe_encrypt_pbes2((const unsigned char *)plain, strlen(plain),
						"pässwörd", "jwk+json", &compact, &err),
			 0);
	/* The header go-jose writes for step (keys sorted), 16-byte salt, p2c 100000. */
	header = header_text_of(compact);
	if (strncmp(header, prefix, sizeof(prefix) - 1) != 0)
		fail_msg("header %s does not start with %s", header, prefix);
	h = header_of(compact);
	assert_int_equal(json_object_size(h), 5);
	assert_int_equal(b64url_decode(str(h, "p2s"), &p2s, &p2s_len, &err), 0);
	assert_int_equal(p2s_len, 16);
	free(p2s);
	json_decref(h);
	free(header);
	assert_int_equal(jose_jwe_decrypt_pbes2(compact, "pässwörd", &out, &len, &err), 0);
	assert_int_equal(len, strlen(plain));
	assert_memory_equal(out, plain, len);
	jose_secret_free(out, len);
	assert_error(jose_jwe_decrypt_pbes2(compact, "passwörd", &out, &len, &err), -EACCES, err,
		     JOSE_WRONG_PASSWORD);
	free(compact);

	/* No cty, empty plaintext. */
	assert_int_equal(
	    jose_jwe_encrypt_pbes2((const unsigned char *)"", 0, "pw", NULL, &compact, &err), 0);
	h = header_of(compact);
	assert_null(json_object_get(h, "cty"));
	json_decref(h);
	assert_int_equal(jose_jwe_decrypt_pbes2(compact, "pw", &out, &len, &err), 0);
	assert_int_equal(len, 0);
	jose_secret_free(out, len);
	free(compact);
	assert_error(
	    jose_jwe_encrypt_pbes2((const unsigned char *)plain, 1, "", NULL, &compact, &err),
	    -EINVAL, err, "JWE: the password is empty");
	assert_null(compact);
}

/* ---- JWS ---- */

static void test_jws_sign_verify(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "kid", "k1", "typ", "JWT");
	json_t *claims = json_pack("{s:s, s:s, s:i, s:[s]}", "sub", "node1", "iss", "etcd-ansible",
				   "exp", 1700000000, "sans", "node1");
	struct error err;
	(void)state;

	/* Enough signatures that some R or S has a leading zero byte and needs the padding. */
	for (int i = 0; i < 300; i++) {
		char *compact, *text;
		json_t *got;
		unsigned char *sig;
		size_t sig_len;

		assert_int_equal(jose_jws_sign_es256(key, header, claims, &compact, &err), 0);
		text = header_text_of(compact);
		assert_string_equal(text, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}");
		free(text);
		assert_int_equal(b64url_decode(strrchr(compact, '.') + 1, &sig, &sig_len, &err), 0);
		assert_int_equal(sig_len, 64);
		free(sig);
		assert_int_equal(jose_jws_verify_es256(compact, key, &got, &err), 0);
		assert_true(json_equal(got, claims));
		json_decref(got);
		free(compact);
	}
	json_decref(header);
	json_decref(claims);
	EVP_PKEY_free(key);
}

static void test_jws_verify_step_token(void **state)
{
	json_t *list = vectors_load("jws.json"), *claims;
	const json_t *v = vector_find(list, "step-provisioner-token");
	struct error err;
	EVP_PKEY *pub = jose_jwk_to_pkey(json_object_get(v, "public_jwk"), &err);
	char *header = header_text_of(str(v, "token"));
	(void)state;

	assert_non_null(pub);
	/* step's header: go-jose sorts the map, kid is the provisioner's thumbprint. */
	assert_string_equal(header, str(v, "header"));
	assert_int_equal(jose_jws_verify_es256(str(v, "token"), pub, &claims, &err), 0);
	assert_true(json_equal(claims, json_object_get(v, "claims")));
	assert_int_equal(strlen(str(claims, "jti")), 64);
	json_decref(claims);
	free(header);
	EVP_PKEY_free(pub);
	json_decref(list);
}

static void test_jws_rejects(void **state)
{
	json_t *list = vectors_load("jws.json"), *claims = NULL, *header;
	const json_t *v = vector_find(list, "step-provisioner-token");
	const char *token = str(v, "token");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct error err;
	EVP_PKEY *pub = jose_jwk_to_pkey(json_object_get(v, "public_jwk"), &err);
	char *bad;
	(void)state;

	bad = tamper(token, 1);
	assert_error(jose_jws_verify_es256(bad, pub, &claims, &err), -EBADMSG, err,
		     "JWS: bad signature");
	assert_null(claims);
	free(bad);
	bad = tamper(token, 2);
	assert_error(jose_jws_verify_es256(bad, pub, &claims, &err), -EBADMSG, err,
		     "JWS: bad signature");
	free(bad);
	assert_error(jose_jws_verify_es256(token, other, &claims, &err), -EBADMSG, err,
		     "JWS: bad signature");
	assert_error(jose_jws_verify_es256(token, p384, &claims, &err), -EINVAL, err,
		     "JWS: ES256 needs an EC P-256 key");
	/* alg none, and a header that no longer matches the signature. */
	header = json_pack("{s:s}", "alg", "none");
	bad = with_header(token, header);
	assert_error(jose_jws_verify_es256(bad, pub, &claims, &err), -EINVAL, err,
		     "JWS: alg \"none\" is not ES256");
	free(bad);
	json_decref(header);
	header = json_pack("{s:s, s:s}", "alg", "ES256", "typ", "JWT");
	bad = with_header(token, header);
	assert_error(jose_jws_verify_es256(bad, pub, &claims, &err), -EBADMSG, err,
		     "JWS: bad signature");
	free(bad);
	/* A DER signature where R||S belongs. */
	assert_true(asprintf(&bad, "%.*s.MEUCIQA", (int)(strrchr(token, '.') - token), token) > 0);
	assert_error(jose_jws_verify_es256(bad, pub, &claims, &err), -EBADMSG, err,
		     "JWS: signature is 5 bytes, ES256 wants 64 (R||S)");
	free(bad);
	assert_error(jose_jws_verify_es256("a.b", pub, &claims, &err), -EINVAL, err,
		     "JWS: compact serialization must have 3 parts");
	/* Signing refuses what verification would. */
	json_object_set_new(header, "alg", json_string("ES384"));
	assert_error(jose_jws_sign_es256(other, header, header, &bad, &err), -EINVAL, err,
		     "JWS: the header must be an object with alg ES256");
	json_object_set_new(header, "alg", json_string("ES256"));
	assert_error(jose_jws_sign_es256(p384, header, header, &bad, &err), -EINVAL, err,
		     "JWS: ES256 needs an EC P-256 key");
	assert_null(bad);
	json_decref(header);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
	EVP_PKEY_free(p384);
	json_decref(list);
}

static void test_random_jti(void **state)
{
	char *a = jose_random_jti(), *b = jose_random_jti();
	(void)state;

	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64_rfc4648_vectors),
	    cmocka_unit_test(test_b64_alphabets),
	    cmocka_unit_test(test_b64_rejects_bad_input),
	    cmocka_unit_test(test_aes_key_wrap_rfc3394),
	    cmocka_unit_test(test_thumbprint_rfc7638),
	    cmocka_unit_test(test_thumbprint_go_vectors),
	    cmocka_unit_test(test_jwk_round_trip_go_vectors),
	    cmocka_unit_test(test_jwk_round_trip_openssl_keys),
	    cmocka_unit_test(test_jwk_rejects),
	    cmocka_unit_test(test_pkey_to_jwk_rejects),
	    cmocka_unit_test(test_jwe_decrypt_go_vectors),
	    cmocka_unit_test(test_jwe_step_provisioner_key),
	    cmocka_unit_test(test_jwe_wrong_password),
	    cmocka_unit_test(test_jwe_tampered),
	    cmocka_unit_test(test_jwe_p2c_bounds),
	    cmocka_unit_test(test_jwe_header_rejects),
	    cmocka_unit_test(test_jwe_encrypt_round_trip),
	    cmocka_unit_test(test_jws_sign_verify),
	    cmocka_unit_test(test_jws_verify_step_token),
	    cmocka_unit_test(test_jws_rejects),
	    cmocka_unit_test(test_random_jti),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
