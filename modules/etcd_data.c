/*
 * etcd_data: what an etcd member's data directory holds, and moving it aside (issue 10).
 *
 * state=inspected reads the directory as it is on the host, with etcd stopped or not running:
 * member/snap/db (bbolt, module_utils/bolt.c), the raft snapshots (member/snap, *.snap) and
 * the WAL files (member/wal, *.wal), and decides whether the member ever held user data:
 *
 *   user data  = any mvcc revision in the "key" bucket (every put or delete since the last
 *                compaction), or a compaction recorded in "meta" (keys were written, then
 *                compacted away), or a lease, or an auth user or role, or a raft snapshot file
 *                (etcd writes one after snapshot-count applied entries: a cluster that ran),
 *                or anything this module cannot read (a damaged db, a WAL without a db):
 *                when in doubt, the data is treated as data.
 *   no user data = no member/ directory, or a db whose buckets hold none of the above: a
 *                bootstrap that never got a write (it may have elected a leader).
 *
 * state=cleared moves the directory aside to "<data_dir>.<aside_tag>-<UTC time>" (a rename on the
 * same filesystem: nothing is deleted, ever) when it holds no user data, or with force=true; a
 * directory holding user data is refused (`refused: true`, nothing touched). An empty or missing
 * directory is left alone (changed=false). The caller stops the member first.
 *
 * Limit, stated where it is decided: bbolt commits etcd's writes every 100 ms (batch interval),
 * so a write made less than 100 ms before every member died at once may be in the WAL only; such
 * a directory reads as "no user data" here. It is still moved aside, never deleted.
 */
#include "bolt.h"
#include "fs.h"
#include "module.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct option_spec options[] = {
    {.name = "data_dir", .type = OPT_PATH, .required = true},
    {.name = "state", .type = OPT_STR, .def = "inspected"},
    {.name = "force", .type = OPT_BOOL, .def = "false"},
    {.name = "aside_tag", .type = OPT_STR, .def = "before-force-create"},
    {0},
};

/* mvcc revision keys: main revision u64 big-endian, '_', sub revision (kvstore.go revToBytes). */
#define REVISION_KEY_LEN 17u

struct member_data {
	bool exists, member_dir, db;
	uint64_t db_size;
	uint64_t key_revisions; /* entries of the "key" bucket (puts and deletes kept) */
	uint64_t revision;	/* the greatest of those, or the compacted one */
	uint64_t compact_revision;
	uint64_t consistent_index;
	uint64_t leases, auth_users, auth_roles;
	size_t raft_snapshots, wal_files;
	bool unreadable;
	char why_unreadable[ERROR_MSG_MAX];
};

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Files in dir whose name ends with suffix. */
static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	const struct dirent *e;
	size_t n = 0, sl = strlen(suffix);

	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);

		n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

static uint64_t bucket_keys(const struct bolt_file *b, const char *name, struct error *err, int *rc)
{
	struct bolt_bucket_stats s;

	if (*rc == 0)
		*rc = bolt_bucket_stats(b, name, &s, err);
	return *rc == 0 ? s.keys : 0;
}

/* The buckets of member/snap/db that tell user data (etcd mvcc/backend names). */
static int read_db(const char *path, struct member_data *d, struct error *err)
{
	struct bolt_file b;
	struct bolt_bucket_stats keys;
	unsigned char value[32];
	size_t len;
	int rc = bolt_open(&b, path, err);

	if (rc < 0)
		return rc;
	d->db_size = b.size;
	rc = bolt_bucket_stats(&b, "key", &keys, err);
	if (rc == 0) {
		d->key_revisions = keys.keys;
		if (keys.last_key_len >= 8)
			d->revision = be64(keys.last_key);
	}
	d->leases = bucket_keys(&b, "lease", err, &rc);
	d->auth_users = bucket_keys(&b, "authUsers", err, &rc);
	d->auth_roles = bucket_keys(&b, "authRoles", err, &rc);
	if (rc == 0 &&
	    bolt_get(&b, "meta", "consistent_index", value, sizeof(value), &len, err) == 0 &&
	    len == 8)
		d->consistent_index = be64(value);
	/* A compaction is kept as the compacted revision (finished, or scheduled when interrupted).
	 */
	for (const char *const *k =
		 (const char *const[]){"finishedCompactRev", "scheduledCompactRev", NULL};
	     rc == 0 && *k; k++)
		if (bolt_get(&b, "meta", *k, value, sizeof(value), &len, err) == 0 &&
		    len == REVISION_KEY_LEN && be64(value) > d->compact_revision)
			d->compact_revision = be64(value);
	if (d->compact_revision > d->revision)
		d->revision = d->compact_revision;
	bolt_close(&b);
	return rc;
}

static void inspect(const char *data_dir, struct member_data *d)
{
	char member[4096], db[4096], snap[4096], wal[4096];
	struct error err = {0};
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->exists = fs_exists(data_dir);
	snprintf(member, sizeof(member), "%s/member", data_dir);
	snprintf(snap, sizeof(snap), "%s/member/snap", data_dir);
	snprintf(db, sizeof(db), "%s/member/snap/db", data_dir);
	snprintf(wal, sizeof(wal), "%s/member/wal", data_dir);
	d->member_dir = fs_exists(member);
	if (!d->member_dir)
		return;
	d->raft_snapshots = count_files(snap, ".snap");
	d->wal_files = count_files(wal, ".wal");
	d->db = stat(db, &st) == 0;
	if (d->db && read_db(db, d, &err) < 0) {
		d->unreadable = true;
		snprintf(d->why_unreadable, sizeof(d->why_unreadable), "%s", err.msg);
	} else if (!d->db && d->wal_files > 0) {
		d->unreadable = true;
		snprintf(d->why_unreadable, sizeof(d->why_unreadable),
			 "member/wal holds %zu WAL file(s) but there is no member/snap/db",
			 d->wal_files);
	}
}

