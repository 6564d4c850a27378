#include "jose.h"

#include "b64.h"
#include "buf.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7518 §4.8: the PBKDF2 PRF and the AES-KW key size of each PBES2 algorithm. */
struct pbes2_alg {
	const char *name;
	const EVP_MD *(*digest)(void);
	size_t kek_len;
};

static const struct pbes2_alg pbes2_algs[] = {
    {"PBES2-HS256+A128KW", EVP_sha256, 16},
    {"PBES2-HS384+A192KW", EVP_sha384, 24},
    {"PBES2-HS512+A256KW", EVP_sha512, 32},
};

/*
 * RFC 7518 §5.1 content encryption. AES_CBC_HMAC_SHA2 (§5.2.2.1) splits the CEK into
 * MAC_KEY || ENC_KEY, each half of it, and keeps the first tag_len bytes of the HMAC.
 */
struct content_alg {
	const char *name;
	const EVP_CIPHER *(*cipher)(void);
	const EVP_MD *(*mac_digest)(void); /* NULL: AES-GCM */
	size_t cek_len, iv_len, tag_len;
};

static const struct content_alg content_algs[] = {
    {"A128GCM", EVP_aes_128_gcm, NULL, 16, 12, 16},
    {"A192GCM", EVP_aes_192_gcm, NULL, 24, 12, 16},
    {"A256GCM", EVP_aes_256_gcm, NULL, 32, 12, 16},
    {"A128CBC-HS256", EVP_aes_128_cbc, EVP_sha256, 32, 16, 16},
    {"A192CBC-HS384", EVP_aes_192_cbc, EVP_sha384, 48, 16, 24},
    {"A256CBC-HS512", EVP_aes_256_cbc, EVP_sha512, 64, 16, 32},
};

#define CEK_MAX 64
#define KEK_MAX 32
/* RFC 7518 §4.8.1.1: "A Salt Input value containing 8 or more octets MUST be used". */
#define P2S_MIN 8
/* go.step.sm/crypto jose/types.go PBKDF2SaltSize = 16, the p2s length step writes. */
#define P2S_LEN 16

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Reports an OpenSSL failure with OpenSSL's reason, then empties its error queue. */
static int openssl_error(struct error *err, int code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	error_set(err, code, "%s failed%s%s", what, reason ? ": " : "", reason ? reason : "");
	ERR_clear_error();
	return code;
}

/* ---- compact serialization (RFC 7515 §7.1, RFC 7516 §7.1) ---- */

struct compact_part {
	const char *text;
	size_t len;
};

/* Splits compact into exactly n base64url parts separated by '.'; parts point into compact. */
static int compact_split(const char *compact, struct compact_part *parts, size_t n,
			 const char *what, struct error *err)
{
	size_t len = strnlen(compact, JOSE_COMPACT_MAX + 1), i = 0;
	const char *start = compact, *dot;

	if (len > JOSE_COMPACT_MAX)
		return error_set(err, -E2BIG, "%s: longer than %d bytes", what, JOSE_COMPACT_MAX);
	while ((dot = memchr(start, '.', len - (size_t)(start - compact)))) {
		if (i == n - 1)
			break;
		parts[i].text = start;
		parts[i++].len = (size_t)(dot - start);
		start = dot + 1;
	}
	if (i != n - 1 || dot)
		return error_set(err, -EINVAL, "%s: compact serialization must have %zu parts",
				 what, n);
	parts[i].text = start;
	parts[i].len = len - (size_t)(start - compact);
	return 0;
}

/* Decodes one part; the message names it ("JWE ciphertext: invalid base64url: ..."). */
static int part_decode(const struct compact_part *part, const char *name, unsigned char **out,
		       size_t *out_len, struct error *err)
{
	int rc = b64url_decode_n(part->text, part->len, out, out_len, err);

	if (rc < 0)
		error_wrap(err, rc, "%s", name);
	return rc;
}

/* Decodes and parses a protected header: a JSON object, duplicate names refused (RFC 7515 §5.2). */
static json_t *header_decode(const struct compact_part *part, const char *name, struct error *err)
{
	unsigned char *text = NULL;
	json_error_t jerr;
	json_t *header = NULL;
	size_t len;

	if (part_decode(part, name, &text, &len, err) < 0)
		return NULL;
	header = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!header)
		error_set(err, -EINVAL, "%s: invalid JSON: %s", name, jerr.text);
	else if (!json_is_object(header)) {
		error_set(err, -EINVAL, "%s: not a JSON object", name);
		json_decref(header);
		header = NULL;
	}
	free(text);
	return header;
}

/* header.payload...: parts encoded and joined with '.'. Caller frees. */
static char *compact_join(const unsigned char *const *data, const size_t *lens, size_t n)
{
	char *encoded[5] = {NULL}, *out = NULL;
	size_t total = 0, o = 0, i;

	if (n > ARRAY_SIZE(encoded))
		return NULL;
	for (i = 0; i < n; i++) {
		encoded[i] = b64url_encode(data[i], lens[i]);
		if (!encoded[i])
			goto out;
		total += strlen(encoded[i]) + 1;
	}
	out = malloc(total);
	if (!out)
		goto out;
	for (i = 0; i < n; i++) {
		size_t len = strlen(encoded[i]);

		memcpy(out + o, encoded[i], len);
		o += len;
		out[o++] = i + 1 < n ? '.' : '\0';
	}
out:
	for (i = 0; i < ARRAY_SIZE(encoded); i++)
		free(encoded[i]);
	return out;
}

/* ---- JWE with PBES2 ---- */

/* A compact JWE, decoded. The protected header's base64url text is kept: it is the AAD
 * (RFC 7516 §5.1 step 14: ASCII(BASE64URL(UTF8(JWE Protected Header)))). */
struct jwe {
	struct compact_part protected_b64;
	json_t *header;
	unsigned char *encrypted_key, *iv, *ciphertext, *tag;
	size_t encrypted_key_len, iv_len, ciphertext_len, tag_len;
};

static void jwe_release(struct jwe *jwe)
{
	json_decref(jwe->header);
	free(jwe->encrypted_key);
	free(jwe->iv);
	free(jwe->ciphertext);
	free(jwe->tag);
}

