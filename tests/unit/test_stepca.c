/* cmocka tests of the step-ca client pieces that need no network: tokens and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "jose.h"
#include "keys.h"
#include "stepca.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_sign_token_claims(void **state)
{
	static const char *const sans[] = {"etcd-1", "10.0.0.5"};
	struct error err;
	EVP_PKEY *key = key_generate(KEY_EC_P256, 0, &err);
	json_t *claims = NULL, *aud_sans;
	char *token = NULL;
	time_t now = time(NULL);
	(void)state;

	assert_non_null(key);
	assert_int_equal(stepca_sign_token(key, "KID123", "etcd-provisioner",
					   "https://ca.example:9000/", "etcd-1", sans, 2, "abcdef",
					   &token, &err),
			 0);
	assert_int_equal(jose_jws_verify_es256(token, key, &claims, &err), 0);
	/* As the step CLI writes it (CA URL + /1.0/sign); step-ca ignores the port when comparing.
	 */
	assert_string_equal(json_string_value(json_object_get(claims, "aud")),
			    "https://ca.example:9000/1.0/sign");
	assert_string_equal(json_string_value(json_object_get(claims, "iss")), "etcd-provisioner");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "etcd-1");
	assert_string_equal(json_string_value(json_object_get(claims, "sha")), "abcdef");
	aud_sans = json_object_get(claims, "sans");
	assert_int_equal(json_array_size(aud_sans), 2);
	assert_string_equal(json_string_value(json_array_get(aud_sans, 1)), "10.0.0.5");
	assert_int_equal(strlen(json_string_value(json_object_get(claims, "jti"))), 64);
	json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
	assert_true(iat >= now && iat <= now + 2);
	assert_int_equal(json_integer_value(json_object_get(claims, "nbf")), iat);
	/* the step CLI's 5 minute default lifetime */
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")) - iat, 300);
	/* header: alg, kid, typ */
	char *dot = strchr(token, '.');
	assert_non_null(dot);
	json_decref(claims);
	free(token);
	EVP_PKEY_free(key);
}

static void test_tokens_have_unique_jti(void **state)
{
	struct error err;
	EVP_PKEY *key = key_generate(KEY_EC_P256, 0, &err);
	char *a = NULL, *b = NULL;
	json_t *ca = NULL, *cb = NULL;
	(void)state;

	assert_int_equal(
	    stepca_sign_token(key, "k", "p", "https://h", "s", NULL, 0, NULL, &a, &err), 0);
	assert_int_equal(
	    stepca_sign_token(key, "k", "p", "https://h", "s", NULL, 0, NULL, &b, &err), 0);
	assert_int_equal(jose_jws_verify_es256(a, key, &ca, &err), 0);
	assert_int_equal(jose_jws_verify_es256(b, key, &cb, &err), 0);
	assert_string_not_equal(json_string_value(json_object_get(ca, "jti")),
				json_string_value(json_object_get(cb, "jti")));
	assert_null(json_object_get(ca, "sha"));
	json_decref(ca);
	json_decref(cb);
	free(a);
	free(b);
	EVP_PKEY_free(key);
}

static void test_go_durations(void **state)
{
	static const struct {
		const char *text;
		double seconds;
	} good[] = {{"17520h", 17520 * 3600.0},
		    {"1h30m", 5400},
		    {"90s", 90},
		    {"1.5h", 5400},
		    {"500ms", 0.5},
		    {"0", 0},
		    {"2h0m0s", 7200}};
	static const char *const bad[] = {"",	  "1d", "h",   "1",   "-1h", "1h 30m",
					  "1e3s", ".h", "1hh", "abc", NULL};
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		double s = -1;

		if (stepca_duration_parse(good[i].text, &s) != 0 || s != good[i].seconds)
			fail_msg("'%s': expected %g s, got %g", good[i].text, good[i].seconds, s);
	}
	for (const char *const *b = bad; *b; b++) {
		double s;

		if (stepca_duration_parse(*b, &s) == 0)
			fail_msg("'%s' must be refused, got %g s", *b, s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_token_claims),
	    cmocka_unit_test(test_tokens_have_unique_jti),
	    cmocka_unit_test(test_go_durations),
	};
	return cmocka_run_group_tests_name("stepca", tests, NULL, NULL);
}
