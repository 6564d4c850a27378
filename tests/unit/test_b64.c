/*
 * cmocka tests of b64_decode_into, the snapshot stream's decoder: it must take exactly what the
 * strict b64_decode takes and give the same bytes (b64.h), on every input of a generated corpus
 * and on the edge cases of padding and leftover bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"

#include <stdlib.h>
#include <string.h>

/* Both decoders on text[0..len): the same verdict and, when taken, the same bytes. */
static void assert_same_as_b64_decode(const char *text, size_t len)
{
	unsigned char *strict = NULL, *fast = malloc(len / 4 * 3 + 1);
	char *copy = strndup(text, len);
	struct error err = {0};
	size_t strict_len = 0;
	long fast_len;
	int rc;

	assert_non_null(fast);
	assert_non_null(copy);
	rc = b64_decode(copy, &strict, &strict_len, &err);
	fast_len = b64_decode_into(text, len, fast);
	if (rc < 0) {
		if (fast_len >= 0)
			fail_msg("b64_decode refuses \"%s\" (%s); b64_decode_into took it", copy,
				 err.msg);
	} else {
		if (fast_len < 0)
			fail_msg("b64_decode takes \"%s\"; b64_decode_into refused it", copy);
		assert_int_equal((size_t)fast_len, strict_len);
		assert_memory_equal(fast, strict, strict_len);
	}
	free(strict);
	free(fast);
	free(copy);
}

static void test_edge_cases_match_b64_decode(void **state)
{
	static const char *const cases[] = {
	    "",
	    "AA==",
	    "AB==",
	    "AAA=",
	    "AAB=",
	    "AAE=",
	    "QQ==",
	    "QUI=",
	    "QUJD",
	    "QUJDRA==",
	    "====",
	    "A===",
	    "AA=A",
	    "A=AA",
	    "=AAA",
	    "QUJD====",
	    "QUJ",
	    "QU",
	    "Q",
	    "QUJD ",
	    " QUJD",
	    "QU\nJ",
	    "QUJ\\",
	    "QU-_",
	    "+/+/",
	    "////",
	    "AA=",
	    "AAAA=",
	    "QUJDRA=A",
	    "QUJDRA\"=",
	    "QUJD\xc3\xa9"
	    "AA",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_same_as_b64_decode(cases[i], strlen(cases[i]));
	/* A NUL inside: the fast decoder is given a length and must refuse it too. */
	assert_int_equal(b64_decode_into("QU\0D", 4, (unsigned char[3]){0}), -1);
}

/* Every encoding of random bytes, and each with one character changed to every byte value. */
static void test_generated_corpus_matches_b64_decode(void **state)
{
	unsigned char bytes[64];
	(void)state;

	srand(20261203);
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		char *text;
		size_t text_len;

		for (size_t i = 0; i < len; i++)
			bytes[i] = (unsigned char)rand();
		text = b64_encode(bytes, len);
		assert_non_null(text);
		text_len = strlen(text);
		assert_same_as_b64_decode(text, text_len);
		for (int c = 1; c < 256 && text_len; c += 7) {
			size_t at = (size_t)rand() % text_len;
			char saved = text[at];

			text[at] = (char)c;
			assert_same_as_b64_decode(text, text_len);
			text[at] = saved;
		}
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edge_cases_match_b64_decode),
	    cmocka_unit_test(test_generated_corpus_matches_b64_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
