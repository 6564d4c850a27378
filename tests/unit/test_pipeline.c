/*
 * cmocka tests of pipeline.c: bytes pass through a stage in order whatever the write sizes, a
 * stage that fails mid-stream stops its producer (and, chained, the first producer) with its own
 * error, cancelling from the last stage to the first never hangs, and nothing leaks (ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A consumer: collects what it is given; fails with fail_rc once it holds fail_after bytes. */
struct collector {
	struct buf b;
	size_t fail_after; /* 0: never */
	int fail_rc;
	unsigned delay_ms; /* per chunk: a slow consumer fills the queue */
	size_t max_chunk;
	struct pipe_stage *next; /* chained: forward instead of collecting */
};

static void sleep_ms_(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int collect(void *ctx, const void *data, size_t len, struct error *err)
{
	struct collector *c = ctx;

	if (c->delay_ms)
		sleep_ms_(c->delay_ms);
	if (len > c->max_chunk)
		c->max_chunk = len;
	if (c->next)
		return pipe_stage_write(c->next, data, len, err);
	if (c->fail_after && c->b.len + len > c->fail_after)
		return error_set(err, c->fail_rc, "collector: failing after %zu bytes", c->b.len);
	buf_add(&c->b, data, len);
	return c->b.failed ? error_set(err, -ENOMEM, "out of memory") : 0;
}

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n);

	for (size_t i = 0; p && i < n; i++)
		p[i] = (unsigned char)((i * 7919u) >> 3);
	return p;
}

static void test_bytes_pass_in_order(void **state)
{
	static const size_t writes[] = {1, 6, 7, 8, 13, 100, 0, 3, 1000, 2};
	struct collector c = {0};
	struct error err = {0};
	size_t total = 0, off = 0;
	unsigned char *src;
	struct pipe_stage *st;
	(void)state;

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		total += writes[i];
	src = pattern(total);
	assert_non_null(src);
	st = pipe_stage_start(3, 7, collect, &c, &err);
	assert_non_null(st);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		assert_int_equal(pipe_stage_write(st, src + off, writes[i], &err), 0);
		off += writes[i];
	}
	assert_int_equal(pipe_stage_finish(st, &err), 0);
	assert_int_equal(c.b.len, total);
	assert_memory_equal(c.b.data, src, total);
	assert_true(c.max_chunk <= 7);
	/* Once finished, the stage takes nothing more. */
	assert_int_equal(pipe_stage_write(st, src, 1, &err), -EINVAL);
	assert_int_equal(pipe_stage_finish(st, &err), -EINVAL);
	pipe_stage_free(st);
	buf_free(&c.b);
	free(src);
}

static void test_empty_stream_finishes(void **state)
{
	struct collector c = {0};
	struct error err = {0};
	struct pipe_stage *st = pipe_stage_start(2, 16, collect, &c, &err);
	(void)state;

	assert_non_null(st);
	assert_int_equal(pipe_stage_finish(st, &err), 0);
	assert_int_equal(c.b.len, 0);
	pipe_stage_free(st);
}

/* A stage that fails mid-stream: the producer gets its error (code and message), no hang. */
static void test_stage_failing_mid_stream_stops_the_producer(void **state)
{
	struct collector c = {.fail_after = 5000, .fail_rc = -EIO};
	struct error err = {0};
	unsigned char *src = pattern(1 << 20);
	struct pipe_stage *st = pipe_stage_start(4, 256, collect, &c, &err);
	int rc = 0;
	size_t off = 0;
	(void)state;

	assert_non_null(src);
	assert_non_null(st);
	while (rc == 0 && off < (1u << 20)) {
		rc = pipe_stage_write(st, src + off, 100, &err);
		off += 100;
	}
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(err.msg, "collector: failing after"));
	/* It stopped soon: at most the queue's worth beyond the failure. */
	assert_true(off <= 5000 + 5 * 256 + 100);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pipe_stage_finish(st, &err), -EIO);
	assert_non_null(strstr(err.msg, "collector"));
	assert_true(c.b.len <= 5000);
	assert_memory_equal(c.b.data, src, c.b.len);
	pipe_stage_free(st);
	buf_free(&c.b);
	free(src);
}

/* The failure shows at finish when the producer wrote everything before it happened. */
static void test_failure_in_the_last_chunk_shows_at_finish(void **state)
{
	struct collector c = {.fail_after = 90, .fail_rc = -ENOSPC};
	struct error err = {0};
	unsigned char *src = pattern(100);
	struct pipe_stage *st = pipe_stage_start(8, 64, collect, &c, &err);
	(void)state;

	assert_non_null(st);
	assert_int_equal(pipe_stage_write(st, src, 100, &err), 0);
	assert_int_equal(pipe_stage_finish(st, &err), -ENOSPC);
	pipe_stage_free(st);
	buf_free(&c.b);
	free(src);
}

