/*
 * drill: restore drills - prove that the newest backup restores, without touching the live
 * member or the live CA.
 *
 * etcd (etcd_snapshot state=drilled): a scratch directory (0700, a marker file naming the drill's
 * PID) → the newest backup fetched, verified and decrypted into it (backup.c) while the free
 * space is watched → the snapshot's hash and bbolt pages checked (snapshot.c) → restored by
 * etcdutl/etcdctl (the module) → a throwaway etcd started from it on two ephemeral 127.0.0.1
 * ports over plain HTTP (nothing leaves the host; the data is already on it in plaintext) → its
 * revision and key count read over the JSON gateway (etcd.c) → stopped → the scratch directory
 * removed. The throwaway etcd dies with the module (PR_SET_PDEATHSIG), so a drill killed for
 * memory leaves no etcd behind; its scratch is removed by the next drill (the marker's PID is
 * gone).
 *
 * CA (kms_s3_backup state=drilled, kind=ca): the backup unpacked into scratch, then
 * drill_ca_check: the root certificate is the live one, the intermediate chains to it, and the
 * intermediate key opens with the backed-up password and matches its certificate.
 *
 * Space: a drill needs room for the snapshot and its restored copy, so it refuses to start when
 * the scratch file system has less than 2x the expected snapshot size free (drill_check_space),
 * and stops when a growing snapshot leaves less room than it already takes (drill_file_sink).
 *
 * Errors: 0 or a negative errno with err set; -ENOSPC for room, -EPROTO when the restored data
 * contradicts the backup (revision). Nothing returned is allocated for the caller except where
 * said.
 */
#ifndef ETCD_ANSIBLE_DRILL_H
#define ETCD_ANSIBLE_DRILL_H

#include "backup.h"
#include "error.h"
#include "metrics.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Name of the marker file inside a scratch directory: "<pid>\n". */
#define DRILL_MARKER ".etcd-ansible-drill"

struct drill_scratch {
	char path[PATH_MAX - 64]; /* "" until made, and again once removed */
};

/*
 * Makes <parent>/<prefix>-XXXXXX (0700, parent created 0700 when missing) with its marker, after
 * removing earlier scratch directories of the same prefix whose drill is no longer running.
 * *removed_stale gets how many were removed.
 */
int drill_scratch_make(struct drill_scratch *s, const char *parent, const char *prefix,
		       size_t *removed_stale, struct error *err);
/* Removes the scratch directory and everything in it (only ever a drill_scratch_make one). */
int drill_scratch_remove(struct drill_scratch *s, struct error *err);

/* Free bytes for an unprivileged writer... and for root (statvfs f_bavail) under path. */
int drill_free_bytes(const char *path, uint64_t *free_bytes, struct error *err);

/*
 * Refuses (-ENOSPC) when path's file system has less than 2 * expected bytes free; the message
 * names both figures and what to do.
 */
int drill_check_space(const char *path, uint64_t expected, struct error *err);

/* The size of the live member's database (<data_dir>/member/snap/db), 0 when unknown. */
uint64_t drill_live_db_size(const char *data_dir);

/* A sink (envelope_sink_fn) writing to fd that stops with -ENOSPC when the free space under
 * path falls below what it has written (the restore needs as much again). */
struct drill_file_sink {
	int fd;
	const char *path;
	uint64_t written;
	uint64_t checked_at; /* written at the last free-space check */
};
int drill_file_sink_write(void *ctx, const void *buf, size_t len, struct error *err);

/* ---- the throwaway etcd ------------------------------------------------------------------- */

struct drill_etcd {
	pid_t pid;		 /* 0: not running */
	char client_url[64];	 /* http://127.0.0.1:PORT */
	char peer_url[64];	 /* http://127.0.0.1:PORT (as restored with) */
	char log_path[PATH_MAX]; /* etcd's output, in the scratch directory */
};

/* Two free 127.0.0.1 ports for a member named name: fills client_url and peer_url. */
int drill_etcd_pick_ports(struct drill_etcd *e, struct error *err);

/*
 * Starts etcd (binary) on data_dir restored as member `name` with e's URLs, a clean environment
 * and output into log_path; waits up to timeout_s for /health. On failure it is stopped again
 * and the message holds the end of its log.
 */
int drill_etcd_start(struct drill_etcd *e, const char *binary, const char *data_dir,
		     const char *name, long timeout_s, struct error *err);

/* Revision and number of keys of the whole keyspace (a count-only range over "\0".."\0"). */
int drill_etcd_count(const struct drill_etcd *e, uint64_t *revision, uint64_t *keys,
		     struct error *err);

/* SIGTERM, up to 10 s, then SIGKILL; always reaps. Safe to call when not running. */
void drill_etcd_stop(struct drill_etcd *e);

/* ---- the etcd drill, end to end (etcd_snapshot state=drilled) ------------------------------ */

/* Where the drill looks and how long it waits. */
struct drill_etcd_options {
	const char *data_dir;	 /* the live member's (for the expected size), or NULL */
	const char *scratch_dir; /* the scratch directory's parent */
	const char *etcd, *etcdutl, *etcdctl; /* given paths, or NULL: /opt/bin, then PATH */
	long tool_timeout_s;		      /* the restore tool */
	long start_timeout_s;		      /* the throwaway etcd's /health */
};

/* One drill: what it found, as far as it got (the module reports it). */
struct drill_run {
	struct backup_session session;
	bool opened;
	struct drill_scratch scratch;
	struct drill_etcd etcd;
	char *key; /* the backup drilled; owned */
	uint64_t stored_size;
	json_t *context; /* of the backup drilled; owned */
	uint64_t revision, keys, backup_revision;
	bool have_backup_revision;
	size_t stale;		/* scratch dirs of earlier drills removed */
	uint64_t snapshot_size; /* 0 until the fetched snapshot verified */
	char tool[PATH_MAX];	/* the restore tool run, "" before */
	char output[4096];	/* what it printed */
};

/*
 * The newest etcd backup of cfg's cluster fetched into a fresh scratch directory, verified,
 * restored, started and counted; the restored revision must not be below the one recorded in
 * the backup (-EPROTO). The caller then stops d->etcd, removes d->scratch and releases d.
 */
int drill_etcd_run(struct drill_run *d, const struct drill_etcd_options *o,
		   const struct backup_config *cfg, struct error *err);
void drill_run_release(struct drill_run *d);

/* The drill's metrics (job result, restored revision and keys, stored size) into cfg's dir. */
int drill_etcd_metrics(const struct metrics_config *cfg, const struct drill_run *d, bool ok,
		       double seconds, struct error *err);

/* ---- CA ----------------------------------------------------------------------------------- */

struct drill_ca_report {
	char root_fingerprint[65]; /* of the backed-up root */
	char live_fingerprint[65]; /* of the live root */
	bool root_matches;
	bool intermediate_chains;      /* certs/intermediate_ca.crt verifies against the root */
	bool intermediate_key_matches; /* secrets/intermediate_ca_key opens and fits it */
};

/*
 * Checks an unpacked CA directory (certs/, secrets/, config/ca.json) against the live root
 * certificate file. Fills r as far as it got; returns -EPROTO naming the first check that failed.
 */
int drill_ca_check(const char *ca_dir, const char *live_root, struct drill_ca_report *r,
		   struct error *err);

#endif
