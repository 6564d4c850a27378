/*
 * cmocka tests of module_utils/retention: the object keys of docs/backups.md, and that retention
 * never deletes the newest keep_min backups (never the newest one) and only deletes what is past
 * the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retention.h"

#include <stdlib.h>
#include <string.h>

#define DAY 86400
/* 2026-01-20 14:30:00 UTC */
#define T0 ((time_t)1768919400)

static void test_keys_follow_the_design(void **state)
{
	char *k;
	(void)state;

	k = backup_key_new("", BACKUP_KIND_ETCD, "default", NULL, T0);
	assert_string_equal(k, "default/2026/01/etcd-default-2026-01-20_14-30-00-snapshot.db.kms");
	assert_true(backup_key_matches(k, "", BACKUP_KIND_ETCD, "default"));
	assert_false(backup_key_matches(k, "", BACKUP_KIND_ETCD, "def"));
	assert_false(backup_key_matches(k, "", BACKUP_KIND_CA, "default"));
	assert_int_equal(backup_key_time(k), T0);
	free(k);
	k = backup_key_new("prod/", BACKUP_KIND_CA, "k8s", NULL, T0);
	assert_string_equal(k, "prod/ca/k8s/2026/01/ca-k8s-2026-01-20_14-30-00.tar.kms");
	assert_true(backup_key_matches(k, "prod/", BACKUP_KIND_CA, "k8s"));
	assert_int_equal(backup_key_time(k), T0);
	free(k);
	k = backup_key_new("", BACKUP_KIND_FILE, "c", "notes.txt", T0);
	assert_string_equal(k, "files/c/2026/01/notes.txt-2026-01-20_14-30-00.kms");
	assert_true(backup_key_matches(k, "", BACKUP_KIND_FILE, "c"));
	free(k);
	k = backup_key_prefix("p/", BACKUP_KIND_ETCD, "x");
	assert_string_equal(k, "p/x/");
	free(k);
	/* Look-alikes are not ours: another cluster's name as a prefix, a stray file. */
	assert_false(
	    backup_key_matches("default/2026/01/etcd-default-x-2026-01-20_14-30-00-snapshot.db.kms",
			       "", BACKUP_KIND_ETCD, "default"));
	assert_false(
	    backup_key_matches("default/2026/01/notes.txt", "", BACKUP_KIND_ETCD, "default"));
	assert_int_equal(backup_key_time("default/notes.txt"), -1);
}

static struct backup_object *objects_every_day(size_t n)
{
	struct backup_object *o = calloc(n, sizeof(*o));

	assert_non_null(o);
	/* Given newest first, to show that selection sorts. */
	for (size_t i = 0; i < n; i++) {
		o[i].key =
		    backup_key_new("", BACKUP_KIND_ETCD, "default", NULL, T0 - (time_t)i * DAY);
		o[i].last_modified = T0; /* all re-uploaded today: the key's stamp decides */
	}
	return o;
}

static void test_retention_deletes_only_old_and_never_the_newest(void **state)
{
	struct backup_object *o = objects_every_day(10);
	(void)state;

	/* Days 0..9 old; limit 5 days: days 6..9 go (day 5 is exactly at the limit: kept). */
	assert_int_equal(backup_retention_select(o, 10, T0, 5, 1), 4);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(o[i].delete, i < 4); /* sorted oldest first */
	assert_int_equal(backup_key_time(o[9].key), T0);
	/* keep_min protects the newest N even when all are past the limit. */
	assert_int_equal(backup_retention_select(o, 10, T0 + 100 * DAY, 90, 3), 7);
	assert_false(o[7].delete || o[8].delete || o[9].delete);
	/* keep_min 0 is taken as 1: the newest backup always stays. */
	assert_int_equal(backup_retention_select(o, 10, T0 + 100 * DAY, 0, 0), 9);
	assert_false(o[9].delete);
	/* One backup, very old: kept. Negative retention: nothing. */
	assert_int_equal(backup_retention_select(o + 9, 1, T0 + 1000 * DAY, 1, 1), 0);
	assert_int_equal(backup_retention_select(o, 10, T0 + 1000 * DAY, -1, 1), 0);
	backup_objects_free(o, 10);
}

static void test_keys_without_stamp_use_last_modified(void **state)
{
	struct backup_object o[2] = {
	    {.key = strdup("files/c/new"), .last_modified = T0},
	    {.key = strdup("files/c/old"), .last_modified = T0 - 30 * DAY},
	};
	(void)state;

	assert_int_equal(backup_retention_select(o, 2, T0, 10, 1), 1);
	assert_string_equal(o[0].key, "files/c/old");
	assert_true(o[0].delete);
	assert_false(o[1].delete);
	free(o[0].key);
	free(o[1].key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_follow_the_design),
	    cmocka_unit_test(test_retention_deletes_only_old_and_never_the_newest),
	    cmocka_unit_test(test_keys_without_stamp_use_last_modified),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
