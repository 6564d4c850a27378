/*
 * bolt: read-only look into a bbolt database file (etcd's member/snap/db), without bbolt.
 *
 * Layout (go.etcd.io/bbolt page.go, node.go, bucket.go, db.go):
 *   - every page starts with a 16-byte header: id u64, flags u16, count u16, overflow u32; a page
 *     spans (overflow + 1) * page_size bytes. Flags: 0x01 branch, 0x02 leaf, 0x04 meta,
 *     0x10 freelist. All integers little-endian.
 *   - pages 0 and 1 are metas (snapshot.h decodes them); the valid one with the higher txid is
 *     in use, and its root field is the page of the root bucket.
 *   - branch elements (16 bytes): pos u32, ksize u32, pgid u64; leaf elements (16 bytes): flags
 *     u32, pos u32, ksize u32, vsize u32. pos counts from the element's own first byte; the key
 *     follows at pos, the value right after it. Elements are in key order.
 *   - a leaf element with flag 0x01 is a nested bucket: its value is a 16-byte bucket header
 *     (root pgid u64, sequence u64) and, when root is 0, the bucket's one page inline after it.
 *
 * Only the meta in use is trusted; every offset read from a page is checked against the page's
 * span and the file's size, the depth of a tree is bounded, and a page larger than BOLT_PAGE_MAX
 * is refused (-EFBIG): a damaged or hostile file gives -EBADMSG, never a crash or a loop.
 * Memory: one page buffer per tree level, freed before return. Nothing returned is allocated.
 */
#ifndef ETCD_ANSIBLE_BOLT_H
#define ETCD_ANSIBLE_BOLT_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest page span read (etcd's values are at most --max-request-bytes, 1.5 MiB by default). */
#define BOLT_PAGE_MAX (256u * 1024u * 1024u)
/* Deepest tree walked (bbolt trees of a few GiB are 4-5 levels deep). */
#define BOLT_DEPTH_MAX 32
#define BOLT_KEY_MAX 64

struct bolt_file {
	int fd;
	uint64_t size;
	uint32_t page_size;
	uint64_t pgid; /* pages in use (the meta's high-water mark) */
	uint64_t txid;
	uint64_t root; /* page of the root bucket */
};

/* Opens path read-only and picks the meta in use. */
int bolt_open(struct bolt_file *b, const char *path, struct error *err);
void bolt_close(struct bolt_file *b);

/* What a walk of one top-level bucket saw. */
struct bolt_bucket_stats {
	bool found;    /* the bucket exists */
	uint64_t keys; /* entries in its tree (a nested bucket counts as one) */
	unsigned char last_key[BOLT_KEY_MAX]; /* its greatest key (first BOLT_KEY_MAX bytes) */
	size_t last_key_len;
};

/* Counts the entries of the top-level bucket name; out->found false when there is none. */
int bolt_bucket_stats(const struct bolt_file *b, const char *name, struct bolt_bucket_stats *out,
		      struct error *err);

/*
 * Copies the value of key in the top-level bucket name into buf (at most size bytes; *len is the
 * value's full length). -ENOENT when the bucket or the key is not there.
 */
int bolt_get(const struct bolt_file *b, const char *name, const char *key, unsigned char *buf,
	     size_t size, size_t *len, struct error *err);

#endif
