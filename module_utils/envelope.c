#include "envelope.h"
#include "pgzip.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
/* next_in is const: we never let zlib write to the caller's input. */
#define ZLIB_CONST
#include <zlib.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Message format reference: version 2 header, framed content type (message-format.html). */
#define VERSION_2 0x02
#define CONTENT_FRAMED 0x02
#define FINAL_FRAME_MARKER 0xFFFFFFFFu
/* Body AAD reference: the content strings of the two frame kinds (body-aad-reference.html). */
static const char FRAME_AAD[] = "AWSKMSEncryptionClient Frame";
static const char FINAL_FRAME_AAD[] = "AWSKMSEncryptionClient Final Frame";
/* Algorithms reference, key derivation for committing suites: info = suite id || "DERIVEKEY"
 * for the data encryption key, "COMMITKEY" alone for the commitment (@aws-crypto/serialize
 * kdf_info.js kdfCommitKeyInfo). */
static const char KEY_LABEL[] = "DERIVEKEY";
static const char COMMIT_LABEL[] = "COMMITKEY";
/* gzip output of deflate (and input of the sink after inflate) goes through this much at once. */
#define ZCHUNK (64 * 1024)
/* The single-threaded deflate judges its input this much at a time: stored or deflated. */
#define DEFLATE_SEGMENT (64 * 1024)
/* Frame header: [marker u32] seq u32, IV; the final one adds its content length u32. */
#define FRAME_HEAD_LEN (4 + ENVELOPE_IV_LEN)
#define FINAL_HEAD_LEN (4 + 4 + ENVELOPE_IV_LEN + 4)
#define BODY_AAD_MAX (ENVELOPE_MESSAGE_ID_LEN + sizeof(FINAL_FRAME_AAD) - 1 + 4 + 8)

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Frame IV: the sequence number, big-endian, in the last 4 of 12 zero bytes (serialize frameIv). */
static void frame_iv(uint8_t iv[ENVELOPE_IV_LEN], uint32_t seq)
{
	memset(iv, 0, ENVELOPE_IV_LEN);
	put_u32(iv + ENVELOPE_IV_LEN - 4, seq);
}

/* Body AAD: message id || content string || seq u32 || content length u64. Returns its length. */
static size_t body_aad(uint8_t out[BODY_AAD_MAX], const uint8_t *message_id, bool final,
		       uint32_t seq, uint64_t len)
{
	const char *s = final ? FINAL_FRAME_AAD : FRAME_AAD;
	size_t slen = final ? sizeof(FINAL_FRAME_AAD) - 1 : sizeof(FRAME_AAD) - 1, n = 0;

	memcpy(out, message_id, ENVELOPE_MESSAGE_ID_LEN);
	n += ENVELOPE_MESSAGE_ID_LEN;
	memcpy(out + n, s, slen);
	n += slen;
	put_u32(out + n, seq);
	n += 4;
	put_u32(out + n, (uint32_t)(len >> 32));
	put_u32(out + n + 4, (uint32_t)len);
	return n + 8;
}

/* ---- encryption context ---- */

struct pair {
	const char *key, *value;
	size_t key_len, value_len;
};

/* Byte order of the UTF-8 keys, a shorter prefix first (serialize_factory.js compare). */
static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/*
 * The context as the header's AAD section holds it after its u16 length: nothing for an empty
 * context, else count u16 and (u16 len, key, u16 len, value) sorted by key bytes. This is also the
 * raw AES keyring's AAD. *out: caller frees (NULL with *len 0 for an empty context).
 */
static int context_serialize(const struct envelope_context *ctx, uint8_t **out, size_t *len,
			     struct error *err)
{
	struct pair *pairs = NULL;
	uint8_t *buf = NULL;
	size_t i, total = 2, n = ctx ? ctx->n : 0;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (n == 0)
		return 0;
	if (n > UINT16_MAX)
		return error_set(err, -E2BIG, "encryption context: too many pairs");
	pairs = calloc(n, sizeof(*pairs));
	if (!pairs)
		return error_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		pairs[i] = (struct pair){ctx->keys[i], ctx->values[i], strlen(ctx->keys[i]),
					 strlen(ctx->values[i])};
		if (pairs[i].key_len > UINT16_MAX || pairs[i].value_len > UINT16_MAX) {
			rc = error_set(err, -E2BIG, "encryption context: key or value too long");
			goto out;
		}
		total += 4 + pairs[i].key_len + pairs[i].value_len;
		if (total > UINT16_MAX) {
			rc = error_set(err, -E2BIG, "encryption context longer than 65535 bytes");
			goto out;
		}
	}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	buf = malloc(total);
	if (!buf) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	put_u16(buf, (uint16_t)n);
	*len = 2;
	for (i = 0; i < n; i++) {
		if (i > 0 && pair_cmp(&pairs[i - 1], &pairs[i]) == 0) {
			rc = error_set(err, -EINVAL, "encryption context: duplicate key %s",
				       pairs[i].key);
			goto out;
		}
		put_u16(buf + *len, (uint16_t)pairs[i].key_len);
		memcpy(buf + *len + 2, pairs[i].key, pairs[i].key_len);
		*len += 2 + pairs[i].key_len;
		put_u16(buf + *len, (uint16_t)pairs[i].value_len);
		memcpy(buf + *len + 2, pairs[i].value, pairs[i].value_len);
		*len += 2 + pairs[i].value_len;
	}
	*out = buf;
	buf = NULL;
out:
	if (rc)
		*len = 0;
	free(buf);
	free(pairs);
	return rc;
}

/* ---- key derivation and AES-GCM ---- */

static int hkdf_sha512(const uint8_t *ikm, const uint8_t *salt, const uint8_t *info,
		       size_t info_len, uint8_t out[32])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t out_len = 32;
	int ok;

	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha512()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt, ENVELOPE_MESSAGE_ID_LEN) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm, ENVELOPE_KEY_LEN) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(pctx, info, (int)info_len) > 0 &&
	     EVP_PKEY_derive(pctx, out, &out_len) > 0 && out_len == 32;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -EIO;
}

/* Algorithms reference: HKDF-SHA512, salt = message id, IKM = data key. */
static int derive_keys(const uint8_t data_key[ENVELOPE_KEY_LEN], const uint8_t *message_id,
		       uint8_t key[ENVELOPE_KEY_LEN], uint8_t commit[ENVELOPE_COMMITMENT_LEN],
		       struct error *err)
{
	uint8_t info[2 + sizeof(KEY_LABEL) - 1];

