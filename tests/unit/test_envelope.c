/*
 * cmocka tests of module_utils/envelope: the backup object format (docs/backups.md).
 *
 * Vectors come from outside (STYLE §12): tests/unit/vectors/esdk/ holds messages that the AWS
 * Encryption SDK for JavaScript made (vectors/esdk/make.sh, tests/peers/esdk/esdk.js); we must
 * decrypt them and find their context. The other direction (the SDK decrypts what we write) is
 * tests/integration/envelope_vs_esdk_js.sh. The rest checks round trips, streaming in odd chunk
 * sizes, and that every tampered, truncated or extended message fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "envelope.h"

#include <jansson.h>
#include <openssl/sha.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rc must be code; a failure shows what came (STYLE §13). */
#define assert_rc(rc, code, err)                                                                   \
	do {                                                                                       \
		int rc_ = (rc);                                                                    \
		if (rc_ != (code))                                                                 \
			fail_msg("expected %d, got %d \"%s\"", (code), rc_, (err).msg);            \
	} while (0)

static const uint8_t WRAP_KEY[32] = {1,	 2,  3,	 4,  5,	 6,  7,	 8,  9,	 10, 11,
				     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const char *const CTX_KEYS[] = {"kind", "cluster", "plaintext_sha256"};
static const char *const CTX_VALUES[] = {"etcd-snapshot", "prod-1", "abc"};
static const struct envelope_context CTX = {CTX_KEYS, CTX_VALUES, 3};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_sink(void *ctx, const void *data, size_t len, struct error *err)
{
	struct buf *b = ctx;

	(void)err;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static uint8_t *random_bytes(size_t n, bool compressible)
{
	uint8_t *p = malloc(n ? n : 1);
	size_t i;
	uint32_t x = 2463534242u;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = compressible ? (uint8_t)("etcd key value "[i % 15] ^ ((x & 0xff) < 8))
				    : (uint8_t)x;
	}
	return p;
}

/* Encrypts plain in chunks of chunk bytes with a raw-AES-wrapped random data key. */
static void encrypt(const uint8_t *plain, size_t len, uint32_t frame_len, bool gzip, size_t chunk,
		    struct buf *out)
{
	uint8_t data_key[32];
	struct envelope_edk edk;
	struct envelope_writer *w;
	struct envelope_stats st;
	uint8_t sha[32];
	struct error err = {0};
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(data_key); i++)
		data_key[i] = (uint8_t)(rand() & 0xff);
	assert_rc(envelope_raw_aes_wrap(WRAP_KEY, "etcd-ansible", "backup-key", data_key, &CTX,
					&edk, &err),
		  0, err);
	w = envelope_writer_new(data_key, &edk, 1, &CTX, frame_len, gzip, buf_sink, out, &err);
	if (!w)
		fail_msg("writer_new: %s", err.msg);
	envelope_edk_release(&edk);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_rc(envelope_writer_write(w, plain + off, n, &err), 0, err);
		off += n;
	}
	assert_rc(envelope_writer_finish(w, &err), 0, err);
	envelope_writer_stats(w, &st);
	SHA256(plain, len, sha);
	assert_memory_equal(st.plaintext_sha256, sha, 32);
	assert_int_equal(st.plaintext_bytes, len);
	assert_int_equal(st.message_bytes, out->len);
	envelope_writer_free(w);
}

/* Decrypts msg in chunks; returns the first failure (write or finish). */
static int decrypt(const uint8_t *msg, size_t len, const uint8_t *wrap_key, const char *name,
		   bool gunzip, size_t chunk, struct buf *out, struct envelope_stats *st,
		   struct error *err)
{
	struct envelope_raw_aes k = {wrap_key, "etcd-ansible", name};
	struct envelope_reader *r;
	size_t off = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	r = envelope_reader_new(envelope_raw_aes_key_fn, &k, gunzip, buf_sink, out, err);
	assert_non_null(r);
	while (rc == 0 && off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = envelope_reader_write(r, msg + off, n, err);
		off += n;
	}
	if (rc == 0)
		rc = envelope_reader_finish(r, err);
	if (rc == 0 && st)
		envelope_reader_stats(r, st);
	envelope_reader_free(r);
	return rc;
}

