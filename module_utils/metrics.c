#include "metrics.h"

#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct metrics {
	char *path;
	char *dir;
	char labels[1024]; /* {cluster="...",kind="...",node="..."} */
	char *previous;	   /* the file before this run, NUL-terminated, or NULL */
	char *text;	   /* what commit writes */
	double interval_seconds;
	size_t len;
	FILE *out;     /* open_memstream over text/len */
	json_t *names; /* families already added */
	bool failed;   /* out of memory along the way: commit refuses */
};

/* ---- configuration ------------------------------------------------------------------------ */

static int string_member(const json_t *obj, const char *key, const char *where, const char **out,
			 struct error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return error_set(err, -EINVAL, "%s%s: must be a string", where, key);
	*out = json_string_value(v);
	return 0;
}

int metrics_config_parse(const json_t *obj, const char *where, const char *default_kind,
			 struct metrics_config *cfg, struct error *err)
{
	static const char *const keys[] = {"dir",  "cluster",	       "node",
					   "kind", "interval_seconds", NULL};
	const json_t *interval;
	const char *key;
	const json_t *value;
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return error_set(err, -EINVAL, "%s: must be a dict (dir, cluster, node, kind)",
				 *where ? where : "metrics");
	json_object_foreach((json_t *)obj, key, value)
	{
		const char *const *k = keys;

		while (*k && strcmp(*k, key) != 0)
			k++;
		if (!*k)
			return error_set(err, -EINVAL,
					 "%s%.64s: unknown (known: dir, cluster, node, kind, "
					 "interval_seconds)",
					 where, key);
	}
	interval = json_object_get(obj, "interval_seconds");
	if (interval && !json_is_null(interval) &&
	    (!json_is_number(interval) || json_number_value(interval) < 0))
		return error_set(err, -EINVAL,
				 "%sinterval_seconds: must be a number of seconds >= 0", where);
	cfg->interval_seconds = interval ? json_number_value(interval) : 0;
	if ((rc = string_member(obj, "dir", where, &cfg->dir, err)) < 0 ||
	    (rc = string_member(obj, "cluster", where, &cfg->cluster, err)) < 0 ||
	    (rc = string_member(obj, "node", where, &cfg->node, err)) < 0 ||
	    (rc = string_member(obj, "kind", where, &cfg->kind, err)) < 0)
		return rc;
	if (cfg->dir && !*cfg->dir)
		cfg->dir = NULL; /* '' turns metrics off */
	if (cfg->dir && cfg->dir[0] != '/')
		return error_set(err, -EINVAL, "%sdir: '%s' must be an absolute path", where,
				 cfg->dir);
	if (!cfg->cluster || !*cfg->cluster)
		cfg->cluster = "default";
	if (!cfg->kind || !*cfg->kind)
		cfg->kind = default_kind ? default_kind : "";
	if (!cfg->node || !*cfg->node) {
		if (gethostname(cfg->node_buf, sizeof(cfg->node_buf) - 1) < 0)
			snprintf(cfg->node_buf, sizeof(cfg->node_buf), "unknown");
		cfg->node = cfg->node_buf;
	}
	return 0;
}

/* ---- names and values --------------------------------------------------------------------- */

bool metrics_escape_label(const char *value, char *out, size_t size)
{
	size_t used = 0;

	for (const char *p = value; *p; p++) {
		const char *put = *p == '\\'   ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
					       : NULL;
		size_t n = put ? 2 : 1;

		if (used + n >= size)
			return false;
		if (put)
			memcpy(out + used, put, 2);
		else
			out[used] = *p;
		used += n;
	}
	if (used >= size)
		return false;
	out[used] = '\0';
	return true;
}

/* [a-zA-Z0-9_]: our suffixes are written in code; anything else is a bug, not input. */
static bool name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* A file name part: label values may hold anything, a file name only [A-Za-z0-9_.-]. */
static void file_part(const char *in, char *out, size_t size)
{
	size_t i = 0;

	for (; in[i] && i + 1 < size; i++)
		out[i] = (in[i] == '-' || in[i] == '_' || (in[i] == '.' && i > 0) ||
			  (in[i] >= 'a' && in[i] <= 'z') || (in[i] >= 'A' && in[i] <= 'Z') ||
			  (in[i] >= '0' && in[i] <= '9'))
			     ? in[i]
			     : '_';
	out[i] = '\0';
}

/* Prometheus' float text: integers exactly (timestamps, byte counts), NaN and Inf by name. */
static void put_value(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(long long)v)
		fprintf(f, "%lld", (long long)v);
	else
		fprintf(f, "%.17g", v);
}

/* ---- the file ----------------------------------------------------------------------------- */

static int build_labels(struct metrics *m, const struct metrics_config *cfg)
{
	char cluster[256], node[256], kind[256];
	int n;

	if (!metrics_escape_label(cfg->cluster, cluster, sizeof(cluster)) ||
	    !metrics_escape_label(cfg->node, node, sizeof(node)) ||
	    !metrics_escape_label(cfg->kind, kind, sizeof(kind)))
		return -ENAMETOOLONG;
	n = snprintf(m->labels, sizeof(m->labels), "{cluster=\"%s\",kind=\"%s\",node=\"%s\"}",
		     cluster, kind, node);
	return n > 0 && (size_t)n < sizeof(m->labels) ? 0 : -ENAMETOOLONG;
}

struct metrics *metrics_new(const struct metrics_config *cfg, const char *job)
{
	char cluster[128], kind[128], name[320];
	struct metrics *m;
	struct error ignored;
	size_t len;