	put_u16(info, ENVELOPE_SUITE_ID);
	memcpy(info + 2, KEY_LABEL, sizeof(KEY_LABEL) - 1);
	if (hkdf_sha512(data_key, message_id, info, sizeof(info), key) < 0 ||
	    hkdf_sha512(data_key, message_id, (const uint8_t *)COMMIT_LABEL,
			sizeof(COMMIT_LABEL) - 1, commit) < 0) {
		OPENSSL_cleanse(key, ENVELOPE_KEY_LEN);
		return error_set(err, -EIO, "HKDF-SHA512 failed");
	}
	return 0;
}

/* One-shot AES-256-GCM; seal when tag_out, else open with tag (-EBADMSG when it fails). */
static int gcm_once(const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag_out,
		    const uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t none[ENVELOPE_TAG_LEN]; /* GCM's final writes nothing; some callers have no out */
	int n, enc = tag_out != NULL, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) > 0 &&
	     (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) > 0) &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) > 0) &&
	     (enc ||
	      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_LEN, (void *)tag) > 0) &&
	     EVP_CipherFinal_ex(c, out ? out + len : none, &n) > 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, ENVELOPE_TAG_LEN, tag_out) > 0);
	EVP_CIPHER_CTX_free(c);
	if (!ok && !enc && out)
		OPENSSL_cleanse(out, len);
	return ok ? 0 : enc ? -EIO : -EBADMSG;
}

/* ---- header ---- */

/* A bounded cursor: take() fails with -EAGAIN past the bytes we have, -EBADMSG past the max. */
struct cursor {
	const uint8_t *p;
	size_t len, pos;
};

static int take(struct cursor *c, size_t n, const uint8_t **out)
{
	if (n > ENVELOPE_HEADER_MAX || c->pos + n > ENVELOPE_HEADER_MAX)
		return -EBADMSG;
	if (c->pos + n > c->len)
		return -EAGAIN;
	*out = c->p + c->pos;
	c->pos += n;
	return 0;
}

static int take_u16(struct cursor *c, uint16_t *v)
{
	const uint8_t *p;
	int rc = take(c, 2, &p);

	if (rc == 0)
		*v = get_u16(p);
	return rc;
}

/* A u16-length-prefixed field, copied into a NUL-terminated string when out is not NULL. */
static int take_field(struct cursor *c, const uint8_t **p, uint16_t *n)
{
	int rc = take_u16(c, n);

	return rc ? rc : take(c, *n, p);
}

static char *strndup_checked(const uint8_t *p, size_t n, bool *has_nul)
{
	char *s;

	if (memchr(p, 0, n)) {
		*has_nul = true;
		return NULL;
	}
	s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

void envelope_header_release(struct envelope_header *hdr)
{
	size_t i;

	if (!hdr)
		return;
	for (i = 0; i < hdr->context.n; i++) {
		free((void *)hdr->context.keys[i]);
		free((void *)hdr->context.values[i]);
	}
	free((void *)hdr->context.keys);
	free((void *)hdr->context.values);
	for (i = 0; i < hdr->n_edks; i++)
		envelope_edk_release(&hdr->edks[i]);
	free(hdr->edks);
	memset(hdr, 0, sizeof(*hdr));
}

/* The AAD section: pairs into hdr->context (allocated), duplicates and NULs refused. */
static int parse_context(const uint8_t *p, size_t len, struct envelope_header *hdr,
			 struct error *err)
{
	struct cursor c = {p, len, 0};
	const uint8_t *k, *v;
	uint16_t count, klen, vlen;
	char **keys = NULL, **values = NULL;
	bool nul = false;
	size_t i, j;

	if (len == 0)
		return 0;
	if (take_u16(&c, &count))
		return error_set(err, -EBADMSG, "malformed encryption context");
	keys = calloc(count ? count : 1, sizeof(*keys));
	values = calloc(count ? count : 1, sizeof(*values));
	hdr->context.keys = (const char *const *)keys;
	hdr->context.values = (const char *const *)values;
	if (!keys || !values)
		return error_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		if (take_field(&c, &k, &klen) || take_field(&c, &v, &vlen))
			return error_set(err, -EBADMSG, "malformed encryption context");
		keys[i] = strndup_checked(k, klen, &nul);
		values[i] = strndup_checked(v, vlen, &nul);
		hdr->context.n = i + 1;
		if (nul)
			return error_set(err, -EBADMSG, "NUL byte in the encryption context");
		if (!keys[i] || !values[i])
			return error_set(err, -ENOMEM, "out of memory");
		for (j = 0; j < i; j++)
			if (strcmp(keys[j], keys[i]) == 0)
				return error_set(err, -EBADMSG,
						 "duplicate encryption context key %s", keys[i]);
	}
	if (c.pos != len)
		return error_set(err, -EBADMSG, "malformed encryption context: trailing bytes");
	return 0;
}

static int parse_edk(struct cursor *c, struct envelope_edk *edk, struct error *err)
{
	const uint8_t *p;
	uint16_t n;
	bool nul = false;

	if (take_field(c, &p, &n))
		return error_set(err, -EBADMSG, "malformed encrypted data key");
	edk->provider_id = strndup_checked(p, n, &nul);
	if (nul)
		return error_set(err, -EBADMSG, "NUL byte in an EDK provider id");
	if (!edk->provider_id)
		return error_set(err, -ENOMEM, "out of memory");
	if (take_field(c, &p, &n))
		return error_set(err, -EBADMSG, "malformed encrypted data key");
	edk->info_len = n;
	edk->provider_info = malloc(n ? n : 1);
	if (!edk->provider_info)
		return error_set(err, -ENOMEM, "out of memory");
	memcpy(edk->provider_info, p, n);
	if (take_field(c, &p, &n))
		return error_set(err, -EBADMSG, "malformed encrypted data key");
	edk->ct_len = n;
	edk->ciphertext = malloc(n ? n : 1);
	if (!edk->ciphertext)
		return error_set(err, -ENOMEM, "out of memory");
	memcpy(edk->ciphertext, p, n);
	return 0;
}

/*
 * Pass 1: is the whole header there, and how long is each part? Checks what can be checked
 * from the bytes alone, as early as the bytes allow (a wrong version fails on the first byte).
 */
