/*
 * kms_s3_backup: encrypted backups in S3 (docs/architecture.md, Modules; docs/backups.md;
 * options in kms_s3_backup.yml).
 *
 * present: src (file, or directory as a ustar archive) → gzip → ESDK message → S3, after an
 * optional "has it changed?" look at the newest backup's header; then retention. fetched: S3 →
 * verify + decrypt → a temp file or directory beside dest, moved into place only when every check
 * passed. listed, pruned, absent: the objects. kms_key: the KMS key + alias of the backups.
 * drilled (kind=ca): the CA restore drill (module_utils/drill.c) - the newest CA backup fetched,
 * verified and unpacked into a scratch directory, its root compared with the live one, its
 * intermediate key opened, then the scratch removed.
 * With `metrics`, state=present (the CA backup job) writes the job's Prometheus metrics
 * (module_utils/metrics.c): last attempt and success, duration, bytes stored, objects kept.
 * The pipeline itself lives in module_utils/backup.c; this file is the module's choices.
 */
#include "backup.h"
#include "buf.h"
#include "clock.h"
#include "drill.h"
#include "fs.h"
#include "metrics.h"
#include "module.h"
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const KINDS[] = {"etcd-snapshot", "ca", "file", NULL};
static const char *const ENCRYPTIONS[] = {"aws-kms", "raw-aes", NULL};
static const char *const ACCESS_ALIASES[] = {"aws_access_key_id", NULL};
static const char *const SECRET_ALIASES[] = {"aws_secret_access_key", NULL};

static const struct option_spec options[] = {
    {.name = "state", .type = OPT_STR, .def = "present"},
    {.name = "src", .type = OPT_PATH},
    {.name = "exclude", .type = OPT_LIST},
    {.name = "dest", .type = OPT_PATH},
    {.name = "owner", .type = OPT_STR},
    {.name = "group", .type = OPT_STR},
    {.name = "bucket", .type = OPT_STR},
    {.name = "prefix", .type = OPT_STR, .def = ""},
    {.name = "key", .type = OPT_STR},
    {.name = "kind", .type = OPT_STR, .def = "file", .choices = KINDS},
    {.name = "cluster", .type = OPT_STR, .def = "default"},
    {.name = "context", .type = OPT_DICT},
    {.name = "encryption", .type = OPT_STR, .def = "aws-kms", .choices = ENCRYPTIONS},
    {.name = "kms_key_id", .type = OPT_STR},
    {.name = "key_file", .type = OPT_PATH},
    {.name = "key_name", .type = OPT_STR, .def = "etcd-ansible-backup"},
    {.name = "key_namespace", .type = OPT_STR, .def = "etcd-ansible"},
    {.name = "if_changed", .type = OPT_BOOL, .def = "false"},
    {.name = "retention_days", .type = OPT_INT},
    {.name = "keep_min", .type = OPT_INT, .def = "1"},
    {.name = "healthcheck_url", .type = OPT_STR, .url = true},
    {.name = "region", .type = OPT_STR},
    {.name = "endpoint_url", .type = OPT_STR, .url = true},
    {.name = "kms_endpoint_url", .type = OPT_STR, .url = true},
    {.name = "ca_bundle", .type = OPT_PATH},
    {.name = "access_key", .type = OPT_STR, .aliases = ACCESS_ALIASES},
    {.name = "secret_key", .type = OPT_STR, .no_log = true, .aliases = SECRET_ALIASES},
    {.name = "session_token", .type = OPT_STR, .no_log = true},
    {.name = "part_size_mb", .type = OPT_INT, .def = "8"},
    {.name = "description", .type = OPT_STR},
    {.name = "policy", .type = OPT_RAW},
    {.name = "timeout", .type = OPT_INT, .def = "60"},
    {.name = "metrics", .type = OPT_DICT},
    {.name = "root", .type = OPT_PATH},
    {.name = "scratch_dir", .type = OPT_PATH, .def = "/var/tmp"},
    {0},
};

#define READ_CHUNK (1024u * 1024u)

/* ---- sources ------------------------------------------------------------------------------ */