/* The decision: why the directory counts as holding user data, or NULL when it does not. */
static const char *user_data_reason(const struct member_data *d, char *buf, size_t size)
{
	if (d->unreadable)
		snprintf(buf, size, "it cannot be read (%.600s), so it is treated as data",
			 d->why_unreadable);
	else if (d->key_revisions > 0)
		snprintf(buf, size, "%" PRIu64 " key revision(s), revision %" PRIu64,
			 d->key_revisions, d->revision);
	else if (d->compact_revision > 0)
		snprintf(buf, size, "keys compacted up to revision %" PRIu64, d->compact_revision);
	else if (d->leases > 0)
		snprintf(buf, size, "%" PRIu64 " lease(s)", d->leases);
	else if (d->auth_users + d->auth_roles > 0)
		snprintf(buf, size, "%" PRIu64 " auth user(s), %" PRIu64 " role(s)", d->auth_users,
			 d->auth_roles);
	else if (d->raft_snapshots > 0)
		snprintf(buf, size,
			 "%zu raft snapshot file(s): the member applied thousands of "
			 "entries",
			 d->raft_snapshots);
	else
		return NULL;
	return buf;
}

static void report(struct module *m, const char *data_dir, const struct member_data *d,
		   const char *reason)
{
	module_set_str(m, "data_dir", data_dir);
	module_set_bool(m, "exists", d->exists);
	module_set_bool(m, "member_dir", d->member_dir);
	module_set_bool(m, "db", d->db);
	module_set_int(m, "db_size", (long long)d->db_size);
	module_set_int(m, "revision", (long long)d->revision);
	module_set_int(m, "key_revisions", (long long)d->key_revisions);
	module_set_int(m, "compact_revision", (long long)d->compact_revision);
	module_set_int(m, "consistent_index", (long long)d->consistent_index);
	module_set_int(m, "leases", (long long)d->leases);
	module_set_int(m, "auth_users", (long long)d->auth_users);
	module_set_int(m, "auth_roles", (long long)d->auth_roles);
	module_set_int(m, "raft_snapshots", (long long)d->raft_snapshots);
	module_set_int(m, "wal_files", (long long)d->wal_files);
	module_set_bool(m, "user_data", reason != NULL);
	module_set(m, "user_data_reason", reason ? json_string(reason) : json_null());
}

static int clear(struct module *m, const char *data_dir, const char *reason)
{
	const char *tag = module_str(m, "aside_tag");
	char aside[4096];
	struct error err;

	if (!fs_occupied(data_dir)) {
		module_set(m, "moved_aside", json_null());
		module_set_str(m, "msg",
			       "nothing to clear: the data directory is empty or missing");
		return 0;
	}
	if (reason && !module_bool(m, "force")) {
		module_set_bool(m, "refused", true);
		return module_fail(m,
				   "%s holds user data (%s): refused, nothing was moved. Start the "
				   "member again, or restore the cluster from a backup",
				   data_dir, reason);
	}
	module_set_changed(m, true);
	if (m->check_mode) {
		if (fs_aside_name(data_dir, tag, aside, sizeof(aside)) == 0)
			module_set_str(m, "moved_aside", aside);
		module_set_str(m, "msg", "would move the data directory aside (check mode)");
		return 0;
	}
	if (fs_move_aside(data_dir, tag, aside, sizeof(aside), &err) < 0) {
		module_set_changed(m, false);
		return module_fail(m, "%s (nothing was deleted)", err.msg);
	}
	module_set_str(m, "moved_aside", aside);
	if (fs_sync_parent(aside, &err) < 0)
		module_warn(m, "%s", err.msg);
	module_set_str(m, "msg", "the data directory was moved aside");
	return 0;
}

/* Both states first look at the data dir and report what is there; reason: why it holds user
 * data (why[] says it for humans), or NULL. */
static int look(struct module *m, struct member_data *d, const char **reason, char *why,
		size_t size)
{
	const char *data_dir = module_str(m, "data_dir");
	const char *tag = module_str(m, "aside_tag");

	if (!*data_dir || strcmp(data_dir, "/") == 0)
		return module_fail(m, "data_dir: '%s' is not a member's data directory", data_dir);
	if (!*tag || strchr(tag, '/'))
		return module_fail(m, "aside_tag: '%s' must be a non-empty name without '/'", tag);
	inspect(data_dir, d);
	*reason = user_data_reason(d, why, size);
	report(m, data_dir, d, *reason);
	return 0;
}

static int run_inspected(struct module *m)
{
	struct member_data d = {0};
	char why[1024];
	const char *reason = NULL;

	if (look(m, &d, &reason, why, sizeof(why)) < 0)
		return -1;
	module_set_changed(m, false);
	if (reason)
		module_set_str(m, "msg", why);
	else
		module_set_str(m, "msg",
			       d.member_dir ? "no user data: a bootstrap that never got a write"
					    : "no member data");
	return 0;
}

static int run_cleared(struct module *m)
{
	struct member_data d = {0};
	char why[1024];
	const char *reason = NULL;

	if (look(m, &d, &reason, why, sizeof(why)) < 0)
		return -1;
	return clear(m, module_str(m, "data_dir"), reason);
}

static const struct state_handler states[] = {
    {"inspected", run_inspected},
    {"cleared", run_cleared},
    {0},
};

static const struct module_spec spec = {
    .name = "etcd_data",
    .options = options,
    .states = states,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
