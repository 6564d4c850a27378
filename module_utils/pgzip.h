/*
 * pgzip: gzip on several cores, as pigz does it, in constant memory.
 *
 * The input is cut into PGZIP_BLOCK-byte blocks. Each block is deflated on its own by one of the
 * worker threads (raw deflate, the previous PGZIP_DICT bytes of input as its preset dictionary,
 * so matches reach back across the cut as in one stream), ending with a sync flush (an empty
 * stored block: byte-aligned, not final). At the end one more block, possibly empty, ends with
 * Z_FINISH (the final bit). Their concatenation is ONE deflate stream, wrapped in ONE gzip member
 * (RFC 1952: the header zlib writes at this level, mtime 0; the trailer's CRC-32 is the blocks'
 * CRCs joined with crc32_combine, ISIZE the length mod 2^32): gunzip, zlib and every gzip reader
 * read it as any gzip file.
 *
 * The output depends only on the input and the level: not on the number of workers, nor on how
 * the input was split into writes (deterministic, the same bytes on any machine). It is not the
 * byte stream single-threaded zlib makes (the sync flushes and the per-block restarts differ).
 *
 * Memory: PGZIP_JOBS_PER_WORKER * workers jobs of (PGZIP_DICT + PGZIP_BLOCK) input and a
 * compressBound output (~600 KiB a worker), plus one deflate state per worker (~300 KiB at
 * memLevel 8): ~7 MiB at the most (PGZIP_MAX_WORKERS), whatever the size of the input.
 *
 * Threading: pgzip_write/finish/free from one thread; the sink is called on that thread, with
 * the compressed bytes in order. Ownership: pgzip owns its buffers (wiped on free: they hold
 * plaintext); the sink context is borrowed.
 */
#ifndef ETCD_ANSIBLE_PGZIP_H
#define ETCD_ANSIBLE_PGZIP_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#define PGZIP_BLOCK (128u * 1024u)
#define PGZIP_DICT (32u * 1024u)
#define PGZIP_JOBS_PER_WORKER 2
#define PGZIP_MAX_WORKERS 8

/* Takes compressed bytes; 0 or -errno (err filled) to stop. */
typedef int (*pgzip_sink_fn)(void *ctx, const void *buf, size_t len, struct error *err);

struct pgzip;

/* level: zlib's 1..9; workers: 1..PGZIP_MAX_WORKERS threads. NULL with err filled. */
struct pgzip *pgzip_new(int level, unsigned workers, pgzip_sink_fn sink, void *sink_ctx,
			struct error *err);
int pgzip_write(struct pgzip *z, const void *buf, size_t len, struct error *err);
/* The last block and the trailer. After any failure every call fails. */
int pgzip_finish(struct pgzip *z, struct error *err);
void pgzip_free(struct pgzip *z);

/*
 * Whether deflate would not shrink these bytes: a sample's byte histogram is as flat as random
 * data's (values encrypted at rest, already compressed files). Such bytes are stored (level 0:
 * a copy) instead of searched for matches they do not have, in pgzip's blocks and in the
 * single-threaded writer alike (envelope.c). It looks at byte frequencies only: a run of repeated
 * random bytes looks random too and is then stored (a larger output, never a wrong one). Fewer
 * than PGZIP_SAMPLE bytes are never judged incompressible.
 */
#define PGZIP_SAMPLE 4096u
bool pgzip_looks_incompressible(const unsigned char *p, size_t n);

/* How many deflate workers a backup uses here: 0 (single-threaded zlib) on 1 or 2 cores, else
 * the cores minus one (the reader and the upload need some), at most PGZIP_MAX_WORKERS. */
unsigned pgzip_workers_for_this_machine(void);

#endif
