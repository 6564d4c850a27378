#include "etcd_restore.h"

#include "fs.h"
#include "proc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The restore tools' environment: etcdctl 3.4 needs ETCDCTL_API=3. */
static char *const TOOL_ENV[] = {"ETCDCTL_API=3", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

int etcd_restore_run_tool(char *const *argv, long timeout_s, char *out, size_t size,
			  struct error *err)
{
	int status = 0;
	int rc = proc_run(argv, TOOL_ENV, timeout_s, out, size, &status, err);

	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = error_set(err, -EIO, "%s snapshot restore failed (%s %d): %s", argv[0],
			       WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);
	return rc;
}

/* ---- the command ------------------------------------------------------------------------- */

/* The restore command: argv points into flags (kept alive by the caller). */
struct restore_cmd {
	char *argv[24];
	char *flags[8];
	size_t n_flags;
};

static char *flag(struct restore_cmd *c, const char *name, const char *value)
{
	char *f = NULL;

	if (asprintf(&f, "--%s=%s", name, value) < 0)
		return NULL;
	c->flags[c->n_flags++] = f;
	return f;
}

static void restore_cmd_free(struct restore_cmd *c)
{
	for (size_t i = 0; i < c->n_flags; i++)
		free(c->flags[i]);
}

static int build_restore_cmd(struct restore_cmd *c, const char *tool,
			     const struct etcd_restore_member *member, const char *data,
			     const char *wal)
{
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->argv[n++] = (char *)tool;
	c->argv[n++] = "snapshot";
	c->argv[n++] = "restore";
	c->argv[n++] = (char *)member->src;
	c->argv[n++] = flag(c, "data-dir", data);
	c->argv[n++] = flag(c, "name", member->name);
	c->argv[n++] = flag(c, "initial-cluster", member->initial_cluster);
	c->argv[n++] = flag(c, "initial-advertise-peer-urls", member->peer_urls);
	if (member->initial_cluster_token)
		c->argv[n++] = flag(c, "initial-cluster-token", member->initial_cluster_token);
	if (wal)
		c->argv[n++] = flag(c, "wal-dir", wal);
	if (member->skip_hash_check)
		c->argv[n++] = "--skip-hash-check";
	c->argv[n] = NULL;
	for (size_t i = 4; i < n; i++)
		if (!c->argv[i])
			return -ENOMEM;
	return 0;
}

int etcd_restore_into_temp(struct etcd_restore *r, const struct etcd_restore_member *member,
			   long timeout_s, struct error *err)
{
	struct restore_cmd cmd;
	int rc;

	if (build_restore_cmd(&cmd, r->tool, member, r->new_data, r->wal_dir ? r->new_wal : NULL) <
	    0) {
		restore_cmd_free(&cmd);
		return error_set(err, -ENOMEM, "out of memory");
	}
	rc = etcd_restore_run_tool(cmd.argv, timeout_s, r->output, sizeof(r->output), err);
	restore_cmd_free(&cmd);
	return rc;
}

/* ---- the places ---------------------------------------------------------------------------- */

int etcd_restore_make_temp_dir(struct etcd_restore *r, struct error *err)
{
	const char *slash = strrchr(r->data_dir, '/');
	int dir_len = slash ? (int)(slash - r->data_dir) : 1;
	const char *base = slash ? slash + 1 : r->data_dir;
	int n = snprintf(r->tmp, sizeof(r->tmp), "%.*s/.%s.restore-XXXXXX", dir_len,
			 slash ? r->data_dir : ".", base);

	if (n < 0 || (size_t)n >= sizeof(r->tmp) || !*base)
		return error_set(err, -ENAMETOOLONG, "data_dir: bad path %s", r->data_dir);
	if (slash && slash != r->data_dir) {
		char parent[PATH_MAX];

		snprintf(parent, sizeof(parent), "%.*s", dir_len, r->data_dir);
		if (fs_mkdir_p(parent, 0755, err) < 0)
			return -EIO;
	}
	if (!mkdtemp(r->tmp)) {
		int rc = error_set(err, -errno, "mkdtemp %s: %s", r->tmp, strerror(errno));

		r->tmp[0] = '\0';
		return rc;
	}
	snprintf(r->new_data, sizeof(r->new_data), "%s/data", r->tmp);
	snprintf(r->new_wal, sizeof(r->new_wal), "%s/wal", r->tmp);
	return 0;
}

int etcd_restore_owner(const char *owner, const char *group, uid_t *uid, gid_t *gid,
		       struct error *err)
{
	struct error ignored;

	if (owner || group)
		return fs_resolve_owner(owner, group, uid, gid, err);
	*uid = FS_KEEP_OWNER;
	*gid = FS_KEEP_GROUP;
	if (fs_lookup_user("etcd", uid, gid, &ignored) < 0)
		*uid = FS_KEEP_OWNER;
	if (fs_lookup_group("etcd", gid, &ignored) < 0 && *uid == FS_KEEP_OWNER)
		*gid = FS_KEEP_GROUP;
	return 0;
}

/* Moves path aside if it holds anything, removes it if it is an empty dir. */
static int clear_place(const char *path, char *aside, size_t size, struct error *err)
{
	aside[0] = '\0';
	if (!fs_exists(path))
		return 0;
	if (!fs_occupied(path))
		return rmdir(path) < 0
			   ? error_set(err, -errno, "rmdir %s: %s", path, strerror(errno))
			   : 0;
	return fs_move_aside(path, "before-restore", aside, size, err);
}

int etcd_restore_swap(struct etcd_restore *r, uid_t uid, gid_t gid, struct error *err)
{
	int rc = 0;

	if ((uid != FS_KEEP_OWNER || gid != FS_KEEP_GROUP) &&
	    (rc = fs_chown_tree(r->tmp, uid, gid, err)) < 0)
		return rc;
	if (chmod(r->new_data, 0700) < 0)
		return error_set(err, -errno, "chmod %s: %s", r->new_data, strerror(errno));
	rc = clear_place(r->data_dir, r->aside, sizeof(r->aside), err);
	if (rc == 0 && r->wal_dir)
		rc = clear_place(r->wal_dir, r->wal_aside, sizeof(r->wal_aside), err);
	if (rc == 0 && rename(r->new_data, r->data_dir) < 0)
		rc = error_set(err, -errno, "rename %s to %s: %s", r->new_data, r->data_dir,
			       strerror(errno));
	if (rc == 0 && r->wal_dir && rename(r->new_wal, r->wal_dir) < 0)
		rc = error_set(err, -errno, "rename %s to %s: %s", r->new_wal, r->wal_dir,
			       strerror(errno));
	if (rc == 0)
		rc = fs_sync_parent(r->data_dir, err);
	return rc;
}
