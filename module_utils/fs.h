/*
 * fs: files written so that nothing is ever half-written or readable by the wrong user.
 *
 * - fs_write_atomic(): a temp file in the same directory, created with its final mode and owner
 *   before a byte is written, fsync'd, renamed over the target, then the directory fsync'd.
 *   A crash leaves either the old file or the new one, never a mix; on error the temp is removed.
 * - fs_create_exclusive(): open(O_CREAT|O_EXCL) with the final mode, for secrets (keys are 0400
 *   from the first byte, never chmod'ed narrower later).
 * - Users and groups are looked up by parsing /etc/passwd and /etc/group: a static binary must
 *   not load the target's NSS plugins (docs/protocols.md, Static binaries).
 *
 * All functions return 0 (or a count) or a negative errno and fill `err`. Buffers returned through
 * out-parameters are malloc'ed; the caller frees them.
 */
#ifndef ETCD_ANSIBLE_FS_H
#define ETCD_ANSIBLE_FS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_KEEP_OWNER ((uid_t)-1)
#define FS_KEEP_GROUP ((gid_t)-1)

/* Reads a regular file of at most max bytes into a NUL-terminated buffer (*out, caller frees). */
int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct error *err);

/* Replaces path with data atomically; mode/uid/gid are set on the temp file before writing. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, struct error *err);

/* Creates path (which must not exist) with exactly mode; returns the open fd for writing. */
int fs_create_exclusive(const char *path, mode_t mode, struct error *err);

/* Creates a unique temp file beside path (path.tmp.XXXXXX) with mode; fills tmp_path (size >=
 * PATH_MAX). */
int fs_create_temp_beside(const char *path, mode_t mode, char *tmp_path, size_t tmp_size,
			  struct error *err);

/* pread until len bytes are read at offset: 0, -errno, or -EBADMSG when the file ends first. */
int fs_read_at(int fd, void *buf, size_t len, uint64_t offset);

/* fsync()s the directory holding path, so a rename in it survives a crash. */
int fs_sync_parent(const char *path, struct error *err);

/* mkdir -p with mode for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode, struct error *err);

/* Removes path; a missing file is not an error. Returns 1 if removed, 0 if absent. */
int fs_remove(const char *path, struct error *err);

/* true if path exists (any type, symlinks not followed). */
bool fs_exists(const char *path);

/* Resolves a user or group name (or a number) from /etc/passwd, /etc/group. NULL → keep. */
int fs_lookup_user(const char *name, uid_t *uid, gid_t *primary_gid, struct error *err);
int fs_lookup_group(const char *name, gid_t *gid, struct error *err);
/* Both at once: owner and group may be NULL. */
int fs_resolve_owner(const char *owner, const char *group, uid_t *uid, gid_t *gid,
		     struct error *err);

/* ---- temp file + commit: a file that appears whole or not at all ---- */

/* fs_create_temp_beside(dest) with mode, then fchown to uid/gid unless both are FS_KEEP_*.
 * Returns the fd; tmp (size >= PATH_MAX) names the temp file. On failure nothing is left
 * behind and tmp is "". */
int fs_open_temp(const char *dest, mode_t mode, uid_t uid, gid_t gid, char *tmp, size_t size,
		 struct error *err);
/* fsync, close and rename the temp file over dest, then fsync dest's directory. tmp becomes ""
 * once renamed (so a caller's cleanup knows there is nothing left to remove). fd is closed. */
int fs_commit_file(int fd, char *tmp, const char *dest, struct error *err);

/* ---- keeping data: move aside, never delete ---- */

/* true when path is a directory holding anything, or any other existing file. */
bool fs_occupied(const char *path);
/* "<path>.<tag>-YYYYmmddTHHMMSSZ" (UTC now) into out; -ENAMETOOLONG if it does not fit. */
int fs_aside_name(const char *path, const char *tag, char *out, size_t size);
/* Renames path to fs_aside_name(path, tag) (aside gets the name, "" when path does not exist).
 * Nothing is deleted. */
int fs_move_aside(const char *path, const char *tag, char *aside, size_t size, struct error *err);

/* ---- a tree as wanted: content, mode and owner ---- */

/* A relative name that stays inside the directory it is joined to: not empty, not absolute, no
 * ".." component (a tar member, a file of a copied CA). */
bool fs_path_stays_inside(const char *rel);

struct fs_wanted {
	mode_t mode; /* permission bits (07777) */
	uid_t uid;
	gid_t gid;
};

/* Makes path a directory with exactly w's mode and owner: created when missing, chmod/chown'ed
 * when they differ; anything else at path is refused (-ENOTDIR), never replaced. *changed says
 * whether something differed; with check nothing is touched. */
int fs_ensure_dir(const char *path, const struct fs_wanted *w, bool check, bool *changed,
		  struct error *err);
/* Makes path a regular file holding data[0..len) with w's mode and owner. Same content: only the
 * mode and owner are mended in place. Other content: written whole (fs_write_atomic, the mode
 * and owner from the first byte). keep_tag: the file replaced stays beside it as
 * fs_aside_name(path, keep_tag) (a hard link made before the rename, so path is never missing;
 * kept gets the name, "" when nothing was kept). A symlink, directory or device at path is
 * refused (-EINVAL). *changed and check as for fs_ensure_dir. */
int fs_ensure_content(const char *path, const void *data, size_t len, const struct fs_wanted *w,
		      const char *keep_tag, bool check, bool *changed, char *kept, size_t kept_size,
		      struct error *err);

/* What the symbolic link at path points to, in buf (NUL-terminated, cut to size); false when
 * path is not a symbolic link. */
bool fs_read_link(const char *path, char *buf, size_t size);
/* Makes path a symbolic link to target: made when missing, replaced atomically (a new link
 * renamed over it) when it points elsewhere; anything else at path (a file, a directory) is
 * refused (-EEXIST), never replaced. *changed and check as for fs_ensure_dir. */
int fs_ensure_link(const char *path, const char *target, bool check, bool *changed,
		   struct error *err);

/* ---- trees this process made ---- */

/* Removes the tree at path, depth first, symlinks not followed. Only for what the caller
 * created itself (a temp dir of a failed restore), never for data it found. */
int fs_remove_tree(const char *path);
/* lchown -R path to uid/gid (symlinks not followed). */
int fs_chown_tree(const char *path, uid_t uid, gid_t gid, struct error *err);

/* Test hook: the files fs_lookup_* read (default /etc/passwd, /etc/group). */
void fs_set_account_files(const char *passwd, const char *group);

#endif
