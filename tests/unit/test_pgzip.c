/*
 * cmocka tests of pgzip.c: zlib's gunzip (and gzip(1) when installed) reads the output back byte
 * for byte as one gzip member; the output is the same whatever the number of workers and however
 * the input was cut into writes; empty input and block-aligned input; a failing sink stops it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "pgzip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

struct out {
	struct buf b;
	size_t fail_after; /* 0: never */
};

static int out_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct out *o = ctx;

	if (o->fail_after && o->b.len + len > o->fail_after)
		return error_set(err, -ENOSPC, "sink: full");
	buf_add(&o->b, buf, len);
	return o->b.failed ? error_set(err, -ENOMEM, "out of memory") : 0;
}

/* Text-like runs (compressible, with matches across block cuts) and random runs. */
static unsigned char *sample(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	uint32_t x = 12345;

	for (size_t i = 0; p && i < n; i++) {
		x = x * 1103515245u + 12345u;
		if ((i / 50000) % 3 == 2)
			p[i] = (unsigned char)(x >> 16);
		else
			p[i] = (unsigned char)("etcd-ansible backup pipeline "[(i * 7 + (x >> 28)) %
									       29]);
	}
	return p;
}

/* Compresses src with the given workers, cutting the input into writes of step bytes. */
static void pgz(const unsigned char *src, size_t n, unsigned workers, size_t step, struct out *o)
{
	struct error err = {0};
	struct pgzip *z = pgzip_new(1, workers, out_sink, o, &err);

	assert_non_null(z);
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(pgzip_write(z, src + off, n - off < step ? n - off : step, &err),
				 0);
	assert_int_equal(pgzip_finish(z, &err), 0);
	pgzip_free(z);
}

/* zlib's gunzip: exactly one member, nothing after it, the bytes back. */
static void assert_gunzips_to(const struct out *o, const unsigned char *src, size_t n)
{
	z_stream zs = {0};
	unsigned char *back = malloc(n + 1);

	assert_non_null(back);
	assert_true(o->b.len >= 18);
	assert_int_equal((unsigned char)o->b.data[0], 0x1f);
	assert_int_equal((unsigned char)o->b.data[1], 0x8b);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (unsigned char *)o->b.data;
	zs.avail_in = (uInt)o->b.len;
	zs.next_out = back;
	zs.avail_out = (uInt)n + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);
	assert_int_equal(zs.total_out, n);
	if (n)
		assert_memory_equal(back, src, n);
	inflateEnd(&zs);
	free(back);
}

/* The size of single-threaded zlib's gzip at the same level. */
static size_t zlib_gzip_len(const unsigned char *src, size_t n)
{
	z_stream zs = {0};
	size_t cap = compressBound((uLong)n) + 64;
	unsigned char *out = malloc(cap);
	size_t len;

	assert_non_null(out);
	assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (unsigned char *)src;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	len = zs.total_out;
	deflateEnd(&zs);
	free(out);
	return len;
}

static void test_gunzip_reads_it_back_and_workers_do_not_matter(void **state)
{
	size_t n = 3 * 1024 * 1024 + 12345;
	unsigned char *src = sample(n);
	struct out one = {0}, three = {0}, four = {0};
	(void)state;

	assert_non_null(src);
	pgz(src, n, 1, n, &one);
	pgz(src, n, 3, 4099, &three);
	pgz(src, n, 4, 1 << 20, &four);
	assert_gunzips_to(&one, src, n);
	/* The dictionaries keep it as small as one zlib stream (within 1 %). */
	assert_true(one.b.len < zlib_gzip_len(src, n) * 101 / 100);
	/* Deterministic: the same bytes whatever the workers and the writes. */
	assert_int_equal(one.b.len, three.b.len);
	assert_memory_equal(one.b.data, three.b.data, one.b.len);
	assert_int_equal(one.b.len, four.b.len);
	assert_memory_equal(one.b.data, four.b.data, one.b.len);
	/* gzip(1) too, when installed: an independent reader. */
	if (access("/bin/gzip", X_OK) == 0) {
		char gz[] = "/tmp/pgzip-test-XXXXXX";
		int fd = mkstemp(gz);
		char cmd[128];
		FILE *p;
		size_t got = 0, r;
		unsigned char buf[65536];
		bool same = true;

		assert_true(fd >= 0);
		assert_int_equal(write(fd, one.b.data, one.b.len), (ssize_t)one.b.len);
		close(fd);
		snprintf(cmd, sizeof(cmd), "/bin/gzip -dc < %s", gz);
		p = popen(cmd, "r");
		assert_non_null(p);
		while ((r = fread(buf, 1, sizeof(buf), p)) > 0) {
			if (got + r > n || memcmp(buf, src + got, r) != 0)
				same = false;
			got += r;
		}
		assert_int_equal(pclose(p), 0);
		unlink(gz);
		assert_true(same);
		assert_int_equal(got, n);
	}
	buf_free(&one.b);
	buf_free(&three.b);
	buf_free(&four.b);
	free(src);
}