static int jwe_parse(const char *compact, struct jwe *jwe, struct error *err)
{
	static const char *const names[] = {"JWE encrypted key", "JWE initialization vector",
					    "JWE ciphertext", "JWE authentication tag"};
	unsigned char **bufs[] = {&jwe->encrypted_key, &jwe->iv, &jwe->ciphertext, &jwe->tag};
	size_t *lens[] = {&jwe->encrypted_key_len, &jwe->iv_len, &jwe->ciphertext_len,
			  &jwe->tag_len};
	struct compact_part parts[5] = {{NULL, 0}};
	int rc;

	rc = compact_split(compact, parts, 5, "JWE", err);
	if (rc < 0)
		return rc;
	jwe->protected_b64 = parts[0];
	jwe->header = header_decode(&parts[0], "JWE protected header", err);
	if (!jwe->header)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		rc = part_decode(&parts[i + 1], names[i], bufs[i], lens[i], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The header parameters that PBES2 decryption uses (RFC 7518 §4.8.1). */
struct pbes2_params {
	const struct pbes2_alg *alg;
	const struct content_alg *enc;
	unsigned char *p2s;
	size_t p2s_len;
	int p2c;
};

static const struct pbes2_alg *pbes2_alg_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(pbes2_algs); i++)
		if (strcmp(name, pbes2_algs[i].name) == 0)
			return &pbes2_algs[i];
	return NULL;
}

static const struct content_alg *content_alg_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(content_algs); i++)
		if (strcmp(name, content_algs[i].name) == 0)
			return &content_algs[i];
	return NULL;
}

/* alg and enc from the tables; zip and crit refused (RFC 7516 §4.1.13: a crit parameter that is
 * not understood makes the JWE invalid; step never compresses). */
static int jwe_read_algorithms(const json_t *header, struct pbes2_params *params, struct error *err)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	const char *enc = json_string_value(json_object_get(header, "enc"));

	params->alg = pbes2_alg_find(alg);
	params->enc = content_alg_find(enc);
	if (!params->alg) {
		error_set(err, -ENOTSUP,
			  "JWE: unsupported alg \"%.40s\" (want PBES2-HS256+A128KW, "
			  "PBES2-HS384+A192KW or PBES2-HS512+A256KW)",
			  alg ? alg : "");
		return -ENOTSUP;
	}
	if (!params->enc) {
		error_set(err, -ENOTSUP, "JWE: unsupported enc \"%.40s\"", enc ? enc : "");
		return -ENOTSUP;
	}
	if (json_object_get(header, "zip"))
		return error_set(err, -ENOTSUP, "JWE: compressed content (zip) is not supported");
	if (json_object_get(header, "crit"))
		return error_set(err, -ENOTSUP,
				 "JWE: critical header parameters are not supported");
	return 0;
}

/* p2s and p2c (RFC 7518 §4.8.1.1, §4.8.1.2), with the bounds jose.h documents. */
static int jwe_read_pbes2(const json_t *header, struct pbes2_params *params, struct error *err)
{
	const json_t *p2c = json_object_get(header, "p2c");
	const char *p2s = json_string_value(json_object_get(header, "p2s"));
	json_int_t count;
	int rc;

	if (!p2s) {
		error_set(err, -EINVAL, "JWE: missing p2s (PBES2 salt input)");
		return -EINVAL;
	}
	rc = b64url_decode(p2s, &params->p2s, &params->p2s_len, err);
	if (rc < 0) {
		error_wrap(err, rc, "JWE p2s");
		return rc;
	}
	if (params->p2s_len < P2S_MIN)
		return error_set(err, -EINVAL, "JWE: p2s is %zu bytes, RFC 7518 wants at least %d",
				 params->p2s_len, P2S_MIN);
	if (!json_is_integer(p2c))
		return error_set(err, -EINVAL, "JWE: missing p2c (PBES2 count) or not an integer");
	count = json_integer_value(p2c);
	if (count < JOSE_PBES2_COUNT_MIN || count > JOSE_PBES2_COUNT_MAX)
		return error_set(err, -ERANGE,
				 "JWE: p2c %" JSON_INTEGER_FORMAT " is out of bounds [%d, %d]",
				 count, JOSE_PBES2_COUNT_MIN, JOSE_PBES2_COUNT_MAX);
	params->p2c = (int)count;
	return 0;
}

/* Sizes the chosen algorithms fix (RFC 7518 §4.4: the wrapped key is 8 bytes longer). */
static int jwe_check_lengths(const struct jwe *jwe, const struct pbes2_params *params,
			     struct error *err)
{
	const struct content_alg *enc = params->enc;

	if (jwe->encrypted_key_len != enc->cek_len + 8)
		return error_set(err, -EINVAL, "JWE: encrypted key is %zu bytes, %s wants %zu",
				 jwe->encrypted_key_len, enc->name, enc->cek_len + 8);
	if (jwe->iv_len != enc->iv_len)
		return error_set(err, -EINVAL, "JWE: IV is %zu bytes, %s wants %zu", jwe->iv_len,
				 enc->name, enc->iv_len);
	if (jwe->tag_len != enc->tag_len)
		return error_set(err, -EINVAL, "JWE: tag is %zu bytes, %s wants %zu", jwe->tag_len,
				 enc->name, enc->tag_len);
	return 0;
}

/* RFC 7518 §4.8.1.1: KEK = PBKDF2(PRF, password, UTF8(alg) || 0x00 || p2s, p2c, kek_len). */
static int pbes2_derive(const struct pbes2_alg *alg, const char *password, const unsigned char *p2s,
			size_t p2s_len, int count, unsigned char *kek, struct error *err)
{
	size_t name_len = strlen(alg->name), password_len = strlen(password);
	unsigned char *salt;
	int rc = 0;

	if (password_len > INT_MAX || p2s_len > INT_MAX / 2)
		return error_set(err, -EINVAL, "PBES2: password or salt too long");
	salt = malloc(name_len + 1 + p2s_len);
	if (!salt)
		return error_set(err, -ENOMEM, "PBES2: out of memory");
	memcpy(salt, alg->name, name_len);
	salt[name_len] = 0x00;
	memcpy(salt + name_len + 1, p2s, p2s_len);
	if (PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)(name_len + 1 + p2s_len),
			      count, alg->digest(), (int)alg->kek_len, kek) != 1)
		rc = openssl_error(err, -EIO, "PBES2 key derivation");
	free(salt);
	return rc;
}