	if (!cfg || !cfg->dir)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	file_part(cfg->cluster, cluster, sizeof(cluster));
	file_part(cfg->kind, kind, sizeof(kind));
	snprintf(name, sizeof(name), "etcd-ansible-%s-%s%s%s.prom", job, cluster, *kind ? "-" : "",
		 kind);
	m->interval_seconds = cfg->interval_seconds;
	m->dir = strdup(cfg->dir);
	m->names = json_object();
	m->out = open_memstream(&m->text, &m->len);
	if (!m->dir || !m->names || !m->out || asprintf(&m->path, "%s/%s", cfg->dir, name) < 0 ||
	    build_labels(m, cfg) < 0) {
		metrics_free(m);
		return NULL;
	}
	if (fs_read_file(m->path, METRICS_FILE_MAX, &m->previous, &len, &ignored) < 0)
		m->previous = NULL; /* first run, or not ours: nothing to carry over */
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->out)
		fclose(m->out);
	free(m->text);
	free(m->previous);
	free(m->path);
	free(m->dir);
	json_decref(m->names);
	free(m);
}

const char *metrics_path(const struct metrics *m)
{
	return m ? m->path : NULL;
}

void metrics_gauge(struct metrics *m, const char *name, const char *help, double value)
{
	if (!m || !name_ok(name) || json_object_get(m->names, name))
		return;
	if (json_object_set_new(m->names, name, json_true()) < 0)
		m->failed = true;
	fprintf(m->out, "# HELP %s%s ", METRICS_PREFIX, name);
	for (const char *p = help; *p; p++) { /* HELP escapes \ and newline (exposition format) */
		if (*p == '\\' || *p == '\n')
			fputs(*p == '\\' ? "\\\\" : "\\n", m->out);
		else
			fputc(*p, m->out);
	}
	fprintf(m->out, "\n# TYPE %s%s gauge\n%s%s%s ", METRICS_PREFIX, name, METRICS_PREFIX, name,
		m->labels);
	put_value(m->out, value);
	fputc('\n', m->out);
}

int metrics_previous(const struct metrics *m, const char *name, double *value)
{
	size_t prefix = strlen(METRICS_PREFIX), len = strlen(name);

	if (!m || !m->previous)
		return -ENOENT;
	for (const char *line = m->previous; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t line_len = end ? (size_t)(end - line) : strlen(line);

		if (line_len > prefix + len && strncmp(line, METRICS_PREFIX, prefix) == 0 &&
		    strncmp(line + prefix, name, len) == 0 &&
		    (line[prefix + len] == '{' || line[prefix + len] == ' ')) {
			char text[64], *stop;
			const char *v = line + line_len;

			while (v > line && v[-1] != ' ')
				v--;
			snprintf(text, sizeof(text), "%.*s", (int)(line + line_len - v), v);
			*value = strtod(text, &stop);
			return *text && *stop == '\0' ? 0 : -ENOENT;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

void metrics_gauge_or_previous(struct metrics *m, const char *name, const char *help, bool known,
			       double value)
{
	if (known || metrics_previous(m, name, &value) == 0)
		metrics_gauge(m, name, help, value);
}

/* <job>_<suffix> into buf. */
static const char *job_name(char *buf, size_t size, const char *job, const char *suffix)
{
	snprintf(buf, size, "%s_%s", job, suffix);
	return buf;
}

void metrics_job_result(struct metrics *m, const char *job, bool ok, double seconds)
{
	char name[128], help[256];
	double now = (double)time(NULL), last = 0;

	if (!m)
		return;
	snprintf(help, sizeof(help), "Start of the last %s run (Unix time).", job);
	metrics_gauge(m, job_name(name, sizeof(name), job, "last_attempt_timestamp_seconds"), help,
		      now - seconds);
	snprintf(help, sizeof(help), "1 when the last %s run succeeded, 0 when it failed.", job);
	metrics_gauge(m, job_name(name, sizeof(name), job, "last_attempt_success"), help, ok);
	job_name(name, sizeof(name), job, "last_success_timestamp_seconds");
	if (ok)
		last = now;
	else if (metrics_previous(m, name, &last) < 0)
		last = 0;
	snprintf(help, sizeof(help), "End of the last successful %s run (Unix time; 0: never).",
		 job);
	metrics_gauge(m, name, help, last);
	snprintf(help, sizeof(help), "Duration of the last %s run.", job);
	metrics_gauge(m, job_name(name, sizeof(name), job, "duration_seconds"), help, seconds);
	if (m->interval_seconds > 0) {
		snprintf(help, sizeof(help), "How often the %s job is scheduled.", job);
		metrics_gauge(m, job_name(name, sizeof(name), job, "interval_seconds"), help,
			      m->interval_seconds);
	}
}

const char *metrics_text(struct metrics *m)
{
	if (!m || fflush(m->out) != 0)
		return NULL;
	return m->text;
}

int metrics_commit(struct metrics *m, struct error *err)
{
	const char *text = metrics_text(m);
	int rc;

	if (!m)
		return 0;
	if (!text || m->failed)
		return error_set(err, -ENOMEM, "metrics: out of memory");
	rc = fs_mkdir_p(m->dir, 0755, err);
	if (rc == 0)
		rc =
		    fs_write_atomic(m->path, text, m->len, 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, err);
	return rc < 0 ? error_wrap(err, rc, "metrics") : 0;
}
