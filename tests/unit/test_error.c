/*
 * cmocka tests of error reasons: error.c keeps them through error_wrap, and each place an error
 * is born maps what its peer said to one (http.c from the CURLcode and status, etcd.c from
 * etcd's error, s3.c and kms.c from AWS's error codes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "etcd.h"
#include "http.h"
#include "kms.h"
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>

static void test_set_wrap_and_names(void **state)
{
	struct error err;
	(void)state;

	assert_int_equal(error_set_reason(&err, ERROR_UNHEALTHY, -EIO, "x %d", 1), -EIO);
	assert_string_equal(err.msg, "x 1");
	assert_int_equal(err.reason, ERROR_UNHEALTHY);
	assert_int_equal(error_wrap(&err, -EIO, "ctx"), -EIO);
	assert_string_equal(err.msg, "ctx: x 1");
	assert_int_equal(err.reason, ERROR_UNHEALTHY); /* a wrap keeps the reason */
	error_set(&err, -EINVAL, "plain");
	assert_int_equal(err.reason, ERROR_UNKNOWN); /* a new error forgets the old reason */
	assert_string_equal(error_reason_name(ERROR_TLS_CLOSED), "tls_closed");
	assert_string_equal(error_reason_name(ERROR_NOT_FOUND), "not_found");
	assert_string_equal(error_reason_name((enum error_reason)999), "unknown");
	assert_int_equal(error_set_reason(NULL, ERROR_IO, -EIO, "no err"), -EIO);
	err.reason = ERROR_TLS_NAME;
	assert_true(error_is_tls(&err));
	err.reason = ERROR_REFUSED;
	assert_false(error_is_tls(&err));
}

static void test_http_reasons(void **state)
{
	(void)state;
	assert_int_equal(http_reason_of(CURLE_OPERATION_TIMEDOUT, 0, true, 0, ""), ERROR_TIMEOUT);
	assert_int_equal(http_reason_of(CURLE_COULDNT_CONNECT, 0, true, 0, ""), ERROR_REFUSED);
	assert_int_equal(http_reason_of(CURLE_COULDNT_RESOLVE_HOST, 0, false, 0, ""),
			 ERROR_REFUSED);
	/* OpenSSL refused the chain (X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20) */
	assert_int_equal(http_reason_of(CURLE_PEER_FAILED_VERIFICATION, 0, true, 20,
					"SSL certificate problem: unable to get local issuer"),
			 ERROR_TLS_UNTRUSTED);
	/* the chain verified, curl's host name check did not */
	assert_int_equal(http_reason_of(CURLE_PEER_FAILED_VERIFICATION, 0, true, 0,
					"SSL: no alternative certificate subject name matches"),
			 ERROR_TLS_NAME);
	/* TLS 1.2: the server ends the handshake with an alert when it refuses our certificate */
	assert_int_equal(http_reason_of(CURLE_SSL_CONNECT_ERROR, 0, true, 0,
					"error:0A000412:SSL routines::sslv3 alert bad certificate"),
			 ERROR_TLS_CLOSED);
	/* a plain HTTP port: no TLS at all */
	assert_int_equal(http_reason_of(CURLE_SSL_CONNECT_ERROR, 0, true, 0,
					"error:0A00010B:SSL routines::wrong version number"),
			 ERROR_TLS);
	assert_int_equal(http_reason_of(CURLE_SSL_CERTPROBLEM, 0, true, 0, ""), ERROR_TLS);
	/* TLS 1.3: the refusal arrives as a dead session before any answer */
	assert_int_equal(http_reason_of(CURLE_RECV_ERROR, 0, true, 0, ""), ERROR_TLS_CLOSED);
	assert_int_equal(http_reason_of(CURLE_GOT_NOTHING, 0, true, 0, ""), ERROR_TLS_CLOSED);
	/* ... but after an answer started, or over plain HTTP, it is a broken transfer */
	assert_int_equal(http_reason_of(CURLE_RECV_ERROR, 200, true, 0, ""), ERROR_IO);
	assert_int_equal(http_reason_of(CURLE_SEND_ERROR, 0, false, 0, ""), ERROR_IO);
	assert_int_equal(http_reason_of(CURLE_WRITE_ERROR, 200, true, 0, ""), ERROR_IO);

	assert_int_equal(http_status_reason(401), ERROR_AUTH);
	assert_int_equal(http_status_reason(403), ERROR_AUTH);
	assert_int_equal(http_status_reason(404), ERROR_NOT_FOUND);
	assert_int_equal(http_status_reason(409), ERROR_EXISTS);
	assert_int_equal(http_status_reason(504), ERROR_TIMEOUT);
	assert_int_equal(http_status_reason(500), ERROR_REMOTE);
}

static void test_etcd_reasons(void **state)
{
	static const struct {
		const char *message;
		enum error_reason reason;
	} cases[] = {
	    {"etcdserver: unhealthy cluster", ERROR_UNHEALTHY},
	    {"etcdserver: no leader", ERROR_NO_LEADER},
	    {"etcdserver: can only promote a learner member which is in sync with leader",
	     ERROR_LEARNER_NOT_READY},
	    {"etcdserver: can only promote a learner member", ERROR_NOT_LEARNER},
	    {"etcdserver: too many learner members in cluster", ERROR_TOO_MANY_LEARNERS},
	    {"etcdserver: rpc not supported for learner", ERROR_LEARNER_RPC},
	    {"etcdserver: member not found", ERROR_NOT_FOUND},
	    {"etcdserver: Peer URLs already exists", ERROR_EXISTS},
	    {"etcdserver: permission denied", ERROR_AUTH},
	    {"connection closed", ERROR_GATEWAY_CLOSED},
	    {"etcdserver: request timed out", ERROR_REMOTE},
	    {NULL, ERROR_REMOTE},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(etcd_error_reason(cases[i].message), cases[i].reason);
}

static void test_aws_reasons(void **state)
{
	(void)state;
	assert_int_equal(s3_error_reason(404, "NoSuchKey"), ERROR_NOT_FOUND);
	assert_int_equal(s3_error_reason(404, NULL), ERROR_NOT_FOUND); /* HEAD: no body */
	assert_int_equal(s3_error_reason(403, "SignatureDoesNotMatch"), ERROR_AUTH);
	assert_int_equal(s3_error_reason(400, "InvalidAccessKeyId"), ERROR_AUTH);
	assert_int_equal(s3_error_reason(400, "RequestTimeout"), ERROR_TIMEOUT);
	assert_int_equal(s3_error_reason(500, "InternalError"), ERROR_REMOTE);
	assert_int_equal(kms_error_reason(400, "NotFoundException"), ERROR_NOT_FOUND);
	assert_int_equal(kms_error_reason(400, "AccessDeniedException"), ERROR_AUTH);
	assert_int_equal(kms_error_reason(400, "AlreadyExistsException"), ERROR_EXISTS);
	assert_int_equal(kms_error_reason(400, "InvalidCiphertextException"), ERROR_PROTOCOL);
	assert_int_equal(kms_error_reason(500, "KMSInternalException"), ERROR_REMOTE);
	assert_int_equal(kms_error_reason(403, NULL), ERROR_AUTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_wrap_and_names),
	    cmocka_unit_test(test_http_reasons),
	    cmocka_unit_test(test_etcd_reasons),
	    cmocka_unit_test(test_aws_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
