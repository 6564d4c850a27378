/*
 * buf: a growable text/byte buffer, hex encoding, and wiping secrets from memory.
 *
 * struct buf invariants (hold after every call):
 *   - a zeroed struct buf ({0}) is an empty, valid buffer; data stays NULL until the first append;
 *   - when data is not NULL, data[len] == '\0' and len < cap: the content is always a C string
 *     (binary content may hold NULs before len);
 *   - once an allocation fails, failed is true, the content so far is kept and every further
 *     append is a no-op: callers append freely and test failed once at the end;
 *   - the buffer owns data: buf_free (or buf_wipe_free for secrets) releases it and leaves the
 *     buffer empty and valid again.
 *
 * Wiping uses OPENSSL_cleanse, which the compiler may not optimise away.
 */
#ifndef ETCD_ANSIBLE_BUF_H
#define ETCD_ANSIBLE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len; /* content bytes, without the terminating NUL */
	size_t cap; /* bytes allocated */
	bool failed;
};

/* Appends n bytes of data. */
void buf_add(struct buf *b, const void *data, size_t n);
/* Appends a C string. */
void buf_str(struct buf *b, const char *s);
void buf_free(struct buf *b);
/* buf_free after wiping the allocation (for buffers that held secrets). */
void buf_wipe_free(struct buf *b);

/* Lower-case hex of len bytes into out, which holds 2 * len + 1 bytes (NUL-terminated). */
void hex_encode(const void *in, size_t len, char *out);

/* Overwrites len bytes at p with zeros in a way the compiler keeps. NULL is fine. */
void wipe(void *p, size_t len);
/* wipe then free. NULL is fine. */
void wipe_free(void *p, size_t len);
/* wipe (strlen bytes) then free, for secret C strings. NULL is fine. */
void wipe_str_free(char *s);

#endif
