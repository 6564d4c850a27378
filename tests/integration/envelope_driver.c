/*
 * A tiny CLI over module_utils/envelope for tests/integration/envelope_vs_esdk_js.sh: the same
 * raw AES keyring options as tests/peers/esdk/esdk.js, so that the two can read each other.
 *
 *   envelope_driver encrypt|decrypt --raw-aes-key-file F --key-namespace NS --key-name NAME
 *                   [--context k=v ...] [--frame-length N] [--gzip [--deflate-workers N]]
 *                   < in > out
 *
 * encrypt: a random data key wrapped with the raw AES key, --gzip compresses first
 * (--deflate-workers N: on N threads, pgzip.h).
 * decrypt: --gzip gunzips after decrypting; every --context pair must be in the message.
 * Both print "plaintext_bytes=N message_bytes=M sha256=HEX" on stderr when done.
 */
#include "envelope.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PAIRS 32

static int stdout_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)ctx;
	if (fwrite(buf, 1, len, stdout) != len)
		return error_set(err, -EIO, "write to stdout failed");
	return 0;
}

static void usage(const char *msg)
{
	fprintf(stderr,
		"envelope_driver: %s\nusage: envelope_driver encrypt|decrypt "
		"--raw-aes-key-file F --key-namespace NS --key-name NAME [--context k=v ...] "
		"[--frame-length N] [--gzip [--deflate-workers N]] < in > out\n",
		msg);
	exit(2);
}

static void print_stats(const struct envelope_stats *st)
{
	fprintf(stderr, "plaintext_bytes=%llu message_bytes=%llu sha256=",
		(unsigned long long)st->plaintext_bytes, (unsigned long long)st->message_bytes);
	for (int i = 0; i < 32; i++)
		fprintf(stderr, "%02x", st->plaintext_sha256[i]);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static uint8_t in[1 << 20];
	const char *keys[MAX_PAIRS], *values[MAX_PAIRS], *key_file = NULL, *ns = NULL, *name = NULL;
	struct envelope_context ctx = {keys, values, 0};
	uint8_t wrap_key[32], data_key[32];
	struct envelope_stats st;
	struct error err = {0};
	uint32_t frame_len = 0;
	unsigned workers = 0;
	bool gzip = false, enc;
	FILE *f;
	size_t n;
	int i, rc = 0;

	if (argc < 2 || (strcmp(argv[1], "encrypt") && strcmp(argv[1], "decrypt")))
		usage("first argument must be encrypt or decrypt");
	enc = strcmp(argv[1], "encrypt") == 0;
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(opt, "--gzip") == 0) {
			gzip = true;
			continue;
		}
		if (!val)
			usage("option without a value");
		i++;
		if (strcmp(opt, "--raw-aes-key-file") == 0) {
			key_file = val;
		} else if (strcmp(opt, "--key-namespace") == 0) {
			ns = val;
		} else if (strcmp(opt, "--key-name") == 0) {
			name = val;
		} else if (strcmp(opt, "--deflate-workers") == 0) {
			workers = (unsigned)strtoul(val, NULL, 10);
		} else if (strcmp(opt, "--frame-length") == 0) {
			frame_len = (uint32_t)strtoul(val, NULL, 10);
		} else if (strcmp(opt, "--context") == 0) {
			char *eq = strchr(val, '=');

			if (!eq || ctx.n == MAX_PAIRS)
				usage("--context takes k=v (at most 32)");
			*eq = '\0';
			keys[ctx.n] = val;
			values[ctx.n++] = eq + 1;
		} else {
			usage("unknown option");
		}
	}
	if (!key_file || !ns || !name)
		usage("--raw-aes-key-file, --key-namespace and --key-name are required");
	f = fopen(key_file, "rb");
	if (!f || fread(wrap_key, 1, sizeof(wrap_key), f) != sizeof(wrap_key) || fgetc(f) != EOF)
		usage("the key file must hold exactly 32 bytes");
	fclose(f);

	if (enc) {
		struct envelope_edk edk;
		struct envelope_writer *w;

		if (RAND_bytes(data_key, sizeof(data_key)) != 1)
			usage("no random bytes");
		rc = envelope_raw_aes_wrap(wrap_key, ns, name, data_key, &ctx, &edk, &err);
		if (rc)
			goto out;
		w = envelope_writer_new(data_key, &edk, 1, &ctx, frame_len, gzip, stdout_sink, NULL,
					&err);
		envelope_edk_release(&edk);
		if (!w) {
			rc = -1;
			goto out;
		}
		rc = envelope_writer_set_deflate_workers(w, workers, &err);
		while (rc == 0 && (n = fread(in, 1, sizeof(in), stdin)) > 0)
			rc = envelope_writer_write(w, in, n, &err);
		if (rc == 0)
			rc = envelope_writer_finish(w, &err);
		envelope_writer_stats(w, &st);
		envelope_writer_free(w);
	} else {
		struct envelope_raw_aes ring = {wrap_key, ns, name};
		struct envelope_reader *r;

		r = envelope_reader_new(envelope_raw_aes_key_fn, &ring, gzip, stdout_sink, NULL,
					&err);
		if (!r) {
			rc = -1;
			goto out;
		}
		while (rc == 0 && (n = fread(in, 1, sizeof(in), stdin)) > 0)
			rc = envelope_reader_write(r, in, n, &err);
		if (rc == 0)
			rc = envelope_reader_finish(r, &err);
		for (size_t k = 0; rc == 0 && k < ctx.n; k++) {
			const char *got = envelope_header_get(envelope_reader_header(r), keys[k]);

			if (!got || strcmp(got, values[k]) != 0) {
				rc = error_set(&err, -EBADMSG, "context %s: expected %s, found %s",
					       keys[k], values[k], got ? got : "(none)");
			}
		}
		envelope_reader_stats(r, &st);
		envelope_reader_free(r);
	}
	if (rc == 0 && fflush(stdout) != 0)
		rc = error_set(&err, -EIO, "write to stdout failed");
out:
	OPENSSL_cleanse(wrap_key, sizeof(wrap_key));
	OPENSSL_cleanse(data_key, sizeof(data_key));
	if (rc) {
		fprintf(stderr, "envelope_driver: %s: %s\n", argv[1], err.msg);
		return 1;
	}
	print_stats(&st);
	return 0;
}