static void round_trip(size_t len, uint32_t frame_len, bool gzip, bool compressible, size_t wchunk,
		       size_t rchunk)
{
	uint8_t *plain = random_bytes(len, compressible), sha[32];
	struct buf msg, back;
	struct envelope_stats st;
	struct error err = {0};

	encrypt(plain, len, frame_len, gzip, wchunk, &msg);
	assert_rc(decrypt(msg.p, msg.len, WRAP_KEY, "backup-key", gzip, rchunk, &back, &st, &err),
		  0, err);
	if (back.len != len || (len && memcmp(back.p, plain, len) != 0))
		fail_msg("round trip of %zu bytes (frame %u, gzip %d) gave %zu other bytes", len,
			 frame_len, gzip, back.len);
	SHA256(plain, len, sha);
	assert_memory_equal(st.plaintext_sha256, sha, 32);
	assert_int_equal(st.plaintext_bytes, len);
	free(plain);
	free(msg.p);
	free(back.p);
}

/*
 * Parallel deflate and no plaintext hash (what etcd_snapshot's upload on more than 2 cores does):
 * the reader gunzips it back; the writer's stats carry no digest, the reader's has the right one.
 */
static void test_deflate_workers_and_skip_hash(void **state)
{
	size_t len = 1500000;
	uint8_t *plain = random_bytes(len, true), data_key[32] = {7}, sha[32], zero[32] = {0};
	struct envelope_edk edk;
	struct envelope_writer *w;
	struct envelope_stats st;
	struct buf msg = {0}, back;
	struct error err = {0};
	(void)state;

	assert_rc(envelope_raw_aes_wrap(WRAP_KEY, "etcd-ansible", "backup-key", data_key, &CTX,
					&edk, &err),
		  0, err);
	w = envelope_writer_new(data_key, &edk, 1, &CTX, 0, true, buf_sink, &msg, &err);
	envelope_edk_release(&edk);
	assert_non_null(w);
	envelope_writer_skip_hash(w);
	assert_rc(envelope_writer_set_deflate_workers(w, 3, &err), 0, err);
	for (size_t off = 0; off < len; off += 70000)
		assert_rc(envelope_writer_write(w, plain + off,
						len - off < 70000 ? len - off : 70000, &err),
			  0, err);
	assert_rc(envelope_writer_finish(w, &err), 0, err);
	envelope_writer_stats(w, &st);
	assert_memory_equal(st.plaintext_sha256, zero, 32);
	assert_int_equal(st.plaintext_bytes, len);
	envelope_writer_free(w);
	assert_rc(decrypt(msg.p, msg.len, WRAP_KEY, "backup-key", true, 65536, &back, &st, &err), 0,
		  err);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.p, plain, len);
	SHA256(plain, len, sha);
	assert_memory_equal(st.plaintext_sha256, sha, 32);
	assert_true(msg.len < len / 2);
	free(plain);
	free(msg.p);
	free(back.p);
}

/*
 * Input whose 200 KiB runs are random and text by turns: the writer stores the random segments
 * and deflates the text (pgzip_looks_incompressible), switching level mid-stream; the reader
 * gunzips it back whatever the writes' sizes, single-threaded or with deflate workers.
 */
static void test_incompressible_runs_round_trip(void **state)
{
	size_t len = 10 * 200 * 1024 + 777;
	uint8_t *plain = random_bytes(len, false), *text = random_bytes(len, true);
	static const size_t chunks[] = {1 << 20, 70000, 4095};
	(void)state;

	for (size_t i = 0; i < len; i++)
		if ((i / (200 * 1024)) % 2 == 1)
			plain[i] = text[i];
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct buf msg, back;
		struct error err = {0};

		encrypt(plain, len, 0, true, chunks[c], &msg);
		assert_rc(
		    decrypt(msg.p, msg.len, WRAP_KEY, "backup-key", true, 65536, &back, NULL, &err),
		    0, err);
		assert_int_equal(back.len, len);
		assert_memory_equal(back.p, plain, len);
		/* The random half stays its size, the text half shrinks: well under 3/4 of it all.
		 */
		assert_true(msg.len < len * 3 / 4);
		free(msg.p);
		free(back.p);
	}
	free(plain);
	free(text);
}