/*
 * The store-or-deflate judgement: random bytes are incompressible, text, zeros and a 7-bit
 * alphabet are not, nor anything shorter than the sample; and input whose blocks are random and
 * text by turns comes back whole, the same bytes with any workers.
 */
static void test_incompressible_blocks_are_stored(void **state)
{
	size_t n = 8 * PGZIP_BLOCK + 999;
	unsigned char *rnd = malloc(n), *txt = malloc(n), *mixed = malloc(n);
	struct out one = {0}, three = {0};
	uint32_t x = 99;
	(void)state;

	assert_non_null(rnd);
	assert_non_null(txt);
	assert_non_null(mixed);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		rnd[i] = (unsigned char)(x >> 16);
		txt[i] = (unsigned char)"{\"kind\":\"Pod\",\"name\":\"web-"[i % 27] ^
			 ((x >> 16 & 0xff) < 8);
	}
	assert_true(pgzip_looks_incompressible(rnd, 65536));
	assert_true(pgzip_looks_incompressible(rnd, PGZIP_SAMPLE));
	assert_false(pgzip_looks_incompressible(rnd, PGZIP_SAMPLE - 1));
	assert_false(pgzip_looks_incompressible(txt, 40000));
	memset(mixed, 0, 65536);
	assert_false(pgzip_looks_incompressible(mixed, 65536));
	for (size_t i = 0; i < 65536; i++)
		mixed[i] = (unsigned char)(rnd[i] & 0x7f);
	assert_false(pgzip_looks_incompressible(mixed, 65536));
	for (size_t i = 0; i < n; i++)
		mixed[i] = (i / PGZIP_BLOCK) % 2 ? txt[i] : rnd[i];
	pgz(mixed, n, 1, n, &one);
	pgz(mixed, n, 3, 70001, &three);
	assert_gunzips_to(&one, mixed, n);
	assert_int_equal(one.b.len, three.b.len);
	assert_memory_equal(one.b.data, three.b.data, one.b.len);
	/* Stored random blocks cost ~5 bytes a 64 KiB; the text blocks shrink to little. */
	assert_true(one.b.len < n * 3 / 5);
	buf_free(&one.b);
	buf_free(&three.b);
	free(rnd);
	free(txt);
	free(mixed);
}

static void test_empty_and_block_aligned_input(void **state)
{
	unsigned char *src = sample(2 * PGZIP_BLOCK);
	struct out empty = {0}, aligned = {0}, small = {0};
	(void)state;

	pgz(src, 0, 2, 1, &empty);
	assert_gunzips_to(&empty, src, 0);
	pgz(src, 2 * PGZIP_BLOCK, 3, PGZIP_BLOCK, &aligned);
	assert_gunzips_to(&aligned, src, 2 * PGZIP_BLOCK);
	pgz(src, 1, 3, 1, &small);
	assert_gunzips_to(&small, src, 1);
	buf_free(&empty.b);
	buf_free(&aligned.b);
	buf_free(&small.b);
	free(src);
}

static void test_failing_sink_stops_it(void **state)
{
	size_t n = 2 * 1024 * 1024;
	unsigned char *src = sample(n);
	struct out o = {.fail_after = 100000};
	struct error err = {0};
	struct pgzip *z = pgzip_new(1, 3, out_sink, &o, &err);
	int rc = 0;
	(void)state;

	assert_non_null(z);
	for (size_t off = 0; rc == 0 && off < n; off += 65536)
		rc = pgzip_write(z, src + off, 65536, &err);
	if (rc == 0)
		rc = pgzip_finish(z, &err);
	assert_int_equal(rc, -ENOSPC);
	assert_string_equal(err.msg, "sink: full");
	assert_int_equal(pgzip_write(z, src, 1, &err), -EINVAL);
	assert_int_equal(pgzip_finish(z, &err), -EINVAL);
	pgzip_free(z);
	buf_free(&o.b);
	free(src);
}

static void test_bad_arguments_and_machine_policy(void **state)
{
	struct out o = {0};
	struct error err = {0};
	unsigned w = pgzip_workers_for_this_machine();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	(void)state;

	assert_null(pgzip_new(0, 1, out_sink, &o, &err));
	assert_null(pgzip_new(1, 0, out_sink, &o, &err));
	assert_null(pgzip_new(1, PGZIP_MAX_WORKERS + 1, out_sink, &o, &err));
	assert_null(pgzip_new(1, 1, NULL, &o, &err));
	pgzip_free(NULL);
	/* Single-threaded zlib on 1 or 2 cores; never more workers than cores. */
	if (cpus <= 2)
		assert_int_equal(w, 0);
	assert_true(w <= PGZIP_MAX_WORKERS && (long)w < (cpus > 1 ? cpus : 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gunzip_reads_it_back_and_workers_do_not_matter),
	    cmocka_unit_test(test_empty_and_block_aligned_input),
	    cmocka_unit_test(test_incompressible_blocks_are_stored),
	    cmocka_unit_test(test_failing_sink_stops_it),
	    cmocka_unit_test(test_bad_arguments_and_machine_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
