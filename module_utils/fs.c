#include "fs.h"

#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *passwd_file = "/etc/passwd";
static const char *group_file = "/etc/group";

void fs_set_account_files(const char *passwd, const char *group)
{
	passwd_file = passwd ? passwd : "/etc/passwd";
	group_file = group ? group : "/etc/group";
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, struct error *err)
{
	size_t used = 0, cap;
	struct stat st;
	char *buf = NULL;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = error_set(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = error_set(err, -EFBIG, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		rc = error_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	/* Read one byte more than expected: the file may grow, and must still fit max. */
	for (;;) {
		ssize_t n = read(fd, buf + used, cap - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_set(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap) {
			rc = error_set(err, -EFBIG, "%s: changed size while being read", path);
			goto out;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int random_suffix(char *buf, size_t size)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char bytes[8];

	if (size < sizeof(bytes) + 1 ||
	    getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -EIO;
	for (size_t i = 0; i < sizeof(bytes); i++)
		buf[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
	buf[sizeof(bytes)] = '\0';
	return 0;
}

int fs_create_exclusive(const char *path, mode_t mode, struct error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	/* umask may have narrowed the mode; widening to exactly `mode` exposes nothing extra. */
	if (fchmod(fd, mode) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return error_set(err, -e, "%s: chmod: %s", path, strerror(e));
	}
	return fd;
}

int fs_create_temp_beside(const char *path, mode_t mode, char *tmp_path, size_t tmp_size,
			  struct error *err)
{
	char suffix[16];

	for (int attempt = 0; attempt < 16; attempt++) {
		int fd, n;

		if (random_suffix(suffix, sizeof(suffix)) < 0)
			return error_set(err, -EIO, "%s: no randomness for a temp name", path);
		n = snprintf(tmp_path, tmp_size, "%s.tmp.%s", path, suffix);
		if (n < 0 || (size_t)n >= tmp_size)
			return error_set(err, -ENAMETOOLONG, "%s: path too long", path);
		fd = fs_create_exclusive(tmp_path, mode, err);
		if (fd != -EEXIST)
			return fd;
	}
	return error_set(err, -EEXIST, "%s: cannot find a free temp name", path);
}

int fs_sync_parent(const char *path, struct error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return error_set(err, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", dir, strerror(errno));
	if (fsync(fd) < 0)
		rc = error_set(err, -errno, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, struct error *err)
{
	char tmp[PATH_MAX];
	int fd, rc;

	fd = fs_create_temp_beside(path, mode, tmp, sizeof(tmp), err);
	if (fd < 0)
		return fd;
	if ((uid != FS_KEEP_OWNER || gid != FS_KEEP_GROUP) && fchown(fd, uid, gid) < 0) {
		rc = error_set(err, -errno, "%s: chown: %s", path, strerror(errno));
		goto fail;
	}
	rc = write_all(fd, data, len);
	if (rc < 0) {
		error_set(err, rc, "%s: write: %s", path, strerror(-rc));
		goto fail;
	}
	if (fsync(fd) < 0) {
		rc = error_set(err, -errno, "%s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = error_set(err, -errno, "%s: close: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = error_set(err, -errno, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	return fs_sync_parent(path, err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return error_set(err, -ENAMETOOLONG, "invalid directory path");
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return error_set(err, -errno, "%s: mkdir: %s", buf, strerror(errno));
		*p = saved;
		if (!saved)
			break;
	}
	return 0;
}

int fs_remove(const char *path, struct error *err)
{
	if (unlink(path) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return error_set(err, -errno, "%s: remove: %s", path, strerror(errno));
}

bool fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Finds the line of `file` whose first field is name (or whose third field equals the number). */
static int account_line(const char *file, const char *name, char *fields[4], char **line_out,
			struct error *err)
{
	char *text = NULL, *line, *save = NULL;
	size_t len;
	int rc = fs_read_file(file, 16u << 20, &text, &len, err);

	if (rc < 0)
		return rc;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f = line, *next;
		int i;

		for (i = 0; i < 4 && f; i++) {
			fields[i] = f;
			next = strchr(f, ':');
			if (next)
				*next++ = '\0';
			f = next;
		}
		if (i == 4 && (strcmp(fields[0], name) == 0 || strcmp(fields[2], name) == 0)) {
			*line_out = text; /* fields point into text; caller frees via line_out */
			return 0;
		}
	}
	free(text);
	return error_set(err, -ENOENT, "no such %s '%s' in %s",
			 file == group_file ? "group" : "user", name, file);
}

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!s)
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return (*s && !*end && errno == 0 && *out < 0xffffffffUL) ? 0 : -EINVAL;
}

int fs_lookup_user(const char *name, uid_t *uid, gid_t *primary_gid, struct error *err)
{
	char *fields[4] = {NULL}, *text = NULL;
	unsigned long u, g;
	int rc;

	rc = account_line(passwd_file, name, fields, &text, err);
	if (rc == -ENOENT && parse_id(name, &u) == 0) {
		*uid = (uid_t)u; /* a plain number needs no passwd entry */
		if (primary_gid)
			*primary_gid = FS_KEEP_GROUP;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (parse_id(fields[2], &u) < 0 || parse_id(fields[3], &g) < 0)
		rc = error_set(err, -EINVAL, "malformed entry for user '%s' in %s", name,
			       passwd_file);
	else {
		*uid = (uid_t)u;
		if (primary_gid)
			*primary_gid = (gid_t)g;
	}
	free(text);
	return rc;
}

int fs_lookup_group(const char *name, gid_t *gid, struct error *err)
{
	char *fields[4] = {NULL}, *text = NULL;
	unsigned long g;
	int rc;

	rc = account_line(group_file, name, fields, &text, err);
	if (rc == -ENOENT && parse_id(name, &g) == 0) {
		*gid = (gid_t)g;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (parse_id(fields[2], &g) < 0)
		rc = error_set(err, -EINVAL, "malformed entry for group '%s' in %s", name,
			       group_file);
	else
		*gid = (gid_t)g;
	free(text);
	return rc;
}

int fs_resolve_owner(const char *owner, const char *group, uid_t *uid, gid_t *gid,
		     struct error *err)
{
	int rc;

	*uid = FS_KEEP_OWNER;
	*gid = FS_KEEP_GROUP;
	if (owner && *owner && (rc = fs_lookup_user(owner, uid, NULL, err)) < 0)
		return rc;
	if (group && *group && (rc = fs_lookup_group(group, gid, err)) < 0)
		return rc;
	return 0;
}

int fs_read_at(int fd, void *buf, size_t len, uint64_t offset)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		done += (size_t)n;
	}
	return 0;
}

/* ---- temp file + commit ---- */

int fs_open_temp(const char *dest, mode_t mode, uid_t uid, gid_t gid, char *tmp, size_t size,
		 struct error *err)
{
	int fd = fs_create_temp_beside(dest, mode, tmp, size, err);

	if (fd < 0) {
		tmp[0] = '\0';
		return fd;
	}
	if ((uid != FS_KEEP_OWNER || gid != FS_KEEP_GROUP) && fchown(fd, uid, gid) < 0) {
		int rc = error_set(err, -errno, "%s: chown: %s", tmp, strerror(errno));

		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		return rc;
	}
	return fd;
}

int fs_commit_file(int fd, char *tmp, const char *dest, struct error *err)
{
	int rc = 0;

	if (fsync(fd) < 0)
		rc = error_set(err, -errno, "%s: fsync: %s", tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = error_set(err, -errno, "%s: close: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = error_set(err, -errno, "rename %s to %s: %s", tmp, dest, strerror(errno));
	if (rc == 0) {
		tmp[0] = '\0';
		rc = fs_sync_parent(dest, err);
	}
	return rc;
}

/* ---- move aside ---- */

bool fs_occupied(const char *path)
{
	DIR *dir = opendir(path);
	const struct dirent *e;
	bool found = false;

	if (!dir)
		return fs_exists(path);
	while (!found && (e = readdir(dir)))
		found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dir);
	return found;
}

int fs_aside_name(const char *path, const char *tag, char *out, size_t size)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	if ((size_t)snprintf(out, size, "%s.%s-%s", path, tag, stamp) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int fs_move_aside(const char *path, const char *tag, char *aside, size_t size, struct error *err)
{
	aside[0] = '\0';
	if (!fs_exists(path))
		return 0;
	if (fs_aside_name(path, tag, aside, size) < 0) {
		aside[0] = '\0';
		return error_set(err, -ENAMETOOLONG, "%s: path too long to move aside", path);
	}
	if (rename(path, aside) < 0) {
		int rc = error_set(err, -errno, "cannot move %s aside to %s: %s", path, aside,
				   strerror(errno));

		aside[0] = '\0';
		return rc;
	}
	return 0;
}

/* ---- a tree as wanted ---- */

bool fs_path_stays_inside(const char *rel)
{
	const char *p = rel;

	if (*rel == '\0' || *rel == '/')
		return false;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		while (*p == '/')
			p++;
	}
	return true;
}

static bool owner_mode_differ(const struct stat *st, const struct fs_wanted *w)
{
	return (st->st_mode & 07777) != w->mode || st->st_uid != w->uid || st->st_gid != w->gid;
}

static int mend_owner_mode(const char *path, const struct fs_wanted *w, struct error *err)
{
	/* chown first: it clears set-id bits, which the chmod then sets as wanted. */
	if (lchown(path, w->uid, w->gid) < 0 || chmod(path, w->mode) < 0)
		return error_set(err, -errno, "%s: chown/chmod: %s", path, strerror(errno));
	return 0;
}

int fs_ensure_dir(const char *path, const struct fs_wanted *w, bool check, bool *changed,
		  struct error *err)
{
	struct stat st;

	*changed = false;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return error_set(err, -errno, "%s: %s", path, strerror(errno));
		*changed = true;
		if (check)
			return 0;
		if (mkdir(path, 0700) < 0)
			return error_set(err, -errno, "%s: mkdir: %s", path, strerror(errno));
		return mend_owner_mode(path, w, err);
	}
	if (!S_ISDIR(st.st_mode))
		return error_set(err, -ENOTDIR, "%s: exists and is not a directory", path);
	*changed = owner_mode_differ(&st, w);
	return *changed && !check ? mend_owner_mode(path, w, err) : 0;
}

/* true when path holds exactly data[0..len) (path is a regular file of that size). */
static bool same_content(const char *path, const void *data, size_t len)
{
	char *old = NULL;
	size_t old_len = 0;
	struct error err;
	bool same;

	if (fs_read_file(path, len, &old, &old_len, &err) < 0 || !old)
		return false;
	same = old_len == len && memcmp(old, data, len) == 0;
	wipe_free(old, old_len); /* a key or a password file */
	return same;
}

int fs_ensure_content(const char *path, const void *data, size_t len, const struct fs_wanted *w,
		      const char *keep_tag, bool check, bool *changed, char *kept, size_t kept_size,
		      struct error *err)
{
	struct stat st;
	bool exists = lstat(path, &st) == 0;

	*changed = false;
	kept[0] = '\0';
	if (!exists && errno != ENOENT)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (exists && !S_ISREG(st.st_mode))
		return error_set(err, -EINVAL, "%s: exists and is not a regular file", path);
	if (exists && same_content(path, data, len)) {
		*changed = owner_mode_differ(&st, w);
		return *changed && !check ? mend_owner_mode(path, w, err) : 0;
	}
	*changed = true;
	if (check)
		return 0;
	if (exists && keep_tag) {
		if (fs_aside_name(path, keep_tag, kept, kept_size) < 0) {
			kept[0] = '\0';
			return error_set(err, -ENAMETOOLONG, "%s: path too long to keep aside",
					 path);
		}
		if (link(path, kept) < 0) {
			int rc = error_set(err, -errno, "cannot keep %s as %s: %s", path, kept,
					   strerror(errno));

			kept[0] = '\0';
			return rc;
		}
	}
	return fs_write_atomic(path, data, len, w->mode, w->uid, w->gid, err);
}

bool fs_read_link(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(path, buf, size - 1);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

int fs_ensure_link(const char *path, const char *target, bool check, bool *changed,
		   struct error *err)
{
	char now[PATH_MAX], tmp[PATH_MAX];
	struct stat st;

	*changed = false;
	if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode))
		return error_set(err, -EEXIST, "%s: exists and is not a symbolic link", path);
	if (fs_read_link(path, now, sizeof(now)) && strcmp(now, target) == 0)
		return 0;
	*changed = true;
	if (check)
		return 0;
	/* A new link beside it, renamed over: path is never missing, never half made. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.link-%ld", path, (long)getpid()) >= sizeof(tmp))
		return error_set(err, -ENAMETOOLONG, "%s: path too long", path);
	(void)unlink(tmp);
	if (symlink(target, tmp) < 0)
		return error_set(err, -errno, "%s: symlink: %s", tmp, strerror(errno));
	if (rename(tmp, path) < 0) {
		int rc = error_set(err, -errno, "%s: rename: %s", path, strerror(errno));

		(void)unlink(tmp);
		return rc;
	}
	return 0;
}

/* ---- trees ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int fs_remove_tree(const char *path)
{
	return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* nftw has no context argument: the owner travels in these (one walk at a time). */
static uid_t chown_uid;
static gid_t chown_gid;

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

int fs_chown_tree(const char *path, uid_t uid, gid_t gid, struct error *err)
{
	chown_uid = uid;
	chown_gid = gid;
	if (nftw(path, chown_entry, 32, FTW_PHYS) != 0)
		return error_set(err, -errno, "chown -R %s: %s", path, strerror(errno));
	return 0;
}
