#include "retention.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {
    [BACKUP_KIND_ETCD] = "etcd-snapshot",
    [BACKUP_KIND_CA] = "ca",
    [BACKUP_KIND_FILE] = "file",
};

/* "YYYY-MM-DD_HH-MM-SS": 19 characters. */
#define STAMP_LEN 19

int backup_kind_parse(const char *text, enum backup_kind *kind)
{
	for (size_t i = 0; i < sizeof(KIND_NAMES) / sizeof(KIND_NAMES[0]); i++) {
		if (text && strcmp(text, KIND_NAMES[i]) == 0) {
			*kind = (enum backup_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *backup_kind_name(enum backup_kind kind)
{
	return KIND_NAMES[kind];
}

static char *format_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *format_alloc(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;

	va_start(ap, fmt);
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

char *backup_key_prefix(const char *prefix, enum backup_kind kind, const char *cluster)
{
	prefix = prefix ? prefix : "";
	switch (kind) {
	case BACKUP_KIND_ETCD:
		return format_alloc("%s%s/", prefix, cluster);
	case BACKUP_KIND_CA:
		return format_alloc("%sca/%s/", prefix, cluster);
	case BACKUP_KIND_FILE:
	default:
		return format_alloc("%sfiles/%s/", prefix, cluster);
	}
}

char *backup_key_new(const char *prefix, enum backup_kind kind, const char *cluster,
		     const char *name, time_t when)
{
	char month[8], stamp[32];
	struct tm tm;
	char *base, *key = NULL;

	if (!gmtime_r(&when, &tm) || !strftime(month, sizeof(month), "%Y/%m", &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H-%M-%S", &tm))
		return NULL;
	base = backup_key_prefix(prefix, kind, cluster);
	if (!base)
		return NULL;
	switch (kind) {
	case BACKUP_KIND_ETCD:
		key = format_alloc("%s%s/etcd-%s-%s-snapshot.db.kms", base, month, cluster, stamp);
		break;
	case BACKUP_KIND_CA:
		key = format_alloc("%s%s/ca-%s-%s.tar.kms", base, month, cluster, stamp);
		break;
	case BACKUP_KIND_FILE:
		key = format_alloc("%s%s/%s-%s.kms", base, month, name ? name : "backup", stamp);
		break;
	}
	free(base);
	return key;
}

/* The "YYYY-MM-DD_HH-MM-SS" stamp right before suffix at the end of key, or NULL. */
static const char *stamp_before(const char *key, const char *suffix)
{
	size_t len = strlen(key), slen = strlen(suffix);

	if (len < slen + STAMP_LEN || strcmp(key + len - slen, suffix) != 0)
		return NULL;
	return key + len - slen - STAMP_LEN;
}

static time_t parse_stamp(const char *stamp)
{
	struct tm tm = {0};
	const char *end;

	if (!stamp)
		return -1;
	end = strptime(stamp, "%Y-%m-%d_%H-%M-%S", &tm);
	if (!end || end != stamp + STAMP_LEN)
		return -1;
	return timegm(&tm);
}

time_t backup_key_time(const char *key)
{
	const char *suffixes[] = {"-snapshot.db.kms", ".tar.kms", ".kms"};

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		time_t t = parse_stamp(stamp_before(key, suffixes[i]));

		if (t >= 0)
			return t;
	}
	return -1;
}

bool backup_key_matches(const char *key, const char *prefix, enum backup_kind kind,
			const char *cluster)
{
	char *base = backup_key_prefix(prefix, kind, cluster), *name = NULL;
	const char *file;
	bool ok = false;

	if (!base || strncmp(key, base, strlen(base)) != 0)
		goto out;
	file = strrchr(key, '/') + 1; /* base ends in '/' */
	switch (kind) {
	case BACKUP_KIND_ETCD:
		name = format_alloc("etcd-%s-", cluster);
		ok = name && strncmp(file, name, strlen(name)) == 0 &&
		     parse_stamp(stamp_before(file, "-snapshot.db.kms")) >= 0 &&
		     strlen(file) == strlen(name) + STAMP_LEN + strlen("-snapshot.db.kms");
		break;
	case BACKUP_KIND_CA:
		name = format_alloc("ca-%s-", cluster);
		ok = name && strncmp(file, name, strlen(name)) == 0 &&
		     parse_stamp(stamp_before(file, ".tar.kms")) >= 0 &&
		     strlen(file) == strlen(name) + STAMP_LEN + strlen(".tar.kms");
		break;
	case BACKUP_KIND_FILE:
		ok = parse_stamp(stamp_before(file, ".kms")) >= 0;
		break;
	}
out:
	free(name);
	free(base);
	return ok;
}

static time_t object_time(const struct backup_object *o)
{
	time_t t = backup_key_time(o->key);

	return t >= 0 ? t : o->last_modified;
}

static int oldest_first(const void *a, const void *b)
{
	const struct backup_object *x = a, *y = b;
	time_t tx = object_time(x), ty = object_time(y);

	if (tx != ty)
		return tx < ty ? -1 : 1;
	if (x->last_modified != y->last_modified)
		return x->last_modified < y->last_modified ? -1 : 1;
	return strcmp(x->key, y->key);
}

void backup_objects_sort(struct backup_object *objects, size_t n)
{
	if (n > 1)
		qsort(objects, n, sizeof(*objects), oldest_first);
}

size_t backup_retention_select(struct backup_object *objects, size_t n, time_t now,
			       long retention_days, long keep_min)
{
	size_t keep = keep_min < 1 ? 1 : (size_t)keep_min, marked = 0;
	time_t limit;

	backup_objects_sort(objects, n);
	for (size_t i = 0; i < n; i++)
		objects[i].delete = false;
	if (retention_days < 0 || n <= keep)
		return 0;
	limit = now - (time_t)retention_days * 86400;
	for (size_t i = 0; i < n - keep; i++) {
		if (object_time(&objects[i]) < limit) {
			objects[i].delete = true;
			marked++;
		}
	}
	return marked;
}

void backup_objects_free(struct backup_object *objects, size_t n)
{
	for (size_t i = 0; objects && i < n; i++)
		free(objects[i].key);
	free(objects);
}