static void test_round_trips(void **state)
{
	static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 3 * 4096, 100000};
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		round_trip(sizes[i], 4096, false, false, 1000, 777);
		round_trip(sizes[i], 4096, true, false, 1000, 777);
		round_trip(sizes[i], 4096, true, true, 4096, 5000);
	}
	/* Several MiB, default frames, both ways of writing. */
	round_trip(5 * 1024 * 1024 + 3, 0, false, false, 1 << 20, 65536);
	round_trip(5 * 1024 * 1024 + 3, 0, true, true, 1 << 20, 100003);
}

/* One byte at a time in both directions, and other odd sizes. */
static void test_streaming_odd_chunks(void **state)
{
	(void)state;
	round_trip(10000, 4096, false, false, 1, 1);
	round_trip(10000, 4096, true, true, 1, 1);
	round_trip(10000, 128, true, false, 7, 13);
	round_trip(65536 * 2, 0, false, false, 65535, 65537);
}

/* A full message must be the exact layout of the format: header then frames of known size. */
static void test_layout(void **state)
{
	uint8_t *plain = random_bytes(300, false);
	struct envelope_header hdr;
	struct error err = {0};
	struct buf msg;
	size_t consumed = 0, frames;

	(void)state;
	encrypt(plain, 300, 128, false, 300, &msg);
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &consumed, &err), 0, err);
	assert_int_equal(msg.p[0], 0x02);
	assert_int_equal(hdr.suite_id, 0x0478);
	assert_int_equal(hdr.frame_len, 128);
	assert_int_equal(hdr.n_edks, 1);
	assert_string_equal(hdr.edks[0].provider_id, "etcd-ansible");
	assert_int_equal(hdr.edks[0].info_len, strlen("backup-key") + 20);
	assert_int_equal(hdr.edks[0].ct_len, 48);
	/* Serialized sorted by key: cluster, kind, plaintext_sha256. */
	assert_int_equal(hdr.context.n, 3);
	assert_string_equal(hdr.context.keys[0], "cluster");
	assert_string_equal(hdr.context.keys[1], "kind");
	assert_string_equal(hdr.context.keys[2], "plaintext_sha256");
	assert_string_equal(envelope_header_get(&hdr, "kind"), "etcd-snapshot");
	assert_null(envelope_header_get(&hdr, "nope"));
	/* 300 = 128 + 128 + 44: two regular frames (4 + 12 + 128 + 16) and a final one. */
	frames = 2 * (4 + 12 + 128 + 16) + (4 + 4 + 12 + 4 + 44 + 16);
	assert_int_equal(msg.len, consumed + frames);
	assert_memory_equal(msg.p + consumed + 2 * 160, "\xff\xff\xff\xff\x00\x00\x00\x03", 8);
	envelope_header_release(&hdr);
	free(plain);
	free(msg.p);
}

/* Flip one bit of every byte in turn: every variant must fail, none may pass as authentic. */
static void test_tamper_every_byte(void **state)
{
	uint8_t *plain = random_bytes(300, false);
	struct buf msg, back;
	struct error err = {0};
	size_t i;

	(void)state;
	encrypt(plain, 300, 128, false, 300, &msg);
	for (i = 0; i < msg.len; i++) {
		int rc;

		msg.p[i] ^= 0x10;
		rc = decrypt(msg.p, msg.len, WRAP_KEY, "backup-key", false, 61, &back, NULL, &err);
		if (rc == 0)
			fail_msg("byte %zu of %zu flipped, yet the message decrypted", i, msg.len);
		/* Nothing beyond the frames before the damaged one came out, and all of it
		 * authentic. */
		if (back.len > 300 || (back.len && memcmp(back.p, plain, back.len) != 0))
			fail_msg("byte %zu flipped: %zu bytes released", i, back.len);
		free(back.p);
		msg.p[i] ^= 0x10;
	}
	free(plain);
	free(msg.p);
}

