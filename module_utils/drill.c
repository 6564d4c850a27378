#include "drill.h"

#include "clock.h"
#include "etcd.h"
#include "fs.h"
#include "etcd_restore.h"
#include "keys.h"
#include "proc.h"
#include "snapshot.h"
#include "x509.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The free space is looked at again after this many bytes were written. */
#define DRILL_SPACE_CHECK_EVERY (64u * 1024u * 1024u)
/* The end of etcd's log that goes into an error message. */
#define DRILL_LOG_TAIL 600

/* ---- scratch ------------------------------------------------------------------------------ */

/* Only trees a drill made: the marker file says so (fs_remove_tree never follows symlinks). */
static int remove_tree(const char *path, struct error *err)
{
	if (fs_remove_tree(path) != 0 && errno != ENOENT)
		return error_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* A scratch directory whose marker names a process that is gone (or that has no marker). */
static bool stale(const char *dir)
{
	char path[PATH_MAX], *text = NULL;
	struct error ignored;
	size_t len = 0;
	long pid;
	bool gone;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, DRILL_MARKER) >= sizeof(path) ||
	    fs_read_file(path, 64, &text, &len, &ignored) < 0)
		return false; /* not ours, or a drill still making it: leave it */
	pid = strtol(text, NULL, 10);
	gone = pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
	free(text);
	return gone;
}

static size_t remove_stale(const char *parent, const char *prefix)
{
	size_t prefix_len = strlen(prefix), removed = 0;
	DIR *d = opendir(parent);
	const struct dirent *e;
	struct error ignored;

	while (d && (e = readdir(d))) {
		char path[PATH_MAX];

		if (strncmp(e->d_name, prefix, prefix_len) != 0 || e->d_name[prefix_len] != '-')
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		if (stale(path) && remove_tree(path, &ignored) == 0)
			removed++;
	}
	if (d)
		closedir(d);
	return removed;
}

int drill_scratch_make(struct drill_scratch *s, const char *parent, const char *prefix,
		       size_t *removed_stale, struct error *err)
{
	char marker[PATH_MAX], pid[24];
	int n, fd, rc;

	s->path[0] = '\0';
	*removed_stale = 0;
	rc = fs_mkdir_p(parent, 0700, err);
	if (rc < 0)
		return rc;
	*removed_stale = remove_stale(parent, prefix);
	n = snprintf(s->path, sizeof(s->path), "%s/%s-XXXXXX", parent, prefix);
	if (n < 0 || (size_t)n >= sizeof(s->path)) {
		s->path[0] = '\0';
		return error_set(err, -ENAMETOOLONG, "scratch_dir: path too long");
	}
	if (!mkdtemp(s->path)) {
		rc = error_set(err, -errno, "scratch_dir: cannot create %s: %s", s->path,
			       strerror(errno));
		s->path[0] = '\0';
		return rc;
	}
	snprintf(marker, sizeof(marker), "%s/%s", s->path, DRILL_MARKER);
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	fd = fs_create_exclusive(marker, 0600, err);
	if (fd < 0)
		return fd;
	rc = write(fd, pid, (size_t)n) == n ? 0 : error_set(err, -EIO, "%s: write failed", marker);
	close(fd);
	return rc;
}

int drill_scratch_remove(struct drill_scratch *s, struct error *err)
{
	int rc;

	if (!s->path[0])
		return 0;
	rc = remove_tree(s->path, err);
	if (rc == 0)
		s->path[0] = '\0';
	return rc;
}

/* ---- space -------------------------------------------------------------------------------- */

int drill_free_bytes(const char *path, uint64_t *free_bytes, struct error *err)
{
	struct statvfs st;

	if (statvfs(path, &st) < 0)
		return error_set(err, -errno, "statvfs %s: %s", path, strerror(errno));
	*free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	return 0;
}

int drill_check_space(const char *path, uint64_t expected, struct error *err)
{
	uint64_t free_bytes = 0;
	int rc = drill_free_bytes(path, &free_bytes, err);

	if (rc < 0)
		return rc;
	if (free_bytes / 2 < expected)
		return error_set(
		    err, -ENOSPC,
		    "not enough room for a restore drill in %s: %llu MiB free, the "
		    "snapshot and its restored copy need 2 x %llu MiB; free some space "
		    "or point scratch_dir at a larger file system",
		    path, (unsigned long long)(free_bytes >> 20),
		    (unsigned long long)((expected + (1u << 20) - 1) >> 20));
	return 0;
}

