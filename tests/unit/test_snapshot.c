/*
 * cmocka tests of module_utils/snapshot without a network: the snapshot answer recorded from
 * etcd 3.4.23 (tests/unit/vectors/snapshot/README.md) fed to the parser in pieces of odd sizes
 * must give exactly the bytes `etcdctl snapshot save` wrote (sha256 known from etcdctl's file);
 * tampered, truncated and error-after-200 answers must fail; bbolt meta checks on that real file
 * and on copies with one or both meta pages damaged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"
#include "snapshot.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* sha256 of the file etcdctl snapshot save wrote from the same member (vectors/snapshot/README). */
static const char ETCDCTL_FILE_SHA256[] =
    "2b51ae3c6b882b9aca2b51efc240cb95a77adbf8b8c8b492062417d8028a8dc5";
#define ETCDCTL_FILE_SIZE 86048u

/* grpc-gateway v1's StreamError, as a stream cut on etcd's side ends (runtime/handler.go). */
static const char ERROR_AFTER_200[] =
    "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"rpc error: code = Unavailable "
    "desc = transport is closing\",\"http_status\":\"Service Unavailable\"}}\n";
/* The gateway's error body when the call is refused before the stream starts. */
static const char ERROR_BEFORE_200[] = "{\"error\":\"etcdserver: permission denied\",\"code\":7,"
				       "\"message\":\"etcdserver: permission denied\"}";

static char *vector_load(size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof(path), "%.*s/vectors/snapshot/etcd-3.4.23-snapshot.ndjson",
		 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return buf;
}

/* A sink into memory (tests only: the real sinks stream). */
struct memory {
	unsigned char *data;
	size_t len;
	int fail_after; /* >0: refuse the n-th write */
	int writes;
};

static int memory_write(void *ctx, const unsigned char *data, size_t len, struct error *err)
{
	struct memory *m = ctx;

	if (m->fail_after && ++m->writes >= m->fail_after)
		return error_set(err, -ENOSPC, "test sink: disk full");
	m->data = realloc(m->data, m->len + len);
	assert_non_null(m->data);
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return 0;
}

static void hex_of(const unsigned char *data, size_t len, char hex[65])
{
	unsigned char md[32];

	SHA256(data, len, md);
	snapshot_hex(md, hex);
}

/* Feeds text in pieces of `chunk` bytes; returns the first error (feed or finish). */
static int feed_all(const char *text, size_t len, size_t chunk, struct memory *mem,
		    unsigned char sha[32], struct error *err)
{
	struct snapshot_sink sink = {.write = memory_write, .ctx = mem};
	struct snapshot_parser p;
	int rc = snapshot_parser_init(&p, &sink, err);

	for (size_t off = 0; rc == 0 && off < len; off += chunk)
		rc = snapshot_parser_feed(&p, text + off, len - off < chunk ? len - off : chunk,
					  err);
	if (rc == 0)
		rc = snapshot_parser_finish(&p, sha, err);
	snapshot_parser_free(&p);
	return rc;
}

static void test_parser_gives_etcdctl_bytes_in_any_chunking(void **state)
{
	static const size_t chunks[] = {1, 3, 7, 100, 4095, 16384, 43741, 65536, 1u << 20};
	size_t len;
	char *text = vector_load(&len);

	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct memory mem = {0};
		struct error err = {0};
		unsigned char sha[32];
		char hex[65], got[65];
		int rc = feed_all(text, len, chunks[i], &mem, sha, &err);

		if (rc != 0)
			fail_msg("chunk %zu: rc %d: %s", chunks[i], rc, err.msg);
		assert_int_equal(mem.len, ETCDCTL_FILE_SIZE);
		hex_of(mem.data, mem.len, got);
		assert_string_equal(got, ETCDCTL_FILE_SHA256);
		assert_string_equal(snapshot_hex(sha, hex), ETCDCTL_FILE_SHA256);
		free(mem.data);
	}
	free(text);
}

