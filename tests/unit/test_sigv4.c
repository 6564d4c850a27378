/*
 * cmocka tests of SigV4 (sigv4.c): the aws-c-auth v4 signing suite (tests/unit/vectors/sigv4/,
 * see its README), the S3 documentation's examples, the URI encoder and the date format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE_DATE "20150830T123600Z"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct aws_credentials suite_creds = {.access_key_id = "AKIDEXAMPLE",
					     .secret_access_key =
						 "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};

/* A vector file, or NULL when the case does not ship it. Caller frees. */
static char *vector_read(const char *dir, const char *file)
{
	char path[1024];
	FILE *f;
	char *text;
	long len;

	snprintf(path, sizeof(path), "%.*s/vectors/sigv4/%s/%s",
		 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, dir, file);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	/* the files of the suite have no final newline; smithy-rs's copies sometimes do */
	while (len > 0 && text[len - 1] == '\n' && strstr(file, "canonical"))
		text[--len] = '\0';
	return text;
}

/* An HTTP request as the suite writes it: request line, "Name:value" lines, blank, body. */
struct parsed {
	char method[16];
	char *path, *query;
	const char *headers[16];
	char *authorization; /* the expected one, from *-signed-request.txt */
	const char *body;
	char *text;
};

static void parse_request(char *text, struct parsed *p)
{
	char *line = text, *next, *uri, *q;
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	p->text = text;
	next = strchr(line, '\n');
	assert_non_null(next);
	*next = '\0';
	uri = strchr(line, ' ');
	assert_non_null(uri);
	snprintf(p->method, sizeof(p->method), "%.*s", (int)(uri - line), line);
	uri++;
	*strrchr(uri, ' ') = '\0'; /* " HTTP/1.1" */
	q = strchr(uri, '?');
	if (q)
		*q++ = '\0';
	p->path = uri;
	p->query = q;
	for (line = next + 1; line && *line && *line != '\n'; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "Authorization:", 14) == 0)
			p->authorization = line + 14;
		else
			p->headers[n++] = line;
		assert_true(n < 15);
	}
	p->body = line && *line == '\n' ? line + 1 : "";
}

static void sign_parsed(const struct parsed *p, bool s3, const char *payload_hash,
			struct aws_signature *sig)
{
	char hash[65];
	struct error err;

	aws_sha256_hex(p->body, strlen(p->body), hash);
	assert_int_equal(
	    aws_sign(&(struct aws_sign_input){.method = p->method,
					      .path = p->path,
					      .query = p->query,
					      .headers = p->headers,
					      .payload_hash = payload_hash ? payload_hash : hash,
					      .amz_date = SUITE_DATE,
					      .region = "us-east-1",
					      .service = "service",
					      .creds = &suite_creds,
					      .s3 = s3},
		     sig, &err),
	    0);
}

static const char *const header_cases[] = {
    "get-header-value-trim",
    "get-unreserved",
    "get-utf8",
    "get-space-normalized",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-with-session-token",
    "post-sts-header-before",
    "post-x-www-form-urlencoded",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-slash-normalized",
    "get-slash-dot-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slashes-normalized",
    /* "unnormalized": the path as sent, which is what S3 signs (the paths hold no byte
     * that needs encoding, so the suite's double encoding changes nothing) */
    "get-relative-unnormalized",
    "get-relative-relative-unnormalized",
    "get-slash-unnormalized",
    "get-slash-dot-slash-unnormalized",
    "get-slash-pointless-dot-unnormalized",
    "get-slashes-unnormalized",
};

/* Every case: the Authorization header we compute is the one in header-signed-request.txt. */
static void test_suite_header_signatures(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const char *name = header_cases[i];
		char *text = vector_read(name, "header-signed-request.txt");
		struct aws_signature sig;
		struct parsed p;

		if (!text)
			fail_msg("%s: no header-signed-request.txt", name);
		parse_request(text, &p);
		assert_non_null(p.authorization);
		sign_parsed(&p, strstr(name, "-unnormalized") != NULL, NULL, &sig);
		if (strcmp(sig.authorization, p.authorization) != 0)
			fail_msg("%s:\n expected %s\n got      %s\n canonical request:\n%s", name,
				 p.authorization, sig.authorization, sig.canonical_request);
		aws_signature_free(&sig);
		free(text);
	}
}

/* The unnormalized cases differ from the normalized ones: S3 mode does not normalise. */
static void test_s3_mode_keeps_the_path(void **state)
{
	char *a = vector_read("get-slashes-unnormalized", "header-signed-request.txt");
	struct aws_signature s3_sig, normal;
	struct parsed p;
	(void)state;

	parse_request(a, &p);
	sign_parsed(&p, true, NULL, &s3_sig);
	sign_parsed(&p, false, NULL, &normal);
	assert_non_null(strstr(s3_sig.canonical_request, "GET\n//example//\n"));
	assert_non_null(strstr(normal.canonical_request, "GET\n/example/\n"));
	aws_signature_free(&s3_sig);
	aws_signature_free(&normal);
	free(a);
}

