/*
 * metrics: Prometheus metrics in the text format node_exporter's textfile collector reads
 * (--collector.textfile.directory; Debian's prometheus-node-exporter reads
 * the .prom files of /var/lib/prometheus/node-exporter).
 *
 * One job (a certificate's renewal job, a backup job, a drill) owns one file,
 * <dir>/etcd-ansible-<job>-<cluster>-<kind>.prom, so writers never clobber each other; systemd
 * never runs one timer's service twice at once, so each file has one writer at a time. Every
 * sample carries the labels cluster, node and kind. Names start with METRICS_PREFIX and carry
 * their unit (_seconds, _bytes, _timestamp_seconds); each family has its HELP and TYPE lines.
 * No sample has a timestamp: the textfile collector refuses them.
 *
 * The file is replaced atomically (fs_write_atomic: temp file beside it, fsync, rename), so
 * node_exporter never reads half a file; the temp name ends in .tmp.XXXXXX, which the collector
 * ignores (it reads *.prom only). A job rewrites its whole file every run: values a run does not
 * produce (the time of the last success, after a failure) are carried over from the file as it
 * was, with metrics_previous().
 *
 * Ownership: struct metrics owns its text and paths (metrics_free). metrics_config borrows its
 * strings from the JSON object it was parsed from, except node when it comes from the host name.
 */
#ifndef ETCD_ANSIBLE_METRICS_H
#define ETCD_ANSIBLE_METRICS_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define METRICS_PREFIX "etcd_ansible_"
/* Debian's prometheus-node-exporter reads this directory. */
#define METRICS_DEFAULT_DIR "/var/lib/prometheus/node-exporter"
/* Our own files are small; anything larger at our path is not ours (not parsed). */
#define METRICS_FILE_MAX (64u * 1024u)

struct metrics_config {
	const char *dir; /* NULL: metrics are off */
	const char *cluster;
	const char *node;
	const char *kind;
	double interval_seconds; /* how often the job runs (0: not known), for alerts */
	char node_buf[256];	 /* the host name, when node is not given */
};

/*
 * The `metrics` option of a module: {dir, cluster, node, kind, interval_seconds}. NULL, null or a
 * dir of "" turns metrics off (cfg->dir = NULL). where ("metrics.") prefixes option names in
 * messages; kind defaults to default_kind, cluster to "default", node to the host name.
 */
int metrics_config_parse(const json_t *obj, const char *where, const char *default_kind,
			 struct metrics_config *cfg, struct error *err);

struct metrics;

/* A new, empty file for job ("cert", "backup", "drill"); NULL when metrics are off or ENOMEM. */
struct metrics *metrics_new(const struct metrics_config *cfg, const char *job);
void metrics_free(struct metrics *m);

/* The file this job writes (borrowed from m). */
const char *metrics_path(const struct metrics *m);

/*
 * Adds a gauge METRICS_PREFIX + name with the file's labels. name must be a valid metric name
 * suffix; help is one line. A family added twice keeps its first value.
 */
void metrics_gauge(struct metrics *m, const char *name, const char *help, double value);

/*
 * The value the file held for METRICS_PREFIX + name before this run (as read by metrics_new).
 * Returns 0 and sets *value, or -ENOENT when the file or the sample is absent.
 */
int metrics_previous(const struct metrics *m, const char *name, double *value);

/*
 * The families every job has, <job>_...: last_attempt_timestamp_seconds (now),
 * last_attempt_success (1/0), last_success_timestamp_seconds (now, or carried over from the file
 * when this run failed; 0 when never), duration_seconds of this run, and interval_seconds when
 * the config knows it. job is the name given to metrics_new ("backup", "drill").
 */
void metrics_job_result(struct metrics *m, const char *job, bool ok, double seconds);

/*
 * A gauge whose value this run may not know (bytes of the last successful backup, after a failed
 * one): known ? value : the file's previous value, and nothing when there is none.
 */
void metrics_gauge_or_previous(struct metrics *m, const char *name, const char *help, bool known,
			       double value);

/* Writes the file atomically (0644, creating dir 0755 when missing). */
int metrics_commit(struct metrics *m, struct error *err);

/* The text that metrics_commit writes, NUL-terminated (borrowed; NULL when out of memory). */
const char *metrics_text(struct metrics *m);

/* Escapes a label value (\\, \", \n) into out (size bytes); false when it does not fit. */
bool metrics_escape_label(const char *value, char *out, size_t size);

#endif