static void test_truncated_and_trailing(void **state)
{
	uint8_t *plain = random_bytes(1000, false), *longer;
	struct buf msg, back;
	struct error err = {0};
	size_t i;

	(void)state;
	encrypt(plain, 1000, 256, true, 1000, &msg);
	for (i = 0; i < msg.len; i++) {
		if (decrypt(msg.p, i, WRAP_KEY, "backup-key", true, 100, &back, NULL, &err) == 0)
			fail_msg("a prefix of %zu of %zu bytes decrypted", i, msg.len);
		free(back.p);
	}
	longer = malloc(msg.len + 1);
	memcpy(longer, msg.p, msg.len);
	longer[msg.len] = 0;
	assert_rc(
	    decrypt(longer, msg.len + 1, WRAP_KEY, "backup-key", true, 100, &back, NULL, &err),
	    -EBADMSG, err);
	assert_non_null(strstr(err.msg, "after the final frame"));
	free(back.p);
	free(longer);
	free(plain);
	free(msg.p);
}

/* Frames out of order or missing: the sequence number and the body AAD catch it. */
static void test_frame_gap_and_swap(void **state)
{
	uint8_t *plain = random_bytes(1000, false);
	struct envelope_header hdr;
	struct buf msg, back;
	struct error err = {0};
	size_t hl = 0, fl = 4 + 12 + 256 + 16;
	uint8_t *m;

	(void)state;
	encrypt(plain, 1000, 256, false, 1000, &msg);
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &hl, &err), 0, err);
	envelope_header_release(&hdr);
	/* Drop frame 2. */
	m = malloc(msg.len);
	memcpy(m, msg.p, hl + fl);
	memcpy(m + hl + fl, msg.p + hl + 2 * fl, msg.len - hl - 2 * fl);
	assert_rc(decrypt(m, msg.len - fl, WRAP_KEY, "backup-key", false, 4096, &back, NULL, &err),
		  -EBADMSG, err);
	assert_non_null(strstr(err.msg, "frame 3 where frame 2 was expected"));
	assert_int_equal(back.len, 256); /* frame 1 was authentic and released */
	free(back.p);
	/* Swap frames 1 and 2. */
	memcpy(m, msg.p, msg.len);
	memcpy(m + hl, msg.p + hl + fl, fl);
	memcpy(m + hl + fl, msg.p + hl, fl);
	assert_rc(decrypt(m, msg.len, WRAP_KEY, "backup-key", false, 4096, &back, NULL, &err),
		  -EBADMSG, err);
	assert_int_equal(back.len, 0);
	free(back.p);
	free(m);
	free(plain);
	free(msg.p);
}

static void test_wrong_keys(void **state)
{
	uint8_t *plain = random_bytes(100, false), other[32];
	struct buf msg, back;
	struct error err = {0};

	(void)state;
	memcpy(other, WRAP_KEY, 32);
	other[31] ^= 1;
	encrypt(plain, 100, 0, true, 100, &msg);
	assert_rc(decrypt(msg.p, msg.len, other, "backup-key", true, 100, &back, NULL, &err),
		  -EACCES, err);
	assert_int_equal(back.len, 0);
	free(back.p);
	assert_rc(decrypt(msg.p, msg.len, WRAP_KEY, "other-key", true, 100, &back, NULL, &err),
		  -ENOKEY, err);
	free(back.p);
	/* gunzip of a body that is not gzip. */
	free(msg.p);
	encrypt(plain, 100, 0, false, 100, &msg);
	assert_rc(decrypt(msg.p, msg.len, WRAP_KEY, "backup-key", true, 100, &back, NULL, &err),
		  -EBADMSG, err);
	free(back.p);
	free(msg.p);
	free(plain);
}

static void test_header_parse(void **state)
{
	uint8_t *plain = random_bytes(10, false);
	struct envelope_header hdr;
	struct buf msg;
	struct error err = {0};
	size_t i, consumed = 0, hl = 0;
	static const uint8_t not_v2[] = {0x01, 0x80};

	(void)state;
	encrypt(plain, 10, 0, false, 10, &msg);
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &hl, &err), 0, err);
	envelope_header_release(&hdr);
	for (i = 0; i < hl; i++)
		assert_rc(envelope_header_parse(msg.p, i, &hdr, &consumed, &err), -EAGAIN, err);
	assert_rc(envelope_header_parse(msg.p, hl, &hdr, &consumed, &err), 0, err);
	assert_int_equal(consumed, hl);
	envelope_header_release(&hdr);
	/* Not ours: fails at once, not "need more". */
	assert_rc(envelope_header_parse(not_v2, 1, &hdr, &consumed, &err), -EBADMSG, err);
	assert_rc(envelope_header_parse((const uint8_t *)"\x02\x05\x78", 3, &hdr, &consumed, &err),
		  -EBADMSG, err);
	free(plain);
	free(msg.p);
}

