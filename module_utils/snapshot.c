/*
 * snapshot: etcd snapshots streamed from the JSON gateway into a sink, and snapshot files checked
 * as etcdctl/etcdutl restore checks them. See snapshot.h for the protocol and the sink contract.
 */
#include "snapshot.h"

#include "b64.h"
#include "buf.h"
#include "fs.h"
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_STREAM_TIMEOUT_MS (3600L * 1000L)
#define DEFAULT_CALL_TIMEOUT_MS 5000L
#define READ_CHUNK (64u * 1024u)

/* bbolt page.go: a page header is id u64, flags u16, count u16, overflow u32. */
#define BOLT_PAGE_HEADER 16u
/* bbolt db.go meta: magic, version, pageSize, flags (u32 each), root bucket (16), freelist,
 * pgid, txid, checksum (u64 each); the checksum covers the 56 bytes before it. */
#define BOLT_META_SIZE 64u
#define BOLT_META_SUMMED 56u
#define BOLT_NO_FREELIST UINT64_MAX

char *snapshot_hex(const unsigned char sha256[SNAPSHOT_HASH_SIZE], char *hex)
{
	hex_encode(sha256, SNAPSHOT_HASH_SIZE, hex);
	return hex;
}

/* ---- the answer's parser ------------------------------------------------------------------ */

int snapshot_parser_init(struct snapshot_parser *p, const struct snapshot_sink *sink,
			 struct error *err)
{
	memset(p, 0, sizeof(*p));
	p->sink = sink;
	p->body_md = EVP_MD_CTX_new();
	p->all_md = EVP_MD_CTX_new();
	p->blob = malloc(SNAPSHOT_FAST_BLOB_MAX);
	if (!p->blob || !p->body_md || !p->all_md ||
	    !EVP_DigestInit_ex(p->body_md, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(p->all_md, EVP_sha256(), NULL)) {
		snapshot_parser_free(p);
		return error_set(err, -ENOMEM, "cannot set up SHA-256");
	}
	return 0;
}

void snapshot_parser_free(struct snapshot_parser *p)
{
	free(p->line);
	free(p->blob);
	EVP_MD_CTX_free(p->body_md);
	EVP_MD_CTX_free(p->all_md);
	p->line = NULL;
	p->blob = NULL;
	p->body_md = p->all_md = NULL;
}

/*
 * Gives decoded bytes to the sink and the digest. The body digest lags 32 bytes behind: the last
 * 32 bytes of the stream are the hash, so they must never enter it, and which 32 are last is known
 * only at the end. The digest of the whole stream is not a second pass over the same bytes: at the
 * end it is a copy of the body's state fed the last 32 (hash each byte once).
 */
static int deliver(struct snapshot_parser *p, const unsigned char *data, size_t n,
		   struct error *err)
{
	size_t total = p->tail_len + n, flush, from_tail, from_data;
	int rc;

	if (n == 0)
		return 0;
	rc = p->sink->write(p->sink->ctx, data, n, err);
	if (rc < 0) {
		p->sink_failed = true;
		return rc;
	}
	p->size += n;
	if (total <= SNAPSHOT_HASH_SIZE) {
		memcpy(p->tail + p->tail_len, data, n);
		p->tail_len = total;
		return 0;
	}
	flush = total - SNAPSHOT_HASH_SIZE;
	from_tail = flush < p->tail_len ? flush : p->tail_len;
	from_data = flush - from_tail;
	if (!EVP_DigestUpdate(p->body_md, p->tail, from_tail) ||
	    !EVP_DigestUpdate(p->body_md, data, from_data))
		return error_set(err, -EIO, "SHA-256 failed");
	memmove(p->tail, p->tail + from_tail, p->tail_len - from_tail);
	memcpy(p->tail + (p->tail_len - from_tail), data + from_data, n - from_data);
	p->tail_len = SNAPSHOT_HASH_SIZE;
	return 0;
}

/*
 * etcd's message from an error line: {"error":{"message":...}} after a 200 (grpc-gateway v1
 * StreamError), {"error":"...","message":"..."} before it.
 */
static int remote_error(struct snapshot_parser *p, const json_t *doc, const json_t *error,
			struct error *err)
{
	const char *msg = json_string_value(json_object_get(error, "message"));

