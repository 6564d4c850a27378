#include "pgzip.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum job_state { JOB_FREE, JOB_QUEUED, JOB_BUSY, JOB_DONE, JOB_FAILED };

struct job {
	unsigned char *in; /* dict_len bytes of dictionary, then len bytes of the block */
	size_t dict_len, len;
	unsigned char *out;
	size_t out_len;
	uLong crc;
	bool last;
	enum job_state state;
};

struct worker {
	struct pgzip *z;
	z_stream zs;
	bool z_init;
	pthread_t thread;
	bool running;
};

struct pgzip {
	pgzip_sink_fn sink;
	void *sink_ctx;
	int level;
	size_t out_cap;
	struct job *jobs;
	size_t n_jobs;
	size_t fill;	/* the job the writer fills (JOB_FREE, owned by the writer) */
	size_t emit;	/* the oldest dispatched job, next to go to the sink */
	size_t pending; /* dispatched, not yet emitted */
	size_t take;	/* the next queued job a worker takes */
	size_t queued;	/* dispatched, not yet taken */
	unsigned char dict[PGZIP_DICT]; /* the last input bytes, for the next block */
	size_t dict_len;
	uLong crc;
	uint64_t total;
	bool header_sent, failed, finished, stop;
	pthread_mutex_t lock;
	pthread_cond_t work; /* workers wait for a queued job */
	pthread_cond_t done; /* the writer waits for the oldest job */
	struct worker *workers;
	unsigned n_workers;
};

bool pgzip_looks_incompressible(const unsigned char *p, size_t n)
{
	/*
	 * The sum of the squared counts of PGZIP_SAMPLE bytes spread over the input: for random
	 * bytes it is about S + S(S-1)/256 (69,632 for S = 4096, standard deviation ~2,100);
	 * English text is over 500,000. Above 1.2 times the random figure (6 standard deviations:
	 * random data is never taken for text) the bytes are worth deflating; that bound is an
	 * order-0 entropy of about 7.7 bits a byte.
	 */
	const uint64_t s = PGZIP_SAMPLE, bound = (s + s * (s - 1) / 256) * 6 / 5;
	uint32_t count[256] = {0};
	uint64_t squares = 0;

	if (n < PGZIP_SAMPLE)
		return false;
	for (size_t i = 0; i < PGZIP_SAMPLE; i++)
		count[p[i * (n / PGZIP_SAMPLE)]]++;
	for (size_t b = 0; b < 256; b++)
		squares += (uint64_t)count[b] * count[b];
	return squares < bound;
}

static bool compress_job(z_stream *zs, int level, struct job *j, size_t out_cap)
{
	int rc;

	/* Before any input, deflateParams only sets the level (zlib.h): nothing to flush. */
	if (deflateReset(zs) != Z_OK ||
	    deflateParams(zs, pgzip_looks_incompressible(j->in + j->dict_len, j->len) ? 0 : level,
			  Z_DEFAULT_STRATEGY) != Z_OK ||
	    (j->dict_len && deflateSetDictionary(zs, j->in, (uInt)j->dict_len) != Z_OK))
		return false;
	zs->next_in = j->in + j->dict_len;
	zs->avail_in = (uInt)j->len;
	zs->next_out = j->out;
	zs->avail_out = (uInt)out_cap;
	rc = deflate(zs, j->last ? Z_FINISH : Z_SYNC_FLUSH);
	/* The bound leaves room: a flush that filled the buffer might not be complete. */
	if ((j->last ? rc != Z_STREAM_END : rc != Z_OK) || zs->avail_in != 0 || zs->avail_out == 0)
		return false;
	j->out_len = out_cap - zs->avail_out;
	j->crc = crc32(0L, j->in + j->dict_len, (uInt)j->len);
	return true;
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct pgzip *z = w->z;

	pthread_mutex_lock(&z->lock);
	for (;;) {
		struct job *j;
		bool ok;

		while (z->queued == 0 && !z->stop)
			pthread_cond_wait(&z->work, &z->lock);
		if (z->stop)
			break;
		j = &z->jobs[z->take];
		z->take = (z->take + 1) % z->n_jobs;
		z->queued--;
		j->state = JOB_BUSY;
		pthread_mutex_unlock(&z->lock);
		ok = compress_job(&w->zs, z->level, j, z->out_cap);
		pthread_mutex_lock(&z->lock);
		j->state = ok ? JOB_DONE : JOB_FAILED;
		pthread_cond_signal(&z->done);
	}
	pthread_mutex_unlock(&z->lock);
	return NULL;
}