/* AES-GCM (RFC 7518 §5.3) decryption of jwe into plain (ciphertext_len bytes). */
static int gcm_decrypt(const struct content_alg *enc, const unsigned char *cek,
		       const struct jwe *jwe, unsigned char *plain, size_t *plain_len,
		       struct error *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, tail = 0, rc = 0;

	if (!ctx)
		return error_set(err, -ENOMEM, "JWE: out of memory");
	if (EVP_DecryptInit_ex(ctx, enc->cipher(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)jwe->iv_len, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, cek, jwe->iv) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)jwe->protected_b64.text,
			      (int)jwe->protected_b64.len) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n, jwe->ciphertext, (int)jwe->ciphertext_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)jwe->tag_len, jwe->tag) != 1) {
		rc = openssl_error(err, -EIO, "JWE AES-GCM setup");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, plain + n, &tail) != 1) {
		ERR_clear_error();
		rc = error_set(err, -EBADMSG,
			       "JWE: authentication failed (ciphertext, tag, IV or "
			       "header modified)");
		goto out;
	}
	*plain_len = (size_t)n + (size_t)tail;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* RFC 7518 §5.2.2.1 step 5: M = HMAC(MAC_KEY, A || IV || E || AL), AL = bit length of A, 64-bit
 * big-endian. */
static int cbc_hmac_tag(const struct content_alg *enc, const unsigned char *mac_key,
			const struct jwe *jwe, const unsigned char *ciphertext,
			size_t ciphertext_len, unsigned char *mac, struct error *err)
{
	size_t aad_len = jwe->protected_b64.len, o = 0;
	size_t len = aad_len + jwe->iv_len + ciphertext_len + 8;
	unsigned char *input = malloc(len);
	uint64_t bits = (uint64_t)aad_len * 8;
	unsigned int mac_len = 0;
	int rc = 0;

	if (!input)
		return error_set(err, -ENOMEM, "JWE: out of memory");
	memcpy(input, jwe->protected_b64.text, aad_len);
	memcpy(input + aad_len, jwe->iv, jwe->iv_len);
	memcpy(input + aad_len + jwe->iv_len, ciphertext, ciphertext_len);
	for (o = 0; o < 8; o++)
		input[len - 1 - o] = (unsigned char)(bits >> (8 * o));
	if (!HMAC(enc->mac_digest(), mac_key, (int)(enc->cek_len / 2), input, len, mac, &mac_len))
		rc = openssl_error(err, -EIO, "JWE HMAC");
	free(input);
	return rc;
}

/* AES_CBC_HMAC_SHA2 (RFC 7518 §5.2.2.2): the tag is checked before anything is decrypted. */
static int cbc_hmac_decrypt(const struct content_alg *enc, const unsigned char *cek,
			    const struct jwe *jwe, unsigned char *plain, size_t *plain_len,
			    struct error *err)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, tail = 0, rc;

	rc = cbc_hmac_tag(enc, cek, jwe, jwe->ciphertext, jwe->ciphertext_len, mac, err);
	if (rc < 0)
		return rc;
	if (CRYPTO_memcmp(mac, jwe->tag, enc->tag_len) != 0)
		return error_set(err, -EBADMSG,
				 "JWE: authentication failed (ciphertext, tag, IV or "
				 "header modified)");
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return error_set(err, -ENOMEM, "JWE: out of memory");
	if (EVP_DecryptInit_ex(ctx, enc->cipher(), NULL, cek + enc->cek_len / 2, jwe->iv) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n, jwe->ciphertext, (int)jwe->ciphertext_len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &tail) != 1) {
		rc = openssl_error(err, -EBADMSG, "JWE AES-CBC decryption");
		goto out;
	}
	*plain_len = (size_t)n + (size_t)tail;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Decrypts the content into a new buffer of ciphertext_len + 1 bytes (NUL-terminated). */
static int content_decrypt(const struct content_alg *enc, const unsigned char *cek,
			   const struct jwe *jwe, unsigned char **plain, size_t *plain_len,
			   struct error *err)
{
	size_t cap = jwe->ciphertext_len + 1;
	unsigned char *buf = malloc(cap);
	int rc;

	if (!buf)
		return error_set(err, -ENOMEM, "JWE: out of memory");
	if (enc->mac_digest)
		rc = cbc_hmac_decrypt(enc, cek, jwe, buf, plain_len, err);
	else
		rc = gcm_decrypt(enc, cek, jwe, buf, plain_len, err);
	if (rc < 0) {
		jose_secret_free(buf, cap);
		return rc;
	}
	buf[*plain_len] = '\0';
	*plain = buf;
	return 0;
}

int jose_jwe_decrypt_pbes2(const char *compact, const char *password, unsigned char **plain,
			   size_t *plain_len, struct error *err)
{
	struct pbes2_params params = {0};
	unsigned char kek[KEK_MAX], cek[CEK_MAX];
	struct jwe jwe = {0};
	int rc;

	*plain = NULL;
	*plain_len = 0;
	if (!password || !*password)
		return error_set(err, -EINVAL, "JWE: the password is empty");
	rc = jwe_parse(compact, &jwe, err);
	if (rc < 0)
		goto out;
	if ((rc = jwe_read_algorithms(jwe.header, &params, err)) < 0 ||
	    (rc = jwe_read_pbes2(jwe.header, &params, err)) < 0 ||
	    (rc = jwe_check_lengths(&jwe, &params, err)) < 0)
		goto out;
	rc = pbes2_derive(params.alg, password, params.p2s, params.p2s_len, params.p2c, kek, err);
	if (rc < 0)
		goto out;
	/* The unwrap's integrity check (RFC 3394 §2.2.3) is PBES2's only password check. */
	rc = jose_aes_key_unwrap(kek, params.alg->kek_len, jwe.encrypted_key, jwe.encrypted_key_len,
				 cek, err);
	if (rc == -EACCES)
		rc = error_set(err, -EACCES, JOSE_WRONG_PASSWORD);
	if (rc < 0)
		goto out;
	rc = content_decrypt(params.enc, cek, &jwe, plain, plain_len, err);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	free(params.p2s);
	jwe_release(&jwe);
	return rc;
}