	if (!msg)
		msg = json_string_value(json_object_get(doc, "message"));
	if (!msg)
		msg = json_string_value(error);
	p->remote_error = true;
	return error_set(err, ETCD_EREMOTE, "etcd: %.400s",
			 msg ? msg : "(an error without message)");
}

/*
 * The fast way through a chunk line (jansson and a strict decoder spent 70% of the CPU on 44 KB
 * strings): the blob is cut out of the line, the rest - small - is parsed by jansson as usual
 * and must be a result whose blob is then "", and the blob is decoded by b64_decode_into (one
 * table lookup per character). A base64 string needs no JSON escapes, so the cut is exact;
 * anything unexpected (an escape - its backslash is no base64 character -, a second "blob" key,
 * a line of another shape, a character or padding b64_decode refuses) returns 1 and the line
 * takes the general way. Returns 0 when the line was handled, 1, or -errno.
 */
static int parse_chunk_fast(struct snapshot_parser *p, const char *text, size_t len,
			    struct error *err)
{
	static const char key[] = "\"blob\":\"";
	const char *start = memmem(text, len, key, sizeof(key) - 1), *end;
	char rest[256];
	size_t blob_len;
	const json_t *result;
	json_t *doc;
	long decoded;
	int n;

	if (!start)
		return 1;
	start += sizeof(key) - 1;
	end = memchr(start, '"', len - (size_t)(start - text));
	if (!end || (size_t)(len - (size_t)(end - start)) >= sizeof(rest))
		return 1;
	blob_len = (size_t)(end - start);
	memcpy(rest, text, (size_t)(start - text));
	memcpy(rest + (start - text), end, len - (size_t)(start - text) - blob_len);
	doc = json_loadb(rest, len - blob_len, 0, NULL);
	result = json_object_get(doc, "result");
	n = json_is_object(result) && !json_object_get(doc, "error") &&
	    json_is_string(json_object_get(result, "blob")) &&
	    json_string_length(json_object_get(result, "blob")) == 0;
	json_decref(doc);
	if (!n)
		return 1;
	if (blob_len / 4 * 3 > SNAPSHOT_FAST_BLOB_MAX)
		return 1;
	/* Strict as b64_decode: a blob it refuses takes the general way and is refused there. */
	decoded = b64_decode_into(start, blob_len, p->blob);
	if (decoded < 0)
		return 1;
	p->messages++;
	return deliver(p, p->blob, (size_t)decoded, err);
}

static int parse_line(struct snapshot_parser *p, const char *text, size_t len, struct error *err)
{
	const json_t *error, *result, *blob;
	unsigned char *bytes = NULL;
	size_t n_bytes = 0;
	json_error_t jerr;
	json_t *doc;
	int rc = 0;

	while (len && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	rc = parse_chunk_fast(p, text, len, err);
	if (rc <= 0)
		return rc;
	rc = 0;
	doc = json_loadb(text, len, 0, &jerr);
	if (!doc)
		return error_set(err, -EPROTO, "message %llu is not JSON: %s",
				 (unsigned long long)p->messages + 1, jerr.text);
	error = json_object_get(doc, "error");
	result = json_object_get(doc, "result");
	blob = json_object_get(result, "blob");
	if (error) {
		rc = remote_error(p, doc, error, err);
	} else if (!json_is_object(result) || (blob && !json_is_string(blob))) {
		rc = error_set(err, -EPROTO, "message %llu is not a snapshot chunk",
			       (unsigned long long)p->messages + 1);
	} else if (blob) {
		rc = b64_decode(json_string_value(blob), &bytes, &n_bytes, err);
		if (rc < 0)
			rc = error_wrap(err, -EPROTO, "message %llu: blob",
					(unsigned long long)p->messages + 1);
		else
			rc = deliver(p, bytes, n_bytes, err);
	}
	if (rc == 0)
		p->messages++;
	free(bytes);
	json_decref(doc);
	return rc < 0 ? rc : 0;
}

/* Appends to the pending line, growing it up to SNAPSHOT_LINE_MAX. */
static int line_append(struct snapshot_parser *p, const char *data, size_t len, struct error *err)
{
	if (len > SNAPSHOT_LINE_MAX - p->line_len)
		return error_set(err, -EPROTO,
				 "a message longer than %u bytes: not a snapshot stream",
				 SNAPSHOT_LINE_MAX);
	if (p->line_len + len > p->line_cap) {
		size_t cap = p->line_cap ? p->line_cap : 64u * 1024u;
		char *grown;

		while (cap < p->line_len + len)
			cap *= 2;
		if (cap > SNAPSHOT_LINE_MAX)
			cap = SNAPSHOT_LINE_MAX;
		grown = realloc(p->line, cap);
		if (!grown)
			return error_set(err, -ENOMEM, "out of memory");
		p->line = grown;
		p->line_cap = cap;
	}
	memcpy(p->line + p->line_len, data, len);
	p->line_len += len;
	return 0;
}

int snapshot_parser_feed(struct snapshot_parser *p, const char *data, size_t len, struct error *err)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t part = nl ? (size_t)(nl - data) : len;
		int rc;

		if (!nl)
			return line_append(p, data, len, err);
		if (p->line_len == 0) {
			rc = parse_line(p, data, part, err); /* a whole line in this piece */
		} else {
			rc = line_append(p, data, part, err);
			if (rc == 0)
				rc = parse_line(p, p->line, p->line_len, err);
			p->line_len = 0;
		}
		if (rc < 0)
			return rc;
		data += part + 1;
		len -= part + 1;
	}
	return 0;
}