/*
 * JSON may escape "/" as "\/": such a blob leaves the fast path (snapshot.c) and goes through
 * jansson; the bytes must be the same. Also the keys in another order.
 */
static void test_parser_general_path_same_bytes(void **state)
{
	size_t len;
	char *text = vector_load(&len), *escaped = malloc(len + 64), *slash, *out;
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];
	char hex[65];

	(void)state;
	slash = strchr(text, '/'); /* only blobs hold a "/" */
	assert_non_null(slash);
	out = escaped;
	memcpy(out, text, (size_t)(slash - text));
	out += slash - text;
	*out++ = '\\';
	memcpy(out, slash, len - (size_t)(slash - text));
	if (feed_all(escaped, len + 1, 5000, &mem, sha, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(snapshot_hex(sha, hex), ETCDCTL_FILE_SHA256);
	free(mem.data);
	/* A short stream whose hash message names blob first: {"result":{"blob":...}} as etcd
	 * sends it, and with a remaining_bytes after it. */
	memset(&mem, 0, sizeof(mem));
	{
		static const char two[] =
		    "{\"result\":{\"blob\":\"AAAA\",\"remaining_bytes\":\"0\"}}\n"
		    /* SHA-256 of 00 00 00 */
		    "{\"result\":{\"blob\":\"cJ6AyISHokEeHuTfufIqhhSS0gxHZRUMDHlKvXD4FHw=\"}}\n";

		assert_int_equal(feed_all(two, sizeof(two) - 1, 3, &mem, sha, &err), 0);
		assert_int_equal(mem.len, 35);
	}
	free(mem.data);
	free(escaped);
	free(text);
}

static void test_parser_refuses_tampered_stream(void **state)
{
	size_t len;
	char *text = vector_load(&len), *second = strchr(text, '\n') + 1;
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];
	char *c = second + 20000; /* inside the second blob */

	(void)state;
	*c = *c == 'A' ? 'B' : 'A';
	assert_int_equal(feed_all(text, len, 4096, &mem, sha, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing SHA-256 does not match"));
	free(mem.data);
	free(text);
}

/*
 * A blob that is not strict base64 (b64.h) is refused as the general path refuses it, whatever
 * the path: OpenSSL's EVP_DecodeBlock (the fast path) takes a '=' in the middle as zero bits and
 * ignores non-zero leftover bits. Found by tests/fuzz/fuzz_snapshot.c (corpus/snapshot/
 * crash-equals-inside-blob): the bytes reached the sink and only the trailing hash failed.
 */
static void test_parser_refuses_lax_base64(void **state)
{
	static const char leftover_bits[] = "{\"result\":{\"blob\":\"AB==\"}}\n";
	size_t len;
	char *text = vector_load(&len), *second = strchr(text, '\n') + 1;
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];

	(void)state;
	second[20000] = '='; /* inside the second blob, which stays a multiple of 4 long */
	assert_int_equal(feed_all(text, len, 4096, &mem, sha, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "message 2: blob"));
	assert_int_equal(mem.len, 32768); /* the first blob only */
	free(mem.data);
	memset(&mem, 0, sizeof(mem));
	assert_int_equal(feed_all(leftover_bits, sizeof(leftover_bits) - 1, 7, &mem, sha, &err),
			 -EPROTO);
	assert_int_equal(mem.len, 0);
	free(mem.data);
	free(text);
}

static void test_parser_refuses_truncated_stream(void **state)
{
	size_t len;
	char *text = vector_load(&len);
	char *last = text + len - 1;
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];

	(void)state;
	/* The hash message missing: whole messages, but the last 32 bytes are data. */
	while (last > text && last[-1] != '\n')
		last--;
	assert_int_equal(feed_all(text, (size_t)(last - text), 1000, &mem, sha, &err), -EBADMSG);
	free(mem.data);
	/* Cut inside a message: the last line is not JSON. */
	memset(&mem, 0, sizeof(mem));
	assert_int_equal(feed_all(text, 50000, 333, &mem, sha, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not JSON"));
	free(mem.data);
	/* Nothing at all. */
	memset(&mem, 0, sizeof(mem));
	assert_int_equal(feed_all("", 0, 1, &mem, sha, &err), -EPROTO);
	free(mem.data);
	free(text);
}

static void test_parser_error_after_200(void **state)
{
	size_t len, head;
	char *text = vector_load(&len), *mixed;
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];

	(void)state;
	head = (size_t)(strchr(strchr(text, '\n') + 1, '\n') + 1 - text); /* two messages */
	mixed = malloc(head + sizeof(ERROR_AFTER_200));
	assert_non_null(mixed);
	memcpy(mixed, text, head);
	memcpy(mixed + head, ERROR_AFTER_200, sizeof(ERROR_AFTER_200));
	assert_int_equal(feed_all(mixed, head + sizeof(ERROR_AFTER_200) - 1, 777, &mem, sha, &err),
			 ETCD_EREMOTE);
	assert_non_null(strstr(err.msg, "transport is closing"));
	assert_int_equal(mem.len, 65536); /* what came before the error reached the sink */
	free(mem.data);
	memset(&mem, 0, sizeof(mem));
	assert_int_equal(feed_all(ERROR_BEFORE_200, strlen(ERROR_BEFORE_200), 5, &mem, sha, &err),
			 ETCD_EREMOTE);
	assert_non_null(strstr(err.msg, "permission denied"));
	assert_int_equal(mem.len, 0);
	free(mem.data);
	free(mixed);
	free(text);
}

static void test_parser_bounds_and_sink_failure(void **state)
{
	size_t big = SNAPSHOT_LINE_MAX + 10, len;
	char *junk = malloc(big), *text = vector_load(&len);
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];

	(void)state;
	memset(junk, 'a', big);
	assert_int_equal(feed_all(junk, big, 65536, &mem, sha, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "longer than"));
	free(mem.data);
	memset(&mem, 0, sizeof(mem));
	mem.fail_after = 2;
	assert_int_equal(feed_all(text, len, 9000, &mem, sha, &err), -ENOSPC);
	assert_string_equal(err.msg, "test sink: disk full");
	free(mem.data);
	free(junk);
	free(text);
}