/* The protected header go-jose writes for step (crypter.go EncryptWithAuthData merges enc, the
 * recipient's alg/p2c/p2s and cty into one map, which its JSON encoder writes with sorted keys). */
static char *jwe_header_new(const unsigned char *p2s, const char *cty)
{
	char *p2s_b64 = b64url_encode(p2s, P2S_LEN), *text = NULL;
	json_t *header = json_object();

	if (!p2s_b64 || !header)
		goto out;
	if (json_object_set_new(header, "alg", json_string(pbes2_algs[0].name)) < 0 ||
	    (cty && json_object_set_new(header, "cty", json_string(cty)) < 0) ||
	    json_object_set_new(header, "enc", json_string("A256GCM")) < 0 ||
	    json_object_set_new(header, "p2c", json_integer(JOSE_PBES2_COUNT)) < 0 ||
	    json_object_set_new(header, "p2s", json_string(p2s_b64)) < 0)
		goto out;
	text = json_dumps(header, JSON_COMPACT);
out:
	json_decref(header);
	free(p2s_b64);
	return text;
}

/* What jose_jwe_encrypt_pbes2 writes: A256GCM's CEK, IV and tag sizes (RFC 7518 §5.3). */
#define A256GCM_CEK 32
#define A256GCM_IV 12
#define A256GCM_TAG 16

/* AES-256-GCM encryption with aad; ciphertext has room for len bytes. */
static int gcm_encrypt(const unsigned char *cek, const unsigned char *iv, const char *aad,
		       const unsigned char *plain, size_t len, unsigned char *ciphertext,
		       unsigned char *tag, struct error *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, tail = 0, rc = 0;

	if (!ctx)
		return error_set(err, -ENOMEM, "JWE: out of memory");
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, cek, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, ciphertext, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ciphertext + n, &tail) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, A256GCM_TAG, tag) != 1)
		rc = openssl_error(err, -EIO, "JWE AES-GCM encryption");
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* header.wrapped.iv.ciphertext.tag, each base64url (RFC 7516 §7.1). Caller frees. */
static char *jwe_compact_new(const char *header, const unsigned char *wrapped,
			     const unsigned char *iv, const unsigned char *ciphertext, size_t len,
			     const unsigned char *tag)
{
	const unsigned char *data[] = {(const unsigned char *)header, wrapped, iv, ciphertext, tag};
	const size_t lens[] = {strlen(header), A256GCM_CEK + 8, A256GCM_IV, len, A256GCM_TAG};

	return compact_join(data, lens, 5);
}

int jose_jwe_encrypt_pbes2(const unsigned char *plain, size_t len, const char *password,
			   const char *cty, char **compact, struct error *err)
{
	const struct pbes2_alg *alg = &pbes2_algs[0];
	unsigned char p2s[P2S_LEN], kek[16], cek[A256GCM_CEK], wrapped[A256GCM_CEK + 8];
	unsigned char iv[A256GCM_IV], tag[A256GCM_TAG];
	unsigned char *ciphertext = NULL;
	char *header = NULL, *header_b64 = NULL;
	int rc = 0;

	*compact = NULL;
	if (!password || !*password)
		return error_set(err, -EINVAL, "JWE: the password is empty");
	if (len > JOSE_COMPACT_MAX)
		return error_set(err, -E2BIG, "JWE: plaintext longer than %d bytes",
				 JOSE_COMPACT_MAX);
	if (RAND_bytes(p2s, sizeof(p2s)) != 1 || RAND_bytes(cek, sizeof(cek)) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1) {
		rc = openssl_error(err, -EIO, "JWE random generation");
		goto out;
	}
	header = jwe_header_new(p2s, cty);
	header_b64 = header ? b64url_encode(header, strlen(header)) : NULL;
	ciphertext = malloc(len + 1);
	if (!header_b64 || !ciphertext) {
		rc = error_set(err, -ENOMEM, "JWE: out of memory");
		goto out;
	}
	if ((rc = pbes2_derive(alg, password, p2s, sizeof(p2s), JOSE_PBES2_COUNT, kek, err)) < 0 ||
	    (rc = jose_aes_key_wrap(kek, alg->kek_len, cek, sizeof(cek), wrapped, err)) < 0 ||
	    (rc = gcm_encrypt(cek, iv, header_b64, plain, len, ciphertext, tag, err)) < 0)
		goto out;
	*compact = jwe_compact_new(header, wrapped, iv, ciphertext, len, tag);
	if (!*compact)
		rc = error_set(err, -ENOMEM, "JWE: out of memory");
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	free(ciphertext);
	free(header_b64);
	free(header);
	return rc;
}

void jose_secret_free(void *secret, size_t len)
{
	if (!secret)
		return;
	OPENSSL_cleanse(secret, len);
	free(secret);
}

/* ---- AES key wrap (RFC 3394), as RFC 7518 §4.4 uses it ---- */

static const EVP_CIPHER *aes_wrap_cipher(size_t kek_len)
{
	switch (kek_len) {
	case 16:
		return EVP_aes_128_wrap();
	case 24:
		return EVP_aes_192_wrap();
	case 32:
		return EVP_aes_256_wrap();
	default:
		return NULL;
	}
}

static int aes_key_wrap_run(int wrap, const unsigned char *kek, size_t kek_len,
			    const unsigned char *in, size_t in_len, unsigned char *out,
			    struct error *err)
{
	const EVP_CIPHER *cipher = aes_wrap_cipher(kek_len);
	size_t min = wrap ? 16 : 24, want = wrap ? in_len + 8 : in_len - 8;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, rc = 0;