/* reader → compress → upload: the last stage fails, the first producer hears of it. */
static void test_chained_failure_reaches_the_first_producer(void **state)
{
	struct collector last = {.fail_after = 3000, .fail_rc = -ECONNRESET};
	struct collector mid = {0};
	struct error err = {0};
	unsigned char *src = pattern(1 << 16);
	struct pipe_stage *st_last = pipe_stage_start(2, 128, collect, &last, &err);
	struct pipe_stage *st_mid;
	size_t off = 0;
	int rc = 0;
	(void)state;

	assert_non_null(st_last);
	mid.next = st_last;
	st_mid = pipe_stage_start(2, 100, collect, &mid, &err);
	assert_non_null(st_mid);
	while (rc == 0 && off < (1u << 16)) {
		rc = pipe_stage_write(st_mid, src + off, 64, &err);
		off += 64;
	}
	assert_int_equal(rc, -ECONNRESET);
	assert_non_null(strstr(err.msg, "collector: failing"));
	assert_true(off < (1u << 16));
	pipe_stage_cancel(st_last);
	pipe_stage_cancel(st_mid);
	pipe_stage_free(st_mid);
	pipe_stage_free(st_last);
	buf_free(&last.b);
	free(src);
}

/*
 * The producer gives up (its source failed) while both queues are full and the middle thread
 * waits on the last stage's queue: cancelling last-to-first returns, nothing leaks.
 */
static void test_cancel_with_full_queues_does_not_hang(void **state)
{
	struct collector last = {.delay_ms = 20};
	struct collector mid = {0};
	struct error err = {0};
	unsigned char *src = pattern(4096);
	struct pipe_stage *st_last = pipe_stage_start(2, 64, collect, &last, &err);
	struct pipe_stage *st_mid;
	(void)state;

	assert_non_null(st_last);
	mid.next = st_last;
	st_mid = pipe_stage_start(2, 64, collect, &mid, &err);
	assert_non_null(st_mid);
	/* 6 chunks: more than both queues hold, so this returns once the slow last stage took
	 * some; the queues are then full or nearly, and the middle thread waits on the last. */
	assert_int_equal(pipe_stage_write(st_mid, src, 6 * 64, &err), 0);
	pipe_stage_cancel(st_last);
	pipe_stage_cancel(st_mid);
	/* After a cancel, writes fail at once. */
	assert_int_equal(pipe_stage_write(st_mid, src, 64, &err), -EINVAL);
	assert_true(last.b.len <= 6 * 64);
	assert_memory_equal(last.b.data, src, last.b.len);
	pipe_stage_free(st_mid);
	pipe_stage_free(st_last);
	buf_free(&last.b);
	free(src);
}

/* Freed without finish or cancel, with bytes queued: the thread is joined, nothing leaks. */
static void test_free_without_finish(void **state)
{
	struct collector c = {.delay_ms = 5};
	struct error err = {0};
	unsigned char *src = pattern(1000);
	struct pipe_stage *st = pipe_stage_start(3, 50, collect, &c, &err);
	(void)state;

	assert_non_null(st);
	assert_int_equal(pipe_stage_write(st, src, 170, &err), 0);
	pipe_stage_free(st);
	buf_free(&c.b);
	free(src);
}

static void test_bad_arguments(void **state)
{
	struct collector c = {0};
	struct error err = {0};
	(void)state;

	assert_null(pipe_stage_start(0, 10, collect, &c, &err));
	assert_non_null(strstr(err.msg, "no slots"));
	assert_null(pipe_stage_start(2, 0, collect, &c, &err));
	assert_null(pipe_stage_start(2, 10, NULL, &c, &err));
	pipe_stage_free(NULL);
	pipe_stage_cancel(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bytes_pass_in_order),
	    cmocka_unit_test(test_empty_stream_finishes),
	    cmocka_unit_test(test_stage_failing_mid_stream_stops_the_producer),
	    cmocka_unit_test(test_failure_in_the_last_chunk_shows_at_finish),
	    cmocka_unit_test(test_chained_failure_reaches_the_first_producer),
	    cmocka_unit_test(test_cancel_with_full_queues_does_not_hang),
	    cmocka_unit_test(test_free_without_finish),
	    cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
