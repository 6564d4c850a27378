/*
 * retention: backup object names and which old backups may go (docs/backups.md), as pure functions
 * the unit tests drive with fixed clocks.
 *
 * Keys (the stamp is UTC, so keys sort in time order):
 *   etcd-snapshot  <prefix><cluster>/YYYY/MM/etcd-<cluster>-<YYYY-MM-DD_HH-MM-SS>-snapshot.db.kms
 *   ca             <prefix>ca/<cluster>/YYYY/MM/ca-<cluster>-<stamp>.tar.kms
 *   file           <prefix>files/<cluster>/YYYY/MM/<name>-<stamp>.kms
 *
 * Retention never deletes one of the newest keep_min backups (keep_min is at least 1, so the
 * newest backup is never deleted), and deletes an older one only when it is older than
 * retention_days. Age and order come from the time stamp in the key (when the backup was taken),
 * else from S3's LastModified, so a copied or re-uploaded object keeps its age.
 *
 * Strings returned are malloc'ed; the caller frees them (NULL when out of memory).
 */
#ifndef ETCD_ANSIBLE_RETENTION_H
#define ETCD_ANSIBLE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum backup_kind { BACKUP_KIND_ETCD, BACKUP_KIND_CA, BACKUP_KIND_FILE };

/* "etcd-snapshot", "ca", "file" → kind; -EINVAL for anything else. */
int backup_kind_parse(const char *text, enum backup_kind *kind);
const char *backup_kind_name(enum backup_kind kind);

/* The key prefix all backups of kind and cluster share ("<prefix><cluster>/" ...). */
char *backup_key_prefix(const char *prefix, enum backup_kind kind, const char *cluster);

/* The key of a backup taken at `when`; name is the source's file name (kind file only). */
char *backup_key_new(const char *prefix, enum backup_kind kind, const char *cluster,
		     const char *name, time_t when);

/* true when key (listed under backup_key_prefix) is a backup of that kind and cluster. */
bool backup_key_matches(const char *key, const char *prefix, enum backup_kind kind,
			const char *cluster);

/* The time stamp in a key (UTC), or -1 when it has none. */
time_t backup_key_time(const char *key);

struct backup_object {
	char *key;
	uint64_t size;
	time_t last_modified;
	bool delete; /* set by backup_retention_select */
};

/* Sorts objects oldest first (key stamp, then LastModified, then key). */
void backup_objects_sort(struct backup_object *objects, size_t n);

/*
 * Marks (->delete) the objects to prune: sorts them, keeps the newest max(keep_min, 1), and marks
 * the others older than retention_days before now. retention_days < 0 marks nothing. Returns the
 * number marked.
 */
size_t backup_retention_select(struct backup_object *objects, size_t n, time_t now,
			       long retention_days, long keep_min);

void backup_objects_free(struct backup_object *objects, size_t n);

#endif
