/* cmocka tests of module_utils/fs: atomic writes, exact modes, accounts without NSS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

	assert_int_equal(fs_write_atomic(p, "one\n", 4, 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
			 0);
	assert_int_equal(fs_write_atomic(p, "two!\n", 5, 0600, FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
			 0);
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
	static const mode_t umasks[] = {0, 022, 077, 0777};
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
					 FS_KEEP_GROUP, &err),
			 0);
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
	const char *pw = "root:x:0:0:root:/root:/bin/bash\nbroken\netcd:x:998:997::/var/lib/etcd:/"
			 "usr/sbin/nologin\n";
	const char *gr = "root:x:0:\netcd:x:997:\n";
	assert_int_equal(
	    fs_write_atomic(passwd, pw, strlen(pw), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	assert_int_equal(
	    fs_write_atomic(group, gr, strlen(gr), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
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

static void test_temp_then_commit(void **state)
{
	char tmp[4096], *text;
	const char *dest = path_in_dir("snap.db");
	struct error err;
	struct stat st;
	size_t len;
	int fd;
	(void)state;

	fd = fs_open_temp(dest, 0640, FS_KEEP_OWNER, FS_KEEP_GROUP, tmp, sizeof(tmp), &err);
	assert_true(fd >= 0);
	assert_non_null(strstr(tmp, "snap.db"));
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640); /* the final mode before a byte is written */
	assert_false(fs_exists(dest));
	assert_int_equal(write(fd, "data", 4), 4);
	assert_int_equal(fs_commit_file(fd, tmp, dest, &err), 0);
	assert_string_equal(tmp, ""); /* nothing left for the caller to remove */
	assert_int_equal(fs_read_file(dest, 100, &text, &len, &err), 0);
	assert_string_equal(text, "data");
	free(text);
	assert_int_equal(entries_in_dir(), 1);
	assert_int_equal(fs_remove(dest, &err), 1);
	/* a directory that does not exist: no fd, nothing named */
	fd = fs_open_temp(path_in_dir("missing/x"), 0600, FS_KEEP_OWNER, FS_KEEP_GROUP, tmp,
			  sizeof(tmp), &err);
	assert_true(fd < 0);
	assert_string_equal(tmp, "");
}

static void test_move_aside_keeps_everything(void **state)
{
	char aside[4096], want[4200], data[256], *text;
	struct error err;
	size_t len;
	(void)state;

	snprintf(data, sizeof(data), "%s", path_in_dir("data"));

	/* nothing there: nothing moved */
	assert_int_equal(fs_move_aside(data, "before-restore", aside, sizeof(aside), &err), 0);
	assert_string_equal(aside, "");
	assert_false(fs_occupied(data));
	assert_int_equal(mkdir(data, 0700), 0);
	assert_false(fs_occupied(data)); /* an empty directory holds nothing */
	assert_int_equal(fs_write_atomic(path_in_dir("data/member"), "x", 1, 0600, FS_KEEP_OWNER,
					 FS_KEEP_GROUP, &err),
			 0);
	assert_true(fs_occupied(data));
	assert_int_equal(fs_move_aside(data, "before-restore", aside, sizeof(aside), &err), 0);
	snprintf(want, sizeof(want), "%s.before-restore-", data);
	assert_memory_equal(aside, want, strlen(want));
	assert_int_equal(strlen(aside), strlen(want) + strlen("20260101T000000Z"));
	assert_false(fs_exists(data));
	snprintf(want, sizeof(want), "%s/member", aside);
	assert_int_equal(fs_read_file(want, 10, &text, &len, &err), 0);
	assert_string_equal(text, "x");
	free(text);
	/* a name that does not fit is refused, nothing renamed */
	assert_int_equal(fs_aside_name(data, "before-restore", want, 10), -ENAMETOOLONG);
}

static void assert_mode_owner(const char *path, mode_t mode)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(st.st_gid, getgid());
}

/* fs_ensure_content of a 0400 file owned by this user, the replaced one kept as "replaced". */
static int ensure_key(const char *path, const char *text, bool check, bool *changed, char *kept,
		      size_t kept_size)
{
	const struct fs_wanted key_w = {0400, getuid(), getgid()};
	struct error err;

	return fs_ensure_content(path, text, strlen(text), &key_w, "replaced", check, changed, kept,
				 kept_size, &err);
}