uint64_t drill_live_db_size(const char *data_dir)
{
	char path[PATH_MAX];
	struct stat st;

	if (!data_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/member/snap/db", data_dir);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int drill_file_sink_write(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct drill_file_sink *f = ctx;
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(f->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, -errno, "%s: write failed: %s", f->path,
					 strerror(errno));
		p += n;
		len -= (size_t)n;
		f->written += (uint64_t)n;
	}
	if (f->written - f->checked_at >= DRILL_SPACE_CHECK_EVERY) {
		uint64_t free_bytes = 0;

		f->checked_at = f->written;
		if (drill_free_bytes(f->path, &free_bytes, err) < 0)
			return -EIO;
		if (free_bytes < f->written)
			return error_set(err, -ENOSPC,
					 "%s: stopped after %llu MiB: %llu MiB left, not enough "
					 "for the restored copy",
					 f->path, (unsigned long long)(f->written >> 20),
					 (unsigned long long)(free_bytes >> 20));
	}
	return 0;
}

/* ---- the throwaway etcd ------------------------------------------------------------------- */

/* A port the kernel hands out now on 127.0.0.1; the socket stays open until both are picked, so
 * the two differ. */
static int free_port(int *fd, int *port, struct error *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &len) < 0)
		return error_set(err, -errno, "cannot find a free port on 127.0.0.1: %s",
				 strerror(errno));
	*port = ntohs(a.sin_port);
	return 0;
}

int drill_etcd_pick_ports(struct drill_etcd *e, struct error *err)
{
	int fds[2] = {-1, -1}, ports[2] = {0, 0}, rc;

	rc = free_port(&fds[0], &ports[0], err);
	if (rc == 0)
		rc = free_port(&fds[1], &ports[1], err);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rc < 0)
		return rc;
	snprintf(e->client_url, sizeof(e->client_url), "http://127.0.0.1:%d", ports[0]);
	snprintf(e->peer_url, sizeof(e->peer_url), "http://127.0.0.1:%d", ports[1]);
	return 0;
}