/* Canonical request and string to sign, where the suite publishes them for header signing. */
static void test_suite_canonical_requests(void **state)
{
	char *req = vector_read("get-query-plus", "request.txt");
	char *creq = vector_read("get-query-plus", "header-canonical-request.txt");
	char *sts = vector_read("get-query-plus", "header-string-to-sign.txt");
	char *sigtxt = vector_read("get-query-plus", "header-signature.txt");
	struct aws_signature sig;
	struct parsed p;
	size_t n = 0;
	(void)state;

	parse_request(req, &p);
	while (p.headers[n])
		n++;
	p.headers[n] = "X-Amz-Date:" SUITE_DATE;
	sign_parsed(&p, false, NULL, &sig);
	assert_string_equal(sig.canonical_request, creq);
	assert_string_equal(sig.string_to_sign, sts);
	assert_string_equal(sig.signature, sigtxt);
	aws_signature_free(&sig);
	free(req);
	free(creq);
	free(sts);
	free(sigtxt);

	/* post-x-www-form-urlencoded, as the suite's canonical request had it: no
	 * x-amz-content-sha256 header and the empty payload's hash */
	req = vector_read("post-x-www-form-urlencoded", "header-signed-request.txt");
	creq = vector_read("post-x-www-form-urlencoded", "header-canonical-request.txt");
	sts = vector_read("post-x-www-form-urlencoded", "header-string-to-sign.txt");
	parse_request(req, &p);
	for (n = 0; p.headers[n]; n++)
		if (strncmp(p.headers[n], "x-amz-content-sha256", 20) == 0)
			for (size_t j = n; p.headers[j]; j++)
				p.headers[j] = p.headers[j + 1];
	sign_parsed(&p, false, EMPTY_SHA256, &sig);
	assert_string_equal(sig.canonical_request, creq);
	assert_string_equal(sig.string_to_sign, sts);
	aws_signature_free(&sig);
	free(req);
	free(creq);
	free(sts);

	/* post-sts-header-before's request.txt (no date yet) signs as its signed request says */
	req = vector_read("post-sts-header-before", "request.txt");
	creq = vector_read("post-sts-header-before", "header-signed-request.txt");
	parse_request(req, &p);
	p.headers[1 + 1] = "X-Amz-Date:" SUITE_DATE;
	sign_parsed(&p, false, NULL, &sig);
	assert_non_null(strstr(creq, sig.authorization));
	aws_signature_free(&sig);
	free(req);
	free(creq);
}

/*
 * The suite's query-signing files test the same path and query canonicalisation: the request's
 * own query plus the X-Amz-* parameters a presigner adds (as that version of the suite did,
 * without X-Amz-Expires), only Host signed.
 */
static void test_suite_query_canonical_requests(void **state)
{
	static const struct {
		const char *name, *path, *query;
	} cases[] = {
	    {"get-vanilla", "/", NULL},
	    {"get-vanilla-query-order-key-case", "/", "Param2=value2&Param1=value1"},
	    {"get-utf8", "/\xe1\x88\xb4", NULL},
	    {"get-space-normalized", "/example space/", NULL},
	};
	static const char presign[] = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
				      "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&"
				      "X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host";
	const char *headers[] = {"Host:example.amazonaws.com", NULL};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char query[512], *creq = vector_read(cases[i].name, "query-canonical-request.txt");
		char *sts = vector_read(cases[i].name, "query-string-to-sign.txt");
		struct aws_signature sig;
		struct error err;

		snprintf(query, sizeof(query), "%s%s%s", presign, cases[i].query ? "&" : "",
			 cases[i].query ? cases[i].query : "");
		assert_int_equal(aws_sign(&(struct aws_sign_input){.method = "GET",
								   .path = cases[i].path,
								   .query = query,
								   .headers = headers,
								   .payload_hash = EMPTY_SHA256,
								   .amz_date = SUITE_DATE,
								   .region = "us-east-1",
								   .service = "service",
								   .creds = &suite_creds},
					  &sig, &err),
				 0);
		if (creq && strcmp(creq, sig.canonical_request) != 0)
			fail_msg("%s: expected\n%s\ngot\n%s", cases[i].name, creq,
				 sig.canonical_request);
		if (sts)
			assert_string_equal(sig.string_to_sign, sts);
		assert_true(creq || sts);
		aws_signature_free(&sig);
		free(creq);
		free(sts);
	}
}

