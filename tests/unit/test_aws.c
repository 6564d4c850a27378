/*
 * cmocka tests of the AWS client (aws.c) that need no network: the credential, region and
 * endpoint resolution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void clear_env(void)
{
	static const char *const names[] = {
	    "AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",   "AWS_REGION",
	    "AWS_DEFAULT_REGION",  "AWS_ENDPOINT_URL",
	    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KMS",
	    "AWS_CA_BUNDLE",	   "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void test_credential_chain(void **state)
{
	struct aws_credentials c;
	struct error err;
	(void)state;

	clear_env();
	assert_int_equal(aws_credentials_resolve(&(struct aws_options){0}, &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	assert_int_equal(aws_credentials_resolve(&(struct aws_options){0}, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.session_token, "envtoken");
	aws_credentials_free(&c);
	/* options win over the environment */
	assert_int_equal(aws_credentials_resolve(&(struct aws_options){.access_key_id = "AKIDOPT",
								       .secret_access_key = "s"},
						 &c, &err),
			 0);
	assert_string_equal(c.access_key_id, "AKIDOPT");
	assert_null(c.session_token);
	aws_credentials_free(&c);
	assert_int_equal(
	    aws_credentials_resolve(&(struct aws_options){.access_key_id = "A"}, &c, &err),
	    -EINVAL);
	clear_env();
}

static void test_region_and_endpoints(void **state)
{
	struct aws_options opts = {.access_key_id = "A", .secret_access_key = "S"};
	struct error err;
	struct aws *aws;
	(void)state;

	clear_env();
	assert_null(aws_new(&opts, &err));
	assert_non_null(strstr(err.msg, "region"));
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	aws = aws_new(&opts, &err);
	assert_non_null(aws);
	assert_string_equal(aws_region(aws), "eu-west-1");
	aws_free(aws);
	setenv("AWS_REGION", "eu-central-1", 1);
	aws = aws_new(&opts, &err);
	assert_string_equal(aws_region(aws), "eu-central-1");
	aws_free(aws);
	opts.region = "us-west-2";
	aws = aws_new(&opts, &err);
	assert_string_equal(aws_region(aws), "us-west-2");
	aws_free(aws);
	opts.endpoint_url = "ftp://x";
	assert_null(aws_new(&opts, &err));
	assert_non_null(strstr(err.msg, "ftp://x"));
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_credential_chain),
	    cmocka_unit_test(test_region_and_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
