#include "tar.h"

#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAR_CHUNK (64u * 1024u)
/* 11 octal digits: the ustar size field's limit (8 GiB - 1). */
#define TAR_MAX_SIZE 077777777777ULL

/* The ustar header (POSIX.1-1988, pax(1) "ustar Interchange Format"). */
struct ustar_header {
	char name[100];
	char mode[8];
	char uid[8];
	char gid[8];
	char size[12];
	char mtime[12];
	char chksum[8];
	char typeflag;
	char linkname[100];
	char magic[6];
	char version[2];
	char uname[32];
	char gname[32];
	char devmajor[8];
	char devminor[8];
	char prefix[155];
	char pad[12];
};

_Static_assert(sizeof(struct ustar_header) == TAR_BLOCK, "ustar header is one block");

static const char zero_block[TAR_BLOCK];

/* ---- writer -------------------------------------------------------------------------------- */

struct tar_writer {
	tar_sink_fn sink;
	void *ctx;
	bool zero_mtime;
	const char *const *exclude; /* names directly under the root, or NULL */
	struct tar_stats *stats;
	char *chunk; /* TAR_CHUNK bytes, file contents pass through it */
};

static int emit(struct tar_writer *w, const void *buf, size_t len, struct error *err)
{
	int rc = w->sink(w->ctx, buf, len, err);

	if (rc == 0)
		w->stats->bytes += len;
	return rc;
}

static void put_octal(char *field, size_t size, unsigned long long value)
{
	/* size-1 digits and a NUL, as GNU and BSD tar write them; callers bound value. */
	field[size - 1] = '\0';
	for (size_t i = size - 1; i-- > 0; value >>= 3)
		field[i] = (char)('0' + (value & 7));
}

/* Splits name into ustar's prefix (<=155) and name (<=100) at a '/'; -1 if it cannot fit. */
static int put_name(struct ustar_header *h, const char *name)
{
	size_t len = strlen(name);

	if (len <= sizeof(h->name)) {
		memcpy(h->name, name, len);
		return 0;
	}
	for (size_t i = len - 1; i > 0; i--) {
		if (name[i] != '/' || i > sizeof(h->prefix))
			continue;
		if (len - i - 1 == 0 || len - i - 1 > sizeof(h->name))
			return -1;
		memcpy(h->prefix, name, i);
		memcpy(h->name, name + i + 1, len - i - 1);
		return 0;
	}
	return -1;
}

static unsigned header_checksum(const struct ustar_header *h)
{
	const unsigned char *p = (const unsigned char *)h;
	unsigned sum = 0;

	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= offsetof(struct ustar_header, chksum) &&
			i < offsetof(struct ustar_header, chksum) + sizeof(h->chksum))
			   ? ' '
			   : p[i];
	return sum;
}

static int write_header(struct tar_writer *w, const char *name, const struct stat *st, char type,
			struct error *err)
{
	struct ustar_header h;

	memset(&h, 0, sizeof(h));
	if (put_name(&h, name) < 0)
		return error_set(err, -ENAMETOOLONG, "%s: name too long for a ustar archive", name);
	if (type == '0' && (unsigned long long)st->st_size > TAR_MAX_SIZE)
		return error_set(err, -EFBIG, "%s: larger than a ustar archive holds", name);
	put_octal(h.mode, sizeof(h.mode), st->st_mode & 07777);
	put_octal(h.uid, sizeof(h.uid), st->st_uid & 07777777);
	put_octal(h.gid, sizeof(h.gid), st->st_gid & 07777777);
	put_octal(h.size, sizeof(h.size), type == '0' ? (unsigned long long)st->st_size : 0);
	put_octal(h.mtime, sizeof(h.mtime),
		  w->zero_mtime || st->st_mtime < 0 ? 0 : (unsigned long long)st->st_mtime);
	h.typeflag = type;
	memcpy(h.magic, "ustar", 6);
	memcpy(h.version, "00", 2);
	snprintf(h.chksum, sizeof(h.chksum), "%06o", header_checksum(&h));
	h.chksum[7] = ' ';
	return emit(w, &h, sizeof(h), err);
}