static void test_ensure_dir_and_content(void **state)
{
	const struct fs_wanted dir_w = {0750, getuid(), getgid()},
			       key_w = {0400, getuid(), getgid()};
	char sub[256], key[256], kept[4096], *text;
	struct error err;
	bool changed;
	size_t len;
	(void)state;

	snprintf(sub, sizeof(sub), "%s", path_in_dir("ca"));
	snprintf(key, sizeof(key), "%s", path_in_dir("ca/key"));
	/* check mode reports the change and touches nothing */
	assert_int_equal(fs_ensure_dir(sub, &dir_w, true, &changed, &err), 0);
	assert_true(changed);
	assert_false(fs_exists(sub));
	assert_int_equal(fs_ensure_dir(sub, &dir_w, false, &changed, &err), 0);
	assert_true(changed);
	assert_mode_owner(sub, 0750);
	assert_int_equal(fs_ensure_dir(sub, &dir_w, false, &changed, &err), 0);
	assert_false(changed);
	/* a wrong mode is mended in place */
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(fs_ensure_dir(sub, &dir_w, false, &changed, &err), 0);
	assert_true(changed);
	assert_mode_owner(sub, 0750);

	/* a new file: exact mode, no copy kept (nothing replaced) */
	assert_int_equal(ensure_key(key, "one", false, &changed, kept, sizeof(kept)), 0);
	assert_true(changed);
	assert_string_equal(kept, "");
	assert_mode_owner(key, 0400);
	/* the same content: unchanged; only a mode differing: mended, nothing kept */
	assert_int_equal(ensure_key(key, "one", false, &changed, kept, sizeof(kept)), 0);
	assert_false(changed);
	assert_int_equal(chmod(key, 0644), 0);
	assert_int_equal(ensure_key(key, "one", false, &changed, kept, sizeof(kept)), 0);
	assert_true(changed);
	assert_string_equal(kept, "");
	assert_mode_owner(key, 0400);
	/* other content: check mode changes nothing; then written whole, the old one kept */
	assert_int_equal(ensure_key(key, "two!", true, &changed, kept, sizeof(kept)), 0);
	assert_true(changed);
	assert_int_equal(fs_read_file(key, 10, &text, &len, &err), 0);
	assert_string_equal(text, "one");
	free(text);
	assert_int_equal(ensure_key(key, "two!", false, &changed, kept, sizeof(kept)), 0);
	assert_true(changed);
	assert_int_equal(fs_read_file(key, 10, &text, &len, &err), 0);
	assert_string_equal(text, "two!");
	free(text);
	assert_mode_owner(key, 0400);
	assert_int_equal(fs_read_file(kept, 10, &text, &len, &err), 0);
	assert_string_equal(text, "one");
	free(text);
	/* names joined to a directory: only those that stay inside it */
	assert_true(fs_path_stays_inside("secrets/password"));
	assert_true(fs_path_stays_inside("a..b/c"));
	assert_false(fs_path_stays_inside(""));
	assert_false(fs_path_stays_inside("/etc/passwd"));
	assert_false(fs_path_stays_inside("../x"));
	assert_false(fs_path_stays_inside("a/../../x"));
	assert_false(fs_path_stays_inside("a/.."));
	/* a symlink or a directory at the path is refused, never replaced */
	assert_int_equal(unlink(kept), 0);
	assert_int_equal(symlink("/etc/hostname", path_in_dir("ca/link")), 0);
	assert_int_equal(fs_ensure_content(path_in_dir("ca/link"), "x", 1, &key_w, NULL, false,
					   &changed, kept, sizeof(kept), &err),
			 -EINVAL);
	assert_int_equal(fs_ensure_dir(key, &dir_w, false, &changed, &err), -ENOTDIR);
	assert_int_equal(
	    fs_ensure_content(sub, "x", 1, &key_w, NULL, false, &changed, kept, sizeof(kept), &err),
	    -EINVAL);
}

static void test_ensure_link(void **state)
{
	char link_path[256], file_path[256], now[256];
	struct error err;
	bool changed;
	ssize_t n;
	(void)state;

	snprintf(link_path, sizeof(link_path), "%s", path_in_dir("peer_ca.crt"));
	snprintf(file_path, sizeof(file_path), "%s", path_in_dir("plain"));
	/* check mode reports the link and makes nothing */
	assert_int_equal(fs_ensure_link(link_path, "root_ca.crt", true, &changed, &err), 0);
	assert_true(changed);
	assert_false(fs_exists(link_path));
	assert_int_equal(fs_ensure_link(link_path, "root_ca.crt", false, &changed, &err), 0);
	assert_true(changed);
	n = readlink(link_path, now, sizeof(now) - 1);
	assert_int_equal(n, strlen("root_ca.crt"));
	/* the same target: unchanged; another: replaced by a rename */
	assert_int_equal(fs_ensure_link(link_path, "root_ca.crt", false, &changed, &err), 0);
	assert_false(changed);
	assert_int_equal(fs_ensure_link(link_path, "other.crt", false, &changed, &err), 0);
	assert_true(changed);
	n = readlink(link_path, now, sizeof(now) - 1);
	now[n < 0 ? 0 : n] = '\0';
	assert_string_equal(now, "other.crt");
	/* a regular file where the link should be is refused and kept */
	assert_int_equal(
	    fs_write_atomic(file_path, "x", 1, 0600, FS_KEEP_OWNER, FS_KEEP_GROUP, &err), 0);
	assert_int_equal(fs_ensure_link(file_path, "root_ca.crt", false, &changed, &err), -EEXIST);
	assert_false(changed);
	assert_int_equal(readlink(file_path, now, sizeof(now)), -1);
}

static void test_remove_and_chown_tree(void **state)
{
	char tree[256];
	struct error err;
	(void)state;

	snprintf(tree, sizeof(tree), "%s", path_in_dir("tree"));

	assert_int_equal(fs_mkdir_p(path_in_dir("tree/a/b"), 0700, &err), 0);
	assert_int_equal(fs_write_atomic(path_in_dir("tree/a/b/f"), "x", 1, 0600, FS_KEEP_OWNER,
					 FS_KEEP_GROUP, &err),
			 0);
	assert_int_equal(symlink("/etc/hostname", path_in_dir("tree/link")), 0);
	assert_int_equal(fs_chown_tree(tree, getuid(), getgid(), &err), 0);
	assert_int_equal(fs_remove_tree(tree), 0);
	assert_false(fs_exists(tree));
	assert_true(fs_exists("/etc/hostname")); /* symlinks are not followed */
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
	    cmocka_unit_test(test_temp_then_commit),
	    cmocka_unit_test(test_move_aside_keeps_everything),
	    cmocka_unit_test(test_ensure_dir_and_content),
	    cmocka_unit_test(test_ensure_link),
	    cmocka_unit_test(test_remove_and_chown_tree),
	};
	return cmocka_run_group_tests_name("fs", tests, make_dir, remove_dir);
}
