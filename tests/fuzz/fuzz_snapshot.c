/*
 * libFuzzer target for the snapshot stream parser (module_utils/snapshot.c): any bytes as the
 * answer of POST /v3/maintenance/snapshot (NDJSON, etcd's JSON gateway), and the same bytes as a
 * bbolt meta page (snapshot_bolt_meta_parse, which reads the first pages of a snapshot file).
 *
 * Checked: no crash, hang or leak, and the parser against a slow reference written from the
 * protocol (snapshot.h, docs/protocols.md, etcd JSON gateway): each line (without trailing
 * CR/spaces; blank lines skipped) is a JSON object; "error" present is a remote error; else
 * "result" must be an object whose "blob", when present, is a string of strict, padded base64 (RFC
 * 4648 §4, b64.h). The parser -- fed in pieces of a size derived from the input -- must deliver
 * exactly the reference's bytes and fail exactly when the reference fails (the fast path must never
 * accept a line the general path refuses, nor decode it differently); at finish the last 32 bytes
 * must be the SHA-256 of the others, and the digest it returns is that of the delivered bytes.
 */
#include "b64.h"
#include "snapshot.h"

#include <jansson.h>
#include <openssl/sha.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
	unsigned char *data;
	size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static int collect(void *ctx, const unsigned char *data, size_t len, struct error *err)
{
	(void)err;
	bytes_add(ctx, data, len);
	return 0;
}

/* The reference for one line: 0 (bytes appended to out, *messages counted) or -1. */
static int reference_line(const char *text, size_t len, struct bytes *out, uint64_t *messages)
{
	const json_t *result, *blob;
	unsigned char *decoded = NULL;
	size_t n = 0;
	struct error err = {0};
	json_t *doc;
	int rc = -1;

	while (len && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	doc = json_loadb(text, len, 0, NULL);
	if (!doc || json_object_get(doc, "error"))
		goto out;
	result = json_object_get(doc, "result");
	blob = json_object_get(result, "blob");
	if (!json_is_object(result) || (blob && !json_is_string(blob)))
		goto out;
	if (blob) {
		/* a NUL inside the string is no base64 */
		if (strlen(json_string_value(blob)) != json_string_length(blob) ||
		    b64_decode(json_string_value(blob), &decoded, &n, &err) < 0)
			goto out;
		bytes_add(out, decoded, n);
	}
	(*messages)++;
	rc = 0;
out:
	free(decoded);
	json_decref(doc);
	return rc;
}

/* The whole answer: 0 when every line is good; out holds the bytes of the good lines before. */
static int reference(const char *data, size_t size, struct bytes *out, uint64_t *messages)
{
	while (size) {
		const char *nl = memchr(data, '\n', size);
		size_t part = nl ? (size_t)(nl - data) : size;

		if (part > SNAPSHOT_LINE_MAX || reference_line(data, part, out, messages) < 0)
			return -1;
		if (!nl)
			break;
		data += part + 1;
		size -= part + 1;
	}
	return 0;
}

static void check_bolt(const uint8_t *data, size_t size)
{
	struct snapshot_bolt_meta meta;
	struct error err = {0};

	if (snapshot_bolt_meta_parse(data, size, &meta, &err) == 0 &&
	    (meta.magic != SNAPSHOT_BOLT_MAGIC || meta.version != SNAPSHOT_BOLT_VERSION ||
	     meta.page_size < 512 || (meta.page_size & (meta.page_size - 1)) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes got = {0}, want = {0};
	const struct snapshot_sink sink = {collect, NULL, &got};
	struct snapshot_parser p;
	struct error err = {0};
	unsigned char sha[SNAPSHOT_HASH_SIZE], expect[SNAPSHOT_HASH_SIZE];
	uint64_t messages = 0;
	size_t chunk = size % 2 ? size : 1 + size % 4099;
	int rc = 0, ref;

	check_bolt(data, size);

	if (snapshot_parser_init(&p, &sink, &err) < 0)
		abort();
	for (size_t off = 0; off < size && rc == 0;) {
		size_t n = size - off > chunk ? chunk : size - off;

		rc = snapshot_parser_feed(&p, (const char *)data + off, n, &err);
		off += n;
	}
	if (rc == 0)
		rc = snapshot_parser_finish(&p, sha, &err);
	if (rc > 0)
		abort();

	ref = reference((const char *)data, size, &want, &messages);
	if (got.len != want.len || (got.len && memcmp(got.data, want.data, got.len) != 0)) {
		fprintf(stderr, "fuzz_snapshot: parser delivered %zu bytes, reference %zu (%s)\n",
			got.len, want.len, err.msg);
		abort();
	}
	if (ref == 0 && messages > 0 && want.len >= SNAPSHOT_HASH_SIZE) {
		SHA256(want.data, want.len - SNAPSHOT_HASH_SIZE, expect);
		ref = memcmp(expect, want.data + want.len - SNAPSHOT_HASH_SIZE,
			     SNAPSHOT_HASH_SIZE) == 0
			  ? 0
			  : -1;
	} else if (ref == 0) {
		ref = -1; /* no message or too short for the trailing hash */
	}
	if ((rc == 0) != (ref == 0)) {
		fprintf(stderr, "fuzz_snapshot: parser rc %d (%s), reference %d\n", rc, err.msg,
			ref);
		abort();
	}
	if (rc == 0) {
		SHA256(got.data, got.len, expect);
		if (memcmp(sha, expect, sizeof(sha)) != 0 || p.size != got.len)
			abort();
	}
	snapshot_parser_free(&p);
	free(got.data);
	free(want.data);
	return 0;
}
