/*
 * disk: how fast the disk under an etcd data directory makes a write durable.
 *
 * etcd acknowledges a write only after its WAL entry is on disk (fdatasync), so the fsync
 * latency of the data directory's filesystem bounds the whole cluster: etcd's hardware guide
 * asks for a 99th percentile of wal_fsync_duration_seconds below 10 ms, and measures it with fio
 * (--rw=write --ioengine=sync --fdatasync=1 --bs=2300: sequential 2300-byte writes, each followed
 * by fdatasync). disk_fsync_measure() does the same, for a given number of writes, and times
 * each fdatasync (what fio's "sync percentiles" and etcd's metric report).
 *
 * The test file is created 0600 with O_EXCL in the data directory, or in its parent while the
 * data directory does not exist yet (a member about to join), and is removed before returning,
 * also on error. Nothing is allocated for the caller.
 */
#ifndef ETCD_ANSIBLE_DISK_H
#define ETCD_ANSIBLE_DISK_H

#include "error.h"

#include <stddef.h>

/* etcd's WAL entry size in the fio recipe of etcd's docs. */
#define DISK_FSYNC_WRITE_SIZE 2300
/* Writes measured by default: enough for a p99 (2 samples above it), about 1-2 s on a disk
 * that just meets the 10 ms guidance. */
#define DISK_FSYNC_DEFAULT_WRITES 200
/* Most writes one measurement may do (the samples live on the stack of the caller's struct). */
#define DISK_FSYNC_MAX_WRITES 10000

struct disk_fsync_result {
	char dir[4096]; /* where the test file was written */
	size_t writes;
	double p50_ms, p99_ms, max_ms, mean_ms;
};

/*
 * The directory a measurement for data_dir writes in: data_dir if it exists, else its parent if
 * that exists (into out, size bytes). -ENOENT with err set when neither is a directory.
 */
int disk_fsync_dir(const char *data_dir, char *out, size_t size, struct error *err);

/*
 * Measures `writes` (1..DISK_FSYNC_MAX_WRITES) sequential DISK_FSYNC_WRITE_SIZE-byte writes, each
 * followed by fdatasync, in disk_fsync_dir(data_dir); fills *out. Returns 0 or -errno.
 */
int disk_fsync_measure(const char *data_dir, size_t writes, struct disk_fsync_result *out,
		       struct error *err);

/*
 * The p-th percentile (0 < p <= 100) of n samples by the nearest-rank method: the smallest sample
 * with at least p% of the samples at or below it, i.e. the ceil(p/100 * n)-th smallest. Sorts
 * samples in place. 0 when n is 0.
 */
double disk_percentile(double *samples, size_t n, double p);

#endif
