/*
 * libFuzzer target for the tar reader (module_utils/tar.c): any bytes as a CA archive from a
 * backup. Each input is extracted into a fresh directory, which is removed afterwards (nftw).
 *
 * Checked: no crash, hang, leak or fd leak; nothing is ever created outside the extraction
 * directory: its parent holds a canary file and the extraction directory only, before and after,
 * and the grandparent holds the parent only; nothing but files and directories appears inside it;
 * when the archive is accepted, the files under it are the files the stats count.
 * The work tree is under $FUZZ_TAR_TMP, else /dev/shm (fsync is free there), else /tmp.
 *
 * A mutated header almost never keeps a valid checksum, so (except for inputs whose size is a
 * multiple of 7, read as they are) the target walks the archive as the reader does and writes the
 * right checksum into each header block before feeding it: mutations then reach names, modes,
 * sizes and types.
 */
#include "tar.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char grandparent[4096], parent[4096];
static size_t regular_files, others;

/* Counts the entries of dir (. and .. aside); aborts on a name other than expect_a/expect_b. */
static int count_and_find(const char *dir, const char *expect_a, const char *expect_b)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((!expect_a || strcmp(e->d_name, expect_a) != 0) &&
		    (!expect_b || strcmp(e->d_name, expect_b) != 0)) {
			fprintf(stderr, "fuzz_tar: %s/%s was created outside the extraction dir\n",
				dir, e->d_name);
			abort();
		}
		n++;
	}
	closedir(d);
	return n;
}

static void check_outside(const char *dest_name)
{
	const char *base = strrchr(parent, '/') + 1;

	if (count_and_find(grandparent, base, NULL) != 1)
		abort();
	if (count_and_find(parent, "canary", dest_name) != (dest_name ? 2 : 1))
		abort();
}

static int classify(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	if (ftw->level == 0)
		return 0;
	if (S_ISREG(st->st_mode))
		regular_files++;
	else if (!S_ISDIR(st->st_mode))
		others++;
	/* make every directory enterable and writable again for the removal */
	if (S_ISDIR(st->st_mode) && (st->st_mode & 0700) != 0700 &&
	    chmod(path, (st->st_mode & 07777) | 0700) < 0)
		abort();
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0) {
		perror(path);
		abort();
	}
	return 0;
}

static uint64_t octal(const unsigned char *field, size_t size)
{
	uint64_t v = 0;

	for (size_t i = 0; i < size && field[i] >= '0' && field[i] <= '7' && v < (1ull << 40); i++)
		v = v * 8 + (uint64_t)(field[i] - '0');
	return v;
}

/* Writes the ustar checksum (offset 148, 8 bytes: "%06o\0 ") of every header block in buf. */
static void fix_checksums(unsigned char *buf, size_t size)
{
	static const unsigned char zero[TAR_BLOCK];
	size_t off = 0;

	while (size - off >= TAR_BLOCK && memcmp(buf + off, zero, TAR_BLOCK) != 0) {
		unsigned char *h = buf + off;
		unsigned sum = 0;
		char field[8];

		for (size_t i = 0; i < TAR_BLOCK; i++)
			sum += i >= 148 && i < 156 ? ' ' : h[i];
		snprintf(field, sizeof(field), "%06o", sum & 0777777);
		memcpy(h + 148, field, 7);
		h[155] = ' ';
		off += TAR_BLOCK;
		/* data blocks follow files only (the reader takes none after a directory) */
		if (h[156] == '0' || h[156] == '\0') {
			uint64_t blocks = (octal(h + 124, 12) + TAR_BLOCK - 1) / TAR_BLOCK;

			if (blocks > (size - off) / TAR_BLOCK)
				break;
			off += (size_t)blocks * TAR_BLOCK;
		}
	}
}

/* At exit: the canary, its directory and the work tree (only what Initialize made). */
static void remove_work_tree(void)
{
	char canary[4200];

	snprintf(canary, sizeof(canary), "%s/canary", parent);
	if (unlink(canary) < 0 || rmdir(parent) < 0 || rmdir(grandparent) < 0)
		perror("fuzz_tar: removing the work tree");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("FUZZ_TAR_TMP");
	char canary[4200];
	int fd;

	(void)argc;
	(void)argv;
	if (!tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(grandparent, sizeof(grandparent), "%s/fuzz_tar.XXXXXX", tmp);
	if (!mkdtemp(grandparent))
		abort();
	snprintf(parent, sizeof(parent), "%s/parent", grandparent);
	snprintf(canary, sizeof(canary), "%s/canary", parent);
	if (mkdir(parent, 0700) < 0 || (fd = open(canary, O_CREAT | O_EXCL | O_WRONLY, 0600)) < 0)
		abort();
	close(fd);
	atexit(remove_work_tree);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
	unsigned char *data = malloc(size ? size : 1);
	char dest[4200];
	struct tar_reader *r;
	struct tar_stats stats = {0};
	struct error err = {0};
	/* whole, or in pieces that cut headers anywhere */
	size_t chunk = size % 3 == 0 ? size : 1 + size % 1031;
	int rc = 0, fd_before, fd_after;

	if (!data)
		abort();
	memcpy(data, input, size);
	if (size % 7 != 0)
		fix_checksums(data, size);
	fd_before = dup(0);
	close(fd_before);
	check_outside(NULL);
	snprintf(dest, sizeof(dest), "%s/dest.XXXXXX", parent);
	if (!mkdtemp(dest))
		abort();
	r = tar_reader_new(dest, &err);
	if (!r)
		abort();
	for (size_t off = 0; off < size && rc == 0;) {
		size_t n = size - off > chunk ? chunk : size - off;

		rc = tar_reader_write(r, data + off, n, &err);
		off += n;
	}
	if (rc == 0)
		rc = tar_reader_finish(r, &stats, &err);
	tar_reader_free(r);
	if (rc > 0)
		abort();

	check_outside(strrchr(dest, '/') + 1);
	regular_files = others = 0;
	if (nftw(dest, classify, 64, FTW_PHYS) != 0)
		abort();
	if (others != 0 || (rc == 0 && regular_files != stats.files))
		abort();
	if (nftw(dest, remove_entry, 64, FTW_DEPTH | FTW_PHYS) != 0)
		abort();
	check_outside(NULL);

	fd_after = dup(0);
	close(fd_after);
	if (fd_after != fd_before) /* the reader left a file descriptor open */
		abort();
	free(data);
	return 0;
}