	if (!cipher)
		return error_set(err, -EINVAL, "AES key wrap: the KEK must be 16, 24 or 32 bytes");
	if (in_len % 8 != 0 || in_len < min || in_len > 4096)
		return error_set(err, -EINVAL,
				 "AES key wrap: input of %zu bytes is not a multiple of 8 in "
				 "[%zu, 4096]",
				 in_len, min);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return error_set(err, -ENOMEM, "AES key wrap: out of memory");
	/* OpenSSL refuses wrap modes through EVP unless asked for them explicitly. */
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, cipher, NULL, kek, NULL, wrap) != 1) {
		rc = openssl_error(err, -EIO, "AES key wrap setup");
		goto out;
	}
	if (EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1 || (size_t)n != want) {
		ERR_clear_error();
		rc = wrap ? error_set(err, -EIO, "AES key wrap failed")
			  : error_set(err, -EACCES, "AES key unwrap: integrity check failed");
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int jose_aes_key_wrap(const unsigned char *kek, size_t kek_len, const unsigned char *key,
		      size_t key_len, unsigned char *out, struct error *err)
{
	return aes_key_wrap_run(1, kek, kek_len, key, key_len, out, err);
}

int jose_aes_key_unwrap(const unsigned char *kek, size_t kek_len, const unsigned char *wrapped,
			size_t wrapped_len, unsigned char *out, struct error *err)
{
	return aes_key_wrap_run(0, kek, kek_len, wrapped, wrapped_len, out, err);
}

/* ---- JWK ↔ EVP_PKEY (RFC 7518 §6.2 EC, RFC 8037 §2 OKP) ---- */

/* RFC 7518 §6.2.1.1 curve names; size is the length of x, y and d (§6.2.1.2, §6.2.2.1). */
struct ec_curve {
	const char *crv;
	const char *group;
	size_t size;
};

static const struct ec_curve ec_curves[] = {
    {"P-256", "prime256v1", 32},
    {"P-384", "secp384r1", 48},
    {"P-521", "secp521r1", 66},
};

#define ED25519_LEN 32
/* The longest coordinate, P-521's. */
#define EC_SIZE_MAX 66

static const struct ec_curve *ec_curve_by_crv(const char *crv, struct error *err)
{
	for (size_t i = 0; crv && i < ARRAY_SIZE(ec_curves); i++)
		if (strcmp(crv, ec_curves[i].crv) == 0)
			return &ec_curves[i];
	error_set(err, -ENOTSUP, "JWK: unsupported EC crv \"%.20s\" (want P-256, P-384 or P-521)",
		  crv ? crv : "");
	return NULL;
}

static const struct ec_curve *ec_curve_by_group(const char *group)
{
	for (size_t i = 0; i < ARRAY_SIZE(ec_curves); i++)
		if (strcmp(group, ec_curves[i].group) == 0)
			return &ec_curves[i];
	return NULL;
}

/* Member name decoded from base64url; exactly want bytes, or any non-zero length if want is 0.
 * The buffer is wiped on free by the caller when it may be d. */
static int jwk_member_bytes(const json_t *jwk, const char *name, size_t want, unsigned char **out,
			    size_t *out_len, struct error *err)
{
	const char *text = json_string_value(json_object_get(jwk, name));
	int rc;

	*out = NULL;
	if (!text) {
		error_set(err, -EINVAL, "JWK: missing \"%s\"", name);
		return -EINVAL;
	}
	rc = b64url_decode(text, out, out_len, err);
	if (rc < 0) {
		error_wrap(err, rc, "JWK \"%s\"", name);
		return rc;
	}
	if (*out_len == 0 || (want && *out_len != want)) {
		error_set(err, -EINVAL, "JWK \"%s\" is %zu bytes, want %s%zu", name, *out_len,
			  want ? "" : "more than ", want);
		rc = -EINVAL;
		jose_secret_free(*out, *out_len);
		*out = NULL;
	}
	return rc;
}

/* A public check, or for a private key the full one: d in range and d·G = (x, y). */
static int pkey_check(EVP_PKEY *key, bool private_key, struct error *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	int ok = ctx && (private_key ? EVP_PKEY_check(ctx) : EVP_PKEY_public_check(ctx)) == 1;

	EVP_PKEY_CTX_free(ctx);
	if (ok)
		return 0;
	return openssl_error(err, -EINVAL,
			     private_key ? "JWK: EC key pair check (d, x, y)"
					 : "JWK: EC public key check");
}

/* The OSSL_PARAMs of an EC key: group, public point 04||x||y and, if d, the private scalar
 * (native-endian, as OSSL_PARAM integers are). */
static EVP_PKEY *ec_pkey_from_parts(const struct ec_curve *curve, const unsigned char *point,
				    const unsigned char *d, struct error *err)
{
	unsigned char native[EC_SIZE_MAX];
	OSSL_PARAM params[4];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *scalar = NULL;
	size_t n = 0;

	params[n++] =
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve->group, 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
							1 + 2 * curve->size);
	if (d) {
		scalar = BN_secure_new();
		if (!scalar || !BN_bin2bn(d, (int)curve->size, scalar) ||
		    BN_bn2nativepad(scalar, native, (int)curve->size) < 0) {
			openssl_error(err, -ENOMEM, "JWK: EC private scalar");
			goto out;
		}
		params[n++] =
		    OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, curve->size);
	}
	params[n] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
		openssl_error(err, -EINVAL, "JWK: EC key import");
		goto out;
	}
	if (pkey_check(key, d != NULL, err) < 0) {
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	OPENSSL_cleanse(native, sizeof(native));
	BN_clear_free(scalar);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static EVP_PKEY *ec_jwk_to_pkey(const json_t *jwk, struct error *err)
{
	const struct ec_curve *curve;
	unsigned char *x = NULL, *y = NULL, *d = NULL, point[1 + 2 * EC_SIZE_MAX];
	size_t x_len = 0, y_len = 0, d_len = 0;
	EVP_PKEY *key = NULL;

	curve = ec_curve_by_crv(json_string_value(json_object_get(jwk, "crv")), err);
	if (!curve)
		return NULL;
	if (jwk_member_bytes(jwk, "x", curve->size, &x, &x_len, err) < 0 ||
	    jwk_member_bytes(jwk, "y", curve->size, &y, &y_len, err) < 0 ||
	    (json_object_get(jwk, "d") &&
	     jwk_member_bytes(jwk, "d", curve->size, &d, &d_len, err) < 0))
		goto out;
	/* SEC 1 §2.3.3 uncompressed point. */
	point[0] = 0x04;
	memcpy(point + 1, x, curve->size);
	memcpy(point + 1 + curve->size, y, curve->size);
	key = ec_pkey_from_parts(curve, point, d, err);
out:
	jose_secret_free(d, d_len);
	free(x);
	free(y);
	return key;
}

/* RFC 8037 §2: OKP Ed25519, x the public key, d the private seed. */
static EVP_PKEY *okp_jwk_to_pkey(const json_t *jwk, struct error *err)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL, *d = NULL, derived[ED25519_LEN];
	size_t x_len = 0, d_len = 0, derived_len = sizeof(derived);
	EVP_PKEY *key = NULL;

	if (!crv || strcmp(crv, "Ed25519") != 0) {
		error_set(err, -ENOTSUP, "JWK: unsupported OKP crv \"%.20s\" (want Ed25519)",
			  crv ? crv : "");
		return NULL;
	}
	if (jwk_member_bytes(jwk, "x", ED25519_LEN, &x, &x_len, err) < 0 ||
	    (json_object_get(jwk, "d") &&
	     jwk_member_bytes(jwk, "d", ED25519_LEN, &d, &d_len, err) < 0))
		goto out;
	key = d ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, d_len)
		: EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, x_len);
	if (!key) {
		openssl_error(err, -EINVAL, "JWK: Ed25519 key import");
		goto out;
	}
	if (d && (EVP_PKEY_get_raw_public_key(key, derived, &derived_len) != 1 ||
		  CRYPTO_memcmp(derived, x, ED25519_LEN) != 0)) {
		error_set(err, -EINVAL, "JWK: Ed25519 \"d\" does not match \"x\"");
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	jose_secret_free(d, d_len);
	free(x);
	return key;
}

