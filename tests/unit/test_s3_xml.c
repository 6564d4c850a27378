/*
 * cmocka tests of the XML reader (s3_xml.c) on S3-shaped answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "s3_xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_xml_reader(void **state)
{
	static const char list[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
	    "<Prefix/><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
	    "<Contents><Key>a&amp;b &lt;c&gt; "
	    "&#x263A;&#65;</Key><LastModified>2026-11-25T10:00:00.000Z"
	    "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>3</Size>"
	    "</Contents><Contents><Key>z</Key><Size>0</Size></Contents>"
	    "<NextContinuationToken>1/abc=</NextContinuationToken></ListBucketResult>";
	static const char error200[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>"
	    "<Message>We encountered an internal error. Please try again.</Message></Error>";
	const char *c, *p;
	size_t len, count = 0;
	char *text;
	(void)state;

	assert_int_equal(aws_xml_find(list, strlen(list), "Prefix", &c, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(aws_xml_find(list, strlen(list), "Contents", &c, &len), 0);
	assert_int_equal(aws_xml_find(c, len, "Key", &p, &len), 0);
	text = aws_xml_text(p, len);
	assert_string_equal(text, "a&b <c> \xe2\x98\xba"
				  "A");
	free(text);
	for (p = list;
	     aws_xml_find(p, strlen(list) - (size_t)(p - list), "Contents", &c, &len) == 0;
	     p = c + len)
		count++;
	assert_int_equal(count, 2);
	assert_int_equal(aws_xml_find(list, strlen(list), "Error", &c, &len), -ENOENT);
	assert_int_equal(aws_xml_find(error200, strlen(error200), "Code", &c, &len), 0);
	assert_int_equal(len, strlen("InternalError"));
	/* unknown or malformed entities are refused, never passed through */
	assert_null(aws_xml_text("a&bogus;", 8));
	assert_null(aws_xml_text("a&#0;", 5));
	assert_null(aws_xml_text("a&amp", 5));
	/* an unterminated element is not found */
	assert_int_equal(aws_xml_find("<Key>abc", 8, "Key", &c, &len), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
