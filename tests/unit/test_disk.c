/*
 * cmocka tests of module_utils/disk: the nearest-rank percentile against the worked examples of
 * the "Percentile" article of Wikipedia (nearest-rank method), and a real measurement in a
 * temporary directory (the test file must be gone afterwards; a missing data dir measures its
 * parent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "disk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void expect_percentile(const double *values, size_t n, double p, double expected)
{
	double copy[16];
	double got;

	memcpy(copy, values, n * sizeof(*values));
	got = disk_percentile(copy, n, p);
	if (got != expected)
		fail_msg("percentile %g of %zu values: expected %g, got %g", p, n, expected, got);
}

static void test_percentile_nearest_rank(void **state)
{
	/* Wikipedia, "Percentile", nearest-rank method, first and second examples (unsorted
	 * here: the function sorts). */
	static const double five[] = {50, 15, 40, 20, 35};
	static const double ten[] = {20, 3, 16, 6, 15, 7, 13, 8, 10, 8};

	(void)state;
	expect_percentile(five, 5, 5, 15);
	expect_percentile(five, 5, 30, 20);
	expect_percentile(five, 5, 40, 20);
	expect_percentile(five, 5, 50, 35);
	expect_percentile(five, 5, 100, 50);
	expect_percentile(ten, 10, 25, 7);
	expect_percentile(ten, 10, 50, 8);
	expect_percentile(ten, 10, 75, 15);
	expect_percentile(ten, 10, 100, 20);
	expect_percentile(ten, 1, 99, 20);
	assert_true(disk_percentile(NULL, 0, 99) == 0);
}

/* 200 samples 1..200 ms: p50 is the 100th, p99 the 198th (99 * 200 / 100 exactly, no
 * rounding up to 199 through 0.99 * 200 = 198.00000000000003). */
static void test_percentile_of_200_writes(void **state)
{
	double samples[200];

	(void)state;
	for (size_t i = 0; i < 200; i++)
		samples[i] = (double)(200 - i);
	assert_true(disk_percentile(samples, 200, 50) == 100);
	assert_true(disk_percentile(samples, 200, 99) == 198);
	assert_true(disk_percentile(samples, 200, 99.5) == 199);
	assert_true(disk_percentile(samples, 200, 100) == 200);
	/* The first 7 (sorted: 1..7): p99 = ceil(6.93) = the 7th, p50 = ceil(3.5) = the 4th. */
	assert_true(disk_percentile(samples, 7, 99) == 7);
	assert_true(disk_percentile(samples, 7, 50) == 4);
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' || strncmp(e->d_name, ".etcd-fsync", 11) == 0;
	closedir(d);
	return n;
}

static void test_measure_leaves_nothing(void **state)
{
	char dir[] = "/tmp/test_disk.XXXXXX", missing[64];
	struct disk_fsync_result r;
	struct error err = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	if (disk_fsync_measure(dir, 20, &r, &err) != 0)
		fail_msg("measure: %s", err.msg);
	assert_string_equal(r.dir, dir);
	assert_int_equal(r.writes, 20);
	assert_true(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
	assert_int_equal(entries(dir), 0);

	/* A data dir that does not exist yet: its parent's filesystem is measured. */
	snprintf(missing, sizeof(missing), "%s/member/", dir);
	if (disk_fsync_measure(missing, 5, &r, &err) != 0)
		fail_msg("measure in the parent: %s", err.msg);
	assert_string_equal(r.dir, dir);
	assert_int_equal(entries(dir), 0);

	snprintf(missing, sizeof(missing), "%s/a/b", dir);
	assert_int_equal(disk_fsync_measure(missing, 5, &r, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "neither"));
	assert_int_equal(disk_fsync_measure(dir, 0, &r, &err), -EINVAL);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percentile_nearest_rank),
	    cmocka_unit_test(test_percentile_of_200_writes),
	    cmocka_unit_test(test_measure_leaves_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
