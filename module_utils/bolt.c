/*
 * bolt: read-only look into a bbolt file. See bolt.h for the layout it relies on.
 */
#include "bolt.h"

#include "fs.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_HEADER 16u
#define ELEMENT_SIZE 16u
#define BUCKET_HEADER 16u
#define FLAG_BRANCH 0x01u
#define FLAG_LEAF 0x02u
#define LEAF_BUCKET 0x01u
#define META_READ (PAGE_HEADER + 64u)

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- opening: the meta in use --------------------------------------------------------------- */

static bool meta_at(int fd, uint64_t size, uint64_t offset, struct snapshot_bolt_meta *meta)
{
	unsigned char page[META_READ];
	struct error ignored;

	return size >= offset + sizeof(page) && fs_read_at(fd, page, sizeof(page), offset) == 0 &&
	       snapshot_bolt_meta_parse(page, sizeof(page), meta, &ignored) == 0;
}

int bolt_open(struct bolt_file *b, const char *path, struct error *err)
{
	struct snapshot_bolt_meta meta[2];
	struct stat st;
	bool ok[2];
	int use;

	memset(b, 0, sizeof(*b));
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		bolt_close(b);
		return error_set(err, -EINVAL, "%s: not a regular file", path);
	}
	b->size = (uint64_t)st.st_size;
	ok[0] = meta_at(b->fd, b->size, 0, &meta[0]);
	/* Meta 1 is one page after meta 0; with meta 0 damaged, try the usual page sizes. */
	ok[1] = ok[0] && meta_at(b->fd, b->size, meta[0].page_size, &meta[1]);
	for (uint32_t ps = 4096; !ok[0] && !ok[1] && ps <= 65536; ps *= 2)
		ok[1] = meta_at(b->fd, b->size, ps, &meta[1]) && meta[1].page_size == ps;
	if (!ok[0] && !ok[1]) {
		bolt_close(b);
		return error_set(err, -EBADMSG, "%s: no valid bbolt meta page", path);
	}
	use = !ok[0] || (ok[1] && meta[1].txid > meta[0].txid) ? 1 : 0;
	b->page_size = meta[use].page_size;
	b->pgid = meta[use].pgid;
	b->txid = meta[use].txid;
	b->root = meta[use].root;
	if (b->pgid > b->size / b->page_size || b->root < 2 || b->root >= b->pgid) {
		bolt_close(b);
		return error_set(err, -EBADMSG,
				 "%s: the bbolt meta does not fit the file (root page %llu, %llu "
				 "pages, %llu bytes)",
				 path, (unsigned long long)b->root, (unsigned long long)b->pgid,
				 (unsigned long long)b->size);
	}
	return 0;
}

