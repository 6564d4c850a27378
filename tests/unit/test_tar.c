/*
 * cmocka tests of module_utils/tar: our archives round-trip and GNU tar reads them; archives GNU
 * tar writes (--format=ustar) extract with our reader; unsafe names, links and cut archives are
 * refused; the zero-mtime stream is a stable content hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void shell(const char *fmt, const char *arg)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg, arg, arg, arg);
	assert_int_equal(system(cmd), 0);
}

/* A tree like a CA directory: nested dirs, a 0400 key, an empty file, block-sized data. */
static void make_tree(const char *root)
{
	char long_dir[256], p[768];
	static char block[TAR_BLOCK * 3];

	memset(block, 'x', sizeof(block));
	snprintf(p, sizeof(p), "%s/secrets", root);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/secrets/root_ca_key", root);
	write_file(p, "-----BEGIN EC PRIVATE KEY-----\n", 31, 0400);
	snprintf(p, sizeof(p), "%s/empty", root);
	write_file(p, "", 0, 0644);
	snprintf(p, sizeof(p), "%s/blocks", root);
	write_file(p, block, sizeof(block), 0640);
	/* A path longer than 100 bytes: needs ustar's prefix field. */
	memset(long_dir, 'd', 90);
	long_dir[90] = '\0';
	snprintf(p, sizeof(p), "%s/%s", root, long_dir);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof(p), "%s/%s/config-file-with-a-long-name.json", root, long_dir);
	write_file(p, "{\"a\":1}\n", 8, 0600);
}

struct file_sink {
	FILE *f;
	EVP_MD_CTX *md;
};

static int to_file(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct file_sink *s = ctx;

	(void)err;
	if (s->f)
		assert_int_equal(fwrite(buf, 1, len, s->f), len);
	if (s->md)
		EVP_DigestUpdate(s->md, buf, len);
	return 0;
}

static void archive_to(const char *root, const char *tarfile, bool zero_mtime, unsigned char *hash)
{
	struct file_sink s = {0};
	struct tar_stats st;
	struct error err;

	s.f = tarfile ? fopen(tarfile, "wb") : NULL;
	s.md = hash ? EVP_MD_CTX_new() : NULL;
	if (s.md)
		EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
	assert_int_equal(tar_write_dir(root, NULL, zero_mtime, to_file, &s, &st, &err), 0);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.dirs, 2); /* the root "./" is not counted */
	assert_int_equal(st.bytes % TAR_BLOCK, 0);
	if (s.f)
		fclose(s.f);
	if (s.md) {
		EVP_DigestFinal_ex(s.md, hash, NULL);
		EVP_MD_CTX_free(s.md);
	}
}