static int write_file_data(struct tar_writer *w, const char *path, const struct stat *st,
			   struct error *err)
{
	uint64_t left = (uint64_t)st->st_size;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	while (left > 0) {
		size_t want = left < TAR_CHUNK ? (size_t)left : TAR_CHUNK;
		ssize_t n = read(fd, w->chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_set(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			rc = error_set(err, -EIO, "%s: shrank while being archived", path);
			goto out;
		}
		rc = emit(w, w->chunk, (size_t)n, err);
		if (rc < 0)
			goto out;
		left -= (uint64_t)n;
	}
	if (st->st_size % TAR_BLOCK)
		rc = emit(w, zero_block, TAR_BLOCK - (size_t)(st->st_size % TAR_BLOCK), err);
out:
	close(fd);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static int write_tree(struct tar_writer *w, const char *root, const char *rel, struct error *err);

static bool excluded(const struct tar_writer *w, const char *rel, const char *name)
{
	for (const char *const *e = w->exclude; *rel == '\0' && e && *e; e++)
		if (strcmp(*e, name) == 0)
			return true;
	return false;
}

static int write_entry(struct tar_writer *w, const char *root, const char *rel, struct error *err)
{
	char path[PATH_MAX], name[PATH_MAX];
	struct stat st;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
		return error_set(err, -ENAMETOOLONG, "%s/%s: path too long", root, rel);
	if (lstat(path, &st) < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if ((size_t)snprintf(name, sizeof(name), "%s/", rel) >= sizeof(name))
			return error_set(err, -ENAMETOOLONG, "%s: path too long", path);
		rc = write_header(w, name, &st, '5', err);
		if (rc == 0)
			w->stats->dirs++;
		return rc < 0 ? rc : write_tree(w, root, rel, err);
	}
	if (!S_ISREG(st.st_mode))
		return error_set(err, -EINVAL,
				 "%s: not a regular file or directory (links and devices are not "
				 "backed up)",
				 path);
	rc = write_header(w, rel, &st, '0', err);
	if (rc == 0)
		rc = write_file_data(w, path, &st, err);
	if (rc == 0)
		w->stats->files++;
	return rc;
}

/* Every entry under root/rel (rel "" = root itself), in name order. */
static int write_tree(struct tar_writer *w, const char *root, const char *rel, struct error *err)
{
	char path[PATH_MAX], child[PATH_MAX];
	struct dirent **list = NULL;
	int n, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel) >=
	    sizeof(path))
		return error_set(err, -ENAMETOOLONG, "%s: path too long", root);
	n = scandir(path, &list, skip_dots, by_name);
	if (n < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		if (rc == 0 && (size_t)snprintf(child, sizeof(child), "%s%s%s", rel,
						*rel ? "/" : "", list[i]->d_name) >= sizeof(child))
			rc = error_set(err, -ENAMETOOLONG, "%s: path too long", path);
		if (rc == 0 && !excluded(w, rel, list[i]->d_name))
			rc = write_entry(w, root, child, err);
		free(list[i]);
	}
	free(list);
	return rc;
}

/* "./": the directory itself, so that its mode and owner come back too (as GNU tar -C dir .). */
static int write_root(struct tar_writer *w, const char *dir, struct error *err)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return error_set(err, -errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(err, -ENOTDIR, "%s: not a directory", dir);
	return write_header(w, "./", &st, '5', err);
}

int tar_write_dir(const char *dir, const char *const *exclude, bool zero_mtime, tar_sink_fn sink,
		  void *ctx, struct tar_stats *stats, struct error *err)
{
	struct tar_stats local = {0};
	struct tar_writer w = {
	    .sink = sink, .ctx = ctx, .zero_mtime = zero_mtime, .exclude = exclude};
	int rc;

	w.stats = stats ? stats : &local;
	memset(w.stats, 0, sizeof(*w.stats));
	w.chunk = malloc(TAR_CHUNK);
	if (!w.chunk)
		return error_set(err, -ENOMEM, "tar: out of memory");
	rc = write_root(&w, dir, err);
	if (rc == 0)
		rc = write_tree(&w, dir, "", err);
	/* End of archive: two zero blocks. */
	if (rc == 0)
		rc = emit(&w, zero_block, TAR_BLOCK, err);
	if (rc == 0)
		rc = emit(&w, zero_block, TAR_BLOCK, err);
	free(w.chunk);
	return rc;
}

/* ---- reader -------------------------------------------------------------------------------- */

struct dir_fixup {
	char *path;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	time_t mtime;
};

struct tar_reader {
	char *dest;
	unsigned char header[TAR_BLOCK];
	size_t header_used;
	int fd;		    /* file being written, or -1 */
	char *file_path;    /* its path, for messages */
	uint64_t data_left; /* bytes of the current file still to come */
	uint64_t pad_left;  /* padding after it */
	int zero_blocks;    /* consecutive zero headers; 2 = end of archive */
	struct dir_fixup *dirs;
	size_t n_dirs;
	struct tar_stats stats;
};

struct tar_reader *tar_reader_new(const char *dest_dir, struct error *err)
{
	struct tar_reader *r = calloc(1, sizeof(*r));

	if (!r || !(r->dest = strdup(dest_dir))) {
		free(r);
		error_set(err, -ENOMEM, "tar: out of memory");
		return NULL;
	}
	r->fd = -1;
	return r;
}