static int header_scan(const uint8_t *buf, size_t len, size_t *ctx_at, size_t *ctx_len,
		       size_t *body_len, struct error *err)
{
	struct cursor c = {buf, len, 0};
	const uint8_t *p;
	uint16_t n, n_edks, i;
	int rc;

	if ((rc = take(&c, 1, &p)) != 0)
		return rc;
	if (p[0] != VERSION_2)
		return error_set(err, -EBADMSG, "not an ESDK message of format version 2 (%u)",
				 p[0]);
	if ((rc = take_u16(&c, &n)) != 0)
		return rc;
	if (n != ENVELOPE_SUITE_ID)
		return error_set(err, -EBADMSG, "algorithm suite 0x%04x is not 0x%04x", n,
				 ENVELOPE_SUITE_ID);
	if ((rc = take(&c, ENVELOPE_MESSAGE_ID_LEN, &p)) != 0 || (rc = take_u16(&c, &n)) != 0)
		return rc;
	*ctx_at = c.pos;
	*ctx_len = n;
	if ((rc = take(&c, n, &p)) != 0 || (rc = take_u16(&c, &n_edks)) != 0)
		return rc;
	if (n_edks == 0 || n_edks > ENVELOPE_MAX_EDKS)
		return error_set(err, -EBADMSG, "%u encrypted data keys (1 to %d allowed)", n_edks,
				 ENVELOPE_MAX_EDKS);
	/* Each EDK: provider id, provider info, ciphertext, each u16-length-prefixed. */
	for (i = 0; i < 3 * n_edks; i++)
		if ((rc = take_field(&c, &p, &n)) != 0)
			goto bounded;
	if ((rc = take(&c, 1, &p)) != 0)
		goto bounded;
	if (p[0] != CONTENT_FRAMED)
		return error_set(err, -EBADMSG, "content type %u is not framed", p[0]);
	if ((rc = take(&c, 4, &p)) != 0)
		goto bounded;
	if (get_u32(p) == 0 || get_u32(p) > ENVELOPE_FRAME_LEN_MAX)
		return error_set(err, -EBADMSG, "frame length %u out of 1..%d", get_u32(p),
				 ENVELOPE_FRAME_LEN_MAX);
	if ((rc = take(&c, ENVELOPE_COMMITMENT_LEN, &p)) != 0)
		goto bounded;
	*body_len = c.pos;
	rc = take(&c, ENVELOPE_TAG_LEN, &p);
bounded:
	if (rc == -EBADMSG)
		return error_set(err, rc, "header longer than %d bytes", ENVELOPE_HEADER_MAX);
	return rc;
}

int envelope_header_parse(const uint8_t *buf, size_t len, struct envelope_header *hdr,
			  size_t *consumed, struct error *err)
{
	struct cursor c;
	const uint8_t *p = buf;
	size_t ctx_at = 0, ctx_len = 0, body_len = 0, i;
	uint16_t n = 0;
	int rc;

	memset(hdr, 0, sizeof(*hdr));
	rc = header_scan(buf, len, &ctx_at, &ctx_len, &body_len, err);
	if (rc == -EAGAIN)
		return error_set(err, rc, "incomplete message header");
	if (rc)
		return rc;
	/* Pass 2: everything is there and every length was checked. */
	hdr->suite_id = ENVELOPE_SUITE_ID;
	memcpy(hdr->message_id, buf + 3, ENVELOPE_MESSAGE_ID_LEN);
	rc = parse_context(buf + ctx_at, ctx_len, hdr, err);
	if (rc)
		goto out;
	c = (struct cursor){buf, len, ctx_at + ctx_len};
	(void)take_u16(&c, &n);
	hdr->edks = calloc(ENVELOPE_MAX_EDKS, sizeof(*hdr->edks)); /* n <= the max: scanned */
	if (!hdr->edks) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		hdr->n_edks = i + 1;
		rc = parse_edk(&c, &hdr->edks[i], err);
		if (rc)
			goto out;
	}
	(void)take(&c, 1, &p);
	(void)take(&c, 4, &p);
	hdr->frame_len = get_u32(p);
	(void)take(&c, ENVELOPE_COMMITMENT_LEN, &p);
	memcpy(hdr->commitment, p, ENVELOPE_COMMITMENT_LEN);
	(void)take(&c, ENVELOPE_TAG_LEN, &p);
	memcpy(hdr->auth_tag, p, ENVELOPE_TAG_LEN);
	hdr->body_len = body_len;
	hdr->len = c.pos;
	*consumed = c.pos;
out:
	if (rc)
		envelope_header_release(hdr);
	return rc;
}

const char *envelope_header_get(const struct envelope_header *hdr, const char *key)
{
	size_t i;

	for (i = 0; i < hdr->context.n; i++)
		if (strcmp(hdr->context.keys[i], key) == 0)
			return hdr->context.values[i];
	return NULL;
}

/* The header body (up to the auth tag) of a new message: *out caller frees. */
static int header_serialize(const uint8_t *message_id, const struct envelope_edk *edks,
			    size_t n_edks, const struct envelope_context *ctx, uint32_t frame_len,
			    const uint8_t *commitment, uint8_t **out, size_t *out_len,
			    struct error *err)
{
	uint8_t *aad = NULL, *buf = NULL;
	size_t aad_len, len, i, pos;
	int rc;

	rc = context_serialize(ctx, &aad, &aad_len, err);
	if (rc)
		return rc;
	len = 1 + 2 + ENVELOPE_MESSAGE_ID_LEN + 2 + aad_len + 2;
	for (i = 0; i < n_edks; i++) {
		if (strlen(edks[i].provider_id) > UINT16_MAX || edks[i].info_len > UINT16_MAX ||
		    edks[i].ct_len > UINT16_MAX) {
			rc = error_set(err, -E2BIG, "encrypted data key %zu: field too long", i);
			goto out;
		}
		len += 6 + strlen(edks[i].provider_id) + edks[i].info_len + edks[i].ct_len;
	}
	len += 1 + 4 + ENVELOPE_COMMITMENT_LEN;
	if (len + ENVELOPE_TAG_LEN > ENVELOPE_HEADER_MAX) {
		rc = error_set(err, -E2BIG, "header longer than %d bytes", ENVELOPE_HEADER_MAX);
		goto out;
	}
	buf = malloc(len + ENVELOPE_TAG_LEN);
	if (!buf) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	buf[0] = VERSION_2;
	put_u16(buf + 1, ENVELOPE_SUITE_ID);
	memcpy(buf + 3, message_id, ENVELOPE_MESSAGE_ID_LEN);
	pos = 3 + ENVELOPE_MESSAGE_ID_LEN;
	put_u16(buf + pos, (uint16_t)aad_len);
	if (aad_len)
		memcpy(buf + pos + 2, aad, aad_len);
	pos += 2 + aad_len;
	put_u16(buf + pos, (uint16_t)n_edks);
	pos += 2;
	for (i = 0; i < n_edks; i++) {
		size_t id_len = strlen(edks[i].provider_id);

		put_u16(buf + pos, (uint16_t)id_len);
		memcpy(buf + pos + 2, edks[i].provider_id, id_len);
		pos += 2 + id_len;
		put_u16(buf + pos, (uint16_t)edks[i].info_len);
		if (edks[i].info_len)
			memcpy(buf + pos + 2, edks[i].provider_info, edks[i].info_len);
		pos += 2 + edks[i].info_len;
		put_u16(buf + pos, (uint16_t)edks[i].ct_len);
		if (edks[i].ct_len)
			memcpy(buf + pos + 2, edks[i].ciphertext, edks[i].ct_len);
		pos += 2 + edks[i].ct_len;
	}
	buf[pos++] = CONTENT_FRAMED;
	put_u32(buf + pos, frame_len);
	pos += 4;
	memcpy(buf + pos, commitment, ENVELOPE_COMMITMENT_LEN);
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	free(aad);
	return rc;
}