/* The last bytes of etcd's log, for a message. */
static void log_tail(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n = 0;

	out[0] = '\0';
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)(size - 1))
		lseek(fd, end - (off_t)(size - 1), SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

/* The child: etcd with a clean environment (no ETCD_* from the unit), dying with the module. */
static void exec_etcd(const struct drill_etcd *e, const char *binary, const char *const *argv)
{
	static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	int null = open("/dev/null", O_RDONLY);
	int log = open(e->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || null < 0 || log < 0 || dup2(null, 0) < 0 ||
	    dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(126);
	execve(binary, (char *const *)argv, envp);
	_exit(127);
}

int drill_etcd_start(struct drill_etcd *e, const char *binary, const char *data_dir,
		     const char *name, long timeout_s, struct error *err)
{
	char flags[6][PATH_MAX + 64];
	const char *argv[16];
	const char *endpoints[] = {e->client_url};
	struct etcd_client c = {.endpoints = endpoints, .n_endpoints = 1, .timeout_ms = 2000};
	time_t deadline = time(NULL) + timeout_s;
	size_t n = 0;
	int status = 0;

	snprintf(flags[0], sizeof(flags[0]), "--data-dir=%s", data_dir);
	snprintf(flags[1], sizeof(flags[1]), "--name=%s", name);
	snprintf(flags[2], sizeof(flags[2]), "--listen-client-urls=%s", e->client_url);
	snprintf(flags[3], sizeof(flags[3]), "--advertise-client-urls=%s", e->client_url);
	snprintf(flags[4], sizeof(flags[4]), "--listen-peer-urls=%s", e->peer_url);
	snprintf(flags[5], sizeof(flags[5]), "--initial-advertise-peer-urls=%s", e->peer_url);
	argv[n++] = binary;
	for (size_t i = 0; i < 6; i++)
		argv[n++] = flags[i];
	/* Reads only: no metrics listener, no v2, the zap logger (3.4 warns about capnslog). */
	argv[n++] = "--logger=zap";
	argv[n++] = "--log-outputs=stderr";
	argv[n++] = "--enable-v2=false";
	argv[n] = NULL;
	e->pid = fork();
	if (e->pid < 0) {
		e->pid = 0;
		return error_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (e->pid == 0)
		exec_etcd(e, binary, argv);
	for (;;) {
		struct error health;
		char tail[DRILL_LOG_TAIL];

		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			e->pid = 0;
			log_tail(e->log_path, tail, sizeof(tail));
			return error_set(err, -EIO, "the drill's etcd (%s) exited (%s %d): %s",
					 binary, WIFEXITED(status) ? "exit" : "signal",
					 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
					 tail);
		}
		if (etcd_health(&c, e->client_url, &health) == 0)
			return 0;
		if (time(NULL) >= deadline) {
			drill_etcd_stop(e);
			log_tail(e->log_path, tail, sizeof(tail));
			return error_set(
			    err, -ETIMEDOUT,
			    "the drill's etcd did not answer /health within %ld s (%s): %s",
			    timeout_s, health.msg, tail);
		}
		sleep_ms(300);
	}
}

int drill_etcd_count(const struct drill_etcd *e, uint64_t *revision, uint64_t *keys,
		     struct error *err)
{
	const char *endpoints[] = {e->client_url};
	struct etcd_client c = {.endpoints = endpoints, .n_endpoints = 1, .timeout_ms = 60000};
	/* key "\0" with range_end "\0": every key (etcd rpc.proto RangeRequest). */
	json_t *body = json_pack("{s:s, s:s, s:b}", "key", "AA==", "range_end",
				 "AA==", "count_only", 1),
	       *answer = NULL;
	int rc = body ? etcd_post(&c, e->client_url, "kv/range", body, &answer, err)
		      : error_set(err, -ENOMEM, "out of memory");

	if (rc == 0 &&
	    (etcd_uint64_from_json(json_object_get(json_object_get(answer, "header"), "revision"),
				   revision) < 0 ||
	     etcd_uint64_from_json(json_object_get(answer, "count"), keys) < 0))
		rc = error_set(err, -EPROTO,
			       "the drill's etcd answered kv/range without a "
			       "revision or count");
	json_decref(body);
	json_decref(answer);
	return rc;
}

void drill_etcd_stop(struct drill_etcd *e)
{
	int status;

	if (e->pid <= 0)
		return;
	kill(e->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			e->pid = 0;
			return;
		}
		sleep_ms(100);
	}
	kill(e->pid, SIGKILL);
	while (waitpid(e->pid, &status, 0) < 0 && errno == EINTR)
		;
	e->pid = 0;
}

/* ---- the etcd drill, end to end --------------------------------------------------------- */

/* The newest backup of the session's cluster: its key and stored size. */
static int newest_backup(struct drill_run *d, struct error *err)
{
	struct backup_object *objects = NULL;
	size_t n = 0;
	int rc = backup_list(&d->session, &objects, &n, err);

	if (rc == 0 && n == 0)
		rc =
		    error_set(err, -ENOENT, "no etcd backup of cluster %s in s3://%s/%s",
			      d->session.cfg.cluster, d->session.cfg.bucket, d->session.cfg.prefix);
	if (rc == 0) {
		d->key = strdup(objects[n - 1].key);
		d->stored_size = objects[n - 1].size;
		if (!d->key)
			rc = error_set(err, -ENOMEM, "out of memory");
	}
	backup_objects_free(objects, n);
	return rc;
}

/* Fetch, verify and decrypt the newest backup into scratch/snapshot.db, watching the space. */
static int drill_fetch(struct drill_run *d, const struct drill_etcd_options *o, char *path,
		       size_t size, struct error *err)
{
	struct backup_fetch_result r = {0};
	struct drill_file_sink sink = {.fd = -1, .path = path};
	const char *revision;
	uint64_t expected;
	int rc;

	rc = newest_backup(d, err);
	if (rc < 0)
		return rc;
	expected = drill_live_db_size(o->data_dir);
	if (expected < d->stored_size)
		expected = d->stored_size;
	rc = drill_check_space(o->scratch_dir, expected, err);
	if (rc < 0)
		return rc;
	snprintf(path, size, "%s/snapshot.db", d->scratch.path);
	sink.fd = fs_create_exclusive(path, 0600, err);
	if (sink.fd < 0)
		return sink.fd;
	fprintf(stderr, "etcd_snapshot: drill: fetching s3://%s/%s\n", d->session.cfg.bucket,
		d->key);
	rc = backup_fetch(&d->session, d->key, drill_file_sink_write, &sink, &r, err);
	close(sink.fd);
	if (rc < 0)
		goto out;
	d->context = r.context;
	r.context = NULL;
	revision = json_string_value(json_object_get(d->context, "revision"));
	d->have_backup_revision =
	    revision && etcd_uint64_from_json(json_object_get(d->context, "revision"),
					      &d->backup_revision) == 0;
out:
	json_decref(r.context);
	return rc;
}

/* etcdutl (3.5+) or etcdctl (3.4) snapshot restore into scratch/data, as member "drill". */
static int drill_restore(struct drill_run *d, const struct drill_etcd_options *o,
			 const char *snapshot, char *data, size_t size, struct error *err)
{
	static const char *const etcdutls[] = {"/opt/bin/etcdutl", NULL};
	static const char *const etcdctls[] = {"/opt/bin/etcdctl", NULL};
	char found[PATH_MAX], name_flag[64], data_flag[PATH_MAX + 16], cluster_flag[128],
	    peer_flag[128];
	const char *tool = proc_find_tool(o->etcdutl, "etcdutl", etcdutls, found, sizeof(found));

	if (!tool)
		tool = proc_find_tool(o->etcdctl, "etcdctl", etcdctls, found, sizeof(found));
	if (!tool)
		return error_set(err, -ENOENT,
				 "neither etcdutl nor etcdctl found (options etcdutl, "
				 "etcdctl; /opt/bin, then PATH)");
	snprintf(data, size, "%s/data", d->scratch.path);
	snprintf(name_flag, sizeof(name_flag), "--name=drill");
	snprintf(data_flag, sizeof(data_flag), "--data-dir=%s", data);
	snprintf(cluster_flag, sizeof(cluster_flag), "--initial-cluster=drill=%s",
		 d->etcd.peer_url);
	snprintf(peer_flag, sizeof(peer_flag), "--initial-advertise-peer-urls=%s",
		 d->etcd.peer_url);
	snprintf(d->tool, sizeof(d->tool), "%s", tool);
	return etcd_restore_run_tool((char *[]){d->tool, "snapshot", "restore", (char *)snapshot,
						data_flag, name_flag, cluster_flag, peer_flag,
						NULL},
				     o->tool_timeout_s, d->output, sizeof(d->output), err);
}

int drill_etcd_run(struct drill_run *d, const struct drill_etcd_options *o,
		   const struct backup_config *cfg, struct error *err)
{
	static const char *const etcds[] = {"/opt/bin/etcd", NULL};
	char snapshot[PATH_MAX], data[PATH_MAX], found[PATH_MAX], prefix[128];
	struct snapshot_file_info info = {0};
	const char *etcd_binary = proc_find_tool(o->etcd, "etcd", etcds, found, sizeof(found));
	int rc;

	if (!etcd_binary)
		return error_set(err, -ENOENT,
				 "etcd: no etcd binary found (option etcd; /opt/bin, "
				 "then PATH)");
	rc = backup_session_open(&d->session, cfg, BACKUP_USE_FETCH, err);
	if (rc < 0)
		return rc;
	d->opened = true;
	snprintf(prefix, sizeof(prefix), "etcd-drill-%s", cfg->cluster);
	rc = drill_scratch_make(&d->scratch, o->scratch_dir, prefix, &d->stale, err);
	if (rc == 0)
		rc = drill_fetch(d, o, snapshot, sizeof(snapshot), err);
	if (rc == 0)
		rc = snapshot_file_verify(snapshot, false, false, &info, err);
	if (rc < 0)
		return rc;
	d->snapshot_size = info.size;
	rc = drill_etcd_pick_ports(&d->etcd, err);
	if (rc == 0)
		rc = drill_restore(d, o, snapshot, data, sizeof(data), err);
	if (rc < 0)
		return rc;
	unlink(snapshot); /* the restored copy is all etcd needs: halve the space held */
	snprintf(d->etcd.log_path, sizeof(d->etcd.log_path), "%s/etcd.log", d->scratch.path);
	rc = drill_etcd_start(&d->etcd, etcd_binary, data, "drill", o->start_timeout_s, err);
	if (rc == 0)
		rc = drill_etcd_count(&d->etcd, &d->revision, &d->keys, err);
	drill_etcd_stop(&d->etcd);
	if (rc == 0 && d->have_backup_revision && d->revision < d->backup_revision)
		rc = error_set(err, -EPROTO,
			       "the restored data is at revision %llu, below the revision %llu "
			       "recorded when the backup was taken",
			       (unsigned long long)d->revision,
			       (unsigned long long)d->backup_revision);
	return rc;
}

void drill_run_release(struct drill_run *d)
{
	if (d->opened)
		backup_session_close(&d->session);
	d->opened = false;
	json_decref(d->context);
	d->context = NULL;
	free(d->key);
	d->key = NULL;
}

int drill_etcd_metrics(const struct metrics_config *cfg, const struct drill_run *d, bool ok,
		       double seconds, struct error *err)
{
	struct metrics *mx = metrics_new(cfg, "drill");
	int rc;

	if (!mx)
		return error_set(err, -ENOMEM, "metrics: out of memory");
	metrics_job_result(mx, "drill", ok, seconds);
	metrics_gauge_or_previous(mx, "drill_revision",
				  "Revision of the data the last successful drill restored.", ok,
				  (double)d->revision);
	metrics_gauge_or_previous(mx, "drill_keys",
				  "Keys in the data the last successful drill restored.", ok,
				  (double)d->keys);
	metrics_gauge_or_previous(mx, "drill_backup_stored_bytes",
				  "Bytes in S3 of the backup the last successful drill restored.",
				  ok, (double)d->stored_size);
	rc = metrics_commit(mx, err);
	metrics_free(mx);
	return rc;
}

/* ---- CA ----------------------------------------------------------------------------------- */

static void fingerprint_into(X509 *cert, char out[65])
{
	char *hex = x509_fingerprint_sha256_hex(cert);

	snprintf(out, 65, "%s", hex ? hex : "");
	free(hex);
}

/* The intermediate key opens with secrets/password and fits certs/intermediate_ca.crt. */
static bool intermediate_key_fits(const char *ca_dir, X509 *intermediate)
{
	char path[PATH_MAX], *password = NULL;
	struct error ignored;
	EVP_PKEY *key = NULL;
	size_t len = 0;
	bool fits;

	snprintf(path, sizeof(path), "%s/secrets/password", ca_dir);
	if (fs_read_file(path, 4096, &password, &len, &ignored) < 0)
		return false;
	while (len && (password[len - 1] == '\n' || password[len - 1] == '\r'))
		password[--len] = '\0';
	snprintf(path, sizeof(path), "%s/secrets/intermediate_ca_key", ca_dir);
	key = key_read_pem(path, password, &ignored);
	fits = key && key_matches_cert(key, intermediate);
	EVP_PKEY_free(key);
	OPENSSL_cleanse(password, len);
	free(password);
	return fits;
}

int drill_ca_check(const char *ca_dir, const char *live_root, struct drill_ca_report *r,
		   struct error *err)
{
	char path[PATH_MAX];
	X509 *root = NULL, *live = NULL, *intermediate = NULL;
	struct error why;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/certs/root_ca.crt", ca_dir);
	root = x509_read_pem(path, &why);
	if (!root) {
		rc = error_set(err, -EPROTO, "the backup has no readable root certificate: %s",
			       why.msg);
		goto out;
	}
	fingerprint_into(root, r->root_fingerprint);
	live = x509_read_pem(live_root, &why);
	if (!live) {
		rc = error_set(err, -ENOENT, "root: %s", why.msg);
		goto out;
	}
	fingerprint_into(live, r->live_fingerprint);
	r->root_matches = strcmp(r->root_fingerprint, r->live_fingerprint) == 0;
	snprintf(path, sizeof(path), "%s/certs/intermediate_ca.crt", ca_dir);
	intermediate = x509_read_pem(path, &why);
	r->intermediate_chains =
	    intermediate && x509_verify_chain(intermediate, NULL, root, 0, &why) == 0;
	r->intermediate_key_matches = intermediate && intermediate_key_fits(ca_dir, intermediate);
	snprintf(path, sizeof(path), "%s/config/ca.json", ca_dir);
	if (!r->root_matches)
		rc = error_set(err, -EPROTO,
			       "the backed-up root (sha256 %s) is not the live root %s (sha256 %s)",
			       r->root_fingerprint, live_root, r->live_fingerprint);
	else if (!r->intermediate_chains)
		rc = error_set(err, -EPROTO,
			       "the backed-up intermediate certificate does not chain "
			       "to the root: %s",
			       intermediate ? why.msg : "missing or unreadable");
	else if (!r->intermediate_key_matches)
		rc = error_set(err, -EPROTO,
			       "the backed-up intermediate key does not open with the "
			       "backed-up password or does not fit its certificate");
	else if (!fs_exists(path))
		rc = error_set(err, -EPROTO, "the backup has no config/ca.json");
out:
	X509_free(root);
	X509_free(live);
	X509_free(intermediate);
	return rc;
}