int snapshot_parser_finish(struct snapshot_parser *p, unsigned char sha256[SNAPSHOT_HASH_SIZE],
			   struct error *err)
{
	unsigned char body[SNAPSHOT_HASH_SIZE];
	unsigned int n = 0;
	int rc = 0;

	if (p->line_len) {
		rc = parse_line(p, p->line, p->line_len, err);
		p->line_len = 0;
		if (rc < 0)
			return rc;
	}
	if (p->messages == 0)
		return error_set(err, -EPROTO, "the answer holds no snapshot data");
	if (p->size < SNAPSHOT_HASH_SIZE)
		return error_set(err, -EBADMSG, "truncated snapshot: %llu bytes",
				 (unsigned long long)p->size);
	if (!EVP_MD_CTX_copy_ex(p->all_md, p->body_md) ||
	    !EVP_DigestFinal_ex(p->body_md, body, &n) ||
	    !EVP_DigestUpdate(p->all_md, p->tail, SNAPSHOT_HASH_SIZE) ||
	    !EVP_DigestFinal_ex(p->all_md, sha256, &n))
		return error_set(err, -EIO, "SHA-256 failed");
	if (memcmp(body, p->tail, SNAPSHOT_HASH_SIZE) != 0)
		return error_set(err, -EBADMSG,
				 "the snapshot's trailing SHA-256 does not match its %llu bytes "
				 "(corrupt or truncated stream)",
				 (unsigned long long)(p->size - SNAPSHOT_HASH_SIZE));
	return 0;
}

/* ---- streaming from etcd ------------------------------------------------------------------ */

struct stream {
	struct snapshot_parser parser;
	struct error err; /* the parser's error, which beats curl's "aborted" */
	int rc;
};