/* ---- files -------------------------------------------------------------------------------- */

/* The recorded snapshot, decoded. */
static unsigned char *snapshot_bytes(size_t *len)
{
	size_t text_len;
	char *text = vector_load(&text_len);
	struct memory mem = {0};
	struct error err = {0};
	unsigned char sha[32];

	assert_int_equal(feed_all(text, text_len, 65536, &mem, sha, &err), 0);
	free(text);
	*len = mem.len;
	return mem.data;
}

/* Writes data to a temp file, with a fresh trailing hash over the first len-32 bytes if asked. */
static char *temp_file(unsigned char *data, size_t len, bool rehash)
{
	char *path = strdup("/tmp/test_snapshot.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	if (rehash)
		SHA256(data, len - 32, data + len - 32);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static int verify(unsigned char *data, size_t len, bool rehash, bool skip, bool allow_no_hash,
		  struct snapshot_file_info *info, struct error *err)
{
	char *path = temp_file(data, len, rehash);
	int rc = snapshot_file_verify(path, skip, allow_no_hash, info, err);

	unlink(path);
	free(path);
	return rc;
}

static void test_file_real_snapshot(void **state)
{
	size_t len;
	unsigned char *data = snapshot_bytes(&len);
	struct snapshot_file_info info;
	struct error err = {0};
	char hex[65];

	(void)state;
	if (verify(data, len, false, false, false, &info, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(info.size, ETCDCTL_FILE_SIZE);
	assert_true(info.hash_present);
	assert_string_equal(snapshot_hex(info.sha256, hex), ETCDCTL_FILE_SHA256);
	assert_int_equal(info.page_size, 4096);
	assert_int_equal(info.txid, 22); /* meta 0 (txid 22) beats meta 1 (txid 21) */
	assert_int_equal(info.pgid, 21);
	assert_int_equal(info.meta_in_use, 0);
	assert_true(info.meta_ok[0] && info.meta_ok[1]);
	free(data);
}

static void test_file_meta_damage(void **state)
{
	size_t len;
	unsigned char *data = snapshot_bytes(&len), *copy = malloc(len);
	struct snapshot_file_info info;
	struct error err = {0};

	(void)state;
	/* Meta 0's checksum broken (a txid byte changed): meta 1 carries the file. */
	memcpy(copy, data, len);
	copy[16 + 48] ^= 0x01;
	assert_int_equal(verify(copy, len, true, false, false, &info, &err), 0);
	assert_false(info.meta_ok[0]);
	assert_true(info.meta_ok[1]);
	assert_int_equal(info.txid, 21);
	/* Meta 1's magic broken: meta 0 alone. */
	memcpy(copy, data, len);
	copy[4096 + 16] ^= 0xff;
	assert_int_equal(verify(copy, len, true, false, false, &info, &err), 0);
	assert_true(info.meta_ok[0]);
	assert_false(info.meta_ok[1]);
	/* Both broken. */
	copy[16 + 48] ^= 0x01;
	assert_int_equal(verify(copy, len, true, false, false, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "no valid bbolt meta page: page 0: checksum mismatch"));
	assert_non_null(strstr(err.msg, "bad magic"));
	free(copy);
	free(data);
}

static void test_meta_parse(void **state)
{
	size_t len;
	unsigned char *data = snapshot_bytes(&len);
	struct snapshot_bolt_meta meta;
	struct error err = {0};

	(void)state;
	assert_int_equal(snapshot_bolt_meta_parse(data, len, &meta, &err), 0);
	assert_int_equal(meta.magic, SNAPSHOT_BOLT_MAGIC);
	assert_int_equal(meta.root, 20);
	assert_true(meta.freelist == UINT64_MAX); /* etcd: NoFreelistSync */
	data[16 + 4] = 3;			  /* version 3 */
	assert_int_equal(snapshot_bolt_meta_parse(data, len, &meta, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "version 3"));
	assert_int_equal(snapshot_bolt_meta_parse(data, 50, &meta, &err), -EBADMSG);
	free(data);
}

static void test_file_hash_and_size(void **state)
{
	size_t len;
	unsigned char *data = snapshot_bytes(&len);
	struct snapshot_file_info info;
	struct error err = {0};

	(void)state;
	/* Without the trailing hash (a data dir's member/snap/db): fine for verified only. */
	assert_int_equal(verify(data, len - 32, false, false, true, &info, &err), 0);
	assert_false(info.hash_present);
	assert_int_equal(verify(data, len - 32, false, false, false, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "no trailing SHA-256"));
	/* One byte flipped in the middle: the hash says so; skip_hash does not look. */
	data[50000] ^= 0x20;
	assert_int_equal(verify(data, len, false, false, false, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_equal(verify(data, len, false, true, false, &info, &err), 0);
	data[50000] ^= 0x20;
	/* Cut to 10 pages + a hash that matches them: the meta counts 21 pages. */
	memcpy(data + 40960, data + len - 32, 32);
	assert_int_equal(verify(data, 40960 + 32, true, false, false, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	/* A size no snapshot has. */
	assert_int_equal(verify(data, 1000, false, false, false, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "neither whole 512-byte pages"));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parser_gives_etcdctl_bytes_in_any_chunking),
	    cmocka_unit_test(test_parser_general_path_same_bytes),
	    cmocka_unit_test(test_parser_refuses_tampered_stream),
	    cmocka_unit_test(test_parser_refuses_lax_base64),
	    cmocka_unit_test(test_parser_refuses_truncated_stream),
	    cmocka_unit_test(test_parser_error_after_200),
	    cmocka_unit_test(test_parser_bounds_and_sink_failure),
	    cmocka_unit_test(test_file_real_snapshot),
	    cmocka_unit_test(test_file_meta_damage),
	    cmocka_unit_test(test_meta_parse),
	    cmocka_unit_test(test_file_hash_and_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