typedef int (*bytes_fn)(void *ctx, const void *buf, size_t len, struct error *err);

static int stream_file(const char *path, bytes_fn fn, void *ctx, struct error *err)
{
	unsigned char *buf = malloc(READ_CHUNK);
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0 || !buf) {
		rc = error_set(err, fd < 0 ? -errno : -ENOMEM, "src: %s: %s", path,
			       fd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_set(err, -errno, "src: %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = fn(ctx, buf, (size_t)n, err);
		if (rc < 0)
			break;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* A directory and the names directly under it to leave out (NULL-terminated). */
struct dir_source {
	const char *dir;
	const char **exclude;
};

static int stream_dir(const struct dir_source *d, bool zero_mtime, bytes_fn fn, void *ctx,
		      struct error *err)
{
	return tar_write_dir(d->dir, d->exclude, zero_mtime, fn, ctx, NULL, err);
}

/* The exclude option as a NULL-terminated list of names (borrowed from the module's args). */
static int exclude_list(struct module *m, const char ***out, struct error *err)
{
	size_t n = module_list_size(m, "exclude");

	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		(*out)[i] = module_list_str(m, "exclude", i);
		if (!(*out)[i] || !*(*out)[i] || strchr((*out)[i], '/'))
			return error_set(err, -EINVAL,
					 "exclude: '%s': names directly under src, without '/'",
					 (*out)[i] ? (*out)[i] : "");
	}
	return 0;
}

static int sha256_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	return EVP_DigestUpdate(ctx, buf, len) == 1 ? 0 : -EIO;
}

/* The content hash: of the file, or of the directory's zero-mtime archive. */
static int content_sha256(const char *src, bool is_dir, const struct dir_source *d, char out[65],
			  struct error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	int rc = 0;

	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return error_set(err, -ENOMEM, "out of memory");
	}
	rc = is_dir ? stream_dir(d, true, sha256_sink, md, err)
		    : stream_file(src, sha256_sink, md, err);
	if (rc == 0 && EVP_DigestFinal_ex(md, digest, NULL) == 1)
		hex_encode(digest, 32, out);
	EVP_MD_CTX_free(md);
	return rc;
}

/* ---- present ------------------------------------------------------------------------------ */

/* Is the newest backup's recorded content hash this one? Sets *same and *newest_key. */
static int newest_is_same(struct backup_session *s, const char *sha256, bool *same,
			  char **newest_key, struct error *err)
{
	struct backup_object *objects = NULL;
	struct envelope_header hdr;
	const char *theirs;
	size_t n = 0;
	int rc = 0;

	*same = false;
	*newest_key = NULL;
	rc = backup_list(s, &objects, &n, err);
	if (rc < 0 || n == 0)
		goto out;
	rc = backup_read_header(s, objects[n - 1].key, &hdr, err);
	if (rc < 0)
		goto out;
	theirs = envelope_header_get(&hdr, "content_sha256");
	*same = theirs && strcmp(theirs, sha256) == 0;
	*newest_key = strdup(objects[n - 1].key);
	envelope_header_release(&hdr);
out:
	backup_objects_free(objects, n);
	return rc;
}

static int upload_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	return backup_upload_write(ctx, buf, len, err);
}

static void report_upload(struct module *m, const char *key, const struct backup_upload_result *r,
			  const struct backup_context *c)
{
	char hex[65];

	hex_encode(r->stats.plaintext_sha256, 32, hex);
	module_set_str(m, "key", key);
	module_set_bool(m, "uploaded", true);
	module_set_int(m, "size", (long long)r->stats.plaintext_bytes);
	module_set_int(m, "stored_size", (long long)r->stats.message_bytes);
	module_set_str(m, "sha256", hex);
	module_set_int(m, "parts", r->parts);
	module_set(m, "context", backup_context_json(c));
	if (r->kms_key_arn)
		module_set_str(m, "kms_key_arn", r->kms_key_arn);
	module_set(m, "duration_s", json_real(r->seconds));
	module_set(m, "bytes_per_s",
		   json_real(r->seconds > 0 ? (double)r->stats.plaintext_bytes / r->seconds : 0));
}