static int parse_octal(const char *field, size_t size, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < size && field[i] == ' ')
		i++;
	for (; i < size && field[i] >= '0' && field[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return -1;
		v = (v << 3) | (uint64_t)(field[i] - '0');
	}
	if (i < size && field[i] != '\0' && field[i] != ' ')
		return -1;
	*out = v;
	return 0;
}

static int entry_name(const struct ustar_header *h, char *out, size_t size, struct error *err)
{
	char name[sizeof(h->name) + 1], prefix[sizeof(h->prefix) + 1];
	size_t len;

	memcpy(name, h->name, sizeof(h->name));
	name[sizeof(h->name)] = '\0';
	memcpy(prefix, h->prefix, sizeof(h->prefix));
	prefix[sizeof(h->prefix)] = '\0';
	if ((size_t)snprintf(out, size, "%s%s%s", prefix, *prefix ? "/" : "", name) >= size)
		return error_set(err, -ENAMETOOLONG, "tar: entry name too long");
	while (strncmp(out, "./", 2) == 0)
		memmove(out, out + 2, strlen(out + 2) + 1);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	if (*out == '\0' && h->typeflag == '5')
		return 1; /* "./": the archive's root, which is dest itself (start_dir takes "") */
	if (!fs_path_stays_inside(out))
		return error_set(err, -EINVAL, "tar: unsafe entry name \"%s\" refused", out);
	return 0;
}

static int mkdir_parents(const char *dest, const char *name, struct error *err)
{
	char path[PATH_MAX];
	size_t base;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dest, name) >= sizeof(path))
		return error_set(err, -ENAMETOOLONG, "tar: %s: path too long", name);
	base = strlen(dest) + 1;
	for (char *p = path + base; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return error_set(err, -errno, "%s: %s", path, strerror(errno));
		*p = '/';
	}
	return 0;
}

static int start_dir(struct tar_reader *r, const char *name, const struct ustar_header *h,
		     uint64_t mode, struct error *err)
{
	char path[PATH_MAX];
	struct dir_fixup *grown;
	uint64_t uid = 0, gid = 0, mtime = 0;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", r->dest, *name ? "/" : "", name) >=
	    sizeof(path))
		return error_set(err, -ENAMETOOLONG, "tar: %s: path too long", name);
	rc = *name ? mkdir_parents(r->dest, name, err) : 0;
	if (rc < 0)
		return rc;
	if (*name && mkdir(path, 0700) < 0 && errno != EEXIST)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	parse_octal(h->uid, sizeof(h->uid), &uid);
	parse_octal(h->gid, sizeof(h->gid), &gid);
	parse_octal(h->mtime, sizeof(h->mtime), &mtime);
	grown = reallocarray(r->dirs, r->n_dirs + 1, sizeof(*r->dirs));
	if (!grown)
		return error_set(err, -ENOMEM, "tar: out of memory");
	r->dirs = grown;
	r->dirs[r->n_dirs] = (struct dir_fixup){.path = strdup(path),
						.mode = (mode_t)(mode & 07777),
						.uid = (uid_t)uid,
						.gid = (gid_t)gid,
						.mtime = (time_t)mtime};
	if (!r->dirs[r->n_dirs].path)
		return error_set(err, -ENOMEM, "tar: out of memory");
	r->n_dirs++;
	r->stats.dirs++;
	return 0;
}

