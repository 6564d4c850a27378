/*
 * cmocka tests of module_utils/bolt: the buckets of the real etcd 3.4.23 database recorded in
 * tests/unit/vectors/snapshot (50 puts, revision 51): the "key" bucket holds 50 revisions, the
 * greatest is revision 51; the "meta" bucket holds consistent_index; damaged files fail with
 * -EBADMSG, never a crash (run under ASan/UBSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt.h"
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct memory {
	unsigned char *data;
	size_t len;
};

static int memory_write(void *ctx, const unsigned char *data, size_t len, struct error *err)
{
	struct memory *m = ctx;

	(void)err;
	m->data = realloc(m->data, m->len + len);
	assert_non_null(m->data);
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return 0;
}

/* The recorded snapshot answer decoded: the database file etcdctl wrote (with its hash). */
static unsigned char *database(size_t *len)
{
	struct memory mem = {0};
	struct snapshot_sink sink = {.write = memory_write, .ctx = &mem};
	struct snapshot_parser p;
	struct error err = {""};
	unsigned char sha[SNAPSHOT_HASH_SIZE];
	char path[1024], buf[65536];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s/vectors/snapshot/etcd-3.4.23-snapshot.ndjson",
		 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(snapshot_parser_init(&p, &sink, &err), 0);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(snapshot_parser_feed(&p, buf, n, &err), 0);
	assert_int_equal(snapshot_parser_finish(&p, sha, &err), 0);
	snapshot_parser_free(&p);
	fclose(f);
	*len = mem.len;
	return mem.data;
}

static char *temp_file(const unsigned char *data, size_t len)
{
	char *path = strdup("/tmp/test_bolt.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void test_real_database(void **state)
{
	size_t len, vlen;
	unsigned char *data = database(&len), value[64];
	char *path = temp_file(data, len);
	struct bolt_file b;
	struct bolt_bucket_stats s;
	struct error err = {""};

	(void)state;
	assert_int_equal(bolt_open(&b, path, &err), 0);
	assert_int_equal(b.page_size, 4096);
	assert_int_equal(b.txid, 22);
	assert_int_equal(bolt_bucket_stats(&b, "key", &s, &err), 0);
	assert_true(s.found);
	assert_int_equal(s.keys, 50);
	/* mvcc revision keys: main u64 big-endian, '_', sub u64 (kvstore.go revToBytes). */
	assert_int_equal(s.last_key_len, 17);
	assert_int_equal(be64(s.last_key), 51);
	assert_int_equal(bolt_bucket_stats(&b, "lease", &s, &err), 0);
	assert_true(s.found);
	assert_int_equal(s.keys, 0);
	assert_int_equal(bolt_bucket_stats(&b, "no-such-bucket", &s, &err), 0);
	assert_false(s.found);
	assert_int_equal(
	    bolt_get(&b, "meta", "consistent_index", value, sizeof(value), &vlen, &err), 0);
	assert_int_equal(vlen, 8);
	assert_true(be64(value) >= 51);
	assert_int_equal(
	    bolt_get(&b, "meta", "finishedCompactRev", value, sizeof(value), &vlen, &err), -ENOENT);
	bolt_close(&b);
	unlink(path);
	free(path);
	free(data);
}

/* Every single-byte change of the pages the walk reads: an answer or -EBADMSG, never a crash. */
static void test_damaged_database(void **state)
{
	size_t len;
	unsigned char *data = database(&len);
	struct bolt_bucket_stats s;
	struct error err = {""};
	char *path;

	(void)state;
	for (size_t at = 2 * 4096; at < len - 32; at += 97) {
		struct bolt_file b;
		unsigned char keep = data[at];

		data[at] ^= 0xA5;
		path = temp_file(data, len);
		if (bolt_open(&b, path, &err) == 0) {
			int rc = bolt_bucket_stats(&b, "key", &s, &err);

			assert_true(rc == 0 || rc == -EBADMSG || rc == -EFBIG);
			bolt_close(&b);
		}
		unlink(path);
		free(path);
		data[at] = keep;
	}
	/* Both metas gone: no database. */
	memset(data, 0, 2 * 4096);
	path = temp_file(data, len);
	{
		struct bolt_file b;

		assert_int_equal(bolt_open(&b, path, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "no valid bbolt meta page"));
	}
	unlink(path);
	free(path);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_database),
	    cmocka_unit_test(test_damaged_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
