#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int disk_fsync_dir(const char *data_dir, char *out, size_t size, struct error *err)
{
	struct stat st;
	size_t len;
	char *slash;

	if (!data_dir || !*data_dir || snprintf(out, size, "%s", data_dir) >= (int)size)
		return error_set(err, -EINVAL, "data_dir: empty or too long");
	len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (stat(out, &st) == 0)
		return error_set(err, -ENOTDIR, "data_dir: %s is not a directory", out);
	if (errno != ENOENT)
		return error_set(err, -errno, "data_dir: %s: %s", out, strerror(errno));
	/* Not there yet (a member about to be created): its filesystem is the parent's. */
	slash = strrchr(out, '/');
	if (!slash)
		snprintf(out, size, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
	if (is_dir(out))
		return 0;
	return error_set(err, -ENOENT, "data_dir: neither %s nor its parent %s is a directory",
			 data_dir, out);
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double disk_percentile(double *samples, size_t n, double p)
{
	double exact;
	size_t rank;

	if (n == 0)
		return 0;
	qsort(samples, n, sizeof(*samples), compare_doubles);
	/* p * n first: exact for integer p and n, so 99% of 200 is rank 198, not 198.000...1. */
	exact = p * (double)n / 100.0;
	if (exact <= 1)
		return samples[0];
	if (exact >= (double)n)
		return samples[n - 1];
	rank = (size_t)exact; /* ceil without libm (the modules do not link it) */
	if ((double)rank < exact)
		rank++;
	return samples[rank - 1];
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* One write of the whole block (a short write is continued), then fdatasync, timed. */
static int write_and_sync(int fd, const char *block, double *sync_ms, struct error *err)
{
	struct timespec t0, t1;
	size_t done = 0;
	ssize_t n;

	while (done < DISK_FSYNC_WRITE_SIZE) {
		n = write(fd, block + done, DISK_FSYNC_WRITE_SIZE - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return error_set(err, n < 0 ? -errno : -EIO, "write: %s",
					 n < 0 ? strerror(errno) : "no progress");
		done += (size_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fdatasync(fd) < 0)
		return error_set(err, -errno, "fdatasync: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*sync_ms = elapsed_ms(&t0, &t1);
	return 0;
}

int disk_fsync_measure(const char *data_dir, size_t writes, struct disk_fsync_result *out,
		       struct error *err)
{
	char path[sizeof(out->dir) + 64], block[DISK_FSYNC_WRITE_SIZE];
	double *samples = NULL, sum = 0;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if (writes == 0 || writes > DISK_FSYNC_MAX_WRITES)
		return error_set(err, -EINVAL, "writes must be between 1 and %d",
				 DISK_FSYNC_MAX_WRITES);
	rc = disk_fsync_dir(data_dir, out->dir, sizeof(out->dir), err);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s%s.etcd-fsync-test.XXXXXX", out->dir,
		 strcmp(out->dir, "/") == 0 ? "" : "/");
	samples = calloc(writes, sizeof(*samples));
	if (!samples) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* mkostemp: O_CREAT|O_EXCL, mode 0600 from the start. */
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		rc = error_set(err, -errno, "cannot create a test file in %s: %s", out->dir,
			       strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < writes; i++) {
		rc = write_and_sync(fd, block, &samples[i], err);
		if (rc < 0) {
			error_wrap(err, rc, "%s", path);
			goto out;
		}
		sum += samples[i];
		if (samples[i] > out->max_ms)
			out->max_ms = samples[i];
	}
	out->writes = writes;
	out->mean_ms = sum / (double)writes;
	out->p50_ms = disk_percentile(samples, writes, 50);
	out->p99_ms = disk_percentile(samples, writes, 99);
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(samples);
	return rc;
}
