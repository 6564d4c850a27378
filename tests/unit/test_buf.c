/*
 * cmocka tests of buf.c: the growable buffer's invariants, hex encoding, wiping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"

#include <stdlib.h>
#include <string.h>

static void test_buffer_grows_and_stays_a_string(void **state)
{
	struct buf b = {0};
	(void)state;

	buf_str(&b, "");
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	for (int i = 0; i < 1000; i++)
		buf_str(&b, "ab");
	buf_add(&b, "c\0d", 3);
	assert_false(b.failed);
	assert_int_equal(b.len, 2003);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_memory_equal(b.data + 2000, "c\0d", 3);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	/* empty again and usable */
	buf_str(&b, "x");
	assert_string_equal(b.data, "x");
	buf_wipe_free(&b);
	assert_null(b.data);
}

static void test_failed_buffer_ignores_appends(void **state)
{
	struct buf b = {0};
	(void)state;

	buf_str(&b, "kept");
	b.failed = true;
	buf_str(&b, "dropped");
	assert_string_equal(b.data, "kept");
	assert_int_equal(b.len, 4);
	buf_free(&b);
	assert_false(b.failed);
}

static void test_hex_encode(void **state)
{
	static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(bytes) + 1];
	(void)state;

	memset(out, 'x', sizeof(out));
	hex_encode(bytes, sizeof(bytes), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(bytes, 0, out);
	assert_string_equal(out, "");
}

static void test_wipe(void **state)
{
	char secret[8] = "hunter2";
	char *heap = strdup("secret");
	(void)state;

	wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);
	wipe(NULL, 4);
	wipe_str_free(heap);
	wipe_str_free(NULL);
	wipe_free(NULL, 3);
	wipe_free(malloc(16), 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buffer_grows_and_stays_a_string),
	    cmocka_unit_test(test_failed_buffer_ignores_appends),
	    cmocka_unit_test(test_hex_encode),
	    cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
