/*
 * test_util.h: fixtures the unit tests share.
 *
 * A scratch directory per test, as cmocka setup/teardown: make_dir() creates
 * /tmp/<test binary>.XXXXXX (e.g. /tmp/test_fs.AbC123) into `dir`, remove_dir() removes it and
 * everything in it. Include after <cmocka.h> and before using `dir`.
 */
#ifndef ETCD_ANSIBLE_TEST_UTIL_H
#define ETCD_ANSIBLE_TEST_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static char dir[64];

__attribute__((unused)) static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/%.40s.XXXXXX", program_invocation_short_name);
	return mkdtemp(dir) ? 0 : -1;
}

__attribute__((unused)) static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
