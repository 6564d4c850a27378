/* cmocka tests of module_utils/url: URL credentials found and masked in any text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "url.h"

#include <stdlib.h>
#include <string.h>

static void assert_masked(const char *text, const char *want)
{
	char *got = url_mask(text);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("url_mask(\"%s\"): expected \"%s\", got \"%s\"", text, want, got);
	free(got);
}

static void test_password_masked_user_kept(void **state)
{
	(void)state;
	assert_masked("https://user:pw@host:2379", "https://user:********@host:2379");
	assert_masked("https://user:pw@host/v3/kv?x=1", "https://user:********@host/v3/kv?x=1");
	assert_masked("http://a:b@c", "http://a:********@c");
}

static void test_token_userinfo_masked_whole(void **state)
{
	(void)state;
	assert_masked("https://ghp_TOKEN@host/", "https://********@host/");
}

static void test_several_urls_and_text_around(void **state)
{
	(void)state;
	assert_masked("endpoint https://u:p1@a:1 is unhealthy: https://u:p1@a:1/v3/x: refused",
		      "endpoint https://u:********@a:1 is unhealthy: https://u:********@a:1/v3/x: "
		      "refused");
	assert_masked("n1=https://u:p@10.0.0.1:2380,n2=https://10.0.0.2:2380",
		      "n1=https://u:********@10.0.0.1:2380,n2=https://10.0.0.2:2380");
	assert_masked("\"https://u:p@h\"", "\"https://u:********@h\"");
}

static void test_at_in_password_and_after_the_authority(void **state)
{
	(void)state;
	/* the last '@' of the authority ends the userinfo */
	assert_masked("https://u:p@ss@host/", "https://u:********@host/");
	/* an '@' in the path or query is no userinfo */
	assert_masked("https://host/a@b?c=d@e", "https://host/a@b?c=d@e");
	assert_masked("https://host?mail=a@b", "https://host?mail=a@b");
}

static void test_no_url_no_change(void **state)
{
	(void)state;
	assert_masked("", "");
	assert_masked("user@host", "user@host");
	assert_masked("no://", "no://");
	assert_masked("https://@host", "https://@host");
	assert_masked("https://:@host", "https://:@host");
	assert_masked("s3://bucket/key@1", "s3://bucket/key@1");
}

static void test_find_credential_offsets(void **state)
{
	size_t offset = 0, len = 0;
	(void)state;
	assert_true(url_find_credential("x https://u:secret@h", &offset, &len));
	assert_int_equal(offset, strlen("x https://u:"));
	assert_int_equal(len, strlen("secret"));
	assert_false(url_find_credential("https://h/", &offset, &len));
}

static void test_percent_decode(void **state)
{
	char *d;
	(void)state;
	d = url_percent_decode("p%40ss%2Fw%zz%4", strlen("p%40ss%2Fw%zz%4"));
	assert_string_equal(d, "p@ss/w%zz%4");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password_masked_user_kept),
	    cmocka_unit_test(test_token_userinfo_masked_whole),
	    cmocka_unit_test(test_several_urls_and_text_around),
	    cmocka_unit_test(test_at_in_password_and_after_the_authority),
	    cmocka_unit_test(test_no_url_no_change),
	    cmocka_unit_test(test_find_credential_offsets),
	    cmocka_unit_test(test_percent_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