static int prune_after(struct module *m, struct backup_session *s, struct error *err)
{
	json_t *deleted = NULL;
	size_t kept = 0;
	int rc = 0;

	/* Without retention_days this only counts the backups (objects_kept). */
	rc = backup_prune(s, time(NULL), m->check_mode, &deleted, &kept, err);
	if (rc < 0)
		return rc;
	if (json_array_size(deleted) > 0)
		module_set_changed(m, true);
	if (s->cfg.retention_days >= 0)
		module_set(m, "deleted", deleted);
	else
		json_decref(deleted);
	module_set_int(m, "objects_kept", (long long)kept);
	return 0;
}

static int do_present(struct module *m, struct backup_session *s, struct error *err)
{
	const char *src = module_str(m, "src");
	struct dir_source d = {.dir = src};
	struct backup_upload_result r = {0};
	struct backup_upload *u = NULL;
	struct backup_context c;
	struct stat st;
	char sha[65] = "", *key = NULL, *newest = NULL;
	bool is_dir, same = false, hashed;
	time_t now = time(NULL);
	int rc = 0;

	if (stat(src, &st) < 0)
		return error_set(err, -errno, "src: %s: %s", src, strerror(errno));
	is_dir = S_ISDIR(st.st_mode);
	if ((rc = exclude_list(m, &d.exclude, err)) < 0)
		goto out;
	/* Directories are hashed always (small: a CA); files when the hash decides. */
	hashed = is_dir || module_bool(m, "if_changed");
	if (hashed && (rc = content_sha256(src, is_dir, &d, sha, err)) < 0)
		goto out;
	if (module_bool(m, "if_changed")) {
		rc = newest_is_same(s, sha, &same, &newest, err);
		if (rc < 0)
			goto out;
		if (same) {
			module_set_str(m, "key", newest);
			module_set_bool(m, "uploaded", false);
			module_set_str(m, "content_sha256", sha);
			module_set_str(m, "msg", "unchanged since the newest backup");
			rc = prune_after(m, s, err);
			goto out;
		}
	}
	key = module_str(m, "key")
		  ? strdup(module_str(m, "key"))
		  : backup_key_new(s->cfg.prefix, s->cfg.kind, s->cfg.cluster,
				   strrchr(src, '/') ? strrchr(src, '/') + 1 : src, now);
	if (!key) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (m->check_mode) {
		module_set_changed(m, true);
		module_set_str(m, "key", key);
		module_set_bool(m, "uploaded", false);
		goto out;
	}
	rc = backup_context_build(&s->cfg, now, &c, err);
	if (rc < 0)
		goto out;
	if (hashed) /* what if_changed compares */
		backup_context_add(&c, "content_sha256", sha);
	if (hashed && !is_dir) /* the exact plaintext: every fetch checks it */
		backup_context_add(&c, "sha256", sha);
	module_note(m, "%s -> s3://%s/%s", src, s->cfg.bucket, key);
	u = backup_upload_new(s, key, &c, err);
	if (!u) {
		rc = -EIO;
		goto out;
	}
	rc = is_dir ? stream_dir(&d, false, upload_sink, u, err)
		    : stream_file(src, upload_sink, u, err);
	if (rc == 0)
		rc = backup_upload_finish(u, &r, err);
	if (rc < 0)
		goto out;
	module_set_changed(m, true);
	report_upload(m, key, &r, &c);
	if (hashed)
		module_set_str(m, "content_sha256", sha);
	module_note(m, "uploaded %llu bytes (%llu stored) in %.1f s",
		    (unsigned long long)r.stats.plaintext_bytes,
		    (unsigned long long)r.stats.message_bytes, r.seconds);
	rc = prune_after(m, s, err);
out:
	backup_upload_free(u);
	backup_upload_result_free(&r);
	free(d.exclude);
	free(key);
	free(newest);
	return rc;
}

/* ---- fetched ------------------------------------------------------------------------------ */

static int fd_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	const unsigned char *p = buf;
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, -errno, "dest: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int tar_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	return tar_reader_write(ctx, buf, len, err);
}

