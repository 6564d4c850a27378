/*
 * etcd_restore: `etcdutl snapshot restore` (etcd 3.5+) or `etcdctl snapshot restore` (3.4) into
 * a temp dir beside data_dir, then the swap into place (etcd_snapshot state=restored; the
 * restore drill runs the tool alone).
 *
 * Nothing held cluster data is ever deleted: an occupied data_dir (or wal_dir) is moved aside
 * to <dir>.before-restore-<time> (fs_move_aside); only an empty one is removed. The temp dir is
 * "<parent>/.<base>.restore-XXXXXX", on the same file system as data_dir, so the swap is a
 * rename. The caller removes r->tmp (fs_remove_tree) when it is not "" afterwards.
 *
 * Errors: 0 or a negative errno with err set. Nothing returned is allocated for the caller.
 */
#ifndef ETCD_ANSIBLE_ETCD_RESTORE_H
#define ETCD_ANSIBLE_ETCD_RESTORE_H

#include "error.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What a restore tool printed: the last bytes are the ones that say what went wrong. */
#define ETCD_RESTORE_OUTPUT_MAX 4096u

/* Where the restore goes; the paths of one run. */
struct etcd_restore {
	const char *data_dir, *wal_dir, *tool;
	char tmp[PATH_MAX - 16]; /* the temp dir beside data_dir, "" once gone */
	char new_data[PATH_MAX], new_wal[PATH_MAX];
	char aside[PATH_MAX], wal_aside[PATH_MAX];
	char output[ETCD_RESTORE_OUTPUT_MAX];
};

/* The member the restored data dir belongs to (the tool's flags). */
struct etcd_restore_member {
	const char *src;		   /* the snapshot file */
	const char *name;		   /* --name */
	const char *initial_cluster;	   /* "a=https://...,b=..." */
	const char *peer_urls;		   /* --initial-advertise-peer-urls, comma-joined */
	const char *initial_cluster_token; /* NULL: the tool's default */
	bool skip_hash_check;
};

/*
 * Runs argv[0] (an absolute path to etcdutl or etcdctl, then "snapshot" "restore" ...) with the
 * restore tools' environment (ETCDCTL_API=3 for etcdctl 3.4); 0 when it exited 0, else -EIO with
 * the tail of what it printed (also left in out).
 */
int etcd_restore_run_tool(char *const *argv, long timeout_s, char *out, size_t size,
			  struct error *err);

/* The temp dir beside r->data_dir (its parent made 0755 when missing); fills new_data/new_wal. */
int etcd_restore_make_temp_dir(struct etcd_restore *r, struct error *err);

/* Runs r->tool into r->new_data (and r->new_wal with r->wal_dir); 0 when it exited 0. */
int etcd_restore_into_temp(struct etcd_restore *r, const struct etcd_restore_member *member,
			   long timeout_s, struct error *err);

/*
 * owner/group (names or numbers) for the restored tree; with neither, etcd:etcd when that user
 * and group exist, else the files keep the module's owner (FS_KEEP_OWNER/FS_KEEP_GROUP).
 */
int etcd_restore_owner(const char *owner, const char *group, uid_t *uid, gid_t *gid,
		       struct error *err);

/*
 * The new data dir (0700, chowned to uid/gid unless kept) into place: an existing data_dir
 * (and wal_dir) moved aside into r->aside (r->wal_aside) or, when empty, removed; then renamed.
 */
int etcd_restore_swap(struct etcd_restore *r, uid_t uid, gid_t gid, struct error *err);

#endif