/* get-vanilla itself: PROTOCOLS §4's "signature starts 5fa00fa31553". */
static void test_get_vanilla(void **state)
{
	const char *headers[] = {"Host:example.amazonaws.com", "X-Amz-Date:" SUITE_DATE, NULL};
	struct aws_signature sig;
	struct error err;
	(void)state;

	assert_int_equal(aws_sign(&(struct aws_sign_input){.method = "GET",
							   .path = "/",
							   .headers = headers,
							   .payload_hash = EMPTY_SHA256,
							   .amz_date = SUITE_DATE,
							   .region = "us-east-1",
							   .service = "service",
							   .creds = &suite_creds},
				  &sig, &err),
			 0);
	assert_string_equal(sig.authorization,
			    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
			    "aws4_request, SignedHeaders=host;x-amz-date, Signature="
			    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	aws_signature_free(&sig);
}

/*
 * Amazon S3 API Reference, "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk" (sig-v4-header-based-auth), Examples: AKIAIOSFODNN7EXAMPLE,
 * 20130524T000000Z, us-east-1, bucket examplebucket (virtual-hosted).
 */
static void test_s3_documentation_examples(void **state)
{
	static struct aws_credentials creds = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
					       .secret_access_key =
						   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
	static const char welcome_sha[] =
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	const char *get_object[] = {"Host: examplebucket.s3.amazonaws.com", "Range: bytes=0-9",
				    "x-amz-content-sha256: " EMPTY_SHA256,
				    "x-amz-date: 20130524T000000Z", NULL};
	const char *put_object[] = {
	    "Host: examplebucket.s3.amazonaws.com",
	    "Date: Fri, 24 May 2013 00:00:00 GMT",
	    "x-amz-date: 20130524T000000Z",
	    "x-amz-storage-class: REDUCED_REDUNDANCY",
	    "x-amz-content-sha256: "
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
	    NULL};
	const char *bucket_get[] = {"Host: examplebucket.s3.amazonaws.com",
				    "x-amz-content-sha256: " EMPTY_SHA256,
				    "x-amz-date: 20130524T000000Z", NULL};
	const struct {
		const char *method, *path, *query;
		const char *const *headers;
		const char *payload, *signature;
	} cases[] = {
	    {"GET", "/test.txt", NULL, get_object, EMPTY_SHA256,
	     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
	    {"PUT", NULL, NULL, put_object, welcome_sha,
	     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
	    {"GET", "/", "lifecycle", bucket_get, EMPTY_SHA256,
	     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
	    {"GET", "/", "prefix=J&max-keys=2", bucket_get, EMPTY_SHA256,
	     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	};
	char hash[65], *put_path = aws_uri_encode("/test$file.text", 15, true);
	(void)state;

	aws_sha256_hex("Welcome to Amazon S3.", 21, hash);
	assert_string_equal(hash, welcome_sha);
	assert_string_equal(put_path, "/test%24file.text");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aws_signature sig;
		struct error err;

		assert_int_equal(
		    aws_sign(
			&(struct aws_sign_input){.method = cases[i].method,
						 .path = cases[i].path ? cases[i].path : put_path,
						 .query = cases[i].query,
						 .headers = cases[i].headers,
						 .payload_hash = cases[i].payload,
						 .amz_date = "20130524T000000Z",
						 .region = "us-east-1",
						 .service = "s3",
						 .creds = &creds,
						 .s3 = true},
			&sig, &err),
		    0);
		if (strcmp(sig.signature, cases[i].signature) != 0)
			fail_msg("S3 example %zu: expected %s got %s\n%s", i, cases[i].signature,
				 sig.signature, sig.canonical_request);
		aws_signature_free(&sig);
	}
	free(put_path);
}

static void test_uri_encode_and_date(void **state)
{
	char *e = aws_uri_encode("a b/c~d+e%\xe1\x88\xb4", 13, true), date[17];
	char *k = aws_uri_encode("a/b", 3, false);
	(void)state;

	assert_string_equal(e, "a%20b/c~d%2Be%25%E1%88%B4");
	assert_string_equal(k, "a%2Fb");
	aws_amz_date(1440938160, date);
	assert_string_equal(date, SUITE_DATE);
	free(e);
	free(k);
}

/* S3-shaped answers: ListObjectsV2 with an escaped key, CompleteMultipartUpload's 200 error. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_vanilla),
	    cmocka_unit_test(test_suite_header_signatures),
	    cmocka_unit_test(test_s3_mode_keeps_the_path),
	    cmocka_unit_test(test_suite_canonical_requests),
	    cmocka_unit_test(test_suite_query_canonical_requests),
	    cmocka_unit_test(test_s3_documentation_examples),
	    cmocka_unit_test(test_uri_encode_and_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