static long on_answer(void *ctx, const char *buf, size_t len)
{
	struct stream *s = ctx;

	if (s->rc == 0)
		s->rc = snapshot_parser_feed(&s->parser, buf, len, &s->err);
	return s->rc < 0 ? -1 : (long)len;
}

/* header.revision of a linearizable count_only range on the key "\0" at endpoint. */
static int read_revision(const struct etcd_client *c, const char *endpoint, uint64_t *revision,
			 struct error *err)
{
	json_t *body = json_pack("{s:s, s:b}", "key", "AA==", "count_only", 1), *answer = NULL;
	int rc;

	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = etcd_post(c, endpoint, "kv/range", body, &answer, err);
	if (rc == 0 &&
	    etcd_uint64_from_json(json_object_get(json_object_get(answer, "header"), "revision"),
				  revision) < 0)
		rc = error_set(err, -EPROTO, "%s: kv/range: no revision in the answer", endpoint);
	json_decref(answer);
	json_decref(body);
	return rc;
}

int snapshot_stream(const struct etcd_client *c, const char *endpoint, long timeout_ms,
		    const struct snapshot_sink *sink, struct snapshot_result *out,
		    struct error *err)
{
	static const char *const headers[] = {"Content-Type: application/json",
					      "Accept: application/json", NULL};
	size_t ep_len = strlen(endpoint);
	struct http_request req = {
	    .method = "POST",
	    .headers = headers,
	    .body = "{}",
	    .body_len = 2,
	    .tls = &c->tls,
	    .timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_STREAM_TIMEOUT_MS,
	    .connect_timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_CALL_TIMEOUT_MS};
	struct http_response resp = {0};
	struct stream s = {.rc = 0};
	char *url = NULL;
	int rc;

	out->endpoint = endpoint;
	out->size = 0;
	rc = read_revision(c, endpoint, &out->revision, err);
	/* a peer that rejects our client certificate ends the TLS session after the handshake
	 * (TLS 1.3 checks it late): http.c says ERROR_TLS_CLOSED */
	if (rc < 0 && rc != ETCD_EREMOTE && c->tls.cert_file && error_is_tls(err))
		error_wrap(err, rc,
			   "%s: the TLS session was refused (are client_cert/client_key "
			   "signed by a CA the endpoint trusts, and does ca_cert sign its server "
			   "certificate?)",
			   endpoint);
	if (rc < 0)
		return rc;
	while (ep_len && endpoint[ep_len - 1] == '/')
		ep_len--;
	if (asprintf(&url, "%.*s/v3/maintenance/snapshot", (int)ep_len, endpoint) < 0)
		return error_set(err, -ENOMEM, "out of memory");
	rc = snapshot_parser_init(&s.parser, sink, err);
	if (rc < 0)
		goto out;
	req.url = url;
	req.write_body = on_answer;
	req.write_ctx = &s;
	rc = http_request(&req, &resp, err);
	out->size = s.parser.size;
	if (s.parser.sink_failed) {
		rc = -EPIPE;
		if (err)
			*err = s.err;
	} else if (resp.status != 0 && resp.status != 200) {
		/* etcd's refusal: seen by the parser, or (http.c keeping non-2xx bodies from the
		 * sink) buffered in resp.body. */
		if (!s.parser.remote_error && resp.body)
			etcd_error_text(resp.body, resp.body_len, s.err.msg, sizeof(s.err.msg));
		rc = error_set(err, s.parser.remote_error || resp.body ? ETCD_EREMOTE : -EPROTO,
			       "%s: snapshot: HTTP %ld: %s", endpoint, resp.status,
			       s.parser.remote_error || resp.body ? s.err.msg : "no message");
	} else if (s.rc < 0) {
		rc = s.rc;
		error_set(err, rc, "%s: snapshot: %s", endpoint, s.err.msg);
	} else if (rc < 0) {
		error_wrap(err, rc, "snapshot cut after %llu bytes",
			   (unsigned long long)s.parser.size);
	} else {
		rc = snapshot_parser_finish(&s.parser, out->sha256, err);
		if (rc < 0)
			error_wrap(err, rc, "%s: snapshot", endpoint);
	}
	out->size = s.parser.size;
out:
	snapshot_parser_free(&s.parser);
	http_response_free(&resp);
	free(url);
	return rc;
}