/* Feeds a file to the reader `chunk` bytes at a time; returns the reader's result. */
static int extract(const char *tarfile, const char *dest, size_t chunk, struct error *err)
{
	struct tar_reader *r;
	char buf[4096];
	FILE *f = fopen(tarfile, "rb");
	size_t n;
	int rc = 0;

	assert_non_null(f);
	assert_int_equal(mkdir(dest, 0700), 0);
	r = tar_reader_new(dest, err);
	assert_non_null(r);
	while (rc == 0 && (n = fread(buf, 1, chunk, f)) > 0)
		rc = tar_reader_write(r, buf, n, err);
	if (rc == 0)
		rc = tar_reader_finish(r, NULL, err);
	tar_reader_free(r);
	fclose(f);
	return rc;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_round_trip_keeps_contents_and_modes(void **state)
{
	const char *src = in_dir("src"), *tarfile = in_dir("a.tar"), *out = in_dir("out");
	struct error err;
	(void)state;

	make_tree(src);
	archive_to(src, tarfile, false, NULL);
	assert_int_equal(extract(tarfile, out, 1, &err), 0);
	shell("diff -r '%s/src' '%s/out'", dir);
	assert_int_equal(mode_of(in_dir("out/secrets/root_ca_key")), 0400);
	assert_int_equal(mode_of(in_dir("out/secrets")), 0700);
	assert_int_equal(mode_of(in_dir("out/blocks")), 0640);
	assert_int_equal(mode_of(in_dir("out")), 0755); /* the root's mode comes back too */
}

static void test_gnu_tar_reads_ours_and_we_read_gnu_tar(void **state)
{
	const char *src = in_dir("src"), *ours = in_dir("ours.tar"), *out = in_dir("out");
	struct error err;
	(void)state;

	make_tree(src);
	archive_to(src, ours, false, NULL);
	shell("mkdir '%s/gnu' && tar -xf '%s/ours.tar' -C '%s/gnu'", dir);
	shell("diff -r '%s/src' '%s/gnu' && tar --format=ustar -cf '%s/gnu.tar' -C '%s/src' .",
	      dir);
	assert_int_equal(extract(in_dir("gnu.tar"), out, 777, &err), 0);
	shell("diff -r '%s/src' '%s/out'", dir);
	assert_int_equal(mode_of(in_dir("out/secrets/root_ca_key")), 0400);
}

static void test_zero_mtime_is_a_content_hash(void **state)
{
	const char *src = in_dir("src");
	unsigned char h1[32], h2[32], h3[32];
	(void)state;

	make_tree(src);
	archive_to(src, NULL, true, h1);
	shell("touch -d '2001-01-01' '%s/src/empty'", dir);
	archive_to(src, NULL, true, h2);
	assert_memory_equal(h1, h2, 32);
	write_file(in_dir("src/empty"), "now", 3, 0644);
	archive_to(src, NULL, true, h3);
	assert_memory_not_equal(h1, h3, 32);
}

static void test_links_are_not_archived(void **state)
{
	struct error err;
	(void)state;

	make_tree(in_dir("src"));
	assert_int_equal(symlink("/etc/passwd", in_dir("src/link")), 0);
	assert_int_equal(
	    tar_write_dir(in_dir("src"), NULL, false, to_file, &(struct file_sink){0}, NULL, &err),
	    -EINVAL);
	assert_non_null(strstr(err.msg, "link"));
}

/* An excluded top-level name is never opened: a link in it does not fail the archive. */
static void test_excluded_names_are_never_read(void **state)
{
	static const char *const exclude[] = {"db", NULL};
	unsigned char without[32], with[32];
	struct file_sink s = {0};
	struct error err;
	(void)state;

	make_tree(in_dir("src"));
	archive_to(in_dir("src"), NULL, true, without);
	assert_int_equal(mkdir(in_dir("src/db"), 0700), 0);
	assert_int_equal(symlink("/etc/passwd", in_dir("src/db/link")), 0);
	s.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
	assert_int_equal(tar_write_dir(in_dir("src"), exclude, true, to_file, &s, NULL, &err), 0);
	EVP_DigestFinal_ex(s.md, with, NULL);
	EVP_MD_CTX_free(s.md);
	assert_memory_equal(without, with, 32);
	/* Only names directly under the root: secrets/db is archived (and its link refused). */
	assert_int_equal(mkdir(in_dir("src/secrets/db"), 0700), 0);
	assert_int_equal(symlink("/etc/passwd", in_dir("src/secrets/db/link")), 0);
	assert_int_equal(tar_write_dir(in_dir("src"), exclude, true, to_file,
				       &(struct file_sink){0}, NULL, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "secrets/db/link"));
}

static void test_unsafe_names_and_links_are_refused(void **state)
{
	struct error err;
	(void)state;

	/* GNU tar writes what we must refuse: "..", absolute names, symlinks. */
	shell("mkdir -p '%s/t/sub' && echo x > '%s/t/sub/f' && cd '%s/t' && "
	      "tar -P --format=ustar -cf ../dotdot.tar sub/../sub/f",
	      dir);
	assert_int_equal(extract(in_dir("dotdot.tar"), in_dir("o1"), 512, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unsafe"));
	shell("cd '%s/t' && tar --format=ustar -P -cf ../abs.tar \"$PWD/sub/f\"", dir);
	assert_int_equal(extract(in_dir("abs.tar"), in_dir("o2"), 512, &err), -EINVAL);
	shell("cd '%s/t' && ln -s /etc l && tar --format=ustar -cf ../link.tar l", dir);
	assert_int_equal(extract(in_dir("link.tar"), in_dir("o3"), 512, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "refused"));
	assert_int_equal(access(in_dir("o3/l"), F_OK), -1);
}

static void test_cut_or_tampered_archives_fail(void **state)
{
	const char *src = in_dir("src"), *tarfile = in_dir("a.tar");
	struct error err;
	(void)state;

	make_tree(src);
	archive_to(src, tarfile, false, NULL);
	shell("head -c 1536 '%s/a.tar' > '%s/cut.tar'", dir);
	assert_int_equal(extract(in_dir("cut.tar"), in_dir("o1"), 100, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cut short"));
	/* One flipped byte in the first header's name: the checksum catches it. */
	shell("cp '%s/a.tar' '%s/bad.tar' && printf 'Z' | dd of='%s/bad.tar' bs=1 seek=0 "
	      "conv=notrunc status=none",
	      dir);
	assert_int_equal(extract(in_dir("bad.tar"), in_dir("o2"), 4096, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "checksum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_keeps_contents_and_modes, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_gnu_tar_reads_ours_and_we_read_gnu_tar, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_zero_mtime_is_a_content_hash, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_links_are_not_archived, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_excluded_names_are_never_read, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_unsafe_names_and_links_are_refused, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_cut_or_tampered_archives_fail, make_dir,
					    remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
