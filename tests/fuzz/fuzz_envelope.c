/*
 * libFuzzer target for module_utils/envelope: any bytes as an AWS Encryption SDK message (what a
 * restore downloads from S3). The raw AES wrapping key is fixed (tests/unit/vectors/esdk/key.bin,
 * namespace etcd-ansible, name backup-key), so the seeds -- the JavaScript ESDK's golden messages
 * and gzip messages made by tests/fuzz/gen_envelope.c under the same key -- open, and mutations
 * reach the key commitment, the header tag, the frames and gunzip, not only the header parser.
 *
 * Checked: no crash, hang or leak; envelope_header_parse agrees with the reader on the header's
 * length; the same message fed whole and in small pieces ends the same way and, when it opens,
 * releases the same plaintext; a message that opens has a header and frames whose plaintext
 * counts and digest match what the sink received.
 *
 * Mutations rarely get past the header's auth tag, so the input is also used as a payload: the
 * writer encrypts it (gzip when its size is even, a frame length from its size) and the reader must
 * give it back byte for byte; and its plain message is read with gunzip on, so gunzip sees any
 * bytes inside authentic frames (what a holder of the key could put there).
 */
#include "envelope.h"

#include <openssl/evp.h>

#include <errno.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* tests/unit/vectors/esdk/key.bin (test material only). */
static const uint8_t WRAP_KEY[ENVELOPE_KEY_LEN] = {
    0xbe, 0x9a, 0xa7, 0x2f, 0x72, 0x13, 0xb8, 0xe7, 0x48, 0xb3, 0x05, 0x50, 0xe9, 0x75, 0x83, 0x21,
    0x3a, 0x28, 0x91, 0xa3, 0x90, 0x5b, 0x8e, 0xfd, 0x54, 0x4d, 0x7e, 0x1f, 0x33, 0x17, 0x59, 0x26,
};

struct sink {
	EVP_MD_CTX *md;
	uint64_t bytes;
};

static int digest_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct sink *s = ctx;

	(void)err;
	if (len == 0)
		return 0;
	if (!buf)
		abort();
	s->bytes += len;
	return EVP_DigestUpdate(s->md, buf, len) == 1 ? 0 : -ENOMEM;
}

struct outcome {
	int rc;
	uint64_t bytes;
	uint8_t sha256[32];
	size_t header_len;
};

/* Reads data through a reader fed chunk bytes at a time (0: whole). */
static void read_message(const uint8_t *data, size_t size, bool gunzip, size_t chunk,
			 struct outcome *o)
{
	struct envelope_raw_aes ring = {WRAP_KEY, "etcd-ansible", "backup-key"};
	struct sink s = {EVP_MD_CTX_new(), 0};
	struct envelope_reader *r;
	struct envelope_stats st;
	struct error err = {0};
	unsigned int md_len = 0;

	memset(o, 0, sizeof(*o));
	if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1)
		abort();
	r = envelope_reader_new(envelope_raw_aes_key_fn, &ring, gunzip, digest_sink, &s, &err);
	if (!r)
		abort();
	o->rc = 0;
	for (size_t off = 0; off < size && o->rc == 0;) {
		size_t n = chunk && size - off > chunk ? chunk : size - off;

		o->rc = envelope_reader_write(r, data + off, n, &err);
		off += n;
	}
	if (o->rc == 0)
		o->rc = envelope_reader_finish(r, &err);
	if (o->rc > 0)
		abort();
	if (EVP_DigestFinal_ex(s.md, o->sha256, &md_len) != 1)
		abort();
	o->bytes = s.bytes;
	if (o->rc == 0) {
		const struct envelope_header *h = envelope_reader_header(r);

		if (!h || h->suite_id != ENVELOPE_SUITE_ID)
			abort();
		o->header_len = h->len;
		envelope_reader_stats(r, &st);
		if (st.plaintext_bytes != s.bytes || st.message_bytes != size ||
		    memcmp(st.plaintext_sha256, o->sha256, 32) != 0)
			abort();
	}
	envelope_reader_free(r);
	EVP_MD_CTX_free(s.md);
}

struct buffer {
	uint8_t *data;
	size_t len, cap;
};

static int buffer_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct buffer *b = ctx;

	(void)err;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

/* data as a payload: written with and without gzip, read back; the plain message also gunzipped. */
static void round_trip(const uint8_t *data, size_t size, bool gzip)
{
	static const char *const keys[] = {"cluster", "kind"};
	static const char *const values[] = {"prod-1", "etcd-snapshot"};
	const struct envelope_context ctx = {keys, values, 2};
	uint8_t data_key[ENVELOPE_KEY_LEN] = {1, 2, 3};
	struct envelope_edk edk = {0};
	struct envelope_writer *w;
	struct buffer msg = {0};
	struct error err = {0};
	struct outcome back, gz;
	uint8_t sha[32];
	unsigned int md_len;

	if (envelope_raw_aes_wrap(WRAP_KEY, "etcd-ansible", "backup-key", data_key, &ctx, &edk,
				  &err) < 0)
		abort();
	w = envelope_writer_new(data_key, &edk, 1, &ctx, 1 + (uint32_t)(size % 257), gzip,
				buffer_sink, &msg, &err);
	if (!w || envelope_writer_write(w, data, size, &err) < 0 ||
	    envelope_writer_finish(w, &err) < 0)
		abort();
	envelope_writer_free(w);
	envelope_edk_release(&edk);
	read_message(msg.data, msg.len, gzip, 1 + size % 53, &back);
	if (EVP_Digest(data, size, sha, &md_len, EVP_sha256(), NULL) != 1)
		abort();
	if (back.rc != 0 || back.bytes != size || memcmp(back.sha256, sha, 32) != 0)
		abort();
	if (!gzip)
		read_message(msg.data, msg.len, true, 0, &gz);
	free(msg.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_header hdr;
	struct error err = {0};
	struct outcome whole, pieces, gz;
	size_t consumed = 0;
	int hrc;

	memset(&hdr, 0, sizeof(hdr));
	hrc = envelope_header_parse(data, size, &hdr, &consumed, &err);
	if (hrc == 0) {
		if (consumed != hdr.len || consumed > size || hdr.body_len >= hdr.len ||
		    hdr.n_edks > ENVELOPE_MAX_EDKS || hdr.frame_len == 0 ||
		    hdr.frame_len > ENVELOPE_FRAME_LEN_MAX)
			abort();
		for (size_t i = 0; i < hdr.context.n; i++)
			if (envelope_header_get(&hdr, hdr.context.keys[i]) == NULL)
				abort();
		envelope_header_release(&hdr);
	}

	read_message(data, size, false, 0, &whole);
	read_message(data, size, false, 1 + size % 61, &pieces);
	if ((whole.rc == 0) != (pieces.rc == 0))
		abort();
	if (whole.rc == 0 &&
	    (whole.bytes != pieces.bytes || memcmp(whole.sha256, pieces.sha256, 32) != 0 ||
	     hrc != 0 || whole.header_len != consumed))
		abort();
	/* Each frame is released only after its tag verified: whatever the pieces, the same bytes
	 * came out before a failure too (frames are released whole). */
	if (whole.bytes != pieces.bytes)
		abort();
	read_message(data, size, true, 1 + size % 37, &gz);

	round_trip(data, size, size % 2 == 0);
	return 0;
}
