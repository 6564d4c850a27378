/*
 * Seed generator for fuzz_envelope: writes gzip and plain messages made by module_utils/envelope
 * (envelope_raw_aes_wrap + envelope_writer) under the fuzz target's fixed wrapping key
 * (tests/unit/vectors/esdk/key.bin) into the directory argv[1], as gen-*.esdk. Small frames so
 * that a seed holds several frames and a final one, within a short max_len.
 *   gen_envelope DIR
 */
#include "envelope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t WRAP_KEY[ENVELOPE_KEY_LEN] = {
    0xbe, 0x9a, 0xa7, 0x2f, 0x72, 0x13, 0xb8, 0xe7, 0x48, 0xb3, 0x05, 0x50, 0xe9, 0x75, 0x83, 0x21,
    0x3a, 0x28, 0x91, 0xa3, 0x90, 0x5b, 0x8e, 0xfd, 0x54, 0x4d, 0x7e, 0x1f, 0x33, 0x17, 0x59, 0x26,
};

static int file_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	return fwrite(buf, 1, len, ctx) == len ? 0 : -EIO;
}

static int make(const char *dir, const char *name, bool gzip, uint32_t frame_len, size_t len,
		const struct envelope_context *ctx)
{
	uint8_t data_key[ENVELOPE_KEY_LEN];
	struct envelope_edk edk = {0};
	struct envelope_writer *w = NULL;
	struct error err = {0};
	char path[4096];
	FILE *f;
	int rc = -EIO;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	for (size_t i = 0; i < sizeof(data_key); i++)
		data_key[i] = (uint8_t)(i * 7 + len);
	if (envelope_raw_aes_wrap(WRAP_KEY, "etcd-ansible", "backup-key", data_key, ctx, &edk,
				  &err) < 0)
		goto out;
	w = envelope_writer_new(data_key, &edk, 1, ctx, frame_len, gzip, file_sink, f, &err);
	if (!w)
		goto out;
	for (size_t i = 0; i < len; i++) {
		/* text-like, so gzip has something to do */
		char c = (char)("etcd backup\n"[i % 12] + (char)(i / 97 % 3));

		if (envelope_writer_write(w, &c, 1, &err) < 0)
			goto out;
	}
	rc = envelope_writer_finish(w, &err);
out:
	if (rc < 0)
		fprintf(stderr, "gen_envelope: %s: %s\n", name, err.msg);
	envelope_writer_free(w);
	envelope_edk_release(&edk);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const keys[] = {"cluster", "kind"};
	static const char *const values[] = {"prod-1", "etcd-snapshot"};
	const struct envelope_context ctx = {keys, values, 2}, none = {NULL, NULL, 0};

	if (argc != 2) {
		fprintf(stderr, "usage: gen_envelope DIR\n");
		return 2;
	}
	if (make(argv[1], "gen-gzip-0.esdk", true, 64, 0, &ctx) < 0 ||
	    make(argv[1], "gen-gzip-300-f64.esdk", true, 64, 300, &ctx) < 0 ||
	    make(argv[1], "gen-gzip-2000-f128.esdk", true, 128, 2000, &none) < 0 ||
	    make(argv[1], "gen-plain-200-f64.esdk", false, 64, 200, &ctx) < 0 ||
	    make(argv[1], "gen-plain-128-f64.esdk", false, 64, 128, &none) < 0)
		return 1;
	return 0;
}