static int start_file(struct tar_reader *r, const char *name, const struct ustar_header *h,
		      uint64_t mode, uint64_t size, struct error *err)
{
	char path[PATH_MAX];
	uint64_t uid = 0, gid = 0;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", r->dest, name) >= sizeof(path))
		return error_set(err, -ENAMETOOLONG, "tar: %s: path too long", name);
	rc = mkdir_parents(r->dest, name, err);
	if (rc < 0)
		return rc;
	/* The final mode from the first byte; fchmod only undoes a narrowing umask. */
	r->fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)(mode & 0777));
	if (r->fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fchmod(r->fd, (mode_t)(mode & 07777)) < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	parse_octal(h->uid, sizeof(h->uid), &uid);
	parse_octal(h->gid, sizeof(h->gid), &gid);
	if (geteuid() == 0 && fchown(r->fd, (uid_t)uid, (gid_t)gid) < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	r->file_path = strdup(path);
	if (!r->file_path)
		return error_set(err, -ENOMEM, "tar: out of memory");
	r->data_left = size;
	r->pad_left = size % TAR_BLOCK ? TAR_BLOCK - size % TAR_BLOCK : 0;
	r->stats.files++;
	return 0;
}

static int end_file(struct tar_reader *r, struct error *err)
{
	const struct ustar_header *h = (const struct ustar_header *)r->header;
	uint64_t mtime = 0;
	int rc = 0;

	parse_octal(h->mtime, sizeof(h->mtime), &mtime);
	if (futimens(r->fd, (struct timespec[2]){{.tv_nsec = UTIME_OMIT},
						 {.tv_sec = (time_t)mtime}}) < 0 ||
	    fsync(r->fd) < 0)
		rc = error_set(err, -errno, "%s: %s", r->file_path, strerror(errno));
	if (close(r->fd) < 0 && rc == 0)
		rc = error_set(err, -errno, "%s: %s", r->file_path, strerror(errno));
	r->fd = -1;
	free(r->file_path);
	r->file_path = NULL;
	return rc;
}

static int handle_header(struct tar_reader *r, struct error *err)
{
	const struct ustar_header *h = (const struct ustar_header *)r->header;
	char name[PATH_MAX];
	uint64_t sum, mode, size;
	int rc;

	if (memcmp(r->header, zero_block, TAR_BLOCK) == 0) {
		r->zero_blocks++;
		return 0;
	}
	if (r->zero_blocks > 0)
		return error_set(err, -EINVAL, "tar: data after the end-of-archive marker");
	if (memcmp(h->magic, "ustar", 5) != 0)
		return error_set(err, -EINVAL, "tar: not a ustar archive (bad magic)");
	if (parse_octal(h->chksum, sizeof(h->chksum), &sum) < 0 || sum != header_checksum(h))
		return error_set(err, -EINVAL, "tar: header checksum mismatch");
	if (parse_octal(h->mode, sizeof(h->mode), &mode) < 0 ||
	    parse_octal(h->size, sizeof(h->size), &size) < 0)
		return error_set(err, -EINVAL, "tar: bad mode or size field");
	rc = entry_name(h, name, sizeof(name), err);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return start_dir(r, "", h, mode, err);
	switch (h->typeflag) {
	case '5':
		return start_dir(r, name, h, mode, err);
	case '0':
	case '\0':
		return start_file(r, name, h, mode, size, err);
	default:
		return error_set(err, -EINVAL,
				 "tar: %s: entry type '%c' refused (only files and "
				 "directories are restored)",
				 name, h->typeflag);
	}
}

static int write_data(struct tar_reader *r, const unsigned char *buf, size_t len, struct error *err)
{
	while (len > 0) {
		ssize_t n = write(r->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, -errno, "%s: %s", r->file_path, strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int tar_reader_write(struct tar_reader *r, const void *data, size_t len, struct error *err)
{
	const unsigned char *p = data;
	int rc = 0;

	r->stats.bytes += len;
	while (len > 0 && rc == 0) {
		size_t take;

		if (r->fd >= 0 && r->data_left > 0) {
			take = len < r->data_left ? len : (size_t)r->data_left;
			rc = write_data(r, p, take, err);
			r->data_left -= take;
		} else if (r->fd >= 0 || r->pad_left > 0) {
			if (r->fd >= 0)
				rc = end_file(r, err);
			take = len < r->pad_left ? len : (size_t)r->pad_left;
			r->pad_left -= take;
		} else if (r->zero_blocks >= 2) {
			/* Blocking padding after the end marker: zeros only. */
			take = len;
			for (size_t i = 0; i < len; i++)
				if (p[i] != 0)
					return error_set(
					    err, -EINVAL,
					    "tar: data after the end-of-archive marker");
		} else {
			take = TAR_BLOCK - r->header_used;
			take = len < take ? len : take;
			memcpy(r->header + r->header_used, p, take);
			r->header_used += take;
			if (r->header_used == TAR_BLOCK) {
				r->header_used = 0;
				rc = handle_header(r, err);
			}
		}
		p += take;
		len -= take;
	}
	return rc;
}

int tar_reader_finish(struct tar_reader *r, struct tar_stats *stats, struct error *err)
{
	int rc = 0;

	if (r->fd >= 0 && r->data_left == 0)
		rc = end_file(r, err);
	if (rc == 0 && (r->fd >= 0 || r->data_left > 0 || r->zero_blocks < 2 || r->header_used))
		rc = error_set(err, -EINVAL, "tar: archive cut short");
	/* Deepest directories first, so a parent's mode never blocks fixing a child. */
	for (size_t i = r->n_dirs; rc == 0 && i-- > 0;) {
		const struct dir_fixup *d = &r->dirs[i];
		struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = d->mtime}};

		if ((geteuid() == 0 && chown(d->path, d->uid, d->gid) < 0) ||
		    chmod(d->path, d->mode) < 0 || utimensat(AT_FDCWD, d->path, times, 0) < 0)
			rc = error_set(err, -errno, "%s: %s", d->path, strerror(errno));
	}
	if (rc == 0 && stats)
		*stats = r->stats;
	return rc;
}

void tar_reader_free(struct tar_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	for (size_t i = 0; i < r->n_dirs; i++)
		free(r->dirs[i].path);
	free(r->dirs);
	free(r->file_path);
	free(r->dest);
	free(r);
}
