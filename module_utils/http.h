/*
 * http: the one way modules talk HTTP(S), over a static libcurl (OpenSSL, c-ares DNS).
 *
 * TLS verification is always on: the CA is the given file, else the system bundle
 * (/etc/ssl/certs/ca-certificates.crt, then /etc/pki/tls/certs/ca-bundle.crt). Client
 * certificates (mTLS) come from files. Every request has a total timeout. Idempotent requests
 * (GET, HEAD, or `idempotent` set) are retried on connection errors and 5xx with jittered
 * backoff. Bodies are either buffers or streamed through callbacks (constant memory).
 *
 * The response body buffer is malloc'ed and owned by the caller (http_response_free), and so
 * are the response headers (the last response's header block, bounded: HTTP_MAX_HEADERS).
 * A streamed response whose status is not 2xx is buffered into resp->body instead of reaching
 * the sink: an error document never ends up in the caller's output.
 */
#ifndef ETCD_ANSIBLE_HTTP_H
#define ETCD_ANSIBLE_HTTP_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_DEFAULT_MAX_RESPONSE (8u * 1024u * 1024u)
#define HTTP_MAX_HEADERS (64u * 1024u)

struct http_tls {
	const char *ca_file;   /* NULL: system bundle */
	const char *cert_file; /* client certificate (PEM), optional */
	const char *key_file;  /* its key (PEM, unencrypted), optional */
};

/* Streaming callbacks: return bytes produced/consumed; a short count or -1 aborts the transfer. */
typedef long (*http_read_fn)(void *ctx, char *buf, size_t len);
typedef long (*http_write_fn)(void *ctx, const char *buf, size_t len);

struct http_request {
	const char *method; /* "GET" when NULL */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const void *body;           /* request body buffer, or NULL */
	size_t body_len;
	http_read_fn read_body;     /* alternatively, a streamed body of body_len bytes */
	void *read_ctx;
	http_write_fn write_body;   /* stream the response body instead of buffering it */
	void *write_ctx;
	const struct http_tls *tls;
	long timeout_ms;            /* whole request; default 30 s */
	long connect_timeout_ms;    /* default 10 s */
	int retries;                /* extra attempts for idempotent requests; default 2 */
	bool idempotent;            /* retry even if the method is not GET/HEAD */
	size_t max_response;        /* cap on a buffered body; default HTTP_DEFAULT_MAX_RESPONSE */
};

struct http_response {
	long status;
	char *body; /* NUL-terminated, NULL when streamed */
	size_t body_len;
	char *content_type;
	char *headers; /* "Name: value\r\n" lines of the last response, NUL-terminated */
	size_t headers_len;
};

int http_request(const struct http_request *req, struct http_response *resp, struct error *err);
void http_response_free(struct http_response *resp);

/* Sleeps before retry number attempt (0, 1, ...): 200 ms doubling up to 6.4 s, half of it jitter. */
void http_backoff(int attempt);

/*
 * The value of response header `name` (case-insensitive; the first one), trimmed, as a malloc'ed
 * string the caller frees; NULL when absent (or out of memory).
 */
char *http_response_header(const struct http_response *resp, const char *name);

/*
 * JSON convenience: sends `body` (may be NULL) as application/json, parses a JSON answer into
 * *out (caller decrefs; may be NULL for an empty body). Non-2xx statuses are errors whose
 * message carries the status and the server's message when it sends one.
 */
int http_json(const char *method, const char *url, const json_t *body, const struct http_tls *tls,
	      long timeout_ms, json_t **out, struct error *err);

/*
 * The certificate a TLS server presents at url (https://host:port), as PEM (*leaf_pem, caller
 * frees), after a verified handshake with the given CA and client certificate. Nothing is sent
 * beyond the handshake. Used to compare what a server serves with the file on disk.
 */
int http_served_certificate(const char *url, const struct http_tls *tls, char **leaf_pem,
			    struct error *err);

/* The CA bundle used when none is given, or NULL if the system has none. */
const char *http_system_ca_bundle(void);

#endif