EVP_PKEY *jose_jwk_to_pkey(const json_t *jwk, struct error *err)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));

	if (!json_is_object(jwk) || !kty) {
		error_set(err, -EINVAL, "JWK: not an object with a \"kty\"");
		return NULL;
	}
	if (strcmp(kty, "EC") == 0)
		return ec_jwk_to_pkey(jwk, err);
	if (strcmp(kty, "OKP") == 0)
		return okp_jwk_to_pkey(jwk, err);
	error_set(err, -ENOTSUP, "JWK: unsupported kty \"%.20s\" (want EC or OKP)", kty);
	return NULL;
}

/* Sets name to base64url(data); the encoded copy is wiped (it may be d). */
static int jwk_set_bytes(json_t *jwk, const char *name, const unsigned char *data, size_t len)
{
	char *text = b64url_encode(data, len);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = json_object_set_new(jwk, name, json_string(text)) < 0 ? -ENOMEM : 0;
	jose_secret_free(text, strlen(text));
	return rc;
}

/* go-jose's member order (jwk.go rawJSONWebKey): use, kty, kid, crv, alg, then the key parts. */
static json_t *jwk_begin(const char *use, const char *kty, const char *kid, const char *crv,
			 const char *alg)
{
	json_t *jwk = json_object();

	if (!jwk || (use && json_object_set_new(jwk, "use", json_string(use)) < 0) ||
	    json_object_set_new(jwk, "kty", json_string(kty)) < 0 ||
	    (kid && json_object_set_new(jwk, "kid", json_string(kid)) < 0) ||
	    json_object_set_new(jwk, "crv", json_string(crv)) < 0 ||
	    (alg && json_object_set_new(jwk, "alg", json_string(alg)) < 0)) {
		json_decref(jwk);
		return NULL;
	}
	return jwk;
}

/* Sets name to the big-endian parameter of key, left-padded to size (go-jose
 * newFixedSizeBuffer). */
static int jwk_set_bn_param(json_t *jwk, const char *name, const EVP_PKEY *key, const char *param,
			    size_t size)
{
	unsigned char buf[EC_SIZE_MAX];
	BIGNUM *bn = NULL;
	int rc = -EINVAL;

	if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 &&
	    BN_bn2binpad(bn, buf, (int)size) == (int)size)
		rc = jwk_set_bytes(jwk, name, buf, size);
	OPENSSL_cleanse(buf, sizeof(buf));
	BN_clear_free(bn);
	ERR_clear_error();
	return rc;
}

static json_t *ec_pkey_to_jwk(const EVP_PKEY *key, bool include_private, const char *kid,
			      const char *use, const char *alg, struct error *err)
{
	const struct ec_curve *curve = NULL;
	char group[32];
	json_t *jwk = NULL;

	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) == 1)
		curve = ec_curve_by_group(group);
	if (!curve) {
		ERR_clear_error();
		error_set(err, -ENOTSUP, "JWK: unsupported EC curve (want P-256, P-384 or P-521)");
		return NULL;
	}
	jwk = jwk_begin(use, "EC", kid, curve->crv, alg);
	if (!jwk || jwk_set_bn_param(jwk, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, curve->size) < 0 ||
	    jwk_set_bn_param(jwk, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, curve->size) < 0 ||
	    (include_private &&
	     jwk_set_bn_param(jwk, "d", key, OSSL_PKEY_PARAM_PRIV_KEY, curve->size) < 0)) {
		error_set(err, -EINVAL, "JWK: cannot export the EC key%s",
			  include_private ? " (is it a private key?)" : "");
		json_decref(jwk);
		return NULL;
	}
	return jwk;
}