/* Index of the first endpoint that answers /health true, or n when none does. */
static size_t first_healthy(const struct etcd_client *c)
{
	struct error ignored;

	for (size_t i = 0; i < c->n_endpoints; i++)
		if (etcd_health(c, c->endpoints[i], &ignored) == 0)
			return i;
	return c->n_endpoints;
}

int snapshot_fetch(const struct etcd_client *c, long timeout_ms, const struct snapshot_sink *sink,
		   struct snapshot_result *out, struct error *err)
{
	size_t healthy = first_healthy(c), start = healthy < c->n_endpoints ? healthy : 0;
	char summary[ERROR_MSG_MAX] = "";
	bool dirty = false; /* the sink holds bytes of a failed attempt */
	size_t used = 0;
	struct error one;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (c->n_endpoints == 0)
		return error_set(err, -EINVAL, "no endpoints given");
	/* The healthy one first, then the others in their listed order. */
	for (size_t k = 0; k < c->n_endpoints; k++) {
		size_t i = k == 0 ? start : (k <= start ? k - 1 : k);

		if (dirty) {
			if (!sink->reset)
				return error_set(err, rc,
						 "%s; not retried: the sink cannot start over",
						 summary);
			rc = sink->reset(sink->ctx, err);
			if (rc < 0)
				return error_wrap(err, rc, "restarting the sink after: %s",
						  summary);
		}
		out->attempts++;
		rc = snapshot_stream(c, c->endpoints[i], timeout_ms, sink, out, &one);
		if (rc == 0) {
			out->endpoint_healthy =
			    i == healthy || etcd_health(c, c->endpoints[i], &one) == 0;
			memcpy(out->failures, summary, sizeof(out->failures));
			return 0;
		}
		if (rc == -EPIPE) {
			if (err)
				*err = one;
			return rc;
		}
		dirty = out->size > 0;
		if (used < sizeof(summary))
			used += (size_t)snprintf(summary + used, sizeof(summary) - used, "%s%s",
						 used ? "; " : "", one.msg);
	}
	return error_set(err, rc, "no endpoint delivered a snapshot: %s", summary);
}

