/*
 * etcd_snapshot: save, verify and restore etcd snapshots (docs/architecture.md, Modules;
 * docs/protocols.md, etcd JSON gateway).
 *
 * state=saved streams a snapshot from the first healthy endpoint through module_utils/snapshot.c
 * into a temp file beside dest (created with its final mode and owner), and renames it over dest
 * once the trailing SHA-256 matched; a stream that fails is retried on the other endpoints after
 * the temp file is truncated. state=verified checks a file as restore would (trailing hash, bbolt
 * meta pages). state=restored verifies src, runs `etcdutl snapshot restore` (etcd 3.5+) or
 * `etcdctl snapshot restore` into a temp dir beside data_dir, then moves an existing data dir
 * aside (never deletes it) and renames the new one into place (module_utils/etcd_restore.c).
 *
 * state=drilled is the restore drill (module_utils/drill.c): the newest backup fetched, verified
 * and restored into a scratch directory, a throwaway etcd started on it on 127.0.0.1, its
 * revision and key count read and checked against the backup's encryption context, then all of
 * it removed; the live member is never touched.
 *
 * With `upload`, the same stream also goes through the backup pipeline (module_utils/backup.c:
 * gzip, AWS Encryption SDK message, S3 multipart) in the same pass, with no plaintext on disk;
 * the upload is completed only once the snapshot's hash verified, then old backups are pruned
 * and the deadman URL pinged. `only_on_leader` lets every member's timer run the job while only
 * the leader's run takes the snapshot.
 */
#include "backup.h"
#include "clock.h"
#include "drill.h"
#include "etcd.h"
#include "etcd_probe.h"
#include "etcd_restore.h"
#include "fs.h"
#include "metrics.h"
#include "module.h"
#include "proc.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct option_spec options[] = {
    {.name = "endpoints", .type = OPT_LIST, .url = true},
    {.name = "ca_cert", .type = OPT_PATH},
    {.name = "client_cert", .type = OPT_PATH},
    {.name = "client_key", .type = OPT_PATH},
    {.name = "state", .type = OPT_STR, .def = "saved"}, /* choices: the states table below */
    {.name = "dest", .type = OPT_PATH},
    {.name = "src", .type = OPT_PATH},
    {.name = "owner", .type = OPT_STR},
    {.name = "group", .type = OPT_STR},
    {.name = "mode", .type = OPT_RAW},
    {.name = "upload", .type = OPT_DICT, .url = true},
    {.name = "only_on_leader", .type = OPT_BOOL, .def = "false"},
    {.name = "data_dir", .type = OPT_PATH},
    {.name = "wal_dir", .type = OPT_PATH},
    {.name = "name", .type = OPT_STR},
    {.name = "initial_cluster", .type = OPT_LIST, .url = true},
    {.name = "initial_cluster_token", .type = OPT_STR},
    {.name = "initial_advertise_peer_urls", .type = OPT_LIST, .url = true},
    {.name = "etcdctl", .type = OPT_PATH},
    {.name = "etcdutl", .type = OPT_PATH},
    {.name = "skip_hash_check", .type = OPT_BOOL, .def = "false"},
    {.name = "force", .type = OPT_BOOL, .def = "false"},
    {.name = "timeout", .type = OPT_INT, .def = "5"},
    {.name = "wait_timeout", .type = OPT_INT, .def = "3600"},
    {.name = "metrics", .type = OPT_DICT},
    {.name = "backup", .type = OPT_DICT},
    {.name = "scratch_dir", .type = OPT_PATH, .def = "/var/tmp"},
    {.name = "etcd", .type = OPT_PATH},
    {.name = "start_timeout", .type = OPT_INT, .def = "120"},
    {0},
};

/* ---- options ------------------------------------------------------------------------------- */

/* The TLS options (ca_cert, client_cert, client_key): readable, and the pair given together. */
static int check_files(struct module *m)
{
	struct http_tls tls = {.ca_file = module_str(m, "ca_cert"),
			       .cert_file = module_str(m, "client_cert"),
			       .key_file = module_str(m, "client_key")};
	struct error err;

	return etcd_tls_check(&tls, &err) < 0 ? module_fail(m, "%s", err.msg) : 0;
}

/* ---- state=saved ----------------------------------------------------------------------------- */

struct file_sink {
	int fd;
	const char *path;
};