static json_t *okp_pkey_to_jwk(const EVP_PKEY *key, bool include_private, const char *kid,
			       const char *use, const char *alg, struct error *err)
{
	unsigned char pub[ED25519_LEN], priv[ED25519_LEN];
	size_t pub_len = sizeof(pub), priv_len = sizeof(priv);
	json_t *jwk = jwk_begin(use, "OKP", kid, "Ed25519", alg);

	if (!jwk || EVP_PKEY_get_raw_public_key(key, pub, &pub_len) != 1 ||
	    jwk_set_bytes(jwk, "x", pub, pub_len) < 0 ||
	    (include_private && (EVP_PKEY_get_raw_private_key(key, priv, &priv_len) != 1 ||
				 jwk_set_bytes(jwk, "d", priv, priv_len) < 0))) {
		openssl_error(err, -EINVAL,
			      include_private ? "JWK: Ed25519 private key export"
					      : "JWK: Ed25519 key export");
		json_decref(jwk);
		jwk = NULL;
	}
	OPENSSL_cleanse(priv, sizeof(priv));
	return jwk;
}

json_t *jose_pkey_to_jwk(const EVP_PKEY *key, bool include_private, const char *kid,
			 const char *use, const char *alg, struct error *err)
{
	if (EVP_PKEY_is_a(key, "EC"))
		return ec_pkey_to_jwk(key, include_private, kid, use, alg, err);
	if (EVP_PKEY_is_a(key, "ED25519"))
		return okp_pkey_to_jwk(key, include_private, kid, use, alg, err);
	error_set(err, -ENOTSUP, "JWK: unsupported key type %s (want EC or Ed25519)",
		  EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?");
	return NULL;
}

/* ---- RFC 7638 thumbprint ---- */

/* A member re-encoded canonically: decoded (exactly want bytes, 0: any), leading zero bytes
 * dropped if strip (RFC 7518 §6.3.1: RSA integers are minimal; go-jose re-encodes from big.Int). */
static char *member_canonical(const json_t *jwk, const char *name, size_t want, bool strip,
			      struct error *err)
{
	unsigned char *bytes = NULL;
	size_t len = 0, skip = 0;
	char *text;

	if (jwk_member_bytes(jwk, name, want, &bytes, &len, err) < 0)
		return NULL;
	while (strip && skip + 1 < len && bytes[skip] == 0)
		skip++;
	text = b64url_encode(bytes + skip, len - skip);
	if (!text)
		error_set(err, -ENOMEM, "JWK thumbprint: out of memory");
	free(bytes);
	return text;
}

/* RFC 7638 §3.2: the required members of the key type, sorted, no whitespace. The values are
 * base64url or fixed names, so no JSON escaping is needed. Caller frees. */
static char *thumbprint_input(const json_t *jwk, struct error *err)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const struct ec_curve *curve;
	char *a = NULL, *b = NULL, *input = NULL;
	int n = -1;

	if (!json_is_object(jwk) || !kty) {
		error_set(err, -EINVAL, "JWK: not an object with a \"kty\"");
		return NULL;
	}
	if (strcmp(kty, "EC") == 0) {
		curve = ec_curve_by_crv(crv, err);
		if (curve && (a = member_canonical(jwk, "x", curve->size, false, err)) &&
		    (b = member_canonical(jwk, "y", curve->size, false, err)))
			n = asprintf(&input,
				     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
				     curve->crv, a, b);
	} else if (strcmp(kty, "OKP") == 0) {
		if (!crv || strcmp(crv, "Ed25519") != 0)
			error_set(err, -ENOTSUP, "JWK: unsupported OKP crv (want Ed25519)");
		else if ((a = member_canonical(jwk, "x", ED25519_LEN, false, err)))
			n = asprintf(&input, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
				     a);
	} else if (strcmp(kty, "RSA") == 0) {
		if ((a = member_canonical(jwk, "e", 0, true, err)) &&
		    (b = member_canonical(jwk, "n", 0, true, err)))
			n = asprintf(&input, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
	} else {
		error_set(err, -ENOTSUP, "JWK: unsupported kty \"%.20s\" (want EC, OKP or RSA)",
			  kty);
	}
	free(a);
	free(b);
	return n < 0 ? NULL : input;
}

char *jose_jwk_thumbprint(const json_t *jwk, struct error *err)
{
	unsigned char digest[32];
	unsigned int digest_len = 0;
	char *input = thumbprint_input(jwk, err), *out = NULL;

	if (!input)
		return NULL;
	if (EVP_Digest(input, strlen(input), digest, &digest_len, EVP_sha256(), NULL) != 1)
		openssl_error(err, -EIO, "JWK thumbprint");
	else if (!(out = b64url_encode(digest, digest_len)))
		error_set(err, -ENOMEM, "JWK thumbprint: out of memory");
	free(input);
	return out;
}

/* ---- JWS ES256 (RFC 7515, RFC 7518 §3.4) ---- */

#define ES256_COORD 32
#define ES256_SIG_LEN (2 * ES256_COORD)

/* ES256 needs an EC key on P-256. */
static int es256_key_check(const EVP_PKEY *key, struct error *err)
{
	char group[32];

	if (key && EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) == 1 &&
	    strcmp(group, "prime256v1") == 0)
		return 0;
	ERR_clear_error();
	return error_set(err, -EINVAL, "JWS: ES256 needs an EC P-256 key");
}

/* ASCII(BASE64URL(header)) || '.' || BASE64URL(claims) (RFC 7515 §5.1 step 5). Caller frees. */
static char *jws_signing_input_new(const json_t *header, const json_t *claims)
{
	char *header_text = json_dumps(header, JSON_COMPACT);
	char *claims_text = json_dumps(claims, JSON_COMPACT);
	char *out = NULL;

	if (header_text && claims_text) {
		const unsigned char *data[] = {(const unsigned char *)header_text,
					       (const unsigned char *)claims_text};
		const size_t lens[] = {strlen(header_text), strlen(claims_text)};

		out = compact_join(data, lens, 2);
	}
	free(header_text);
	free(claims_text);
	return out;
}

/* OpenSSL signs ECDSA as DER ECDSA-Sig-Value (RFC 3279 §2.2.3); JWS wants R and S as 32-byte
 * big-endian integers, concatenated (RFC 7518 §3.4). */
static int es256_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw,
			    struct error *err)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r = NULL, *s = NULL;
	int rc = 0;

	if (sig)
		ECDSA_SIG_get0(sig, &r, &s);
	if (!sig || BN_bn2binpad(r, raw, ES256_COORD) != ES256_COORD ||
	    BN_bn2binpad(s, raw + ES256_COORD, ES256_COORD) != ES256_COORD)
		rc = openssl_error(err, -EIO, "JWS: ECDSA signature conversion");
	ECDSA_SIG_free(sig);
	return rc;
}

