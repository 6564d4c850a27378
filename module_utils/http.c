#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_init(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *http_system_ca_bundle(void)
{
	static const char *const bundles[] = {
		"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
		"/etc/pki/tls/certs/ca-bundle.crt",   /* RHEL, Fedora */
		"/etc/ssl/ca-bundle.pem",             /* SUSE */
		NULL,
	};

	for (const char *const *b = bundles; *b; b++)
		if (access(*b, R_OK) == 0)
			return *b;
	return NULL;
}

struct transfer {
	const struct http_request *req;
	struct http_response *resp;
	CURL *curl;
	size_t sent;
	bool too_big;
	bool callback_failed;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb, max = t->req->max_response ? t->req->max_response
							     : HTTP_DEFAULT_MAX_RESPONSE;
	long status = 0;
	char *grown;

	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	/* Only a 2xx body goes to the sink; an error document is kept for the caller to read. */
	if (t->req->write_body && status >= 200 && status <= 299) {
		long n = t->req->write_body(t->req->write_ctx, data, len);

		t->callback_failed = n < 0 || (size_t)n != len;
		return t->callback_failed ? 0 : len;
	}
	if (t->resp->body_len + len > max) {
		t->too_big = true;
		return 0;
	}
	grown = realloc(t->resp->body, t->resp->body_len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + t->resp->body_len, data, len);
	t->resp->body = grown;
	t->resp->body_len += len;
	grown[t->resp->body_len] = '\0';
	return len;
}

/* Keeps the header block of the last response (a new status line starts it over). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb;
	char *grown;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		t->resp->headers_len = 0;
	if (t->resp->headers_len + len > HTTP_MAX_HEADERS)
		return len; /* past the bound: ignored, not an error */
	grown = realloc(t->resp->headers, t->resp->headers_len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + t->resp->headers_len, data, len);
	t->resp->headers = grown;
	t->resp->headers_len += len;
	grown[t->resp->headers_len] = '\0';
	return len;
}

static size_t on_upload(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t room = size * nmemb;

	if (t->req->read_body) {
		long n = t->req->read_body(t->req->read_ctx, buf, room);

		if (n < 0) {
			t->callback_failed = true;
			return CURL_READFUNC_ABORT;
		}
		return (size_t)n;
	}
	if (room > t->req->body_len - t->sent)
		room = t->req->body_len - t->sent;
	memcpy(buf, (const char *)t->req->body + t->sent, room);
	t->sent += room;
	return room;
}

static struct curl_slist *build_headers(const struct http_request *req)
{
	struct curl_slist *list = NULL, *next;

	for (const char *const *h = req->headers; h && *h; h++) {
		next = curl_slist_append(list, *h);
		if (!next) {
			curl_slist_free_all(list);
			return NULL;
		}
		list = next;
	}
	/* No "Expect: 100-continue" round trip: our peers answer directly. */
	next = curl_slist_append(list, "Expect:");
	if (!next)
		curl_slist_free_all(list);
	return next;
}

static void set_tls(CURL *curl, const struct http_tls *tls)
{
	const char *ca = tls && tls->ca_file ? tls->ca_file : http_system_ca_bundle();

	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (ca)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
	if (tls && tls->cert_file)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->cert_file);
	if (tls && tls->key_file)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->key_file);
}

static void set_body(CURL *curl, const struct http_request *req, const char *method)
{
	bool has_body = req->body || req->read_body;

	if (strcmp(method, "GET") == 0 && !has_body)
		return;
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		return;
	}
	if (strcmp(method, "PUT") == 0 || (has_body && strcmp(method, "POST") != 0)) {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
	} else {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static CURL *prepare(const struct http_request *req, struct transfer *t, struct curl_slist *headers)
{
	const char *method = req->method ? req->method : "GET";
	CURL *curl = curl_easy_init();

	if (!curl)
		return NULL;
	t->curl = curl;
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* The path goes out as given: a signed request (SigV4 signs the path) must not have its
	 * "/./" or "/../" squashed on the way, which libcurl does by default. */
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload);
	curl_easy_setopt(curl, CURLOPT_READDATA, t);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "etcd-ansible");
	set_tls(curl, req->tls);
	set_body(curl, req, method);
	return curl;
}

