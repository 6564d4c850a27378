/* cmocka tests of module_utils/fs: atomic writes, exact modes, accounts without NSS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_fs.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *path_in_dir(const char *name)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static size_t entries_in_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_atomic_write_replaces_and_leaves_no_temp(void **state)
{
	struct error err;
	struct stat st;
	char *text;
	size_t len;
	const char *p = path_in_dir("unit.service");
	(void)state;

	assert_int_equal(fs_write_atomic(p, "one\n", 4, 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	assert_int_equal(fs_write_atomic(p, "two!\n", 5, 0600, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	assert_int_equal(fs_read_file(p, 100, &text, &len, &err), 0);
	assert_string_equal(text, "two!\n");
	assert_int_equal(len, 5);
	free(text);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(entries_in_dir(), 1);
	assert_int_equal(fs_remove(p, &err), 1);
	assert_int_equal(fs_remove(p, &err), 0);
}

static void test_atomic_write_failure_leaves_nothing(void **state)
{
	struct error err;
	(void)state;

	/* chown to a uid that cannot be set by a non-root user, or rename into a missing dir */
	assert_true(fs_write_atomic(path_in_dir("missing/x"), "x", 1, 0644, FS_KEEP_OWNER,
				    FS_KEEP_GROUP, &err) < 0);
	assert_non_null(strstr(err.msg, "missing/x"));
	assert_int_equal(entries_in_dir(), 0);
}

static void test_create_exclusive_has_exact_mode_whatever_umask(void **state)
{
	static const mode_t umasks[] = { 0, 022, 077, 0777 };
	struct error err;
	struct stat st;
	(void)state;

	for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
		mode_t old = umask(umasks[i]);
		int fd = fs_create_exclusive(path_in_dir("key.pem"), 0400, &err);

		umask(old);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0400);
		close(fd);
		assert_int_equal(fs_create_exclusive(path_in_dir("key.pem"), 0400, &err), -EEXIST);
		unlink(path_in_dir("key.pem"));
	}
}

static void test_read_file_bounds(void **state)
{
	struct error err;
	char *text;
	size_t len;
	(void)state;

	assert_int_equal(fs_write_atomic(path_in_dir("f"), "0123456789", 10, 0644, FS_KEEP_OWNER,
					 FS_KEEP_GROUP, &err), 0);
	assert_int_equal(fs_read_file(path_in_dir("f"), 9, &text, &len, &err), -EFBIG);
	assert_null(text);
	assert_int_equal(fs_read_file(path_in_dir("f"), 10, &text, &len, &err), 0);
	free(text);
	assert_int_equal(fs_read_file(path_in_dir("nope"), 10, &text, &len, &err), -ENOENT);
	assert_int_equal(fs_read_file(dir, 10, &text, &len, &err), -EINVAL);
	unlink(path_in_dir("f"));
}

static void test_mkdir_p(void **state)
{
	struct error err;
	struct stat st;
	(void)state;

	assert_int_equal(fs_mkdir_p(path_in_dir("a/b/c"), 0750, &err), 0);
	assert_int_equal(fs_mkdir_p(path_in_dir("a/b/c"), 0750, &err), 0);
	assert_int_equal(stat(path_in_dir("a/b/c"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(system("rm -rf /tmp/test_fs.*/a"), 0);
}

static void test_accounts_from_files(void **state)
{
	struct error err;
	uid_t uid;
	gid_t gid;
	char passwd[256], group[256];
	(void)state;

	snprintf(passwd, sizeof(passwd), "%s", path_in_dir("passwd"));
	snprintf(group, sizeof(group), "%s", path_in_dir("group"));
	const char *pw = "root:x:0:0:root:/root:/bin/bash\nbroken\netcd:x:998:997::/var/lib/etcd:/usr/sbin/nologin\n";
	const char *gr = "root:x:0:\netcd:x:997:\n";
	assert_int_equal(fs_write_atomic(passwd, pw, strlen(pw), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	assert_int_equal(fs_write_atomic(group, gr, strlen(gr), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	fs_set_account_files(passwd, group);

	assert_int_equal(fs_lookup_user("etcd", &uid, &gid, &err), 0);
	assert_int_equal(uid, 998);
	assert_int_equal(gid, 997);
	assert_int_equal(fs_lookup_group("etcd", &gid, &err), 0);
	assert_int_equal(gid, 997);
	assert_int_equal(fs_lookup_user("1234", &uid, NULL, &err), 0);
	assert_int_equal(uid, 1234);
	assert_int_equal(fs_lookup_user("nobody-here", &uid, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nobody-here"));
	assert_int_equal(fs_resolve_owner("etcd", "root", &uid, &gid, &err), 0);
	assert_int_equal(uid, 998);
	assert_int_equal(gid, 0);
	assert_int_equal(fs_resolve_owner(NULL, NULL, &uid, &gid, &err), 0);
	assert_int_equal(uid, FS_KEEP_OWNER);
	fs_set_account_files(NULL, NULL);
	unlink(passwd);
	unlink(group);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_write_replaces_and_leaves_no_temp),
		cmocka_unit_test(test_atomic_write_failure_leaves_nothing),
		cmocka_unit_test(test_create_exclusive_has_exact_mode_whatever_umask),
		cmocka_unit_test(test_read_file_bounds),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_accounts_from_files),
	};
	return cmocka_run_group_tests_name("fs", tests, make_dir, remove_dir);
}
