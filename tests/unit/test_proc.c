/*
 * cmocka tests of proc.c (a tool run with a timeout, its output's tail kept) and clock.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "proc.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static char *const ENV[] = {"PATH=/usr/bin:/bin", "PROC_TEST=seen", NULL};

static void test_exit_status_and_output(void **state)
{
	char *const argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; echo $PROC_TEST; exit 3",
			      NULL};
	char out[2048];
	struct error err;
	int status = 0;
	(void)state;

	assert_int_equal(proc_run(argv, ENV, 30, out, sizeof(out), &status, &err), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_string_equal(out, "out\nerr\nseen\n");
}

static void test_only_the_tail_is_kept(void **state)
{
	/* 3000 'a' then "END": the buffer keeps the last 2047 bytes */
	char *const argv[] = {"/bin/sh", "-c", "printf '%03000d' 0 | tr 0 a; printf END", NULL};
	char out[2048];
	struct error err;
	int status = 0;
	size_t len;
	(void)state;

	assert_int_equal(proc_run(argv, ENV, 30, out, sizeof(out), &status, &err), 0);
	len = strlen(out);
	assert_int_equal(len, sizeof(out) - 1);
	assert_string_equal(out + len - 3, "END");
	assert_int_equal(out[0], 'a');
}

static void test_timeout_kills(void **state)
{
	char *const argv[] = {"/bin/sleep", "30", NULL};
	struct timespec start;
	char out[2048];
	struct error err;
	int status = 0;
	(void)state;

	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(proc_run(argv, ENV, 1, out, sizeof(out), &status, &err), 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(seconds_since(&start) < 20);
}

static void test_missing_tool(void **state)
{
	char *const argv[] = {"/nonexistent/tool", NULL};
	char out[2048];
	struct error err;
	int status = 0;
	(void)state;

	assert_int_equal(proc_run(argv, ENV, 5, out, sizeof(out), &status, &err), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 127);
}

static void test_clock(void **state)
{
	struct timespec start, deadline;
	(void)state;

	clock_gettime(CLOCK_MONOTONIC, &start);
	deadline_in(&deadline, 0);
	assert_true(deadline_past(&deadline));
	deadline_in(&deadline, 3600);
	assert_false(deadline_past(&deadline));
	sleep_ms(20);
	assert_true(seconds_since(&start) >= 0.019);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_status_and_output),
	    cmocka_unit_test(test_only_the_tail_is_kept),
	    cmocka_unit_test(test_timeout_kills),
	    cmocka_unit_test(test_missing_tool),
	    cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