/* dest → dest.before-restore-<time>: an existing directory is kept, never deleted. */
static int move_aside(struct module *m, const char *dest, struct error *err)
{
	char aside[PATH_MAX];
	int rc = fs_move_aside(dest, "before-restore", aside, sizeof(aside), err);

	if (rc < 0)
		return error_wrap(err, rc, "dest");
	if (aside[0])
		module_set_str(m, "moved_aside", aside);
	return 0;
}

static int fetch_to_dir(struct module *m, struct backup_session *s, const char *key,
			const char *dest, struct backup_fetch_result *r, struct error *err)
{
	char tmp[PATH_MAX];
	struct tar_reader *tr = NULL;
	int rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.restore-XXXXXX", dest) >= sizeof(tmp))
		return error_set(err, -ENAMETOOLONG, "dest: path too long");
	if (!mkdtemp(tmp))
		return error_set(err, -errno, "dest: cannot create %s: %s", tmp, strerror(errno));
	tr = tar_reader_new(tmp, err);
	rc = tr ? backup_fetch(s, key, tar_sink, tr, r, err) : -ENOMEM;
	if (rc == 0)
		rc = tar_reader_finish(tr, NULL, err);
	if (rc == 0)
		rc = move_aside(m, dest, err);
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = error_set(err, -errno, "dest: %s: %s", dest, strerror(errno));
	if (rc < 0)
		fs_remove_tree(tmp);
	tar_reader_free(tr);
	return rc;
}

static int fetch_to_file(struct backup_session *s, const char *key, const char *dest, uid_t uid,
			 gid_t gid, struct backup_fetch_result *r, struct error *err)
{
	char tmp[PATH_MAX];
	int fd, rc;

	fd = fs_open_temp(dest, 0600, uid, gid, tmp, sizeof(tmp), err);
	if (fd < 0)
		return error_wrap(err, fd, "dest");
	rc = backup_fetch(s, key, fd_sink, &fd, r, err);
	if (rc == 0) {
		rc = fs_commit_file(fd, tmp, dest, err);
		if (rc < 0)
			error_wrap(err, rc, "dest");
	} else {
		close(fd);
	}
	if (tmp[0])
		unlink(tmp); /* nothing partial stays behind */
	return rc;
}

/* The key to fetch: the option, else the newest backup of kind and cluster. */
static int pick_key(struct module *m, struct backup_session *s, char **key, struct error *err)
{
	struct backup_object *objects = NULL;
	size_t n = 0;
	int rc = 0;

	if (module_str(m, "key")) {
		*key = strdup(module_str(m, "key"));
		return *key ? 0 : error_set(err, -ENOMEM, "out of memory");
	}
	rc = backup_list(s, &objects, &n, err);
	if (rc == 0 && n == 0)
		rc = error_set(err, -ENOENT, "no %s backup of cluster %s in s3://%s/%s",
			       backup_kind_name(s->cfg.kind), s->cfg.cluster, s->cfg.bucket,
			       s->cfg.prefix);
	if (rc == 0 && !(*key = strdup(objects[n - 1].key)))
		rc = error_set(err, -ENOMEM, "out of memory");
	backup_objects_free(objects, n);
	return rc;
}

static int do_fetched(struct module *m, struct backup_session *s, struct error *err)
{
	const char *dest = module_str(m, "dest");
	struct backup_fetch_result r = {0};
	uid_t uid = FS_KEEP_OWNER;
	gid_t gid = FS_KEEP_GROUP;
	char *key = NULL, hex[65];
	int rc = 0;

	rc = fs_resolve_owner(module_str(m, "owner"), module_str(m, "group"), &uid, &gid, err);
	if (rc == 0)
		rc = pick_key(m, s, &key, err);
	if (rc < 0)
		goto out;
	module_set_str(m, "key", key);
	if (m->check_mode) {
		module_set_changed(m, true);
		goto out;
	}
	module_note(m, "s3://%s/%s -> %s", s->cfg.bucket, key, dest);
	rc = s->cfg.kind == BACKUP_KIND_CA ? fetch_to_dir(m, s, key, dest, &r, err)
					   : fetch_to_file(s, key, dest, uid, gid, &r, err);
	if (rc < 0)
		goto out;
	module_set_changed(m, true);
	hex_encode(r.stats.plaintext_sha256, 32, hex);
	module_set_str(m, "path", dest);
	module_set_int(m, "size", (long long)r.stats.plaintext_bytes);
	module_set_int(m, "stored_size", (long long)r.stored_bytes);
	module_set_str(m, "sha256", hex);
	module_set(m, "context", r.context);
	r.context = NULL;
out:
	json_decref(r.context);
	free(key);
	return rc;
}