static void test_edk_limits(void **state)
{
	struct envelope_edk edks[ENVELOPE_MAX_EDKS + 1];
	uint8_t data_key[32] = {0}, *p;
	struct buf msg = {0};
	struct envelope_header hdr;
	struct envelope_writer *w;
	struct error err = {0};
	size_t i, consumed, at;

	(void)state;
	for (i = 0; i <= ENVELOPE_MAX_EDKS; i++)
		edks[i] = (struct envelope_edk){"aws-kms", (uint8_t *)"arn:aws:kms:r:1:key/k", 21,
						(uint8_t *)"blob", 4};
	assert_null(envelope_writer_new(data_key, edks, ENVELOPE_MAX_EDKS + 1, NULL, 0, false,
					buf_sink, &msg, &err));
	assert_null(envelope_writer_new(data_key, edks, 0, NULL, 0, false, buf_sink, &msg, &err));
	w = envelope_writer_new(data_key, edks, ENVELOPE_MAX_EDKS, NULL, 0, false, buf_sink, &msg,
				&err);
	assert_non_null(w);
	assert_rc(envelope_writer_finish(w, &err), 0, err);
	envelope_writer_free(w);
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &consumed, &err), 0, err);
	assert_int_equal(hdr.n_edks, ENVELOPE_MAX_EDKS);
	assert_int_equal(hdr.context.n, 0);
	assert_string_equal(hdr.edks[15].provider_id, "aws-kms");
	envelope_header_release(&hdr);
	/* Empty context: AAD length 0, then the EDK count (u16 at 1 + 2 + 32 + 2). */
	at = 1 + 2 + 32;
	p = msg.p;
	assert_int_equal(p[at] << 8 | p[at + 1], 0);
	assert_int_equal(p[at + 2] << 8 | p[at + 3], ENVELOPE_MAX_EDKS);
	p[at + 3] = ENVELOPE_MAX_EDKS + 1;
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &consumed, &err), -EBADMSG, err);
	p[at + 3] = 0;
	assert_rc(envelope_header_parse(msg.p, msg.len, &hdr, &consumed, &err), -EBADMSG, err);
	free(msg.p);
}

static void test_duplicate_context_key(void **state)
{
	static const char *const keys[] = {"a", "a"};
	static const char *const values[] = {"1", "2"};
	const struct envelope_context ctx = {keys, values, 2};
	struct envelope_edk edk = {"aws-kms", (uint8_t *)"x", 1, (uint8_t *)"y", 1};
	uint8_t data_key[32] = {0};
	struct buf msg = {0};
	struct error err = {0};

	(void)state;
	assert_null(envelope_writer_new(data_key, &edk, 1, &ctx, 0, false, buf_sink, &msg, &err));
	assert_non_null(strstr(err.msg, "duplicate"));
}

/* ---- golden messages from the AWS Encryption SDK for JavaScript ---- */

static char *vector_path(const char *name)
{
	const char *dir = getenv("ESDK_VECTORS");
	char *path = malloc(1024);

	if (dir)
		snprintf(path, 1024, "%s/%s", dir, name);
	else
		snprintf(path, 1024, "%.*s/vectors/esdk/%s",
			 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, name);
	return path;
}