/* ---- writer ---- */

struct envelope_writer {
	envelope_sink_fn sink;
	void *sink_ctx;
	uint8_t key[ENVELOPE_KEY_LEN]; /* derived data encryption key */
	uint8_t message_id[ENVELOPE_MESSAGE_ID_LEN];
	EVP_CIPHER_CTX *gcm;
	uint8_t *header; /* whole header, tag included, until sent */
	size_t header_len;
	uint32_t frame_len, seq;
	uint8_t *frame; /* plaintext of the pending frame */
	size_t buffered;
	uint8_t *out; /* one encrypted frame */
	bool gzip, z_init;
	z_stream z;
	int z_level; /* deflate's level now: ENVELOPE_GZIP_LEVEL, or 0 over incompressible input */
	struct pgzip *pz; /* parallel deflate (envelope_writer_set_deflate_workers), or NULL */
	uint8_t *zbuf;
	EVP_MD_CTX *sha;
	bool hash; /* hash the plaintext (envelope_writer_skip_hash clears it) */
	struct envelope_stats stats;
	bool failed, finished;
};

/* Passes rc on; a failure poisons the writer (its frames would no longer follow each other). */
static int writer_fail(struct envelope_writer *w, int rc)
{
	if (rc)
		w->failed = true;
	return rc;
}

struct envelope_writer *envelope_writer_new(const uint8_t data_key[ENVELOPE_KEY_LEN],
					    const struct envelope_edk *edks, size_t n_edks,
					    const struct envelope_context *ctx, uint32_t frame_len,
					    bool gzip, envelope_sink_fn sink, void *sink_ctx,
					    struct error *err)
{
	struct envelope_writer *w;
	uint8_t commit[ENVELOPE_COMMITMENT_LEN];
	int rc = 0;