/* ---- listed, pruned, absent --------------------------------------------------------------- */

static int do_listed(struct module *m, struct backup_session *s, struct error *err)
{
	struct backup_object *objects = NULL;
	json_t *list = json_array();
	size_t n = 0;
	int rc = backup_list(s, &objects, &n, err);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		char when[32];

		module_format_time(objects[i].last_modified, when, sizeof(when));
		json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "key", objects[i].key,
						      "size", (json_int_t)objects[i].size,
						      "last_modified", when));
	}
	module_set(m, "objects", list);
	backup_objects_free(objects, n);
	return rc;
}

static int do_pruned(struct module *m, struct backup_session *s, struct error *err)
{
	return prune_after(m, s, err);
}

static int do_absent(struct module *m, struct backup_session *s, struct error *err)
{
	const char *key = module_str(m, "key");
	struct s3_object_info info = {0};
	int rc = 0;

	module_set_str(m, "key", key);
	rc = s3_head_object(s->aws, s->cfg.bucket, key, &info, err);
	s3_object_info_free(&info);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	module_set_changed(m, true);
	return m->check_mode ? 0 : s3_delete_object(s->aws, s->cfg.bucket, key, err);
}

/* ---- kms_key ------------------------------------------------------------------------------ */

static int do_kms_key(struct module *m, const struct backup_config *cfg, struct error *err)
{
	const char *alias = module_str(m, "kms_key_id");
	const json_t *policy = module_get(m, "policy");
	char *arn = NULL, *key_id = NULL, *policy_text = NULL;
	struct aws *aws;
	int rc = 0;

	if (!alias || strncmp(alias, "alias/", 6) != 0)
		return error_set(err, -EINVAL,
				 "kms_key_id: an alias (alias/NAME) with state=kms_key");
	aws = aws_new(&cfg->aws, err);
	if (!aws)
		return -EINVAL;
	rc = kms_describe_key(aws, alias, &arn, err);
	if (rc != -ENOENT)
		goto out;
	module_set_changed(m, true);
	if (m->check_mode) {
		rc = 0;
		goto out;
	}
	rc = kms_create_key(aws, module_str(m, "description"), (const char *const[]){"Purpose"},
			    (const char *const[]){"etcd-ca-backup"}, 1, &key_id, &arn, err);
	if (rc == 0)
		rc = kms_create_alias(aws, alias, key_id, err);
	if (rc == 0 && policy && !json_is_null(policy)) {
		policy_text = json_is_string(policy) ? strdup(json_string_value(policy))
						     : json_dumps(policy, JSON_COMPACT);
		rc = policy_text ? kms_put_key_policy(aws, key_id, policy_text, err)
				 : error_set(err, -ENOMEM, "out of memory");
	}
out:
	if (rc == 0 && arn)
		module_set_str(m, "kms_key_arn", arn);
	free(policy_text);
	free(key_id);
	free(arn);
	aws_free(aws);
	return rc;
}

/* ---- drilled (kind=ca) ------------------------------------------------------------------- */

/* Fetch the newest CA backup into scratch/ca, check it against the live root. */
static int ca_drill(struct module *m, struct backup_session *s, struct drill_scratch *scratch,
		    struct error *err)
{
	struct backup_fetch_result r = {0};
	struct drill_ca_report report;
	struct tar_reader *tr = NULL;
	char prefix[128], dir[PATH_MAX], *key = NULL;
	size_t stale = 0;
	int rc;

