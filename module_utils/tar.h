/*
 * tar: a streaming ustar (POSIX.1-1988) writer and reader, for the CA backups (docs/backups.md: a
 * directory is backed up as `ca-{cluster}-{stamp}.tar.kms`, a tar inside the encrypted envelope).
 *
 * Writer: walks a directory tree in name order (so the same tree gives the same bytes) and pushes
 * the archive through a sink callback in 64 KiB pieces: constant memory, whatever the tree.
 * Regular files and directories only: a symlink, device or socket is an error naming it (a CA
 * directory holds none; silently skipping one would make a backup that cannot restore the CA).
 * Names are relative to the directory ("config/ca.json"); a name that fits neither ustar's name
 * field nor its prefix/name split is an error. With zero_mtime the modification times are written
 * as 0, so the bytes depend on names, modes, owners and contents only: that is the "content hash"
 * that decides whether a change-based backup is needed.
 *
 * Reader: push-style (the bytes come out of the decryptor's sink), extracts into an existing,
 * empty directory. Every name is checked before anything is created: absolute names, "..",
 * and entry types other than files and directories are refused. Files are created with
 * O_EXCL|O_NOFOLLOW and their final mode from the first byte (a 0400 key is never readable by
 * others, not even briefly); numeric owners are applied when running as root; directories get
 * their modes at the end (they must stay writable while being filled).
 *
 * Both return 0 or a negative errno and fill `err`. tar_reader_free() does not remove what was
 * extracted: callers extract into a temp dir and rename it into place, or remove it on failure.
 */
#ifndef ETCD_ANSIBLE_TAR_H
#define ETCD_ANSIBLE_TAR_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512

typedef int (*tar_sink_fn)(void *ctx, const void *buf, size_t len, struct error *err);

struct tar_stats {
	uint64_t files;
	uint64_t dirs;
	uint64_t bytes; /* archive bytes written or read */
};

/*
 * exclude: NULL, or a NULL-terminated list of names directly under dir to leave out; they are
 * never opened or read (a live database dir may hold files that change, links or sockets).
 */
int tar_write_dir(const char *dir, const char *const *exclude, bool zero_mtime, tar_sink_fn sink,
		  void *ctx, struct tar_stats *stats, struct error *err);

struct tar_reader;

struct tar_reader *tar_reader_new(const char *dest_dir, struct error *err);
int tar_reader_write(struct tar_reader *r, const void *buf, size_t len, struct error *err);
/* Fails when the archive ended early (no end-of-archive blocks or a file cut short). */
int tar_reader_finish(struct tar_reader *r, struct tar_stats *stats, struct error *err);
void tar_reader_free(struct tar_reader *r);

#endif