static int es256_sign(EVP_PKEY *key, const char *input, unsigned char *raw, struct error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	size_t der_len = 0;
	int rc = 0;

	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &der_len, (const unsigned char *)input, strlen(input)) != 1 ||
	    !(der = malloc(der_len)) ||
	    EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, strlen(input)) != 1) {
		rc = openssl_error(err, -EIO, "JWS: ES256 signing");
		goto out;
	}
	rc = es256_der_to_raw(der, der_len, raw, err);
out:
	free(der);
	EVP_MD_CTX_free(md);
	return rc;
}

int jose_jws_sign_es256(EVP_PKEY *key, const json_t *header, const json_t *claims, char **compact,
			struct error *err)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	unsigned char raw[ES256_SIG_LEN];
	char *input = NULL, *sig = NULL;
	int rc;

	*compact = NULL;
	if (!json_is_object(header) || !alg || strcmp(alg, "ES256") != 0)
		return error_set(err, -EINVAL, "JWS: the header must be an object with alg ES256");
	if (!json_is_object(claims))
		return error_set(err, -EINVAL, "JWS: the claims must be a JSON object");
	rc = es256_key_check(key, err);
	if (rc < 0)
		return rc;
	input = jws_signing_input_new(header, claims);
	if (!input)
		return error_set(err, -ENOMEM, "JWS: out of memory");
	rc = es256_sign(key, input, raw, err);
	if (rc < 0)
		goto out;
	sig = b64url_encode(raw, sizeof(raw));
	if (!sig || asprintf(compact, "%s.%s", input, sig) < 0) {
		*compact = NULL;
		rc = error_set(err, -ENOMEM, "JWS: out of memory");
	}
out:
	free(sig);
	free(input);
	return rc;
}

/* The reverse of es256_der_to_raw. *der: caller frees (OPENSSL_free). */
static int es256_raw_to_der(const unsigned char *raw, unsigned char **der, int *der_len,
			    struct error *err)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, ES256_COORD, NULL);
	BIGNUM *s = BN_bin2bn(raw + ES256_COORD, ES256_COORD, NULL);
	int rc = 0;

	*der = NULL;
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		rc = openssl_error(err, -ENOMEM, "JWS: ECDSA signature conversion");
		goto out;
	}
	*der_len = i2d_ECDSA_SIG(sig, der);
	if (*der_len <= 0)
		rc = openssl_error(err, -ENOMEM, "JWS: ECDSA signature conversion");
out:
	ECDSA_SIG_free(sig);
	return rc;
}

/* The protected header must say ES256; "none" and every other alg are refused (RFC 8725 §3.1). */
static int jws_check_header(const struct compact_part *part, struct error *err)
{
	json_t *header = header_decode(part, "JWS header", err);
	const char *alg = json_string_value(json_object_get(header, "alg"));
	int rc = 0;

	if (!header)
		return -EINVAL;
	if (!alg || strcmp(alg, "ES256") != 0)
		rc = error_set(err, -EINVAL, "JWS: alg \"%.20s\" is not ES256", alg ? alg : "");
	else if (json_object_get(header, "crit"))
		rc = error_set(err, -ENOTSUP, "JWS: critical header parameters are not supported");
	json_decref(header);
	return rc;
}

static int es256_verify(EVP_PKEY *pub, const char *input, size_t input_len,
			const struct compact_part *sig_part, struct error *err)
{
	unsigned char *raw = NULL, *der = NULL;
	size_t raw_len = 0;
	int der_len = 0, rc;
	EVP_MD_CTX *md = NULL;

	rc = part_decode(sig_part, "JWS signature", &raw, &raw_len, err);
	if (rc < 0)
		return rc;
	if (raw_len != ES256_SIG_LEN) {
		rc = error_set(err, -EBADMSG, "JWS: signature is %zu bytes, ES256 wants %d (R||S)",
			       raw_len, ES256_SIG_LEN);
		goto out;
	}
	rc = es256_raw_to_der(raw, &der, &der_len, err);
	if (rc < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1) {
		rc = openssl_error(err, -EIO, "JWS: ES256 verification setup");
		goto out;
	}
	if (EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)input, input_len) !=
	    1) {
		ERR_clear_error();
		rc = error_set(err, -EBADMSG, "JWS: bad signature");
	}
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	free(raw);
	return rc;
}

static json_t *claims_decode(const struct compact_part *part, struct error *err)
{
	unsigned char *text = NULL;
	json_error_t jerr;
	json_t *claims;
	size_t len = 0;

	if (part_decode(part, "JWS payload", &text, &len, err) < 0)
		return NULL;
	claims = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(claims)) {
		error_set(err, -EINVAL, "JWS payload: not a JSON object");
		json_decref(claims);
		claims = NULL;
	}
	free(text);
	return claims;
}

int jose_jws_verify_es256(const char *compact, EVP_PKEY *pub, json_t **claims_out,
			  struct error *err)
{
	struct compact_part parts[3] = {{NULL, 0}};
	int rc;

	*claims_out = NULL;
	if ((rc = compact_split(compact, parts, 3, "JWS", err)) < 0 ||
	    (rc = jws_check_header(&parts[0], err)) < 0 || (rc = es256_key_check(pub, err)) < 0)
		return rc;
	/* The signing input is the text as received: header '.' payload (RFC 7515 §5.2 step 8). */
	rc = es256_verify(pub, compact, parts[0].len + 1 + parts[1].len, &parts[2], err);
	if (rc < 0)
		return rc;
	*claims_out = claims_decode(&parts[1], err);
	return *claims_out ? 0 : -EINVAL;
}

/* ---- token ids ---- */

char *jose_random_jti(void)
{
	unsigned char bytes[32];
	char *hex = malloc(2 * sizeof(bytes) + 1);

	if (!hex || RAND_bytes(bytes, sizeof(bytes)) != 1) {
		free(hex);
		return NULL;
	}
	hex_encode(bytes, sizeof(bytes), hex);
	return hex;
}