/* ---- snapshot files ----------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const unsigned char *b)
{
	return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
}

/* FNV-1a 64 (bbolt meta.sum64 uses hash/fnv New64a). */
static uint64_t fnv1a64(const unsigned char *data, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= data[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int snapshot_bolt_meta_parse(const unsigned char *page, size_t len, struct snapshot_bolt_meta *out,
			     struct error *err)
{
	const unsigned char *m = page + BOLT_PAGE_HEADER;

	memset(out, 0, sizeof(*out));
	if (len < BOLT_PAGE_HEADER + BOLT_META_SIZE)
		return error_set(err, -EBADMSG, "too short for a meta page");
	out->magic = le32(m);
	out->version = le32(m + 4);
	out->page_size = le32(m + 8);
	out->flags = le32(m + 12);
	out->root = le64(m + 16);
	out->freelist = le64(m + 32);
	out->pgid = le64(m + 40);
	out->txid = le64(m + 48);
	out->checksum = le64(m + 56);
	if (out->magic != SNAPSHOT_BOLT_MAGIC)
		return error_set(err, -EBADMSG, "bad magic 0x%08x (a bbolt file has 0x%08x)",
				 out->magic, SNAPSHOT_BOLT_MAGIC);
	if (out->version != SNAPSHOT_BOLT_VERSION)
		return error_set(err, -EBADMSG, "version %u (etcd's bbolt files are version %u)",
				 out->version, SNAPSHOT_BOLT_VERSION);
	if (fnv1a64(m, BOLT_META_SUMMED) != out->checksum)
		return error_set(err, -EBADMSG, "checksum mismatch");
	if (out->page_size < 512 || (out->page_size & (out->page_size - 1)) != 0)
		return error_set(err, -EBADMSG, "page size %u is not a power of two >= 512",
				 out->page_size);
	return 0;
}

/*
 * Meta 1 sits one page after meta 0. When meta 0 is damaged its page size is unknown: bbolt then
 * uses the OS page size; try the sizes bbolt files are made with.
 */
static void read_metas(int fd, uint64_t size, struct snapshot_bolt_meta meta[2], bool ok[2],
		       struct error errs[2])
{
	static const uint32_t sizes[] = {4096, 8192, 16384, 32768, 65536, 0};
	unsigned char page[BOLT_PAGE_HEADER + BOLT_META_SIZE];

	ok[0] = size >= sizeof(page) && fs_read_at(fd, page, sizeof(page), 0) == 0 &&
		snapshot_bolt_meta_parse(page, sizeof(page), &meta[0], &errs[0]) == 0;
	if (size < sizeof(page))
		error_set(&errs[0], -EBADMSG, "file too short");
	ok[1] = false;
	error_set(&errs[1], -EBADMSG, "not found at any page size");
	for (const uint32_t *ps = ok[0] ? &meta[0].page_size : sizes; *ps && !ok[1]; ps++) {
		if (size < (uint64_t)*ps + sizeof(page) ||
		    fs_read_at(fd, page, sizeof(page), *ps) < 0)
			break;
		ok[1] = snapshot_bolt_meta_parse(page, sizeof(page), &meta[1], &errs[1]) == 0 &&
			meta[1].page_size == *ps;
		if (ok[0])
			break;
	}
}

/* Both digests over the whole file: body = all but the last 32 bytes when the hash is there. */
static int hash_file(int fd, const char *name, uint64_t size, uint64_t body_len,
		     unsigned char all[SNAPSHOT_HASH_SIZE], unsigned char body[SNAPSHOT_HASH_SIZE],
		     unsigned char trailer[SNAPSHOT_HASH_SIZE], struct error *err)
{
	EVP_MD_CTX *all_md = EVP_MD_CTX_new(), *body_md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(READ_CHUNK);
	uint64_t offset = 0;
	unsigned int n = 0;
	int rc = 0;

	if (!all_md || !body_md || !buf || !EVP_DigestInit_ex(all_md, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(body_md, EVP_sha256(), NULL)) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (offset < size) {
		size_t len = size - offset < READ_CHUNK ? (size_t)(size - offset) : READ_CHUNK;
		size_t in_body = offset >= body_len	   ? 0
				 : body_len - offset < len ? (size_t)(body_len - offset)
							   : len;

		rc = fs_read_at(fd, buf, len, offset);
		if (rc < 0) {
			error_set(err, rc, "%s: read failed at %llu", name,
				  (unsigned long long)offset);
			goto out;
		}
		EVP_DigestUpdate(body_md, buf, in_body);
		/* The trailer: whatever of the last 32 bytes this piece holds. */
		for (size_t i = in_body; i < len; i++)
			trailer[offset + i - body_len] = buf[i];
		offset += len;
	}
	/* The whole file's digest: the body's state plus the trailer bytes, not a second pass. */
	if (!EVP_MD_CTX_copy_ex(all_md, body_md) ||
	    !EVP_DigestUpdate(all_md, trailer, (size_t)(size - body_len)) ||
	    !EVP_DigestFinal_ex(all_md, all, &n) || !EVP_DigestFinal_ex(body_md, body, &n))
		rc = error_set(err, -EIO, "SHA-256 failed");
out:
	free(buf);
	EVP_MD_CTX_free(all_md);
	EVP_MD_CTX_free(body_md);
	return rc;
}

/* The chosen meta against the file: enough pages for its high-water mark, roots inside. */
static int check_meta_fits(const struct snapshot_bolt_meta *meta, uint64_t data_size,
			   const char *name, struct error *err)
{
	if (meta->pgid > data_size / meta->page_size)
		return error_set(err, -EBADMSG,
				 "%s: truncated: the bbolt meta counts %llu pages of %u bytes, the "
				 "file holds %llu bytes of pages",
				 name, (unsigned long long)meta->pgid, meta->page_size,
				 (unsigned long long)data_size);
	if (meta->root >= meta->pgid ||
	    (meta->freelist != BOLT_NO_FREELIST && meta->freelist >= meta->pgid))
		return error_set(err, -EBADMSG,
				 "%s: the bbolt meta points past its last page (root %llu, "
				 "freelist %llu, %llu pages)",
				 name, (unsigned long long)meta->root,
				 (unsigned long long)meta->freelist,
				 (unsigned long long)meta->pgid);
	return 0;
}

int snapshot_fd_verify(int fd, const char *name, bool skip_hash, bool allow_no_hash,
		       struct snapshot_file_info *out, struct error *err)
{
	unsigned char body[SNAPSHOT_HASH_SIZE], trailer[SNAPSHOT_HASH_SIZE];
	struct snapshot_bolt_meta meta[2];
	struct error errs[2];
	uint64_t data_size;
	struct stat st;
	int rc, use;

	memset(out, 0, sizeof(*out));
	if (fstat(fd, &st) < 0)
		return error_set(err, -errno, "%s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(err, -EINVAL, "%s: not a regular file", name);
	out->size = (uint64_t)st.st_size;
	if (out->size % 512 == SNAPSHOT_HASH_SIZE)
		out->hash_present = true;
	else if (out->size % 512 != 0)
		return error_set(
		    err, -EBADMSG,
		    "%s: %llu bytes is neither whole 512-byte pages nor pages + etcd's "
		    "32-byte hash: truncated or not a snapshot",
		    name, (unsigned long long)out->size);
	data_size = out->size - (out->hash_present ? SNAPSHOT_HASH_SIZE : 0);
	read_metas(fd, data_size, meta, out->meta_ok, errs);
	if (!out->meta_ok[0] && !out->meta_ok[1])
		return error_set(err, -EBADMSG,
				 "%s: no valid bbolt meta page: page 0: %s; page 1: %s", name,
				 errs[0].msg, errs[1].msg);
	use = !out->meta_ok[0] || (out->meta_ok[1] && meta[1].txid > meta[0].txid) ? 1 : 0;
	out->meta_in_use = use;
	out->page_size = meta[use].page_size;
	out->txid = meta[use].txid;
	out->pgid = meta[use].pgid;
	rc = check_meta_fits(&meta[use], data_size, name, err);
	if (rc < 0)
		return rc;
	rc = hash_file(fd, name, out->size, data_size, out->sha256, body, trailer, err);
	if (rc < 0 || skip_hash)
		return rc;
	if (!out->hash_present)
		return allow_no_hash
			   ? 0
			   : error_set(err, -EBADMSG,
				       "%s: no trailing SHA-256 (a copy of a data dir's "
				       "db, not a snapshot): set skip_hash_check to use it",
				       name);
	if (memcmp(body, trailer, SNAPSHOT_HASH_SIZE) != 0)
		return error_set(
		    err, -EBADMSG,
		    "%s: the trailing SHA-256 does not match the first %llu bytes: the "
		    "file is corrupt",
		    name, (unsigned long long)data_size);
	return 0;
}

int snapshot_file_verify(const char *path, bool skip_hash, bool allow_no_hash,
			 struct snapshot_file_info *out, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		memset(out, 0, sizeof(*out));
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	}
	rc = snapshot_fd_verify(fd, path, skip_hash, allow_no_hash, out, err);
	close(fd);
	return rc;
}