	rc = pick_key(m, s, &key, err);
	if (rc < 0)
		return rc;
	module_set_str(m, "key", key);
	snprintf(prefix, sizeof(prefix), "ca-drill-%s", s->cfg.cluster);
	rc = drill_scratch_make(scratch, module_str(m, "scratch_dir"), prefix, &stale, err);
	if (stale)
		module_warn(m, "removed %zu scratch dir(s) of earlier drills that did not finish",
			    stale);
	if (rc < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/ca", scratch->path);
	if (mkdir(dir, 0700) < 0) {
		rc = error_set(err, -errno, "scratch_dir: %s: %s", dir, strerror(errno));
		goto out;
	}
	fprintf(stderr, "kms_s3_backup: drill: s3://%s/%s -> %s\n", s->cfg.bucket, key, dir);
	tr = tar_reader_new(dir, err);
	rc = tr ? backup_fetch(s, key, tar_sink, tr, &r, err) : -ENOMEM;
	if (rc == 0)
		rc = tar_reader_finish(tr, NULL, err);
	if (rc == 0) {
		rc = drill_ca_check(dir, module_str(m, "root"), &report, err);
		module_set_str(m, "root_fingerprint", report.root_fingerprint);
		module_set_bool(m, "root_matches", report.root_matches);
		module_set_bool(m, "intermediate_chains", report.intermediate_chains);
		module_set_bool(m, "intermediate_key_matches", report.intermediate_key_matches);
		module_set(m, "context", r.context);
		r.context = NULL;
	}
out:
	tar_reader_free(tr);
	json_decref(r.context);
	free(key);
	return rc;
}

static int do_drilled(struct module *m, struct backup_session *s, struct error *err)
{
	struct drill_scratch scratch = {0};
	struct error cleanup;
	int rc;

	if (s->cfg.kind != BACKUP_KIND_CA)
		return error_set(err, -EINVAL,
				 "kind: state=drilled here is the CA drill (kind=ca); "
				 "etcd_snapshot state=drilled drills etcd backups");
	if (m->check_mode)
		return 0;
	rc = ca_drill(m, s, &scratch, err);
	if (drill_scratch_remove(&scratch, &cleanup) < 0 && rc == 0)
		rc = error_set(err, -EIO, "%s", cleanup.msg);
	return rc < 0 ? error_wrap(err, rc, "CA restore drill failed") : 0;
}

static void drill_metrics(struct module *m, const struct metrics_config *cfg, bool ok,
			  double seconds)
{
	struct metrics *mx = metrics_new(cfg, "drill");
	struct error err;

	if (!mx)
		return module_warn(m, "metrics: out of memory");
	metrics_job_result(mx, "drill", ok, seconds);
	if (metrics_commit(mx, &err) < 0)
		module_warn(m, "%s", err.msg);
	metrics_free(mx);
}

/* ---- run ---------------------------------------------------------------------------------- */

typedef int (*state_fn)(struct module *m, struct backup_session *s, struct error *err);
/* What a state writes to its metrics file once it is done (ok or not). */
typedef void (*metrics_fn)(struct module *m, const struct metrics_config *cfg, bool ok,
			   double seconds);

/* metrics.kind defaults to the backup's kind (etcd-snapshot: "etcd"). */
static int parse_metrics(struct module *m, struct metrics_config *metrics, struct error *err)
{
	const char *kind = module_str(m, "kind");

	return metrics_config_parse(module_get(m, "metrics"), "metrics.",
				    strcmp(kind, "etcd-snapshot") == 0 ? "etcd" : kind, metrics,
				    err);
}

static void backup_metrics(struct module *m, const struct metrics_config *cfg, bool ok,
			   double seconds)
{
	struct error err;

	if (backup_write_metrics(cfg, ok, seconds, m->result, &err) < 0)
		module_warn(m, "%s", err.msg);
}

/*
 * A state that works on the bucket: parse the configuration, open the session for `use`, run
 * fn; with `ping`, the healthcheck hears the start and the end (success or failure). Pings
 * verify with the system's CAs, as etcd_snapshot's: ca_bundle is for the S3/KMS endpoints (a
 * private MinIO CA), and would fail a public healthchecks.io.
 */
static int with_session(struct module *m, enum backup_use use, bool ping, state_fn fn,
			metrics_fn write_metrics)
{
	const char *url = module_str(m, "healthcheck_url");
	struct backup_session s = {0};
	struct backup_config cfg;
	struct metrics_config metrics;
	struct error err = {0}, ping_err;
	struct timespec start;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = parse_metrics(m, &metrics, &err);
	if (rc == 0)
		rc = backup_config_parse(m->params, "", use, &cfg, &err);
	if (rc < 0)
		return module_fail(m, "%s", err.msg);
	if (ping && !m->check_mode && backup_ping(url, "/start", NULL, NULL, &ping_err) < 0)
		module_warn(m, "healthcheck_url: %s", ping_err.msg);
	rc = backup_session_open(&s, &cfg, use, &err);
	if (rc == 0)
		rc = fn(m, &s, &err);
	backup_session_close(&s);
	if (ping && !m->check_mode &&
	    backup_ping(url, rc < 0 ? "/fail" : "", rc < 0 ? err.msg : NULL, NULL, &ping_err) < 0)
		module_warn(m, "healthcheck_url: %s", ping_err.msg);
	if (write_metrics && !m->check_mode && metrics.dir)
		write_metrics(m, &metrics, rc == 0, seconds_since(&start));
	return rc < 0 ? module_fail(m, "%s", err.msg) : 0;
}

static int run_present(struct module *m)
{
	return with_session(m, BACKUP_USE_UPLOAD, true, do_present, backup_metrics);
}

static int run_fetched(struct module *m)
{
	return with_session(m, BACKUP_USE_FETCH, false, do_fetched, NULL);
}

static int run_listed(struct module *m)
{
	return with_session(m, BACKUP_USE_LIST, false, do_listed, NULL);
}

static int run_pruned(struct module *m)
{
	return with_session(m, BACKUP_USE_LIST, true, do_pruned, NULL);
}

static int run_absent(struct module *m)
{
	return with_session(m, BACKUP_USE_LIST, false, do_absent, NULL);
}

static int run_drilled(struct module *m)
{
	return with_session(m, BACKUP_USE_FETCH, true, do_drilled, drill_metrics);
}

static int run_kms_key(struct module *m)
{
	json_t *params;
	struct backup_config cfg;
	struct metrics_config metrics;
	struct error err = {0};
	int rc;

	if (parse_metrics(m, &metrics, &err) < 0)
		return module_fail(m, "%s", err.msg);
	params = json_deep_copy(m->params);
	/* The key needs no bucket; the parser wants one. */
	json_object_set_new(params, "bucket", json_string("-"));
	rc = backup_config_parse(params, "", BACKUP_USE_LIST, &cfg, &err);
	if (rc == 0)
		rc = do_kms_key(m, &cfg, &err);
	json_decref(params);
	return rc < 0 ? module_fail(m, "%s", err.msg) : 0;
}

static const char *const PRESENT_NEEDS[] = {"src", NULL};
static const char *const FETCHED_NEEDS[] = {"dest", NULL};
static const char *const PRUNED_NEEDS[] = {"retention_days", NULL};
static const char *const ABSENT_NEEDS[] = {"key", NULL};
static const char *const DRILLED_NEEDS[] = {"root", NULL};

static const struct option_rule rules[] = {
    {.option = "state", .value = "present", .requires = PRESENT_NEEDS},
    {.option = "state", .value = "fetched", .requires = FETCHED_NEEDS},
    {.option = "state", .value = "pruned", .requires = PRUNED_NEEDS},
    {.option = "state", .value = "absent", .requires = ABSENT_NEEDS},
    {.option = "state",
     .value = "drilled",
     .requires = DRILLED_NEEDS,
     .msg = "root: required with state=drilled (the live root certificate to compare the backup "
	    "with)"},
    {0},
};

static const struct state_handler states[] = {
    {"present", run_present}, {"fetched", run_fetched},
    {"listed", run_listed},   {"pruned", run_pruned},
    {"absent", run_absent},   {"kms_key", run_kms_key},
    {"drilled", run_drilled}, {0},
};

static const struct module_spec spec = {
    .name = "kms_s3_backup",
    .options = options,
    .rules = rules,
    .states = states,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
