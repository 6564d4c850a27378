/*
 * pipeline: a stage of a streaming pipeline on a thread of its own, fed through a bounded queue.
 *
 *   producer --pipe_stage_write()--> [slots x slot_size] --> thread: fn(ctx, chunk) --> ...
 *
 * The producer's bytes are copied into fixed-size slots; a full slot goes to the stage's thread,
 * which calls fn on it. When every slot is full the producer waits: memory is slots * slot_size
 * whatever the length of the stream. Stages chain by having fn write into the next stage.
 *
 * Errors stop the pipeline from either end, without deadlock:
 *   - fn fails: the stage keeps fn's error, drops what is queued and stops; the producer's next
 *     pipe_stage_write() (or the one waiting for a slot) and pipe_stage_finish() return that
 *     error. A stage whose fn writes into a failed next stage fails the same way, so an upload
 *     error reaches the first producer.
 *   - the producer gives up: pipe_stage_cancel() wakes the thread, which drops what is queued,
 *     and joins it. A thread waiting inside fn on a next stage must be released by cancelling
 *     the stages downstream first (cancel from the last stage to the first).
 *
 * pipe_stage_finish() hands over the partly filled slot, lets the thread drain the queue and
 * joins it: when it returns 0 fn has seen every byte, in order, and the thread is gone.
 *
 * Threading: one producer per stage; pipe_stage_write/finish/cancel/free from that producer only.
 * Ownership: the stage owns its slots (wiped on free: they may hold plaintext); ctx is borrowed.
 */
#ifndef ETCD_ANSIBLE_PIPELINE_H
#define ETCD_ANSIBLE_PIPELINE_H

#include "error.h"

#include <stddef.h>

/* Takes one chunk (1..slot_size bytes); 0 or -errno with err filled, which stops the stage. */
typedef int (*pipe_stage_fn)(void *ctx, const void *data, size_t len, struct error *err);

struct pipe_stage;

/* Starts the thread. NULL (err filled) when memory or a thread cannot be had. */
struct pipe_stage *pipe_stage_start(size_t slots, size_t slot_size, pipe_stage_fn fn, void *ctx,
				    struct error *err);
/* Copies len bytes in; waits for free slots. 0, or the stage's error (or -ECANCELED). */
int pipe_stage_write(struct pipe_stage *st, const void *buf, size_t len, struct error *err);
/* Flushes, drains, joins. 0 when fn took every byte; else the stage's error. Once only. */
int pipe_stage_finish(struct pipe_stage *st, struct error *err);
/* Drops what is queued and joins the thread (no-op when already joined). */
void pipe_stage_cancel(struct pipe_stage *st);
/* Cancels if still running, wipes and frees. NULL is fine. */
void pipe_stage_free(struct pipe_stage *st);

#endif