	if (frame_len == 0)
		frame_len = ENVELOPE_FRAME_LEN_DEFAULT;
	if (frame_len > ENVELOPE_FRAME_LEN_MAX || n_edks == 0 || n_edks > ENVELOPE_MAX_EDKS ||
	    !sink) {
		error_set(err, -EINVAL,
			  "envelope: frame length above %d, %zu EDKs (1 to %d), "
			  "or no sink",
			  ENVELOPE_FRAME_LEN_MAX, n_edks, ENVELOPE_MAX_EDKS);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	w->sink = sink;
	w->sink_ctx = sink_ctx;
	w->frame_len = frame_len;
	w->seq = 1;
	w->gzip = gzip;
	w->hash = true;
	w->frame = malloc(frame_len);
	w->out = malloc((size_t)frame_len + FINAL_HEAD_LEN + ENVELOPE_TAG_LEN);
	w->gcm = EVP_CIPHER_CTX_new();
	w->sha = EVP_MD_CTX_new();
	if (!w->frame || !w->out || !w->gcm || !w->sha) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (RAND_bytes(w->message_id, sizeof(w->message_id)) != 1) {
		rc = error_set(err, -EIO, "no random bytes for the message id");
		goto out;
	}
	rc = derive_keys(data_key, w->message_id, w->key, commit, err);
	if (rc)
		goto out;
	rc = header_serialize(w->message_id, edks, n_edks, ctx, frame_len, commit, &w->header,
			      &w->header_len, err);
	if (rc)
		goto out;
	/* Header auth tag: GCM over nothing, AAD = header body, IV = 12 zero bytes (v2 carries no
	 * header IV: deserialize_header_v2.js "The V2 format is explicit about the IV"). */
	{
		static const uint8_t zero_iv[ENVELOPE_IV_LEN];

		if (gcm_once(w->key, zero_iv, w->header, w->header_len, NULL, 0, NULL,
			     w->header + w->header_len, NULL) < 0) {
			rc = error_set(err, -EIO, "AES-GCM failed");
			goto out;
		}
		w->header_len += ENVELOPE_TAG_LEN;
	}
	if (EVP_EncryptInit_ex(w->gcm, EVP_aes_256_gcm(), NULL, w->key, NULL) != 1 ||
	    EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1) {
		rc = error_set(err, -EIO, "OpenSSL init failed");
		goto out;
	}
	if (gzip) {
		w->zbuf = malloc(ZCHUNK);
		if (!w->zbuf) {
			rc = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		/* windowBits 15 + 16: a gzip wrapper (RFC 1952), not zlib's own. */
		if (deflateInit2(&w->z, ENVELOPE_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			rc = error_set(err, -ENOMEM, "deflateInit2 failed");
			goto out;
		}
		w->z_init = true;
		w->z_level = ENVELOPE_GZIP_LEVEL;
	}
out:
	OPENSSL_cleanse(commit, sizeof(commit));
	if (rc) {
		envelope_writer_free(w);
		return NULL;
	}
	return w;
}

static int send_header(struct envelope_writer *w, struct error *err)
{
	int rc;

	if (!w->header)
		return 0;
	rc = w->sink(w->sink_ctx, w->header, w->header_len, err);
	if (rc)
		return rc;
	w->stats.message_bytes += w->header_len;
	free(w->header);
	w->header = NULL;
	return 0;
}

/* Encrypts the pending frame and sends it. */
static int emit_frame(struct envelope_writer *w, bool final, struct error *err)
{
	uint8_t iv[ENVELOPE_IV_LEN], aad[BODY_AAD_MAX];
	size_t pos = 0, aad_len;
	int n, rc;

	if (!final && w->seq == FINAL_FRAME_MARKER)
		return error_set(err, -E2BIG, "more than 2^32 - 2 frames");
	frame_iv(iv, w->seq);
	if (final) {
		put_u32(w->out, FINAL_FRAME_MARKER);
		pos = 4;
	}
	put_u32(w->out + pos, w->seq);
	memcpy(w->out + pos + 4, iv, sizeof(iv));
	pos += 4 + sizeof(iv);
	if (final) {
		put_u32(w->out + pos, (uint32_t)w->buffered);
		pos += 4;
	}
	aad_len = body_aad(aad, w->message_id, final, w->seq, w->buffered);
	if (EVP_EncryptInit_ex(w->gcm, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(w->gcm, NULL, &n, aad, (int)aad_len) != 1 ||
	    (w->buffered &&
	     EVP_EncryptUpdate(w->gcm, w->out + pos, &n, w->frame, (int)w->buffered) != 1) ||
	    EVP_EncryptFinal_ex(w->gcm, w->out + pos + w->buffered, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(w->gcm, EVP_CTRL_GCM_GET_TAG, ENVELOPE_TAG_LEN,
				w->out + pos + w->buffered) != 1)
		return error_set(err, -EIO, "AES-GCM failed");
	pos += w->buffered + ENVELOPE_TAG_LEN;
	rc = w->sink(w->sink_ctx, w->out, pos, err);
	if (rc)
		return rc;
	w->stats.body_bytes += w->buffered;
	w->stats.message_bytes += pos;
	w->buffered = 0;
	w->seq++;
	return 0;
}

/* Body bytes into frames. A full frame waits for one more byte: only then is it not the final. */
static int body_append(struct envelope_writer *w, const uint8_t *p, size_t len, struct error *err)
{
	size_t n;
	int rc;

	while (len > 0) {
		if (w->buffered == w->frame_len) {
			rc = emit_frame(w, false, err);
			if (rc)
				return rc;
		}
		n = w->frame_len - w->buffered;
		if (n > len)
			n = len;
		memcpy(w->frame + w->buffered, p, n);
		w->buffered += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* pgzip's sink: its gzip bytes into the frames. */
static int pgzip_to_frames(void *ctx, const void *buf, size_t len, struct error *err)
{
	return body_append(ctx, buf, len, err);
}

int envelope_writer_set_deflate_workers(struct envelope_writer *w, unsigned workers,
					struct error *err)
{
	if (!w->gzip || workers == 0 || w->pz)
		return 0;
	if (w->stats.plaintext_bytes > 0)
		return error_set(err, -EINVAL, "envelope: deflate workers set after a write");
	w->pz = pgzip_new(ENVELOPE_GZIP_LEVEL, workers, pgzip_to_frames, w, err);
	return w->pz ? 0 : -ENOMEM;
}

/* Runs deflate over what is in w->z with flush, feeding its output to the frames. */
static int deflate_run(struct envelope_writer *w, int flush, struct error *err)
{
	int zrc, rc;

	do {
		w->z.next_out = w->zbuf;
		w->z.avail_out = ZCHUNK;
		zrc = deflate(&w->z, flush);
		if (zrc == Z_STREAM_ERROR)
			return error_set(err, -EIO, "deflate failed");
		rc = body_append(w, w->zbuf, ZCHUNK - w->z.avail_out, err);
		if (rc)
			return rc;
	} while (w->z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
	return 0;
}

/*
 * Switches deflate to level (0: stored). zlib first deflates what it holds with the old level
 * as a block of its own (deflateParams, zlib.h), which may take more than one output buffer:
 * Z_BUF_ERROR asks for a retry with more room.
 */
static int deflate_set_level(struct envelope_writer *w, int level, struct error *err)
{
	int zrc, rc;

	if (level == w->z_level)
		return 0;
	do {
		w->z.next_out = w->zbuf;
		w->z.avail_out = ZCHUNK;
		zrc = deflateParams(&w->z, level, Z_DEFAULT_STRATEGY);
		if (zrc != Z_OK && (zrc != Z_BUF_ERROR || w->z.avail_out == ZCHUNK))
			return error_set(err, -EIO, "deflateParams failed");
		rc = body_append(w, w->zbuf, ZCHUNK - w->z.avail_out, err);
		if (rc)
			return rc;
	} while (zrc == Z_BUF_ERROR);
	w->z_level = level;
	return 0;
}

int envelope_writer_write(struct envelope_writer *w, const void *buf, size_t len, struct error *err)
{
	const uint8_t *p = buf;
	int rc;

	if (w->failed || w->finished)
		return error_set(err, -EINVAL, "envelope writer already failed or finished");
	rc = send_header(w, err);
	if (rc)
		return writer_fail(w, rc);
	if (w->hash && EVP_DigestUpdate(w->sha, buf, len) != 1)
		return writer_fail(w, error_set(err, -EIO, "SHA-256 failed"));
	w->stats.plaintext_bytes += len;
	if (!w->gzip)
		return writer_fail(w, body_append(w, p, len, err));
	if (w->pz)
		return writer_fail(w, pgzip_write(w->pz, p, len, err));
	/* Each DEFLATE_SEGMENT is stored when it looks incompressible (pgzip.h), else deflated. */
	while (len > 0) {
		size_t n = len > DEFLATE_SEGMENT ? DEFLATE_SEGMENT : len;

		rc = deflate_set_level(
		    w, pgzip_looks_incompressible(p, n) ? 0 : ENVELOPE_GZIP_LEVEL, err);
		if (rc)
			return writer_fail(w, rc);
		w->z.next_in = p;
		w->z.avail_in = (uInt)n;
		rc = deflate_run(w, Z_NO_FLUSH, err);
		if (rc)
			return writer_fail(w, rc);
		p += n;
		len -= n;
	}
	return 0;
}

int envelope_writer_finish(struct envelope_writer *w, struct error *err)
{
	unsigned int md_len = 0;
	int rc;

	if (w->failed || w->finished)
		return error_set(err, -EINVAL, "envelope writer already failed or finished");
	rc = send_header(w, err);
	if (rc)
		return writer_fail(w, rc);
	if (w->pz) {
		rc = pgzip_finish(w->pz, err);
		if (rc)
			return writer_fail(w, rc);
	} else if (w->gzip) {
		w->z.next_in = NULL;
		w->z.avail_in = 0;
		rc = deflate_run(w, Z_FINISH, err);
		if (rc)
			return writer_fail(w, rc);
	}
	rc = emit_frame(w, true, err);
	if (rc)
		return writer_fail(w, rc);
	if (w->hash && EVP_DigestFinal_ex(w->sha, w->stats.plaintext_sha256, &md_len) != 1)
		return writer_fail(w, error_set(err, -EIO, "SHA-256 failed"));
	w->finished = true;
	return 0;
}

void envelope_writer_skip_hash(struct envelope_writer *w)
{
	if (w->stats.plaintext_bytes == 0)
		w->hash = false;
}

void envelope_writer_stats(const struct envelope_writer *w, struct envelope_stats *stats)
{
	*stats = w->stats;
}

void envelope_writer_free(struct envelope_writer *w)
{
	if (!w)
		return;
	OPENSSL_cleanse(w->key, sizeof(w->key));
	if (w->frame)
		OPENSSL_cleanse(w->frame, w->frame_len);
	free(w->frame);
	free(w->out);
	free(w->header);
	pgzip_free(w->pz);
	if (w->z_init)
		deflateEnd(&w->z);
	if (w->zbuf)
		OPENSSL_cleanse(w->zbuf, ZCHUNK);
	free(w->zbuf);
	EVP_CIPHER_CTX_free(w->gcm);
	EVP_MD_CTX_free(w->sha);
	free(w);
}

/* ---- reader ---- */

enum reader_state { R_HEADER, R_FRAME_HEAD, R_FRAME_BODY, R_FRAME_TAG, R_DONE, R_FAILED };

struct envelope_reader {
	envelope_key_fn key_fn;
	void *key_ctx;
	envelope_sink_fn sink;
	void *sink_ctx;
	enum reader_state state;
	uint8_t *hbuf; /* header bytes until the header is parsed */
	size_t hlen, hcap;
	struct envelope_header hdr;
	bool have_hdr;
	uint8_t key[ENVELOPE_KEY_LEN];
	EVP_CIPHER_CTX *gcm;
	uint8_t head[FINAL_HEAD_LEN]; /* frame header being read */
	size_t head_len;
	uint32_t seq, content_len;
	bool final;
	uint8_t *plain; /* the current frame's plaintext, held until its tag verified */
	size_t got;
	uint8_t tag[ENVELOPE_TAG_LEN];
	size_t tag_len;
	bool gunzip, z_init, z_end;
	z_stream z;
	uint8_t *zbuf;
	EVP_MD_CTX *sha;
	struct envelope_stats stats;
};

struct envelope_reader *envelope_reader_new(envelope_key_fn key_fn, void *key_ctx, bool gunzip,
					    envelope_sink_fn sink, void *sink_ctx,
					    struct error *err)
{
	struct envelope_reader *r;

	if (!key_fn || !sink) {
		error_set(err, -EINVAL, "envelope reader needs a key function and a sink");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	r->key_fn = key_fn;
	r->key_ctx = key_ctx;
	r->sink = sink;
	r->sink_ctx = sink_ctx;
	r->gunzip = gunzip;
	r->seq = 1;
	r->gcm = EVP_CIPHER_CTX_new();
	r->sha = EVP_MD_CTX_new();
	if (gunzip)
		r->zbuf = malloc(ZCHUNK);
	if (!r->gcm || !r->sha || (gunzip && !r->zbuf) ||
	    EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1) {
		error_set(err, -ENOMEM, "out of memory");
		envelope_reader_free(r);
		return NULL;
	}
	if (gunzip) {
		if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
			error_set(err, -ENOMEM, "inflateInit2 failed");
			envelope_reader_free(r);
			return NULL;
		}
		r->z_init = true;
	}
	return r;
}

static int deliver(struct envelope_reader *r, const uint8_t *p, size_t n, struct error *err)
{
	if (n == 0)
		return 0;
	if (EVP_DigestUpdate(r->sha, p, n) != 1)
		return error_set(err, -EIO, "SHA-256 failed");
	r->stats.plaintext_bytes += n;
	return r->sink(r->sink_ctx, p, n, err);
}

/* A verified frame's plaintext to the sink, through gunzip when asked. */
static int release_frame(struct envelope_reader *r, struct error *err)
{
	int zrc, rc;

	r->stats.body_bytes += r->content_len;
	if (!r->gunzip)
		return deliver(r, r->plain, r->content_len, err);
	r->z.next_in = r->plain;
	r->z.avail_in = r->content_len;
	while (r->z.avail_in > 0) {
		if (r->z_end)
			return error_set(err, -EBADMSG, "bytes after the end of the gzip stream");
		r->z.next_out = r->zbuf;
		r->z.avail_out = ZCHUNK;
		zrc = inflate(&r->z, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			r->z_end = true;
		else if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			return error_set(err, -EBADMSG, "gunzip: %s",
					 r->z.msg ? r->z.msg : "corrupt gzip stream");
		rc = deliver(r, r->zbuf, ZCHUNK - r->z.avail_out, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* The header is parsed: get the data key, check the commitment, then the header auth tag. */
static int on_header(struct envelope_reader *r, struct error *err)
{
	static const uint8_t zero_iv[ENVELOPE_IV_LEN];
	uint8_t data_key[ENVELOPE_KEY_LEN], commit[ENVELOPE_COMMITMENT_LEN];
	int rc;

	rc = r->key_fn(r->key_ctx, &r->hdr, data_key, err);
	if (rc)
		goto out;
	rc = derive_keys(data_key, r->hdr.message_id, r->key, commit, err);
	if (rc)
		goto out;
	/* Key commitment first (ESDK spec, decrypt: the derived commitment MUST equal the
	 * header's before any decryption), in constant time. */
	if (CRYPTO_memcmp(commit, r->hdr.commitment, sizeof(commit)) != 0) {
		rc = error_set(err, -EBADMSG, "key commitment does not match the data key");
		goto out;
	}
	if (gcm_once(r->key, zero_iv, r->hbuf, r->hdr.body_len, NULL, 0, NULL, NULL,
		     r->hdr.auth_tag) < 0) {
		rc = error_set(err, -EBADMSG, "header authentication failed");
		goto out;
	}
	if (EVP_DecryptInit_ex(r->gcm, EVP_aes_256_gcm(), NULL, r->key, NULL) != 1) {
		rc = error_set(err, -EIO, "AES-GCM init failed");
		goto out;
	}
	r->plain = malloc(r->hdr.frame_len);
	if (!r->plain)
		rc = error_set(err, -ENOMEM, "out of memory");
out:
	OPENSSL_cleanse(data_key, sizeof(data_key));
	OPENSSL_cleanse(commit, sizeof(commit));
	return rc;
}

/* Takes header bytes; returns how many of p it used (the rest is body), or a negative errno. */
static long read_header(struct envelope_reader *r, const uint8_t *p, size_t len, struct error *err)
{
	size_t take_n = len, consumed = 0, used;
	int rc;

	if (take_n > ENVELOPE_HEADER_MAX - r->hlen)
		take_n = ENVELOPE_HEADER_MAX - r->hlen;
	if (r->hlen + take_n > r->hcap) {
		size_t cap = r->hcap ? r->hcap : 1024;
		uint8_t *n;

		while (cap < r->hlen + take_n)
			cap *= 2;
		if (cap > ENVELOPE_HEADER_MAX)
			cap = ENVELOPE_HEADER_MAX;
		n = realloc(r->hbuf, cap);
		if (!n)
			return error_set(err, -ENOMEM, "out of memory");
		r->hbuf = n;
		r->hcap = cap;
	}
	memcpy(r->hbuf + r->hlen, p, take_n);
	r->hlen += take_n;
	rc = envelope_header_parse(r->hbuf, r->hlen, &r->hdr, &consumed, err);
	if (rc == -EAGAIN)
		return (long)take_n;
	if (rc)
		return rc;
	r->have_hdr = true;
	used = take_n - (r->hlen - consumed);
	rc = on_header(r, err);
	if (rc)
		return rc;
	free(r->hbuf);
	r->hbuf = NULL;
	r->hlen = r->hcap = 0;
	r->state = R_FRAME_HEAD;
	return (long)used;
}

/* A complete frame header in r->head: check it and start the frame's decryption. */
static int start_frame(struct envelope_reader *r, struct error *err)
{
	uint8_t iv[ENVELOPE_IV_LEN], aad[BODY_AAD_MAX];
	const uint8_t *p = r->final ? r->head + 4 : r->head;
	size_t aad_len;
	int n;

	if (get_u32(p) != r->seq)
		return error_set(err, -EBADMSG, "frame %u where frame %u was expected", get_u32(p),
				 r->seq);
	frame_iv(iv, r->seq);
	if (memcmp(p + 4, iv, sizeof(iv)) != 0)
		return error_set(err, -EBADMSG, "frame %u: unexpected IV", r->seq);
	r->content_len = r->hdr.frame_len;
	if (r->final) {
		r->content_len = get_u32(p + 4 + ENVELOPE_IV_LEN);
		if (r->content_len > r->hdr.frame_len)
			return error_set(err, -EBADMSG, "final frame longer than the frame length");
	}
	aad_len = body_aad(aad, r->hdr.message_id, r->final, r->seq, r->content_len);
	if (EVP_DecryptInit_ex(r->gcm, NULL, NULL, NULL, iv) != 1 ||
	    EVP_DecryptUpdate(r->gcm, NULL, &n, aad, (int)aad_len) != 1)
		return error_set(err, -EIO, "AES-GCM failed");
	r->got = 0;
	r->tag_len = 0;
	r->state = r->content_len ? R_FRAME_BODY : R_FRAME_TAG;
	return 0;
}

static long read_frame_head(struct envelope_reader *r, const uint8_t *p, size_t len,
			    struct error *err)
{
	size_t need = 4, n;
	int rc;

	if (r->head_len >= 4) {
		r->final = get_u32(r->head) == FINAL_FRAME_MARKER;
		need = r->final ? FINAL_HEAD_LEN : FRAME_HEAD_LEN;
	}
	n = need - r->head_len;
	if (n > len)
		n = len;
	memcpy(r->head + r->head_len, p, n);
	r->head_len += n;
	if (r->head_len == 4)
		return (long)n; /* the next round knows which kind of frame this is */
	if (r->head_len < need)
		return (long)n;
	r->head_len = 0;
	rc = start_frame(r, err);
	return rc ? rc : (long)n;
}

static long read_frame_body(struct envelope_reader *r, const uint8_t *p, size_t len,
			    struct error *err)
{
	size_t n = r->content_len - r->got;
	int out;

	if (n > len)
		n = len;
	/* n <= frame length <= ENVELOPE_FRAME_LEN_MAX fits an int. */
	if (EVP_DecryptUpdate(r->gcm, r->plain + r->got, &out, p, (int)n) != 1)
		return error_set(err, -EIO, "AES-GCM failed");
	r->got += n;
	if (r->got == r->content_len)
		r->state = R_FRAME_TAG;
	return (long)n;
}

static long read_frame_tag(struct envelope_reader *r, const uint8_t *p, size_t len,
			   struct error *err)
{
	size_t n = ENVELOPE_TAG_LEN - r->tag_len;
	int out, rc;

	if (n > len)
		n = len;
	memcpy(r->tag + r->tag_len, p, n);
	r->tag_len += n;
	if (r->tag_len < ENVELOPE_TAG_LEN)
		return (long)n;
	if (EVP_CIPHER_CTX_ctrl(r->gcm, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_LEN, r->tag) != 1 ||
	    EVP_DecryptFinal_ex(r->gcm, r->plain + r->got, &out) != 1) {
		OPENSSL_cleanse(r->plain, r->content_len);
		return error_set(err, -EBADMSG, "frame %u: authentication failed", r->seq);
	}
	rc = release_frame(r, err);
	OPENSSL_cleanse(r->plain, r->content_len);
	if (rc)
		return rc;
	if (r->final) {
		r->state = R_DONE;
	} else {
		r->seq++;
		r->state = R_FRAME_HEAD;
	}
	return (long)n;
}

int envelope_reader_write(struct envelope_reader *r, const void *buf, size_t len, struct error *err)
{
	const uint8_t *p = buf;
	long used = 0;

	if (r->state == R_FAILED)
		return error_set(err, -EINVAL, "envelope reader already failed");
	r->stats.message_bytes += len;
	while (len > 0) {
		switch (r->state) {
		case R_HEADER:
			used = read_header(r, p, len, err);
			break;
		case R_FRAME_HEAD:
			used = read_frame_head(r, p, len, err);
			break;
		case R_FRAME_BODY:
			used = read_frame_body(r, p, len, err);
			break;
		case R_FRAME_TAG:
			used = read_frame_tag(r, p, len, err);
			break;
		case R_DONE:
			used = error_set(err, -EBADMSG, "bytes after the final frame");
			break;
		case R_FAILED:
			used = -EINVAL;
			break;
		}
		if (used < 0) {
			r->state = R_FAILED;
			return (int)used;
		}
		p += used;
		len -= (size_t)used;
	}
	return 0;
}

int envelope_reader_finish(struct envelope_reader *r, struct error *err)
{
	unsigned int md_len = 0;

	if (r->state == R_FAILED)
		return error_set(err, -EINVAL, "envelope reader already failed");
	if (r->state != R_DONE) {
		r->state = R_FAILED;
		return error_set(err, -EBADMSG, "truncated message: %s",
				 r->state == R_HEADER ? "incomplete header" : "no final frame");
	}
	if (r->gunzip && !r->z_end) {
		r->state = R_FAILED;
		return error_set(err, -EBADMSG, "truncated gzip stream");
	}
	if (EVP_DigestFinal_ex(r->sha, r->stats.plaintext_sha256, &md_len) != 1) {
		r->state = R_FAILED;
		return error_set(err, -EIO, "SHA-256 failed");
	}
	return 0;
}

const struct envelope_header *envelope_reader_header(const struct envelope_reader *r)
{
	return r->state > R_HEADER && r->state != R_FAILED ? &r->hdr : NULL;
}

void envelope_reader_stats(const struct envelope_reader *r, struct envelope_stats *stats)
{
	*stats = r->stats;
}

void envelope_reader_free(struct envelope_reader *r)
{
	if (!r)
		return;
	OPENSSL_cleanse(r->key, sizeof(r->key));
	if (r->plain)
		OPENSSL_cleanse(r->plain, r->hdr.frame_len);
	free(r->plain);
	free(r->hbuf);
	envelope_header_release(&r->hdr);
	if (r->z_init)
		inflateEnd(&r->z);
	if (r->zbuf)
		OPENSSL_cleanse(r->zbuf, ZCHUNK);
	free(r->zbuf);
	EVP_CIPHER_CTX_free(r->gcm);
	EVP_MD_CTX_free(r->sha);
	free(r);
}

/* ---- raw AES keyring ---- */

void envelope_edk_release(struct envelope_edk *edk)
{
	if (!edk)
		return;
	free(edk->provider_id);
	free(edk->provider_info);
	free(edk->ciphertext);
	memset(edk, 0, sizeof(*edk));
}

/* Provider info: key name || tag bits u32 || IV length u32 || IV (raw_aes_encrypted_data_keys.js).
 */
#define RAW_AES_INFO_TAIL (4 + 4 + ENVELOPE_IV_LEN)

int envelope_raw_aes_wrap(const uint8_t wrapping_key[ENVELOPE_KEY_LEN], const char *key_namespace,
			  const char *key_name, const uint8_t data_key[ENVELOPE_KEY_LEN],
			  const struct envelope_context *ctx, struct envelope_edk *edk,
			  struct error *err)
{
	uint8_t *aad = NULL, *iv;
	size_t aad_len = 0, name_len = strlen(key_name);
	int rc;

	memset(edk, 0, sizeof(*edk));
	rc = context_serialize(ctx, &aad, &aad_len, err);
	if (rc)
		return rc;
	edk->provider_id = strdup(key_namespace);
	edk->info_len = name_len + RAW_AES_INFO_TAIL;
	edk->provider_info = malloc(edk->info_len);
	edk->ct_len = ENVELOPE_KEY_LEN + ENVELOPE_TAG_LEN;
	edk->ciphertext = malloc(edk->ct_len);
	if (!edk->provider_id || !edk->provider_info || !edk->ciphertext) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(edk->provider_info, key_name, name_len);
	put_u32(edk->provider_info + name_len, ENVELOPE_TAG_LEN * 8);
	put_u32(edk->provider_info + name_len + 4, ENVELOPE_IV_LEN);
	iv = edk->provider_info + name_len + 8;
	if (RAND_bytes(iv, ENVELOPE_IV_LEN) != 1) {
		rc = error_set(err, -EIO, "no random bytes for the IV");
		goto out;
	}
	if (gcm_once(wrapping_key, iv, aad, aad_len, data_key, ENVELOPE_KEY_LEN, edk->ciphertext,
		     edk->ciphertext + ENVELOPE_KEY_LEN, NULL) < 0)
		rc = error_set(err, -EIO, "AES-GCM failed");
out:
	free(aad);
	if (rc)
		envelope_edk_release(edk);
	return rc;
}

static bool raw_aes_matches(const struct envelope_edk *edk, const char *key_namespace,
			    const char *key_name)
{
	size_t name_len = strlen(key_name);

	return strcmp(edk->provider_id, key_namespace) == 0 &&
	       edk->info_len == name_len + RAW_AES_INFO_TAIL &&
	       memcmp(edk->provider_info, key_name, name_len) == 0 &&
	       get_u32(edk->provider_info + name_len) == ENVELOPE_TAG_LEN * 8 &&
	       get_u32(edk->provider_info + name_len + 4) == ENVELOPE_IV_LEN &&
	       edk->ct_len == ENVELOPE_KEY_LEN + ENVELOPE_TAG_LEN;
}

int envelope_raw_aes_unwrap(const uint8_t wrapping_key[ENVELOPE_KEY_LEN], const char *key_namespace,
			    const char *key_name, const struct envelope_header *hdr,
			    uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err)
{
	uint8_t *aad = NULL;
	size_t aad_len = 0, i;
	bool seen = false;
	int rc;

	/* The keyring re-serializes the context sorted by bytes (as RawAesKeyringNode does with
	 * utf8Sorting and the other ESDKs always do), whatever order the header had. */
	rc = context_serialize(&hdr->context, &aad, &aad_len, err);
	if (rc)
		return rc;
	rc = -ENOKEY;
	for (i = 0; i < hdr->n_edks && rc; i++) {
		const struct envelope_edk *edk = &hdr->edks[i];

		if (!raw_aes_matches(edk, key_namespace, key_name))
			continue;
		seen = true;
		rc = gcm_once(wrapping_key, edk->provider_info + strlen(key_name) + 8, aad, aad_len,
			      edk->ciphertext, ENVELOPE_KEY_LEN, data_key_out, NULL,
			      edk->ciphertext + ENVELOPE_KEY_LEN);
	}
	free(aad);
	if (rc == 0)
		return 0;
	if (!seen)
		return error_set(err, -ENOKEY, "no encrypted data key for raw AES key %s/%s",
				 key_namespace, key_name);
	return error_set(err, -EACCES, "the raw AES key %s/%s does not open the data key",
			 key_namespace, key_name);
}

int envelope_raw_aes_key_fn(void *ctx, const struct envelope_header *hdr,
			    uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err)
{
	const struct envelope_raw_aes *k = ctx;

	return envelope_raw_aes_unwrap(k->wrapping_key, k->key_namespace, k->key_name, hdr,
				       data_key_out, err);
}