static int file_write(void *ctx, const unsigned char *data, size_t len, struct error *err)
{
	struct file_sink *f = ctx;

	while (len) {
		ssize_t n = write(f->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, -errno, "%s: write failed: %s", f->path,
					 strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A new attempt starts the file over. */
static int file_reset(void *ctx, struct error *err)
{
	struct file_sink *f = ctx;

	if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
		return error_set(err, -errno, "%s: cannot truncate: %s", f->path, strerror(errno));
	return 0;
}

static int client_setup(struct module *m, struct etcd_client *c, const char ***endpoints)
{
	size_t n = module_list_size(m, "endpoints");

	*endpoints = calloc(n + 1, sizeof(**endpoints));
	if (!*endpoints)
		return module_fail(m, "out of memory");
	for (size_t i = 0; i < n; i++) {
		(*endpoints)[i] = module_list_str(m, "endpoints", i);
		if (strncmp((*endpoints)[i], "https://", 8) != 0 &&
		    strncmp((*endpoints)[i], "http://", 7) != 0)
			return module_fail(m, "endpoints: '%s' is not an http(s):// URL",
					   (*endpoints)[i]);
	}
	*c = (struct etcd_client){.endpoints = *endpoints,
				  .n_endpoints = n,
				  .tls = {.ca_file = module_str(m, "ca_cert"),
					  .cert_file = module_str(m, "client_cert"),
					  .key_file = module_str(m, "client_key")},
				  .timeout_ms = module_int(m, "timeout") * 1000};
	return 0;
}

static void report_saved(struct module *m, const char *dest, const struct snapshot_result *r,
			 double seconds, const char *failures)
{
	char hex[2 * SNAPSHOT_HASH_SIZE + 1];

	if (dest)
		module_set_str(m, "path", dest);
	module_set_int(m, "size", (long long)r->size);
	module_set_str(m, "sha256", snapshot_hex(r->sha256, hex));
	module_set_int(m, "revision", (long long)r->revision);
	module_set_str(m, "endpoint", r->endpoint);
	module_set_int(m, "attempts", (long long)r->attempts);
	module_set(m, "duration_s", json_real(seconds));
	module_set(m, "bytes_per_s", json_real(seconds > 0 ? (double)r->size / seconds : 0));
	module_set_changed(m, true);
	if (!r->endpoint_healthy)
		module_warn(m,
			    "%s did not answer /health true: the snapshot may miss the latest "
			    "writes of the cluster",
			    r->endpoint);
	if (failures[0])
		module_warn(m, "earlier attempts failed: %s", failures);
}

/* ---- upload: the snapshot stream also goes to S3 -------------------------------------------- */

struct upload_job {
	struct backup_config cfg;
	struct backup_session session;
	struct backup_context ctx;
	struct backup_upload *up;
	char *key;
	char revision[24];
	bool opened;
};

/* The cluster's revision now (a linearizable count-only range): the snapshot holds it or later. */
static int read_revision(struct etcd_client *c, char *out, size_t size, struct error *err)
{
	uint64_t revision = 0;
	int rc = etcd_revision(c, &revision, err);

	if (rc == 0)
		snprintf(out, size, "%llu", (unsigned long long)revision);
	return rc;
}

static int upload_begin(struct module *m, struct upload_job *j, struct etcd_client *c,
			struct error *err)
{
	int rc = backup_config_parse(module_get(m, "upload"), "upload.", BACKUP_USE_UPLOAD, &j->cfg,
				     err);

	if (rc < 0)
		return rc;
	if (j->cfg.kind != BACKUP_KIND_ETCD)
		return error_set(err, -EINVAL,
				 "upload.kind: etcd snapshots are kind etcd-snapshot");
	rc = backup_session_open(&j->session, &j->cfg, BACKUP_USE_UPLOAD, err);
	if (rc < 0)
		return rc;
	j->opened = true;
	rc = read_revision(c, j->revision, sizeof(j->revision), err);
	if (rc == 0)
		rc = backup_context_build(&j->cfg, time(NULL), &j->ctx, err);
	if (rc < 0)
		return rc;
	backup_context_add(&j->ctx, "revision", j->revision);
	j->key = backup_key_new(j->cfg.prefix, BACKUP_KIND_ETCD, j->cfg.cluster, NULL, time(NULL));
	if (!j->key)
		return error_set(err, -ENOMEM, "out of memory");
	module_note(m, "streaming to s3://%s/%s", j->cfg.bucket, j->key);
	j->up = backup_upload_new(&j->session, j->key, &j->ctx, err);
	if (j->up) /* the snapshot stream hashes every byte already (result.sha256) */
		backup_upload_skip_plaintext_hash(j->up);
	return j->up ? 0 : -EIO;
}

/* After the snapshot verified: complete the upload, report it, prune the old backups. */
static int upload_complete(struct module *m, struct upload_job *j, struct error *err)
{
	struct backup_upload_result r = {0};
	json_t *deleted = NULL;
	size_t kept = 0;
	int rc = backup_upload_finish(j->up, &r, err);

	if (rc < 0)
		return rc;
	module_set_str(m, "s3_key", j->key);
	module_set_str(m, "s3_bucket", j->cfg.bucket);
	module_set_int(m, "stored_size", (long long)r.stats.message_bytes);
	module_set_int(m, "parts", r.parts);
	module_set(m, "context", backup_context_json(&j->ctx));
	backup_upload_result_free(&r);
	/* Without retention_days this only counts the backups (objects_kept). */
	rc = backup_prune(&j->session, time(NULL), false, &deleted, &kept, err);
	if (rc == 0 && j->cfg.retention_days >= 0)
		module_set(m, "deleted", deleted);
	else
		json_decref(deleted);
	if (rc == 0)
		module_set_int(m, "objects_kept", (long long)kept);
	return rc;
}

static void upload_end(struct upload_job *j)
{
	backup_upload_free(j->up);
	if (j->opened)
		backup_session_close(&j->session);
	free(j->key);
}

/*
 * The snapshot goes to the temp file, to the upload, or to both. With both, the upload does not
 * depend on the local copy (issue 10): a local write that fails (a full disk) is remembered in
 * file_err, the file is given up and the stream goes on into S3 alone.
 */
struct tee_sink {
	struct file_sink *file;
	struct backup_upload *up;
	bool file_failed;
	struct error file_err;
};

static int tee_write(void *ctx, const unsigned char *data, size_t len, struct error *err)
{
	struct tee_sink *t = ctx;

	if (t->file && !t->file_failed) {
		int rc = file_write(t->file, data, len, t->up ? &t->file_err : err);

		if (rc < 0 && !t->up)
			return rc;
		if (rc < 0) {
			t->file_failed = true;
			fprintf(stderr,
				"etcd_snapshot: the local copy failed, the upload goes on: %s\n",
				t->file_err.msg);
		}
	}
	return t->up ? backup_upload_write(t->up, data, len, err) : 0;
}

static int tee_reset(void *ctx, struct error *err)
{
	struct tee_sink *t = ctx;
	int rc = t->file && !t->file_failed ? file_reset(t->file, err) : 0;

	return rc == 0 && t->up ? backup_upload_reset(t->up, err) : rc;
}

/* The temp file beside dest, created with its final mode and owner. */
static int open_temp(struct module *m, const char *dest, char *tmp, size_t size, struct error *err)
{
	mode_t mode = 0600;
	uid_t uid;
	gid_t gid;

	if (module_mode(m, "mode", 0600, &mode) < 0)
		return error_set(err, -EINVAL, "%s", "mode: invalid");
	if (fs_resolve_owner(module_str(m, "owner"), module_str(m, "group"), &uid, &gid, err) < 0)
		return -EINVAL;
	return fs_open_temp(dest, mode, uid, gid, tmp, size, err);
}

static int saved_check_mode(struct module *m, const char *dest)
{
	if (dest)
		module_set_str(m, "path", dest);
	module_set_str(m, "msg",
		       "would stream a snapshot from the first healthy endpoint into "
		       "dest and/or the upload (check mode: nothing written)");
	module_set_changed(m, true);
	return 0;
}

/*
 * The local copy failed while the upload completed: a warning and local_copy_failed, not a
 * failure (the off-host backup is there); the caller pings /fail with local_err.
 */
static void report_local_failure(struct module *m, const struct upload_job *job,
				 const struct error *local_err)
{
	module_set_bool(m, "local_copy_failed", true);
	module_set_str(m, "local_error", local_err->msg);
	module_warn(
	    m, "dest: the local copy failed (%s); the snapshot is in S3 all the same: s3://%s/%s",
	    local_err->msg, job->cfg.bucket, job->key);
}

/*
 * The snapshot into dest and/or the upload; err is filled on failure. With both, a local copy
 * that cannot be written fills local_err (local_err->msg[0] != 0) and the upload goes on.
 */
static int save(struct module *m, struct etcd_client *c, struct upload_job *job,
		struct error *local_err, struct error *err)
{
	const char *dest = module_str(m, "dest");
	bool uploading = module_has(m, "upload");
	struct snapshot_result result = {0};
	struct file_sink file = {.fd = -1};
	struct tee_sink tee = {0};
	struct snapshot_sink sink = {.write = tee_write, .reset = tee_reset, .ctx = &tee};
	char tmp[PATH_MAX] = "", failures[ERROR_MSG_MAX] = "";
	struct timespec start;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (dest) {
		file.fd = open_temp(m, dest, tmp, sizeof(tmp), uploading ? local_err : err);
		/* Bad options (mode, owner) fail the task; a full or read-only disk does not. */
		if (file.fd < 0 && (!uploading || file.fd == -EINVAL)) {
			if (uploading)
				*err = *local_err;
			return file.fd;
		}
		file.path = tmp;
		tee.file = file.fd >= 0 ? &file : NULL;
	}
	if (uploading) {
		rc = upload_begin(m, job, c, err);
		tee.up = job->up;
	}
	if (rc == 0)
		rc = snapshot_fetch(c, module_int(m, "wait_timeout") * 1000, &sink, &result, err);
	if (rc == 0 && job->up)
		rc = upload_complete(m, job, err);
	if (tee.file_failed)
		*local_err = tee.file_err;
	if (rc == 0 && tee.file && !tee.file_failed) {
		rc = fs_commit_file(file.fd, tmp, dest, uploading ? local_err : err);
		file.fd = -1;
		if (rc < 0 && uploading)
			rc = 0; /* local_err says it; the upload completed */
	}
	if (rc == 0) {
		if (result.attempts > 1)
			snprintf(failures, sizeof(failures),
				 "%u stream(s) failed before %s: %.900s", result.attempts - 1,
				 result.endpoint, result.failures);
		report_saved(m, local_err->msg[0] ? NULL : dest, &result, seconds_since(&start),
			     failures);
		if (local_err->msg[0])
			report_local_failure(m, job, local_err);
	}
	if (file.fd >= 0)
		close(file.fd);
	if (tmp[0])
		unlink(tmp); /* nothing partial stays behind */
	return rc;
}

static int run_saved(struct module *m)
{
	const json_t *upload = module_get(m, "upload");
	struct upload_job job = {0};
	const char **endpoints = NULL;
	struct etcd_client client = {0};
	struct error err = {0}, local_err = {0}, ping_err;
	struct metrics_config metrics;
	const char *ping_url = NULL;
	struct timespec start;
	char why[512];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (check_files(m) < 0)
		return -1;
	if (metrics_config_parse(module_get(m, "metrics"), "metrics.", "etcd", &metrics, &err) < 0)
		return module_fail(m, "%s", err.msg);
	if (client_setup(m, &client, &endpoints) < 0)
		goto out;
	if (module_bool(m, "only_on_leader") && !etcd_first_is_leader(&client, why, sizeof(why))) {
		module_set_bool(m, "skipped", true);
		module_set_str(m, "msg", why);
		module_note(m, "skipped: %s; the leader's job takes the backup", why);
		goto out;
	}
	if (m->check_mode) {
		saved_check_mode(m, module_str(m, "dest"));
		goto out;
	}
	ping_url = json_string_value(json_object_get(upload, "healthcheck_url"));
	if (backup_ping(ping_url, "/start", NULL, NULL, &ping_err) < 0)
		module_warn(m, "upload.healthcheck_url: %s", ping_err.msg);
	rc = save(m, &client, &job, &local_err, &err);
	/* A local copy that failed is a failed run for the deadman too, the upload done or not. */
	if (backup_ping(ping_url, rc < 0 || local_err.msg[0] ? "/fail" : "",
			rc < 0		   ? err.msg
			: local_err.msg[0] ? local_err.msg
					   : NULL,
			NULL, &ping_err) < 0)
		module_warn(m, "upload.healthcheck_url: %s", ping_err.msg);
	upload_end(&job);
	/* A skipped run (not the leader) leaves the file as it is: the leader's file tells. */
	if (metrics.dir && backup_write_metrics(&metrics, rc == 0, seconds_since(&start), m->result,
						&ping_err) < 0)
		module_warn(m, "%s", ping_err.msg);
	if (rc < 0)
		module_fail(m, "%s", err.msg);
	else
		module_note(m, "done");
out:
	free(endpoints);
	return m->failed ? -1 : 0;
}

/* ---- state=verified -------------------------------------------------------------------------- */

static void report_file(struct module *m, const struct snapshot_file_info *info)
{
	char hex[2 * SNAPSHOT_HASH_SIZE + 1];

	module_set_int(m, "size", (long long)info->size);
	module_set_str(m, "sha256", snapshot_hex(info->sha256, hex));
	module_set_bool(m, "hash_present", info->hash_present);
	module_set_int(m, "page_size", info->page_size);
	module_set_int(m, "txid", (long long)info->txid);
	module_set_int(m, "pages", (long long)info->pgid);
	if (!info->meta_ok[0] || !info->meta_ok[1])
		module_warn(m, "bbolt meta page %d is damaged; the other one is valid",
			    info->meta_ok[0] ? 1 : 0);
}

static int run_verified(struct module *m)
{
	struct snapshot_file_info info;
	struct error err = {0};

	module_set_str(m, "path", module_str(m, "src"));
	module_set_changed(m, false);
	if (snapshot_file_verify(module_str(m, "src"), module_bool(m, "skip_hash_check"), true,
				 &info, &err) < 0)
		return module_fail(m, "%s", err.msg);
	report_file(m, &info);
	return 0;
}

/* ---- state=restored -------------------------------------------------------------------------- */

/* Verifies src and refuses an occupied data_dir without force, before anything is touched. */
/* Runs the tool into r->tmp; 0 when it exited 0. */
static int restore_into_temp(struct module *m, struct etcd_restore *r, struct error *err)
{
	char *cluster = module_list_joined(m, "initial_cluster");
	char *peers = module_list_joined(m, "initial_advertise_peer_urls");
	struct etcd_restore_member member = {
	    .src = module_str(m, "src"),
	    .name = module_str(m, "name"),
	    .initial_cluster = cluster,
	    .peer_urls = peers,
	    .initial_cluster_token = module_str(m, "initial_cluster_token"),
	    .skip_hash_check = module_bool(m, "skip_hash_check"),
	};
	int rc = cluster && peers
		     ? etcd_restore_into_temp(r, &member, module_int(m, "wait_timeout"), err)
		     : error_set(err, -ENOMEM, "out of memory");

	free(cluster);
	free(peers);
	return rc;
}

static int restore_preflight(struct module *m, struct etcd_restore *r,
			     struct snapshot_file_info *info)
{
	static const char *const etcdutls[] = {"/opt/bin/etcdutl", NULL};
	static const char *const etcdctls[] = {"/opt/bin/etcdctl", NULL};
	static char found[PATH_MAX];
	bool skip = module_bool(m, "skip_hash_check");
	struct error err = {0};

	r->data_dir = module_str(m, "data_dir");
	r->wal_dir = module_str(m, "wal_dir");
	module_set_str(m, "data_dir", r->data_dir);
	if (snapshot_file_verify(module_str(m, "src"), skip, skip, info, &err) < 0)
		return module_fail(m, "%s; nothing was restored or touched", err.msg);
	if (!module_bool(m, "force") &&
	    (fs_occupied(r->data_dir) || (r->wal_dir && fs_occupied(r->wal_dir))))
		return module_fail(m,
				   "%s is not empty: set force=true to restore anyway (the current "
				   "data dir is moved aside to %s.before-restore-<time>, never "
				   "deleted)",
				   fs_occupied(r->data_dir) ? r->data_dir : r->wal_dir,
				   fs_occupied(r->data_dir) ? r->data_dir : r->wal_dir);
	r->tool =
	    proc_find_tool(module_str(m, "etcdutl"), "etcdutl", etcdutls, found, sizeof(found));
	if (!r->tool && module_has(m, "etcdutl"))
		return module_fail(m, "etcdutl: %s is not executable", module_str(m, "etcdutl"));
	if (!r->tool)
		r->tool = proc_find_tool(module_str(m, "etcdctl"), "etcdctl", etcdctls, found,
					 sizeof(found));
	if (!r->tool)
		return module_fail(m,
				   "neither etcdutl nor etcdctl found (options etcdutl, etcdctl; "
				   "/opt/bin, then PATH)");
	return 0;
}

static int run_restored(struct module *m)
{
	struct etcd_restore *r = calloc(1, sizeof(*r));
	struct snapshot_file_info info;
	struct error err = {0};
	uid_t uid;
	gid_t gid;
	int rc = -1;

	if (!r)
		return module_fail(m, "out of memory");
	if (restore_preflight(m, r, &info) < 0)
		goto out;
	report_file(m, &info);
	module_set_str(m, "tool", r->tool);
	if (m->check_mode) {
		module_set_changed(m, true);
		module_set_str(m, "msg",
			       fs_occupied(r->data_dir)
				   ? "would restore and move the current data dir aside"
				   : "would restore into data_dir");
		rc = 0;
		goto out;
	}
	rc = etcd_restore_make_temp_dir(r, &err);
	if (rc == 0)
		rc = restore_into_temp(m, r, &err);
	if (rc == 0)
		rc = etcd_restore_owner(module_str(m, "owner"), module_str(m, "group"), &uid, &gid,
					&err);
	if (rc == 0)
		rc = etcd_restore_swap(r, uid, gid, &err);
	if (rc < 0) {
		module_fail(m, "%s", err.msg);
		goto out;
	}
	module_set_changed(m, true);
	module_set(m, "moved_aside", r->aside[0] ? json_string(r->aside) : json_null());
	if (r->wal_dir)
		module_set(m, "wal_moved_aside",
			   r->wal_aside[0] ? json_string(r->wal_aside) : json_null());
	module_set_str(m, "output", r->output);
out:
	if (r->tmp[0])
		fs_remove_tree(r->tmp); /* only what we made */
	free(r);
	return rc < 0 ? -1 : 0;
}

/* ---- state=drilled --------------------------------------------------------------------------- */

/* What the drill found on its way, as far as it got. */
static void drill_found(struct module *m, const struct drill_run *d)
{
	if (d->stale)
		module_warn(m, "removed %zu scratch dir(s) of earlier drills that did not finish",
			    d->stale);
	if (d->key)
		module_set_str(m, "key", d->key);
	if (d->snapshot_size)
		module_set_int(m, "snapshot_size", (long long)d->snapshot_size);
	if (d->tool[0])
		module_set_str(m, "tool", d->tool);
}

static void drill_report(struct module *m, const struct drill_run *d, double seconds)
{
	struct rusage self, children;

	module_set(m, "context", d->context ? json_incref(d->context) : json_null());
	if (d->revision)
		module_set_int(m, "revision", (long long)d->revision);
	module_set_int(m, "keys", (long long)d->keys);
	if (d->have_backup_revision)
		module_set_int(m, "backup_revision", (long long)d->backup_revision);
	module_set(m, "duration_s", json_real(seconds));
	/* ru_maxrss is in KiB; for children, the largest one waited for (etcd or the tool). */
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	module_set(m, "peak_rss_bytes",
		   json_pack("{s:I, s:I}", "module", (json_int_t)self.ru_maxrss * 1024, "children",
			     (json_int_t)children.ru_maxrss * 1024));
}

static int run_drilled(struct module *m)
{
	struct drill_run *d = calloc(1, sizeof(*d));
	struct backup_config cfg;
	struct metrics_config metrics;
	struct error err = {0}, cleanup_err, ping_err;
	struct timespec start;
	const char *ping_url;
	const struct drill_etcd_options where = {
	    .data_dir = module_str(m, "data_dir"),
	    .scratch_dir = module_str(m, "scratch_dir"),
	    .etcd = module_str(m, "etcd"),
	    .etcdutl = module_str(m, "etcdutl"),
	    .etcdctl = module_str(m, "etcdctl"),
	    .tool_timeout_s = module_int(m, "wait_timeout"),
	    .start_timeout_s = module_int(m, "start_timeout"),
	};
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!d)
		return module_fail(m, "out of memory");
	if (metrics_config_parse(module_get(m, "metrics"), "metrics.", "etcd", &metrics, &err) <
		0 ||
	    backup_config_parse(module_get(m, "backup"), "backup.", BACKUP_USE_FETCH, &cfg, &err) <
		0) {
		module_fail(m, "%s", err.msg);
		goto out;
	}
	if (cfg.kind != BACKUP_KIND_ETCD) {
		module_fail(m, "backup.kind: a restore drill of etcd needs kind etcd-snapshot");
		goto out;
	}
	if (module_int(m, "start_timeout") < 1) {
		module_fail(m, "start_timeout must be 1 or more seconds");
		goto out;
	}
	module_set_changed(m, false); /* a drill changes nothing that stays */
	if (m->check_mode) {
		module_set_str(m, "msg",
			       "would restore the newest backup into scratch_dir and "
			       "start a throwaway etcd on it (check mode: nothing done)");
		rc = 0;
		goto out;
	}
	ping_url = cfg.healthcheck_url;
	if (backup_ping(ping_url, "/start", NULL, NULL, &ping_err) < 0)
		module_warn(m, "backup.healthcheck_url: %s", ping_err.msg);
	rc = drill_etcd_run(d, &where, &cfg, &err);
	drill_found(m, d);
	drill_etcd_stop(&d->etcd);
	if (drill_scratch_remove(&d->scratch, &cleanup_err) < 0) {
		module_warn(m, "%s", cleanup_err.msg);
		if (rc == 0)
			rc = error_set(&err, -EIO, "%s", cleanup_err.msg);
	}
	drill_report(m, d, seconds_since(&start));
	if (backup_ping(ping_url, rc < 0 ? "/fail" : "", rc < 0 ? err.msg : NULL, NULL, &ping_err) <
	    0)
		module_warn(m, "backup.healthcheck_url: %s", ping_err.msg);
	if (metrics.dir &&
	    drill_etcd_metrics(&metrics, d, rc == 0, seconds_since(&start), &ping_err) < 0)
		module_warn(m, "%s", ping_err.msg);
	if (rc < 0)
		module_fail(m, "restore drill failed: %s", err.msg);
	else
		fprintf(stderr, "etcd_snapshot: drill: revision %llu, %llu keys, %.1f s\n",
			(unsigned long long)d->revision, (unsigned long long)d->keys,
			seconds_since(&start));
out:
	drill_run_release(d);
	free(d);
	return rc < 0 ? -1 : 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

/* Checks common to every state; the states table then picks the handler. */
static int before_state(struct module *m)
{
	static const char *const secrets[] = {"secret_key", "aws_secret_access_key",
					      "session_token", NULL};

	/* Credentials inside `upload` and `backup` never reach the output, not even through an
	 * error message. */
	for (const char *const *k = secrets; *k; k++) {
		const char *v = json_string_value(json_object_get(module_get(m, "upload"), *k));
		const char *b = json_string_value(json_object_get(module_get(m, "backup"), *k));

		if (v && *v)
			module_add_secret(m, v);
		if (b && *b)
			module_add_secret(m, b);
	}
	if (module_int(m, "timeout") < 1 || module_int(m, "timeout") > 3600)
		return module_fail(m, "timeout must be between 1 and 3600 seconds");
	if (module_int(m, "wait_timeout") < 1)
		return module_fail(m, "wait_timeout must be 1 or more seconds");
	return 0;
}

static const char *const SAVED_NEEDS[] = {"endpoints", NULL};
static const char *const SAVED_TARGETS[] = {"dest", "upload", NULL};
static const char *const VERIFIED_NEEDS[] = {"src", NULL};
static const char *const DRILLED_NEEDS[] = {"backup", "scratch_dir", NULL};
static const char *const RESTORED_NEEDS[] = {
    "src", "data_dir", "name", "initial_cluster", "initial_advertise_peer_urls", NULL};

static const struct option_rule rules[] = {
    {.option = "state", .value = "saved", .requires = SAVED_NEEDS},
    {.option = "state",
     .value = "saved",
     .requires = SAVED_TARGETS,
     .any = true,
     .msg = "state=saved needs dest, upload or both"},
    {.option = "state", .value = "verified", .requires = VERIFIED_NEEDS},
    {.option = "state", .value = "restored", .requires = RESTORED_NEEDS},
    {.option = "state", .value = "drilled", .requires = DRILLED_NEEDS},
    {0},
};

static const struct state_handler states[] = {
    {"saved", run_saved},
    {"verified", run_verified},
    {"restored", run_restored},
    {"drilled", run_drilled},
    {0},
};

static const struct module_spec spec = {
    .name = "etcd_snapshot",
    .options = options,
    .rules = rules,
    .states = states,
    .before = before_state,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