static int fail(struct pgzip *z, int rc)
{
	z->failed = true;
	return rc;
}

static int send_header(struct pgzip *z, struct error *err)
{
	/* What zlib writes for deflateInit2(windowBits 15 + 16): no name, mtime 0, OS unix. */
	unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	int rc;

	if (z->header_sent)
		return 0;
	h[8] = z->level == 9 ? 2 : (z->level < 2 ? 4 : 0);
	rc = z->sink(z->sink_ctx, h, sizeof(h), err);
	if (rc == 0)
		z->header_sent = true;
	return rc;
}

/* Waits for the oldest dispatched job and sends its output. */
static int emit_oldest(struct pgzip *z, struct error *err)
{
	struct job *j = &z->jobs[z->emit];
	enum job_state st;
	int rc;

	pthread_mutex_lock(&z->lock);
	while (j->state == JOB_QUEUED || j->state == JOB_BUSY)
		pthread_cond_wait(&z->done, &z->lock);
	st = j->state;
	pthread_mutex_unlock(&z->lock);
	if (st != JOB_DONE)
		return fail(z, error_set(err, -EIO, "deflate failed"));
	rc = send_header(z, err);
	if (rc == 0 && j->out_len)
		rc = z->sink(z->sink_ctx, j->out, j->out_len, err);
	if (rc)
		return fail(z, rc);
	z->crc = crc32_combine(z->crc, j->crc, (z_off_t)j->len);
	z->total += j->len;
	j->state = JOB_FREE;
	j->len = j->dict_len = j->out_len = 0;
	z->emit = (z->emit + 1) % z->n_jobs;
	z->pending--;
	return 0;
}

/* Hands the filled job to the workers; makes the next one free to fill. */
static int dispatch(struct pgzip *z, bool last, struct error *err)
{
	struct job *j = &z->jobs[z->fill];
	size_t have = j->dict_len + j->len;
	size_t keep = have < PGZIP_DICT ? have : PGZIP_DICT;

	/* The next block's dictionary: the last 32 KiB of input so far. */
	memcpy(z->dict, j->in + have - keep, keep);
	z->dict_len = keep;
	j->last = last;
	pthread_mutex_lock(&z->lock);
	j->state = JOB_QUEUED;
	z->queued++;
	z->pending++;
	pthread_cond_signal(&z->work);
	pthread_mutex_unlock(&z->lock);
	z->fill = (z->fill + 1) % z->n_jobs;
	/* Send what is done already; wait only when every job is in flight. */
	for (;;) {
		bool ready;
		int rc;

		if (z->pending == 0)
			return 0;
		pthread_mutex_lock(&z->lock);
		ready = z->jobs[z->emit].state == JOB_DONE || z->jobs[z->emit].state == JOB_FAILED;
		pthread_mutex_unlock(&z->lock);
		if (!ready && z->pending < z->n_jobs)
			return 0;
		rc = emit_oldest(z, err);
		if (rc)
			return rc;
	}
}

/* Puts the dictionary in front of an empty job. */
static void start_job(struct pgzip *z, struct job *j)
{
	if (j->len == 0 && j->dict_len == 0 && z->dict_len) {
		memcpy(j->in, z->dict, z->dict_len);
		j->dict_len = z->dict_len;
	}
}

int pgzip_write(struct pgzip *z, const void *buf, size_t len, struct error *err)
{
	const unsigned char *p = buf;

	if (z->failed || z->finished)
		return error_set(err, -EINVAL, "pgzip: already failed or finished");
	while (len > 0) {
		struct job *j = &z->jobs[z->fill];
		size_t take = PGZIP_BLOCK - j->len;
		int rc;

		start_job(z, j);
		take = len < take ? len : take;
		memcpy(j->in + j->dict_len + j->len, p, take);
		j->len += take;
		p += take;
		len -= take;
		if (j->len == PGZIP_BLOCK && (rc = dispatch(z, false, err)) != 0)
			return fail(z, rc);
	}
	return 0;
}