static bool is_idempotent(const struct http_request *req)
{
	const char *method = req->method ? req->method : "GET";

	return req->idempotent || strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Worth another attempt: the server never saw the request, or said it failed on its side. */
static bool retryable(CURLcode code, long status)
{
	switch (code) {
	case CURLE_OK: return status >= 500;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: return true;
	default: return false;
	}
}

void http_backoff(int attempt)
{
	unsigned int jitter = 0;
	long ms = 200L << (attempt < 5 ? attempt : 5);
	struct timespec ts;

	if (getrandom(&jitter, sizeof(jitter), 0) < 0)
		jitter = 0;
	ms = ms / 2 + (long)(jitter % (unsigned int)(ms / 2 + 1));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static void reset_response(struct http_response *resp)
{
	free(resp->body);
	free(resp->content_type);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

static int perform_once(const struct http_request *req, struct http_response *resp,
			struct curl_slist *headers, CURLcode *code, struct error *err)
{
	struct transfer t = { .req = req, .resp = resp };
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *type = NULL;
	CURL *curl;

	reset_response(resp);
	curl = prepare(req, &t, headers);
	if (!curl)
		return error_set(err, -ENOMEM, "%s: cannot set up the HTTP client", req->url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	*code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
		resp->content_type = strdup(type);
	curl_easy_cleanup(curl);
	if (*code == CURLE_OK)
		return 0;
	if (t.too_big)
		return error_set(err, -EFBIG, "%s: response larger than the limit", req->url);
	if (t.callback_failed)
		return error_set(err, -EIO, "%s: transfer aborted by the local stream", req->url);
	return error_set(err, -EIO, "%s: %s", req->url,
			 errbuf[0] ? errbuf : curl_easy_strerror(*code));
}

int http_request(const struct http_request *req, struct http_response *resp, struct error *err)
{
	int attempts = 1 + (is_idempotent(req) && !req->read_body ? (req->retries ? req->retries : 2)
								  : 0);
	struct curl_slist *headers = NULL;
	CURLcode code = CURLE_OK;
	int rc = 0;

	memset(resp, 0, sizeof(*resp));
	pthread_once(&curl_once, curl_init);
	if (curl_init_code != CURLE_OK)
		return error_set(err, -EIO, "cannot initialise libcurl: %s",
				 curl_easy_strerror(curl_init_code));
	headers = build_headers(req);
	if (!headers)
		return error_set(err, -ENOMEM, "%s: out of memory", req->url);
	for (int attempt = 0; attempt < attempts; attempt++) {
		if (attempt > 0)
			http_backoff(attempt);
		rc = perform_once(req, resp, headers, &code, err);
		if (!retryable(code, resp->status) || req->write_body)
			break;
	}
	curl_slist_free_all(headers);
	return rc;
}

void http_response_free(struct http_response *resp)
{
	reset_response(resp);
}

char *http_response_header(const struct http_response *resp, const char *name)
{
	size_t name_len = strlen(name);
	const char *line = resp->headers;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t line_len = end ? (size_t)(end - line) : strlen(line);

		if (line_len > name_len && strncasecmp(line, name, name_len) == 0 &&
		    line[name_len] == ':') {
			const char *v = line + name_len + 1, *stop = line + line_len;

			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			while (stop > v && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
				stop--;
			return strndup(v, (size_t)(stop - v));
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Best message from an error body: JSON {"message"|"error"|"msg": ...} or the text itself. */
static void describe_failure(const struct http_response *resp, char *out, size_t size)
{
	json_t *doc = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
	const char *msg = NULL;

	for (const char *const *k = (const char *const[]){ "message", "error", "msg", NULL }; *k && !msg;
	     k++)
		msg = json_string_value(json_object_get(doc, *k));
	if (!msg)
		msg = resp->body ? resp->body : "";
	snprintf(out, size, "%.300s", msg);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	json_decref(doc);
}

int http_json(const char *method, const char *url, const json_t *body, const struct http_tls *tls,
	      long timeout_ms, json_t **out, struct error *err)
{
	static const char *const headers[] = { "Content-Type: application/json",
					       "Accept: application/json", NULL };
	struct http_request req = { .method = method, .url = url, .headers = headers, .tls = tls,
				    .timeout_ms = timeout_ms };
	struct http_response resp;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char detail[320];
	json_error_t jerr;
	int rc;

	*out = NULL;
	if (body && !text)
		return error_set(err, -ENOMEM, "%s: out of memory", url);
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	rc = http_request(&req, &resp, err);
	if (rc < 0)
		goto out;
	if (resp.status < 200 || resp.status > 299) {
		describe_failure(&resp, detail, sizeof(detail));
		rc = error_set(err, -EPROTO, "%s %s: HTTP %ld: %s", method, url, resp.status, detail);
		goto out;
	}
	if (resp.body_len) {
		*out = json_loadb(resp.body, resp.body_len, 0, &jerr);
		if (!*out)
			rc = error_set(err, -EPROTO, "%s %s: invalid JSON in the answer: %s", method,
				       url, jerr.text);
	}
out:
	if (text) {
		/* Request bodies may hold tokens: wipe before freeing. */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	http_response_free(&resp);
	return rc;
}

/* The "Cert" field of the first certificate in curl's certinfo (the server's leaf). */
static char *leaf_from_certinfo(const struct curl_certinfo *info)
{
	if (!info || info->num_of_certs < 1)
		return NULL;
	for (const struct curl_slist *f = info->certinfo[0]; f; f = f->next)
		if (strncmp(f->data, "Cert:", 5) == 0)
			return strdup(f->data + 5);
	return NULL;
}

int http_served_certificate(const char *url, const struct http_tls *tls, char **leaf_pem,
			    struct error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_certinfo *info = NULL;
	CURLcode code;
	CURL *curl;
	int rc = 0;

	*leaf_pem = NULL;
	pthread_once(&curl_once, curl_init);
	curl = curl_easy_init();
	if (!curl)
		return error_set(err, -ENOMEM, "%s: cannot set up the HTTP client", url);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	set_tls(curl, tls);
	code = curl_easy_perform(curl);
	if (code != CURLE_OK)
		rc = error_set(err, -EIO, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(code));
	else if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK ||
		 !(*leaf_pem = leaf_from_certinfo(info)))
		rc = error_set(err, -EPROTO, "%s: the server presented no certificate", url);
	curl_easy_cleanup(curl);
	return rc;
}
