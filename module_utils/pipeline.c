#include "pipeline.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct pipe_stage {
	pthread_mutex_t lock;
	pthread_cond_t data;  /* the thread waits for a slot (or eof, cancel) */
	pthread_cond_t space; /* the producer waits for a free slot (or failure) */
	unsigned char **slots;
	size_t *lens;
	size_t n, slot_size;
	size_t head;  /* next slot the thread takes */
	size_t count; /* queued slots from head on; the one fn works on counts until done */
	size_t fill;  /* bytes in the producer's slot, (head + count) % n: owned by the producer */
	bool eof, cancel, failed;
	int rc; /* fn's error once failed */
	struct error err;
	pipe_stage_fn fn;
	void *ctx;
	pthread_t thread;
	bool running, finished;
};

static void *stage_thread(void *arg)
{
	struct pipe_stage *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		size_t slot, len;
		int rc;

		while (st->count == 0 && !st->eof && !st->cancel)
			pthread_cond_wait(&st->data, &st->lock);
		if (st->cancel || st->count == 0)
			break;
		slot = st->head;
		len = st->lens[slot];
		pthread_mutex_unlock(&st->lock);
		rc = st->fn(st->ctx, st->slots[slot], len, &st->err);
		pthread_mutex_lock(&st->lock);
		if (rc < 0) {
			st->rc = rc;
			st->failed = true;
			break;
		}
		st->head = (st->head + 1) % st->n;
		st->count--;
		pthread_cond_broadcast(&st->space);
	}
	pthread_cond_broadcast(&st->space);
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

struct pipe_stage *pipe_stage_start(size_t slots, size_t slot_size, pipe_stage_fn fn, void *ctx,
				    struct error *err)
{
	struct pipe_stage *st = calloc(1, sizeof(*st));

	if (!st || slots == 0 || slot_size == 0 || !fn) {
		free(st);
		error_set(err, st ? -EINVAL : -ENOMEM, "pipeline: %s",
			  st ? "no slots or no stage function" : "out of memory");
		return NULL;
	}
	st->n = slots;
	st->slot_size = slot_size;
	st->fn = fn;
	st->ctx = ctx;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->data, NULL);
	pthread_cond_init(&st->space, NULL);
	st->slots = calloc(slots, sizeof(*st->slots));
	st->lens = calloc(slots, sizeof(*st->lens));
	for (size_t i = 0; st->slots && i < slots; i++)
		if (!(st->slots[i] = malloc(slot_size)))
			break;
	if (!st->slots || !st->lens || !st->slots[slots - 1]) {
		error_set(err, -ENOMEM, "pipeline: out of memory");
		pipe_stage_free(st);
		return NULL;
	}
	if (pthread_create(&st->thread, NULL, stage_thread, st) != 0) {
		error_set(err, -EAGAIN, "pipeline: cannot start a thread");
		pipe_stage_free(st);
		return NULL;
	}
	st->running = true;
	return st;
}

/* The stage's error for the producer. Lock held. */
static int stage_error_locked(struct pipe_stage *st, struct error *err)
{
	if (st->failed) {
		*err = st->err;
		return st->rc;
	}
	return error_set(err, -ECANCELED, "pipeline: stage cancelled");
}

/* Queues the producer's slot. Lock held. */
static void push_locked(struct pipe_stage *st)
{
	st->lens[(st->head + st->count) % st->n] = st->fill;
	st->count++;
	st->fill = 0;
	pthread_cond_signal(&st->data);
}

int pipe_stage_write(struct pipe_stage *st, const void *buf, size_t len, struct error *err)
{
	const unsigned char *p = buf;

	if (!st->running || st->finished)
		return error_set(err, -EINVAL, "pipeline: stage not running");
	while (len > 0) {
		size_t take = st->slot_size - st->fill, slot;

		pthread_mutex_lock(&st->lock);
		while (st->count == st->n && !st->failed && !st->cancel)
			pthread_cond_wait(&st->space, &st->lock);
		if (st->failed || st->cancel) {
			int rc = stage_error_locked(st, err);

			pthread_mutex_unlock(&st->lock);
			return rc;
		}
		/* head + count only moves by the producer: the slot is ours until pushed. */
		slot = (st->head + st->count) % st->n;
		pthread_mutex_unlock(&st->lock);
		take = len < take ? len : take;
		memcpy(st->slots[slot] + st->fill, p, take);
		st->fill += take;
		p += take;
		len -= take;
		if (st->fill == st->slot_size) {
			pthread_mutex_lock(&st->lock);
			push_locked(st);
			pthread_mutex_unlock(&st->lock);
		}
	}
	return 0;
}

static void join(struct pipe_stage *st)
{
	if (!st->running)
		return;
	pthread_join(st->thread, NULL);
	st->running = false;
}

int pipe_stage_finish(struct pipe_stage *st, struct error *err)
{
	int rc = 0;

	if (!st->running || st->finished)
		return error_set(err, -EINVAL, "pipeline: stage not running");
	pthread_mutex_lock(&st->lock);
	while (st->fill > 0 && st->count == st->n && !st->failed && !st->cancel)
		pthread_cond_wait(&st->space, &st->lock);
	if (st->fill > 0 && !st->failed && !st->cancel)
		push_locked(st);
	st->eof = true;
	pthread_cond_signal(&st->data);
	pthread_mutex_unlock(&st->lock);
	join(st);
	st->finished = true;
	if (st->failed || st->cancel || st->count > 0)
		rc = stage_error_locked(st, err);
	return rc;
}

void pipe_stage_cancel(struct pipe_stage *st)
{
	if (!st || !st->running)
		return;
	pthread_mutex_lock(&st->lock);
	st->cancel = true;
	pthread_cond_broadcast(&st->data);
	pthread_cond_broadcast(&st->space);
	pthread_mutex_unlock(&st->lock);
	join(st);
}

void pipe_stage_free(struct pipe_stage *st)
{
	if (!st)
		return;
	pipe_stage_cancel(st);
	for (size_t i = 0; st->slots && i < st->n; i++) {
		if (st->slots[i])
			OPENSSL_cleanse(st->slots[i], st->slot_size);
		free(st->slots[i]);
	}
	free(st->slots);
	free(st->lens);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->data);
	pthread_cond_destroy(&st->space);
	free(st);
}