static uint8_t *slurp(const char *name, size_t *len)
{
	char *path = vector_path(name);
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (!f)
		fail_msg("%s: cannot open", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (n && fread(p, 1, (size_t)n, f) != (size_t)n)
		fail_msg("%s: short read", path);
	fclose(f);
	free(path);
	*len = (size_t)n;
	return p;
}

static void test_esdk_js_vectors(void **state)
{
	char *path = vector_path("vectors.json");
	json_error_t jerr;
	json_t *v = json_load_file(path, 0, &jerr), *m, *ctx, *val;
	size_t i, key_len, count = 0;
	const char *k;
	uint8_t *key;

	(void)state;
	if (!v)
		fail_msg("%s: %s", path, jerr.text);
	key = slurp(json_string_value(json_object_get(v, "key_file")), &key_len);
	assert_int_equal(key_len, 32);
	ctx = json_object_get(v, "context");
	json_array_foreach(json_object_get(v, "messages"), i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		char file[256];
		size_t msg_len, plain_len, hl;
		uint8_t *msg, *plain;
		struct envelope_raw_aes ring = {
		    key, json_string_value(json_object_get(v, "key_namespace")),
		    json_string_value(json_object_get(v, "key_name"))};
		struct envelope_reader *r;
		struct envelope_header hdr;
		struct envelope_stats st;
		struct error err = {0};
		struct buf back = {0};
		bool with_ctx =
		    strcmp(json_string_value(json_object_get(m, "context")), "yes") == 0;

		snprintf(file, sizeof(file), "%s.esdk", name);
		msg = slurp(file, &msg_len);
		plain = slurp(json_string_value(json_object_get(m, "plaintext")), &plain_len);
		/* Whole, then in 3-byte pieces: no gunzip, the SDK encrypts the bytes as given. */
		for (size_t chunk = msg_len ? msg_len : 1; chunk; chunk = chunk == 3 ? 0 : 3) {
			r = envelope_reader_new(envelope_raw_aes_key_fn, &ring, false, buf_sink,
						&back, &err);
			assert_non_null(r);
			for (size_t off = 0; off < msg_len; off += chunk) {
				size_t n = msg_len - off < chunk ? msg_len - off : chunk;

				if (envelope_reader_write(r, msg + off, n, &err))
					fail_msg("%s: %s", name, err.msg);
			}
			if (envelope_reader_finish(r, &err))
				fail_msg("%s: %s", name, err.msg);
			if (back.len != plain_len ||
			    (plain_len && memcmp(back.p, plain, plain_len)))
				fail_msg("%s: plaintext differs (%zu bytes, expected %zu)", name,
					 back.len, plain_len);
			envelope_reader_stats(r, &st);
			assert_int_equal(st.message_bytes, msg_len);
			assert_non_null(envelope_reader_header(r));
			envelope_reader_free(r);
			back.len = 0;
		}
		/* The header alone, as a ranged GET gives it. */
		if (envelope_header_parse(msg, msg_len, &hdr, &hl, &err))
			fail_msg("%s: %s", name, err.msg);
		assert_int_equal(hdr.context.n, with_ctx ? json_object_size(ctx) : 0);
		if (with_ctx)
			json_object_foreach(ctx, k, val) assert_string_equal(
			    envelope_header_get(&hdr, k), json_string_value(val));
		assert_string_equal(hdr.edks[0].provider_id, "etcd-ansible");
		envelope_header_release(&hdr);
		/* A wrong wrapping key opens none of them. */
		key[0] ^= 1;
		r = envelope_reader_new(envelope_raw_aes_key_fn, &ring, false, buf_sink, &back,
					&err);
		assert_rc(envelope_reader_write(r, msg, msg_len, &err), -EACCES, err);
		envelope_reader_free(r);
		key[0] ^= 1;
		free(back.p);
		free(msg);
		free(plain);
		count++;
	}
	assert_true(count >= 10);
	free(key);
	free(path);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_incompressible_runs_round_trip),
	    cmocka_unit_test(test_streaming_odd_chunks),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_tamper_every_byte),
	    cmocka_unit_test(test_truncated_and_trailing),
	    cmocka_unit_test(test_frame_gap_and_swap),
	    cmocka_unit_test(test_wrong_keys),
	    cmocka_unit_test(test_header_parse),
	    cmocka_unit_test(test_edk_limits),
	    cmocka_unit_test(test_duplicate_context_key),
	    cmocka_unit_test(test_esdk_js_vectors),
	    cmocka_unit_test(test_deflate_workers_and_skip_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