int pgzip_finish(struct pgzip *z, struct error *err)
{
	unsigned char t[8];
	uint32_t isize;
	int rc;

	if (z->failed || z->finished)
		return error_set(err, -EINVAL, "pgzip: already failed or finished");
	start_job(z, &z->jobs[z->fill]);
	rc = dispatch(z, true, err);
	while (rc == 0 && z->pending > 0)
		rc = emit_oldest(z, err);
	if (rc == 0)
		rc = send_header(z, err);
	if (rc)
		return fail(z, rc);
	isize = (uint32_t)z->total;
	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(z->crc >> (8 * i));
		t[4 + i] = (unsigned char)(isize >> (8 * i));
	}
	rc = z->sink(z->sink_ctx, t, sizeof(t), err);
	if (rc)
		return fail(z, rc);
	z->finished = true;
	return 0;
}

struct pgzip *pgzip_new(int level, unsigned workers, pgzip_sink_fn sink, void *sink_ctx,
			struct error *err)
{
	struct pgzip *z;

	if (level < 1 || level > 9 || workers < 1 || workers > PGZIP_MAX_WORKERS || !sink) {
		error_set(err, -EINVAL, "pgzip: level 1-9, 1-%d workers and a sink",
			  PGZIP_MAX_WORKERS);
		return NULL;
	}
	z = calloc(1, sizeof(*z));
	if (!z) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	z->sink = sink;
	z->sink_ctx = sink_ctx;
	z->level = level;
	z->crc = crc32(0L, Z_NULL, 0);
	z->out_cap = compressBound(PGZIP_BLOCK) + 64;
	z->n_jobs = (size_t)workers * PGZIP_JOBS_PER_WORKER;
	pthread_mutex_init(&z->lock, NULL);
	pthread_cond_init(&z->work, NULL);
	pthread_cond_init(&z->done, NULL);
	z->jobs = calloc(z->n_jobs, sizeof(*z->jobs));
	z->workers = calloc(workers, sizeof(*z->workers));
	if (!z->jobs || !z->workers)
		goto nomem;
	for (size_t i = 0; i < z->n_jobs; i++) {
		z->jobs[i].in = malloc(PGZIP_DICT + PGZIP_BLOCK);
		z->jobs[i].out = malloc(z->out_cap);
		if (!z->jobs[i].in || !z->jobs[i].out)
			goto nomem;
	}
	for (unsigned i = 0; i < workers; i++) {
		struct worker *w = &z->workers[i];

		w->z = z;
		if (deflateInit2(&w->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto nomem;
		w->z_init = true;
		z->n_workers = i + 1;
		if (pthread_create(&w->thread, NULL, worker_thread, w) != 0) {
			error_set(err, -EAGAIN, "pgzip: cannot start a thread");
			pgzip_free(z);
			return NULL;
		}
		w->running = true;
	}
	return z;
nomem:
	error_set(err, -ENOMEM, "out of memory");
	pgzip_free(z);
	return NULL;
}

void pgzip_free(struct pgzip *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->lock);
	z->stop = true;
	pthread_cond_broadcast(&z->work);
	pthread_mutex_unlock(&z->lock);
	for (unsigned i = 0; z->workers && i < z->n_workers; i++) {
		if (z->workers[i].running)
			pthread_join(z->workers[i].thread, NULL);
		if (z->workers[i].z_init)
			deflateEnd(&z->workers[i].zs);
	}
	for (size_t i = 0; z->jobs && i < z->n_jobs; i++) {
		if (z->jobs[i].in)
			OPENSSL_cleanse(z->jobs[i].in, PGZIP_DICT + PGZIP_BLOCK);
		free(z->jobs[i].in);
		free(z->jobs[i].out);
	}
	OPENSSL_cleanse(z->dict, sizeof(z->dict));
	free(z->jobs);
	free(z->workers);
	pthread_mutex_destroy(&z->lock);
	pthread_cond_destroy(&z->work);
	pthread_cond_destroy(&z->done);
	free(z);
}

unsigned pgzip_workers_for_this_machine(void)
{
	cpu_set_t set;
	int n = 0;

	/* The CPUs this process may run on (taskset, cgroups' cpusets), not the machine's. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 2)
		return 0;
	return n - 1 > PGZIP_MAX_WORKERS ? PGZIP_MAX_WORKERS : (unsigned)(n - 1);
}