void bolt_close(struct bolt_file *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* ---- walking a tree ------------------------------------------------------------------------- */

/* Called for every leaf element, in key order; a non-zero return stops the walk with it. */
typedef int (*leaf_fn)(void *ctx, uint32_t flags, const unsigned char *key, size_t key_len,
		       const unsigned char *value, size_t value_len, struct error *err);

struct walk {
	const struct bolt_file *b;
	leaf_fn leaf;
	void *ctx;
	uint64_t pages; /* pages read: more than the file holds means a cycle */
};

static int walk_page(struct walk *w, uint64_t pgid, int depth, struct error *err);

/* The elements of one page (a page read from the file, or a bucket's inline page). */
static int walk_elements(struct walk *w, const unsigned char *page, size_t span, int depth,
			 struct error *err)
{
	uint16_t flags = le16(page + 8), count = le16(page + 10);
	int rc = 0;

	if (span < PAGE_HEADER || (size_t)count * ELEMENT_SIZE > span - PAGE_HEADER)
		return error_set(err, -EBADMSG, "bbolt page %llu: %u elements do not fit",
				 (unsigned long long)le64(page), count);
	for (size_t i = 0; i < count && rc == 0; i++) {
		const unsigned char *e = page + PAGE_HEADER + i * ELEMENT_SIZE;
		size_t at = (size_t)(e - page);

		if (flags & FLAG_BRANCH) {
			rc = walk_page(w, le64(e + 8), depth + 1, err);
		} else if (flags & FLAG_LEAF) {
			uint64_t pos = le32(e + 4), klen = le32(e + 8), vlen = le32(e + 12);

			if (at + pos + klen + vlen > span)
				return error_set(
				    err, -EBADMSG,
				    "bbolt page %llu: element %zu points past the page",
				    (unsigned long long)le64(page), i);
			rc = w->leaf(w->ctx, le32(e), e + pos, klen, e + pos + klen, vlen, err);
		} else {
			return error_set(
			    err, -EBADMSG,
			    "bbolt page %llu is neither a branch nor a leaf (flags 0x%x)",
			    (unsigned long long)le64(page), flags);
		}
	}
	return rc;
}

static int walk_page(struct walk *w, uint64_t pgid, int depth, struct error *err)
{
	const struct bolt_file *b = w->b;
	unsigned char header[PAGE_HEADER], *page = NULL;
	uint64_t offset = pgid * b->page_size, span;
	int rc;

	if (depth > BOLT_DEPTH_MAX || ++w->pages > b->pgid)
		return error_set(err, -EBADMSG, "bbolt tree deeper than %d or cyclic",
				 BOLT_DEPTH_MAX);
	if (pgid < 2 || pgid >= b->pgid)
		return error_set(err, -EBADMSG, "bbolt page %llu is outside the file's %llu pages",
				 (unsigned long long)pgid, (unsigned long long)b->pgid);
	rc = fs_read_at(b->fd, header, sizeof(header), offset);
	if (rc < 0)
		return error_set(err, rc, "bbolt page %llu: read failed", (unsigned long long)pgid);
	span = ((uint64_t)le32(header + 12) + 1) * b->page_size;
	if (le64(header) != pgid || pgid + le32(header + 12) >= b->pgid)
		return error_set(
		    err, -EBADMSG, "bbolt page %llu: bad header (id %llu, overflow %u)",
		    (unsigned long long)pgid, (unsigned long long)le64(header), le32(header + 12));
	if (span > BOLT_PAGE_MAX)
		return error_set(err, -EFBIG, "bbolt page %llu spans %llu bytes (more than %u)",
				 (unsigned long long)pgid, (unsigned long long)span, BOLT_PAGE_MAX);
	page = malloc(span);
	if (!page)
		return error_set(err, -ENOMEM, "out of memory");
	rc = fs_read_at(b->fd, page, span, offset);
	if (rc < 0)
		error_set(err, rc, "bbolt page %llu: read failed", (unsigned long long)pgid);
	else
		rc = walk_elements(w, page, span, depth, err);
	free(page);
	return rc;
}

/* ---- top-level buckets ---------------------------------------------------------------------- */

struct find_bucket {
	const char *name;
	unsigned char *value; /* the bucket's header (+ inline page), malloc'ed */
	size_t len;
};

static int find_bucket_leaf(void *ctx, uint32_t flags, const unsigned char *key, size_t key_len,
			    const unsigned char *value, size_t value_len, struct error *err)
{
	struct find_bucket *f = ctx;

	if (!(flags & LEAF_BUCKET) || key_len != strlen(f->name) ||
	    memcmp(key, f->name, key_len) != 0)
		return 0;
	if (value_len < BUCKET_HEADER)
		return error_set(err, -EBADMSG, "bbolt bucket %s: header too short", f->name);
	f->value = malloc(value_len);
	if (!f->value)
		return error_set(err, -ENOMEM, "out of memory");
	memcpy(f->value, value, value_len);
	f->len = value_len;
	return 1; /* found: stop */
}

/* Walks every entry of the top-level bucket name; 0 with *found false when it does not exist. */
static int walk_bucket(const struct bolt_file *b, const char *name, leaf_fn leaf, void *ctx,
		       bool *found, struct error *err)
{
	struct find_bucket f = {.name = name};
	struct walk w = {.b = b, .leaf = find_bucket_leaf, .ctx = &f};
	int rc = walk_page(&w, b->root, 0, err);
	uint64_t root;

	*found = false;
	if (rc < 0 || !f.value)
		goto out;
	*found = true;
	w = (struct walk){.b = b, .leaf = leaf, .ctx = ctx};
	root = le64(f.value);
	if (root != 0)
		rc = walk_page(&w, root, 0, err);
	else if (f.len >= BUCKET_HEADER + PAGE_HEADER)
		rc = walk_elements(&w, f.value + BUCKET_HEADER, f.len - BUCKET_HEADER, 0, err);
	else
		rc = 0; /* an inline bucket without a page: empty */
out:
	free(f.value);
	return rc < 0 ? rc : 0;
}

static int stats_leaf(void *ctx, uint32_t flags, const unsigned char *key, size_t key_len,
		      const unsigned char *value, size_t value_len, struct error *err)
{
	struct bolt_bucket_stats *s = ctx;

	(void)flags;
	(void)value;
	(void)value_len;
	(void)err;
	s->keys++;
	s->last_key_len = key_len < BOLT_KEY_MAX ? key_len : BOLT_KEY_MAX;
	memcpy(s->last_key, key, s->last_key_len);
	return 0;
}

int bolt_bucket_stats(const struct bolt_file *b, const char *name, struct bolt_bucket_stats *out,
		      struct error *err)
{
	memset(out, 0, sizeof(*out));
	return walk_bucket(b, name, stats_leaf, out, &out->found, err);
}

struct get {
	const char *key;
	unsigned char *buf;
	size_t size, *len;
	bool found;
};

static int get_leaf(void *ctx, uint32_t flags, const unsigned char *key, size_t key_len,
		    const unsigned char *value, size_t value_len, struct error *err)
{
	struct get *g = ctx;

	(void)err;
	if ((flags & LEAF_BUCKET) || key_len != strlen(g->key) || memcmp(key, g->key, key_len) != 0)
		return 0;
	g->found = true;
	*g->len = value_len;
	memcpy(g->buf, value, value_len < g->size ? value_len : g->size);
	return 1;
}

int bolt_get(const struct bolt_file *b, const char *name, const char *key, unsigned char *buf,
	     size_t size, size_t *len, struct error *err)
{
	struct get g = {.key = key, .buf = buf, .size = size, .len = len};
	bool found;
	int rc = walk_bucket(b, name, get_leaf, &g, &found, err);

	*len = g.found ? *len : 0;
	if (rc == 0 && !g.found)
		rc = error_set(err, -ENOENT, "bbolt: no %s in bucket %s", key, name);
	return rc;
}
